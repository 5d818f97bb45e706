package switchyard

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

func breakerHarness(t *testing.T, endpoints ...EndpointConfig) *harness {
	return newHarness(t, Config{
		Providers: []ProviderConfig{{Name: "p", Kind: "anthropic", Endpoints: endpoints}},
		Retry:     RetryConfig{MaxAttempts: 1},
		Breaker:   BreakerConfig{ConsecutiveFailures: 5, Cooldown: 10 * time.Second, MaxCooldown: time.Minute, HalfOpenProbes: 1},
	}, true)
}

func (h *harness) breakerEvents(to messages.BreakerState) []*messages.BreakerStateChanged {
	var out []*messages.BreakerStateChanged
	for _, e := range h.eventsOf(func(e messages.Event) bool {
		b, ok := e.(*messages.BreakerStateChanged)
		return ok && b.To == to
	}) {
		out = append(out, e.(*messages.BreakerStateChanged))
	}
	return out
}

func (h *harness) endpoint(provider, name string) messages.EndpointNode {
	for _, p := range h.tree().Providers {
		for _, e := range p.Endpoints {
			if p.Name == provider && e.Name == name {
				return e
			}
		}
	}
	require.FailNow(h.t, "no endpoint", "%s/%s", provider, name)
	return messages.EndpointNode{}
}

func (h *harness) trip(srv *sim.Server) {
	h.t.Helper()
	srv.Inject(sim.Fault{Status: 500, Times: 5})
	for i := 0; i < 5; i++ {
		_, err := h.sy.Chat(context.Background(), chatReq("p", "fail"))
		require.Error(h.t, err, "a 500 answered as success")
	}
	eventually(h.t, "the breaker to open", func() bool { return len(h.breakerEvents(messages.Open)) > 0 })
}

func TestBreakerOpensProbesAndCloses(t *testing.T) {
	srv := startAnthropic(t)
	h := breakerHarness(t, EndpointConfig{Name: "primary", BaseURL: srv.URL, Keys: []KeyConfig{{Label: "a", Secret: secretA}}})
	ctx := context.Background()
	eventually(t, "the breaker's first incarnation", func() bool { return h.endpoint("p", "primary").Incarnations == 1 })
	h.trip(srv)
	open := h.breakerEvents(messages.Open)[0]
	d := open.ReopenAt.Sub(h.clk.Now())
	assert.True(t, d >= 8*time.Second && d <= 12*time.Second, "first cooldown %v, want 10s ±20%%", d)

	// OPEN: nothing reaches the upstream; callers learn when it reopens.
	_, err := h.sy.Chat(ctx, chatReq("p", "while open"))
	var co *messages.CircuitOpenError
	require.ErrorAs(t, err, &co)
	assert.Equal(t, open.ReopenAt, co.ReopenAt)
	assert.Equal(t, "primary", co.Endpoint)
	require.Equal(t, 5, srv.Calls(), "an OPEN breaker let a call through")

	// The cooldown elapses: the provider restarts the breaker actor, whose new
	// incarnation starts HALF-OPEN.
	h.clk.Set(open.ReopenAt)
	eventually(t, "HALF-OPEN", func() bool { return len(h.breakerEvents(messages.HalfOpen)) == 1 })
	eventually(t, "the restarted breaker to start", func() bool { return h.endpoint("p", "primary").Incarnations == 2 })
	ep := h.endpoint("p", "primary")
	assert.Equal(t, 1, ep.Restarts)
	assert.Equal(t, messages.HalfOpen, ep.State)
	assert.Len(t, h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.ActorRestarted); return ok }), 1)

	// HALF-OPEN admits exactly one probe; the others wait in the queue.
	srv.Hold()
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.sy.Chat(ctx, chatReq("p", "probe"))
			errs <- err
		}()
	}
	eventually(t, "the probe to arrive", func() bool { return srv.Calls() == 6 })
	// The three requests are accounted for: one upstream, two queued (a
	// queued request is not in flight). Were a second probe admitted, the
	// queue would never hold two.
	eventually(t, "two requests queued behind the probe", func() bool {
		q, _ := h.sy.QueueStatus(ctx)
		return q.PerProvider["p"][1] == 2
	})
	require.Equal(t, 6, srv.Calls(), "HALF-OPEN let more than one probe through")
	srv.Release()
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "after the probe succeeded")
	}
	// The breaker publishes CLOSED as it sees the probe's outcome, while
	// the answers travel to the callers: an answer may arrive first.
	eventually(t, "a successful probe to close the breaker", func() bool { return len(h.breakerEvents(messages.Closed)) == 1 })
	assert.Len(t, h.breakerEvents(messages.Closed), 1, "one CLOSED")
	assert.Equal(t, messages.Closed, h.endpoint("p", "primary").State)
	assert.Equal(t, 8, srv.Calls())
}

