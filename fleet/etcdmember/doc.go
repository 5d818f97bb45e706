// Package etcdmember is a proto.actor cluster provider that keeps the
// fleet's membership in etcd.
//
// Each member registers one key, <Prefix>/<cluster name>/<actor system ID>,
// under a lease of Options.TTL that it keeps alive, and publishes the full
// set of registered members to its cluster's member list whenever the keys
// under <Prefix>/<cluster name>/ change. A member's ID is always its
// ActorSystem.ID, the identity that proto.actor's gossip, member list and
// block list use; protoactor-go's own etcd provider names members
// "<cluster>@<ID>" instead, so a member gossips to itself.
//
// A member whose lease ends (it was revoked, or the process was frozen or
// cut off from etcd for longer than TTL) has left for good: proto.actor
// blocks the ID of a member that left. The provider then stops publishing
// and calls Options.OnLost; the owner restarts the member under a new actor
// system.
//
// Every etcd call has a deadline of Options.DialTimeout, and the etcd
// client logs nothing.
package etcdmember
