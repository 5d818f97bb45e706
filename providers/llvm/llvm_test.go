package llvm_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/llvm"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testKey     = "vllm-test-key-0123456789SECRET"
	chatModel   = "meta-llama/Llama-3.1-8B-Instruct"
	embedModel  = "intfloat/e5-mistral-7b-instruct"
	llamaTokens = `{"tokens":[1,2,3]}`
)

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

var weatherTool = messages.Tool{Name: "get_weather", Description: "Weather in a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func startSim(t testing.TB, b *sim.LLVMBackend) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.LLVM()
	}
	return providertest.StartSim(t, b)
}

type recorder = providertest.Recorder

func newCall(baseURL, key string, req messages.Request) *providers.Call {
	return &providers.Call{
		Request:   req,
		RequestID: "rid-" + req.Operation(),
		Attempt:   1,
		Provider:  "llvm",
		Endpoint:  "local",
		BaseURL:   baseURL,
		Key:       providers.NewCredential("local", key),
		Client:    &providers.Client{HeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second},
	}
}

func do(t *testing.T, a *llvm.Adapter, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, a, call)
}

func upstreamErr(t *testing.T, err error) *messages.UpstreamError {
	t.Helper()
	return providertest.UpstreamError(t, err, testKey)
}

func user(s string) []messages.Message { return []messages.Message{{Role: "user", Content: s}} }

func ptr[T any](v T) *T { return &v }

func TestKindAndConstants(t *testing.T) {
	k := llvm.New().Kind()
	require.Equal(t, "llvm", k, "kind %q, base %q, env %q", k, llvm.DefaultBaseURL, llvm.EnvKey)
	require.True(t, llvm.DefaultBaseURL == "", "kind %q, base %q, env %q", k, llvm.DefaultBaseURL, llvm.EnvKey)
	require.True(t, llvm.EnvKey == "VLLM_API_KEY", "kind %q, base %q, env %q", k, llvm.DefaultBaseURL, llvm.EnvKey)
}

// TestOperations is the per-backend table: every operation's happy path,
// with and without an API key, against both base URL forms.
func TestOperations(t *testing.T) {
	for _, withKey := range []bool{false, true} {
		b := sim.LLVM()
		key := ""
		if withKey {
			b.APIKey, key = testKey, testKey
		}
		srv := startSim(t, b)
		for _, base := range []string{srv.URL, srv.URL + "/v1"} {
			t.Run(fmt.Sprintf("key=%v/base=%s", withKey, base[len(srv.URL):]), func(t *testing.T) {
				runOperations(t, srv, base, key)
			})
		}
	}
}

