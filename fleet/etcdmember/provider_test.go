package etcdmember

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
)

// The tests in this file drive the provider's logic through its start
// method with a recording topology sink instead of a proto.actor cluster,
// so they run under the race detector; cluster_test.go checks it with
// real cluster members.

// sink records the topologies a provider publishes.
type sink struct {
	mu   sync.Mutex
	seen []cluster.Members
}

func (s *sink) publish(m cluster.Members) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen = append(s.seen, m)
}

// ids returns the IDs of the last published topology.
func (s *sink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.seen) == 0 {
		return nil
	}
	return ids(s.seen[len(s.seen)-1])
}

// count is the number of topologies published.
func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// member is a fake member's record.
func member(id string, port int32) *cluster.Member {
	return &cluster.Member{Id: id, Host: "127.0.0.1", Port: port, Kinds: []string{"budget"}}
}

// startFake starts a provider for self (nil: a client) in cluster "fleet"
// on etcd at url and shuts it down gracefully in Cleanup.
func startFake(t *testing.T, url string, self *cluster.Member, o Options) (*Provider, *sink) {
	t.Helper()
	o.Endpoints = []string{url}
	p, err := New(o)
	require.NoError(t, err)
	s := &sink{}
	require.NoError(t, p.start("fleet", self, s.publish))
	t.Cleanup(func() { assert.NoError(t, p.Shutdown(true)) })
	return p, s
}

// eventuallyIDs waits until s's last topology has exactly want, in order.
func eventuallyIDs(t *testing.T, s *sink, want ...string) {
	t.Helper()
	require.Eventuallyf(t, func() bool { return slices.Equal(s.ids(), want) }, 20*time.Second, 10*time.Millisecond,
		"want %v, last published %v", want, s.ids())
}

func TestMembersSeeEachOther(t *testing.T) {
	quietStderr(t)
	url := startEtcd(t)
	_, a := startFake(t, url, member("A1", 41001), Options{Prefix: "/sy"})
	_, b := startFake(t, url, member("B2", 41002), Options{Prefix: "/sy"})
	eventuallyIDs(t, a, "A1", "B2")
	eventuallyIDs(t, b, "A1", "B2")

	resp, err := testClient(t, url).Get(callCtx(t), "/sy/fleet/", clientv3.WithPrefix())
	require.NoError(t, err)
	require.Len(t, resp.Kvs, 2)
	assert.Equal(t, "/sy/fleet/A1", string(resp.Kvs[0].Key))
	assert.JSONEq(t, `{"id":"A1","host":"127.0.0.1","port":41001,"kinds":["budget"]}`, string(resp.Kvs[0].Value))
	assert.NotZero(t, resp.Kvs[0].Lease, "registered under a lease")
}

func TestStartClientDoesNotRegister(t *testing.T) {
	url := startEtcd(t)
	_, a := startFake(t, url, member("A1", 41001), Options{})
	_, c := startFake(t, url, nil, Options{})
	eventuallyIDs(t, c, "A1")
	_, b := startFake(t, url, member("B2", 41002), Options{})
	eventuallyIDs(t, c, "A1", "B2")
	eventuallyIDs(t, a, "A1", "B2")
	eventuallyIDs(t, b, "A1", "B2")
}

func TestMemberLeaves(t *testing.T) {
	tests := []struct {
		name     string
		graceful bool
	}{
		{"graceful shutdown revokes the lease", true},
		{"ungraceful shutdown lets the lease expire", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startEtcd(t)
			a, _ := startFake(t, url, member("A1", 41001), Options{TTL: 2 * time.Second})
			_, b := startFake(t, url, member("B2", 41002), Options{TTL: 2 * time.Second})
			eventuallyIDs(t, b, "A1", "B2")
			require.NoError(t, a.Shutdown(tt.graceful))
			eventuallyIDs(t, b, "B2")
			resp, err := testClient(t, url).Get(callCtx(t), "/switchyard/fleet/A1")
			require.NoError(t, err)
			assert.Empty(t, resp.Kvs)
		})
	}
}

func TestRegistrationLost(t *testing.T) {
	tests := []struct {
		name string
		lose func(t *testing.T, c *clientv3.Client, key string)
	}{
		{"lease revoked", func(t *testing.T, c *clientv3.Client, key string) {
			resp, err := c.Get(callCtx(t), key)
			require.NoError(t, err)
			require.Len(t, resp.Kvs, 1)
			_, err = c.Revoke(callCtx(t), clientv3.LeaseID(resp.Kvs[0].Lease))
			require.NoError(t, err)
		}},
		{"key deleted", func(t *testing.T, c *clientv3.Client, key string) {
			resp, err := c.Delete(callCtx(t), key)
			require.NoError(t, err)
			require.EqualValues(t, 1, resp.Deleted)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := startEtcd(t)
			var calls sync.WaitGroup
			calls.Add(1)
			lost := make(chan struct{})
			a, as := startFake(t, url, member("A1", 41001), Options{OnLost: func() { calls.Done(); close(lost) }})
			eventuallyIDs(t, as, "A1")
			tt.lose(t, testClient(t, url), "/switchyard/fleet/A1")
			select {
			case <-lost:
			case <-time.After(30 * time.Second):
				require.FailNow(t, "OnLost not called")
			}
			published := as.count()

			// The lost member publishes nothing more, even as others join.
			_, bs := startFake(t, url, member("B2", 41002), Options{})
			eventuallyIDs(t, bs, "B2")
			assert.Equal(t, published, as.count())
			assert.Equal(t, []string{"A1"}, as.ids())
			require.NoError(t, a.Shutdown(true))
			assert.NoError(t, a.Shutdown(true), "a second Shutdown is a no-op")
			calls.Wait() // a second OnLost call would panic on the WaitGroup
		})
	}
}

