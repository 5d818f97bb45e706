package anthropic

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// rawPost sends body to the simulator as is and returns the status, headers
// and body of the answer.
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

var validHeaders = map[string]string{"X-Api-Key": testSecret, "Anthropic-Version": APIVersion, "Content-Type": "application/json"}

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
// rejects, with the real error envelope, so the adapter tests mean something.
func TestSimulatorIsStrict(t *testing.T) {
	const ok = `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		body    string
		status  int
		errType string
		msg     string // substring
	}{
		{"valid", "POST", PathMessages, validHeaders, ok, 200, "", ""},
		{"valid count_tokens", "POST", PathCountTokens, validHeaders, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 200, "", ""},
		{"no key", "POST", PathMessages, headersWith("X-Api-Key", ""), ok, 401, "authentication_error", ""},
		{"bearer is not x-api-key", "POST", PathMessages, headersWith("X-Api-Key", "", "Authorization", "Bearer "+testSecret), ok, 401, "authentication_error", ""},
		{"no anthropic-version", "POST", PathMessages, headersWith("Anthropic-Version", ""), ok, 400, "invalid_request_error", "anthropic-version: header is required"},
		{"bad anthropic-version", "POST", PathMessages, headersWith("Anthropic-Version", "2099-01-01"), ok, 400, "invalid_request_error", "anthropic-version"},
		{"not JSON content type", "POST", PathMessages, headersWith("Content-Type", "text/plain"), ok, 400, "invalid_request_error", "content-type"},
		{"GET", "GET", PathMessages, validHeaders, "", 405, "invalid_request_error", ""},
		{"unknown path", "POST", "/v1/complete", validHeaders, ok, 404, "not_found_error", ""},
		{"versionless path", "POST", "/messages", validHeaders, ok, 404, "not_found_error", ""},
		{"not JSON", "POST", PathMessages, validHeaders, `{"model":`, 400, "invalid_request_error", "parsing the body"},
		{"trailing data", "POST", PathMessages, validHeaders, ok + `{}`, 400, "invalid_request_error", "parsing the body"},
		{"no model", "POST", PathMessages, validHeaders, `{"max_tokens":10,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "model: Field required"},
		{"no max_tokens", "POST", PathMessages, validHeaders, `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "max_tokens: Field required"},
		{"fractional max_tokens", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":1.5,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "max_tokens: Input should be a valid integer"},
		{"string max_tokens", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":"10","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "max_tokens: Input should be a valid integer"},
		{"negative max_tokens", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":-1,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "greater than or equal to 0"},
		{"zero max_tokens allowed", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, 200, "", ""},
		{"no messages", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10}`, 400, "invalid_request_error", "messages: Field required"},
		{"empty messages", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[]}`, 400, "invalid_request_error", "at least one message"},
		{"system role", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"system","content":"x"},{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", `Unexpected role "system"`},
		{"tool role", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"tool","content":"x"}]}`, 400, "invalid_request_error", "messages.0.role: Input should be 'user' or 'assistant'"},
		{"empty content", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":""}]}`, 400, "invalid_request_error", "non-empty content"},
		{"empty final assistant allowed", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":""}]}`, 200, "", ""},
		{"unknown block type", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"video","url":"x"}]}]}`, 400, "invalid_request_error", "Input tag 'video'"},
		{"empty text block", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":""}]}]}`, 400, "invalid_request_error", "text content blocks must be non-empty"},
		{"tool_use in a user turn", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]}]}`, 400, "invalid_request_error", "not allowed in user messages"},
		{"tool_result in an assistant turn", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_result","tool_use_id":"t","content":"x"}]}]}`, 400, "invalid_request_error", "not allowed in assistant messages"},
		{"tool_use input not an object", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]}]}`, 400, "invalid_request_error", "input: Input should be a valid dictionary"},
		{"image with a bad media type", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/bmp","data":"AA=="}}]}]}`, 400, "invalid_request_error", "media_type"},
		{"image with bad base64", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"***"}}]}]}`, 400, "invalid_request_error", "invalid base64"},
		{"image that is not what it claims", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/jpeg","data":"iVBORw0KGgo="}}]}]}`, 400, "invalid_request_error", "does not match"},
		{"image URL not a URL", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"cat.png"}}]}]}`, 400, "invalid_request_error", "valid URL"},
		{"tool without input_schema", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"name":"f"}],"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "input_schema: Field required"},
		{"tool without name", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "name: Field required"},
		{"tool with a bad name", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"name":"get weather","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "should match pattern"},
		{"duplicate tools", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"name":"f","input_schema":{"type":"object"}},{"name":"f","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "unique"},
		{"OpenAI-style tool", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "Input tag 'function'"},
		{"server tool", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"user","content":"hi"}]}`, 200, "", ""},
		{"tool_choice without tools", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tool_choice":{"type":"any"},"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "only be specified while providing tools"},
		{"tool_choice as a string", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":"auto","messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "tool_choice"},
		{"tool_choice required is OpenAI's", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"required"},"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "Input tag 'required'"},
		{"temperature above 1", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"temperature":1.2,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "temperature: Input should be less than or equal to 1"},
		{"temperature below 0", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"temperature":-0.1,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "temperature: Input should be greater than or equal to 0"},
		{"unknown field", "POST", PathMessages, validHeaders, `{"model":"m","max_tokens":10,"n":2,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "n: Extra inputs are not permitted"},
		{"count_tokens with max_tokens", "POST", PathCountTokens, validHeaders, ok, 400, "invalid_request_error", "max_tokens: Extra inputs are not permitted"},
		{"count_tokens with stream", "POST", PathCountTokens, validHeaders, `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 400, "invalid_request_error", "stream: Extra inputs are not permitted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			status, h, body := rawPost(t, s, tt.method, tt.path, tt.header, tt.body)
			require.Equal(t, tt.status, status, "status %d, want %d: %s", status, tt.status, body)
			rid := h.Get("Request-Id")
			assert.True(t, strings.HasPrefix(rid, "req_"), "request-id header = %q", rid)
			if tt.status == 200 {
				assert.Equal(t, 0, s.InvalidCalls(), "counted as invalid")
				return
			}
			var env struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
				RequestID string `json:"request_id"`
			}
			err := json.Unmarshal(body, &env)
			require.NoError(t, err, "error body %s: %v", body, err)
			assert.Equal(t, "error", env.Type, "error = %+v, want type %q containing %q", env, tt.errType, tt.msg)
			assert.Equal(t, tt.errType, env.Error.Type, "error = %+v, want type %q containing %q", env, tt.errType, tt.msg)
			assert.Contains(t, env.Error.Message, tt.msg, "error = %+v, want type %q containing %q", env, tt.errType, tt.msg)
			assert.NotEqual(t, "", env.Error.Message, "error = %+v, want type %q containing %q", env, tt.errType, tt.msg)
			assert.Equal(t, h.Get("Request-Id"), env.RequestID, "request_id %q, header %q", env.RequestID, h.Get("Request-Id"))
			if tt.status != 401 {
				assert.Equal(t, 1, s.InvalidCalls(), "InvalidCalls")
			}
		})
	}
}