func runOperations(t *testing.T, srv *sim.Server, base, key string) {
	tests := []struct {
		name  string
		req   messages.Request
		check func(t *testing.T, resp messages.Response, chunks []messages.StreamChunk)
	}{
		{"chat", &messages.ChatRequest{Model: chatModel, System: "be brief", Messages: user("Hello vLLM"), MaxTokens: 20, Temperature: ptr(0.0)},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.ChatResponse)
				require.Equal(t, "echo: Hello vLLM", r.Content, "answer %+v", r)
				require.Equal(t, string(messages.FinishStop), r.FinishReason, "answer %+v", r)
				require.Equal(t, 3, r.Usage.OutputTokens, "answer %+v", r)
				require.Equal(t, 4, r.Usage.InputTokens, "answer %+v", r)
			}},
		{"chat stream", &messages.ChatRequest{Model: chatModel, Messages: user("a b c d e f g"), Stream: true},
			func(t *testing.T, resp messages.Response, chunks []messages.StreamChunk) {
				r := resp.(*messages.ChatResponse)
				var text strings.Builder
				for i, c := range chunks {
					require.Equal(t, i, c.Seq, "chunk %d seq %d", i, c.Seq)
					if c.Type == messages.ChunkText {
						text.WriteString(c.Text)
					}
				}
				last := chunks[len(chunks)-1]
				require.Equal(t, "echo: a b c d e f g", text.String(), "streamed %q, answer %+v, last %+v", text.String(), r, last)
				require.Equal(t, text.String(), r.Content, "streamed %q, answer %+v, last %+v", text.String(), r, last)
				require.Equal(t, messages.ChunkUsage, last.Type, "streamed %q, answer %+v, last %+v", text.String(), r, last)
				require.Equal(t, 8, last.Usage.OutputTokens, "streamed %q, answer %+v, last %+v", text.String(), r, last)
				require.True(t, r.Usage == *last.Usage, "streamed %q, answer %+v, last %+v", text.String(), r, last)
			}},
		{"chat tools stream", &messages.ChatRequest{Model: chatModel, Messages: user("weather in Lyon"), Tools: []messages.Tool{weatherTool}, Stream: true},
			func(t *testing.T, resp messages.Response, chunks []messages.StreamChunk) {
				r := resp.(*messages.ChatResponse)
				require.Equal(t, string(messages.FinishToolCalls), r.FinishReason, "answer %+v", r)
				require.Len(t, r.ToolCalls, 1, "answer %+v", r)
				require.Equal(t, `{"city":"Lyon"}`, string(r.ToolCalls[0].Arguments), "answer %+v", r)
				require.GreaterOrEqual(t, len(chunks), 3, "chunks %+v", chunks)
				require.NotNil(t, chunks[0].ToolCall, "chunks %+v", chunks)
				require.Equal(t, "get_weather", chunks[0].ToolCall.Name, "chunks %+v", chunks)
			}},
		{"chat image", &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
			{Type: messages.PartText, Text: "see"}, {Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"}}}}},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.ChatResponse)
				require.Equal(t, "echo: see [1 image]", r.Content, "answer %+v", r)
			}},
		{"generate", &messages.GenerateRequest{Model: chatModel, Prompt: "Once upon a time", MaxTokens: 100},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.GenerateResponse)
				require.Equal(t, "echo: Once upon a time", r.Text, "answer %+v", r)
				require.Equal(t, string(messages.FinishStop), r.FinishReason, "answer %+v", r)
				require.Equal(t, 4, r.Usage.InputTokens, "answer %+v", r)
				require.Equal(t, 5, r.Usage.OutputTokens, "answer %+v", r)
				require.Equal(t, string(chatModel), r.Model, "answer %+v", r)
			}},
		{"generate truncated", &messages.GenerateRequest{Model: chatModel, Prompt: "one two three four", MaxTokens: 2},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.GenerateResponse)
				require.Equal(t, "echo: one", r.Text, "answer %+v", r)
				require.Equal(t, string(messages.FinishLength), r.FinishReason, "answer %+v", r)
				require.Equal(t, "length", r.RawFinishReason, "answer %+v", r)
			}},
		{"generate stream", &messages.GenerateRequest{Model: chatModel, Prompt: "tell me a long story please", Stream: true, MaxTokens: 50},
			func(t *testing.T, resp messages.Response, chunks []messages.StreamChunk) {
				r := resp.(*messages.GenerateResponse)
				var text strings.Builder
				for _, c := range chunks {
					if c.Type == messages.ChunkText {
						text.WriteString(c.Text)
					}
				}
				last := chunks[len(chunks)-1]
				require.Equal(t, "echo: tell me a long story please", r.Text, "answer %+v, chunks %+v", r, chunks)
				require.Equal(t, r.Text, text.String(), "answer %+v, chunks %+v", r, chunks)
				require.Equal(t, messages.ChunkUsage, last.Type, "answer %+v, chunks %+v", r, chunks)
				require.True(t, r.Usage == *last.Usage, "answer %+v, chunks %+v", r, chunks)
				require.Equal(t, 7, r.Usage.OutputTokens, "answer %+v, chunks %+v", r, chunks)
				require.GreaterOrEqual(t, len(chunks), 4, "answer %+v, chunks %+v", r, chunks)
			}},
		{"embeddings", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"alpha", "beta gamma", "alpha"}},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.EmbedResponse)
				require.Len(t, r.Vectors, 3, "answer %+v", r)
				require.True(t, slices.Equal(r.Vectors[0], sim.OpenAIEmbedding("alpha", 8)), "answer %+v", r)
				require.True(t, slices.Equal(r.Vectors[1], sim.OpenAIEmbedding("beta gamma", 8)), "answer %+v", r)
				require.True(t, slices.Equal(r.Vectors[0], r.Vectors[2]), "answer %+v", r)
				require.Equal(t, 7, r.Usage.InputTokens, "answer %+v", r)
			}},
		{"models", &messages.ModelsRequest{},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.ModelsResponse)
				require.Len(t, r.Models, 2, "models")
				require.Equal(t, string(chatModel), r.Models[0].ID, "models")
				require.Equal(t, 8192, r.Models[0].ContextWindow, "models")
				require.Equal(t, "vllm", r.Models[0].OwnedBy, "models")
				require.True(t, r.Models[0].Details["root"] == chatModel, "models")
			}},
		{"tokenize", &messages.TokenizeRequest{Model: chatModel, Text: "hello big world"},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.TokenizeResponse)
				want := []int{1, sim.LLVMToken("hello"), sim.LLVMToken("big"), sim.LLVMToken("world")}
				require.True(t, slices.Equal(r.Tokens, want), "answer %+v", r)
				require.Equal(t, 4, r.Count, "answer %+v", r)
				require.Equal(t, 8192, r.MaxModelLen, "answer %+v", r)
			}},
		{"detokenize", &messages.TokenizeRequest{Model: chatModel, Detokenize: true, Tokens: []int{sim.LLVMToken("hello"), sim.LLVMToken("world")}},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.TokenizeResponse)
				require.Equal(t, "hello world", r.Text, "answer %+v", r)
				require.Equal(t, 2, r.Count, "answer %+v", r)
			}},
		{"health", &messages.InfoRequest{What: "health"},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.InfoResponse)
				require.True(t, r.Healthy, "answer %+v", r)
			}},
		{"version", &messages.InfoRequest{What: "version"},
			func(t *testing.T, resp messages.Response, _ []messages.StreamChunk) {
				r := resp.(*messages.InfoResponse)
				require.True(t, r.Healthy, "answer %+v", r)
				require.Equal(t, "0.11.0", r.Version, "answer %+v", r)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{}
			call := newCall(base, key, tt.req)
			if sr, ok := tt.req.(messages.StreamingRequest); ok && sr.Streaming() {
				call.Emit = rec.Emit
			}
			before := srv.InvalidCalls()
			resp, err := do(t, llvm.New(), call)
			require.NoError(t, err, "Do")
			require.Equal(t, before, srv.InvalidCalls(), "rejected by the simulator, status")
			require.Equal(t, 200, call.Result.Status, "rejected by the simulator, status")
			tt.check(t, resp, rec.All())
			m := resp.ResponseMeta()
			require.Equal(t, call.RequestID, m.RequestID, "meta %+v", m)
			require.Equal(t, "llvm", m.Provider, "meta %+v", m)
			require.Equal(t, "local", m.Key, "meta %+v", m)
		})
	}
}

