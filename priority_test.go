package switchyard

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// A provider held at one call in flight by a stalled upstream: 30 mixed
// requests go out HIGH, then NORMAL, then LOW, FIFO within each level; an
// idle provider meanwhile serves a LOW request at once; a full level rejects
// at once while the upstream is still held.
func TestPriorityOrderAndNoHeadOfLineBlocking(t *testing.T) {
	busy, idle := startAnthropic(t), startAnthropic(t)
	cfg := Config{Providers: []ProviderConfig{
		anthropicProvider("busy", busy, KeyConfig{Label: "a", Secret: secretA, MaxInFlight: 1}),
		anthropicProvider("idle", idle),
	}, Queue: QueueConfig{High: 10, Normal: 10, Low: 10}}
	h := newHarness(t, cfg, false)
	checkDispatcher(t, h.sy)
	ctx := context.Background()

	busy.Hold()
	first := make(chan error, 1)
	go func() { _, err := h.sy.Chat(ctx, chatReq("busy", "first")); first <- err }()
	eventually(t, "the first call to reach the upstream", func() bool { return busy.Calls() == 1 })

	levels := []messages.Priority{messages.Low, messages.Normal, messages.High}
	var wg sync.WaitGroup
	errs := make(chan error, 30)
	for i := 0; i < 30; i++ {
		p := levels[i%3]
		text := fmt.Sprintf("%s-%02d", p, i/3)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.sy.Chat(ctx, chatReq("busy", text), WithPriority(p))
			errs <- err
		}()
		// Submit one at a time so FIFO order within a level is defined.
		eventually(t, "the request to be queued", func() bool {
			q, _ := h.sy.QueueStatus(ctx)
			return q.PerProvider["busy"][0]+q.PerProvider["busy"][1]+q.PerProvider["busy"][2] == i+1
		})
	}

	// Every level is full now: one more is rejected at once.
	start := time.Now()
	_, err := h.sy.Chat(ctx, chatReq("busy", "overflow"), WithPriority(messages.Low))
	var qf *messages.QueueFullError
	require.ErrorAs(t, err, &qf, "overflow")
	assert.Equal(t, messages.Low, qf.Priority)
	assert.Equal(t, 10, qf.Depth)
	assert.Equal(t, 10, qf.Capacity)
	require.Equal(t, 1, busy.Calls(), "the upstream should still be held on the first call")
	t.Logf("rejection took %v with the upstream held", time.Since(start))

	// An idle provider is not blocked by the busy one's queue.
	resp, err := h.sy.Chat(ctx, chatReq("idle", "idle-low"), WithPriority(messages.Low))
	require.NoError(t, err, "idle provider")
	require.NotEmpty(t, resp.Content, "idle provider")
	require.Equal(t, 1, busy.Calls(), "the busy upstream was released early")

	busy.Release()
	require.NoError(t, <-first, "first")
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "queued request")
	}
	var order []string
	for _, r := range busy.Requests()[1:] {
		order = append(order, lastUserText(t, r.Body))
	}
	var want []string
	for _, p := range []messages.Priority{messages.High, messages.Normal, messages.Low} {
		for i := 0; i < 10; i++ {
			want = append(want, fmt.Sprintf("%s-%02d", p, i))
		}
	}
	require.Equal(t, want, order, "the order the upstream saw")
	q, err := h.sy.QueueStatus(ctx)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), q.Levels[2].Rejected, "queue counters: %+v", q.Levels)
	assert.Equal(t, uint64(10), q.Levels[0].Admitted, "queue counters: %+v", q.Levels)
	assert.Equal(t, uint64(11), q.Levels[2].Admitted, "queue counters: %+v", q.Levels)
	rejected := h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.RequestRejected); return ok })
	assert.Len(t, rejected, 1, "one RequestRejected event per rejection")
}

// Capacity changes at run time: shrinking a level makes the next request
// overflow, growing it admits again.
func TestQueueCapacityAtRunTime(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, KeyConfig{Label: "a", Secret: secretA, MaxInFlight: 1})}}, false)
	checkDispatcher(t, h.sy)
	ctx := context.Background()
	srv.Hold()
	done := make(chan error, 3)
	for i := 0; i < 2; i++ {
		go func() { _, err := h.sy.Chat(ctx, chatReq("p", "x")); done <- err }()
	}
	eventually(t, "one queued", func() bool { q, _ := h.sy.QueueStatus(ctx); return q.Levels[1].Depth == 1 })
	require.NoError(t, h.sy.SetQueueCapacity(ctx, messages.Normal, 1))
	_, err := h.sy.Chat(ctx, chatReq("p", "y"))
	require.ErrorIs(t, err, ErrQueueFull, "at capacity 1")
	require.NoError(t, h.sy.SetQueueCapacity(ctx, messages.Normal, 5))
	go func() { _, err := h.sy.Chat(ctx, chatReq("p", "z")); done <- err }()
	eventually(t, "two queued", func() bool { q, _ := h.sy.QueueStatus(ctx); return q.Levels[1].Depth == 2 })
	srv.Release()
	for i := 0; i < 3; i++ {
		require.NoError(t, <-done)
	}
}

