package providers

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
)

// CheckRequest runs the checks every adapter's Check shares, before anything
// is queued, on the requests that travel as JSON (chat, count tokens,
// embeddings, Responses API, completions, rerank, infer, tokenize, info):
//
//   - every text the request sends is valid UTF-8: model, system prompt or
//     instructions, message contents and parts, tool call IDs, names and
//     arguments, tool names, descriptions and parameters, tool choice, stop
//     sequences, embedding and rerank inputs, prompts, tensor names (tensor
//     data is the adapter's: its rules depend on the datatype), and every
//     string (and key) inside Extra and parameters. encoding/json would
//     replace invalid bytes with U+FFFD silently, so the upstream would
//     answer a question the caller did not ask;
//   - temperature and top_p, when set, are finite numbers (JSON has no NaN or
//     infinity, so the body could not be encoded);
//   - Extra (and InferRequest.Parameters) can be encoded as JSON.
//
// A failure is a *messages.RequestError matching messages.ErrInvalidRequest
// whose detail names the field, e.g. `messages[2].content is not valid
// UTF-8`; its Provider is the request's, or kind when the request names
// none. Other request types (object storage) and nil requests pass: their
// adapters check them. Ranges (temperature 0..2 and the like) differ per
// backend and stay in each adapter. CheckRequest only reads req; it is safe
// for concurrent use.
func CheckRequest(kind string, req messages.Request) error {
	if CallInfo(req) == nil {
		return nil // nil, or a typed nil: the adapter's Check names it
	}
	v := validator{kind: kind, req: req}
	switch r := req.(type) {
	case *messages.ChatRequest:
		v.chat("", r)
	case *messages.CountTokensRequest:
		v.chat("chat.", &r.Chat)
	case *messages.EmbedRequest:
		v.text("model", r.Model)
		v.texts("inputs", r.Inputs)
		v.text("task_type", r.TaskType)
	case *messages.ResponsesRequest:
		v.responses("", r)
	case *messages.ResponsesInputTokensRequest:
		v.responses("responses.", &r.Responses)
	case *messages.ResponseObjectRequest:
		v.text("response_id", r.ResponseID)
		v.text("page.after", r.Page.After)
	case *messages.ConversationRequest:
		v.text("conversation_id", r.ConversationID)
		v.text("item_id", r.ItemID)
		v.conversation("items", r.Items)
		v.value("metadata", r.Metadata)
		v.text("page.after", r.Page.After)
	case *messages.GenerateRequest:
		v.text("model", r.Model)
		v.text("prompt", r.Prompt)
		v.texts("stop", r.Stop)
		v.number("temperature", r.Temperature)
		v.number("top_p", r.TopP)
		v.extra("extra", r.Extra)
	case *messages.RerankRequest:
		v.text("model", r.Model)
		v.text("query", r.Query)
		v.texts("documents", r.Documents)
	case *messages.InferRequest:
		v.text("model", r.Model)
		v.text("version", r.Version)
		v.text("id", r.ID)
		for i, t := range r.Inputs {
			if utf8.ValidString(t.Name) && utf8.ValidString(t.Datatype) && len(t.Parameters) == 0 {
				continue // field names are built only for a tensor that may fail
			}
			p := fmt.Sprintf("inputs[%d]", i)
			v.text(p+".name", t.Name)
			v.text(p+".datatype", t.Datatype)
			v.extra(p+".parameters", t.Parameters)
		}
		v.texts("outputs", r.Outputs)
		v.extra("parameters", r.Parameters)
	case *messages.TokenizeRequest:
		v.text("model", r.Model)
		v.text("text", r.Text)
	case *messages.InfoRequest:
		v.text("model", r.Model)
	}
	return v.err
}

func (v *validator) responses(prefix string, r *messages.ResponsesRequest) {
	v.text(prefix+"model", r.Model)
	v.text(prefix+"instructions", r.Instructions)
	v.conversation(prefix+"input", r.Input)
	v.tools(r.Tools)
	v.text(prefix+"tool_choice", r.ToolChoice)
	v.text(prefix+"previous_response_id", r.PreviousResponseID)
	v.text(prefix+"conversation", r.Conversation)
	v.number(prefix+"temperature", r.Temperature)
	v.extra(prefix+"extra", r.Extra)
}

// CheckStopSequences refuses stop sequences that hold only whitespace (or
// nothing), as Anthropic's Messages API does with a 400: "stop_sequences:
// each stop sequence must contain non-whitespace". field names the list in
// the error, e.g. "stop". The error is a *messages.RequestError matching
// messages.ErrInvalidRequest, like CheckRequest's.
func CheckStopSequences(kind string, req messages.Request, field string, stop []string) error {
	for i, s := range stop {
		if strings.TrimSpace(s) == "" {
			return invalidField(kind, req, "%s[%d] %q must contain a non-whitespace character", field, i, s)
		}
	}
	return nil
}

// validator collects the first failure of CheckRequest.
type validator struct {
	kind string
	req  messages.Request
	err  error
}

