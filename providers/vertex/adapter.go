// Package vertex speaks Gemini on Google Vertex AI (the aiplatform API):
// generateContent and streamGenerateContent (?alt=sse) for chat, predict or
// embedContent for embeddings, and countTokens, on Google's publisher
// models. It also gets Google OAuth 2 access tokens for them
// (GoogleTokenSource).
//
// The endpoint's base URL names the API version, project and region, as
// Descriptor.BaseURL does:
// "https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}"
// (any path prefix in front, such as a corporate gateway's, is kept). The
// global location and the multi-regions are served from other hosts: give
// their base URL in full, e.g.
// "https://aiplatform.googleapis.com/v1/projects/{project}/locations/global"
// or "https://aiplatform.us.rep.googleapis.com/v1/projects/{project}/locations/us"
// (go-genai client.go).
//
// The adapter appends "/publishers/google/models/{model}:{method}". A model
// is named by its ID ("gemini-2.5-flash") or its resource name
// ("publishers/google/models/gemini-2.5-flash"). "models/{id}", the
// Developer API's form, is refused: on Vertex AI it names a model of the
// project's Model Registry (go-genai sends it to
// ".../locations/{region}/models/{id}"), which this adapter does not
// address.
//
// Chat and token counting are the Gemini Developer API's bodies, answers,
// event streams and google.rpc error bodies, served by package gemini's
// adapter through its Hosting hook: the mapping, decoding, tool call IDs
// and error classification are the same; only the path, the credentials and
// the countTokens body (Vertex's flat CountTokensRequest) differ.
//
// Credentials are OAuth 2 bearer tokens: keys hold a providers.TokenAuth
// over GoogleTokenSource (service account keys, user credentials,
// Application Default Credentials) or any other token source; a key that
// holds a fixed secret sends it as a bearer token. API keys
// (x-goog-api-key, ?key=) are never sent. A quota project other than the
// credential's (X-Goog-User-Project) can be sent as an endpoint header.
//
// The Adapter keeps no state and is safe for concurrent use.
package vertex

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/gemini"
)

// Kind is the kind of backend the adapter speaks.
const Kind = "gemini_vertex"

// Wire constants.
const (
	// DefaultBaseURL is the regional endpoint, with the placeholders the
	// runtime fills from the endpoint's region and project.
	DefaultBaseURL = "https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}"
	// EnvCredentials names the environment variable Google's libraries
	// read a credentials file's path from.
	EnvCredentials = "GOOGLE_APPLICATION_CREDENTIALS"
	// PublisherModels is the collection of Google's models, under the
	// base URL.
	PublisherModels = "publishers/google/models/"

	// Methods, appended to the model resource after a colon.
	MethodGenerate    = "generateContent"
	MethodStream      = "streamGenerateContent"
	MethodCountTokens = "countTokens"
	MethodPredict     = "predict"
	MethodEmbed       = "embedContent"
)

// Adapter implements providers.Adapter for Gemini on Vertex AI. Its zero
// value is ready to use; it holds no state and is safe for concurrent use.
type Adapter struct{}

// New returns a Vertex AI Gemini adapter.
func New() *Adapter { return &Adapter{} }

var _ providers.Adapter = (*Adapter)(nil)

// chat serves chat and token counting: the Gemini adapter on Vertex's
// paths, with bearer tokens.
var chat = gemini.NewHosted(gemini.Hosting{
	Kind:            Kind,
	Resource:        modelResource,
	Path:            methodPath,
	Auth:            providers.BearerAuth,
	FlatCountTokens: true,
})

// Kind returns "gemini_vertex".
func (*Adapter) Kind() string { return Kind }

// Check accepts *messages.ChatRequest and *messages.CountTokensRequest as
// the gemini adapter does (with Vertex's model names), and
// *messages.EmbedRequest with 1..MaxEmbedInputs non-empty inputs, a known
// task type, non-negative dimensions, and neither sparse vectors nor
// Normalize (Truncate becomes autoTruncate). Other request types are
// answered with a *RequestError matching messages.ErrUnsupported, invalid
// requests with one matching messages.ErrInvalidRequest.
func (*Adapter) Check(req messages.Request) error {
	if r, ok := req.(*messages.EmbedRequest); ok {
		if r == nil {
			return providers.RequestError(messages.ErrInvalidRequest, nil, Kind, "nil embed request")
		}
		_, err := buildEmbed(r)
		return err
	}
	return chat.Check(req)
}

// Do performs one attempt of a chat (streamed or not), embedding or token
// count call.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	if r, ok := call.Request.(*messages.EmbedRequest); ok {
		if r == nil {
			return nil, call.Refuse(providers.RequestError(messages.ErrInvalidRequest, nil, Kind, "nil embed request"))
		}
		return a.embed(ctx, call, r)
	}
	return chat.Do(ctx, call)
}

// modelIDPattern matches a publisher model's ID, with its version if any
// ("text-embedding-005", "gemini-2.0-flash-001", "textembedding-gecko@003").
var modelIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)

// modelResource maps a model name to "publishers/google/models/{id}".
func modelResource(model string) (string, error) {
	if model == "" {
		return "", errors.New("model is required")
	}
	id := strings.TrimPrefix(model, PublisherModels)
	if !modelIDPattern.MatchString(id) {
		return "", fmt.Errorf("model %q is not a Google model on Vertex AI (e.g. gemini-2.5-flash or publishers/google/models/gemini-2.5-flash)", model)
	}
	return PublisherModels + id, nil
}

// methodPath is the path of method on resource, under the base URL.
func methodPath(resource, method string) string { return "/" + resource + ":" + method }
