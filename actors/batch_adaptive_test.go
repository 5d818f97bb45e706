package actors

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// A shape's pending calls follow its entries through every state, and the
// invariant check finds a count that drifts from them.
func TestBatchPendingCallsFollowTheEntriesState(t *testing.T) {
	p := &provQueue{name: "p", handle: ProviderHandle{Adapter: fakeAdapter{}}}
	d := &Dispatcher{&dispatcherState{env: &Env{Clock: clock.NewManual(time.Unix(0, 0))}, entries: map[string]*entry{},
		provs: map[string]*provQueue{"p": p}, windows: map[string]*window{}, windowStats: map[string]*windowStats{}, capacity: [3]int{8, 8, 8}}}
	w := &window{key: "shape"}
	e := &entry{id: "r", p: p, level: 1, cancel: func() {}, win: w}
	alone := &entry{id: "alone", p: p, level: 1, cancel: func() {}} // no window: never a pending call of a shape
	d.entries["r"], d.entries["alone"] = e, alone
	d.admitted[1] = 2
	d.enqueue(alone, false)

	steps := []struct {
		to   entryState
		want int
	}{
		{stateWindowed, 0},
		{stateQueued, 1},
		{stateInFlight, 1},
		{stateQueued, 1}, // bounced
		{stateParked, 1},
		{stateInFlight, 1},
		{stateBackoff, 1},
		{stateWindowed, 0}, // a retry back in its window
		{stateQueued, 1},
		{stateInFlight, 1},
		{stateDone, 0},
	}
	for _, s := range steps {
		if s.to == stateWindowed {
			w.members = append(w.members, e)
			d.windows[w.key] = w
		}
		if s.to == stateDone {
			d.answered++
		}
		d.setState(e, s.to)
		if s.to == stateParked {
			p.parked = append(p.parked, e)
		}
		assert.Equal(t, s.want, d.shapeCalls[w.key], "pending calls after state %d", s.to)
		require.NoError(t, d.checkShapeCalls(), "after state %d", s.to)
	}
	assert.Empty(t, d.shapeCalls, "a shape without pending calls keeps no count")

	drifts := []struct {
		name  string
		drift func()
	}{
		{"a count left behind", func() { d.shapeCalls["shape"] = 1 }},
		{"a negative count", func() { d.shapeCalls["shape"] = -1 }},
		{"a call not counted", func() {
			e2 := &entry{id: "r2", p: p, level: 1, cancel: func() {}, win: w}
			d.entries["r2"] = e2
			d.enqueue(e2, false)
			delete(d.shapeCalls, "shape")
		}},
	}
	for _, c := range drifts {
		t.Run(c.name, func(t *testing.T) {
			d.shapeCalls = map[string]int{}
			require.NoError(t, d.checkShapeCalls(), "before the drift")
			c.drift()
			assert.ErrorContains(t, d.checkShapeCalls(), "pending calls")
		})
	}
}

// An adaptive window gathering behind two calls of its shape flushes when
// one of them ends (answered or failed), while the other is still in
// flight; a bounce is no end. The kit's providers batch with the zero
// BatchConfig: adaptive.
func TestBatchAdaptiveFlushesWhenACallEnds(t *testing.T) {
	cases := []struct {
		name  string
		done  *attemptDone
		flush bool
	}{
		{"answered", &attemptDone{resp: &messages.EmbedResponse{Vectors: [][]float32{{1}}}}, true},
		{"failed", &attemptDone{err: &messages.UpstreamError{RequestID: "a", Provider: "p", Status: 503, Class: messages.ClassServer}}, true},
		{"bounced", &attemptDone{bounced: true}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			k := newKit(t, QueueConfig{}, RetryConfig{MaxAttempts: 1},
				map[string]providers.Adapter{"p": batchingAdapter{lim: providers.BatchLimits{MaxInputs: 2}}})
			k.send("p", &capacity{provider: "p", seq: 1, mode: capUnlimited, free: unlimitedThreshold})
			a := k.submit(embedAt("a", messages.Normal))
			require.Equal(t, "a", k.next("p").id, "a lone request goes at once")
			k.submit(embedAt("b", messages.Normal))
			k.submit(embedAt("c", messages.Normal))
			bc := k.next("p")
			require.Equal(t, []string{"b", "c"}, bc.req.(*messages.EmbedRequest).Inputs, "the two that gathered, sent when full")
			k.submit(embedAt("d", messages.Normal))
			k.quiet("p")
			require.Equal(t, 2, k.status().InFlight)

			done := *c.done
			done.provider, done.id, done.attempt = "p", "a", 1
			k.send("p", &done)
			if !c.flush {
				require.Equal(t, "a", k.next("p").id, "the bounced request again")
				k.quiet("p")
				assert.Equal(t, 1, k.status().Windows[0].Members, "d still gathers")
				return
			}
			answer(t, a)
			assert.Equal(t, "d", k.next("p").id, "d goes when a's call ends, while b and c's runs")
			assert.Equal(t, 2, k.status().InFlight)
		})
	}
}
