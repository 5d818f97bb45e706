package actors

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
)

// circuitView is a circuit's state as of its last change. A view is a value
// and never changes; the circuit publishes a new one on every change.
type circuitView struct {
	// gen is the circuit's generation. Every transition starts a new one;
	// an attempt is admitted under one generation and its outcome counts
	// only in that generation.
	gen   uint64
	state messages.BreakerState
	// reopenAt is when an OPEN circuit's cooldown ends (zero otherwise).
	reopenAt time.Time
	// trips counts trips since the circuit last closed (each doubles the
	// cooldown); tripsTotal counts every trip.
	trips, tripsTotal int
	// probes is how many attempts HALF-OPEN admits in this generation:
	// HalfOpenProbes, plus one for each probe that proved nothing (its
	// caller gave up, or Switchyard failed before the call).
	probes int
	// byFleet: an OPEN circuit was opened by the fleet (fleet mode), not
	// by this member's own outcomes.
	byFleet bool
}

// circuit is one endpoint's circuit breaker as a plain state machine, after
// sony/gobreaker: the state (CLOSED, OPEN, HALF-OPEN), a generation counter,
// the counts of the current generation (a run of consecutive failures, a
// rolling window, the recent outcomes, HALF-OPEN probes), the trip count and
// the cooldown deadline, read from the injected clock. Every transition goes
// through setState, which starts a new generation, clears the counts and
// publishes exactly one messages.BreakerStateChanged.
//
// Ownership: the endpoint's Breaker actor is the circuit's only writer, and
// the provider's Props producer keeps the circuit, so it outlives the
// breaker's restarts (the supervised restart is what moves OPEN to
// HALF-OPEN). The provider reads View to route and to report. record and
// setState are not safe for concurrent use; View is.
type circuit struct {
	cfg      BreakerConfig
	cooldown Cooldown
	clock    clock.Clock
	events   *EventBus
	provider string
	endpoint string

	state       messages.BreakerState
	gen         uint64
	consecutive int
	window      rollingWindow
	recent      recentOutcomes
	probes      int
	probeOK     int
	trips       int
	tripsTotal  int
	reopenAt    time.Time
	byFleet     bool
	view        atomic.Pointer[circuitView]
}

// newCircuit returns a CLOSED circuit in generation 1. cfg's zero and
// invalid values are read as BreakerConfig documents; a nil cooldown keeps
// an endpoint OPEN only for the upstream's Retry-After.
func newCircuit(cfg BreakerConfig, cooldown Cooldown, clk clock.Clock, events *EventBus, provider, endpoint string) *circuit {
	if !(cfg.FailureRate > 0 && cfg.FailureRate <= 1) {
		cfg.FailureRate = DefaultFailureRate
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultBreakerWindow
	}
	if cfg.HalfOpenProbes < 1 {
		cfg.HalfOpenProbes = DefaultHalfOpenProbes
	}
	if cooldown == nil {
		cooldown = func(_ int, retryAfter time.Duration) time.Duration { return max(retryAfter, 0) }
	}
	c := &circuit{cfg: cfg, cooldown: cooldown, clock: clk, events: events, provider: provider, endpoint: endpoint,
		state: messages.Closed, gen: 1, window: rollingWindow{width: cfg.Window}}
	c.publishView()
	return c
}

// View returns the state as of the last change. Safe for concurrent use.
func (c *circuit) View() circuitView { return *c.view.Load() }

func (c *circuit) publishView() {
	c.view.Store(&circuitView{gen: c.gen, state: c.state, reopenAt: c.reopenAt, trips: c.trips, tripsTotal: c.tripsTotal, probes: c.probes, byFleet: c.byFleet})
}

// setState moves the circuit to state to for reason: a new generation with
// fresh counts, a new view, and one BreakerStateChanged event when the state
// differs (a HALF-OPEN circuit restarted into HALF-OPEN gets a new
// generation and a fresh set of probes, and no event). Entering OPEN goes
// through trip, which sets the cooldown first.
func (c *circuit) setState(to messages.BreakerState, reason string) {
	from := c.state
	c.state = to
	c.gen++
	c.consecutive, c.probeOK, c.probes = 0, 0, 0
	c.window = rollingWindow{width: c.cfg.Window}
	c.recent = recentOutcomes{}
	switch to {
	case messages.Closed:
		c.trips, c.reopenAt, c.byFleet = 0, time.Time{}, false
	case messages.HalfOpen:
		c.probes, c.reopenAt, c.byFleet = c.cfg.HalfOpenProbes, time.Time{}, false
	}
	c.publishView()
	if from != to {
		c.events.Publish(&messages.BreakerStateChanged{Time: c.clock.Now(), Provider: c.provider, Endpoint: c.endpoint,
			From: from, To: to, Reason: reason, ReopenAt: c.reopenAt, Trips: c.trips})
	}
}

