// Package openai is Switchyard's adapter for the OpenAI API: chat completions
// (plain and streamed, tools, images), embeddings, the Responses API, the
// legacy completions API (GenerateRequest → POST /completions, plain and
// streamed), the model list, and the stateful APIs: a stored response's
// lifecycle (ResponseObjectRequest: retrieve, stream again after a sequence
// number, cancel, delete, input items), input token counting
// (ResponsesInputTokensRequest) and the Conversations API
// (ConversationRequest); and, through Dialect and NewDialect, the
// shared machinery of every OpenAI-compatible server (Groq, vLLM, llama.cpp,
// TGI's and OVMS's OpenAI routes, OPEA's microservices).
//
// The endpoint's base URL includes the version prefix, e.g.
// "https://api.openai.com/v1"; the adapter appends "/chat/completions",
// "/embeddings", "/responses", "/completions" and "/models". Keys go in "Authorization:
// Bearer …"; rate-limit headers are read with providers.OpenAIRateLimit. A
// Dialect may change all of that.
//
// The adapter is plain Go: it builds request bodies, decodes answers and
// streams, and classifies errors. It keeps no state and is safe for concurrent
// use. Nothing Switchyard-specific (priority, request ID, key label) ever goes
// into a request body; the request ID travels only as the X-Request-ID header
// that providers.Client sets.
package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Paths appended to the endpoint's base URL.
const (
	PathChat       = "/chat/completions"
	PathEmbeddings = "/embeddings"
	PathResponses  = "/responses"
)

// Limits OpenAI enforces, checked before a request is queued.
const (
	// MaxEmbedInputs is the most inputs one embeddings request may carry.
	MaxEmbedInputs = 2048
	// MinMaxOutputTokens is the smallest max_output_tokens the Responses API
	// accepts.
	MinMaxOutputTokens = 16
)

// Adapter implements providers.Adapter for OpenAI and, built with
// NewDialect, for OpenAI-compatible servers. It holds no mutable state: the
// zero value speaks plain OpenAI, and it is safe for concurrent use.
type Adapter struct {
	d *Dialect
}

// New returns the OpenAI adapter: chat completions, embeddings, the
// Responses API, completions and the model list.
func New() *Adapter { return &Adapter{} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns the dialect's kind, "openai" for New.
func (a *Adapter) Kind() string { return a.dialect().Kind }

// Check reports whether the adapter can serve req. It returns an error
// matching messages.ErrUnsupported for operations the dialect does not list
// (for OpenAI: CountTokensRequest, unknown types; for other dialects the
// stateful operations unless they list them) and
// messages.ErrInvalidRequest for requests the server would reject: no model,
// no messages, bad roles or parts, a tool message without tool call ID,
// sampling values out of range, empty or too many embedding inputs, a
// tool_choice naming no tool, an unknown response or conversation action,
// an empty response, conversation or item ID, more than MaxItemsPerCall
// items, metadata beyond MaxMetadataPairs pairs (keys MaxMetadataKey,
// values MaxMetadataValue characters), a page limit outside
// 0..MaxPageLimit or an order other than asc or desc, PreviousResponseID
// with Conversation, a background response not stored, and the like;
// each error names the field; then providers.CheckRequest
// (text that is not UTF-8, NaN or infinite sampling values, an Extra that
// cannot be encoded); then the dialect's Check hook.
func (a *Adapter) Check(req messages.Request) error {
	d := a.dialect()
	if err := checkAction(d.Kind, req); err != nil {
		return err
	}
	if req == nil || !d.serves(req.Operation()) {
		return providers.UnsupportedOperation(d.Kind, req)
	}
	var err error
	switch r := req.(type) {
	case *messages.ChatRequest:
		if r == nil {
			return invalid(reqCtx{kind: d.Kind}, "nil chat request")
		}
		err = checkChat(d.Kind, r)
	case *messages.EmbedRequest:
		if r == nil {
			return invalid(reqCtx{kind: d.Kind}, "nil embed request")
		}
		err = checkEmbed(d, r)
	case *messages.ResponsesRequest:
		if r == nil {
			return invalid(reqCtx{kind: d.Kind}, "nil responses request")
		}
		err = checkResponses(d.Kind, r)
	case *messages.ResponseObjectRequest:
		err = checkResponseObject(d.Kind, r)
	case *messages.ResponsesInputTokensRequest:
		if r == nil {
			return invalid(reqCtx{kind: d.Kind}, "nil input tokens request")
		}
		err = checkInputTokens(d.Kind, r)
	case *messages.ConversationRequest:
		err = checkConversation(d.Kind, r)
	case *messages.GenerateRequest:
		if r == nil {
			return invalid(reqCtx{kind: d.Kind}, "nil generate request")
		}
		err = checkGenerate(d.Kind, r)
	case *messages.ModelsRequest:
		if r == nil {
			return invalid(reqCtx{kind: d.Kind}, "nil models request")
		}
	default:
		return providers.RequestError(messages.ErrUnsupported, providers.CallInfo(req), d.Kind,
			fmt.Sprintf("%s cannot serve %T as the %q operation", d.Kind, req, req.Operation()))
	}
	if err == nil {
		err = providers.CheckRequest(d.Kind, req)
	}
	if err == nil && d.Check != nil {
		err = d.Check(req)
	}
	return err
}

// Do performs one attempt of call: chat completion, embeddings, completion,
// model list or Responses API, streamed when the request asks for it. It
// fills call.Result (status, upstream request ID, rate limits, usage) and
// returns the response or a *messages.UpstreamError. It re-runs Check first,
// so a request that never went through Check still fails cleanly, as
// ClassInvalid.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	if err := a.Check(call.Request); err != nil {
		return nil, call.Refuse(err)
	}
	d := a.dialect()
	c := call.HTTPClient()
	switch r := call.Request.(type) {
	case *messages.ChatRequest:
		return d.doChat(ctx, c, call, r)
	case *messages.EmbedRequest:
		return d.doEmbed(ctx, c, call, r)
	case *messages.ResponsesRequest:
		return d.doResponses(ctx, c, call, r)
	case *messages.ResponseObjectRequest:
		return d.doResponseObject(ctx, c, call, r)
	case *messages.ResponsesInputTokensRequest:
		return d.doInputTokens(ctx, c, call, r)
	case *messages.ConversationRequest:
		return d.doConversation(ctx, c, call, r)
	case *messages.GenerateRequest:
		return d.doGenerate(ctx, c, call, r)
	case *messages.ModelsRequest:
		return d.doModels(ctx, c, call)
	}
	return nil, call.Fail(messages.ClassInvalid, 0, "unsupported request", messages.ErrUnsupported)
}

