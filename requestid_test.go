package switchyard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// The caller's response, the upstream's X-Request-ID and every retry carry
// the same ID; the upstream's own ID comes back too.
func TestRequestIDEndToEnd(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond}}, false)
	srv.Inject(sim.Fault{Status: 503, Times: 2})
	resp, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.RequestID == "" || resp.Attempts != 3 {
		t.Fatalf("response %+v", resp.Meta)
	}
	recs := srv.Requests()
	if len(recs) != 3 {
		t.Fatalf("%d upstream calls", len(recs))
	}
	for i, r := range recs {
		if r.RequestID != resp.RequestID {
			t.Fatalf("attempt %d sent X-Request-ID %q, response has %q", i+1, r.RequestID, resp.RequestID)
		}
		if strings.Contains(string(r.Body), resp.RequestID) {
			t.Fatal("the request ID leaked into the provider's body")
		}
	}
	if !strings.HasPrefix(resp.UpstreamRequestID, "req_") { // Anthropic's request-id header
		t.Fatalf("upstream id %q", resp.UpstreamRequestID)
	}
	// UUIDv7: version nibble 7.
	if len(resp.RequestID) != 36 || resp.RequestID[14] != '7' {
		t.Fatalf("request id %q is not a UUIDv7", resp.RequestID)
	}

	// A caller's own ID is kept, in errors and events too.
	srv.Inject(sim.Fault{Status: 400})
	_, err = h.sy.Chat(context.Background(), chatReq("p", "x"), WithRequestID("caller-id-42"))
	var ue *messages.UpstreamError
	if !errors.As(err, &ue) || ue.RequestID != "caller-id-42" || !strings.Contains(err.Error(), "caller-id-42") {
		t.Fatalf("error %v", err)
	}
	if last := srv.Requests()[3]; last.RequestID != "caller-id-42" {
		t.Fatalf("upstream saw %q", last.RequestID)
	}
	srv.Inject(sim.Fault{Status: 500})
	_, _ = h.sy.Chat(context.Background(), chatReq("p", "x"), WithRequestID("caller-id-43"))
	retried := h.eventsOf(func(e messages.Event) bool {
		r, ok := e.(*messages.RequestRetried)
		return ok && r.RequestID == "caller-id-43"
	})
	if len(retried) != 1 {
		t.Fatalf("retry events for caller-id-43: %d", len(retried))
	}
	if !strings.Contains(h.logs.String(), "caller-id-43") {
		t.Fatal("the retry log line lacks the request ID")
	}
}
