package providers

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// closeCounter counts Close calls on a body.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestDecodeBody(t *testing.T) {
	big := strings.Repeat("x", 300<<10) // past maxPooledBody
	cases := []struct {
		name      string
		body      io.Reader
		length    int64
		maxBody   int64
		decodeErr error
		want      string
		class     messages.ErrorClass
	}{
		{"small body, length known", strings.NewReader(`{"a":1}`), 7, 0, nil, `{"a":1}`, messages.ClassUnknown},
		{"length unknown", strings.NewReader(`{"a":1}`), -1, 0, nil, `{"a":1}`, messages.ClassUnknown},
		{"length understated", strings.NewReader(`{"a":12345}`), 3, 0, nil, `{"a":12345}`, messages.ClassUnknown},
		{"one byte at a time", iotest.OneByteReader(strings.NewReader(`[1,2,3]`)), 7, 0, nil, `[1,2,3]`, messages.ClassUnknown},
		{"larger than the pooled buffers", strings.NewReader(big), int64(len(big)), 0, nil, big, messages.ClassUnknown},
		{"exactly the limit", strings.NewReader("12345"), 5, 5, nil, "12345", messages.ClassUnknown},
		{"over the limit", strings.NewReader("123456"), 6, 5, nil, "", messages.ClassMalformed},
		{"over the limit, length unknown", strings.NewReader("123456"), -1, 5, nil, "", messages.ClassMalformed},
		{"decode fails", strings.NewReader("{}"), 2, 0, errors.New("bad shape"), "", messages.ClassMalformed},
		{"read fails", iotest.ErrReader(errors.New("reset by peer")), -1, 0, nil, "", messages.ClassConnection},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := &closeCounter{Reader: tc.body}
			resp := &http.Response{StatusCode: 200, Body: body, ContentLength: tc.length}
			call := &Call{RequestID: "r", Provider: "p", Key: NewCredential("k", "s3cret-value")}
			c := &Client{MaxBody: tc.maxBody}
			var got string
			err := c.DecodeBody(context.Background(), call, resp, func(b []byte) error {
				got = string(b)
				return tc.decodeErr
			})
			require.Equal(t, 1, body.closed, "body closed once")
			if tc.class == messages.ClassUnknown {
				require.NoError(t, err)
				require.Equal(t, tc.want, got)
				return
			}
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue)
			require.Equal(t, tc.class, ue.Class, "class of %v", err)
			if tc.decodeErr != nil {
				require.ErrorIs(t, err, tc.decodeErr)
			}
		})
	}
}

// TestDecodeBodyReusesNothingVisible decodes many bodies in a row (the
// pooled buffer is reused): every decoded value stays as it was read.
func TestDecodeBodyReusesNothingVisible(t *testing.T) {
	c := &Client{}
	call := &Call{RequestID: "r"}
	type doc struct {
		S   string
		Raw []byte
	}
	var got []doc
	for i := range 50 {
		body := `{"S":"` + strings.Repeat(string(rune('a'+i%26)), i+1) + `","Raw":"AQID"}`
		resp := &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body))}
		var d doc
		require.NoError(t, c.DecodeJSON(context.Background(), call, resp, &d))
		got = append(got, d)
	}
	for i, d := range got {
		require.Equal(t, strings.Repeat(string(rune('a'+i%26)), i+1), d.S, "document %d", i)
		require.Equal(t, []byte{1, 2, 3}, d.Raw, "document %d", i)
	}
}

// TestSendHeaders checks the headers Send puts on a request, and that an
// endpoint's headers and an exchange's override them.
func TestSendHeaders(t *testing.T) {
	cases := []struct {
		name      string
		ex        Exchange
		headers   map[string]string
		requestID string
		want      map[string]string
	}{
		{"JSON POST", Exchange{Path: "/x", Body: map[string]int{"a": 1}, Auth: BearerAuth}, nil, "rid-1",
			map[string]string{"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "switchyard/0.1",
				"X-Request-Id": "rid-1", "Authorization": "Bearer s3cret"}},
		{"GET without request ID", Exchange{Method: http.MethodGet, Path: "/x", Accept: "text/event-stream"}, nil, "",
			map[string]string{"Content-Type": "", "Accept": "text/event-stream", "X-Request-Id": "", "Authorization": ""}},
		{"endpoint and exchange headers win", Exchange{Path: "/x", RawBody: []byte("{}"), ContentType: "application/x-ndjson",
			Header: http.Header{"x-extra": {"1", "2"}}}, map[string]string{"user-agent": "mine", "X-Request-ID": "theirs"}, "rid-2",
			map[string]string{"Content-Type": "application/x-ndjson", "User-Agent": "mine", "X-Request-Id": "theirs", "X-Extra": "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := make(chan http.Header, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got <- r.Header.Clone()
				_, _ = w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			call := &Call{RequestID: tc.requestID, BaseURL: srv.URL, Headers: tc.headers, Key: NewCredential("k", "s3cret")}
			resp, err := (&Client{}).Send(context.Background(), call, &tc.ex)
			require.NoError(t, err)
			require.NoError(t, resp.Body.Close())
			h := <-got
			for k, v := range tc.want {
				require.Equal(t, v, h.Get(k), "header %s", k)
			}
		})
	}
}
