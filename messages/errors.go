package messages

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Every typed error below matches one of them with errors.Is.
var (
	// ErrQueueFull: the request's priority level was full at admission.
	ErrQueueFull = errors.New("switchyard: queue full")
	// ErrCircuitOpen: every endpoint that could serve the request is OPEN.
	ErrCircuitOpen = errors.New("switchyard: circuit open")
	// ErrShuttingDown: the instance is closing and did not run the request.
	ErrShuttingDown = errors.New("switchyard: shutting down")
	// ErrNoUsableKey: every key that could serve the request is disabled.
	ErrNoUsableKey = errors.New("switchyard: no usable key")
	// ErrRateLimited: every key is cooling down past the request's deadline.
	ErrRateLimited = errors.New("switchyard: rate limited")
	// ErrDeadline: the request's deadline passed before an answer; it wraps
	// context.DeadlineExceeded too.
	ErrDeadline = errors.New("switchyard: deadline exceeded")
	// ErrUnknownProvider: the request names no configured provider.
	ErrUnknownProvider = errors.New("switchyard: unknown provider")
	// ErrUnsupported: the provider cannot serve this operation or option.
	ErrUnsupported = errors.New("switchyard: unsupported")
	// ErrInvalidRequest: the request failed validation before it was sent.
	ErrInvalidRequest = errors.New("switchyard: invalid request")
	// ErrUpstream: the upstream answered with an error (see *UpstreamError).
	ErrUpstream = errors.New("switchyard: upstream error")
	// ErrRetryBudget: a retry was due but the retry budget was spent.
	ErrRetryBudget = errors.New("switchyard: retry budget exhausted")
	// ErrInternal: a Switchyard actor failed while handling the request.
	ErrInternal = errors.New("switchyard: internal error")
	// ErrAffinityUnavailable: the request names a stored object (a response,
	// a conversation) that only some keys can see, and none of them can
	// take it (see *AffinityError).
	ErrAffinityUnavailable = errors.New("switchyard: no key of the stored object's organisation is usable")
)

// ErrorClass sorts upstream failures by what a caller should do about them.
type ErrorClass uint8

// Error classes.
const (
	ClassUnknown ErrorClass = iota
	// ClassRateLimited: 429 and friends; retry after the delay.
	ClassRateLimited
	// ClassQuota: quota or spend limit exhausted; do not retry.
	ClassQuota
	// ClassAuth: 401/403; the key is disabled.
	ClassAuth
	// ClassInvalid: the request was rejected (400, 404, 413, 422, …).
	ClassInvalid
	// ClassServer: 5xx, 408, 409, 529; retryable.
	ClassServer
	// ClassTimeout: no response headers, or a stream went idle, in time.
	ClassTimeout
	// ClassConnection: the connection failed (refused, reset, EOF).
	ClassConnection
	// ClassMalformed: a 2xx body that could not be decoded.
	ClassMalformed
	// ClassStreamCut: a stream ended before its terminator.
	ClassStreamCut
	// ClassCancelled: the request context ended: the caller cancelled, or
	// its deadline (or the request's own) passed. Never a breaker failure.
	ClassCancelled
	// ClassInternal: a Switchyard bug.
	ClassInternal
)

var classNames = [...]string{"unknown", "rate_limited", "quota", "auth", "invalid", "server", "timeout", "connection", "malformed", "stream_cut", "cancelled", "internal"}

// AllErrorClasses lists every class, for counters.
var AllErrorClasses = []ErrorClass{ClassUnknown, ClassRateLimited, ClassQuota, ClassAuth, ClassInvalid, ClassServer, ClassTimeout, ClassConnection, ClassMalformed, ClassStreamCut, ClassCancelled, ClassInternal}

// String returns the class name in snake case.
func (c ErrorClass) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Retryable reports whether the class is worth another attempt by default.
func (c ErrorClass) Retryable() bool {
	switch c {
	case ClassRateLimited, ClassServer, ClassTimeout, ClassConnection, ClassStreamCut:
		return true
	}
	return false
}

