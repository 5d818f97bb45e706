package switchyard

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// result of a call run in the background.
type result struct {
	resp *messages.ChatResponse
	err  error
}

func (h *harness) chatAsync(ctx context.Context, req *messages.ChatRequest, opts ...CallOption) <-chan result {
	ch := make(chan result, 1)
	go func() {
		r, err := h.sy.Chat(ctx, req, opts...)
		ch <- result{r, err}
	}()
	return ch
}

func retryHarness(t *testing.T, srv *sim.Server, maxAttempts int) *harness {
	return newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Retry:   RetryConfig{MaxAttempts: maxAttempts, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second},
		Breaker: BreakerConfig{ConsecutiveFailures: 50}}, true)
}

// A 429 asking for a delay is not retried before the delay, in each of the
// header's forms.
func TestRetryAfterIsHonoured(t *testing.T) {
	cases := []struct {
		name   string
		header func(now time.Time) map[string]string
		delay  time.Duration
	}{
		{"retry-after seconds", func(time.Time) map[string]string { return map[string]string{"Retry-After": "2"} }, 2 * time.Second},
		{"retry-after-ms", func(time.Time) map[string]string { return map[string]string{"Retry-After-Ms": "1500"} }, 1500 * time.Millisecond},
		{"retry-after http date", func(now time.Time) map[string]string {
			return map[string]string{"Retry-After": now.Add(3 * time.Second).Format(http.TimeFormat)}
		}, 3 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startAnthropic(t)
			h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv,
				KeyConfig{Label: "a", Secret: secretA}, KeyConfig{Label: "b", Secret: secretB})},
				Retry: RetryConfig{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}}, true)
			// Both keys answer 429 once, so the retry cannot rotate to a
			// fresh key and must wait.
			srv.Inject(sim.Fault{Status: 429, Header: c.header(h.clk.Now()), Times: 2})
			start := h.clk.Now()
			res := h.chatAsync(context.Background(), chatReq("p", "hello"))
			// Backoff 1 in the queue status means the retry timer is armed;
			// the clock has not moved, so it fires at start + the delay the
			// dispatcher chose (the RequestRetried event says which).
			eventually(t, "the retry to be scheduled", func() bool {
				q, _ := h.sy.QueueStatus(context.Background())
				return q.Backoff == 1
			})
			if srv.Calls() != 2 {
				t.Fatalf("calls = %d, want 2 (one per key) before the backoff", srv.Calls())
			}
			var delay time.Duration
			for _, e := range h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.RequestRetried); return ok }) {
				if d := e.(*messages.RequestRetried).Delay; d > 0 {
					delay = d
				}
			}
			if delay < c.delay {
				t.Fatalf("retry scheduled after %v, want at least %v", delay, c.delay)
			}
			at := start.Add(delay)
			h.clk.Set(at.Add(-time.Millisecond))
			time.Sleep(20 * time.Millisecond)
			if srv.Calls() != 2 {
				t.Fatalf("retried before Retry-After elapsed: calls = %d", srv.Calls())
			}
			h.clk.Set(at)
			r := <-res
			if r.err != nil {
				t.Fatalf("after the delay: %v", r.err)
			}
			if srv.Calls() != 3 || r.resp.Attempts != 3 {
				t.Fatalf("calls = %d, attempts = %d, want 3", srv.Calls(), r.resp.Attempts)
			}
		})
	}
}

// 503s are retried up to the limit; the final error carries the attempts and
// the last status.
func TestRetryExhaustedCarriesAttempts(t *testing.T) {
	srv := startAnthropic(t)
	h := retryHarness(t, srv, 3)
	srv.Inject(sim.Fault{Status: 503, Times: -1})
	res := h.chatAsync(context.Background(), chatReq("p", "hello"))
	for i := 0; i < 2; i++ {
		at := h.waitTimer(0)
		h.clk.Set(at)
	}
	r := <-res
	var ue *messages.UpstreamError
	if !errors.As(r.err, &ue) || ue.Status != 503 || ue.Attempts != 3 {
		t.Fatalf("want 503 after 3 attempts, got %v", r.err)
	}
	if srv.Calls() != 3 {
		t.Fatalf("calls = %d, want 3", srv.Calls())
	}
}

