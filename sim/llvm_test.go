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

// llvmRaw sends a request to a vLLM simulator, bypassing the adapter.
func llvmRaw(t *testing.T, srv *sim.Server, method, path, ctype, auth, body string) (int, map[string]any) {
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
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func TestLLVMSimulatorRejects(t *testing.T) {
	srv := sim.Start(&sim.LLVMBackend{APIKey: "secret-key"})
	defer srv.Close()
	const auth = "Bearer secret-key"
	const model = `"model":"meta-llama/Llama-3.1-8B-Instruct"`
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, method, path, ctype, auth, body string
		status                                int
		typ, msgHas                           string
	}{
		{"no key on /v1", "POST", "/v1/chat/completions", "application/json", "", `{` + model + `,` + msgs + `}`, 401, "", ""},
		{"wrong key", "GET", "/v1/models", "", "Bearer nope", ``, 401, "", ""},
		{"unknown route", "GET", "/nope", "", auth, ``, 404, "", ""},
		{"wrong method", "GET", "/v1/chat/completions", "", auth, ``, 405, "", ""},
		{"form body", "POST", "/v1/completions", "text/plain", auth, `x`, 400, "Bad Request", "Unsupported Media Type"},
		{"not JSON", "POST", "/v1/completions", "application/json", auth, `{`, 400, "Bad Request", "json_invalid"},
		{"completion without prompt", "POST", "/v1/completions", "application/json", auth, `{` + model + `}`, 400, "Bad Request", "Field required"},
		{"string n", "POST", "/v1/chat/completions", "application/json", auth, `{` + model + `,` + msgs + `,"n":"two"}`, 400, "Bad Request", "validation error"},
		{"no messages", "POST", "/v1/chat/completions", "application/json", auth, `{` + model + `}`, 400, "Bad Request", "messages"},
		{"negative temperature", "POST", "/v1/chat/completions", "application/json", auth, `{` + model + `,` + msgs + `,"temperature":-1}`, 400, "BadRequestError", "non-negative"},
		{"zero top_p", "POST", "/v1/completions", "application/json", auth, `{` + model + `,"prompt":"x","top_p":0}`, 400, "BadRequestError", "top_p"},
		{"zero max_tokens", "POST", "/v1/completions", "application/json", auth, `{` + model + `,"prompt":"x","max_tokens":0}`, 400, "BadRequestError", "max_tokens"},
		{"stream_options without stream", "POST", "/v1/chat/completions", "application/json", auth, `{` + model + `,` + msgs + `,"stream_options":{"include_usage":true}}`, 400, "Bad Request", "stream=True"},
		{"unknown model", "POST", "/v1/chat/completions", "application/json", auth, `{"model":"x",` + msgs + `}`, 404, "NotFoundError", "does not exist"},
		{"embeddings on generate model", "POST", "/v1/embeddings", "application/json", auth, `{` + model + `,"input":"x"}`, 400, "BadRequestError", "Embeddings API"},
		{"embedding dimensions", "POST", "/v1/embeddings", "application/json", auth, `{"model":"intfloat/e5-mistral-7b-instruct","input":"x","dimensions":4}`, 400, "BadRequestError", "matryoshka"},
		{"context length", "POST", "/v1/completions", "application/json", auth, `{` + model + `,"prompt":"x","max_tokens":10000}`, 400, "BadRequestError", "maximum context length"},
		{"tokenize without prompt", "POST", "/tokenize", "application/json", "", `{}`, 400, "Bad Request", "Field required"},
		{"detokenize out of vocabulary", "POST", "/detokenize", "application/json", "", `{"tokens":[99999]}`, 400, "Bad Request", "out of vocabulary"},
	}
	invalid := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := llvmRaw(t, srv, tt.method, tt.path, tt.ctype, tt.auth, tt.body)
			require.Equal(t, tt.status, status, "status %d, want %d: %v", status, tt.status, body)
			switch status {
			case 401:
				require.True(t, body["error"] == "Unauthorized", "body %v", body)
				return
			case 404, 405:
				if tt.typ == "" {
					require.True(t, body["detail"] != nil, "body %v", body)
					return
				}
			}
			e, _ := body["error"].(map[string]any)
			require.NotNil(t, e, "error %v", body)
			require.True(t, e["type"] == tt.typ, "error %v", body)
			require.True(t, e["code"] == float64(tt.status), "error %v", body)
			require.Contains(t, e["message"].(string), tt.msgHas, "error %v", body)
		})
		if tt.status != 401 {
			invalid++
		}
	}
	require.Equal(t, invalid, srv.InvalidCalls(), "invalid calls")
	// Unguarded routes need no key; unknown fields are ignored, as in vLLM.
	for _, c := range []struct{ method, path, body string }{{"GET", "/health", ""}, {"GET", "/version", ""}, {"POST", "/tokenize", `{"prompt":"a b","whatever":1}`}} {
		status, body := llvmRaw(t, srv, c.method, c.path, "application/json", "", c.body)
		require.Equal(t, 200, status, "%s: %d %v", c.path, status, body)
	}
	status, body := llvmRaw(t, srv, "POST", "/v1/completions", "application/json", auth, `{`+model+`,"prompt":"x","best_of":1,"guided_json":null}`)
	require.Equal(t, 200, status, "extra fields: %d %v", status, body)
}

func TestLLVMSimulatorLegacyErrors(t *testing.T) {
	srv := sim.Start(&sim.LLVMBackend{LegacyErrors: true})
	defer srv.Close()
	status, body := llvmRaw(t, srv, "POST", "/v1/chat/completions", "application/json", "", `{"model":"nope","messages":[{"role":"user","content":"x"}]}`)
	require.Equal(t, 404, status, "legacy error %d %v", status, body)
	require.True(t, body["object"] == "error", "legacy error %d %v", status, body)
	require.True(t, body["type"] == "NotFoundError", "legacy error %d %v", status, body)
	require.True(t, body["code"] == 404.0, "legacy error %d %v", status, body)
}
