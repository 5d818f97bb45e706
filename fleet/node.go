package fleet

import (
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/identitylookup/disthash"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// AgentName is the name of each member's agent actor, where grains push
// what every member must learn at once (a key's cooldown, an endpoint's
// state, a cache entry).
const AgentName = "switchyard-fleet-agent"

// DefaultJoinTimeout bounds the wait to join the cluster.
const DefaultJoinTimeout = 30 * time.Second

// LeasePolicy tunes the key budgets' leases; zero fields take the
// defaults (DefaultLeaseTTL, 1 % blocks, DefaultCallTimeout,
// DefaultRetryEvery).
type LeasePolicy struct {
	TTL          time.Duration
	BlockPercent float64
	CallTimeout  time.Duration
	RetryEvery   time.Duration
}

// Membership makes the membership provider of one incarnation of the
// member. lost, when the provider can tell, is to be called once this
// member's registration was lost (its lease expired while the process was
// frozen or partitioned): the other members then block its identity for
// good, so the node rejoins under a new one.
type Membership func(lost func()) (cluster.ClusterProvider, error)

// NodeOptions configures a member of a fleet.
type NodeOptions struct {
	// Name is the cluster's name (required).
	Name string
	// Host and Port are the remote layer's listen address (port 0: any).
	Host string
	Port int
	// Advertised is the host:port other members dial ("": the listen
	// address).
	Advertised string
	// Membership makes the membership provider (required).
	Membership Membership
	// Lease tunes the key budgets.
	Lease LeasePolicy
	// JoinTimeout bounds the wait to be listed (default DefaultJoinTimeout).
	JoinTimeout time.Duration
	// Clock drives the grains and leases; nil is the wall clock.
	Clock clock.Clock
	// Logger receives protoactor's logs; nil discards them.
	Logger *slog.Logger
}

// incarnation is one membership of the node: an actor system of its own
// (its ID is the member's identity), the cluster member and the agent.
type incarnation struct {
	sys   *actor.ActorSystem
	c     *cluster.Cluster
	agent *actor.PID
}

// Node is this process's membership in a fleet: a cluster member on an
// actor system of its own (not the tree's, so that it can rejoin under a
// new identity without touching the tree), the kinds it hosts, its agent
// actor, and the clients of the fleet's state. It is safe for concurrent
// use.
type Node struct {
	o        NodeOptions
	cur      atomic.Pointer[incarnation]
	handlers sync.Map // reflect.Type of a pushed message → func(any)
	grains   GrainStats
	stats    NodeStats
	// health is the node's endpoint-health client; healthGrains the
	// figures of the endpoint-health grains it hosts.
	health       *Health
	healthGrains HealthStats
	// cache is the shared exact cache's client; cacheShards the figures of
	// the shards this member hosts.
	cache       *CacheClient
	cacheShards CacheShardStats

	mu      sync.Mutex
	keys    map[string]*Leaser // by grain identity
	closed  bool
	rejoins sync.WaitGroup

	// seenMu guards the fair share's member count: it is taken under a
	// Leaser's lock, so it must never be held while calling a Leaser.
	seenMu   sync.Mutex
	maxSeen  int
	maxSince time.Time
}

// NodeStats are a node's own figures. Fields are atomics.
type NodeStats struct {
	// Pushes counts messages grains pushed to this node's agent.
	Pushes atomic.Int64
	// Rejoins counts the times the node rejoined under a new identity.
	Rejoins atomic.Int64
}

// Start joins the fleet's cluster as a member hosting the fleet's kinds,
// on an actor system of its own, and returns once the member list shows
// this member (or fails after JoinTimeout: an unreachable membership
// provider never hangs it).
func Start(o NodeOptions) (*Node, error) {
	if o.Name == "" {
		return nil, errors.New("fleet: the cluster needs a name")
	}
	if o.Membership == nil {
		return nil, errors.New("fleet: no membership provider")
	}
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = DefaultJoinTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Node{o: o}
	inc, err := n.join()
	if err != nil {
		return nil, err
	}
	n.cur.Store(inc)
	self := func() (string, *actor.PID) { return n.Member(), n.Agent() }
	n.health = NewHealth(HealthClientOptions{Self: self, Clock: o.Clock, CallTimeout: n.CallTimeout(),
		Call: func(identity string, msg any, timeout time.Duration) (any, error) {
			return n.Request(identity, HealthKind, msg, timeout)
		}})
	n.Handle(&fleetpb.HealthPush{}, func(msg any) { n.health.Push(msg.(*fleetpb.HealthPush)) })
	return n, nil
}

// join starts a new incarnation: an actor system, the cluster member with
// the fleet's kinds, and the agent.
func (n *Node) join() (*incarnation, error) {
	o := n.o
	log := o.Logger
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log.With("component", "fleet") }))
	membership, err := o.Membership(n.lost)
	if err != nil {
		sys.Shutdown()
		return nil, err
	}
	kinds := []*cluster.Kind{
		NewBudgetKind(GrainOptions{Clock: o.Clock, LeaseTTL: o.Lease.TTL, Stats: &n.grains}),
		NewHealthKind(HealthOptions{Clock: o.Clock, Stats: &n.healthGrains}),
		NewCacheKind(CacheShardOptions{Clock: o.Clock, Stats: &n.cacheShards}),
	}
	var ropts []remote.ConfigOption
	if o.Advertised != "" {
		ropts = append(ropts, remote.WithAdvertisedHost(o.Advertised))
	}
	cfg := cluster.Configure(o.Name, membership, disthash.New(),
		remote.Configure(o.Host, o.Port, ropts...),
		cluster.WithKinds(kinds...),
		cluster.WithRequestTimeout(time.Second))
	c := cluster.New(sys, cfg)
	// protoactor panics when the provider cannot register the member (a
	// configuration error, not a crash) and some providers wait without a
	// deadline: the join is bounded by JoinTimeout.
	joined := make(chan any, 1)
	go func() {
		defer func() { joined <- recover() }()
		c.StartMember()
	}()
	timeout := time.NewTimer(o.JoinTimeout)
	defer timeout.Stop()
	select {
	case r := <-joined:
		if r != nil {
			sys.Shutdown()
			return nil, fmt.Errorf("fleet: joining cluster %q: %v", o.Name, r)
		}
	case <-timeout.C:
		return nil, fmt.Errorf("fleet: joining cluster %q took longer than %s", o.Name, o.JoinTimeout)
	}
	inc := &incarnation{sys: sys, c: c}
	inc.agent, err = sys.Root.SpawnNamed(actor.PropsFromFunc(n.receive), AgentName)
	if err != nil {
		c.Shutdown(false)
		return nil, fmt.Errorf("fleet: starting the agent: %w", err)
	}
	// Membership arrives by gossip or the provider's watch; nothing to
	// wait on but the list itself.
	self := sys.Address()
	deadline := time.Now().Add(o.JoinTimeout)
	for !listed(c, self) {
		if time.Now().After(deadline) {
			c.Shutdown(false)
			return nil, fmt.Errorf("fleet: this member is not listed in cluster %q after %s", o.Name, o.JoinTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return inc, nil
}

// listed reports whether the member list of c shows the member at address.
func listed(c *cluster.Cluster, address string) bool {
	for _, m := range c.MemberList.Members().Members() {
		if m.Address() == address {
			return true
		}
	}
	return false
}

// lost is called by the membership provider when this member's
// registration was lost: the node rejoins under a new identity in the
// background (the other members block the old one for good). Meanwhile
// calls fail fast and every key is on its fair share.
func (n *Node) lost() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.rejoins.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.rejoins.Done()
		for {
			inc, err := n.join()
			if err == nil {
				old := n.cur.Swap(inc)
				n.stats.Rejoins.Add(1)
				n.o.Logger.Warn("fleet: rejoined the cluster under a new identity", "member", inc.sys.Address())
				n.rejoins.Add(1)
				go func() { defer n.rejoins.Done(); old.c.Shutdown(true) }()
				n.mu.Lock()
				closed := n.closed
				n.mu.Unlock()
				if closed {
					inc.c.Shutdown(false)
				}
				return
			}
			n.o.Logger.Error("fleet: rejoining the cluster failed; retrying", "err", err)
			n.mu.Lock()
			closed := n.closed
			n.mu.Unlock()
			if closed {
				return
			}
			time.Sleep(time.Second) // housekeeping: the membership provider is down
		}
	}()
}

