package actors

import (
	"context"
	"errors"
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
}

// AttachProviders gives the dispatcher the provider PIDs; until it arrives
// requests are admitted and queued but not sent.
type AttachProviders struct {
	PIDs map[string]*actor.PID
}

type entryState uint8

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
	ctx      context.Context
	cancel   context.CancelFunc
	emit     func(*messages.StreamChunk) bool
	admitted time.Time
	enqueued time.Time
	deadline time.Time
	attempt  int
	avoidKey string
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
// their count per level (the queue depth it stands for).
type batchGroup struct {
	members []*entry
	weight  [3]int
}

// addDepth adds sign times the entry's weight (one request, or a batch's
// members) to its provider's and the dispatcher's queue depth.
func (d *Dispatcher) addDepth(e *entry, sign int) {
	if e.group == nil {
		e.p.depth[e.level] += sign
		d.depth[e.level] += sign
		return
	}
	for lvl, n := range e.group.weight {
		e.p.depth[lvl] += sign * n
		d.depth[lvl] += sign * n
	}
}

// provQueue is one provider's three levels plus the dispatcher's view of its
// capacity.
type provQueue struct {
	name     string
	pid      *actor.PID
	handle   ProviderHandle
	levels   [3]fifo
	depth    [3]int
	parked   []*entry
	free     int
	received uint64
	sent     uint64
	mode     capacityMode
	capSeq   uint64
	retryAt  time.Time
	inflight int
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

// dispatcherState survives a restart of the dispatcher actor (it is held by
// the Props producer), so a bug that crashes the dispatcher loses no request.
type dispatcherState struct {
	cfg     DispatcherConfig
	env     *Env
	entries map[string]*entry
	provs   map[string]*provQueue
	windows map[string]*window
	// windowStats outlive their windows: one per provider, pinned
	// endpoint, operation and model.
	windowStats map[string]*windowStats
	capacity    [3]int
	depth       [3]int
	admitted    [3]uint64
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
		st.provs[name] = &provQueue{name: name, handle: h}
	}
	st.budget = newRetryBudget(cfg.Retry, env.Clock.Now())
	return func() actor.Actor { return &Dispatcher{st} }
}

// Receive handles one message.
func (d *Dispatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d.self = ctx.Self()
	case *Submit:
		d.admit(ctx, m.Req, m.Ctx, m.Reply, m.ReplyPID, m.Emit)
	case messages.Request:
		sender := ctx.Sender()
		if sender == nil {
			d.env.Log.Warn("switchyard: request sent without a sender; use ctx.Request so the answer has somewhere to go")
			return
		}
		sys := ctx.ActorSystem()
		var emit func(*messages.StreamChunk) bool
		if sr, ok := m.(messages.StreamingRequest); ok && sr.Streaming() {
			emit = func(c *messages.StreamChunk) bool { sys.Root.Send(sender, c); return true }
		}
		d.admit(ctx, m, nil, nil, sender, emit)
	case *messages.Cancel:
		d.cancelRequest(ctx, m)
	case *messages.GetQueueStatus:
		ctx.Respond(d.status())
	case *messages.SetQueueCapacity:
		if m.Priority.Valid() && m.Capacity > 0 {
			d.capacity[m.Priority.Index()] = m.Capacity
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
	case *windowTimer:
		d.onWindowTimer(ctx, m)
	case *Shutdown:
		d.beginShutdown(ctx, m.Drained)
	case *Abort:
		d.abort(ctx)
		close(m.Done)
	case *actor.Stopping:
		d.abort(ctx)
	}
}

func (d *Dispatcher) now() time.Time { return d.env.Clock.Now() }

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

