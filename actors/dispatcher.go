package actors

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// DispatcherConfig configures the dispatcher.
type DispatcherConfig struct {
	Queue QueueConfig
	Retry RetryConfig
	// Providers maps each provider name to its adapter (for the admission
	// check) and counters (for retries).
	Providers map[string]ProviderHandle
}

// ProviderHandle is what the dispatcher knows of a provider before it is
// attached.
type ProviderHandle struct {
	Adapter  providers.Adapter
	Counters *Counters
	// Batching configures the provider's batching windows; they apply only
	// when the adapter is a providers.Batcher.
	Batching BatchPolicy
	// Batcher is the adapter's providers.Batcher, if it is one (set by
	// NewDispatcherProducer).
	Batcher providers.Batcher
	// Affinity configures the provider's key affinity (on by default): the
	// dispatcher remembers the endpoint and key that created each stored
	// object and sends the requests that name it there.
	Affinity AffinityConfig
}

// AttachProviders gives the dispatcher the provider PIDs; until it arrives
// requests are admitted and queued but not sent.
type AttachProviders struct {
	PIDs map[string]*actor.PID
}

type entryState uint8

// The states of an entry. An entry is in exactly one at a time, and only
// setState moves it: that keeps every count that depends on the state.
//
//	state          where the entry is                      what it counts in
//	stateQueued    its provider's level fifo (inQueue)      depth (its weight)
//	stateWindowed  its batching window (win.members)        depth (1 at its level)
//	stateBatched   a member of batch entry e.batch          depth through the batch's weight while the batch is queued
//	stateInFlight  an attempt with its provider             its provider's inflight
//	stateBackoff   waiting for its backoff timer            backoffN
//	stateParked    its provider's parked list               (QueueStatus.Parked, by scan)
//	stateDone      nowhere: answered, or a dropped batch    nothing; it has left d.entries
//
// A new entry has state 0 (nowhere, counted nowhere) until placed.
const (
	stateQueued entryState = iota + 1
	stateInFlight
	stateBackoff
	stateParked
	stateDone
	// stateWindowed: waiting in a batching window.
	stateWindowed
	// stateBatched: part of a batch entry (queued, parked or in flight).
	stateBatched
)

// entry is one admitted request, owned by the dispatcher.
type entry struct {
	id       string
	req      messages.Request
	call     *messages.Call
	p        *provQueue
	level    int
	state    entryState
	inQueue  *fifo
	replyCh  chan<- any
	replyPID *actor.PID
	// ctx is the caller's context, bounded by the request's own deadline
	// when it has one (then cancel releases that deadline's timer; nil
	// otherwise). It ends only by the caller's hand or that deadline.
	ctx    context.Context
	cancel context.CancelFunc
	// stopAttempt cancels the context of the attempt in flight or last
	// sent (derived from ctx at each dispatch), so ending the request or
	// sending another attempt ends it; nil before the first dispatch.
	stopAttempt context.CancelFunc
	emit        func(*messages.StreamChunk) bool
	// fence, for a stream sent as a bare request by an actor, keeps chunks
	// from following the terminal answer (see streamFence).
	fence *streamFence
	// audited: the caller's answer is reported to Env.Audit (not for the
	// runtime's own requests, Submit.Internal).
	audited bool
	// tr is the request's trace (tracing on): its span, or a batch call's.
	tr *reqTrace
	// runner is the caller's CallerRuns until the first dispatch.
	runner   *CallerRuns
	admitted time.Time
	// enqueued is when the request first started waiting (its first queue
	// or window); it survives requeues, so aging and shedding see the
	// request's age. A batch's is its oldest member's.
	enqueued time.Time
	deadline time.Time
	attempt  int
	// sent counts the attempts handed to the provider (alone or in a
	// batch); attempt may be one ahead while a retry waits.
	sent     int
	avoidKey string
	// pin, for a request that names a stored object the provider's
	// affinity table remembers, is where the object is visible; resolved at
	// admission.
	pin *affinityPin
	// exempt: the level's capacity does not bound this request while it
	// waits, because it was sent before (a retry, a bounced or woken
	// request) or was admitted before its level's capacity was lowered.
	// Capacity bounds admissions; an admitted request is never dropped to
	// honour it.
	exempt bool
	// notBefore is when the upstream said the request's key may be tried
	// again (now + Retry-After of its last 429), zero if unknown; parks
	// counts the times in a row its provider bounced it while it is pinned.
	// Together they time the wake of a parked request.
	notBefore time.Time
	parks     int
	// waitFrom is when the entry last entered a queue; queuedFor sums its
	// waits.
	waitFrom                    time.Time
	queuedFor                   time.Duration
	timerGen                    uint64
	deadlineTimer, backoffTimer interface{ Stop() bool }

	// Batching. A request that may be batched has its window (win) and its
	// size (inputs, tokens); while it waits for a batch's call, batch is
	// that batch. A batch entry has a group; it answers nobody itself.
	win            *window
	inputs, tokens int32
	batch          *entry
	group          *batchGroup
}

// batchGroup is what a batch entry holds beyond an entry: its members, and
// the count per level of those still waiting for it (the queue depth it
// stands for while queued).
type batchGroup struct {
	members []*entry
	weight  [3]int
}

// weight is the number of requests e stands for at each level: one at its
// own level, or a batch's waiting members.
func (e *entry) weight() [3]int {
	if e.group != nil {
		return e.group.weight
	}
	var w [3]int
	w[e.level] = 1
	return w
}