func TestUnreachableEtcd(t *testing.T) {
	defer goleak.VerifyNone(t, append([]goleak.Option{goleak.IgnoreCurrent()}, leakOptions...)...)
	quietStderr(t)
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts connections but never answers
	require.NoError(t, err)
	defer l.Close()
	tests := []struct {
		name string
		url  string
		self *cluster.Member
	}{
		{"member, nothing listening", "http://" + freeAddr(t), member("A1", 41001)},
		{"member, silent listener", "http://" + l.Addr().String(), member("A1", 41001)},
		{"client, nothing listening", "http://" + freeAddr(t), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(Options{Endpoints: []string{tt.url}, DialTimeout: 300 * time.Millisecond})
			require.NoError(t, err)
			s := &sink{}
			done := make(chan error, 1)
			go func() { done <- p.start("fleet", tt.self, s.publish) }()
			select {
			case err = <-done:
			case <-time.After(30 * time.Second):
				require.FailNow(t, "start hangs while etcd is unreachable")
			}
			require.ErrorIs(t, err, context.DeadlineExceeded)
			assert.Zero(t, s.count())
			require.NoError(t, p.Shutdown(true))
		})
	}
}

func TestStartOnce(t *testing.T) {
	url := startEtcd(t)
	p, _ := startFake(t, url, member("A1", 41001), Options{})
	require.ErrorContains(t, p.start("fleet", member("A1", 41001), (&sink{}).publish), "already started")
	stopped, err := New(Options{Endpoints: []string{url}})
	require.NoError(t, err)
	require.NoError(t, stopped.Shutdown(true))
	require.ErrorContains(t, stopped.start("fleet", member("B2", 41002), (&sink{}).publish), "shut down")
	for _, name := range []string{"", "a/b"} {
		bad, err := New(Options{Endpoints: []string{url}})
		require.NoError(t, err)
		require.ErrorContains(t, bad.start(name, member("C3", 41003), (&sink{}).publish), "cluster name")
	}
}

func TestEtcdGoneLongerThanTTL(t *testing.T) {
	quietStderr(t)
	url, stop := runEtcd(t)
	lost := make(chan struct{})
	a, as := startFake(t, url, member("A1", 41001), Options{TTL: 2 * time.Second, DialTimeout: time.Second, OnLost: func() { close(lost) }})
	eventuallyIDs(t, as, "A1")
	stop() // as for a process frozen (or cut off) for longer than TTL
	select {
	case <-lost:
	case <-time.After(30 * time.Second):
		require.FailNow(t, "OnLost not called after etcd was gone for longer than TTL")
	}
	require.NoError(t, a.Shutdown(true), "nothing to revoke once lost")
}

func TestKeepAliveEnd(t *testing.T) {
	tests := []struct {
		name     string
		resps    []int64 // TTLs of the keepalive responses
		close    bool    // the client closes the channel
		shutdown bool    // the provider is being shut down
		wantLost bool
	}{
		{"channel closed: lease expired or revoked", []int64{5, 5}, true, false, true},
		{"TTL zero: etcd says the lease is gone", []int64{5, 0}, false, false, true},
		{"channel closed by Shutdown", []int64{5}, true, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lost := make(chan struct{})
			p, err := New(Options{Endpoints: []string{"http://127.0.0.1:1"}, OnLost: func() { close(lost) }})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p.cancel = cancel
			if tt.shutdown {
				p.stopped, p.closed = true, true
				cancel()
			}
			ch := make(chan *clientv3.LeaseKeepAliveResponse, len(tt.resps))
			for _, ttl := range tt.resps {
				ch <- &clientv3.LeaseKeepAliveResponse{ID: 7, TTL: ttl}
			}
			if tt.close {
				close(ch)
			}
			p.wg.Add(1)
			p.keepAlive(ctx, 7, ch)
			p.mu.Lock()
			gotLost, closed := p.lost, p.closed
			p.mu.Unlock()
			assert.Equal(t, tt.wantLost, gotLost)
			assert.True(t, closed, "nothing is published any more")
			assert.Error(t, ctx.Err(), "the goroutines are told to end")
			if tt.wantLost {
				select {
				case <-lost:
				case <-time.After(10 * time.Second):
					require.FailNow(t, "OnLost not called")
				}
			} else {
				select {
				case <-lost:
					require.FailNow(t, "OnLost called on Shutdown")
				default:
				}
			}
		})
	}
}

func TestShutdownAfterLeaseGoneUnnoticed(t *testing.T) {
	url := startEtcd(t)
	a, as := startFake(t, url, member("A1", 41001), Options{})
	eventuallyIDs(t, as, "A1")
	// Keep the provider from noticing the loss, as when Shutdown runs
	// before the keepalive or the watch has reported it.
	a.mu.Lock()
	a.closed = true
	lease := a.lease
	a.mu.Unlock()
	_, err := testClient(t, url).Revoke(callCtx(t), lease)
	require.NoError(t, err)
	assert.NoError(t, a.Shutdown(true), "a lease already gone counts as revoked")
}
