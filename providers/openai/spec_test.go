package openai_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// validate checks body against a component schema of the official OpenAI
// spec (testdata/openai/SOURCE.md), compiled once per test binary by
// openaitest.
func validate(t *testing.T, schema string, body []byte) error {
	t.Helper()
	return openaitest.Validate(t, schema, body)
}

func TestSpecLoads(t *testing.T) {
	openaitest.Schema(t, "CreateChatCompletionRequest")
	n := openaitest.Edits(t)
	require.GreaterOrEqual(t, n, 100, "only %d spec edits: did the nullable rewrite run?", n)
}

// TestSpecRequestsAndAnswers runs the adapter against the simulator for every
// request shape it builds, validates each request body against the spec's
// request schema, and each simulator answer (JSON, stream chunk, stream event,
// error) against the spec's response schema.
func TestSpecRequestsAndAnswers(t *testing.T) {
	srv := startSim(t, nil)
	ct := &providertest.CaptureTransport{}
	run := func(req messages.Request) messages.Response {
		t.Helper()
		call := newCall(srv, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		resp, err := do(t, call)
		require.NoError(t, err, "%s: %v", req.Operation(), err)
		return resp
	}
	user := func(s string) []messages.Message { return []messages.Message{{Role: "user", Content: s}} }
	images := []messages.Message{{Role: "user", Parts: []messages.Part{
		{Type: messages.PartText, Text: "look"},
		{Type: messages.PartImage, ImageURL: "https://example.com/a.jpg"},
		{Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"},
	}}}
	tools := []messages.Tool{weatherTool, {Name: "no_params"}}

	// Chat completions.
	run(&messages.ChatRequest{Model: "gpt-4o", Messages: user("plain")})
	run(&messages.ChatRequest{Model: "gpt-4o", System: "sys", Messages: user("sampling"), Temperature: ptr(1.5), TopP: ptr(0.9),
		MaxTokens: 50, Stop: []string{"a", "b"}, Extra: map[string]any{"seed": 1, "user": "u-1", "service_tier": "auto"}})
	run(&messages.ChatRequest{Model: "gpt-4o", Messages: user("stream this please"), Stream: true})
	run(&messages.ChatRequest{Model: "gpt-4o", Messages: images})
	run(&messages.ChatRequest{Model: "gpt-4o", Messages: images, Stream: true})
	first := run(&messages.ChatRequest{Model: "gpt-4o", Messages: user("weather in Paris"), Tools: tools, ToolChoice: "auto"}).(*messages.ChatResponse)
	run(&messages.ChatRequest{Model: "gpt-4o", Messages: user("weather in Paris"), Tools: tools, ToolChoice: "required", Stream: true})
	run(&messages.ChatRequest{Model: "gpt-4o", Tools: tools, ToolChoice: "get_weather", Messages: []messages.Message{
		{Role: "user", Content: "weather in Paris"},
		{Role: "assistant", Content: "Let me check.", ToolCalls: first.ToolCalls},
		{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Parts: []messages.Part{{Type: messages.PartText, Text: "sunny"}}},
	}})
	run(&messages.ChatRequest{Model: "gpt-4o", Tools: tools, ToolChoice: "none", Messages: []messages.Message{
		{Role: "user", Content: "weather in Paris"},
		{Role: "assistant", ToolCalls: first.ToolCalls},
		{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Content: "sunny"},
		{Role: "assistant", Content: "It is sunny."},
		{Role: "developer", Content: "be terse"},
		{Role: "user", Content: "thanks"},
	}})

	// Embeddings.
	run(&messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"one", "two", "three"}})
	run(&messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"one"}, Dimensions: 16})

	// Responses API.
	run(&messages.ResponsesRequest{Model: "gpt-4o", Instructions: "be kind", Input: user("hello"), Temperature: ptr(0.3), MaxOutputTokens: 100})
	run(&messages.ResponsesRequest{Model: "gpt-4o", Input: images, Stream: true})
	run(&messages.ResponsesRequest{Model: "gpt-4o", Input: user(strings.Repeat("long ", 40)), MaxOutputTokens: 16})
	rf := run(&messages.ResponsesRequest{Model: "gpt-4o", Input: user("weather in Rome"), Tools: tools, ToolChoice: "get_weather"}).(*messages.ResponsesResponse)
	run(&messages.ResponsesRequest{Model: "gpt-4o", PreviousResponseID: rf.ID, Tools: tools,
		Input: []messages.Message{{Role: "tool", ToolCallID: rf.ToolCalls[0].ID, Content: "warm"}}})
	run(&messages.ResponsesRequest{Model: "gpt-4o", Tools: tools, ToolChoice: "required", Stream: true, Input: user("weather in Rome")})
	run(&messages.ResponsesRequest{Model: "gpt-4o", Tools: tools, Input: []messages.Message{
		{Role: "system", Content: "sys"},
		{Role: "user", Content: "weather in Rome"},
		{Role: "assistant", Content: "Checking.", ToolCalls: rf.ToolCalls},
		{Role: "tool", ToolCallID: rf.ToolCalls[0].ID, Content: "warm"},
	}})

	// Error answers.
	srv.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "1"}})
	srv.Inject(sim.Fault{Status: 503})
	for range 2 {
		call := newCall(srv, &messages.ChatRequest{Model: "gpt-4o", Messages: user("x")})
		call.Client.HTTP = &http.Client{Transport: ct}
		_, err := do(t, call)
		require.Error(t, err, "fault not answered")
	}
	call := newCall(srv, &messages.ResponsesRequest{Model: "gpt-4o", PreviousResponseID: "resp_missing", Input: user("x")})
	call.Client.HTTP = &http.Client{Transport: ct}
	_, err := do(t, call)
	require.Error(t, err, "unknown previous response accepted")

	require.Equal(t, 1, srv.InvalidCalls(), "simulator rejected %d requests, want 1", srv.InvalidCalls())

	requestSchema := map[string]string{
		"/v1/chat/completions": "CreateChatCompletionRequest",
		"/v1/embeddings":       "CreateEmbeddingRequest",
		"/v1/responses":        "CreateResponse",
	}
	counts := map[string]int{}
	for _, rec := range srv.Requests() {
		schema := requestSchema[rec.Path]
		err := validate(t, schema, rec.Body)
		assert.NoError(t, err, "request to %s violates %s: %v\n%s", rec.Path, schema, err, rec.Body)
		counts[rec.Path]++
	}
	require.Equal(t, 11, counts["/v1/chat/completions"], "validated %v", counts)
	require.Equal(t, 2, counts["/v1/embeddings"], "validated %v", counts)
	require.Equal(t, 8, counts["/v1/responses"], "validated %v", counts)

	answerSchema := map[string][2]string{
		"/v1/chat/completions": {"CreateChatCompletionResponse", "CreateChatCompletionStreamResponse"},
		"/v1/embeddings":       {"CreateEmbeddingResponse", ""},
		"/v1/responses":        {"Response", "ResponseStreamEvent"},
	}
	nAnswers, nEvents, nErrors := 0, 0, 0
	for _, c := range ct.Responses() {
		body := c.Body.Bytes()
		switch {
		case c.Status != http.StatusOK:
			nErrors++
			err := validate(t, "ErrorResponse", body)
			assert.NoError(t, err, "error answer %d from %s violates ErrorResponse: %v\n%s", c.Status, c.Path, err, body)
		case c.HasContentType("text/event-stream"):
			sse := providers.NewSSEReader(bytes.NewReader(body))
			for {
				ev, err := sse.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				if string(ev.Data) == "[DONE]" {
					continue
				}
				nEvents++
				schema := answerSchema[c.Path][1]
				err = validate(t, schema, ev.Data)
				assert.NoError(t, err, "stream event %q from %s violates %s: %v\n%s", ev.Event, c.Path, schema, err, ev.Data)
				if ev.Event != "" {
					var typ struct {
						Type string `json:"type"`
					}
					_ = json.Unmarshal(ev.Data, &typ) // a body that is not JSON leaves the type empty and fails below
					assert.Equal(t, ev.Event, typ.Type, "event line %q but type %q", ev.Event, typ.Type)
				}
			}
		default:
			nAnswers++
			schema := answerSchema[c.Path][0]
			err := validate(t, schema, body)
			assert.NoError(t, err, "answer from %s violates %s: %v\n%s", c.Path, schema, err, body)
		}
	}
	require.Equal(t, 13, nAnswers, "validated %d answers, %d stream events, %d errors", nAnswers, nEvents, nErrors)
	require.GreaterOrEqual(t, nEvents, 30, "validated %d answers, %d stream events, %d errors", nAnswers, nEvents, nErrors)
	require.Equal(t, 3, nErrors, "validated %d answers, %d stream events, %d errors", nAnswers, nEvents, nErrors)
}

