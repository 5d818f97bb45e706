package ollama_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The official Ollama spec (testdata/ollama/SOURCE.md), compiled once per
// test binary.
const (
	specFile = "../../testdata/ollama/openapi.yaml"
	specURL  = "file:///ollama/openapi.json"
)

var specNames = []string{
	"ChatRequest", "GenerateRequest", "EmbedRequest", "ShowRequest",
	"ChatResponse", "ChatStreamEvent", "GenerateResponse", "GenerateStreamEvent", "EmbedResponse",
	"ListResponse", "ShowResponse", "VersionResponse",
}

var (
	specOnce    sync.Once
	specSchemas map[string]*jsonschema.Schema
	specErr     error
)

// loadSpec reads the YAML, turns it into JSON (so that numbers and maps have
// the types the validator expects) and compiles the component schemas as
// JSON Schema 2020-12, which is what OpenAPI 3.1 schemas are.
func loadSpec() {
	raw, err := os.ReadFile(specFile)
	if err != nil {
		specErr = err
		return
	}
	var y any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		specErr = err
		return
	}
	js, err := json.Marshal(y)
	if err != nil {
		specErr = err
		return
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		specErr = err
		return
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(specURL, doc); err != nil {
		specErr = err
		return
	}
	specSchemas = map[string]*jsonschema.Schema{}
	for _, n := range specNames {
		s, err := c.Compile(specURL + "#/components/schemas/" + n)
		if err != nil {
			specErr = err
			return
		}
		specSchemas[n] = s
	}
}

func validate(t *testing.T, schema string, body []byte) error {
	t.Helper()
	specOnce.Do(loadSpec)
	require.NoError(t, specErr, "loading the Ollama spec")
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err, "%s: body is not JSON: %v\n%s", schema, err, body)
	return specSchemas[schema].Validate(v)
}

// specRequests is one of each request shape the adapter builds.
func specRequests() []messages.Request {
	return []messages.Request{
		&messages.ChatRequest{Model: "llama3.2", Messages: user("Hello")},
		&messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("Hello there, stream please")},
		&messages.ChatRequest{Model: "llama3.2", System: "Be brief.", Temperature: ptr(0.3), TopP: ptr(0.9), MaxTokens: 20, Stop: []string{"END", "STOP"},
			Messages: user("Hi"), Extra: map[string]any{"keep_alive": "5m", "format": "json", "think": false, "options": map[string]any{"seed": 42, "num_ctx": 4096}}},
		&messages.ChatRequest{Model: "llava", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
			{Type: messages.PartText, Text: "What is this?"}, {Type: messages.PartImage, Data: pngBytes}}}}},
		&messages.ChatRequest{Model: "llama3.2", Tools: []messages.Tool{weatherTool, {Name: "now"}}, Messages: user("weather in Paris")},
		&messages.ChatRequest{Model: "llama3.2", Stream: true, Tools: []messages.Tool{weatherTool}, Messages: user("weather in Paris")},
		&messages.ChatRequest{Model: "llama3.2", Tools: []messages.Tool{weatherTool}, Messages: []messages.Message{
			{Role: "user", Content: "weather in Paris"},
			{Role: "assistant", ToolCalls: []messages.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Paris"}`)}}},
			{Role: "tool", ToolCallID: "call_1", Content: "sunny", IsError: false},
			{Role: "assistant", Content: "It is sunny."},
			{Role: "user", Content: "thanks"},
		}},
		&messages.GenerateRequest{Model: "llama3.2", Prompt: "Why is the sky blue?"},
		&messages.GenerateRequest{Model: "llama3.2", Prompt: "Why is the sky blue?", Stream: true, MaxTokens: 3, Temperature: ptr(1.0),
			Extra: map[string]any{"system": "short", "suffix": "", "raw": true, "keep_alive": 0}},
		&messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"one", "two three"}},
		&messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"x"}, Dimensions: 4, Truncate: ptr(true)},
		&messages.InfoRequest{What: "show", Model: "llama3.2"},
		&messages.InfoRequest{What: "version"},
		&messages.ModelsRequest{},
	}
}

var requestSchema = map[string]string{"/api/chat": "ChatRequest", "/api/generate": "GenerateRequest", "/api/embed": "EmbedRequest", "/api/show": "ShowRequest"}

// answerSchema maps a path to the schema of a whole answer and of a stream
// line.
var answerSchema = map[string][2]string{
	"/api/chat":     {"ChatResponse", "ChatStreamEvent"},
	"/api/generate": {"GenerateResponse", "GenerateStreamEvent"},
	"/api/embed":    {"EmbedResponse"},
	"/api/tags":     {"ListResponse"},
	"/api/show":     {"ShowResponse"},
	"/api/version":  {"VersionResponse"},
}

