package switchyard

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// The adaptive tests run on a manual clock that only the test moves, with
// windows whose delay is a second: a request answered while the clock
// stands still was not held for the delay.

// answerNow returns ch's answer while the manual clock stands still. A
// request held for its window's delay is never answered; the test fails
// after ten seconds of waiting for it.
func answerNow(t *testing.T, ch <-chan embedResult, what string) embedResult {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		require.FailNow(t, "not answered while the clock stood still", "%s waits for its window's delay", what)
		return embedResult{}
	}
}

// windowCarried waits until the window of model has taken n requests: the
// ones its calls carried plus the ones it holds.
func windowCarried(t *testing.T, h *harness, n int) messages.WindowStatus {
	t.Helper()
	var ws messages.WindowStatus
	eventually(t, fmt.Sprintf("%d requests taken by the window", n), func() bool {
		st, err := h.sy.QueueStatus(context.Background())
		require.NoError(t, err)
		for _, w := range st.Windows {
			if w.Provider == "tei" && w.Model == "bge" {
				ws = w
				return int(w.Batched)+w.Members == n
			}
		}
		return false
	})
	return ws
}

// A lone request goes at once in adaptive mode (the default); in fixed
// mode it waits for its window's delay.
func TestBatchAdaptiveLoneRequestGoesAtOnce(t *testing.T) {
	const delay = time.Second
	cases := []struct {
		mode   BatchMode
		atOnce bool
	}{
		{"", true},
		{BatchAdaptive, true},
		{BatchFixed, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("mode=%q", c.mode), func(t *testing.T) {
			h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: c.mode, Delay: delay}}, RetryConfig{})
			for i, text := range []string{"first alone", "second alone"} {
				start := h.clk.Now()
				_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
				var r embedResult
				if c.atOnce {
					r = answerNow(t, ch, text)
				} else {
					ws := windowHolds(t, h, 1)
					assert.Zero(t, srv.Calls()-i, "%q: sent before the window's delay", text)
					assert.Equal(t, delay, ws.Delay)
					h.clk.Advance(delay)
					r = <-ch
				}
				checkOwnVector(t, r)
				assert.Empty(t, r.resp.BatchID, "%q went alone", text)
				waited := delay
				if c.atOnce {
					waited = 0
				}
				assert.Equal(t, waited, r.resp.Queued, "%q: queued", text)
				assert.Equal(t, start.Add(waited), h.clk.Now(), "%q: the clock moved only for a fixed window", text)
			}
			assert.Equal(t, [][]string{{"first alone"}, {"second alone"}}, inputsPerCall(t, srv))
			ws := windowHolds(t, h, 0)
			assert.Equal(t, uint64(2), ws.Batches, "window %+v", ws)
			if c.atOnce {
				assert.Zero(t, ws.FlushDelay, "window %+v: no flush on delay", ws)
			} else {
				assert.Equal(t, uint64(2), ws.FlushDelay, "window %+v: two flushes on delay", ws)
			}
		})
	}
}

