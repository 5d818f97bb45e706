package ollama_test

import (
	"encoding/json"
	"math"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/ollama"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"
)

func TestModelsAndInfo(t *testing.T) {
	srv := startSim(t, &sim.OllamaBackend{Version: "0.13.0"})
	resp, err := do(t, newCall(srv.URL, &messages.ModelsRequest{}))
	require.NoError(t, err)
	models := resp.(*messages.ModelsResponse).Models
	require.Len(t, models, 3)
	assert.Equal(t, "llama3.2:latest", models[0].ID)
	assert.Equal(t, "llama", models[0].Details["family"])
	assert.Equal(t, "Q4_K_M", models[0].Details["quantization_level"])
	assert.IsType(t, float64(0), models[0].Details["size"])
	r := srv.Requests()[0]
	assert.Equal(t, http.MethodGet, r.Method)
	assert.Equal(t, "/api/tags", r.Path)

	tests := []struct {
		what, model string
		wantPath    string
		check       func(t *testing.T, ir *messages.InfoResponse)
	}{
		{"version", "", "/api/version", func(t *testing.T, ir *messages.InfoResponse) {
			assert.Equal(t, "0.13.0", ir.Version)
			assert.True(t, ir.Healthy)
		}},
		{"show", "llama3.2", "/api/show", func(t *testing.T, ir *messages.InfoResponse) {
			var show map[string]any
			require.NoError(t, json.Unmarshal(ir.Body, &show))
			assert.Equal(t, "tools", show["capabilities"].([]any)[1])
		}},
		// The published API defines no GET /: health and readiness probe
		// the cheapest route it does define.
		{"health", "", "/api/version", func(t *testing.T, ir *messages.InfoResponse) {
			assert.True(t, ir.Healthy)
			assert.Equal(t, "0.13.0", ir.Version)
			assert.JSONEq(t, `{"version":"0.13.0"}`, string(ir.Body))
		}},
		{"ready", "", "/api/version", func(t *testing.T, ir *messages.InfoResponse) {
			assert.True(t, ir.Healthy)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.what, func(t *testing.T) {
			resp, err := do(t, newCall(srv.URL, &messages.InfoRequest{What: tt.what, Model: tt.model}))
			require.NoError(t, err)
			recs := srv.Requests()
			last := recs[len(recs)-1]
			assert.Equal(t, tt.wantPath, last.Path)
			assert.Equal(t, http.MethodGet == last.Method, tt.what != "show", "GET for everything but show")
			tt.check(t, resp.(*messages.InfoResponse))
		})
	}
	for _, r := range srv.Requests() {
		assert.NotEqual(t, "/", r.Path, "nothing probes the undocumented server root")
	}
	t.Run("show unknown model", func(t *testing.T) {
		_, err := do(t, newCall(srv.URL, &messages.InfoRequest{What: "show", Model: "nope"}))
		ue := upstreamErr(t, err)
		assert.Equal(t, 404, ue.Status)
		assert.Equal(t, messages.ClassInvalid, ue.Class)
		assert.Equal(t, "model 'nope' not found", ue.Message)
	})
	t.Run("unhealthy", func(t *testing.T) {
		srv.Inject(sim.Fault{Status: 503, Path: ollama.PathVersion})
		resp, err := do(t, newCall(srv.URL, &messages.InfoRequest{What: "health"}))
		require.NoError(t, err)
		assert.False(t, resp.(*messages.InfoResponse).Healthy, "healthy after a 503")
	})
	t.Run("probe reaches no route", func(t *testing.T) {
		// A base URL that is not an Ollama server's root (here one path
		// too deep) answers 404: a misconfiguration, not an unhealthy
		// server.
		_, err := do(t, newCall(srv.URL+"/api", &messages.InfoRequest{What: "health"}))
		ue := upstreamErr(t, err)
		assert.Equal(t, http.StatusNotFound, ue.Status)
		assert.Equal(t, messages.ClassInvalid, ue.Class)
	})
}

// TestCheckRefusesWhatCannotBeSent: text that is not UTF-8 (JSON would
// replace it silently), NaN or infinite sampling values and an Extra that
// cannot be encoded are refused by Check, naming the field, and by Do
// without an HTTP call.
func TestCheckRefusesWhatCannotBeSent(t *testing.T) {
	bad := "caf\xe9" // Latin-1, not UTF-8
	chat := func(edit func(r *messages.ChatRequest)) *messages.ChatRequest {
		r := &messages.ChatRequest{Model: "llama3.2", Messages: user("hello")}
		edit(r)
		return r
	}
	tests := []struct {
		name  string
		req   messages.Request
		field string
	}{
		{"NaN temperature", chat(func(r *messages.ChatRequest) { r.Temperature = ptr(math.NaN()) }), "temperature"},
		{"+Inf top_p", chat(func(r *messages.ChatRequest) { r.TopP = ptr(math.Inf(1)) }), "top_p"},
		{"Extra func", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"keep_alive": func() {}} }), "extra"},
		{"Extra options NaN", chat(func(r *messages.ChatRequest) {
			r.Extra = map[string]any{"options": map[string]any{"min_p": math.NaN()}}
		}), "extra"},
		{"Extra text", chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"keep_alive": bad} }), `extra["keep_alive"]`},
		{"message content", chat(func(r *messages.ChatRequest) { r.Messages[0].Content = bad }), "messages[0].content"},
		{"system", chat(func(r *messages.ChatRequest) { r.System = bad }), "system"},
		{"tool description", chat(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{{Name: "t", Description: bad}} }), "tools[0].description"},
		{"stop", chat(func(r *messages.ChatRequest) { r.Stop = []string{bad} }), "stop[0]"},
		{"generate prompt", &messages.GenerateRequest{Model: "llama3.2", Prompt: bad}, "prompt"},
		{"generate NaN temperature", &messages.GenerateRequest{Model: "llama3.2", Prompt: "p", Temperature: ptr(math.NaN())}, "temperature"},
		{"embed input", &messages.EmbedRequest{Model: "all-minilm", Inputs: []string{"ok", bad}}, "inputs[1]"},
		{"show model", &messages.InfoRequest{What: "show", Model: bad}, "model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			providertest.RefusedBeforeSending(t, ollama.New(), srv, newCall(srv.URL, tt.req), tt.field)
		})
	}
}
