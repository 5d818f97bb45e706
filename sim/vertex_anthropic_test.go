package sim

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	vaBase   = "/v1/projects/sim-project/locations/us-east5/publishers/anthropic/models/"
	vaRaw    = vaBase + "claude-sonnet-4@20250514:rawPredict"
	vaStream = vaBase + "claude-sonnet-4@20250514:streamRawPredict"
	vaCount  = vaBase + "count-tokens:rawPredict"
	vaOK     = `{"anthropic_version":"vertex-2023-10-16","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`
)

// vaSetup starts a token endpoint and a Claude on Vertex simulator with
// b's settings (nil: defaults) and returns the simulator, the endpoint and
// a valid access token.
func vaSetup(t *testing.T, b *VertexAnthropicBackend) (*Server, *GoogleOAuth, string) {
	t.Helper()
	e := newVtxEnv(t)
	return vaStart(t, e.g, b), e.g, gToken(t, e.g, e.acct)
}

// vaStart starts a Claude on Vertex simulator with b's settings (nil:
// defaults) whose tokens g issues.
func vaStart(t *testing.T, g *GoogleOAuth, b *VertexAnthropicBackend) *Server {
	t.Helper()
	if b == nil {
		b = VertexAnthropic(nil)
	}
	b.Auth = g
	s := Start(b)
	t.Cleanup(s.Close)
	return s
}

// TestVertexAnthropicSimulatorIsStrict: the simulator refuses wrong paths,
// credentials and bodies as Vertex AI does: the platform's refusals as
// google.rpc.Status bodies, the model's as Anthropic's error body.
func TestVertexAnthropicSimulatorIsStrict(t *testing.T) {
	with := func(edit string) string { return strings.Replace(vaOK, `"max_tokens":50`, edit, 1) }
	const count = `{"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4@20250514","messages":[{"role":"user","content":"hi"}]}`
	tests := []struct {
		name    string
		method  string
		path    string
		header  []string // edits of the valid headers
		body    string
		project string
		status  int
		google  string // google.rpc status, or "" for Anthropic's body
		anth    string // Anthropic error type
		msg     string // substring
		invalid bool
	}{
		{name: "rawPredict", path: vaRaw, body: vaOK, status: 200},
		{name: "streamRawPredict", path: vaStream, body: with(`"max_tokens":50,"stream":true`), status: 200},
		{name: "count-tokens", path: vaCount, body: count, status: 200},
		{name: "v1beta1", path: strings.Replace(vaRaw, "/v1/", "/v1beta1/", 1), body: vaOK, status: 200},
		{name: "no token", path: vaRaw, body: vaOK, header: []string{"Authorization", ""}, status: 401, google: "UNAUTHENTICATED", msg: "missing required authentication credential"},
		{name: "unknown token", path: vaRaw, body: vaOK, header: []string{"Authorization", "Bearer ya29.forged"}, status: 401, google: "UNAUTHENTICATED", msg: "invalid authentication credentials"},
		{name: "API key", path: vaRaw, body: vaOK, header: []string{"Authorization", "", "X-Goog-Api-Key", "AIzaSimKey"}, status: 401, google: "UNAUTHENTICATED", msg: "API keys are not supported"},
		{name: "Anthropic's path", path: "/v1/messages", body: vaOK, status: 404, google: "NOT_FOUND", invalid: true},
		{name: "GET", method: "GET", path: vaRaw, status: 404, google: "NOT_FOUND", invalid: true},
		{name: "Google's publisher", path: strings.Replace(vaRaw, "/anthropic/", "/google/", 1), body: vaOK, status: 404, google: "NOT_FOUND", msg: "Publisher Model", invalid: true},
		{name: "unknown method", path: vaBase + "claude-sonnet-4@20250514:predict", body: vaOK, status: 404, google: "NOT_FOUND", invalid: true},
		{name: "streaming count-tokens", path: vaBase + "count-tokens:streamRawPredict", body: count, status: 404, google: "NOT_FOUND", invalid: true},
		{name: "bad project", path: strings.Replace(vaRaw, "sim-project", "Bad_Project", 1), body: vaOK, status: 400, google: "INVALID_ARGUMENT", invalid: true},
		{name: "other project", path: vaRaw, body: vaOK, project: "another-project", status: 403, google: "PERMISSION_DENIED", msg: "aiplatform.endpoints.predict", invalid: true},
		{name: "not JSON content", path: vaRaw, body: vaOK, header: []string{"Content-Type", "text/plain"}, status: 400, google: "INVALID_ARGUMENT", msg: "Content-Type", invalid: true},
		{name: "not JSON", path: vaRaw, body: `{"anthropic_version":`, status: 400, anth: "invalid_request_error", msg: "parsing the body", invalid: true},
		{name: "no anthropic_version", path: vaRaw, body: `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`, status: 400, anth: "invalid_request_error", msg: "anthropic_version: Field required", invalid: true},
		{name: "Bedrock's anthropic_version", path: vaRaw, body: strings.Replace(vaOK, "vertex-2023-10-16", "bedrock-2023-05-31", 1),
			status: 400, anth: "invalid_request_error", msg: "anthropic_version: Input should be 'vertex-2023-10-16'", invalid: true},
		{name: "model in a chat body", path: vaRaw, body: with(`"max_tokens":50,"model":"claude"`), status: 400, anth: "invalid_request_error", msg: "model: Extra inputs are not permitted", invalid: true},
		{name: "stream without streamRawPredict", path: vaRaw, body: with(`"max_tokens":50,"stream":true`), status: 400, anth: "invalid_request_error", msg: "needs :streamRawPredict", invalid: true},
		{name: "streamRawPredict without stream", path: vaStream, body: vaOK, status: 400, anth: "invalid_request_error", msg: `needs "stream": true`, invalid: true},
		{name: "count-tokens without model", path: vaCount, body: `{"anthropic_version":"vertex-2023-10-16","messages":[{"role":"user","content":"hi"}]}`,
			status: 400, anth: "invalid_request_error", msg: "model: Field required", invalid: true},
		{name: "count-tokens with max_tokens", path: vaCount, body: strings.Replace(count, `"messages"`, `"max_tokens":5,"messages"`, 1),
			status: 400, anth: "invalid_request_error", msg: "max_tokens: Extra inputs are not permitted", invalid: true},
		{name: "Anthropic's own checks", path: vaRaw, body: `{"anthropic_version":"vertex-2023-10-16","max_tokens":5,"messages":[]}`,
			status: 400, anth: "invalid_request_error", msg: "at least one message", invalid: true},
	}
	e := newVtxEnv(t)
	tok := gToken(t, e.g, e.acct)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := vaStart(t, e.g, &VertexAnthropicBackend{Project: tt.project})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			status, h, body := vtxPost(t, s, method, tt.path, vtxHeaders(tok, tt.header...), tt.body)
			require.Equal(t, tt.status, status, "body %s", body)
			assert.Empty(t, h.Get("Request-Id"), "Anthropic's request-id leaked")
			if status == 200 {
				assert.Equal(t, 0, s.InvalidCalls())
				return
			}
			if tt.google != "" {
				st := vtxError(t, body)
				assert.Equal(t, tt.status, st.Code)
				assert.Equal(t, tt.google, st.Status)
				assert.Contains(t, st.Message, tt.msg)
			} else {
				var env struct {
					Type  string `json:"type"`
					Error struct {
						Type    string `json:"type"`
						Message string `json:"message"`
					} `json:"error"`
				}
				require.NoError(t, json.Unmarshal(body, &env), "body %s", body)
				assert.Equal(t, "error", env.Type)
				assert.Equal(t, tt.anth, env.Error.Type)
				assert.Contains(t, env.Error.Message, tt.msg)
			}
			want := 0
			if tt.invalid {
				want = 1
			}
			assert.Equal(t, want, s.InvalidCalls(), "InvalidCalls")
		})
	}
}

