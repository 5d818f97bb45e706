package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRetryBackoff(t *testing.T) {
	c := RetryConfig{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	for i := 0; i < 100; i++ {
		d := c.backoff(1, 0)
		require.GreaterOrEqual(t, d, 80*time.Millisecond, "first retry delay %v outside 100ms ±20%%", d)
		require.LessOrEqual(t, d, 120*time.Millisecond, "first retry delay %v outside 100ms ±20%%", d)
		d = c.backoff(3, 0)
		require.GreaterOrEqual(t, d, 320*time.Millisecond, "third retry delay %v outside 400ms ±20%%", d)
		require.LessOrEqual(t, d, 480*time.Millisecond, "third retry delay %v outside 400ms ±20%%", d)
		d = c.backoff(20, 0)
		require.LessOrEqual(t, d, time.Second, "delay %v above the cap", d)
		d = c.backoff(1, 5*time.Second)
		require.Equal(t, 5*time.Second, d, "Retry-After 5s gave %v; it must win even above the cap", d)
	}
}

func TestRetryBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newRetryBudget(RetryConfig{BudgetRatio: 0.5, BudgetPerSecond: 1, BudgetBurst: 3}.withDefaults(), now)
	for i := 0; i < 3; i++ {
		require.True(t, b.take(now), "retry %d refused with a full budget", i)
	}
	require.False(t, b.take(now), "retry allowed with an empty budget")
	b.admitted()
	b.admitted()
	require.True(t, b.take(now), "two admissions at ratio 0.5 should buy one retry")
	require.False(t, b.take(now), "budget should be empty again")
	require.True(t, b.take(now.Add(time.Second)), "one second at 1 token/s should buy one retry")
	off := newRetryBudget(RetryConfig{BudgetRatio: -1}.withDefaults(), now)
	for i := 0; i < 1000; i++ {
		require.True(t, off.take(now), "a disabled budget refused a retry")
	}
}

func TestRollingWindow(t *testing.T) {
	w := rollingWindow{width: 10 * time.Second}
	t0 := time.Unix(100, 0)
	for i := 0; i < 4; i++ {
		w.record(t0.Add(time.Duration(i)*time.Second), i%2 == 0)
	}
	total, fail := w.counts(t0.Add(3 * time.Second))
	require.Equal(t, 4, total, "counts = %d/%d, want 4/2", total, fail)
	require.Equal(t, 2, fail, "counts = %d/%d, want 4/2", total, fail)
	total, _ = w.counts(t0.Add(30 * time.Second))
	require.Equal(t, 0, total, "old buckets still counted")
	w.record(t0.Add(30*time.Second), true)
	total, fail = w.counts(t0.Add(30 * time.Second))
	require.Equal(t, 1, total, "reused bucket counts = %d/%d, want 1/1", total, fail)
	require.Equal(t, 1, fail, "reused bucket counts = %d/%d, want 1/1", total, fail)
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	require.Equal(t, time.Duration(0), h.Quantile(0.5), "empty histogram has a quantile")
	for i := 1; i <= 100; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	p50, p99 := h.Quantile(0.5), h.Quantile(0.99)
	require.GreaterOrEqual(t, p50, 45*time.Millisecond, "p50 = %v, want about 50ms", p50)
	require.LessOrEqual(t, p50, 56*time.Millisecond, "p50 = %v, want about 50ms", p50)
	require.GreaterOrEqual(t, p99, 95*time.Millisecond, "p99 = %v, want about 99ms", p99)
	require.LessOrEqual(t, p99, 110*time.Millisecond, "p99 = %v, want about 99ms", p99)
	for _, d := range []time.Duration{0, time.Microsecond, 7 * time.Microsecond, time.Hour, 1000 * time.Hour} {
		i := bucketOf(d)
		require.GreaterOrEqual(t, i, 0, "bucketOf(%v) = %d", d, i)
		require.Less(t, i, int(histBuckets), "bucketOf(%v) = %d", d, i)
		if d >= time.Microsecond && d < 1000*time.Hour {
			require.GreaterOrEqual(t, bucketUpper(i), d, "bucket %d upper %v below its value %v", i, bucketUpper(i), d)
		}
	}
}

