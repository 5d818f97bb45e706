package tgi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// chatModel is the model name sent when a ChatRequest names none; TGI
// treats any other name as a LoRA adapter id.
const chatModel = "tgi"

// chatAdapter serves chat and the model list through the OpenAI adapter's
// machinery, in TGI's dialect. It is stateless and safe for concurrent use.
var chatAdapter = openai.NewDialect(openai.Dialect{
	Kind:           Kind,
	Prefix:         "/v1",
	Operations:     []string{openai.OpChat, openai.OpModels},
	MaxTokensField: "max_tokens",
	Body:           chatBody,
	Check:          checkChat,
	Finish:         normFinish,
	DecodeError:    chatDecodeError,
})

// chatCopy returns r with the model TGI expects when it names none.
func chatCopy(r *messages.ChatRequest) *messages.ChatRequest {
	cp := *r
	if cp.Model == "" {
		cp.Model = chatModel
	}
	return &cp
}

// doChat runs a chat completion through the dialect adapter. A response
// that calls tools is finished with FinishToolCalls (TGI reports "stop" for
// it; RawFinishReason keeps TGI's value). An error event inside a streamed
// chat, which the OpenAI decoder cannot classify (TGI sends
// {"error":{"message","http_status_code"}}), is classified from its message,
// whose prefix is the Display text of TGI's InferError (see typeFromMessage).
func doChat(ctx context.Context, call *providers.Call, r *messages.ChatRequest) (messages.Response, error) {
	cp := *call
	cp.Request = chatCopy(r)
	resp, err := chatAdapter.Do(ctx, &cp)
	call.Result = cp.Result
	if err != nil {
		var ue *messages.UpstreamError
		if errors.As(err, &ue) && ue.Status >= 200 && ue.Status < 300 && ue.Type == "" && ue.Class == messages.ClassServer {
			if typ := typeFromMessage(ue.Message); typ != "" {
				ue.Type = typ
				classify(ue, typ, 0)
			}
		}
		return nil, err
	}
	if cr, ok := resp.(*messages.ChatResponse); ok && len(cr.ToolCalls) > 0 && cr.FinishReason == messages.FinishStop {
		cr.FinishReason = messages.FinishToolCalls
	}
	return resp, nil
}

// inferErrors are the Display prefixes of TGI's InferError variants
// (router/src/infer/mod.rs) and the error_type each one is sent with.
var inferErrors = []struct{ prefix, typ string }{
	{"Input validation error:", "validation"},
	{"Model is overloaded", "overloaded"},
	{"Request failed during generation:", "generation"},
	{"Template error:", "template_error"},
	{"Missing template vatiable:", "missing_template_variable"}, // sic, as TGI spells it
	{"Missing template variable:", "missing_template_variable"},
	{"Tool error:", "tool_error"},
	{"Incomplete generation stream", "incomplete_generation_stream"},
	{"Incomplete generation", "incomplete_generation"},
}

// typeFromMessage returns the error_type of a TGI error message, "" when it
// is not one of TGI's.
func typeFromMessage(msg string) string {
	for _, ie := range inferErrors {
		if strings.HasPrefix(msg, ie.prefix) {
			return ie.typ
		}
	}
	return ""
}

// chatBody edits the OpenAI-shaped body into TGI's ChatRequest:
//   - a tool's JSON Schema goes under "arguments", the name TGI's
//     FunctionDefinition (and its OpenAPI schema) uses ("parameters" is only
//     an alias);
//   - an assistant message with tool calls loses its "content": TGI reads a
//     message as content or tool calls, and with both it would drop the
//     calls;
//   - a top_p of 1 is left out: TGI accepts only (0, 1), and 1 means no
//     nucleus sampling, its default.
func chatBody(_ messages.Request, body map[string]any) {
	if tools, ok := body["tools"].([]any); ok {
		for _, t := range tools {
			tm, _ := t.(map[string]any)
			fn, _ := tm["function"].(map[string]any)
			if fn == nil {
				continue
			}
			if p, ok := fn["parameters"]; ok {
				fn["arguments"] = p
				delete(fn, "parameters")
			}
			if _, ok := fn["arguments"]; !ok {
				fn["arguments"] = map[string]any{"type": "object", "properties": map[string]any{}}
			}
		}
	}
	if msgs, ok := body["messages"].([]any); ok {
		for _, m := range msgs {
			mm, _ := m.(map[string]any)
			if calls, ok := mm["tool_calls"].([]any); ok && len(calls) > 0 {
				delete(mm, "content")
			}
		}
	}
	if p, ok := body["top_p"].(json.Number); ok {
		if f, err := p.Float64(); err == nil && f >= 1 {
			delete(body, "top_p")
		}
	}
}

// checkChat refuses what TGI would: a top_p of 0, more stop sequences than
// the router's default limit, and the "developer" role its chat templates do
// not know.
func checkChat(req messages.Request) error {
	r, ok := req.(*messages.ChatRequest)
	if !ok {
		return nil
	}
	if r.TopP != nil && *r.TopP <= 0 {
		return openai.Invalid(Kind, req, "top_p %v must be above 0", *r.TopP)
	}
	if len(r.Stop) > MaxStopSequences {
		return openai.Invalid(Kind, req, "%d stop sequences: TGI accepts up to %d", len(r.Stop), MaxStopSequences)
	}
	for i, m := range r.Messages {
		if m.Role == "developer" {
			return openai.Invalid(Kind, req, "message %d: TGI has no %q role; use system", i, m.Role)
		}
	}
	return nil
}

// chatDecodeError refines the OpenAI decoder's reading of a chat error
// answer with TGI's error_type (or the chat route's http_status_code).
func chatDecodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	typ, msg, code := parseErrorBody(body)
	if typ != "" {
		e.Type = typ
	}
	if msg != "" && e.Message == "" {
		e.Message = msg
	}
	if code == 0 {
		code = status
	}
	classify(e, typ, code)
}
