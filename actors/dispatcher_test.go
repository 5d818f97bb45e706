package actors

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Message-level tests of the dispatcher: no HTTP, no provider actor. A fake
// provider records the dispatches it receives and sends the dispatcher
// whatever the test tells it to (attempt reports, capacity offers), so the
// test decides every answer and observes every message the dispatcher sends.

// fakeAdapter passes every request's check; the dispatcher never calls Do.
type fakeAdapter struct{}

func (fakeAdapter) Kind() string                 { return "fake" }
func (fakeAdapter) Check(messages.Request) error { return nil }
func (fakeAdapter) Do(context.Context, *providers.Call) (messages.Response, error) {
	return nil, errors.New("the dispatcher never calls Do")
}

// batchingAdapter also merges requests, up to lim.
type batchingAdapter struct {
	fakeAdapter
	lim providers.BatchLimits
}

func (b batchingAdapter) BatchLimits(messages.Request) (providers.BatchLimits, bool) {
	return b.lim, true
}

// forward asks the fake provider to send msg to the dispatcher; it answers
// once sent, so msg is in the dispatcher's mailbox before anything the test
// sends next.
type forward struct{ msg any }

// ping is answered by the fake provider once it has handled everything
// sent to it before.
type ping struct{}

// fakeProvider stands in for a Provider actor.
type fakeProvider struct {
	dispatcher *actor.PID
	got        chan *dispatch
}

func (f *fakeProvider) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *dispatch:
		f.got <- m
	case *forward:
		ctx.Send(f.dispatcher, m.msg)
		ctx.Respond(true)
	case *ping:
		ctx.Respond(true)
	}
}

// kit is one dispatcher with fake providers, on a manual clock, its
// invariant check on.
type kit struct {
	t     *testing.T
	sys   *actor.ActorSystem
	clk   *clock.Manual
	d     *actor.PID
	provs map[string]*actor.PID
	got   map[string]chan *dispatch

	mu        sync.Mutex
	events    []messages.Event
	violation error
}

// newKit starts a dispatcher whose providers (name → adapter) are fake
// provider actors. Nothing is offered until the test sends a capacity.
func newKit(t *testing.T, q QueueConfig, r RetryConfig, adapters map[string]providers.Adapter, handles ...func(*ProviderHandle)) *kit {
	t.Helper()
	leaks := goleak.IgnoreCurrent()
	k := &kit{t: t, sys: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	})), clk: clocktest.New(t), provs: map[string]*actor.PID{}, got: map[string]chan *dispatch{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	env := &Env{Clock: k.clk, Events: NewEventBus(log), Log: log, Root: k.sys.Root, Calls: NewCallGroup()}
	env.Events.Subscribe(func(e messages.Event) {
		k.mu.Lock()
		k.events = append(k.events, e)
		k.mu.Unlock()
	})
	cfg := DispatcherConfig{Queue: q, Retry: r, Providers: map[string]ProviderHandle{}}
	for name, a := range adapters {
		h := ProviderHandle{Adapter: a, Counters: &Counters{}}
		for _, f := range handles {
			f(&h)
		}
		cfg.Providers[name] = h
	}
	k.d = k.sys.Root.Spawn(actor.PropsFromProducer(NewDispatcherProducer(cfg, env)))
	_, err := k.sys.Root.RequestFuture(k.d, &CheckInvariants{Report: func(err error) {
		k.mu.Lock()
		defer k.mu.Unlock()
		if k.violation == nil {
			k.violation = err
		}
	}}, 5*time.Second).Result()
	require.NoError(t, err)
	pids := map[string]*actor.PID{}
	for name := range adapters {
		ch := make(chan *dispatch, 100)
		d := k.d
		k.got[name] = ch
		k.provs[name] = k.sys.Root.Spawn(actor.PropsFromFunc((&fakeProvider{dispatcher: d, got: ch}).Receive))
		pids[name] = k.provs[name]
	}
	k.sys.Root.Send(k.d, &AttachProviders{PIDs: pids})
	t.Cleanup(func() {
		done := make(chan struct{})
		k.sys.Root.Send(k.d, &Abort{Done: done})
		<-done
		for _, pid := range k.provs {
			require.NoError(t, k.sys.Root.StopFuture(pid).Wait())
		}
		require.NoError(t, k.sys.Root.StopFuture(k.d).Wait())
		k.sys.Shutdown()
		k.mu.Lock()
		assert.NoError(t, k.violation, "dispatcher invariant")
		k.mu.Unlock()
		goleak.VerifyNone(t, leaks, goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
	})
	return k
}

// submit sends req as the facade does and returns the channel of its answer.
func (k *kit) submit(req messages.Request) chan any {
	ch := make(chan any, 1)
	k.sys.Root.Send(k.d, &Submit{Req: req, Ctx: context.Background(), Reply: ch})
	return ch
}

// send hands msg to the dispatcher through provider name, as that provider
// would send it.
func (k *kit) send(name string, msg any) {
	k.t.Helper()
	_, err := k.sys.Root.RequestFuture(k.provs[name], &forward{msg}, 5*time.Second).Result()
	require.NoError(k.t, err)
}

// offer sends provider name's capacity: free slots, counting received
// dispatches.
func (k *kit) offer(name string, seq uint64, free int, received uint64) {
	k.send(name, &capacity{provider: name, seq: seq, free: free, received: received})
}

// status is the dispatcher's QueueStatus once it handled every message sent
// to it before.
func (k *kit) status() *messages.QueueStatus {
	k.t.Helper()
	r, err := k.sys.Root.RequestFuture(k.d, &messages.GetQueueStatus{}, 5*time.Second).Result()
	require.NoError(k.t, err)
	return r.(*messages.QueueStatus)
}

// next waits for the provider's next dispatch.
func (k *kit) next(name string) *dispatch {
	k.t.Helper()
	select {
	case m := <-k.got[name]:
		return m
	case <-time.After(5 * time.Second):
		require.FailNow(k.t, "no dispatch to "+name)
		return nil
	}
}

// quiet asserts that the dispatcher sent provider name nothing more: the
// status round trip orders every dispatch the dispatcher sent before it
// ahead of the ping in the provider's mailbox.
func (k *kit) quiet(name string) {
	k.t.Helper()
	k.status()
	_, err := k.sys.Root.RequestFuture(k.provs[name], &ping{}, 5*time.Second).Result()
	require.NoError(k.t, err)
	select {
	case m := <-k.got[name]:
		require.FailNow(k.t, "unexpected dispatch", "request %s attempt %d", m.id, m.attempt)
	default:
	}
}

// answer waits for a request's terminal answer.
func answer(t *testing.T, ch chan any) any {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no answer")
		return nil
	}
}

