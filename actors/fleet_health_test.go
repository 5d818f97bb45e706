package actors

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/fleet"
	"github.com/switchyard-ai/switchyard/messages"
)

// fakeFleetHealth is a FleetHealth whose calls the test answers (or, with fail,
// that answers every call with an error, as an unreachable grain does).
// Safe for concurrent use.
type fakeFleetHealth struct {
	fail  bool
	trips chan fakeFleetCall
	asks  chan fakeFleetCall
	dones chan bool

	mu     sync.Mutex
	push   func(FleetHealthView)
	probes int
}

// fakeFleetCall is one Trip or AskProbes the test answers.
type fakeFleetCall struct {
	n        int
	cooldown time.Duration
	reason   string
	answer   func(FleetHealthView, error)
}

var errUnreachable = errors.New("grain unreachable")

func newFakeFleetHealth(fail bool) *fakeFleetHealth {
	return &fakeFleetHealth{fail: fail, trips: make(chan fakeFleetCall, 16), asks: make(chan fakeFleetCall, 16), dones: make(chan bool, 16)}
}

func (f *fakeFleetHealth) EndpointHealth(provider, endpoint string, probes int, push func(FleetHealthView)) EndpointHealth {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.push, f.probes = push, probes
	return f
}

func (f *fakeFleetHealth) Trip(cooldown time.Duration, reason string, answer func(FleetHealthView, error)) {
	f.call(f.trips, fakeFleetCall{cooldown: cooldown, reason: reason, answer: answer})
}

func (f *fakeFleetHealth) AskProbes(n int, answer func(FleetHealthView, error)) {
	f.call(f.asks, fakeFleetCall{n: n, answer: answer})
}

func (f *fakeFleetHealth) call(ch chan fakeFleetCall, c fakeFleetCall) {
	if f.fail {
		c.answer(FleetHealthView{}, errUnreachable)
	}
	ch <- c
}

func (f *fakeFleetHealth) ProbeDone(success bool) { f.dones <- success }

// pushView pushes v, as the fleet does on a transition.
func (f *fakeFleetHealth) pushView(v FleetHealthView) {
	f.mu.Lock()
	push := f.push
	f.mu.Unlock()
	push(v)
}

// expect waits for the next call on ch.
func expectFleetCall(t *testing.T, ch chan fakeFleetCall, what string) fakeFleetCall {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(provKitWait):
		require.Fail(t, "timed out", "no %s", what)
		return fakeFleetCall{}
	}
}

// reopenAt waits until the provider armed the cooldown timer of the
// latest trip and returns its deadline.
func (k *provKit) cooldownArmed(at time.Time) {
	k.t.Helper()
	k.eventually("the cooldown timer", func() bool {
		next, ok := k.clk.NextDeadline()
		return ok && next.Equal(at)
	})
}