// TestSpecRejectsInvalid shows the validator is not vacuous.
func TestSpecRejectsInvalid(t *testing.T) {
	tests := []struct {
		name, schema, body string
	}{
		{"chat wrong role", "CreateChatCompletionRequest", `{"model":"gpt-4o","messages":[{"role":"wizard","content":"hi"}]}`},
		{"chat missing messages", "CreateChatCompletionRequest", `{"model":"gpt-4o"}`},
		{"chat string temperature", "CreateChatCompletionRequest", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`},
		{"chat object tool arguments", "CreateChatCompletionRequest", `{"model":"gpt-4o","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]}`},
		{"chat tool without tool_call_id", "CreateChatCompletionRequest", `{"model":"gpt-4o","messages":[{"role":"tool","content":"x"}]}`},
		{"embeddings unknown field", "CreateEmbeddingRequest", `{"model":"m","input":["a"],"priority":1}`},
		{"embeddings empty array", "CreateEmbeddingRequest", `{"model":"m","input":[]}`},
		{"responses input number", "CreateResponse", `{"model":"gpt-4o","input":5}`},
		{"responses wrong role", "CreateResponse", `{"model":"gpt-4o","input":[{"type":"message","role":"wizard","content":[{"type":"input_text","text":"x"}]}]}`},
		{"responses unknown item", "CreateResponse", `{"model":"gpt-4o","input":[{"type":"bogus","call_id":"c"}]}`},
		{"stream chunk bad finish", "CreateChatCompletionStreamResponse", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"banana"}]}`},
		{"responses small max_output_tokens", "CreateResponse", `{"model":"gpt-4o","input":"x","max_output_tokens":4}`},
		{"chat answer without choices", "CreateChatCompletionResponse", `{"id":"c","object":"chat.completion","created":1,"model":"m"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, validate(t, tt.schema, []byte(tt.body)), "%s accepted %s", tt.schema, tt.body)
		})
	}
	// And a valid one passes, so the rejections above are about the defect.
	require.NoError(t, validate(t, "CreateChatCompletionRequest", []byte(`{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`)), "valid body rejected")
}
