// Package ollama is Switchyard's adapter for Ollama's native API: chat
// (POST /api/chat) and plain-prompt generation (POST /api/generate), both
// plain or streamed as NDJSON, with tools (arguments as JSON objects) and
// inline images; embeddings (POST /api/embed, a list of inputs); the model
// list (GET /api/tags); model details (POST /api/show), the server version
// and a liveness probe (both GET /api/version).
//
// The endpoint's base URL is the server root as Ollama prints it, e.g.
// "http://localhost:11434" (the default of OLLAMA_HOST); the adapter appends
// "/api/chat" and the other paths. Ollama itself needs no key. A key, when
// one is configured (Ollama's cloud API at "https://ollama.com" or a proxy in
// front of a server; by default from OLLAMA_API_KEY), goes in
// "Authorization: Bearer …"; without one no Authorization header is sent.
//
// Ollama streams unless told otherwise, so every chat and generate body sets
// "stream" explicitly. A stream is newline-delimited JSON that ends with an
// object carrying "done": true; a body that ends before it is a cut stream
// (ClassStreamCut), and an {"error": "…"} line in the middle of one is an
// upstream error. Token usage comes from prompt_eval_count and eval_count;
// the nanosecond durations of the final object (total, load, prompt and
// generation time) are decoded into Timings, which DecodeChatStream and
// DecodeGenerateStream return (messages.ChatResponse has no field for them
// yet, so Do does not pass them on). A thinking model's "thinking" text is
// not part of the answer's Content.
//
// The adapter is plain Go: it builds request bodies, decodes answers and
// streams, and classifies errors. It keeps no state and is safe for
// concurrent use. Nothing Switchyard-specific (priority, request ID, key
// label) goes into a request body; the request ID travels only as the
// X-Request-ID header that providers.Client sets.
package ollama

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Paths appended to the endpoint's base URL.
const (
	PathChat     = "/api/chat"
	PathGenerate = "/api/generate"
	PathEmbed    = "/api/embed"
	PathTags     = "/api/tags"
	PathShow     = "/api/show"
	PathVersion  = "/api/version"
)

// DefaultBaseURL is where a local Ollama listens unless OLLAMA_HOST says
// otherwise.
const DefaultBaseURL = "http://localhost:11434"

// EnvKey is the environment variable an Ollama cloud key is read from.
const EnvKey = "OLLAMA_API_KEY"

// ndjson is the media type of Ollama's streams.
const ndjson = "application/x-ndjson"

// Adapter implements providers.Adapter for Ollama's native API. It holds no
// state: the zero value is ready to use and it is safe for concurrent use.
type Adapter struct{}

// New returns the Ollama adapter.
func New() *Adapter { return &Adapter{} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns "ollama".
func (*Adapter) Kind() string { return kind }

// Check reports whether the adapter can serve req, before anything is
// queued. It returns an error matching messages.ErrUnsupported for what
// Ollama's native API does not offer (rerank, infer, tokenize, count tokens,
// Responses API; a ToolChoice that forces a tool; image URLs other than
// data: URLs; sparse embeddings, Normalize false, a Gemini task type; an
// InfoRequest.What other than health, ready, version, show and info) and
// messages.ErrInvalidRequest for requests Ollama would reject: no model, no
// messages or prompt, an unknown role, tool-call arguments that are not a
// JSON object, tool parameters that are not a JSON Schema object, negative
// token limits, a data: URL that is not base64, no embedding input; then
// providers.CheckRequest (text that is not UTF-8, NaN or infinite sampling
// values, an Extra that cannot be encoded).
func (*Adapter) Check(req messages.Request) error {
	var err error
	switch r := req.(type) {
	case *messages.ChatRequest:
		if r == nil {
			return invalid(nil, "nil chat request")
		}
		err = checkChat(r)
	case *messages.GenerateRequest:
		if r == nil {
			return invalid(nil, "nil generate request")
		}
		err = checkGenerate(r)
	case *messages.EmbedRequest:
		if r == nil {
			return invalid(nil, "nil embed request")
		}
		err = checkEmbed(r)
	case *messages.ModelsRequest:
		if r == nil {
			return invalid(nil, "nil models request")
		}
	case *messages.InfoRequest:
		if r == nil {
			return invalid(nil, "nil info request")
		}
		err = checkInfo(r)
	default:
		return providers.UnsupportedOperation(kind, req)
	}
	if err != nil {
		return err
	}
	return providers.CheckRequest(kind, req)
}

// Do performs one attempt of call, streamed when the request asks for it. It
// fills call.Result (status, upstream request ID, usage) and returns the
// response or a *messages.UpstreamError. It re-runs Check first, so a request
// that never went through Check still fails cleanly, as ClassInvalid.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	if err := a.Check(call.Request); err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	switch r := call.Request.(type) {
	case *messages.ChatRequest:
		return doChat(ctx, c, call, r)
	case *messages.GenerateRequest:
		return doGenerate(ctx, c, call, r)
	case *messages.EmbedRequest:
		return doEmbed(ctx, c, call, r)
	case *messages.ModelsRequest:
		return doModels(ctx, c, call)
	case *messages.InfoRequest:
		return doInfo(ctx, c, call, r)
	}
	return nil, call.Fail(messages.ClassInvalid, 0, "unsupported request", messages.ErrUnsupported)
}

