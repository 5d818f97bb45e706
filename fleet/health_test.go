package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
	"github.com/switchyard-ai/switchyard/messages"
)

// healthWait bounds every wait of these tests; a test that needs it failed.
const healthWait = 10 * time.Second

// localHealth is an endpoint-health grain in a local actor system, and the
// Health of several "members" whose agents live in the same system: the
// whole protocol (calls, pushes to agents) runs under the race detector
// without a cluster.
type localHealth struct {
	t     *testing.T
	sys   *actor.ActorSystem
	clk   *clock.Manual
	stats *HealthStats
	grain *actor.PID
}

func newLocalHealth(t *testing.T) *localHealth {
	t.Helper()
	quiet := func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }
	l := &localHealth{t: t, sys: actor.NewActorSystem(actor.WithLoggerFactory(quiet)), clk: clocktest.New(t), stats: &HealthStats{}}
	l.activate()
	t.Cleanup(l.sys.Shutdown)
	return l
}

// activate starts a new activation of the grain "p/e" (the previous one
// is forgotten, as when its member dies).
func (l *localHealth) activate() {
	o := HealthOptions{Clock: l.clk, ProbeTTL: 30 * time.Second, ProbeRetry: time.Second, Stats: l.stats}
	l.clk.Advance(time.Millisecond) // activations are named by their start
	l.grain = l.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &healthGrain{o: o} }))
	l.sys.Root.Send(l.grain, &cluster.ClusterInit{Identity: &cluster.ClusterIdentity{Identity: "p/e", Kind: HealthKind}})
}

// call is HealthClientOptions.Call to the local grain.
func (l *localHealth) call(identity string, msg any, timeout time.Duration) (any, error) {
	if identity != "p/e" {
		return nil, fmt.Errorf("no grain %q", identity)
	}
	return l.sys.Root.RequestFuture(l.grain, msg, timeout).Result()
}

// healthMember is one node's Health and its watcher of "p/e", whose pushes
// are kept in order.
type healthMember struct {
	h      *Health
	w      *HealthWatcher
	pushes chan HealthView
}

// member starts a member named name with K = probes; call defaults to the
// local grain.
func (l *localHealth) member(name string, probes int, call func(string, any, time.Duration) (any, error)) *healthMember {
	l.t.Helper()
	m := &healthMember{pushes: make(chan HealthView, 64)}
	if call == nil {
		call = l.call
	}
	var h *Health
	agent, err := l.sys.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if p, ok := ctx.Message().(*fleetpb.HealthPush); ok {
			h.Push(p)
		}
	}), "agent-"+name)
	require.NoError(l.t, err)
	h = NewHealth(HealthClientOptions{Call: call, Agent: agent, Member: name, Clock: l.clk, CallTimeout: healthWait, Rewatch: 5 * time.Second})
	l.t.Cleanup(h.Close)
	m.h = h
	m.w = h.Watch("p", "e", probes, func(v HealthView) { m.pushes <- v })
	return m
}

// next waits for the member's next push.
func (m *healthMember) next(t *testing.T) HealthView {
	t.Helper()
	select {
	case v := <-m.pushes:
		return v
	case <-time.After(healthWait):
		require.Fail(t, "timed out", "no push")
		return HealthView{}
	}
}

// healthAnswer is the result of a call, through its callback.
type healthAnswer struct {
	v   HealthView
	err error
}

func awaitHealth(t *testing.T, do func(func(HealthView, error))) healthAnswer {
	t.Helper()
	ch := make(chan healthAnswer, 1)
	do(func(v HealthView, err error) { ch <- healthAnswer{v, err} })
	select {
	case a := <-ch:
		return a
	case <-time.After(healthWait):
		require.Fail(t, "timed out", "no answer")
		return healthAnswer{}
	}
}

// registered waits until the grains' activations registered n watchers
// in all.
func (l *localHealth) registered(n int64) {
	l.t.Helper()
	require.Eventually(l.t, func() bool { return l.stats.Watchers.Load() == n }, healthWait, time.Millisecond)
}

// A trip on one member reaches every other member at once; after the
// cooldown exactly K slots go out in all; K successes close the endpoint
// everywhere; a failed probe re-opens it everywhere.
func TestHealthTripProbesAndRecoveryReachEveryMember(t *testing.T) {
	l := newLocalHealth(t)
	const k = 2
	ms := []*healthMember{l.member("a", k, nil), l.member("b", k, nil), l.member("c", k, nil)}
	l.registered(3)

	a := awaitHealth(t, func(f func(HealthView, error)) { ms[0].w.Trip(10*time.Second, "3 consecutive failures", f) })
	require.NoError(t, a.err)
	assert.Equal(t, messages.Open, a.v.State)
	for i, m := range ms {
		v := m.next(t)
		assert.Equal(t, messages.Open, v.State, "member %d", i)
		assert.Equal(t, uint64(1), v.Round)
		assert.Equal(t, 10*time.Second, v.Cooldown)
		assert.Equal(t, "3 consecutive failures", v.Reason)
	}

	// OPEN: no slot for anyone, told to come back at the cooldown's end.
	a = awaitHealth(t, func(f func(HealthView, error)) { ms[1].w.AskProbes(k, f) })
	require.NoError(t, a.err)
	assert.Equal(t, 0, a.v.Granted)
	assert.Equal(t, 10*time.Second, a.v.RetryIn)

	// HALF-OPEN: every member asks for K at once; K go out in all.
	l.clk.Advance(10 * time.Second)
	var wg sync.WaitGroup
	granted := make([]int, len(ms))
	for i, m := range ms {
		wg.Add(1)
		m.w.AskProbes(k, func(v HealthView, err error) {
			defer wg.Done()
			assert.NoError(t, err)
			granted[i] = v.Granted
		})
	}
	wg.Wait()
	assert.Equal(t, k, granted[0]+granted[1]+granted[2], "slots granted %v", granted)
	assert.Equal(t, int64(k), l.stats.Granted.Load())

	// The holders' probes succeed: closed everywhere.
	for i, m := range ms {
		for range granted[i] {
			m.w.ProbeDone(true)
		}
	}
	for i, m := range ms {
		v := m.next(t)
		assert.Equal(t, messages.Closed, v.State, "member %d", i)
		assert.Equal(t, uint64(2), v.Round)
	}
	assert.Equal(t, int64(1), l.stats.Closed.Load())

	// Another trip, and its probe fails (a trip during HALF-OPEN): every
	// member learns the new round.
	ms[2].w.Trip(5*time.Second, "timeouts", nil)
	for _, m := range ms {
		require.Equal(t, messages.Open, m.next(t).State)
	}
	l.clk.Advance(5 * time.Second)
	a = awaitHealth(t, func(f func(HealthView, error)) { ms[0].w.AskProbes(1, f) })
	require.Equal(t, 1, a.v.Granted)
	ms[0].w.Trip(20*time.Second, "probe failed: server", nil)
	for i, m := range ms {
		v := m.next(t)
		assert.Equal(t, messages.Open, v.State, "member %d", i)
		assert.Equal(t, uint64(4), v.Round)
		assert.Equal(t, 20*time.Second, v.Cooldown)
	}
}

