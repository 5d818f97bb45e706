package actors

import (
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Provider is the actor of one provider. It routes each attempt to an
// endpoint whose circuit admits it and a key with headroom, keeps the
// durable routing state (key cooldowns and health, in-flight counts), and
// supervises its breakers: a trip is a breaker's failure, and after the
// cooldown (and once the endpoint's calls have drained) the provider
// restarts the breaker, whose new incarnation moves the circuit to
// HALF-OPEN. Each endpoint's Breaker owns its circuit; the provider reads
// the circuit's view and never changes it.
type Provider struct {
	*providerState
	inits []*atomic.Pointer[breakerInit]
	// announced is set once this incarnation sent ProviderReady.
	announced bool
}

// NewProviderProducer returns a Props producer whose instances share one
// durable state; dispatcher is where attempts are reported.
func NewProviderProducer(spec ProviderSpec, env *Env, counters *Counters, dispatcher *actor.PID) actor.Producer {
	st := newProviderState(spec, env, counters)
	st.dispatcher = dispatcher
	inits := make([]*atomic.Pointer[breakerInit], len(st.endpoints))
	for i := range inits {
		inits[i] = &atomic.Pointer[breakerInit]{}
	}
	return func() actor.Actor { return &Provider{providerState: st, inits: inits} }
}

// Receive handles one message.
func (p *Provider) Receive(ctx actor.Context) {
	p.clk.begin()
	defer p.clk.end()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		p.started(ctx)
	case *dispatch:
		p.route(ctx, m)
	case *keyOutcome:
		p.outcome(ctx, m)
	case *breakerReady:
		ep := p.endpoints[m.epIdx]
		if m.gen != ep.spawn {
			return // an incarnation since replaced
		}
		for i, pid := range m.keys {
			ep.keys[i].pid = pid
		}
		ep.ready = true
		ep.incarnations++
		p.fleetReady(ctx, ep)
		p.wake = true
		p.publish()
		p.announceReady(ctx)
	case *breakerChanged:
		p.fleetPump(p.endpoints[m.epIdx])
		p.wake = true
		p.publish()
	case *cooldownElapsed:
		ep := p.endpoints[m.epIdx]
		if m.gen != ep.cooldownGen || ep.circuit.View().state != messages.Open {
			return
		}
		ep.restartDue, ep.halfOpen = true, "cooldown elapsed; restarted by supervisor"
		p.tryRestart(ctx.(actor.Supervisor), ep)
	case *recheck:
		if m.gen == p.recheckGen {
			p.recheckAt = time.Time{}
			p.wake = true
			p.publish()
		}
	case *getNode:
		ctx.Respond(p.snapshot())
	case *fleetHealthMsg:
		p.fleetReceive(ctx, m)
	case *fleetChanged:
		p.fleetPending.Store(false)
		p.syncFleet()
	}
}

// fleetChanged: a key's fleet budget changed (see providerState.fleetChanged).
type fleetChanged struct{}

// syncFleet takes in what the fleet's budgets say of the keys: a disable
// or a cooldown another member reported becomes this node's too (with its
// event), and requests that waited for permits get another chance.
func (p *Provider) syncFleet() {
	now := p.now()
	for _, ep := range p.endpoints {
		for _, k := range ep.keys {
			if k.budget == nil {
				continue
			}
			at, cooling, ok := k.budget.Available(now)
			switch {
			case !ok && !k.disabled:
				k.disabled = true
				p.env.Events.Publish(&messages.KeyDisabled{Time: now, Provider: p.spec.Name, Endpoint: ep.spec.Name, Key: k.label})
			case ok && cooling:
				p.cool(ep, k, at, "429 seen by another member of the fleet", "", now)
			}
		}
	}
	p.wake = true
	p.publish()
}

