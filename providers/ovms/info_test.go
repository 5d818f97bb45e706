package ovms_test

import (
	"fmt"
	"math"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/ovms"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"
)

// TestInfo runs every InfoRequest against a base URL of the server root and
// one ending in /v3 (which V3's doc says works): both reach the same KServe
// routes.
func TestInfo(t *testing.T) {
	for _, suffix := range []string{"", "/v3", "/v3/"} {
		t.Run(fmt.Sprintf("base %q", suffix), func(t *testing.T) {
			b := sim.OVMS()
			b.Version = "2025.4.1"
			srv := startSim(t, b)
			tests := []struct {
				name        string
				req         messages.InfoRequest
				notReady    string
				wantPath    string
				wantHealthy bool
				wantVersion string
				wantBody    string
			}{
				{"live", messages.InfoRequest{What: "health"}, "", "/v2/health/live", true, "", "{}"},
				{"server ready", messages.InfoRequest{What: "ready"}, "", "/v2/health/ready", true, "", "{}"},
				{"model ready", messages.InfoRequest{What: "ready", Model: "resnet"}, "", "/v2/models/resnet/ready", true, "", "{}"},
				{"model not ready", messages.InfoRequest{What: "ready", Model: "resnet"}, "resnet", "/v2/models/resnet/ready", false, "", "Model with requested version is not loaded yet"},
				{"server not ready", messages.InfoRequest{What: "ready"}, "*", "/v2/health/ready", false, "", "Server is not ready"},
				{"server metadata", messages.InfoRequest{What: "info"}, "", "/v2", true, "2025.4.1", `"name":"OpenVINO Model Server"`},
				{"version", messages.InfoRequest{What: "version"}, "", "/v2", true, "2025.4.1", `"extensions":[]`},
				{"model metadata", messages.InfoRequest{What: "info", Model: "tokenizer"}, "", "/v2/models/tokenizer", true, "", `"inputs":[{"name":"texts","datatype":"BYTES","shape":[-1]}]`},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					switch tt.notReady {
					case "":
					case "*":
						b.SetReady("", false)
						defer b.SetReady("", true)
					default:
						b.SetReady(tt.notReady, false)
						defer b.SetReady(tt.notReady, true)
					}
					req := tt.req
					resp, err := do(t, newCall(srv.URL+suffix, &req))
					require.NoError(t, err)
					ir := resp.(*messages.InfoResponse)
					recs := srv.Requests()
					last := recs[len(recs)-1]
					assert.Equal(t, tt.wantPath, last.Path)
					assert.Equal(t, http.MethodGet, last.Method)
					assert.Equal(t, tt.wantHealthy, ir.Healthy)
					assert.Equal(t, tt.wantVersion, ir.Version)
					assert.Contains(t, string(ir.Body), tt.wantBody)
				})
			}
			// A 404 says the probe reached no route or model that exists:
			// an error naming it, not Healthy=false, so a wrong base URL
			// or model name is not taken for a server that is not ready.
			t.Run("ready of an unknown model", func(t *testing.T) {
				_, err := do(t, newCall(srv.URL+suffix, &messages.InfoRequest{What: "ready", Model: "vgg"}))
				ue := upstreamErr(t, err)
				assert.Equal(t, http.StatusNotFound, ue.Status)
				assert.Equal(t, messages.ClassInvalid, ue.Class)
				assert.Contains(t, ue.Message, "Model with requested name is not found")
			})
			t.Run("metadata of an unknown model", func(t *testing.T) {
				_, err := do(t, newCall(srv.URL+suffix, &messages.InfoRequest{What: "info", Model: "vgg"}))
				ue := upstreamErr(t, err)
				assert.Equal(t, http.StatusNotFound, ue.Status)
				assert.Equal(t, messages.ClassInvalid, ue.Class)
			})
			for _, r := range srv.Requests() {
				assert.NotContains(t, r.Path, "/v3/v2", "no KServe route under /v3")
			}
		})
	}
	t.Run("probe that reaches no route", func(t *testing.T) {
		srv := startSim(t, nil)
		for _, what := range []string{"health", "ready"} {
			_, err := do(t, newCall(srv.URL+"/api", &messages.InfoRequest{What: what}))
			ue := upstreamErr(t, err)
			assert.Equal(t, http.StatusNotFound, ue.Status, what)
			assert.Equal(t, messages.ClassInvalid, ue.Class, what)
		}
	})
	t.Run("health behind a proxy that refuses the key", func(t *testing.T) {
		srv := startSim(t, nil)
		srv.RejectKey(testKey, 401)
		_, err := do(t, newCall(srv.URL, &messages.InfoRequest{What: "health"}))
		assert.Equal(t, messages.ClassAuth, upstreamErr(t, err).Class)
	})
}

