package switchyard

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// backgroundHarness runs an OpenAI simulator whose background responses
// finish at the polls-th retrieve, behind one key with at most one call in
// flight, on a manual clock.
func backgroundHarness(t *testing.T, polls int) (*harness, *sim.Server) {
	t.Helper()
	backend := sim.OpenAI()
	backend.BackgroundPolls = polls
	srv := sim.Start(backend)
	t.Cleanup(srv.Close)
	h := newHarness(t, Config{Providers: []ProviderConfig{{Name: "openai", Kind: "openai",
		Endpoints: []EndpointConfig{{Name: "primary", BaseURL: srv.URL + "/v1", Keys: []KeyConfig{{Label: "a", Secret: secretA, MaxInFlight: 1}}}}}},
		Queue: QueueConfig{High: 100, Normal: 100, Low: 100}}, true)
	checkDispatcher(t, h.sy)
	return h, srv
}

// startBackground creates a background response and returns its ID.
func startBackground(t *testing.T, h *harness) string {
	t.Helper()
	resp, err := h.sy.Responses(t.Context(), &messages.ResponsesRequest{Model: "gpt-test", Background: true,
		Input: []messages.Message{{Role: messages.RoleUser, Content: "summarise the archive"}}})
	require.NoError(t, err)
	require.True(t, resp.Pending(), "status %q", resp.Status)
	return resp.ID
}

// retrieves counts the simulator's GET /v1/responses/{id}.
func retrieves(srv *sim.Server, id string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == "GET" && r.Path == "/v1/responses/"+id {
			n++
		}
	}
	return n
}

type awaited struct {
	resp *messages.ResponsesResponse
	err  error
}

func awaitAsync(ctx context.Context, h *harness, id string, poll Poll, opts ...CallOption) <-chan awaited {
	out := make(chan awaited, 1)
	go func() {
		r, err := h.sy.AwaitResponse(ctx, id, poll, opts...)
		out <- awaited{r, err}
	}()
	return out
}

// waitTimer waits until the simulator saw n retrieves of id and the
// earliest timer on the manual clock is due in want (the poller's wait),
// and returns want.
func waitTimer(t *testing.T, h *harness, srv *sim.Server, id string, n int, want time.Duration) time.Duration {
	t.Helper()
	eventually(t, fmt.Sprintf("retrieve %d and a wait of %v after it", n, want), func() bool {
		next, ok := h.clk.NextDeadline()
		return retrieves(srv, id) == n && ok && next.Sub(h.clk.Now()) == want
	})
	return want
}

// A background response is polled until it completes, the waits doubling
// from the first interval up to the maximum, on the runtime's clock.
func TestAwaitResponsePollsToCompletion(t *testing.T) {
	h, srv := backgroundHarness(t, 5)
	id := startBackground(t, h)
	done := awaitAsync(t.Context(), h, id, Poll{Interval: time.Second, MaxInterval: 3 * time.Second})
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second} {
		h.clk.Advance(waitTimer(t, h, srv, id, i+1, want))
	}
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, "completed", r.resp.Status)
	assert.Equal(t, id, r.resp.ID)
	assert.NotEmpty(t, r.resp.OutputText)
	assert.Equal(t, 5, retrieves(srv, id))
}

// When the caller's context ends between polls, AwaitResponse answers with
// the context's error, typed as for any request, and cancels nothing
// upstream.
func TestAwaitResponseContextEnds(t *testing.T) {
	h, srv := backgroundHarness(t, -1)
	id := startBackground(t, h)

	ctx, cancel := clock.WithTimeout(h.clk, t.Context(), 3500*time.Millisecond)
	defer cancel()
	done := awaitAsync(ctx, h, id, Poll{})
	h.clk.Advance(waitTimer(t, h, srv, id, 1, time.Second))
	h.clk.Advance(waitTimer(t, h, srv, id, 2, 2*time.Second))
	// The wait after the third poll is 4 s: the context's deadline, 0.5 s
	// away, comes first.
	h.clk.Advance(waitTimer(t, h, srv, id, 3, 500*time.Millisecond))
	r := <-done
	require.ErrorIs(t, r.err, ErrDeadline)
	require.ErrorIs(t, r.err, context.DeadlineExceeded)
	var re *messages.RequestError
	require.ErrorAs(t, r.err, &re)

	ctx2, cancel2 := context.WithCancel(t.Context())
	done = awaitAsync(ctx2, h, id, Poll{})
	eventually(t, "the fourth retrieve", func() bool { return retrieves(srv, id) == 4 })
	cancel2()
	r = <-done
	require.ErrorIs(t, r.err, context.Canceled)
	require.ErrorAs(t, r.err, &re)

	for _, rec := range srv.Requests() {
		assert.NotEqual(t, "/v1/responses/"+id+"/cancel", rec.Path, "nothing cancelled upstream")
	}
}