func TestFifo(t *testing.T) {
	var q fifo
	es := make([]*entry, 20)
	for i := range es {
		es[i] = &entry{id: string(rune('a' + i)), state: stateQueued}
		es[i].inQueue = &q
		q.pushBack(es[i])
	}
	front := &entry{id: "front", state: stateQueued, inQueue: &q}
	q.pushFront(front)
	e := q.popFront()
	require.Same(t, front, e, "popFront = %v, want the entry pushed to the front", e.id)
	es[0].state = stateDone // a tombstone
	es[1].inQueue = nil     // removed
	e = q.popFront()
	require.Same(t, es[2], e, "popFront = %s, want c (tombstones skipped)", e.id)
	b := q.back()
	require.Same(t, es[19], b, "back = %s", b.id)
	n := 0
	for q.popFront() != nil {
		n++
	}
	require.Equal(t, 17, n, "popped %d, want 17", n)
}

func testEndpoint(n int, spec func(i int) KeySpec) *endpointState {
	ep := &endpointState{}
	for i := 0; i < n; i++ {
		ks := KeySpec{Cred: providers.NewCredential("k"+string(rune('0'+i)), "secret")}
		if spec != nil {
			ks = spec(i)
		}
		ep.keys = append(ep.keys, &keyState{idx: i, spec: ks, label: ks.Cred.Label()})
	}
	ep.rrWeights = make([]int, n)
	return ep
}

func TestPickKey(t *testing.T) {
	now := time.Unix(1000, 0)
	t.Run("round-robin spreads evenly", func(t *testing.T) {
		ep := testEndpoint(3, nil)
		counts := map[string]int{}
		for i := 0; i < 300; i++ {
			counts[pickKey(ep, RoundRobin, now, nil, "").label]++
		}
		for l, c := range counts {
			require.Equal(t, 100, c, "key %s picked %d times of 300: %v", l, c, counts)
		}
	})
	t.Run("least-loaded follows in-flight", func(t *testing.T) {
		ep := testEndpoint(3, nil)
		ep.keys[0].inflight, ep.keys[1].inflight, ep.keys[2].inflight = 5, 1, 3
		k := pickKey(ep, LeastLoaded, now, nil, "")
		require.Equal(t, "k1", k.label, "picked %s, want k1 (fewest in flight)", k.label)
	})
	t.Run("weighted is proportional", func(t *testing.T) {
		ep := testEndpoint(2, func(i int) KeySpec {
			return KeySpec{Cred: providers.NewCredential([]string{"a", "b"}[i], "s"), Weight: []int{3, 1}[i]}
		})
		counts := map[string]int{}
		for i := 0; i < 400; i++ {
			counts[pickKey(ep, Weighted, now, nil, "").label]++
		}
		require.Equal(t, 300, counts["a"], "weighted 3:1 gave %v", counts)
		require.Equal(t, 100, counts["b"], "weighted 3:1 gave %v", counts)
	})
	t.Run("most-headroom prefers the emptier window", func(t *testing.T) {
		ep := testEndpoint(2, nil)
		ep.keys[0].rateLimit.Store(&messages.RateLimit{Known: true, LimitRequests: 100, RemainingRequests: 5, LimitTokens: -1, RemainingTokens: -1})
		ep.keys[1].rateLimit.Store(&messages.RateLimit{Known: true, LimitRequests: 100, RemainingRequests: 80, LimitTokens: -1, RemainingTokens: -1})
		k := pickKey(ep, MostHeadroom, now, nil, "")
		require.Equal(t, "k1", k.label, "picked %s, want k1 (80%% left)", k.label)
	})
	t.Run("skips cooling, disabled and full keys", func(t *testing.T) {
		ep := testEndpoint(3, func(i int) KeySpec {
			return KeySpec{Cred: providers.NewCredential("k"+string(rune('0'+i)), "s"), MaxInFlight: 1}
		})
		ep.keys[0].coolingUntil = now.Add(time.Second)
		ep.keys[1].disabled = true
		k := pickKey(ep, RoundRobin, now, nil, "")
		require.NotNil(t, k, "picked %v, want k2", k)
		require.Equal(t, "k2", k.label, "picked %v, want k2", k)
		ep.keys[2].inflight = 1
		require.Nil(t, pickKey(ep, RoundRobin, now, nil, ""), "picked a key with every key unusable")
		k = pickKey(ep, RoundRobin, now.Add(2*time.Second), nil, "")
		require.NotNil(t, k, "picked %v after the cooldown, want k0", k)
		require.Equal(t, "k0", k.label, "picked %v after the cooldown, want k0", k)
	})
	t.Run("pinned and avoided", func(t *testing.T) {
		ep := testEndpoint(3, nil)
		require.Equal(t, "k2", pickKey(ep, RoundRobin, now, []string{"k2"}, "").label, "pinned k2")
		for i := 0; i < 10; i++ {
			require.NotEqual(t, "k0", pickKey(ep, RoundRobin, now, nil, "k0").label, "avoided key picked while others were usable")
		}
		one := testEndpoint(1, nil)
		require.NotNil(t, pickKey(one, RoundRobin, now, nil, "k0"), "the only key must still be picked when it is the avoided one")
	})
	t.Run("rpm limiter", func(t *testing.T) {
		st := newProviderState(ProviderSpec{Endpoints: []EndpointSpec{{Keys: []KeySpec{{Cred: providers.NewCredential("r", "s"), RPM: 2}}}}}, nil, nil)
		k := st.endpoints[0].keys[0]
		k.rpm.AllowN(now, 1)
		k.rpm.AllowN(now, 1)
		at, ok := k.availableAt(now)
		require.True(t, ok, "after 2 of 2 rpm, available at %v (+%v), want about +30s", at, at.Sub(now))
		require.False(t, at.IsZero(), "after 2 of 2 rpm, available at %v (+%v), want about +30s", at, at.Sub(now))
		require.LessOrEqual(t, at.Sub(now), 31*time.Second, "after 2 of 2 rpm, available at %v (+%v), want about +30s", at, at.Sub(now))
		require.GreaterOrEqual(t, at.Sub(now), 29*time.Second, "after 2 of 2 rpm, available at %v (+%v), want about +30s", at, at.Sub(now))
	})
}

