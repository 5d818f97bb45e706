package sim_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/sim"
)

const (
	azureKey    = "azure-sim-key-0123456789"
	azureClient = "app-1"
	azureSecret = "app-1-secret-0123456789"
)

// azureRaw sends a request to an Azure simulator as a client that bypasses
// the adapter, and returns the status, headers and decoded body.
func azureRaw(t *testing.T, srv *sim.Server, method, path string, header map[string]string, body string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(b, &m), "%s", b)
	}
	return resp.StatusCode, resp.Header, m
}

func azureSim(t *testing.T, b *sim.AzureBackend, opts ...sim.Option) *sim.Server {
	t.Helper()
	srv := sim.Start(b, opts...)
	t.Cleanup(srv.Close)
	return srv
}

// azureToken gets a token for the simulator's application.
func azureToken(t *testing.T, srv *sim.Server, b *sim.AzureBackend) string {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {azureClient}, "client_secret": {azureSecret}, "scope": {sim.AzureScope}}
	status, _, body := azureRaw(t, srv, http.MethodPost, b.TokenPath(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, form.Encode())
	require.Equal(t, http.StatusOK, status, "%v", body)
	assert.Equal(t, "Bearer", body["token_type"])
	return body["access_token"].(string)
}

const azureChat = `{"messages":[{"role":"user","content":"hi"}]}`