// trip opens the circuit for the cooldown of its next trip (never shorter
// than the upstream's Retry-After) and returns the failure the breaker
// escalates to its supervisor.
func (c *circuit) trip(reason string, retryAfter time.Duration) *BreakerTripped {
	c.trips++
	c.tripsTotal++
	c.reopenAt = c.clock.Now().Add(c.cooldown(c.trips, retryAfter))
	c.byFleet = false
	c.setState(messages.Open, reason)
	return &BreakerTripped{Endpoint: c.endpoint, Reason: reason, RetryAfter: retryAfter}
}

// tripByFleet opens the circuit because the fleet did (fleet mode), for
// the fleet's remaining cooldown, exactly as a trip of its own does
// otherwise: it counts as a trip (the next cooldown of its own doubles)
// and returns the failure the breaker escalates. The view tells it apart
// (byFleet), so the provider does not report it back to the fleet.
func (c *circuit) tripByFleet(reason string, cooldown time.Duration) *BreakerTripped {
	c.trips++
	c.tripsTotal++
	c.reopenAt = c.clock.Now().Add(max(cooldown, 0))
	c.byFleet = true
	c.setState(messages.Open, reason)
	return &BreakerTripped{Endpoint: c.endpoint, Reason: reason}
}

// record counts one attempt's outcome. An outcome of an earlier generation
// is dropped, and so is one that says nothing about the upstream (the
// caller cancelled or its deadline passed, or Switchyard failed: classes
// Cancelled and Internal). An OPEN circuit judges nothing. record reports
// whether the view changed (a transition, or a probe given back) and, when
// the circuit opened, the failure to escalate.
func (c *circuit) record(m *observe) (changed bool, trip *BreakerTripped) {
	if m.gen != c.gen {
		return false, nil
	}
	neutral := neutralClass(m.class)
	switch c.state {
	case messages.HalfOpen:
		switch {
		case neutral:
			c.probes++ // the probe proved nothing: let another go
			c.publishView()
			return true, nil
		case m.failure:
			return true, c.trip("probe failed: "+m.class.String(), m.retryAfter)
		}
		c.probeOK++
		if c.probeOK >= c.cfg.HalfOpenProbes {
			c.setState(messages.Closed, "probe succeeded")
			return true, nil
		}
	case messages.Closed:
		if neutral {
			return false, nil
		}
		if reason := c.judgeClosed(m.failure); reason != "" {
			return true, c.trip(reason, m.retryAfter)
		}
	}
	return false, nil
}

// judgeClosed counts an outcome in CLOSED and returns why the circuit must
// open, or "". The rules are BreakerConfig's: a run of ConsecutiveFailures
// confirmed by the recent rate, or the rate over Window once it holds
// MinRequests outcomes.
func (c *circuit) judgeClosed(failed bool) string {
	now := c.clock.Now()
	c.window.record(now, failed)
	c.recent.record(now, failed)
	if failed {
		c.consecutive++
	} else {
		c.consecutive = 0
	}
	rate := c.cfg.FailureRate
	if run := c.cfg.ConsecutiveFailures; run > 0 && c.consecutive >= run {
		total, fail := c.recent.counts(now.Add(-c.window.bucketWidth()))
		if float64(fail) >= rate*float64(total) {
			return fmt.Sprintf("%d consecutive failures (%d of the last %d attempts failed)", c.consecutive, fail, total)
		}
	}
	total, fail := c.window.counts(now)
	if c.cfg.MinRequests > 0 && total >= c.cfg.MinRequests && float64(fail) >= rate*float64(total) {
		return fmt.Sprintf("%d of %d attempts failed in %s", fail, total, c.cfg.Window)
	}
	return ""
}

// neutralClass reports whether an outcome of class says nothing about the
// upstream: the caller cancelled or its deadline passed, or Switchyard
// failed.
func neutralClass(class messages.ErrorClass) bool {
	return class == messages.ClassCancelled || class == messages.ClassInternal
}

// breakerChanged tells the provider that an endpoint's circuit view changed
// in a way the provider does not hear of otherwise (a HALF-OPEN circuit
// closed, or gave a probe back): it re-reads the view and reports its
// capacity.
type breakerChanged struct{ epIdx int }
