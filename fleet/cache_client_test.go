package fleet

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// shardHost runs cache-shard grains in one actor system, without a
// cluster, so the client's concurrency runs under the race detector: one
// grain actor per identity, spawned on first use, and one agent per
// member that hands pushes to that member's client.
type shardHost struct {
	t   *testing.T
	sys *actor.ActorSystem
	clk *clock.Manual
	o   CacheShardOptions

	mu     sync.Mutex
	grains map[string]*actor.PID
}

func newShardHost(t *testing.T, o CacheShardOptions) *shardHost {
	quiet := func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }
	h := &shardHost{t: t, sys: actor.NewActorSystem(actor.WithLoggerFactory(quiet)), clk: clocktest.New(t), grains: map[string]*actor.PID{}}
	o.Clock = h.clk
	if o.Stats == nil {
		o.Stats = &CacheShardStats{}
	}
	h.o = o.withDefaults()
	t.Cleanup(h.sys.Shutdown)
	return h
}

func (h *shardHost) call(identity string, msg any, timeout time.Duration) (any, error) {
	h.mu.Lock()
	pid := h.grains[identity]
	if pid == nil {
		o := h.o
		pid = h.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &cacheGrain{o: o} }))
		h.grains[identity] = pid
	}
	h.mu.Unlock()
	return h.sys.Root.RequestFuture(pid, msg, timeout).Result()
}

// client returns member's client, its pushes delivered by an agent actor;
// it is closed when the test ends.
func (h *shardHost) client(member string, o CacheClientOptions) *CacheClient {
	var cp atomic.Pointer[CacheClient]
	if o.Agent == nil {
		o.Agent = h.sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			if c := cp.Load(); c != nil {
				c.Push(ctx.Message())
			}
		}))
	}
	o.Member, o.Clock = member, h.clk
	if o.Call == nil {
		o.Call = h.call
	}
	if o.CallTimeout == 0 {
		o.CallTimeout = 5 * time.Second
	}
	c := NewCacheClient(o)
	cp.Store(c)
	h.t.Cleanup(c.Close)
	return c
}

// answer is what a Lookup's done received.
type answer struct {
	member string
	entry  string
	ttl    time.Duration
}

// lookup starts a Lookup whose answer goes to out.
func lookup(c *CacheClient, member, key string, out chan<- answer) {
	c.Lookup(key, func(entry []byte, ttl time.Duration) { out <- answer{member, string(entry), ttl} })
}

func next(t *testing.T, ch <-chan answer) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		require.Fail(t, "no answer to a lookup")
		return answer{}
	}
}

// Identical concurrent lookups on two members: exactly one leads, the
// other waits and gets the leader's entry by push; then it is a hit.
func TestCacheClientSingleFlight(t *testing.T) {
	h := newShardHost(t, CacheShardOptions{})
	clients := map[string]*CacheClient{"a": h.client("a", CacheClientOptions{}), "b": h.client("b", CacheClientOptions{})}
	out := make(chan answer, 4)
	var wg sync.WaitGroup
	for m, c := range clients {
		wg.Add(1)
		go func() { defer wg.Done(); lookup(c, m, "same key", out) }()
	}
	wg.Wait()
	lead := next(t, out)
	require.Empty(t, lead.entry, "the first answer is the lead: go upstream")
	leader, waiter := clients[lead.member], clients["a"]
	if lead.member == "a" {
		waiter = clients["b"]
	}
	require.Equal(t, int64(1), leader.Stats().Leads.Load(), "the leader's leads")
	require.Eventually(t, func() bool { return waiter.Stats().Waits.Load() == 1 }, 10*time.Second, time.Millisecond, "the other member waits")
	require.Empty(t, out, "the waiter was answered before the leader stored")

	leader.Store("same key", []byte("the answer"), time.Minute)
	filled := next(t, out)
	assert.NotEqual(t, lead.member, filled.member)
	assert.Equal(t, "the answer", filled.entry, "the pushed entry")
	assert.Equal(t, time.Minute, filled.ttl, "the pushed entry's life")
	assert.Equal(t, int64(1), waiter.Stats().Filled.Load(), "filled")
	assert.Equal(t, int64(0), waiter.Stats().Leads.Load(), "the waiter led too")

	lookup(waiter, "again", "same key", out)
	hit := next(t, out)
	assert.Equal(t, "the answer", hit.entry, "a later lookup hits")
	assert.Equal(t, int64(1), h.o.Stats.Leads.Load(), "leads at the shard")
	assert.Equal(t, int64(1), h.o.Stats.Pushes.Load(), "pushes from the shard")
}

