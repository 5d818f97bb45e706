package clock

import (
	"sort"
	"sync"
	"time"
)

// Manual is a Clock that only moves when told to. Timers fire, in deadline
// order, during Advance or Set, each in its own goroutine like time.AfterFunc.
// The zero value is not usable; call NewManual. Manual is safe for concurrent
// use.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	timers []*manualTimer
	seq    uint64
	added  chan struct{}
}

// NewManual returns a Manual clock set to start.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start, added: make(chan struct{}, 1)}
}

type manualTimer struct {
	c       *Manual
	at      time.Time
	seq     uint64
	f       func()
	stopped bool
	fired   bool
}

// Now returns the clock's current time.
func (c *Manual) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc schedules f to run once the clock has been advanced by d.
// A d of zero or less fires on the next Advance, even Advance(0).
func (c *Manual) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	c.seq++
	t := &manualTimer{c: c, at: c.now.Add(d), seq: c.seq, f: f}
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	select {
	case c.added <- struct{}{}:
	default:
	}
	return t
}

// Stop cancels the timer.
func (t *manualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped || t.fired {
		return false
	}
	t.stopped = true
	return true
}

// Advance moves the clock forward by d and fires every timer that is due.
func (c *Manual) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	c.Set(target)
}

// Set moves the clock to t (never backwards) and fires every timer due by then.
func (c *Manual) Set(t time.Time) {
	c.mu.Lock()
	if t.After(c.now) {
		c.now = t
	}
	var due []*manualTimer
	kept := c.timers[:0]
	for _, tm := range c.timers {
		switch {
		case tm.stopped:
		case !tm.at.After(c.now):
			tm.fired = true
			due = append(due, tm)
		default:
			kept = append(kept, tm)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	sort.Slice(due, func(i, j int) bool {
		if due[i].at.Equal(due[j].at) {
			return due[i].seq < due[j].seq
		}
		return due[i].at.Before(due[j].at)
	})
	for _, tm := range due {
		go tm.f()
	}
}

// Pending returns how many timers are scheduled and not yet fired or stopped.
func (c *Manual) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, tm := range c.timers {
		if !tm.stopped {
			n++
		}
	}
	return n
}

// NextDeadline returns the earliest pending timer's deadline, and false if no
// timer is pending.
func (c *Manual) NextDeadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var best time.Time
	found := false
	for _, tm := range c.timers {
		if tm.stopped {
			continue
		}
		if !found || tm.at.Before(best) {
			best, found = tm.at, true
		}
	}
	return best, found
}
