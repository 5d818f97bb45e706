package switchyard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/cluster"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/automanaged"
	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet"
	"github.com/switchyard-ai/switchyard/fleet/etcdmember"
)

// ClusterConfig turns on fleet mode: this instance joins a proto.actor
// cluster with the other daemons of its fleet, and they share key budgets,
// endpoint health and the exact cache (see docs/fleet.md). Off by default
// (an empty Provider): a single daemon pays nothing for it.
type ClusterConfig struct {
	// Provider is the membership provider: "etcd", "automanaged" (small
	// static fleets), or "test" (members in one process, with InMem); ""
	// keeps fleet mode off. Set Membership instead for any other
	// proto.actor provider (Kubernetes: clusterproviders/k8s).
	Provider string `yaml:"provider" json:"provider"`
	// Name is the cluster's name; the members of one fleet share it
	// (default "switchyard").
	Name string `yaml:"name" json:"name"`
	// Bind is the remote layer's listen address, host:port (default
	// 127.0.0.1:0, an ephemeral port on loopback).
	Bind string `yaml:"bind" json:"bind"`
	// Advertised is the address other members dial (default: Bind's).
	Advertised string `yaml:"advertised" json:"advertised"`
	// Etcd configures the etcd provider.
	Etcd EtcdConfig `yaml:"etcd" json:"etcd"`
	// Automanaged configures the automanaged provider.
	Automanaged AutomanagedConfig `yaml:"automanaged" json:"automanaged"`
	// Lease tunes the key budgets' leases.
	Lease LeaseConfig `yaml:"lease" json:"lease"`
	// JoinTimeout bounds New's wait for the cluster to list this member
	// (default 30s).
	JoinTimeout time.Duration `yaml:"join_timeout" json:"join_timeout"`

	// Membership, when set (in code), is the membership provider to use,
	// whatever Provider says.
	Membership cluster.ClusterProvider `yaml:"-" json:"-"`
	// InMem is the in-process agent the "test" provider's members share
	// (in code; tests and the demo's --nodes).
	InMem *test.InMemAgent `yaml:"-" json:"-"`
}

// EtcdConfig is the etcd membership provider's configuration.
type EtcdConfig struct {
	// Endpoints are etcd's client URLs; at least one. Members register
	// with fleet/etcdmember, Switchyard's own provider (protoactor's names
	// members in a way its own gossip does not recognise: docs/fleet.md).
	Endpoints []string `yaml:"endpoints" json:"endpoints"`
	// Prefix is the key prefix members register under (default
	// "/switchyard").
	Prefix string `yaml:"prefix" json:"prefix"`
	// DialTimeout bounds the connection to etcd, and every etcd call of a
	// member's start (default 5s).
	DialTimeout time.Duration `yaml:"dial_timeout" json:"dial_timeout"`
	// TTL is the member's registration lease (default 5s): a member that
	// died leaves the others' view within it, and one frozen or cut off
	// longer rejoins under a new identity.
	TTL time.Duration `yaml:"ttl" json:"ttl"`
}

// AutomanagedConfig is the automanaged provider's configuration: every
// member lists every member's automanaged address; each serves its own on
// Port (an HTTP server on all interfaces).
type AutomanagedConfig struct {
	// Port is this member's automanaged HTTP port (default 6330).
	Port int `yaml:"port" json:"port"`
	// Hosts are all members' host:port automanaged addresses.
	Hosts []string `yaml:"hosts" json:"hosts"`
}

// LeaseConfig tunes the key budgets' leases (docs/fleet.md).
type LeaseConfig struct {
	// TTL is how long leased permits may be used (default 1s).
	TTL time.Duration `yaml:"ttl" json:"ttl"`
	// BlockPercent is the permits a lease asks for, in percent of the
	// key's per-minute limits (default 1, at least one permit).
	BlockPercent float64 `yaml:"block_percent" json:"block_percent"`
	// CallTimeout bounds every call to a fleet grain (default 100ms): no
	// request waits on the cluster longer.
	CallTimeout time.Duration `yaml:"call_timeout" json:"call_timeout"`
	// RetryEvery is how often a node on its fair share tries the grain
	// again (default 1s).
	RetryEvery time.Duration `yaml:"retry_every" json:"retry_every"`
}

// enabled reports whether fleet mode is on.
func (c *ClusterConfig) enabled() bool { return c.Provider != "" || c.Membership != nil }