// Requests that arrive while a call of their shape is in flight gather in
// its window and go as the next call when that call ends (the clock never
// moves); a full window goes at once, so MaxInputs splits them.
func TestBatchAdaptiveGathersWhileACallIsInFlight(t *testing.T) {
	cases := []struct {
		name      string
		maxInputs int
		// held are the calls the server holds before the first ends; after
		// are the calls made once it ended.
		held, after [][]string
	}{
		{"one next call", 0, [][]string{{"a"}}, [][]string{{"b", "c", "d", "e", "f"}}},
		{"split by max inputs", 2, [][]string{{"a"}, {"b", "c"}, {"d", "e"}}, [][]string{{"f"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{MaxInputs: c.maxInputs, Delay: time.Second}}, RetryConfig{})
			srv.Hold()
			defer srv.Release()
			var chans []<-chan embedResult
			for i, text := range []string{"a", "b", "c", "d", "e", "f"} {
				_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
				chans = append(chans, ch)
				if i == 0 {
					eventually(t, "the first call upstream", func() bool { return srv.Calls() == 1 })
					continue
				}
				windowCarried(t, h, i+1)
			}
			eventually(t, "the held calls upstream", func() bool { return srv.Calls() == len(c.held) })
			assert.ElementsMatch(t, c.held, inputsPerCall(t, srv), "calls made while the first is in flight")
			srv.Release()
			sizes := map[string]int{}
			for _, ch := range chans {
				r := answerNow(t, ch, "a gathered request")
				checkOwnVector(t, r)
				sizes[r.text] = max(1, r.resp.BatchSize)
			}
			calls := inputsPerCall(t, srv)
			assert.ElementsMatch(t, append(append([][]string{}, c.held...), c.after...), calls, "every call")
			for _, call := range calls {
				for _, text := range call {
					assert.Equal(t, len(call), sizes[text], "%q: batch size", text)
				}
			}
			ws := windowHolds(t, h, 0)
			assert.Zero(t, ws.FlushDelay, "window %+v: nothing waited for the delay", ws)
			assert.Equal(t, uint64(len(calls)), ws.Batches, "window %+v", ws)
		})
	}
}

// While a call of the shape is in flight, a window waits at most its
// delay.
func TestBatchAdaptiveDelayCapsTheWait(t *testing.T) {
	const delay = 3 * time.Millisecond
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: delay}}, RetryConfig{})
	srv.Hold()
	defer srv.Release()
	_, a := embedAsync(context.Background(), h, "in flight", messages.Normal, time.Time{})
	eventually(t, "the first call upstream", func() bool { return srv.Calls() == 1 })
	start := h.clk.Now()
	_, b := embedAsync(context.Background(), h, "waits", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	at, ok := h.clk.NextDeadline()
	require.True(t, ok, "the window's delay is a timer")
	require.Equal(t, start.Add(delay), at, "the window's timer")
	h.clk.Set(at)
	eventually(t, "the second call upstream while the first is held", func() bool { return srv.Calls() == 2 })
	ws := windowHolds(t, h, 0)
	assert.Equal(t, uint64(1), ws.FlushDelay, "window %+v: one flush on delay", ws)
	srv.Release()
	checkOwnVector(t, answerNow(t, a, "in flight"))
	r := answerNow(t, b, "waits")
	checkOwnVector(t, r)
	assert.Equal(t, delay, r.resp.Queued, "it waited the delay")
}

// A window gathering behind a call that ends without a report (its caller
// gave up) flushes as soon as no call of its shape is pending.
func TestBatchAdaptiveFlushesWhenItsShapeGoesIdle(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: time.Second}}, RetryConfig{})
	srv.Hold()
	defer srv.Release()
	ctx, cancel := context.WithCancel(context.Background())
	_, gone := embedAsync(ctx, h, "given up", messages.Normal, time.Time{})
	eventually(t, "the first call upstream", func() bool { return srv.Calls() == 1 })
	_, b := embedAsync(context.Background(), h, "gathered", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	cancel()
	require.ErrorIs(t, answerNow(t, gone, "given up").err, context.Canceled)
	eventually(t, "the gathered request upstream", func() bool { return srv.Calls() == 2 })
	srv.Release()
	checkOwnVector(t, answerNow(t, b, "gathered"))
	ws := windowHolds(t, h, 0)
	assert.Zero(t, ws.FlushDelay, "window %+v: nothing waited for the delay", ws)
}