// count adds sign times e's contribution in its current state to the
// counts that state keeps (see the state table). Only setState and
// leaveBatch call it.
func (d *Dispatcher) count(e *entry, sign int) {
	switch e.state {
	case stateQueued, stateWindowed:
		for lvl, n := range e.weight() {
			e.p.depth[lvl] += sign * n
			d.depth[lvl] += sign * n
		}
	case stateInFlight:
		e.p.inflight += sign
	case stateBackoff:
		d.backoffN += sign
	}
}

// setState is the only place an entry changes state. It takes e out of
// where its old state kept it (a queue slot becomes a tombstone; a window
// or the parked list lets it go; a batch counts one member fewer and is
// dropped when none is left; a backoff timer stops), moves every count,
// and on stateDone stops e's timers, cancels its context and forgets it.
// Putting e where the new state keeps it (a queue position, a window, a
// batch, the parked list) is the caller's next step: see enqueue,
// joinWindow, newBatch, park.
func (d *Dispatcher) setState(e *entry, to entryState) {
	pending := pendingCall(e)
	d.count(e, -1)
	switch e.state {
	case stateQueued:
		e.inQueue = nil // a tombstone in its fifo until it reaches the front
	case stateWindowed:
		d.leaveWindow(e)
	case stateBatched:
		d.leaveBatch(e)
	case stateBackoff:
		if e.backoffTimer != nil {
			e.backoffTimer.Stop()
			e.backoffTimer = nil
		}
	case stateParked:
		if i := slices.Index(e.p.parked, e); i >= 0 {
			e.p.parked = slices.Delete(e.p.parked, i, i+1)
		}
	}
	e.state = to
	d.count(e, 1)
	d.movePendingCall(e, pending)
	if to == stateDone {
		d.env.Tracer.entryDone(e)
		delete(d.entries, e.id)
		if e.deadlineTimer != nil {
			e.deadlineTimer.Stop()
		}
		if e.stopAttempt != nil {
			e.stopAttempt()
		}
		if e.cancel != nil {
			e.cancel()
		}
	}
}

// leaveBatch takes member e out of its batch; a batch left without a
// waiting member is dropped (unqueued if it waits; if its call runs, its
// report finds no entry and is ignored).
func (d *Dispatcher) leaveBatch(e *entry) {
	b := e.batch
	if b == nil {
		return
	}
	e.batch = nil
	d.count(b, -1)
	b.group.weight[e.level]--
	d.count(b, 1)
	if b.state != stateDone && b.group.weight == [3]int{} {
		d.setState(b, stateDone)
	}
}

// provQueue is one provider's three levels plus the dispatcher's view of its
// capacity.
type provQueue struct {
	name   string
	pid    *actor.PID
	handle ProviderHandle
	levels [3]fifo
	// depth counts the provider's requests waiting to be sent, per level:
	// queued, in a window, or members of a queued batch.
	depth [3]int
	// parked are pinned requests the provider bounced, oldest first; they
	// are requeued together when the provider reports that capacity may
	// have changed, or when wakeTimer fires at wakeAt.
	parked    []*entry
	wakeAt    time.Time
	wakeGen   uint64
	wakeTimer interface{ Stop() bool }
	free      int
	received  uint64
	sent      uint64
	mode      capacityMode
	capSeq    uint64
	retryAt   time.Time
	// inflight counts the provider's attempts in flight (a batch is one).
	inflight int
	// affinity remembers where the provider's stored objects were created;
	// nil when key affinity is off.
	affinity *affinityTable
}

func (p *provQueue) credits() int {
	if p.mode == capFailFast || p.mode == capUnlimited {
		return 1 << 30
	}
	return p.free - int(p.sent-p.received)
}

func (p *provQueue) queued() int { return p.depth[0] + p.depth[1] + p.depth[2] }

type dispatcherTimerKind uint8

const (
	timerDeadline dispatcherTimerKind = iota
	timerBackoff
)

type dispatcherTimer struct {
	id   string
	gen  uint64
	kind dispatcherTimerKind
}

// parkWake is a provider's wake timer for its parked requests.
type parkWake struct {
	provider string
	gen      uint64
}

// dispatcherState survives a restart of the dispatcher actor (it is held by
// the Props producer), so a bug that crashes the dispatcher loses no request.
//
// What the counts mean (QueueStatus shows them):
//   - depth[l]: requests of level l waiting to be sent (queued, in a
//     window, or members of a queued batch). It may exceed capacity[l] only
//     by exempt requests (see entry.exempt): retries, bounced and woken
//     requests, and those admitted before the capacity was lowered.
//   - admitted[l]: requests of level l that passed admission; every one is
//     answered once, so sum(admitted) = answered + requests in d.entries.
//   - rejected[l]: requests of level l answered ErrQueueFull, whether
//     refused at admission or shed for a HIGH request (those were admitted
//     too). Each has exactly one RequestRejected event.
//   - expired[l]: requests answered ErrDeadline before they were sent.
//   - backoffN and each provider's inflight count attempts (a batch is
//     one): entries waiting for a retry timer, and attempts with the
//     provider.
type dispatcherState struct {
	cfg     DispatcherConfig
	env     *Env
	clk     messageClock // the time of the message being handled
	entries map[string]*entry
	provs   map[string]*provQueue
	windows map[string]*window
	// windowStats outlive their windows: one per provider, pinned
	// endpoint, operation and model.
	windowStats map[string]*windowStats
	capacity    [3]int
	depth       [3]int
	admitted    [3]uint64
	answered    uint64
	rejected    [3]uint64
	expired     [3]uint64
	wait        [3]Histogram
	budget      *retryBudget
	attached    bool
	shutdown    bool
	drained     chan struct{}
	backoffN    int
	timerSeq    uint64
	self        *actor.PID
	// invariants, when set, receives a violation of the bookkeeping found
	// after a message (see CheckInvariants).
	invariants func(error)
	// shapeCalls counts, per window key, the calls of that shape that left
	// their window and have not ended (see movePendingCall); adaptive
	// windows gather while it is above zero.
	shapeCalls map[string]int
}