// BreakerFailure reports whether the class counts against an endpoint's
// circuit breaker: server errors, timeouts, connection errors, cut streams
// and malformed answers. Client errors, rate limits and cancellations do not.
func (c ErrorClass) BreakerFailure() bool {
	switch c {
	case ClassServer, ClassTimeout, ClassConnection, ClassStreamCut, ClassMalformed:
		return true
	}
	return false
}

// UpstreamError is an error answer from an upstream service, or a failure to
// get one. It never contains key material: Key is the key's label.
type UpstreamError struct {
	RequestID         string
	UpstreamRequestID string
	Provider          string
	Endpoint          string
	Key               string
	// Status is the HTTP status, 0 for transport failures.
	Status int
	// Type and Code are the upstream's error type and code, when it sent
	// them (e.g. "rate_limit_error", "insufficient_quota").
	Type, Code string
	Message    string
	Class      ErrorClass
	// RetryAfter is the delay the upstream asked for (Retry-After,
	// retry-after-ms, Gemini RetryInfo), 0 if none.
	RetryAfter time.Duration
	// ShouldRetry overrides the class when the upstream said so
	// (x-should-retry); nil means no opinion.
	ShouldRetry *bool
	// Attempts is the number of attempts made when this error became final.
	Attempts int
	// Cause is the underlying transport or decode error, if any.
	Cause error
}

// Error describes the failure without any secret.
func (e *UpstreamError) Error() string {
	var b strings.Builder
	b.WriteString("switchyard: ")
	b.WriteString(e.Provider)
	if e.Endpoint != "" {
		b.WriteString("/")
		b.WriteString(e.Endpoint)
	}
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	fmt.Fprintf(&b, " (%s)", e.Class)
	if e.Type != "" || e.Code != "" {
		fmt.Fprintf(&b, " %s", strings.Trim(e.Type+"/"+e.Code, "/"))
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.Cause != nil && e.Message == "" {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	if e.Key != "" {
		fmt.Fprintf(&b, " [key %s]", e.Key)
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " after %d attempts", e.Attempts)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " request_id=%s", e.RequestID)
	}
	return b.String()
}

// Is matches ErrUpstream, and context errors for timeouts and cancellations.
func (e *UpstreamError) Is(target error) bool {
	switch target {
	case ErrUpstream:
		return true
	case context.Canceled:
		// A request context that ended by its deadline is ClassCancelled
		// too (not the upstream's failure), but it matches
		// context.DeadlineExceeded (through Cause), not Canceled.
		return e.Class == ClassCancelled && !errors.Is(e.Cause, context.DeadlineExceeded)
	}
	return false
}

// Unwrap returns the cause.
func (e *UpstreamError) Unwrap() error { return e.Cause }

// Retryable reports whether another attempt may succeed: x-should-retry when
// the upstream sent it, the class otherwise.
func (e *UpstreamError) Retryable() bool {
	if e.ShouldRetry != nil {
		return *e.ShouldRetry
	}
	return e.Class.Retryable()
}

// QueueFullError is the immediate answer to a request whose level was full.
type QueueFullError struct {
	RequestID string
	Priority  Priority
	Depth     int
	Capacity  int
}

func (e *QueueFullError) Error() string {
	return fmt.Sprintf("switchyard: queue full: %s level holds %d of %d request_id=%s", e.Priority, e.Depth, e.Capacity, e.RequestID)
}

// Is matches ErrQueueFull.
func (e *QueueFullError) Is(target error) bool { return target == ErrQueueFull }

// CircuitOpenError says every endpoint that could serve the request is OPEN,
// and when the first of them will admit a probe.
type CircuitOpenError struct {
	RequestID string
	Provider  string
	Endpoint  string
	ReopenAt  time.Time
}

func (e *CircuitOpenError) Error() string {
	return fmt.Sprintf("switchyard: circuit open: %s/%s until %s request_id=%s", e.Provider, e.Endpoint, e.ReopenAt.Format(time.RFC3339Nano), e.RequestID)
}

// Is matches ErrCircuitOpen.
func (e *CircuitOpenError) Is(target error) bool { return target == ErrCircuitOpen }

