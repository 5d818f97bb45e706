package opea_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/opea"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The OPEA services publish no spec file: their request models are the
// pydantic classes of GenAIComps' api_protocol.py. testdata/opea/
// api_protocol.schema.json translates them to JSON Schema (see SOURCE.md
// there); the tests below validate every body the adapter builds against
// it, and show that it, and the simulator, reject invalid bodies.

const schemaURL = "file:///opea/api_protocol.schema.json"

var (
	schemaOnce sync.Once
	schemaErr  error
	schemas    = map[string]*jsonschema.Schema{}
)

func loadSchemas() {
	f, err := os.Open("../../testdata/opea/api_protocol.schema.json")
	if err != nil {
		schemaErr = err
		return
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		schemaErr = err
		return
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(schemaURL, doc); err != nil {
		schemaErr = err
		return
	}
	for _, name := range []string{"ChatCompletionRequest", "EmbeddingRequest", "RerankingRequest", "ChatCompletionResponse", "EmbeddingResponse", "RerankingResponse"} {
		s, err := c.Compile(schemaURL + "#/$defs/" + name)
		if err != nil {
			schemaErr = err
			return
		}
		schemas[name] = s
	}
}

// validateModel checks body against a model of api_protocol.py.
func validateModel(t *testing.T, model string, body []byte) error {
	t.Helper()
	schemaOnce.Do(loadSchemas)
	require.NoError(t, schemaErr, "loading the schema")
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return schemas[model].Validate(inst)
}

// modelFields are the fields a model declares; pydantic silently drops any
// other, so the adapter must send none.
func modelFields(t *testing.T, model string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("../../testdata/opea/api_protocol.schema.json")
	require.NoError(t, err)
	var doc struct {
		Defs map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	out := map[string]bool{}
	for k := range doc.Defs[model].Properties {
		out[k] = true
	}
	return out
}

var routeModel = map[string]string{
	opea.PathChatQnA:    "ChatCompletionRequest",
	opea.PathChat:       "ChatCompletionRequest",
	opea.PathEmbeddings: "EmbeddingRequest",
	opea.PathReranking:  "RerankingRequest",
}

var answerModel = map[string]string{
	opea.PathChatQnA:    "ChatCompletionResponse",
	opea.PathEmbeddings: "EmbeddingResponse",
	opea.PathReranking:  "RerankingResponse",
}

// TestSchemaRequestsAndAnswers runs every request shape the adapter builds
// against the simulator and validates each body against its api_protocol.py
// model (LLM-microservice chat and embeddings also against OpenAI's spec,
// whose protocol they speak), and each JSON answer of the simulator against
// its response model.
func TestSchemaRequestsAndAnswers(t *testing.T) {
	srv := startSim(t, nil)
	ct := &providertest.CaptureTransport{}
	llm := opea.New(opea.Options{Chat: opea.ChatLLM})
	run := func(a *opea.Adapter, req messages.Request) messages.Response {
		t.Helper()
		call := newCall(srv, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		resp, err := doWith(t, a, call)
		require.NoError(t, err, "%s: %v", req.Operation(), err)
		return resp
	}
	lookup := messages.Tool{Name: "lookup", Description: "search", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}}}`)}
	qna := opea.New()
	run(qna, &messages.ChatRequest{Messages: user("What is OPEA?")})
	run(qna, &messages.ChatRequest{Messages: user("What is OPEA?"), Stream: true})
	run(qna, &messages.ChatRequest{Model: "Intel/neural-chat-7b-v3-3", System: "sys", MaxTokens: 100, Temperature: ptr(0.0), TopP: ptr(1.0), Stop: []string{"###"},
		Messages: []messages.Message{{Role: "user", Content: "a"}, {Role: "assistant", Content: "b"}, {Role: "user", Parts: []messages.Part{{Type: "text", Text: "c"}}}},
		Extra:    map[string]any{"k": 4, "top_n": 2, "fetch_k": 20, "search_type": "similarity", "score_threshold": 0.2, "lambda_mult": 0.5, "chat_template": "{question}"}})
	run(llm, &messages.ChatRequest{Model: "m", Messages: user("plain")})
	run(llm, &messages.ChatRequest{Model: "m", System: "sys", Messages: user("sampling"), Temperature: ptr(0.7), TopP: ptr(0.9), MaxTokens: 20, Stop: []string{"x"}, Stream: true})
	first := run(llm, &messages.ChatRequest{Model: "m", Tools: []messages.Tool{lookup, {Name: "bare"}}, ToolChoice: "lookup", Messages: user("find it")}).(*messages.ChatResponse)
	run(llm, &messages.ChatRequest{Model: "m", Tools: []messages.Tool{lookup}, ToolChoice: "none", Messages: []messages.Message{
		{Role: "user", Content: "find it"},
		{Role: "assistant", ToolCalls: first.ToolCalls},
		{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Content: "found"},
	}})
	run(llm, &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
		{Type: "text", Text: "look"}, {Type: "image", ImageURL: "https://example.com/a.jpg"}, {Type: "image", Data: []byte("\x89PNG\r\n\x1a\n"), MediaType: "image/png"}}}}})
	run(qna, &messages.EmbedRequest{Model: "BAAI/bge-base-en-v1.5", Inputs: []string{"one", "two"}})
	run(qna, &messages.EmbedRequest{Model: "m", Inputs: []string{"one"}, Dimensions: 8})
	run(qna, &messages.RerankRequest{Query: "q", Documents: []string{"a", "b", "c"}, TopN: 2})
	run(qna, &messages.RerankRequest{Query: "q", Documents: []string{"a"}})

	recs := srv.Requests()
	require.Len(t, recs, 12, "%d requests, %d rejected", len(recs), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d requests, %d rejected", len(recs), srv.InvalidCalls())
	for _, r := range recs {
		model := routeModel[r.Path]
		err := validateModel(t, model, r.Body)
		assert.NoError(t, err, "body to %s violates %s: %v\n%s", r.Path, model, err, r.Body)
		var body map[string]any
		_ = json.Unmarshal(r.Body, &body)
		fields := modelFields(t, model)
		for k := range body {
			assert.True(t, fields[k], "body to %s has %q, which %s does not declare (pydantic would drop it)", r.Path, k, model)
		}
		switch r.Path {
		case opea.PathChat:
			err := openaitest.Validate(t, "CreateChatCompletionRequest", r.Body)
			assert.NoError(t, err, "LLM body violates OpenAI's CreateChatCompletionRequest: %v\n%s", err, r.Body)
		case opea.PathEmbeddings:
			err := openaitest.Validate(t, "CreateEmbeddingRequest", r.Body)
			assert.NoError(t, err, "embeddings body violates OpenAI's CreateEmbeddingRequest: %v\n%s", err, r.Body)
		}
	}
	n := 0
	for _, c := range ct.Responses() {
		model, ok := answerModel[c.Path]
		if !ok || !c.HasContentType("application/json") || c.Status != http.StatusOK {
			continue
		}
		n++
		err := validateModel(t, model, c.Body.Bytes())
		assert.NoError(t, err, "answer from %s violates %s: %v\n%s", c.Path, model, err, c.Body.Bytes())
	}
	require.Equal(t, 6, n, "validated %d JSON answers, want 6", n)
}

// TestSchemaAndSimulatorReject shows that the schema rejects invalid bodies,
// and that the simulator rejects the same bodies the way the service does:
// 422 from a microservice, a plain-text 500 from the ChatQnA megaservice,
// which parses its body itself. Valid bodies pass both.
func TestSchemaAndSimulatorReject(t *testing.T) {
	tests := []struct {
		path  string
		body  string
		valid bool
	}{
		{opea.PathChatQnA, `{"messages":"q"}`, true},
		{opea.PathChatQnA, `{"messages":[{"role":"user","content":[{"type":"text","text":"q"}]}],"k":2,"unknown":1}`, true},
		{opea.PathChatQnA, `{}`, false},
		{opea.PathChatQnA, `{"messages":5}`, false},
		{opea.PathChatQnA, `{"messages":[{"role":"user","content":null}]}`, false},
		{opea.PathChatQnA, `{"messages":"q","stream":"yes"}`, false},
		{opea.PathChatQnA, `{"messages":"q","stop":[1]}`, false},
		{opea.PathChatQnA, `{"messages":"q","k":null}`, false},
		{opea.PathChatQnA, `{"messages":"q","tool_choice":"auto"}`, false},
		{opea.PathChatQnA, `{"messages":"q","max_tokens":1.5}`, false},
		{opea.PathChat, `{"model":"m","messages":[{"role":"user","content":"q"}],"tool_choice":{"type":"function","function":{"name":"f"}},"tools":[{"type":"function","function":{"name":"f"}}]}`, true},
		{opea.PathChat, `{"model":"m"}`, false},
		{opea.PathChat, `{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[]}]}`, false},
		{opea.PathChat, `{"model":"m","messages":"q","tool_choice":"required"}`, false},
		{opea.PathChat, `{"model":"m","messages":"q","tools":[{"type":"function"}]}`, false},
		{opea.PathChat, `{"model":"m","messages":"q","tools":[{"type":"retrieval","function":{"name":"f"}}]}`, false},
		{opea.PathChat, `{"model":"m","messages":"q","stream_options":{}}`, false},
		{opea.PathChat, `{"model":7,"messages":"q"}`, false},
		{opea.PathEmbeddings, `{"input":["a","b"],"model":"m","encoding_format":"float"}`, true},
		{opea.PathEmbeddings, `{"input":"a"}`, true},
		{opea.PathEmbeddings, `{"model":"m"}`, false},
		{opea.PathEmbeddings, `{"input":["a"],"encoding_format":"int8"}`, false},
		{opea.PathEmbeddings, `{"input":{"a":1}}`, false},
		{opea.PathEmbeddings, `{"input":["a"],"dimensions":"8"}`, false},
		{opea.PathReranking, `{"input":"q","retrieved_docs":[{"text":"a"}],"top_n":1}`, true},
		{opea.PathReranking, `{"input":"q","retrieved_docs":[]}`, true},
		{opea.PathReranking, `{"retrieved_docs":[{"text":"a"}]}`, false},
		{opea.PathReranking, `{"input":5,"retrieved_docs":[{"text":"a"}]}`, false},
		{opea.PathReranking, `{"input":"q","retrieved_docs":"a"}`, false},
		{opea.PathReranking, `{"input":"q","retrieved_docs":[{"text":"a"}],"top_n":"2"}`, false},
	}
	srv := startSim(t, nil)
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.body, func(t *testing.T) {
			err := validateModel(t, routeModel[tt.path], []byte(tt.body))
			require.Equal(t, tt.valid, err == nil, "schema says %v, want valid=%v", err, tt.valid)
			before := srv.InvalidCalls()
			status, ct, _ := rawPost(t, srv, tt.path, "application/json", tt.body)
			switch {
			case tt.valid:
				require.Equal(t, http.StatusOK, status, "simulator's answer to a valid body")
			case tt.path == opea.PathChatQnA:
				require.Equal(t, 500, status, "megaservice's answer to an invalid body")
				require.True(t, strings.HasPrefix(ct, "text/plain"), "megaservice answered %s, want a plain 500", ct)
			default:
				require.Equal(t, 422, status, "microservice's answer to an invalid body")
			}
			require.Equal(t, map[bool]int{true: 0, false: 1}[tt.valid], (srv.InvalidCalls() - before), "InvalidCalls grew by")
		})
	}
}

func rawPost(t *testing.T, srv *sim.Server, path, contentType, body string) (int, string, []byte) {
	t.Helper()
	return rawDo(t, srv, http.MethodPost, path, contentType, body)
}

func rawDo(t *testing.T, srv *sim.Server, method, path, contentType, body string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// TestSimulatorRejects covers what the simulator rejects beyond the request
// models: what the services behind the models fail on, content types, paths
// and methods.
func TestSimulatorRejects(t *testing.T) {
	tests := []struct {
		name, method, path, ct, body string
		status                       int
		plain                        bool
		detail                       string
	}{
		{"chatqna bad JSON", "POST", opea.PathChatQnA, "application/json", `{"messages":`, 500, true, ""},
		{"chatqna not an object", "POST", opea.PathChatQnA, "application/json", `["q"]`, 500, true, ""},
		{"chatqna tool role", "POST", opea.PathChatQnA, "application/json", `{"messages":[{"role":"user","content":"q"},{"role":"tool","content":"r"}]}`, 500, true, ""},
		{"chatqna no role", "POST", opea.PathChatQnA, "application/json", `{"messages":[{"content":"q"}]}`, 500, true, ""},
		{"chatqna no content", "POST", opea.PathChatQnA, "application/json", `{"messages":[{"role":"user"}]}`, 500, true, ""},
		{"chatqna image", "POST", opea.PathChatQnA, "application/json", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}]}`, 500, true, ""},
		{"chatqna part without type", "POST", opea.PathChatQnA, "application/json", `{"messages":[{"role":"user","content":[{"text":"q"}]}]}`, 500, true, ""},
		{"chatqna empty question", "POST", opea.PathChatQnA, "application/json", `{"messages":"  "}`, 500, true, ""},
		{"chatqna system only", "POST", opea.PathChatQnA, "application/json", `{"messages":[{"role":"system","content":"s"}]}`, 500, true, ""},
		{"llm form body", "POST", opea.PathChat, "application/x-www-form-urlencoded", `messages=q`, 422, false, "model_attributes_type"},
		{"llm bad JSON", "POST", opea.PathChat, "application/json", `{`, 422, false, "json_invalid"},
		{"llm empty body", "POST", opea.PathChat, "application/json", ``, 422, false, "missing"},
		{"llm temperature the backend rejects", "POST", opea.PathChat, "application/json", `{"model":"m","messages":"q","temperature":3}`, 500, true, ""},
		{"llm max_tokens the backend rejects", "POST", opea.PathChat, "application/json", `{"model":"m","messages":"q","max_tokens":0}`, 500, true, ""},
		{"llm named tool not offered", "POST", opea.PathChat, "application/json", `{"model":"m","messages":"q","tool_choice":{"function":{"name":"f"}}}`, 500, true, ""},
		{"embeddings token ids", "POST", opea.PathEmbeddings, "application/json", `{"input":[1,2,3]}`, 500, true, ""},
		{"embeddings empty string", "POST", opea.PathEmbeddings, "application/json", `{"input":["a",""]}`, 500, true, ""},
		{"embeddings empty list", "POST", opea.PathEmbeddings, "application/json", `{"input":[]}`, 500, true, ""},
		{"rerank plain-string documents", "POST", opea.PathReranking, "application/json", `{"input":"q","retrieved_docs":["a"]}`, 500, true, ""},
		{"rerank SearchedDoc shape", "POST", opea.PathReranking, "application/json", `{"initial_query":"q","retrieved_docs":[{"text":"a"}]}`, 422, false, "missing"},
		{"unknown path", "POST", "/v1/agents", "application/json", `{}`, 404, false, ""},
		{"wrong method", "GET", opea.PathChatQnA, "", ``, 405, false, ""},
		{"health wrong method", "POST", opea.PathHealth, "application/json", `{}`, 405, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			status, ct, body := rawDo(t, srv, tt.method, tt.path, tt.ct, tt.body)
			require.Equal(t, tt.status, status, "status %d (%d invalid), want %d: %s", status, srv.InvalidCalls(), tt.status, body)
			require.Equal(t, 1, srv.InvalidCalls(), "status %d (%d invalid), want %d: %s", status, srv.InvalidCalls(), tt.status, body)
			if tt.plain {
				require.True(t, strings.HasPrefix(ct, "text/plain"), "answer %s %q", ct, body)
				require.Equal(t, "Internal Server Error", string(body), "answer %s %q", ct, body)
				return
			}
			var e struct {
				Detail json.RawMessage `json:"detail"`
			}
			require.NoError(t, json.Unmarshal(body, &e), "answer %q is not FastAPI's {\"detail\": …}", body)
			require.NotEqual(t, 0, len(e.Detail), "answer %q is not FastAPI's {\"detail\": …}", body)
			if tt.detail != "" {
				var list []struct {
					Type string `json:"type"`
				}
				require.NoError(t, json.Unmarshal(e.Detail, &list), "detail %s, want type %q", e.Detail, tt.detail)
				require.NotEqual(t, 0, len(list), "detail %s, want type %q", e.Detail, tt.detail)
				require.Equal(t, tt.detail, list[0].Type, "detail %s, want type %q", e.Detail, tt.detail)
			}
		})
	}
}
