package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func ovmsTestDo(t *testing.T, srv *Server, method, path, auth, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestOVMSRejects sends requests OVMS refuses and checks each gets OVMS's
// status and {"error": …} body.
func TestOVMSRejects(t *testing.T) {
	const in = `"name":"input","shape":[1,4],"datatype":"FP32"`
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantError                string
		counted                  bool
	}{
		{"unknown route", "GET", "/v1/config", "", 404, "Invalid request URL", true},
		{"unknown model route", "GET", "/v2/models/resnet/labels", "", 404, "Invalid request URL", true},
		{"GET infer", "GET", "/v2/models/resnet/infer", "", 405, "not allowed", true},
		{"POST metadata", "POST", "/v2/models/resnet", "{}", 405, "not allowed", true},
		{"unknown model", "POST", "/v2/models/vgg/infer", `{"inputs":[]}`, 404, "Model with requested name is not found", false},
		{"unknown version", "GET", "/v2/models/resnet/versions/3", "", 404, "Model with requested version is not found", false},
		{"not json", "POST", "/v2/models/resnet/infer", `{"inputs":`, 412, "The file is not valid json", true},
		{"array body", "POST", "/v2/models/resnet/infer", `[]`, 400, "not a JSON object", true},
		{"no inputs", "POST", "/v2/models/resnet/infer", `{}`, 400, "inputs field is missing", true},
		{"empty inputs", "POST", "/v2/models/resnet/infer", `{"inputs":[]}`, 400, "Invalid number of inputs", true},
		{"no name", "POST", "/v2/models/resnet/infer", `{"inputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}`, 400, "has no name", true},
		{"no datatype", "POST", "/v2/models/resnet/infer", `{"inputs":[{"name":"input","shape":[1],"data":[1]}]}`, 400, "datatype of input input is missing", true},
		{"bad datatype", "POST", "/v2/models/resnet/infer", `{"inputs":[{"name":"input","shape":[1],"datatype":"FLOAT","data":[1]}]}`, 400, "Invalid datatype", true},
		{"no shape", "POST", "/v2/models/resnet/infer", `{"inputs":[{"name":"input","datatype":"FP32","data":[1]}]}`, 400, "shape of input input is missing", true},
		{"negative dimension", "POST", "/v2/models/resnet/infer", `{"inputs":[{"name":"input","shape":[-1,4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, "non-negative", true},
		{"no data", "POST", "/v2/models/resnet/infer", `{"inputs":[{` + in + `}]}`, 400, "data of input input is missing", true},
		{"too few elements", "POST", "/v2/models/resnet/infer", `{"inputs":[{` + in + `,"data":[1,2,3]}]}`, 400, "Expected: 4; Actual: 3", true},
		{"nested, too many", "POST", "/v2/models/resnet/infer", `{"inputs":[{` + in + `,"data":[[1,2,3,4],[5]]}]}`, 400, "Expected: 4; Actual: 5", true},
		{"string in FP32", "POST", "/v2/models/resnet/infer", `{"inputs":[{` + in + `,"data":[1,2,3,"4"]}]}`, 400, "element 3 is not a valid FP32", true},
		{"UINT8 out of range", "POST", "/v2/models/identity/infer", `{"inputs":[{"name":"x","shape":[1],"datatype":"UINT8","data":[256]}]}`, 400, "not a valid UINT8", true},
		{"fraction in INT32", "POST", "/v2/models/identity/infer", `{"inputs":[{"name":"x","shape":[1],"datatype":"INT32","data":[1.5]}]}`, 400, "not a valid INT32", true},
		{"number in BOOL", "POST", "/v2/models/identity/infer", `{"inputs":[{"name":"x","shape":[1],"datatype":"BOOL","data":[1]}]}`, 400, "not a valid BOOL", true},
		{"number in BYTES", "POST", "/v2/models/identity/infer", `{"inputs":[{"name":"x","shape":[1],"datatype":"BYTES","data":[1]}]}`, 400, "not a valid BYTES", true},
		{"duplicate input", "POST", "/v2/models/identity/infer", `{"inputs":[{"name":"x","shape":[],"datatype":"BOOL","data":[true]},{"name":"x","shape":[],"datatype":"BOOL","data":[true]}]}`, 400, "Duplicated input name", true},
		{"parameter object", "POST", "/v2/models/identity/infer", `{"parameters":{"a":{}},"inputs":[{"name":"x","shape":[],"datatype":"BOOL","data":[true]}]}`, 400, "string, number or boolean", true},
		{"id number", "POST", "/v2/models/identity/infer", `{"id":5,"inputs":[{"name":"x","shape":[],"datatype":"BOOL","data":[true]}]}`, 400, "id is not a string", true},
		{"output without name", "POST", "/v2/models/identity/infer", `{"inputs":[{"name":"x","shape":[],"datatype":"BOOL","data":[true]}],"outputs":[{}]}`, 400, "output 0 has no name", true},
		{"binary output", "POST", "/v2/models/identity/infer", `{"inputs":[{"name":"x","shape":[],"datatype":"BOOL","data":[true]}],"outputs":[{"name":"x","parameters":{"binary_data":true}}]}`, 400, "binary_data", true},
		{"wrong precision", "POST", "/v2/models/resnet/infer", `{"inputs":[{"name":"input","shape":[1,4],"datatype":"FP64","data":[1,2,3,4]}]}`, 400, "Invalid input precision - Expected: FP32; Actual: FP64", true},
		{"wrong rank", "POST", "/v2/models/resnet/infer", `{"inputs":[{"name":"input","shape":[4],"datatype":"FP32","data":[1,2,3,4]}]}`, 400, "Invalid number of shape dimensions - Expected: (-1,4); Actual: (4)", true},
		{"extra input", "POST", "/v2/models/resnet/infer", `{"inputs":[{` + in + `,"data":[1,2,3,4]},{"name":"x","shape":[],"datatype":"FP32","data":[1]}]}`, 400, "Invalid number of inputs - Expected: 1; Actual: 2", true},
		{"unknown output", "POST", "/v2/models/resnet/infer", `{"inputs":[{` + in + `,"data":[1,2,3,4]}],"outputs":[{"name":"probs"}]}`, 400, "Requested output: probs", true},
		{"v3 unknown route", "POST", "/v3/audio/speech", `{}`, 404, "Invalid request URL", true},
		{"v3 unknown graph", "POST", "/v3/chat/completions", `{"model":"gpt-4o","messages":[]}`, 404, "Mediapipe graph definition", false},
		{"v3 chat checked by the OpenAI simulator", "POST", "/v3/chat/completions", `{"model":"llama3","messages":[{"role":"wizard","content":"x"}]}`, 400, "wizard", true},
		{"v3 embeddings on the llm", "POST", "/v3/embeddings", `{"model":"llama3","input":"x"}`, 400, "does not serve /v3/embeddings", true},
		{"completions prompt list", "POST", "/v3/completions", `{"model":"llama3","prompt":["a","b"]}`, 400, "prompt is not a string", true},
		{"completions five stops", "POST", "/v3/completions", `{"model":"llama3","prompt":"a","stop":["1","2","3","4","5"]}`, 400, "no more than 4", true},
		{"completions stream options without stream", "POST", "/v3/completions", `{"model":"llama3","prompt":"a","stream_options":{"include_usage":true}}`, 400, "stream not set", true},
		{"completions suffix", "POST", "/v3/completions", `{"model":"llama3","prompt":"a","suffix":"b"}`, 400, "suffix is not supported", true},
		{"completions max_tokens 0", "POST", "/v3/completions", `{"model":"llama3","prompt":"a","max_tokens":0}`, 400, "greater than 0", true},
		{"rerank dict documents", "POST", "/v3/rerank", `{"model":"bge-reranker","query":"q","documents":[{"text":"a"}]}`, 400, "list of strings", true},
		{"rerank rank_fields", "POST", "/v3/rerank", `{"model":"bge-reranker","query":"q","documents":["a"],"rank_fields":["text"]}`, 400, "rank_fields is not supported", true},
		{"rerank no query", "POST", "/v3/rerank", `{"model":"bge-reranker","documents":["a"]}`, 400, "query field is missing", true},
		{"rerank top_n 0", "POST", "/v3/rerank", `{"model":"bge-reranker","query":"q","documents":["a"],"top_n":0}`, 400, "top_n", true},
		{"v3 models POST", "POST", "/v3/models", `{}`, 405, "not allowed", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := Start(OVMS())
			defer srv.Close()
			status, body := ovmsTestDo(t, srv, tt.method, tt.path, "", tt.body)
			var e struct {
				Error string `json:"error"`
			}
			require.Equal(t, tt.wantStatus, status, "got %d %s, want %d with %q", status, body, tt.wantStatus, tt.wantError)
			require.NoError(t, json.Unmarshal(body, &e), "got %d %s, want %d with %q", status, body, tt.wantStatus, tt.wantError)
			require.Contains(t, e.Error, tt.wantError, "got %d %s, want %d with %q", status, body, tt.wantStatus, tt.wantError)
			want := 0
			if tt.counted {
				want = 1
			}
			require.Equal(t, want, srv.InvalidCalls(), "%d invalid calls, want %d", srv.InvalidCalls(), want)
		})
	}
}

func TestOVMSAccepts(t *testing.T) {
	tests := []struct {
		name, method, path, body, want string
	}{
		{"live", "GET", "/v2/health/live", "", "{}"},
		{"server metadata with slash", "GET", "/v2/", "", `"name":"OpenVINO Model Server"`},
		{"versioned metadata", "GET", "/v2/models/resnet/versions/1", "", `"versions":["1","2"]`},
		{"versioned ready", "GET", "/v2/models/resnet/versions/2/ready", "", "{}"},
		{"nested data", "POST", "/v2/models/resnet/infer", `{"inputs":[{"name":"input","shape":[2,4],"datatype":"FP32","data":[[1,2,3,4],[4,3,2,1]]}]}`, `{"data":[3,0],"datatype":"INT64","name":"label","shape":[2]}`},
		{"identity keeps numbers", "POST", "/v2/models/identity/infer", `{"id":"x","inputs":[{"name":"n","shape":[2],"datatype":"INT64","data":[9007199254740993,-1]}]}`, `"data":[9007199254740993,-1]`},
		{"v3 models", "GET", "/v3/models", "", `"id":"bge-reranker"`},
		{"v3 model", "GET", "/v3/models/llama3", "", `"owned_by":"OVMS"`},
		{"completions", "POST", "/v3/completions", `{"model":"llama3","prompt":"hi there","max_tokens":5,"top_k":3,"stop":"x"}`, `"text":"echo: hi there"`},
		{"completions stream", "POST", "/v3/completions", `{"model":"llama3","prompt":"hi there","stream":true,"stream_options":{"include_usage":true}}`, `data: [DONE]`},
		{"embeddings", "POST", "/v3/embeddings", `{"model":"bge-small","input":["a","b"]}`, `"embedding"`},
		{"rerank", "POST", "/v3/rerank", `{"model":"bge-reranker","query":"a b","documents":["a","b c","z"],"top_n":2,"return_documents":true}`, `"document":"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := Start(OVMS())
			defer srv.Close()
			status, body := ovmsTestDo(t, srv, tt.method, tt.path, "", tt.body)
			require.Equal(t, 200, status, "got %d %s, want 200 with %s", status, body, tt.want)
			require.Contains(t, string(body), tt.want, "got %d %s, want 200 with %s", status, body, tt.want)
			require.Equal(t, 0, srv.InvalidCalls(), "got %d %s, want 200 with %s", status, body, tt.want)
		})
	}
}

