package messages

import (
	"log/slog"
	"time"
)

// GetCacheStatus asks the cache actor for a *CacheStatus.
type GetCacheStatus struct{}

// CacheStatus is the cache actor's state on demand.
type CacheStatus struct {
	Time time.Time
	// Entries counts stored answers; Scopes the semantic scopes that hold at
	// least one prompt vector.
	Entries, Scopes int
	// MaxEntries, TTL and Threshold are the configured limits; Semantic
	// reports whether an embedding route is configured.
	MaxEntries int
	TTL        time.Duration
	Threshold  float64
	Semantic   bool
	// Hits counts requests answered from a stored answer by their exact key,
	// SemanticHits those answered by similarity.
	Hits, SemanticHits uint64
	// Misses counts upstream calls the cache let through for cacheable
	// requests (a lookup that found nothing, or a follower promoted after its
	// leader's caller gave up).
	Misses uint64
	// Coalesced counts requests answered from an identical concurrent
	// request's upstream call (single flight).
	Coalesced uint64
	// Stores counts answers stored; Evictions those dropped to stay within
	// MaxEntries; Expired those dropped because their TTL passed.
	Stores, Evictions, Expired uint64
	// Bypassed counts requests of cacheable operations that skipped the cache
	// (per-request bypass, or sampling without the opt-in).
	Bypassed uint64
	// InFlight is the number of single-flight leaders now (requests being
	// looked up or called upstream for others to share); Followers the
	// requests now waiting for them.
	InFlight, Followers int
	// EmbedErrors counts semantic lookups whose embedding failed (they were
	// treated as misses).
	EmbedErrors uint64
	// LastHits are the most recent cached answers, newest last.
	LastHits []CacheHitInfo
}

// CacheHitInfo is one cached answer in CacheStatus.LastHits.
type CacheHitInfo struct {
	RequestID string
	Provider  string
	Model     string
	// Similarity is 1 for an exact hit, the cosine similarity for a
	// semantic one.
	Similarity float64
	Exact      bool
	// Coalesced: the answer came from an identical concurrent request's
	// call rather than from a stored entry.
	Coalesced bool
	Time      time.Time
}

// CacheHit is published for every request answered by the cache: an exact
// or semantic hit, or a follower answered from its leader's call.
type CacheHit struct {
	Time      time.Time
	RequestID string
	Provider  string
	Model     string
	Operation string
	// Exact is true for an exact-key hit (and for Coalesced answers),
	// false for a semantic one; Similarity is 1 or the cosine similarity.
	Exact      bool
	Similarity float64
	Coalesced  bool
}

func (e *CacheHit) EventTime() time.Time { return e.Time }
func (e *CacheHit) Log() (slog.Level, string, []any) {
	kind := "semantic"
	switch {
	case e.Coalesced:
		kind = "coalesced"
	case e.Exact:
		kind = "exact"
	}
	return slog.LevelDebug, "cache hit", []any{"request_id", e.RequestID, "provider", e.Provider, "model", e.Model,
		"operation", e.Operation, "kind", kind, "similarity", e.Similarity}
}
