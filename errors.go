package switchyard

import "github.com/switchyard-ai/switchyard/messages"

// The errors a call can return; see package messages for their documentation.
// Match them with errors.Is and errors.As.
var (
	ErrQueueFull       = messages.ErrQueueFull
	ErrCircuitOpen     = messages.ErrCircuitOpen
	ErrShuttingDown    = messages.ErrShuttingDown
	ErrNoUsableKey     = messages.ErrNoUsableKey
	ErrRateLimited     = messages.ErrRateLimited
	ErrDeadline        = messages.ErrDeadline
	ErrUnknownProvider = messages.ErrUnknownProvider
	ErrUnsupported     = messages.ErrUnsupported
	ErrInvalidRequest  = messages.ErrInvalidRequest
	ErrUpstream        = messages.ErrUpstream
	ErrRetryBudget     = messages.ErrRetryBudget
	ErrInternal        = messages.ErrInternal
)

// Typed errors, aliased from package messages.
type (
	UpstreamError    = messages.UpstreamError
	QueueFullError   = messages.QueueFullError
	CircuitOpenError = messages.CircuitOpenError
	RateLimitedError = messages.RateLimitedError
	RequestError     = messages.RequestError
)
