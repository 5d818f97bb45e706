package gemini

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawPost sends body to the simulator as is and returns the status,
// headers and body of the answer.
func rawPost(t *testing.T, s *sim.Server, method, path string, header map[string]string, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

var validHeaders = map[string]string{"X-Goog-Api-Key": testSecret, "Content-Type": "application/json"}

// checkRPC checks an answer: 200, or a google.rpc.Status error body with
// the status, its code name and a message containing msg, counted as
// invalid.
func checkRPC(t *testing.T, s *sim.Server, status int, body []byte, wantStatus int, msg string) {
	t.Helper()
	require.Equal(t, wantStatus, status, "status %d, want %d: %s", status, wantStatus, body)
	if wantStatus == 200 {
		assert.Equal(t, 0, s.InvalidCalls(), "counted as invalid")
		return
	}
	var env struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	err := json.Unmarshal(body, &env)
	require.NoError(t, err, "error body %s: %v", body, err)
	names := map[int]string{400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND"}
	assert.Equal(t, wantStatus, env.Error.Code, "error = %+v, want %d %s containing %q", env.Error, wantStatus, names[wantStatus], msg)
	assert.Equal(t, names[wantStatus], env.Error.Status, "error = %+v, want %d %s containing %q", env.Error, wantStatus, names[wantStatus], msg)
	assert.NotEqual(t, "", env.Error.Message, "error = %+v, want %d %s containing %q", env.Error, wantStatus, names[wantStatus], msg)
	assert.Contains(t, env.Error.Message, msg, "error = %+v, want %d %s containing %q", env.Error, wantStatus, names[wantStatus], msg)
	if wantStatus != 401 {
		assert.Equal(t, 1, s.InvalidCalls(), "InvalidCalls")
	}
}

func headersWith(kv ...string) map[string]string {
	h := map[string]string{}
	for k, v := range validHeaders {
		h[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(h, kv[i])
		} else {
			h[kv[i]] = kv[i+1]
		}
	}
	return h
}

// TestSimulatorIsStrict checks that the simulator rejects what the real API
// rejects, with the real error format, so the adapter tests mean something.
func TestSimulatorIsStrict(t *testing.T) {
	const (
		gen   = "/v1beta/models/" + chatModel + ":generateContent"
		emb   = "/v1beta/models/" + embedModel + ":embedContent"
		batch = "/v1beta/models/" + embedModel + ":batchEmbedContents"
		count = "/v1beta/models/" + chatModel + ":countTokens"
		hi    = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]`
		ok    = hi + `}`
		tool  = `"tools":[{"functionDeclarations":[{"name":"get_weather","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}}}}]}]`
		call  = `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Oslo"}}}]}`
		resp  = `{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"t":1}}}]}`
	)
	tests := []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   string
		status int
		msg    string // substring
	}{
		{"valid", "POST", gen, validHeaders, ok, 200, ""},
		{"key as query parameter", "POST", gen + "?key=" + testSecret, headersWith("X-Goog-Api-Key", ""), ok, 200, ""},
		{"no key", "POST", gen, headersWith("X-Goog-Api-Key", ""), ok, 401, "API key not valid"},
		{"bearer is not x-goog-api-key", "POST", gen, headersWith("X-Goog-Api-Key", "", "Authorization", "Bearer "+testSecret), ok, 401, ""},
		{"not JSON content type", "POST", gen, headersWith("Content-Type", "text/plain"), ok, 400, "Content-Type"},
		{"GET", "GET", gen, validHeaders, "", 404, ""},
		{"v1 path", "POST", "/v1/models/" + chatModel + ":generateContent", validHeaders, ok, 404, ""},
		{"model without collection", "POST", "/v1beta/" + chatModel + ":generateContent", validHeaders, ok, 404, ""},
		{"unknown method", "POST", "/v1beta/models/" + chatModel + ":complete", validHeaders, ok, 404, "Method not found."},
		{"OpenAI path", "POST", "/v1beta/chat/completions", validHeaders, ok, 404, ""},
		{"embedding model for chat", "POST", "/v1beta/models/" + embedModel + ":generateContent", validHeaders, ok, 404, "not supported for generateContent"},
		{"unknown query parameter", "POST", gen + "?stream=true", validHeaders, ok, 400, `Unknown name "stream": Cannot bind query parameter.`},
		{"not JSON", "POST", gen, validHeaders, `{"contents":`, 400, "Invalid JSON payload received."},
		{"trailing data", "POST", gen, validHeaders, ok + `{}`, 400, "Invalid JSON payload received."},
		{"string temperature", "POST", gen, validHeaders, hi + `,"generationConfig":{"temperature":"hot"}}`, 400, `Invalid value at 'generation_config.temperature' (TYPE_FLOAT), "hot"`},
		{"numeric string temperature is proto3 JSON", "POST", gen, validHeaders, hi + `,"generationConfig":{"temperature":"0.5"}}`, 200, ""},
		{"fractional maxOutputTokens", "POST", gen, validHeaders, hi + `,"generationConfig":{"maxOutputTokens":1.5}}`, 400, "(TYPE_INT32), 1.5"},
		{"OpenAI max_tokens", "POST", gen, validHeaders, hi + `,"generationConfig":{"max_tokens":10}}`, 400, `Unknown name "max_tokens" at 'generation_config': Cannot find field.`},
		{"temperature above 2", "POST", gen, validHeaders, hi + `,"generationConfig":{"temperature":2.5}}`, 400, "temperature must be in the range [0.0, 2.0]"},
		{"negative maxOutputTokens", "POST", gen, validHeaders, hi + `,"generationConfig":{"maxOutputTokens":-1}}`, 400, "max_output_tokens must be positive"},
		{"six stop sequences", "POST", gen, validHeaders, hi + `,"generationConfig":{"stopSequences":["a","b","c","d","e","f"]}}`, 400, "stop_sequences must not exceed 5"},
		{"stop as a list in a scalar", "POST", gen, validHeaders, hi + `,"generationConfig":{"responseMimeType":["a"]}}`, 400, "Proto field is not repeating, cannot start list."},
		{"top-level generation fields", "POST", gen, validHeaders, hi + `,"temperature":0.5}`, 400, `Unknown name "temperature": Cannot find field.`},
		{"system instruction with an image", "POST", gen, validHeaders, hi + `,"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}`, 400, "system_instruction only supports text parts"},
		{"tools with JSON Schema", "POST", gen, validHeaders, hi + `,` + tool + `}`, 200, ""},
		{"additionalProperties in parameters", "POST", gen, validHeaders, hi + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","additionalProperties":false}}]}]}`, 400,
			`Unknown name "additionalProperties" at 'tools[0].function_declarations[0].parameters': Cannot find field.`},
		{"lowercase schema types", "POST", gen, validHeaders, hi + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}}]}]}`, 200, ""},
		{"required property not defined", "POST", gen, validHeaders, hi + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING"}},"required":["b"]}}]}]}`, 400, "parameters.required[0]: property is not defined"},
		{"bad schema type", "POST", gen, validHeaders, hi + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"dict"}}]}]}`, 400, "google.ai.generativelanguage.v1beta.Type"},
		{"both parameter forms", "POST", gen, validHeaders, hi + `,"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT"},"parametersJsonSchema":{"type":"object"}}]}]}`, 400, "mutually exclusive"},
		{"function name with a space", "POST", gen, validHeaders, hi + `,"tools":[{"functionDeclarations":[{"name":"get weather"}]}]}`, 400, "Invalid function name."},
		{"duplicate function", "POST", gen, validHeaders, hi + `,"tools":[{"functionDeclarations":[{"name":"f"},{"name":"f"}]}]}`, 400, "Duplicate function declaration name: f"},
		{"OpenAI-style tool", "POST", gen, validHeaders, hi + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, `Unknown name "function" at 'tools[0]': Cannot find field.`},
		{"bad calling mode", "POST", gen, validHeaders, hi + `,` + tool + `,"toolConfig":{"functionCallingConfig":{"mode":"REQUIRED"}}}`, 400, "FunctionCallingMode"},
		{"mode ANY without functions", "POST", gen, validHeaders, hi + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`, 400, "Function calling config is set without function_declarations."},
		{"allowed names with AUTO", "POST", gen, validHeaders, hi + `,` + tool + `,"toolConfig":{"functionCallingConfig":{"mode":"AUTO","allowedFunctionNames":["get_weather"]}}}`, 400, "only allowed when mode is ANY"},
		{"allowed name not declared", "POST", gen, validHeaders, hi + `,` + tool + `,"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["nope"]}}}`, 400, `function "nope" is not declared`},
		{"function round trip", "POST", gen, validHeaders, `{"contents":[{"role":"user","parts":[{"text":"weather"}]},` + call + `,` + resp + `],` + tool + `}`, 200, ""},
		{"function call in a user turn", "POST", gen, validHeaders, `{"contents":[{"role":"user","parts":[{"functionCall":{"name":"f"}}]}]}`, 400, "function calls are only allowed in model turns"},
		{"function call first", "POST", gen, validHeaders, `{"contents":[` + call + `,` + resp + `]}`, 400, "function call turn comes immediately after a user turn or after a function response turn"},
		{"function response without call", "POST", gen, validHeaders, `{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"text":"y"}]},` + resp + `]}`, 400, "function response turn comes immediately after a function call turn"},
		{"function response with another name", "POST", gen, validHeaders, `{"contents":[{"role":"user","parts":[{"text":"x"}]},` + call + `,` + strings.Replace(resp, "get_weather", "other", 1) + `]}`, 400, `"other" answers no function call`},
		{"function response not an object", "POST", gen, validHeaders, `{"contents":[{"role":"user","parts":[{"text":"x"}]},` + call + `,` + strings.Replace(resp, `{"t":1}`, `"sunny"`, 1) + `]}`, 400, "google.protobuf.Struct"},
		{"function call args not an object", "POST", gen, validHeaders, `{"contents":[{"role":"user","parts":[{"text":"x"}]},` + strings.Replace(call, `{"city":"Oslo"}`, `"{}"`, 1) + `]}`, 400, "google.protobuf.Struct"},
		{"gemini 3 call without signature", "POST", "/v1beta/models/" + modelV3 + ":generateContent", validHeaders, `{"contents":[{"role":"user","parts":[{"text":"x"}]},` + call + `,` + resp + `]}`, 400, "missing a thought_signature"},
		{"gemini 3 call with a forged signature", "POST", "/v1beta/models/" + modelV3 + ":generateContent", validHeaders, `{"contents":[{"role":"user","parts":[{"text":"x"}]},` +
			strings.Replace(call, `}}]}`, `},"thoughtSignature":"Zm9yZ2Vk"}]}`, 1) + `,` + resp + `]}`, 400, "Corrupted thought signature."},
		{"gemini 3 old turn needs no signature", "POST", "/v1beta/models/" + modelV3 + ":generateContent", validHeaders, `{"contents":[{"role":"user","parts":[{"text":"x"}]},` + call + `,` + resp +
			`,{"role":"model","parts":[{"text":"ok"}]},{"role":"user","parts":[{"text":"thanks"}]}]}`, 200, ""},
		{"bad safety category", "POST", gen, validHeaders, hi + `,"safetySettings":[{"category":"HARM_CATEGORY_RUDE","threshold":"BLOCK_NONE"}]}`, 400, "HarmCategory"},
		{"valid embedContent", "POST", emb, validHeaders, `{"model":"models/` + embedModel + `","content":{"parts":[{"text":"a"}]},"taskType":"RETRIEVAL_QUERY","outputDimensionality":4}`, 200, ""},
		{"embed model mismatch", "POST", emb, validHeaders, `{"model":"models/other-embedding","content":{"parts":[{"text":"a"}]}}`, 400, "does not match the model in the URL"},
		{"embed without content", "POST", emb, validHeaders, `{"model":"models/` + embedModel + `"}`, 400, "content is not specified"},
		{"embed unknown task type", "POST", emb, validHeaders, `{"content":{"parts":[{"text":"a"}]},"taskType":"SUMMARIZE"}`, 400, "google.ai.generativelanguage.v1beta.TaskType"},
		{"embed an image", "POST", emb, validHeaders, `{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}`, 400, "only text parts can be embedded"},
		{"embed title without RETRIEVAL_DOCUMENT", "POST", emb, validHeaders, `{"content":{"parts":[{"text":"a"}]},"title":"t"}`, 400, "title is only supported"},
		{"embed OpenAI input", "POST", emb, validHeaders, `{"input":["a"]}`, 400, `Unknown name "input": Cannot find field.`},
		{"chat model for embeddings", "POST", "/v1beta/models/" + chatModel + ":embedContent", validHeaders, `{"content":{"parts":[{"text":"a"}]}}`, 404, "not supported for embedContent"},
		{"valid batch", "POST", batch, validHeaders, `{"requests":[{"model":"models/` + embedModel + `","content":{"parts":[{"text":"a"}]}},{"model":"models/` + embedModel + `","content":{"parts":[{"text":"b"}]}}]}`, 200, ""},
		{"batch entry without model", "POST", batch, validHeaders, `{"requests":[{"content":{"parts":[{"text":"a"}]}}]}`, 400, "requests[0].model: model is required"},
		{"batch of 101", "POST", batch, validHeaders, `{"requests":[` + strings.Repeat(`{"model":"models/`+embedModel+`","content":{"parts":[{"text":"a"}]}},`, 100) + `{"model":"models/` + embedModel + `","content":{"parts":[{"text":"a"}]}}]}`, 400, "at most 100 requests can be in one batch"},
		{"valid countTokens", "POST", count, validHeaders, ok, 200, ""},
		{"countTokens with generateContentRequest", "POST", count, validHeaders, `{"generateContentRequest":{"model":"models/` + chatModel + `",` + strings.TrimPrefix(ok, "{") + `}`, 200, ""},
		{"countTokens generateContentRequest without model", "POST", count, validHeaders, `{"generateContentRequest":` + ok + `}`, 400, "generate_content_request.model: model is required"},
		{"countTokens with generationConfig", "POST", count, validHeaders, hi + `,"generationConfig":{}}`, 400, `Unknown name "generationConfig": Cannot find field.`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			status, h, body := rawPost(t, s, tt.method, tt.path, tt.header, tt.body)
			ct := h.Get("Content-Type")
			assert.True(t, strings.HasPrefix(ct, "application/json"), "content type %q", ct)
			checkRPC(t, s, status, body, tt.status, tt.msg)
		})
	}
}