// Dispatcher is the admission and queueing actor. It is not safe for
// concurrent use outside protoactor.
type Dispatcher struct {
	*dispatcherState
}

// NewDispatcherProducer returns a Props producer whose instances share one
// durable state.
func NewDispatcherProducer(cfg DispatcherConfig, env *Env) actor.Producer {
	cfg.Retry = cfg.Retry.withDefaults()
	st := &dispatcherState{cfg: cfg, env: env, entries: map[string]*entry{}, provs: map[string]*provQueue{}, windows: map[string]*window{}, windowStats: map[string]*windowStats{}}
	for i := range st.capacity {
		st.capacity[i] = cfg.Queue.Capacity[i]
		if st.capacity[i] <= 0 {
			st.capacity[i] = DefaultQueueCapacity
		}
	}
	if st.cfg.Queue.AgingAfter == 0 {
		st.cfg.Queue.AgingAfter = DefaultAgingAfter
	}
	for name, h := range cfg.Providers {
		if b, ok := h.Adapter.(providers.Batcher); ok && h.Batcher == nil {
			h.Batcher = b
		}
		p := &provQueue{name: name, handle: h}
		if !h.Affinity.Disabled {
			a := h.Affinity.withDefaults()
			p.affinity = newAffinityTable(a.MaxEntries, a.TTL)
		}
		st.provs[name] = p
	}
	st.budget = newRetryBudget(cfg.Retry, env.Clock.Now())
	return func() actor.Actor { return &Dispatcher{st} }
}

// Receive handles one message.
func (d *Dispatcher) Receive(ctx actor.Context) {
	d.clk.begin()
	defer d.clk.end()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d.self = ctx.Self()
	case *Submit:
		d.admit(ctx, m.Req, m.Ctx, m.Reply, m.ReplyPID, m.Emit, nil, !m.Internal, m.trace, m.Runner)
	case messages.Request:
		sender := ctx.Sender()
		if sender == nil {
			dropUnanswerable(d.env, m, "no reply address: send requests with ctx.Request (or RequestWithCustomSender), not ctx.Send")
			return
		}
		var emit func(*messages.StreamChunk) bool
		var fence *streamFence
		if sr, ok := m.(messages.StreamingRequest); ok && sr.Streaming() {
			root := ctx.ActorSystem().Root
			fence = &streamFence{}
			emit = func(c *messages.StreamChunk) bool { return fence.send(func() { root.Send(sender, c) }) }
		}
		d.admit(ctx, m, nil, nil, sender, emit, fence, true, nil, nil)
	case *messages.Cancel:
		d.cancelRequest(ctx, m)
	case *messages.GetQueueStatus:
		ctx.Respond(d.status())
	case *messages.SetQueueCapacity:
		if m.Priority.Valid() && m.Capacity > 0 {
			d.setCapacity(m.Priority.Index(), m.Capacity)
		}
		if ctx.Sender() != nil {
			ctx.Respond(d.status())
		}
	case *AttachProviders:
		for name, pid := range m.PIDs {
			if p := d.provs[name]; p != nil {
				p.pid = pid
			}
		}
		d.attached = true
		for _, p := range d.provs {
			d.pump(ctx, p)
		}
	case *capacity:
		d.onCapacity(ctx, m)
	case *attemptDone:
		d.onAttemptDone(ctx, m)
	case *dispatcherTimer:
		d.onTimer(ctx, m)
	case *parkWake:
		if p := d.provs[m.provider]; p != nil && m.gen == p.wakeGen {
			p.wakeAt, p.wakeTimer = time.Time{}, nil
			d.unpark(ctx, p)
			d.pump(ctx, p)
		}
	case *windowTimer:
		d.onWindowTimer(ctx, m)
	case *Shutdown:
		d.beginShutdown(ctx, m.Drained)
	case *Abort:
		d.abort(ctx)
		close(m.Done)
	case *CheckInvariants:
		d.invariants = m.Report
		if ctx.Sender() != nil {
			ctx.Respond(m)
		}
	case *actor.Stopping:
		d.abort(ctx)
	}
	if d.invariants != nil {
		err := d.checkInvariants()
		if err == nil {
			err = d.checkShapeCalls()
		}
		if err != nil {
			report := d.invariants
			d.invariants = nil // one report: later messages would repeat it
			report(fmt.Errorf("after %T: %w", ctx.Message(), err))
		}
	}
}

// now is the time of the message being handled (one clock read per
// message).
func (d *Dispatcher) now() time.Time { return d.clk.now(d.env.Clock) }

// streamFence keeps a stream's chunks from following its terminal answer
// when the chunks are sent as messages from the call's goroutine while the
// dispatcher sends the answer: send delivers a chunk only while the fence
// is open, and close (before the answer is sent) waits for a delivery in
// progress. The delivery must not block (an actor send does not). Safe for
// concurrent use.
type streamFence struct {
	mu     sync.Mutex
	closed bool
}