func TestBreakerProbeFailureReopensLonger(t *testing.T) {
	srv := startAnthropic(t)
	h := breakerHarness(t, EndpointConfig{Name: "primary", BaseURL: srv.URL, Keys: []KeyConfig{{Label: "a", Secret: secretA}}})
	h.trip(srv)
	first := h.breakerEvents(messages.Open)[0]
	h.clk.Set(first.ReopenAt)
	eventually(t, "HALF-OPEN", func() bool { return len(h.breakerEvents(messages.HalfOpen)) == 1 })
	eventually(t, "the breaker restarted", func() bool { return h.endpoint("p", "primary").Incarnations == 2 })
	srv.Inject(sim.Fault{Status: 503})
	_, err := h.sy.Chat(context.Background(), chatReq("p", "probe"))
	require.Error(t, err, "failed probe answered as success")
	eventually(t, "the breaker to re-open", func() bool { return len(h.breakerEvents(messages.Open)) == 2 })
	second := h.breakerEvents(messages.Open)[1]
	d1 := first.ReopenAt.Sub(first.Time)
	d2 := second.ReopenAt.Sub(second.Time)
	assert.Equal(t, 2, second.Trips)
	assert.True(t, d2 >= 16*time.Second && d2 <= 24*time.Second && d2 > d1,
		"second cooldown %v after first %v: want 20s ±20%%, longer", d2, d1)
	assert.Equal(t, 6, srv.Calls(), "5 + one probe")
}

// A Retry-After on the failure that trips the breaker sets the cooldown's
// floor.
func TestBreakerCooldownHonoursRetryAfter(t *testing.T) {
	srv := startAnthropic(t)
	h := breakerHarness(t, EndpointConfig{Name: "primary", BaseURL: srv.URL, Keys: []KeyConfig{{Label: "a", Secret: secretA}}})
	srv.Inject(sim.Fault{Status: 503, Times: 5, Header: map[string]string{"Retry-After": "120"}})
	for i := 0; i < 5; i++ {
		_, _ = h.sy.Chat(context.Background(), chatReq("p", "x"))
	}
	eventually(t, "open", func() bool { return len(h.breakerEvents(messages.Open)) == 1 })
	d := h.breakerEvents(messages.Open)[0].ReopenAt.Sub(h.clk.Now())
	assert.GreaterOrEqual(t, d, 120*time.Second, "cooldown shorter than Retry-After 120s")
}

// With a healthy second endpoint, an OPEN primary costs callers nothing.
func TestBreakerFailsOverToSecondEndpoint(t *testing.T) {
	primary, secondary := startAnthropic(t), startAnthropic(t)
	h := breakerHarness(t,
		EndpointConfig{Name: "primary", BaseURL: primary.URL, Keys: []KeyConfig{{Label: "a", Secret: secretA}}},
		EndpointConfig{Name: "secondary", BaseURL: secondary.URL, Keys: []KeyConfig{{Label: "b", Secret: secretB}}})
	h.trip(primary)
	for i := 0; i < 5; i++ {
		resp, err := h.sy.Chat(context.Background(), chatReq("p", "after trip"))
		require.NoError(t, err)
		assert.Equal(t, "secondary", resp.Endpoint)
		assert.Equal(t, "b", resp.Key)
	}
	assert.Equal(t, 5, primary.Calls())
	assert.Equal(t, 5, secondary.Calls())
}