func (k *kit) eventsOf(match func(messages.Event) bool) []messages.Event {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []messages.Event
	for _, e := range k.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

func chatAt(id string, prio messages.Priority) *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{RequestID: id, Provider: "p", Priority: prio}, Model: "m",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: id}}}
}

func embedAt(id string, prio messages.Priority) *messages.EmbedRequest {
	return &messages.EmbedRequest{Call: messages.Call{RequestID: id, Provider: "p", Priority: prio}, Model: "e", Inputs: []string{id}}
}

var oneProvider = map[string]providers.Adapter{"p": fakeAdapter{}}

// With no credit nothing is sent; a capacity offer then releases HIGH,
// NORMAL, LOW in that order, FIFO within a level, and no more than offered.
func TestDispatcherSendsByPriorityWithinCredit(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{}, oneProvider)
	for _, r := range []*messages.ChatRequest{chatAt("low-1", messages.Low), chatAt("normal-1", messages.Normal),
		chatAt("high-1", messages.High), chatAt("low-2", messages.Low), chatAt("high-2", messages.High)} {
		k.submit(r)
	}
	st := k.status()
	assert.Equal(t, [3]int{2, 1, 2}, st.PerProvider["p"], "all five wait: no credit yet")
	k.quiet("p")

	k.offer("p", 1, 4, 0)
	var order []string
	for range 4 {
		order = append(order, k.next("p").id)
	}
	assert.Equal(t, []string{"high-1", "high-2", "normal-1", "low-1"}, order)
	k.quiet("p")
	st = k.status()
	assert.Equal(t, 1, st.Levels[2].Depth)
	assert.Equal(t, 4, st.InFlight)
}

// A successful attempt report is the request's answer, with its meta.
func TestDispatcherAnswersAttemptDone(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{}, oneProvider)
	ch := k.submit(chatAt("r1", messages.Normal))
	k.offer("p", 1, 1, 0)
	d := k.next("p")
	require.Equal(t, "r1", d.id)
	require.Equal(t, 1, d.attempt)
	k.send("p", &attemptDone{provider: "p", id: "r1", attempt: 1, resp: &messages.ChatResponse{Content: "hi"}})
	resp, ok := answer(t, ch).(*messages.ChatResponse)
	require.True(t, ok)
	assert.Equal(t, "hi", resp.Content)
	assert.Equal(t, "r1", resp.RequestID)
	assert.Equal(t, 1, resp.Attempts)
	st := k.status()
	assert.Zero(t, st.InFlight)
}

