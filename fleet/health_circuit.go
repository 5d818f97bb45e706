package fleet

import (
	"time"

	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// probeSlot is one probe slot a member holds in the current round.
type probeSlot struct {
	member  string
	expires time.Time
}

// healthCircuit is one endpoint's fleet-wide circuit, the state of an
// endpoint-health grain. It follows the nodes' own breakers
// (actors/breaker_state.go): CLOSED until a member reports a trip; OPEN
// for the reporter's cooldown (a later trip while OPEN may lengthen it,
// never shorten it); HALF-OPEN once the cooldown is over, where at most K
// probe slots are granted in all, first come first served; K successful
// probes close it, a failed one (a trip) re-opens it for the reporter's
// cooldown, and a probe that proved nothing gives its slot back. A slot not
// reported within the probe TTL is given back too (its member died or lost
// the grain). HALF-OPEN is OPEN past its deadline, read on the clock: the
// grain needs no timer.
//
// Every transition starts a new round; a member's report of an earlier
// round changes nothing. Not safe for concurrent use (the grain actor is
// its only user).
type healthCircuit struct {
	probeTTL, retryEvery time.Duration

	open      bool
	round     uint64
	openUntil time.Time
	reason    string
	// probes is the round's K; successes its probes that succeeded; slots
	// those granted and not reported yet.
	probes    int
	successes int
	slots     []probeSlot
}

// state returns the state at now and, when OPEN, how long it stays so.
func (c *healthCircuit) state(now time.Time) (fleetpb.HealthState, time.Duration) {
	switch {
	case !c.open:
		return fleetpb.HealthState_HEALTH_CLOSED, 0
	case now.Before(c.openUntil):
		return fleetpb.HealthState_HEALTH_OPEN, c.openUntil.Sub(now)
	}
	return fleetpb.HealthState_HEALTH_HALF_OPEN, 0
}

// view is the state at now, as an answer.
func (c *healthCircuit) view(now time.Time) *fleetpb.HealthView {
	st, left := c.state(now)
	return &fleetpb.HealthView{Round: c.round, State: st, CooldownNs: int64(left), Reason: c.reason}
}

// trip opens the circuit for cooldown (a member's breaker tripped, or its
// probe failed) with K = probes. It reports whether a new round started
// (a transition to push); a trip while OPEN only lengthens the cooldown.
func (c *healthCircuit) trip(now time.Time, cooldown time.Duration, probes int, reason string) bool {
	until := now.Add(max(cooldown, 0))
	if st, _ := c.state(now); st == fleetpb.HealthState_HEALTH_OPEN {
		if until.After(c.openUntil) {
			c.openUntil = until
		}
		return false
	}
	c.open, c.round, c.openUntil, c.reason = true, c.round+1, until, reason
	c.probes, c.successes, c.slots = max(probes, 1), 0, nil
	return true
}

// ask grants member up to want probe slots of the current round (K =
// probes when the round has none) and returns the answer: the slots
// granted now, and, when fewer than want, when asking again may help.
func (c *healthCircuit) ask(now time.Time, member string, want, probes int) *fleetpb.HealthView {
	st, left := c.state(now)
	switch st {
	case fleetpb.HealthState_HEALTH_OPEN:
		v := c.view(now)
		v.RetryInNs = int64(left)
		return v
	case fleetpb.HealthState_HEALTH_CLOSED:
		return c.view(now)
	}
	if c.probes < 1 {
		c.probes = max(probes, 1)
	}
	c.expire(now)
	free := c.probes - c.successes - len(c.slots)
	n := min(max(want, 0), free)
	for range n {
		c.slots = append(c.slots, probeSlot{member: member, expires: now.Add(c.probeTTL)})
	}
	v := c.view(now)
	v.Granted = int32(n)
	if n < want {
		retry := c.retryEvery
		for _, s := range c.slots {
			retry = min(retry, max(s.expires.Sub(now), 0))
		}
		v.RetryInNs = int64(max(retry, time.Millisecond))
	}
	return v
}

// done records the outcome of one of member's probes of round. It reports
// whether the circuit closed (a transition to push).
func (c *healthCircuit) done(now time.Time, member string, round uint64, success bool) bool {
	if st, _ := c.state(now); st != fleetpb.HealthState_HEALTH_HALF_OPEN || round != c.round {
		return false
	}
	c.expire(now)
	i := -1
	for j, s := range c.slots {
		if s.member == member {
			i = j
			break
		}
	}
	if i < 0 {
		return false // no slot of this round: an expired one, or no probe of ours
	}
	c.slots = append(c.slots[:i], c.slots[i+1:]...)
	if !success {
		return false
	}
	c.successes++
	if c.successes < c.probes {
		return false
	}
	c.open, c.round, c.openUntil, c.reason = false, c.round+1, time.Time{}, "probes succeeded"
	c.probes, c.successes, c.slots = 0, 0, nil
	return true
}

// held returns how many slots member holds.
func (c *healthCircuit) held(member string) int {
	n := 0
	for _, s := range c.slots {
		if s.member == member {
			n++
		}
	}
	return n
}

// expire gives back the slots whose probe TTL passed.
func (c *healthCircuit) expire(now time.Time) {
	kept := c.slots[:0]
	for _, s := range c.slots {
		if now.Before(s.expires) {
			kept = append(kept, s)
		}
	}
	c.slots = kept
}
