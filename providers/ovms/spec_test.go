package ovms_test

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"
	"github.com/switchyard-ai/switchyard/providers/providertest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Open Inference Protocol REST spec (testdata/kserve/SOURCE.md),
// compiled once per test binary.
const (
	specFile = "../../testdata/kserve/open_inference_rest.yaml"
	specURL  = "file:///kserve/open_inference_rest.json"
)

var specNames = []string{"inference_request", "inference_response", "inference_error_response", "metadata_model_response", "metadata_server_response"}

var (
	specOnce    sync.Once
	specSchemas map[string]*jsonschema.Schema
	specRoutes  []specRoute
	specErr     error
)

// specRoute is one path and method of the spec, as a pattern over real
// URLs, with the schema of its JSON request body (if any).
type specRoute struct {
	method  string
	pattern *regexp.Regexp
	body    string
}

var paramRE = regexp.MustCompile(`\\\$\\\{[A-Za-z_]+\\\}`)

// routePattern turns a spec path such as
// /v2/models/${MODEL_NAME}/versions/${MODEL_VERSION}/infer into a pattern
// that also accepts the versionless form, which the protocol allows.
func routePattern(p string) *regexp.Regexp {
	p = strings.TrimSuffix(p, "/")
	q := paramRE.ReplaceAllString(regexp.QuoteMeta(p), `[^/]+`)
	q = strings.Replace(q, `/versions/[^/]+`, `(?:/versions/[^/]+)?`, 1)
	return regexp.MustCompile("^" + q + "$")
}

func loadSpec() {
	raw, err := os.ReadFile(specFile)
	if err != nil {
		specErr = err
		return
	}
	var y map[string]any
	if err := yaml.Unmarshal(raw, &y); err != nil {
		specErr = err
		return
	}
	js, err := json.Marshal(y)
	if err != nil {
		specErr = err
		return
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		specErr = err
		return
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(specURL, doc); err != nil {
		specErr = err
		return
	}
	specSchemas = map[string]*jsonschema.Schema{}
	for _, n := range specNames {
		s, err := c.Compile(specURL + "#/components/schemas/" + n)
		if err != nil {
			specErr = err
			return
		}
		specSchemas[n] = s
	}
	paths, _ := y["paths"].(map[string]any)
	for p, ops := range paths {
		for method, op := range ops.(map[string]any) {
			if method == "parameters" {
				continue
			}
			r := specRoute{method: strings.ToUpper(method), pattern: routePattern(p)}
			if rb, ok := op.(map[string]any)["requestBody"].(map[string]any); ok {
				ref, _ := rb["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)["$ref"].(string)
				r.body = strings.TrimPrefix(ref, "#/components/schemas/")
			}
			specRoutes = append(specRoutes, r)
		}
	}
}

func loadedSpec(t testing.TB) {
	t.Helper()
	specOnce.Do(loadSpec)
	require.NoError(t, specErr, "loading the OIP spec")
}

func validate(t *testing.T, schema string, body []byte) error {
	t.Helper()
	loadedSpec(t)
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err, "%s: body is not JSON: %v\n%s", schema, err, body)
	return specSchemas[schema].Validate(v)
}

// route returns the spec route a request matches, nil if none.
func route(t *testing.T, method, path string) *specRoute {
	loadedSpec(t)
	path = strings.TrimSuffix(path, "/")
	for i := range specRoutes {
		if specRoutes[i].method == method && specRoutes[i].pattern.MatchString(path) {
			return &specRoutes[i]
		}
	}
	return nil
}

// kserveRequests is one of each KServe request the adapter builds, valid or
// refused by the model (to capture error answers too).
func kserveRequests() []messages.Request {
	return []messages.Request{
		&messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3, 4)}},
		&messages.InferRequest{Model: "resnet", Version: "1", ID: "7", Outputs: []string{"scores", "label"}, Parameters: map[string]any{"sequence_id": 3, "flag": true},
			Inputs: []messages.Tensor{{Name: "input", Datatype: "FP32", Shape: []int64{2, 4}, Data: []float32{1, 2, 3, 4, 5, 6, 7, 8}, Parameters: map[string]any{"content_type": "raw"}}}},
		&messages.InferRequest{Model: "tokenizer", Inputs: []messages.Tensor{{Name: "texts", Datatype: "BYTES", Shape: []int64{3}, Data: []string{"a b", "c", ""}}}},
		&messages.InferRequest{Model: "identity", Inputs: []messages.Tensor{
			{Name: "b", Datatype: "BOOL", Shape: []int64{2}, Data: []bool{true, false}},
			{Name: "i", Datatype: "INT16", Shape: []int64{1, 1}, Data: []int32{-5}},
			{Name: "u", Datatype: "UINT64", Shape: []int64{1}, Data: []int64{math.MaxInt64}},
			{Name: "d", Datatype: "FP64", Shape: []int64{}, Data: []float64{0.1}},
			{Name: "e", Datatype: "FP16", Shape: []int64{0}, Data: []float32(nil)},
		}},
		&messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{{Name: "input", Datatype: "INT32", Shape: []int64{1, 4}, Data: []int32{1, 2, 3, 4}}}},
		&messages.InfoRequest{What: "health"},
		&messages.InfoRequest{What: "ready"},
		&messages.InfoRequest{What: "ready", Model: "resnet"},
		&messages.InfoRequest{What: "info"},
		&messages.InfoRequest{What: "info", Model: "resnet"},
		&messages.InfoRequest{What: "version"},
	}
}