func (d *Dispatcher) admit(ctx actor.Context, req messages.Request, cctx context.Context, ch chan<- any, pid *actor.PID, emit func(*messages.StreamChunk) bool) {
	call := req.CallInfo()
	if call.RequestID == "" {
		call.RequestID = messages.NewRequestID()
	}
	id := call.RequestID
	fail := func(err error) { d.reply(ctx, ch, pid, &messages.Failure{RequestID: id, Err: err}) }
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
	// A request the provider can take at once never waits, so the level's
	// capacity (a bound on waiting requests) does not apply to it: a full
	// queue for a saturated provider must not block an idle one.
	waits := !(d.attached && p.pid != nil && p.queued() == 0 && p.credits() > 0)
	if waits && d.depth[lvl] >= d.capacity[lvl] && !d.shedFor(ctx, lvl) {
		d.rejected[lvl]++
		d.env.Events.Publish(&messages.RequestRejected{Time: now, RequestID: id, Provider: call.Provider, Priority: call.Priority, Reason: "queue full"})
		fail(&messages.QueueFullError{RequestID: id, Priority: call.Priority, Depth: d.depth[lvl], Capacity: d.capacity[lvl]})
		return
	}
	if cctx == nil {
		cctx = context.Background()
	}
	// Every deadline is on the runtime's clock: Call.Deadline, admission +
	// Call.Timeout, and the caller's context deadline when it is on that
	// clock (see clock.ContextDeadline).
	own := call.Deadline
	if call.Timeout > 0 {
		if dl := now.Add(call.Timeout); own.IsZero() || dl.Before(own) {
			own = dl
		}
	}
	deadline := own
	if dl, ok := clock.ContextDeadline(d.env.Clock, cctx); ok && (deadline.IsZero() || dl.Before(deadline)) {
		deadline = dl
	}
	var rctx context.Context
	var cancel context.CancelFunc
	if !own.IsZero() {
		rctx, cancel = clock.WithDeadline(d.env.Clock, cctx, own)
	} else {
		rctx, cancel = context.WithCancel(cctx)
	}
	e := &entry{id: id, req: req, call: call, p: p, level: lvl, replyCh: ch, replyPID: pid, ctx: rctx, cancel: cancel,
		emit: emit, admitted: now, deadline: deadline, attempt: 1}
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
	e.win = d.windowFor(e)
	d.place(ctx, e, false)
	d.pump(ctx, p)
	d.failIfTooLate(ctx, e, now)
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
	d.dequeue(victim)
	d.rejected[2]++
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

func (d *Dispatcher) enqueue(e *entry, front bool) {
	e.state = stateQueued
	q := &e.p.levels[e.level]
	e.inQueue = q
	e.waitFrom = d.now()
	if front {
		q.pushFront(e)
	} else {
		e.enqueued = d.now()
		q.pushBack(e)
	}
	d.addDepth(e, 1)
}

// dequeue removes a queued entry (it stays as a tombstone in its fifo).
func (d *Dispatcher) dequeue(e *entry) {
	if e.state != stateQueued {
		return
	}
	e.inQueue = nil
	e.state = stateDone
	d.addDepth(e, -1)
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
		e.inQueue = nil
		d.addDepth(e, -1)
		if e.group != nil {
			if !d.batchRequest(e) {
				e.state = stateDone
				delete(d.entries, e.id)
				e.cancel()
				continue
			}
			for _, m := range e.group.members {
				w := now.Sub(m.waitFrom)
				m.queuedFor += w
				if m.attempt == 1 {
					d.wait[m.level].Observe(w)
				}
			}
		} else {
			w := now.Sub(e.waitFrom)
			e.queuedFor += w
			if e.attempt == 1 {
				d.wait[e.level].Observe(w)
			}
		}
		e.state = stateInFlight
		p.inflight++
		p.sent++
		ctx.Send(p.pid, &dispatch{id: e.id, req: e.req, ctx: e.ctx, emit: e.emit, attempt: e.attempt, avoidKey: e.avoidKey, deadline: e.deadline})
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
		q := &p.levels[lvl]
		for i := 0; i < q.n; i++ {
			if e := q.buf[(q.head+i)%len(q.buf)]; e != nil && e.inQueue == q {
				d.failIfTooLate(ctx, e, now)
			}
		}
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
		parked := p.parked
		p.parked = nil
		for i := len(parked) - 1; i >= 0; i-- {
			if parked[i].state == stateParked {
				d.enqueue(parked[i], true)
			}
		}
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
	p.inflight--
	switch {
	case e.group != nil && !m.bounced:
		d.onBatchDone(ctx, e, m)
	case m.bounced:
		if e.call.Key != "" || e.call.Endpoint != "" {
			e.state = stateParked
			p.parked = append(p.parked, e)
		} else {
			d.enqueue(e, true)
		}
	case m.err == nil:
		d.succeed(ctx, e, m.resp)
	default:
		d.retryOrFail(ctx, []*entry{e}, m, nil)
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
		switch {
		case eue.Class == messages.ClassCancelled || e.ctx.Err() != nil:
			d.finishCtx(ctx, e, eue)
		case !eue.Retryable() || m.chunks > 0 || e.attempt >= d.cfg.Retry.MaxAttempts:
			d.finish(ctx, e, eue)
		case !e.deadline.IsZero() && !now.Add(delay).Before(e.deadline):
			d.finish(ctx, e, eue)
		default:
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
		e.attempt++
		e.p.handle.Counters.Retries.Add(1)
		d.env.Events.Publish(&messages.RequestRetried{Time: now, RequestID: e.id, Provider: e.call.Provider, Attempt: e.attempt, Delay: delay, Status: ue.Status, Class: ue.Class})
	}
	if w == nil || len(keep) == 1 {
		d.retryLater(ctx, keep[0], delay)
		return
	}
	d.newBatch(ctx, w, keep, true, delay)
}

// retryLater queues a retry of e (a request or a batch) at the front of its
// level, after delay.
func (d *Dispatcher) retryLater(ctx actor.Context, e *entry, delay time.Duration) {
	if delay > 0 {
		e.state = stateBackoff
		d.backoffN++
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
			d.backoffN--
			d.retryLater(ctx, e, 0)
			d.pump(ctx, e.p)
		}
	}
}

func (d *Dispatcher) expire(ctx actor.Context, e *entry) {
	now := d.now()
	if e.state == stateBackoff {
		d.backoffN--
	}
	d.dequeue(e)
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
	if e.state == stateBackoff {
		d.backoffN--
	}
	if e.state == stateInFlight {
		e.p.inflight--
	}
	d.dequeue(e)
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
// request passes here exactly once.
func (d *Dispatcher) finish(ctx actor.Context, e *entry, answer any) {
	if e.group != nil {
		d.finishBatch(ctx, e, answer)
		return
	}
	switch e.state {
	case stateQueued:
		d.dequeue(e)
	case stateWindowed, stateBatched:
		d.detach(e)
	}
	e.state = stateDone
	delete(d.entries, e.id)
	if e.deadlineTimer != nil {
		e.deadlineTimer.Stop()
	}
	if e.backoffTimer != nil {
		e.backoffTimer.Stop()
	}
	e.cancel()
	if err, ok := answer.(error); ok {
		answer = &messages.Failure{RequestID: e.id, Err: err}
	}
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
	d.backoffN = 0
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
	for _, b := range d.entries {
		d.dropBatch(b) // batches whose calls run; their members are answered
	}
	d.backoffN = 0
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
		for _, e := range p.parked {
			if e.state == stateParked {
				st.Parked++
			}
		}
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
