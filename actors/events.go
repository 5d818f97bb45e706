package actors

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/redact"
)

// EventBus delivers events to subscribers, synchronously on the publishing
// actor's goroutine, and logs each through the host's logger. Subscribers
// must not block. Subscribers are isolated from the runtime and from each
// other: a subscriber that panics is recovered, logged and counted
// (SubscriberPanics), and the actor that published the event carries on, so
// the request whose outcome fired it is still answered. Safe for concurrent
// use.
type EventBus struct {
	log    *slog.Logger
	red    *redact.Redactor
	mu     sync.RWMutex
	subs   map[int]func(messages.Event)
	next   int
	panics atomic.Uint64
}

// NewEventBus returns a bus that logs to log (nil: no logging) and scrubs
// nothing.
func NewEventBus(log *slog.Logger) *EventBus {
	return NewScrubbingEventBus(log, nil)
}

// NewScrubbingEventBus returns a bus that logs to log (nil: no logging) and
// removes red's secrets from every event before it is logged or delivered
// (nil red: none). The key actors already scrub what upstreams say; this is
// defence in depth for events built from anything else.
func NewScrubbingEventBus(log *slog.Logger, red *redact.Redactor) *EventBus {
	return &EventBus{log: log, red: red, subs: map[int]func(messages.Event){}}
}

// Subscribe registers fn and returns a function that removes it. A nil fn is
// refused with a logged warning; the returned function then does nothing.
func (b *EventBus) Subscribe(fn func(messages.Event)) (unsubscribe func()) {
	if fn == nil {
		if b.log != nil {
			b.log.Warn("event subscriber refused: nil function")
		}
		return func() {}
	}
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

// SubscriberPanics returns how many times a subscriber has panicked.
func (b *EventBus) SubscriberPanics() uint64 {
	if b == nil {
		return 0
	}
	return b.panics.Load()
}

// Publish delivers e to every subscriber and logs it.
func (b *EventBus) Publish(e messages.Event) {
	if b == nil || e == nil {
		return
	}
	e = b.red.Event(e)
	if b.log != nil {
		lvl, msg, attrs := e.Log()
		if b.log.Enabled(context.Background(), lvl) {
			b.log.Log(context.Background(), lvl, msg, attrs...)
		}
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, fn := range b.subs {
		b.deliver(fn, e)
	}
}

// deliver calls fn, recovering a panic.
func (b *EventBus) deliver(fn func(messages.Event), e messages.Event) {
	defer func() {
		if r := recover(); r != nil {
			b.panics.Add(1)
			if b.log != nil {
				b.log.Error("event subscriber panicked; the event was not delivered to it",
					"event", fmt.Sprintf("%T", e), "panic", b.red.String(fmt.Sprint(r)))
			}
		}
	}()
	fn(e)
}