// TestSpecKServe validates the path and body of every KServe request the
// adapter builds against the OIP spec, and the simulator's answers too.
func TestSpecKServe(t *testing.T) {
	ct := &providertest.CaptureTransport{}
	srv := startSim(t, nil)
	for _, req := range kserveRequests() {
		call := newCall(srv.URL, req)
		call.Client = &providers.Client{HTTP: &http.Client{Transport: ct}, HeaderTimeout: 5 * time.Second}
		_, _ = do(t, call)
	}
	nBodies := 0
	for _, rec := range srv.Requests() {
		r := route(t, rec.Method, rec.Path)
		if !assert.NotNil(t, r, "%s %s is not a route of the spec", rec.Method, rec.Path) {
			continue
		}
		if r.body == "" {
			assert.Len(t, rec.Body, 0, "%s %s has a body", rec.Method, rec.Path)
			continue
		}
		nBodies++
		err := validate(t, r.body, rec.Body)
		assert.NoError(t, err, "%s body violates %s: %v\n%s", rec.Path, r.body, err, rec.Body)
	}
	nAnswers := 0
	for _, c := range ct.Responses() {
		var schema string
		switch {
		case c.Status != 200:
			schema = "inference_error_response"
		case strings.HasSuffix(c.Path, "/infer"):
			schema = "inference_response"
		case c.Path == "/v2":
			schema = "metadata_server_response"
		case strings.HasPrefix(c.Path, "/v2/models/") && !strings.HasSuffix(c.Path, "/ready"):
			schema = "metadata_model_response"
		default:
			continue // health and ready answers have no body schema
		}
		nAnswers++
		err := validate(t, schema, c.Body.Bytes())
		assert.NoError(t, err, "answer from %s violates %s: %v\n%s", c.Path, schema, err, c.Body.Bytes())
	}
	require.Equal(t, 5, nBodies, "validated %d request bodies and %d answers", nBodies, nAnswers)
	require.Equal(t, 8, nAnswers, "validated %d request bodies and %d answers", nBodies, nAnswers)
}

