package switchyard

import (
	"context"
	"fmt"
	"time"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
)

const snapshotTimeout = 5 * time.Second

// QueueStatus asks the dispatcher for its queue status.
func (s *Switchyard) QueueStatus(ctx context.Context) (*messages.QueueStatus, error) {
	r, err := s.sys.Root.RequestFuture(s.dispatcher, &messages.GetQueueStatus{}, timeoutOf(ctx)).Result()
	if err != nil {
		return nil, fmt.Errorf("switchyard: queue status: %w", err)
	}
	return r.(*messages.QueueStatus), nil
}

// SetQueueCapacity changes a level's capacity at run time.
func (s *Switchyard) SetQueueCapacity(ctx context.Context, p messages.Priority, capacity int) error {
	if !p.Valid() || capacity <= 0 {
		return &ConfigError{Field: "capacity", Reason: "priority must be valid and capacity positive"}
	}
	_, err := s.sys.Root.RequestFuture(s.dispatcher, &messages.SetQueueCapacity{Priority: p, Capacity: capacity}, timeoutOf(ctx)).Result()
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
		r, err := s.sys.Root.RequestFuture(s.providers[name], actors.GetNode(), timeoutOf(ctx)).Result()
		if err != nil {
			return t, fmt.Errorf("switchyard: provider %s snapshot: %w", name, err)
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
	return t, nil
}

func timeoutOf(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		if d := time.Until(dl); d > 0 {
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
