package etcdmember

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/asynkron/protoactor-go/cluster"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Provider is a cluster.ClusterProvider backed by etcd. One Provider serves
// one cluster member (or client) once: StartMember or StartClient, then
// Shutdown. Its methods are safe for concurrent use, but a start must not
// race with Shutdown.
type Provider struct {
	opts Options

	mu      sync.Mutex
	started bool // StartMember or StartClient was called
	stopped bool // Shutdown was called
	closed  bool // nothing is published any more: stopped or lost
	lost    bool // this member's registration was lost
	client  *clientv3.Client
	cancel  context.CancelFunc // ends the watch and keepalive goroutines
	lease   clientv3.LeaseID   // 0 for a client
	wg      sync.WaitGroup     // the watch and keepalive goroutines
}

var _ cluster.ClusterProvider = (*Provider)(nil)

// New returns a Provider for o, with defaults applied to o's zero fields.
// It fails when o has no endpoints or a negative duration. It does not
// contact etcd.
func New(o Options) (*Provider, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Provider{opts: o}, nil
}

// StartMember registers c's member under Prefix/<cluster name>/<actor
// system ID> with a lease of TTL, keeps the lease alive, publishes the
// registered members to c.MemberList and keeps publishing on every change.
// c's remote must be started (cluster.Cluster.StartMember does so before
// calling it). It fails within DialTimeout when etcd cannot be reached; a
// Provider whose start failed cannot be started again.
func (p *Provider) StartMember(c *cluster.Cluster) error {
	host, port, err := splitAddress(c.ActorSystem.Address())
	if err != nil {
		return err
	}
	kinds := c.GetClusterKinds()
	slices.Sort(kinds)
	self := &cluster.Member{Id: c.ActorSystem.ID, Host: host, Port: port, Kinds: kinds}
	return p.start(c.Config.Name, self, c.MemberList.UpdateClusterTopology)
}

// StartClient publishes the registered members of c's cluster to
// c.MemberList, and keeps publishing on every change, without registering
// c. It fails within DialTimeout when etcd cannot be reached.
func (p *Provider) StartClient(c *cluster.Cluster) error {
	return p.start(c.Config.Name, nil, c.MemberList.UpdateClusterTopology)
}

// Shutdown stops publishing, ends the provider's goroutines and closes its
// etcd client. If graceful, it also revokes the member's lease, so the
// member leaves the others' topology at once; otherwise the lease expires
// after TTL, as if the process had died. Note that cluster.Cluster.Shutdown
// calls Shutdown only when graceful: after Cluster.Shutdown(false), call
// Shutdown(false) yourself. Calls after the first return nil.
func (p *Provider) Shutdown(graceful bool) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return nil
	}
	p.stopped, p.closed = true, true
	client, cancel, lease, lost := p.client, p.cancel, p.lease, p.lost
	p.mu.Unlock()
	if client == nil {
		return nil
	}
	cancel()
	p.wg.Wait()
	var err error
	if graceful && lease != 0 && !lost {
		ctx, done := context.WithTimeout(context.Background(), p.opts.DialTimeout)
		_, err = client.Revoke(ctx, lease)
		done()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			err = nil // expired or revoked already: deregistered all the same
		}
		if err != nil {
			err = fmt.Errorf("etcdmember: revoke lease %x: %w", int64(lease), err)
		} else {
			p.opts.Logger.Info("etcdmember: deregistered", slog.String("lease", strconv.FormatInt(int64(lease), 16)))
		}
	}
	return errors.Join(err, client.Close())
}

// start registers self (nil for a client), publishes the members under
// the cluster's directory and starts the goroutines that keep the
// registration and the topology current. All its etcd calls share one
// deadline of DialTimeout.
func (p *Provider) start(clusterName string, self *cluster.Member, publish func(cluster.Members)) error {
	p.mu.Lock()
	switch {
	case p.stopped:
		p.mu.Unlock()
		return errors.New("etcdmember: provider was shut down")
	case p.started:
		p.mu.Unlock()
		return errors.New("etcdmember: provider already started")
	}
	p.started = true
	p.mu.Unlock()
	if clusterName == "" || strings.Contains(clusterName, "/") {
		return fmt.Errorf("etcdmember: cluster name %q: empty or with a slash", clusterName)
	}

	client, err := clientv3.New(clientv3.Config{
		Endpoints:   p.opts.Endpoints,
		DialTimeout: p.opts.DialTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return fmt.Errorf("etcdmember: etcd client: %w", err)
	}
	dir := p.opts.Prefix + "/" + clusterName + "/"
	ctx, cancel := context.WithCancel(context.Background())
	call, done := context.WithTimeout(ctx, p.opts.DialTimeout)
	defer done()
	fail := func(err error) error {
		cancel()
		_ = client.Close()
		return err
	}

	var lease clientv3.LeaseID
	var keepAlive <-chan *clientv3.LeaseKeepAliveResponse
	selfKey := ""
	if self != nil {
		selfKey = dir + self.Id
		lease, keepAlive, err = register(call, ctx, client, selfKey, self, p.opts.ttlSeconds())
		if err != nil {
			return fail(err)
		}
	}
	members, rev, err := load(call, client, dir, p.opts.Logger)
	if err != nil {
		if lease != 0 {
			_, _ = client.Revoke(call, lease)
		}
		return fail(err)
	}

	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		if lease != 0 {
			_, _ = client.Revoke(call, lease)
		}
		return fail(errors.New("etcdmember: provider was shut down while starting"))
	}
	p.client, p.cancel, p.lease = client, cancel, lease
	p.mu.Unlock()
	if self != nil {
		p.opts.Logger.Info("etcdmember: registered", slog.String("key", selfKey),
			slog.String("lease", strconv.FormatInt(int64(lease), 16)))
	}
	w := &watcher{p: p, client: client, dir: dir, selfKey: selfKey, publish: publish}
	w.publishAll(members)
	p.wg.Add(1)
	go w.run(ctx, members, rev)
	if self != nil {
		p.wg.Add(1)
		go p.keepAlive(ctx, lease, keepAlive)
	}
	return nil
}

// register grants a lease of ttl seconds, stores self's record under key
// with it, and starts keeping it alive for as long as life lasts. The
// grant and the put use call's deadline.
func register(call, life context.Context, client *clientv3.Client, key string, self *cluster.Member, ttl int64) (clientv3.LeaseID, <-chan *clientv3.LeaseKeepAliveResponse, error) {
	value, err := encodeMember(self)
	if err != nil {
		return 0, nil, fmt.Errorf("etcdmember: encode member: %w", err)
	}
	grant, err := client.Grant(call, ttl)
	if err != nil {
		return 0, nil, fmt.Errorf("etcdmember: grant lease: %w", err)
	}
	if _, err := client.Put(call, key, string(value), clientv3.WithLease(grant.ID)); err != nil {
		_, _ = client.Revoke(call, grant.ID)
		return 0, nil, fmt.Errorf("etcdmember: register %s: %w", key, err)
	}
	ch, err := client.KeepAlive(life, grant.ID)
	if err != nil {
		_, _ = client.Revoke(call, grant.ID)
		return 0, nil, fmt.Errorf("etcdmember: keep lease alive: %w", err)
	}
	return grant.ID, ch, nil
}

// splitAddress splits a remote address "host:port".
func splitAddress(addr string) (string, int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("etcdmember: member address %q (is remote started?): %w", addr, err)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 || host == "" {
		return "", 0, fmt.Errorf("etcdmember: member address %q: not host:port", addr)
	}
	return host, int32(n), nil
}
