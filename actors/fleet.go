package actors

import "time"

// FleetKeys gives each key of a provider its fleet-wide budget (fleet mode,
// see docs/fleet.md). A nil Env.FleetKeys (the default, a single daemon)
// keeps every key on its local rpm and tpm limiters, at no cost.
type FleetKeys interface {
	// KeyBudget returns the budget of the key labelled key on the endpoint
	// of provider, with the key's fleet-wide limits, or nil to keep that
	// key local. onChange is called, from any goroutine and without
	// blocking, when the budget changed in a way that may let a waiting
	// request go (a refill landed, a push arrived).
	KeyBudget(provider, endpoint, key string, limits KeyLimits, onChange func()) KeyBudget
}

// KeyLimits are a key's limits (0: none): requests and tokens per minute,
// and calls in flight. In fleet mode they hold for the whole fleet.
type KeyLimits struct {
	RPM, TPM, MaxInFlight int
}

// KeyBudget is one key's share of a fleet-wide budget, held by this node.
// The provider actor calls it from its own goroutine; implementations are
// safe for concurrent use and never wait on the network in these methods.
type KeyBudget interface {
	// Available reports when the key may take a call: the zero time if now,
	// a later time to try again, and false if it never will (disabled
	// anywhere in the fleet). cooling tells that the wait is a cooldown
	// (a 429 seen by some node) rather than a spent budget.
	Available(now time.Time) (at time.Time, cooling, ok bool)
	// Take takes one request's permit (and, with MaxInFlight, a
	// concurrency slot); Available said now.
	Take(now time.Time)
	// Release frees the concurrency slot of a call that ended.
	Release()
	// Spend counts the tokens a finished call used.
	Spend(tokens int64)
	// Cooldown tells the fleet that the key must rest until until (a 429);
	// Cooldown and Disable return at once (the fleet learns it in the
	// background).
	Cooldown(until time.Time, reason string)
	// Disable tells the fleet that the key was refused (401/403).
	Disable(reason string)
}
