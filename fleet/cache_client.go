package fleet

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// DefaultCacheWait bounds how long a lookup waits for another member's
// flight when its shard does not say (DefaultCacheLeadTimeout).
const DefaultCacheWait = DefaultCacheLeadTimeout

// CacheClientOptions configures a CacheClient. Cluster (or Call) is
// required; Node.Cache fills everything from a Node.
type CacheClientOptions struct {
	// Self, when not nil, names this node and its agent actor at each
	// call, instead of Member and Agent (a node that rejoined its cluster
	// under a new identity).
	Self func() (member string, agent *actor.PID)
	// Cluster is the started member the client calls through.
	Cluster *cluster.Cluster
	// Call, when not nil, sends msg to the shard identity instead of
	// Cluster and returns its answer (tests). The client bounds the wait by
	// CallTimeout whatever Call does.
	Call func(identity string, msg any, timeout time.Duration) (any, error)
	// Agent is this member's agent, where shards push (nil: the client
	// never waits for another member's flight; a WAIT is a miss).
	Agent *actor.PID
	// Member names this member to the shards (default: the cluster
	// address).
	Member string
	// Shards is the number of shards (default DefaultCacheShards; the same
	// on every member).
	Shards int
	// CallTimeout bounds each call to a shard in wall-clock time (default
	// DefaultCallTimeout).
	CallTimeout time.Duration
	// MaxWait bounds a wait for another member's flight, on Clock (default
	// DefaultCacheWait); the shard's own lead deadline plus CallTimeout
	// bounds it too.
	MaxWait time.Duration
	// MaxEntryBytes caps an entry sent to a shard (default
	// DefaultCacheEntryBytes); a larger one is not shared.
	MaxEntryBytes int
	// Clock drives the waits; nil is the wall clock.
	Clock clock.Clock
}

// CacheClientStats are a CacheClient's figures. Fields are atomics, safe
// to read at any time.
type CacheClientStats struct {
	// Lookups counts lookups; Hits those answered with an entry at once,
	// Leads those this member leads, Waits those that waited for another
	// member's flight: Filled got its entry, Released went upstream
	// (released, or out of time).
	Lookups, Hits, Leads, Waits, Filled, Released atomic.Int64
	// Failures counts calls that failed or did not answer in time (the
	// request went upstream as a local miss).
	Failures atomic.Int64
	// Stores counts entries sent; TooLarge entries not sent for their size;
	// Abandons flights this member gave up.
	Stores, TooLarge, Abandons atomic.Int64
}

// CacheClient is one node's side of the shared exact cache: it asks the
// shard that owns a key, bounded by CallTimeout, and waits (bounded) for
// another member's flight by the shard's push. No method blocks on the
// network: calls run on goroutines and answers come through callbacks.
// Whatever the cluster does, every Lookup is answered, at worst as a miss
// (the caller goes upstream). Safe for concurrent use.
type CacheClient struct {
	o     CacheClientOptions
	stats CacheClientStats
	seq   atomic.Uint64
	wg    sync.WaitGroup

	mu      sync.Mutex
	waits   map[uint64]*cacheWait
	leading map[string]uint64 // key → the waiter number this member leads with
	closed  bool
}

// cacheWait is one Lookup not answered yet.
type cacheWait struct {
	key   string
	done  func(entry []byte, ttl time.Duration)
	timer clock.Timer
	// waiting: the shard said WAIT; the push (or the timer) answers.
	waiting bool
	ended   bool
}

