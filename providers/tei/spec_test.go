package tei_test

import (
	"net/http"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/providers/tei"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TEI's OpenAPI document (testdata/tei/SOURCE.md), compiled once per test
// binary.
var spec = providertest.NewSpec("TEI", "../../testdata/tei/openapi.json", "file:///tei/openapi.json", providertest.RewriteOpenAPI30)

var specNames = []string{
	"EmbedRequest", "EmbedSparseRequest", "RerankRequest", "OpenAICompatRequest",
	"EmbedResponse", "EmbedSparseResponse", "RerankResponse", "OpenAICompatResponse",
	"ErrorResponse", "OpenAICompatErrorResponse", "Info",
}

func validate(t *testing.T, schema string, body []byte) error {
	t.Helper()
	return spec.Validate(t, schema, body)
}

func TestSpecLoads(t *testing.T) {
	for _, n := range specNames {
		spec.Schema(t, n)
	}
	n := spec.Edits(t)
	require.GreaterOrEqual(t, n, 10, "only %d spec edits: did the nullable rewrite run?", n)
}

// TestSpecRequestsAndAnswers runs the adapter against the simulator for every
// request shape it builds, validates each request body against the spec's
// request schema, and each simulator answer (JSON and error) against the
// response schema.
func TestSpecRequestsAndAnswers(t *testing.T) {
	srv := startSim(t, &sim.TEIBackend{MaxClientBatchSize: 3})
	ct := &providertest.CaptureTransport{}
	run := func(a *tei.Adapter, req messages.Request, wantErr bool) {
		t.Helper()
		call := newCall(srv, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		_, err := do(t, a, call)
		require.Equal(t, wantErr, err != nil, "%T: error %v, want error %v", req, err, wantErr)
	}
	five := []string{"one", "two", "three", "four", "five"}
	run(tei.New(), &messages.EmbedRequest{Inputs: []string{"plain"}}, false)
	run(tei.New(), &messages.EmbedRequest{Model: "m", Inputs: five, Normalize: ptr(false), Truncate: ptr(true), Dimensions: 4}, false) // split: 413 first
	run(tei.New(), &messages.EmbedRequest{Inputs: []string{"a", "b"}, Sparse: true, Truncate: ptr(false)}, false)
	run(tei.NewOpenAICompatible(), &messages.EmbedRequest{Model: "bge", Inputs: five, Dimensions: 2}, false) // split
	run(tei.NewOpenAICompatible(), &messages.EmbedRequest{Inputs: []string{"x"}}, false)
	run(tei.New(), &messages.RerankRequest{Query: "q", Documents: five, ReturnDocuments: true}, false) // split
	run(tei.New(), &messages.RerankRequest{Query: "q", Documents: []string{"d"}}, false)
	run(tei.New(), &messages.InfoRequest{What: "info"}, false)
	run(tei.New(), &messages.EmbedRequest{Inputs: []string{"x"}, Dimensions: 99}, true) // 413 validation

	// Injected error answers.
	srv.Inject(sim.Fault{Status: 429})
	srv.Inject(sim.Fault{Status: 424})
	for range 2 {
		run(tei.New(), &messages.EmbedRequest{Inputs: []string{"x"}}, true)
	}

	require.Equal(t, 4, srv.InvalidCalls(), "simulator rejected %d requests, want the 3 oversized batches and the bad dimensions", srv.InvalidCalls())
	requestSchema := map[string]string{
		"/embed": "EmbedRequest", "/embed_sparse": "EmbedSparseRequest", "/rerank": "RerankRequest", "/v1/embeddings": "OpenAICompatRequest",
	}
	counts := map[string]int{}
	for _, rec := range srv.Requests() {
		schema, ok := requestSchema[rec.Path]
		if !ok {
			continue
		}
		err := validate(t, schema, rec.Body)
		assert.NoError(t, err, "request to %s violates %s: %v\n%s", rec.Path, schema, err, rec.Body)
		counts[rec.Path]++
	}
	require.Equal(t, 7, counts["/embed"], "validated %v", counts)
	require.Equal(t, 1, counts["/embed_sparse"], "validated %v", counts)
	require.Equal(t, 4, counts["/v1/embeddings"], "validated %v", counts)
	require.Equal(t, 4, counts["/rerank"], "validated %v", counts)

	answerSchema := map[string][2]string{
		"/embed": {"EmbedResponse", "ErrorResponse"}, "/embed_sparse": {"EmbedSparseResponse", "ErrorResponse"},
		"/rerank": {"RerankResponse", "ErrorResponse"}, "/v1/embeddings": {"OpenAICompatResponse", "OpenAICompatErrorResponse"},
		"/info": {"Info", "ErrorResponse"},
	}
	nAnswers, nErrors := 0, 0
	for _, c := range ct.Responses() {
		require.True(t, c.HasContentType("application/json"), "answer from %s (%d) is not JSON", c.Path, c.Status)
		schema := answerSchema[c.Path][0]
		if c.Status != http.StatusOK {
			schema = answerSchema[c.Path][1]
			nErrors++
		} else {
			nAnswers++
		}
		err := validate(t, schema, c.Body.Bytes())
		assert.NoError(t, err, "answer %d from %s violates %s: %v\n%s", c.Status, c.Path, schema, err, c.Body.Bytes())
	}
	require.Equal(t, 11, nAnswers, "validated %d answers and %d errors", nAnswers, nErrors)
	require.Equal(t, 6, nErrors, "validated %d answers and %d errors", nAnswers, nErrors)
}

// TestSpecRejectsInvalid shows the validator is not vacuous.
func TestSpecRejectsInvalid(t *testing.T) {
	tests := []struct {
		name, schema, body string
	}{
		{"embed without inputs", "EmbedRequest", `{"normalize":true}`},
		{"embed normalize as string", "EmbedRequest", `{"inputs":["a"],"normalize":"yes"}`},
		{"embed inputs as number", "EmbedRequest", `{"inputs":5}`},
		{"embed bad truncation direction", "EmbedRequest", `{"inputs":["a"],"truncation_direction":"Middle"}`},
		{"embed negative dimensions", "EmbedRequest", `{"inputs":["a"],"dimensions":-1}`},
		{"rerank without texts", "RerankRequest", `{"query":"q"}`},
		{"rerank texts not strings", "RerankRequest", `{"query":"q","texts":[1,2]}`},
		{"openai bad encoding", "OpenAICompatRequest", `{"input":["a"],"encoding_format":"hex"}`},
		{"error lower-case type", "ErrorResponse", `{"error":"x","error_type":"tokenizer"}`},
		{"rank without score", "RerankResponse", `[{"index":0}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Error(t, validate(t, tt.schema, []byte(tt.body)), "%s accepted %s", tt.schema, tt.body)
		})
	}
	require.NoError(t, validate(t, "EmbedRequest", []byte(`{"inputs":["a","b"],"normalize":false,"truncate":null,"dimensions":3}`)), "valid body rejected")
}
