// The tests in this file start real proto.actor cluster members, which run
// without the race detector: protoactor-go's remote layer races when
// several members share a process (see fleet/cluster_test.go). The
// provider's own logic is race-tested in provider_test.go.

//go:build !race

package etcdmember

import (
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/switchyard-ai/switchyard/internal/leaktest"
)

// The cluster members these tests start leave protoactor-go's known
// goroutines behind (leaktest.ProtoactorLeftovers).
func init() {
	leakOptions = append(leakOptions, leaktest.ProtoactorLeftovers...)
}

// clusterMember is a real cluster member on this package's provider.
type clusterMember struct {
	c    *cluster.Cluster
	lost chan struct{} // closed by OnLost
	done bool          // shut down
}

// startMember starts a cluster member of "fleet" with remote on a free
// loopback port and the provider on etcd at url; it is shut down
// gracefully in Cleanup unless the test did so.
func startMember(t *testing.T, url string) *clusterMember {
	t.Helper()
	m := &clusterMember{lost: make(chan struct{})}
	p, err := New(Options{Endpoints: []string{url}, OnLost: func() { close(m.lost) }})
	require.NoError(t, err)
	quiet := func(*actor.ActorSystem) *slog.Logger { return slog.New(slog.DiscardHandler) }
	cfg := cluster.Configure("fleet", p, disthash.New(), remote.Configure("127.0.0.1", 0),
		cluster.WithKinds(cluster.NewKind("echo", actor.PropsFromFunc(func(actor.Context) {}))))
	m.c = cluster.New(actor.NewActorSystem(actor.WithLoggerFactory(quiet)), cfg)
	m.c.StartMember()
	t.Cleanup(m.stop)
	return m
}

// stop shuts the member down gracefully, once.
func (m *clusterMember) stop() {
	if !m.done {
		m.done = true
		m.c.Shutdown(true)
	}
}

// id is the member's actor system ID.
func (m *clusterMember) id() string { return m.c.ActorSystem.ID }

// memberIDs lists the IDs in m's member list, sorted.
func (m *clusterMember) memberIDs() []string {
	var out []string
	for _, x := range m.c.MemberList.Members().Members() {
		out = append(out, x.Id)
	}
	slices.Sort(out)
	return out
}

// eventuallySees waits until m's member list holds exactly others' IDs.
func eventuallySees(t *testing.T, m *clusterMember, others ...*clusterMember) {
	t.Helper()
	var want []string
	for _, o := range others {
		want = append(want, o.id())
	}
	slices.Sort(want)
	require.Eventuallyf(t, func() bool { return slices.Equal(m.memberIDs(), want) }, 20*time.Second, 10*time.Millisecond,
		"%s: want members %v, have %v", m.id(), want, m.memberIDs())
}

func TestClusterMembership(t *testing.T) {
	quietStderr(t)
	url := startEtcd(t)
	etcd := testClient(t, url)
	a := startMember(t, url)
	b := startMember(t, url)

	// Both see both, under their actor system IDs, with their addresses
	// and kinds, and gossip agrees on that topology.
	for _, m := range []*clusterMember{a, b} {
		eventuallySees(t, m, a, b)
		for _, o := range []*clusterMember{a, b} {
			got := m.c.MemberList.Members().GetMemberById(o.id())
			require.NotNil(t, got)
			assert.Equal(t, o.c.ActorSystem.Address(), got.Address())
			assert.Equal(t, []string{"echo", "prototopic"}, got.Kinds)
		}
	}
	// Gossip flows between them: each holds the other's heartbeat, keyed
	// by its actor system ID.
	for _, m := range []*clusterMember{a, b} {
		require.Eventuallyf(t, func() bool {
			beats, err := m.c.Gossip.GetState(cluster.HeartbeatKey)
			return err == nil && beats[a.id()] != nil && beats[b.id()] != nil
		}, 20*time.Second, 10*time.Millisecond, "%s: no heartbeat gossip from both members", m.id())
	}
	resp, err := etcd.Get(callCtx(t), "/switchyard/fleet/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	require.NoError(t, err)
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	assert.ElementsMatch(t, []string{"/switchyard/fleet/" + a.id(), "/switchyard/fleet/" + b.id()}, keys)

	// b's lease is revoked: b is told, and a drops it.
	resp, err = etcd.Get(callCtx(t), "/switchyard/fleet/"+b.id())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 1)
	_, err = etcd.Revoke(callCtx(t), clientv3.LeaseID(resp.Kvs[0].Lease))
	require.NoError(t, err)
	select {
	case <-b.lost:
	case <-time.After(30 * time.Second):
		require.FailNow(t, fmt.Sprintf("%s: OnLost not called after its lease was revoked", b.id()))
	}
	eventuallySees(t, a, a)

	// A new member joins; a leaves gracefully and c drops it.
	c := startMember(t, url)
	eventuallySees(t, a, a, c)
	eventuallySees(t, c, a, c)
	a.stop()
	eventuallySees(t, c, c)
	select {
	case <-a.lost:
		require.FailNow(t, "OnLost called on a graceful shutdown")
	default:
	}
}