// NewCacheClient returns a client; the caller routes the pushes its
// member's agent receives to Push.
func NewCacheClient(o CacheClientOptions) *CacheClient {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.Shards <= 0 {
		o.Shards = DefaultCacheShards
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.MaxWait <= 0 {
		o.MaxWait = DefaultCacheWait
	}
	if o.MaxEntryBytes <= 0 {
		o.MaxEntryBytes = DefaultCacheEntryBytes
	}
	if o.Call == nil {
		o.Call = clusterCall(o.Cluster, CacheKind)
	}
	if o.Member == "" && o.Cluster != nil {
		o.Member = o.Cluster.ActorSystem.Address()
	}
	return &CacheClient{o: o, waits: map[uint64]*cacheWait{}, leading: map[string]uint64{}}
}

// Stats returns the client's figures.
func (c *CacheClient) Stats() *CacheClientStats { return &c.stats }

// Lookup asks the fleet for key's entry and calls done exactly once, from
// another goroutine: with the entry and its remaining life on a hit (at
// once, or once the member leading key's flight stored it), or with nil to
// go upstream — this member leads the flight, the leader failed or ran out
// of time, or the shard did not answer within CallTimeout. After a nil
// answer the caller reports the outcome: Store on a shareable answer,
// Abandon otherwise. done must not block.
func (c *CacheClient) Lookup(key string, done func(entry []byte, ttl time.Duration)) {
	id := c.seq.Add(1)
	w := &cacheWait{key: key, done: done}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		go done(nil, 0)
		return
	}
	c.waits[id] = w
	c.wg.Add(1)
	c.mu.Unlock()
	c.stats.Lookups.Add(1)
	me, agent := c.whoAmI()
	m := &fleetpb.CacheLookup{Key: []byte(key), Member: me, Waiter: id}
	m.AgentAddress, m.AgentId = agentRef(agent)
	go func() {
		defer c.wg.Done()
		res, err := c.request(key, m, func(late any) {
			// This member went upstream as a miss meanwhile: it does not
			// coordinate a flight it did not hear it leads.
			if a, ok := late.(*fleetpb.CacheAnswer); ok && a.Outcome == fleetpb.CacheOutcome_CACHE_LEAD {
				c.send(key, &fleetpb.CacheAbandon{Key: []byte(key), Member: c.memberName(), Waiter: id})
			}
		})
		a, ok := res.(*fleetpb.CacheAnswer)
		if err != nil || !ok {
			c.stats.Failures.Add(1)
			c.finish(id, nil, 0)
			return
		}
		switch a.Outcome {
		case fleetpb.CacheOutcome_CACHE_HIT:
			if len(a.Entry) > 0 && a.ExpiresInNs > 0 {
				c.stats.Hits.Add(1)
				c.finish(id, a.Entry, time.Duration(a.ExpiresInNs))
				return
			}
		case fleetpb.CacheOutcome_CACHE_LEAD:
			c.stats.Leads.Add(1)
			c.mu.Lock()
			c.leading[key] = id
			c.mu.Unlock()
		case fleetpb.CacheOutcome_CACHE_WAIT:
			if agent != nil && c.wait(id, time.Duration(a.LeadForNs)) {
				return
			}
		}
		c.finish(id, nil, 0)
	}()
}

// wait arms the wait of lookup id for the shard's push (the flight's
// remaining lead time plus a call's, at most MaxWait); false when it
// already ended (the push came first) or the client closed.
func (c *CacheClient) wait(id uint64, leadFor time.Duration) bool {
	d := min(c.o.MaxWait, max(leadFor, 0)+c.o.CallTimeout)
	c.mu.Lock()
	defer c.mu.Unlock()
	w := c.waits[id]
	switch {
	case w == nil || w.ended:
		return true // answered already
	case c.closed:
		return false
	}
	c.stats.Waits.Add(1)
	w.waiting = true
	w.timer = c.o.Clock.AfterFunc(d, func() {
		c.stats.Released.Add(1)
		c.finish(id, nil, 0)
	})
	return true
}

// finish answers lookup id once.
func (c *CacheClient) finish(id uint64, entry []byte, ttl time.Duration) {
	c.mu.Lock()
	w := c.waits[id]
	if w == nil || w.ended {
		c.mu.Unlock()
		return
	}
	w.ended = true
	delete(c.waits, id)
	if w.timer != nil {
		w.timer.Stop()
	}
	c.mu.Unlock()
	w.done(entry, ttl)
}