func (c *ClusterConfig) validate() error {
	if !c.enabled() {
		return nil
	}
	switch c.Provider {
	case "etcd":
		if c.Membership == nil && len(c.Etcd.Endpoints) == 0 {
			return &ConfigError{Field: "cluster.etcd.endpoints", Reason: "the etcd provider needs at least one endpoint"}
		}
	case "automanaged":
		if c.Membership == nil && len(c.Automanaged.Hosts) == 0 {
			return &ConfigError{Field: "cluster.automanaged.hosts", Reason: "the automanaged provider needs every member's address"}
		}
	case "test":
		if c.Membership == nil && c.InMem == nil {
			return &ConfigError{Field: "cluster.provider", Reason: `"test" needs ClusterConfig.InMem (in code)`}
		}
	case "":
	default:
		return &ConfigError{Field: "cluster.provider", Reason: fmt.Sprintf("unknown provider %q (etcd, automanaged or test; or set Membership)", c.Provider)}
	}
	for _, a := range []struct{ field, addr string }{{"cluster.bind", c.Bind}, {"cluster.advertised", c.Advertised}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := splitHostPort(a.addr); err != nil {
			return &ConfigError{Field: a.field, Reason: err.Error()}
		}
	}
	switch {
	case c.Lease.TTL < 0:
		return &ConfigError{Field: "cluster.lease.ttl", Reason: "must not be negative"}
	case c.Lease.CallTimeout < 0:
		return &ConfigError{Field: "cluster.lease.call_timeout", Reason: "must not be negative"}
	case c.Lease.RetryEvery < 0:
		return &ConfigError{Field: "cluster.lease.retry_every", Reason: "must not be negative"}
	case c.JoinTimeout < 0:
		return &ConfigError{Field: "cluster.join_timeout", Reason: "must not be negative"}
	case c.Etcd.DialTimeout < 0:
		return &ConfigError{Field: "cluster.etcd.dial_timeout", Reason: "must not be negative"}
	case c.Etcd.TTL < 0:
		return &ConfigError{Field: "cluster.etcd.ttl", Reason: "must not be negative"}
	}
	if err := finite("cluster.lease.block_percent", c.Lease.BlockPercent); err != nil {
		return err
	}
	if c.Lease.BlockPercent < 0 || c.Lease.BlockPercent > 100 {
		return &ConfigError{Field: "cluster.lease.block_percent", Reason: "must be between 0 and 100"}
	}
	return nil
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("port %q is not a number in 0–65535", p)
	}
	return host, port, nil
}

// nodeOptions builds the fleet node's options, but its membership.
func (c *ClusterConfig) nodeOptions() (fleet.NodeOptions, error) {
	o := fleet.NodeOptions{Name: c.Name, JoinTimeout: c.JoinTimeout,
		Lease: fleet.LeasePolicy{TTL: c.Lease.TTL, BlockPercent: c.Lease.BlockPercent, CallTimeout: c.Lease.CallTimeout, RetryEvery: c.Lease.RetryEvery}}
	if o.Name == "" {
		o.Name = "switchyard"
	}
	bind := c.Bind
	if bind == "" {
		bind = "127.0.0.1:0"
	}
	var err error
	if o.Host, o.Port, err = splitHostPort(bind); err != nil {
		return o, &ConfigError{Field: "cluster.bind", Reason: err.Error()}
	}
	if c.Advertised != "" {
		o.Advertised = c.Advertised
	}
	return o, nil
}

// membership returns what makes the membership provider of each
// incarnation of the member: Membership (once: a provider given in code
// cannot rejoin), or a new provider of the kind Provider names.
func (c *ClusterConfig) membership(log *slog.Logger) fleet.Membership {
	if given := c.Membership; given != nil {
		var used atomic.Bool
		return func(func()) (cluster.ClusterProvider, error) {
			if used.Swap(true) {
				return nil, errors.New("the cluster provider given in code cannot rejoin; restart the instance")
			}
			return given, nil
		}
	}
	return func(lost func()) (cluster.ClusterProvider, error) {
		switch c.Provider {
		case "etcd":
			dial := c.Etcd.DialTimeout
			if dial <= 0 {
				dial = etcdmember.DefaultDialTimeout
			}
			// A clear error before the member starts: etcd answers within
			// the join timeout.
			if err := probeEtcd(clientv3.Config{Endpoints: c.Etcd.Endpoints, DialTimeout: dial, Logger: zap.NewNop()}, c.joinTimeout()); err != nil {
				return nil, &ConfigError{Field: "cluster.etcd.endpoints", Reason: err.Error()}
			}
			p, err := etcdmember.New(etcdmember.Options{Endpoints: c.Etcd.Endpoints, Prefix: c.Etcd.Prefix, DialTimeout: dial,
				TTL: c.Etcd.TTL, Logger: log, OnLost: lost})
			if err != nil {
				return nil, &ConfigError{Field: "cluster.etcd", Reason: err.Error()}
			}
			return p, nil
		case "automanaged":
			port := c.Automanaged.Port
			if port == 0 {
				port = 6330
			}
			return automanaged.NewWithConfig(2*time.Second, port, c.Automanaged.Hosts...), nil
		case "test":
			return test.NewTestProvider(c.InMem), nil
		}
		return nil, &ConfigError{Field: "cluster.provider", Reason: fmt.Sprintf("unknown provider %q", c.Provider)}
	}
}

// start joins the fleet.
func (c *ClusterConfig) start(clk clock.Clock, log *slog.Logger) (*fleet.Node, error) {
	o, err := c.nodeOptions()
	if err != nil {
		return nil, err
	}
	o.Clock, o.Logger, o.Membership = clk, log, c.membership(log)
	node, err := fleet.Start(o)
	if err != nil {
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, ce
		}
		return nil, &ConfigError{Field: "cluster", Reason: err.Error()}
	}
	return node, nil
}

func (c *ClusterConfig) joinTimeout() time.Duration {
	if c.JoinTimeout > 0 {
		return c.JoinTimeout
	}
	return fleet.DefaultJoinTimeout
}

// probeEtcd checks that etcd answers a read within timeout.
func probeEtcd(cfg clientv3.Config, timeout time.Duration) error {
	cli, err := clientv3.New(cfg)
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if _, err := cli.Get(ctx, "switchyard-probe"); err != nil {
		return fmt.Errorf("etcd did not answer within %s: %w", timeout, err)
	}
	return nil
}
