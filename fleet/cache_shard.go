package fleet

import (
	"container/list"
	"time"

	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// waiterRef names one waiting lookup: the member's agent (where its push
// goes) and the lookup's number on that member.
type waiterRef struct {
	member                string
	agentAddress, agentID string
	id                    uint64
}

// shardEntry is one stored entry.
type shardEntry struct {
	key     string
	data    []byte
	expires time.Time
	elem    *list.Element
}

// shardFlight is the single flight of one key: its leader has until
// deadline to store; waiters are pushed the outcome.
type shardFlight struct {
	leader   waiterRef
	deadline time.Time
	waiters  []waiterRef
}

// shardPush is a push the grain sends on behalf of the state.
type shardPush struct {
	to  waiterRef
	msg *fleetpb.CachePush
}

// cacheShard is the state of one cache-shard grain: entries with their
// expiry, least recently used first out past maxBytes, and the single
// flights of the keys it owns. Methods take the time; the state reads no
// clock. Not safe for concurrent use (the grain's goroutine owns it).
type cacheShard struct {
	maxBytes, maxEntry int64
	leadTimeout        time.Duration
	stats              *CacheShardStats

	entries map[string]*shardEntry
	lru     *list.List // of *shardEntry, most recently used first
	bytes   int64
	flights map[string]*shardFlight
}

func newCacheShard(o CacheShardOptions) *cacheShard {
	return &cacheShard{maxBytes: o.MaxBytes, maxEntry: o.MaxEntryBytes, leadTimeout: o.LeadTimeout, stats: o.Stats,
		entries: map[string]*shardEntry{}, lru: list.New(), flights: map[string]*shardFlight{}}
}

// size is what an entry counts against the byte cap.
func size(key string, data []byte) int64 { return int64(len(key) + len(data)) }

// live returns key's entry if it has not expired; an expired one is
// removed.
func (s *cacheShard) live(key string, now time.Time) *shardEntry {
	e := s.entries[key]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		s.remove(e)
		s.stats.Expired.Add(1)
		return nil
	}
	return e
}

func (s *cacheShard) remove(e *shardEntry) {
	s.lru.Remove(e.elem)
	delete(s.entries, e.key)
	s.bytes -= size(e.key, e.data)
}

// lookup answers m: a hit, or the lead of a new flight, or a wait in the
// flight in progress. A flight whose leader ran out of time is released
// (its waiters are pushed) and the asker leads a new one.
func (s *cacheShard) lookup(m *fleetpb.CacheLookup, now time.Time) (*fleetpb.CacheAnswer, []shardPush) {
	s.stats.Lookups.Add(1)
	key := string(m.Key)
	if e := s.live(key, now); e != nil {
		s.lru.MoveToFront(e.elem)
		s.stats.Hits.Add(1)
		return &fleetpb.CacheAnswer{Outcome: fleetpb.CacheOutcome_CACHE_HIT, Entry: e.data, ExpiresInNs: int64(e.expires.Sub(now))}, nil
	}
	w := waiterRef{member: m.Member, agentAddress: m.AgentAddress, agentID: m.AgentId, id: m.Waiter}
	var pushes []shardPush
	if f := s.flights[key]; f != nil {
		if now.Before(f.deadline) {
			if f.leader != w && !contains(f.waiters, w) {
				f.waiters = append(f.waiters, w)
			}
			s.stats.Waits.Add(1)
			return &fleetpb.CacheAnswer{Outcome: fleetpb.CacheOutcome_CACHE_WAIT, LeadForNs: int64(f.deadline.Sub(now))}, nil
		}
		pushes = s.release(key, f)
		s.stats.LeadTimeouts.Add(1)
	}
	s.flights[key] = &shardFlight{leader: w, deadline: now.Add(s.leadTimeout)}
	s.stats.Leads.Add(1)
	return &fleetpb.CacheAnswer{Outcome: fleetpb.CacheOutcome_CACHE_LEAD, LeadForNs: int64(s.leadTimeout)}, pushes
}

