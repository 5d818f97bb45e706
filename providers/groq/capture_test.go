package groq_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/switchyard-ai/switchyard/providers"
)

// captureTransport keeps a copy of every response body the adapter reads.
type captureTransport struct {
	mu   sync.Mutex
	resp []*capturedResp
}

type capturedResp struct {
	stream bool
	buf    bytes.Buffer
}

func (c *captureTransport) client() *http.Client { return &http.Client{Transport: c} }

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	cp := &capturedResp{stream: strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")}
	c.mu.Lock()
	c.resp = append(c.resp, cp)
	c.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, &cp.buf), resp.Body}
	return resp, nil
}

// events returns each JSON document received: whole bodies, and the data of
// every stream event except [DONE].
func (c *captureTransport) events() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out [][]byte
	for _, r := range c.resp {
		if !r.stream {
			out = append(out, bytes.Clone(r.buf.Bytes()))
			continue
		}
		sse := providers.NewSSEReader(bytes.NewReader(r.buf.Bytes()))
		for {
			ev, err := sse.Next()
			if errors.Is(err, io.EOF) || err != nil {
				break
			}
			if string(ev.Data) != "[DONE]" {
				out = append(out, bytes.Clone(ev.Data))
			}
		}
	}
	return out
}