func TestToolRoundTrip(t *testing.T) {
	srv := startSim(t, nil)
	a := llvm.New()
	first, err := do(t, a, newCall(srv.URL, "", &messages.ChatRequest{Model: chatModel, Messages: user("weather in Oslo"), Tools: []messages.Tool{weatherTool}}))
	require.NoError(t, err)
	calls := first.(*messages.ChatResponse).ToolCalls
	require.Len(t, calls, 1, "calls")
	resp, err := do(t, a, newCall(srv.URL, "", &messages.ChatRequest{Model: chatModel, Tools: []messages.Tool{weatherTool}, Messages: []messages.Message{
		{Role: "user", Content: "weather in Oslo"}, {Role: "assistant", ToolCalls: calls}, {Role: "tool", ToolCallID: calls[0].ID, Content: "cold"},
	}}))
	require.NoError(t, err, "%v %+v", err, resp)
	require.Equal(t, "The tool returned: cold", resp.(*messages.ChatResponse).Content, "%v %+v", err, resp)
}

func TestUsageMatchesSimulator(t *testing.T) {
	srv := startSim(t, nil)
	var in, out int
	for _, req := range []messages.Request{
		&messages.ChatRequest{Model: chatModel, Messages: user("count these words"), Stream: true},
		&messages.GenerateRequest{Model: chatModel, Prompt: "and these", Stream: true},
		&messages.EmbedRequest{Model: embedModel, Inputs: []string{"x y", "z"}},
	} {
		call := newCall(srv.URL, "", req)
		call.Emit = (&recorder{}).Emit
		_, err := do(t, llvm.New(), call)
		require.NoError(t, err)
		in += call.Result.Usage.InputTokens
		out += call.Result.Usage.OutputTokens
	}
	si, so := srv.Usage()
	require.Equal(t, in, si, "adapter counted %d/%d, simulator %d/%d", in, out, si, so)
	require.Equal(t, out, so, "adapter counted %d/%d, simulator %d/%d", in, out, si, so)
	require.NotEqual(t, 0, in, "adapter counted %d/%d, simulator %d/%d", in, out, si, so)
}