// TestSimulatorErrorBodies checks the error bodies written for injected
// statuses: google.rpc.Status with the detail types the adapter reads.
func TestSimulatorErrorBodies(t *testing.T) {
	tests := []struct {
		status  int
		rpc     string
		details []string
	}{
		{429, "RESOURCE_EXHAUSTED", []string{"type.googleapis.com/google.rpc.Help", "type.googleapis.com/google.rpc.QuotaFailure", "type.googleapis.com/google.rpc.RetryInfo"}},
		{500, "INTERNAL", nil},
		{503, "UNAVAILABLE", nil},
		{504, "DEADLINE_EXCEEDED", nil},
		{400, "INVALID_ARGUMENT", nil},
		{403, "PERMISSION_DENIED", nil},
	}
	for _, tt := range tests {
		s := startSim(t, nil)
		s.Inject(sim.Fault{Status: tt.status})
		status, _, body := rawPost(t, s, "POST", "/v1beta/models/"+chatModel+":generateContent", validHeaders, `{"contents":[{"parts":[{"text":"hi"}]}]}`)
		var env struct {
			Error struct {
				Code    int
				Status  string
				Message string
				Details []map[string]any
			}
		}
		err := json.Unmarshal(body, &env)
		if !assert.NoError(t, err, "%d: %s", tt.status, body) ||
			!assert.Equal(t, tt.status, status, "%d: %s", tt.status, body) ||
			!assert.Equal(t, tt.status, env.Error.Code, "%d: %s", tt.status, body) ||
			!assert.Equal(t, tt.rpc, env.Error.Status, "%d: %s", tt.status, body) ||
			!assert.NotEqual(t, "", env.Error.Message, "%d: %s", tt.status, body) {
			continue
		}
		var types []string
		for _, d := range env.Error.Details {
			types = append(types, d["@type"].(string))
		}
		assert.Equal(t, strings.Join(tt.details, " "), strings.Join(types, " "), "%d: details %v, want %v", tt.status, types, tt.details)
		if tt.status == 429 {
			assert.True(t, env.Error.Details[2]["retryDelay"] == "2s", "retryDelay = %v", env.Error.Details[2]["retryDelay"])
		}
	}
	// The delay is configurable.
	s := startSim(t, &sim.GeminiBackend{RetryDelay: 250_000_000})
	s.Inject(sim.Fault{Status: 429})
	_, _, body := rawPost(t, s, "POST", "/v1beta/models/"+chatModel+":generateContent", validHeaders, `{"contents":[{"parts":[{"text":"hi"}]}]}`)
	assert.Contains(t, string(body), `"retryDelay": "0.25s"`, "body %s", body)
}