// TestSpecRequests validates every request body the adapter builds against
// the official spec, and every answer of the simulator too.
func TestSpecRequests(t *testing.T) {
	ct := &providertest.CaptureTransport{}
	srv := startSim(t, nil)
	for _, req := range specRequests() {
		call := newCall(srv.URL, req)
		call.Client = &providers.Client{HTTP: &http.Client{Transport: ct}, HeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second}
		call.Emit = (&recorder{}).Emit
		_, err := do(t, call)
		require.NoError(t, err, "%T: %v", req, err)
	}
	require.Equal(t, 0, srv.InvalidCalls(), "the simulator rejected %d requests", srv.InvalidCalls())
	nBodies := 0
	for _, rec := range srv.Requests() {
		schema, ok := requestSchema[rec.Path]
		if !ok {
			assert.Len(t, rec.Body, 0, "%s %s has a body", rec.Method, rec.Path)
			continue
		}
		nBodies++
		err := validate(t, schema, rec.Body)
		assert.NoError(t, err, "%s body violates %s: %v\n%s", rec.Path, schema, err, rec.Body)
	}
	nAnswers, nLines := 0, 0
	for _, c := range ct.Responses() {
		require.Equal(t, 200, c.Status, "%s answered %d", c.Path, c.Status)
		schemas := answerSchema[c.Path]
		if c.HasContentType("application/x-ndjson") {
			for _, line := range bytes.Split(bytes.TrimSpace(c.Body.Bytes()), []byte("\n")) {
				nLines++
				err := validate(t, schemas[1], line)
				assert.NoError(t, err, "stream line from %s violates %s: %v\n%s", c.Path, schemas[1], err, line)
			}
			continue
		}
		nAnswers++
		err := validate(t, schemas[0], c.Body.Bytes())
		assert.NoError(t, err, "answer from %s violates %s: %v\n%s", c.Path, schemas[0], err, c.Body.Bytes())
	}
	require.Equal(t, 12, nBodies, "validated %d request bodies, %d answers, %d stream lines", nBodies, nAnswers, nLines)
	require.Equal(t, 11, nAnswers, "validated %d request bodies, %d answers, %d stream lines", nBodies, nAnswers, nLines)
	require.GreaterOrEqual(t, nLines, 8, "validated %d request bodies, %d answers, %d stream lines", nBodies, nAnswers, nLines)
}

// TestSpecRejectsInvalid shows the validator is not vacuous.
func TestSpecRejectsInvalid(t *testing.T) {
	tests := []struct {
		name, schema, body string
	}{
		{"chat wrong role", "ChatRequest", `{"model":"llama3.2","messages":[{"role":"wizard","content":"hi"}]}`},
		{"chat missing model", "ChatRequest", `{"messages":[{"role":"user","content":"hi"}]}`},
		{"chat missing content", "ChatRequest", `{"model":"m","messages":[{"role":"assistant"}]}`},
		{"chat string arguments", "ChatRequest", `{"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}]}`},
		{"chat tool without parameters", "ChatRequest", `{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f"}}]}`},
		{"chat string temperature", "ChatRequest", `{"model":"m","messages":[],"options":{"temperature":"hot"}}`},
		{"chat stream string", "ChatRequest", `{"model":"m","messages":[],"stream":"yes"}`},
		{"chat format yaml", "ChatRequest", `{"model":"m","messages":[],"format":"yaml"}`},
		{"generate image number", "GenerateRequest", `{"model":"m","prompt":"x","images":[1]}`},
		{"embed input number", "EmbedRequest", `{"model":"m","input":5}`},
		{"embed missing input", "EmbedRequest", `{"model":"m"}`},
		{"show missing model", "ShowRequest", `{"verbose":true}`},
		{"chat answer done string", "ChatResponse", `{"model":"m","done":"true"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, validate(t, tt.schema, []byte(tt.body)), "%s accepted %s", tt.schema, tt.body)
		})
	}
	require.NoError(t, validate(t, "ChatRequest", []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`)), "valid body rejected")
}

// TestSpecSimRejects checks that the simulator rejects, with Ollama's 400,
// the bodies the spec rejects (those the real server rejects too).
func TestSpecSimRejects(t *testing.T) {
	srv := startSim(t, sim.Ollama())
	bodies := map[string]string{
		"/api/chat":     `{"model":"llama3.2","messages":[{"role":"wizard","content":"hi"}],"stream":false}`,
		"/api/generate": `{"model":"llama3.2","prompt":"x","images":[1],"stream":false}`,
		"/api/embed":    `{"model":"embeddinggemma","input":5}`,
		"/api/show":     `{"verbose":true}`,
	}
	for path, body := range bodies {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(body))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Error string `json:"error"`
		}
		assert.False(t, resp.StatusCode != 400 || json.Unmarshal(b, &e) != nil || e.Error == "", "%s %s: %d %s", path, body, resp.StatusCode, b)
		assert.Error(t, validate(t, requestSchema[path], []byte(body)), "the spec accepts %s", body)
	}
	require.Equal(t, len(bodies), srv.InvalidCalls(), "%d invalid calls counted", srv.InvalidCalls())
}