// A waiter is released (goes upstream) when the leader abandons, when the
// leader runs out of time at the shard, or when its own wait runs out.
func TestCacheClientWaiterReleased(t *testing.T) {
	tests := []struct {
		name    string
		release func(h *shardHost, leader *CacheClient)
	}{
		{name: "the leader abandons", release: func(_ *shardHost, leader *CacheClient) { leader.Abandon("k") }},
		{name: "the leader runs out of time", release: func(h *shardHost, _ *CacheClient) { h.clk.Advance(time.Second) }},
		{name: "the leader's entry is too large to share", release: func(_ *shardHost, leader *CacheClient) {
			leader.Store("k", make([]byte, 65), time.Minute)
		}},
		{name: "the leader's member leaves the cluster", release: func(h *shardHost, _ *CacheClient) {
			h.sys.EventStream.Publish(&cluster.ClusterTopology{Left: []*cluster.Member{{Host: "10.0.0.9", Port: 7010}}})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newShardHost(t, CacheShardOptions{LeadTimeout: time.Second})
			// a's agent is on another host (it receives nothing here).
			a := h.client("a", CacheClientOptions{MaxEntryBytes: 64, Agent: actor.NewPID("10.0.0.9:7010", AgentName)})
			b := h.client("b", CacheClientOptions{})
			out := make(chan answer, 2)
			lookup(a, "a", "k", out)
			require.Empty(t, next(t, out).entry, "a leads")
			lookup(b, "b", "k", out)
			require.Eventually(t, func() bool { return b.Stats().Waits.Load() == 1 }, 10*time.Second, time.Millisecond, "b waits")
			tt.release(h, a)
			got := next(t, out)
			assert.Equal(t, answer{member: "b"}, got, "b goes upstream")
			assert.Equal(t, int64(1), b.Stats().Released.Load(), "released")
			// The next lookup leads a new flight.
			lookup(b, "b", "k", out)
			assert.Empty(t, next(t, out).entry)
			assert.Equal(t, int64(1), b.Stats().Leads.Load(), "b leads now")
		})
	}
}

// A wait is bounded on the node too: a shard that never pushes (its
// member died) leaves the waiter waiting at most MaxWait.
func TestCacheClientWaitBounded(t *testing.T) {
	h := newShardHost(t, CacheShardOptions{})
	wait := func(string, any, time.Duration) (any, error) {
		return &fleetpb.CacheAnswer{Outcome: fleetpb.CacheOutcome_CACHE_WAIT, LeadForNs: int64(time.Hour)}, nil
	}
	c := h.client("a", CacheClientOptions{Call: wait, MaxWait: 3 * time.Second})
	out := make(chan answer, 1)
	lookup(c, "a", "k", out)
	require.Eventually(t, func() bool { return c.Stats().Waits.Load() == 1 }, 10*time.Second, time.Millisecond, "the lookup waits")
	h.clk.Advance(3*time.Second - time.Nanosecond)
	require.Empty(t, out, "answered before MaxWait")
	h.clk.Advance(time.Nanosecond)
	assert.Equal(t, answer{member: "a"}, next(t, out), "a miss after MaxWait")
	assert.Equal(t, int64(1), c.Stats().Released.Load(), "released")
}