// TestErrorClasses is the error table.
func TestErrorClasses(t *testing.T) {
	chat := func() messages.Request { return &messages.ChatRequest{Model: chatModel, Messages: user("hi")} }
	stream := func() messages.Request {
		return &messages.ChatRequest{Model: chatModel, Messages: user("one two three four five six"), Stream: true}
	}
	genStream := func() messages.Request {
		return &messages.GenerateRequest{Model: chatModel, Prompt: "one two three four five six", Stream: true, MaxTokens: 20}
	}
	tests := []struct {
		name      string
		backend   *sim.LLVMBackend
		fault     *sim.Fault
		req       func() messages.Request
		key       string
		client    *providers.Client
		class     messages.ErrorClass
		retryable bool
		status    int
		delay     time.Duration
		msg       string
	}{
		{name: "401 missing key", backend: &sim.LLVMBackend{APIKey: "right-key"}, req: chat, class: messages.ClassAuth, status: 401, msg: "Unauthorized"},
		{name: "401 wrong key", backend: &sim.LLVMBackend{APIKey: "right-key"}, key: testKey, req: chat, class: messages.ClassAuth, status: 401},
		{name: "404 unknown model", req: func() messages.Request { return &messages.ChatRequest{Model: "gpt-4o", Messages: user("x")} }, class: messages.ClassInvalid, status: 404, msg: "does not exist"},
		{name: "400 chat on embedding model", req: func() messages.Request { return &messages.ChatRequest{Model: embedModel, Messages: user("x")} }, class: messages.ClassInvalid, status: 400},
		{name: "400 context length", req: func() messages.Request {
			return &messages.ChatRequest{Model: chatModel, Messages: user("x"), MaxTokens: 9000}
		}, class: messages.ClassInvalid, status: 400, msg: "maximum context length is 8192"},
		{name: "400 legacy error body", backend: &sim.LLVMBackend{LegacyErrors: true}, req: func() messages.Request {
			return &messages.GenerateRequest{Model: chatModel, Prompt: "x", MaxTokens: 9000}
		}, class: messages.ClassInvalid, status: 400, msg: "maximum context length"},
		{name: "400 validation", req: func() messages.Request {
			return &messages.ChatRequest{Model: chatModel, Messages: user("x"), Extra: map[string]any{"n": "two"}}
		}, class: messages.ClassInvalid, status: 400, msg: "validation error"},
		{name: "429 with retry-after", fault: &sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "3"}}, req: chat, class: messages.ClassRateLimited, retryable: true, status: 429, delay: 3 * time.Second},
		{name: "500", fault: &sim.Fault{Status: 500}, req: chat, class: messages.ClassServer, retryable: true, status: 500},
		{name: "503 loading", fault: &sim.Fault{Status: 503, Header: map[string]string{"Retry-After": "1"}}, req: chat, class: messages.ClassServer, retryable: true, status: 503, delay: time.Second},
		{name: "503 health", fault: &sim.Fault{Status: 503, Path: "/health"}, req: func() messages.Request { return &messages.InfoRequest{What: "health"} }, class: messages.ClassServer, retryable: true, status: 503},
		{name: "malformed JSON", fault: &sim.Fault{Malformed: true}, req: chat, class: messages.ClassMalformed, status: 200},
		{name: "malformed tokenize", fault: &sim.Fault{Malformed: true}, req: func() messages.Request { return &messages.TokenizeRequest{Text: "x"} }, class: messages.ClassMalformed, status: 200},
		{name: "chat stream cut", fault: &sim.Fault{CutAfter: 2}, req: stream, class: messages.ClassStreamCut, retryable: true, status: 200},
		{name: "generate stream cut", fault: &sim.Fault{CutAfter: 2}, req: genStream, class: messages.ClassStreamCut, retryable: true, status: 200},
		{name: "chat stream stall", fault: &sim.Fault{StallAfter: 2}, req: stream, client: &providers.Client{HeaderTimeout: 5 * time.Second, IdleTimeout: 200 * time.Millisecond}, class: messages.ClassTimeout, retryable: true, status: 200},
		{name: "generate stream stall", fault: &sim.Fault{StallAfter: 1}, req: genStream, client: &providers.Client{HeaderTimeout: 5 * time.Second, IdleTimeout: 200 * time.Millisecond}, class: messages.ClassTimeout, retryable: true, status: 200},
		{name: "connection refused", req: chat, class: messages.ClassConnection, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.backend
			if b == nil {
				b = sim.LLVM()
			}
			srv := startSim(t, b)
			if tt.fault != nil {
				srv.Inject(*tt.fault)
			}
			base := srv.URL
			if tt.class == messages.ClassConnection {
				base = "http://127.0.0.1:1"
			}
			call := newCall(base, tt.key, tt.req())
			if tt.client != nil {
				call.Client = tt.client
			}
			call.Emit = (&recorder{}).Emit
			_, err := do(t, llvm.New(), call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.class, ue.Class, "got %v (retryable %v, status %d, delay %v), want %v (%v, %d, %v)", ue, ue.Retryable(), ue.Status, ue.RetryAfter, tt.class, tt.retryable, tt.status, tt.delay)
			require.Equal(t, tt.retryable, ue.Retryable(), "got %v (retryable %v, status %d, delay %v), want %v (%v, %d, %v)", ue, ue.Retryable(), ue.Status, ue.RetryAfter, tt.class, tt.retryable, tt.status, tt.delay)
			require.Equal(t, tt.status, ue.Status, "got %v (retryable %v, status %d, delay %v), want %v (%v, %d, %v)", ue, ue.Retryable(), ue.Status, ue.RetryAfter, tt.class, tt.retryable, tt.status, tt.delay)
			require.Equal(t, tt.delay, ue.RetryAfter, "got %v (retryable %v, status %d, delay %v), want %v (%v, %d, %v)", ue, ue.Retryable(), ue.Status, ue.RetryAfter, tt.class, tt.retryable, tt.status, tt.delay)
			require.Contains(t, ue.Message, tt.msg, "message %q lacks %q", ue.Message, tt.msg)
		})
	}
}

