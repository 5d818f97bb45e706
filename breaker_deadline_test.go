package switchyard

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// A caller's own deadline is not the upstream's failure. Against a healthy
// upstream that answers in 200 ms, five callers whose deadline is 20 ms get
// ErrDeadline (and context.DeadlineExceeded), and the endpoint's breaker,
// with its default policy, stays CLOSED: the next request succeeds instead
// of failing fast with ErrCircuitOpen for the whole cooldown. This holds
// for a context deadline and WithTimeout, for a call waiting for its
// answer, and for a stream whose deadline passes between two chunks.
func TestCallerDeadlineDoesNotTripTheBreaker(t *testing.T) {
	// The upstream is far slower than the deadline, and the deadline long
	// enough that on a loaded machine the attempts are sent before it
	// passes (one that expires in the queue is not sent, and is counted
	// below as not reaching the upstream).
	const callers, deadline, latency = 5, 200 * time.Millisecond, 5 * time.Second
	slowAnswer := func(t *testing.T) *sim.Server { return startAnthropic(t, sim.WithLatency(latency)) }
	slowChunks := func(t *testing.T) *sim.Server {
		srv := startAnthropic(t)
		srv.Inject(sim.Fault{ChunkDelay: latency, Times: callers})
		return srv
	}
	chatWithin := func(h *harness) error {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		_, err := h.sy.Chat(ctx, chatReq("p", "slow"))
		return err
	}
	chatWithTimeout := func(h *harness) error {
		_, err := h.sy.Chat(context.Background(), chatReq("p", "slow"), WithTimeout(deadline))
		return err
	}
	streamWithin := func(h *harness) error {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		st, err := h.sy.ChatStream(ctx, chatReq("p", "slow"))
		if err != nil {
			return err
		}
		for st.Next() {
		}
		return st.Err()
	}
	cases := []struct {
		name     string
		upstream func(*testing.T) *sim.Server
		call     func(*harness) error
	}{
		{"context deadline, slow answer", slowAnswer, chatWithin},
		{"WithTimeout, slow answer", slowAnswer, chatWithTimeout},
		{"stream, context deadline before the headers", slowAnswer, streamWithin},
		{"stream, context deadline between chunks", slowChunks, streamWithin},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tc.upstream(t)
			// The default breaker policy: five failures in a row would
			// open a fresh endpoint.
			h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}}, false)
			errs := make([]error, callers)
			var wg sync.WaitGroup
			for i := range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = tc.call(h)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				require.ErrorIs(t, err, messages.ErrDeadline, "caller %d", i)
				require.ErrorIs(t, err, context.DeadlineExceeded, "caller %d", i)
			}
			// The attempts that reached the upstream have ended: the
			// breaker has been told how each went.
			reached := srv.Calls()
			require.Positive(t, reached, "no attempt was in flight when its deadline passed")
			eventually(t, "the attempts to end", func() bool {
				c := h.endpoint("p", "primary").Counters
				var failed uint64
				for _, n := range c.Failures {
					failed += n
				}
				return c.InFlight == 0 && failed == uint64(reached)
			})
			assert.Equal(t, uint64(reached), h.endpoint("p", "primary").Counters.Failures[messages.ClassCancelled.String()],
				"the expiries are the caller's cancellations, not upstream timeouts")

			srv.SetLatency(0)
			resp, err := h.sy.Chat(context.Background(), chatReq("p", "healthy"))
			require.NoError(t, err, "a healthy request after the callers' deadlines")
			assert.NotEmpty(t, resp.Content)
			assert.Empty(t, h.breakerEvents(messages.Open), "the breaker opened")
			ep := h.endpoint("p", "primary")
			assert.Equal(t, messages.Closed, ep.State)
			assert.Zero(t, ep.TripsTotal)
			assert.Empty(t, ep.Counters.LastError, "a caller's deadline is not the endpoint's last error")
		})
	}
}
