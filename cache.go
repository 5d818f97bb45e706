package switchyard

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
)

// Cache returns the cache actor's PID, or nil when Config.Cache is off (a
// message sent to nil goes nowhere). Actors should send requests to
// FrontDoor(), which is always valid and passes them to the cache when it is
// on; Cache is for asking the cache itself, e.g. messages.GetCacheStatus.
func (s *Switchyard) Cache() *actor.PID { return s.cache }

// CacheStatus asks the cache actor for its status. With the cache off it
// fails with ErrUnsupported (a *messages.RequestError); after Close, with
// ErrShuttingDown.
func (s *Switchyard) CacheStatus(ctx context.Context) (*messages.CacheStatus, error) {
	if s.cache == nil {
		return nil, &messages.RequestError{Kind: messages.ErrUnsupported, Detail: "cache status: the cache is off (Config.Cache.Enabled)"}
	}
	r, err := s.ask(ctx, "cache status", s.cache, &messages.GetCacheStatus{})
	if err != nil {
		return nil, err
	}
	return r.(*messages.CacheStatus), nil
}

// front is where facade calls and their Cancel messages go: the front door,
// which passes them to the cache when it is on, else to the dispatcher, in
// the order sent.
func (s *Switchyard) front() *actor.PID { return s.frontDoor }

// shutdownCache tells the cache to stop admitting and returns a channel
// closed once it holds no request (already closed without a cache).
func (s *Switchyard) shutdownCache() chan struct{} {
	drained := make(chan struct{})
	if s.cache == nil {
		close(drained)
		return drained
	}
	s.sys.Root.Send(s.cache, &actors.Shutdown{Drained: drained})
	return drained
}

// abortCache answers every request the cache still holds ErrShuttingDown.
func (s *Switchyard) abortCache() {
	if s.cache == nil {
		return
	}
	done := make(chan struct{})
	s.sys.Root.Send(s.cache, &actors.Abort{Done: done})
	<-done
}

// drainedBoth waits for the dispatcher and then the cache to hold nothing,
// reporting false if ctx ended first.
func drainedBoth(ctx context.Context, dispatcher, cache <-chan struct{}) bool {
	for _, ch := range []<-chan struct{}{dispatcher, cache} {
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
