package openai

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Operation names a Dialect can list in Operations; they are the values of
// messages.Request.Operation().
const (
	OpChat      = "chat"      // *messages.ChatRequest → POST {prefix}/chat/completions
	OpEmbed     = "embed"     // *messages.EmbedRequest → POST {prefix}/embeddings
	OpGenerate  = "generate"  // *messages.GenerateRequest → POST {prefix}/completions
	OpModels    = "models"    // *messages.ModelsRequest → GET {prefix}/models
	OpResponses = "responses" // *messages.ResponsesRequest → POST {prefix}/responses
)

// The stateful operations: a stored response's lifecycle and the
// Conversations API (OpenAI's successors of the Assistants API). Only plain
// OpenAI serves them; another dialect must list them in Operations.
const (
	OpResponseRetrieve   = "responses.retrieve"     // GET {prefix}/responses/{id}[?stream=true&starting_after=N]
	OpResponseCancel     = "responses.cancel"       // POST {prefix}/responses/{id}/cancel
	OpResponseDelete     = "responses.delete"       // DELETE {prefix}/responses/{id}
	OpResponseInputItems = "responses.input_items"  // GET {prefix}/responses/{id}/input_items
	OpInputTokens        = "responses.input_tokens" // POST {prefix}/responses/input_tokens

	OpConversationCreate       = "conversations.create"        // POST {prefix}/conversations
	OpConversationRetrieve     = "conversations.retrieve"      // GET {prefix}/conversations/{id}
	OpConversationUpdate       = "conversations.update"        // POST {prefix}/conversations/{id}
	OpConversationDelete       = "conversations.delete"        // DELETE {prefix}/conversations/{id}
	OpConversationAddItems     = "conversations.add_items"     // POST {prefix}/conversations/{id}/items
	OpConversationListItems    = "conversations.list_items"    // GET {prefix}/conversations/{id}/items
	OpConversationRetrieveItem = "conversations.retrieve_item" // GET {prefix}/conversations/{id}/items/{item}
	OpConversationDeleteItem   = "conversations.delete_item"   // DELETE {prefix}/conversations/{id}/items/{item}
)

// StatefulOperations returns the stateful operations, for a dialect that
// serves them to add to its Operations.
func StatefulOperations() []string { return slices.Clone(statefulOperations) }

var statefulOperations = []string{
	OpResponseRetrieve, OpResponseCancel, OpResponseDelete, OpResponseInputItems, OpInputTokens,
	OpConversationCreate, OpConversationRetrieve, OpConversationUpdate, OpConversationDelete,
	OpConversationAddItems, OpConversationListItems, OpConversationRetrieveItem, OpConversationDeleteItem,
}

// PathCompletions and PathModels are the paths of the legacy completions API
// and the model list, appended like PathChat.
const (
	PathCompletions = "/completions"
	PathModels      = "/models"
)