// A pushed OPEN trips the local circuit through the path of a local trip:
// the provider arms the cooldown and restarts the breaker into HALF-OPEN.
// There, probes go only with the slots the fleet grants; a probe's
// outcome is reported; a pushed CLOSED closes the circuit. A trip the
// fleet caused is not reported back to it.
func TestFleetHealthPushedOpenHalfOpenSlotsAndClose(t *testing.T) {
	k := newProvKit(t)
	ff := newFakeFleetHealth(false)
	k.env.FleetHealth = ff
	spec := k.providerSpec()
	spec.Breaker.HalfOpenProbes = 2
	k.startProvider(spec)
	require.Equal(t, 2, ff.probes)

	ff.pushView(FleetHealthView{State: messages.Open, Activation: "g1", Round: 1, Cooldown: 30 * time.Second, Reason: "5xx on member b"})
	k.waitTransitions("CLOSED>OPEN")
	open := k.log.transitions()[0]
	assert.Equal(t, "opened by the fleet: 5xx on member b", open.Reason)
	assert.Equal(t, k.clk.Now().Add(30*time.Second), open.ReopenAt)
	id := k.dispatch()
	var co *messages.CircuitOpenError
	require.ErrorAs(t, k.expectDone(id).err, &co, "OPEN: nothing goes upstream")

	k.cooldownArmed(open.ReopenAt)
	k.clk.Set(open.ReopenAt)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN")
	restarts := k.log.restarts()
	require.Len(t, restarts, 1)
	assert.Equal(t, "t/p/breaker-primary", restarts[0].Actor)
	assert.Equal(t, "cooldown elapsed; restarted by supervisor", restarts[0].Reason)

	// HALF-OPEN asks the fleet for K slots; until it answers, no probe.
	ask := expectFleetCall(t, ff.asks, "AskProbes")
	assert.Equal(t, 2, ask.n)
	assert.True(t, k.expectDone(k.dispatch()).bounced, "a probe went without a slot")

	// One slot: one probe; the next attempt bounces.
	ask.answer(FleetHealthView{State: messages.HalfOpen, Activation: "g1", Round: 1, Granted: 1, RetryIn: time.Second}, nil)
	probe := k.dispatch()
	fc := k.expectCall()
	assert.Equal(t, probe, fc.call.RequestID)
	assert.True(t, k.expectDone(k.dispatch()).bounced, "a second probe went with one slot")
	fc.succeed()
	require.NoError(t, k.expectDone(probe).err)
	select {
	case ok := <-ff.dones:
		assert.True(t, ok, "the probe's success is reported")
	case <-time.After(provKitWait):
		require.Fail(t, "timed out", "no ProbeDone")
	}
	assert.Equal(t, messages.HalfOpen, k.node().Endpoints[0].State, "one success of K = 2 does not close it")

	// The re-ask the fleet hinted at: no more slots yet.
	k.clk.Advance(time.Second)
	again := expectFleetCall(t, ff.asks, "the re-ask")
	assert.Equal(t, 1, again.n)

	// The fleet's probes succeeded: closed here too.
	ff.pushView(FleetHealthView{State: messages.Closed, Activation: "g1", Round: 2, Reason: "probes succeeded"})
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED")
	assert.Equal(t, "closed by the fleet: probes succeeded", k.log.transitions()[2].Reason)
	id = k.dispatch()
	k.expectCall().succeed()
	require.NoError(t, k.expectDone(id).err)
	assert.Empty(t, ff.trips, "a trip the fleet caused was reported back")
}

// A local trip is reported with its cooldown; a pushed CLOSED of a later
// round finds the circuit OPEN: the provider restarts the breaker at once
// (its cooldown is moot) and the circuit closes from HALF-OPEN.
func TestFleetHealthLocalTripReportedAndClosedWhileOpen(t *testing.T) {
	k := newProvKit(t)
	ff := newFakeFleetHealth(false)
	k.env.FleetHealth = ff
	k.startProvider(k.providerSpec())
	k.failN(3, messages.ClassServer)
	k.waitTransitions("CLOSED>OPEN")
	trip := expectFleetCall(t, ff.trips, "Trip")
	assert.Equal(t, testCooldown(1, 0), trip.cooldown)
	assert.Equal(t, "3 consecutive failures (3 of the last 3 attempts failed)", trip.reason)
	trip.answer(FleetHealthView{State: messages.Open, Activation: "g1", Round: 4, Cooldown: trip.cooldown}, nil)

	// A CLOSED of an earlier round, or of another activation, is not ours.
	ff.pushView(FleetHealthView{State: messages.Closed, Activation: "g0", Round: 9})
	ff.pushView(FleetHealthView{State: messages.Closed, Activation: "g1", Round: 3})
	ff.pushView(FleetHealthView{State: messages.Closed, Activation: "g1", Round: 5, Reason: "probes succeeded"})
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED")
	restarts := k.log.restarts()
	require.Len(t, restarts, 1)
	assert.Equal(t, "closed by the fleet; restarted by supervisor", restarts[0].Reason)
	id := k.dispatch()
	k.expectCall().succeed()
	require.NoError(t, k.expectDone(id).err)
	assert.Empty(t, ff.asks, "a circuit the fleet closed asked for probes")
}

// A HALF-OPEN probe that fails re-opens the local circuit and is reported
// as a trip, with the doubled cooldown of a second trip.
func TestFleetHealthFailedProbeIsATrip(t *testing.T) {
	k := newProvKit(t)
	ff := newFakeFleetHealth(false)
	k.env.FleetHealth = ff
	k.startProvider(k.providerSpec())
	ff.pushView(FleetHealthView{State: messages.Open, Activation: "g1", Round: 1, Cooldown: 10 * time.Second})
	k.waitTransitions("CLOSED>OPEN")
	open := k.log.transitions()[0]
	k.cooldownArmed(open.ReopenAt)
	k.clk.Set(open.ReopenAt)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN")
	expectFleetCall(t, ff.asks, "AskProbes").answer(FleetHealthView{State: messages.HalfOpen, Activation: "g1", Round: 1, Granted: 1}, nil)
	probe := k.dispatch()
	k.expectCall().fail(messages.ClassServer)
	k.expectDone(probe)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>OPEN")
	trip := expectFleetCall(t, ff.trips, "Trip")
	assert.Equal(t, testCooldown(2, 0), trip.cooldown)
	assert.Equal(t, "probe failed: server", trip.reason)
	assert.Empty(t, ff.dones, "a failed probe is a trip, not a ProbeDone")
}