// An unreachable shard is a local miss within CallTimeout: the lookup is
// answered while the call is still stuck, and a lead that arrives late is
// abandoned at once so the shard's waiters go upstream.
func TestCacheClientUnreachableShard(t *testing.T) {
	h := newShardHost(t, CacheShardOptions{})
	unblock := make(chan struct{})
	var mu sync.Mutex
	var abandons []*fleetpb.CacheAbandon
	call := func(_ string, msg any, _ time.Duration) (any, error) {
		switch m := msg.(type) {
		case *fleetpb.CacheLookup:
			<-unblock
			return &fleetpb.CacheAnswer{Outcome: fleetpb.CacheOutcome_CACHE_LEAD, LeadForNs: int64(time.Second)}, nil
		case *fleetpb.CacheAbandon:
			mu.Lock()
			abandons = append(abandons, m)
			mu.Unlock()
		}
		return &fleetpb.CacheAck{}, nil
	}
	c := h.client("a", CacheClientOptions{Call: call, CallTimeout: 10 * time.Millisecond})
	out := make(chan answer, 1)
	lookup(c, "a", "k", out)
	assert.Equal(t, answer{member: "a"}, next(t, out), "a miss while the call is stuck")
	assert.Equal(t, int64(1), c.Stats().Failures.Load(), "failures")
	close(unblock)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(abandons) == 1 }, 10*time.Second, time.Millisecond,
		"the late lead is abandoned")
	mu.Lock()
	assert.Equal(t, "k", string(abandons[0].Key))
	assert.Equal(t, "a", abandons[0].Member)
	mu.Unlock()
}

// A failing call is a miss too, and nothing is abandoned for it.
func TestCacheClientCallFails(t *testing.T) {
	h := newShardHost(t, CacheShardOptions{})
	var mu sync.Mutex
	var calls []any
	call := func(_ string, msg any, _ time.Duration) (any, error) {
		mu.Lock()
		calls = append(calls, msg)
		mu.Unlock()
		return nil, errors.New("no route")
	}
	c := h.client("a", CacheClientOptions{Call: call})
	out := make(chan answer, 1)
	lookup(c, "a", "k", out)
	assert.Equal(t, answer{member: "a"}, next(t, out), "a miss")
	c.Abandon("k") // not leading: nothing sent
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, calls, 1, "calls: %v", calls)
	assert.Equal(t, int64(1), c.Stats().Failures.Load(), "failures")
}

// Pushes for another key or an unknown lookup are ignored; Close answers
// every waiting lookup with a miss.
func TestCacheClientPushesAndClose(t *testing.T) {
	h := newShardHost(t, CacheShardOptions{})
	wait := func(string, any, time.Duration) (any, error) {
		return &fleetpb.CacheAnswer{Outcome: fleetpb.CacheOutcome_CACHE_WAIT, LeadForNs: int64(time.Minute)}, nil
	}
	c := h.client("a", CacheClientOptions{Call: wait})
	out := make(chan answer, 1)
	lookup(c, "a", "k", out)
	require.Eventually(t, func() bool { return c.Stats().Waits.Load() == 1 }, 10*time.Second, time.Millisecond, "the lookup waits")
	c.Push(&fleetpb.CachePush{Key: []byte("other"), Waiter: 1, Filled: true, Entry: []byte("x"), ExpiresInNs: 1})
	c.Push(&fleetpb.CachePush{Key: []byte("k"), Waiter: 2, Filled: true, Entry: []byte("x"), ExpiresInNs: 1})
	c.Push("not a push")
	require.Empty(t, out, "a stray push answered the lookup")
	c.Close()
	assert.Equal(t, answer{member: "a"}, next(t, out), "Close answers a miss")
	lookup(c, "a", "k", out)
	assert.Equal(t, answer{member: "a"}, next(t, out), "a lookup after Close is a miss")
}
