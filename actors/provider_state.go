package actors

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/time/rate"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
)

// unlimited stands for "no cap" in slot arithmetic.
const unlimited = 1 << 20

// providerState is a provider's durable state. The Props producer holds it,
// so a restart of the provider actor keeps routing state, cooldowns, trip
// counts, key health and counters. Only the provider actor mutates it;
// counters are atomics and may be read anywhere.
type providerState struct {
	spec      ProviderSpec
	env       *Env
	clk       messageClock // the time of the message being handled
	counters  *Counters
	endpoints []*endpointState
	calls     map[uint64]callRecord // by value: one allocation fewer per call
	nextCall  uint64
	received  uint64
	capSeq    uint64
	lastCap   capacity
	// pinsParked: a request pinned to a key or endpoint was bounced and
	// waits parked in the dispatcher; wake: something changed that may let
	// it through (a call ended, a breaker or key changed state), so the next
	// capacity report goes out even if the totals look the same.
	pinsParked, wake bool
	recheckGen       uint64
	recheckAt        time.Time
	dispatcher       *actor.PID
	self             *actor.PID
	// fleetSelf is self for the fleet's callbacks (other goroutines);
	// fleetPending coalesces their fleetChanged messages.
	fleetSelf    atomic.Pointer[actor.PID]
	fleetPending atomic.Bool
	incarnation  int
}

// callRecord is one attempt in flight.
type callRecord struct {
	d   *dispatch
	ep  *endpointState
	key *keyState
}

// endpointState is one endpoint's durable routing and supervision state.
// Its breaker state is not here: the endpoint's Breaker actor owns the
// circuit, and the provider only reads its view (circuit.View).
type endpointState struct {
	idx     int
	spec    *EndpointSpec
	circuit *circuit
	pid     *actor.PID
	// spawn tags the breaker's current incarnation (breakerInit.spawn);
	// ready is set once that incarnation reported its keys spawned.
	spawn uint64
	ready bool
	// restarts counts supervised restarts of the breaker; incarnations
	// counts breakerReady messages: breaker instances that really started.
	restarts     int
	incarnations int
	// probeGen and probesSent count the HALF-OPEN probes routed in circuit
	// generation probeGen.
	probeGen   uint64
	probesSent int
	inflight   int
	// cooldownGen tags the cooldown timer armed at the latest trip.
	cooldownGen uint64
	// restartDue is set once the breaker must be restarted (its cooldown
	// elapsed, or it panicked); the restart waits until nothing is in
	// flight on the endpoint's keys, and the new incarnation enters
	// HALF-OPEN for halfOpen.
	restartDue bool
	halfOpen   string
	counters   *Counters
	keys       []*keyState
	rr         int
	rrWeights  []int

	// fleet, in fleet mode, is the endpoint's fleet circuit (FleetHealth);
	// nil otherwise.
	fleet *fleetEndpoint
}

// keyState is one key's durable state.
type keyState struct {
	idx          int
	spec         KeySpec
	label        string
	pid          *actor.PID
	inflight     int
	coolingUntil time.Time
	disabled     bool
	rpm, tpm     *rate.Limiter
	// budget, in fleet mode, replaces rpm and tpm with the key's share of
	// the fleet-wide budget, and carries cooldowns and disables to and from
	// the other members; nil keeps the key on its local limiters.
	budget    KeyBudget
	counters  *Counters
	rateLimit atomic.Pointer[messages.RateLimit]
}

func newProviderState(spec ProviderSpec, env *Env, counters *Counters) *providerState {
	st := &providerState{spec: spec, env: env, counters: counters, calls: map[uint64]callRecord{}}
	clk, events := clock.Real, (*EventBus)(nil) // a nil env: the routing state alone, in tests
	if env != nil {
		clk, events = env.Clock, env.Events
	}
	for i := range spec.Endpoints {
		es := &spec.Endpoints[i]
		ep := &endpointState{idx: i, spec: es, counters: &Counters{},
			circuit: newCircuit(spec.Breaker, spec.Cooldown, clk, events, spec.Name, es.Name)}
		for j, ks := range es.Keys {
			k := &keyState{idx: j, spec: ks, label: ks.Cred.Label(), counters: &Counters{}}
			if env != nil && env.FleetKeys != nil {
				k.budget = env.FleetKeys.KeyBudget(spec.Name, es.Name, k.label, KeyLimits{RPM: ks.RPM, TPM: ks.TPM, MaxInFlight: ks.MaxInFlight}, st.fleetChanged)
			}
			// The fleet's budget replaces the local limiters.
			if k.budget == nil && ks.RPM > 0 {
				k.rpm = rate.NewLimiter(rate.Limit(float64(ks.RPM)/60), ks.RPM)
			}
			if k.budget == nil && ks.TPM > 0 {
				k.tpm = rate.NewLimiter(rate.Limit(float64(ks.TPM)/60), ks.TPM)
			}
			ep.keys = append(ep.keys, k)
		}
		ep.rrWeights = make([]int, len(ep.keys))
		st.endpoints = append(st.endpoints, ep)
	}
	return st
}

