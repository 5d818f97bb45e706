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
// it, so a restarted breaker starts HALF-OPEN.
type breakerInit struct {
	gen   uint64
	state messages.BreakerState
}

// Breaker is the actor of one endpoint's circuit breaker. CLOSED it counts
// outcomes (consecutive failures, failure rate in a window); when it trips it
// fails with *BreakerTripped, and its provider, as supervisor, holds the
// endpoint OPEN and later restarts it into HALF-OPEN, where it judges K
// probes. It also supervises the endpoint's key actors.
type Breaker struct {
	epIdx    int
	endpoint string
	cfg      BreakerConfig
	env      *Env
	keys     []keyHandle
	spec     *EndpointSpec
	provider string
	adapter  providers.Adapter
	provPID  *actor.PID

	gen         uint64
	state       messages.BreakerState
	consecutive int
	window      rollingWindow
	probeOK     int
	tripped     bool
	self        *actor.PID
}

func newBreakerProducer(init *atomic.Pointer[breakerInit], b Breaker) actor.Producer {
	return func() actor.Actor {
		in := init.Load()
		nb := b
		nb.gen, nb.state = in.gen, in.state
		nb.window = rollingWindow{width: b.cfg.Window}
		return &nb
	}
}

// Receive handles one message.
func (b *Breaker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		b.self = ctx.Self()
		pids := make([]*actor.PID, len(b.keys))
		for i, h := range b.keys {
			k := &Key{h: h, spec: b.spec, provider: b.provider, adapter: b.adapter, env: b.env, provPID: b.provPID}
			pid, err := ctx.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return k }), "key-"+h.label)
			if err != nil {
				pid = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return k }))
			}
			pids[i] = pid
		}
		ctx.Send(ctx.Parent(), &breakerReady{epIdx: b.epIdx, gen: b.gen, keys: pids})
	case *observe:
		b.observe(ctx, m)
	}
}

func (b *Breaker) observe(ctx actor.Context, m *observe) {
	if m.gen != b.gen || b.tripped {
		return // a late result from an earlier incarnation
	}
	now := b.env.Clock.Now()
	switch b.state {
	case messages.HalfOpen:
		if m.class == messages.ClassCancelled || m.class == messages.ClassInternal {
			return
		}
		if m.failure {
			b.trip(ctx, m, "probe failed: "+m.class.String())
			return
		}
		b.probeOK++
		if b.probeOK >= b.cfg.HalfOpenProbes {
			b.state = messages.Closed
			b.consecutive = 0
			b.window = rollingWindow{width: b.cfg.Window}
			ctx.Send(ctx.Parent(), &breakerClosed{epIdx: b.epIdx, gen: b.gen})
		}
	default:
		if m.class == messages.ClassCancelled {
			return
		}
		b.window.record(now, m.failure)
		if m.failure {
			b.consecutive++
		} else {
			b.consecutive = 0
		}
		if b.cfg.ConsecutiveFailures > 0 && b.consecutive >= b.cfg.ConsecutiveFailures {
			b.trip(ctx, m, fmt.Sprintf("%d consecutive failures", b.consecutive))
			return
		}
		// The rate is judged on every outcome once the window holds enough,
		// as resilience4j does: the call that completes the minimum volume
		// may be a success.
		total, fail := b.window.counts(now)
		if b.cfg.MinRequests > 0 && total >= b.cfg.MinRequests && float64(fail) >= b.cfg.FailureRate*float64(total) {
			b.trip(ctx, m, fmt.Sprintf("%d of %d attempts failed in %s", fail, total, b.cfg.Window))
		}
	}
}

// trip reports the failure to the supervisor (the provider). The mailbox is
// suspended until the provider restarts this actor into HALF-OPEN.
func (b *Breaker) trip(ctx actor.Context, m *observe, reason string) {
	b.tripped = true
	b.state = messages.Open
	ctx.(actor.Supervisor).EscalateFailure(&BreakerTripped{Endpoint: b.endpoint, Reason: reason, RetryAfter: m.retryAfter}, m)
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
