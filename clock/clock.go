// Package clock is the replaceable source of time for Switchyard's time-based
// logic: backoff, breaker cooldowns, queue deadlines, key cooldowns and TTLs.
//
// Production code uses Real. Tests use a Manual clock and move it forward by
// hand, so a 30-second cooldown takes no wall-clock time and never flakes.
package clock

import "time"

// Clock tells the time and schedules callbacks. Implementations are safe for
// concurrent use.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled callback.
type Timer interface {
	// Stop prevents the callback from running. It reports whether the call
	// stopped the timer (false if it had already fired or been stopped).
	Stop() bool
}

// Real is the wall clock.
var Real Clock = realClock{}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
