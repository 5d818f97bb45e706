package actors

import (
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// breakerInit is how a breaker incarnation starts. The provider stores it
// (atomically) before spawning or restarting the breaker; the producer reads
// it.
type breakerInit struct {
	// spawn tags the incarnation; its breakerReady carries it, so the
	// provider drops a report of an incarnation it has since replaced.
	spawn uint64
	// halfOpen, when set, is why the new incarnation must put its circuit
	// into HALF-OPEN: the cooldown elapsed, or the breaker or its provider
	// crashed. Empty keeps the circuit as it is.
	halfOpen string
}

// Breaker is the actor of one endpoint's circuit breaker: the only writer of
// the endpoint's circuit (breaker_state.go). It feeds the circuit the
// outcome of every attempt (observe, from the key actors); when the circuit
// trips, the breaker fails with *BreakerTripped, and its provider, as
// supervisor, keeps the endpoint OPEN for the cooldown and then restarts it:
// the new incarnation puts the circuit into HALF-OPEN, where it judges
// HalfOpenProbes probes. It also supervises the endpoint's key actors.
//
// In fleet mode (Env.FleetHealth) the fleet's OPEN reaches the breaker as
// fleetTrip and trips the circuit through the same escalation (so the
// provider arms the cooldown and restarts it into HALF-OPEN, as for a trip
// of its own); the fleet's CLOSED closes a HALF-OPEN circuit (fleetClose);
// and the breaker reports each HALF-OPEN probe that succeeded or proved
// nothing (a failed one trips the circuit, which the provider reports).
type Breaker struct {
	epIdx    int
	endpoint string
	circuit  *circuit
	keys     []keyHandle
	spec     *EndpointSpec
	provider string
	adapter  providers.Adapter
	env      *Env
	provPID  *actor.PID
	// fleet, in fleet mode, hears of the outcomes of HALF-OPEN probes
	// (FleetHealth); nil otherwise.
	fleet EndpointHealth

	init breakerInit
	self *actor.PID
}

// newBreakerProducer returns the Props producer of an endpoint's breaker:
// every incarnation shares b's circuit and starts as init says.
func newBreakerProducer(init *atomic.Pointer[breakerInit], b Breaker) actor.Producer {
	return func() actor.Actor {
		nb := b
		nb.init = *init.Load()
		return &nb
	}
}

// Receive handles one message.
func (b *Breaker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		b.self = ctx.Self()
		if b.init.halfOpen != "" {
			b.circuit.setState(messages.HalfOpen, b.init.halfOpen)
		}
		pids := make([]*actor.PID, len(b.keys))
		for i, h := range b.keys {
			k := &Key{h: h, spec: b.spec, provider: b.provider, adapter: b.adapter, env: b.env, provPID: b.provPID}
			props := b.env.Props(func() actor.Actor { return k })
			pid, err := ctx.SpawnNamed(props, "key-"+h.label)
			if err != nil {
				pid = ctx.Spawn(props)
			}
			pids[i] = pid
		}
		ctx.Send(ctx.Parent(), &breakerReady{epIdx: b.epIdx, gen: b.init.spawn, keys: pids})
	case *observe:
		var before circuitView
		if b.fleet != nil {
			before = b.circuit.View()
		}
		changed, trip := b.circuit.record(m)
		if b.fleet != nil && trip == nil && before.state == messages.HalfOpen && m.gen == before.gen && !m.failure {
			b.fleet.ProbeDone(!neutralClass(m.class)) // a failed probe tripped: the provider reports the trip
		}
		switch {
		case trip != nil:
			// The mailbox stays suspended until the provider restarts this
			// actor; outcomes that arrive meanwhile belong to an earlier
			// generation by then.
			ctx.(actor.Supervisor).EscalateFailure(trip, m)
		case changed:
			ctx.Send(b.provPID, &breakerChanged{epIdx: b.epIdx})
		}
	case *fleetTrip:
		// The fleet opened the endpoint: the same path as a trip of our
		// own, so the provider arms the cooldown and restarts this breaker
		// into HALF-OPEN.
		if v := b.circuit.View(); v.gen == m.gen && v.state != messages.Open {
			ctx.(actor.Supervisor).EscalateFailure(b.circuit.tripByFleet(m.reason, m.cooldown), m)
		}
	case *fleetClose:
		if v := b.circuit.View(); v.gen == m.gen && v.state == messages.HalfOpen {
			b.circuit.setState(messages.Closed, m.reason)
			ctx.Send(b.provPID, &breakerChanged{epIdx: b.epIdx})
		}
	}
}

// HandleFailure supervises the key actors: a key that panicked is restarted,
// and the call it was handling is not lost: a call that had not started is
// handed back for a retry, a finished one is forwarded as it ended.
func (b *Breaker) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, message interface{}) {
	// The restart is published before the call is handed on, so an
	// observer sees it before the request's answer.
	b.env.Events.Publish(&messages.ActorRestarted{Time: b.env.Clock.Now(), Actor: child.Id, Reason: fmt.Sprint(reason)})
	switch m := message.(type) {
	case *execute:
		h := b.keys[m.keyIdx]
		t := true
		ue := &messages.UpstreamError{RequestID: m.d.id, Provider: b.provider, Endpoint: b.endpoint, Key: h.label,
			Class: messages.ClassInternal, Message: fmt.Sprintf("key actor failed before the call: %v", reason), ShouldRetry: &t, Cause: messages.ErrInternal}
		// The circuit hears of it too: a probe that never ran is given back.
		sys.Root.Send(b.self, &observe{gen: m.epGen, class: messages.ClassInternal})
		sys.Root.Send(b.provPID, &keyOutcome{callID: m.callID, keyIdx: m.keyIdx, epIdx: b.epIdx, err: ue})
	case *callFinished:
		// The key died before settling the call; settle it here. The
		// breaker hears how it went from itself, so a probe is never lost.
		obs, out := settle(b.keys[m.x.keyIdx], m)
		sys.Root.Send(b.self, obs)
		sys.Root.Send(b.provPID, out)
	}
	sup.RestartChildren(child)
}

var (
	_ actor.Actor              = (*Breaker)(nil)
	_ actor.SupervisorStrategy = (*Breaker)(nil)
)