// Errors that retrying cannot fix are answered after one attempt.
func TestNotRetried(t *testing.T) {
	cases := []struct {
		name  string
		fault sim.Fault
		class messages.ErrorClass
	}{
		{"400 invalid", sim.Fault{Status: 400}, messages.ClassInvalid},
		{"404", sim.Fault{Status: 404}, messages.ClassInvalid},
		{"spend limit 429", sim.Fault{Status: 429, Body: `{"type":"error","error":{"type":"rate_limit_error","message":"spend limit reached","details":{"error_code":"enforced_spend_limit_reached"}}}`}, messages.ClassQuota},
		{"x-should-retry false", sim.Fault{Status: 503, Header: map[string]string{"X-Should-Retry": "false"}}, messages.ClassServer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := startAnthropic(t)
			h := retryHarness(t, srv, 5)
			c.fault.Times = -1
			srv.Inject(c.fault)
			_, err := h.sy.Chat(context.Background(), chatReq("p", "hello"))
			var ue *messages.UpstreamError
			if !errors.As(err, &ue) || ue.Class != c.class || ue.Attempts != 1 {
				t.Fatalf("got %v (class %v), want %s after 1 attempt", err, ue, c.class)
			}
			if srv.Calls() != 1 {
				t.Fatalf("calls = %d, want 1", srv.Calls())
			}
		})
	}
}

// Cancelling during the backoff answers at once and sends nothing more.
func TestCancelDuringBackoffSendsNothing(t *testing.T) {
	srv := startAnthropic(t)
	h := retryHarness(t, srv, 5)
	srv.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "10"}, Times: -1})
	ctx, cancel := context.WithCancel(context.Background())
	res := h.chatAsync(ctx, chatReq("p", "hello"))
	h.waitTimer(9 * time.Second)
	cancel()
	r := <-res
	if !errors.Is(r.err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", r.err)
	}
	h.clk.Advance(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if srv.Calls() != 1 {
		t.Fatalf("calls = %d after cancel, want 1", srv.Calls())
	}
	q, _ := h.sy.QueueStatus(context.Background())
	if q.Backoff != 0 || q.InFlight != 0 {
		t.Fatalf("cancelled request still tracked: %+v", q)
	}
}

// A deadline shorter than the requested delay ends the request with the
// upstream's error instead of waiting past the deadline.
func TestDeadlineBoundsRetries(t *testing.T) {
	srv := startAnthropic(t)
	h := retryHarness(t, srv, 5)
	srv.Inject(sim.Fault{Status: 503, Header: map[string]string{"Retry-After": "30"}, Times: -1})
	_, err := h.sy.Chat(context.Background(), chatReq("p", "hello"), WithDeadline(h.clk.Now().Add(5*time.Second)))
	var ue *messages.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 {
		t.Fatalf("want the 503, got %v", err)
	}
	if srv.Calls() != 1 {
		t.Fatalf("calls = %d", srv.Calls())
	}
}

// The retry budget stops a retry storm.
func TestRetryBudget(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Retry:   RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, BudgetBurst: 2, BudgetRatio: 0.01, BudgetPerSecond: 0.001},
		Breaker: BreakerConfig{ConsecutiveFailures: 1000}}, false)
	srv.Inject(sim.Fault{Status: 500, Times: -1})
	var budgetErrs int
	for i := 0; i < 4; i++ {
		_, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
		if errors.Is(err, ErrRetryBudget) {
			budgetErrs++
			var re *messages.RequestError
			if !errors.As(err, &re) || re.Last == nil || re.Last.Status != 500 {
				t.Fatalf("budget error without the last upstream error: %v", err)
			}
		}
	}
	if budgetErrs == 0 {
		t.Fatal("no request was stopped by the retry budget")
	}
	if srv.Calls() > 4+2 {
		t.Fatalf("calls = %d: retries beyond the budget of 2", srv.Calls())
	}
}
