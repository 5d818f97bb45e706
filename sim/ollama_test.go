package sim

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func ollamaTestDo(t *testing.T, srv *Server, method, path, auth, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// TestOllamaRejects sends requests the real server refuses and checks the
// simulator answers each with Ollama's status and {"error": …} body.
func TestOllamaRejects(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantError                string // substring
		counted                  bool   // counts as an invalid call
	}{
		{"unknown route", "POST", "/api/chatty", `{}`, 404, "404 page not found", true},
		{"wrong method", "GET", "/api/chat", ``, 405, "method not allowed", true},
		{"post to tags", "POST", "/api/tags", `{}`, 405, "method not allowed", true},
		{"empty body", "POST", "/api/chat", ``, 400, "missing request body", true},
		{"not json", "POST", "/api/chat", `{model:`, 400, "invalid character", true},
		{"array body", "POST", "/api/chat", `[]`, 400, "cannot unmarshal array into Go value of type api.ChatRequest", true},
		{"trailing data", "POST", "/api/chat", `{"model":"llama3.2","messages":[]} {}`, 400, "after top-level value", true},
		{"missing model", "POST", "/api/chat", `{"messages":[]}`, 400, "model is required", true},
		{"model not a string", "POST", "/api/chat", `{"model":5,"messages":[]}`, 400, "ChatRequest.model of type string", true},
		{"missing messages", "POST", "/api/chat", `{"model":"llama3.2"}`, 400, "messages is required", true},
		{"bad role", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"wizard","content":"x"}]}`, 400, "invalid role", true},
		{"missing content", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"user"}]}`, 400, "content is required", true},
		{"content not a string", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":[{"type":"text"}]}]}`, 400, "messages.content of type string", true},
		{"image not base64", "POST", "/api/chat", `{"model":"llava","messages":[{"role":"user","content":"x","images":["not base64!"]}]}`, 400, "illegal base64", true},
		{"image url", "POST", "/api/chat", `{"model":"llava","messages":[{"role":"user","content":"x","images":[{"url":"https://x"}]}]}`, 400, "api.ImageData", true},
		{"string arguments", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}]}`, 400, "api.ToolCallFunctionArguments", true},
		{"tool call without name", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"assistant","content":"","tool_calls":[{"function":{"arguments":{}}}]}]}`, 400, "name is required", true},
		{"tool calls on a user turn", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":"","tool_calls":[{"function":{"name":"f"}}]}]}`, 400, "only assistant", true},
		{"tool type", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"tools":[{"type":"web","function":{"name":"f","parameters":{}}}]}`, 400, "type must be", true},
		{"tool without parameters", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, "parameters must be an object", true},
		{"stream string", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"stream":"no"}`, 400, "ChatRequest.stream of type bool", true},
		{"options not an object", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"options":[1]}`, 400, "ChatRequest.options", true},
		{"temperature string", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"options":{"temperature":"hot"}}`, 400, "options.temperature of type float32", true},
		{"num_predict float", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"options":{"num_predict":1.5}}`, 400, "options.num_predict of type int", true},
		{"stop number", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"options":{"stop":[1]}}`, 400, "stop", true},
		{"format yaml", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"format":"yaml"}`, 400, "invalid format", true},
		{"think level", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"think":"extreme"}`, 400, "invalid think value", true},
		{"keep_alive bool", "POST", "/api/chat", `{"model":"llama3.2","messages":[],"keep_alive":true}`, 400, "keep_alive", true},
		{"unknown model", "POST", "/api/chat", `{"model":"mistral","messages":[]}`, 404, `model "mistral" not found, try pulling it first`, false},
		{"tools unsupported", "POST", "/api/chat", `{"model":"llava","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`, 400, "does not support tools", true},
		{"images unsupported", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":"x","images":["iVBORw0KGgo="]}]}`, 400, "image input", true},
		{"chat on embedding model", "POST", "/api/chat", `{"model":"embeddinggemma","messages":[]}`, 400, "does not support chat", true},
		{"generate prompt number", "POST", "/api/generate", `{"model":"llama3.2","prompt":1}`, 400, "GenerateRequest.prompt of type string", true},
		{"generate raw string", "POST", "/api/generate", `{"model":"llama3.2","prompt":"x","raw":"yes"}`, 400, "GenerateRequest.raw of type bool", true},
		{"embed no input", "POST", "/api/embed", `{"model":"embeddinggemma"}`, 400, "input is required", true},
		{"embed input numbers", "POST", "/api/embed", `{"model":"embeddinggemma","input":[1,2]}`, 400, "invalid input type", true},
		{"embed dimensions negative", "POST", "/api/embed", `{"model":"embeddinggemma","input":"x","dimensions":-1}`, 400, "dimensions", true},
		{"embed unknown model", "POST", "/api/embed", `{"model":"nomic","input":"x"}`, 404, "not found", false},
		{"show no model", "POST", "/api/show", `{}`, 400, "model is required", true},
		{"show unknown model", "POST", "/api/show", `{"model":"x"}`, 404, "model 'x' not found", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := Start(Ollama())
			defer srv.Close()
			status, h, body := ollamaTestDo(t, srv, tt.method, tt.path, "", tt.body)
			var e struct {
				Error string `json:"error"`
			}
			require.Equal(t, tt.wantStatus, status, "got %d %s, want %d with %q", status, body, tt.wantStatus, tt.wantError)
			require.NoError(t, json.Unmarshal(body, &e), "got %d %s, want %d with %q", status, body, tt.wantStatus, tt.wantError)
			require.Contains(t, e.Error, tt.wantError, "got %d %s, want %d with %q", status, body, tt.wantStatus, tt.wantError)
			require.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"), "content type %q", h.Get("Content-Type"))
			want := 0
			if tt.counted {
				want = 1
			}
			require.Equal(t, want, srv.InvalidCalls(), "%d invalid calls, want %d", srv.InvalidCalls(), want)
			in, out := srv.Usage()
			require.Equal(t, 0, in, "usage %d/%d for a rejected request", in, out)
			require.Equal(t, 0, out, "usage %d/%d for a rejected request", in, out)
		})
	}
}

