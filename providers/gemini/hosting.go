package gemini

import (
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Hosting describes another service that serves the Gemini API's
// generateContent, streamGenerateContent (?alt=sse) and countTokens with the
// same bodies, answers, event streams and google.rpc error bodies: Gemini on
// Google Vertex AI. An Adapter built with NewHosted maps, decodes and
// classifies exactly as the Developer API adapter does, but names and
// addresses models, authorises requests and shapes count-tokens bodies as
// the Hosting says. Embeddings are not served by a hosted Adapter (their
// wire form differs between hostings); the hosting's own adapter serves
// them.
//
// A Hosting is plain data; set every field before NewHosted and do not
// change it afterwards. Its functions must be safe for concurrent use.
type Hosting struct {
	// Kind is the hosted adapter's Kind and the name used in its error
	// texts, e.g. "gemini_vertex". Required.
	Kind string
	// Resource maps a request's model name (trimmed of spaces) to the
	// model's resource name, e.g. "gemini-2.5-flash" to
	// "publishers/google/models/gemini-2.5-flash", or returns an error whose
	// text tells the caller what names are accepted (the request is refused
	// with it as an invalid request). Required.
	Resource func(model string) (resource string, err error)
	// Path returns the path of method ("generateContent",
	// "streamGenerateContent", "countTokens") on resource, appended to the
	// endpoint's base URL. Required.
	Path func(resource, method string) string
	// Auth puts a fixed secret on a request, for keys that hold one (a
	// static access token); a key with an Authenticator is authorised by
	// Client.Send instead. Nil sends no fixed secret.
	Auth providers.Authorizer
	// FlatCountTokens sends countTokens bodies with contents,
	// systemInstruction and tools at the top level (Vertex AI's
	// CountTokensRequest) instead of the Developer API's
	// {"contents"} / {"generateContentRequest": …} forms; a tool config is
	// not sent (the hosting does not take one there).
	FlatCountTokens bool
}

// NewHosted returns an adapter for the Gemini API as served by h. The
// adapter holds no state besides h and is safe for concurrent use.
func NewHosted(h Hosting) *Adapter { return &Adapter{host: &h} }

// DecodeError refines e from a google.rpc error answer as the adapter does
// for its own requests (see decodeError): for a hosting's adapter decoding
// the answers of requests it makes itself, e.g. as providers.Exchange's
// DecodeError. It never panics, whatever the body; h may be nil.
func DecodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	decodeError(status, h, body, e)
}

// The methods below read a *Hosting that may be nil: nil is the Gemini
// Developer API.

// kind is the adapter's kind.
func (h *Hosting) kind() string {
	if h == nil {
		return "gemini"
	}
	return h.Kind
}

// resource returns the resource of req's model, or the request error.
func (h *Hosting) resource(req messages.Request, model string) (string, error) {
	if h == nil {
		return modelResource(req, model)
	}
	res, err := h.Resource(strings.TrimSpace(model))
	if err != nil {
		return "", requestError(req, messages.ErrInvalidRequest, "%s", err.Error())
	}
	return res, nil
}

// path is the path of method on resource.
func (h *Hosting) path(resource, method string) string {
	if h == nil {
		return methodPath(resource, method)
	}
	return h.Path(resource, method)
}

// auth is how a fixed secret goes on a request.
func (h *Hosting) auth() providers.Authorizer {
	if h == nil {
		return providers.HeaderAuth(headerAPIKey)
	}
	return h.Auth
}

// modelID is the model's name in a response that names none: the resource
// without "models/" on the Developer API, its last segment on a hosting.
func (h *Hosting) modelID(resource string) string {
	if h == nil {
		return strings.TrimPrefix(resource, "models/")
	}
	return resource[strings.LastIndexByte(resource, '/')+1:]
}
