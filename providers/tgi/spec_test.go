package tgi_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TGI's OpenAPI document (testdata/tgi/SOURCE.md), compiled once per test
// binary.
var spec = providertest.NewSpec("TGI", "../../testdata/tgi/openapi.json", "file:///tgi/openapi.json", providertest.RewriteOpenAPI30)

var specNames = []string{
	"GenerateRequest", "ChatRequest",
	"GenerateResponse", "StreamResponse", "ChatCompletion", "ChatCompletionChunk", "ErrorResponse", "Info",
}

func validate(t *testing.T, schema string, body []byte) error {
	t.Helper()
	return spec.Validate(t, schema, body)
}

func TestSpecLoads(t *testing.T) {
	for _, n := range specNames {
		spec.Schema(t, n)
	}
	n := spec.Edits(t)
	require.GreaterOrEqual(t, n, 30, "only %d spec edits: did the nullable rewrite run?", n)
}

// TestSpecRequestsAndAnswers runs the adapter against the simulator for every
// request shape it builds, validates each request body against the spec's
// request schema, and each simulator answer (JSON, stream event, error)
// against the response schema.
func TestSpecRequestsAndAnswers(t *testing.T) {
	srv := startSim(t, nil)
	ct := &providertest.CaptureTransport{}
	run := func(req messages.Request, wantErr bool) messages.Response {
		t.Helper()
		call := newCall(srv, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		resp, err := do(t, call)
		require.Equal(t, wantErr, err != nil, "%T: error %v, want error %v", req, err, wantErr)
		return resp
	}
	user := func(s string) []messages.Message { return []messages.Message{{Role: "user", Content: s}} }
	schema := map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}

	// Generation.
	run(&messages.GenerateRequest{Prompt: "plain"}, false)
	run(&messages.GenerateRequest{Prompt: "sampled words here", MaxTokens: 10, Temperature: ptr(0.8), TopP: ptr(0.95), Stop: []string{"here"},
		Extra: map[string]any{"top_k": 5, "seed": 3, "repetition_penalty": 1.1, "grammar": map[string]any{"type": "json", "value": schema}}}, false)
	run(&messages.GenerateRequest{Prompt: "full text", Extra: map[string]any{"return_full_text": true, "decoder_input_details": true, "best_of": 2, "do_sample": true}}, false)
	run(&messages.GenerateRequest{Prompt: "stream these words", Stream: true}, false)
	run(&messages.GenerateRequest{Prompt: "stream these words", Stream: true, MaxTokens: 2, Extra: map[string]any{"add_special_tokens": false}}, false)
	run(&messages.GenerateRequest{Prompt: "bad", Stream: true, Extra: map[string]any{"top_k": 0}}, true) // in-stream validation error

	// Chat.
	run(&messages.ChatRequest{Messages: user("plain")}, false)
	run(&messages.ChatRequest{Model: "tgi", System: "sys", Messages: user("sampling"), Temperature: ptr(0.0), TopP: ptr(0.5), MaxTokens: 20, Stop: []string{"x"},
		Extra: map[string]any{"seed": 1, "frequency_penalty": 0.1}}, false)
	run(&messages.ChatRequest{Model: "tgi", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
		{Type: messages.PartText, Text: "look"}, {Type: messages.PartImage, ImageURL: "https://example.com/a.jpg"}, {Type: messages.PartImage, Data: pngBytes},
	}}}}, false)
	tools := []messages.Tool{weatherTool, {Name: "no_params"}}
	first := run(&messages.ChatRequest{Model: "tgi", Messages: user("weather in Paris"), Tools: tools, ToolChoice: "auto"}, false).(*messages.ChatResponse)
	run(&messages.ChatRequest{Model: "tgi", Tools: tools, ToolChoice: "get_weather", Messages: []messages.Message{
		{Role: "user", Content: "weather in Paris"},
		{Role: "assistant", Content: "Checking.", ToolCalls: first.ToolCalls},
		{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Content: "sunny"},
	}}, false)
	run(&messages.ChatRequest{Model: "tgi", Messages: user("stream this please"), Stream: true}, false)
	run(&messages.ChatRequest{Model: "tgi", Messages: user("weather in Oslo"), Tools: tools, ToolChoice: "required", Stream: true}, false)
	run(&messages.ChatRequest{Model: "tgi", Messages: user("Rome"), Extra: map[string]any{"response_format": map[string]any{
		"type": "json_schema", "value": map[string]any{"name": "city", "schema": schema}}}}, false)
	run(&messages.ModelsRequest{}, false)
	run(&messages.InfoRequest{}, false)

	// Injected error answers.
	srv.Inject(sim.Fault{Status: 422, Path: "/generate"})
	srv.Inject(sim.Fault{Status: 429, Path: "/generate"})
	srv.Inject(sim.Fault{Status: 424, Path: "/v1/chat/completions"})
	run(&messages.GenerateRequest{Prompt: "x"}, true)
	run(&messages.GenerateRequest{Prompt: "x"}, true)
	run(&messages.ChatRequest{Messages: user("x")}, true)

	require.Equal(t, 1, srv.InvalidCalls(), "simulator rejected %d requests, want the in-stream validation error only", srv.InvalidCalls())
	requestSchema := map[string]string{"/generate": "GenerateRequest", "/generate_stream": "GenerateRequest", "/v1/chat/completions": "ChatRequest"}
	counts := map[string]int{}
	for _, rec := range srv.Requests() {
		schema, ok := requestSchema[rec.Path]
		if !ok {
			continue
		}
		err := validate(t, schema, rec.Body)
		switch {
		case bytes.Contains(rec.Body, []byte(`"top_k":0`)):
			// The request the simulator refused: the spec refuses it too.
			assert.Error(t, err, "spec accepts %s", rec.Body)
		default:
			assert.NoError(t, err, "request to %s violates %s:\n%s", rec.Path, schema, rec.Body)
		}
		counts[rec.Path]++
	}
	require.Equal(t, 5, counts["/generate"], "validated %v", counts)
	require.Equal(t, 3, counts["/generate_stream"], "validated %v", counts)
	require.Equal(t, 9, counts["/v1/chat/completions"], "validated %v", counts)

	answerSchema := map[string][2]string{
		"/generate": {"GenerateResponse", ""}, "/generate_stream": {"", "StreamResponse"},
		"/v1/chat/completions": {"ChatCompletion", "ChatCompletionChunk"}, "/info": {"Info", ""},
	}
	nAnswers, nEvents, nErrors := 0, 0, 0
	for _, c := range ct.Responses() {
		body := c.Body.Bytes()
		switch {
		case c.Path == "/v1/models":
			// The spec describes one ModelInfo; the router (and the
			// simulator) answer a list of them.
		case c.Status != http.StatusOK:
			nErrors++
			err := validate(t, "ErrorResponse", body)
			assert.NoError(t, err, "error answer %d from %s violates ErrorResponse: %v\n%s", c.Status, c.Path, err, body)
		case c.HasContentType("text/event-stream"):
			assert.True(t, bytes.HasPrefix(body, []byte("data:{")), "stream from %s does not start with data:{ (no space): %.40q", c.Path, body)
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
				if bytes.Contains(ev.Data, []byte(`"error_type"`)) {
					schema = "ErrorResponse"
				}
				err = validate(t, schema, ev.Data)
				assert.NoError(t, err, "stream event from %s violates %s: %v\n%s", c.Path, schema, err, ev.Data)
			}
		default:
			nAnswers++
			schema := answerSchema[c.Path][0]
			err := validate(t, schema, body)
			assert.NoError(t, err, "answer from %s violates %s: %v\n%s", c.Path, schema, err, body)
		}
	}
	require.Equal(t, 10, nAnswers, "validated %d answers, %d stream events, %d errors", nAnswers, nEvents, nErrors)
	require.GreaterOrEqual(t, nEvents, 15, "validated %d answers, %d stream events, %d errors", nAnswers, nEvents, nErrors)
	require.Equal(t, 3, nErrors, "validated %d answers, %d stream events, %d errors", nAnswers, nEvents, nErrors)
}

