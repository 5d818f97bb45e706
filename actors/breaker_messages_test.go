package actors

import (
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// breakerUnderTest is a Breaker of endpoint "primary" (keys "a" and "b")
// started as the kit's child "t/p"; the kit parent is both its supervisor
// (it reports failures and restarts on request) and its provider (it
// records breakerReady, breakerChanged and keyOutcome).
type breakerUnderTest struct {
	k       *provKit
	circuit *circuit
	init    *atomic.Pointer[breakerInit]
}

func startBreaker(t *testing.T, cfg BreakerConfig, hooks *Hooks) *breakerUnderTest {
	t.Helper()
	k := newProvKit(t)
	k.env.Hooks = hooks
	b := &breakerUnderTest{k: k, circuit: newCircuit(cfg, testCooldown, k.clk, k.env.Events, "p", "primary"),
		init: &atomic.Pointer[breakerInit]{}}
	b.init.Store(&breakerInit{spawn: 1})
	var keys []keyHandle
	for i, label := range []string{"a", "b"} {
		keys = append(keys, keyHandle{epIdx: 0, keyIdx: i, label: label, cred: providers.NewCredential(label, "sk-kit-"+label),
			counters: &Counters{}, rateLimit: &atomic.Pointer[messages.RateLimit]{}})
	}
	tmpl := Breaker{epIdx: 0, endpoint: "primary", circuit: b.circuit, keys: keys, spec: &EndpointSpec{Name: "primary"},
		provider: "p", adapter: &upstreamStub{calls: k.calls}, env: k.env, provPID: k.sys.NewLocalPID("t")}
	k.start(actor.PropsFromProducer(newBreakerProducer(b.init, tmpl)), true)
	return b
}

// expectReady waits for the incarnation's breakerReady.
func (b *breakerUnderTest) expectReady(spawn uint64) *breakerReady {
	b.k.t.Helper()
	return b.k.expectFromParent("breakerReady", func(m any) bool {
		r, ok := m.(*breakerReady)
		return ok && r.gen == spawn
	}).(*breakerReady)
}

// observe sends the breaker a key's report of an attempt of generation gen.
func (b *breakerUnderTest) observe(gen uint64, class messages.ErrorClass) {
	b.k.sys.Root.Send(b.k.child, &observe{gen: gen, class: class, failure: class.BreakerFailure()})
}

// restart makes the next incarnation enter HALF-OPEN for why, as the
// provider does, and restarts the breaker.
func (b *breakerUnderTest) restart(spawn uint64, why string) *breakerReady {
	b.k.t.Helper()
	b.init.Store(&breakerInit{spawn: spawn, halfOpen: why})
	b.k.sys.Root.Send(b.k.parent, &restartChild{})
	return b.expectReady(spawn)
}

// A breaker spawns its endpoint's keys and tells its provider they are up,
// tagged with its incarnation.
func TestBreakerActorSpawnsKeys(t *testing.T) {
	b := startBreaker(t, BreakerConfig{ConsecutiveFailures: 3, FailureRate: 0.5}, nil)
	r := b.expectReady(1)
	assert.Equal(t, 0, r.epIdx)
	require.Len(t, r.keys, 2)
	assert.Equal(t, "t/p/key-a", r.keys[0].Id)
	assert.Equal(t, "t/p/key-b", r.keys[1].Id)
	for _, pid := range r.keys {
		assert.True(t, b.k.exists(pid.Id))
	}
	assert.Equal(t, messages.Closed, b.circuit.View().state)
}

// Outcomes reach the circuit through the breaker; a trip is a failure the
// breaker escalates to its supervisor, after the circuit opened and
// published the transition. Outcomes of other generations never count.
func TestBreakerActorTripEscalates(t *testing.T) {
	b := startBreaker(t, BreakerConfig{ConsecutiveFailures: 3, FailureRate: 0.5}, nil)
	b.expectReady(1)
	gen := b.circuit.View().gen
	for range 10 {
		b.observe(gen-1, messages.ClassServer)
		b.observe(gen+1, messages.ClassServer)
	}
	b.observe(gen, messages.ClassServer)
	b.observe(gen, messages.ClassCancelled)
	b.observe(gen, messages.ClassTimeout)
	b.observe(gen, messages.ClassConnection)
	reason := b.k.expectFailure()
	trip, ok := reason.(*BreakerTripped)
	require.True(t, ok, "escalated %T %v, want *BreakerTripped", reason, reason)
	assert.Equal(t, "3 consecutive failures (3 of the last 3 attempts failed)", trip.Reason)
	assert.Equal(t, "primary", trip.Endpoint)
	v := b.circuit.View()
	assert.Equal(t, messages.Open, v.state)
	assert.Equal(t, b.k.clk.Now().Add(testCooldown(1, 0)), v.reopenAt)
	assert.Equal(t, "CLOSED>OPEN", path(b.k.log.transitions()))
}

// The supervised restart moves OPEN to HALF-OPEN: the new incarnation sets
// the circuit's state, respawns the keys, reports ready; its probe's
// success closes the circuit and the breaker tells its provider, which
// hears of nothing else that way. Outcomes that arrived while it was
// suspended belong to the tripped generation and are dropped.
func TestBreakerActorRestartsIntoHalfOpen(t *testing.T) {
	b := startBreaker(t, BreakerConfig{ConsecutiveFailures: 3, FailureRate: 0.5}, nil)
	b.expectReady(1)
	gen := b.circuit.View().gen
	for range 3 {
		b.observe(gen, messages.ClassServer)
	}
	b.k.expectFailure()
	for range 5 { // late reports of calls admitted before the trip
		b.observe(gen, messages.ClassServer)
	}
	r := b.restart(2, "cooldown elapsed; restarted by supervisor")
	require.Len(t, r.keys, 2)
	b.k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN")
	v := b.circuit.View()
	assert.Equal(t, messages.HalfOpen, v.state)
	assert.Equal(t, 1, v.probes)

	b.observe(v.gen, messages.ClassUnknown)
	b.k.expectFromParent("breakerChanged", func(m any) bool { c, ok := m.(*breakerChanged); return ok && c.epIdx == 0 })
	b.k.waitTransitions("CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED")
	assert.Equal(t, messages.Closed, b.circuit.View().state)
}

// A probe that proved nothing is given back, and the provider told.
func TestBreakerActorGivesBackACancelledProbe(t *testing.T) {
	b := startBreaker(t, BreakerConfig{ConsecutiveFailures: 1, FailureRate: 0.5}, nil)
	b.expectReady(1)
	b.observe(b.circuit.View().gen, messages.ClassServer)
	b.k.expectFailure()
	b.restart(2, "cooldown elapsed")
	v := b.circuit.View()
	b.observe(v.gen, messages.ClassCancelled)
	b.k.expectFromParent("breakerChanged", func(m any) bool { _, ok := m.(*breakerChanged); return ok })
	assert.Equal(t, 2, b.circuit.View().probes)
	assert.Equal(t, messages.HalfOpen, b.circuit.View().state)
}

// A key that panics on a call it had not started yet is restarted by its
// breaker; the call is handed back to the provider as a retryable internal
// error, and the circuit hears of it too, so a probe is never lost.
func TestBreakerActorKeyPanicLosesNoProbe(t *testing.T) {
	b := startBreaker(t, BreakerConfig{ConsecutiveFailures: 1, FailureRate: 0.5},
		&Hooks{KeyPanic: func(id string) bool { return id == "r-panic" }})
	b.expectReady(1)
	b.observe(b.circuit.View().gen, messages.ClassServer)
	b.k.expectFailure()
	r := b.restart(2, "cooldown elapsed")
	v := b.circuit.View()
	require.Equal(t, 1, v.probes)
	d := &dispatch{id: "r-panic", attempt: 1, ctx: b.k.ctx,
		req: &messages.ChatRequest{Call: messages.Call{Provider: "p"}, Model: "m"}}
	b.k.sys.Root.Send(r.keys[0], &execute{callID: 7, d: d, spec: &EndpointSpec{Name: "primary"}, epIdx: 0, keyIdx: 0, epGen: v.gen, started: b.k.clk.Now()})
	out := b.k.expectFromParent("keyOutcome", func(m any) bool { _, ok := m.(*keyOutcome); return ok }).(*keyOutcome)
	assert.Equal(t, uint64(7), out.callID)
	require.NotNil(t, out.err)
	assert.Equal(t, messages.ClassInternal, out.err.Class)
	assert.True(t, out.err.Retryable())
	b.k.expectFromParent("breakerChanged", func(m any) bool { _, ok := m.(*breakerChanged); return ok })
	assert.Equal(t, 2, b.circuit.View().probes, "the probe that never ran was given back")
	require.Len(t, b.k.log.restarts(), 1)
	assert.Equal(t, "t/p/key-a", b.k.log.restarts()[0].Actor)
}
