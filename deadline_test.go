package switchyard

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// A caller whose context deadline passes gets ErrDeadline wrapping
// context.DeadlineExceeded, whether its request waited in the queue or was
// in flight, never context.Canceled (issue 9, found by the fault campaign).
func TestContextDeadlineAnswersErrDeadline(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Breaker: BreakerConfig{ConsecutiveFailures: 1}}, false)
	srv.Hold() // every call waits until the callers' deadlines have passed

	const n = 50
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			_, errs[i] = h.sy.Chat(ctx, chatReq("p", "hello"))
		})
	}
	wg.Wait()
	srv.Release()
	for i, err := range errs {
		require.Error(t, err, "call %d", i)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "call %d: %v", i, err)
		assert.ErrorIs(t, err, messages.ErrDeadline, "call %d: %v", i, err)
		assert.False(t, errors.Is(err, context.Canceled), "call %d: %v", i, err)
	}

	// The callers' deadlines were theirs, not the upstream's failures: even
	// with a breaker that opens on one failure, the next request is served.
	_, err := h.sy.Chat(context.Background(), chatReq("p", "after"))
	require.NoError(t, err)
	changes := h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.BreakerStateChanged); return ok })
	assert.Empty(t, changes, "breaker changed state on callers' deadlines")
}

// WithTimeout is measured on the runtime's clock: with a manual clock, the
// request expires when that clock passes admission + the timeout, whatever
// the wall clock and the calendar say.
func TestWithTimeoutRunsOnTheRuntimeClock(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}}, true)
	srv.Hold()
	defer srv.Release()

	res := h.chatAsync(context.Background(), chatReq("p", "hello"), WithTimeout(5*time.Second))
	eventually(t, "the call to reach the upstream", func() bool { return srv.Calls() == 1 })
	at := h.waitTimer(5 * time.Second)
	assert.Equal(t, 5*time.Second, at.Sub(h.clk.Now()), "the deadline is admission + 5 s on the manual clock")
	h.clk.Set(at)
	r := <-res
	require.Error(t, r.err)
	assert.ErrorIs(t, r.err, messages.ErrDeadline)
	assert.ErrorIs(t, r.err, context.DeadlineExceeded)
	var ue *messages.UpstreamError
	if errors.As(r.err, &ue) {
		assert.Equal(t, messages.ClassCancelled, ue.Class, "the expired attempt is not the upstream's timeout")
	}
}