// send runs deliver unless the fence is closed, and reports whether it ran.
func (f *streamFence) send(deliver func()) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	deliver()
	return true
}

func (f *streamFence) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

func (d *Dispatcher) reply(ctx actor.Context, ch chan<- any, pid *actor.PID, msg any) {
	switch {
	case ch != nil:
		select {
		case ch <- msg:
		default:
			d.env.Log.Error("switchyard: reply channel full; answer dropped")
		}
	case pid != nil:
		ctx.Send(pid, msg)
	}
}

func (d *Dispatcher) admit(ctx actor.Context, req messages.Request, cctx context.Context, ch chan<- any, pid *actor.PID, emit func(*messages.StreamChunk) bool, fence *streamFence, audited bool, tr *reqTrace, runner *CallerRuns) {
	call := req.CallInfo()
	if call.RequestID == "" {
		call.RequestID = messages.NewRequestID()
	}
	id := call.RequestID
	fail := func(err error) {
		answer := &messages.Failure{RequestID: id, Err: err}
		if audited {
			d.env.audit(req, answer, d.now(), 0)
		}
		d.env.Tracer.refused(d, req, cctx, tr, answer)
		d.reply(ctx, ch, pid, answer)
	}
	if d.shutdown {
		fail(&messages.RequestError{RequestID: id, Provider: call.Provider, Kind: messages.ErrShuttingDown})
		return
	}
	if !call.Priority.Valid() {
		fail(&messages.RequestError{RequestID: id, Provider: call.Provider, Kind: messages.ErrInvalidRequest, Detail: "priority must be High, Normal or Low"})
		return
	}
	p := d.provs[call.Provider]
	if p == nil {
		fail(&messages.RequestError{RequestID: id, Provider: call.Provider, Kind: messages.ErrUnknownProvider, Detail: "no provider named " + quote(call.Provider)})
		return
	}
	if err := p.handle.Adapter.Check(req); err != nil {
		fail(err)
		return
	}
	if _, dup := d.entries[id]; dup {
		fail(&messages.RequestError{RequestID: id, Provider: call.Provider, Kind: messages.ErrInvalidRequest, Detail: "a request with this ID is already in progress"})
		return
	}
	now := d.now()
	lvl := call.Priority.Index()
	e := &entry{id: id, req: req, call: call, p: p, level: lvl, replyCh: ch, replyPID: pid, emit: emit, fence: fence,
		admitted: now, attempt: 1, audited: audited, runner: runner}
	if p.affinity != nil {
		e.pin = p.affinity.resolve(req, now, p.handle.Affinity.NoWait)
	}
	e.win = d.windowFor(e)
	// The level's capacity bounds waiting requests (depth). A request the
	// provider can take at once need not wait, so a full level does not
	// refuse it (a full queue for a saturated provider must not block an
	// idle one): it is sent alone at once rather than wait in a batching
	// window.
	if d.depth[lvl] >= d.capacity[lvl] {
		switch {
		case d.attached && p.pid != nil && p.queued() == 0 && p.credits() > 0:
			e.win = nil
		case !d.shedFor(ctx, lvl):
			d.reject(id, call.Provider, lvl, "queue full")
			fail(&messages.QueueFullError{RequestID: id, Priority: call.Priority, Depth: d.depth[lvl], Capacity: d.capacity[lvl]})
			return
		}
	}
	if cctx == nil {
		cctx = context.Background()
	}
	own, deadline := requestDeadlines(d.env.Clock, call, cctx, now)
	if !own.IsZero() {
		e.ctx, e.cancel = clock.WithDeadline(d.env.Clock, cctx, own)
	} else {
		// No context of its own: the attempts derive theirs from the
		// caller's, and the dispatcher ends them through stopAttempt.
		e.ctx = cctx
	}
	e.deadline = deadline
	d.env.Tracer.admitted(d, e, cctx, tr)
	d.entries[id] = e
	d.admitted[lvl]++
	d.budget.admitted()
	if !deadline.IsZero() {
		if !deadline.After(now) {
			d.expire(ctx, e)
			return
		}
		e.timerGen++
		e.deadlineTimer = d.arm(e, deadline.Sub(now), timerDeadline)
	}
	d.place(ctx, e, false)
	d.pump(ctx, p)
	d.failIfTooLate(ctx, e, now)
}

// requestDeadlines returns a request's own deadline (the earlier of
// Call.Deadline and admission + Call.Timeout; zero for none) and the
// deadline that bounds it (the earlier of its own and the caller's context
// deadline, when that is on the runtime's clock: clock.ContextDeadline).
// Every one is on clk, the runtime's clock. cctx may be nil.
func requestDeadlines(clk clock.Clock, call *messages.Call, cctx context.Context, admitted time.Time) (own, deadline time.Time) {
	own = call.Deadline
	if call.Timeout > 0 {
		if dl := admitted.Add(call.Timeout); own.IsZero() || dl.Before(own) {
			own = dl
		}
	}
	deadline = own
	if cctx != nil {
		if dl, ok := clock.ContextDeadline(clk, cctx); ok && (deadline.IsZero() || dl.Before(deadline)) {
			deadline = dl
		}
	}
	return own, deadline
}