// exchange describes a request to path with Ollama's auth and error decoder:
// a POST of body, or a GET when body is nil.
func exchange(path string, body any, stream bool) *providers.Exchange {
	accept := ""
	if stream {
		accept = ndjson
	}
	return providers.BearerExchange(path, body, accept, DecodeError)
}

// withExtra merges extra into the JSON object body marshals to. Fields body
// sets win, and reserved fields are never taken from extra. An "options"
// object in extra is merged under the adapter's own options (its keys win).
func withExtra(body any, extra map[string]any, reserved ...string) (any, error) {
	if len(extra) == 0 {
		return body, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if slices.Contains(reserved, k) {
			continue
		}
		if k == "options" {
			merged, err := mergeOptions(m["options"], v)
			if err != nil {
				return nil, err
			}
			m["options"] = merged
			continue
		}
		if _, own := m[k]; own {
			continue
		}
		raw, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("extra field %q: %w", k, err)
		}
		m[k] = raw
	}
	return m, nil
}

// mergeOptions puts the entries of extra (an options object) under own.
func mergeOptions(own json.RawMessage, extra any) (json.RawMessage, error) {
	raw, err := json.Marshal(extra)
	if err != nil {
		return nil, fmt.Errorf("extra field \"options\": %w", err)
	}
	var add map[string]json.RawMessage
	if err := json.Unmarshal(raw, &add); err != nil || add == nil {
		return nil, fmt.Errorf("extra field \"options\" is not an object")
	}
	if len(own) > 0 {
		var mine map[string]json.RawMessage
		if err := json.Unmarshal(own, &mine); err != nil {
			return nil, err
		}
		for k, v := range mine {
			add[k] = v
		}
	}
	return json.Marshal(add)
}

// ---- validation ----

// kind is the adapter's kind string, also the Provider of its request
// errors when the request names none.
const kind = "ollama"

func requestError(kindErr error, ci *messages.Call, format string, args ...any) error {
	return providers.RequestError(kindErr, ci, kind, kind+": "+fmt.Sprintf(format, args...))
}

func invalid(ci *messages.Call, format string, args ...any) error {
	return requestError(messages.ErrInvalidRequest, ci, format, args...)
}

func unsupported(ci *messages.Call, format string, args ...any) error {
	return requestError(messages.ErrUnsupported, ci, format, args...)
}

// checkExtra refuses an Extra "options" that is not an object (it is merged
// into the adapter's options). Whether Extra can be encoded at all is
// providers.CheckRequest's question.
func checkExtra(ci *messages.Call, extra map[string]any) error {
	o, ok := extra["options"]
	if !ok {
		return nil
	}
	raw, err := json.Marshal(o)
	if err != nil {
		return nil // reported by providers.CheckRequest, naming the field
	}
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil || m == nil {
		return invalid(ci, "Extra[\"options\"] must be an object")
	}
	return nil
}
