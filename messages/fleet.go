package messages

import "time"

// FleetStats are this member's fleet-mode figures (Config.Cluster); zero
// when fleet mode is off.
type FleetStats struct {
	// Member is this member's cluster address; Members how many members
	// the cluster lists.
	Member  string
	Members int
	// Keys are this member's leases of the keys' fleet-wide budgets, by
	// grain identity (provider/endpoint/key).
	Keys map[string]FleetKey
	// GrainActivations, GrainLeases and GrainGranted count the key-budget
	// grains this member hosts: activations, lease requests answered and
	// permits granted.
	GrainActivations, GrainLeases, GrainGranted int64
	// Pushes counts what grains pushed to this member (other members'
	// cooldowns, disables, endpoint states).
	Pushes int64
	// Rejoins counts the times this member rejoined the cluster under a
	// new identity after its membership was lost.
	Rejoins int64
	// HealthTrips, HealthOpened, HealthProbesGranted and HealthClosed count
	// the endpoint-health grains this member hosts: trips reported, rounds
	// opened, probe slots granted fleet-wide, rounds closed by probes.
	HealthTrips, HealthOpened, HealthProbesGranted, HealthClosed int64
	// HealthCalls and HealthCallFailures count this member's calls to
	// endpoint-health grains, and those that failed or timed out (the
	// member then judged on its own breaker).
	HealthCalls, HealthCallFailures int64
}

// FleetKey is one key's lease figures on this member.
type FleetKey struct {
	// Activation names the grain activation of the latest lease
	// ("address@start"): the member that holds the key's budget.
	Activation string
	// Leases counts answered lease calls, LeaseFailures those that failed
	// or timed out; Fallbacks the switches to the fair share.
	Leases, LeaseFailures, Fallbacks int64
	// Taken counts permits taken from leases, LocalTaken on the fair
	// share; Waits the checks that found no permit held; Refused the lease
	// calls the grain answered with none (the fleet's window was spent).
	Taken, LocalTaken, Waits, Refused int64
	// FairShare is set while the member uses its fair share (limit / live
	// members) because the grain cannot be reached.
	FairShare bool
	// LastRoundTripNs is the latest lease call's duration.
	LastRoundTripNs int64
	// SpentUntil is when the grain said the fleet's window has room again
	// after its latest refusal (zero before any).
	SpentUntil time.Time
}

// FleetHealthView is the fleet's view of an endpoint's circuit (fleet
// mode), pushed on a transition or answering a call.
type FleetHealthView struct {
	// State is the fleet-wide state: OPEN, HALF-OPEN (probe slots are
	// granted) or CLOSED.
	State BreakerState
	// Activation and Round identify the transition: the rounds of one
	// activation of the fleet's circuit grow; another activation starts
	// again.
	Activation string
	Round      uint64
	// Cooldown is how long an OPEN endpoint stays open from receipt.
	Cooldown time.Duration
	// Granted is how many probe slots of Round an AskProbes granted.
	Granted int
	// RetryIn, when not zero, is when asking for a slot again may help.
	RetryIn time.Duration
	// Reason says why the endpoint opened or closed.
	Reason string
}
