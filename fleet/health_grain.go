package fleet

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// HealthKind is the cluster kind of endpoint-health grains. A grain's
// identity is HealthIdentity(provider, endpoint).
const HealthKind = "endpoint-health"

// HealthIdentity is the grain identity of one endpoint's health.
func HealthIdentity(provider, endpoint string) string { return provider + "/" + endpoint }

// Defaults of the endpoint-health grains.
const (
	// DefaultProbeTTL is how long a granted probe slot stays taken without
	// a report of its outcome; then it is given back. It bounds how long a
	// member that died (or lost the grain) while holding slots delays the
	// others' probes; a probe that outlives it may be joined by another
	// (K + 1 at most per TTL).
	DefaultProbeTTL = time.Minute
	// DefaultProbeRetry is the longest a member that got no slot in
	// HALF-OPEN is told to wait before asking again.
	DefaultProbeRetry = time.Second
)

// HealthOptions configures the endpoint-health grains a member hosts. The
// zero value is usable: the wall clock, DefaultProbeTTL, DefaultProbeRetry.
type HealthOptions struct {
	// Clock drives cooldowns and slot expiry; nil is the wall clock.
	Clock clock.Clock
	// ProbeTTL is how long a probe slot stays taken without a report
	// (default DefaultProbeTTL).
	ProbeTTL time.Duration
	// ProbeRetry caps the wait a member without a slot is told (default
	// DefaultProbeRetry).
	ProbeRetry time.Duration
	// Stats, when not nil, counts the grains' activations and pushes.
	Stats *HealthStats
}

// HealthStats are a member's endpoint-health grain figures. Fields are
// atomics, safe to read at any time.
type HealthStats struct {
	// Activations counts grains started on this member.
	Activations atomic.Int64
	// Trips counts trips reported; Opened the ones that started a round.
	Trips, Opened atomic.Int64
	// Granted counts probe slots granted; Closed rounds closed by probes.
	Granted, Closed atomic.Int64
	// Watchers counts members' agents registered (each activation counts
	// its own); Pushes the pushes sent to them.
	Watchers, Pushes atomic.Int64
}

// NewHealthKind returns the cluster kind that hosts endpoint-health
// grains, for cluster.WithKinds on every member that may host them.
func NewHealthKind(o HealthOptions) *cluster.Kind {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.ProbeTTL <= 0 {
		o.ProbeTTL = DefaultProbeTTL
	}
	if o.ProbeRetry <= 0 {
		o.ProbeRetry = DefaultProbeRetry
	}
	if o.Stats == nil {
		o.Stats = &HealthStats{}
	}
	return cluster.NewKind(HealthKind, actor.PropsFromProducer(func() actor.Actor { return &healthGrain{o: o} }))
}

// healthGrain is the actor of one endpoint-health grain: the circuit and
// the agents of the members that watch it.
type healthGrain struct {
	o          HealthOptions
	c          healthCircuit
	identity   string
	activation string
	watchers   map[string]*actor.PID // agent address + "/" + id → agent
}

// Receive handles one message.
func (g *healthGrain) Receive(ctx actor.Context) {
	now := g.o.Clock.Now()
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.c = healthCircuit{probeTTL: g.o.ProbeTTL, retryEvery: g.o.ProbeRetry}
		g.identity = m.Identity.Identity
		g.activation = fmt.Sprintf("%s@%d", ctx.Self().Address, now.UnixNano())
		g.watchers = map[string]*actor.PID{}
		g.o.Stats.Activations.Add(1)
	case *fleetpb.HealthWatch:
		g.watch(m.Watcher)
		g.answer(ctx, g.c.view(now))
	case *fleetpb.HealthTrip:
		g.watch(m.Watcher)
		g.o.Stats.Trips.Add(1)
		if g.c.trip(now, time.Duration(m.CooldownNs), int(m.Probes), m.Reason) {
			g.o.Stats.Opened.Add(1)
			g.push(ctx, now)
		}
		g.answer(ctx, g.c.view(now))
	case *fleetpb.ProbeAsk:
		g.watch(m.Watcher)
		v := g.c.ask(now, member(m.Watcher), int(m.Want), int(m.Probes))
		g.o.Stats.Granted.Add(int64(v.Granted))
		g.answer(ctx, v)
	case *fleetpb.ProbeDone:
		g.watch(m.Watcher)
		if g.c.done(now, member(m.Watcher), m.Round, m.Success) {
			g.o.Stats.Closed.Add(1)
			g.push(ctx, now)
		}
		g.answer(ctx, g.c.view(now))
	}
}

// member names a watcher for slot accounting: its agent (unique per
// member and process incarnation).
func member(w *fleetpb.Watcher) string {
	if w == nil {
		return ""
	}
	return w.AgentAddress + "/" + w.AgentId + "/" + w.Member
}

// watch remembers w's agent for pushes.
func (g *healthGrain) watch(w *fleetpb.Watcher) {
	if w == nil || w.AgentAddress == "" || w.AgentId == "" {
		return
	}
	key := w.AgentAddress + "/" + w.AgentId
	if _, ok := g.watchers[key]; !ok {
		g.watchers[key] = actor.NewPID(w.AgentAddress, w.AgentId)
		g.o.Stats.Watchers.Add(1)
	}
}

func (g *healthGrain) answer(ctx actor.Context, v *fleetpb.HealthView) {
	v.Activation = g.activation
	ctx.Respond(v)
}

// push tells every watcher the state after a transition.
func (g *healthGrain) push(ctx actor.Context, now time.Time) {
	st, left := g.c.state(now)
	for _, pid := range g.watchers {
		ctx.Send(pid, &fleetpb.HealthPush{Identity: g.identity, Activation: g.activation, Round: g.c.round,
			State: st, CooldownNs: int64(left), Reason: g.c.reason})
		g.o.Stats.Pushes.Add(1)
	}
}

var _ actor.Actor = (*healthGrain)(nil)
