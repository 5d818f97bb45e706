package groq_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/groq"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Groq publishes no spec file (its Stainless spec lives only at a hosted URL;
// wire-protocols.md §2), so a Groq request body is checked as "the OpenAI
// spec plus Groq's differences": the fields Groq defines differently or adds
// are checked against groqExtras (values from groq-python's
// completion_create_params), everything else against the official
// CreateChatCompletionRequest, and stream_options, which Groq rejects, must
// be absent.
var groqOwn = []string{"service_tier", "reasoning_effort", "reasoning_format", "include_reasoning", "documents",
	"citation_options", "search_settings", "compound_custom", "disable_tool_validation", "exclude_domains", "include_domains"}

var groqExtras = map[string]any{
	"$schema": "https://json-schema.org/draft/2020-12/schema",
	"type":    "object",
	"properties": map[string]any{
		"service_tier":            map[string]any{"enum": []any{"auto", "on_demand", "flex", "performance", nil}},
		"reasoning_effort":        map[string]any{"enum": []any{"none", "default", "low", "medium", "high", nil}},
		"reasoning_format":        map[string]any{"enum": []any{"hidden", "raw", "parsed", nil}},
		"include_reasoning":       map[string]any{"type": []any{"boolean", "null"}},
		"documents":               map[string]any{"type": []any{"array", "null"}},
		"citation_options":        map[string]any{"enum": []any{"enabled", "disabled", nil}},
		"search_settings":         map[string]any{"type": []any{"object", "null"}},
		"compound_custom":         map[string]any{"type": []any{"object", "null"}},
		"disable_tool_validation": map[string]any{"type": "boolean"},
		"exclude_domains":         map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "string"}},
		"include_domains":         map[string]any{"type": []any{"array", "null"}, "items": map[string]any{"type": "string"}},
		"n":                       map[string]any{"enum": []any{1, nil}},
	},
	"not": map[string]any{"required": []any{"stream_options"}},
}

// validateGroq validates a Groq chat completion request body.
func validateGroq(t *testing.T, body []byte) error {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m), "body is not a JSON object:\n%s", body)
	v, err := json.Marshal(m)
	require.NoError(t, err)
	var whole any
	_ = json.Unmarshal(v, &whole)
	if err := openaitest.Compile(t, "file:///groq/extras.json", groqExtras).Validate(whole); err != nil {
		return err
	}
	for _, k := range groqOwn {
		delete(m, k)
	}
	rest, _ := json.Marshal(m)
	return openaitest.Validate(t, "CreateChatCompletionRequest", rest)
}

