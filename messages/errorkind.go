package messages

import (
	"context"
	"errors"
)

// ErrorKind names a failure in one word for the audit log, metrics and
// traces: the class of the upstream error behind it (for a *RequestError,
// its last attempt's: rate_limited, server, timeout, stream_cut, …), else
// the runtime's kind of refusal (queue_full, circuit_open, rate_limited,
// shutting_down, no_usable_key, unknown_provider, unsupported,
// invalid_request, deadline, retry_budget, affinity_unavailable,
// cancelled, internal); "" for an error that is none of these, which each
// caller names its own way. The runtime's own errors are read without
// allocating. It is safe for concurrent use.
func ErrorKind(err error) string {
	switch e := err.(type) {
	case *UpstreamError:
		if e != nil {
			return e.Class.String()
		}
	case *RequestError:
		if e != nil {
			if e.Last != nil {
				return e.Last.Class.String()
			}
			if e.Cause == nil {
				return refusalKind(e.Kind) // it matches its Kind only
			}
		}
	}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue.Class.String()
	}
	return refusalKind(err)
}

// refusalKind is the name of the runtime's sentinel err matches, "" if none.
func refusalKind(err error) string {
	for _, k := range refusalKinds {
		if errors.Is(err, k.err) {
			return k.name
		}
	}
	return ""
}

var refusalKinds = []struct {
	err  error
	name string
}{
	{ErrQueueFull, "queue_full"}, {ErrCircuitOpen, "circuit_open"}, {ErrRateLimited, "rate_limited"},
	{ErrShuttingDown, "shutting_down"}, {ErrNoUsableKey, "no_usable_key"}, {ErrUnknownProvider, "unknown_provider"},
	{ErrUnsupported, "unsupported"}, {ErrInvalidRequest, "invalid_request"}, {ErrDeadline, "deadline"},
	{ErrRetryBudget, "retry_budget"}, {ErrAffinityUnavailable, "affinity_unavailable"},
	{context.Canceled, "cancelled"}, {context.DeadlineExceeded, "deadline"}, {ErrInternal, "internal"},
}