// TestAzureSimulatorRejects shows each of the simulator's checks refusing
// a request the way the service does.
func TestAzureSimulatorRejects(t *testing.T) {
	clk := clocktest.New(t)
	b := &sim.AzureBackend{PathPrefix: "/corp/azure", Clients: map[string]string{azureClient: azureSecret}, Clock: clk, TokenTTL: time.Hour}
	srv := azureSim(t, b)
	expired := azureToken(t, srv, b)
	clk.Advance(2 * time.Hour)
	valid := azureToken(t, srv, b)
	denied := &sim.AzureBackend{Clients: map[string]string{azureClient: azureSecret}}
	deniedSrv := azureSim(t, denied)
	deniedTok := azureToken(t, deniedSrv, denied)
	denied.DenyClient(azureClient, true)

	const dep = "/corp/azure/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	const v1 = "/corp/azure/openai/v1/chat/completions"
	key := map[string]string{"api-key": azureKey, "Content-Type": "application/json"}
	bearer := func(tok string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	}
	tests := []struct {
		name    string
		srv     *sim.Server
		method  string
		path    string
		header  map[string]string
		body    string
		status  int
		code    any
		msgHas  string
		invalid bool // counted as a malformed request
	}{
		{name: "valid deployment request", path: dep, header: key, body: azureChat, status: 200},
		{name: "valid v1 request", path: v1, header: key, body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, status: 200},
		{name: "valid bearer token", path: dep, header: bearer(valid), body: azureChat, status: 200},
		{name: "outside the gateway prefix", path: "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", header: key, body: azureChat,
			status: 404, code: "404", msgHas: "Resource not found", invalid: true},
		{name: "missing api-version", path: "/corp/azure/openai/deployments/gpt-4o/chat/completions", header: key, body: azureChat,
			status: 404, code: "404", msgHas: "Resource not found", invalid: true},
		{name: "unknown api-version", path: "/corp/azure/openai/deployments/gpt-4o/chat/completions?api-version=2023-01-01", header: key, body: azureChat,
			status: 400, code: "BadRequest", msgHas: "API version not supported", invalid: true},
		{name: "v1 with a dated api-version", path: v1 + "?api-version=2024-10-21", header: key, body: `{"model":"gpt-4o","messages":[]}`,
			status: 400, code: "BadRequest", msgHas: "API version not supported", invalid: true},
		{name: "unknown route", path: "/corp/azure/openai/deployments/gpt-4o/images/generations?api-version=2024-10-21", header: key, body: "{}",
			status: 404, code: "404", invalid: true},
		{name: "v1 completions", path: "/corp/azure/openai/v1/completions", header: key, body: `{"model":"instruct","prompt":"x"}`,
			status: 404, code: "404", invalid: true},
		{name: "GET", method: http.MethodGet, path: dep, header: key, status: 404, code: "404", invalid: true},
		{name: "unknown deployment", path: "/corp/azure/openai/deployments/nope/chat/completions?api-version=2024-10-21", header: key, body: azureChat,
			status: 404, code: "DeploymentNotFound", msgHas: "deployment for this resource does not exist", invalid: true},
		{name: "v1 unknown deployment", path: v1, header: key, body: `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`,
			status: 404, code: "DeploymentNotFound", invalid: true},
		{name: "v1 without model", path: v1, header: key, body: azureChat, status: 400, msgHas: "'model'", invalid: true},
		{name: "v1 model not a string", path: v1, header: key, body: `{"model":4,"messages":[]}`, status: 400, msgHas: "expected a string", invalid: true},
		{name: "chat on an embedding deployment", path: "/corp/azure/openai/deployments/embed/chat/completions?api-version=2024-10-21", header: key, body: azureChat,
			status: 400, code: "OperationNotSupported", msgHas: "chatCompletion operation does not work", invalid: true},
		{name: "completions on a chat deployment", path: "/corp/azure/openai/deployments/chat/completions?api-version=2024-10-21", header: key, body: `{"prompt":"x"}`,
			status: 400, code: "OperationNotSupported", msgHas: "completion operation", invalid: true},
		{name: "wrong content type", path: dep, header: map[string]string{"api-key": azureKey, "Content-Type": "text/plain"}, body: azureChat,
			status: 400, msgHas: "Content-Type", invalid: true},
		{name: "body not JSON", path: dep, header: key, body: `{"messages":`, status: 400, msgHas: "parse the JSON body", invalid: true},
		{name: "unknown field", path: dep, header: key, body: `{"messages":[{"role":"user","content":"hi"}],"priority":1}`,
			status: 400, msgHas: "Unrecognized request argument supplied: priority", invalid: true},
		{name: "bad role", path: dep, header: key, body: `{"messages":[{"role":"wizard","content":"hi"}]}`, status: 400, invalid: true},
		{name: "stream_options before 2024-09-01", path: "/corp/azure/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01", header: key,
			body:   `{"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
			status: 400, msgHas: "Unrecognized request argument supplied: stream_options", invalid: true},
		{name: "max_completion_tokens before 2024-09-01", path: "/corp/azure/openai/deployments/gpt-4o/chat/completions?api-version=2024-06-01", header: key,
			body:   `{"messages":[{"role":"user","content":"hi"}],"max_completion_tokens":5}`,
			status: 400, msgHas: "max_completion_tokens", invalid: true},
		{name: "responses with a number input", path: "/corp/azure/openai/v1/responses", header: key, body: `{"model":"gpt-4o","input":5}`,
			status: 400, invalid: true},
		{name: "embeddings with an empty input", path: "/corp/azure/openai/deployments/embed/embeddings?api-version=2024-10-21", header: key,
			body: `{"input":[""]}`, status: 400, invalid: true},
		{name: "prompt filtered", path: dep, header: key, body: `{"messages":[{"role":"user","content":"say ` + sim.AzurePromptFilterTrigger + `"}]}`,
			status: 400, code: "content_filter", msgHas: "content management policy", invalid: true},
		{name: "no key", path: dep, header: map[string]string{"Content-Type": "application/json"}, body: azureChat,
			status: 401, code: "401", msgHas: "missing subscription key"},
		{name: "unknown bearer token", path: dep, header: bearer("forged"), body: azureChat, status: 401, code: "401", msgHas: "Access token is missing, invalid"},
		{name: "expired bearer token", path: dep, header: bearer(expired), body: azureChat, status: 401, code: "401", msgHas: "have expired"},
		{name: "other scheme", path: dep, header: map[string]string{"Authorization": "Basic eDp5", "Content-Type": "application/json"}, body: azureChat,
			status: 401, code: "401"},
		{name: "application without the role", srv: deniedSrv, path: "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21",
			header: bearer(deniedTok), body: azureChat, status: 401, code: "PermissionDenied", msgHas: "lacks the required data action", invalid: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := srv
			if tt.srv != nil {
				s = tt.srv
			}
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			before := s.InvalidCalls()
			status, h, body := azureRaw(t, s, method, tt.path, tt.header, tt.body)
			require.Equal(t, tt.status, status, "%v", body)
			assert.NotEmpty(t, h.Get("Apim-Request-Id"), "every answer carries apim-request-id")
			if tt.invalid {
				assert.Equal(t, before+1, s.InvalidCalls(), "counted as invalid")
			} else {
				assert.Equal(t, before, s.InvalidCalls())
			}
			if status == 200 {
				assert.Equal(t, "chat.completion", body["object"])
				assert.NotEmpty(t, body["prompt_filter_results"])
				assert.NotEmpty(t, h.Get("X-Ratelimit-Remaining-Requests"))
				assert.NotEmpty(t, h.Get("X-Ratelimit-Remaining-Tokens"))
				assert.Empty(t, h.Get("Openai-Version"), "not an OpenAI header")
				return
			}
			e, ok := body["error"].(map[string]any)
			require.True(t, ok, "Azure's error body: %v", body)
			if tt.code != nil {
				assert.Equal(t, tt.code, e["code"])
			}
			assert.Contains(t, e["message"], tt.msgHas)
		})
	}
}

// TestAzureContentFilterShapes: a filtered prompt is answered with the
// recorded SDK shape on a dated version and the spec's on the v1 API.
func TestAzureContentFilterShapes(t *testing.T) {
	srv := azureSim(t, sim.Azure())
	key := map[string]string{"api-key": azureKey, "Content-Type": "application/json"}
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"` + sim.AzurePromptFilterTrigger + `"}]}`
	_, _, dated := azureRaw(t, srv, http.MethodPost, "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21", key, body)
	e := dated["error"].(map[string]any)
	assert.Equal(t, "prompt", e["param"])
	assert.Equal(t, 400.0, e["status"])
	inner := e["innererror"].(map[string]any)
	assert.Equal(t, "ResponsibleAIPolicyViolation", inner["code"])
	assert.Equal(t, map[string]any{"filtered": true, "severity": "medium"}, inner["content_filter_result"].(map[string]any)["violence"])

	_, _, v1 := azureRaw(t, srv, http.MethodPost, "/openai/v1/chat/completions", key, body)
	e = v1["error"].(map[string]any)
	assert.Equal(t, "error", e["type"])
	inner = e["inner_error"].(map[string]any)
	assert.Equal(t, "ResponsibleAIPolicyViolation", inner["code"])
	assert.Contains(t, inner["content_filter_results"], "jailbreak")
}

// TestAzureTokenEndpointRejects shows each check of the token endpoint.
func TestAzureTokenEndpointRejects(t *testing.T) {
	b := &sim.AzureBackend{Clients: map[string]string{azureClient: azureSecret}}
	srv := azureSim(t, b)
	good := url.Values{"grant_type": {"client_credentials"}, "client_id": {azureClient}, "client_secret": {azureSecret}, "scope": {sim.AzureScope}}
	with := func(k, v string) string {
		f := url.Values{}
		for kk, vv := range good {
			f[kk] = vv
		}
		if v == "" {
			f.Del(k)
		} else {
			f.Set(k, v)
		}
		return f.Encode()
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	tests := []struct {
		name    string
		method  string
		path    string
		header  map[string]string
		body    string
		status  int
		errCode string
		aadsts  string
		invalid bool
	}{
		{name: "GET", method: http.MethodGet, status: 400, errCode: "invalid_request", aadsts: "AADSTS900561", invalid: true},
		{name: "JSON body", header: map[string]string{"Content-Type": "application/json"}, body: `{}`, status: 400, errCode: "invalid_request", aadsts: "AADSTS900144", invalid: true},
		{name: "unknown tenant", path: "/other/oauth2/v2.0/token", body: good.Encode(), status: 400, errCode: "invalid_request", aadsts: "AADSTS90002", invalid: true},
		{name: "no grant type", body: with("grant_type", ""), status: 400, errCode: "invalid_request", aadsts: "AADSTS900144", invalid: true},
		{name: "other grant type", body: with("grant_type", "password"), status: 400, errCode: "unsupported_grant_type", aadsts: "AADSTS70003", invalid: true},
		{name: "no client", body: with("client_id", ""), status: 400, errCode: "invalid_request", aadsts: "AADSTS900144", invalid: true},
		{name: "no scope", body: with("scope", ""), status: 400, errCode: "invalid_request", aadsts: "AADSTS900144", invalid: true},
		{name: "scope without .default", body: with("scope", "https://cognitiveservices.azure.com/chat"), status: 400, errCode: "invalid_scope", aadsts: "AADSTS1002012", invalid: true},
		{name: "scope of another resource", body: with("scope", "https://graph.microsoft.com/.default"), status: 400, errCode: "invalid_resource", aadsts: "AADSTS500011", invalid: true},
		{name: "unknown client", body: with("client_id", "app-2"), status: 400, errCode: "unauthorized_client", aadsts: "AADSTS700016"},
		{name: "no secret", body: with("client_secret", ""), status: 401, errCode: "invalid_client", aadsts: "AADSTS7000216"},
		{name: "wrong secret", body: with("client_secret", "nope"), status: 401, errCode: "invalid_client", aadsts: "AADSTS7000215"},
		{name: "secret in Basic auth", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Authorization": "Basic " +
			basic(azureClient, azureSecret)}, body: url.Values{"grant_type": {"client_credentials"}, "scope": {sim.AzureScope}}.Encode(), status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method, path, header := tt.method, tt.path, tt.header
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = b.TokenPath()
			}
			if header == nil {
				header = form
			}
			before, issued := srv.InvalidCalls(), b.TokensIssued()
			status, _, body := azureRaw(t, srv, method, path, header, tt.body)
			require.Equal(t, tt.status, status, "%v", body)
			if tt.status == 200 {
				assert.Equal(t, issued+1, b.TokensIssued())
				assert.Equal(t, 3600.0, body["expires_in"])
				return
			}
			assert.Equal(t, issued, b.TokensIssued(), "no token issued")
			assert.Equal(t, tt.errCode, body["error"])
			assert.True(t, strings.HasPrefix(body["error_description"].(string), tt.aadsts+": "), "%v", body["error_description"])
			if tt.invalid {
				assert.Equal(t, before+1, srv.InvalidCalls())
			}
			assert.NotContains(t, body["error_description"], azureSecret)
		})
	}
}