func TestOllamaAccepts(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		want                     string // substring of the answer
	}{
		{"root", "GET", "/", "", "Ollama is running"},
		{"head root", "HEAD", "/", "", ""},
		{"version", "GET", "/api/version", "", `"version":"0.12.6"`},
		{"tags", "GET", "/api/tags", "", `"name":"llama3.2:latest"`},
		{"stream by default", "POST", "/api/chat", `{"model":"llama3.2","messages":[{"role":"user","content":"hi there"}]}`, `"done":true`},
		{"chat with everything", "POST", "/api/chat", `{"model":"llama3.2:latest","messages":[{"role":"system","content":"s"},{"role":"user","content":"weather in Rome"},{"role":"assistant","content":"","tool_calls":[{"id":"c1","function":{"index":0,"name":"get_weather","arguments":{"city":"Rome"}}}]},{"role":"tool","content":"hot","tool_name":"get_weather","tool_call_id":"c1"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object"}}}],"format":{"type":"object"},"options":{"temperature":0.1,"seed":1,"stop":"x","num_ctx":2048,"repeat_penalty":1.1},"stream":false,"think":"low","keep_alive":"5m","logprobs":true,"top_logprobs":2}`, `The tool returned: hot`},
		{"generate load", "POST", "/api/generate", `{"model":"llama3.2"}`, `"done_reason":"load"`},
		{"generate images", "POST", "/api/generate", `{"model":"llava","prompt":"see","images":["iVBORw0KGgo="],"stream":false,"keep_alive":0}`, `echo: see [1 image]`},
		{"embed a string", "POST", "/api/embed", `{"model":"embeddinggemma","input":"one two","truncate":true,"dimensions":3}`, `"prompt_eval_count":2`},
		{"show by name", "POST", "/api/show", `{"name":"llava","verbose":true}`, `"vision"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := Start(Ollama())
			defer srv.Close()
			status, _, body := ollamaTestDo(t, srv, tt.method, tt.path, "", tt.body)
			require.Equal(t, 200, status, "got %d %s, want 200 with %q", status, body, tt.want)
			require.Contains(t, string(body), tt.want, "got %d %s, want 200 with %q", status, body, tt.want)
			require.Equal(t, 0, srv.InvalidCalls(), "got %d %s, want 200 with %q", status, body, tt.want)
		})
	}
}

func TestOllamaKeys(t *testing.T) {
	srv := Start(Ollama(), WithKeys("secret-1"))
	defer srv.Close()
	const chat = `{"model":"llama3.2","messages":[{"role":"user","content":"x"}],"stream":false}`
	for _, tt := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer wrong", 401}, {"Basic c2VjcmV0LTE=", 401}, {"Bearer secret-1", 200}} {
		status, _, body := ollamaTestDo(t, srv, "POST", "/api/chat", tt.auth, chat)
		require.Equal(t, tt.want, status, "auth %q: %d %s", tt.auth, status, body)
		if status == 401 {
			require.Contains(t, string(body), `"unauthorized"`, "401 body %s", body)
		}
	}
	open := Start(Ollama())
	defer open.Close()
	status, _, _ := ollamaTestDo(t, open, "POST", "/api/chat", "", chat)
	require.Equal(t, 200, status, "a keyless request to an open server")
	require.Equal(t, OllamaAnonymousKey, open.Requests()[0].Key, "key")
}

// TestOllamaNDJSONFaults checks the NDJSON writer's fault semantics: a cut
// closes the connection after n lines, a stall sends n lines and nothing
// more, and usage is counted only for a stream whose final line was sent.
func TestOllamaNDJSONFaults(t *testing.T) {
	const chat = `{"model":"llama3.2","messages":[{"role":"user","content":"a b c d e f g h"}]}`
	lines := func(t *testing.T, srv *Server, timeout time.Duration) ([]map[string]any, error) {
		client := &http.Client{Timeout: timeout}
		resp, err := client.Post(srv.URL+"/api/chat", "application/json", strings.NewReader(chat))
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, "application/x-ndjson", resp.Header.Get("Content-Type"), "content type")
		var out []map[string]any
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var m map[string]any
			err := json.Unmarshal(sc.Bytes(), &m)
			require.NoError(t, err, "line %q: %v", sc.Text(), err)
			out = append(out, m)
		}
		return out, sc.Err()
	}

	srv := Start(Ollama())
	defer srv.Close()
	all, err := lines(t, srv, 5*time.Second)
	require.NoError(t, err, "%d lines (%v): %v", len(all), err, all)
	require.Len(t, all, 6, "%d lines (%v): %v", len(all), err, all)
	require.True(t, all[5]["done"] == true, "%d lines (%v): %v", len(all), err, all)
	require.True(t, all[0]["done"] == false, "%d lines (%v): %v", len(all), err, all)
	in, out := srv.Usage()
	require.True(t, all[5]["prompt_eval_count"] == float64(in), "usage %d/%d, final line %v", in, out, all[5])
	require.True(t, all[5]["eval_count"] == float64(out), "usage %d/%d, final line %v", in, out, all[5])
	require.Equal(t, 9, out, "usage %d/%d, final line %v", in, out, all[5])

	cut := Start(Ollama())
	defer cut.Close()
	cut.Inject(Fault{CutAfter: 3})
	got, err := lines(t, cut, 5*time.Second)
	require.Error(t, err, "cut stream: %d lines, err %v", len(got), err)
	require.Len(t, got, 3, "cut stream: %d lines, err %v", len(got), err)
	cut.Inject(Fault{CutAfter: 5}) // just before the final line
	got, err = lines(t, cut, 5*time.Second)
	require.Error(t, err, "cut stream: %d lines, err %v", len(got), err)
	require.Len(t, got, 5, "cut stream: %d lines, err %v", len(got), err)
	in, out = cut.Usage()
	require.Equal(t, 0, in, "a cut stream counted usage %d/%d", in, out)
	require.Equal(t, 0, out, "a cut stream counted usage %d/%d", in, out)

	stall := Start(Ollama())
	defer stall.Close()
	stall.Inject(Fault{StallAfter: 2})
	got, err = lines(t, stall, 300*time.Millisecond)
	require.Error(t, err, "stalled stream: %d lines, err %v", len(got), err)
	require.Len(t, got, 2, "stalled stream: %d lines, err %v", len(got), err)
}
