package providers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// TestSendUnderTheAttemptsContext covers Call.CancelAttempt: Send arms its
// header timeout on the attempt's own context instead of deriving one per
// request, so closing a body must not end the attempt, a header timeout
// must end it as ClassTimeout (never "cancelled"), and the owner's cancel
// must end the request in flight.
func TestSendUnderTheAttemptsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
			return
		}
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	newCall := func(cancel context.CancelFunc) *Call {
		return &Call{RequestID: "r", Provider: "p", Endpoint: "e", BaseURL: srv.URL, Key: NewCredential("k", "secret"), CancelAttempt: cancel}
	}

	t.Run("closing a body leaves the attempt running", func(t *testing.T) {
		c := &Client{HeaderTimeout: time.Minute}
		actx, cancel := context.WithCancel(context.Background())
		defer cancel()
		call := newCall(cancel)
		for i := range 2 { // as a 401 refresh or a multi-request adapter sends twice
			resp, err := c.Send(actx, call, &Exchange{Path: "/ok", Auth: BearerAuth})
			require.NoError(t, err, "send %d", i)
			var v struct{ OK bool }
			require.NoError(t, c.DecodeJSON(actx, call, resp, &v), "send %d", i)
			require.True(t, v.OK, "send %d", i)
			require.NoError(t, actx.Err(), "send %d ended the attempt", i)
		}
	})

	t.Run("a header timeout ends the attempt as a timeout", func(t *testing.T) {
		c := &Client{HeaderTimeout: 50 * time.Millisecond}
		actx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := c.Send(actx, newCall(cancel), &Exchange{Path: "/slow"})
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, messages.ClassTimeout, ue.Class, "%v", err)
		require.True(t, ue.Retryable(), "a header timeout is retried")
		require.ErrorIs(t, actx.Err(), context.Canceled, "the timeout cancels the attempt's context")
	})

	t.Run("the owner's cancel ends the request in flight", func(t *testing.T) {
		wt := &watchingTransport{started: make(chan struct{}), next: http.DefaultTransport}
		c := &Client{HTTP: &http.Client{Transport: wt}, HeaderTimeout: time.Minute}
		actx, cancel := context.WithCancel(context.Background())
		go func() {
			<-wt.started
			cancel()
		}()
		_, err := c.Send(actx, newCall(cancel), &Exchange{Path: "/slow"})
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue)
		require.Equal(t, messages.ClassCancelled, ue.Class, "%v", err)
	})
}

// TestHeadersArrivingAsTheTimeoutFires: a response whose headers come just
// as the header timeout fires is answered as the timeout, with its body
// closed, whether Send derived the request's context or used the
// attempt's: the context its body would be read under is being cancelled.
func TestHeadersArrivingAsTheTimeoutFires(t *testing.T) {
	for _, ownContext := range []bool{false, true} {
		name := map[bool]string{false: "derived context", true: "attempt's context"}[ownContext]
		t.Run(name, func(t *testing.T) {
			body := &lateBody{Reader: strings.NewReader(`{"ok":true}`)}
			// The transport answers once the request's context ends, i.e.
			// exactly when the timeout fired: headers "as the timer fires".
			rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
				<-r.Context().Done()
				return &http.Response{StatusCode: 200, Header: http.Header{}, Body: body, Request: r}, nil
			})
			c := &Client{HTTP: &http.Client{Transport: rt}, HeaderTimeout: 20 * time.Millisecond}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			call := &Call{RequestID: "r", Provider: "p", Endpoint: "e", BaseURL: "http://upstream.invalid", Key: NewCredential("k", "secret")}
			if ownContext {
				call.CancelAttempt = cancel
			}
			resp, err := c.Send(ctx, call, &Exchange{Path: "/x"})
			require.Nil(t, resp)
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue)
			require.Equal(t, messages.ClassTimeout, ue.Class, "%v", err)
			require.EqualValues(t, 1, body.closed.Load(), "the late answer's body is closed")
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// watchingTransport closes started when the first request goes out.
type watchingTransport struct {
	started chan struct{}
	once    atomic.Bool
	next    http.RoundTripper
}

func (w *watchingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if w.once.CompareAndSwap(false, true) {
		close(w.started)
	}
	return w.next.RoundTrip(r)
}

type lateBody struct {
	io.Reader
	closed atomic.Int32
}

func (c *lateBody) Close() error { c.closed.Add(1); return nil }