// A request whose deadline passes while it waits in the queue is answered
// ErrDeadline and never sent.
func TestQueueDeadlineExpires(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, KeyConfig{Label: "a", Secret: secretA, MaxInFlight: 1})}}, true)
	checkDispatcher(t, h.sy)
	ctx := context.Background()
	srv.Hold()
	first := h.chatAsync(ctx, chatReq("p", "holding the slot"))
	eventually(t, "the slot taken", func() bool { return srv.Calls() == 1 })
	waiting := h.chatAsync(ctx, chatReq("p", "will expire"), WithDeadline(h.clk.Now().Add(3*time.Second)))
	eventually(t, "queued", func() bool { q, _ := h.sy.QueueStatus(ctx); return q.Levels[1].Depth == 1 })
	h.clk.Advance(3 * time.Second)
	r := <-waiting
	require.ErrorIs(t, r.err, ErrDeadline)
	require.ErrorIs(t, r.err, context.DeadlineExceeded)
	srv.Release()
	require.NoError(t, (<-first).err)
	// Nothing waits in the dispatcher and no call runs: the calls the
	// upstream saw are all there will be.
	q, err := h.sy.QueueStatus(ctx)
	require.NoError(t, err)
	require.Zero(t, q.InFlight+q.Backoff+q.Parked+q.Levels[0].Depth+q.Levels[1].Depth+q.Levels[2].Depth, "queue %+v", q)
	eventually(t, "no call in flight", func() bool { return h.tree().Providers[0].Counters.InFlight == 0 })
	require.Equal(t, 1, srv.Calls(), "the expired request was sent")
	assert.Equal(t, uint64(1), q.Levels[1].Expired)
	assert.Len(t, h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.RequestExpired); return ok }), 1, "RequestExpired events")
}

// When every key cools down past a request's deadline, the request is
// answered at once with the time the first key is usable again.
func TestAllKeysCoolingAnswersRateLimited(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}, Retry: RetryConfig{MaxAttempts: 1}}, true)
	checkDispatcher(t, h.sy)
	ctx := context.Background()
	srv.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "60"}})
	_, err := h.sy.Chat(ctx, chatReq("p", "x"))
	require.ErrorIs(t, err, ErrUpstream, "first")
	_, err = h.sy.Chat(ctx, chatReq("p", "y"), WithDeadline(h.clk.Now().Add(5*time.Second)))
	var rl *messages.RateLimitedError
	require.ErrorAs(t, err, &rl)
	require.Equal(t, h.clk.Now().Add(60*time.Second), rl.RetryAt, "RateLimitedError until +60s")
	require.Equal(t, 1, srv.Calls())
	// Without a deadline it waits for the key and then succeeds.
	res := h.chatAsync(ctx, chatReq("p", "z"))
	h.waitTimer(59 * time.Second)
	h.clk.Advance(61 * time.Second)
	require.NoError(t, (<-res).err, "after the cooldown")
}

// A request pinned to a key (or to an endpoint) whose 429 asked for 5 ms,
// while another key is idle, is parked and retried when the 5 ms have
// passed; it used to stay parked for ever.
func TestPinnedRequestWakesAfterItsKeysCooldown(t *testing.T) {
	for _, pin := range []string{"key", "endpoint"} {
		t.Run(pin, func(t *testing.T) {
			srv, other := startAnthropic(t), startAnthropic(t)
			p := ProviderConfig{Name: "p", Kind: "anthropic", Endpoints: []EndpointConfig{
				{Name: "primary", BaseURL: srv.URL, Keys: []KeyConfig{{Label: "a", Secret: secretA}}},
				{Name: "secondary", BaseURL: other.URL, Keys: []KeyConfig{{Label: "b", Secret: secretB}}},
			}}
			if pin == "key" {
				// Both keys on one endpoint: the other key is idle.
				p.Endpoints = []EndpointConfig{{Name: "primary", BaseURL: srv.URL,
					Keys: []KeyConfig{{Label: "a", Secret: secretA}, {Label: "b", Secret: secretB}}}}
			}
			h := newHarness(t, Config{Providers: []ProviderConfig{p}, Retry: RetryConfig{BaseDelay: time.Second, MaxDelay: time.Second}}, true)
			checkDispatcher(t, h.sy)
			srv.Inject(sim.Fault{Status: 429, Key: secretA, Header: map[string]string{"Retry-After-Ms": "5"}})
			opt := WithKey("a")
			if pin == "endpoint" {
				opt = WithEndpoint("primary")
			}
			res := h.chatAsync(context.Background(), chatReq("p", "pinned"), opt)
			eventually(t, "the request parked", func() bool {
				q, err := h.sy.QueueStatus(context.Background())
				require.NoError(t, err)
				return q.Parked == 1
			})
			at, ok := h.clk.NextDeadline()
			require.True(t, ok, "a timer wakes the parked request")
			require.Equal(t, h.clk.Now().Add(5*time.Millisecond), at, "it wakes when the key's Retry-After ends")
			h.clk.Set(at)
			select {
			case r := <-res:
				require.NoError(t, r.err)
				assert.Equal(t, 2, r.resp.Attempts)
				assert.Equal(t, "a", r.resp.Key)
			case <-time.After(10 * time.Second):
				require.FailNow(t, "the pinned request was never retried")
			}
			assert.Equal(t, 2, srv.Calls(), "the 429, then the retry on the same key")
			assert.Zero(t, other.Calls(), "a pinned request never leaves its pin")
		})
	}
}