func TestOVMSAPIKeyAndReadiness(t *testing.T) {
	b := OVMS()
	b.APIKey = "k1"
	srv := Start(b)
	defer srv.Close()
	const chat = `{"model":"llama3","messages":[{"role":"user","content":"x"}]}`
	for _, tt := range []struct {
		path, auth, body string
		want             int
	}{
		{"/v3/chat/completions", "", chat, 401},
		{"/v3/chat/completions", "Bearer k2", chat, 401},
		{"/v3/chat/completions", "Bearer k1", chat, 200},
		{"/v2/models/identity/infer", "", `{"inputs":[{"name":"x","shape":[],"datatype":"BOOL","data":[true]}]}`, 200},
	} {
		status, body := ovmsTestDo(t, srv, "POST", tt.path, tt.auth, tt.body)
		require.Equal(t, tt.want, status, "%s with %q: %d %s", tt.path, tt.auth, status, body)
		if status == 401 {
			require.Contains(t, string(body), OVMSUnauthorized, "401 body %s", body)
		}
	}
	b.SetReady("resnet", false)
	status, _ := ovmsTestDo(t, srv, "GET", "/v2/models/resnet/ready", "", "")
	require.Equal(t, 503, status, "not-ready model answered")
	status, _ = ovmsTestDo(t, srv, "GET", "/v2/health/ready", "", "")
	require.Equal(t, 200, status, "server not ready with one model down")
	b.SetReady("", false)
	status, _ = ovmsTestDo(t, srv, "GET", "/v2/health/ready", "", "")
	require.Equal(t, 503, status, "not-ready server answered")
	status, _ = ovmsTestDo(t, srv, "GET", "/v2/health/live", "", "")
	require.Equal(t, 200, status, "live answered")
}
