package fleet

import (
	"fmt"
	"hash/fnv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/eventstream"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// CacheKind is the cluster kind of the shared exact cache's shards. A
// shard's identity is CacheShardIdentity(key, shards): the cluster's
// identity lookup (disthash) places it, so an entry lives on the member
// its key hashes to.
const CacheKind = "cache-shard"

// Defaults of the shared exact cache.
const (
	// DefaultCacheShards is the number of shards keys are spread over; every
	// member must use the same number.
	DefaultCacheShards = 64
	// DefaultCacheShardBytes caps the entries one shard holds (64 shards:
	// 1 GiB over the fleet at most).
	DefaultCacheShardBytes = 16 << 20
	// DefaultCacheEntryBytes caps one entry; a larger answer is not shared.
	DefaultCacheEntryBytes = 1 << 20
	// DefaultCacheLeadTimeout is how long a flight's leader has to store
	// its answer before the shard tells the waiters to go upstream
	// themselves.
	DefaultCacheLeadTimeout = 30 * time.Second
)

// CacheShardIdentity is the identity of the shard that owns key: "shard-NN",
// NN the key's FNV-1a hash modulo shards (DefaultCacheShards when shards
// is not positive).
func CacheShardIdentity(key string, shards int) string {
	if shards <= 0 {
		shards = DefaultCacheShards
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return fmt.Sprintf("shard-%02d", h.Sum32()%uint32(shards))
}

// CacheShardOptions configures the cache shards a member hosts. The zero
// value is usable: the wall clock and the defaults above.
type CacheShardOptions struct {
	// Clock drives entries' expiry and leaders' deadlines; nil is the wall
	// clock.
	Clock clock.Clock
	// MaxBytes caps one shard's entries (keys and bytes; default
	// DefaultCacheShardBytes); the least recently used go first.
	MaxBytes int64
	// MaxEntryBytes caps one entry (default DefaultCacheEntryBytes).
	MaxEntryBytes int64
	// LeadTimeout bounds a flight's leader (default DefaultCacheLeadTimeout).
	LeadTimeout time.Duration
	// Stats, when not nil, counts what the shards do.
	Stats *CacheShardStats
}

// CacheShardStats are a member's cache-shard figures. Fields are atomics,
// safe to read at any time.
type CacheShardStats struct {
	// Activations counts shards started on this member.
	Activations atomic.Int64
	// Lookups counts lookups answered: Hits with an entry, Leads by
	// starting a flight, Waits by joining one.
	Lookups, Hits, Leads, Waits atomic.Int64
	// Stores counts entries kept; Refused stores not kept (empty, too
	// large, no ttl); Evictions entries dropped for the byte cap; Expired
	// entries found past their expiry.
	Stores, Refused, Evictions, Expired atomic.Int64
	// Abandons counts flights their leader gave up; LeadTimeouts flights
	// whose leader ran out of time; LeadersLeft flights whose leader's
	// member left the cluster.
	Abandons, LeadTimeouts, LeadersLeft atomic.Int64
	// Pushes counts pushes sent to waiting members.
	Pushes atomic.Int64
}

// NewCacheKind returns the cluster kind that hosts cache shards, for
// cluster.WithKinds on every member that may host them.
func NewCacheKind(o CacheShardOptions) *cluster.Kind {
	o = o.withDefaults()
	return cluster.NewKind(CacheKind, actor.PropsFromProducer(func() actor.Actor { return &cacheGrain{o: o} }))
}

func (o CacheShardOptions) withDefaults() CacheShardOptions {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultCacheShardBytes
	}
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = DefaultCacheEntryBytes
	}
	if o.LeadTimeout <= 0 {
		o.LeadTimeout = DefaultCacheLeadTimeout
	}
	if o.Stats == nil {
		o.Stats = &CacheShardStats{}
	}
	return o
}

// cacheGrain is the actor of one cache shard.
type cacheGrain struct {
	o       CacheShardOptions
	s       *cacheShard
	timer   clock.Timer
	timerAt time.Time
	gen     uint64
	sub     *eventstream.Subscription
}

// shardTick is the grain's timer for the earliest leader deadline.
type shardTick struct{ gen uint64 }

// membersLeft tells the grain which members left the cluster (their
// addresses).
type membersLeft struct{ addrs map[string]bool }

// Receive handles one message.
func (g *cacheGrain) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		g.s = newCacheShard(g.o)
		g.o.Stats.Activations.Add(1)
		// A leader whose member leaves will never store: its flight is
		// released at once rather than at its lead timeout.
		sys, self := ctx.ActorSystem(), ctx.Self()
		g.sub = sys.EventStream.Subscribe(func(evt any) {
			if t, ok := evt.(*cluster.ClusterTopology); ok && len(t.Left) > 0 {
				left := make(map[string]bool, len(t.Left))
				for _, m := range t.Left {
					left[m.Address()] = true
				}
				sys.Root.Send(self, &membersLeft{addrs: left})
			}
		})
	case *membersLeft:
		g.push(ctx, g.s.membersLeft(m.addrs))
	case *fleetpb.CacheLookup:
		ans, pushes := g.s.lookup(m, g.o.Clock.Now())
		ctx.Respond(ans)
		g.push(ctx, pushes)
	case *fleetpb.CacheStore:
		pushes := g.s.store(m, g.o.Clock.Now())
		ctx.Respond(&fleetpb.CacheAck{})
		g.push(ctx, pushes)
	case *fleetpb.CacheAbandon:
		pushes := g.s.abandon(m)
		ctx.Respond(&fleetpb.CacheAck{})
		g.push(ctx, pushes)
	case *shardTick:
		if m.gen == g.gen {
			g.timer = nil
			g.push(ctx, g.s.expire(g.o.Clock.Now()))
		}
	case *actor.Stopping:
		if g.timer != nil {
			g.timer.Stop()
		}
		if g.sub != nil {
			ctx.ActorSystem().EventStream.Unsubscribe(g.sub)
		}
	}
}

// push sends pushes to their members' agents and re-arms the timer for
// the earliest leader deadline.
func (g *cacheGrain) push(ctx actor.Context, pushes []shardPush) {
	for _, p := range pushes {
		if p.to.agentAddress == "" || p.to.agentID == "" {
			continue
		}
		ctx.Send(actor.NewPID(p.to.agentAddress, p.to.agentID), p.msg)
		g.o.Stats.Pushes.Add(1)
	}
	at, ok := g.s.nextDeadline()
	if g.timer != nil && ok && at.Equal(g.timerAt) {
		return // armed for that deadline already
	}
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if !ok {
		return
	}
	g.gen++
	g.timerAt = at
	msg, self, root := &shardTick{gen: g.gen}, ctx.Self(), ctx.ActorSystem().Root
	g.timer = g.o.Clock.AfterFunc(at.Sub(g.o.Clock.Now()), func() { root.Send(self, msg) })
}

var _ actor.Actor = (*cacheGrain)(nil)