// TestSpecV3 validates the /v3 bodies the adapter builds against the OpenAI
// spec, which OVMS follows (wire-protocols.md §8: "validate /v3 with the
// OpenAI spec").
func TestSpecV3(t *testing.T) {
	srv := startSim(t, nil)
	reqs := []messages.Request{
		&messages.ChatRequest{Model: "llama3", Messages: []messages.Message{{Role: "user", Content: "hi"}}},
		&messages.ChatRequest{Model: "llama3", Stream: true, System: "s", MaxTokens: 5, Stop: []string{"x"}, Temperature: ptr(0.5),
			Messages: []messages.Message{{Role: "user", Content: "hi"}}},
		&messages.GenerateRequest{Model: "llama3", Prompt: "hi"},
		&messages.GenerateRequest{Model: "llama3", Prompt: "hi", Stream: true, MaxTokens: 3},
		&messages.EmbedRequest{Model: "bge-small", Inputs: []string{"a", "b"}},
	}
	schemas := map[string]string{"/v3/chat/completions": "CreateChatCompletionRequest", "/v3/completions": "CreateCompletionRequest", "/v3/embeddings": "CreateEmbeddingRequest"}
	for _, req := range reqs {
		call := newCall(srv.URL, req)
		call.Emit = (&recorder{}).Emit
		_, err := do(t, call)
		require.NoError(t, err, "%T: %v", req, err)
	}
	for _, rec := range srv.Requests() {
		err := openaitest.Validate(t, schemas[rec.Path], rec.Body)
		assert.NoError(t, err, "%s body violates %s: %v\n%s", rec.Path, schemas[rec.Path], err, rec.Body)
	}
	require.Len(t, srv.Requests(), len(reqs), "%d requests, %d rejected", len(srv.Requests()), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d requests, %d rejected", len(srv.Requests()), srv.InvalidCalls())
}

// TestSpecRejectsInvalid shows the validator and the route matcher are not
// vacuous, and that the simulator refuses what the spec refuses.
func TestSpecRejectsInvalid(t *testing.T) {
	tests := []struct {
		name, schema, body string
	}{
		{"no inputs", "inference_request", `{"id":"1"}`},
		{"input without shape", "inference_request", `{"inputs":[{"name":"x","datatype":"FP32","data":[1]}]}`},
		{"input without data", "inference_request", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32"}]}`},
		{"data not an array", "inference_request", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":1}]}`},
		{"shape of strings", "inference_request", `{"inputs":[{"name":"x","shape":["1"],"datatype":"FP32","data":[1]}]}`},
		{"data of objects", "inference_request", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[{"v":1}]}]}`},
		{"output without name", "inference_request", `{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":[1]}],"outputs":[{}]}`},
		{"id number", "inference_request", `{"id":1,"inputs":[]}`},
		{"answer without outputs", "inference_response", `{"model_name":"m"}`},
		{"metadata without platform", "metadata_model_response", `{"name":"m"}`},
	}
	srv := startSim(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, validate(t, tt.schema, []byte(tt.body)), "%s accepted %s", tt.schema, tt.body)
			if tt.schema != "inference_request" {
				return
			}
			before := srv.InvalidCalls()
			resp, err := http.Post(srv.URL+"/v2/models/identity/infer", "application/json", strings.NewReader(tt.body))
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, 400, resp.StatusCode, "the simulator answered %d %s", resp.StatusCode, b)
			require.Equal(t, before+1, srv.InvalidCalls(), "the simulator answered %d %s", resp.StatusCode, b)
			err = validate(t, "inference_error_response", b)
			require.NoError(t, err, "error answer %s: %v", b, err)
		})
	}
	require.NoError(t, validate(t, "inference_request", []byte(`{"inputs":[{"name":"x","shape":[2,1],"datatype":"FP32","data":[[1],[2]]}]}`)), "valid body rejected")
	for _, p := range []struct {
		method, path string
		ok           bool
	}{
		{"POST", "/v2/models/resnet/infer", true}, {"POST", "/v2/models/resnet/versions/1/infer", true},
		{"GET", "/v2/models/resnet/infer", false}, {"POST", "/v2/models/infer", false}, {"GET", "/v2/models/a/b/ready", false},
		{"GET", "/v2", true}, {"GET", "/v2/health/ready", true}, {"GET", "/v3/models", false},
	} {
		got := route(t, p.method, p.path) != nil
		assert.Equal(t, p.ok, got, "%s %s matches a spec route: %v, want %v", p.method, p.path, got, p.ok)
	}
}