func TestCheck(t *testing.T) {
	a := llvm.New()
	srv := startSim(t, nil)
	tests := []struct {
		name string
		req  messages.Request
		want error
	}{
		{"chat", &messages.ChatRequest{Model: chatModel, Messages: user("hi")}, nil},
		{"many embed inputs", &messages.EmbedRequest{Model: embedModel, Inputs: slices.Repeat([]string{"a"}, 3000)}, nil},
		{"tokenize empty text", &messages.TokenizeRequest{}, nil},
		{"health", &messages.InfoRequest{What: "health"}, nil},
		{"info unsupported", &messages.InfoRequest{What: "info"}, messages.ErrUnsupported},
		{"show unsupported", &messages.InfoRequest{What: "show", Model: "m"}, messages.ErrUnsupported},
		{"responses unsupported", &messages.ResponsesRequest{Model: "m", Input: user("x")}, messages.ErrUnsupported},
		{"rerank unsupported", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"d"}}, messages.ErrUnsupported},
		{"count tokens unsupported", &messages.CountTokensRequest{}, messages.ErrUnsupported},
		{"tokenize with tokens", &messages.TokenizeRequest{Text: "x", Tokens: []int{1}}, messages.ErrInvalidRequest},
		{"detokenize with text", &messages.TokenizeRequest{Detokenize: true, Text: "x"}, messages.ErrInvalidRequest},
		{"negative token", &messages.TokenizeRequest{Detokenize: true, Tokens: []int{-1}}, messages.ErrInvalidRequest},
		{"generate without prompt", &messages.GenerateRequest{Model: chatModel}, messages.ErrInvalidRequest},
		{"generate without model", &messages.GenerateRequest{Prompt: "x"}, messages.ErrInvalidRequest},
		{"generate bad temperature", &messages.GenerateRequest{Model: chatModel, Prompt: "x", Temperature: ptr(-1.0)}, messages.ErrInvalidRequest},
		{"nil tokenize", (*messages.TokenizeRequest)(nil), messages.ErrInvalidRequest},
		{"nil info", (*messages.InfoRequest)(nil), messages.ErrInvalidRequest},
		{"nil generate", (*messages.GenerateRequest)(nil), messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "Check")
				return
			}
			var re *messages.RequestError
			require.ErrorIs(t, err, tt.want, "Check")
			require.ErrorAs(t, err, &re, "Check")
			calls := srv.Calls()
			_, err = do(t, a, newCall(srv.URL, "", tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassInvalid, ue.Class, "Do: %v", ue)
			require.False(t, ue.Retryable(), "Do: %v", ue)
			require.Equal(t, calls, srv.Calls(), "Do: %v", ue)
		})
	}
}

