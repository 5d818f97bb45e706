package fleet

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// shardKit is one shard's state on a manual clock.
type shardKit struct {
	t   *testing.T
	clk *clock.Manual
	s   *cacheShard
	st  *CacheShardStats
}

func newShardKit(t *testing.T, o CacheShardOptions) *shardKit {
	clk := clocktest.New(t)
	o.Clock = clk
	o.Stats = &CacheShardStats{}
	o = o.withDefaults()
	return &shardKit{t: t, clk: clk, s: newCacheShard(o), st: o.Stats}
}

// lookup asks for key as member m's lookup number id.
func (k *shardKit) lookup(key, m string, id uint64) (*fleetpb.CacheAnswer, []shardPush) {
	return k.s.lookup(&fleetpb.CacheLookup{Key: []byte(key), Member: m, AgentAddress: m, AgentId: "agent", Waiter: id}, k.clk.Now())
}

func (k *shardKit) store(key, entry string, ttl time.Duration) []shardPush {
	return k.s.store(&fleetpb.CacheStore{Key: []byte(key), Entry: []byte(entry), TtlNs: int64(ttl), Member: "x"}, k.clk.Now())
}

// pushed summarises pushes as "member/id:entry" ("member/id:-" for a
// release).
func pushed(ps []shardPush) []string {
	var out []string
	for _, p := range ps {
		s := p.to.member + "/" + string(rune('0'+p.msg.Waiter)) + ":"
		if p.msg.Filled {
			s += string(p.msg.Entry)
		} else {
			s += "-"
		}
		out = append(out, s)
	}
	return out
}

