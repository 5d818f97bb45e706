package etcdmember

import (
	"errors"
	"log/slog"
	"strings"
	"time"
)

// Default option values, applied by New to zero fields.
const (
	// DefaultPrefix is the etcd key prefix under which clusters register.
	DefaultPrefix = "/switchyard"
	// DefaultDialTimeout is the deadline of every etcd call.
	DefaultDialTimeout = 5 * time.Second
	// DefaultTTL is the TTL of a member's etcd lease.
	DefaultTTL = 5 * time.Second
)

// Options configure a Provider. The zero value of each field but Endpoints
// selects its default.
type Options struct {
	// Endpoints are the etcd client URLs, e.g. "http://127.0.0.1:2379".
	// Required.
	Endpoints []string
	// Prefix is the etcd key prefix; members register under
	// Prefix/<cluster name>/<actor system ID>. Default "/switchyard"; a
	// trailing slash is dropped.
	Prefix string
	// DialTimeout is the deadline of every etcd call: StartMember and
	// StartClient fail within it when etcd cannot be reached, and
	// Shutdown's revocation gives up after it. Default 5 s.
	DialTimeout time.Duration
	// TTL is the member's lease TTL, rounded up to whole seconds: a member
	// that stops without Shutdown leaves the topology after at most TTL
	// (etcd raises TTLs below its minimum, about 2 s with its default
	// timing). Default 5 s.
	TTL time.Duration
	// Logger receives the provider's own records. Default: discarded.
	Logger *slog.Logger
	// OnLost, if set, is called once, in a goroutine of its own, when this
	// member's registration is lost: its lease expired or was revoked, or
	// its key was deleted. The member cannot come back under the same
	// actor system ID (proto.actor blocks the ID of a member that left);
	// the owner shuts it down and starts a new one. OnLost may call
	// Shutdown. It is never called after Shutdown has begun.
	OnLost func()
}

// withDefaults validates o and returns it with defaults applied.
func (o Options) withDefaults() (Options, error) {
	if len(o.Endpoints) == 0 {
		return o, errors.New("etcdmember: no etcd endpoints")
	}
	if o.DialTimeout < 0 {
		return o, errors.New("etcdmember: negative dial timeout")
	}
	if o.TTL < 0 {
		return o, errors.New("etcdmember: negative TTL")
	}
	o.Endpoints = append([]string(nil), o.Endpoints...)
	o.Prefix = strings.TrimRight(o.Prefix, "/")
	if o.Prefix == "" {
		o.Prefix = DefaultPrefix
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// ttlSeconds is the lease TTL in whole seconds, rounded up.
func (o Options) ttlSeconds() int64 {
	return int64((o.TTL + time.Second - 1) / time.Second)
}
