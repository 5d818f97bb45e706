package sim

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestTGISimulatorIsStrict checks that the simulator rejects what the router
// rejects, with its status and error shape.
func TestTGISimulatorIsStrict(t *testing.T) {
	jh := hfJSONHeader
	const chatOK = `{"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		backend *TGIBackend
		method  string
		path    string
		header  map[string]string
		body    string
		status  int
		errType string // error_type of a JSON error
		text    string // substring of the answer
		invalid bool
	}{
		{"generate ok", nil, "POST", "/generate", jh, `{"inputs":"hi there"}`, 200, "", `"generated_text":"echo: hi there"`, false},
		{"generate details off", nil, "POST", "/generate", jh, `{"inputs":"hi","parameters":{"details":false}}`, 200, "", `"details":null`, false},
		{"unknown path", nil, "POST", "/v1/completions", jh, `{}`, 404, "", "", true},
		{"wrong method", nil, "GET", "/generate", nil, ``, 405, "", "", true},
		{"no content type", nil, "POST", "/generate", nil, `{"inputs":"x"}`, 415, "", "Content-Type: application/json", true},
		{"not JSON", nil, "POST", "/generate", jh, `{"inputs":`, 400, "", "Failed to parse the request body as JSON", true},
		{"missing inputs", nil, "POST", "/generate", jh, `{"parameters":{}}`, 422, "", "missing field `inputs`", true},
		{"inputs not a string", nil, "POST", "/generate", jh, `{"inputs":["x"]}`, 422, "", "inputs: invalid type", true},
		{"unknown parameter", nil, "POST", "/generate", jh, `{"inputs":"x","parameters":{"max_tokens":5}}`, 422, "", "parameters.unknown field `max_tokens`", true},
		{"parameter of the wrong type", nil, "POST", "/generate", jh, `{"inputs":"x","parameters":{"temperature":"hot"}}`, 422, "", "parameters.temperature: invalid type", true},
		{"empty inputs", nil, "POST", "/generate", jh, `{"inputs":""}`, 422, "validation", "`inputs` cannot be empty", true},
		{"temperature 0", nil, "POST", "/generate", jh, `{"inputs":"x","parameters":{"temperature":0}}`, 422, "validation", "`temperature` must be strictly positive", true},
		{"top_p 1", nil, "POST", "/generate", jh, `{"inputs":"x","parameters":{"top_p":1.0}}`, 422, "validation", "`top_p` must be > 0.0 and < 1.0", true},
		{"five stops", nil, "POST", "/generate", jh, `{"inputs":"x","parameters":{"stop":["a","b","c","d","e"]}}`, 422, "validation", "up to 4 stop sequences", true},
		{"best_of without sampling", nil, "POST", "/generate", jh, `{"inputs":"x","parameters":{"best_of":2}}`, 422, "validation", "sampling", true},
		{"too many tokens", &TGIBackend{MaxTotalTokens: 10}, "POST", "/generate", jh, `{"inputs":"a b c","parameters":{"max_new_tokens":8}}`, 422, "validation", "must be <= 10", true},
		{"input too long", &TGIBackend{MaxInputTokens: 2}, "POST", "/generate", jh, `{"inputs":"a b c"}`, 422, "validation", "less than 2 tokens", true},
		{"bad grammar", nil, "POST", "/generate", jh, `{"inputs":"x","parameters":{"grammar":{"type":"xml","value":"x"}}}`, 422, "validation", "grammar", true},
		{"stream validation error is an event", nil, "POST", "/generate_stream", jh, `{"inputs":"x","parameters":{"top_k":0}}`, 200, "", "data:{\"error\":\"Input validation error: `top_k` must be strictly positive\",\"error_type\":\"validation\"}\n\n", true},
		{"stream best_of", nil, "POST", "/generate_stream", jh, `{"inputs":"x","parameters":{"best_of":2,"do_sample":true}}`, 200, "", "`best_of` != 1 is not allowed for this endpoint", true},
		{"stream no space after data", nil, "POST", "/generate_stream", jh, `{"inputs":"hi"}`, 200, "", "data:{\"index\":1,\"token\":{\"id\":", false},
		{"chat ok", nil, "POST", "/v1/chat/completions", jh, chatOK, 200, "", `"content":"echo: hi"`, false},
		{"chat openai field", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5}`, 422, "", "unknown field `max_completion_tokens`", true},
		{"chat without messages", nil, "POST", "/v1/chat/completions", jh, `{"model":"tgi"}`, 422, "", "missing field `messages`", true},
		{"chat empty messages", nil, "POST", "/v1/chat/completions", jh, `{"messages":[]}`, 422, "template_error", "messages must not be empty", true},
		{"chat unknown role", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"wizard","content":"hi"}]}`, 422, "template_error", "unsupported role", true},
		{"chat message without content or calls", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user"}]}`, 422, "", "untagged enum MessageBody", true},
		{"chat bad chunk", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":[{"type":"audio"}]}]}`, 422, "", "unknown variant `audio`", true},
		{"chat tool without arguments", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`, 422, "", "missing field `arguments`", true},
		{"chat tool with parameters alias", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}]}`, 200, "", `"object":"chat.completion"`, false},
		{"chat choice names no tool", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","arguments":{}}}],"tool_choice":{"type":"function","function":{"name":"g"}}}`, 422, "tool_error", "Tool with name g not found", true},
		{"chat tools and grammar", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","arguments":{}}}],"response_format":{"type":"json","value":{}}}`, 422, "tool_error", "mutually exclusive", true},
		{"chat tool result without call", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"tool","tool_call_id":"0","content":"x"}]}`, 422, "template_error", "answers no tool call", true},
		{"chat stream validation error is an event", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"top_p":1,"stream":true}`, 200, "", `data:{"error":{"message":"Input validation error: ` + "`top_p` must be > 0.0 and < 1.0\",\"http_status_code\":422}}", true},
		{"chat stream no space", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, 200, "", "data:{\"object\":\"chat.completion.chunk\",\"id\":\"\",\"created\":", false},
		{"chat stream deltas", nil, "POST", "/v1/chat/completions", jh, `{"messages":[{"role":"user","content":"hi"}],"stream":true}`, 200, "", `"choices":[{"index":0,"delta":{"role":"assistant","content":" hi"},"logprobs":null,"finish_reason":null}],"usage":null}`, false},
		{"info", nil, "GET", "/info", nil, ``, 200, "", `"max_input_tokens":1024`, false},
		{"models", nil, "GET", "/v1/models", nil, ``, 200, "", `"object":"list"`, false},
		{"health", nil, "GET", "/health", nil, ``, 200, "", "", false},
		{"api key missing", &TGIBackend{APIKey: "Secret"}, "POST", "/generate", jh, `{"inputs":"x"}`, 401, "", "", false},
		{"api key compared without case", &TGIBackend{APIKey: "Secret"}, "POST", "/generate", map[string]string{"Content-Type": "application/json", "Authorization": "bearer SECRET"}, `{"inputs":"x"}`, 200, "", "echo", false},
		{"api key not needed for info", &TGIBackend{APIKey: "Secret"}, "GET", "/info", nil, ``, 200, "", "model_id", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.backend
			if b == nil {
				b = TGI()
			}
			s := Start(b)
			defer s.Close()
			status, h, body := hfDo(t, s, tt.method, tt.path, tt.header, tt.body)
			require.Equal(t, tt.status, status, "got %d %q, want %d containing %q", status, body, tt.status, tt.text)
			require.Contains(t, body, tt.text, "got %d %q, want %d containing %q", status, body, tt.status, tt.text)
			if tt.errType != "" {
				var e map[string]any
				err := json.Unmarshal([]byte(body), &e)
				require.NoError(t, err, "error body %q (%v), want error_type %q", body, err, tt.errType)
				require.True(t, e["error_type"] == tt.errType, "error body %q (%v), want error_type %q", body, err, tt.errType)
			}
			if status == 200 && tt.path == "/generate" {
				require.False(t, h.Get("X-Prompt-Tokens") == "" || h.Get("X-Generated-Tokens") == "", "no token headers")
			}
			got := s.InvalidCalls()
			require.Equal(t, tt.invalid, got == 1, "InvalidCalls %d, want invalid %v", got, tt.invalid)
			require.LessOrEqual(t, got, 1, "InvalidCalls %d, want invalid %v", got, tt.invalid)
		})
	}
}