// A retryable failure is retried after its backoff, on the dispatcher's
// clock: the retry is a pending timer, and nothing is sent before it fires.
func TestDispatcherRetriesAfterBackoff(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{BaseDelay: time.Second, MaxDelay: time.Second}, oneProvider)
	ch := k.submit(chatAt("r1", messages.Normal))
	k.offer("p", 1, 1, 0)
	k.next("p")
	k.send("p", &attemptDone{provider: "p", id: "r1", attempt: 1,
		err: &messages.UpstreamError{RequestID: "r1", Provider: "p", Status: 503, Class: messages.ClassServer, RetryAfter: 2 * time.Second}})
	k.offer("p", 2, 1, 1)
	st := k.status()
	assert.Equal(t, 1, st.Backoff)
	at, ok := k.clk.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, k.clk.Now().Add(2*time.Second), at, "Retry-After wins over the 1s backoff")
	k.quiet("p")
	k.clk.Set(at)
	d := k.next("p")
	assert.Equal(t, 2, d.attempt)
	k.send("p", &attemptDone{provider: "p", id: "r1", attempt: 2, resp: &messages.ChatResponse{}})
	resp := answer(t, ch).(*messages.ChatResponse)
	assert.Equal(t, 2, resp.Attempts)
}

// A request pinned to a key whose 429 said Retry-After 5ms, while another
// key is usable, is retried at once, bounced (its key cools) and parked;
// it wakes when the 5ms have passed, without any report from the provider.
func TestDispatcherWakesParkedRequestAtRetryAfter(t *testing.T) {
	for _, pin := range []string{"key", "endpoint"} {
		t.Run(pin, func(t *testing.T) {
			k := newKit(t, QueueConfig{}, RetryConfig{BaseDelay: time.Second, MaxDelay: time.Second}, oneProvider)
			req := chatAt("pinned", messages.Normal)
			if pin == "key" {
				req.Key = "a"
			} else {
				req.Endpoint = "primary"
			}
			ch := k.submit(req)
			k.send("p", &capacity{provider: "p", seq: 1, mode: capUnlimited, free: unlimitedThreshold})
			k.next("p")
			k.send("p", &attemptDone{provider: "p", id: "pinned", attempt: 1, rotate: true, keyLabel: "a",
				err: &messages.UpstreamError{RequestID: "pinned", Provider: "p", Key: "a", Status: 429, Class: messages.ClassRateLimited, RetryAfter: 5 * time.Millisecond}})
			d := k.next("p")
			require.Equal(t, 2, d.attempt, "rotated: retried at once")
			require.Equal(t, "a", d.avoidKey)
			k.send("p", &attemptDone{provider: "p", id: "pinned", attempt: 2, bounced: true})
			st := k.status()
			require.Equal(t, 1, st.Parked)
			at, ok := k.clk.NextDeadline()
			require.True(t, ok, "a parked request with a known retry time has a wake timer")
			assert.Equal(t, k.clk.Now().Add(5*time.Millisecond), at)
			k.quiet("p")

			k.clk.Advance(5 * time.Millisecond)
			d = k.next("p")
			assert.Equal(t, 2, d.attempt, "a bounce is not an attempt")
			k.send("p", &attemptDone{provider: "p", id: "pinned", attempt: 2, resp: &messages.ChatResponse{Content: "ok"}})
			resp := answer(t, ch).(*messages.ChatResponse)
			assert.Equal(t, "ok", resp.Content)
			assert.Zero(t, k.status().Parked)
		})
	}
}

