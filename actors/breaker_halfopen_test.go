package actors

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// HALF-OPEN judges its probes: HalfOpenProbes successes close the circuit,
// one failure re-opens it for a longer cooldown, and a probe that proved
// nothing is given back.
func TestCircuitHalfOpen(t *testing.T) {
	cases := []struct {
		name   string
		probes int
		script string
		state  messages.BreakerState
		// path is the transitions after HALF-OPEN was entered.
		path   string
		reason string
		// probesLeft is the view's probe count at the end (HALF-OPEN).
		probesLeft int
	}{
		{"one successful probe closes it", 1, "1S", messages.Closed, "HALF-OPEN>CLOSED", "probe succeeded", 0},
		{"a 429 or a 400 is an answer: the upstream is up", 1, "1R", messages.Closed, "HALF-OPEN>CLOSED", "probe succeeded", 0},
		{"an invalid request too", 1, "1X", messages.Closed, "HALF-OPEN>CLOSED", "probe succeeded", 0},
		{"a failed probe re-opens it", 1, "1F", messages.Open, "HALF-OPEN>OPEN", "probe failed: server", 0},
		{"a timed-out probe too", 1, "1T", messages.Open, "HALF-OPEN>OPEN", "probe failed: timeout", 0},
		{"a cancelled probe is given back", 1, "1C", messages.HalfOpen, "", "", 2},
		{"so is one lost to an internal fault", 1, "1I 1C", messages.HalfOpen, "", "", 3},
		{"and the next probe decides", 1, "1C 1S", messages.Closed, "HALF-OPEN>CLOSED", "probe succeeded", 0},
		{"three probes: two successes are not enough", 3, "2S", messages.HalfOpen, "", "", 3},
		{"three successes are", 3, "3S", messages.Closed, "HALF-OPEN>CLOSED", "probe succeeded", 0},
		{"one failure among them re-opens it", 3, "2S 1N", messages.Open, "HALF-OPEN>OPEN", "probe failed: connection", 0},
		{"nothing is judged after the re-open", 3, "1F 5S", messages.Open, "HALF-OPEN>OPEN", "probe failed: server", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, clk, log := halfOpenCircuit(t, BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5, HalfOpenProbes: tc.probes})
			entered := c.View()
			require.Equal(t, messages.HalfOpen, entered.state)
			require.Equal(t, tc.probes, entered.probes)
			before := len(log.transitions())
			feed(t, c, clk, tc.script)
			v := c.View()
			assert.Equal(t, tc.state, v.state)
			ts := log.transitions()[before:]
			assert.Equal(t, tc.path, path(ts), "one event per transition")
			if tc.reason != "" {
				require.Len(t, ts, 1)
				assert.Equal(t, tc.reason, ts[0].Reason)
			}
			switch tc.state {
			case messages.Closed:
				assert.Equal(t, entered.gen+1, v.gen)
				assert.Zero(t, v.trips, "a close resets the trip streak")
				assert.Equal(t, 1, v.tripsTotal)
				assert.True(t, v.reopenAt.IsZero())
			case messages.Open:
				assert.Equal(t, entered.gen+1, v.gen)
				assert.Equal(t, 2, v.trips)
				assert.Equal(t, clk.Now().Add(20*time.Second), v.reopenAt, "the second trip's cooldown")
			case messages.HalfOpen:
				assert.Equal(t, entered.gen, v.gen, "giving a probe back is no transition")
				assert.Equal(t, tc.probesLeft, v.probes)
			}
		})
	}
}

// Outcomes of calls admitted before HALF-OPEN (the CLOSED generation that
// tripped, whose calls drained before the restart but may report late)
// are no probes.
func TestCircuitHalfOpenDropsEarlierGenerations(t *testing.T) {
	c, clk, log := halfOpenCircuit(t, BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5})
	v := c.View()
	for _, gen := range []uint64{v.gen - 1, v.gen - 2} {
		for _, class := range []messages.ErrorClass{messages.ClassServer, messages.ClassUnknown, messages.ClassCancelled} {
			changed, trip := c.record(&observe{gen: gen, failure: class.BreakerFailure(), class: class})
			assert.False(t, changed)
			assert.Nil(t, trip)
		}
	}
	assert.Equal(t, v, c.View())
	assert.Equal(t, "CLOSED>OPEN OPEN>HALF-OPEN", path(log.transitions()))
	feed(t, c, clk, "1S")
	assert.Equal(t, messages.Closed, c.View().state)
}

// A breaker restarted while HALF-OPEN (it crashed, or its provider did)
// starts a new generation with fresh probes, without an event: the state
// did not change.
func TestCircuitHalfOpenRestartedAgain(t *testing.T) {
	c, clk, log := halfOpenCircuit(t, BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5, HalfOpenProbes: 2})
	feed(t, c, clk, "1S 1C")
	before := c.View()
	require.Equal(t, 3, before.probes)
	c.setState(messages.HalfOpen, "provider restarted")
	v := c.View()
	assert.Equal(t, messages.HalfOpen, v.state)
	assert.Equal(t, before.gen+1, v.gen)
	assert.Equal(t, 2, v.probes)
	assert.Equal(t, "CLOSED>OPEN OPEN>HALF-OPEN", path(log.transitions()))
	// The success of the earlier generation does not count: two more close it.
	feed(t, c, clk, "1S")
	assert.Equal(t, messages.HalfOpen, c.View().state)
	feed(t, c, clk, "1S")
	assert.Equal(t, messages.Closed, c.View().state)
}
