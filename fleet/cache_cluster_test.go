// In-memory cluster tests of the shared exact cache; like cluster_test.go
// they run without the race detector (see there). The client's own
// concurrency is race-tested in cache_client_test.go.

//go:build !race

package fleet

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// cacheFleet is n members hosting cache shards, each with a CacheClient
// whose pushes its agent actor delivers.
type cacheFleet struct {
	members []*cluster.Cluster
	shards  []*CacheShardStats
	clients []*CacheClient
	stopped []bool
}

func startCacheFleet(t *testing.T, n int, clk clock.Clock, callTimeout time.Duration) *cacheFleet {
	t.Helper()
	f := &cacheFleet{stopped: make([]bool, n)}
	for range n {
		f.shards = append(f.shards, &CacheShardStats{})
	}
	f.members = startMembers(t, n, "cache-test", func(i int) []*cluster.Kind {
		return []*cluster.Kind{NewCacheKind(CacheShardOptions{Clock: clk, Stats: f.shards[i]})}
	}, f.stopped, func(i int) { f.clients[i].Close() })
	for _, c := range f.members {
		var client *CacheClient
		ready := make(chan struct{})
		pid := c.ActorSystem.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
			<-ready
			client.Push(ctx.Message())
		}))
		client = NewCacheClient(CacheClientOptions{Cluster: c, Agent: pid, Clock: clk, CallTimeout: callTimeout})
		close(ready)
		f.clients = append(f.clients, client)
	}
	return f
}

// host returns the index of the member that hosts key's shard.
func (f *cacheFleet) host(t *testing.T, key string) int {
	t.Helper()
	pid := f.members[0].Get(CacheShardIdentity(key, DefaultCacheShards), CacheKind)
	require.NotNil(t, pid)
	for i, c := range f.members {
		if c.ActorSystem.Address() == pid.Address {
			return i
		}
	}
	require.Failf(t, "no host", "shard of %q at %s", key, pid.Address)
	return -1
}

// keyHostedBy returns a key whose shard member i hosts.
func (f *cacheFleet) keyHostedBy(t *testing.T, i int) string {
	t.Helper()
	for n := 0; n < 1000; n++ {
		if key := fmt.Sprintf("key-%d", n); f.host(t, key) == i {
			return key
		}
	}
	require.Fail(t, "no key hashes to member", "%d", i)
	return ""
}

func (f *cacheFleet) total(get func(*CacheShardStats) int64) int64 {
	var n int64
	for _, s := range f.shards {
		n += get(s)
	}
	return n
}

// The same lookup on two members at once: exactly one leads; the other is
// answered by push with the leader's entry, from the shard on the member
// the key hashes to; afterwards the entry is a hit on every member.
func TestCacheClusterSingleFlightAcrossMembers(t *testing.T) {
	clk := clocktest.New(t)
	f := startCacheFleet(t, 3, clk, time.Second)
	key := f.keyHostedBy(t, 2) // neither asker hosts it
	out := make(chan answer, 3)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); lookup(f.clients[i], fmt.Sprint(i), key, out) }()
	}
	wg.Wait()
	lead := next(t, out)
	require.Empty(t, lead.entry, "the first answer leads")
	leader, other := 0, 1
	if lead.member == "1" {
		leader, other = 1, 0
	}
	require.Eventually(t, func() bool { return f.clients[other].Stats().Waits.Load() == 1 }, 10*time.Second, 10*time.Millisecond,
		"the other member waits")
	f.clients[leader].Store(key, []byte("one upstream answer"), time.Minute)
	filled := next(t, out)
	assert.Equal(t, answer{member: fmt.Sprint(other), entry: "one upstream answer", ttl: time.Minute}, filled, "the pushed entry")
	assert.Equal(t, int64(1), f.total(func(s *CacheShardStats) int64 { return s.Leads.Load() }), "leads in the fleet")
	assert.Equal(t, int64(1), f.shards[2].Stores.Load(), "the entry lives on the member its key hashes to")

	lookup(f.clients[2], "2", key, out)
	assert.Equal(t, "one upstream answer", next(t, out).entry, "a hit on the third member")
}

// An entry one member stored is a hit on another.
func TestCacheClusterStoreThenHitElsewhere(t *testing.T) {
	clk := clocktest.New(t)
	f := startCacheFleet(t, 2, clk, time.Second)
	key := f.keyHostedBy(t, 1)
	f.clients[0].Store(key, []byte("stored on a"), time.Minute)
	require.Eventually(t, func() bool { return f.shards[1].Stores.Load() == 1 }, 10*time.Second, 10*time.Millisecond, "stored")
	out := make(chan answer, 1)
	lookup(f.clients[1], "1", key, out)
	assert.Equal(t, answer{member: "1", entry: "stored on a", ttl: time.Minute}, next(t, out), "a hit on b")
	clk.Advance(time.Minute)
	lookup(f.clients[1], "1", key, out)
	assert.Empty(t, next(t, out).entry, "the entry expired")
}

// A shard on a member that died without leaving is unreachable: a lookup
// is a local miss (go upstream) within CallTimeout, and storing fails
// quietly.
func TestCacheClusterUnreachableShard(t *testing.T) {
	clk := clocktest.New(t)
	f := startCacheFleet(t, 2, clk, 200*time.Millisecond)
	key := f.keyHostedBy(t, 1)
	f.clients[1].Close()
	f.stopped[1] = true
	f.members[1].Shutdown(false)
	out := make(chan answer, 1)
	lookup(f.clients[0], "0", key, out)
	assert.Equal(t, answer{member: "0"}, next(t, out), "a local miss")
	assert.Equal(t, int64(1), f.clients[0].Stats().Failures.Load(), "the call failed")
	f.clients[0].Store(key, []byte("x"), time.Minute)
	f.clients[0].Close() // waits for the calls still trying the dead member
	assert.Equal(t, int64(2), f.clients[0].Stats().Failures.Load(), "the store failed too")
}