// TestSimulatorStreamShape checks the simulator's stream against the order of
// the recorded streams, through the plain SSE reader.
func TestSimulatorStreamShape(t *testing.T) {
	s := startSim(t)
	body := `{"model":"m","max_tokens":100,"stream":true,"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],` +
		`"messages":[{"role":"user","content":"weather in Lima"}]}`
	status, h, b := rawPost(t, s, "POST", PathMessages, validHeaders, body)
	require.Equal(t, 200, status, "status %d, content type %q", status, h.Get("Content-Type"))
	require.True(t, strings.HasPrefix(h.Get("Content-Type"), "text/event-stream"), "status %d, content type %q", status, h.Get("Content-Type"))
	sr := providers.NewSSEReader(bytes.NewReader(b))
	var names []string
	for {
		ev, err := sr.Next()
		if err != nil {
			break
		}
		var d struct {
			Type string `json:"type"`
		}
		if assert.NoError(t, json.Unmarshal(ev.Data, &d), "event %q has data %s", ev.Event, ev.Data) {
			assert.Equal(t, ev.Event, d.Type, "event %q has data %s", ev.Event, ev.Data)
		}
		if len(names) == 0 || names[len(names)-1] != ev.Event {
			names = append(names, ev.Event)
		}
	}
	want := "message_start content_block_start ping content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop"
	assert.Equal(t, want, strings.Join(names, " "), "event order")
	in, out := s.Usage()
	assert.NotEqual(t, 0, in, "usage %d/%d", in, out)
	assert.NotEqual(t, 0, out, "usage %d/%d", in, out)
}
