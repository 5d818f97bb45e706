package gemini

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/providertest"
)

// TestCheckRefusesWhatCannotBeSent: values JSON cannot carry (NaN and
// infinite sampling values, an Extra that cannot be encoded) and text that
// is not UTF-8 (JSON would replace it silently) are refused by Check, naming
// the field, and by Do without an HTTP call. Before, an unencodable Extra
// became an "HTTP 0" attempt and bad text reached the API as U+FFFD.
func TestCheckRefusesWhatCannotBeSent(t *testing.T) {
	bad := "caf\xe9" // Latin-1, not UTF-8
	chat := func(edit func(r *messages.ChatRequest)) *messages.ChatRequest {
		r := &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hello")}}
		edit(r)
		return r
	}
	toolCall := messages.ToolCall{ID: "c1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"x"}`)}
	tests := []struct {
		name  string
		req   messages.Request
		field string
	}{
		{"NaN temperature", chat(func(r *messages.ChatRequest) { r.Temperature = f64(math.NaN()) }), "temperature"},
		{"+Inf temperature", chat(func(r *messages.ChatRequest) { r.Temperature = f64(math.Inf(1)) }), "temperature"},
		{"-Inf top_p", chat(func(r *messages.ChatRequest) { r.TopP = f64(math.Inf(-1)) }), "top_p"},
		{"NaN top_p", chat(func(r *messages.ChatRequest) { r.TopP = f64(math.NaN()) }), "top_p"},
		{"Extra holds a func", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"safetySettings": func() {}} }), "extra"},
		{"Extra generationConfig holds NaN", chat(func(r *messages.ChatRequest) {
			r.Extra = map[string]any{"generationConfig": map[string]any{"topK": math.NaN()}}
		}), "extra"},
		{"Extra holds a channel", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"cachedContent": make(chan int)} }), "extra"},
		{"Extra string not UTF-8", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"cachedContent": bad} }), `extra["cachedContent"]`},
		{"message content", chat(func(r *messages.ChatRequest) { r.Messages = append(r.Messages, user(bad)) }), "messages[1].content"},
		{"message part", chat(func(r *messages.ChatRequest) {
			r.Messages[0] = messages.Message{Role: messages.RoleUser, Parts: []messages.Part{{Type: messages.PartText, Text: bad}}}
		}), "messages[0].parts[0].text"},
		{"system prompt", chat(func(r *messages.ChatRequest) { r.System = bad }), "system"},
		{"tool description", chat(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{{Name: "t", Description: bad}} }), "tools[0].description"},
		{"tool result", chat(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleAssistant, ToolCalls: []messages.ToolCall{toolCall}},
				messages.Message{Role: messages.RoleTool, ToolCallID: "c1", Content: bad})
		}), "messages[2].content"},
		{"stop sequence", chat(func(r *messages.ChatRequest) { r.Stop = []string{bad} }), "stop[0]"},
		{"count tokens text", &messages.CountTokensRequest{Chat: *chat(func(r *messages.ChatRequest) { r.System = bad })}, "system"},
		{"embedding input", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"fine", bad}}, "inputs[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			ue := providertest.RefusedBeforeSending(t, New(), s, newCall(s, tt.req), tt.field)
			assert.ErrorIs(t, ue, messages.ErrInvalidRequest)
		})
	}
}
