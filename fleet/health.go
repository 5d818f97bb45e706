package fleet

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
	"github.com/switchyard-ai/switchyard/messages"
)

// DefaultRewatch is how often a node tells each endpoint-health grain
// again that it watches it: a grain that re-activated on another member
// learns its watchers back, and a node that missed a push (partitioned)
// learns the state.
const DefaultRewatch = 5 * time.Second

// ErrHealthClosed answers the calls of a closed Health.
var ErrHealthClosed = errors.New("fleet: endpoint health closed")

// HealthView is what a node learns of an endpoint's fleet-wide circuit,
// from a push or an answer (messages.FleetHealthView, which the runtime's
// providers take as it is).
type HealthView = messages.FleetHealthView

// HealthClientOptions configures a node's Health. Cluster (or Call) is
// required; Agent should be set so that the grains can push.
type HealthClientOptions struct {
	// Self, when not nil, names this node and its agent actor at each
	// call, instead of Member and Agent (a node that rejoined its cluster
	// under a new identity).
	Self func() (member string, agent *actor.PID)
	// Cluster is the started member the calls go through.
	Cluster *cluster.Cluster
	// Call, when not nil, sends msg to the grain identity instead of
	// Cluster and returns its answer (tests). The wait is bounded by
	// CallTimeout whatever Call does.
	Call func(identity string, msg any, timeout time.Duration) (any, error)
	// Agent is this member's agent actor, named in every message so that
	// the grains push transitions to it (see Health.Push).
	Agent *actor.PID
	// Member names this node (default: the cluster address).
	Member string
	// Clock drives the re-watch; nil is the wall clock.
	Clock clock.Clock
	// CallTimeout bounds every call, in wall-clock time (default
	// DefaultCallTimeout).
	CallTimeout time.Duration
	// Rewatch is how often every watcher is registered again (default
	// DefaultRewatch; negative: never).
	Rewatch time.Duration
}

// HealthClientStats are a node's endpoint-health figures. Fields are
// atomics, safe to read at any time.
type HealthClientStats struct {
	// Calls counts calls to grains; Failures those that failed or timed
	// out (the node then judges on its own breaker).
	Calls, Failures atomic.Int64
	// Pushes counts transitions delivered to watchers (pushes and answers
	// that told something new).
	Pushes atomic.Int64
}

// Health is a node's side of the fleet's endpoint health: one
// HealthWatcher per endpoint, calls bounded by CallTimeout that never
// block their caller (each runs on a goroutine and answers through a
// callback), and the pushes of the grains. It is safe for concurrent use.
type Health struct {
	o     HealthClientOptions
	stats HealthClientStats
	wg    sync.WaitGroup

	mu       sync.Mutex
	watchers map[string][]*HealthWatcher
	timer    clock.Timer
	closed   bool
}

// NewHealth returns a node's Health. Pushes reach it through Push.
func NewHealth(o HealthClientOptions) *Health {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.Rewatch == 0 {
		o.Rewatch = DefaultRewatch
	}
	if o.Call == nil {
		o.Call = clusterCall(o.Cluster, HealthKind)
	}
	if o.Member == "" && o.Cluster != nil {
		o.Member = o.Cluster.ActorSystem.Address()
	}
	h := &Health{o: o, watchers: map[string][]*HealthWatcher{}}
	if o.Rewatch > 0 {
		h.timer = o.Clock.AfterFunc(o.Rewatch, h.rewatch)
	}
	return h
}

// Stats returns the node's endpoint-health figures.
func (h *Health) Stats() *HealthClientStats { return &h.stats }

// Watch returns the watcher of provider's endpoint, whose HALF-OPEN probe
// count is probes (K), and registers it with the grain in the background.
// push is called, from any goroutine and never concurrently for one
// watcher, with each transition this node learns (OPEN, HALF-OPEN for a
// round it missed, CLOSED); it must not block.
func (h *Health) Watch(provider, endpoint string, probes int, push func(HealthView)) *HealthWatcher {
	w := &HealthWatcher{h: h, identity: HealthIdentity(provider, endpoint), probes: max(probes, 1), push: push}
	h.mu.Lock()
	h.watchers[w.identity] = append(h.watchers[w.identity], w)
	h.mu.Unlock()
	w.watch()
	return w
}

// Push delivers a grain's push to the watchers of its endpoint. The
// node's agent calls it; it does not block.
func (h *Health) Push(m *fleetpb.HealthPush) {
	h.mu.Lock()
	ws := h.watchers[m.Identity]
	h.mu.Unlock()
	for _, w := range ws {
		w.deliver(&fleetpb.HealthView{Activation: m.Activation, Round: m.Round, State: m.State, CooldownNs: m.CooldownNs, Reason: m.Reason})
	}
}

// rewatch registers every watcher again and re-arms itself.
func (h *Health) rewatch() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	var ws []*HealthWatcher
	for _, l := range h.watchers {
		ws = append(ws, l...)
	}
	h.timer = h.o.Clock.AfterFunc(h.o.Rewatch, h.rewatch)
	h.mu.Unlock()
	for _, w := range ws {
		w.watch()
	}
}

