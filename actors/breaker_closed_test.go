package actors

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// What a CLOSED circuit counts, and when it opens.
func TestCircuitClosed(t *testing.T) {
	run := BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5, MinRequests: 10, Window: 30 * time.Second, HalfOpenProbes: 1}
	runOnly := BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5}
	rateOnly := BreakerConfig{ConsecutiveFailures: 100, FailureRate: 0.5, MinRequests: 10, Window: time.Minute}
	cases := []struct {
		name   string
		cfg    BreakerConfig
		script string
		// trips are the reasons of the trips, in order; none means the
		// circuit stays CLOSED.
		trips []string
	}{
		{"a run of failures on a quiet endpoint opens it", run, "5F",
			[]string{"5 consecutive failures (5 of the last 5 attempts failed)"}},
		{"every upstream failure class counts", run, "2T 2N 1F",
			[]string{"5 consecutive failures (5 of the last 5 attempts failed)"}},
		{"four failures do not", run, "4F", nil},
		{"a success breaks the run", run, "4F 1S 4F", nil},
		{"client errors, auth failures and rate limits are answers, not failures", runOnly, "3F 1X 3F 1A 3F 1R 3F", nil},
		{"a caller's cancel or deadline and Switchyard's faults count neither way", run, "3F 5C 5I 2F",
			[]string{"5 consecutive failures (5 of the last 5 attempts failed)"}},
		{"a run among many recent successes is not confirmed", run, "40S 10F", nil},
		{"until half of the recent outcomes failed", run, "40S 40F",
			[]string{"40 consecutive failures (40 of the last 80 attempts failed)"}},
		{"the recent sample is the last 100 outcomes", run, "500S 50F",
			[]string{"50 consecutive failures (50 of the last 100 attempts failed)"}},
		{"successes older than a tenth of the window leave the sample", run, "40S +3s 5F",
			[]string{"5 consecutive failures (5 of the last 5 attempts failed)"}},
		{"but not earlier", run, "40S +2999ms 5F", nil},
		{"the rate over the window opens it once it holds MinRequests", rateOnly, "1F 1S 1F 1S 1F 1S 1F 1S 1F 1S",
			[]string{"5 of 10 attempts failed in 1m0s"}},
		{"the success that completes the volume may trip it", rateOnly, "5F 4S 1S",
			[]string{"5 of 10 attempts failed in 1m0s"}},
		{"no rate below MinRequests", rateOnly, "9F", nil},
		{"outcomes older than the window leave the rate", rateOnly, "5F +61s 5S", nil},
		{"the rate rule counts the cancelled neither way", rateOnly, "4F 20C 5S", nil},
		{"zero ConsecutiveFailures turns the run rule off", BreakerConfig{FailureRate: 0.5, Window: time.Minute}, "50F", nil},
		{"zero MinRequests turns the rate rule off", BreakerConfig{ConsecutiveFailures: 100, FailureRate: 0.5, Window: time.Minute}, "60F 40S", nil},
		{"a NaN failure rate is the default rate", BreakerConfig{ConsecutiveFailures: 5, FailureRate: math.NaN(), MinRequests: 10}, "40S 40F",
			[]string{"40 consecutive failures (40 of the last 80 attempts failed)"}},
		{"an OPEN circuit judges nothing more", run, "5F 20F 20S",
			[]string{"5 consecutive failures (5 of the last 5 attempts failed)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, clk, log := newTestCircuit(t, tc.cfg)
			start := c.View()
			trips := feed(t, c, clk, tc.script)
			assert.Equal(t, append([]string{}, tc.trips...), reasons(trips))
			v := c.View()
			if len(tc.trips) == 0 {
				assert.Equal(t, messages.Closed, v.state)
				assert.Equal(t, start.gen, v.gen, "a CLOSED circuit that did not trip keeps its generation")
				assert.Empty(t, log.transitions())
				return
			}
			assert.Equal(t, messages.Open, v.state)
			assert.Equal(t, start.gen+1, v.gen, "a trip starts one new generation")
			assert.Equal(t, 1, v.trips)
			assert.Equal(t, 1, v.tripsTotal)
			assert.Equal(t, clk.Now().Add(10*time.Second), v.reopenAt, "the first trip's cooldown")
			ts := log.transitions()
			require.Len(t, ts, 1, "one event per transition")
			assert.Equal(t, messages.Closed, ts[0].From)
			assert.Equal(t, messages.Open, ts[0].To)
			assert.Equal(t, tc.trips[0], ts[0].Reason)
			assert.Equal(t, v.reopenAt, ts[0].ReopenAt)
			assert.Equal(t, 1, ts[0].Trips)
			assert.Equal(t, "p", ts[0].Provider)
			assert.Equal(t, "e", ts[0].Endpoint)
		})
	}
}

// An outcome of an earlier generation never counts: an attempt admitted
// before the circuit last changed reports to a circuit that moved on.
func TestCircuitClosedDropsEarlierGenerations(t *testing.T) {
	c, clk, log := halfOpenCircuit(t, BreakerConfig{ConsecutiveFailures: 5, FailureRate: 0.5, MinRequests: 10})
	feed(t, c, clk, "1S")
	require.Equal(t, messages.Closed, c.View().state)
	for _, gen := range []uint64{c.View().gen - 1, c.View().gen - 2, c.View().gen + 1} {
		for range 20 {
			changed, trip := c.record(&observe{gen: gen, failure: true, class: messages.ClassServer})
			require.False(t, changed)
			require.Nil(t, trip)
		}
	}
	assert.Equal(t, messages.Closed, c.View().state)
	assert.Equal(t, "CLOSED>OPEN OPEN>HALF-OPEN HALF-OPEN>CLOSED", path(log.transitions()))
	// The current generation still counts from zero.
	trips := feed(t, c, clk, "5F")
	assert.Equal(t, []string{"5 consecutive failures (5 of the last 5 attempts failed)"}, reasons(trips))
}

// The cooldown of a trip is the Cooldown policy's for the trip count,
// never shorter than the Retry-After of the failure that tripped it.
func TestCircuitClosedTripHonoursRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		retryAfter, cooldown time.Duration
	}{
		{0, 10 * time.Second},
		{time.Second, 10 * time.Second},
		{2 * time.Minute, 2 * time.Minute},
	} {
		t.Run(tc.retryAfter.String(), func(t *testing.T) {
			c, clk, _ := newTestCircuit(t, BreakerConfig{ConsecutiveFailures: 2, FailureRate: 0.5})
			feed(t, c, clk, "1F")
			changed, trip := c.record(&observe{gen: c.View().gen, failure: true, class: messages.ClassServer, retryAfter: tc.retryAfter})
			require.True(t, changed)
			require.NotNil(t, trip)
			assert.Equal(t, tc.retryAfter, trip.RetryAfter)
			assert.Equal(t, "e", trip.Endpoint)
			assert.Equal(t, clk.Now().Add(tc.cooldown), c.View().reopenAt)
		})
	}
}

// Without a Cooldown policy an endpoint stays OPEN for the upstream's
// Retry-After only.
func TestCircuitClosedNilCooldown(t *testing.T) {
	clk := newBreakerTestClock(t)
	c := newCircuit(BreakerConfig{ConsecutiveFailures: 1, FailureRate: 0.5}, nil, clk, NewEventBus(nil), "p", "e")
	_, trip := c.record(&observe{gen: c.View().gen, failure: true, class: messages.ClassServer, retryAfter: 7 * time.Second})
	require.NotNil(t, trip)
	assert.Equal(t, clk.Now().Add(7*time.Second), c.View().reopenAt)
}