// A parked request with no known retry time wakes on a backoff that grows
// with each bounce in a row; a wake report from the provider wakes it at
// once and stops the timer.
func TestDispatcherParkedBackoffAndWake(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}, oneProvider)
	req := chatAt("pinned", messages.Normal)
	req.Key = "a"
	k.submit(req)
	k.send("p", &capacity{provider: "p", seq: 1, mode: capUnlimited, free: unlimitedThreshold})
	k.next("p")
	k.send("p", &attemptDone{provider: "p", id: "pinned", attempt: 1, bounced: true})
	require.Equal(t, 1, k.status().Parked)
	at, ok := k.clk.NextDeadline()
	require.True(t, ok)
	first := at.Sub(k.clk.Now())
	assert.InDelta(t, float64(100*time.Millisecond), float64(first), float64(20*time.Millisecond), "first wake after BaseDelay ±20%%")
	k.clk.Set(at)
	k.next("p")
	k.send("p", &attemptDone{provider: "p", id: "pinned", attempt: 1, bounced: true})
	require.Equal(t, 1, k.status().Parked)
	at, ok = k.clk.NextDeadline()
	require.True(t, ok)
	assert.InDelta(t, float64(200*time.Millisecond), float64(at.Sub(k.clk.Now())), float64(40*time.Millisecond), "the second wake waits twice as long")

	k.send("p", &capacity{provider: "p", seq: 2, mode: capUnlimited, free: unlimitedThreshold, wake: true})
	k.next("p")
	assert.Zero(t, k.status().Parked)
	_, pending := k.clk.NextDeadline()
	assert.False(t, pending, "the wake stopped the timer")
}

// A batch placed at the front (a retry, the halves of a refused batch)
// reports its members' wait, not the age of the zero time.
func TestDispatcherFrontBatchHasAnEnqueueTime(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{BaseDelay: time.Second, MaxDelay: time.Second},
		map[string]providers.Adapter{"p": batchingAdapter{lim: providers.BatchLimits{MaxInputs: 4}}},
		func(h *ProviderHandle) { h.Batching.Default.Mode = BatchFixed })
	k.offer("p", 1, 1, 0)
	var chans []chan any
	for _, id := range []string{"a", "b", "c", "d"} {
		chans = append(chans, k.submit(embedAt(id, messages.Low)))
	}
	b := k.next("p")
	require.Len(t, b.req.(*messages.EmbedRequest).Inputs, 4, "a full window flushes")
	k.clk.Advance(time.Second)

	// Refused as a whole: split in two halves, at the front, while the
	// provider has no credit left.
	k.send("p", &attemptDone{provider: "p", id: b.id, attempt: 1,
		err: &messages.UpstreamError{RequestID: b.id, Provider: "p", Status: 400, Class: messages.ClassInvalid}})
	st := k.status()
	assert.Equal(t, 4, st.Levels[2].Depth, "four requests wait in two batches")
	assert.Equal(t, time.Second, st.Levels[2].OldestWait, "the batch waits since its members joined")

	// Retried after a backoff: again at the front.
	k.offer("p", 2, 1, 1)
	half := k.next("p")
	k.send("p", &attemptDone{provider: "p", id: half.id, attempt: 1,
		err: &messages.UpstreamError{RequestID: half.id, Provider: "p", Status: 503, Class: messages.ClassServer}})
	require.Equal(t, 1, k.status().Backoff, "the two members back off as one batch")
	at, ok := k.clk.NextDeadline()
	require.True(t, ok)
	k.clk.Set(at)
	k.offer("p", 3, 0, 2) // no credit: the retried batch waits at the front
	require.Eventually(t, func() bool { return k.status().Backoff == 0 }, 5*time.Second, time.Millisecond)
	st = k.status()
	assert.Equal(t, 4, st.Levels[2].Depth)
	assert.Less(t, st.Levels[2].OldestWait, time.Minute, "oldest wait %v", st.Levels[2].OldestWait)
	assert.Greater(t, st.Levels[2].OldestWait, time.Second)
	for _, ch := range chans {
		select {
		case a := <-ch:
			require.FailNow(t, "answered early", "%v", a)
		default:
		}
	}
}

