package actors

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// A provider spawns one breaker per endpoint, each its keys, reports ready
// once they are up, and offers the dispatcher its capacity.
func TestProviderSpawnsItsTree(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.providerSpec())
	for _, id := range []string{"t/p/breaker-primary", "t/p/breaker-primary/key-a", "t/p/breaker-primary/key-b"} {
		assert.True(t, k.exists(id), "no actor %s", id)
	}
	k.expectCapacity("unlimited keys", func(c *capacity) bool { return c.mode == capUnlimited })
	n := k.node()
	require.Len(t, n.Endpoints, 1)
	ep := n.Endpoints[0]
	assert.Equal(t, messages.Closed, ep.State)
	assert.Equal(t, 1, ep.Incarnations)
	require.Len(t, ep.Keys, 2)
	assert.Empty(t, k.log.transitions())
}

// An attempt goes to a key of an admitting endpoint by strategy; its
// outcome comes back to the dispatcher with the response's meta filled.
func TestProviderRoutesAnAttempt(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.providerSpec())
	id := k.dispatch()
	fc := k.expectCall()
	assert.Equal(t, id, fc.call.RequestID)
	assert.Equal(t, "primary", fc.call.Endpoint)
	assert.Equal(t, "a", fc.call.Key.Label())
	fc.succeed()
	done := k.expectDone(id)
	require.NoError(t, done.err)
	require.NotNil(t, done.resp)
	meta := done.resp.ResponseMeta()
	assert.Equal(t, "p", meta.Provider)
	assert.Equal(t, "primary", meta.Endpoint)
	assert.Equal(t, "a", meta.Key)

	// Round robin: the next goes to b, and its failure is reported as such.
	id = k.dispatch()
	fc = k.expectCall()
	assert.Equal(t, "b", fc.call.Key.Label())
	fc.fail(messages.ClassServer)
	done = k.expectDone(id)
	var ue *messages.UpstreamError
	require.ErrorAs(t, done.err, &ue)
	assert.Equal(t, messages.ClassServer, ue.Class)
	assert.Equal(t, "b", done.keyLabel)
}

// failN sends n attempts one after the other and fails each with class.
func (k *provKit) failN(n int, class messages.ErrorClass) {
	k.t.Helper()
	for range n {
		id := k.dispatch()
		k.expectCall().fail(class)
		k.expectDone(id)
	}
}

// The whole cycle through the provider and its breaker: the breaker's trip
// is a failure its provider answers by holding the endpoint OPEN (callers
// get CircuitOpenError) until the cooldown timer fires; the supervised
// restart moves it to HALF-OPEN, where one probe goes and the others are
// bounced; the probe's success closes it. One event per transition.
func TestProviderTripCooldownRestartProbeClose(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.providerSpec())
	k.failN(3, messages.ClassServer)
	k.waitTransitions("CLOSED>OPEN")
	open := k.log.transitions()[0]
	assert.Equal(t, "3 consecutive failures (3 of the last 3 attempts failed)", open.Reason)
	assert.Equal(t, k.clk.Now().Add(testCooldown(1, 0)), open.ReopenAt)

	// OPEN: answered at once, never sent to a key.
	id := k.dispatch()
	done := k.expectDone(id)
	var co *messages.CircuitOpenError
	require.ErrorAs(t, done.err, &co)
	assert.Equal(t, "primary", co.Endpoint)
	assert.Equal(t, open.ReopenAt, co.ReopenAt)
	assert.True(t, errors.Is(done.err, messages.ErrCircuitOpen))

	// The provider armed the cooldown on the manual clock; nothing else
	// moves the endpoint until it fires.
	k.eventually("the cooldown timer", func() bool {
		at, ok := k.clk.NextDeadline()
		return ok && at.Equal(open.ReopenAt)
	})
	n := k.node()
	assert.Equal(t, messages.Open, n.Endpoints[0].State)
	assert.Equal(t, 0, n.Endpoints[0].Restarts)
	k.clk.Set(open.ReopenAt)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN")
	half := k.log.transitions()[1]
	assert.Equal(t, "cooldown elapsed; restarted by supervisor", half.Reason)
	k.eventually("the restarted breaker's keys", func() bool { return k.node().Endpoints[0].Incarnations == 2 })
	restarts := k.log.restarts()
	require.Len(t, restarts, 1)
	assert.Equal(t, "t/p/breaker-primary", restarts[0].Actor)
	assert.Equal(t, 1, k.node().Endpoints[0].Restarts)

	// HALF-OPEN: one probe, the next attempt bounces back to the queue.
	probe := k.dispatch()
	fc := k.expectCall()
	assert.Equal(t, probe, fc.call.RequestID)
	bounced := k.dispatch()
	assert.True(t, k.expectDone(bounced).bounced, "HALF-OPEN admitted a second probe")
	fc.succeed()
	require.NoError(t, k.expectDone(probe).err)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED")
	ep := k.node().Endpoints[0]
	assert.Equal(t, messages.Closed, ep.State)
	assert.Zero(t, ep.Trips)
	assert.Equal(t, 1, ep.TripsTotal)

	// CLOSED again: attempts flow.
	id = k.dispatch()
	k.expectCall().succeed()
	require.NoError(t, k.expectDone(id).err)
	assert.Len(t, k.log.transitions(), 3)
}