// A grain that cannot be reached answers an error within CallTimeout,
// whether the call fails or hangs; the caller is never blocked.
func TestHealthUnreachableGrainAnswersInBoundedTime(t *testing.T) {
	l := newLocalHealth(t)
	hang := make(chan struct{})
	cases := []struct {
		name string
		call func(string, any, time.Duration) (any, error)
	}{
		{"the call fails", func(string, any, time.Duration) (any, error) { return nil, errors.New("no route") }},
		{"the call hangs", func(string, any, time.Duration) (any, error) { <-hang; return nil, errors.New("late") }},
		{"a wrong answer", func(string, any, time.Duration) (any, error) { return &fleetpb.Ack{}, nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHealth(HealthClientOptions{Call: tc.call, Member: "a", Clock: l.clk, CallTimeout: 20 * time.Millisecond, Rewatch: -1})
			defer h.Close()
			w := h.Watch("p", "e", 1, func(HealthView) { t.Error("nothing to push") })
			for _, do := range []func(func(HealthView, error)){
				func(f func(HealthView, error)) { w.Trip(time.Second, "x", f) },
				func(f func(HealthView, error)) { w.AskProbes(1, f) },
			} {
				a := awaitHealth(t, do)
				require.Error(t, a.err)
			}
			w.ProbeDone(true) // no slot granted: nothing sent
			if tc.name == "the call hangs" {
				close(hang) // the late calls end; Close waits for them
			}
			h.Close() // waits for every call, the watch's (not awaited above) too
			assert.Equal(t, int64(3), h.Stats().Calls.Load(), "watch, trip, ask")
			assert.Equal(t, int64(3), h.Stats().Failures.Load())
		})
	}
}

// A closed Health answers at once.
func TestHealthClosedAnswersAtOnce(t *testing.T) {
	l := newLocalHealth(t)
	m := l.member("a", 1, nil)
	m.h.Close()
	a := awaitHealth(t, func(f func(HealthView, error)) { m.w.AskProbes(1, f) })
	assert.ErrorIs(t, a.err, ErrHealthClosed)
}

// A grain that re-activated knows nobody; the members' periodic re-watch
// registers them again, so its next transition reaches them all. A member
// that joins while the endpoint is OPEN learns it when it registers.
func TestHealthRewatchAfterReactivation(t *testing.T) {
	l := newLocalHealth(t)
	a, b := l.member("a", 1, nil), l.member("b", 1, nil)
	l.registered(2)
	l.activate()
	l.clk.Advance(5 * time.Second)
	l.registered(4)
	a.w.Trip(time.Minute, "5xx", nil)
	for _, m := range []*healthMember{a, b} {
		v := m.next(t)
		assert.Equal(t, messages.Open, v.State)
		assert.Equal(t, uint64(1), v.Round)
	}
	c := l.member("c", 1, nil)
	v := c.next(t)
	assert.Equal(t, messages.Open, v.State, "the registration's answer tells a newcomer")
	assert.Equal(t, time.Minute, v.Cooldown)
}

// A transition is pushed once, whether the grain pushed it or a
// registration's answer told it, and an earlier round never after a later
// one.
func TestHealthWatcherDeliversEachTransitionOnce(t *testing.T) {
	var got []string
	w := &HealthWatcher{h: &Health{}, push: func(v HealthView) { got = append(got, fmt.Sprintf("%s/%d/%s", v.Activation, v.Round, v.State)) }}
	for _, v := range []struct {
		act   string
		round uint64
		state fleetpb.HealthState
	}{
		{"x", 0, fleetpb.HealthState_HEALTH_CLOSED}, // a fresh grain: nothing to tell
		{"x", 1, fleetpb.HealthState_HEALTH_OPEN},
		{"x", 1, fleetpb.HealthState_HEALTH_OPEN}, // told again (a re-watch)
		{"x", 2, fleetpb.HealthState_HEALTH_CLOSED},
		{"x", 1, fleetpb.HealthState_HEALTH_OPEN}, // late
		{"y", 1, fleetpb.HealthState_HEALTH_OPEN}, // a new activation starts again
	} {
		w.deliver(&fleetpb.HealthView{Activation: v.act, Round: v.round, State: v.state})
	}
	assert.Equal(t, []string{"x/1/OPEN", "x/2/CLOSED", "y/1/OPEN"}, got)
}
