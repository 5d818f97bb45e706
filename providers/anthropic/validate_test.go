package anthropic

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/providertest"
)

// TestCheckRefusesWhatCannotBeSent: values JSON cannot carry (NaN and
// infinite sampling values, an Extra that cannot be encoded), text that is
// not UTF-8 (JSON would replace it silently) and stop sequences of
// whitespace only (the API answers 400) are refused by Check, naming the
// field, and by Do without an HTTP call. Before, the first two became
// "HTTP 0" attempts and the last two reached the API.
func TestCheckRefusesWhatCannotBeSent(t *testing.T) {
	bad := "caf\xe9" // Latin-1, not UTF-8
	chat := func(edit func(r *messages.ChatRequest)) *messages.ChatRequest {
		r := &messages.ChatRequest{Model: "claude-sonnet-4-5", Messages: []messages.Message{user("hello")}}
		edit(r)
		return r
	}
	tests := []struct {
		name  string
		req   messages.Request
		field string
	}{
		{"NaN temperature", chat(func(r *messages.ChatRequest) { r.Temperature = f64(math.NaN()) }), "temperature"},
		{"+Inf temperature", chat(func(r *messages.ChatRequest) { r.Temperature = f64(math.Inf(1)) }), "temperature"},
		{"-Inf top_p", chat(func(r *messages.ChatRequest) { r.TopP = f64(math.Inf(-1)) }), "top_p"},
		{"NaN top_p", chat(func(r *messages.ChatRequest) { r.TopP = f64(math.NaN()) }), "top_p"},
		{"Extra holds a func", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"hook": func() {}} }), "extra"},
		{"Extra holds NaN", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"top_k": math.NaN()} }), "extra"},
		{"Extra holds a channel", chat(func(r *messages.ChatRequest) {
			r.Extra = map[string]any{"metadata": map[string]any{"c": make(chan int)}}
		}), "extra"},
		{"Extra string not UTF-8", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"metadata": map[string]any{"user_id": bad}} }), `extra["metadata"]["user_id"]`},
		{"message content", chat(func(r *messages.ChatRequest) { r.Messages = append(r.Messages, user(bad)) }), "messages[1].content"},
		{"message part", chat(func(r *messages.ChatRequest) {
			r.Messages[0] = messages.Message{Role: messages.RoleUser, Parts: []messages.Part{{Type: messages.PartText, Text: bad}}}
		}), "messages[0].parts[0].text"},
		{"system prompt", chat(func(r *messages.ChatRequest) { r.System = bad }), "system"},
		{"system message", chat(func(r *messages.ChatRequest) {
			r.Messages = append([]messages.Message{{Role: messages.RoleSystem, Content: bad}}, r.Messages...)
		}), "messages[0].content"},
		{"tool description", chat(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{{Name: "t", Description: bad}} }), "tools[0].description"},
		{"tool call arguments", chat(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleAssistant,
				ToolCalls: []messages.ToolCall{{ID: "toolu_1", Name: "t", Arguments: json.RawMessage(`{"city":"` + bad + `"}`)}}})
		}), "messages[1].tool_calls[0].arguments"},
		{"tool result", chat(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleTool, ToolCallID: "toolu_1", Content: bad})
		}), "messages[1].content"},
		{"stop sequence", chat(func(r *messages.ChatRequest) { r.Stop = []string{"END", bad} }), "stop[1]"},
		{"blank stop sequence", chat(func(r *messages.ChatRequest) { r.Stop = []string{"END", " \n\t"} }), "stop[1]"},
		{"empty stop sequence", chat(func(r *messages.ChatRequest) { r.Stop = []string{""} }), "stop[0]"},
		{"count tokens text", &messages.CountTokensRequest{Chat: *chat(func(r *messages.ChatRequest) { r.Messages[0].Content = bad })}, "messages[0].content"},
		{"count tokens extra", &messages.CountTokensRequest{Chat: *chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"x": math.Inf(1)} })}, "extra"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			ue := providertest.RefusedBeforeSending(t, New(), s, newCall(s, tt.req), tt.field)
			assert.ErrorIs(t, ue, messages.ErrInvalidRequest)
		})
	}
}

// TestStopSequencesWithText: stop sequences that hold text, with
// whitespace around it, are sent as given, and the simulator, which
// refuses blank ones as the API does, accepts them.
func TestStopSequencesWithText(t *testing.T) {
	s := startSim(t)
	r := doChat(t, s, &messages.ChatRequest{Model: "claude-sonnet-4-5", Messages: []messages.Message{user("hello")}, Stop: []string{"\n\nHuman:", " END "}})
	require.NoError(t, r.Err)
	assert.Equal(t, []any{"\n\nHuman:", " END "}, lastBody(t, s)["stop_sequences"])

	status, _, body := rawPost(t, s, http.MethodPost, PathMessages, validHeaders,
		`{"model":"claude-sonnet-4-5","max_tokens":10,"messages":[{"role":"user","content":"hi"}],"stop_sequences":["  "]}`)
	assert.Equal(t, http.StatusBadRequest, status, "the simulator refuses a blank stop sequence: %s", body)
	assert.Contains(t, string(body), "non-whitespace")
}
