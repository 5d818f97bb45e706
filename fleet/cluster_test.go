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

// startFleet starts n members and waits until each sees all of them. The
// members are shut down (gracefully, in parallel) when the test ends.
func startFleet(t testing.TB, n int, clk clock.Clock) *testFleet {
	t.Helper()
	agent := test.NewInMemAgent()
	f := &testFleet{stopped: make([]bool, n)}
	quiet := func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }
	for i := 0; i < n; i++ {
		stats := &GrainStats{}
		cfg := cluster.Configure("fleet-test", test.NewTestProvider(agent), disthash.New(),
			remote.Configure("127.0.0.1", 0),
			cluster.WithKinds(NewBudgetKind(GrainOptions{Clock: clk, Stats: stats})),
			cluster.WithRequestTimeout(time.Second))
		c := cluster.New(actor.NewActorSystem(actor.WithLoggerFactory(quiet)), cfg)
		c.StartMember()
		f.members = append(f.members, c)
		f.grains = append(f.grains, stats)
	}
	t.Cleanup(f.stopAll)
	for _, c := range f.members {
		require.Eventually(t, func() bool { return c.MemberList.Members().Len() == n }, 10*time.Second, 10*time.Millisecond)
	}
	return f
}

func (f *testFleet) stopAll() {
	var wg sync.WaitGroup
	for i, c := range f.members {
		if f.stopped[i] {
			continue
		}
		f.stopped[i] = true
		wg.Add(1)
		go func() { defer wg.Done(); c.Shutdown(true) }()
	}
	wg.Wait()
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