func (p *Provider) started(ctx actor.Context) {
	p.self = ctx.Self()
	p.fleetSelf.Store(p.self)
	p.incarnation++
	if p.incarnation > 1 {
		// The provider was restarted: its breakers and keys were stopped with
		// it, so calls still in flight will report to nobody. Hand them back
		// for a retry (the upstream may have seen them: at-least-once).
		for id, rec := range p.calls {
			delete(p.calls, id)
			rec.key.inflight--
			rec.ep.inflight--
			if rec.key.budget != nil {
				rec.key.budget.Release()
			}
			t := true
			ue := &messages.UpstreamError{RequestID: rec.d.id, Provider: p.spec.Name, Endpoint: rec.ep.spec.Name, Key: rec.key.label,
				Class: messages.ClassInternal, Message: "provider restarted during the call", ShouldRetry: &t, Cause: messages.ErrInternal}
			p.counters.Finish(false, messages.ClassInternal, messages.Usage{}, 0, ue.Error())
			rec.ep.counters.Finish(false, messages.ClassInternal, messages.Usage{}, 0, ue.Error())
			ctx.Send(p.dispatcher, &attemptDone{provider: p.spec.Name, id: rec.d.id, attempt: rec.d.attempt, err: ue})
		}
	}
	p.fleetStart(ctx)
	for _, ep := range p.endpoints {
		// A first start keeps the circuit as it is (CLOSED). After a crash
		// the new breaker probes carefully: it enters HALF-OPEN, unless the
		// endpoint is OPEN and waits for its cooldown; one whose restart
		// was due restarts now (its calls were handed back above).
		halfOpen := ""
		switch {
		case ep.restartDue:
			halfOpen, ep.restartDue = ep.halfOpen, false
			ep.restarts++
		case p.incarnation > 1 && ep.circuit.View().state != messages.Open:
			halfOpen = "provider restarted; probing carefully"
		}
		ep.spawn++
		ep.ready = false
		p.inits[ep.idx].Store(&breakerInit{spawn: ep.spawn, halfOpen: halfOpen})
		handles := make([]keyHandle, len(ep.keys))
		for i, k := range ep.keys {
			handles[i] = keyHandle{epIdx: ep.idx, keyIdx: i, label: k.label, cred: k.spec.Cred, counters: k.counters, rateLimit: &k.rateLimit}
		}
		tmpl := Breaker{epIdx: ep.idx, endpoint: ep.spec.Name, circuit: ep.circuit, env: p.env, keys: handles, spec: ep.spec,
			provider: p.spec.Name, adapter: p.spec.Adapter, provPID: ctx.Self(), fleet: ep.fleetHandle()}
		props := p.env.Props(newBreakerProducer(p.inits[ep.idx], tmpl))
		pid, err := ctx.SpawnNamed(props, "breaker-"+sanitize(ep.spec.Name))
		if err != nil {
			pid = ctx.Spawn(props)
		}
		ep.pid = pid
	}
	p.publish()
}

// announceReady tells the parent, once per incarnation, that every
// endpoint's breaker is up.
func (p *Provider) announceReady(ctx actor.Context) {
	if p.announced {
		return
	}
	for _, ep := range p.endpoints {
		if !ep.ready && ep.circuit.View().state != messages.Open {
			return
		}
	}
	p.announced = true
	ctx.Send(ctx.Parent(), &ProviderReady{Name: p.spec.Name})
}

