package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// groqRaw sends a request to a Groq simulator as a client that bypasses the
// adapter, and returns the status and decoded error object.
func groqRaw(t *testing.T, srv *sim.Server, method, path, ctype, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m struct {
		Error map[string]any `json:"error"`
	}
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m.Error
}

func TestGroqSimulatorRejects(t *testing.T) {
	srv := sim.Start(sim.Groq())
	defer srv.Close()
	const key = "Bearer gsk_sim_test_key"
	const chat = "/openai/v1/chat/completions"
	msg := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, method, path, ctype, auth, body string
		status                                int
		code, msgHas                          string
	}{
		{"no key", "POST", chat, "application/json", "", `{"model":"llama-3.3-70b-versatile",` + msg + `}`, 401, "invalid_api_key", "Invalid API Key"},
		{"openai key", "POST", chat, "application/json", "Bearer sk-abc", `{"model":"llama-3.3-70b-versatile",` + msg + `}`, 401, "invalid_api_key", ""},
		{"wrong path", "POST", "/v1/chat/completions", "application/json", key, `{}`, 404, "unknown_url", "Unknown request URL"},
		{"wrong method", "GET", chat, "", key, ``, 405, "", ""},
		{"form body", "POST", chat, "application/x-www-form-urlencoded", key, `model=x`, 400, "", "Content-Type"},
		{"not JSON", "POST", chat, "application/json", key, `{"model":`, 400, "", "JSON"},
		{"stream_options", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile",` + msg + `,"stream":true,"stream_options":{"include_usage":true}}`, 400, "", "property 'stream_options' is unsupported, did you mean 'stream'?"},
		{"unknown field", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile",` + msg + `,"best_of":2}`, 400, "", "property 'best_of' is unsupported"},
		{"no model", "POST", chat, "application/json", key, `{` + msg + `}`, 400, "", "model"},
		{"unknown model", "POST", chat, "application/json", key, `{"model":"gpt-4o",` + msg + `}`, 404, "model_not_found", "does not exist"},
		{"chat on whisper", "POST", chat, "application/json", key, `{"model":"whisper-large-v3",` + msg + `}`, 400, "model_not_supported", ""},
		{"n above one", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile",` + msg + `,"n":2}`, 400, "", "'n'"},
		{"logprobs", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile",` + msg + `,"logprobs":true}`, 400, "", "logprobs"},
		{"bad role", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile","messages":[{"role":"wizard","content":"hi"}]}`, 400, "", "wizard"},
		{"temperature", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile",` + msg + `,"temperature":3}`, 400, "", "temperature"},
		{"five stops", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile",` + msg + `,"stop":["a","b","c","d","e"]}`, 400, "", "stop"},
		{"image on text model", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, 400, "", "must be a string"},
		{"tools on guard", "POST", chat, "application/json", key, `{"model":"meta-llama/llama-guard-4-12b",` + msg + `,"tools":[{"type":"function","function":{"name":"f"}}]}`, 400, "", "tools"},
		{"max tokens", "POST", chat, "application/json", key, `{"model":"meta-llama/llama-guard-4-12b",` + msg + `,"max_completion_tokens":5000}`, 400, "", "max_completion_tokens"},
		{"unanswered tool call", "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}]}`, 400, "", "tool_call_ids"},
		{"unknown model by ID", "GET", "/openai/v1/models/nope", "", key, ``, 404, "model_not_found", ""},
	}
	invalid := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, e := groqRaw(t, srv, tt.method, tt.path, tt.ctype, tt.auth, tt.body)
			require.Equal(t, tt.status, status, "status %d, want %d (%v)", status, tt.status, e)
			require.NotNil(t, e, "error body")
			require.True(t, e["message"] != "", "error body")
			require.True(t, e["type"] != nil, "error body")
			if tt.code != "" {
				require.True(t, e["code"] == tt.code, "code")
			}
			m, _ := e["message"].(string)
			require.Contains(t, m, tt.msgHas, "message %q lacks %q", m, tt.msgHas)
		})
		if tt.status != 401 {
			invalid++
		}
	}
	require.Equal(t, invalid, srv.InvalidCalls(), "counted %d invalid calls, want %d", srv.InvalidCalls(), invalid)
	// And a valid request with Groq's own fields passes.
	status, e := groqRaw(t, srv, "POST", chat, "application/json", key, `{"model":"llama-3.3-70b-versatile",`+msg+`,"service_tier":"flex","reasoning_format":"hidden","n":1,"stream":false}`)
	require.Equal(t, 200, status, "valid request")
	require.Nil(t, e, "valid request")
}

func TestGroqSimulatorFaults(t *testing.T) {
	srv := sim.Start(sim.Groq())
	defer srv.Close()
	srv.Inject(sim.Fault{Status: 498})
	status, e := groqRaw(t, srv, "POST", "/openai/v1/chat/completions", "application/json", "Bearer gsk_x1234", `{"model":"llama-3.3-70b-versatile","messages":[{"role":"user","content":"hi"}]}`)
	require.Equal(t, 498, status, "498 fault: %d %v", status, e)
	require.True(t, e["code"] == "capacity_exceeded", "498 fault: %d %v", status, e)
}
