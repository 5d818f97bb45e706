package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	vtxBase   = "/v1/projects/sim-project/locations/us-central1/publishers/google/models/"
	vtxGen    = vtxBase + "gemini-2.5-flash:generateContent"
	vtxStream = vtxBase + "gemini-2.5-flash:streamGenerateContent"
	vtxCount  = vtxBase + "gemini-2.5-flash:countTokens"
	vtxHi     = `{"contents":[{"role":"user","parts":[{"text":"hi there"}]}]`
	vtxOK     = vtxHi + `}`
)

// vtxEnv is a token endpoint with a service account, for Vertex
// simulators.
type vtxEnv struct {
	g    *GoogleOAuth
	acct gAccount
}

func newVtxEnv(t *testing.T) *vtxEnv {
	t.Helper()
	g := StartGoogleOAuth(GoogleOAuthOptions{})
	t.Cleanup(g.Close)
	return &vtxEnv{g: g, acct: gNewAccount(t, g, gTestEmail)}
}

// start starts a Vertex simulator with b's settings (nil: defaults) and
// returns it with a fresh access token.
func (e *vtxEnv) start(t *testing.T, b *VertexGeminiBackend) (*Server, string) {
	t.Helper()
	if b == nil {
		b = VertexGemini(nil)
	}
	b.Auth = e.g
	s := Start(b)
	t.Cleanup(s.Close)
	return s, gToken(t, e.g, e.acct)
}

// vtxSetup starts a token endpoint and a Vertex simulator with b's
// settings (nil: defaults) and returns them with a valid access token.
func vtxSetup(t *testing.T, b *VertexGeminiBackend) (*Server, *GoogleOAuth, string) {
	t.Helper()
	e := newVtxEnv(t)
	s, tok := e.start(t, b)
	return s, e.g, tok
}

// vtxPost sends body to path with header and returns the status, headers
// and body.
func vtxPost(t *testing.T, s *Server, method, path string, header map[string]string, body string) (int, http.Header, []byte) {
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

func vtxHeaders(tok string, kv ...string) map[string]string {
	h := map[string]string{"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(h, kv[i])
		} else {
			h[kv[i]] = kv[i+1]
		}
	}
	return h
}

// vtxStatus decodes a google.rpc.Status error body.
type vtxStatus struct {
	Code    int              `json:"code"`
	Message string           `json:"message"`
	Status  string           `json:"status"`
	Details []map[string]any `json:"details"`
}

func vtxError(t *testing.T, body []byte) vtxStatus {
	t.Helper()
	var env struct {
		Error vtxStatus `json:"error"`
	}
	require.NoError(t, json.Unmarshal(body, &env), "body %s", body)
	return env.Error
}

