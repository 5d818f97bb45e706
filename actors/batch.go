package actors

import (
	"context"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
)

// Batching defaults, after TEI's own (32 inputs per client batch) and a
// window short enough to stay under a millisecond-scale budget.
const (
	DefaultBatchMaxInputs = 32
	DefaultBatchDelay     = 2 * time.Millisecond
)

// BatchMode is when a batching window sends what it holds.
type BatchMode uint8

// Batching modes.
const (
	// BatchAdaptive (the default) sends a request at once when no call of
	// its shape (provider, operation, model, options, pins) is pending (in
	// flight, or waiting in the queue, in backoff or parked), and gathers
	// the requests that arrive while one is into the next call, sent when a
	// call of the shape ends (as TEI and vLLM batch on the server). Delay
	// caps the wait.
	BatchAdaptive BatchMode = iota
	// BatchFixed holds every window for Delay after its first request
	// joined, whatever the load.
	BatchFixed
)

// String returns "adaptive" or "fixed".
func (m BatchMode) String() string {
	if m == BatchFixed {
		return "fixed"
	}
	return "adaptive"
}

// BatchConfig configures the batching windows of one model, or a provider's
// default for its models. The zero value batches with the defaults.
type BatchConfig struct {
	// Disabled sends every request on its own.
	Disabled bool
	// Mode is when a window flushes besides being full (default
	// BatchAdaptive).
	Mode BatchMode
	// MaxInputs flushes a window once it holds this many inputs (default
	// 32), never more than the backend allows in one call.
	MaxInputs int
	// MaxTokens flushes a window before its estimated input tokens would
	// exceed this (providers.EstimateTokens; 0: only the backend's limit).
	MaxTokens int
	// Delay flushes a window this long after its first request joined
	// (default 2 ms). In BatchAdaptive mode it is the longest a request
	// waits for a call of its shape to end.
	Delay time.Duration
	// HoldHigh lets HIGH requests wait for the window like the others; by
	// default a HIGH request flushes its window at once.
	HoldHigh bool
}

// BatchPolicy is a provider's batching configuration: Default for every
// model, Models overriding it for one model each.
type BatchPolicy struct {
	Default BatchConfig
	Models  map[string]BatchConfig
}

func (p BatchPolicy) forModel(model string) BatchConfig {
	if c, ok := p.Models[model]; ok {
		return c
	}
	return p.Default
}

// window collects requests of one shape until they fill a call or its delay
// passes; an adaptive window also flushes when no call of its shape is
// pending, or when one ends (batch_adaptive.go). At most one window exists
// per (provider, operation, model, options, pinned endpoint and key) at a
// time: it leaves d.windows when it empties, and its statistics live on in
// its windowStats.
type window struct {
	key       string
	p         *provQueue
	op, model string
	endpoint  string
	members   []*entry
	inputs    int
	tokens    int
	maxInputs int
	maxTokens int
	delay     time.Duration
	holdHigh  bool
	adaptive  bool
	opened    time.Time
	gen       uint64
	timer     interface{ Stop() bool }
	st        *windowStats
}

// windowStats are the counts of every window of one provider, pinned
// endpoint, operation and model. Windows come and go (one per query for
// rerankings, dropped when empty); their statistics stay, one per model.
type windowStats struct {
	provider, endpoint, op, model string
	maxInputs, maxTokens          int
	delay                         time.Duration
	// shrunk is the input limit learned from a 413 about the batch's size
	// (0: none).
	shrunk int

	batches, batched                  uint64
	flushFull, flushDelay, flushHigh  uint64
	flushRetry, splits, largestFilled uint64
	// flushIdle counts adaptive windows sent at once (no call of their
	// shape pending), flushEnded those sent because a call of their shape
	// ended.
	flushIdle, flushEnded uint64
	mode                  BatchMode
}