// Cluster returns the current cluster member.
func (n *Node) Cluster() *cluster.Cluster { return n.cur.Load().c }

// Agent returns this member's agent actor, to which grains push.
func (n *Node) Agent() *actor.PID { return n.cur.Load().agent }

// Member names this member (its address).
func (n *Node) Member() string { return n.cur.Load().sys.Address() }

// Request sends msg to the grain identity of kind through the current
// member and waits at most timeout (the cluster's own timeout) for the
// answer.
func (n *Node) Request(identity, kind string, msg any, timeout time.Duration) (any, error) {
	return request(n.Cluster(), identity, kind, msg, timeout)
}

// request sends msg to the grain identity of kind through c, with the
// cluster's own timeout and one retry (callers bound the wait themselves:
// an identity lookup may take longer).
func request(c *cluster.Cluster, identity, kind string, msg any, timeout time.Duration) (any, error) {
	return c.Request(identity, kind, msg, cluster.WithTimeout(timeout), cluster.WithRetryCount(1))
}

// clusterCall is request through c for grains of kind, as a client's Call.
func clusterCall(c *cluster.Cluster, kind string) func(identity string, msg any, timeout time.Duration) (any, error) {
	return func(identity string, msg any, timeout time.Duration) (any, error) {
		return request(c, identity, kind, msg, timeout)
	}
}