// Push takes a message a shard pushed to this member's agent (a
// *fleetpb.CachePush; anything else is ignored). It does not block.
func (c *CacheClient) Push(msg any) {
	p, ok := msg.(*fleetpb.CachePush)
	if !ok {
		return
	}
	c.mu.Lock()
	w := c.waits[p.Waiter]
	valid := w != nil && w.key == string(p.Key)
	c.mu.Unlock()
	if !valid {
		return // a wait that ended already
	}
	if p.Filled && len(p.Entry) > 0 && p.ExpiresInNs > 0 {
		c.stats.Filled.Add(1)
		c.finish(p.Waiter, p.Entry, time.Duration(p.ExpiresInNs))
		return
	}
	c.stats.Released.Add(1)
	c.finish(p.Waiter, nil, 0)
}

// Store shares entry under key for ttl (in the background, bounded by
// CallTimeout); it ends the flight this member leads for key, if any. An
// entry larger than MaxEntryBytes is not sent (the flight is abandoned).
func (c *CacheClient) Store(key string, entry []byte, ttl time.Duration) {
	if len(entry) == 0 || len(entry) > c.o.MaxEntryBytes || ttl <= 0 {
		c.stats.TooLarge.Add(1)
		c.Abandon(key)
		return
	}
	c.mu.Lock()
	delete(c.leading, key)
	c.mu.Unlock()
	c.stats.Stores.Add(1)
	c.send(key, &fleetpb.CacheStore{Key: []byte(key), Entry: entry, TtlNs: int64(ttl), Member: c.memberName()})
}

// Abandon tells key's shard that the flight this member leads will not be
// stored, so its waiters go upstream at once; without such a flight it
// does nothing.
func (c *CacheClient) Abandon(key string) {
	c.mu.Lock()
	id, ok := c.leading[key]
	delete(c.leading, key)
	c.mu.Unlock()
	if !ok {
		return
	}
	c.stats.Abandons.Add(1)
	c.send(key, &fleetpb.CacheAbandon{Key: []byte(key), Member: c.memberName(), Waiter: id})
}

// send makes a call in the background (bounded; best effort).
func (c *CacheClient) send(key string, msg any) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		if _, err := c.request(key, msg, nil); err != nil {
			c.stats.Failures.Add(1)
		}
	}()
}

// request sends msg to key's shard and waits at most CallTimeout (wall
// clock, like the cluster's own timeouts) for the answer, whatever the
// cluster does meanwhile. A call that outlives the wait finishes in the
// background and its answer goes to late (when not nil); Close waits for
// it.
func (c *CacheClient) request(key string, msg any, late func(any)) (any, error) {
	identity := CacheShardIdentity(key, c.o.Shards)
	c.wg.Add(1)
	res, timedOut, err := boundedCall(&c.wg, c.o.CallTimeout, func() (any, error) { return c.o.Call(identity, msg, c.o.CallTimeout) }, late)
	if timedOut {
		return nil, fmt.Errorf("fleet: cache shard %q did not answer within %s", identity, c.o.CallTimeout)
	}
	return res, err
}

// Close answers every Lookup still waiting with a miss, stops sending and
// waits for the calls in flight (each bounded by CallTimeout).
func (c *CacheClient) Close() {
	c.mu.Lock()
	c.closed = true
	ids := make([]uint64, 0, len(c.waits))
	for id := range c.waits {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.finish(id, nil, 0)
	}
	c.wg.Wait()
}

// member names this node and agent is its agent actor (see Self).
// whoAmI is this node's member name and agent, read once per message so
// both come from the same incarnation.
func (c *CacheClient) whoAmI() (string, *actor.PID) { return self(c.o.Self, c.o.Member, c.o.Agent) }
func (c *CacheClient) memberName() string           { m, _ := c.whoAmI(); return m }
