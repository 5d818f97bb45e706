package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/messages"
)

// FleetHealth shares each endpoint's circuit with the other members of a
// fleet (fleet mode, see docs/fleet.md): a trip on any member opens the
// endpoint on all of them, after the cooldown at most HalfOpenProbes probes
// go out fleet-wide, and their outcome closes or re-opens it everywhere.
// Each member still shows this as its own breaker tripping and being
// restarted into HALF-OPEN by its provider. A nil Env.FleetHealth (the
// default, a single daemon) keeps every circuit local, at no cost.
type FleetHealth interface {
	// EndpointHealth returns the fleet circuit of provider's endpoint,
	// whose HALF-OPEN probe count is probes. push is called, from any
	// goroutine and without blocking, with each transition this member
	// learns of (see FleetHealthView).
	EndpointHealth(provider, endpoint string, probes int, push func(FleetHealthView)) EndpointHealth
}

// EndpointHealth is one endpoint's fleet circuit as this member sees it.
// Its methods return at once (the provider and breaker actors call them
// from their goroutines); answers come through callbacks, from any
// goroutine, within a bounded time: an error means the fleet could not be
// asked, and the member judges on its own breaker. Implementations are safe
// for concurrent use.
type EndpointHealth interface {
	// Trip tells the fleet that this member's breaker tripped and stays
	// open for cooldown; answer gets the fleet's view.
	Trip(cooldown time.Duration, reason string, answer func(FleetHealthView, error))
	// AskProbes asks for up to n probe slots of the current HALF-OPEN
	// round; answer's Granted is how many this ask got.
	AskProbes(n int, answer func(FleetHealthView, error))
	// ProbeDone reports a probe sent with a granted slot: success counts
	// towards closing the endpoint, false gives the slot back (the probe
	// proved nothing). A failed probe is reported as a Trip.
	ProbeDone(success bool)
}

// FleetHealthView is the fleet's view of an endpoint, pushed on a
// transition or answering a call (messages.FleetHealthView).
type FleetHealthView = messages.FleetHealthView

// fleetEndpoint is the provider's view of one endpoint's fleet circuit.
// Only the provider actor touches it.
type fleetEndpoint struct {
	h EndpointHealth
	// activation and round: the latest transition learned.
	activation string
	round      uint64
	// openActivation and openRound: the fleet OPEN round the local circuit
	// follows (openRound 0: none known, e.g. a local trip the fleet has not
	// acknowledged).
	openActivation string
	openRound      uint64
	// gen is the local circuit generation that granted and local apply
	// to: granted counts the probe slots granted in it; local, that it
	// probes on its own rules (the fleet could not be asked, or does not
	// know of its trip).
	gen     uint64
	granted int
	local   bool
	// asking: an AskProbes is in flight; retrySeq tags the pending re-ask
	// timer (retryPending).
	asking       bool
	retrySeq     uint64
	retryPending bool
	// closeOnReady: the fleet closed the endpoint while the local circuit
	// was OPEN; it is being restarted and closes once HALF-OPEN.
	closeOnReady bool
}

// at makes f's per-generation state that of gen.
func (f *fleetEndpoint) at(gen uint64) {
	if f.gen != gen {
		f.gen, f.granted, f.local, f.retryPending = gen, 0, false, false
	}
}

// fleetHealthKind says what a fleetHealthMsg carries.
type fleetHealthKind uint8

const (
	fleetPushed         fleetHealthKind = iota // a transition pushed by the fleet
	fleetTripAnswered                          // the answer to Trip
	fleetProbesAnswered                        // the answer to AskProbes of generation gen
	fleetRetry                                 // the re-ask timer seq fired
)

// fleetHealthMsg brings the provider what its endpoints' fleet circuits
// said (callbacks on other goroutines send it).
type fleetHealthMsg struct {
	epIdx int
	kind  fleetHealthKind
	gen   uint64
	seq   uint64
	view  FleetHealthView
	err   error
}

// fleetTrip asks a breaker to open its circuit because the fleet did, for
// cooldown, if its circuit is still in generation gen and not OPEN.
type fleetTrip struct {
	gen      uint64
	cooldown time.Duration
	reason   string
}

// fleetClose asks a breaker to close its HALF-OPEN circuit of generation
// gen because the fleet's probes succeeded.
type fleetClose struct {
	gen    uint64
	reason string
}

// fleetHandle returns the endpoint's fleet circuit, nil without one.
func (ep *endpointState) fleetHandle() EndpointHealth {
	if ep.fleet == nil {
		return nil
	}
	return ep.fleet.h
}

// probeSlots is how many probes HALF-OPEN view v admits in its
// generation: the circuit's own count, capped in fleet mode by the slots
// the fleet granted (unless the generation probes on its own rules).
func (ep *endpointState) probeSlots(v circuitView) int {
	f := ep.fleet
	switch {
	case f == nil:
		return v.probes
	case f.gen != v.gen:
		return 0
	case f.local:
		return v.probes
	}
	return min(v.probes, f.granted)
}

// fleetStart opens the endpoints' fleet circuits at the provider's first
// start; pushes come back to the provider as fleetHealthMsg.
func (p *Provider) fleetStart(ctx actor.Context) {
	if p.env == nil || p.env.FleetHealth == nil || p.incarnation > 1 {
		return
	}
	self, root := ctx.Self(), p.env.Root
	for _, ep := range p.endpoints {
		idx := ep.idx
		ep.fleet = &fleetEndpoint{}
		ep.fleet.h = p.env.FleetHealth.EndpointHealth(p.spec.Name, ep.spec.Name, ep.circuit.cfg.HalfOpenProbes, func(v FleetHealthView) {
			root.Send(self, &fleetHealthMsg{epIdx: idx, kind: fleetPushed, view: v})
		})
	}
}

