// Package leaktest holds what the leak checks of tests that start
// proto.actor cluster members must excuse.
package leaktest

import "go.uber.org/goleak"

// ProtoactorLeftovers excuse exactly the goroutines protoactor-go
// (v0.0.0-20240822202345) and the gRPC connections it opens leave behind
// after a member's Shutdown: its throttles' goroutines never end, the test
// provider's TTL goroutine ranges over a stopped ticker, and the remote
// layer does not close every client connection it dialled
// (docs/fleet.md, "Findings about protoactor-go").
var ProtoactorLeftovers = []goleak.Option{
	goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/cluster.(*Gossiper).StartGossiping.NewThrottle.func3.1"),
	goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/cluster.NewGossipActor.NewThrottleWithLogger.func2.1"),
	goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/cluster/clusterproviders/test.(*Provider).startTtlReport.func1"),
	goleak.IgnoreTopFunction("google.golang.org/grpc.(*addrConn).resetTransport"),
	goleak.IgnoreTopFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
}
