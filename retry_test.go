package switchyard

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
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
	return newHarness(t, retryConfig(srv, maxAttempts), true)
}

func retryConfig(srv *sim.Server, maxAttempts int) Config {
	return Config{Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Retry:   RetryConfig{MaxAttempts: maxAttempts, BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second},
		Breaker: BreakerConfig{ConsecutiveFailures: 50}}
}

// settlingClock is the harness's manual clock with a record of its timers,
// so that a test can wait until every timer due by now has run its callback
// (for the runtime: has put its message in the actor's mailbox). Tests that
// check that nothing happened wait for that instead of sleeping.
type settlingClock struct {
	*clock.Manual
	mu     sync.Mutex
	timers []*settlingTimer
}

type settlingTimer struct {
	clock.Timer
	at      time.Time
	ran     atomic.Bool
	stopped atomic.Bool
}

func (c *settlingClock) AfterFunc(d time.Duration, f func()) clock.Timer {
	st := &settlingTimer{at: c.Now().Add(d)}
	c.mu.Lock()
	c.timers = append(c.timers, st)
	c.mu.Unlock()
	st.Timer = c.Manual.AfterFunc(d, func() {
		f()
		st.ran.Store(true)
	})
	return st
}

func (st *settlingTimer) Stop() bool {
	stopped := st.Timer.Stop()
	if stopped {
		st.stopped.Store(true)
	}
	return stopped
}

// settled reports whether every timer due by now has stopped or run.
func (c *settlingClock) settled() bool {
	now := c.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.timers {
		if !st.at.After(now) && !st.stopped.Load() && !st.ran.Load() {
			return false
		}
	}
	return true
}

// settlingHarness is newHarness with a settlingClock as its manual clock.
func settlingHarness(t *testing.T, cfg Config) (*harness, *settlingClock) {
	t.Helper()
	clk := &settlingClock{Manual: newTestClock(t)}
	cfg.Clock = clk
	h := newHarness(t, cfg, false)
	h.clk = clk.Manual
	return h, clk
}

// settle waits until every timer due on clk has delivered its message, then
// asks the dispatcher for its queue status: the answer reflects every
// message those timers sent it, because they are ahead in its mailbox.
func (h *harness) settle(clk *settlingClock) *messages.QueueStatus {
	h.t.Helper()
	eventually(h.t, "due timers to run", clk.settled)
	q, err := h.sy.QueueStatus(context.Background())
	require.NoError(h.t, err, "QueueStatus")
	return q
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
			h, clk := settlingHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv,
				KeyConfig{Label: "a", Secret: secretA}, KeyConfig{Label: "b", Secret: secretB})},
				Retry: RetryConfig{MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond}})
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
			require.Equal(t, 2, srv.Calls(), "calls = %d, want 2 (one per key) before the backoff", srv.Calls())
			var delay time.Duration
			for _, e := range h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.RequestRetried); return ok }) {
				if d := e.(*messages.RequestRetried).Delay; d > 0 {
					delay = d
				}
			}
			require.GreaterOrEqual(t, delay, c.delay, "retry scheduled after %v, want at least %v", delay, c.delay)
			at := start.Add(delay)
			h.clk.Set(at.Add(-time.Millisecond))
			// A millisecond early: once every due timer has run and the
			// dispatcher has handled what they sent, the retry timer is
			// still the next deadline and the request is still in backoff.
			q := h.settle(clk)
			next, ok := h.clk.NextDeadline()
			require.True(t, ok, "no timer pending a millisecond before the retry")
			require.WithinDuration(t, at, next, 0, "the next deadline is not the retry's")
			require.Equal(t, 1, q.Backoff, "retried before Retry-After elapsed: queue %+v", q)
			require.Equal(t, 0, q.InFlight, "retried before Retry-After elapsed: queue %+v", q)
			require.Equal(t, 2, srv.Calls(), "retried before Retry-After elapsed: calls")
			h.clk.Set(at)
			r := <-res
			require.NoError(t, r.err, "after the delay")
			require.Equal(t, 3, srv.Calls(), "calls = %d, attempts = %d, want 3", srv.Calls(), r.resp.Attempts)
			require.Equal(t, 3, r.resp.Attempts, "calls = %d, attempts = %d, want 3", srv.Calls(), r.resp.Attempts)
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
	require.ErrorAs(t, r.err, &ue, "want 503 after 3 attempts")
	require.Equal(t, 503, ue.Status, "want 503 after 3 attempts")
	require.Equal(t, 3, ue.Attempts, "want 503 after 3 attempts")
	require.Equal(t, 3, srv.Calls(), "calls = %d, want 3", srv.Calls())
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
			require.ErrorAs(t, err, &ue, "got %v (class %v), want %s after 1 attempt", err, ue, c.class)
			require.Equal(t, c.class, ue.Class, "got %v (class %v), want %s after 1 attempt", err, ue, c.class)
			require.Equal(t, 1, ue.Attempts, "got %v (class %v), want %s after 1 attempt", err, ue, c.class)
			require.Equal(t, 1, srv.Calls(), "calls = %d, want 1", srv.Calls())
		})
	}
}

// Cancelling during the backoff answers at once and sends nothing more.
func TestCancelDuringBackoffSendsNothing(t *testing.T) {
	srv := startAnthropic(t)
	h, clk := settlingHarness(t, retryConfig(srv, 5))
	srv.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "10"}, Times: -1})
	ctx, cancel := context.WithCancel(context.Background())
	res := h.chatAsync(ctx, chatReq("p", "hello"))
	h.waitTimer(9 * time.Second)
	cancel()
	r := <-res
	require.ErrorIs(t, r.err, context.Canceled, "want context.Canceled")
	h.clk.Advance(time.Minute)
	// Every timer due in that minute has run and the dispatcher has handled
	// what they sent: a retry would show as in flight, and as a call.
	q := h.settle(clk)
	require.Equal(t, 1, srv.Calls(), "calls = %d after cancel, want 1", srv.Calls())
	require.Equal(t, 0, q.Backoff, "cancelled request still tracked: %+v", q)
	require.Equal(t, 0, q.InFlight, "cancelled request still tracked: %+v", q)
}

// A deadline shorter than the requested delay ends the request with the
// upstream's error instead of waiting past the deadline.
func TestDeadlineBoundsRetries(t *testing.T) {
	srv := startAnthropic(t)
	h := retryHarness(t, srv, 5)
	srv.Inject(sim.Fault{Status: 503, Header: map[string]string{"Retry-After": "30"}, Times: -1})
	_, err := h.sy.Chat(context.Background(), chatReq("p", "hello"), WithDeadline(h.clk.Now().Add(5*time.Second)))
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "want the 503")
	require.Equal(t, 503, ue.Status, "want the 503")
	require.Equal(t, 1, srv.Calls(), "calls")
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
			require.ErrorAs(t, err, &re, "budget error without the last upstream error")
			require.NotNil(t, re.Last, "budget error without the last upstream error")
			require.Equal(t, 500, re.Last.Status, "budget error without the last upstream error")
		}
	}
	require.NotEqual(t, 0, budgetErrs, "no request was stopped by the retry budget")
	require.LessOrEqual(t, srv.Calls(), 4+2, "calls = %d: retries beyond the budget of 2", srv.Calls())
}
