package actors

import "time"

// FleetCache shares the cache's exact layer with the other members of a
// fleet (fleet mode, see docs/fleet.md): each exact key is owned by the
// member it hashes to, and single flight holds across the fleet. The
// semantic layer stays on each node. A nil Env.FleetCache (the default, a
// single daemon) keeps the exact layer local, at no cost.
//
// The cache actor asks on a local exact miss, before its semantic layer,
// and never waits on the fleet: answers come back as messages. The key is
// the local exact key, which hashes the tenant scope (CacheSpec.TenantScope),
// so tenants never see each other's entries on any node. Entries are the
// versioned encoding of fleet_cache_entry.go; one that does not decode is
// a miss. Implementations are safe for concurrent use and never block.
// fleet.CacheClient implements it.
type FleetCache interface {
	// Lookup asks the fleet for key's entry and calls done exactly once,
	// from another goroutine and without blocking: with the entry and its
	// remaining life on a hit (at once, or once another member's identical
	// request stored it), or with nil to go upstream — this node leads the
	// key's flight, or the fleet could not help within its bounds. After a
	// nil answer the cache reports the outcome with Store or Abandon.
	Lookup(key string, done func(entry []byte, ttl time.Duration))
	// Store shares an answer under key for ttl; it ends the flight this
	// node leads for key, handing the entry to the waiting members.
	Store(key string, entry []byte, ttl time.Duration)
	// Abandon tells the fleet that this node will not store an answer for
	// the flight it leads for key (the call failed, its callers left, or
	// the answer may not be shared), so the waiting members go upstream.
	// It does nothing when this node leads no flight for key.
	Abandon(key string)
}
