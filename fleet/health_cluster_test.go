// In-memory cluster tests of the endpoint health; they run without the
// race detector for the reasons cluster_test.go gives.

//go:build !race

package fleet

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
	"github.com/switchyard-ai/switchyard/messages"
)

// healthFleet is n cluster members in this process over loopback, each
// hosting endpoint-health grains on clk, with an agent actor and a Health
// watching endpoint "p/e" with K probes.
type healthFleet struct {
	members []*cluster.Cluster
	stats   []*HealthStats
	nodes   []*healthMember
}

func startHealthFleet(t *testing.T, n, k int, clk clock.Clock) *healthFleet {
	t.Helper()
	f := &healthFleet{}
	for range n {
		f.stats = append(f.stats, &HealthStats{})
	}
	f.members = startMembers(t, n, "fleet-health-test", func(i int) []*cluster.Kind {
		return []*cluster.Kind{NewHealthKind(HealthOptions{Clock: clk, Stats: f.stats[i]})}
	}, nil, func(i int) {
		if i < len(f.nodes) {
			f.nodes[i].h.Close()
		}
	})
	for _, c := range f.members {
		m := &healthMember{pushes: make(chan HealthView, 64)}
		var h *Health
		pid, err := c.ActorSystem.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
			if p, ok := ctx.Message().(*fleetpb.HealthPush); ok {
				h.Push(p)
			}
		}), AgentName)
		require.NoError(t, err)
		h = NewHealth(HealthClientOptions{Cluster: c, Agent: pid, Clock: clk, CallTimeout: 5 * time.Second, Rewatch: -1})
		m.h = h
		m.w = h.Watch("p", "e", k, func(v HealthView) { m.pushes <- v })
		f.nodes = append(f.nodes, m)
	}
	require.Eventually(t, func() bool { return f.watchers() == int64(n) }, healthWait, 10*time.Millisecond)
	return f
}

// watchers is the number of agents the grains registered, over members.
func (f *healthFleet) watchers() int64 {
	var n int64
	for _, s := range f.stats {
		n += s.Watchers.Load()
	}
	return n
}

// A trip on one member opens the endpoint on the three; after the cooldown
// exactly K slots are granted across the members; the probes' successes
// close it on the three; a failed probe re-opens it on the three.
func TestHealthClusterTripProbesRecovery(t *testing.T) {
	clk := clocktest.New(t)
	const k = 2
	f := startHealthFleet(t, 3, k, clk)

	// The trip is reported by a member that does not host the grain, so
	// both the call and the pushes cross members.
	host := -1
	pid := f.members[0].Get(HealthIdentity("p", "e"), HealthKind)
	require.NotNil(t, pid)
	for i, c := range f.members {
		if c.ActorSystem.Address() == pid.Address {
			host = i
		}
	}
	require.GreaterOrEqual(t, host, 0)
	reporter := (host + 1) % 3

	a := awaitHealth(t, func(cb func(HealthView, error)) {
		f.nodes[reporter].w.Trip(30*time.Second, "5 consecutive failures", cb)
	})
	require.NoError(t, a.err)
	require.Equal(t, messages.Open, a.v.State)
	for i, m := range f.nodes {
		v := m.next(t)
		assert.Equal(t, messages.Open, v.State, "member %d", i)
		assert.Equal(t, 30*time.Second, v.Cooldown, "member %d", i)
	}

	// During OPEN nobody gets a slot.
	for _, m := range f.nodes {
		a := awaitHealth(t, func(cb func(HealthView, error)) { m.w.AskProbes(k, cb) })
		require.NoError(t, a.err)
		assert.Zero(t, a.v.Granted)
	}

	// After the cooldown, each member asks for K: K in all.
	clk.Advance(30 * time.Second)
	granted := make([]int, 3)
	for round := 0; round < 2; round++ { // asking twice grants nothing more
		for i, m := range f.nodes {
			a := awaitHealth(t, func(cb func(HealthView, error)) { m.w.AskProbes(k, cb) })
			require.NoError(t, a.err)
			granted[i] += a.v.Granted
		}
	}
	assert.Equal(t, k, granted[0]+granted[1]+granted[2], "granted per member %v", granted)
	var total int64
	for _, s := range f.stats {
		total += s.Granted.Load()
	}
	assert.Equal(t, int64(k), total)

	for i, m := range f.nodes {
		for range granted[i] {
			m.w.ProbeDone(true)
		}
	}
	for i, m := range f.nodes {
		assert.Equal(t, messages.Closed, m.next(t).State, "member %d", i)
	}

	// Open again; the probe fails: open on all three again.
	f.nodes[host].w.Trip(10*time.Second, "timeouts", nil)
	for _, m := range f.nodes {
		require.Equal(t, messages.Open, m.next(t).State)
	}
	clk.Advance(10 * time.Second)
	a = awaitHealth(t, func(cb func(HealthView, error)) { f.nodes[reporter].w.AskProbes(1, cb) })
	require.Equal(t, 1, a.v.Granted)
	f.nodes[reporter].w.Trip(20*time.Second, "probe failed: timeout", nil)
	for i, m := range f.nodes {
		v := m.next(t)
		assert.Equal(t, messages.Open, v.State, "member %d", i)
		assert.Equal(t, 20*time.Second, v.Cooldown, "member %d", i)
		assert.Equal(t, "probe failed: timeout", v.Reason)
	}
}