// Every ErrQueueFull the dispatcher answers is one RequestRejected event and
// one count in the level's Rejected, whether refused at admission or shed
// for a HIGH request.
func TestDispatcherRejectionsCountOnce(t *testing.T) {
	k := newKit(t, QueueConfig{Capacity: [3]int{1, 1, 1}, ShedLow: true}, RetryConfig{}, oneProvider)
	low := k.submit(chatAt("low-1", messages.Low))
	refused := k.submit(chatAt("low-2", messages.Low))
	high := k.submit(chatAt("high-1", messages.High))
	shedding := k.submit(chatAt("high-2", messages.High))

	var qf *messages.QueueFullError
	require.ErrorAs(t, answer(t, refused).(*messages.Failure).Err, &qf)
	assert.Equal(t, "low-2", qf.RequestID)
	require.ErrorAs(t, answer(t, low).(*messages.Failure).Err, &qf)
	assert.Equal(t, "low-1", qf.RequestID, "the LOW request is shed for a HIGH one")
	require.ErrorAs(t, answer(t, shedding).(*messages.Failure).Err, &qf, "HIGH is full even after shedding")
	assert.Equal(t, "high-2", qf.RequestID)

	st := k.status()
	rejected := k.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.RequestRejected); return ok })
	assert.Len(t, rejected, 3, "one event per ErrQueueFull answer")
	assert.Equal(t, uint64(2), st.Levels[2].Rejected)
	assert.Equal(t, uint64(1), st.Levels[0].Rejected)
	assert.Equal(t, 1, st.Levels[0].Depth)
	assert.Zero(t, st.Levels[2].Depth)
	select {
	case a := <-high:
		require.FailNow(t, "high-1 answered", "%v", a)
	default:
	}
}

// A level's capacity bounds what waits: a request its idle provider could
// take at once is not refused at a full level, and is sent alone rather
// than wait in a batching window above the capacity.
func TestDispatcherDepthStaysWithinCapacity(t *testing.T) {
	k := newKit(t, QueueConfig{Capacity: [3]int{4, 4, 1}}, RetryConfig{},
		map[string]providers.Adapter{"busy": fakeAdapter{}, "p": batchingAdapter{lim: providers.BatchLimits{MaxInputs: 8}}})
	busy := chatAt("busy-low", messages.Low)
	busy.Provider = "busy"
	k.submit(busy)
	k.send("p", &capacity{provider: "p", seq: 1, mode: capUnlimited, free: unlimitedThreshold})
	require.Equal(t, 1, k.status().Levels[2].Depth, "the busy provider's request fills LOW")

	k.submit(embedAt("idle-low", messages.Low))
	d := k.next("p")
	assert.Equal(t, "idle-low", d.id, "sent alone, at once")
	st := k.status()
	assert.Equal(t, 1, st.Levels[2].Depth)
	assert.Empty(t, func() []messages.WindowStatus {
		var open []messages.WindowStatus
		for _, w := range st.Windows {
			if w.Members > 0 {
				open = append(open, w)
			}
		}
		return open
	}())
}

// Lowering a level's capacity keeps the requests already waiting (they
// become exempt) and refuses new ones until the level drains below it.
func TestDispatcherCapacityLoweredKeepsWaiters(t *testing.T) {
	k := newKit(t, QueueConfig{Capacity: [3]int{4, 4, 4}}, RetryConfig{}, oneProvider)
	for _, id := range []string{"n1", "n2", "n3"} {
		k.submit(chatAt(id, messages.Normal))
	}
	r, err := k.sys.Root.RequestFuture(k.d, &messages.SetQueueCapacity{Priority: messages.Normal, Capacity: 1}, 5*time.Second).Result()
	require.NoError(t, err)
	st := r.(*messages.QueueStatus)
	assert.Equal(t, 3, st.Levels[1].Depth)
	assert.Equal(t, 1, st.Levels[1].Capacity)
	refused := k.submit(chatAt("n4", messages.Normal))
	assert.ErrorIs(t, answer(t, refused).(*messages.Failure).Err, messages.ErrQueueFull)
}

// The invariant check finds a count that disagrees with the entries.
func TestDispatcherInvariantCheckFindsDrift(t *testing.T) {
	p := &provQueue{name: "p", handle: ProviderHandle{Adapter: fakeAdapter{}}}
	d := &Dispatcher{&dispatcherState{env: &Env{Clock: clock.NewManual(time.Unix(0, 0))}, entries: map[string]*entry{}, provs: map[string]*provQueue{"p": p}, windows: map[string]*window{},
		windowStats: map[string]*windowStats{}, capacity: [3]int{1, 1, 1}}}
	e := &entry{id: "r", p: p, level: 1, cancel: func() {}}
	d.entries["r"] = e
	d.admitted[1] = 1
	d.enqueue(e, false)
	require.NoError(t, d.checkInvariants())

	p.depth[1]++ // an edit by hand
	require.ErrorContains(t, d.checkInvariants(), "depth")
	p.depth[1]--

	d.backoffN = 1
	require.ErrorContains(t, d.checkInvariants(), "backoff")
	d.backoffN = 0

	d.admitted[1] = 2
	require.ErrorContains(t, d.checkInvariants(), "admitted")
	d.admitted[1] = 1

	e2 := &entry{id: "r2", p: p, level: 1, cancel: func() {}}
	d.entries["r2"] = e2
	d.admitted[1] = 2
	d.enqueue(e2, true)
	require.ErrorContains(t, d.checkInvariants(), "capacity", "two waiting at a level of capacity one")
	e2.exempt = true
	require.NoError(t, d.checkInvariants(), "a requeued request is exempt")

	d.setState(e, stateInFlight)
	p.inflight = 0
	require.ErrorContains(t, d.checkInvariants(), "in flight")
}

