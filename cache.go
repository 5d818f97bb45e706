package switchyard

import (
	"context"
	"errors"
	"fmt"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
)

// Cache returns the cache actor's PID, nil when Config.Cache is off. Actors
// send it requests exactly as to Dispatcher() (ctx.Request; the answer, and
// a stream's chunks, go to the sender), and Cancel messages; what it cannot
// cache it forwards to the dispatcher untouched.
func (s *Switchyard) Cache() *actor.PID { return s.cache }

// CacheStatus asks the cache actor for its status; it fails when the cache
// is off.
func (s *Switchyard) CacheStatus(ctx context.Context) (*messages.CacheStatus, error) {
	if s.cache == nil {
		return nil, errors.New("switchyard: cache status: the cache is not enabled")
	}
	r, err := s.sys.Root.RequestFuture(s.cache, &messages.GetCacheStatus{}, timeoutOf(ctx)).Result()
	if err != nil {
		return nil, fmt.Errorf("switchyard: cache status: %w", err)
	}
	return r.(*messages.CacheStatus), nil
}

// front is where facade calls and their Cancel messages go: the cache when
// it is on, else the dispatcher.
func (s *Switchyard) front() *actor.PID {
	if s.cache != nil {
		return s.cache
	}
	return s.dispatcher
}

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
