package providers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// TestSendFollowsRedirectsAsDoWould: Send skips net/http's per-request
// redirect bookkeeping, so a redirect must still be followed by Do's rules
// (307/308 keep the method and body, 303 turns into GET, the Authorization
// header is not sent to another host), and a client's own redirect policy
// must still apply.
func TestSendFollowsRedirectsAsDoWould(t *testing.T) {
	var otherHostAuth atomic.Value
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		otherHostAuth.Store(r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{"where":"other"}`))
	}))
	defer other.Close()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/307":
			http.Redirect(w, r, "/target", http.StatusTemporaryRedirect)
		case "/303":
			http.Redirect(w, r, "/target", http.StatusSeeOther)
		case "/away":
			// Another host name (net/http compares names, not ports).
			http.Redirect(w, r, strings.Replace(other.URL, "127.0.0.1", "localhost", 1)+"/x", http.StatusTemporaryRedirect)
		case "/target":
			b, _ := io.ReadAll(r.Body)
			if r.Header.Get("Authorization") != "Bearer secret-value" {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			_, _ = w.Write([]byte(`{"method":"` + r.Method + `","body":` + strconv.Quote(string(b)) + `}`))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	type answer struct{ Method, Body, Where string }
	tests := []struct {
		name   string
		path   string
		client *http.Client
		want   answer
		status int
	}{
		{name: "307 keeps method and body", path: "/307", want: answer{Method: "POST", Body: `{"a":1}`}},
		{name: "303 turns into GET", path: "/303", want: answer{Method: "GET"}},
		{name: "another host gets no Authorization", path: "/away", want: answer{Where: "other"}},
		{name: "the client's own policy applies", path: "/307", status: http.StatusTemporaryRedirect,
			client: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Client{HTTP: tt.client}
			call := &Call{RequestID: "r", Provider: "p", Endpoint: "e", BaseURL: srv.URL, Key: NewCredential("k", "secret-value")}
			resp, err := c.Send(context.Background(), call, &Exchange{Path: tt.path, Body: map[string]int{"a": 1}, Auth: BearerAuth})
			if tt.status != 0 {
				var ue *messages.UpstreamError
				require.ErrorAs(t, err, &ue)
				require.Equal(t, tt.status, ue.Status)
				return
			}
			require.NoError(t, err)
			var got answer
			require.NoError(t, c.DecodeJSON(context.Background(), call, resp, &got))
			require.Equal(t, tt.want, got)
			if tt.want.Where == "other" {
				require.Equal(t, "", otherHostAuth.Load(), "the key must not follow a redirect to another host")
			}
		})
	}
	require.Positive(t, hits.Load())
}

// TestSendTransportErrorsAreURLErrors: a failure to reach the upstream is
// reported as Do reports it, a *url.Error naming the method and the URL
// (without its query), classified ClassConnection.
func TestSendTransportErrorsAreURLErrors(t *testing.T) {
	c := &Client{}
	call := &Call{RequestID: "r", Provider: "p", Endpoint: "e", BaseURL: "http://127.0.0.1:1", Key: NewCredential("k", "secret-value")}
	_, err := c.Send(context.Background(), call, &Exchange{Path: "/v1/x", Query: url.Values{"key": {"secret-value"}}, Body: map[string]int{"a": 1}})
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue)
	require.Equal(t, messages.ClassConnection, ue.Class)
	var uerr *url.Error
	require.ErrorAs(t, err, &uerr)
	require.Equal(t, "Post", uerr.Op)
	require.Equal(t, "http://127.0.0.1:1/v1/x", uerr.URL)
	require.NotContains(t, err.Error(), "secret-value")
}
