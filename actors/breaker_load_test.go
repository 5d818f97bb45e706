package actors

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
)

// loadOutcome is one attempt of a simulated load: when it completes, and
// whether it failed.
type loadOutcome struct {
	done   time.Duration // since the start of the run
	seq    int           // the order requests were sent
	failed bool
	class  messages.ErrorClass
}

// loadRun simulates rate requests a second for dur: each answers after
// 150–250 ms, except a share fault of them, half of which are 5xx answers
// after the same latency and half header timeouts, which complete when the
// runtime's timer fires (headerTimeout later, on a 25 ms timer tick, so
// several complete together), and every call completing after dieAt (if
// set) fails at once (connection refused or reset). It returns the
// outcomes completing within dur in completion order, failures first among those completing at
// the same instant (the order that makes runs longest).
func loadRun(seed uint64, rate int, dur time.Duration, fault float64, dieAt time.Duration) []loadOutcome {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	const headerTimeout, tick = 2 * time.Second, 25 * time.Millisecond
	n := int(dur.Seconds() * float64(rate))
	gap := time.Second / time.Duration(rate)
	out := make([]loadOutcome, 0, n)
	for i := range n {
		start := time.Duration(i) * gap
		o := loadOutcome{seq: i, done: start + 150*time.Millisecond + time.Duration(r.Int64N(int64(100*time.Millisecond)))}
		if r.Float64() < fault {
			o.failed = true
			if r.IntN(2) == 0 {
				o.class = messages.ClassServer
			} else {
				o.class = messages.ClassTimeout
				o.done = (start + headerTimeout + tick - 1).Truncate(tick)
			}
		}
		if dieAt > 0 && o.done >= dieAt {
			o.failed, o.class = true, messages.ClassConnection
			if start >= dieAt {
				o.done = start + time.Millisecond
			} else {
				o.done = dieAt // in flight when it died: reset
			}
		}
		if o.done < dur { // later ones belong to the load that goes on
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b loadOutcome) int {
		switch {
		case a.done != b.done:
			return int(a.done - b.done)
		case a.failed != b.failed && a.failed:
			return -1
		case a.failed != b.failed:
			return 1
		}
		return a.seq - b.seq
	})
	return out
}

// longestRun returns the longest run of consecutive failures.
func longestRun(outs []loadOutcome) int {
	longest, cur := 0, 0
	for _, o := range outs {
		if o.failed {
			cur++
			longest = max(longest, cur)
		} else {
			cur = 0
		}
	}
	return longest
}

// stepClock is a clock the load test sets directly: a manual clock costs
// a lock per outcome, which the race detector makes slow at this volume.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time                              { return c.now }
func (c *stepClock) AfterFunc(time.Duration, func()) clock.Timer { panic("no timers in a load run") }

// playLoad feeds outs to a CLOSED circuit with the default policy, moving
// the clock to each completion, until it trips. It returns the index of
// the tripping outcome (-1: none) and the trip.
func playLoad(t *testing.T, outs []loadOutcome) (*circuit, int, *BreakerTripped) {
	t.Helper()
	cfg := BreakerConfig{ConsecutiveFailures: DefaultConsecutiveFailures, FailureRate: DefaultFailureRate,
		MinRequests: DefaultMinRequests, Window: DefaultBreakerWindow, HalfOpenProbes: DefaultHalfOpenProbes}
	start := newBreakerTestClock(t).Now()
	clk := &stepClock{now: start}
	c := newCircuit(cfg, testCooldown, clk, NewEventBus(nil), "p", "e")
	obs := &observe{gen: c.View().gen}
	for i, o := range outs {
		clk.now = start.Add(o.done)
		obs.failure, obs.class = o.failed, messages.ClassUnknown
		if o.failed {
			obs.class = o.class
		}
		if _, trip := c.record(obs); trip != nil {
			return c, i, trip
		}
	}
	return c, -1, nil
}

// The default policy under load, at 40k requests a second: 1 % random
// faults, timeouts completing several at a time, never open a healthy
// endpoint, though the load holds runs of failures well over
// ConsecutiveFailures (which alone would open it, as it did before); a dead
// endpoint still opens within about 100 outcomes, and a quiet one at its
// fifth failure.
func TestBreakerPolicyUnderLoad(t *testing.T) {
	const rate = 40_000
	t.Run("1 % faults at 40k/s stay CLOSED", func(t *testing.T) {
		for _, seed := range []uint64{1, 2, 3} {
			outs := loadRun(seed, rate, 4*time.Second, 0.01, 0)
			run := longestRun(outs)
			require.GreaterOrEqual(t, run, DefaultConsecutiveFailures,
				"seed %d: the load must hold runs that a bare consecutive-failures rule would trip on", seed)
			c, i, trip := playLoad(t, outs)
			require.Nil(t, trip, "seed %d: the breaker opened a healthy endpoint at outcome %d of %d (longest run %d)", seed, i, len(outs), run)
			assert.Equal(t, messages.Closed, c.View().state)
			t.Logf("seed %d: %d outcomes, longest run of failures %d, breaker CLOSED throughout", seed, len(outs), run)
		}
	})
	t.Run("a dead endpoint opens within 100 outcomes", func(t *testing.T) {
		const dieAt = 3 * time.Second
		outs := loadRun(7, rate, 4*time.Second, 0.01, dieAt)
		_, i, trip := playLoad(t, outs)
		require.NotNil(t, trip, "a dead endpoint never opened")
		first := slices.IndexFunc(outs, func(o loadOutcome) bool { return o.done >= dieAt })
		require.GreaterOrEqual(t, i, first, "opened before the endpoint died")
		assert.LessOrEqual(t, i-first+1, 100, "outcomes after the death before the breaker opened")
		assert.LessOrEqual(t, outs[i].done-dieAt, 5*time.Millisecond)
		t.Logf("opened %d outcomes (%s) after the death: %s", i-first+1, outs[i].done-dieAt, trip.Reason)
	})
	t.Run("a quiet dead endpoint opens at its fifth failure", func(t *testing.T) {
		outs := loadRun(11, 1, 60*time.Second, 0, 30*time.Second)
		_, i, trip := playLoad(t, outs)
		require.NotNil(t, trip)
		first := slices.IndexFunc(outs, func(o loadOutcome) bool { return o.failed })
		assert.Equal(t, first+DefaultConsecutiveFailures-1, i)
		assert.Contains(t, trip.Reason, "5 consecutive failures")
	})
}