// TestVertexAnthropicSimulatorAnswers: answers are the Anthropic
// simulator's: a message, a server-sent event stream, a token count, with
// none of Anthropic's own headers.
func TestVertexAnthropicSimulatorAnswers(t *testing.T) {
	s, _, tok := vaSetup(t, nil)
	status, h, body := vtxPost(t, s, http.MethodPost, vaRaw, vtxHeaders(tok), vaOK)
	require.Equal(t, 200, status, "body %s", body)
	assert.Empty(t, h.Get("Anthropic-Ratelimit-Requests-Limit"))
	var msg struct {
		Model   string
		Content []struct{ Text string }
		Usage   struct {
			InputTokens int `json:"input_tokens"`
		}
	}
	require.NoError(t, json.Unmarshal(body, &msg))
	assert.Equal(t, "claude-sonnet-4@20250514", msg.Model)
	require.Len(t, msg.Content, 1)
	assert.Equal(t, "You said: hello there", msg.Content[0].Text)

	status, h, body = vtxPost(t, s, http.MethodPost, vaStream, vtxHeaders(tok), strings.Replace(vaOK, `"max_tokens"`, `"stream":true,"max_tokens"`, 1))
	require.Equal(t, 200, status, "body %s", body)
	assert.True(t, strings.HasPrefix(h.Get("Content-Type"), "text/event-stream"), "content type %q", h.Get("Content-Type"))
	assert.True(t, bytes.HasPrefix(body, []byte("event: message_start\n")), "stream %s", body)
	assert.Contains(t, string(body), "event: message_stop\ndata: {\"type\":\"message_stop\"", "stream %s", body)
	assert.True(t, bytes.HasSuffix(body, []byte("}\n\n")), "stream %s", body)

	status, _, body = vtxPost(t, s, http.MethodPost, vaCount, vtxHeaders(tok),
		`{"anthropic_version":"vertex-2023-10-16","model":"claude-sonnet-4@20250514","messages":[{"role":"user","content":"hello there"}]}`)
	require.Equal(t, 200, status, "body %s", body)
	assert.JSONEq(t, `{"input_tokens":`+jsonInt(msg.Usage.InputTokens)+`}`, string(body))
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestVertexAnthropicSimulatorExpiredToken: an expired token is refused
// with 401 UNAUTHENTICATED, a fresh one accepted.
func TestVertexAnthropicSimulatorExpiredToken(t *testing.T) {
	s, g, tok := vaSetup(t, nil)
	g.Expire()
	status, _, body := vtxPost(t, s, http.MethodPost, vaRaw, vtxHeaders(tok), vaOK)
	require.Equal(t, 401, status)
	st := vtxError(t, body)
	assert.Equal(t, "UNAUTHENTICATED", st.Status)
	require.NotEmpty(t, st.Details)
	assert.Equal(t, "ACCESS_TOKEN_EXPIRED", st.Details[0]["reason"])
}

// TestVertexAnthropicSimulatorPrefix: with a Prefix, only paths under it
// are served.
func TestVertexAnthropicSimulatorPrefix(t *testing.T) {
	s, _, tok := vaSetup(t, &VertexAnthropicBackend{Prefix: "/gw/vertex"})
	status, _, body := vtxPost(t, s, http.MethodPost, "/gw/vertex"+vaRaw, vtxHeaders(tok), vaOK)
	require.Equal(t, 200, status, "body %s", body)
	status, _, _ = vtxPost(t, s, http.MethodPost, vaRaw, vtxHeaders(tok), vaOK)
	assert.Equal(t, 404, status)
}