// streamCaller is an actor that sends a streaming request to the
// dispatcher and records everything it gets back, in order.
type streamCaller struct {
	dispatcher *actor.PID
	req        messages.Request
	mu         *sync.Mutex
	got        *[]any
	answered   chan struct{}
}

func (c *streamCaller) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(c.dispatcher, c.req)
	case *messages.StreamChunk, *messages.Failure, messages.Response:
		c.mu.Lock()
		*c.got = append(*c.got, m)
		c.mu.Unlock()
		if _, chunk := m.(*messages.StreamChunk); !chunk {
			close(c.answered)
		}
	case *ping:
		ctx.Respond(true)
	}
}

// An actor's stream: the emit func the dispatcher builds delivers chunks
// until the terminal answer and none after it, even while the call's
// goroutine keeps emitting as the answer is sent.
func TestDispatcherNoChunkAfterTheTerminalAnswer(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{}, oneProvider)
	k.send("p", &capacity{provider: "p", seq: 1, mode: capUnlimited, free: unlimitedThreshold})
	for i := range 20 {
		req := chatAt("s", messages.Normal)
		req.RequestID = "stream-" + string(rune('a'+i))
		req.Stream = true
		var mu sync.Mutex
		var got []any
		answered := make(chan struct{})
		caller := k.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &streamCaller{dispatcher: k.d, req: req, mu: &mu, got: &got, answered: answered}
		}))
		d := k.next("p")
		require.NotNil(t, d.emit)
		// The call's goroutine emits while the caller cancels.
		emitted := make(chan int)
		started := make(chan struct{})
		go func() {
			n := 0
			for n < 5000 && d.emit(&messages.StreamChunk{RequestID: d.id, Seq: n, Text: "x"}) {
				if n++; n == 1 {
					close(started)
				}
			}
			emitted <- n
		}()
		<-started
		k.sys.Root.Send(k.d, &messages.Cancel{RequestID: d.id})
		<-answered
		n := <-emitted
		assert.False(t, d.emit(&messages.StreamChunk{RequestID: d.id}), "emit after the answer reports the caller gone")
		_, err := k.sys.Root.RequestFuture(caller, &ping{}, 5*time.Second).Result()
		require.NoError(t, err)
		mu.Lock()
		last := got[len(got)-1]
		chunks := len(got) - 1
		mu.Unlock()
		f, ok := last.(*messages.Failure)
		require.True(t, ok, "the last message is the terminal answer, got %T", last)
		assert.ErrorIs(t, f.Err, context.Canceled)
		assert.Equal(t, n, chunks, "every chunk emitted was delivered before the answer")
		require.NoError(t, k.sys.Root.StopFuture(caller).Wait())
	}
}

// A request sent to a provider just before it reported every key cooling
// (the report overtook nothing: the request was admitted while the old
// report still said "free") comes back bounced; if its deadline comes
// before the keys' retry time it is answered RateLimitedError at once, as
// on arrival, instead of waiting for its deadline (a race the suite hit
// about once in 30 runs of TestAllKeysCoolingAnswersRateLimited).
func TestDispatcherBouncedRequestOfACoolingProviderFailsFast(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{MaxAttempts: 1}, oneProvider)
	req := chatAt("late", messages.Normal)
	req.Deadline = k.clk.Now().Add(5 * time.Second)
	ch := k.submit(req)
	k.send("p", &capacity{provider: "p", seq: 1, mode: capUnlimited, free: unlimitedThreshold})
	k.next("p")
	retryAt := k.clk.Now().Add(time.Minute)
	k.send("p", &capacity{provider: "p", seq: 2, free: 0, received: 1, retryAt: retryAt})
	k.send("p", &attemptDone{provider: "p", id: "late", attempt: 1, bounced: true})
	var rl *messages.RateLimitedError
	require.ErrorAs(t, answer(t, ch).(*messages.Failure).Err, &rl)
	assert.Equal(t, retryAt, rl.RetryAt)
}
