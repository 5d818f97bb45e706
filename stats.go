package switchyard

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
)

// snapshotTimeout bounds a snapshot request whose context has no deadline.
const snapshotTimeout = 5 * time.Second

// The snapshot and control methods below (QueueStatus, SetQueueCapacity,
// Tree, Stats, CacheStatus) are safe for concurrent use. Each fails with
// ErrShuttingDown once Close has begun, with ErrInvalidRequest for a nil
// context, and with ErrDeadline when an actor does not answer within the
// context's deadline (default 5 s); every error is a *messages.RequestError.

// QueueStatus asks the dispatcher for its queue status.
func (s *Switchyard) QueueStatus(ctx context.Context) (*messages.QueueStatus, error) {
	r, err := s.ask(ctx, "queue status", s.dispatcher, &messages.GetQueueStatus{})
	if err != nil {
		return nil, err
	}
	return r.(*messages.QueueStatus), nil
}

// SetQueueCapacity changes a level's capacity at run time. An invalid
// priority or a capacity below 1 is a *ConfigError.
func (s *Switchyard) SetQueueCapacity(ctx context.Context, p messages.Priority, capacity int) error {
	if !p.Valid() || capacity <= 0 {
		return &ConfigError{Field: "capacity", Reason: "priority must be valid and capacity positive"}
	}
	_, err := s.ask(ctx, "set queue capacity", s.dispatcher, &messages.SetQueueCapacity{Priority: p, Capacity: capacity})
	return err
}

// Tree returns a snapshot of the whole tree: queue, providers, endpoints
// (breaker states) and keys, with counters.
func (s *Switchyard) Tree(ctx context.Context) (messages.Tree, error) {
	t := messages.Tree{Time: s.env.Clock.Now()}
	q, err := s.QueueStatus(ctx)
	if err != nil {
		return t, err
	}
	t.Queue = *q
	for _, name := range s.order {
		r, err := s.ask(ctx, "provider "+name+" snapshot", s.providers[name], actors.GetNode())
		if err != nil {
			return t, err
		}
		n := *r.(*messages.ProviderNode)
		n.Queued = q.PerProvider[name]
		t.Providers = append(t.Providers, n)
	}
	if s.cache != nil {
		cs, err := s.CacheStatus(ctx)
		if err != nil {
			return t, err
		}
		t.Cache = cs
	}
	if s.fleet != nil {
		f := s.fleet.Figures()
		t.Fleet = &f
	}
	return t, nil
}

// ask sends msg to pid and waits for the answer, bounded by ctx's deadline
// on the runtime's clock (snapshotTimeout without one). After Close it
// answers ErrShuttingDown without asking.
func (s *Switchyard) ask(ctx context.Context, what string, pid *actor.PID, msg any) (any, error) {
	if ctx == nil {
		return nil, &messages.RequestError{Kind: messages.ErrInvalidRequest, Detail: what + ": nil context"}
	}
	if s.isClosed() {
		return nil, &messages.RequestError{Kind: messages.ErrShuttingDown, Detail: what}
	}
	r, err := s.sys.Root.RequestFuture(pid, msg, s.timeoutOf(ctx)).Result()
	switch {
	case err == nil:
		return r, nil
	case s.isClosed():
		// The actor stopped under us (a dead letter) or never answered.
		return nil, &messages.RequestError{Kind: messages.ErrShuttingDown, Detail: what}
	case errors.Is(err, actor.ErrTimeout):
		return nil, &messages.RequestError{Kind: messages.ErrDeadline, Detail: what + ": no answer in time", Cause: context.DeadlineExceeded}
	}
	return nil, &messages.RequestError{Kind: messages.ErrInternal, Detail: what, Cause: err}
}

// isClosed reports whether Close has begun.
func (s *Switchyard) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// timeoutOf is how long a snapshot request may wait: until ctx's deadline,
// measured on the runtime's clock (clock.ContextDeadline), or
// snapshotTimeout.
func (s *Switchyard) timeoutOf(ctx context.Context) time.Duration {
	if dl, ok := clock.ContextDeadline(s.env.Clock, ctx); ok {
		if d := dl.Sub(s.env.Clock.Now()); d > 0 {
			return d
		}
		return time.Millisecond
	}
	return snapshotTimeout
}

// Stats returns every counter in flat maps (see messages.Stats).
func (s *Switchyard) Stats(ctx context.Context) (messages.Stats, error) {
	t, err := s.Tree(ctx)
	st := messages.Stats{Time: t.Time, Queue: t.Queue, Providers: map[string]messages.Counters{},
		Endpoints: map[string]messages.Counters{}, Keys: map[string]messages.Counters{}}
	if err != nil {
		return st, err
	}
	if s.audit != nil {
		a := s.audit.log.Stats()
		st.Audit = messages.AuditStats{Logged: a.Logged, Written: a.Written, Failed: a.Failed, Dropped: a.Dropped}
	}
	if t.Fleet != nil {
		st.Fleet = *t.Fleet
	}
	for _, p := range t.Providers {
		st.Providers[p.Name] = p.Counters
		for _, e := range p.Endpoints {
			st.Endpoints[p.Name+"/"+e.Name] = e.Counters
			for _, k := range e.Keys {
				st.Keys[p.Name+"/"+e.Name+"/"+k.Label] = k.Counters
			}
		}
	}
	return st, nil
}