func contains(ws []waiterRef, w waiterRef) bool {
	for _, o := range ws {
		if o == w {
			return true
		}
	}
	return false
}

// store keeps m's entry (unless it is empty, too large, or its ttl is not
// positive) and ends the key's flight: its waiters get the entry, or are
// released when it was not kept.
func (s *cacheShard) store(m *fleetpb.CacheStore, now time.Time) []shardPush {
	key := string(m.Key)
	ttl := time.Duration(m.TtlNs)
	kept := len(m.Entry) > 0 && ttl > 0 && size(key, m.Entry) <= s.maxEntry && size(key, m.Entry) <= s.maxBytes
	f := s.flights[key]
	if !kept {
		s.stats.Refused.Add(1)
		if f == nil {
			return nil
		}
		return s.release(key, f)
	}
	if old := s.entries[key]; old != nil {
		s.remove(old)
	}
	e := &shardEntry{key: key, data: m.Entry, expires: now.Add(ttl)}
	e.elem = s.lru.PushFront(e)
	s.entries[key] = e
	s.bytes += size(key, m.Entry)
	s.stats.Stores.Add(1)
	for s.bytes > s.maxBytes {
		oldest := s.lru.Back().Value.(*shardEntry)
		s.remove(oldest)
		s.stats.Evictions.Add(1)
	}
	if f == nil {
		return nil
	}
	delete(s.flights, key)
	pushes := make([]shardPush, 0, len(f.waiters))
	for _, w := range f.waiters {
		pushes = append(pushes, shardPush{to: w, msg: &fleetpb.CachePush{Key: m.Key, Waiter: w.id, Filled: true,
			Entry: m.Entry, ExpiresInNs: int64(ttl)}})
	}
	return pushes
}

// abandon releases the key's flight when m comes from its leader; any
// other abandon (a late one, after a new leader took over) changes
// nothing.
func (s *cacheShard) abandon(m *fleetpb.CacheAbandon) []shardPush {
	key := string(m.Key)
	f := s.flights[key]
	if f == nil || f.leader.member != m.Member || f.leader.id != m.Waiter {
		return nil
	}
	s.stats.Abandons.Add(1)
	return s.release(key, f)
}

// release ends f and tells its waiters to go upstream themselves.
func (s *cacheShard) release(key string, f *shardFlight) []shardPush {
	delete(s.flights, key)
	pushes := make([]shardPush, 0, len(f.waiters))
	for _, w := range f.waiters {
		pushes = append(pushes, shardPush{to: w, msg: &fleetpb.CachePush{Key: []byte(key), Waiter: w.id}})
	}
	return pushes
}

// membersLeft releases every flight whose leader's member left the
// cluster (by its agent's address, else its name): it will never store.
func (s *cacheShard) membersLeft(left map[string]bool) []shardPush {
	var pushes []shardPush
	for key, f := range s.flights {
		addr := f.leader.agentAddress
		if addr == "" {
			addr = f.leader.member
		}
		if left[addr] {
			s.stats.LeadersLeft.Add(1)
			pushes = append(pushes, s.release(key, f)...)
		}
	}
	return pushes
}

// expire releases every flight whose leader ran out of time.
func (s *cacheShard) expire(now time.Time) []shardPush {
	var pushes []shardPush
	for key, f := range s.flights {
		if !now.Before(f.deadline) {
			s.stats.LeadTimeouts.Add(1)
			pushes = append(pushes, s.release(key, f)...)
		}
	}
	return pushes
}

// nextDeadline is the earliest leader deadline; ok is false without
// flights.
func (s *cacheShard) nextDeadline() (at time.Time, ok bool) {
	for _, f := range s.flights {
		if !ok || f.deadline.Before(at) {
			at, ok = f.deadline, true
		}
	}
	return at, ok
}
