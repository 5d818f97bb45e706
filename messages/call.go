package messages

import (
	"context"
	"errors"
	"time"
)

// Call holds the routing fields every request shares. Embed it in a request
// type; none of these fields is ever sent to the upstream service.
type Call struct {
	// RequestID identifies the request end to end: it is sent upstream as
	// X-Request-ID on every attempt and comes back in the response, errors and
	// events. Empty means Switchyard assigns a UUIDv7.
	RequestID string
	// Provider names the configured provider instance to use, e.g. "openai".
	Provider string
	// Priority is the queue level; the zero value is Normal.
	Priority Priority
	// Deadline bounds queueing, retries and the upstream call. Zero means the
	// caller's context deadline, if any, alone.
	Deadline time.Time
	// Timeout bounds the request relative to its admission, measured on the
	// runtime's clock (Config.Clock): the request's deadline is the earlier
	// of Deadline and admission + Timeout. Zero means none.
	Timeout time.Duration
	// Key pins the request to the key with this label. Empty lets the
	// provider's strategy choose.
	Key string
	// Endpoint pins the request to the endpoint with this name.
	Endpoint string
	// NoCache bypasses the cache for this request.
	NoCache bool
	// CacheSampled opts this request into the cache even though its answer
	// may vary: sampling with a temperature above 0 or unset (the
	// provider's default), and answers carrying tool calls.
	CacheSampled bool
	// Principal is who sends the request (a user or service identity) and
	// Tenant whom it is sent for (a team, a customer). Both go into the
	// audit log; Tenant also scopes the cache, so one tenant is never
	// answered with an answer stored for another (see
	// CacheConfig.TenantScope). Empty means none.
	Principal, Tenant string
	// TraceParent and TraceState are the caller's W3C trace context (the
	// values of the traceparent and tracestate headers, e.g.
	// "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), for
	// requests sent as actor messages, which carry no context.Context: with
	// tracing on (Config.Tracing), the request's span continues that trace.
	// The Go API continues the span in its ctx and reads these only when
	// ctx carries none. They are never sent upstream as they are: each
	// attempt sends its own span's traceparent. Empty means none; an invalid
	// value is ignored.
	TraceParent, TraceState string
}

// CallInfo returns the Call itself; it lets every request type satisfy Request.
func (c *Call) CallInfo() *Call { return c }

// Request is any request the dispatcher accepts.
type Request interface {
	CallInfo() *Call
	// Operation names the operation, e.g. "chat" or "embed"; it selects the
	// adapter method and labels counters.
	Operation() string
}

// StreamingRequest is a Request that may ask for a streamed answer.
type StreamingRequest interface {
	Request
	Streaming() bool
}

// Meta describes how a response was produced. Every response embeds it.
type Meta struct {
	// RequestID is the request's ID, the caller's or the one assigned.
	RequestID string
	// UpstreamRequestID is the ID the upstream service gave the last attempt
	// (x-request-id, request-id, …), empty if it sent none.
	UpstreamRequestID string
	// Provider, Endpoint and Key name where the answer came from; Key is the
	// key's label, never the secret.
	Provider, Endpoint, Key string
	// Attempts counts upstream attempts, 1 when the first one succeeded.
	Attempts int
	// Queued is the time spent waiting in the dispatcher's queue; Latency the
	// time from admission to answer.
	Queued, Latency time.Duration
	// Cached reports a cache hit; Similarity is 1 for an exact hit and the
	// cosine similarity for a semantic one.
	Cached     bool
	Similarity float64
	// BatchID is the request ID of the upstream call this request shared
	// with BatchSize-1 others (the X-Request-ID that call carried); empty
	// when the request was sent on its own.
	BatchID   string
	BatchSize int
}

// ResponseMeta returns m; it lets every response type satisfy Response.
func (m *Meta) ResponseMeta() *Meta { return m }

// Response is any successful answer.
type Response interface {
	ResponseMeta() *Meta
}

// Usage counts tokens as the upstream reported them.
type Usage struct {
	InputTokens  int `json:"input_tokens"`
	OutputTokens int `json:"output_tokens"`
	// CacheReadTokens and CacheWriteTokens are the provider's prompt-cache
	// counts where it reports them (already included in InputTokens).
	CacheReadTokens  int `json:"cache_read_tokens,omitempty"`
	CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
}

// Total returns input plus output tokens.
func (u Usage) Total() int { return u.InputTokens + u.OutputTokens }

// Failure is the terminal answer to a request that did not succeed. Err is a
// typed error from this package (use errors.Is / errors.As).
type Failure struct {
	RequestID string
	Err       error
}

// Cancel asks the dispatcher to stop the request with this ID: a queued
// request is removed, an in-flight call is aborted, a pending retry is
// dropped. The request is answered with a *Failure wrapping context.Canceled,
// or, when Deadline is set, ErrDeadline and context.DeadlineExceeded.
type Cancel struct {
	RequestID string
	// Deadline says the caller gave up because its deadline passed.
	Deadline bool
}

// CancelFor is the Cancel a caller sends when ctx ended: it carries whether
// the context's deadline passed, so the answer says ErrDeadline.
func CancelFor(id string, err error) *Cancel {
	return &Cancel{RequestID: id, Deadline: errors.Is(err, context.DeadlineExceeded)}
}

// ModelOf is the model req names, "" for a request that names none (or a
// nil one). It is safe for concurrent use.
func ModelOf(req Request) string {
	switch r := req.(type) {
	case *ChatRequest:
		if r != nil {
			return r.Model
		}
	case *EmbedRequest:
		if r != nil {
			return r.Model
		}
	case *GenerateRequest:
		if r != nil {
			return r.Model
		}
	case *RerankRequest:
		if r != nil {
			return r.Model
		}
	case *InferRequest:
		if r != nil {
			return r.Model
		}
	case *TokenizeRequest:
		if r != nil {
			return r.Model
		}
	case *InfoRequest:
		if r != nil {
			return r.Model
		}
	case *ResponsesRequest:
		if r != nil {
			return r.Model
		}
	case *CountTokensRequest:
		if r != nil {
			return r.Chat.Model
		}
	case *ResponsesInputTokensRequest:
		if r != nil {
			return r.Responses.Model
		}
	}
	return ""
}

// UsageOf is the token usage resp reports, zero for an answer that reports
// none (or a nil one).
func UsageOf(resp Response) Usage {
	switch r := resp.(type) {
	case *ChatResponse:
		if r != nil {
			return r.Usage
		}
	case *EmbedResponse:
		if r != nil {
			return r.Usage
		}
	case *GenerateResponse:
		if r != nil {
			return r.Usage
		}
	case *RerankResponse:
		if r != nil {
			return r.Usage
		}
	case *ResponsesResponse:
		if r != nil {
			return r.Usage
		}
	}
	return Usage{}
}
