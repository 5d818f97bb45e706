package tei_test

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/tei"
	"github.com/switchyard-ai/switchyard/sim"
)

// TEI's OpenAPI document (testdata/tei/SOURCE.md), compiled once per test
// binary.
const (
	specFile = "../../testdata/tei/openapi.json"
	specURL  = "file:///tei/openapi.json"
)

var specNames = []string{
	"EmbedRequest", "EmbedSparseRequest", "RerankRequest", "OpenAICompatRequest",
	"EmbedResponse", "EmbedSparseResponse", "RerankResponse", "OpenAICompatResponse",
	"ErrorResponse", "OpenAICompatErrorResponse", "Info",
}

var (
	specOnce    sync.Once
	specSchemas map[string]*jsonschema.Schema
	specErr     error
	specEdits   int
)

func loadSpec() {
	f, err := os.Open(specFile)
	if err != nil {
		specErr = err
		return
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		specErr = err
		return
	}
	specEdits = rewriteSpec(doc)
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
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
}

// rewriteSpec makes the utoipa-generated OpenAPI 3.0 document a JSON Schema
// 2020-12 resource that says what the spec means, in place, and returns the
// number of edits:
//   - nullable: true beside a type becomes type: [T, "null"]; beside no type
//     (utoipa's {"allOf":[{"$ref":…}],"nullable":true}) the schema becomes
//     anyOf [schema, null]; a false nullable is dropped;
//   - a oneOf with a discriminator becomes an anyOf (OpenAPI picks the
//     branch by the discriminator).
//
// The numeric exclusiveMinimum utoipa writes is already 2020-12's meaning.
func rewriteSpec(doc any) int {
	edits := 0
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for _, e := range x {
				walk(e)
			}
			if n, ok := x["nullable"]; ok {
				delete(x, "nullable")
				edits++
				if b, _ := n.(bool); b {
					switch t := x["type"].(type) {
					case string:
						x["type"] = []any{t, "null"}
					case nil:
						inner := make(map[string]any, len(x))
						for k, e := range x {
							if k != "description" && k != "default" && k != "example" {
								inner[k] = e
								delete(x, k)
							}
						}
						x["anyOf"] = []any{inner, map[string]any{"type": "null"}}
					}
					if enum, ok := x["enum"].([]any); ok && !slices.Contains(enum, nil) {
						x["enum"] = append(enum, nil)
					}
				}
			}
			if one, ok := x["oneOf"]; ok && x["discriminator"] != nil {
				delete(x, "oneOf")
				x["anyOf"] = one
				edits++
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return edits
}

func specSchema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	specOnce.Do(loadSpec)
	if specErr != nil {
		t.Fatalf("loading the TEI spec: %v", specErr)
	}
	s := specSchemas[name]
	if s == nil {
		t.Fatalf("schema %s not compiled", name)
	}
	return s
}

func validate(t *testing.T, schema string, body []byte) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: body is not JSON: %v\n%s", schema, err, body)
	}
	return specSchema(t, schema).Validate(v)
}

// captureTransport keeps a copy of every response body the adapter reads.
type captureTransport struct {
	mu   sync.Mutex
	resp []*captured
}

type captured struct {
	path   string
	status int
	json   bool
	buf    bytes.Buffer
}

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	cp := &captured{path: r.URL.Path, status: resp.StatusCode, json: strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json")}
	c.mu.Lock()
	c.resp = append(c.resp, cp)
	c.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, &cp.buf), resp.Body}
	return resp, nil
}

func TestSpecLoads(t *testing.T) {
	specSchema(t, "EmbedRequest")
	if specEdits < 10 {
		t.Fatalf("only %d spec edits: did the nullable rewrite run?", specEdits)
	}
}

// TestSpecRequestsAndAnswers runs the adapter against the simulator for every
// request shape it builds, validates each request body against the spec's
// request schema, and each simulator answer (JSON and error) against the
// response schema.
func TestSpecRequestsAndAnswers(t *testing.T) {
	srv := startSim(t, &sim.TEIBackend{MaxClientBatchSize: 3})
	ct := &captureTransport{}
	run := func(a *tei.Adapter, req messages.Request, wantErr bool) {
		t.Helper()
		call := newCall(srv, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		_, err := do(t, a, call)
		if (err != nil) != wantErr {
			t.Fatalf("%T: error %v, want error %v", req, err, wantErr)
		}
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

	if srv.InvalidCalls() != 4 {
		t.Fatalf("simulator rejected %d requests, want the 3 oversized batches and the bad dimensions", srv.InvalidCalls())
	}
	requestSchema := map[string]string{
		"/embed": "EmbedRequest", "/embed_sparse": "EmbedSparseRequest", "/rerank": "RerankRequest", "/v1/embeddings": "OpenAICompatRequest",
	}
	counts := map[string]int{}
	for _, rec := range srv.Requests() {
		schema, ok := requestSchema[rec.Path]
		if !ok {
			continue
		}
		if err := validate(t, schema, rec.Body); err != nil {
			t.Errorf("request to %s violates %s: %v\n%s", rec.Path, schema, err, rec.Body)
		}
		counts[rec.Path]++
	}
	if counts["/embed"] != 7 || counts["/embed_sparse"] != 1 || counts["/v1/embeddings"] != 4 || counts["/rerank"] != 4 {
		t.Fatalf("validated %v", counts)
	}

	answerSchema := map[string][2]string{
		"/embed": {"EmbedResponse", "ErrorResponse"}, "/embed_sparse": {"EmbedSparseResponse", "ErrorResponse"},
		"/rerank": {"RerankResponse", "ErrorResponse"}, "/v1/embeddings": {"OpenAICompatResponse", "OpenAICompatErrorResponse"},
		"/info": {"Info", "ErrorResponse"},
	}
	nAnswers, nErrors := 0, 0
	for _, c := range ct.resp {
		if !c.json {
			t.Fatalf("answer from %s (%d) is not JSON", c.path, c.status)
		}
		schema := answerSchema[c.path][0]
		if c.status != http.StatusOK {
			schema = answerSchema[c.path][1]
			nErrors++
		} else {
			nAnswers++
		}
		if err := validate(t, schema, c.buf.Bytes()); err != nil {
			t.Errorf("answer %d from %s violates %s: %v\n%s", c.status, c.path, schema, err, c.buf.Bytes())
		}
	}
	if nAnswers != 11 || nErrors != 6 {
		t.Fatalf("validated %d answers and %d errors", nAnswers, nErrors)
	}
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
			if err := validate(t, tt.schema, []byte(tt.body)); err == nil {
				t.Fatalf("%s accepted %s", tt.schema, tt.body)
			}
		})
	}
	if err := validate(t, "EmbedRequest", []byte(`{"inputs":["a","b"],"normalize":false,"truncate":null,"dimensions":3}`)); err != nil {
		t.Fatalf("valid body rejected: %v", err)
	}
}
