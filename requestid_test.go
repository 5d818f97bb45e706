package switchyard

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// The caller's response, the upstream's X-Request-ID and every retry carry
// the same ID; the upstream's own ID comes back too.
func TestRequestIDEndToEnd(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}}, false)
	srv.Inject(sim.Fault{Status: 503, Times: 2})
	resp, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
	require.NoError(t, err)
	require.NotEqual(t, "", resp.RequestID, "response %+v", resp.Meta)
	require.Equal(t, 3, resp.Attempts, "response %+v", resp.Meta)
	recs := srv.Requests()
	require.Len(t, recs, 3, "%d upstream calls", len(recs))
	for i, r := range recs {
		require.Equal(t, resp.RequestID, r.RequestID, "attempt %d sent X-Request-ID %q, response has %q", i+1, r.RequestID, resp.RequestID)
		require.NotContains(t, string(r.Body), resp.RequestID, "the request ID leaked into the provider's body")
	}
	// Anthropic's request-id header.
	require.True(t, strings.HasPrefix(resp.UpstreamRequestID, "req_"), "upstream id %q", resp.UpstreamRequestID)
	// UUIDv7: version nibble 7.
	require.Len(t, resp.RequestID, 36, "request id %q is not a UUIDv7", resp.RequestID)
	require.Equal(t, byte('7'), resp.RequestID[14], "request id %q is not a UUIDv7", resp.RequestID)

	// A caller's own ID is kept, in errors and events too.
	srv.Inject(sim.Fault{Status: 400})
	_, err = h.sy.Chat(context.Background(), chatReq("p", "x"), WithRequestID("caller-id-42"))
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "error")
	require.Equal(t, "caller-id-42", ue.RequestID, "error")
	require.Contains(t, err.Error(), "caller-id-42", "error")
	require.Equal(t, "caller-id-42", srv.Requests()[3].RequestID, "upstream saw")
	srv.Inject(sim.Fault{Status: 500})
	_, _ = h.sy.Chat(context.Background(), chatReq("p", "x"), WithRequestID("caller-id-43"))
	retried := h.eventsOf(func(e messages.Event) bool {
		r, ok := e.(*messages.RequestRetried)
		return ok && r.RequestID == "caller-id-43"
	})
	require.Len(t, retried, 1, "retry events for caller-id-43")
	require.Contains(t, h.logs.String(), "caller-id-43", "the retry log line lacks the request ID")
}
