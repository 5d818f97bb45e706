package providers_test

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

func TestCheckRequest(t *testing.T) {
	bad := "\xff\xfe"
	nan, inf := math.NaN(), math.Inf(1)
	user := []messages.Message{{Role: "user", Content: "hi"}}
	tests := []struct {
		name  string
		req   messages.Request
		field string // "" when the request passes
	}{
		{"clean chat", &messages.ChatRequest{Model: "m", System: "ü", Messages: user, Stop: []string{"é"}, Extra: map[string]any{"a": []any{"ok", 1.5}}}, ""},
		{"nil", nil, ""},
		{"typed nil chat", (*messages.ChatRequest)(nil), ""},
		{"object storage", &messages.StatObjectRequest{Bucket: bad}, ""},
		{"model", &messages.ChatRequest{Model: bad, Messages: user}, "model"},
		{"system", &messages.ChatRequest{Model: "m", System: bad, Messages: user}, "system"},
		{"role", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: bad}}}, "messages[0].role"},
		{"image URL", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{{Type: messages.PartImage, ImageURL: "https://x/" + bad}}}}}, "messages[0].parts[0].image_url"},
		{"image bytes are not text", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{{Type: messages.PartImage, Data: []byte(bad)}}}}}, ""},
		{"tool call ID", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "tool", ToolCallID: bad}}}, "messages[0].tool_call_id"},
		{"tool name", &messages.ChatRequest{Model: "m", Messages: user, Tools: []messages.Tool{{Name: bad}}}, "tools[0].name"},
		{"tool parameters", &messages.ChatRequest{Model: "m", Messages: user, Tools: []messages.Tool{{Name: "t", Parameters: json.RawMessage(`{"description":"` + bad + `"}`)}}}, "tools[0].parameters"},
		{"tool choice", &messages.ChatRequest{Model: "m", Messages: user, ToolChoice: bad}, "tool_choice"},
		{"NaN temperature", &messages.ChatRequest{Model: "m", Messages: user, Temperature: &nan}, "temperature"},
		{"Inf top_p", &messages.ChatRequest{Model: "m", Messages: user, TopP: &inf}, "top_p"},
		{"Extra key", &messages.ChatRequest{Model: "m", Messages: user, Extra: map[string]any{bad: 1}}, "extra has a key"},
		{"Extra nested", &messages.ChatRequest{Model: "m", Messages: user, Extra: map[string]any{"a": []any{map[string]any{"b": bad}}}}, `extra["a"][0]["b"]`},
		{"Extra NaN", &messages.ChatRequest{Model: "m", Messages: user, Extra: map[string]any{"a": nan}}, "extra cannot be encoded"},
		{"Extra func", &messages.ChatRequest{Model: "m", Messages: user, Extra: map[string]any{"a": func() {}}}, "extra cannot be encoded"},
		{"count tokens", &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: bad}}}}, "chat.messages[0].content"},
		{"embed", &messages.EmbedRequest{Model: "m", Inputs: []string{"a", bad}}, "inputs[1]"},
		{"responses", &messages.ResponsesRequest{Model: "m", Input: []messages.Message{{Role: "user", Content: bad}}}, "input[0].content"},
		{"generate", &messages.GenerateRequest{Model: "m", Prompt: bad}, "prompt"},
		{"generate stop", &messages.GenerateRequest{Model: "m", Prompt: "p", Stop: []string{bad}}, "stop[0]"},
		{"rerank query", &messages.RerankRequest{Model: "m", Query: bad, Documents: []string{"d"}}, "query"},
		{"rerank document", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"d", bad}}, "documents[1]"},
		{"infer tensor name", &messages.InferRequest{Model: "m", Inputs: []messages.Tensor{{Name: bad}}}, "inputs[0].name"},
		{"infer parameters", &messages.InferRequest{Model: "m", Parameters: map[string]any{"p": nan}}, "parameters cannot be encoded"},
		{"tokenize", &messages.TokenizeRequest{Model: "m", Text: bad}, "text"},
		{"info model", &messages.InfoRequest{What: "ready", Model: bad}, "model"},
		{"responses conversation", &messages.ResponsesRequest{Model: "m", Input: user, Conversation: "conv_" + bad}, "conversation"},
		{"input tokens", &messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Model: "m", Input: []messages.Message{{Role: "user", Content: bad}}}}, "responses.input[0].content"},
		{"stored response ID", &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "resp_" + bad}, "response_id"},
		{"conversation item", &messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: "c", Items: []messages.Message{{Role: "user", Content: bad}}}, "items[0].content"},
		{"conversation metadata", &messages.ConversationRequest{Action: messages.ConversationUpdate, ConversationID: "c", Metadata: map[string]string{"k": bad}}, `metadata["k"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := providers.CheckRequest("kind", tt.req)
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var re *messages.RequestError
			require.ErrorAs(t, err, &re)
			assert.ErrorIs(t, err, messages.ErrInvalidRequest)
			assert.Contains(t, re.Detail, tt.field)
			assert.Equal(t, "kind", re.Provider)
			assert.NotContains(t, re.Error(), bad, "the error does not quote the bad bytes")
		})
	}
}

func TestCheckRequestNamesTheRequest(t *testing.T) {
	req := &messages.ChatRequest{Call: messages.Call{RequestID: "r-1", Provider: "mine"}, Model: "m", System: "\xc3"}
	err := providers.CheckRequest("openai", req)
	var re *messages.RequestError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "mine", re.Provider)
	assert.Equal(t, "r-1", re.RequestID)
}

func TestCheckStopSequences(t *testing.T) {
	req := &messages.ChatRequest{Model: "m"}
	assert.NoError(t, providers.CheckStopSequences("anthropic", req, "stop", []string{"END", " x ", "\n\nHuman:"}))
	assert.NoError(t, providers.CheckStopSequences("anthropic", req, "stop", nil))
	for _, blank := range []string{"", " ", "\n", "\t\r\n ", "\u00a0"} {
		err := providers.CheckStopSequences("anthropic", req, "stop", []string{"END", blank})
		var re *messages.RequestError
		require.ErrorAs(t, err, &re, "%q", blank)
		assert.ErrorIs(t, err, messages.ErrInvalidRequest)
		assert.Contains(t, re.Detail, "stop[1]")
	}
}

// CheckRequest runs on every request: a clean one costs no allocation,
// however many messages and tools it has.
func TestCheckRequestCleanIsAllocationFree(t *testing.T) {
	msgs := make([]messages.Message, 20)
	for i := range msgs {
		msgs[i] = messages.Message{Role: "user", Content: "hello there",
			Parts:     []messages.Part{{Type: messages.PartText, Text: "part"}},
			ToolCalls: []messages.ToolCall{{ID: "c", Name: "f", Arguments: json.RawMessage(`{}`)}}}
	}
	req := &messages.ChatRequest{Model: "m", System: "s", Messages: msgs, Stop: []string{"x", "y"},
		Tools: []messages.Tool{{Name: "f", Description: "d", Parameters: json.RawMessage(`{"type":"object"}`)}}}
	allocs := testing.AllocsPerRun(100, func() {
		require.NoError(t, providers.CheckRequest("kind", req))
	})
	assert.Zero(t, allocs)
}