// TestVertexGeminiSimulatorIsStrict shows the simulator refuses wrong
// paths, credentials and bodies the way Vertex AI does, and accepts the
// forms it accepts.
func TestVertexGeminiSimulatorIsStrict(t *testing.T) {
	const (
		predict    = vtxBase + "text-embedding-005:predict"
		predict001 = vtxBase + "gemini-embedding-001:predict"
		embed      = vtxBase + "gemini-embedding-2-preview:embedContent"
		inst       = `{"instances":[{"content":"a b","task_type":"RETRIEVAL_QUERY"}]}`
	)
	tests := []struct {
		name    string
		method  string
		path    string
		header  []string // edits of the valid headers
		body    string
		status  int
		rpc     string
		msg     string
		project string
	}{
		{name: "valid", path: vtxGen, body: vtxOK, status: 200},
		{name: "v1beta1", path: strings.Replace(vtxGen, "/v1/", "/v1beta1/", 1), body: vtxOK, status: 200},
		{name: "project number", path: strings.Replace(vtxGen, "sim-project", "123456789012", 1), body: vtxOK, status: 200},
		{name: "global location", path: strings.Replace(vtxGen, "us-central1", "global", 1), body: vtxOK, status: 200},
		{name: "labels", path: vtxGen, body: vtxHi + `,"labels":{"team":"search"}}`, status: 200},
		{name: "labels not strings", path: vtxGen, body: vtxHi + `,"labels":{"team":1}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "Invalid value at 'labels[team].value' (TYPE_STRING), 1"},
		{name: "no token", path: vtxGen, header: []string{"Authorization", ""}, body: vtxOK, status: 401, rpc: "UNAUTHENTICATED", msg: GoogleMissingCredentials},
		{name: "unknown token", path: vtxGen, header: []string{"Authorization", "Bearer ya29.c.forged"}, body: vtxOK, status: 401, rpc: "UNAUTHENTICATED", msg: GoogleInvalidCredentials},
		{name: "API key header", path: vtxGen, header: []string{"X-Goog-Api-Key", "AIzaSyExample0000000000000000000000000"}, body: vtxOK, status: 401, rpc: "UNAUTHENTICATED", msg: "API keys are not supported by this API."},
		{name: "API key query", path: vtxGen + "?key=AIzaSyExample", body: vtxOK, status: 401, rpc: "UNAUTHENTICATED", msg: "API keys are not supported by this API."},
		{name: "GET", method: http.MethodGet, path: vtxGen, status: 404, rpc: "NOT_FOUND"},
		{name: "Developer API path", path: "/v1beta/models/gemini-2.5-flash:generateContent", body: vtxOK, status: 404, rpc: "NOT_FOUND"},
		{name: "no location", path: "/v1/projects/sim-project/publishers/google/models/gemini-2.5-flash:generateContent", body: vtxOK, status: 404, rpc: "NOT_FOUND"},
		{name: "no publisher", path: "/v1/projects/sim-project/locations/us-central1/models/gemini-2.5-flash:generateContent", body: vtxOK, status: 404, rpc: "NOT_FOUND"},
		{name: "v1beta", path: strings.Replace(vtxGen, "/v1/", "/v1beta/", 1), body: vtxOK, status: 404, rpc: "NOT_FOUND"},
		{name: "other publisher", path: strings.Replace(vtxGen, "/google/", "/anthropic/", 1), body: vtxOK, status: 404, rpc: "NOT_FOUND", msg: "Publisher Model `projects/sim-project/locations/us-central1/publishers/anthropic/models/gemini-2.5-flash` not found."},
		{name: "unknown method", path: vtxBase + "gemini-2.5-flash:rawPredict", body: vtxOK, status: 404, rpc: "NOT_FOUND", msg: "Method not found."},
		{name: "malformed location", path: strings.Replace(vtxGen, "us-central1", "US_CENTRAL", 1), body: vtxOK, status: 400, rpc: "INVALID_ARGUMENT", msg: "Invalid resource field value in the request."},
		{name: "malformed project", path: strings.Replace(vtxGen, "sim-project", "Sim", 1), body: vtxOK, status: 400, rpc: "INVALID_ARGUMENT", msg: "Invalid resource field value in the request."},
		{name: "another project", project: "prod-project", path: vtxGen, body: vtxOK, status: 403, rpc: "PERMISSION_DENIED", msg: "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/projects/sim-project/"},
		{name: "not JSON content type", path: vtxGen, header: []string{"Content-Type", "text/plain"}, body: vtxOK, status: 400, rpc: "INVALID_ARGUMENT", msg: "Content-Type"},
		{name: "unknown query parameter", path: vtxGen + "?stream=true", body: vtxOK, status: 400, rpc: "INVALID_ARGUMENT", msg: `Unknown name "stream": Cannot bind query parameter.`},
		{name: "not JSON", path: vtxGen, body: `{"contents":`, status: 400, rpc: "INVALID_ARGUMENT", msg: "Invalid JSON payload received."},
		{name: "unknown field", path: vtxGen, body: vtxHi + `,"prompt":"x"}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Unknown name "prompt": Cannot find field.`},
		{name: "part as a string names Vertex's proto", path: vtxGen, body: `{"contents":[{"parts":["hi"],"role":"user"}]}`, status: 400, rpc: "INVALID_ARGUMENT",
			msg: `Invalid value at 'contents[0].parts[0]' (type.googleapis.com/google.cloud.aiplatform.v1.Part), "hi"`},
		{name: "no contents", path: vtxGen, body: `{}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "contents is not specified"},
		{name: "bad role", path: vtxGen, body: `{"contents":[{"role":"assistant","parts":[{"text":"hi"}]}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "Please use a valid role: user, model."},
		{name: "embedding model for chat", path: vtxBase + "text-embedding-005:generateContent", body: vtxOK, status: 400, rpc: "INVALID_ARGUMENT", msg: "does not support the generateContent method"},
		{name: "stream with bad alt", path: vtxStream + "?alt=xml", body: vtxOK, status: 400, rpc: "INVALID_ARGUMENT", msg: "Invalid value at 'alt'"},
		{name: "flat countTokens", path: vtxCount, body: vtxHi + `,"systemInstruction":{"parts":[{"text":"be brief"}]},"tools":[{"functionDeclarations":[{"name":"f"}]}]}`, status: 200},
		{name: "countTokens with toolConfig", path: vtxCount, body: vtxHi + `,"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Unknown name "toolConfig": Cannot find field.`},
		{name: "countTokens with generateContentRequest", path: vtxCount, body: `{"generateContentRequest":` + vtxOK + `}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Unknown name "generateContentRequest": Cannot find field.`},
		{name: "countTokens without contents", path: vtxCount, body: `{}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "contents is not specified"},
		{name: "valid predict", path: predict, body: `{"instances":[{"content":"a b","task_type":"RETRIEVAL_DOCUMENT","title":"t"},{"content":"c"}],"parameters":{"outputDimensionality":4,"autoTruncate":false}}`, status: 200},
		{name: "predict on a chat model", path: vtxBase + "gemini-2.5-flash:predict", body: inst, status: 400, rpc: "INVALID_ARGUMENT", msg: "Gemini cannot be accessed through Vertex Predict/RawPredict API."},
		{name: "predict on an embedContent model", path: vtxBase + "gemini-embedding-2-preview:predict", body: inst, status: 400, rpc: "INVALID_ARGUMENT", msg: "use embedContent"},
		{name: "predict without instances", path: predict, body: `{"instances":[]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "instances must not be empty"},
		{name: "two instances for gemini-embedding-001", path: predict001, body: `{"instances":[{"content":"a"},{"content":"b"}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "supports at most 1 instance(s) per request"},
		{name: "one instance for gemini-embedding-001", path: predict001, body: `{"instances":[{"content":"a"}]}`, status: 200},
		{name: "251 instances", path: predict, body: `{"instances":[` + strings.Repeat(`{"content":"a"},`, 250) + `{"content":"a"}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "at most 250 instance(s)"},
		{name: "instance with OpenAI input", path: predict, body: `{"instances":[{"input":"a"}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Invalid instance field "input"`},
		{name: "empty content", path: predict, body: `{"instances":[{"content":" "}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "content must not be empty"},
		{name: "camelCase task type field", path: predict, body: `{"instances":[{"content":"a","taskType":"RETRIEVAL_QUERY"}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Invalid instance field "taskType"`},
		{name: "unknown task type", path: predict, body: `{"instances":[{"content":"a","task_type":"SUMMARIZE"}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `unknown task type "SUMMARIZE"`},
		{name: "title without RETRIEVAL_DOCUMENT", path: predict, body: `{"instances":[{"content":"a","title":"t"}]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "title is only supported"},
		{name: "zero dimensions", path: predict, body: inst[:len(inst)-1] + `,"parameters":{"outputDimensionality":0}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "between 1 and 3072"},
		{name: "unknown parameter", path: predict, body: inst[:len(inst)-1] + `,"parameters":{"dimensions":4}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Invalid parameter "dimensions"`},
		{name: "top-level field in predict", path: predict, body: `{"input":["a"]}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Unknown name "input"`},
		{name: "valid embedContent", path: embed, body: `{"content":{"role":"user","parts":[{"text":"a b"}]},"embedContentConfig":{"taskType":"RETRIEVAL_QUERY","outputDimensionality":4}}`, status: 200},
		{name: "embedContent on a predict model", path: vtxBase + "text-embedding-005:embedContent", body: `{"content":{"parts":[{"text":"a"}]}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "does not support the embedContent method"},
		{name: "embedContent without content", path: embed, body: `{}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "content is not specified"},
		{name: "embedContent of an image", path: embed, body: `{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA=="}}]}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "only text parts can be embedded"},
		{name: "embedContent with a top-level task type", path: embed, body: `{"content":{"parts":[{"text":"a"}]},"taskType":"RETRIEVAL_QUERY"}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Unknown name "taskType"`},
		{name: "embedContent unknown config field", path: embed, body: `{"content":{"parts":[{"text":"a"}]},"embedContentConfig":{"dimensions":4}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: `Unknown name "dimensions" at 'embed_content_config'`},
		{name: "embedContent bad task type", path: embed, body: `{"content":{"parts":[{"text":"a"}]},"embedContentConfig":{"taskType":"SUMMARIZE"}}`, status: 400, rpc: "INVALID_ARGUMENT", msg: "TaskType"},
	}
	env := newVtxEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, tok := env.start(t, &VertexGeminiBackend{Project: tt.project})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			status, h, body := vtxPost(t, s, method, tt.path, vtxHeaders(tok, tt.header...), tt.body)
			require.Equal(t, tt.status, status, "body %s", body)
			assert.True(t, strings.HasPrefix(h.Get("Content-Type"), "application/json"), "content type %q", h.Get("Content-Type"))
			if tt.status == 200 {
				assert.Zero(t, s.InvalidCalls())
				return
			}
			e := vtxError(t, body)
			assert.Equal(t, tt.status, e.Code, "body %s", body)
			assert.Equal(t, tt.rpc, e.Status, "body %s", body)
			assert.NotEmpty(t, e.Message)
			assert.Contains(t, e.Message, tt.msg, "body %s", body)
			if tt.status != 401 {
				assert.Equal(t, 1, s.InvalidCalls())
			}
		})
	}
}

// TestVertexGeminiSimulatorTokens shows expired and revoked credentials are
// refused with Google's 401 and 403 bodies.
func TestVertexGeminiSimulatorTokens(t *testing.T) {
	s, g, tok := vtxSetup(t, nil)
	status, _, body := vtxPost(t, s, http.MethodPost, vtxGen, vtxHeaders(tok), vtxOK)
	require.Equal(t, 200, status, "body %s", body)

	g.Expire()
	status, _, body = vtxPost(t, s, http.MethodPost, vtxGen, vtxHeaders(tok), vtxOK)
	require.Equal(t, 401, status, "body %s", body)
	e := vtxError(t, body)
	assert.Equal(t, "UNAUTHENTICATED", e.Status)
	assert.Equal(t, GoogleInvalidCredentials, e.Message)
	require.Len(t, e.Details, 1)
	assert.Equal(t, "ACCESS_TOKEN_EXPIRED", e.Details[0]["reason"])

	fresh := gToken(t, g, gNewAccount(t, g, gTestEmail))
	status, _, _ = vtxPost(t, s, http.MethodPost, vtxGen, vtxHeaders(fresh), vtxOK)
	require.Equal(t, 200, status)
	recs := s.Requests()
	assert.Equal(t, gTestEmail, recs[len(recs)-1].Key, "requests are recorded under the service account")

	s.RejectKey(gTestEmail, http.StatusForbidden)
	status, _, body = vtxPost(t, s, http.MethodPost, vtxGen, vtxHeaders(fresh), vtxOK)
	require.Equal(t, 403, status, "body %s", body)
	e = vtxError(t, body)
	assert.Equal(t, "PERMISSION_DENIED", e.Status)
	assert.Contains(t, e.Message, "Permission 'aiplatform.endpoints.predict' denied")
}

// TestVertexGeminiSimulatorErrorBodies checks the bodies written for
// injected statuses.
func TestVertexGeminiSimulatorErrorBodies(t *testing.T) {
	tests := []struct {
		status int
		rpc    string
		msg    string
	}{
		{400, "INVALID_ARGUMENT", "Bad Request"},
		{403, "PERMISSION_DENIED", "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist)."},
		{404, "NOT_FOUND", "Requested entity was not found."},
		{429, "RESOURCE_EXHAUSTED", "Resource exhausted. Please try again later."},
		{500, "INTERNAL", "Internal error encountered."},
		{503, "UNAVAILABLE", "The service is currently unavailable."},
		{504, "DEADLINE_EXCEEDED", "Deadline expired"},
	}
	env := newVtxEnv(t)
	for _, tt := range tests {
		t.Run(tt.rpc, func(t *testing.T) {
			s, tok := env.start(t, nil)
			s.Inject(Fault{Status: tt.status})
			status, _, body := vtxPost(t, s, http.MethodPost, vtxGen, vtxHeaders(tok), vtxOK)
			require.Equal(t, tt.status, status, "body %s", body)
			e := vtxError(t, body)
			assert.Equal(t, tt.status, e.Code)
			assert.Equal(t, tt.rpc, e.Status)
			assert.Contains(t, e.Message, tt.msg)
			if tt.status == 429 {
				assert.Empty(t, e.Details, "Vertex sends no RetryInfo")
			}
		})
	}
}

// TestVertexGeminiSimulatorAnswers checks the answer shapes: usage in a
// generateContent answer and in the last stream chunk, the JSON array form,
// token counts and both embedding forms.
func TestVertexGeminiSimulatorAnswers(t *testing.T) {
	s, _, tok := vtxSetup(t, &VertexGeminiBackend{Gemini: &GeminiBackend{ChunkWords: 2, EmbeddingDimensions: 6}})
	h := vtxHeaders(tok)
	body := `{"contents":[{"role":"user","parts":[{"text":"stream four words"}]}]}`

	status, _, b := vtxPost(t, s, http.MethodPost, vtxGen, h, body)
	require.Equal(t, 200, status, "body %s", b)
	var resp struct {
		Candidates    []map[string]any `json:"candidates"`
		UsageMetadata map[string]any   `json:"usageMetadata"`
		ModelVersion  string           `json:"modelVersion"`
	}
	require.NoError(t, json.Unmarshal(b, &resp))
	assert.Equal(t, "gemini-2.5-flash", resp.ModelVersion)
	assert.Equal(t, float64(3), resp.UsageMetadata["promptTokenCount"])
	assert.Equal(t, float64(5), resp.UsageMetadata["candidatesTokenCount"])

	status, rh, b := vtxPost(t, s, http.MethodPost, vtxStream+"?alt=sse", h, body)
	require.Equal(t, 200, status, "body %s", b)
	assert.Equal(t, "text/event-stream", rh.Get("Content-Type"))
	events := strings.Split(strings.TrimSuffix(string(b), "\r\n\r\n"), "\r\n\r\n")
	require.Len(t, events, 3, "stream %q", b)
	var last map[string]any
	data, ok := strings.CutPrefix(events[2], "data: ")
	require.True(t, ok, "event %q", events[2])
	require.NoError(t, json.Unmarshal([]byte(data), &last))
	usage := last["usageMetadata"].(map[string]any)
	assert.Equal(t, float64(8), usage["totalTokenCount"], "final usage in the last chunk")
	assert.Equal(t, "STOP", last["candidates"].([]any)[0].(map[string]any)["finishReason"])

	status, rh, b = vtxPost(t, s, http.MethodPost, vtxStream, h, body)
	require.Equal(t, 200, status, "body %s", b)
	assert.True(t, strings.HasPrefix(rh.Get("Content-Type"), "application/json"))
	var chunks []map[string]any
	require.NoError(t, json.Unmarshal(b, &chunks), "array form %s", b)
	assert.Len(t, chunks, 3)

	status, _, b = vtxPost(t, s, http.MethodPost, vtxCount, h, `{"contents":[{"role":"user","parts":[{"text":"count these  words"}]}],"systemInstruction":{"parts":[{"text":"be brief"}]}}`)
	require.Equal(t, 200, status, "body %s", b)
	var count map[string]any
	require.NoError(t, json.Unmarshal(b, &count))
	assert.Equal(t, float64(5), count["totalTokens"])
	assert.Equal(t, float64(22), count["totalBillableCharacters"])

	in, _ := s.Usage()
	status, _, b = vtxPost(t, s, http.MethodPost, vtxBase+"text-embedding-005:predict", h, `{"instances":[{"content":"one two","task_type":"RETRIEVAL_QUERY"},{"content":"three"}]}`)
	require.Equal(t, 200, status, "body %s", b)
	var pred struct {
		Predictions []struct {
			Embeddings struct {
				Values     []float32      `json:"values"`
				Statistics map[string]any `json:"statistics"`
			} `json:"embeddings"`
		} `json:"predictions"`
		Metadata map[string]any `json:"metadata"`
	}
	require.NoError(t, json.Unmarshal(b, &pred))
	require.Len(t, pred.Predictions, 2)
	assert.Equal(t, GeminiEmbedding("one two", "RETRIEVAL_QUERY", 6), pred.Predictions[0].Embeddings.Values)
	assert.Equal(t, GeminiEmbedding("three", "", 6), pred.Predictions[1].Embeddings.Values)
	assert.Equal(t, float64(2), pred.Predictions[0].Embeddings.Statistics["token_count"])
	assert.Equal(t, false, pred.Predictions[0].Embeddings.Statistics["truncated"])
	assert.Equal(t, float64(11), pred.Metadata["billableCharacterCount"])
	after, _ := s.Usage()
	assert.Equal(t, 3, after-in, "embedding tokens are reported")

	status, _, b = vtxPost(t, s, http.MethodPost, vtxBase+"gemini-embedding-2-preview:embedContent", h,
		`{"content":{"role":"user","parts":[{"text":"one two"}]},"embedContentConfig":{"taskType":"RETRIEVAL_QUERY","outputDimensionality":3}}`)
	require.Equal(t, 200, status, "body %s", b)
	var emb struct {
		Embedding     struct{ Values []float32 } `json:"embedding"`
		UsageMetadata map[string]any             `json:"usageMetadata"`
	}
	require.NoError(t, json.Unmarshal(b, &emb))
	assert.Equal(t, GeminiEmbedding("one two", "RETRIEVAL_QUERY", 3), emb.Embedding.Values)
	assert.Equal(t, float64(2), emb.UsageMetadata["promptTokenCount"])
}

// TestVertexGeminiSimulatorPrefix shows a gateway prefix is required and
// stripped.
func TestVertexGeminiSimulatorPrefix(t *testing.T) {
	s, _, tok := vtxSetup(t, &VertexGeminiBackend{Prefix: "/gw/vertex"})
	status, _, b := vtxPost(t, s, http.MethodPost, "/gw/vertex"+vtxGen, vtxHeaders(tok), vtxOK)
	assert.Equal(t, 200, status, "with the prefix: %s", b)
	status, _, b = vtxPost(t, s, http.MethodPost, vtxGen, vtxHeaders(tok), vtxOK)
	assert.Equal(t, 404, status, "without the prefix: %s", b)
	status, _, b = vtxPost(t, s, http.MethodPost, "/gw/other"+vtxGen, vtxHeaders(tok), vtxOK)
	assert.Equal(t, 404, status, "another prefix: %s", b)
}
