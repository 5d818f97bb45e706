package actors

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"time"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
)

// Defaults used when a field of the configs below is zero.
const (
	DefaultQueueCapacity   = 1024
	DefaultAgingAfter      = 10 * time.Second
	DefaultMaxAttempts     = 3
	DefaultBaseDelay       = 500 * time.Millisecond
	DefaultMaxDelay        = 8 * time.Second
	DefaultBudgetRatio     = 0.2
	DefaultBudgetPerSecond = 10
	DefaultBudgetBurst     = 100
)

// QueueConfig sizes the dispatcher's three levels.
type QueueConfig struct {
	// Capacity per level, indexed by Priority.Index() (HIGH, NORMAL, LOW);
	// 0 means DefaultQueueCapacity.
	Capacity [3]int
	// AgingAfter lets a LOW request that has waited this long compete with
	// NORMAL ones by age (default 10 s; negative disables aging).
	AgingAfter time.Duration
	// ShedLow lets a HIGH arrival at a full HIGH level evict the newest LOW
	// request (answered ErrQueueFull) instead of being rejected.
	ShedLow bool
}

// RetryConfig is the one retry loop's policy.
type RetryConfig struct {
	// MaxAttempts counts the first attempt (default 3; 1 disables retries).
	MaxAttempts int
	// BaseDelay·2^n with ±20 % jitter, capped at MaxDelay (defaults 500 ms,
	// 8 s). A server's Retry-After always wins, even above MaxDelay.
	BaseDelay, MaxDelay time.Duration
	// Budget: retries spend a token each; tokens accrue at BudgetPerSecond
	// plus BudgetRatio per admitted request, up to BudgetBurst (defaults 10/s,
	// 0.2, 100). A negative BudgetRatio disables the budget.
	BudgetRatio     float64
	BudgetPerSecond float64
	BudgetBurst     float64
}

// Breaker defaults: what the root package fills in for a zero field of its
// BreakerConfig. Here a zero ConsecutiveFailures or MinRequests turns its
// rule off, a FailureRate outside (0, 1] (NaN included) means
// DefaultFailureRate, a Window of 0 or less DefaultBreakerWindow, and
// HalfOpenProbes below 1 means 1.
//
// Under load these defaults keep a healthy endpoint CLOSED: at 40k requests
// a second with 1 % random failures, runs of five or more failures happen
// whenever a few calls that timed out together complete together, but a
// run only trips once at least half of the latest 100 outcomes failed too,
// which 1 % faults never reach; a dead endpoint reaches it within about 100
// outcomes. TestBreakerPolicyUnderLoad shows both.
const (
	DefaultConsecutiveFailures = 5
	DefaultFailureRate         = 0.5
	DefaultMinRequests         = 10
	DefaultBreakerWindow       = 30 * time.Second
	DefaultHalfOpenProbes      = 1
)

// BreakerConfig is the per-endpoint circuit breaker policy. A CLOSED
// breaker opens on either rule:
//
//   - a run: ConsecutiveFailures failures in a row, confirmed by the recent
//     rate, at least FailureRate of the latest outcomes (the last 100 within
//     Window/10, 3 s by default) being failures. The confirmation keeps a
//     handful of calls that failed together at high concurrency (timeouts of
//     calls sent at the same moment) from opening a healthy endpoint, while
//     on a quiet endpoint, where the last few seconds hold only the run
//     itself, a run of ConsecutiveFailures still opens it at once;
//   - a rate: at least MinRequests outcomes in Window, FailureRate of them
//     failures. It is judged on every outcome, so the call that completes
//     the volume may trip it.
//
// Only the upstream's failures count (messages.ErrorClass.BreakerFailure):
// a caller's cancel or deadline and Switchyard's own faults count neither
// way.
type BreakerConfig struct {
	// ConsecutiveFailures is the run that trips the breaker (default 5).
	ConsecutiveFailures int
	// FailureRate is the failed share that trips it, over Window once it
	// holds MinRequests outcomes, and over the recent outcomes that confirm
	// a run (defaults 0.5, 10, 30 s).
	FailureRate float64
	MinRequests int
	Window      time.Duration
	// HalfOpenProbes is how many probes HALF-OPEN admits (default 1); that
	// many successes close the breaker, one failure re-opens it.
	HalfOpenProbes int
}

// Cooldown decides how long an endpoint stays OPEN after its trips-th trip,
// never less than retryAfter. The supervisor package provides one.
type Cooldown func(trips int, retryAfter time.Duration) time.Duration

// EndpointSpec is one upstream endpoint, immutable once built.
type EndpointSpec struct {
	Name    string
	BaseURL string
	Headers map[string]string
	Keys    []KeySpec
}

