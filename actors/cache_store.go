package actors

import (
	"math"
	"time"

	"github.com/hashicorp/golang-lru/v2/expirable"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/vectorindex"
)

// cacheEntry is one stored answer.
type cacheEntry struct {
	key string
	// scope and id place the entry's prompt vector in a semantic index; id
	// is 0 when the entry has none (exact layer only).
	scope string
	id    uint64
	// resp is a private copy of the answer; chunks, for a stream, are the
	// chunks in order (private copies too). Both are read-only.
	resp   messages.Response
	chunks []*messages.StreamChunk
	// toolCalls: the answer carries tool calls; it is given only to
	// requests that opted in.
	toolCalls bool
	expires   time.Time
	// origin is the span of the request whose answer this is (tracing on):
	// the spans of the hits it serves link to it.
	origin spanRef
}

// cacheStore holds the cache's entries: a max-entries LRU of exact keys
// plus one vector index per semantic scope. It is owned by the cache actor
// and not safe for concurrent use.
//
// Decision: expiry is ours, not the library's. golang-lru/v2's expirable
// LRU (v2.0.7) with a TTL starts a cleanup goroutine that can never be
// stopped and reads time.Now, which neither goleak nor a replaceable clock
// tolerates. So the LRU is built with TTL 0 and does only max-entries
// eviction (least recently used first); each entry carries its expiry by
// Env.Clock, a lookup that finds an expired entry removes it and counts a
// miss, and the cache actor sweeps expired entries on a clock timer (see
// Cache). The LRU's eviction callback removes the entry's vector from its
// scope's index, so the indexes never hold a vector whose answer is gone.
type cacheStore struct {
	lru     *expirable.LRU[string, *cacheEntry]
	ttl     time.Duration
	indexes map[string]*vectorindex.Index
	nextID  uint64
	byID    map[uint64]*cacheEntry
	// removing is set while the store removes an entry on purpose (expired,
	// replaced), so the callback does not count it as an eviction.
	removing bool

	stores, evictions, expired uint64
}

func newCacheStore(maxEntries int, ttl time.Duration) *cacheStore {
	s := &cacheStore{ttl: ttl, indexes: map[string]*vectorindex.Index{}, byID: map[uint64]*cacheEntry{}}
	s.lru = expirable.NewLRU[string, *cacheEntry](maxEntries, s.onEvict, 0)
	return s
}

func (s *cacheStore) onEvict(_ string, e *cacheEntry) {
	if e.id != 0 {
		if idx := s.indexes[e.scope]; idx != nil {
			idx.Remove(e.id)
			if idx.Len() == 0 {
				delete(s.indexes, e.scope)
			}
		}
		delete(s.byID, e.id)
	}
	if !s.removing {
		s.evictions++
	}
}

func (s *cacheStore) remove(key string) {
	s.removing = true
	s.lru.Remove(key)
	s.removing = false
}

// get returns the live entry for key, marking it recently used. An expired
// entry is removed and reported missing.
func (s *cacheStore) get(key string, now time.Time) (*cacheEntry, bool) {
	e, ok := s.lru.Get(key)
	if !ok {
		return nil, false
	}
	if !now.Before(e.expires) {
		s.remove(key)
		s.expired++
		return nil, false
	}
	return e, true
}

// search returns the live entry of scope whose prompt vector is most similar
// to vec (a unit vector), if that similarity reaches threshold. Expired
// entries met on the way are removed and the search repeats.
func (s *cacheStore) search(scope string, vec []float32, threshold float64, now time.Time) (*cacheEntry, float64, bool) {
	for {
		idx := s.indexes[scope]
		if idx == nil || idx.Dim() != len(vec) {
			return nil, 0, false
		}
		id, sim, ok := idx.Search(vec, float32(threshold))
		if !ok || sim < float32(threshold) {
			return nil, 0, false
		}
		e := s.byID[id]
		if e == nil { // cannot happen: the callback keeps both in step
			idx.Remove(id)
			continue
		}
		if !now.Before(e.expires) {
			s.remove(e.key)
			s.expired++
			continue
		}
		s.lru.Get(e.key) // mark it recently used
		return e, math.Min(float64(sim), 1), true
	}
}

// put stores e (replacing an entry with the same key) for the TTL, and its
// prompt vector (a unit vector, or nil) in scope's index.
func (s *cacheStore) put(e *cacheEntry, scope string, vec []float32, now time.Time) {
	s.putFor(e, scope, vec, now, s.ttl)
}

// putFor is put with the entry's life (an entry from the fleet keeps what
// is left of its own).
func (s *cacheStore) putFor(e *cacheEntry, scope string, vec []float32, now time.Time, ttl time.Duration) {
	if _, ok := s.lru.Peek(e.key); ok {
		s.remove(e.key)
	}
	e.expires = now.Add(ttl)
	s.index(e, scope, vec)
	s.stores++
	s.lru.Add(e.key, e)
}

// addVector indexes the prompt vector of the entry stored under key, if it
// has none yet (its embedding arrived after the answer).
func (s *cacheStore) addVector(key, scope string, vec []float32) {
	if e, ok := s.lru.Peek(key); ok && e.id == 0 {
		s.index(e, scope, vec)
	}
}

func (s *cacheStore) index(e *cacheEntry, scope string, vec []float32) {
	if scope == "" || len(vec) == 0 {
		return
	}
	idx := s.indexes[scope]
	if idx == nil {
		idx = vectorindex.New(len(vec))
		s.indexes[scope] = idx
	}
	s.nextID++
	if idx.Dim() == len(vec) && idx.Add(s.nextID, vec) == nil {
		e.scope, e.id = scope, s.nextID
		s.byID[e.id] = e
	} else if idx.Len() == 0 {
		delete(s.indexes, scope)
	}
}

// hasScope reports whether scope holds any prompt vector.
func (s *cacheStore) hasScope(scope string) bool { return s.indexes[scope] != nil }

// sweep removes every expired entry and returns how many it removed.
func (s *cacheStore) sweep(now time.Time) int {
	n := 0
	for _, key := range s.lru.Keys() {
		if e, ok := s.lru.Peek(key); ok && !now.Before(e.expires) {
			s.remove(key)
			s.expired++
			n++
		}
	}
	return n
}

func (s *cacheStore) len() int    { return s.lru.Len() }
func (s *cacheStore) scopes() int { return len(s.indexes) }

// unit returns v scaled to length 1 (a copy), or nil when v is empty, zero
// or not finite: the indexes compare unit vectors, so their dot product is
// the cosine similarity whatever the embedding service's normalisation.
func unit(v []float32) []float32 {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if len(v) == 0 || n == 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return nil
	}
	n = math.Sqrt(n)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(float64(x) / n)
	}
	return out
}