// liveWindow returns the window registered under w's key, registering w
// (empty and reusable) when none is: windows leave d.windows when they
// empty, and a request keeps a pointer to the window it last joined.
func (d *Dispatcher) liveWindow(w *window) *window {
	if cur := d.windows[w.key]; cur != nil {
		return cur
	}
	d.windows[w.key] = w
	return w
}

// windowTimer is a window's delay timer, or (idle) the news that the last
// pending call of an adaptive window's shape ended (movePendingCall).
type windowTimer struct {
	key  string
	gen  uint64
	idle bool
}

// Reasons a window flushes.
const (
	flushFull = iota
	flushDelay
	flushHigh
	flushRetry
	flushIdle
	flushEnded
)

// windowFor returns the window e may join, or nil when e is sent on its
// own: the adapter cannot merge it, batching is off for its model, or e
// alone fills a call.
func (d *Dispatcher) windowFor(e *entry) *window {
	if e.p.handle.Batcher == nil {
		return nil
	}
	sh, ok := shapeOf(e.req)
	if !ok {
		return nil
	}
	w := d.windows[sh.key]
	if w == nil {
		if w = d.newWindow(e, sh); w == nil {
			return nil
		}
	}
	e.inputs, e.tokens = int32(sh.inputs), int32(sh.tokens)
	if sh.inputs >= w.maxInputs || (w.maxTokens > 0 && sh.tokens >= w.maxTokens) {
		return nil
	}
	return w
}

// newWindow builds the window for requests of e's shape, or returns nil
// when batching is off for them. It is registered in d.windows only when a
// request joins it (liveWindow), so a request too large to share a call
// leaves no empty window behind.
func (d *Dispatcher) newWindow(e *entry, sh batchShape) *window {
	p := e.p
	lim, ok := p.handle.Batcher.BatchLimits(e.req)
	cfg := p.handle.Batching.forModel(sh.model)
	if !ok || cfg.Disabled {
		return nil
	}
	w := &window{key: sh.key, p: p, op: e.req.Operation(), model: sh.model, endpoint: e.call.Endpoint,
		maxInputs: cfg.MaxInputs, maxTokens: cfg.MaxTokens, delay: cfg.Delay, holdHigh: cfg.HoldHigh, adaptive: cfg.Mode == BatchAdaptive}
	if w.maxInputs <= 0 {
		w.maxInputs = DefaultBatchMaxInputs
	}
	if lim.MaxInputs > 0 && lim.MaxInputs < w.maxInputs {
		w.maxInputs = lim.MaxInputs
	}
	if lim.MaxTokens > 0 && (w.maxTokens <= 0 || lim.MaxTokens < w.maxTokens) {
		w.maxTokens = lim.MaxTokens
	}
	if w.delay <= 0 {
		w.delay = DefaultBatchDelay
	}
	statsKey := p.name + "\x00" + w.endpoint + "\x00" + w.op + "\x00" + w.model
	w.st = d.windowStats[statsKey]
	if w.st == nil {
		w.st = &windowStats{provider: p.name, endpoint: w.endpoint, op: w.op, model: w.model}
		d.windowStats[statsKey] = w.st
	}
	if w.st.shrunk > 0 {
		w.maxInputs = min(w.maxInputs, w.st.shrunk)
	}
	w.st.maxInputs, w.st.maxTokens, w.st.delay, w.st.mode = w.maxInputs, w.maxTokens, w.delay, cfg.Mode
	return w
}

// place puts a request that is ready to be sent where it waits: its window
// if it has one, else its provider's queue (retries at the front).
func (d *Dispatcher) place(ctx actor.Context, e *entry, retry bool) {
	if e.win != nil {
		d.joinWindow(ctx, d.liveWindow(e.win), e, retry)
		return
	}
	d.enqueue(e, retry)
}