// TestNoKeyNoHeader: a server run without --api-key gets no Authorization
// header; with a key, every route gets the bearer token.
func TestNoKeyNoHeader(t *testing.T) {
	srv := startSim(t, nil)
	for _, req := range []messages.Request{&messages.ChatRequest{Model: chatModel, Messages: user("x")}, &messages.TokenizeRequest{Text: "x"}, &messages.InfoRequest{What: "health"}} {
		_, err := do(t, llvm.New(), newCall(srv.URL, "", req))
		require.NoError(t, err)
		_, err = do(t, llvm.New(), newCall(srv.URL, testKey, req))
		require.NoError(t, err)
	}
	for i, rec := range srv.Requests() {
		got := rec.Header.Get("Authorization")
		require.False(t, i%2 == 0 && got != "", "request %d to %s has Authorization %q", i, rec.Path, got)
		require.False(t, i%2 == 1 && got != "Bearer "+testKey, "request %d to %s has Authorization %q", i, rec.Path, got)
	}
}

// TestLlamaCpp speaks to a handcrafted llama.cpp-style server: tokenize and
// detokenize use {"content"}, /health answers {"status":"ok"}, errors use
// {"error":{"code","message","type"}}.
func TestLlamaCpp(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.URL.Path+" "+string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/tokenize":
			_, _ = io.WriteString(w, llamaTokens)
		case "/detokenize":
			_, _ = io.WriteString(w, `{"content":"hi there"}`)
		case "/health":
			_, _ = io.WriteString(w, `{"status":"ok"}`)
		default:
			w.WriteHeader(503)
			_, _ = io.WriteString(w, `{"error":{"code":503,"message":"Loading model","type":"unavailable_error"}}`)
		}
	}))
	defer ts.Close()
	a := llvm.New(llvm.WithLlamaCpp())
	resp, err := do(t, a, newCall(ts.URL, "", &messages.TokenizeRequest{Model: "ignored", Text: "hi there"}))
	require.NoError(t, err, "tokenize %+v %v", resp, err)
	require.True(t, slices.Equal(resp.(*messages.TokenizeResponse).Tokens, []int{1, 2, 3}), "tokenize %+v %v", resp, err)
	require.Equal(t, 3, resp.(*messages.TokenizeResponse).Count, "tokenize %+v %v", resp, err)
	resp, err = do(t, a, newCall(ts.URL+"/v1", "", &messages.TokenizeRequest{Detokenize: true, Tokens: []int{1, 2}}))
	require.NoError(t, err, "detokenize %+v %v", resp, err)
	require.Equal(t, "hi there", resp.(*messages.TokenizeResponse).Text, "detokenize %+v %v", resp, err)
	resp, err = do(t, a, newCall(ts.URL, "", &messages.InfoRequest{What: "health"}))
	require.NoError(t, err, "health %+v %v", resp, err)
	require.True(t, resp.(*messages.InfoResponse).Healthy, "health %+v %v", resp, err)
	require.Equal(t, `{"status":"ok"}`, string(resp.(*messages.InfoResponse).Body), "health %+v %v", resp, err)
	_, err = do(t, a, newCall(ts.URL, "", &messages.ChatRequest{Model: "m", Messages: user("x")}))
	ue := upstreamErr(t, err)
	require.Equal(t, messages.ClassServer, ue.Class, "loading error %+v", ue)
	require.Equal(t, "Loading model", ue.Message, "loading error %+v", ue)
	require.Equal(t, "unavailable_error", ue.Type, "loading error %+v", ue)
	require.Equal(t, "503", ue.Code, "loading error %+v", ue)
	mu.Lock()
	defer mu.Unlock()
	require.Equal(t, `/tokenize {"content":"hi there"}`, bodies[0], "bodies %q", bodies)
	require.Equal(t, `/detokenize {"tokens":[1,2]}`, bodies[1], "bodies %q", bodies)
	require.Equal(t, "/v1/chat/completions "+bodies[3][len("/v1/chat/completions "):], bodies[3], "bodies %q", bodies)
}

