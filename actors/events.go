package actors

import (
	"context"
	"log/slog"
	"sync"

	"github.com/switchyard-ai/switchyard/messages"
)

// EventBus delivers events to subscribers, synchronously on the publishing
// actor's goroutine, and logs each through the host's logger. Subscribers
// must not block. Safe for concurrent use.
type EventBus struct {
	log  *slog.Logger
	mu   sync.RWMutex
	subs map[int]func(messages.Event)
	next int
}

// NewEventBus returns a bus that logs to log (nil: no logging).
func NewEventBus(log *slog.Logger) *EventBus {
	return &EventBus{log: log, subs: map[int]func(messages.Event){}}
}

// Subscribe registers fn and returns a function that removes it.
func (b *EventBus) Subscribe(fn func(messages.Event)) (unsubscribe func()) {
	b.mu.Lock()
	id := b.next
	b.next++
	b.subs[id] = fn
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}

// Publish delivers e to every subscriber and logs it.
func (b *EventBus) Publish(e messages.Event) {
	if b == nil {
		return
	}
	if b.log != nil {
		lvl, msg, attrs := e.Log()
		if b.log.Enabled(context.Background(), lvl) {
			b.log.Log(context.Background(), lvl, msg, attrs...)
		}
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, fn := range b.subs {
		fn(e)
	}
}