// joinWindow adds e to w, flushing w first when e would overflow it, and
// after it when it is full, when e is HIGH (unless the window holds HIGH
// back), when e is a retry (which has waited already), or, for an adaptive
// window, when no call of its shape is pending. Otherwise the window's
// first member arms its delay timer.
func (d *Dispatcher) joinWindow(ctx actor.Context, w *window, e *entry, retry bool) {
	if len(w.members) > 0 && (w.inputs+int(e.inputs) > w.maxInputs || (w.maxTokens > 0 && w.tokens+int(e.tokens) > w.maxTokens)) {
		d.flush(ctx, w, flushFull)
		w = d.liveWindow(w)
	}
	now := d.now()
	d.setState(e, stateWindowed)
	e.win = w
	e.waitFrom = now
	if e.enqueued.IsZero() {
		e.enqueued = now
	}
	w.members = append(w.members, e)
	w.inputs += int(e.inputs)
	w.tokens += int(e.tokens)
	switch {
	case w.inputs >= w.maxInputs || (w.maxTokens > 0 && w.tokens >= w.maxTokens):
		d.flush(ctx, w, flushFull)
	case e.level == 0 && !w.holdHigh:
		d.flush(ctx, w, flushHigh)
	case retry:
		d.flush(ctx, w, flushRetry)
	case w.adaptive && d.shapeCalls[w.key] == 0:
		d.flush(ctx, w, flushIdle)
	case len(w.members) == 1:
		w.opened = now
		w.gen++
		msg := &windowTimer{key: w.key, gen: w.gen}
		root, self := d.rootSender(), d.self
		w.timer = d.env.Clock.AfterFunc(w.delay, func() { root.Send(self, msg) })
	}
}

func (d *Dispatcher) onWindowTimer(ctx actor.Context, m *windowTimer) {
	w := d.windows[m.key]
	switch {
	case w == nil || w.gen != m.gen || len(w.members) == 0:
	case !m.idle:
		d.flush(ctx, w, flushDelay)
	case d.shapeCalls[m.key] == 0:
		d.flush(ctx, w, flushIdle)
	}
}

// flush turns the window's members into one batch entry in the provider's
// queue, at the level of its most urgent member; the window, emptied, leaves
// d.windows (leaveWindow).
func (d *Dispatcher) flush(ctx actor.Context, w *window, reason int) {
	if len(w.members) == 0 {
		return
	}
	members := slices.Clone(w.members)
	switch reason {
	case flushFull:
		w.st.flushFull++
	case flushDelay:
		w.st.flushDelay++
	case flushHigh:
		w.st.flushHigh++
	case flushRetry:
		w.st.flushRetry++
	case flushIdle:
		w.st.flushIdle++
	case flushEnded:
		w.st.flushEnded++
	}
	d.newBatch(ctx, w, members, reason == flushRetry, 0)
}