// Dialect describes an OpenAI-compatible server: what it calls itself, where
// its routes live, which operations it serves, and where it departs from
// OpenAI. NewDialect turns it into an Adapter that shares every request
// builder, decoder and error classifier of this package; nothing is copied.
//
// Every field is optional: the zero Dialect is plain OpenAI (Kind "openai";
// chat, embed, responses, completions, models and the stateful
// operations). Hooks are called from many goroutines
// at once and must be safe for concurrent use; they must not keep the slices
// and maps they are given.
//
// Example: a self-hosted server with its OpenAI routes under /v3, no
// Responses API, max_tokens instead of max_completion_tokens, and its own
// finish reason:
//
//	var ovms = openai.NewDialect(openai.Dialect{
//		Kind:           "ovms",
//		Prefix:         "/v3",
//		Operations:     []string{openai.OpChat, openai.OpGenerate, openai.OpEmbed},
//		MaxTokensField: "max_tokens",
//		Finish: func(raw string) string {
//			if raw == "eos_token" {
//				return messages.FinishStop
//			}
//			return openai.NormalizeFinish(raw)
//		},
//	})
//
// The endpoint's BaseURL is then the server root ("http://localhost:8000"),
// and a chat request goes to http://localhost:8000/v3/chat/completions. A
// BaseURL that already ends in the prefix ("http://localhost:8000/v3") works
// too: the prefix is not added twice.
type Dialect struct {
	// Kind is the adapter's Kind() and names the backend in validation
	// errors, e.g. "groq". Empty means "openai".
	Kind string
	// Prefix is put between the endpoint's BaseURL and each operation's
	// path, e.g. "/v1" for vLLM whose BaseURL is the server root. It is not
	// added when BaseURL already ends in it. Empty means the BaseURL already
	// includes the version, as OpenAI's "https://api.openai.com/v1" does.
	Prefix string
	// Operations lists the operations served (OpChat, OpEmbed, OpGenerate,
	// OpModels, OpResponses, and the stateful ones: StatefulOperations).
	// Check rejects any other with messages.ErrUnsupported. Nil means chat,
	// embed, responses, generate (completions) and models, plus the
	// stateful operations when Kind is "openai" (or empty).
	Operations []string
	// Paths overrides the path of an operation, relative to Prefix, e.g.
	// {OpEmbed: "/embed"}. Missing operations use the OpenAI path.
	Paths map[string]string
	// Auth puts the key on a request. Nil means "Authorization: Bearer
	// <key>", sent only when the key is not empty, so a server run without
	// authentication needs no key.
	Auth providers.Authorizer
	// RateLimit reads rate-limit response headers. Nil means
	// providers.OpenAIRateLimit (x-ratelimit-*).
	RateLimit func(h http.Header, now time.Time) messages.RateLimit
	// MaxTokensField names the chat body field that carries
	// ChatRequest.MaxTokens: "max_tokens" for servers that predate
	// max_completion_tokens (TGI); anything else means
	// "max_completion_tokens". Completions always use "max_tokens".
	MaxTokensField string
	// NoStreamOptions leaves out stream_options {"include_usage": true} from
	// streamed requests, for servers that reject it. Stream usage then comes
	// from a top-level "usage" the server sends anyway, or from StreamChunk.
	NoStreamOptions bool
	// MaxEmbedInputs is the most inputs one embeddings request may carry.
	// Zero means OpenAI's MaxEmbedInputs (2048); negative means no limit.
	MaxEmbedInputs int

	// Body edits every request body after the adapter built it and merged
	// the request's Extra: add, rename or delete fields. Numbers in body are
	// json.Number. Nil leaves bodies as built.
	Body func(req messages.Request, body map[string]any)
	// Check runs after the adapter's own validation of a request this
	// dialect serves, and may reject it: return a *messages.RequestError
	// (see Invalid). Nil accepts everything the adapter accepts.
	Check func(req messages.Request) error
	// StreamChunk inspects the raw JSON of each chat or completions stream
	// chunk. It returns usage found outside the OpenAI "usage" field (which
	// then wins over it), and an error object found outside the OpenAI
	// "error" field, decoded like one ({"message","type","code"} or a
	// string). Nil finds neither. Example: Groq's x_groq.usage.
	StreamChunk func(data []byte) (usage *messages.Usage, errObj json.RawMessage)
	// Finish normalises a raw finish reason to one of the messages.Finish*
	// constants. Nil means NormalizeFinish.
	Finish func(raw string) string
	// DecodeError refines an error answer after the OpenAI decoder
	// (DecodeError) has read it: e.g. make a vendor status retryable. Nil
	// keeps the OpenAI classification.
	DecodeError func(status int, h http.Header, body []byte, e *messages.UpstreamError)
	// Model refines one entry of a /models answer: raw is the JSON object,
	// m already holds ID, OwnedBy, Created, ContextWindow (from
	// "context_window" or "max_model_len") and Details (the other fields).
	// Nil keeps that.
	Model func(raw map[string]json.RawMessage, m *messages.ModelInfo)
	// Hosting places requests on a service that hosts the OpenAI API under
	// URLs of its own, per request (Azure OpenAI's deployments): see
	// Hosting. Nil: Prefix and Paths place them.
	Hosting *Hosting
}

