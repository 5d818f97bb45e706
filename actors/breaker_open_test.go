package actors

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// An OPEN circuit judges nothing: the breaker is suspended until its
// supervised restart, and outcomes of the calls admitted before the trip
// belong to an earlier generation.
func TestCircuitOpenJudgesNothing(t *testing.T) {
	for _, script := range []string{"20F", "20S", "10C 10I", "5T 5N 5R 5X"} {
		t.Run(script, func(t *testing.T) {
			c, clk, log := openCircuit(t, BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5, MinRequests: 10})
			before := c.View()
			// Outcomes of the OPEN generation (none are admitted, but a
			// circuit must not care) and of the CLOSED one before it.
			assert.Empty(t, feed(t, c, clk, script))
			for range 10 {
				changed, trip := c.record(&observe{gen: before.gen - 1, failure: true, class: messages.ClassServer})
				assert.False(t, changed)
				assert.Nil(t, trip)
			}
			assert.Equal(t, before, c.View())
			assert.Equal(t, "CLOSED>OPEN", path(log.transitions()))
		})
	}
}

// The cooldown deadline comes from the clock and the Cooldown policy: it
// doubles with each trip since the circuit last closed, up to the policy's
// cap, and a close starts the count again. (Retry-After: see
// TestCircuitClosedTripHonoursRetryAfter.)
func TestCircuitOpenCooldown(t *testing.T) {
	cases := []struct {
		name string
		// script runs on a fresh circuit; "H" restarts it into HALF-OPEN
		// at the end of its cooldown, as the breaker's next incarnation does.
		script     string
		trips      int
		tripsTotal int
		cooldown   time.Duration
		path       string
	}{
		{"first trip", "5F", 1, 1, 10 * time.Second, "CLOSED>OPEN"},
		{"a failed probe doubles it", "5F H 1F", 2, 2, 20 * time.Second, "CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>OPEN"},
		{"and again", "5F H 1F H 1T", 3, 3, 40 * time.Second,
			"CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>OPEN OPEN>HALF-OPEN HALF-OPEN>OPEN"},
		{"up to the policy's cap", "5F H 1F H 1F H 1F H 1F H 1F", 6, 6, 80 * time.Second, ""},
		{"a close starts again", "5F H 1F H 1S 5F", 1, 3, 10 * time.Second,
			"CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED CLOSED>OPEN"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, clk, log := newTestCircuit(t, BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5, MinRequests: 10})
			for _, tok := range strings.Fields(tc.script) {
				if tok == "H" {
					require.Equal(t, messages.Open, c.View().state)
					clk.Set(c.View().reopenAt)
					c.setState(messages.HalfOpen, "cooldown elapsed")
					continue
				}
				feed(t, c, clk, tok)
			}
			v := c.View()
			assert.Equal(t, messages.Open, v.state)
			assert.Equal(t, tc.trips, v.trips)
			assert.Equal(t, tc.tripsTotal, v.tripsTotal)
			assert.Equal(t, clk.Now().Add(tc.cooldown), v.reopenAt)
			assert.Zero(t, v.probes, "OPEN admits nothing")
			ts := log.transitions()
			if tc.path != "" {
				assert.Equal(t, tc.path, path(ts))
			}
			require.NotEmpty(t, ts)
			last := ts[len(ts)-1]
			assert.Equal(t, messages.Open, last.To)
			assert.Equal(t, v.reopenAt, last.ReopenAt, "the event carries the reopen time")
			assert.Equal(t, v.trips, last.Trips)
		})
	}
}

// The only way out of OPEN is the breaker's restart, which moves the
// circuit to HALF-OPEN with one event and a fresh set of probes; the
// reopen time is cleared and the trip count kept for the next cooldown.
func TestCircuitOpenLeavesOnlyByRestart(t *testing.T) {
	c, clk, log := openCircuit(t, BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5, HalfOpenProbes: 3})
	open := c.View()
	clk.Set(open.reopenAt)
	c.setState(messages.HalfOpen, "cooldown elapsed; restarted by supervisor")
	v := c.View()
	assert.Equal(t, messages.HalfOpen, v.state)
	assert.Equal(t, open.gen+1, v.gen)
	assert.Equal(t, 3, v.probes)
	assert.Equal(t, 1, v.trips)
	assert.True(t, v.reopenAt.IsZero())
	ts := log.transitions()
	require.Len(t, ts, 2)
	assert.Equal(t, messages.Open, ts[1].From)
	assert.Equal(t, messages.HalfOpen, ts[1].To)
	assert.Equal(t, "cooldown elapsed; restarted by supervisor", ts[1].Reason)
	assert.Equal(t, clk.Now(), ts[1].Time)
}