// RateLimitedError says every key is cooling down past the request's
// deadline, and when the first one is usable again.
type RateLimitedError struct {
	RequestID string
	Provider  string
	RetryAt   time.Time
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("switchyard: rate limited: every %s key cools down until %s request_id=%s", e.Provider, e.RetryAt.Format(time.RFC3339Nano), e.RequestID)
}

// Is matches ErrRateLimited.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// AffinityError says a request that names a stored object could not be sent:
// the object belongs to the organisation of the keys that created it, Keys
// (labels) of Endpoint, and every one of them is disabled, or, with
// CoolingUntil set, cooling down past the request's deadline or while the
// provider's affinity does not wait. The request was not sent with another
// organisation's key, which would have answered 404.
type AffinityError struct {
	RequestID string
	Provider  string
	// Object is the stored object's ID (a response or conversation ID).
	Object   string
	Endpoint string
	Keys     []string
	// CoolingUntil is when the first of Keys may be tried again; zero when
	// every one is disabled.
	CoolingUntil time.Time
}

func (e *AffinityError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "switchyard: %s: stored object %s belongs to key(s) %s of endpoint %s", e.Provider, e.Object, strings.Join(e.Keys, ", "), e.Endpoint)
	if e.CoolingUntil.IsZero() {
		b.WriteString(", all disabled")
	} else {
		fmt.Fprintf(&b, ", all cooling down until %s", e.CoolingUntil.Format(time.RFC3339Nano))
	}
	if e.RequestID != "" {
		b.WriteString(" request_id=")
		b.WriteString(e.RequestID)
	}
	return b.String()
}

// Is matches ErrAffinityUnavailable, and ErrRateLimited when the keys are
// cooling down (CoolingUntil set).
func (e *AffinityError) Is(target error) bool {
	return target == ErrAffinityUnavailable || (target == ErrRateLimited && !e.CoolingUntil.IsZero())
}

// RequestError is a Switchyard-side failure of one request: shutdown,
// deadline, cancellation, no usable key, unknown provider, unsupported or
// invalid request, internal error. Kind is the sentinel it matches; Cause the
// underlying error, if any (context.Canceled, context.DeadlineExceeded, …).
type RequestError struct {
	RequestID string
	Provider  string
	Kind      error
	Detail    string
	Cause     error
	// Last is the last upstream error, when attempts were made.
	Last *UpstreamError
}

func (e *RequestError) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	if e.Last != nil {
		b.WriteString("; last attempt: ")
		b.WriteString(strings.TrimPrefix(e.Last.Error(), "switchyard: "))
	} else if e.RequestID != "" {
		b.WriteString(" request_id=")
		b.WriteString(e.RequestID)
	}
	return b.String()
}

// Is matches Kind.
func (e *RequestError) Is(target error) bool { return target == e.Kind }

// Unwrap returns the cause and the last upstream error.
func (e *RequestError) Unwrap() []error {
	var errs []error
	if e.Cause != nil {
		errs = append(errs, e.Cause)
	}
	if e.Last != nil {
		errs = append(errs, e.Last)
	}
	return errs
}

// NumErrorClasses is the number of error classes, for arrays indexed by class.
const NumErrorClasses = int(ClassInternal) + 1

// ForRequest returns err as the error of request id: a copy of the typed
// errors that carry a request ID (UpstreamError, QueueFullError,
// CircuitOpenError, RateLimitedError, AffinityError, RequestError) with id
// in it; any other error as it is. One failed upstream call shared by several requests (a
// batch, a cache's single flight) answers each this way.
func ForRequest(err error, id string) error {
	switch e := err.(type) {
	case *UpstreamError:
		cp := *e
		cp.RequestID = id
		return &cp
	case *QueueFullError:
		cp := *e
		cp.RequestID = id
		return &cp
	case *CircuitOpenError:
		cp := *e
		cp.RequestID = id
		return &cp
	case *RateLimitedError:
		cp := *e
		cp.RequestID = id
		return &cp
	case *AffinityError:
		cp := *e
		cp.RequestID = id
		return &cp
	case *RequestError:
		cp := *e
		cp.RequestID = id
		return &cp
	}
	return err
}
