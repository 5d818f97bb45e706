package azure_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/azure"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"
)

const specURL = "file:///azure/inference.json"

// spec is Azure OpenAI's stable 2024-10-21 inference spec
// (testdata/SOURCES.md), an OpenAPI 3.0 document.
var spec = providertest.NewSpec("Azure OpenAI 2024-10-21", "testdata/inference.json", specURL, providertest.RewriteOpenAPI30)

// The embeddings operation's request and answer schemas are inline in its
// path, not components.
const (
	embedRequestRef = specURL + "#/paths/~1deployments~1%7Bdeployment-id%7D~1embeddings/post/requestBody/content/application~1json/schema"
	embedAnswerRef  = specURL + "#/paths/~1deployments~1%7Bdeployment-id%7D~1embeddings/post/responses/200/content/application~1json/schema"
)

func specSchema(t *testing.T, name string) func([]byte) error {
	t.Helper()
	var sc interface{ Validate(any) error }
	switch name {
	case "embedRequest":
		sc = spec.Compile(t, "file:///azure/embed-request.json", map[string]any{"$ref": embedRequestRef})
	case "embedAnswer":
		sc = spec.Compile(t, "file:///azure/embed-answer.json", map[string]any{"$ref": embedAnswerRef})
	case "v1Error":
		sc = spec.Compile(t, "file:///azure/v1-error.json", v1ErrorSchema(t))
	case "completionChunk":
		sc = spec.Compile(t, "file:///azure/completion-chunk.json", map[string]any{
			"type": "object", "required": []any{"id", "object", "created", "model", "choices"},
			"properties": map[string]any{"choices": map[string]any{"type": "array", "items": map[string]any{
				"type": "object", "required": []any{"index", "text"},
				"properties": map[string]any{"index": map[string]any{"type": "integer"}, "text": map[string]any{"type": "string"},
					"finish_reason": map[string]any{"enum": []any{"stop", "length", "content_filter", nil}}},
			}}},
		})
	default:
		sc = spec.Schema(t, name)
	}
	return func(body []byte) error {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return err
		}
		return sc.Validate(v)
	}
}

// v1ErrorSchema is the v1 API's AzureErrorResponse, read from the spec
// fragment.
func v1ErrorSchema(t *testing.T) any {
	t.Helper()
	b, err := os.ReadFile("testdata/v1-AzureErrorResponse.fragment.txt")
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal([]byte("{"+strings.TrimSuffix(strings.TrimSpace(string(b)), ",")+"}"), &doc))
	sc := doc["AzureErrorResponse"].(map[string]any)
	providertest.RewriteOpenAPI30(sc)
	return sc
}

// declared returns the top-level properties the spec declares for a
// request schema (its allOf branches included).
func declared(t *testing.T, path ...string) []string {
	t.Helper()
	b, err := os.ReadFile("testdata/inference.json")
	require.NoError(t, err)
	var doc any
	require.NoError(t, json.Unmarshal(b, &doc))
	schemas := doc.(map[string]any)["components"].(map[string]any)["schemas"].(map[string]any)
	var node any = doc
	for _, p := range path {
		node = node.(map[string]any)[p]
	}
	var names []string
	var walk func(s map[string]any)
	walk = func(s map[string]any) {
		if ref, ok := s["$ref"].(string); ok {
			walk(schemas[strings.TrimPrefix(ref, "#/components/schemas/")].(map[string]any))
		}
		names = append(names, slices.Collect(maps.Keys(mapOf(s["properties"])))...)
		for _, sub := range sliceOf(s["allOf"]) {
			walk(sub.(map[string]any))
		}
	}
	walk(node.(map[string]any))
	return names
}

func mapOf(v any) map[string]any { m, _ := v.(map[string]any); return m }
func sliceOf(v any) []any        { s, _ := v.([]any); return s }

// undeclaredAllowed are body fields the adapter sends that the 2024-10-21
// request schemas (which do not forbid other fields) do not declare:
//   - model: what the official SDKs send too (openai-go's Azure middleware
//     keeps the body it was given, model included, and only reads it to
//     pick the deployment);
//   - stream_options: the spec defines it (components.schemas.
//     chatCompletionStreamOptions) and the API version lifecycle page
//     dates it to 2024-09-01-preview, but the 2024-10-21 request schemas do
//     not list it.
var undeclaredAllowed = []string{"model", "stream_options"}

