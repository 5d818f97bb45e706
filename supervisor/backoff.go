package supervisor

import (
	"math/rand/v2"
	"time"
)

// Defaults of Backoff.
const (
	DefaultCooldown    = 30 * time.Second
	DefaultMaxCooldown = 5 * time.Minute
	DefaultJitter      = 0.2
)

// Backoff computes breaker cooldowns: Base·2^(trips-1), capped at Max, with
// ±Jitter spread, and never shorter than the upstream's Retry-After (which
// may exceed Max). The zero value uses the defaults (30 s, 5 min, 0.2).
// Safe for concurrent use.
type Backoff struct {
	Base   time.Duration
	Max    time.Duration
	Jitter float64
	// Rand returns a number in [0, 1); nil uses math/rand/v2.
	Rand func() float64
}

// Cooldown returns how long to stay OPEN after the trips-th consecutive trip.
func (b Backoff) Cooldown(trips int, retryAfter time.Duration) time.Duration {
	base, maxD, jitter := b.Base, b.Max, b.Jitter
	if base <= 0 {
		base = DefaultCooldown
	}
	if maxD <= 0 {
		maxD = DefaultMaxCooldown
	}
	if maxD < base {
		maxD = base
	}
	if jitter == 0 {
		jitter = DefaultJitter
	}
	if jitter < 0 {
		jitter = 0
	}
	d := base
	for i := 1; i < trips && d < maxD; i++ {
		d *= 2
	}
	if d > maxD {
		d = maxD
	}
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	d = time.Duration(float64(d) * (1 - jitter + 2*jitter*r()))
	if d > maxD {
		d = maxD
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}