// checkAction refuses a stateful request of an unknown action as invalid
// (whatever the dialect serves: no server knows it) and a nil one, before
// Check asks whether the dialect serves the operation.
func checkAction(kind string, req messages.Request) error {
	switch r := req.(type) {
	case *messages.ResponseObjectRequest:
		if r == nil {
			return invalid(reqCtx{kind: kind}, "nil response object request")
		}
		switch r.Action {
		case messages.ResponseRetrieve, messages.ResponseCancel, messages.ResponseDelete, messages.ResponseInputItems:
			return nil
		}
		return invalid(reqCtx{kind, &r.Call}, "Action %q is not a response action", r.Action)
	case *messages.ConversationRequest:
		if r == nil {
			return invalid(reqCtx{kind: kind}, "nil conversation request")
		}
		switch r.Action {
		case messages.ConversationCreate, messages.ConversationRetrieve, messages.ConversationUpdate, messages.ConversationDelete,
			messages.ConversationAddItems, messages.ConversationListItems, messages.ConversationRetrieveItem, messages.ConversationDeleteItem:
			return nil
		}
		return invalid(reqCtx{kind, &r.Call}, "Action %q is not a conversation action", r.Action)
	case *messages.ResponsesInputTokensRequest:
		if r == nil {
			return invalid(reqCtx{kind: kind}, "nil input tokens request")
		}
	}
	return nil
}

// exchange describes a request for op: a POST of body (a GET when body is
// nil) with the dialect's path, auth, error decoder and rate-limit headers.
func (d *Dialect) exchange(call *providers.Call, op string, body any, stream bool) *providers.Exchange {
	ex := &providers.Exchange{
		Method:      http.MethodPost,
		Path:        d.path(call.BaseURL, op),
		Body:        body,
		Auth:        d.Auth,
		DecodeError: DecodeError, // d.decodeError without a refinement; a plain func allocates no closure
		RateLimit:   d.RateLimit,
	}
	if d.DecodeError != nil {
		ex.DecodeError = d.decodeError
	}
	if body == nil {
		ex.Method = http.MethodGet
	}
	if ex.Auth == nil {
		ex.Auth = providers.BearerAuth
	}
	if ex.RateLimit == nil {
		ex.RateLimit = providers.OpenAIRateLimit
	}
	if stream {
		ex.Accept = "text/event-stream"
	}
	if d.Hosting != nil {
		d.Hosting.apply(call, op, ex)
	}
	return ex
}

