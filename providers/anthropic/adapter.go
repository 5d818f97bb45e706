// Package anthropic speaks Anthropic's Messages API (POST /v1/messages and
// /v1/messages/count_tokens): it maps provider-neutral chat requests onto the
// wire format, decodes answers, event streams and error bodies, and reads
// Anthropic's rate-limit headers. NewHosted adapts the same API as a cloud
// serves it (Hosting: Claude on Amazon Bedrock, on Google Vertex AI).
//
// The Adapter is stateless and safe for concurrent use.
package anthropic

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Wire constants.
const (
	// DefaultBaseURL is the endpoint base URL of the public API, without a
	// version; the adapter appends /v1/messages and /v1/messages/count_tokens.
	DefaultBaseURL = "https://api.anthropic.com"
	// APIVersion is the anthropic-version header sent on every request unless
	// the endpoint's configured headers set one.
	APIVersion = "2023-06-01"
	// DefaultMaxTokens is the max_tokens sent when ChatRequest.MaxTokens is 0
	// (the API requires the field).
	DefaultMaxTokens = 1024

	// PathMessages and PathCountTokens are appended to the base URL.
	PathMessages    = "/v1/messages"
	PathCountTokens = "/v1/messages/count_tokens"

	headerVersion = "anthropic-version"
	headerAPIKey  = "x-api-key"
	headerBeta    = "anthropic-beta"
	// headerRequestID is Anthropic's own request ID, req_…; Client.Send
	// captures it (providers.UpstreamRequestID prefers it), decodeError
	// takes it from error answers, with the body's request_id as fallback.
	headerRequestID = "request-id"
)

// Adapter implements providers.Adapter for Anthropic, or for a cloud's
// hosting of the Messages API (NewHosted). Its zero value is the Anthropic
// adapter, ready to use; it holds no state and is safe for concurrent use.
type Adapter struct {
	h *Hosting // nil: Anthropic's own API
}

// New returns an Anthropic adapter.
func New() *Adapter { return &Adapter{} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns "anthropic", or the Hosting's Kind.
func (a *Adapter) Kind() string {
	if a.h != nil {
		return a.h.Kind
	}
	return "anthropic"
}

// Check accepts *messages.ChatRequest and *messages.CountTokensRequest whose
// model is set and whose conversation maps onto the Messages API (at least one
// user or assistant turn, valid tool call arguments and schemas, images with
// data or a URL, valid UTF-8 text, finite temperature and top_p, stop
// sequences with a non-whitespace character, an Extra JSON can encode). Other request types are answered with a *RequestError
// matching messages.ErrUnsupported, invalid requests with one matching
// messages.ErrInvalidRequest. A hosting without CountTokensPath does not
// serve count_tokens.
func (a *Adapter) Check(req messages.Request) error {
	switch r := req.(type) {
	case *messages.ChatRequest:
		if r == nil {
			return requestError(nil, messages.ErrInvalidRequest, "nil chat request")
		}
		_, err := buildChatBody(r)
		return err
	case *messages.CountTokensRequest:
		if a.h != nil && a.h.CountTokensPath == nil {
			return a.unsupported(req)
		}
		if r == nil {
			return requestError(nil, messages.ErrInvalidRequest, "nil count_tokens request")
		}
		_, err := buildCountTokensBody(r)
		return err
	}
	return a.unsupported(req)
}

// Do performs one attempt of a chat (streamed or not) or count_tokens call.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	switch r := call.Request.(type) {
	case *messages.ChatRequest:
		if r != nil {
			return a.chat(ctx, call, r)
		}
	case *messages.CountTokensRequest:
		if r != nil && (a.h == nil || a.h.CountTokensPath != nil) {
			return a.countTokens(ctx, call, r)
		}
	}
	err := a.unsupported(call.Request)
	return nil, call.Refuse(err)
}

// exchange describes a POST of body to path with Anthropic's headers, error
// decoding and rate-limit parsing, or with the hosting's credentials,
// error decoding and request ID. The anthropic-version header goes on
// hosted requests too, as Anthropic's SDKs send it there.
func (a *Adapter) exchange(call *providers.Call, path string, body any) *providers.Exchange {
	h := http.Header{}
	if !hasHeader(call.Headers, headerVersion) {
		h.Set(headerVersion, APIVersion)
	}
	ex := &providers.Exchange{
		Method: http.MethodPost,
		Path:   path,
		Body:   body,
		Auth:   providers.HeaderAuth(headerAPIKey),
		Header: h,
		DecodeError: func(status int, h http.Header, b []byte, e *messages.UpstreamError) {
			decodeError(status, h, b, e)
			call.Result.UpstreamRequestID = e.UpstreamRequestID
		},
		RateLimit: providers.AnthropicRateLimit,
	}
	if a.h == nil {
		return ex
	}
	hs := a.h
	ex.Auth, ex.RateLimit, ex.CredentialRefused = hs.Auth, nil, hs.CredentialRefused
	if hs.BetaInBody {
		// The values went into the body; a nil entry overrides the
		// endpoint's header, so none is written.
		h[http.CanonicalHeaderKey(headerBeta)] = nil
	}
	decode := hs.DecodeError
	if decode == nil {
		decode = decodeError
	}
	ex.DecodeError = func(status int, h http.Header, b []byte, e *messages.UpstreamError) {
		if hs.RequestIDHeader != "" {
			if rid := strings.TrimSpace(h.Get(hs.RequestIDHeader)); rid != "" {
				e.UpstreamRequestID = rid
			}
		}
		decode(status, h, b, e)
		call.Result.UpstreamRequestID = e.UpstreamRequestID
	}
	return ex
}

// send performs ex for call: Client.Send, after refusing a hosted call
// whose key the hosting cannot put on a request, and taking the hosting's
// own request ID from a 2xx answer.
func (a *Adapter) send(ctx context.Context, call *providers.Call, c *providers.Client, ex *providers.Exchange) (*http.Response, error) {
	if a.h != nil && ex.Auth == nil && call.Key.Authenticator() == nil {
		return nil, call.Fail(messages.ClassAuth, 0, fmt.Sprintf("%s needs a key with a credential (a signer or a token source), not a fixed secret", a.h.Kind), nil)
	}
	resp, err := c.Send(ctx, call, ex)
	if err != nil {
		return nil, err
	}
	if a.h != nil && a.h.RequestIDHeader != "" {
		if rid := strings.TrimSpace(resp.Header.Get(a.h.RequestIDHeader)); rid != "" {
			call.Result.UpstreamRequestID = rid
		}
	}
	return resp, nil
}

// hasHeader reports whether hs sets name, compared case-insensitively.
func hasHeader(hs map[string]string, name string) bool {
	for k := range hs {
		if strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// requestError builds the Check/Do error for req.
func requestError(req messages.Request, kind error, format string, args ...any) *messages.RequestError {
	return providers.RequestError(kind, providers.CallInfo(req), "", fmt.Sprintf(format, args...))
}

func (a *Adapter) unsupported(req messages.Request) *messages.RequestError {
	op := "<nil>"
	if req != nil {
		op = req.Operation()
	}
	return requestError(req, messages.ErrUnsupported, "%s does not serve the %q operation", a.Kind(), op)
}
