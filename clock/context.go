package clock

import (
	"context"
	"sync"
	"time"
)

// WithDeadline is context.WithDeadline on clock c: the returned context is
// done when c reaches d (its Err is then context.DeadlineExceeded), when
// parent is done, or when cancel is called. With the Real clock it is
// context.WithDeadline itself; with any other clock the deadline is armed
// with c.AfterFunc, so a Manual clock decides when it passes and a context
// deadline never mixes the wall clock with the injected one.
func WithDeadline(c Clock, parent context.Context, d time.Time) (context.Context, context.CancelFunc) {
	if c == nil || c == Real {
		return context.WithDeadline(parent, d)
	}
	ctx := &deadlineCtx{parent: parent, deadline: d, done: make(chan struct{})}
	if err := parent.Err(); err != nil {
		ctx.end(err)
		return ctx, func() {}
	}
	stopParent := context.AfterFunc(parent, func() { ctx.end(parent.Err()) })
	remaining := d.Sub(c.Now())
	if remaining <= 0 {
		ctx.end(context.DeadlineExceeded)
		stopParent()
		return ctx, func() {}
	}
	timer := c.AfterFunc(remaining, func() { ctx.end(context.DeadlineExceeded) })
	return ctx, func() {
		timer.Stop()
		stopParent()
		ctx.end(context.Canceled)
	}
}

// WithTimeout is WithDeadline(c, parent, c.Now().Add(d)).
func WithTimeout(c Clock, parent context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if c == nil {
		c = Real
	}
	return WithDeadline(c, parent, c.Now().Add(d))
}

// deadlineCtx is a context whose deadline is on an injected clock. It hides
// its own cancellation from the standard library's fast path (Value goes to
// the parent), so children learn its end through Done and copy its Err:
// a child of an expired deadlineCtx reports context.DeadlineExceeded too.
type deadlineCtx struct {
	parent   context.Context
	deadline time.Time
	done     chan struct{}
	mu       sync.Mutex
	err      error
}

func (c *deadlineCtx) end(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	close(c.done)
}

// Deadline returns the deadline on the injected clock.
func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

// Done is closed when the context ends.
func (c *deadlineCtx) Done() <-chan struct{} { return c.done }

// Err is nil until the context ends, then why it ended.
func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value looks keys up in the parent.
func (c *deadlineCtx) Value(key any) any {
	if _, ok := key.(deadlineKey); ok {
		return c
	}
	return c.parent.Value(key)
}

type deadlineKey struct{}

// ContextDeadline returns ctx's deadline when it is on clock c: with the Real
// clock, ctx.Deadline(); with another clock, the deadline of the nearest
// context made by WithDeadline (a wall-clock deadline is not comparable with
// an injected clock's time, and such a context still ends the request
// through its Done channel).
func ContextDeadline(c Clock, ctx context.Context) (time.Time, bool) {
	if c == nil || c == Real {
		return ctx.Deadline()
	}
	if dc, ok := ctx.Value(deadlineKey{}).(*deadlineCtx); ok {
		return dc.deadline, true
	}
	return time.Time{}, false
}
