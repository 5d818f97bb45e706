package switchyard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

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
	if !errors.As(err, &qf) || qf.Priority != messages.Low || qf.Depth != 10 || qf.Capacity != 10 {
		t.Fatalf("overflow: %v", err)
	}
	if busy.Calls() != 1 {
		t.Fatal("the upstream should still be held on the first call")
	}
	t.Logf("rejection took %v with the upstream held", time.Since(start))

	// An idle provider is not blocked by the busy one's queue.
	resp, err := h.sy.Chat(ctx, chatReq("idle", "idle-low"), WithPriority(messages.Low))
	if err != nil || resp.Content == "" {
		t.Fatalf("idle provider: %v", err)
	}
	if busy.Calls() != 1 {
		t.Fatal("the busy upstream was released early")
	}

	busy.Release()
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("queued request: %v", err)
		}
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
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("upstream saw\n%v\nwant\n%v", order, want)
	}
	q, _ := h.sy.QueueStatus(ctx)
	if q.Levels[2].Rejected != 1 || q.Levels[0].Admitted != 10 || q.Levels[2].Admitted != 11 {
		t.Fatalf("queue counters: %+v", q.Levels)
	}
}

// Capacity changes at run time: shrinking a level makes the next request
// overflow, growing it admits again.
func TestQueueCapacityAtRunTime(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, KeyConfig{Label: "a", Secret: secretA, MaxInFlight: 1})}}, false)
	ctx := context.Background()
	srv.Hold()
	done := make(chan error, 3)
	for i := 0; i < 2; i++ {
		go func() { _, err := h.sy.Chat(ctx, chatReq("p", "x")); done <- err }()
	}
	eventually(t, "one queued", func() bool { q, _ := h.sy.QueueStatus(ctx); return q.Levels[1].Depth == 1 })
	if err := h.sy.SetQueueCapacity(ctx, messages.Normal, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := h.sy.Chat(ctx, chatReq("p", "y")); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("want ErrQueueFull at capacity 1, got %v", err)
	}
	if err := h.sy.SetQueueCapacity(ctx, messages.Normal, 5); err != nil {
		t.Fatal(err)
	}
	go func() { _, err := h.sy.Chat(ctx, chatReq("p", "z")); done <- err }()
	eventually(t, "two queued", func() bool { q, _ := h.sy.QueueStatus(ctx); return q.Levels[1].Depth == 2 })
	srv.Release()
	for i := 0; i < 3; i++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// A request whose deadline passes while it waits in the queue is answered
// ErrDeadline and never sent.
func TestQueueDeadlineExpires(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, KeyConfig{Label: "a", Secret: secretA, MaxInFlight: 1})}}, true)
	ctx := context.Background()
	srv.Hold()
	first := h.chatAsync(ctx, chatReq("p", "holding the slot"))
	eventually(t, "the slot taken", func() bool { return srv.Calls() == 1 })
	waiting := h.chatAsync(ctx, chatReq("p", "will expire"), WithDeadline(h.clk.Now().Add(3*time.Second)))
	eventually(t, "queued", func() bool { q, _ := h.sy.QueueStatus(ctx); return q.Levels[1].Depth == 1 })
	h.clk.Advance(3 * time.Second)
	r := <-waiting
	if !errors.Is(r.err, ErrDeadline) || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("want ErrDeadline, got %v", r.err)
	}
	srv.Release()
	if r := <-first; r.err != nil {
		t.Fatal(r.err)
	}
	time.Sleep(20 * time.Millisecond)
	if srv.Calls() != 1 {
		t.Fatalf("the expired request was sent: calls %d", srv.Calls())
	}
	q, _ := h.sy.QueueStatus(ctx)
	if q.Levels[1].Expired != 1 {
		t.Fatalf("expired count %d", q.Levels[1].Expired)
	}
	if len(h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.RequestExpired); return ok })) != 1 {
		t.Fatal("no RequestExpired event")
	}
}

// When every key cools down past a request's deadline, the request is
// answered at once with the time the first key is usable again.
func TestAllKeysCoolingAnswersRateLimited(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}, Retry: RetryConfig{MaxAttempts: 1}}, true)
	ctx := context.Background()
	srv.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "60"}})
	if _, err := h.sy.Chat(ctx, chatReq("p", "x")); !errors.Is(err, ErrUpstream) {
		t.Fatalf("first: %v", err)
	}
	_, err := h.sy.Chat(ctx, chatReq("p", "y"), WithDeadline(h.clk.Now().Add(5*time.Second)))
	var rl *messages.RateLimitedError
	if !errors.As(err, &rl) || !rl.RetryAt.Equal(h.clk.Now().Add(60*time.Second)) {
		t.Fatalf("want RateLimitedError until +60s, got %v", err)
	}
	if srv.Calls() != 1 {
		t.Fatalf("calls %d", srv.Calls())
	}
	// Without a deadline it waits for the key and then succeeds.
	res := h.chatAsync(ctx, chatReq("p", "z"))
	h.waitTimer(59 * time.Second)
	h.clk.Advance(61 * time.Second)
	if r := <-res; r.err != nil {
		t.Fatalf("after the cooldown: %v", r.err)
	}
}
