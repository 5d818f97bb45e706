package openai_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// dialectServer answers canned OpenAI-shaped responses and records what it
// received.
type dialectServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []dialectReq
}

type dialectReq struct {
	method, path string
	header       http.Header
	body         map[string]any
	raw          string
}

const (
	chatJSON   = `{"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"eos_token"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}`
	chatStream = "data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\n" +
		"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"eos_token\"}],\"vendor_usage\":{\"in\":5,\"out\":6}}\n\ndata: [DONE]\n\n"
	completionJSON   = `{"id":"cmpl-1","object":"text_completion","model":"m","choices":[{"index":0,"text":"once upon","finish_reason":"length"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`
	completionStream = "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"once \",\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"m\",\"choices\":[{\"index\":1,\"text\":\"ignored\",\"finish_reason\":null}]}\n\n" +
		"data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"m\",\"choices\":[{\"index\":0,\"text\":\"upon\",\"finish_reason\":\"stop\"}]}\n\n" +
		"data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2,\"total_tokens\":3}}\n\n" +
		"data: [DONE]\n\n"
	modelsJSON = `{"object":"list","data":[{"id":"a","object":"model","created":1700000000,"owned_by":"me","context_window":4096,"extra":"x"},{"id":"b","object":"model","max_model_len":2048}]}`
)