// defaultOperations are the operations of a dialect that lists none;
// plainOperations those of plain OpenAI.
var (
	defaultOperations = []string{OpChat, OpEmbed, OpResponses, OpGenerate, OpModels}
	plainOperations   = slices.Concat(defaultOperations, statefulOperations)
)

var defaultPaths = map[string]string{
	OpChat:      PathChat,
	OpEmbed:     PathEmbeddings,
	OpGenerate:  PathCompletions,
	OpModels:    PathModels,
	OpResponses: PathResponses,
}

// NewDialect returns an Adapter that speaks d. It copies d's slices and
// maps, so later changes to them do not affect the adapter. The adapter is
// safe for concurrent use if d's hooks are.
func NewDialect(d Dialect) *Adapter {
	if d.Kind == "" {
		d.Kind = "openai"
	}
	switch {
	case d.Operations == nil && d.Kind == "openai":
		d.Operations = plainOperations
	case d.Operations == nil:
		d.Operations = defaultOperations
	}
	d.Operations = slices.Clone(d.Operations)
	d.Paths = maps.Clone(d.Paths)
	d.Prefix = "/" + strings.Trim(d.Prefix, "/")
	if d.Prefix == "/" {
		d.Prefix = ""
	}
	return &Adapter{d: &d}
}

// plain is the dialect of the zero Adapter and of New.
var plain = &Dialect{Kind: "openai", Operations: plainOperations}

// dialect returns a's dialect; the zero Adapter speaks plain OpenAI.
func (a *Adapter) dialect() *Dialect {
	if a == nil || a.d == nil {
		return plain
	}
	return a.d
}

// Dialect returns a copy of the dialect a speaks.
func (a *Adapter) Dialect() Dialect {
	d := *a.dialect()
	d.Operations = slices.Clone(d.Operations)
	d.Paths = maps.Clone(d.Paths)
	return d
}

// serves reports whether the dialect lists op.
func (d *Dialect) serves(op string) bool { return slices.Contains(d.Operations, op) }

// path returns the path, relative to the call's BaseURL, of op.
func (d *Dialect) path(baseURL, op string) string {
	p, ok := d.Paths[op]
	if !ok {
		p = defaultPaths[op]
	}
	return d.prefixed(baseURL, p)
}

// prefixed puts the dialect's Prefix before p, unless baseURL ends in it.
func (d *Dialect) prefixed(baseURL, p string) string {
	if d.Prefix == "" || strings.HasSuffix(strings.TrimRight(baseURL, "/"), d.Prefix) {
		return p
	}
	return d.Prefix + p
}

func (d *Dialect) finish(raw string) string {
	if raw == "" {
		return ""
	}
	if d.Finish != nil {
		return d.Finish(raw)
	}
	return NormalizeFinish(raw)
}

func (d *Dialect) maxEmbedInputs() int {
	switch {
	case d.MaxEmbedInputs == 0:
		return MaxEmbedInputs
	case d.MaxEmbedInputs < 0:
		return 0
	}
	return d.MaxEmbedInputs
}

// decodeError is the Exchange.DecodeError of the dialect: DecodeError, then
// the dialect's refinement.
func (d *Dialect) decodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	DecodeError(status, h, body, e)
	if d.DecodeError != nil {
		d.DecodeError(status, h, body, e)
		if e.Class == messages.ClassUnknown {
			e.Class = messages.ClassServer
		}
	}
}

// Invalid returns a *messages.RequestError of Kind ErrInvalidRequest for req,
// with the detail prefixed by kind: what a Dialect's Check hook returns.
func Invalid(kind string, req messages.Request, format string, args ...any) error {
	var ci *messages.Call
	if req != nil {
		ci = providers.CallInfo(req)
	}
	return invalid(reqCtx{kind, ci}, format, args...)
}
