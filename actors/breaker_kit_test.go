package actors

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
)

// newBreakerTestClock returns a manual clock set to the run's epoch.
func newBreakerTestClock(t testing.TB) *clock.Manual { return clocktest.New(t) }

// eventLog keeps what an EventBus published. Safe for concurrent use.
type eventLog struct {
	mu     sync.Mutex
	events []messages.Event
}

func newEventLog(bus *EventBus) *eventLog {
	l := &eventLog{}
	bus.Subscribe(func(e messages.Event) {
		l.mu.Lock()
		l.events = append(l.events, e)
		l.mu.Unlock()
	})
	return l
}

// transitions returns the BreakerStateChanged events, oldest first.
func (l *eventLog) transitions() []*messages.BreakerStateChanged {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*messages.BreakerStateChanged
	for _, e := range l.events {
		if b, ok := e.(*messages.BreakerStateChanged); ok {
			out = append(out, b)
		}
	}
	return out
}

// restarts returns the ActorRestarted events, oldest first.
func (l *eventLog) restarts() []*messages.ActorRestarted {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []*messages.ActorRestarted
	for _, e := range l.events {
		if r, ok := e.(*messages.ActorRestarted); ok {
			out = append(out, r)
		}
	}
	return out
}

// path renders the transitions as "CLOSED>OPEN HALF-OPEN>CLOSED …".
func path(ts []*messages.BreakerStateChanged) string {
	var parts []string
	for _, e := range ts {
		parts = append(parts, e.From.String()+">"+e.To.String())
	}
	return strings.Join(parts, " ")
}

// testCooldown is a cooldown without jitter: 10 s doubling per trip up to
// 80 s, never shorter than the upstream's Retry-After.
func testCooldown(trips int, retryAfter time.Duration) time.Duration {
	d := 10 * time.Second
	for i := 1; i < trips && d < 80*time.Second; i++ {
		d *= 2
	}
	return max(d, retryAfter)
}

// newTestCircuit returns a CLOSED circuit of endpoint "p/e" on a manual
// clock, and the log of its events.
func newTestCircuit(t testing.TB, cfg BreakerConfig) (*circuit, *clock.Manual, *eventLog) {
	t.Helper()
	clk := newBreakerTestClock(t)
	bus := NewEventBus(nil)
	log := newEventLog(bus)
	return newCircuit(cfg, testCooldown, clk, bus, "p", "e"), clk, log
}

// outcomeClasses are the letters of a feed script.
var outcomeClasses = map[byte]messages.ErrorClass{
	'S': messages.ClassUnknown, // success
	'F': messages.ClassServer,
	'T': messages.ClassTimeout,
	'N': messages.ClassConnection,
	'R': messages.ClassRateLimited,
	'X': messages.ClassInvalid,
	'A': messages.ClassAuth,
	'C': messages.ClassCancelled,
	'I': messages.ClassInternal,
}

// observeNow is the observe a key sends for an attempt of the circuit's
// current generation that ended with class (ClassUnknown: success).
func observeNow(c *circuit, class messages.ErrorClass) *observe {
	return &observe{gen: c.View().gen, class: class, failure: class.BreakerFailure()}
}

// feed plays script on c, each outcome under the circuit's current
// generation, and returns the trips in order. Tokens are separated by
// spaces: "<n><letter>" records n outcomes (letters in outcomeClasses: S
// success, F 5xx, T timeout, N connection, R 429, X 400, A 401, C
// cancelled, I internal), "+<duration>" advances the clock.
func feed(t testing.TB, c *circuit, clk *clock.Manual, script string) []*BreakerTripped {
	t.Helper()
	var trips []*BreakerTripped
	for _, tok := range strings.Fields(script) {
		if d, ok := strings.CutPrefix(tok, "+"); ok {
			dur, err := time.ParseDuration(d)
			require.NoError(t, err, "token %q", tok)
			clk.Advance(dur)
			continue
		}
		letter := tok[len(tok)-1]
		class, ok := outcomeClasses[letter]
		require.True(t, ok, "token %q: unknown outcome %q", tok, string(letter))
		n := 1
		if len(tok) > 1 {
			var err error
			n, err = strconv.Atoi(tok[:len(tok)-1])
			require.NoError(t, err, "token %q", tok)
		}
		for range n {
			if _, trip := c.record(observeNow(c, class)); trip != nil {
				trips = append(trips, trip)
			}
		}
	}
	return trips
}

// reasons returns the trips' reasons.
func reasons(trips []*BreakerTripped) []string {
	out := []string{}
	for _, tr := range trips {
		out = append(out, tr.Reason)
	}
	return out
}

// openCircuit returns a circuit tripped once by five failures.
func openCircuit(t testing.TB, cfg BreakerConfig) (*circuit, *clock.Manual, *eventLog) {
	t.Helper()
	c, clk, log := newTestCircuit(t, cfg)
	trips := feed(t, c, clk, "5F")
	require.Len(t, trips, 1, "five failures on a fresh circuit must trip it")
	require.Equal(t, messages.Open, c.View().state)
	return c, clk, log
}

// halfOpenCircuit returns a circuit tripped once and restarted into
// HALF-OPEN, as its breaker's next incarnation does.
func halfOpenCircuit(t testing.TB, cfg BreakerConfig) (*circuit, *clock.Manual, *eventLog) {
	t.Helper()
	c, clk, log := openCircuit(t, cfg)
	clk.Set(c.View().reopenAt)
	c.setState(messages.HalfOpen, "cooldown elapsed")
	return c, clk, log
}