// reject counts a request of level lvl answered ErrQueueFull and publishes
// its RequestRejected event: one event per such answer.
func (d *Dispatcher) reject(id, provider string, lvl int, reason string) {
	d.rejected[lvl]++
	d.env.Events.Publish(&messages.RequestRejected{Time: d.now(), RequestID: id, Provider: provider, Priority: messages.PriorityAt(lvl), Reason: reason})
}

// setCapacity changes a level's capacity. Requests already waiting stay
// (an admitted request is never dropped): when the level holds more than
// the new capacity, they become exempt from it.
func (d *Dispatcher) setCapacity(lvl, n int) {
	d.capacity[lvl] = n
	if d.depth[lvl] <= n {
		return
	}
	for _, e := range d.entries {
		if e.group == nil && e.level == lvl && e.waiting() {
			e.exempt = true
		}
	}
}

// waiting reports whether request e waits to be sent (it counts in depth).
func (e *entry) waiting() bool {
	switch e.state {
	case stateQueued, stateWindowed:
		return true
	case stateBatched:
		return e.batch != nil && e.batch.state == stateQueued
	}
	return false
}

// shedFor makes room at a full HIGH level by evicting the newest LOW
// request, when configured.
func (d *Dispatcher) shedFor(ctx actor.Context, lvl int) bool {
	if lvl != 0 || !d.cfg.Queue.ShedLow || d.depth[2] == 0 {
		return false
	}
	var victim *entry
	for _, p := range d.provs {
		if b := p.levels[2].back(); b != nil && b.group == nil && (victim == nil || b.enqueued.After(victim.enqueued)) {
			victim = b
		}
	}
	if victim == nil {
		return false
	}
	d.reject(victim.id, victim.call.Provider, 2, "shed for a HIGH request")
	d.finish(ctx, victim, &messages.QueueFullError{RequestID: victim.id, Priority: messages.Low, Depth: d.depth[2], Capacity: d.capacity[2]})
	// Shedding moves the load from LOW to HIGH; the HIGH level itself must
	// still have room.
	return d.depth[0] < d.capacity[0]
}

func (d *Dispatcher) arm(e *entry, after time.Duration, kind dispatcherTimerKind) interface{ Stop() bool } {
	msg := &dispatcherTimer{id: e.id, gen: e.timerGen, kind: kind}
	root, self := d.rootSender(), d.self
	return d.env.Clock.AfterFunc(after, func() { root.Send(self, msg) })
}

// rootSender is set by the supervisor; timers send through the root context
// rather than the actor context, which must not be touched off its goroutine.
func (d *Dispatcher) rootSender() *actor.RootContext { return d.env.Root }

// enqueue queues e (a request or a batch) at the back of its level, or at
// the front for a request that has waited already (a retry, a bounced or
// woken request, a retried or split batch).
func (d *Dispatcher) enqueue(e *entry, front bool) {
	d.setState(e, stateQueued)
	q := &e.p.levels[e.level]
	e.inQueue = q
	now := d.now()
	e.waitFrom = now
	if e.enqueued.IsZero() {
		e.enqueued = now
	}
	if front {
		q.pushFront(e)
	} else {
		q.pushBack(e)
	}
}

// park keeps a pinned request its provider bounced until the provider
// reports a change that may let it through (a wake capacity report), or
// until the time it may go: the end of its key's Retry-After when known,
// else a backoff that grows with each bounce in a row.
func (d *Dispatcher) park(e *entry) {
	d.setState(e, stateParked)
	p := e.p
	p.parked = append(p.parked, e)
	e.parks++
	now := d.now()
	at := e.notBefore
	if !at.After(now) {
		at = now.Add(d.cfg.Retry.backoff(e.parks, 0))
	}
	if !p.wakeAt.IsZero() && !at.Before(p.wakeAt) {
		return
	}
	if p.wakeTimer != nil {
		p.wakeTimer.Stop()
	}
	p.wakeGen++
	p.wakeAt = at
	msg := &parkWake{provider: p.name, gen: p.wakeGen}
	root, self := d.rootSender(), d.self
	p.wakeTimer = d.env.Clock.AfterFunc(at.Sub(now), func() { root.Send(self, msg) })
}

// unpark requeues the provider's parked requests at the front of their
// levels, in the order they were parked.
func (d *Dispatcher) unpark(ctx actor.Context, p *provQueue) {
	if p.wakeTimer != nil {
		p.wakeTimer.Stop()
		p.wakeGen++
		p.wakeAt, p.wakeTimer = time.Time{}, nil
	}
	parked := p.parked
	p.parked = nil
	for i := len(parked) - 1; i >= 0; i-- {
		d.enqueue(parked[i], true)
	}
}

// next picks the provider's next entry: HIGH first, then NORMAL, then LOW,
// except that a LOW entry older than AgingAfter competes with NORMAL by age.
func (d *Dispatcher) next(p *provQueue, now time.Time) *entry {
	if e := p.levels[0].popFront(); e != nil {
		return e
	}
	n, l := p.levels[1].front(), p.levels[2].front()
	if l != nil && d.cfg.Queue.AgingAfter > 0 && now.Sub(l.enqueued) >= d.cfg.Queue.AgingAfter &&
		(n == nil || l.enqueued.Before(n.enqueued)) {
		return p.levels[2].popFront()
	}
	if n != nil {
		return p.levels[1].popFront()
	}
	return p.levels[2].popFront()
}

