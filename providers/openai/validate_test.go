package openai_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/providertest"
)

// TestCheckRefusesWhatCannotBeSent: text that is not UTF-8 (JSON would
// replace it silently), NaN or infinite sampling values and an Extra that
// cannot be encoded are refused by Check on every operation, naming the
// field, and by Do without an HTTP call.
func TestCheckRefusesWhatCannotBeSent(t *testing.T) {
	bad := "caf\xe9" // Latin-1, not UTF-8
	user := []messages.Message{{Role: "user", Content: "hi"}}
	chat := func(edit func(r *messages.ChatRequest)) *messages.ChatRequest {
		r := &messages.ChatRequest{Model: "gpt-4o", Messages: append([]messages.Message(nil), user...)}
		edit(r)
		return r
	}
	tests := []struct {
		name  string
		req   messages.Request
		field string
	}{
		{"chat NaN temperature", chat(func(r *messages.ChatRequest) { r.Temperature = ptr(math.NaN()) }), "temperature"},
		{"chat +Inf temperature", chat(func(r *messages.ChatRequest) { r.Temperature = ptr(math.Inf(1)) }), "temperature"},
		{"chat -Inf top_p", chat(func(r *messages.ChatRequest) { r.TopP = ptr(math.Inf(-1)) }), "top_p"},
		{"chat Extra func", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"f": func() {}} }), "extra"},
		{"chat Extra NaN", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"logit_bias": map[string]any{"1": math.NaN()}} }), "extra"},
		{"chat Extra text", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"user": bad} }), `extra["user"]`},
		{"chat content", chat(func(r *messages.ChatRequest) { r.Messages[0].Content = bad }), "messages[0].content"},
		{"chat part", chat(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartText, Text: bad}}
		}), "messages[0].parts[0].text"},
		{"chat system", chat(func(r *messages.ChatRequest) { r.System = bad }), "system"},
		{"chat tool description", chat(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{{Name: "f", Description: bad}} }), "tools[0].description"},
		{"chat tool call arguments", chat(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: "assistant",
				ToolCalls: []messages.ToolCall{{ID: "c", Name: "f", Arguments: json.RawMessage(`{"a":"` + bad + `"}`)}}})
		}), "messages[1].tool_calls[0].arguments"},
		{"chat stop", chat(func(r *messages.ChatRequest) { r.Stop = []string{bad} }), "stop[0]"},
		{"embed input", &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"ok", bad}}, "inputs[1]"},
		{"responses instructions", &messages.ResponsesRequest{Model: "gpt-4o", Input: user, Instructions: bad}, "instructions"},
		{"responses input", &messages.ResponsesRequest{Model: "gpt-4o", Input: []messages.Message{{Role: "user", Content: bad}}}, "input[0].content"},
		{"responses NaN temperature", &messages.ResponsesRequest{Model: "gpt-4o", Input: user, Temperature: ptr(math.NaN())}, "temperature"},
		{"responses Extra", &messages.ResponsesRequest{Model: "gpt-4o", Input: user, Extra: map[string]any{"c": make(chan int)}}, "extra"},
		{"generate prompt", &messages.GenerateRequest{Model: "gpt-3.5-turbo-instruct", Prompt: bad}, "prompt"},
		{"generate +Inf top_p", &messages.GenerateRequest{Model: "gpt-3.5-turbo-instruct", Prompt: "p", TopP: ptr(math.Inf(1))}, "top_p"},
		{"generate Extra", &messages.GenerateRequest{Model: "gpt-3.5-turbo-instruct", Prompt: "p", Extra: map[string]any{"suffix": bad}}, `extra["suffix"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			providertest.RefusedBeforeSending(t, openai.New(), srv, newCall(srv, tt.req), tt.field)
		})
	}
}

// TestCheckRefusesBadTextInDialects: an OpenAI-compatible dialect shares the
// refusal (its Check runs the shared checks before its own hook).
func TestCheckRefusesBadTextInDialects(t *testing.T) {
	hookRan := false
	a := openai.NewDialect(openai.Dialect{Kind: "selfhosted", Prefix: "/v1", Operations: []string{openai.OpChat, openai.OpGenerate},
		Check: func(messages.Request) error { hookRan = true; return nil }})
	err := a.Check(&messages.GenerateRequest{Model: "m", Prompt: "caf\xe9"})
	var re *messages.RequestError
	require.ErrorAs(t, err, &re)
	assert.ErrorIs(t, err, messages.ErrInvalidRequest)
	assert.Equal(t, "selfhosted", re.Provider)
	assert.Contains(t, re.Detail, "prompt")
	assert.False(t, hookRan, "the dialect's hook sees only requests that passed the shared checks")

	require.NoError(t, a.Check(&messages.GenerateRequest{Model: "m", Prompt: "café"}))
	assert.True(t, hookRan)
}