// TestSpecRequests validates every request body the adapter builds.
func TestSpecRequests(t *testing.T) {
	srv := startSim(t, nil)
	a := groq.New()
	run := func(req messages.Request) messages.Response {
		t.Helper()
		call := newCall(srv.URL, req)
		call.Emit = (&recorder{}).Emit
		resp, err := do(t, a, call)
		require.NoError(t, err, "%s: %v", req.Operation(), err)
		return resp
	}
	vision := "meta-llama/llama-4-scout-17b-16e-instruct"
	images := []messages.Message{{Role: "user", Parts: []messages.Part{
		{Type: messages.PartText, Text: "look"},
		{Type: messages.PartImage, ImageURL: "https://example.com/a.jpg"},
		{Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"},
	}}}
	tools := []messages.Tool{weatherTool, {Name: "no_params"}}
	run(&messages.ChatRequest{Model: model, Messages: user("plain")})
	run(&messages.ChatRequest{Model: model, System: "sys", Messages: user("sampling"), Temperature: ptr(1.5), TopP: ptr(0.9), MaxTokens: 50,
		Stop: []string{"a", "b"}, Extra: map[string]any{"seed": 1, "service_tier": "on_demand", "reasoning_format": "hidden", "user": "u-1"}})
	run(&messages.ChatRequest{Model: model, Messages: user("stream this please"), Stream: true})
	run(&messages.ChatRequest{Model: vision, Messages: images})
	run(&messages.ChatRequest{Model: vision, Messages: images, Stream: true})
	first := run(&messages.ChatRequest{Model: model, Messages: user("weather in Paris"), Tools: tools, ToolChoice: "auto"}).(*messages.ChatResponse)
	run(&messages.ChatRequest{Model: model, Messages: user("weather in Paris"), Tools: tools, ToolChoice: "required", Stream: true})
	run(&messages.ChatRequest{Model: model, Tools: tools, ToolChoice: "get_weather", Messages: []messages.Message{
		{Role: "user", Content: "weather in Paris"},
		{Role: "assistant", Content: "Let me check.", ToolCalls: first.ToolCalls},
		{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Parts: []messages.Part{{Type: messages.PartText, Text: "sunny"}}},
	}})
	run(&messages.ChatRequest{Model: model, Tools: tools, ToolChoice: "none", Messages: []messages.Message{
		{Role: "user", Content: "weather in Paris"},
		{Role: "assistant", ToolCalls: first.ToolCalls},
		{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Content: "sunny"},
		{Role: "assistant", Content: "It is sunny."},
		{Role: "user", Content: "thanks"},
	}})
	run(&messages.ModelsRequest{})
	require.Equal(t, 0, srv.InvalidCalls(), "simulator rejected %d requests", srv.InvalidCalls())
	n := 0
	for _, rec := range srv.Requests() {
		if rec.Method != "POST" {
			continue
		}
		n++
		err := validateGroq(t, rec.Body)
		assert.NoError(t, err, "request body violates the Groq schema: %v\n%s", err, rec.Body)
	}
	require.Equal(t, 9, n, "validated %d bodies", n)
}

// TestSpecAnswers validates the simulator's chat answers and stream chunks
// against the OpenAI response schemas, minus Groq's documented differences:
// its additions (x_groq, usage_breakdown, usage timings) are extra
// properties the schema allows; its service tier "on_demand", which OpenAI's
// enum lacks, is dropped; and the message's "refusal", which OpenAI requires
// and Groq does not send, is filled in as null.
func TestSpecAnswers(t *testing.T) {
	for _, name := range []string{"CreateChatCompletionResponse", "CreateChatCompletionStreamResponse", "ListModelsResponse"} {
		openaitest.Schema(t, name)
	}
	strip := func(b []byte) []byte {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		delete(m, "service_tier")
		choices, _ := m["choices"].([]any)
		for _, c := range choices {
			if msg, ok := c.(map[string]any)["message"].(map[string]any); ok {
				if _, has := msg["refusal"]; !has {
					msg["refusal"] = nil
				}
			}
		}
		out, _ := json.Marshal(m)
		return out
	}
	ok := []string{
		`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"logprobs":null,"finish_reason":"stop"}],"usage":{"queue_time":0.01,"prompt_tokens":1,"prompt_time":0.1,"completion_tokens":1,"completion_time":0.1,"total_tokens":2,"total_time":0.2},"usage_breakdown":null,"system_fingerprint":"fp","x_groq":{"id":"req_1"},"service_tier":"on_demand"}`,
	}
	for _, b := range ok {
		require.NoError(t, openaitest.Validate(t, "CreateChatCompletionResponse", strip([]byte(b))), "answer rejected")
	}
	// The simulator's real output, plain and streamed.
	srv := startSim(t, nil)
	for _, stream := range []bool{false, true} {
		call := newCall(srv.URL, &messages.ChatRequest{Model: model, Messages: user("validate me"), Stream: stream})
		ct := &captureTransport{}
		call.Client.HTTP = ct.client()
		call.Emit = (&recorder{}).Emit
		_, err := do(t, groq.New(), call)
		require.NoError(t, err)
		evs := ct.events()
		require.NotEqual(t, 0, len(evs), "captured %d documents (stream %v)", len(evs), stream)
		require.False(t, stream && len(evs) < 3, "captured %d documents (stream %v)", len(evs), stream)
		for _, body := range evs {
			schema := "CreateChatCompletionResponse"
			if stream {
				schema = "CreateChatCompletionStreamResponse"
			}
			err := openaitest.Validate(t, schema, strip(body))
			assert.NoError(t, err, "%s violates %s: %v\n%s", body, schema, err, body)
		}
	}
}

// TestSpecRejectsInvalid shows the Groq validator is not vacuous.
func TestSpecRejectsInvalid(t *testing.T) {
	for name, body := range map[string]string{
		"wrong role":          `{"model":"m","messages":[{"role":"wizard","content":"hi"}]}`,
		"missing messages":    `{"model":"m"}`,
		"string temperature":  `{"model":"m","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`,
		"stream_options":      `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
		"unknown tier":        `{"model":"m","messages":[{"role":"user","content":"hi"}],"service_tier":"turbo"}`,
		"bad reasoning fmt":   `{"model":"m","messages":[{"role":"user","content":"hi"}],"reasoning_format":"verbose"}`,
		"n above one":         `{"model":"m","messages":[{"role":"user","content":"hi"}],"n":2}`,
		"object tool args":    `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]}]}`,
		"tool without its id": `{"model":"m","messages":[{"role":"tool","content":"x"}]}`,
	} {
		t.Run(name, func(t *testing.T) {
			require.Error(t, validateGroq(t, []byte(body)), "accepted %s", body)
		})
	}
	valid := `{"model":"m","messages":[{"role":"user","content":"hi"}],"service_tier":"on_demand","reasoning_format":"parsed","n":1}`
	require.NoError(t, validateGroq(t, []byte(valid)), "valid Groq body rejected")
	require.False(t, slices.Contains(groqOwn, "stream_options"), "stream_options must not be exempt from the OpenAI schema")
}