// route places one attempt, or answers it at once, or bounces it.
func (p *Provider) route(ctx actor.Context, d *dispatch) {
	p.received++
	now := p.now()
	call := d.req.CallInfo()
	if call.Key != "" && !p.hasKey(call.Key) {
		p.answer(ctx, d, &messages.RequestError{RequestID: d.id, Provider: p.spec.Name, Kind: messages.ErrInvalidRequest, Detail: "no key labelled " + quote(call.Key)})
		return
	}
	if call.Endpoint != "" && p.endpointByName(call.Endpoint) == nil {
		p.answer(ctx, d, &messages.RequestError{RequestID: d.id, Provider: p.spec.Name, Kind: messages.ErrInvalidRequest, Detail: "no endpoint named " + quote(call.Endpoint)})
		return
	}
	pinEp, allowed, aff := p.pins(d)
	allOpen, allDisabled := true, true
	var reopen time.Time
	var reopenEp string
	for _, ep := range p.endpoints {
		if pinEp != "" && ep.spec.Name != pinEp {
			continue
		}
		v := ep.circuit.View()
		if v.state == messages.Open {
			if reopen.IsZero() || v.reopenAt.Before(reopen) {
				reopen, reopenEp = v.reopenAt, ep.spec.Name
			}
			continue
		}
		allOpen = false
		for _, k := range ep.keys {
			if !k.disabled && (allowed == nil || slices.Contains(allowed, k.label)) {
				allDisabled = false
			}
		}
		ok, probe := ep.admits(v)
		if !ok {
			continue
		}
		k := pickKey(ep, p.spec.Strategy, now, allowed, d.avoidKey)
		if k == nil {
			continue
		}
		p.start(ctx, d, ep, k, v.gen, probe, now)
		return
	}
	switch {
	case allOpen:
		p.answer(ctx, d, &messages.CircuitOpenError{RequestID: d.id, Provider: p.spec.Name, Endpoint: reopenEp, ReopenAt: reopen})
	case allDisabled && aff:
		p.answer(ctx, d, &messages.AffinityError{RequestID: d.id, Provider: p.spec.Name, Object: d.affinity.object, Endpoint: pinEp, Keys: allowed})
	case allDisabled:
		p.answer(ctx, d, &messages.RequestError{RequestID: d.id, Provider: p.spec.Name, Kind: messages.ErrNoUsableKey, Detail: "every key is disabled after authentication failures"})
	default:
		bounce := &attemptDone{provider: p.spec.Name, id: d.id, attempt: d.attempt, bounced: true}
		if aff {
			// Every key that can see the object is busy or cooling down.
			// Cooling ones wait for the first to come back, unless the
			// affinity does not wait or the request's deadline comes first.
			if at := p.coolingUntil(pinEp, allowed, now); !at.IsZero() {
				if d.affinity.noWait || (!d.deadline.IsZero() && d.deadline.Before(at)) {
					p.answer(ctx, d, &messages.AffinityError{RequestID: d.id, Provider: p.spec.Name, Object: d.affinity.object, Endpoint: pinEp, Keys: allowed, CoolingUntil: at})
					return
				}
				bounce.notBefore = at
			}
		}
		ctx.Send(p.dispatcher, bounce)
		if pinEp != "" || allowed != nil {
			p.pinsParked = true
		}
		p.publish()
	}
}

// pins returns where an attempt may go: the endpoint it is pinned to (""
// for any) and the key labels it may use (nil for any), and whether an
// affinity pin (not the caller's) set them. An affinity pin allows the key
// that created the stored object and the other keys of its group on its
// endpoint; one that names an endpoint or key the provider no longer has
// is ignored.
func (p *Provider) pins(d *dispatch) (endpoint string, keys []string, affinity bool) {
	call := d.req.CallInfo()
	if a := d.affinity; a != nil && call.Key == "" && call.Endpoint == "" {
		if ep := p.endpointByName(a.endpoint); ep != nil {
			if keys := ep.group(a.key); len(keys) > 0 {
				return ep.spec.Name, keys, true
			}
		}
	}
	if call.Key != "" {
		keys = []string{call.Key}
	}
	return call.Endpoint, keys, false
}

