package supervisor

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/actors"
)

// Spec is everything the tree is built from.
type Spec struct {
	Dispatcher actors.DispatcherConfig
	Providers  []actors.ProviderSpec
	Env        *actors.Env
	// Counters holds each provider's counters, keyed by provider name.
	Counters map[string]*actors.Counters
	// Cache, when set, makes the producer of the cache actor, a child of
	// the root named "cache" that forwards to the dispatcher it is given;
	// nil means no cache.
	Cache func(dispatcher *actor.PID) actor.Producer
	// FrontDoor makes the producer of the front door, a child of the root
	// named "frontdoor" that passes requests to target (the cache when
	// there is one, else the dispatcher); nil means none.
	FrontDoor func(target *actor.PID) actor.Producer
}

// Ready is sent on the ready channel once the tree is up (and again after
// the providers node was restarted).
type Ready struct {
	Dispatcher *actor.PID
	Providers  map[string]*actor.PID
	// Cache is the cache actor, nil without one.
	Cache *actor.PID
	// FrontDoor is where requests enter, nil without one.
	FrontDoor *actor.PID
}

// Root is the top of one Switchyard instance's tree. Stopping it (with
// PoisonFuture) stops everything below it. Not safe for use outside
// protoactor.
type Root struct {
	spec       Spec
	ready      chan<- Ready
	dispatcher *actor.PID
	cache      *actor.PID
	frontDoor  *actor.PID
	dispProd   actor.Producer
	provProds  map[string]actor.Producer
	sent       bool
}

// NewRoot returns the Props of a root actor. ready receives one Ready value
// when the tree is up; it must have room for it.
func NewRoot(spec Spec, ready chan<- Ready) *actor.Props {
	r := &Root{spec: spec, ready: ready, dispProd: actors.NewDispatcherProducer(spec.Dispatcher, spec.Env)}
	return spec.Env.Props(func() actor.Actor { return r },
		actor.WithSupervisor(actor.NewRestartingStrategy()))
}

type providersUp struct{ pids map[string]*actor.PID }

// Receive handles one message.
func (r *Root) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if r.dispatcher == nil {
			pid, err := ctx.SpawnNamed(r.spec.Env.Props(r.dispProd), "dispatcher")
			if err != nil {
				panic(err)
			}
			r.dispatcher = pid
			if r.spec.Cache != nil {
				if r.cache, err = ctx.SpawnNamed(r.spec.Env.Props(r.spec.Cache(pid)), "cache"); err != nil {
					panic(err)
				}
			}
			if r.spec.FrontDoor != nil {
				target := pid
				if r.cache != nil {
					target = r.cache
				}
				if r.frontDoor, err = ctx.SpawnNamed(r.spec.Env.Props(r.spec.FrontDoor(target)), "frontdoor"); err != nil {
					panic(err)
				}
			}
			r.provProds = map[string]actor.Producer{}
			for _, ps := range r.spec.Providers {
				r.provProds[ps.Name] = actors.NewProviderProducer(ps, r.spec.Env, r.spec.Counters[ps.Name], pid)
			}
			node := &providersNode{spec: r.spec, prods: r.provProds}
			if _, err := ctx.SpawnNamed(r.spec.Env.Props(func() actor.Actor { return node },
				actor.WithSupervisor(actor.NewRestartingStrategy())), "providers"); err != nil {
				panic(err)
			}
		}
	case *providersUp:
		ctx.Send(r.dispatcher, &actors.AttachProviders{PIDs: m.pids})
		if !r.sent {
			r.sent = true
			r.ready <- Ready{Dispatcher: r.dispatcher, Providers: m.pids, Cache: r.cache, FrontDoor: r.frontDoor}
		}
	}
}

// providersNode is the parent of every provider actor. Its children restart
// in place on a crash (their state is durable); if the node itself restarts
// it spawns them again and re-attaches them to the dispatcher. It reports
// the providers up once each has said every breaker is ready, so New returns
// a tree that routes from its first request.
type providersNode struct {
	spec    Spec
	prods   map[string]actor.Producer
	pids    map[string]*actor.PID
	waiting map[string]bool
}

func (n *providersNode) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		n.pids, n.waiting = map[string]*actor.PID{}, map[string]bool{}
		for _, ps := range n.spec.Providers {
			pid, err := ctx.SpawnNamed(n.spec.Env.Props(n.prods[ps.Name]), ps.Name)
			if err != nil {
				panic(err)
			}
			n.pids[ps.Name] = pid
			n.waiting[ps.Name] = true
		}
	case *actors.ProviderReady:
		if !n.waiting[m.Name] {
			return
		}
		delete(n.waiting, m.Name)
		if len(n.waiting) == 0 {
			ctx.Send(ctx.Parent(), &providersUp{pids: n.pids})
		}
	}
}
