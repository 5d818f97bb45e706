package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

func TestRetryBackoff(t *testing.T) {
	c := RetryConfig{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	for i := 0; i < 100; i++ {
		if d := c.backoff(1, 0); d < 80*time.Millisecond || d > 120*time.Millisecond {
			t.Fatalf("first retry delay %v outside 100ms ±20%%", d)
		}
		if d := c.backoff(3, 0); d < 320*time.Millisecond || d > 480*time.Millisecond {
			t.Fatalf("third retry delay %v outside 400ms ±20%%", d)
		}
		if d := c.backoff(20, 0); d > time.Second {
			t.Fatalf("delay %v above the cap", d)
		}
		if d := c.backoff(1, 5*time.Second); d != 5*time.Second {
			t.Fatalf("Retry-After 5s gave %v; it must win even above the cap", d)
		}
	}
}

func TestRetryBudget(t *testing.T) {
	now := time.Unix(1000, 0)
	b := newRetryBudget(RetryConfig{BudgetRatio: 0.5, BudgetPerSecond: 1, BudgetBurst: 3}.withDefaults(), now)
	for i := 0; i < 3; i++ {
		if !b.take(now) {
			t.Fatalf("retry %d refused with a full budget", i)
		}
	}
	if b.take(now) {
		t.Fatal("retry allowed with an empty budget")
	}
	b.admitted()
	b.admitted()
	if !b.take(now) {
		t.Fatal("two admissions at ratio 0.5 should buy one retry")
	}
	if b.take(now) {
		t.Fatal("budget should be empty again")
	}
	if !b.take(now.Add(time.Second)) {
		t.Fatal("one second at 1 token/s should buy one retry")
	}
	off := newRetryBudget(RetryConfig{BudgetRatio: -1}.withDefaults(), now)
	for i := 0; i < 1000; i++ {
		if !off.take(now) {
			t.Fatal("a disabled budget refused a retry")
		}
	}
}

func TestRollingWindow(t *testing.T) {
	w := rollingWindow{width: 10 * time.Second}
	t0 := time.Unix(100, 0)
	for i := 0; i < 4; i++ {
		w.record(t0.Add(time.Duration(i)*time.Second), i%2 == 0)
	}
	if total, fail := w.counts(t0.Add(3 * time.Second)); total != 4 || fail != 2 {
		t.Fatalf("counts = %d/%d, want 4/2", total, fail)
	}
	if total, _ := w.counts(t0.Add(30 * time.Second)); total != 0 {
		t.Fatalf("old buckets still counted: %d", total)
	}
	w.record(t0.Add(30*time.Second), true)
	if total, fail := w.counts(t0.Add(30 * time.Second)); total != 1 || fail != 1 {
		t.Fatalf("reused bucket counts = %d/%d, want 1/1", total, fail)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h Histogram
	if h.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
	for i := 1; i <= 100; i++ {
		h.Observe(time.Duration(i) * time.Millisecond)
	}
	p50, p99 := h.Quantile(0.5), h.Quantile(0.99)
	if p50 < 45*time.Millisecond || p50 > 56*time.Millisecond {
		t.Fatalf("p50 = %v, want about 50ms", p50)
	}
	if p99 < 95*time.Millisecond || p99 > 110*time.Millisecond {
		t.Fatalf("p99 = %v, want about 99ms", p99)
	}
	for _, d := range []time.Duration{0, time.Microsecond, 7 * time.Microsecond, time.Hour, 1000 * time.Hour} {
		i := bucketOf(d)
		if i < 0 || i >= histBuckets {
			t.Fatalf("bucketOf(%v) = %d", d, i)
		}
		if d >= time.Microsecond && d < 1000*time.Hour && bucketUpper(i) < d {
			t.Fatalf("bucket %d upper %v below its value %v", i, bucketUpper(i), d)
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
	if e := q.popFront(); e != front {
		t.Fatalf("popFront = %v, want the entry pushed to the front", e.id)
	}
	es[0].state = stateDone // a tombstone
	es[1].inQueue = nil     // removed
	if e := q.popFront(); e != es[2] {
		t.Fatalf("popFront = %s, want c (tombstones skipped)", e.id)
	}
	if b := q.back(); b != es[19] {
		t.Fatalf("back = %s", b.id)
	}
	n := 0
	for q.popFront() != nil {
		n++
	}
	if n != 17 {
		t.Fatalf("popped %d, want 17", n)
	}
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
			counts[pickKey(ep, RoundRobin, now, "", "").label]++
		}
		for l, c := range counts {
			if c != 100 {
				t.Fatalf("key %s picked %d times of 300: %v", l, c, counts)
			}
		}
	})
	t.Run("least-loaded follows in-flight", func(t *testing.T) {
		ep := testEndpoint(3, nil)
		ep.keys[0].inflight, ep.keys[1].inflight, ep.keys[2].inflight = 5, 1, 3
		if k := pickKey(ep, LeastLoaded, now, "", ""); k.label != "k1" {
			t.Fatalf("picked %s, want k1 (fewest in flight)", k.label)
		}
	})
	t.Run("weighted is proportional", func(t *testing.T) {
		ep := testEndpoint(2, func(i int) KeySpec {
			return KeySpec{Cred: providers.NewCredential([]string{"a", "b"}[i], "s"), Weight: []int{3, 1}[i]}
		})
		counts := map[string]int{}
		for i := 0; i < 400; i++ {
			counts[pickKey(ep, Weighted, now, "", "").label]++
		}
		if counts["a"] != 300 || counts["b"] != 100 {
			t.Fatalf("weighted 3:1 gave %v", counts)
		}
	})
	t.Run("most-headroom prefers the emptier window", func(t *testing.T) {
		ep := testEndpoint(2, nil)
		ep.keys[0].rateLimit.Store(&messages.RateLimit{Known: true, LimitRequests: 100, RemainingRequests: 5, LimitTokens: -1, RemainingTokens: -1})
		ep.keys[1].rateLimit.Store(&messages.RateLimit{Known: true, LimitRequests: 100, RemainingRequests: 80, LimitTokens: -1, RemainingTokens: -1})
		if k := pickKey(ep, MostHeadroom, now, "", ""); k.label != "k1" {
			t.Fatalf("picked %s, want k1 (80%% left)", k.label)
		}
	})
	t.Run("skips cooling, disabled and full keys", func(t *testing.T) {
		ep := testEndpoint(3, func(i int) KeySpec {
			return KeySpec{Cred: providers.NewCredential("k"+string(rune('0'+i)), "s"), MaxInFlight: 1}
		})
		ep.keys[0].coolingUntil = now.Add(time.Second)
		ep.keys[1].disabled = true
		if k := pickKey(ep, RoundRobin, now, "", ""); k == nil || k.label != "k2" {
			t.Fatalf("picked %v, want k2", k)
		}
		ep.keys[2].inflight = 1
		if k := pickKey(ep, RoundRobin, now, "", ""); k != nil {
			t.Fatalf("picked %s with every key unusable", k.label)
		}
		if k := pickKey(ep, RoundRobin, now.Add(2*time.Second), "", ""); k == nil || k.label != "k0" {
			t.Fatalf("picked %v after the cooldown, want k0", k)
		}
	})
	t.Run("pinned and avoided", func(t *testing.T) {
		ep := testEndpoint(3, nil)
		if k := pickKey(ep, RoundRobin, now, "k2", ""); k.label != "k2" {
			t.Fatalf("pinned k2, got %s", k.label)
		}
		for i := 0; i < 10; i++ {
			if k := pickKey(ep, RoundRobin, now, "", "k0"); k.label == "k0" {
				t.Fatal("avoided key picked while others were usable")
			}
		}
		one := testEndpoint(1, nil)
		if k := pickKey(one, RoundRobin, now, "", "k0"); k == nil {
			t.Fatal("the only key must still be picked when it is the avoided one")
		}
	})
	t.Run("rpm limiter", func(t *testing.T) {
		st := newProviderState(ProviderSpec{Endpoints: []EndpointSpec{{Keys: []KeySpec{{Cred: providers.NewCredential("r", "s"), RPM: 2}}}}}, nil, nil)
		k := st.endpoints[0].keys[0]
		k.rpm.AllowN(now, 1)
		k.rpm.AllowN(now, 1)
		at, ok := k.availableAt(now)
		if !ok || at.IsZero() || at.Sub(now) > 31*time.Second || at.Sub(now) < 29*time.Second {
			t.Fatalf("after 2 of 2 rpm, available at %v (+%v), want about +30s", at, at.Sub(now))
		}
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
		if w := d.windowFor(e); w != nil {
			t.Fatalf("a request of 5 inputs got a window of %d", w.maxInputs)
		}
	}
	small := &messages.RerankRequest{Call: messages.Call{Provider: "p"}, Model: "m", Query: "q", Documents: []string{"a"}}
	if w := d.windowFor(&entry{req: small, call: &small.Call, p: p}); w == nil || w.maxInputs != 4 {
		t.Fatalf("a one-document request got window %+v", w)
	}
	if len(d.windows) != 0 || len(d.windowStats) != 1 {
		t.Errorf("%d windows registered (want 0 until a request joins) and %d statistics (want 1, per model)", len(d.windows), len(d.windowStats))
	}
}
