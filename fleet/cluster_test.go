// The in-memory cluster tests run without the race detector (make
// test-fleet): protoactor-go's remote layer races when several members share
// a process (each Remote.Start calls grpclog.SetLoggerV2, which gRPC
// documents as unsafe once gRPC runs, grpc-go#5733) and on a graceful leave
// (remote.BlockList.IsBlocked reads the block list without its lock). The
// Leaser's own concurrency is race-tested in leaser_race_test.go.

//go:build !race

package fleet

import (
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
)

// testFleet is n cluster members in this process over loopback, on the
// in-memory test provider, each hosting key-budget grains on clk.
type testFleet struct {
	members []*cluster.Cluster
	grains  []*GrainStats
	stopped []bool
}

// startMembers starts n cluster members named name in this process over
// loopback, on the in-memory test provider, each hosting the kinds kinds(i)
// returns, and waits until each lists all of them. When the test ends,
// before(i) runs for each member (nil: nothing), then the members not yet
// stopped shut down gracefully, in parallel.
func startMembers(t testing.TB, n int, name string, kinds func(i int) []*cluster.Kind, stopped []bool, before func(i int)) []*cluster.Cluster {
	t.Helper()
	agent := test.NewInMemAgent()
	quiet := func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }
	members := make([]*cluster.Cluster, n)
	for i := range members {
		cfg := cluster.Configure(name, test.NewTestProvider(agent), disthash.New(),
			remote.Configure("127.0.0.1", 0),
			cluster.WithKinds(kinds(i)...),
			cluster.WithRequestTimeout(time.Second))
		members[i] = cluster.New(actor.NewActorSystem(actor.WithLoggerFactory(quiet)), cfg)
		members[i].StartMember()
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for i, c := range members {
			if before != nil {
				before(i)
			}
			if stopped != nil && stopped[i] {
				continue
			}
			if stopped != nil {
				stopped[i] = true
			}
			wg.Add(1)
			go func() { defer wg.Done(); c.Shutdown(true) }()
		}
		wg.Wait()
	})
	for _, c := range members {
		require.Eventually(t, func() bool { return c.MemberList.Members().Len() == n }, 10*time.Second, 10*time.Millisecond)
	}
	return members
}

// startFleet starts n members hosting key-budget grains on clk (see
// startMembers).
func startFleet(t testing.TB, n int, clk clock.Clock) *testFleet {
	t.Helper()
	f := &testFleet{stopped: make([]bool, n)}
	for range n {
		f.grains = append(f.grains, &GrainStats{})
	}
	f.members = startMembers(t, n, "fleet-test", func(i int) []*cluster.Kind {
		return []*cluster.Kind{NewBudgetKind(GrainOptions{Clock: clk, Stats: f.grains[i]})}
	}, f.stopped, nil)
	return f
}

// host returns the index of the member that hosts identity's grain.
func (f *testFleet) host(t testing.TB, identity string) int {
	t.Helper()
	pid := f.members[0].Get(identity, BudgetKind)
	require.NotNil(t, pid)
	for i, c := range f.members {
		if c.ActorSystem.Address() == pid.Address {
			return i
		}
	}
	require.Failf(t, "no host", "grain %s at %s", identity, pid.Address)
	return -1
}