func basic(user, pass string) string {
	req, _ := http.NewRequest(http.MethodGet, "http://x", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestAzureTokensExpireOnTheClock: a token is accepted until TokenTTL has
// passed on the backend's clock.
func TestAzureTokensExpireOnTheClock(t *testing.T) {
	clk := clocktest.New(t)
	b := &sim.AzureBackend{Clients: map[string]string{azureClient: azureSecret}, Clock: clk, TokenTTL: 10 * time.Minute}
	srv := azureSim(t, b)
	tok := azureToken(t, srv, b)
	h := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	path := "/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"
	for _, step := range []struct {
		advance time.Duration
		status  int
	}{{0, 200}, {10*time.Minute - time.Second, 200}, {time.Second, 401}} {
		clk.Advance(step.advance)
		status, _, body := azureRaw(t, srv, http.MethodPost, path, h, azureChat)
		assert.Equal(t, step.status, status, "%v", body)
	}
}

// TestAzureStreamShape: a chat stream opens with Azure's choices-less
// filter event and ends with the usage chunk and [DONE].
func TestAzureStreamShape(t *testing.T) {
	srv := azureSim(t, sim.Azure())
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/openai/v1/chat/completions",
		strings.NewReader(`{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"a b c d e"}]}`))
	require.NoError(t, err)
	req.Header.Set("api-key", azureKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var events []string
	for _, block := range strings.Split(strings.TrimSpace(string(b)), "\n\n") {
		events = append(events, strings.TrimPrefix(block, "data: "))
	}
	require.Greater(t, len(events), 4)
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[0]), &first))
	assert.Equal(t, "", first["object"])
	assert.Empty(t, first["choices"])
	assert.NotEmpty(t, first["prompt_filter_results"])
	var usage map[string]any
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-2]), &usage))
	assert.Empty(t, usage["choices"])
	assert.NotNil(t, usage["usage"])
	assert.Equal(t, "[DONE]", events[len(events)-1])
}