// group returns the labels of the endpoint's keys in the group of the key
// labelled label (that key alone when its group is empty), or nil when the
// endpoint has no such key.
func (ep *endpointState) group(label string) []string {
	var group string
	found := false
	for _, k := range ep.keys {
		if k.label == label {
			group, found = k.spec.Group, true
			break
		}
	}
	if !found {
		return nil
	}
	if group == "" {
		return []string{label}
	}
	var keys []string
	for _, k := range ep.keys {
		if k.spec.Group == group {
			keys = append(keys, k.label)
		}
	}
	return keys
}

// maxInFlight returns the key's cap, unlimited when none is set.
func (k *keyState) maxInFlight() int {
	if k.spec.MaxInFlight <= 0 {
		return unlimited
	}
	return k.spec.MaxInFlight
}

// availableAt returns when the key can take a call, the zero time if now,
// and false if it never will (disabled).
func (k *keyState) availableAt(now time.Time) (time.Time, bool) {
	if k.disabled {
		return time.Time{}, false
	}
	var at time.Time
	if k.coolingUntil.After(now) {
		at = k.coolingUntil
	}
	if k.budget != nil {
		t, _, ok := k.budget.Available(now)
		if !ok {
			return time.Time{}, false
		}
		if t.After(at) {
			at = t
		}
	}
	if k.rpm != nil && k.rpm.TokensAt(now) < 1 {
		if t := now.Add(tokenWait(k.rpm, now, 1)); t.After(at) {
			at = t
		}
	}
	if k.tpm != nil && k.tpm.TokensAt(now) < 1 {
		if t := now.Add(tokenWait(k.tpm, now, 1)); t.After(at) {
			at = t
		}
	}
	return at, true
}

// fleetChanged tells the provider, from any goroutine, that a key's fleet
// budget changed (a refill landed, another member's cooldown or disable
// arrived). Messages coalesce: one is in the mailbox at a time.
func (st *providerState) fleetChanged() {
	pid := st.fleetSelf.Load()
	if pid == nil || st.env == nil || !st.fleetPending.CompareAndSwap(false, true) {
		return
	}
	st.env.Root.Send(pid, &fleetChanged{})
}

func tokenWait(l *rate.Limiter, now time.Time, need float64) time.Duration {
	missing := need - l.TokensAt(now)
	if missing <= 0 || l.Limit() <= 0 {
		return 0
	}
	return time.Duration(math.Ceil(missing / float64(l.Limit()) * float64(time.Second)))
}

// headroom is the fraction of the upstream's request window left, 1 when
// unknown.
func (k *keyState) headroom() float64 {
	rl := k.rateLimit.Load()
	if rl == nil || !rl.Known {
		return 1
	}
	h := 1.0
	if rl.LimitRequests > 0 && rl.RemainingRequests >= 0 {
		h = float64(rl.RemainingRequests) / float64(rl.LimitRequests)
	}
	if rl.LimitTokens > 0 && rl.RemainingTokens >= 0 {
		if t := float64(rl.RemainingTokens) / float64(rl.LimitTokens); t < h {
			h = t
		}
	}
	return h
}

// probesIn returns how many probes were routed in circuit generation gen.
func (ep *endpointState) probesIn(gen uint64) int {
	if ep.probeGen != gen {
		return 0
	}
	return ep.probesSent
}

// admits reports whether the endpoint lets a new call through now, by its
// circuit's view v, and whether that call is a HALF-OPEN probe.
func (ep *endpointState) admits(v circuitView) (ok, probe bool) {
	if !ep.ready {
		return false, false
	}
	switch v.state {
	case messages.Closed:
		return true, false
	case messages.HalfOpen:
		return ep.probesIn(v.gen) < ep.probeSlots(v), true
	}
	return false, false
}

// now is the time of the message being handled (one clock read per
// message).
func (p *providerState) now() time.Time { return p.clk.now(p.env.Clock) }