// fixedBatcher merges every request with the given limits.
type fixedBatcher providers.BatchLimits

func (b fixedBatcher) BatchLimits(messages.Request) (providers.BatchLimits, bool) {
	return providers.BatchLimits(b), true
}

func TestWindowForLeavesNoEmptyWindowBehind(t *testing.T) {
	d := &Dispatcher{&dispatcherState{windows: map[string]*window{}, windowStats: map[string]*windowStats{}}}
	p := &provQueue{name: "p", handle: ProviderHandle{Batcher: fixedBatcher{MaxInputs: 4}}}
	for i := range 50 {
		// Rerankings of distinct queries, each too large to share a call.
		req := &messages.RerankRequest{Call: messages.Call{Provider: "p"}, Model: "m", Query: fmt.Sprint("query ", i),
			Documents: []string{"a", "b", "c", "d", "e"}}
		e := &entry{req: req, call: &req.Call, p: p}
		require.Nil(t, d.windowFor(e), "a request of 5 inputs got a window")
	}
	small := &messages.RerankRequest{Call: messages.Call{Provider: "p"}, Model: "m", Query: "q", Documents: []string{"a"}}
	w := d.windowFor(&entry{req: small, call: &small.Call, p: p})
	require.NotNil(t, w, "a one-document request got window")
	require.Equal(t, 4, w.maxInputs, "a one-document request got window")
	if assert.Len(t, d.windows, 0, "%d windows registered (want 0 until a request joins) and %d statistics (want 1, per model)", len(d.windows), len(d.windowStats)) {
		assert.Len(t, d.windowStats, 1, "%d windows registered (want 0 until a request joins) and %d statistics (want 1, per model)", len(d.windows), len(d.windowStats))
	}
}