// TestInferWithV3Base: a base URL ending in /v3 sends KServe inference to
// /v2/models/…/infer at the server root, and the /v3 routes to /v3/….
func TestInferWithV3Base(t *testing.T) {
	for _, suffix := range []string{"", "/v3", "/v3/"} {
		t.Run(fmt.Sprintf("base %q", suffix), func(t *testing.T) {
			srv := startSim(t, nil)
			resp, err := do(t, newCall(srv.URL+suffix, &messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3.5, -1)}}))
			require.NoError(t, err)
			out := resp.(*messages.InferResponse)
			assert.Equal(t, "resnet", out.Model)
			require.NotEmpty(t, out.Outputs)
			assert.Equal(t, "/v2/models/resnet/infer", srv.Requests()[0].Path)

			_, err = do(t, newCall(srv.URL+suffix, &messages.ChatRequest{Model: "llama3", Messages: []messages.Message{{Role: "user", Content: "hi"}}}))
			require.NoError(t, err)
			_, err = do(t, newCall(srv.URL+suffix, &messages.RerankRequest{Model: "bge-reranker", Query: "q", Documents: []string{"a", "b"}}))
			require.NoError(t, err)
			_, err = do(t, newCall(srv.URL+suffix, &messages.ModelsRequest{}))
			require.NoError(t, err)
			paths := []string{}
			for _, r := range srv.Requests() {
				paths = append(paths, r.Path)
			}
			assert.Equal(t, []string{"/v2/models/resnet/infer", "/v3/chat/completions", "/v3/rerank", "/v3/models"}, paths)
			assert.Zero(t, srv.InvalidCalls())
		})
	}
}

// TestCheckRefusesWhatCannotBeSent: text that is not UTF-8 (JSON would
// replace it silently), NaN or infinite sampling values and values JSON
// cannot encode are refused by Check on every route, naming the field, and
// by Do without an HTTP call.
func TestCheckRefusesWhatCannotBeSent(t *testing.T) {
	bad := "caf\xe9" // Latin-1, not UTF-8
	user := []messages.Message{{Role: "user", Content: "hi"}}
	tests := []struct {
		name  string
		req   messages.Request
		field string
	}{
		{"chat content", &messages.ChatRequest{Model: "llama3", Messages: []messages.Message{{Role: "user", Content: bad}}}, "messages[0].content"},
		{"chat system", &messages.ChatRequest{Model: "llama3", System: bad, Messages: user}, "system"},
		{"chat tool description", &messages.ChatRequest{Model: "llama3", Messages: user, Tools: []messages.Tool{{Name: "t", Description: bad}}}, "tools[0].description"},
		{"chat NaN temperature", &messages.ChatRequest{Model: "llama3", Messages: user, Temperature: ptr(math.NaN())}, "temperature"},
		{"chat Extra", &messages.ChatRequest{Model: "llama3", Messages: user, Extra: map[string]any{"f": func() {}}}, "extra"},
		{"completion prompt", &messages.GenerateRequest{Model: "llama3", Prompt: bad}, "prompt"},
		{"embed input", &messages.EmbedRequest{Model: "bge-small", Inputs: []string{bad}}, "inputs[0]"},
		{"rerank query", &messages.RerankRequest{Model: "bge-reranker", Query: bad, Documents: []string{"a"}}, "query"},
		{"rerank document", &messages.RerankRequest{Model: "bge-reranker", Query: "q", Documents: []string{"a", bad}}, "documents[1]"},
		{"infer parameters", &messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3, 4)},
			Parameters: map[string]any{"note": bad}}, `parameters["note"]`},
		{"infer parameters NaN", &messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3, 4)},
			Parameters: map[string]any{"p": math.NaN()}}, `parameter "p"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			providertest.RefusedBeforeSending(t, ovms.New(), srv, newCall(srv.URL, tt.req), tt.field)
		})
	}
}
