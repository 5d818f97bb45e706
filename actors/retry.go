package actors

import (
	"math/rand/v2"
	"time"
)

// backoff returns the delay before retry number n (1 for the first retry):
// BaseDelay·2^(n-1) with ±20 % jitter, capped at MaxDelay, and never less
// than the server's retryAfter.
func (c RetryConfig) backoff(n int, retryAfter time.Duration) time.Duration {
	base, maxD := c.BaseDelay, c.MaxDelay
	d := base
	for i := 1; i < n && d < maxD; i++ {
		d *= 2
	}
	if d > maxD {
		d = maxD
	}
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	if d > maxD {
		d = maxD
	}
	if retryAfter > d {
		d = retryAfter
	}
	return d
}

func (c RetryConfig) withDefaults() RetryConfig {
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.BaseDelay <= 0 {
		c.BaseDelay = DefaultBaseDelay
	}
	if c.MaxDelay <= 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.BudgetRatio == 0 {
		c.BudgetRatio = DefaultBudgetRatio
	}
	if c.BudgetPerSecond == 0 {
		c.BudgetPerSecond = DefaultBudgetPerSecond
	}
	if c.BudgetBurst == 0 {
		c.BudgetBurst = DefaultBudgetBurst
	}
	return c
}

// retryBudget is a token bucket that stops retry storms: each retry costs
// one token; tokens accrue per second and per admitted request. Not safe for
// concurrent use (the dispatcher owns it).
type retryBudget struct {
	cfg    RetryConfig
	tokens float64
	last   time.Time
}

func newRetryBudget(cfg RetryConfig, now time.Time) *retryBudget {
	return &retryBudget{cfg: cfg, tokens: cfg.BudgetBurst, last: now}
}

func (b *retryBudget) refill(now time.Time) {
	if el := now.Sub(b.last); el > 0 {
		b.tokens += el.Seconds() * b.cfg.BudgetPerSecond
		b.last = now
	}
	if b.tokens > b.cfg.BudgetBurst {
		b.tokens = b.cfg.BudgetBurst
	}
}

// admitted credits a new request.
func (b *retryBudget) admitted() {
	b.tokens += b.cfg.BudgetRatio
	if b.tokens > b.cfg.BudgetBurst {
		b.tokens = b.cfg.BudgetBurst
	}
}

// take spends a token for a retry, reporting false when none is left.
func (b *retryBudget) take(now time.Time) bool {
	if b.cfg.BudgetRatio < 0 {
		return true
	}
	b.refill(now)
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func (b *retryBudget) available(now time.Time) float64 {
	b.refill(now)
	return b.tokens
}