// Close stops the re-watch and waits for the calls in flight (each at most
// CallTimeout); later calls answer ErrHealthClosed.
func (h *Health) Close() {
	h.mu.Lock()
	h.closed = true
	if h.timer != nil {
		h.timer.Stop()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

// call sends msg to the grain identity on a goroutine and hands its answer
// (or an error, at the latest after CallTimeout) to answer, once. A call
// that outlives the wait finishes in the background; its answer is
// dropped.
func (h *Health) call(identity string, msg any, answer func(*fleetpb.HealthView, error)) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		answer(nil, ErrHealthClosed)
		return
	}
	h.wg.Add(2)
	h.mu.Unlock()
	h.stats.Calls.Add(1)
	go func() {
		defer h.wg.Done()
		res, timedOut, err := boundedCall(&h.wg, h.o.CallTimeout, func() (any, error) { return h.o.Call(identity, msg, h.o.CallTimeout) }, nil)
		if timedOut {
			err = fmt.Errorf("fleet: endpoint-health grain %q did not answer within %s", identity, h.o.CallTimeout)
		}
		v, ok := res.(*fleetpb.HealthView)
		if err == nil && !ok {
			err = fmt.Errorf("fleet: unexpected answer %T from the endpoint-health grain", res)
		}
		if err != nil {
			h.stats.Failures.Add(1)
			answer(nil, err)
			return
		}
		answer(v, nil)
	}()
}

// HealthWatcher is one node's view of one endpoint's fleet-wide circuit:
// it reports the node's trips and probe outcomes, asks for probe slots,
// and delivers what it learns of the endpoint's transitions. Its methods
// return at once; answers come through callbacks, within CallTimeout. It
// is safe for concurrent use.
type HealthWatcher struct {
	h        *Health
	identity string
	probes   int
	push     func(HealthView)

	mu         sync.Mutex
	activation string
	round      uint64
	// grantRound is the round of the latest slots granted.
	grantRound uint64
}

// Identity returns the endpoint's grain identity.
func (w *HealthWatcher) Identity() string { return w.identity }

func (w *HealthWatcher) watcher() *fleetpb.Watcher {
	me, agent := w.h.whoAmI()
	pw := &fleetpb.Watcher{Member: me}
	pw.AgentAddress, pw.AgentId = agentRef(agent)
	return pw
}

// watch registers the watcher with the grain; a state it did not know yet
// is pushed.
func (w *HealthWatcher) watch() {
	w.h.call(w.identity, &fleetpb.HealthWatch{Watcher: w.watcher()}, func(v *fleetpb.HealthView, err error) {
		if err == nil {
			w.deliver(v)
		}
	})
}

// Trip tells the fleet that this node's breaker tripped and stays open for
// cooldown; answer (nil: none) gets the grain's view.
func (w *HealthWatcher) Trip(cooldown time.Duration, reason string, answer func(HealthView, error)) {
	msg := &fleetpb.HealthTrip{Watcher: w.watcher(), CooldownNs: int64(cooldown), Reason: reason, Probes: int32(w.probes)}
	w.h.call(w.identity, msg, w.answerer(answer))
}

// AskProbes asks for up to n probe slots of the current round; answer gets
// the grain's view, whose Granted is the slots this node holds now.
func (w *HealthWatcher) AskProbes(n int, answer func(HealthView, error)) {
	msg := &fleetpb.ProbeAsk{Watcher: w.watcher(), Want: int32(n), Probes: int32(w.probes)}
	w.h.call(w.identity, msg, func(v *fleetpb.HealthView, err error) {
		if err == nil && v.Granted > 0 {
			w.mu.Lock()
			w.grantRound = v.Round
			w.mu.Unlock()
		}
		w.answerer(answer)(v, err)
	})
}

// ProbeDone reports the outcome of a probe sent with a slot of the latest
// grant: a success counts towards closing the endpoint; false gives the
// slot back (the probe proved nothing). A failed probe is reported as a
// Trip.
func (w *HealthWatcher) ProbeDone(success bool) {
	w.mu.Lock()
	round := w.grantRound
	w.mu.Unlock()
	if round == 0 {
		return // no slot was ever granted: a probe on the node's own rules
	}
	w.h.call(w.identity, &fleetpb.ProbeDone{Watcher: w.watcher(), Round: round, Success: success}, func(v *fleetpb.HealthView, err error) {
		if err == nil {
			w.deliver(v)
		}
	})
}

// answerer returns the callback that hands an answer's view to answer.
func (w *HealthWatcher) answerer(answer func(HealthView, error)) func(*fleetpb.HealthView, error) {
	return func(v *fleetpb.HealthView, err error) {
		switch {
		case answer == nil:
		case err != nil:
			answer(HealthView{}, err)
		default:
			answer(toView(v), nil)
		}
	}
}

// deliver pushes v when it tells of a transition not pushed yet (another
// activation, or a later round): each transition is pushed once, whether
// the grain pushed it or an answer told it, and never after a later one.
// Answers to Trip and AskProbes go to their callers instead and are
// pushed too when the grain's own push comes. A watcher's pushes are
// serialised by its mutex.
func (w *HealthWatcher) deliver(v *fleetpb.HealthView) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if v.Activation == w.activation && v.Round <= w.round {
		return
	}
	w.activation, w.round = v.Activation, v.Round
	// Round 0 is a grain that never saw a trip: nothing to tell.
	if w.push != nil && v.Round > 0 {
		w.h.stats.Pushes.Add(1)
		w.push(toView(v))
	}
}

func toView(v *fleetpb.HealthView) HealthView {
	out := HealthView{Activation: v.Activation, Round: v.Round, Cooldown: time.Duration(v.CooldownNs),
		Granted: int(v.Granted), RetryIn: time.Duration(v.RetryInNs), Reason: v.Reason}
	switch v.State {
	case fleetpb.HealthState_HEALTH_OPEN:
		out.State = messages.Open
	case fleetpb.HealthState_HEALTH_HALF_OPEN:
		out.State = messages.HalfOpen
	default:
		out.State = messages.Closed
	}
	return out
}

// member names this node and agent is its agent actor (see Self).
// whoAmI is this node's member name and agent, read once per message so
// both come from the same incarnation.
func (h *Health) whoAmI() (string, *actor.PID) { return self(h.o.Self, h.o.Member, h.o.Agent) }