// However a call of the shape ends (failed, retried, cancelled, alone or
// batched) it stops counting as pending: a lone request afterwards goes at
// once. The dispatcher's invariant check recounts the pending calls after
// every message too (checkDispatcher).
func TestBatchAdaptivePendingCallsEndWithTheirCalls(t *testing.T) {
	retry := RetryConfig{MaxAttempts: 2, BaseDelay: time.Second, MaxDelay: time.Second}
	// gather holds a first call upstream and gathers two requests behind
	// it; it returns the three answers' channels.
	gather := func(h *harness, srv *sim.Server, ctx context.Context) []<-chan embedResult {
		srv.Hold()
		_, a := embedAsync(context.Background(), h, "held", messages.Normal, time.Time{})
		eventually(t, "the held call upstream", func() bool { return srv.Calls() == 1 })
		_, b := embedAsync(ctx, h, "gathered one", messages.Normal, time.Time{})
		windowHolds(t, h, 1)
		_, c := embedAsync(ctx, h, "gathered two", messages.Normal, time.Time{})
		windowHolds(t, h, 2)
		return []<-chan embedResult{a, b, c}
	}
	cases := []struct {
		name string
		run  func(t *testing.T, h *harness, srv *sim.Server)
	}{
		{"a lone call fails", func(t *testing.T, h *harness, srv *sim.Server) {
			srv.Inject(sim.Fault{Status: 424})
			_, a := embedAsync(context.Background(), h, "fails", messages.Normal, time.Time{})
			require.Error(t, answerNow(t, a, "fails").err)
		}},
		{"a batch fails", func(t *testing.T, h *harness, srv *sim.Server) {
			chans := gather(h, srv, context.Background())
			srv.Inject(sim.Fault{Status: 424})
			srv.Release()
			checkOwnVector(t, answerNow(t, chans[0], "held"))
			for _, ch := range chans[1:] {
				require.Error(t, answerNow(t, ch, "a failed member").err)
			}
		}},
		{"a batch is retried", func(t *testing.T, h *harness, srv *sim.Server) {
			chans := gather(h, srv, context.Background())
			srv.Inject(sim.Fault{Status: 503})
			srv.Release()
			checkOwnVector(t, answerNow(t, chans[0], "held"))
			h.clk.Set(h.waitTimer(800 * time.Millisecond))
			for _, ch := range chans[1:] {
				r := <-ch
				checkOwnVector(t, r)
				assert.Equal(t, 2, r.resp.Attempts, "%q: attempts", r.text)
			}
		}},
		{"a lone call's caller gives up", func(t *testing.T, h *harness, srv *sim.Server) {
			srv.Hold()
			ctx, cancel := context.WithCancel(context.Background())
			_, a := embedAsync(ctx, h, "given up", messages.Normal, time.Time{})
			eventually(t, "the held call upstream", func() bool { return srv.Calls() == 1 })
			cancel()
			require.ErrorIs(t, answerNow(t, a, "given up").err, context.Canceled)
			srv.Release()
		}},
		{"a batch's callers give up", func(t *testing.T, h *harness, srv *sim.Server) {
			ctx, cancel := context.WithCancel(context.Background())
			chans := gather(h, srv, ctx)
			h.clk.Advance(time.Second) // the gathered two go on delay, and are held too
			eventually(t, "the batch upstream", func() bool { return srv.Calls() == 2 })
			cancel()
			for _, ch := range chans[1:] {
				require.ErrorIs(t, answerNow(t, ch, "a member given up").err, context.Canceled)
			}
			srv.Release()
			checkOwnVector(t, answerNow(t, chans[0], "held"))
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: time.Second}}, retry)
			defer srv.Release()
			c.run(t, h, srv)
			eventually(t, "no call in flight", func() bool {
				st, err := h.sy.QueueStatus(context.Background())
				require.NoError(t, err)
				return st.InFlight == 0 && st.Backoff == 0
			})
			calls := srv.Calls()
			_, probe := embedAsync(context.Background(), h, "probe", messages.Normal, time.Time{})
			r := answerNow(t, probe, "the probe")
			checkOwnVector(t, r)
			assert.Empty(t, r.resp.BatchID, "the probe went alone")
			assert.Equal(t, calls+1, srv.Calls(), "the probe's call")
		})
	}
}