// Polls go one level below the caller's priority, never below Low, unless
// Poll.Priority says otherwise; waits default to 1 s doubling to 10 s.
func TestPollPriority(t *testing.T) {
	high := High
	for _, tc := range []struct {
		poll Poll
		call messages.Priority
		want messages.Priority
	}{
		{Poll{}, Normal, Low},
		{Poll{}, High, Normal},
		{Poll{}, Low, Low},
		{Poll{Priority: &high}, Low, High},
	} {
		got, _, _ := tc.poll.resolve(tc.call)
		assert.Equal(t, tc.want, got, "%+v at %v", tc.poll, tc.call)
	}
	_, first, most := Poll{Interval: -1}.resolve(Normal)
	assert.Equal(t, DefaultPollInterval, first)
	assert.Equal(t, DefaultMaxPollInterval, most)
	_, first, most = Poll{Interval: time.Minute}.resolve(Normal)
	assert.Equal(t, time.Minute, first)
	assert.Equal(t, time.Minute, most, "the largest wait is at least the first")
}

// A background response polled (at LOW, one level below the caller's
// NORMAL) during a burst of 50 HIGH chats on a provider with one call in
// flight: every HIGH chat queued with the poll reaches the upstream before
// it, and the response is still polled to completion.
func TestAwaitResponseUnderHighBurst(t *testing.T) {
	h, srv := backgroundHarness(t, 2)
	id := startBackground(t, h)
	ctx := t.Context()
	lowIdx, highIdx := Low.Index(), High.Index()

	srv.Hold()
	blocker := h.chatAsync(ctx, &messages.ChatRequest{Call: messages.Call{Provider: "openai"}, Model: "gpt-test",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "holding the slot"}}}, WithPriority(High))
	eventually(t, "the slot taken", func() bool { return len(srv.Requests()) == 2 })

	done := awaitAsync(ctx, h, id, Poll{})
	eventually(t, "the poll queued at LOW", func() bool {
		q, _ := h.sy.QueueStatus(ctx)
		return q.Levels[lowIdx].Depth == 1
	})
	const burst = 50
	var wg sync.WaitGroup
	errs := make(chan error, burst)
	for i := range burst {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := h.sy.Chat(ctx, &messages.ChatRequest{Call: messages.Call{Provider: "openai"}, Model: "gpt-test",
				Messages: []messages.Message{{Role: messages.RoleUser, Content: fmt.Sprintf("high %d", i)}}}, WithPriority(High))
			errs <- err
		}()
	}
	eventually(t, "the burst queued", func() bool {
		q, _ := h.sy.QueueStatus(ctx)
		return q.Levels[highIdx].Depth == burst
	})
	srv.Release()
	require.NoError(t, (<-blocker).err)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}

	h.clk.Advance(waitTimer(t, h, srv, id, 1, time.Second))
	r := <-done
	require.NoError(t, r.err)
	assert.Equal(t, "completed", r.resp.Status)

	var order []string
	for _, rec := range srv.Requests()[2:] { // after the create and the blocker
		order = append(order, rec.Method+" "+rec.Path)
	}
	want := make([]string, 0, burst+2)
	for range burst {
		want = append(want, "POST /v1/chat/completions")
	}
	want = append(want, "GET /v1/responses/"+id, "GET /v1/responses/"+id)
	require.Equal(t, want, order, "the order the upstream saw: every HIGH chat before the LOW poll")
}
