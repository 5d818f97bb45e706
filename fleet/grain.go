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

// BudgetKind is the cluster kind of key-budget grains. A grain's identity
// is BudgetIdentity(provider, endpoint, key label).
const BudgetKind = "key-budget"

// BudgetIdentity is the grain identity of one key's budget.
func BudgetIdentity(provider, endpoint, keyLabel string) string {
	return provider + "/" + endpoint + "/" + keyLabel
}

// GrainOptions configures the key-budget grains a member hosts. The zero
// value is usable: the wall clock, DefaultWindow and DefaultLeaseTTL.
type GrainOptions struct {
	// Clock drives the window; nil is the wall clock.
	Clock clock.Clock
	// Window is the period the limits apply to (default DefaultWindow).
	Window time.Duration
	// LeaseTTL is how long granted permits may be used (default
	// DefaultLeaseTTL).
	LeaseTTL time.Duration
	// Stats, when not nil, counts the grains' activations and leases.
	Stats *GrainStats
}

// GrainStats are a member's key-budget grain figures. Fields are atomics,
// safe to read at any time.
type GrainStats struct {
	// Activations counts grains started on this member.
	Activations atomic.Int64
	// Leases counts lease requests answered; Granted the permits granted.
	Leases, Granted atomic.Int64
}

// NewBudgetKind returns the cluster kind that hosts key-budget grains, for
// cluster.WithKinds on every member that may host them.
func NewBudgetKind(o GrainOptions) *cluster.Kind {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.Stats == nil {
		o.Stats = &GrainStats{}
	}
	return cluster.NewKind(BudgetKind, actor.PropsFromProducer(func() actor.Actor { return &budgetGrain{o: o} }))
}

// budgetGrain is the actor of one key-budget grain.
type budgetGrain struct {
	o          GrainOptions
	b          *budget
	activation string
	identity   string
	// agents are the lessees' agent actors, by member, for pushes.
	agents map[string]*actor.PID
}

// push tells every lessee but from what changed.
func (g *budgetGrain) push(ctx actor.Context, from string, p *fleetpb.KeyPush) {
	p.Identity = g.identity
	for member, pid := range g.agents {
		if member != from {
			ctx.Send(pid, p)
		}
	}
}

// Receive handles one message.
func (g *budgetGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *cluster.ClusterInit:
		g.identity = m.Identity.GetIdentity()
		g.agents = map[string]*actor.PID{}
		now := g.o.Clock.Now()
		g.b = newBudget(now, g.o.Window, g.o.LeaseTTL)
		g.activation = fmt.Sprintf("%s@%d", ctx.Self().Address, now.UnixNano())
		g.o.Stats.Activations.Add(1)
	case *fleetpb.LeaseRequest:
		if m.AgentAddress != "" && m.AgentId != "" {
			if pid := g.agents[m.Member]; pid == nil || pid.Address != m.AgentAddress || pid.Id != m.AgentId {
				g.agents[m.Member] = actor.NewPID(m.AgentAddress, m.AgentId)
			}
		}
		out := g.b.lease(m, g.o.Clock.Now())
		out.Activation = g.activation
		g.o.Stats.Leases.Add(1)
		g.o.Stats.Granted.Add(out.Requests)
		ctx.Respond(out)
	case *fleetpb.Return:
		g.b.giveBack(m.LeaseId, m.Requests, m.Tokens)
		ctx.Respond(&fleetpb.Ack{})
	case *fleetpb.Cooldown:
		g.b.cooldown(g.o.Clock.Now(), time.Duration(m.CooldownForNs))
		ctx.Respond(&fleetpb.Ack{})
		g.push(ctx, m.Member, &fleetpb.KeyPush{CooldownForNs: m.CooldownForNs, Reason: m.Reason})
	case *fleetpb.Disable:
		g.b.disable(m.Reason)
		ctx.Respond(&fleetpb.Ack{})
		g.push(ctx, m.Member, &fleetpb.KeyPush{Disabled: true, Reason: m.Reason})
	}
}

var _ actor.Actor = (*budgetGrain)(nil)
