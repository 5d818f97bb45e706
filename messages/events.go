package messages

import (
	"log/slog"
	"time"
)

// Event is something that happened in the tree: a breaker transition, a key
// cooling down, a rejection, a retry. Subscribers get them synchronously and
// must not block. Events never carry key material.
type Event interface {
	// EventTime returns when it happened.
	EventTime() time.Time
	// Log returns the level, message and attributes to log it with.
	Log() (slog.Level, string, []any)
}

// BreakerState is a circuit breaker's state.
type BreakerState uint8

// Breaker states.
const (
	Closed BreakerState = iota
	Open
	HalfOpen
)

// String returns CLOSED, OPEN or HALF-OPEN.
func (s BreakerState) String() string {
	switch s {
	case Open:
		return "OPEN"
	case HalfOpen:
		return "HALF-OPEN"
	default:
		return "CLOSED"
	}
}

// BreakerStateChanged reports a breaker transition.
type BreakerStateChanged struct {
	Time     time.Time
	Provider string
	Endpoint string
	From, To BreakerState
	Reason   string
	// ReopenAt is when an OPEN breaker will be restarted into HALF-OPEN.
	ReopenAt time.Time
	// Trips counts how often this endpoint has tripped.
	Trips int
}

func (e *BreakerStateChanged) EventTime() time.Time { return e.Time }
func (e *BreakerStateChanged) Log() (slog.Level, string, []any) {
	lvl := slog.LevelInfo
	if e.To == Open {
		lvl = slog.LevelWarn
	}
	return lvl, "breaker " + e.To.String(), []any{"provider", e.Provider, "endpoint", e.Endpoint, "from", e.From.String(), "reason", e.Reason, "reopen_at", e.ReopenAt, "trips", e.Trips}
}

// ActorRestarted reports a supervised restart of a breaker or key actor.
type ActorRestarted struct {
	Time   time.Time
	Actor  string
	Reason string
}

func (e *ActorRestarted) EventTime() time.Time { return e.Time }
func (e *ActorRestarted) Log() (slog.Level, string, []any) {
	return slog.LevelInfo, "actor restarted", []any{"actor", e.Actor, "reason", e.Reason}
}

// KeyCooldown reports a key set aside until Until (a 429 or an exhausted
// rate-limit window).
type KeyCooldown struct {
	Time      time.Time
	Provider  string
	Endpoint  string
	Key       string
	Until     time.Time
	Reason    string
	RequestID string
}

func (e *KeyCooldown) EventTime() time.Time { return e.Time }
func (e *KeyCooldown) Log() (slog.Level, string, []any) {
	return slog.LevelInfo, "key cooling down", []any{"provider", e.Provider, "endpoint", e.Endpoint, "key", e.Key, "until", e.Until, "reason", e.Reason, "request_id", e.RequestID}
}

// KeyDisabled reports a key taken out of rotation after a 401/403.
type KeyDisabled struct {
	Time      time.Time
	Provider  string
	Endpoint  string
	Key       string
	Status    int
	RequestID string
}

func (e *KeyDisabled) EventTime() time.Time { return e.Time }
func (e *KeyDisabled) Log() (slog.Level, string, []any) {
	return slog.LevelWarn, "key disabled", []any{"provider", e.Provider, "endpoint", e.Endpoint, "key", e.Key, "status", e.Status, "request_id", e.RequestID}
}

// RequestRejected reports a request refused at admission.
type RequestRejected struct {
	Time      time.Time
	RequestID string
	Provider  string
	Priority  Priority
	Reason    string
}

func (e *RequestRejected) EventTime() time.Time { return e.Time }
func (e *RequestRejected) Log() (slog.Level, string, []any) {
	return slog.LevelInfo, "request rejected", []any{"request_id", e.RequestID, "provider", e.Provider, "priority", e.Priority.String(), "reason", e.Reason}
}

// RequestRetried reports a retry being scheduled.
type RequestRetried struct {
	Time      time.Time
	RequestID string
	Provider  string
	Attempt   int
	Delay     time.Duration
	Status    int
	Class     ErrorClass
}

func (e *RequestRetried) EventTime() time.Time { return e.Time }
func (e *RequestRetried) Log() (slog.Level, string, []any) {
	return slog.LevelDebug, "request retried", []any{"request_id", e.RequestID, "provider", e.Provider, "attempt", e.Attempt, "delay", e.Delay, "status", e.Status, "class", e.Class.String()}
}

// RequestExpired reports a request whose deadline passed in the queue.
type RequestExpired struct {
	Time      time.Time
	RequestID string
	Provider  string
	Priority  Priority
	Waited    time.Duration
}

func (e *RequestExpired) EventTime() time.Time { return e.Time }
func (e *RequestExpired) Log() (slog.Level, string, []any) {
	return slog.LevelInfo, "request expired in queue", []any{"request_id", e.RequestID, "provider", e.Provider, "priority", e.Priority.String(), "waited", e.Waited}
}

// AuditDropped reports that audit records were dropped because the audit
// sink fell behind and its buffer was full (see Config.Audit). Requests are
// never held for the audit log; this event is how the loss shows. It is
// logged as an error.
type AuditDropped struct {
	Time time.Time
	// Total is the number of records dropped since the start.
	Total uint64
}

func (e *AuditDropped) EventTime() time.Time { return e.Time }
func (e *AuditDropped) Log() (slog.Level, string, []any) {
	return slog.LevelError, "audit records dropped: the audit sink is falling behind", []any{"total", e.Total}
}

// AuditAnchor carries the audit file's head: the sequence number and hash
// of the last record written whole (Config.Audit.AnchorEvery). Kept outside
// the log, it shows whether records at the end were removed: a later
// audit.Verify must reach it. It is logged at info level.
type AuditAnchor struct {
	Time time.Time
	Seq  uint64
	Hash string
	// Final is set on the anchor published after Close flushed the log.
	Final bool
}

func (e *AuditAnchor) EventTime() time.Time { return e.Time }
func (e *AuditAnchor) Log() (slog.Level, string, []any) {
	return slog.LevelInfo, "audit log head", []any{"seq", e.Seq, "hash", e.Hash, "final", e.Final}
}

// AuditFailed reports that the audit sink failed to store records (a
// write error, a full disk, a panicking sink); the records are counted in
// Stats.Audit.Failed.
type AuditFailed struct {
	Time time.Time
	Err  error
}

func (e *AuditFailed) EventTime() time.Time { return e.Time }
func (e *AuditFailed) Log() (slog.Level, string, []any) {
	return slog.LevelError, "audit sink failed", []any{"err", e.Err}
}

// RequestDropped reports a request that could not be answered and was
// dropped: it reached the front door with no reply address (an actor sent
// it with ctx.Send, or from outside an actor, instead of ctx.Request). It is
// logged as a warning.
type RequestDropped struct {
	Time      time.Time
	RequestID string
	Provider  string
	Operation string
	Reason    string
}

func (e *RequestDropped) EventTime() time.Time { return e.Time }
func (e *RequestDropped) Log() (slog.Level, string, []any) {
	return slog.LevelWarn, "request dropped", []any{"request_id", e.RequestID, "provider", e.Provider, "operation", e.Operation, "reason", e.Reason}
}