func (d *Dispatcher) pump(ctx actor.Context, p *provQueue) {
	if !d.attached || p.pid == nil {
		return
	}
	now := d.now()
	for p.credits() > 0 && p.queued() > 0 {
		e := d.next(p, now)
		if e == nil {
			break
		}
		if e.group != nil {
			if !d.batchRequest(e) {
				d.setState(e, stateDone)
				continue
			}
			for _, m := range e.group.members {
				m.exempt = true
				m.sent++
				w := now.Sub(m.waitFrom)
				m.queuedFor += w
				if m.attempt == 1 {
					d.wait[m.level].Observe(w)
				}
			}
		} else {
			e.exempt = true
			e.sent++
			w := now.Sub(e.waitFrom)
			e.queuedFor += w
			if e.attempt == 1 {
				d.wait[e.level].Observe(w)
			}
		}
		d.setState(e, stateInFlight)
		p.sent++
		if e.stopAttempt != nil {
			e.stopAttempt() // the previous attempt reported; release its context
		}
		actx, stop := context.WithCancel(e.ctx)
		e.stopAttempt = stop
		d.env.deliver(ctx, p.pid, &dispatch{id: e.id, req: e.req, ctx: actx, cancel: stop, emit: e.emit, attempt: e.attempt, avoidKey: e.avoidKey, deadline: e.deadline, affinity: e.pin, tr: e.tr, runner: e.runner})
		e.runner = nil
	}
}

// cooling reports whether the provider can take nothing before retryAt
// (every usable key cooling).
func (p *provQueue) cooling(now time.Time) bool {
	return p.credits() <= 0 && !p.retryAt.IsZero() && p.retryAt.After(now)
}

// failIfTooLate answers a queued request of a cooling provider at once when
// its deadline comes before the provider can take it.
func (d *Dispatcher) failIfTooLate(ctx actor.Context, e *entry, now time.Time) {
	p := e.p
	if e.state == stateQueued && !e.deadline.IsZero() && p.cooling(now) && e.deadline.Before(p.retryAt) {
		d.finish(ctx, e, &messages.RateLimitedError{RequestID: e.id, Provider: p.name, RetryAt: p.retryAt})
	}
}

// failTooLate applies failIfTooLate to the provider's whole queue; it runs
// when the provider's retryAt changes, not on every pump.
func (d *Dispatcher) failTooLate(ctx actor.Context, p *provQueue) {
	now := d.now()
	if !p.cooling(now) {
		return
	}
	for lvl := range p.levels {
		p.levels[lvl].each(func(e *entry) { d.failIfTooLate(ctx, e, now) })
	}
}

func (d *Dispatcher) onCapacity(ctx actor.Context, m *capacity) {
	p := d.provs[m.provider]
	if p == nil || m.seq < p.capSeq {
		return
	}
	retryAtChanged := !m.retryAt.Equal(p.retryAt)
	p.capSeq, p.free, p.received, p.mode, p.retryAt = m.seq, m.free, m.received, m.mode, m.retryAt
	if len(p.parked) > 0 && (m.free > 0 || m.mode == capFailFast || m.wake) {
		d.unpark(ctx, p)
	}
	if retryAtChanged {
		d.failTooLate(ctx, p)
	}
	d.pump(ctx, p)
}

func (d *Dispatcher) onAttemptDone(ctx actor.Context, m *attemptDone) {
	p := d.provs[m.provider]
	e := d.entries[m.id]
	if e == nil || e.state != stateInFlight || e.attempt != m.attempt {
		return // answered already (cancelled, aborted) or a stale attempt
	}
	if !m.bounced {
		e.parks = 0
		d.env.Tracer.attemptReported(e)
	}
	switch {
	case m.bounced:
		if !m.notBefore.IsZero() {
			e.notBefore = m.notBefore
		}
		if e.call.Key != "" || e.call.Endpoint != "" || e.pin != nil {
			d.park(e)
		} else {
			d.enqueue(e, true)
			// The provider may have reported every key cooling while this
			// request was on its way there (it was admitted before that
			// report arrived): judge it now, as on arrival.
			d.failIfTooLate(ctx, e, d.now())
		}
	case e.group != nil:
		d.onBatchDone(ctx, e, m)
	case m.err == nil:
		d.succeed(ctx, e, m.resp)
	default:
		d.retryOrFail(ctx, []*entry{e}, m, nil)
	}
	if !m.bounced {
		d.callEnded(ctx, e)
	}
	d.maybeDrained()
	d.pump(ctx, p)
}

func (d *Dispatcher) succeed(ctx actor.Context, e *entry, resp messages.Response) {
	meta := resp.ResponseMeta()
	meta.RequestID = e.id
	meta.Attempts = e.attempt
	meta.Latency = d.now().Sub(e.admitted)
	meta.Queued = e.queuedFor
	if e.p.affinity != nil {
		e.p.affinity.learn(e.req, resp, d.now())
	}
	d.finish(ctx, e, resp)
}