func TestTGIGeneration(t *testing.T) {
	g := tgiGenerate("echo: a b c", 3, 10, nil)
	require.Equal(t, "echo: a b c", g.text, "%+v", g)
	require.Equal(t, "eos_token", g.finish, "%+v", g)
	require.Len(t, g.tokens, 5, "%+v", g)
	require.True(t, g.tokens[4].Special, "%+v", g)
	require.Equal(t, " a", g.tokens[1].Text, "%+v", g)
	g = tgiGenerate("echo: a b c", 3, 2, nil)
	require.Equal(t, "echo: a", g.text, "%+v", g)
	require.Equal(t, "length", g.finish, "%+v", g)
	require.Len(t, g.tokens, 2, "%+v", g)
	g = tgiGenerate("echo: a b c", 3, 4, nil)
	require.Equal(t, "length", g.finish, "an answer that fills the budget ends on length: %+v", g)
	require.Len(t, g.tokens, 4, "an answer that fills the budget ends on length: %+v", g)
	g = tgiGenerate("echo: a b c", 3, 10, []string{"a b"})
	require.Equal(t, "echo: a b", g.text, "%+v", g)
	require.Equal(t, "stop_sequence", g.finish, "%+v", g)
	s := Start(TGI())
	defer s.Close()
	_, _, body := hfDo(t, s, "POST", "/generate_stream", hfJSONHeader, `{"inputs":"hi"}`)
	events := strings.Split(strings.TrimSpace(body), "\n\n")
	require.Len(t, events, 3, "events")
	require.Contains(t, events[2], `"generated_text":"echo: hi"`, "events")
	require.Contains(t, events[2], `"finish_reason":"eos_token"`, "events")
	require.Contains(t, events[2], `"special":true`, "events")
	require.Contains(t, events[0], `"generated_text":null`, "events")
	in, out := s.Usage()
	require.Equal(t, 1, in, "usage %d/%d", in, out)
	require.Equal(t, 3, out, "usage %d/%d", in, out)
}

func TestTGIOverloaded(t *testing.T) {
	b := &TGIBackend{MaxConcurrentRequests: 1}
	s := Start(b)
	defer s.Close()
	b.inflight.Add(1)
	status, _, body := hfDo(t, s, "POST", "/generate", hfJSONHeader, `{"inputs":"x"}`)
	require.Equal(t, 429, status)
	require.Contains(t, body, `"error_type":"overloaded"`)
	status, _, body = hfDo(t, s, "POST", "/generate_stream", hfJSONHeader, `{"inputs":"x"}`)
	require.Equal(t, 200, status)
	require.Equal(t, "data:{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}\n\n", body)
	b.inflight.Add(-1)
	b.SetHealthy(false)
	status, _, body = hfDo(t, s, "GET", "/health", nil, "")
	require.Equal(t, 503, status)
	require.Contains(t, body, `"error_type":"healthcheck"`)
	require.Equal(t, 0, s.InvalidCalls(), "overload counted as invalid")
}