// newBatch makes a batch entry of members (taking them out of their window
// or their previous batch) and queues it (at the front for retries and the
// halves of a split batch; after delay for retries). A batch lives in
// d.entries under its own ID so its attempt reports find it; it answers
// nobody itself.
func (d *Dispatcher) newBatch(ctx actor.Context, w *window, members []*entry, front bool, delay time.Duration) {
	if len(members) == 1 {
		// A window of one sends its request as it is.
		m := members[0]
		if delay > 0 {
			d.retryLater(ctx, m, delay)
			return
		}
		from := m.waitFrom
		d.enqueue(m, front)
		m.waitFrom = from // its wait in the window counts as queued, as a member's does
		w.st.batches++
		w.st.batched++
		w.st.largestFilled = max(w.st.largestFilled, uint64(m.inputs))
		d.pump(ctx, m.p)
		return
	}
	now := d.now()
	b := &entry{id: messages.NewRequestID(), p: w.p, level: 2, admitted: now, attempt: 1, group: &batchGroup{members: members}, win: w}
	var inputs int
	all := true
	for _, m := range members {
		// b is counted nowhere until it is queued or backs off, so its
		// weight may grow here.
		d.setState(m, stateBatched)
		m.batch = b
		b.level = min(b.level, m.level)
		b.group.weight[m.level]++
		if b.enqueued.IsZero() || m.enqueued.Before(b.enqueued) {
			b.enqueued = m.enqueued
		}
		inputs += int(m.inputs)
		if m.deadline.IsZero() {
			all = false
		} else if m.deadline.After(b.deadline) {
			b.deadline = m.deadline
		}
		if m.avoidKey != "" {
			b.avoidKey = m.avoidKey
		}
	}
	if !all {
		b.deadline = time.Time{}
	}
	if b.deadline.IsZero() {
		b.ctx = context.Background() // each attempt gets a cancelable child at dispatch
	} else {
		b.ctx, b.cancel = clock.WithDeadline(d.env.Clock, context.Background(), b.deadline)
	}
	b.call = &messages.Call{RequestID: b.id, Provider: w.p.name, Priority: messages.PriorityAt(b.level),
		Deadline: b.deadline, Key: members[0].call.Key, Endpoint: members[0].call.Endpoint}
	w.st.batches++
	w.st.batched += uint64(len(members))
	w.st.largestFilled = max(w.st.largestFilled, uint64(inputs))
	d.entries[b.id] = b
	d.env.Tracer.batchStarted(b)
	if delay > 0 {
		d.retryLater(ctx, b, delay)
		return
	}
	d.enqueue(b, front)
	d.pump(ctx, b.p)
}

// live returns the batch's members still waiting for its answer.
func (b *entry) live() []*entry {
	out := b.group.members[:0:0]
	for _, m := range b.group.members {
		if m.state == stateBatched && m.batch == b {
			out = append(out, m)
		}
	}
	return out
}

// leaveWindow takes e out of its window (setState calls it when e leaves
// stateWindowed). An emptied window stops its timer and leaves d.windows.
func (d *Dispatcher) leaveWindow(e *entry) {
	w := e.win
	if i := slices.Index(w.members, e); i >= 0 {
		w.members = slices.Delete(w.members, i, i+1)
	}
	w.inputs -= int(e.inputs)
	w.tokens -= int(e.tokens)
	if len(w.members) > 0 {
		return
	}
	w.gen++
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	if d.windows[w.key] == w {
		delete(d.windows, w.key)
	}
}

// batchRequest builds the request a batch sends, from the members still
// waiting; false when none is.
func (d *Dispatcher) batchRequest(b *entry) bool {
	live := b.live()
	if len(live) == 0 {
		return false
	}
	b.group.members = live
	b.req = mergeBatch(*b.call, live)
	return true
}

// onBatchDone hands a batch's attempt report to its members: each gets its
// part of the answer, or the failure to retry or fail on its own. A refused
// batch (ClassInvalid) is split in two, so one bad input fails only its own
// request; a 413 about the batch's size also lowers the window's size.
func (d *Dispatcher) onBatchDone(ctx actor.Context, b *entry, m *attemptDone) {
	members := b.live()
	d.env.Tracer.batchDone(b, m)
	// The batch ends here; its members keep pointing at it until each
	// moves on (answered, retried, or put in a new batch).
	d.setState(b, stateDone)
	if len(members) == 0 {
		return
	}
	if m.err == nil {
		parts, err := splitBatch(m.resp, b.group.members)
		if err != nil {
			meta := m.resp.ResponseMeta()
			ue := &messages.UpstreamError{RequestID: b.id, UpstreamRequestID: meta.UpstreamRequestID, Provider: meta.Provider,
				Endpoint: meta.Endpoint, Key: meta.Key, Class: messages.ClassMalformed, Message: err.Error()}
			for _, e := range members {
				d.finish(ctx, e, messages.ForRequest(ue, e.id))
			}
			return
		}
		for i, e := range b.group.members {
			if e.state != stateBatched || e.batch != b {
				continue
			}
			meta := parts[i].ResponseMeta()
			meta.BatchID, meta.BatchSize = b.id, len(b.group.members)
			d.succeed(ctx, e, parts[i])
		}
		return
	}
	var ue *messages.UpstreamError
	if errors.As(m.err, &ue) && ue.Class == messages.ClassInvalid && len(members) > 1 {
		// One member's input (too long, refused) or the batch's size may be
		// the cause: halve the batch until each refusal reaches only the
		// requests it concerns. No attempt is counted.
		w := b.win
		w.st.splits++
		if ue.Status == 413 && sizeRefusal(ue.Message) {
			inputs := 0
			for _, e := range members {
				inputs += int(e.inputs)
			}
			limit := max(1, min(w.maxInputs, inputs/2))
			w.st.shrunk, w.st.maxInputs = limit, limit
			w.maxInputs = limit
			if live := d.windows[w.key]; live != nil {
				live.maxInputs = min(live.maxInputs, limit)
			}
		}
		half := len(members) / 2
		for _, part := range [][]*entry{members[half:], members[:half]} {
			d.newBatch(ctx, w, part, true, 0)
		}
		return
	}
	d.retryOrFail(ctx, members, m, b.win)
}