// TestSpecRequestsAndAnswers runs the adapter (dated version, the
// deployment form the spec describes) against the simulator for every
// request shape it builds and validates each request body, answer, stream
// event and error answer against the spec.
func TestSpecRequestsAndAnswers(t *testing.T) {
	srv := startSim(t, nil)
	ct := &providertest.CaptureTransport{}
	a := azure.New(providers.AdapterOptions{APIVersion: dated})
	do := func(req messages.Request) *providertest.Run {
		t.Helper()
		call := newCall(srv.URL, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		return run(t, a, call)
	}
	ok := func(req messages.Request) messages.Response {
		t.Helper()
		r := do(req)
		require.NoError(t, r.Err, "%s", req.Operation())
		return r.Resp
	}
	images := []messages.Message{{Role: messages.RoleUser, Parts: []messages.Part{
		{Type: messages.PartText, Text: "look"},
		{Type: messages.PartImage, ImageURL: "https://example.com/a.jpg"},
		{Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"},
	}}}
	tools := []messages.Tool{weatherTool, {Name: "no_params"}}
	temp, topP := 1.5, 0.9

	ok(&messages.ChatRequest{Model: "gpt-4o", Messages: user("plain")})
	ok(&messages.ChatRequest{Model: "gpt-4o", System: "sys", Messages: user("sampling"), Temperature: &temp, TopP: &topP,
		MaxTokens: 50, Stop: []string{"a", "b"}, Extra: map[string]any{"seed": 1, "user": "u-1"}})
	ok(&messages.ChatRequest{Model: "gpt-4o", Messages: user("stream this please"), Stream: true})
	ok(&messages.ChatRequest{Model: "gpt-4o", Messages: images})
	ok(&messages.ChatRequest{Model: "gpt-4o", Messages: images, Stream: true})
	first := ok(&messages.ChatRequest{Model: "gpt-4o", Messages: user("weather in Paris"), Tools: tools, ToolChoice: "auto"}).(*messages.ChatResponse)
	ok(&messages.ChatRequest{Model: "gpt-4o", Messages: user("weather in Paris"), Tools: tools, ToolChoice: "required", Stream: true})
	ok(&messages.ChatRequest{Model: "gpt-4o", Tools: tools, ToolChoice: "get_weather", Messages: []messages.Message{
		{Role: messages.RoleUser, Content: "weather in Paris"},
		{Role: messages.RoleAssistant, Content: "Let me check.", ToolCalls: first.ToolCalls},
		{Role: messages.RoleTool, ToolCallID: first.ToolCalls[0].ID, Parts: []messages.Part{{Type: messages.PartText, Text: "sunny"}}},
	}})
	ok(&messages.ChatRequest{Model: "gpt-4o", Messages: user("cut " + sim.AzureAnswerFilterTrigger), Stream: true})
	ok(&messages.EmbedRequest{Model: "embed", Inputs: []string{"one", "two", "three"}})
	ok(&messages.EmbedRequest{Model: "embed", Inputs: []string{"one"}, Dimensions: 16})
	ok(&messages.GenerateRequest{Model: "instruct", Prompt: "say", MaxTokens: 20})
	ok(&messages.GenerateRequest{Model: "instruct", Prompt: "say it", Stream: true})
	// Error answers, from a simulator of their own so that srv's records
	// are the bodies it accepted: an unknown deployment, a filtered prompt,
	// a body the service refuses, a fault.
	errSrv := startSim(t, nil)
	errSrv.Inject(sim.Fault{Status: 429})
	for _, req := range []messages.Request{
		&messages.ChatRequest{Model: "gpt-4o", Messages: user("x")},
		&messages.ChatRequest{Model: "nope", Messages: user("x")},
		&messages.ChatRequest{Model: "gpt-4o", Messages: user(sim.AzurePromptFilterTrigger)},
		&messages.ChatRequest{Model: "gpt-4o", Messages: user("x"), Extra: map[string]any{"bogus": true}},
	} {
		call := newCall(errSrv.URL, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		require.Error(t, run(t, a, call).Err)
	}
	assert.Zero(t, srv.InvalidCalls())

	requestSchema := map[string]string{
		"/openai/deployments/gpt-4o/chat/completions": "createChatCompletionRequest",
		"/openai/deployments/embed/embeddings":        "embedRequest",
		"/openai/deployments/instruct/completions":    "createCompletionRequest",
	}
	declaredFields := map[string][]string{
		"createChatCompletionRequest": declared(t, "components", "schemas", "createChatCompletionRequest"),
		"createCompletionRequest":     declared(t, "components", "schemas", "createCompletionRequest"),
		"embedRequest": declared(t, "paths", "/deployments/{deployment-id}/embeddings", "post", "requestBody", "content",
			"application/json", "schema"),
	}
	counts := map[string]int{}
	for _, rec := range srv.Requests() {
		name := requestSchema[rec.Path]
		assert.NoError(t, specSchema(t, name)(rec.Body), "request to %s violates %s\n%s", rec.Path, name, rec.Body)
		var body map[string]any
		require.NoError(t, json.Unmarshal(rec.Body, &body))
		for k := range body {
			assert.True(t, slices.Contains(declaredFields[name], k) || slices.Contains(undeclaredAllowed, k),
				"request to %s sends %q, which %s does not declare", rec.Path, k, name)
		}
		counts[name]++
	}
	assert.Equal(t, map[string]int{"createChatCompletionRequest": 9, "embedRequest": 2, "createCompletionRequest": 2}, counts)

	answerSchema := map[string][2]string{
		"/openai/deployments/gpt-4o/chat/completions": {"createChatCompletionResponse", "createChatCompletionStreamResponse"},
		"/openai/deployments/embed/embeddings":        {"embedAnswer", ""},
		"/openai/deployments/instruct/completions":    {"createCompletionResponse", "createCompletionResponse"},
	}
	nAnswers, nEvents, nFilterEvents, nErrors := 0, 0, 0, 0
	for _, c := range ct.Responses() {
		body := c.Body.Bytes()
		switch {
		case c.Status != http.StatusOK:
			nErrors++
			assert.NoError(t, specSchema(t, "errorResponse")(withoutNulls(t, body)), "error answer %d from %s\n%s", c.Status, c.Path, body)
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
				var head struct {
					Object  string `json:"object"`
					Filters []any  `json:"prompt_filter_results"`
				}
				require.NoError(t, json.Unmarshal(ev.Data, &head))
				if head.Object == "" && len(head.Filters) > 0 {
					// Azure's opening event of a chat stream: the prompt's
					// filter results, with empty id, model and object,
					// which the 2024-10-21 chunk schema does not describe.
					nFilterEvents++
					continue
				}
				nEvents++
				name := answerSchema[c.Path][1]
				if name == "createCompletionResponse" {
					// The spec gives streamed completions the answer's
					// shape, with finish_reason and usage not nullable;
					// every chunk but the last has them null, on the
					// service as in OpenAI's spec. Only the shape of the
					// choices is checked.
					name = "completionChunk"
				}
				assert.NoError(t, specSchema(t, name)(ev.Data), "stream event from %s violates %s\n%s", c.Path, name, ev.Data)
			}
		default:
			nAnswers++
			name := answerSchema[c.Path][0]
			assert.NoError(t, specSchema(t, name)(body), "answer from %s violates %s\n%s", c.Path, name, body)
		}
	}
	assert.Equal(t, 8, nAnswers)
	assert.Equal(t, 4, nFilterEvents, "every chat stream opens with the prompt's filter results")
	assert.GreaterOrEqual(t, nEvents, 20)
	assert.Equal(t, 4, nErrors)
}

// TestSpecV1Bodies validates what the v1 API is sent and answers: chat and
// embedding bodies against the same schemas (the v1 API takes the same
// fields, with the deployment as the model), Responses bodies against
// OpenAI's CreateResponse (the v1 API is OpenAI's), and its error answers
// against the v1 spec's AzureErrorResponse.
func TestSpecV1Bodies(t *testing.T) {
	srv := startSim(t, nil)
	ct := &providertest.CaptureTransport{}
	a := azure.New(providers.AdapterOptions{})
	do := func(req messages.Request) error {
		call := newCall(srv.URL, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		return run(t, a, call).Err
	}
	require.NoError(t, do(&messages.ChatRequest{Model: "chat", Messages: user("hi"), Tools: []messages.Tool{weatherTool}, Stream: true}))
	require.NoError(t, do(&messages.EmbedRequest{Model: "embed", Inputs: []string{"a", "b"}}))
	require.NoError(t, do(&messages.ResponsesRequest{Model: "chat", Instructions: "be kind", Input: user("hi"), MaxOutputTokens: 100}))
	require.Error(t, do(&messages.ChatRequest{Model: "nope", Messages: user("hi")}))
	require.Error(t, do(&messages.ChatRequest{Model: "chat", Messages: user(sim.AzurePromptFilterTrigger)}))
	require.Error(t, do(&messages.ChatRequest{Model: "chat", Messages: user("hi"), Extra: map[string]any{"bogus": 1}}))

	for _, rec := range srv.Requests() {
		var err error
		switch rec.Path {
		case "/openai/v1/chat/completions":
			err = specSchema(t, "createChatCompletionRequest")(rec.Body)
		case "/openai/v1/embeddings":
			err = specSchema(t, "embedRequest")(rec.Body)
		case "/openai/v1/responses":
			err = openaitest.Validate(t, "CreateResponse", rec.Body)
		default:
			t.Fatalf("request to %s", rec.Path)
		}
		assert.NoError(t, err, "request to %s\n%s", rec.Path, rec.Body)
	}
	nErrors := 0
	for _, c := range ct.Responses() {
		if c.Status != http.StatusOK {
			nErrors++
			assert.NoError(t, specSchema(t, "v1Error")(withoutNulls(t, c.Body.Bytes())), "error answer %d\n%s", c.Status, c.Body.Bytes())
		}
	}
	assert.Equal(t, 3, nErrors)
}

// withoutNulls drops the null members of an error answer's "error"
// object: the service sends null for a type, code or param it has none of
// (testdata/content_filter_response_error.json, a recorded answer, has
// "type": null), which the specs type as strings.
func withoutNulls(t *testing.T, body []byte) []byte {
	t.Helper()
	var doc map[string]map[string]any
	require.NoError(t, json.Unmarshal(body, &doc), "%s", body)
	maps.DeleteFunc(doc["error"], func(_ string, v any) bool { return v == nil })
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// TestSpecRejectsInvalid shows the validators are not vacuous.
func TestSpecRejectsInvalid(t *testing.T) {
	for _, tc := range []struct{ schema, body string }{
		{"createChatCompletionRequest", `{"messages":[]}`},
		{"createChatCompletionRequest", `{"messages":[{"role":"wizard","content":"hi"}]}`},
		{"createChatCompletionRequest", `{"messages":[{"role":"user","content":"hi"}],"temperature":"hot"}`},
		{"createCompletionRequest", `{"max_tokens":3}`},
		{"embedRequest", `{"input":[]}`},
		{"embedRequest", `{"input":[""]}`},
		{"embedAnswer", `{"object":"list","model":"m","data":[{"index":0,"object":"embedding"}],"usage":{"prompt_tokens":1,"total_tokens":1}}`},
		{"createChatCompletionStreamResponse", `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"banana"}]}`},
		{"createChatCompletionStreamResponse", `{"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[]}`},
		{"createChatCompletionResponse", `{"id":"c","object":"chat.completion","created":1,"model":"m"}`},
		{"errorResponse", `{"error":{"code":404}}`},
		{"v1Error", `{"error":{"code":"x","message":"m","type":"invalid_request_error"}}`},
		{"completionChunk", `{"id":"c","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":"x","finish_reason":"banana"}]}`},
	} {
		t.Run(tc.schema, func(t *testing.T) {
			assert.Error(t, specSchema(t, tc.schema)([]byte(tc.body)), "%s accepted %s", tc.schema, tc.body)
		})
	}
	assert.NoError(t, specSchema(t, "createChatCompletionRequest")([]byte(`{"messages":[{"role":"user","content":"hi"}]}`)))
	assert.NoError(t, specSchema(t, "v1Error")([]byte(`{"error":{"code":"x","message":"m","type":"error"}}`)))
}
