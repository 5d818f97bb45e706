package switchyard

import (
	"context"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// Per-key counters sum to their endpoint's, endpoints to the provider's, and
// token counts equal what the upstream reported.
func TestCountersReconcile(t *testing.T) {
	a, b := startAnthropic(t), startAnthropic(t)
	cfg := Config{Providers: []ProviderConfig{{Name: "p", Kind: "anthropic", Endpoints: []EndpointConfig{
		{Name: "one", BaseURL: a.URL, Keys: []KeyConfig{{Label: "a1", Secret: secretA}, {Label: "a2", Secret: secretB}}},
		{Name: "two", BaseURL: b.URL, Keys: []KeyConfig{{Label: "b1", Secret: secretC}}},
	}}}, Retry: RetryConfig{MaxAttempts: 1}, Breaker: BreakerConfig{ConsecutiveFailures: 1000}}
	h := newHarness(t, cfg, false)
	ctx := context.Background()
	a.Inject(sim.Fault{Status: 500, Times: 3})
	a.Inject(sim.Fault{Status: 400, Times: 2})
	for i := 0; i < 20; i++ {
		_, _ = h.sy.Chat(ctx, chatReq("p", "count these words please"))
	}
	for i := 0; i < 4; i++ {
		_, err := h.sy.Chat(ctx, chatReq("p", "to two"), WithEndpoint("two"))
		require.NoError(t, err)
	}
	p := h.tree().Providers[0]
	var epSum messages.Counters
	for _, ep := range p.Endpoints {
		var keySum messages.Counters
		for _, k := range ep.Keys {
			add(&keySum, k.Counters)
		}
		require.True(t, sameCounts(keySum, ep.Counters), "endpoint %s: keys sum to %+v, endpoint says %+v", ep.Name, keySum, ep.Counters)
		add(&epSum, ep.Counters)
	}
	require.True(t, sameCounts(epSum, p.Counters), "endpoints sum to %+v, provider says %+v", epSum, p.Counters)
	require.Equal(t, uint64(24), p.Counters.Requests, "provider counters %+v", p.Counters)
	require.Equal(t, uint64(19), p.Counters.Successes, "provider counters %+v", p.Counters)
	require.Equal(t, uint64(3), p.Counters.Failures["server"], "provider counters %+v", p.Counters)
	require.Equal(t, uint64(2), p.Counters.Failures["invalid"], "provider counters %+v", p.Counters)
	inA, outA := a.Usage()
	inB, outB := b.Usage()
	require.Equal(t, uint64(inA+inB), p.Counters.InputTokens, "tokens in %d out %d, upstream reported in %d out %d", p.Counters.InputTokens, p.Counters.OutputTokens, inA+inB, outA+outB)
	require.Equal(t, uint64(outA+outB), p.Counters.OutputTokens, "tokens in %d out %d, upstream reported in %d out %d", p.Counters.InputTokens, p.Counters.OutputTokens, inA+inB, outA+outB)
	require.NotEqual(t, 0, inA, "tokens in %d out %d, upstream reported in %d out %d", p.Counters.InputTokens, p.Counters.OutputTokens, inA+inB, outA+outB)
	require.NotEqual(t, 0, outB, "tokens in %d out %d, upstream reported in %d out %d", p.Counters.InputTokens, p.Counters.OutputTokens, inA+inB, outA+outB)
	st, err := h.sy.Stats(ctx)
	require.NoError(t, err, "Stats: %v %+v", err, st)
	require.Equal(t, uint64(24), st.Providers["p"].Requests, "Stats: %v %+v", err, st)
	require.Equal(t, uint64(4), st.Endpoints["p/two"].Successes, "Stats: %v %+v", err, st)
	require.Equal(t, ep2Requests(p), st.Keys["p/two/b1"].Requests, "Stats: %v %+v", err, st)
	require.Equal(t, int64(0), p.Counters.InFlight, "gauges %+v", p.Counters)
	require.True(t, p.Counters.LatencyP99 != 0, "gauges %+v", p.Counters)
	require.False(t, p.Counters.LastRequest.IsZero(), "gauges %+v", p.Counters)
	require.NotEqual(t, "", p.Counters.LastError, "gauges %+v", p.Counters)
}

func add(sum *messages.Counters, c messages.Counters) {
	sum.Requests += c.Requests
	sum.Successes += c.Successes
	sum.InputTokens += c.InputTokens
	sum.OutputTokens += c.OutputTokens
	sum.InFlight += c.InFlight
	if sum.Failures == nil {
		sum.Failures = map[string]uint64{}
	}
	for k, v := range c.Failures {
		sum.Failures[k] += v
	}
}

func sameCounts(a, b messages.Counters) bool {
	if a.Requests != b.Requests || a.Successes != b.Successes || a.InputTokens != b.InputTokens ||
		a.OutputTokens != b.OutputTokens || a.InFlight != b.InFlight || a.FailureTotal() != b.FailureTotal() {
		return false
	}
	for k, v := range b.Failures {
		if a.Failures[k] != v {
			return false
		}
	}
	return true
}

func ep2Requests(p messages.ProviderNode) uint64 {
	for _, e := range p.Endpoints {
		if e.Name == "two" {
			return e.Keys[0].Counters.Requests
		}
	}
	return 0
}