// retryOrFail decides, for each request of a failed attempt (one request,
// or the members of a batch), whether it is retried or answered with the
// failure. The retried ones share one backoff delay and one retry-budget
// token (one upstream call failed) and, from a batch (w set), are retried
// together as a batch.
func (d *Dispatcher) retryOrFail(ctx actor.Context, group []*entry, m *attemptDone, w *window) {
	var ue *messages.UpstreamError
	if !errors.As(m.err, &ue) {
		for _, e := range group {
			d.finish(ctx, e, messages.ForRequest(m.err, e.id))
		}
		return
	}
	now := d.now()
	var delay time.Duration
	if !m.rotate {
		attempt := 0
		for _, e := range group {
			attempt = max(attempt, e.attempt)
		}
		delay = d.cfg.Retry.backoff(attempt, ue.RetryAfter)
	}
	keep := group[:0:0]
	var errs []*messages.UpstreamError
	for _, e := range group {
		eue := ue
		if ue.RequestID != e.id {
			eue = messages.ForRequest(ue, e.id).(*messages.UpstreamError)
		}
		eue.Attempts = e.attempt
		resume := resumption(e, eue)
		switch {
		case eue.Class == messages.ClassCancelled || e.ctx.Err() != nil:
			d.finishCtx(ctx, e, eue)
		case !eue.Retryable() || (m.chunks > 0 && resume == nil) || e.attempt >= d.cfg.Retry.MaxAttempts:
			d.finish(ctx, e, eue)
		case !e.deadline.IsZero() && !now.Add(delay).Before(e.deadline):
			d.finish(ctx, e, eue)
		default:
			if resume != nil {
				d.resume(e, resume, eue, now)
			}
			keep = append(keep, e)
			errs = append(errs, eue)
		}
	}
	if len(keep) == 0 {
		return
	}
	if !d.budget.take(now) {
		for i, e := range keep {
			d.finish(ctx, e, &messages.RequestError{RequestID: e.id, Provider: e.call.Provider, Kind: messages.ErrRetryBudget, Last: errs[i]})
		}
		return
	}
	for _, e := range keep {
		if m.rotate {
			e.avoidKey = m.keyLabel
		}
		if ue.Class == messages.ClassRateLimited && ue.RetryAfter > 0 {
			// A request pinned to this key cannot rotate: if it is parked,
			// it wakes when the key may be tried again.
			e.notBefore = now.Add(ue.RetryAfter)
		}
		e.attempt++
		d.env.Tracer.backoff(e, delay, ue, m.rotate)
		e.p.handle.Counters.Retries.Add(1)
		d.env.Events.Publish(&messages.RequestRetried{Time: now, RequestID: e.id, Provider: e.call.Provider, Attempt: e.attempt, Delay: delay, Status: ue.Status, Class: ue.Class})
	}
	if w == nil || len(keep) == 1 {
		d.retryLater(ctx, keep[0], delay)
		return
	}
	d.newBatch(ctx, w, keep, true, delay)
}

// resumption returns the request that resumes e's cut stream, or nil when
// e's failure is not a resumable cut of a Responses API stream (see
// messages.StreamResume): e is a streamed Responses API request (a
// background response created with a stream, or one streamed again) whose
// caller still listens. The request retrieves the response as a stream
// after the last sequence number the caller received (from the start when
// it received none), so the caller sees every event once: the retrieve's
// chunks are numbered by the events' sequence numbers too. It keeps e's
// routing fields (priority, deadline, key, endpoint).
func resumption(e *entry, ue *messages.UpstreamError) *messages.ResponseObjectRequest {
	var sr *messages.StreamResume
	if e.emit == nil || !errors.As(ue, &sr) || sr.ResponseID == "" {
		return nil
	}
	switch r := e.req.(type) {
	case *messages.ResponsesRequest:
		if !r.Stream {
			return nil
		}
	case *messages.ResponseObjectRequest:
		if r.Action != messages.ResponseRetrieve || !r.Stream {
			return nil
		}
	default:
		return nil
	}
	req := &messages.ResponseObjectRequest{Call: *e.call, Action: messages.ResponseRetrieve, ResponseID: sr.ResponseID, Stream: true}
	if sr.LastSequence >= 0 {
		after := sr.LastSequence
		req.StartingAfter = &after
	}
	return req
}

// resume makes req, from resumption, e's request for its next attempts
// (same request ID, caller and stream), pinned to the endpoint and key
// group that served the cut stream: the stored response is visible only to
// that organisation. The provider's affinity table (when on) learns the
// response too, so later follow-ups go there as well.
func (d *Dispatcher) resume(e *entry, req *messages.ResponseObjectRequest, ue *messages.UpstreamError, now time.Time) {
	e.req, e.call = req, &req.Call
	if ue.Endpoint == "" || ue.Key == "" {
		return
	}
	if e.p.affinity != nil {
		e.p.affinity.record(req.ResponseID, ue.Endpoint, ue.Key, now)
	}
	if req.Key == "" && req.Endpoint == "" {
		e.pin = &affinityPin{object: req.ResponseID, endpoint: ue.Endpoint, key: ue.Key, noWait: e.p.handle.Affinity.NoWait}
	}
}

// retryLater queues a retry of e (a request or a batch) at the front of its
// level, after delay.
func (d *Dispatcher) retryLater(ctx actor.Context, e *entry, delay time.Duration) {
	if delay > 0 {
		d.setState(e, stateBackoff)
		e.timerGen++
		e.backoffTimer = d.arm(e, delay, timerBackoff)
		return
	}
	if e.group != nil {
		d.enqueue(e, true)
	} else {
		d.place(ctx, e, true)
	}
}

func (d *Dispatcher) onTimer(ctx actor.Context, m *dispatcherTimer) {
	e := d.entries[m.id]
	if e == nil {
		return
	}
	switch m.kind {
	case timerDeadline:
		switch e.state {
		case stateQueued, stateBackoff, stateParked, stateWindowed, stateBatched:
			d.expire(ctx, e)
		}
	case timerBackoff:
		if e.state == stateBackoff && m.gen == e.timerGen {
			d.retryLater(ctx, e, 0)
			d.pump(ctx, e.p)
		}
	}
}