// A probe whose caller gave up proved nothing: the breaker gives it back,
// the provider offers the slot again, and the next attempt is a probe.
func TestProviderCancelledProbeIsGivenBack(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.providerSpec())
	k.failN(3, messages.ClassServer)
	k.waitTransitions("CLOSED>OPEN")
	k.eventually("the cooldown timer", func() bool { return k.clk.Pending() == 1 })
	k.clk.Set(k.log.transitions()[0].ReopenAt)
	k.eventually("the restarted breaker's keys", func() bool { return k.node().Endpoints[0].Incarnations == 2 })

	ctx, cancel := context.WithCancel(k.ctx)
	probe := k.dispatch(func(d *dispatch) { d.ctx = ctx })
	k.expectCall()
	cancel()
	done := k.expectDone(probe)
	var ue *messages.UpstreamError
	require.ErrorAs(t, done.err, &ue)
	assert.Equal(t, messages.ClassCancelled, ue.Class)
	// Capacity is credit: free slots counting the dispatches received. One
	// more free slot after the probe was received is the probe given back.
	received := uint64(k.nextID)
	k.expectCapacity("the probe given back", func(c *capacity) bool {
		return c.mode == capNormal && c.received == received && c.free == 1
	})
	next := k.dispatch()
	fc := k.expectCall()
	assert.Equal(t, next, fc.call.RequestID)
	fc.succeed()
	require.NoError(t, k.expectDone(next).err)
	k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED")
}

// A caller's deadline or cancel never counts against the endpoint: any
// number of them leave it CLOSED, and the run they interrupt goes on.
func TestProviderCallerDeadlineDoesNotCount(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.providerSpec())
	k.failN(2, messages.ClassServer)
	for range 5 {
		ctx, cancel := context.WithCancel(k.ctx)
		id := k.dispatch(func(d *dispatch) { d.ctx = ctx })
		k.expectCall()
		cancel()
		done := k.expectDone(id)
		var ue *messages.UpstreamError
		require.ErrorAs(t, done.err, &ue)
		require.Equal(t, messages.ClassCancelled, ue.Class)
	}
	// Had any of them counted, the run would have tripped before this
	// third upstream failure, which does.
	assert.Equal(t, messages.Closed, k.node().Endpoints[0].State)
	k.failN(1, messages.ClassServer)
	k.waitTransitions("CLOSED>OPEN")
	assert.Equal(t, "3 consecutive failures (3 of the last 3 attempts failed)", k.log.transitions()[0].Reason)
}

// When the provider itself is restarted (it crashed), its breakers and keys
// are stopped with it: a call in flight is handed back for a retry, and the
// new breakers enter HALF-OPEN, each with its event.
func TestProviderRestartProbesCarefully(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.providerSpec())
	id := k.dispatch()
	k.expectCall() // left running: its key is stopped under it
	k.sys.Root.Send(k.parent, &restartChild{})
	done := k.expectDone(id)
	var ue *messages.UpstreamError
	require.ErrorAs(t, done.err, &ue)
	assert.Equal(t, messages.ClassInternal, ue.Class)
	assert.True(t, ue.Retryable(), "a call lost with its provider is retried")
	k.expectReady()
	k.waitTransitions("CLOSED>HALF-OPEN")
	assert.Equal(t, "provider restarted; probing carefully", k.log.transitions()[0].Reason)
	ep := k.node().Endpoints[0]
	assert.Equal(t, messages.HalfOpen, ep.State)
	assert.Equal(t, 2, ep.Incarnations)

	probe := k.dispatch()
	k.expectCall().succeed()
	require.NoError(t, k.expectDone(probe).err)
	k.waitTransitions("CLOSED>HALF-OPEN HALF-OPEN>CLOSED")
}

// A breaker that panics (a bug) is restarted without a cooldown, but only
// once its calls have drained; meanwhile the endpoint takes no new call.
// Its new incarnation probes: CLOSED → HALF-OPEN, with its event.
func TestProviderBreakerPanicRestartsAfterTheDrain(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.providerSpec())
	running := k.dispatch()
	fc := k.expectCall()
	// A nil observe makes the breaker panic.
	k.sys.Root.Send(k.sys.NewLocalPID("t/p/breaker-primary"), (*observe)(nil))
	// The report that follows the failure: no free slot, one dispatch
	// received (the start-up report, before the keys were up, had none).
	k.expectCapacity("the endpoint taking nothing", func(c *capacity) bool {
		return c.mode == capNormal && c.free == 0 && c.received == 1
	})
	waiting := k.dispatch()
	assert.True(t, k.expectDone(waiting).bounced, "a call was routed to a suspended breaker's key")
	assert.Empty(t, k.log.restarts(), "restarted under a running call")
	fc.succeed()
	require.NoError(t, k.expectDone(running).err)
	k.waitTransitions("CLOSED>HALF-OPEN")
	assert.Contains(t, k.log.transitions()[0].Reason, "breaker restarted after a failure")
	require.Len(t, k.log.restarts(), 1)
	k.eventually("the restarted breaker's keys", func() bool { return k.node().Endpoints[0].Incarnations == 2 })
	probe := k.dispatch()
	k.expectCall().succeed()
	require.NoError(t, k.expectDone(probe).err)
	k.waitTransitions("CLOSED>HALF-OPEN HALF-OPEN>CLOSED")
}