func invalidField(kind string, req messages.Request, format string, args ...any) error {
	return RequestError(messages.ErrInvalidRequest, CallInfo(req), kind, fmt.Sprintf(format, args...))
}

func (v *validator) fail(format string, args ...any) {
	if v.err == nil {
		v.err = invalidField(v.kind, v.req, format, args...)
	}
}

func (v *validator) text(field, s string) {
	if v.err == nil && !utf8.ValidString(s) {
		v.fail("%s is not valid UTF-8", field)
	}
}

func (v *validator) texts(field string, ss []string) {
	for i, s := range ss {
		if v.err == nil && !utf8.ValidString(s) {
			v.fail("%s[%d] is not valid UTF-8", field, i)
		}
	}
}

func (v *validator) raw(field string, b []byte) {
	if v.err == nil && !utf8.Valid(b) {
		v.fail("%s is not valid UTF-8", field)
	}
}

func (v *validator) number(field string, f *float64) {
	if v.err == nil && f != nil && (math.IsNaN(*f) || math.IsInf(*f, 0)) {
		v.fail("%s %v is not a finite number", field, *f)
	}
}

func (v *validator) chat(prefix string, r *messages.ChatRequest) {
	v.text(prefix+"model", r.Model)
	v.text(prefix+"system", r.System)
	v.conversation(prefix+"messages", r.Messages)
	v.tools(r.Tools)
	v.text(prefix+"tool_choice", r.ToolChoice)
	v.texts(prefix+"stop", r.Stop)
	v.number(prefix+"temperature", r.Temperature)
	v.number(prefix+"top_p", r.TopP)
	v.extra(prefix+"extra", r.Extra)
}

// conversation checks every message; field names are only built for a
// message that fails (the check runs on every request: no allocation when
// all is well).
func (v *validator) conversation(field string, msgs []messages.Message) {
	for i := range msgs {
		m := &msgs[i]
		if v.err != nil || messageValid(m) {
			continue
		}
		p := fmt.Sprintf("%s[%d]", field, i)
		v.text(p+".role", m.Role)
		v.text(p+".content", m.Content)
		for j, part := range m.Parts {
			pp := fmt.Sprintf("%s.parts[%d]", p, j)
			v.text(pp+".text", part.Text)
			v.text(pp+".image_url", part.ImageURL)
			v.text(pp+".media_type", part.MediaType)
		}
		for j, tc := range m.ToolCalls {
			pp := fmt.Sprintf("%s.tool_calls[%d]", p, j)
			v.text(pp+".id", tc.ID)
			v.text(pp+".name", tc.Name)
			v.raw(pp+".arguments", tc.Arguments)
		}
		v.text(p+".tool_call_id", m.ToolCallID)
	}
}

// messageValid reports whether every text of m is valid UTF-8.
func messageValid(m *messages.Message) bool {
	if !utf8.ValidString(m.Role) || !utf8.ValidString(m.Content) || !utf8.ValidString(m.ToolCallID) {
		return false
	}
	for _, part := range m.Parts {
		if !utf8.ValidString(part.Text) || !utf8.ValidString(part.ImageURL) || !utf8.ValidString(part.MediaType) {
			return false
		}
	}
	for _, tc := range m.ToolCalls {
		if !utf8.ValidString(tc.ID) || !utf8.ValidString(tc.Name) || !utf8.Valid(tc.Arguments) {
			return false
		}
	}
	return true
}

func (v *validator) tools(tools []messages.Tool) {
	for i, t := range tools {
		if v.err != nil || (utf8.ValidString(t.Name) && utf8.ValidString(t.Description) && utf8.Valid(t.Parameters)) {
			continue
		}
		p := fmt.Sprintf("tools[%d]", i)
		v.text(p+".name", t.Name)
		v.text(p+".description", t.Description)
		v.raw(p+".parameters", t.Parameters)
	}
}

// extra checks a free-form JSON object: its keys and strings are UTF-8 and
// it can be encoded.
func (v *validator) extra(field string, m map[string]any) {
	if v.err != nil || len(m) == 0 {
		return
	}
	v.value(field, m)
	if v.err != nil {
		return
	}
	if _, err := json.Marshal(m); err != nil {
		v.fail("%s cannot be encoded as JSON: %v", field, err)
	}
}

// value walks a JSON-like value (strings, []string, []any, maps) for text
// that is not UTF-8; other types are left to json.Marshal.
func (v *validator) value(field string, x any) {
	if v.err != nil {
		return
	}
	switch x := x.(type) {
	case string:
		v.text(field, x)
	case []string:
		v.texts(field, x)
	case json.RawMessage:
		v.raw(field, x)
	case []any:
		for i, e := range x {
			v.value(fmt.Sprintf("%s[%d]", field, i), e)
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !utf8.ValidString(k) {
				v.fail("%s has a key that is not valid UTF-8", field)
				return
			}
			v.value(fmt.Sprintf("%s[%q]", field, k), x[k])
		}
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(x)) {
			if !utf8.ValidString(k) {
				v.fail("%s has a key that is not valid UTF-8", field)
				return
			}
			v.text(fmt.Sprintf("%s[%q]", field, k), x[k])
		}
	}
}