// coolingUntil returns, when every key of keys on the endpoint named ep
// that is not disabled is cooling down (a 429, an exhausted rate-limit
// window, its rpm or tpm), the time the first of them may be tried again;
// the zero time when one of them is merely busy or the endpoint is not
// ready.
func (p *Provider) coolingUntil(ep string, keys []string, now time.Time) time.Time {
	e := p.endpointByName(ep)
	if e == nil || !e.ready {
		return time.Time{}
	}
	var first time.Time
	for _, k := range e.keys {
		if !slices.Contains(keys, k.label) {
			continue
		}
		at, ok := k.availableAt(now)
		if !ok {
			continue
		}
		if at.IsZero() {
			return time.Time{}
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

func (p *Provider) answer(ctx actor.Context, d *dispatch, err error) {
	p.env.deliver(ctx, p.dispatcher, &attemptDone{provider: p.spec.Name, id: d.id, attempt: d.attempt, err: err})
	p.publish()
}

// start sends one attempt to key k of ep, admitted in circuit generation
// gen (its outcome counts only there).
func (p *Provider) start(ctx actor.Context, d *dispatch, ep *endpointState, k *keyState, gen uint64, probe bool, now time.Time) {
	p.nextCall++
	id := p.nextCall
	p.calls[id] = callRecord{d: d, ep: ep, key: k}
	k.inflight++
	ep.inflight++
	if probe {
		ep.probesSent = ep.probesIn(gen) + 1
		ep.probeGen = gen
	}
	if k.rpm != nil {
		k.rpm.AllowN(now, 1)
	}
	if k.budget != nil {
		k.budget.Take(now)
	}
	p.counters.Start(now)
	ep.counters.Start(now)
	p.env.deliver(ctx, k.pid, &execute{callID: id, d: d, spec: ep.spec, epIdx: ep.idx, keyIdx: k.idx, epGen: gen, started: now})
	p.publish()
}

// outcome accounts for a finished attempt and reports it to the dispatcher.
func (p *Provider) outcome(ctx actor.Context, m *keyOutcome) {
	rec, ok := p.calls[m.callID]
	if !ok {
		return // failed over at a provider restart
	}
	delete(p.calls, m.callID)
	now := p.now()
	ep, k := rec.ep, rec.key
	k.inflight--
	ep.inflight--
	if k.budget != nil {
		k.budget.Release()
	}
	res := m.result
	if res == nil {
		res = &providers.CallResult{} // a key that failed before the call learned nothing
	}
	ok = m.err == nil
	class, text := messages.ClassUnknown, ""
	if !ok {
		class, text = m.err.Class, m.err.Error()
	}
	p.counters.Finish(ok, class, res.Usage, m.latency, text)
	ep.counters.Finish(ok, class, res.Usage, m.latency, text)
	p.counters.AddBytes(res.BytesIn, res.BytesOut)
	ep.counters.AddBytes(res.BytesIn, res.BytesOut)
	if k.tpm != nil {
		if n := res.Usage.Total(); n > 0 {
			k.tpm.ReserveN(now, min(n, k.spec.TPM))
		}
	}
	if k.budget != nil {
		k.budget.Spend(int64(res.Usage.Total()))
	}
	done := &attemptDone{provider: p.spec.Name, id: rec.d.id, attempt: rec.d.attempt, keyLabel: k.label, chunks: res.ChunksSent}
	if ok {
		meta := m.resp.ResponseMeta()
		meta.Provider, meta.Endpoint, meta.Key = p.spec.Name, ep.spec.Name, k.label
		meta.UpstreamRequestID = res.UpstreamRequestID
		done.resp = m.resp
		p.keyHealthFromHeaders(ep, k, res.RateLimit, now, rec.d.id)
	} else {
		done.err = m.err
		switch class {
		case messages.ClassAuth:
			if !k.disabled {
				k.disabled = true
				if k.budget != nil {
					k.budget.Disable(fmt.Sprintf("upstream answered %d", m.err.Status))
				}
				p.env.Events.Publish(&messages.KeyDisabled{Time: now, Provider: p.spec.Name, Endpoint: ep.spec.Name, Key: k.label, Status: m.err.Status, RequestID: rec.d.id})
			}
			// Another key may well work: retry there at once, unless the
			// adapter said the attempt must not be repeated.
			if m.err.ShouldRetry == nil || *m.err.ShouldRetry {
				done.rotate = p.otherKeyUsable(k)
				if done.rotate {
					t := true
					m.err.ShouldRetry = &t
				}
			}
		case messages.ClassRateLimited:
			until := now.Add(m.err.RetryAfter)
			if m.err.RetryAfter <= 0 {
				until = now.Add(time.Second)
			}
			if rl := res.RateLimit; rl.Known {
				if rl.RemainingRequests == 0 && rl.ResetRequests.After(until) {
					until = rl.ResetRequests
				}
				if rl.RemainingTokens == 0 && rl.ResetTokens.After(until) {
					until = rl.ResetTokens
				}
			}
			p.cool(ep, k, until, "429 rate limited", rec.d.id, now)
			if k.budget != nil {
				k.budget.Cooldown(until, "429 rate limited")
			}
			done.rotate = p.otherKeyUsable(k)
		}
	}
	p.env.deliver(ctx, p.dispatcher, done)
	if ep.inflight == 0 {
		p.tryRestart(ctx.(actor.Supervisor), ep)
	}
	p.wake = true
	p.publish()
}

// keyHealthFromHeaders cools a key whose upstream window is exhausted, before
// the upstream has to answer 429.
func (p *Provider) keyHealthFromHeaders(ep *endpointState, k *keyState, rl messages.RateLimit, now time.Time, id string) {
	if !rl.Known {
		return
	}
	if rl.RemainingRequests == 0 && rl.ResetRequests.After(now) {
		p.cool(ep, k, rl.ResetRequests, "request window exhausted", id, now)
	}
	if rl.RemainingTokens == 0 && rl.ResetTokens.After(now) {
		p.cool(ep, k, rl.ResetTokens, "token window exhausted", id, now)
	}
}

func (p *Provider) cool(ep *endpointState, k *keyState, until time.Time, reason, id string, now time.Time) {
	if !until.After(k.coolingUntil) {
		return
	}
	k.coolingUntil = until
	p.env.Events.Publish(&messages.KeyCooldown{Time: now, Provider: p.spec.Name, Endpoint: ep.spec.Name, Key: k.label, Until: until, Reason: reason, RequestID: id})
}

// otherKeyUsable reports whether a key other than k could take a call now
// or is merely busy (not cooling, not disabled) on an admitting endpoint.
func (p *Provider) otherKeyUsable(k *keyState) bool {
	now := p.now()
	for _, ep := range p.endpoints {
		if ep.circuit.View().state == messages.Open {
			continue
		}
		for _, o := range ep.keys {
			if o == k || o.disabled {
				continue
			}
			if at, ok := o.availableAt(now); ok && at.IsZero() {
				return true
			}
		}
	}
	return false
}

// HandleFailure supervises the breakers. A trip (*BreakerTripped) comes
// from a breaker whose circuit has just opened (and published the
// transition): the provider leaves the breaker suspended and arms a timer
// for the circuit's reopen time (an exponential, capped, jittered cooldown,
// never shorter than the upstream's Retry-After). A panic (a bug) gets no
// cooldown: the endpoint takes no new calls until the restart. Either way
// the breaker is restarted, into HALF-OPEN, once its in-flight calls have
// finished. Requests are never parked in the suspended breaker: routing
// skips OPEN endpoints and breakers that are not ready. In fleet mode a
// trip of the circuit's own is reported to the fleet (fleetTripped).
func (p *Provider) HandleFailure(sys *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ interface{}) {
	var ep *endpointState
	for _, e := range p.endpoints {
		if e.pid != nil && e.pid.Equal(child) {
			ep = e
		}
	}
	if ep == nil {
		sup.RestartChildren(child)
		return
	}
	if _, ok := reason.(*BreakerTripped); ok {
		ep.cooldownGen++
		msg, self, root := &cooldownElapsed{epIdx: ep.idx, gen: ep.cooldownGen}, p.self, sys.Root
		if d := ep.circuit.View().reopenAt.Sub(p.now()); d > 0 {
			p.env.Clock.AfterFunc(d, func() { root.Send(self, msg) })
		} else {
			root.Send(self, msg)
		}
		p.fleetTripped(ep, reason)
	} else {
		ep.ready = false
		ep.restartDue, ep.halfOpen = true, fmt.Sprintf("breaker restarted after a failure: %v", reason)
		p.tryRestart(sup, ep)
	}
	p.wake = true // requests pinned to it are answered CircuitOpenError
	p.publishVia(sys.Root)
}

// tryRestart restarts ep's breaker once a restart is due and nothing is in
// flight on its keys (so no key actor is stopped under a running call). The
// new incarnation moves the circuit to HALF-OPEN.
func (p *Provider) tryRestart(sup actor.Supervisor, ep *endpointState) {
	if !ep.restartDue || ep.inflight > 0 {
		return
	}
	ep.restartDue = false
	ep.spawn++
	ep.ready = false
	ep.restarts++
	p.inits[ep.idx].Store(&breakerInit{spawn: ep.spawn, halfOpen: ep.halfOpen})
	sup.RestartChildren(ep.pid)
	p.env.Events.Publish(&messages.ActorRestarted{Time: p.now(), Actor: ep.pid.Id, Reason: ep.halfOpen})
}

// publish sends the dispatcher the provider's capacity when it changed.
func (p *Provider) publish() { p.publishVia(p.env.Root) }

func (p *Provider) publishVia(root *actor.RootContext) {
	now := p.now()
	c := capacity{provider: p.spec.Name, received: p.received}
	allOpen, allDisabled := true, true
	var earliest time.Time
	for _, ep := range p.endpoints {
		v := ep.circuit.View()
		if v.state == messages.Open {
			continue
		}
		allOpen = false
		if !ep.ready {
			allDisabled = false
			continue
		}
		slots := unlimited
		if v.state == messages.HalfOpen {
			slots = ep.probeSlots(v) - ep.probesIn(v.gen)
		}
		free := 0
		for _, k := range ep.keys {
			if k.disabled {
				continue
			}
			allDisabled = false
			if at, _ := k.availableAt(now); !at.IsZero() {
				if earliest.IsZero() || at.Before(earliest) {
					earliest = at
				}
				continue
			}
			free += max(0, k.maxInFlight()-k.inflight)
		}
		c.free += max(0, min(free, slots))
	}
	c.free = min(c.free, unlimited)
	switch {
	case allOpen || allDisabled:
		c.mode = capFailFast
	case c.free >= unlimitedThreshold:
		c.mode, c.free, c.received = capUnlimited, unlimitedThreshold, 0
	}
	if c.free == 0 && !earliest.IsZero() {
		c.retryAt = earliest
		if p.recheckAt.IsZero() || earliest.Before(p.recheckAt) {
			p.recheckGen++
			p.recheckAt = earliest
			gen, self := p.recheckGen, p.self
			p.env.Clock.AfterFunc(earliest.Sub(now), func() { root.Send(self, &recheck{gen: gen}) })
		}
	}
	wake := p.wake && p.pinsParked
	p.wake = false
	if wake {
		p.pinsParked = false
		c.wake = true
	}
	last := p.lastCap
	if !wake && last.seq != 0 && last.free+int(last.received) == c.free+int(c.received) && last.mode == c.mode && last.retryAt.Equal(c.retryAt) {
		return
	}
	p.capSeq++
	c.seq = p.capSeq
	p.lastCap = c
	msg := c
	root.Send(p.dispatcher, &msg)
}

func (p *Provider) hasKey(label string) bool {
	for _, ep := range p.endpoints {
		for _, k := range ep.keys {
			if k.label == label {
				return true
			}
		}
	}
	return false
}

func (p *Provider) endpointByName(name string) *endpointState {
	for _, ep := range p.endpoints {
		if ep.spec.Name == name {
			return ep
		}
	}
	return nil
}

func (p *Provider) snapshot() *messages.ProviderNode {
	now := p.now()
	n := &messages.ProviderNode{Name: p.spec.Name, Kind: p.spec.Adapter.Kind(), Counters: p.counters.Snapshot()}
	for _, ep := range p.endpoints {
		v := ep.circuit.View()
		en := messages.EndpointNode{Name: ep.spec.Name, BaseURL: ep.spec.BaseURL, State: v.state, ReopenAt: v.reopenAt,
			Trips: v.trips, TripsTotal: v.tripsTotal, Restarts: ep.restarts, Incarnations: ep.incarnations, Counters: ep.counters.Snapshot()}
		for _, k := range ep.keys {
			kn := messages.KeyNode{Label: k.label, Hint: k.spec.Cred.Hint(), State: messages.KeyStateActive, Counters: k.counters.Snapshot()}
			switch {
			case k.disabled:
				kn.State = messages.KeyStateDisabled
			case k.coolingUntil.After(now):
				kn.State, kn.CoolingUntil = messages.KeyStateCooling, k.coolingUntil
			}
			if rl := k.rateLimit.Load(); rl != nil {
				kn.RateLimit = *rl
			}
			en.Keys = append(en.Keys, kn)
		}
		n.Endpoints = append(n.Endpoints, en)
	}
	return n
}

// sanitize makes a name usable in an actor path.
func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '/' || r == '$' || r == ' ' {
			return '_'
		}
		return r
	}, s)
}

// GetNode is the message that asks a provider for its *messages.ProviderNode.
func GetNode() any { return &getNode{} }

var (
	_ actor.Actor              = (*Provider)(nil)
	_ actor.SupervisorStrategy = (*Provider)(nil)
)