// TestSpecRejectsInvalid shows the validator is not vacuous, and documents
// where the spec is stricter than the router.
func TestSpecRejectsInvalid(t *testing.T) {
	tests := []struct {
		name, schema, body string
	}{
		{"generate without inputs", "GenerateRequest", `{"parameters":{}}`},
		{"generate temperature 0", "GenerateRequest", `{"inputs":"x","parameters":{"temperature":0}}`},
		{"generate top_p above 1", "GenerateRequest", `{"inputs":"x","parameters":{"top_p":1.5}}`},
		{"generate five stops", "GenerateRequest", `{"inputs":"x","parameters":{"stop":["a","b","c","d","e"]}}`},
		{"generate bad grammar type", "GenerateRequest", `{"inputs":"x","parameters":{"grammar":{"type":"xml","value":"x"}}}`},
		{"generate max_new_tokens as string", "GenerateRequest", `{"inputs":"x","parameters":{"max_new_tokens":"20"}}`},
		{"chat without messages", "ChatRequest", `{"model":"tgi"}`},
		{"chat message without role", "ChatRequest", `{"messages":[{"content":"x"}]}`},
		{"chat message with content and tool calls", "ChatRequest", `{"messages":[{"role":"assistant","content":"x","tool_calls":[{"id":"0","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`},
		{"chat tool with OpenAI's parameters", "ChatRequest", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`},
		{"chat tool_choice unknown string", "ChatRequest", `{"messages":[{"role":"user","content":"x"}],"tool_choice":"always"}`},
		{"stream event without token", "StreamResponse", `{"index":1,"generated_text":null}`},
		{"stream details bad finish", "StreamResponse", `{"index":1,"token":{"id":1,"text":"a","logprob":0,"special":false},"generated_text":"a","details":{"finish_reason":"stop","generated_tokens":1,"input_length":1}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, validate(t, tt.schema, []byte(tt.body)), "%s accepted %s", tt.schema, tt.body)
		})
	}
	for schema, body := range map[string]string{
		"GenerateRequest": `{"inputs":"x","parameters":{"details":true,"max_new_tokens":5,"temperature":0.5,"grammar":{"type":"regex","value":"a+"}}}`,
		"ChatRequest":     `{"model":"tgi","messages":[{"role":"user","content":"x"}],"max_tokens":5,"tools":[{"type":"function","function":{"name":"f","arguments":{}}}],"tool_choice":"auto"}`,
	} {
		err := validate(t, schema, []byte(body))
		require.NoError(t, err, "valid %s rejected: %v", schema, err)
	}
}