func (d *Dispatcher) expire(ctx actor.Context, e *entry) {
	now := d.now()
	d.expired[e.level]++
	d.env.Events.Publish(&messages.RequestExpired{Time: now, RequestID: e.id, Provider: e.call.Provider, Priority: e.call.Priority, Waited: now.Sub(e.admitted)})
	d.finish(ctx, e, &messages.RequestError{RequestID: e.id, Provider: e.call.Provider, Kind: messages.ErrDeadline, Cause: context.DeadlineExceeded, Detail: "deadline passed before the request could be sent"})
}

func (d *Dispatcher) cancelRequest(ctx actor.Context, m *messages.Cancel) {
	id := m.RequestID
	e := d.entries[id]
	if e == nil || e.group != nil {
		return
	}
	if m.Deadline {
		d.finish(ctx, e, &messages.RequestError{RequestID: id, Provider: e.call.Provider, Kind: messages.ErrDeadline, Cause: context.DeadlineExceeded, Detail: "the caller's deadline passed"})
	} else {
		d.finish(ctx, e, &messages.RequestError{RequestID: id, Provider: e.call.Provider, Kind: context.Canceled, Detail: "cancelled by the caller"})
	}
	d.maybeDrained()
}

// finishCtx answers with the context's own error when the caller's context
// ended, so errors.Is(err, context.Canceled/DeadlineExceeded) holds.
func (d *Dispatcher) finishCtx(ctx actor.Context, e *entry, last *messages.UpstreamError) {
	cause := e.ctx.Err()
	kind := error(context.Canceled)
	if errors.Is(cause, context.DeadlineExceeded) {
		kind = messages.ErrDeadline
	}
	if cause == nil {
		cause = context.Canceled
	}
	d.finish(ctx, e, &messages.RequestError{RequestID: e.id, Provider: e.call.Provider, Kind: kind, Cause: cause, Last: last})
}

// finish sends the terminal answer and forgets the entry. Every admitted
// request passes here exactly once; nothing of its stream follows the
// answer.
func (d *Dispatcher) finish(ctx actor.Context, e *entry, answer any) {
	if e.group != nil {
		d.finishBatch(ctx, e, answer)
		return
	}
	d.setState(e, stateDone)
	d.answered++
	if e.fence != nil {
		e.fence.close()
	}
	if err, ok := answer.(error); ok {
		answer = &messages.Failure{RequestID: e.id, Err: err}
	}
	if e.audited {
		d.env.audit(e.req, answer, e.admitted, e.sent)
	}
	d.env.Tracer.finished(e, answer)
	d.reply(ctx, e.replyCh, e.replyPID, answer)
}

func (d *Dispatcher) beginShutdown(ctx actor.Context, drained chan struct{}) {
	d.shutdown = true
	d.drained = drained
	for _, e := range d.entries {
		if e.group != nil {
			continue // its members are answered, then it is dropped
		}
		waiting := e.state == stateQueued || e.state == stateBackoff || e.state == stateParked || e.state == stateWindowed ||
			(e.state == stateBatched && e.batch != nil && e.batch.state != stateInFlight)
		if waiting {
			d.finish(ctx, e, &messages.RequestError{RequestID: e.id, Provider: e.call.Provider, Kind: messages.ErrShuttingDown, Detail: "not started before shutdown"})
		}
	}
	d.maybeDrained()
}

func (d *Dispatcher) maybeDrained() {
	if d.drained == nil || len(d.entries) > 0 {
		return
	}
	close(d.drained)
	d.drained = nil
}

func (d *Dispatcher) abort(ctx actor.Context) {
	d.shutdown = true
	for _, e := range d.entries {
		if e.group == nil {
			d.finish(ctx, e, &messages.RequestError{RequestID: e.id, Provider: e.call.Provider, Kind: messages.ErrShuttingDown, Detail: "aborted at shutdown"})
		}
	}
	// Batches went with their last member; a batch's running call is
	// cancelled with its context.
	for _, p := range d.provs {
		if p.wakeTimer != nil {
			p.wakeTimer.Stop()
			p.wakeGen++
			p.wakeAt, p.wakeTimer = time.Time{}, nil
		}
	}
	d.maybeDrained()
}

func (d *Dispatcher) status() *messages.QueueStatus {
	now := d.now()
	st := &messages.QueueStatus{Time: now, PerProvider: map[string][3]int{}, Backoff: d.backoffN, RetryBudget: d.budget.available(now),
		Windows: d.windowStatus(now)}
	for i := range st.Levels {
		l := &st.Levels[i]
		l.Priority = messages.PriorityAt(i)
		l.Depth, l.Capacity = d.depth[i], d.capacity[i]
		l.Admitted, l.Rejected, l.Expired = d.admitted[i], d.rejected[i], d.expired[i]
		l.WaitP50, l.WaitP99 = d.wait[i].Quantile(0.5), d.wait[i].Quantile(0.99)
	}
	for name, p := range d.provs {
		st.PerProvider[name] = p.depth
		st.InFlight += p.inflight
		st.Parked += len(p.parked)
		for i := range p.levels {
			if h := p.levels[i].front(); h != nil {
				if w := now.Sub(h.enqueued); w > st.Levels[i].OldestWait {
					st.Levels[i].OldestWait = w
				}
			}
		}
	}
	return st
}

func quote(s string) string { return "\"" + s + "\"" }
