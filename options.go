package switchyard

import (
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// CallOption sets a per-call routing field.
type CallOption func(*messages.Call)

// WithPriority sets the queue level (default Normal).
func WithPriority(p messages.Priority) CallOption { return func(c *messages.Call) { c.Priority = p } }

// WithProvider names the provider to use.
func WithProvider(name string) CallOption { return func(c *messages.Call) { c.Provider = name } }

// WithKey pins the call to the key with this label.
func WithKey(label string) CallOption { return func(c *messages.Call) { c.Key = label } }

// WithEndpoint pins the call to the endpoint with this name.
func WithEndpoint(name string) CallOption { return func(c *messages.Call) { c.Endpoint = name } }

// WithDeadline bounds queueing, retries and the call.
func WithDeadline(t time.Time) CallOption { return func(c *messages.Call) { c.Deadline = t } }

// WithTimeout bounds queueing, retries and the call to d from admission,
// measured on the runtime's clock (Config.Clock), like WithDeadline(now + d).
func WithTimeout(d time.Duration) CallOption {
	return func(c *messages.Call) { c.Timeout = d }
}

// WithRequestID sets the request ID (default: a new UUIDv7).
func WithRequestID(id string) CallOption { return func(c *messages.Call) { c.RequestID = id } }

// NoCache bypasses the cache for this call.
func NoCache() CallOption { return func(c *messages.Call) { c.NoCache = true } }

// CacheSampled opts this call into the cache although its answer may vary:
// a chat or generate request with a temperature above 0 or unset (the
// provider's default) is cached, and an answer with tool calls is stored
// and shared with identical requests that opted in too.
func CacheSampled() CallOption { return func(c *messages.Call) { c.CacheSampled = true } }

// Priority levels, re-exported for callers of the facade.
const (
	High   = messages.High
	Normal = messages.Normal
	Low    = messages.Low
)

// Defaults of AwaitResponse's polling.
const (
	// DefaultPollInterval is the wait before the second poll.
	DefaultPollInterval = time.Second
	// DefaultMaxPollInterval bounds the wait between polls, which doubles
	// after each poll.
	DefaultMaxPollInterval = 10 * time.Second
)

// Poll says how AwaitResponse polls; the zero value is the defaults.
type Poll struct {
	// Priority is the queue level of the polls; nil means one level below
	// the call's priority (WithPriority, default Normal), never below Low,
	// so polling does not delay the caller's other traffic.
	Priority *messages.Priority
	// Interval is the wait before the second poll (default
	// DefaultPollInterval); it doubles after each poll up to MaxInterval
	// (default DefaultMaxPollInterval, at least Interval). Zero or less
	// means the default.
	Interval, MaxInterval time.Duration
}

// resolve returns the polls' level for a call at priority p, and the first
// and largest waits, with the defaults filled in.
func (pl Poll) resolve(p messages.Priority) (level messages.Priority, first, most time.Duration) {
	level = p
	if pl.Priority != nil {
		level = *pl.Priority
	} else if level.Valid() && level != Low {
		level-- // one level below the caller's
	}
	first, most = DefaultPollInterval, DefaultMaxPollInterval
	if pl.Interval > 0 {
		first = pl.Interval
	}
	if pl.MaxInterval > 0 {
		most = pl.MaxInterval
	}
	return level, first, max(first, most)
}

// WithPrincipal names who sends the request (a user or service identity),
// for the audit log (Call.Principal). It is never sent upstream.
func WithPrincipal(p string) CallOption { return func(c *messages.Call) { c.Principal = p } }

// WithTenant names whom the request is sent for (a team, a customer): it is
// recorded in the audit log and scopes the cache, so that no tenant is
// answered with another tenant's stored answer (Call.Tenant). It is never
// sent upstream.
func WithTenant(t string) CallOption { return func(c *messages.Call) { c.Tenant = t } }