// Members returns the number of members the fleet had at most in the last
// minute (at least 1): a node cut off from the others sees only itself,
// and must not take the whole limit for its fair share.
func (n *Node) Members() int {
	now := n.o.Clock.Now()
	live := max(1, n.Cluster().MemberList.Members().Len())
	n.seenMu.Lock()
	defer n.seenMu.Unlock()
	if live >= n.maxSeen || now.Sub(n.maxSince) > DefaultWindow {
		n.maxSeen, n.maxSince = live, now
	}
	return n.maxSeen
}

// Clock returns the node's clock.
func (n *Node) Clock() clock.Clock { return n.o.Clock }

// CallTimeout bounds every call this node makes to a grain.
func (n *Node) CallTimeout() time.Duration {
	if n.o.Lease.CallTimeout > 0 {
		return n.o.Lease.CallTimeout
	}
	return DefaultCallTimeout
}

// Grains returns the figures of the key-budget grains this member hosts.
func (n *Node) Grains() *GrainStats { return &n.grains }

// Health returns the node's endpoint-health client (one watcher per
// provider endpoint; see Health.Watch).
func (n *Node) Health() *Health { return n.health }

// Cache returns the shared exact cache's client, created at the first
// call.
func (n *Node) Cache() *CacheClient {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cache == nil {
		n.cache = NewCacheClient(CacheClientOptions{Self: func() (string, *actor.PID) { return n.Member(), n.Agent() },
			Clock: n.o.Clock, CallTimeout: n.CallTimeout(),
			Call: func(identity string, msg any, timeout time.Duration) (any, error) {
				return n.Request(identity, CacheKind, msg, timeout)
			}})
		n.Handle(&fleetpb.CachePush{}, n.cache.Push)
	}
	return n.cache
}

// Handle registers fn for pushed messages of example's type; fn runs on the
// agent's goroutine and must not block.
func (n *Node) Handle(example any, fn func(msg any)) {
	n.handlers.Store(reflect.TypeOf(example), fn)
}

func (n *Node) receive(ctx actor.Context) {
	msg := ctx.Message()
	if fn, ok := n.handlers.Load(reflect.TypeOf(msg)); ok {
		n.stats.Pushes.Add(1)
		fn.(func(any))(msg)
	}
}

// Close hands every leased permit back and leaves the cluster gracefully
// (protoactor waits about 2 s for ownership to move), then stops the
// node's actor system.
func (n *Node) Close() {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.closed = true
	leasers := make([]*Leaser, 0, len(n.keys))
	for _, l := range n.keys {
		leasers = append(leasers, l)
	}
	cache := n.cache
	n.mu.Unlock()
	var wg sync.WaitGroup
	for _, l := range leasers {
		wg.Add(1)
		go func() { defer wg.Done(); l.Close() }()
	}
	wg.Wait()
	n.health.Close()
	if cache != nil {
		cache.Close()
	}
	n.rejoins.Wait()
	n.Cluster().Shutdown(true)
}

// self is what a client's Self says, or its fixed Member and Agent.
func self(f func() (string, *actor.PID), member string, agent *actor.PID) (string, *actor.PID) {
	if f != nil {
		return f()
	}
	return member, agent
}

// agentRef is the address and ID a grain pushes to for agent, empty for
// none (the grain then does not push).
func agentRef(agent *actor.PID) (address, id string) {
	if agent == nil {
		return "", ""
	}
	return agent.Address, agent.Id
}