// A failure rate over the window trips the breaker even without five
// failures in a row.
func TestBreakerTripsOnFailureRate(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{
		Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Retry:     RetryConfig{MaxAttempts: 1},
		Breaker:   BreakerConfig{ConsecutiveFailures: 100, FailureRate: 0.5, MinRequests: 10, Window: time.Minute},
	}, true)
	for i := 0; i < 10; i++ {
		if i%2 == 0 {
			srv.Inject(sim.Fault{Status: 502})
		}
		_, _ = h.sy.Chat(context.Background(), chatReq("p", "x"))
	}
	eventually(t, "open on rate", func() bool { return len(h.breakerEvents(messages.Open)) == 1 })
	assert.Equal(t, "5 of 10 attempts failed in 1m0s", h.breakerEvents(messages.Open)[0].Reason)
}

// Client errors are answers, not failures: twenty 400s leave the breaker
// CLOSED, and count as twenty successes when the upstream then fails.
// The trip's reason proves it without waiting for nothing: had a 400
// counted, the fifth would have tripped it ("5 consecutive failures").
func TestBreakerIgnoresClientErrors(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}, Retry: RetryConfig{MaxAttempts: 1}}, true)
	srv.Inject(sim.Fault{Status: 400, Times: 20})
	for i := 0; i < 20; i++ {
		_, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue, "request %d", i)
		require.Equal(t, 400, ue.Status, "request %d", i)
	}
	srv.Inject(sim.Fault{Status: 500, Times: 20})
	for i := 0; i < 20; i++ {
		_, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue, "request %d", i)
		require.Equal(t, 500, ue.Status, "request %d", i)
	}
	eventually(t, "open", func() bool { return len(h.breakerEvents(messages.Open)) == 1 })
	assert.Equal(t, "20 consecutive failures (20 of the last 40 attempts failed)", h.breakerEvents(messages.Open)[0].Reason)
}

// A request pinned to an endpoint that is HALF-OPEN with its probe in
// flight waits parked; when the probe closes the breaker it must go, even
// though the provider's total capacity (another endpoint, keys without an
// in-flight cap) never changed.
func TestPinnedRequestWaitingForHalfOpenEndpointGoesWhenItCloses(t *testing.T) {
	a, b := startAnthropic(t), startAnthropic(t)
	h := breakerHarness(t, EndpointConfig{Name: "a", BaseURL: a.URL, Keys: []KeyConfig{{Label: "ka", Secret: secretA}}},
		EndpointConfig{Name: "b", BaseURL: b.URL, Keys: []KeyConfig{{Label: "kb", Secret: secretB}}})
	eventually(t, "both breakers", func() bool { return h.endpoint("p", "b").Incarnations == 1 })
	h.trip(a)
	h.clk.Set(h.breakerEvents(messages.Open)[0].ReopenAt)
	eventually(t, "HALF-OPEN", func() bool {
		return h.endpoint("p", "a").State == messages.HalfOpen && h.endpoint("p", "a").Incarnations == 2
	})

	a.Hold()
	pinned := func() <-chan error {
		ch := make(chan error, 1)
		go func() {
			// No caller deadline: the instance runs on a manual clock.
			_, err := h.sy.Chat(context.Background(), chatReq("p", "pinned"), WithEndpoint("a"))
			ch <- err
		}()
		return ch
	}
	probe := pinned()
	eventually(t, "the probe upstream", func() bool {
		select {
		case err := <-probe:
			require.FailNow(t, "the probe answered before reaching the upstream", "%v", err)
		default:
		}
		return a.Calls() == 6
	})
	waiting := pinned()
	eventually(t, "the second pinned request parked", func() bool {
		st, err := h.sy.QueueStatus(context.Background())
		return err == nil && st.Parked == 1
	})
	a.Release()
	require.NoError(t, <-probe, "probe")
	select {
	case err := <-waiting:
		require.NoError(t, err, "the parked request")
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the parked request was never sent after the endpoint closed")
	}
	assert.Equal(t, 7, a.Calls())
}