func TestCacheShardLookups(t *testing.T) {
	type step struct {
		do      string // lookup, store, abandon, advance, expire
		key     string
		member  string
		id      uint64
		entry   string
		ttl     time.Duration
		want    fleetpb.CacheOutcome
		wantHit string
		pushes  []string
	}
	tests := []struct {
		name  string
		opts  CacheShardOptions
		steps []step
	}{
		{name: "first miss leads, later lookups wait, the store fills them", steps: []step{
			{do: "lookup", key: "k", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "lookup", key: "k", member: "c", id: 2, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "lookup", key: "k", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT}, // a repeat is not a second waiter
			{do: "store", key: "k", entry: "answer", ttl: time.Minute, pushes: []string{"b/1:answer", "c/2:answer"}},
			{do: "lookup", key: "k", member: "d", id: 1, want: fleetpb.CacheOutcome_CACHE_HIT, wantHit: "answer"},
		}},
		{name: "entries expire after their ttl", steps: []step{
			{do: "store", key: "k", entry: "v", ttl: time.Minute},
			{do: "advance", ttl: time.Minute - time.Nanosecond},
			{do: "lookup", key: "k", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_HIT, wantHit: "v"},
			{do: "advance", ttl: time.Nanosecond},
			{do: "lookup", key: "k", member: "a", id: 2, want: fleetpb.CacheOutcome_CACHE_LEAD},
		}},
		{name: "the least recently used entry goes past the byte cap", opts: CacheShardOptions{MaxBytes: 20}, steps: []step{
			{do: "store", key: "k1", entry: "12345678", ttl: time.Minute}, // 10 bytes
			{do: "store", key: "k2", entry: "12345678", ttl: time.Minute}, // 20 bytes
			{do: "lookup", key: "k1", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_HIT, wantHit: "12345678"},
			{do: "store", key: "k3", entry: "12345678", ttl: time.Minute}, // evicts k2, the least recently used
			{do: "lookup", key: "k1", member: "a", id: 2, want: fleetpb.CacheOutcome_CACHE_HIT, wantHit: "12345678"},
			{do: "lookup", key: "k3", member: "a", id: 3, want: fleetpb.CacheOutcome_CACHE_HIT, wantHit: "12345678"},
			{do: "lookup", key: "k2", member: "a", id: 4, want: fleetpb.CacheOutcome_CACHE_LEAD},
		}},
		{name: "an entry above the entry cap is refused and releases the waiters", opts: CacheShardOptions{MaxEntryBytes: 8}, steps: []step{
			{do: "lookup", key: "k", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "store", key: "k", entry: "too large", ttl: time.Minute, pushes: []string{"b/1:-"}},
			{do: "lookup", key: "k", member: "c", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
		}},
		{name: "the leader's abandon releases the waiters; another member's does nothing", steps: []step{
			{do: "lookup", key: "k", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "abandon", key: "k", member: "b", id: 1},
			{do: "abandon", key: "k", member: "a", id: 2},
			{do: "abandon", key: "k", member: "a", id: 1, pushes: []string{"b/1:-"}},
			{do: "lookup", key: "k", member: "b", id: 2, want: fleetpb.CacheOutcome_CACHE_LEAD},
		}},
		{name: "a leader that never stores is bounded by the lead timeout", opts: CacheShardOptions{LeadTimeout: time.Second}, steps: []step{
			{do: "lookup", key: "k", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "advance", ttl: time.Second - time.Nanosecond},
			{do: "expire"},
			{do: "advance", ttl: time.Nanosecond},
			{do: "expire", pushes: []string{"b/1:-"}},
			{do: "lookup", key: "k", member: "b", id: 2, want: fleetpb.CacheOutcome_CACHE_LEAD},
		}},
		{name: "a lookup after the lead timeout releases the waiters and leads", opts: CacheShardOptions{LeadTimeout: time.Second}, steps: []step{
			{do: "lookup", key: "k", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "advance", ttl: time.Second},
			{do: "lookup", key: "k", member: "c", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD, pushes: []string{"b/1:-"}},
			// The old leader's late store still fills the entry and ends
			// the new flight (any member may store).
			{do: "lookup", key: "k", member: "d", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "store", key: "k", entry: "late", ttl: time.Minute, pushes: []string{"d/1:late"}},
		}},
		{name: "a leader whose member leaves the cluster releases its waiters", steps: []step{
			{do: "lookup", key: "k1", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k2", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k1", member: "c", id: 1, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "lookup", key: "k2", member: "c", id: 2, want: fleetpb.CacheOutcome_CACHE_WAIT},
			{do: "left", member: "c"}, // a waiter's member: nothing to release
			{do: "left", member: "a", pushes: []string{"c/1:-"}},
			{do: "lookup", key: "k1", member: "c", id: 3, want: fleetpb.CacheOutcome_CACHE_LEAD},
		}},
		{name: "keys have flights of their own", steps: []step{
			{do: "lookup", key: "k1", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "lookup", key: "k2", member: "b", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
			{do: "store", key: "k2", entry: "two", ttl: time.Minute},
			{do: "lookup", key: "k1", member: "b", id: 2, want: fleetpb.CacheOutcome_CACHE_WAIT},
		}},
		{name: "a store without ttl is refused", steps: []step{
			{do: "store", key: "k", entry: "v", ttl: 0},
			{do: "lookup", key: "k", member: "a", id: 1, want: fleetpb.CacheOutcome_CACHE_LEAD},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newShardKit(t, tt.opts)
			for i, s := range tt.steps {
				var ps []shardPush
				switch s.do {
				case "lookup":
					var a *fleetpb.CacheAnswer
					a, ps = k.lookup(s.key, s.member, s.id)
					require.Equal(t, s.want, a.Outcome, "step %d: %+v", i, s)
					assert.Equal(t, s.wantHit, string(a.Entry), "step %d: entry", i)
					if a.Outcome == fleetpb.CacheOutcome_CACHE_HIT {
						assert.Positive(t, a.ExpiresInNs, "step %d: a hit's remaining life", i)
					} else {
						assert.Positive(t, a.LeadForNs, "step %d: the lead's remaining time", i)
					}
				case "store":
					ps = k.store(s.key, s.entry, s.ttl)
				case "abandon":
					ps = k.s.abandon(&fleetpb.CacheAbandon{Key: []byte(s.key), Member: s.member, Waiter: s.id})
				case "advance":
					k.clk.Advance(s.ttl)
				case "expire":
					ps = k.s.expire(k.clk.Now())
				case "left":
					ps = k.s.membersLeft(map[string]bool{s.member: true})
				}
				require.Equal(t, s.pushes, pushed(ps), "step %d (%s): pushes", i, s.do)
			}
			assert.LessOrEqual(t, k.s.bytes, k.s.maxBytes, "bytes held")
		})
	}
}

// The shard's figures count what happened, and its byte count follows its
// entries.
func TestCacheShardStats(t *testing.T) {
	k := newShardKit(t, CacheShardOptions{MaxBytes: 30, LeadTimeout: time.Second})
	k.lookup("k1", "a", 1)
	k.lookup("k1", "b", 1)
	k.store("k1", strings.Repeat("x", 10), time.Minute)
	k.lookup("k1", "c", 1)
	k.store("k2", strings.Repeat("x", 18), time.Minute) // 12 + 20 > 30: k1 goes
	k.lookup("k3", "a", 2)
	k.clk.Advance(time.Second)
	k.s.expire(k.clk.Now())
	assert.Equal(t, int64(4), k.st.Lookups.Load(), "lookups")
	assert.Equal(t, int64(1), k.st.Hits.Load(), "hits")
	assert.Equal(t, int64(2), k.st.Leads.Load(), "leads")
	assert.Equal(t, int64(1), k.st.Waits.Load(), "waits")
	assert.Equal(t, int64(2), k.st.Stores.Load(), "stores")
	assert.Equal(t, int64(1), k.st.Evictions.Load(), "evictions")
	assert.Equal(t, int64(1), k.st.LeadTimeouts.Load(), "lead timeouts")
	assert.Equal(t, int64(20), k.s.bytes, "bytes held: k2 only")
	_, ok := k.s.nextDeadline()
	assert.False(t, ok, "a flight is left")
}

func TestCacheShardIdentity(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 2000; i++ {
		id := CacheShardIdentity(strings.Repeat("k", i), 64)
		require.Regexp(t, `^shard-[0-6][0-9]$`, id)
		seen[id] = true
	}
	assert.Len(t, seen, 64, "keys reach every shard")
	assert.Equal(t, CacheShardIdentity("key", 0), CacheShardIdentity("key", DefaultCacheShards), "0 shards is the default")
	assert.Equal(t, CacheShardIdentity("key", 64), CacheShardIdentity("key", 64), "the identity is stable")
}
