package providers

import (
	"context"
	"net/http"

	"github.com/switchyard-ai/switchyard/messages"
)

// Adapter speaks one backend's wire protocol. Implementations are stateless or
// otherwise safe for concurrent use.
type Adapter interface {
	// Kind names the protocol, e.g. "openai" or "anthropic".
	Kind() string
	// Check reports, before anything is queued, whether the adapter can serve
	// req; the error matches messages.ErrUnsupported or ErrInvalidRequest.
	Check(req messages.Request) error
	// Do performs one attempt of call and returns its response, or an error
	// that is a *messages.UpstreamError (use Client to get one). It fills
	// call.Result as it learns things (status, upstream ID, rate limits,
	// usage), also when it fails.
	Do(ctx context.Context, call *Call) (messages.Response, error)
}

// Call is one attempt against one endpoint with one key.
type Call struct {
	Request   messages.Request
	RequestID string
	Attempt   int
	Provider  string
	Endpoint  string
	BaseURL   string
	// Headers are extra headers configured for the endpoint.
	Headers map[string]string
	Key     Credential
	// Emit delivers a stream chunk to the caller; it returns false when the
	// caller is gone, and the adapter should stop reading. Nil for calls
	// that do not stream.
	Emit func(*messages.StreamChunk) bool
	// Client is the shared HTTP machinery.
	Client *Client
	// CancelAttempt, when set, cancels the ctx this attempt runs under and
	// nothing beyond it (the runtime derives one context per attempt).
	// Send then arms its header timeout on it instead of deriving a
	// context of its own for every request: a request whose headers do not
	// come in time ends the whole attempt, which fails with ClassTimeout.
	// Nil when ctx may outlive the attempt; Send derives one per request.
	CancelAttempt context.CancelFunc
	// Result is filled by the adapter.
	Result CallResult
}

// CallResult is what one attempt learned, success or not.
type CallResult struct {
	Status            int
	UpstreamRequestID string
	RateLimit         messages.RateLimit
	Usage             messages.Usage
	// ChunksSent counts chunks that reached the caller; a stream that has
	// sent any is never retried.
	ChunksSent int
	// BytesIn and BytesOut count body bytes received from and sent to the
	// upstream (object transfers; zero for adapters that do not count).
	BytesIn, BytesOut int64
}

// Authorizer puts a key on a request the way a backend wants it.
type Authorizer func(h http.Header, secret string)

// BearerAuth sets "Authorization: Bearer <secret>".
func BearerAuth(h http.Header, secret string) {
	if secret != "" {
		h.Set("Authorization", "Bearer "+secret)
	}
}

// HeaderAuth returns an Authorizer that puts the secret in header name.
func HeaderAuth(name string) Authorizer {
	return func(h http.Header, secret string) {
		if secret != "" {
			h.Set(name, secret)
		}
	}
}