func TestDecodeTokenize(t *testing.T) {
	call := &providers.Call{RequestID: "r", Result: providers.CallResult{Status: 200}}
	tests := []struct {
		body       string
		detokenize bool
		ok         bool
		tokens     []int
		text       string
	}{
		{`{"count":2,"max_model_len":10,"tokens":[5,6],"token_strs":null}`, false, true, []int{5, 6}, ""},
		{llamaTokens, false, true, []int{1, 2, 3}, ""},
		{`{"count":3,"tokens":[5,6]}`, false, false, nil, ""},
		{`{"count":0}`, false, false, nil, ""},
		{`{"prompt":"a b"}`, true, true, nil, "a b"},
		{`{"content":"c"}`, true, true, nil, "c"},
		{`[1,2]`, false, false, nil, ""},
		{`{"tokens":"x"}`, false, false, nil, ""},
	}
	for _, tt := range tests {
		r, err := llvm.DecodeTokenize(call, tt.detokenize, []byte(tt.body))
		require.Equal(t, tt.ok, err == nil, "%s: %v", tt.body, err)
		if err != nil {
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "%s: class %v", tt.body, ue.Class)
			continue
		}
		require.True(t, slices.Equal(r.Tokens, tt.tokens), "%s: %+v", tt.body, r)
		require.Equal(t, tt.text, r.Text, "%s: %+v", tt.body, r)
	}
}

func FuzzDecodeTokenize(f *testing.F) {
	f.Add([]byte(`{"count":2,"max_model_len":10,"tokens":[5,6]}`), false)
	f.Add([]byte(`{"prompt":"x"}`), true)
	f.Add([]byte(llamaTokens), false)
	f.Add([]byte(`{"tokens":[1e99]}`), false)
	f.Fuzz(func(t *testing.T, body []byte, detokenize bool) {
		call := &providers.Call{RequestID: "r", Result: providers.CallResult{Status: 200}}
		r, err := llvm.DecodeTokenize(call, detokenize, body)
		if err != nil {
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue, "error")
			require.Equal(t, messages.ClassMalformed, ue.Class, "error")
			return
		}
		require.NotNil(t, r, "answer")
		require.False(t, !detokenize && r.Count != len(r.Tokens), "answer")
	})
}