// finalBody merges extra into the JSON object body marshals to, then lets the
// dialect's Body hook edit it. Fields body sets win, and reserved fields are
// never taken from extra (the adapter depends on their value, e.g. stream or
// encoding_format). Without extra fields and hook, body is returned as is.
func (d *Dialect) finalBody(req messages.Request, body any, extra map[string]any, reserved ...string) (any, error) {
	if len(extra) == 0 && d.Body == nil {
		return body, nil
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	for k, v := range extra {
		if _, own := m[k]; own || slices.Contains(reserved, k) {
			continue
		}
		if _, err := json.Marshal(v); err != nil {
			return nil, fmt.Errorf("extra field %q: %w", k, err)
		}
		m[k] = v
	}
	if d.Body != nil {
		d.Body(req, m)
	}
	return m, nil
}

// NormalizeFinish maps OpenAI's finish reasons (chat, completions and the
// Responses API's incomplete reasons) onto the messages.Finish* constants:
// stop; length, max_tokens, max_output_tokens; tool_calls, function_call;
// content_filter; anything else is FinishOther, and "" stays "".
func NormalizeFinish(raw string) string {
	switch raw {
	case "":
		return ""
	case "stop":
		return messages.FinishStop
	case "length", "max_output_tokens", "max_tokens":
		return messages.FinishLength
	case "tool_calls", "function_call":
		return messages.FinishToolCalls
	case "content_filter":
		return messages.FinishContentFilter
	}
	return messages.FinishOther
}

// toolArguments turns the JSON-encoded string OpenAI sends as a call's
// arguments into a json.RawMessage: "{}" when empty, the text itself when it is
// valid JSON, and otherwise the text as a JSON string (a truncated call still
// round-trips as valid JSON).
func toolArguments(s string) json.RawMessage {
	if strings.TrimSpace(s) == "" {
		return json.RawMessage("{}")
	}
	if json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	b, _ := json.Marshal(s)
	return b
}

// argumentsString is the inverse of toolArguments for outgoing tool calls.
func argumentsString(a json.RawMessage) string {
	if len(a) == 0 {
		return "{}"
	}
	return string(a)
}

// ---- validation ----

// reqCtx is what a validation error needs to know: the dialect's kind and
// the request's routing fields (nil for a nil request).
type reqCtx struct {
	kind string
	ci   *messages.Call
}

func invalid(ci reqCtx, format string, args ...any) error {
	return providers.RequestError(messages.ErrInvalidRequest, ci.ci, ci.kind, ci.kind+": "+fmt.Sprintf(format, args...))
}

var toolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

func checkRange(ci reqCtx, name string, v *float64, lo, hi float64) error {
	if v != nil && (math.IsNaN(*v) || *v < lo || *v > hi) {
		return invalid(ci, "%s %v is outside [%g, %g]", name, *v, lo, hi)
	}
	return nil
}

// checkMessages validates a conversation for either API.
func checkMessages(ci reqCtx, msgs []messages.Message) error {
	for i, m := range msgs {
		switch m.Role {
		case messages.RoleSystem, "developer", messages.RoleUser, messages.RoleAssistant:
		case messages.RoleTool:
			if m.ToolCallID == "" {
				return invalid(ci, "message %d: a tool message needs ToolCallID", i)
			}
		default:
			return invalid(ci, "message %d: unknown role %q", i, m.Role)
		}
		for j, p := range m.Parts {
			switch p.Type {
			case messages.PartText:
			case messages.PartImage:
				if m.Role != messages.RoleUser {
					return invalid(ci, "message %d part %d: images are allowed in user messages only", i, j)
				}
				if p.ImageURL == "" && len(p.Data) == 0 {
					return invalid(ci, "message %d part %d: an image needs ImageURL or Data", i, j)
				}
				if p.ImageURL == "" && p.MediaType != "" && !strings.HasPrefix(p.MediaType, "image/") {
					return invalid(ci, "message %d part %d: media type %q is not an image", i, j, p.MediaType)
				}
			default:
				return invalid(ci, "message %d part %d: unsupported part type %q", i, j, p.Type)
			}
		}
		if len(m.ToolCalls) > 0 && m.Role != messages.RoleAssistant {
			return invalid(ci, "message %d: only assistant messages carry tool calls", i)
		}
		for j, tc := range m.ToolCalls {
			if tc.ID == "" || tc.Name == "" {
				return invalid(ci, "message %d tool call %d: ID and Name are required", i, j)
			}
			if len(tc.Arguments) > 0 && !json.Valid(tc.Arguments) {
				return invalid(ci, "message %d tool call %d: arguments are not valid JSON", i, j)
			}
		}
	}
	return nil
}

func checkTools(ci reqCtx, tools []messages.Tool, choice string) error {
	for i, t := range tools {
		if !toolNameRE.MatchString(t.Name) {
			return invalid(ci, "tool %d: name %q must be 1-64 characters of a-z, A-Z, 0-9, _ and -", i, t.Name)
		}
		if len(t.Parameters) > 0 {
			var obj map[string]any
			if err := json.Unmarshal(t.Parameters, &obj); err != nil || obj == nil {
				return invalid(ci, "tool %q: parameters must be a JSON Schema object", t.Name)
			}
		}
	}
	switch choice {
	case "", "auto", "none", "required":
		if choice == "required" && len(tools) == 0 {
			return invalid(ci, "tool_choice %q needs tools", choice)
		}
		return nil
	}
	for _, t := range tools {
		if t.Name == choice {
			return nil
		}
	}
	return invalid(ci, "tool_choice %q names no tool of the request", choice)
}

// toolChoice maps ToolChoice for chat completions (nested) or the Responses
// API (flat).
func toolChoice(choice string, flat bool) any {
	switch choice {
	case "":
		return nil
	case "auto", "none", "required":
		return choice
	}
	if flat {
		return map[string]any{"type": "function", "name": choice}
	}
	return map[string]any{"type": "function", "function": map[string]any{"name": choice}}
}

func checkChat(kind string, r *messages.ChatRequest) error {
	ci := reqCtx{kind, &r.Call}
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if len(r.Messages) == 0 {
		return invalid(ci, "at least one message is required")
	}
	if err := checkMessages(ci, r.Messages); err != nil {
		return err
	}
	if err := checkTools(ci, r.Tools, r.ToolChoice); err != nil {
		return err
	}
	if err := checkRange(ci, "temperature", r.Temperature, 0, 2); err != nil {
		return err
	}
	if err := checkRange(ci, "top_p", r.TopP, 0, 1); err != nil {
		return err
	}
	if r.MaxTokens < 0 {
		return invalid(ci, "MaxTokens %d is negative", r.MaxTokens)
	}
	return nil
}

func checkEmbed(d *Dialect, r *messages.EmbedRequest) error {
	ci := reqCtx{d.Kind, &r.Call}
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if len(r.Inputs) == 0 {
		return invalid(ci, "at least one input is required")
	}
	if limit := d.maxEmbedInputs(); limit > 0 && len(r.Inputs) > limit {
		return invalid(ci, "%d inputs exceed the limit of %d", len(r.Inputs), limit)
	}
	for i, in := range r.Inputs {
		if in == "" {
			return invalid(ci, "input %d is empty (OpenAI rejects empty strings)", i)
		}
	}
	if r.Dimensions < 0 {
		return invalid(ci, "Dimensions %d is negative", r.Dimensions)
	}
	// TEI's and Gemini's options have no place in this API: refuse them
	// rather than answer dense, normalised vectors the caller did not ask
	// for.
	var opt string
	switch {
	case r.Sparse:
		opt = "Sparse"
	case r.Normalize != nil && !*r.Normalize:
		opt = "Normalize false"
	case r.Truncate != nil:
		opt = "Truncate"
	case r.TaskType != "":
		opt = "TaskType"
	}
	if opt != "" {
		return providers.RequestError(messages.ErrUnsupported, ci.ci, ci.kind, ci.kind+": the embeddings API has no "+opt+" option")
	}
	return nil
}

func checkResponses(kind string, r *messages.ResponsesRequest) error {
	ci := reqCtx{kind, &r.Call}
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if len(r.Input) == 0 {
		return invalid(ci, "at least one input message is required")
	}
	if err := checkMessages(ci, r.Input); err != nil {
		return err
	}
	if err := checkTools(ci, r.Tools, r.ToolChoice); err != nil {
		return err
	}
	if err := checkRange(ci, "temperature", r.Temperature, 0, 2); err != nil {
		return err
	}
	if err := checkResponseState(ci, r); err != nil {
		return err
	}
	if r.MaxOutputTokens < 0 || (r.MaxOutputTokens > 0 && r.MaxOutputTokens < MinMaxOutputTokens) {
		return invalid(ci, "MaxOutputTokens %d: OpenAI accepts %d or more (0 for its default)", r.MaxOutputTokens, MinMaxOutputTokens)
	}
	return nil
}