// TestSimulatorStreamShape checks the wire form of the simulator's streams:
// "data: " events separated by \r\n\r\n, no event names, no [DONE], usage on
// every chunk and the finishReason on the last; and the JSON array form
// without alt=sse.
func TestSimulatorStreamShape(t *testing.T) {
	s := startSim(t, &sim.GeminiBackend{ChunkWords: 2})
	body := `{"contents":[{"role":"user","parts":[{"text":"stream four words"}]}]}`
	path := "/v1beta/models/" + chatModel + ":streamGenerateContent"
	status, h, b := rawPost(t, s, "POST", path+"?alt=sse", validHeaders, body)
	require.Equal(t, 200, status, "status %d, content type %q", status, h.Get("Content-Type"))
	require.Equal(t, "text/event-stream", h.Get("Content-Type"), "status %d, content type %q", status, h.Get("Content-Type"))
	raw := string(b)
	require.True(t, strings.HasSuffix(raw, "\r\n\r\n"), "stream %q", raw)
	require.NotContains(t, raw, "[DONE]", "stream %q", raw)
	require.NotContains(t, raw, "event:", "stream %q", raw)
	events := strings.Split(strings.TrimSuffix(raw, "\r\n\r\n"), "\r\n\r\n")
	require.Len(t, events, 3, "%d events: %q", len(events), raw)
	var text strings.Builder
	for i, ev := range events {
		data, ok := strings.CutPrefix(ev, "data: ")
		require.True(t, ok, "event %d = %q", i, ev)
		require.NotContains(t, data, "\n", "event %d = %q", i, ev)
		var w wireResponse
		err := json.Unmarshal([]byte(data), &w)
		require.NoError(t, err, "event %d = %s (%v)", i, data, err)
		require.NotNil(t, w.UsageMetadata, "event %d = %s (%v)", i, data, err)
		require.Len(t, w.Candidates, 1, "event %d = %s (%v)", i, data, err)
		text.WriteString(*w.Candidates[0].Content.Parts[0].Text)
		assert.Equal(t, (i == len(events)-1), w.Candidates[0].FinishReason == "STOP", "event %d finish reason %q", i, w.Candidates[0].FinishReason)
	}
	assert.Equal(t, "You said: stream four words", text.String(), "text")
	// The same answer decodes through the adapter's decoder.
	resp, err := decodeStream(strings.NewReader(raw), nil)
	require.NoError(t, err, "decoded %+v, %v", resp, err)
	require.Equal(t, "You said: stream four words", resp.Content, "decoded %+v, %v", resp, err)
	require.Equal(t, 3, resp.Usage.InputTokens, "decoded %+v, %v", resp, err)
	require.Equal(t, 5, resp.Usage.OutputTokens, "decoded %+v, %v", resp, err)

	status, h, b = rawPost(t, s, "POST", path, validHeaders, body)
	require.Equal(t, 200, status, "array form: %d %q", status, h.Get("Content-Type"))
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"), "array form: %d %q", status, h.Get("Content-Type"))
	r, err := decodeResponse(b, nil)
	require.NoError(t, err, "array form decoded %+v, %v", r, err)
	require.Equal(t, "You said: stream four words", r.Content, "array form decoded %+v, %v", r, err)
}
