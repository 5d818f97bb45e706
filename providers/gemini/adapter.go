// Package gemini speaks the Gemini Developer API (generativelanguage, API
// version v1beta): generateContent and streamGenerateContent (?alt=sse) for
// chat, embedContent and batchEmbedContents for embeddings, and countTokens.
// It maps provider-neutral requests onto the wire format (contents with user
// and model roles, systemInstruction, functionDeclarations, toolConfig,
// generationConfig), decodes answers, event streams and google.rpc error
// bodies, and classifies failures.
//
// The endpoint's base URL is the server root as users configure it,
// "https://generativelanguage.googleapis.com" (DefaultBaseURL); the adapter
// appends "/v1beta/models/{model}:{method}". A model named "gemini-2.5-flash"
// is sent as models/gemini-2.5-flash; names that already start with "models/"
// or "tunedModels/" are used as given. Keys go in the x-goog-api-key header
// (environment variable GEMINI_API_KEY by convention).
//
// Tool call IDs: the Developer API usually sends function calls without an
// id, and Gemini 3 models attach a thoughtSignature to a function call that
// must come back with it in the next request. A ToolCall.ID made by this
// adapter is an opaque token that carries both (see toolids.go); callers echo
// it back unchanged on the assistant turn and on the tool result, as with any
// other provider.
//
// The Adapter keeps no state and is safe for concurrent use.
package gemini

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Wire constants.
const (
	// DefaultBaseURL is the public endpoint, without the API version.
	DefaultBaseURL = "https://generativelanguage.googleapis.com"
	// APIVersion is the version prefix of every path.
	APIVersion = "v1beta"
	// EnvKey is the environment variable Google's SDKs read the key from
	// (they also accept GOOGLE_API_KEY).
	EnvKey = "GEMINI_API_KEY"

	// Methods, appended to the model resource after a colon.
	MethodGenerate      = "generateContent"
	MethodStream        = "streamGenerateContent"
	MethodEmbed         = "embedContent"
	MethodBatchEmbed    = "batchEmbedContents"
	MethodCountTokens   = "countTokens"
	headerAPIKey        = "x-goog-api-key"
	contentTypeSSE      = "text/event-stream"
	maxStopSequences    = 5
	maxTemperature      = 2.0
	maxFunctionNameSize = 64
)

// MaxBatchEmbed is the most inputs one batchEmbedContents request may carry.
const MaxBatchEmbed = 100

// Adapter implements providers.Adapter for the Gemini Developer API, or for
// another hosting of the Gemini API when built with NewHosted. Its zero value
// is ready to use (the Developer API); it holds no state and is safe for
// concurrent use.
type Adapter struct {
	host *Hosting // nil: the Developer API
}

// New returns a Gemini adapter.
func New() *Adapter { return &Adapter{} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns "gemini", or the hosting's kind.
func (a *Adapter) Kind() string { return a.host.kind() }

// Check accepts *messages.ChatRequest, *messages.EmbedRequest and
// *messages.CountTokensRequest that map onto the API: a model name usable in
// a path; at least one user or assistant turn; images with data, a data: URL
// or an http(s)/gs URL whose media type is known; tool results that answer a
// call of an earlier assistant turn; tool names the API accepts; at most 5
// stop sequences; temperature within 0..2 and top_p within 0..1; valid UTF-8
// text and an Extra JSON can encode (providers.CheckRequest); embeddings
// with 1..100 non-empty inputs, a known task type and none of TEI's options.
// Other request types are answered with a *RequestError matching
// messages.ErrUnsupported, invalid requests with one matching
// messages.ErrInvalidRequest. A hosted adapter takes the hosting's model
// names and serves no embeddings.
func (a *Adapter) Check(req messages.Request) error {
	switch r := req.(type) {
	case *messages.ChatRequest:
		if r == nil {
			return requestError(nil, messages.ErrInvalidRequest, "nil chat request")
		}
		_, _, err := buildGenerateOn(a.host, r)
		return err
	case *messages.EmbedRequest:
		if a.host != nil {
			break
		}
		if r == nil {
			return requestError(nil, messages.ErrInvalidRequest, "nil embed request")
		}
		_, err := buildEmbed(r)
		return err
	case *messages.CountTokensRequest:
		if r == nil {
			return requestError(nil, messages.ErrInvalidRequest, "nil count_tokens request")
		}
		_, _, err := buildCountTokensOn(a.host, r)
		return err
	}
	return a.unsupported(req)
}

// Do performs one attempt of a chat (streamed or not), embedding or token
// count call.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	switch r := call.Request.(type) {
	case *messages.ChatRequest:
		if r != nil {
			return a.chat(ctx, call, r)
		}
	case *messages.EmbedRequest:
		if r != nil && a.host == nil {
			return a.embed(ctx, call, r)
		}
	case *messages.CountTokensRequest:
		if r != nil {
			return a.countTokens(ctx, call, r)
		}
	}
	err := a.unsupported(call.Request)
	return nil, call.Refuse(err)
}

// modelName matches the part of a model resource after its collection.
var modelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// modelResource returns "models/{m}" (or the tunedModels/… name as given),
// or an error when the name cannot be put in a path.
func modelResource(req messages.Request, model string) (string, error) {
	m := strings.TrimSpace(model)
	if m == "" {
		return "", requestError(req, messages.ErrInvalidRequest, "model is required")
	}
	coll, name, found := strings.Cut(m, "/")
	if !found {
		coll, name = "models", m
	}
	if (coll != "models" && coll != "tunedModels") || !modelName.MatchString(name) {
		return "", requestError(req, messages.ErrInvalidRequest, "model %q is not a Gemini model name (e.g. gemini-2.5-flash or models/gemini-2.5-flash)", model)
	}
	return coll + "/" + name, nil
}

// methodPath is the path of method on the model resource.
func methodPath(resource, method string) string {
	return "/" + APIVersion + "/" + resource + ":" + method
}

// exchange describes a POST of body to the model's method on hosting h, with
// the key in x-goog-api-key (on a hosting, as it says) and google.rpc error
// decoding. The decoded message is scrubbed of the call's key (Google quotes
// "api_key:…" consumers back).
func exchange(h *Hosting, call *providers.Call, resource, method string, body any, stream bool) *providers.Exchange {
	ex := &providers.Exchange{
		Method: http.MethodPost,
		Path:   h.path(resource, method),
		Body:   body,
		Auth:   h.auth(),
		DecodeError: func(status int, h http.Header, b []byte, e *messages.UpstreamError) {
			decodeError(status, h, b, e)
			e.Message = scrubKey(e.Message, call.Key.Secret())
		},
	}
	if stream {
		ex.Query = url.Values{"alt": {"sse"}}
		ex.Accept = contentTypeSSE
	}
	return ex
}

// fillError completes an UpstreamError decoded from a body or a stream with
// the call's identity.
func fillError(call *providers.Call, e *messages.UpstreamError, status int) {
	e.RequestID = call.RequestID
	if e.UpstreamRequestID == "" {
		e.UpstreamRequestID = call.Result.UpstreamRequestID
	}
	e.Provider, e.Endpoint, e.Key = call.Provider, call.Endpoint, call.Key.Label()
	if e.Status == 0 {
		e.Status = status
	}
	e.Message = scrubKey(e.Message, call.Key.Secret())
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
	return requestError(req, messages.ErrUnsupported, "%s does not serve the %q operation", a.host.kind(), op)
}