// KeySpec is one API key of an endpoint.
type KeySpec struct {
	Cred providers.Credential
	// Weight for the weighted strategy (default 1).
	Weight int
	// MaxInFlight caps concurrent calls on the key (0: no cap).
	MaxInFlight int
	// RPM and TPM cap requests and tokens per minute (0: no cap).
	RPM, TPM int
	// Group names the organisation and project the key belongs to (e.g.
	// "org-abc/proj-1"): the keys of one group of an endpoint see the same
	// stored objects, so any of them may serve a follow-up (key affinity).
	// Empty: the key is a group of its own.
	Group string
}

// Key affinity defaults: what a zero field of AffinityConfig means.
const (
	// DefaultAffinityMaxEntries bounds the objects remembered per provider.
	DefaultAffinityMaxEntries = 100_000
	// DefaultAffinityTTL is how long an object is remembered after the last
	// answer that reported it: the service's retention of stored responses.
	DefaultAffinityTTL = 30 * 24 * time.Hour
)

// AffinityConfig is a provider's key affinity: the dispatcher remembers
// which endpoint and key created each stored object an answer reports
// (messages.StoredObjectCreator: stored responses, conversations, their
// items) and sends every request that names one (messages.StoredObjectRef)
// to that endpoint and to that key or another key of its group
// (KeySpec.Group), whatever the key strategy. The zero value is on, with the
// defaults above, and waits for cooling keys.
type AffinityConfig struct {
	// Disabled turns key affinity off: follow-ups go by strategy.
	Disabled bool
	// MaxEntries bounds the remembered objects (default 100,000); the least
	// recently used is forgotten first.
	MaxEntries int
	// TTL is how long an object is remembered after the last answer that
	// reported it (default 30 days).
	TTL time.Duration
	// NoWait fails a follow-up whose keys are all cooling down at once
	// (*messages.AffinityError) instead of letting it wait, within its
	// deadline, until one of them may be tried again.
	NoWait bool
}

func (a AffinityConfig) withDefaults() AffinityConfig {
	if a.MaxEntries <= 0 {
		a.MaxEntries = DefaultAffinityMaxEntries
	}
	if a.TTL <= 0 {
		a.TTL = DefaultAffinityTTL
	}
	return a
}

// Strategy names a key-selection strategy.
type Strategy string

// Key strategies.
const (
	RoundRobin   Strategy = "round-robin"
	LeastLoaded  Strategy = "least-loaded"
	Weighted     Strategy = "weighted"
	MostHeadroom Strategy = "most-headroom"
)

// ProviderSpec configures one provider actor.
type ProviderSpec struct {
	Name      string
	Adapter   providers.Adapter
	Endpoints []EndpointSpec
	Strategy  Strategy
	Breaker   BreakerConfig
	Cooldown  Cooldown
}

// Env is what every actor shares: time, HTTP machinery, events, logging.
type Env struct {
	Clock  clock.Clock
	Client *providers.Client
	Events *EventBus
	Log    *slog.Logger
	// Redactor removes every configured secret from what leaves a key
	// actor (errors, response meta, stream chunks); nil removes nothing.
	Redactor *redact.Redactor
	// Hooks are test-only fault injections; nil in production.
	Hooks *Hooks
	// Audit, when set, sees every request's final answer once (see
	// Auditor).
	Audit Auditor
	// Tracer makes the OpenTelemetry spans of requests and attempts; nil
	// (the default) traces nothing, at no cost.
	Tracer *Tracer
	// Root is the actor system's root context; timers send through it.
	Root *actor.RootContext
	// Calls tracks running HTTP goroutines so shutdown can wait for them.
	Calls *CallGroup
	// Mailboxes runs the mailboxes of the tree's actors (see MailboxPool
	// and Props); nil leaves protoactor's default dispatcher.
	Mailboxes *MailboxPool
	// FleetKeys, FleetHealth and FleetCache share key budgets, endpoint
	// health and the exact cache with the other members of a fleet (fleet
	// mode, Config.Cluster); nil (the default) keeps each on this node.
	FleetKeys   FleetKeys
	FleetHealth FleetHealth
	FleetCache  FleetCache
}

// Hooks inject faults into actors, for tests of the supervision paths.
type Hooks struct {
	// KeyPanic, when it returns true for a request ID, makes the key actor
	// panic while handling that request's execute message.
	KeyPanic func(requestID string) bool
	// KeyPanicOnResult does the same while handling the call's result.
	KeyPanicOnResult func(requestID string) bool
}