// fleetTripped tells the fleet of a trip of ep's own circuit (not of one
// the fleet caused). The supervisor has armed the cooldown.
func (p *Provider) fleetTripped(ep *endpointState, reason any) {
	f := ep.fleet
	if f == nil {
		return
	}
	v := ep.circuit.View()
	if v.byFleet {
		return
	}
	f.openRound = 0 // until the fleet acknowledges this trip
	f.closeOnReady = false
	why := "breaker tripped"
	if t, ok := reason.(*BreakerTripped); ok {
		why = t.Reason
	}
	idx, self, root := ep.idx, p.self, p.env.Root
	f.h.Trip(v.reopenAt.Sub(p.env.Clock.Now()), why, func(view FleetHealthView, err error) {
		root.Send(self, &fleetHealthMsg{epIdx: idx, kind: fleetTripAnswered, view: view, err: err})
	})
}

// fleetReady runs when ep's breaker incarnation is up: a circuit the fleet
// closed meanwhile closes; a HALF-OPEN one asks for probe slots.
func (p *Provider) fleetReady(ctx actor.Context, ep *endpointState) {
	f := ep.fleet
	if f == nil {
		return
	}
	v := ep.circuit.View()
	if f.closeOnReady && v.state == messages.HalfOpen {
		f.closeOnReady = false
		ctx.Send(ep.pid, &fleetClose{gen: v.gen, reason: "closed by the fleet: probes succeeded"})
		return
	}
	p.fleetPump(ep)
}

// fleetPump asks the fleet for probe slots when ep's circuit is HALF-OPEN,
// wants more probes than it was granted, and no ask or re-ask is pending.
func (p *Provider) fleetPump(ep *endpointState) {
	f := ep.fleet
	if f == nil || !ep.ready {
		return
	}
	v := ep.circuit.View()
	if v.state != messages.HalfOpen {
		return
	}
	f.at(v.gen)
	want := v.probes - f.granted
	if f.local || f.asking || f.retryPending || want <= 0 {
		return
	}
	f.asking = true
	idx, gen, self, root := ep.idx, v.gen, p.self, p.env.Root
	f.h.AskProbes(want, func(view FleetHealthView, err error) {
		root.Send(self, &fleetHealthMsg{epIdx: idx, kind: fleetProbesAnswered, gen: gen, view: view, err: err})
	})
}

// fleetReceive handles what an endpoint's fleet circuit said.
func (p *Provider) fleetReceive(ctx actor.Context, m *fleetHealthMsg) {
	ep := p.endpoints[m.epIdx]
	f := ep.fleet
	if f == nil {
		return
	}
	switch m.kind {
	case fleetPushed, fleetTripAnswered:
		if m.err == nil {
			p.fleetLearn(ctx, ep, m.view)
		}
	case fleetProbesAnswered:
		f.asking = false
		closing := false
		if m.err == nil {
			closing = p.fleetLearn(ctx, ep, m.view)
		}
		v := ep.circuit.View()
		if m.gen != v.gen || v.state != messages.HalfOpen || closing {
			break // slots of a generation gone: the fleet's round moved on too
		}
		f.at(v.gen)
		switch {
		case m.err != nil:
			f.local = true // the fleet cannot be asked: probe on our own
		case m.view.State == messages.Closed:
			f.local = true // the fleet does not know of our trip
		default:
			f.granted += m.view.Granted
			if f.granted < v.probes && m.view.RetryIn > 0 {
				f.retrySeq++
				f.retryPending = true
				msg, self, root := &fleetHealthMsg{epIdx: ep.idx, kind: fleetRetry, seq: f.retrySeq}, p.self, p.env.Root
				p.env.Clock.AfterFunc(m.view.RetryIn, func() { root.Send(self, msg) })
			}
		}
	case fleetRetry:
		if m.seq != f.retrySeq || !f.retryPending {
			return
		}
		f.retryPending = false
	}
	p.fleetPump(ep)
	p.wake = true
	p.publish()
}

// fleetLearn applies a transition of the fleet's circuit to ep's own: an
// OPEN (or a HALF-OPEN round it missed) trips it, through the breaker as a
// local trip; a CLOSED of a later round than the OPEN it follows closes it,
// restarting an OPEN breaker first so that it closes from HALF-OPEN. It
// reports whether the circuit is being closed.
func (p *Provider) fleetLearn(ctx actor.Context, ep *endpointState, fv FleetHealthView) (closing bool) {
	f := ep.fleet
	if fv.Activation == f.activation && fv.Round <= f.round {
		return false
	}
	f.activation, f.round = fv.Activation, fv.Round
	v := ep.circuit.View()
	switch fv.State {
	case messages.Open, messages.HalfOpen:
		f.openActivation, f.openRound = fv.Activation, fv.Round
		f.closeOnReady = false
		if v.state != messages.Open && ep.pid != nil {
			ctx.Send(ep.pid, &fleetTrip{gen: v.gen, cooldown: fv.Cooldown, reason: "opened by the fleet: " + fv.Reason})
		}
	case messages.Closed:
		if f.openRound == 0 || f.openActivation != fv.Activation || fv.Round <= f.openRound {
			return false // the fleet never knew of the OPEN this circuit follows
		}
		f.openRound = 0
		switch v.state {
		case messages.HalfOpen:
			ctx.Send(ep.pid, &fleetClose{gen: v.gen, reason: "closed by the fleet: " + fv.Reason})
			return true
		case messages.Open:
			ep.cooldownGen++ // the cooldown timer is moot
			ep.restartDue, ep.halfOpen = true, "closed by the fleet; restarted by supervisor"
			f.closeOnReady = true
			p.tryRestart(ctx.(actor.Supervisor), ep)
			return true
		}
	}
	return false
}