func startDialectServer(t *testing.T) *dialectServer {
	ds := &dialectServer{}
	ds.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		ds.mu.Lock()
		ds.reqs = append(ds.reqs, dialectReq{r.Method, r.URL.Path, r.Header.Clone(), body, string(raw)})
		ds.mu.Unlock()
		stream, _ := body["stream"].(bool)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Vendor-Remaining", "41")
		switch {
		case strings.HasSuffix(r.URL.Path, "/fail"), strings.HasSuffix(r.URL.Path, "/chat/completions") && body["model"] == "fail":
			w.WriteHeader(424)
			_, _ = io.WriteString(w, `{"error":"generation failed","error_type":"generation"}`)
		case strings.HasSuffix(r.URL.Path, "/chat/completions") && stream, strings.HasSuffix(r.URL.Path, "/chat") && stream:
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, chatStream)
		case strings.HasSuffix(r.URL.Path, "/chat/completions"), strings.HasSuffix(r.URL.Path, "/chat"):
			_, _ = io.WriteString(w, chatJSON)
		case strings.HasSuffix(r.URL.Path, "/completions") && stream:
			w.Header().Set("Content-Type", "text/event-stream")
			_, _ = io.WriteString(w, completionStream)
		case strings.HasSuffix(r.URL.Path, "/completions"):
			_, _ = io.WriteString(w, completionJSON)
		case strings.HasSuffix(r.URL.Path, "/models"):
			_, _ = io.WriteString(w, modelsJSON)
		default:
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"error":{"message":"no route","type":"invalid_request_error"}}`)
		}
	}))
	t.Cleanup(ds.Close)
	return ds
}

func (ds *dialectServer) last(t *testing.T) dialectReq {
	t.Helper()
	ds.mu.Lock()
	defer ds.mu.Unlock()
	require.NotEmpty(t, ds.reqs, "no request")
	return ds.reqs[len(ds.reqs)-1]
}

func doWith(t *testing.T, a *openai.Adapter, base string, req messages.Request, emit func(*messages.StreamChunk) bool) (messages.Response, *providers.Call, error) {
	t.Helper()
	call := newCallAt(base, req)
	call.Emit = emit
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := a.Do(ctx, call)
	return resp, call, err
}

// tgiLike is a dialect exercising every knob and hook, as another
// engineer's OpenAI-compatible backend would.
func tgiLike() *openai.Adapter {
	return openai.NewDialect(openai.Dialect{
		Kind:       "tgi-like",
		Prefix:     "v3/", // normalised to "/v3"
		Operations: []string{openai.OpChat, openai.OpGenerate, openai.OpModels},
		Paths:      map[string]string{openai.OpModels: "/models"},
		Auth:       providers.HeaderAuth("X-Api-Key"),
		RateLimit: func(h http.Header, _ time.Time) messages.RateLimit {
			return messages.RateLimit{Known: true, RemainingRequests: 41}
		},
		MaxTokensField:  "max_tokens",
		NoStreamOptions: true,
		Body: func(req messages.Request, body map[string]any) {
			if _, ok := req.(*messages.ChatRequest); ok {
				body["vendor_flag"] = true
				delete(body, "top_p")
			}
		},
		Check: func(req messages.Request) error {
			if r, ok := req.(*messages.ChatRequest); ok && r.Model == "forbidden" {
				return openai.Invalid("tgi-like", req, "model %q is forbidden", r.Model)
			}
			return nil
		},
		StreamChunk: func(data []byte) (*messages.Usage, json.RawMessage) {
			var c struct {
				V *struct{ In, Out int } `json:"vendor_usage"`
			}
			if json.Unmarshal(data, &c) != nil || c.V == nil {
				return nil, nil
			}
			return &messages.Usage{InputTokens: c.V.In, OutputTokens: c.V.Out}, nil
		},
		Finish: func(raw string) string {
			if raw == "eos_token" {
				return messages.FinishStop
			}
			return openai.NormalizeFinish(raw)
		},
		DecodeError: func(status int, _ http.Header, _ []byte, e *messages.UpstreamError) {
			if status == 424 {
				e.Class = messages.ClassServer
			}
		},
		Model: func(raw map[string]json.RawMessage, m *messages.ModelInfo) {
			m.Capabilities = []string{"chat"}
		},
	})
}

func TestDialectKnobsAndHooks(t *testing.T) {
	ds := startDialectServer(t)
	a := tgiLike()
	require.Equal(t, "tgi-like", a.Kind())
	for _, base := range []string{ds.URL, ds.URL + "/v3", ds.URL + "/v3/"} {
		rec := &recorder{}
		call := newCallAt(base, &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}, MaxTokens: 9, TopP: ptr(0.5), Stream: true, Extra: map[string]any{"seed": int64(1) << 60}})
		call.Emit = rec.Emit
		resp, err := a.Do(context.Background(), call)
		require.NoError(t, err, base)
		r := resp.(*messages.ChatResponse)
		got := ds.last(t)
		assert.Equal(t, "/v3/chat/completions", got.path, base)
		assert.Equal(t, testKey, got.header.Get("X-Api-Key"), base)
		assert.Empty(t, got.header.Get("Authorization"), base)
		assert.Equal(t, 9.0, got.body["max_tokens"], got.raw)
		for _, k := range []string{"max_completion_tokens", "stream_options", "top_p"} {
			assert.NotContains(t, got.body, k, got.raw)
		}
		assert.Equal(t, true, got.body["vendor_flag"], got.raw)
		assert.Contains(t, got.raw, `"seed":1152921504606846976`)
		assert.Equal(t, "hi", r.Content)
		assert.Equal(t, messages.FinishStop, r.FinishReason)
		assert.Equal(t, "eos_token", r.RawFinishReason)
		assert.Equal(t, messages.Usage{InputTokens: 5, OutputTokens: 6}, r.Usage)
		assert.True(t, call.Result.RateLimit.Known)
		assert.EqualValues(t, 41, call.Result.RateLimit.RemainingRequests)
		assert.Equal(t, 6, call.Result.Usage.OutputTokens)
		chunks := rec.All()
		require.Len(t, chunks, 2)
		assert.Equal(t, messages.ChunkUsage, chunks[1].Type)
	}

	// Models with a path override and the Model hook.
	resp, _, err := doWith(t, a, ds.URL, &messages.ModelsRequest{}, nil)
	require.NoError(t, err)
	ms := resp.(*messages.ModelsResponse).Models
	got := ds.last(t)
	assert.Equal(t, http.MethodGet, got.method)
	assert.Equal(t, "/v3/models", got.path)
	assert.Empty(t, got.raw)
	require.Len(t, ms, 2)
	assert.Equal(t, "a", ms[0].ID)
	assert.Equal(t, "me", ms[0].OwnedBy)
	assert.EqualValues(t, 1700000000, ms[0].Created)
	assert.Equal(t, 4096, ms[0].ContextWindow)
	assert.Equal(t, "x", ms[0].Details["extra"])
	assert.NotContains(t, ms[0].Details, "object")
	assert.Equal(t, []string{"chat"}, ms[0].Capabilities)
	assert.Equal(t, 2048, ms[1].ContextWindow)

	// Check hook, unsupported operations.
	err = a.Check(&messages.ChatRequest{Model: "forbidden", Messages: []messages.Message{{Role: "user", Content: "x"}}})
	assert.ErrorIs(t, err, messages.ErrInvalidRequest)
	assert.ErrorContains(t, err, "tgi-like: model")
	err = a.Check(&messages.EmbedRequest{Model: "m", Inputs: []string{"a"}})
	assert.ErrorIs(t, err, messages.ErrUnsupported)
	assert.ErrorContains(t, err, "tgi-like does not support")

	// DecodeError hook: 424 made retryable.
	_, _, err = doWith(t, a, ds.URL, &messages.ChatRequest{Model: "fail", Messages: []messages.Message{{Role: "user", Content: "x"}}}, nil)
	ue := upstreamErr(t, err)
	assert.Equal(t, 424, ue.Status)
	assert.Equal(t, messages.ClassServer, ue.Class)
	assert.Equal(t, "generation failed", ue.Message)

	// Dialect() is a copy.
	d := a.Dialect()
	d.Operations[0] = "mutated"
	assert.NoError(t, a.Check(&messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}}), "Dialect() exposes the adapter's operations")
	assert.Equal(t, "/v3", a.Dialect().Prefix)
}

func TestDialectCompletions(t *testing.T) {
	ds := startDialectServer(t)
	a := openai.NewDialect(openai.Dialect{Kind: "compat", Prefix: "/v1", Operations: []string{openai.OpGenerate}})
	resp, call, err := doWith(t, a, ds.URL, &messages.GenerateRequest{Model: "m", Prompt: "tell", MaxTokens: 2, Temperature: ptr(0.0), Stop: []string{"."}, Extra: map[string]any{"echo": true, "prompt": "no"}}, nil)
	require.NoError(t, err)
	r := resp.(*messages.GenerateResponse)
	got := ds.last(t)
	assert.Equal(t, "/v1/completions", got.path)
	assert.Equal(t, "tell", got.body["prompt"], got.raw)
	assert.Equal(t, 2.0, got.body["max_tokens"], got.raw)
	assert.Equal(t, 0.0, got.body["temperature"], got.raw)
	assert.Equal(t, true, got.body["echo"], got.raw)
	assert.NotContains(t, got.body, "stream", got.raw)
	assert.Equal(t, "once upon", r.Text)
	assert.Equal(t, messages.FinishLength, r.FinishReason)
	assert.Equal(t, 2, r.Usage.OutputTokens)
	assert.Equal(t, r.Usage, call.Result.Usage)
	assert.Equal(t, "m", r.Model)

	rec := &recorder{}
	resp, call, err = doWith(t, a, ds.URL, &messages.GenerateRequest{Model: "m", Prompt: "tell", Stream: true}, rec.Emit)
	require.NoError(t, err)
	r = resp.(*messages.GenerateResponse)
	got = ds.last(t)
	assert.Equal(t, true, got.body["stream"], got.raw)
	assert.Equal(t, map[string]any{"include_usage": true}, got.body["stream_options"], got.raw)
	chunks := rec.All()
	assert.Equal(t, "once upon", r.Text)
	assert.Equal(t, messages.FinishStop, r.FinishReason)
	assert.Equal(t, 1, r.Usage.InputTokens)
	assert.Equal(t, r.Usage, call.Result.Usage)
	require.Len(t, chunks, 3)
	assert.Equal(t, "once ", chunks[0].Text)
	assert.Equal(t, "upon", chunks[1].Text)
	assert.Equal(t, messages.ChunkUsage, chunks[2].Type)

	err = a.Check(&messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}})
	assert.ErrorIs(t, err, messages.ErrUnsupported, "chat on a generate-only dialect")
}

// TestPlainOpenAIOperations: the plain dialect (New and the zero Adapter)
// serves chat, embeddings, the Responses API, completions and the model
// list, and nothing else.
func TestPlainOpenAIOperations(t *testing.T) {
	srv := startSim(t, nil)
	resp, err := do(t, newCall(srv, &messages.ModelsRequest{}))
	require.NoError(t, err)
	ms := resp.(*messages.ModelsResponse).Models
	require.NotEmpty(t, ms)
	assert.Equal(t, "gpt-4o", ms[0].ID)
	assert.Equal(t, "system", ms[0].OwnedBy)
	assert.Equal(t, http.MethodGet, srv.Requests()[0].Method)

	var zero openai.Adapter
	assert.Equal(t, "openai", zero.Kind())
	assert.Equal(t, slices.Concat([]string{openai.OpChat, openai.OpEmbed, openai.OpResponses, openai.OpGenerate, openai.OpModels}, openai.StatefulOperations()), zero.Dialect().Operations)
	assert.Equal(t, zero.Dialect().Operations, openai.New().Dialect().Operations)
	assert.NoError(t, zero.Check(&messages.GenerateRequest{Model: "m", Prompt: "p"}))
	for _, req := range []messages.Request{
		&messages.CountTokensRequest{Chat: messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}}},
		&messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"d"}},
		&messages.InferRequest{Model: "m"},
		&messages.TokenizeRequest{Model: "m", Text: "t"},
		&messages.InfoRequest{What: "health"},
	} {
		assert.ErrorIs(t, zero.Check(req), messages.ErrUnsupported, "%T", req)
	}
}

func TestNormalizeFinish(t *testing.T) {
	for raw, want := range map[string]string{"": "", "stop": "stop", "length": "length", "max_tokens": "length", "tool_calls": "tool_calls",
		"function_call": "tool_calls", "content_filter": "content_filter", "abort": "other"} {
		assert.Equal(t, want, openai.NormalizeFinish(raw), "NormalizeFinish(%q)", raw)
	}
}

func TestDecodeCompletionStream(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		text  string
		class messages.ErrorClass
	}{
		{"full", completionStream, "once upon", 0},
		{"crlf", strings.ReplaceAll(completionStream, "\n", "\r\n"), "once upon", 0},
		{"cut before DONE", strings.TrimSuffix(completionStream, "data: [DONE]\n\n"), "", messages.ClassStreamCut},
		{"in-stream error", "data: {\"choices\":[{\"index\":0,\"text\":\"a\"}]}\n\ndata: {\"error\":{\"message\":\"boom\",\"type\":\"InternalServerError\",\"code\":500}}\n\n", "", messages.ClassServer},
		{"vLLM bad request in stream", "data: {\"error\":{\"object\":\"error\",\"message\":\"bad\",\"type\":\"BadRequestError\",\"code\":400}}\n\n", "", messages.ClassInvalid},
		{"error event", "event: error\ndata: {\"message\":\"overloaded\",\"code\":503}\n\n", "", messages.ClassServer},
		{"not JSON", "data: {nope\n\n", "", messages.ClassMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := &providers.Call{RequestID: "r", Provider: "p", Key: providers.NewCredential("k", testKey), Result: providers.CallResult{Status: 200}}
			var out *messages.GenerateResponse
			err := (&providers.Client{IdleTimeout: time.Minute}).Stream(context.Background(), call,
				&http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(tt.body))}, func(r io.Reader) error {
					var err error
					out, err = openai.DecodeCompletionStream(r, call, providers.NewEmitter(call))
					return err
				})
			if tt.class == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.text, out.Text)
				return
			}
			assert.Equal(t, tt.class, upstreamErr(t, err).Class)
		})
	}
}

func FuzzCompletionStream(f *testing.F) {
	f.Add([]byte(completionStream))
	f.Add([]byte(strings.ReplaceAll(completionStream, "\n", "\r\n")))
	f.Add([]byte("data: {\"choices\":[{\"text\":\"x\"}]}\n\n"))
	f.Add([]byte("data: {\"error\":\"plain\"}\n\n"))
	f.Add([]byte("data: {\"choices\":null,\"usage\":{\"prompt_tokens\":-1}}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": ping\n\ndata:[DONE]\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		streamOnce(t, body, openai.DecodeCompletionStream)
	})
}

// FuzzDialectChatStream runs the chat decoder with a StreamChunk hook, as
// dialects use it.
func FuzzDialectChatStream(f *testing.F) {
	f.Add([]byte(chatStream))
	f.Add([]byte(chatStreamSeed))
	f.Add([]byte("data: {\"vendor_usage\":{\"in\":1}}\n\ndata: [DONE]\n\n"))
	a := tgiLike()
	f.Fuzz(func(t *testing.T, body []byte) {
		streamOnce(t, body, a.DecodeChatStream)
	})
}

// TestArgumentsAsObject: a compatible server that sends a tool call's
// arguments as an object (older TGI) still decodes.
func TestArgumentsAsObject(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":{"city":"Paris"}}}]},"finish_reason":"tool_calls"}]}`)
	}))
	defer ts.Close()
	resp, _, err := doWith(t, openai.New(), ts.URL, &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}}, nil)
	require.NoError(t, err)
	tc := resp.(*messages.ChatResponse).ToolCalls
	require.Len(t, tc, 1)
	assert.JSONEq(t, `{"city":"Paris"}`, string(tc[0].Arguments))
}