// finishBatch answers every member still waiting for the batch with answer
// (an error; each member gets its own copy) and drops the batch.
func (d *Dispatcher) finishBatch(ctx actor.Context, b *entry, answer any) {
	members := b.live()
	err, _ := answer.(error)
	if err == nil {
		err = &messages.RequestError{RequestID: b.id, Provider: b.p.name, Kind: messages.ErrInternal, Detail: "batch ended without an answer"}
	}
	for _, m := range members {
		d.finish(ctx, m, messages.ForRequest(err, m.id)) // the last one drops b
	}
	if b.state != stateDone {
		d.setState(b, stateDone)
	}
}

// windowStatus reports the windows of each provider, pinned endpoint,
// operation and model: their counts and what they hold now.
func (d *Dispatcher) windowStatus(now time.Time) []messages.WindowStatus {
	out := make([]messages.WindowStatus, 0, len(d.windowStats))
	at := make(map[*windowStats]int, len(d.windowStats))
	for _, st := range d.windowStats {
		at[st] = len(out)
		out = append(out, messages.WindowStatus{Provider: st.provider, Endpoint: st.endpoint, Model: st.model, Operation: st.op,
			MaxInputs: st.maxInputs, MaxTokens: st.maxTokens, Delay: st.delay, Batches: st.batches, Batched: st.batched,
			FlushFull: st.flushFull, FlushDelay: st.flushDelay, FlushHigh: st.flushHigh, FlushRetry: st.flushRetry,
			FlushIdle: st.flushIdle, FlushEnded: st.flushEnded, Mode: st.mode.String(),
			Splits: st.splits, LargestBatch: int(st.largestFilled)})
	}
	for _, w := range d.windows {
		ws := &out[at[w.st]]
		ws.Members += len(w.members)
		ws.Inputs += w.inputs
		ws.Tokens += w.tokens
		if len(w.members) > 0 {
			ws.OldestWait = max(ws.OldestWait, now.Sub(w.opened))
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Provider != b.Provider {
			return a.Provider < b.Provider
		}
		if a.Model != b.Model {
			return a.Model < b.Model
		}
		if a.Operation != b.Operation {
			return a.Operation < b.Operation
		}
		return a.Endpoint < b.Endpoint
	})
	return out
}

// sizeRefusal reports whether a 413's message blames the request's size
// (TEI: "batch size N > maximum allowed batch size M", a payload limit)
// rather than one input.
func sizeRefusal(msg string) bool {
	msg = strings.ToLower(msg)
	for _, w := range []string{"batch size", "payload", "too large", "too many", "length limit"} {
		if strings.Contains(msg, w) {
			return true
		}
	}
	return false
}