// Degradation: while the fleet cannot be asked, the node's own breaker
// works as it does alone: it trips, restarts into HALF-OPEN, probes by its
// own count and closes on the probe's success.
func TestFleetHealthUnreachableKeepsTheLocalBreaker(t *testing.T) {
	k := newProvKit(t)
	ff := newFakeFleetHealth(true)
	k.env.FleetHealth = ff
	k.startProvider(k.providerSpec())
	k.failN(3, messages.ClassServer)
	k.waitTransitions("CLOSED>OPEN")
	expectFleetCall(t, ff.trips, "Trip")
	open := k.log.transitions()[0]
	k.cooldownArmed(open.ReopenAt)
	k.clk.Set(open.ReopenAt)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN")
	expectFleetCall(t, ff.asks, "AskProbes")
	probe := k.dispatch()
	k.expectCall().succeed()
	require.NoError(t, k.expectDone(probe).err)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED")
}

// fleetHealthAdapter makes a *fleet.Health an actors.FleetHealth, as the root
// package does in fleet mode.
type fleetHealthAdapter struct{ h *fleet.Health }

func (a fleetHealthAdapter) EndpointHealth(provider, endpoint string, probes int, push func(FleetHealthView)) EndpointHealth {
	return fleetHealthWatcher{a.h.Watch(provider, endpoint, probes, func(v fleet.HealthView) { push(FleetHealthView(v)) })}
}

type fleetHealthWatcher struct{ w *fleet.HealthWatcher }

func (w fleetHealthWatcher) Trip(cooldown time.Duration, reason string, answer func(FleetHealthView, error)) {
	w.w.Trip(cooldown, reason, func(v fleet.HealthView, err error) { answer(FleetHealthView(v), err) })
}

func (w fleetHealthWatcher) AskProbes(n int, answer func(FleetHealthView, error)) {
	w.w.AskProbes(n, func(v fleet.HealthView, err error) { answer(FleetHealthView(v), err) })
}

func (w fleetHealthWatcher) ProbeDone(success bool) { w.w.ProbeDone(success) }

// Degradation with the real client: a grain that never answers costs each
// call CallTimeout on a goroutine of its own, never the provider's; the
// breaker trips, probes and closes as it does alone.
func TestFleetHealthTimeoutsKeepTheLocalBreaker(t *testing.T) {
	k := newProvKit(t)
	hang := make(chan struct{})
	h := fleet.NewHealth(fleet.HealthClientOptions{Member: "a", Clock: k.clk, CallTimeout: 20 * time.Millisecond, Rewatch: -1,
		Call: func(string, any, time.Duration) (any, error) { <-hang; return nil, errUnreachable }})
	t.Cleanup(func() { close(hang); h.Close() })
	k.env.FleetHealth = fleetHealthAdapter{h}
	k.startProvider(k.providerSpec())
	k.failN(3, messages.ClassServer)
	k.waitTransitions("CLOSED>OPEN")
	open := k.log.transitions()[0]
	k.cooldownArmed(open.ReopenAt)
	k.clk.Set(open.ReopenAt)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN")
	// A probe bounces while the ask for a slot is in flight; once it timed
	// out, the capacity report offers the breaker's own probe and the
	// request, sent again as the dispatcher does, goes.
	probe := k.dispatch()
	deadline := time.After(provKitWait)
	for bounced, done := false, false; !done; {
		select {
		case fc := <-k.calls:
			assert.Equal(t, probe, fc.call.RequestID)
			fc.succeed()
		case m := <-k.disp:
			switch m := m.(type) {
			case *attemptDone:
				require.Equal(t, probe, m.id)
				bounced, done = m.bounced, !m.bounced
				require.NoError(t, m.err)
			case *capacity:
				if bounced && m.free > 0 {
					bounced = false
					probe = k.dispatch()
				}
			}
		case <-deadline:
			require.Fail(t, "timed out", "the probe never went")
		}
	}
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED")
	k.eventually("the registration, the trip and the ask timed out", func() bool { return h.Stats().Failures.Load() == 3 })
}
