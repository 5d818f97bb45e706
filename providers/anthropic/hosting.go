package anthropic

import (
	"io"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Hosting describes how a cloud serves the Messages API under its own
// paths, body conventions, credentials, error format and stream framing:
// Claude on Amazon Bedrock (package bedrock), on Google Vertex AI (package
// vertexanthropic). NewHosted builds an Adapter for one. The request and
// answer bodies are the Messages API's; only what is listed here differs.
//
// A Hosting is plain data; it must not change once NewHosted has it. Its
// functions must be safe for concurrent use.
type Hosting struct {
	// Kind is the adapter's Kind, e.g. "anthropic_bedrock". Required.
	Kind string
	// Version is the anthropic_version member added to every body that has
	// none (a request's Extra may set another), e.g. "bedrock-2023-05-31".
	// A chat body then carries no model member: the path names the model.
	// Required.
	Version string
	// ChatPath returns the path, appended to the endpoint's base URL (which
	// may carry a path prefix of its own), of a chat with model; stream
	// tells a streamed one. Required.
	ChatPath func(model string, stream bool) string
	// KeepStream keeps "stream": true in a streamed chat's body (Vertex).
	// When false the member is dropped and ChatPath alone says that the
	// chat streams (Bedrock).
	KeepStream bool
	// BetaInBody moves an anthropic-beta header among the endpoint's
	// headers into the body's anthropic_beta list, one entry per
	// comma-separated value, and sends no such header (Bedrock).
	BetaInBody bool
	// CountTokensPath returns the path of a count_tokens call for model.
	// Nil: the hosting does not count tokens, and Check answers a
	// count_tokens request with messages.ErrUnsupported.
	CountTokensPath func(model string) string
	// CountTokensBody returns the body of a count_tokens call, given the
	// chat body this hosting would send for the same conversation (invoke:
	// no model, no stream) and the Messages count_tokens body with its
	// model and anthropic_version (count). Nil sends count (Vertex). An
	// error refuses the request before anything is sent.
	CountTokensBody func(invoke, count map[string]any) (any, error)
	// CountTokensField is the member of a count_tokens answer holding the
	// count; empty means "input_tokens".
	CountTokensField string
	// Auth puts a key's fixed secret on a request (an API key). Nil: the
	// hosting's keys are Authenticators only (signers, token sources), and
	// a call whose key holds a fixed secret fails as ClassAuth without
	// being sent.
	Auth providers.Authorizer
	// DecodeError refines the error of an error answer (see
	// providers.Exchange.DecodeError); nil is the Messages API's,
	// DecodeError.
	DecodeError func(status int, h http.Header, body []byte, e *messages.UpstreamError)
	// RequestIDHeader names the response header that holds the cloud's
	// own request ID (e.g. "X-Amzn-Requestid"); when an answer has it, it
	// wins over the headers providers.UpstreamRequestID reads. Empty: none.
	RequestIDHeader string
	// Events reads the body of a streamed chat as Messages events; nil
	// reads server-sent events (providers.NewSSEReader).
	Events func(r io.Reader) EventReader
	// CredentialRefused names the answers that refuse a credential that
	// can be renewed (see providers.Exchange.CredentialRefused); nil: 401.
	CredentialRefused func(status int, h http.Header) bool
}

// EventReader yields the events of a streamed Messages answer one at a
// time: the event's name (may be empty: its data's "type" then names it)
// and its JSON data. NextInStream returns io.ErrUnexpectedEOF when the body
// ends, a *messages.UpstreamError for a failure the stream itself reports
// or a frame that cannot be read, or the reader's error.
// *providers.SSEReader is one. An EventReader is used by one goroutine.
type EventReader interface {
	NextInStream() (providers.SSEEvent, error)
}

// NewHosted returns an adapter that speaks the Messages API as h
// describes. It panics when h lacks Kind, Version or ChatPath (a
// programming error). The adapter is safe for concurrent use.
func NewHosted(h Hosting) *Adapter {
	if h.Kind == "" || h.Version == "" || h.ChatPath == nil {
		panic("anthropic.NewHosted: Hosting needs Kind, Version and ChatPath")
	}
	return &Adapter{h: &h}
}

// DecodeError is the Messages API's error decoder, for hostings that pass
// Anthropic's error bodies through: Anthropic's request-id (header, then
// body), error.type as Type, error.details.error_code as Code, the message,
// and the class. It never panics, whatever the body; h may be nil. It is
// safe for concurrent use.
func DecodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	decodeError(status, h, body, e)
}

// hostBody turns a Messages body into the hosting's: anthropic_version
// added when absent, the model dropped unless keepModel, stream dropped
// unless KeepStream, anthropic-beta moved into the body when BetaInBody.
func (h *Hosting) hostBody(call *providers.Call, body map[string]any, keepModel bool) {
	if _, ok := body["anthropic_version"]; !ok {
		body["anthropic_version"] = h.Version
	}
	if !keepModel {
		delete(body, "model")
	}
	if !h.KeepStream {
		delete(body, "stream")
	}
	if h.BetaInBody {
		if betas := splitBetas(headerValue(call.Headers, headerBeta)); len(betas) > 0 {
			body["anthropic_beta"] = betas
		}
	}
}

// splitBetas splits an anthropic-beta value at its commas, trimmed, without
// empty entries.
func splitBetas(v string) []string {
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// headerValue returns the value hs gives name, compared case-insensitively.
func headerValue(hs map[string]string, name string) string {
	for k, v := range hs {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// countField is the member of a count_tokens answer holding the count.
func (h *Hosting) countField() string {
	if h == nil || h.CountTokensField == "" {
		return "input_tokens"
	}
	return h.CountTokensField
}
