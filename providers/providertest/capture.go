// Package providertest is test support shared by the backend adapters'
// tests: a transport that captures the answers an adapter reads, and
// compiled OpenAPI documents to validate request and answer bodies against.
// Nothing outside _test.go files should import it.
package providertest

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
)

// CaptureTransport is an http.RoundTripper that sends through
// http.DefaultTransport and keeps a copy of every response body as the
// client reads it. The zero value is ready to use; it is safe for concurrent
// use.
type CaptureTransport struct {
	mu   sync.Mutex
	resp []*Captured
}

// Captured is one response seen by a CaptureTransport. Body holds what the
// client has read of the body so far; read it after the client is done.
type Captured struct {
	Method, Path string
	Status       int
	Header       http.Header
	Body         bytes.Buffer
}

// HasContentType reports whether the response's Content-Type starts with
// prefix ("application/json", "text/event-stream", …).
func (c *Captured) HasContentType(prefix string) bool {
	return strings.HasPrefix(c.Header.Get("Content-Type"), prefix)
}

// RoundTrip implements http.RoundTripper.
func (c *CaptureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	cp := &Captured{Method: r.Method, Path: r.URL.Path, Status: resp.StatusCode, Header: resp.Header.Clone()}
	c.mu.Lock()
	c.resp = append(c.resp, cp)
	c.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, &cp.Body), resp.Body}
	return resp, nil
}

// Responses returns the responses captured so far, in the order they
// arrived.
func (c *CaptureTransport) Responses() []*Captured {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Captured(nil), c.resp...)
}