// TestSpecRequests validates every OpenAI-route body the adapter builds
// against the official OpenAI spec (vLLM implements those schemas), and shows
// the validator rejects bad ones.
func TestSpecRequests(t *testing.T) {
	srv := startSim(t, nil)
	a := llvm.New()
	images := []messages.Message{{Role: "user", Parts: []messages.Part{{Type: messages.PartText, Text: "look"},
		{Type: messages.PartImage, ImageURL: "https://example.com/a.jpg"}, {Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"}}}}
	reqs := []messages.Request{
		&messages.ChatRequest{Model: chatModel, Messages: user("plain")},
		&messages.ChatRequest{Model: chatModel, System: "s", Messages: user("x"), Temperature: ptr(0.5), TopP: ptr(0.9), MaxTokens: 10, Stop: []string{"END"}, Extra: map[string]any{"seed": 3, "top_k": 20}},
		&messages.ChatRequest{Model: chatModel, Messages: user("stream"), Stream: true},
		&messages.ChatRequest{Model: chatModel, Messages: images},
		&messages.ChatRequest{Model: chatModel, Messages: user("weather in Nice"), Tools: []messages.Tool{weatherTool}, ToolChoice: "required", Stream: true},
		&messages.GenerateRequest{Model: chatModel, Prompt: "p", MaxTokens: 10, Temperature: ptr(1.0), TopP: ptr(0.5), Stop: []string{"\n"}},
		&messages.GenerateRequest{Model: chatModel, Prompt: "p", Stream: true, Extra: map[string]any{"echo": false, "seed": 1}},
		&messages.EmbedRequest{Model: embedModel, Inputs: []string{"a", "b"}},
	}
	for _, req := range reqs {
		call := newCall(srv.URL, "", req)
		call.Emit = (&recorder{}).Emit
		_, err := do(t, a, call)
		require.NoError(t, err, "%s: %v", req.Operation(), err)
	}
	schemas := map[string]string{"/v1/chat/completions": "CreateChatCompletionRequest", "/v1/completions": "CreateCompletionRequest", "/v1/embeddings": "CreateEmbeddingRequest"}
	n := 0
	for _, rec := range srv.Requests() {
		schema := schemas[rec.Path]
		err := openaitest.Validate(t, schema, rec.Body)
		assert.NoError(t, err, "%s body violates %s: %v\n%s", rec.Path, schema, err, rec.Body)
		n++
	}
	require.Len(t, reqs, n, "validated %d bodies", n)
	for name, c := range map[string]struct{ schema, body string }{
		"completion without prompt field type": {"CreateCompletionRequest", `{"model":"m","prompt":{"text":"x"}}`},
		"completion without model":             {"CreateCompletionRequest", `{"prompt":"x"}`},
		"completion string max_tokens":         {"CreateCompletionRequest", `{"model":"m","prompt":"x","max_tokens":"ten"}`},
		"chat bad role":                        {"CreateChatCompletionRequest", `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`},
		"embeddings empty array":               {"CreateEmbeddingRequest", `{"model":"m","input":[]}`},
	} {
		assert.Error(t, openaitest.Validate(t, c.schema, []byte(c.body)), "%s: %s accepted %s", name, c.schema, c.body)
	}
}

// TestSpecAnswers validates the simulator's OpenAI-route answers against the
// spec's response schemas. vLLM's extras (stop_reason, kv_transfer_params,
// prompt_logprobs) are additional properties the schemas allow; its habit of
// writing null for optional objects OpenAI leaves out (prompt_tokens_details,
// a message's function_call, annotations, audio, reasoning_content) is undone
// by vllmNulls first. The spec has no schema for streamed completions, whose
// chunks carry finish_reason null until the last: only the last is checked.
func TestSpecAnswers(t *testing.T) {
	srv := startSim(t, nil)
	cases := []struct {
		path, body, schema string
	}{
		{"/v1/chat/completions", `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi"}]}`, "CreateChatCompletionResponse"},
		{"/v1/completions", `{"model":"` + chatModel + `","prompt":"hi"}`, "CreateCompletionResponse"},
		{"/v1/embeddings", `{"model":"` + embedModel + `","input":["hi"]}`, "CreateEmbeddingResponse"},
		{"/v1/chat/completions", `{"model":"` + chatModel + `","messages":[{"role":"user","content":"hi you"}],"stream":true,"stream_options":{"include_usage":true}}`, "CreateChatCompletionStreamResponse"},
		{"/v1/completions", `{"model":"` + chatModel + `","prompt":"hi you","stream":true,"stream_options":{"include_usage":true}}`, "CreateCompletionResponse"},
	}
	for _, c := range cases {
		resp, err := http.Post(srv.URL+c.path, "application/json", strings.NewReader(c.body))
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		docs := [][]byte{b}
		if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			docs = nil
			sse := providers.NewSSEReader(bytes.NewReader(b))
			for {
				ev, err := sse.Next()
				if err != nil {
					break
				}
				if string(ev.Data) != "[DONE]" {
					docs = append(docs, bytes.Clone(ev.Data))
				}
			}
		}
		require.NotEqual(t, 0, len(docs), "%s: no answer", c.path)
		for _, d := range docs {
			if c.schema == "CreateCompletionResponse" && (bytes.Contains(d, []byte(`"choices":[]`)) || bytes.Contains(d, []byte(`"finish_reason":null`))) {
				continue // a streamed completion chunk: the spec has no schema for it
			}
			err := openaitest.Validate(t, c.schema, vllmNulls(t, d))
			assert.NoError(t, err, "%s answer violates %s: %v\n%s", c.path, c.schema, err, d)
		}
	}
}

// vllmNulls removes the null optional objects vLLM writes and OpenAI omits.
func vllmNulls(t *testing.T, doc []byte) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(doc, &m))
	if u, ok := m["usage"].(map[string]any); ok && u["prompt_tokens_details"] == nil {
		delete(u, "prompt_tokens_details")
	}
	choices, _ := m["choices"].([]any)
	for _, c := range choices {
		msg, _ := c.(map[string]any)["message"].(map[string]any)
		for _, k := range []string{"function_call", "annotations", "audio", "reasoning_content"} {
			if v, ok := msg[k]; ok && v == nil {
				delete(msg, k)
			}
		}
	}
	out, _ := json.Marshal(m)
	return out
}
