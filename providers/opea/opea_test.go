package opea_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/opea"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// testKey is a fake bearer token; tests assert it never shows up in errors.
const testKey = "opea-test-0123456789SECRET"

func startSim(t testing.TB, b *sim.OPEABackend, opts ...sim.Option) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.OPEA()
	}
	return providertest.StartSim(t, b, opts...)
}

type recorder = providertest.Recorder

// newCall builds a call against the simulator's root, the base URL an OPEA
// endpoint is configured with, without a key (OPEA's default).
func newCall(srv *sim.Server, req messages.Request) *providers.Call {
	return newCallAt(srv.URL, req)
}

func newCallAt(baseURL string, req messages.Request) *providers.Call {
	call := providertest.NewCall("opea", baseURL, "", req)
	call.Key = providers.NewCredential("default", "")
	return call
}

func withKey(call *providers.Call) *providers.Call {
	call.Key = providers.NewCredential("primary", testKey)
	return call
}

func doWith(t *testing.T, a *opea.Adapter, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, a, call)
}

func do(t *testing.T, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return doWith(t, opea.New(), call)
}

func lastBody(t *testing.T, srv *sim.Server) map[string]any {
	t.Helper()
	return providertest.LastBody(t, srv)
}

func upstreamErr(t *testing.T, err error) *messages.UpstreamError {
	t.Helper()
	return providertest.UpstreamError(t, err, testKey)
}

func ptr[T any](v T) *T { return &v }

func user(text string) []messages.Message { return []messages.Message{{Role: "user", Content: text}} }

func TestKind(t *testing.T) {
	require.Equal(t, "opea", opea.New().Kind(), "Kind()")
	require.Equal(t, string(opea.ChatQnA), opea.New().Chat(), "Options.Chat not honoured")
	require.Equal(t, string(opea.ChatLLM), opea.New(opea.Options{Chat: opea.ChatLLM}).Chat(), "Options.Chat not honoured")
}

// checkChunks verifies the chunk sequence of a chat stream: numbered in
// order, text that adds up to the answer, and one usage chunk, last, equal
// to the answer's usage.
func checkChunks(t *testing.T, call *providers.Call, cr *messages.ChatResponse, chunks []messages.StreamChunk) string {
	t.Helper()
	var text strings.Builder
	for i, ch := range chunks {
		require.Equal(t, i, ch.Seq, "chunk %d has seq %d request %q", i, ch.Seq, ch.RequestID)
		require.Equal(t, call.RequestID, ch.RequestID, "chunk %d has seq %d request %q", i, ch.Seq, ch.RequestID)
		if ch.Type == messages.ChunkText {
			text.WriteString(ch.Text)
		}
		if ch.Type == messages.ChunkUsage {
			require.Equal(t, len(chunks)-1, i, "usage chunk %d is not the last of %d", i, len(chunks))
		}
	}
	require.Equal(t, cr.Content, text.String(), "chunks say %q, answer %q", text.String(), cr.Content)
	last := chunks[len(chunks)-1]
	require.Equal(t, messages.ChunkUsage, last.Type, "last chunk %+v, answer usage %+v, result %+v", last, cr.Usage, call.Result.Usage)
	require.True(t, *last.Usage == cr.Usage, "last chunk %+v, answer usage %+v, result %+v", last, cr.Usage, call.Result.Usage)
	require.True(t, call.Result.Usage == cr.Usage, "last chunk %+v, answer usage %+v, result %+v", last, cr.Usage, call.Result.Usage)
	require.Len(t, chunks, call.Result.ChunksSent, "ChunksSent %d, %d chunks", call.Result.ChunksSent, len(chunks))
	return text.String()
}

func TestChatQnA(t *testing.T) {
	tricky := "Qu'est-ce que \"ça\" coûte?\nback\\slash\ttab 日本語 😀"
	tests := []struct {
		name    string
		backend *sim.OPEABackend
		req     messages.ChatRequest
		want    string
		body    func(t *testing.T, body map[string]any)
		minText int // at least this many text chunks when streamed
	}{
		{
			name: "plain, string form",
			req:  messages.ChatRequest{Messages: user("What is the revenue of Nike in 2023?")},
			want: "echo: What is the revenue of Nike in 2023?",
			body: func(t *testing.T, b map[string]any) {
				require.True(t, b["messages"] == "What is the revenue of Nike in 2023?", "body")
				require.True(t, b["stream"] == false, "body")
				require.Len(t, b, 2, "body")
			},
		},
		{
			name: "plain, list form with system prompt and parameters",
			req: messages.ChatRequest{Model: "Intel/neural-chat-7b-v3-3", System: "Be brief.", MaxTokens: 64, Temperature: ptr(0.2), TopP: ptr(0.9), Stop: []string{"\n\n"},
				Messages: []messages.Message{{Role: "user", Content: "first"}, {Role: "assistant", Content: "ok"}, {Role: "user", Parts: []messages.Part{{Type: "text", Text: "second"}, {Type: "text", Text: "question"}}}},
				Extra:    map[string]any{"k": 2, "top_n": 1, "search_type": "mmr", "stream": true, "messages": "hijack"}},
			want: "echo: second\nquestion",
			body: func(t *testing.T, b map[string]any) {
				msgs, _ := b["messages"].([]any)
				require.Len(t, msgs, 4, "messages %v", b["messages"])
				require.True(t, msgs[0].(map[string]any)["role"] == "system", "messages %v", b["messages"])
				require.True(t, msgs[3].(map[string]any)["content"] == "second\nquestion", "messages %v", b["messages"])
				require.True(t, b["stream"] == false, "body %v", b)
				require.True(t, b["model"] == "Intel/neural-chat-7b-v3-3", "body %v", b)
				require.True(t, b["max_tokens"] == 64.0, "body %v", b)
				require.True(t, b["temperature"] == 0.2, "body %v", b)
				require.True(t, b["top_p"] == 0.9, "body %v", b)
				require.True(t, b["k"] == 2.0, "body %v", b)
				require.True(t, b["top_n"] == 1.0, "body %v", b)
				require.True(t, b["search_type"] == "mmr", "body %v", b)
			},
		},
		{
			name: "plain, escapes and non-ASCII",
			req:  messages.ChatRequest{Messages: user(tricky)},
			want: "echo: " + tricky,
		},
		{
			name:    "stream, bytes literals",
			req:     messages.ChatRequest{Stream: true, Messages: user("What is Deep Learning?")},
			want:    "echo: What is Deep Learning?",
			minText: 4,
			body: func(t *testing.T, b map[string]any) {
				require.True(t, b["stream"] == true, "body %v", b)
			},
		},
		{
			name:    "stream, bytes literals with quotes, backslashes, newlines and UTF-8",
			req:     messages.ChatRequest{Stream: true, Messages: user(tricky)},
			want:    "echo: " + tricky,
			minText: 6,
		},
		{
			name:    "stream, UTF-8 split across single-byte literals",
			backend: &sim.OPEABackend{ByteTokens: 1},
			req:     messages.ChatRequest{Stream: true, Messages: user("café 日本 😀 it's")},
			want:    "echo: café 日本 😀 it's",
			minText: 10,
		},
		{
			name:    "stream, UTF-8 split across two-byte literals",
			backend: &sim.OPEABackend{ByteTokens: 2},
			req:     messages.ChatRequest{Stream: true, Messages: user("日本語のテキスト")},
			want:    "echo: 日本語のテキスト",
			minText: 5,
		},
		{
			name:    "stream, UTF-8 split across three-byte literals",
			backend: &sim.OPEABackend{ByteTokens: 3},
			req:     messages.ChatRequest{Stream: true, Messages: user("ü😀ü😀ü")},
			want:    "echo: ü😀ü😀ü",
			minText: 3,
		},
		{
			name:    "stream, OpenAI chunks passed through",
			backend: &sim.OPEABackend{StreamFormat: sim.OPEAStreamJSON},
			req:     messages.ChatRequest{Stream: true, Messages: user("pass " + tricky)},
			want:    "echo: pass " + tricky,
			minText: 4,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, tt.backend)
			req := tt.req
			call := newCall(srv, &req)
			rec := &recorder{}
			call.Emit = rec.Emit
			resp, err := do(t, call)
			require.NoError(t, err)
			cr := resp.(*messages.ChatResponse)
			require.Equal(t, tt.want, cr.Content, "answer %q finish %q, want %q", cr.Content, cr.FinishReason, tt.want)
			require.Equal(t, string(messages.FinishStop), cr.FinishReason, "answer %q finish %q, want %q", cr.Content, cr.FinishReason, tt.want)
			chunks := rec.All()
			checkChunks(t, call, cr, chunks)
			nText := 0
			for _, ch := range chunks {
				if ch.Type == messages.ChunkText {
					nText++
				}
			}
			require.GreaterOrEqual(t, nText, tt.minText, "%d text chunks, want at least %d", nText, tt.minText)
			// ChatQnA reports no usage; the adapter's estimate matches the
			// simulator's record of it.
			in, out := srv.Usage()
			require.Equal(t, in, cr.Usage.InputTokens, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.Equal(t, out, cr.Usage.OutputTokens, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.NotEqual(t, 0, in, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.NotEqual(t, 0, out, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.Equal(t, call.RequestID, cr.RequestID, "meta %+v", cr.Meta)
			require.Equal(t, "opea", cr.Provider, "meta %+v", cr.Meta)
			require.Equal(t, "sim-"+call.RequestID, cr.UpstreamRequestID, "meta %+v", cr.Meta)
			rec0 := srv.Requests()[0]
			require.Equal(t, string(opea.PathChatQnA), rec0.Path, "request %s auth %q key %q", rec0.Path, rec0.Header.Get("Authorization"), rec0.Key)
			require.Equal(t, "", rec0.Header.Get("Authorization"), "request %s auth %q key %q", rec0.Path, rec0.Header.Get("Authorization"), rec0.Key)
			require.Equal(t, string(sim.OPEAAnonymous), rec0.Key, "request %s auth %q key %q", rec0.Path, rec0.Header.Get("Authorization"), rec0.Key)
			if req.Stream {
				require.Equal(t, "text/event-stream", rec0.Header.Get("Accept"), "Accept")
			}
			if tt.body != nil {
				tt.body(t, lastBody(t, srv))
			}
			require.Equal(t, 0, srv.InvalidCalls(), "simulator rejected %d requests", srv.InvalidCalls())
		})
	}
}

func TestChatQnAPath(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/codegen" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: b'def'\n\ndata: b' f():'\n\ndata: [DONE]\n\n")
	}))
	defer hs.Close()
	call := newCallAt(hs.URL, &messages.ChatRequest{Stream: true, Messages: user("write f")})
	resp, err := doWith(t, opea.New(opea.Options{ChatPath: "v1/codegen"}), call)
	require.NoError(t, err)
	require.Equal(t, "def f():", (resp.(*messages.ChatResponse)).Content, "content")
}

func TestLLMChat(t *testing.T) {
	lookup := messages.Tool{Name: "lookup", Description: "Search the knowledge base", Parameters: json.RawMessage(`{"type":"object","properties":{"query":{"type":"string"}}}`)}
	llm := opea.New(opea.Options{Chat: opea.ChatLLM})
	tests := []struct {
		name  string
		req   messages.ChatRequest
		check func(t *testing.T, cr *messages.ChatResponse, body map[string]any)
	}{
		{
			name: "plain",
			req:  messages.ChatRequest{Model: "meta-llama/Llama-3.1-8B-Instruct", System: "sys", MaxTokens: 32, Messages: user("hello there")},
			check: func(t *testing.T, cr *messages.ChatResponse, body map[string]any) {
				require.Equal(t, "echo: hello there", cr.Content, "answer %+v", cr)
				require.Equal(t, string(messages.FinishStop), cr.FinishReason, "answer %+v", cr)
				require.Equal(t, "meta-llama/Llama-3.1-8B-Instruct", cr.Model, "answer %+v", cr)
				require.True(t, body["max_tokens"] == 32.0, "body %v", body)
				require.True(t, body["max_completion_tokens"] == nil, "body %v", body)
			},
		},
		{
			name: "stream with usage",
			req:  messages.ChatRequest{Model: "m", Stream: true, Messages: user("stream a few words")},
			check: func(t *testing.T, cr *messages.ChatResponse, body map[string]any) {
				require.Equal(t, "echo: stream a few words", cr.Content, "answer")
				so, _ := body["stream_options"].(map[string]any)
				require.True(t, so["include_usage"] == true, "body %v", body)
			},
		},
		{
			name: "named tool",
			req:  messages.ChatRequest{Model: "m", Tools: []messages.Tool{lookup}, ToolChoice: "lookup", Messages: user("find OPEA")},
			check: func(t *testing.T, cr *messages.ChatResponse, body map[string]any) {
				require.Len(t, cr.ToolCalls, 1, "answer %+v", cr)
				require.Equal(t, "lookup", cr.ToolCalls[0].Name, "answer %+v", cr)
				require.Equal(t, `{"query":"find OPEA"}`, string(cr.ToolCalls[0].Arguments), "answer %+v", cr)
				require.Equal(t, string(messages.FinishToolCalls), cr.FinishReason, "answer %+v", cr)
			},
		},
		{
			name: "named tool, streamed",
			req:  messages.ChatRequest{Model: "m", Stream: true, Tools: []messages.Tool{lookup}, ToolChoice: "lookup", Messages: user("find OPEA docs")},
			check: func(t *testing.T, cr *messages.ChatResponse, body map[string]any) {
				require.Len(t, cr.ToolCalls, 1, "answer %+v", cr)
				require.Equal(t, `{"query":"find OPEA docs"}`, string(cr.ToolCalls[0].Arguments), "answer %+v", cr)
			},
		},
		{
			name: "tool result round trip",
			req: messages.ChatRequest{Model: "m", Tools: []messages.Tool{lookup}, Messages: []messages.Message{
				{Role: "user", Content: "find OPEA"},
				{Role: "assistant", ToolCalls: []messages.ToolCall{{ID: "call_1", Name: "lookup", Arguments: json.RawMessage(`{"query":"OPEA"}`)}}},
				{Role: "tool", ToolCallID: "call_1", Content: "OPEA is a Linux Foundation project"},
			}},
			check: func(t *testing.T, cr *messages.ChatResponse, body map[string]any) {
				require.Equal(t, "The tool returned: OPEA is a Linux Foundation project", cr.Content, "answer")
				msgs := body["messages"].([]any)
				c := msgs[1].(map[string]any)["content"]
				require.True(t, c == "", "assistant content %v, want \"\"", c)
			},
		},
		{
			name: "image",
			req: messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
				{Type: "text", Text: "what is this"}, {Type: "image", ImageURL: "https://example.com/cat.png"}}}}},
			check: func(t *testing.T, cr *messages.ChatResponse, body map[string]any) {
				require.Equal(t, "echo: what is this [1 image(s)]", cr.Content, "answer")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv, &req)
			rec := &recorder{}
			call.Emit = rec.Emit
			resp, err := doWith(t, llm, call)
			require.NoError(t, err)
			cr := resp.(*messages.ChatResponse)
			require.Equal(t, string(opea.PathChat), srv.Requests()[0].Path, "path")
			in, out := srv.Usage()
			require.Equal(t, in, cr.Usage.InputTokens, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.Equal(t, out, cr.Usage.OutputTokens, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.NotEqual(t, 0, in, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.NotEqual(t, 0, out, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			require.True(t, call.Result.Usage == cr.Usage, "usage %+v, simulator %d/%d", cr.Usage, in, out)
			if req.Stream {
				chunks := rec.All()
				last := chunks[len(chunks)-1]
				require.Equal(t, messages.ChunkUsage, last.Type, "last chunk %+v", last)
				require.True(t, *last.Usage == cr.Usage, "last chunk %+v", last)
			}
			require.Equal(t, 0, srv.InvalidCalls(), "simulator rejected %d requests", srv.InvalidCalls())
			tt.check(t, cr, lastBody(t, srv))
		})
	}
}

func TestEmbeddings(t *testing.T) {
	srv := startSim(t, &sim.OPEABackend{EmbeddingDimensions: 16})
	inputs := []string{"What is Deep Learning?", "line one\nline two", "日本語", "What is Deep Learning?"}
	resp, err := do(t, newCall(srv, &messages.EmbedRequest{Model: "BAAI/bge-base-en-v1.5", Inputs: inputs}))
	require.NoError(t, err)
	er := resp.(*messages.EmbedResponse)
	require.Len(t, inputs, len(er.Vectors), "%d vectors for %d inputs", len(er.Vectors), len(inputs))
	for i, in := range inputs {
		want := sim.OpenAIEmbedding(strings.ReplaceAll(in, "\n", " "), 16)
		require.True(t, slices.Equal(er.Vectors[i], want), "vector %d is not the embedding of %q", i, in)
	}
	require.False(t, slices.Equal(er.Vectors[0], er.Vectors[1]), "vectors are not per input")
	require.True(t, slices.Equal(er.Vectors[0], er.Vectors[3]), "vectors are not per input")
	require.True(t, er.Usage == (messages.Usage{}), "usage %+v: OPEA's embedding microservice reports none", er.Usage)
	b := lastBody(t, srv)
	require.Equal(t, opea.PathEmbeddings, srv.Requests()[0].Path, "request %v", b)
	require.Equal(t, "float", b["encoding_format"], "request %v", b)
	require.Len(t, b["input"].([]any), 4, "request %v", b)
}

func TestRerank(t *testing.T) {
	docs := []string{"Deep Learning is not...", "What deep learning is: a subset of machine learning", "cooking pasta", "Deep Learning is not..."}
	tests := []struct {
		name      string
		req       messages.RerankRequest
		wantIndex []int
		wantTopN  float64
	}{
		{"all", messages.RerankRequest{Query: "what is deep learning", Documents: docs}, []int{1, 0, 3, 2}, 4},
		{"top 2 with documents", messages.RerankRequest{Query: "what is deep learning", Documents: docs, TopN: 2, ReturnDocuments: true}, []int{1, 0}, 2},
		{"one document", messages.RerankRequest{Query: "pasta", Documents: []string{"cooking pasta"}}, []int{0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			resp, err := do(t, newCall(srv, &req))
			require.NoError(t, err)
			rr := resp.(*messages.RerankResponse)
			var got []int
			for i, r := range rr.Results {
				got = append(got, r.Index)
				want := sim.OPEARerankScore(req.Query, req.Documents[r.Index])
				require.Equal(t, want, r.Score, "result %d score %v, want %v", i, r.Score, want)
				if i > 0 {
					require.False(t, r.Score > rr.Results[i-1].Score, "results not in descending score order")
				}
				require.Equal(t, req.ReturnDocuments, r.Document != "", "result %d document %q", i, r.Document)
				require.False(t, req.ReturnDocuments && r.Document != req.Documents[r.Index], "result %d document %q", i, r.Document)
			}
			require.True(t, slices.Equal(got, tt.wantIndex), "indices %v, want %v", got, tt.wantIndex)
			b := lastBody(t, srv)
			docs := b["retrieved_docs"].([]any)
			require.Equal(t, opea.PathReranking, srv.Requests()[0].Path, "request %v", b)
			require.Equal(t, req.Query, b["input"], "request %v", b)
			require.True(t, b["top_n"] == tt.wantTopN, "request %v", b)
			require.Len(t, docs, len(req.Documents), "request %v", b)
			require.Equal(t, req.Documents[0], docs[0].(map[string]any)["text"], "request %v", b)
		})
	}
}

func TestHealth(t *testing.T) {
	srv := startSim(t, nil)
	resp, err := do(t, newCall(srv, &messages.InfoRequest{What: "health"}))
	require.NoError(t, err)
	ir := resp.(*messages.InfoResponse)
	require.True(t, ir.Healthy, "answer %+v %s", ir, ir.Body)
	require.True(t, json.Valid(ir.Body), "answer %+v %s", ir, ir.Body)
	require.Equal(t, string(http.MethodGet), srv.Requests()[0].Method, "answer %+v %s", ir, ir.Body)
	require.Equal(t, string(opea.PathHealth), srv.Requests()[0].Path, "answer %+v %s", ir, ir.Body)
}

func TestAuth(t *testing.T) {
	t.Run("bearer sent when configured", func(t *testing.T) {
		srv := startSim(t, nil, sim.WithKeys(testKey))
		_, err := do(t, withKey(newCall(srv, &messages.ChatRequest{Messages: user("hi")})))
		require.NoError(t, err)
		r := srv.Requests()[0]
		require.Equal(t, "Bearer "+testKey, r.Header.Get("Authorization"), "auth")
		require.Equal(t, string(testKey), r.Key, "auth")
	})
	t.Run("JWT mode without a key", func(t *testing.T) {
		srv := startSim(t, &sim.OPEABackend{RequireKey: true})
		_, err := do(t, newCall(srv, &messages.ChatRequest{Messages: user("hi")}))
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassAuth, ue.Class, "error %+v", ue)
		require.Equal(t, 401, ue.Status, "error %+v", ue)
		require.Equal(t, "Invalid authentication scheme or Missing Token", ue.Message, "error %+v", ue)
	})
	t.Run("revoked key", func(t *testing.T) {
		srv := startSim(t, nil)
		srv.RejectKey(testKey, http.StatusForbidden)
		_, err := do(t, withKey(newCall(srv, &messages.RerankRequest{Query: "q", Documents: []string{"d"}})))
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassAuth, ue.Class, "error %+v", ue)
		require.Equal(t, 403, ue.Status, "error %+v", ue)
		require.False(t, ue.Retryable(), "error %+v", ue)
	})
}

// routes are one request per operation and service, for fault tables.
func routes() []struct {
	name string
	a    *opea.Adapter
	req  func() messages.Request
} {
	return []struct {
		name string
		a    *opea.Adapter
		req  func() messages.Request
	}{
		{"chatqna", opea.New(), func() messages.Request { return &messages.ChatRequest{Messages: user("q")} }},
		{"chatqna stream", opea.New(), func() messages.Request { return &messages.ChatRequest{Stream: true, Messages: user("a b c d e f")} }},
		{"llm", opea.New(opea.Options{Chat: opea.ChatLLM}), func() messages.Request {
			return &messages.ChatRequest{Model: "m", Messages: user("q")}
		}},
		{"llm stream", opea.New(opea.Options{Chat: opea.ChatLLM}), func() messages.Request {
			return &messages.ChatRequest{Model: "m", Stream: true, Messages: user("a b c d e f")}
		}},
		{"embed", opea.New(), func() messages.Request { return &messages.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}} }},
		{"rerank", opea.New(), func() messages.Request { return &messages.RerankRequest{Query: "q", Documents: []string{"a", "b"}} }},
	}
}

func TestErrors(t *testing.T) {
	validation := `{"detail":[{"type":"missing","loc":["body","messages"],"msg":"Field required","input":{}},{"type":"int_type","loc":["body","k"],"msg":"Input should be a valid integer"}]}`
	tests := []struct {
		name      string
		fault     sim.Fault
		wantClass messages.ErrorClass
		retry     bool
		wantMsg   string
		wantType  string
		wantDelay time.Duration
	}{
		{"422 validation", sim.Fault{Status: 422, Body: validation}, messages.ClassInvalid, false, "body.messages: Field required; body.k: Input should be a valid integer", "missing", 0},
		{"422 simulator", sim.Fault{Status: 422}, messages.ClassInvalid, false, "body: Unprocessable Entity", "value_error", 0},
		{"400 detail string", sim.Fault{Status: 400, Body: `{"detail":"bad request"}`}, messages.ClassInvalid, false, "bad request", "", 0},
		{"404", sim.Fault{Status: 404}, messages.ClassInvalid, false, "Not Found", "", 0},
		{"413", sim.Fault{Status: 413}, messages.ClassInvalid, false, "Request Entity Too Large", "", 0},
		{"500 plain text", sim.Fault{Status: 500}, messages.ClassServer, true, "Internal Server Error", "", 0},
		{"502 nginx page", sim.Fault{Status: 502}, messages.ClassServer, true, "502 Bad Gateway", "", 0},
		{"503 nginx page", sim.Fault{Status: 503}, messages.ClassServer, true, "503 Service Unavailable", "", 0},
		{"503 detail", sim.Fault{Status: 503, Body: `{"detail":"LLM backend not ready"}`}, messages.ClassServer, true, "LLM backend not ready", "", 0},
		{"504 nginx page", sim.Fault{Status: 504}, messages.ClassServer, true, "504 Gateway Timeout", "", 0},
		{"429 with Retry-After", sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "7"}}, messages.ClassRateLimited, true, "Too Many Requests", "", 7 * time.Second},
		{"401", sim.Fault{Status: 401}, messages.ClassAuth, false, "Invalid authentication scheme or Missing Token", "", 0},
		{"GenAIComps ErrorResponse", sim.Fault{Status: 400, Body: `{"object":"error","message":"-1 is less than the minimum of 1 - 'max_tokens'","code":40302}`}, messages.ClassInvalid, false, "-1 is less than the minimum of 1 - 'max_tokens'", "", 0},
	}
	for _, rt := range routes() {
		for _, tt := range tests {
			t.Run(rt.name+"/"+tt.name, func(t *testing.T) {
				srv := startSim(t, nil)
				srv.Inject(tt.fault)
				call := withKey(newCall(srv, rt.req()))
				_, err := doWith(t, rt.a, call)
				ue := upstreamErr(t, err)
				require.Equal(t, tt.wantClass, ue.Class, "class %v retryable %v status %d, want %v %v %d: %v", ue.Class, ue.Retryable(), ue.Status, tt.wantClass, tt.retry, tt.fault.Status, ue)
				require.Equal(t, tt.retry, ue.Retryable(), "class %v retryable %v status %d, want %v %v %d: %v", ue.Class, ue.Retryable(), ue.Status, tt.wantClass, tt.retry, tt.fault.Status, ue)
				require.Equal(t, tt.fault.Status, ue.Status, "class %v retryable %v status %d, want %v %v %d: %v", ue.Class, ue.Retryable(), ue.Status, tt.wantClass, tt.retry, tt.fault.Status, ue)
				require.Equal(t, tt.wantMsg, ue.Message, "message %q type %q delay %v, want %q %q %v", ue.Message, ue.Type, ue.RetryAfter, tt.wantMsg, tt.wantType, tt.wantDelay)
				require.Equal(t, tt.wantType, ue.Type, "message %q type %q delay %v, want %q %q %v", ue.Message, ue.Type, ue.RetryAfter, tt.wantMsg, tt.wantType, tt.wantDelay)
				require.Equal(t, tt.wantDelay, ue.RetryAfter, "message %q type %q delay %v, want %q %q %v", ue.Message, ue.Type, ue.RetryAfter, tt.wantMsg, tt.wantType, tt.wantDelay)
				require.Equal(t, call.RequestID, ue.RequestID, "error fields %+v", ue)
				require.Equal(t, "primary", ue.Key, "error fields %+v", ue)
				require.Equal(t, "opea", ue.Provider, "error fields %+v", ue)
			})
		}
	}
}

func TestStreamFaults(t *testing.T) {
	for _, rt := range routes() {
		if !strings.HasSuffix(rt.name, "stream") {
			continue
		}
		for _, tt := range []struct {
			name  string
			fault sim.Fault
			want  messages.ErrorClass
		}{
			{"cut", sim.Fault{CutAfter: 2}, messages.ClassStreamCut},
			{"stall", sim.Fault{StallAfter: 2}, messages.ClassTimeout},
			// "echo: a b c d e f" is 7 tokens: ChatQnA sends them and then
			// [DONE]; the LLM a role chunk, the tokens, a finish chunk, the
			// usage chunk and [DONE]. Cut right before the terminator (the
			// usage chunk for the LLM).
			{"cut before the end", sim.Fault{CutAfter: map[bool]int{true: 7, false: 9}[strings.HasPrefix(rt.name, "chatqna")]}, messages.ClassStreamCut},
		} {
			t.Run(rt.name+"/"+tt.name, func(t *testing.T) {
				srv := startSim(t, nil)
				srv.Inject(tt.fault)
				call := newCall(srv, rt.req())
				call.Client.IdleTimeout = 200 * time.Millisecond
				rec := &recorder{}
				call.Emit = rec.Emit
				_, err := doWith(t, rt.a, call)
				ue := upstreamErr(t, err)
				require.Equal(t, tt.want, ue.Class, "class %v retryable %v status %d, want %v: %v", ue.Class, ue.Retryable(), ue.Status, tt.want, ue)
				require.True(t, ue.Retryable(), "class %v retryable %v status %d, want %v: %v", ue.Class, ue.Retryable(), ue.Status, tt.want, ue)
				require.Equal(t, int(http.StatusOK), ue.Status, "class %v retryable %v status %d, want %v: %v", ue.Class, ue.Retryable(), ue.Status, tt.want, ue)
				require.NotEqual(t, 0, call.Result.ChunksSent, "no chunk reached the caller before the fault")
				for _, ch := range rec.All() {
					require.NotEqual(t, messages.ChunkUsage, ch.Type, "usage emitted for an unfinished stream")
				}
				in, out := srv.Usage()
				require.Equal(t, 0, in, "an unfinished stream counted usage %d/%d", in, out)
				require.Equal(t, 0, out, "an unfinished stream counted usage %d/%d", in, out)
			})
		}
	}
}

func TestCallerGoneStopsStream(t *testing.T) {
	srv := startSim(t, nil)
	call := newCall(srv, &messages.ChatRequest{Stream: true, Messages: user("a b c d e f g h i j k")})
	n := 0
	call.Emit = func(*messages.StreamChunk) bool { n++; return n < 2 }
	_, err := do(t, call)
	require.Equal(t, messages.ClassCancelled, upstreamErr(t, err).Class, "class")
	require.Equal(t, 2, n, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
	require.Equal(t, 1, call.Result.ChunksSent, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
}

func TestMalformed(t *testing.T) {
	for _, rt := range routes() {
		t.Run(rt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(sim.Fault{Malformed: true})
			_, err := doWith(t, rt.a, newCall(srv, rt.req()))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v status %d", ue.Class, ue.Status)
			require.Equal(t, 200, ue.Status, "class %v status %d", ue.Class, ue.Status)
			require.False(t, ue.Retryable(), "class %v status %d", ue.Class, ue.Status)
		})
	}
}

// TestMalformedAnswers feeds well-formed JSON with the wrong content.
func TestMalformedAnswers(t *testing.T) {
	tests := []struct {
		name string
		req  messages.Request
		body string
	}{
		{"chatqna without choices", &messages.ChatRequest{Messages: user("x")}, `{"id":"c","choices":[]}`},
		{"chatqna wrong types", &messages.ChatRequest{Messages: user("x")}, `{"id":1,"choices":"no"}`},
		{"chatqna not an object", &messages.ChatRequest{Messages: user("x")}, `"text"`},
		{"rerank without reranked_docs", &messages.RerankRequest{Query: "q", Documents: []string{"a"}}, `{"query":"q","documents":["a"]}`},
		{"rerank unknown document", &messages.RerankRequest{Query: "q", Documents: []string{"a"}}, `{"reranked_docs":[{"text":"b","score":0.5}]}`},
		{"rerank document twice", &messages.RerankRequest{Query: "q", Documents: []string{"a", "b"}}, `{"reranked_docs":[{"text":"a","score":0.5},{"text":"a","score":0.4}]}`},
		{"rerank document without text", &messages.RerankRequest{Query: "q", Documents: []string{"a"}}, `{"reranked_docs":[{"score":0.5}]}`},
		{"health not JSON", &messages.InfoRequest{What: "health"}, `ok`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			_, err := do(t, newCallAt(hs.URL, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v: %v", ue.Class, ue)
		})
	}
}

// TestStreamAnsweredAsOtherForm: a stream request answered with JSON, and a
// plain request answered with an event stream, both decode.
func TestStreamAnsweredAsOtherForm(t *testing.T) {
	tests := []struct {
		name, ct, body string
		stream         bool
	}{
		{"stream answered with JSON", "application/json", `{"id":"x","model":"chatqna","choices":[{"index":0,"message":{"role":"assistant","content":"whole answer"},"finish_reason":"stop"}],"usage":{"prompt_tokens":0,"total_tokens":0,"completion_tokens":0}}`, true},
		{"plain answered with a stream", "text/event-stream; charset=utf-8", "data: b'whole'\n\ndata: b' answer'\n\ndata: [DONE]\n\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ct)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			call := newCallAt(hs.URL, &messages.ChatRequest{Stream: tt.stream, Messages: user("one two")})
			rec := &recorder{}
			if tt.stream {
				call.Emit = rec.Emit
			}
			resp, err := do(t, call)
			require.NoError(t, err)
			cr := resp.(*messages.ChatResponse)
			require.Equal(t, "whole answer", cr.Content, "answer %+v", cr)
			require.True(t, cr.Usage == (messages.Usage{InputTokens: 2, OutputTokens: 2}), "answer %+v", cr)
			if tt.stream {
				checkChunks(t, call, cr, rec.All())
			}
		})
	}
}

func TestCheck(t *testing.T) {
	img := []messages.Message{{Role: "user", Parts: []messages.Part{{Type: "text", Text: "x"}, {Type: "image", ImageURL: "https://x/y.png"}}}}
	tool := messages.Tool{Name: "f"}
	llm := opea.New(opea.Options{Chat: opea.ChatLLM})
	tests := []struct {
		name string
		a    *opea.Adapter
		req  messages.Request
		want error // nil: accepted
	}{
		{"chatqna ok", nil, &messages.ChatRequest{Messages: user("q")}, nil},
		{"chatqna no messages", nil, &messages.ChatRequest{}, messages.ErrInvalidRequest},
		{"chatqna no user text", nil, &messages.ChatRequest{System: "s", Messages: []messages.Message{{Role: "assistant", Content: "a"}}}, messages.ErrInvalidRequest},
		{"chatqna blank user text", nil, &messages.ChatRequest{Messages: user("  ")}, messages.ErrInvalidRequest},
		{"chatqna unknown role", nil, &messages.ChatRequest{Messages: []messages.Message{{Role: "developer", Content: "d"}, {Role: "user", Content: "q"}}}, messages.ErrInvalidRequest},
		{"chatqna tools", nil, &messages.ChatRequest{Tools: []messages.Tool{tool}, Messages: user("q")}, messages.ErrUnsupported},
		{"chatqna tool result", nil, &messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "q"}, {Role: "tool", ToolCallID: "c", Content: "r"}}}, messages.ErrUnsupported},
		{"chatqna image", nil, &messages.ChatRequest{Messages: img}, messages.ErrUnsupported},
		{"chatqna temperature", nil, &messages.ChatRequest{Temperature: ptr(2.5), Messages: user("q")}, messages.ErrInvalidRequest},
		{"chatqna top_p", nil, &messages.ChatRequest{TopP: ptr(-0.1), Messages: user("q")}, messages.ErrInvalidRequest},
		{"chatqna max tokens", nil, &messages.ChatRequest{MaxTokens: -1, Messages: user("q")}, messages.ErrInvalidRequest},
		{"chatqna bad extra", nil, &messages.ChatRequest{Extra: map[string]any{"x": func() {}}, Messages: user("q")}, messages.ErrInvalidRequest},
		{"bad Options.Chat", opea.New(opea.Options{Chat: "agent"}), &messages.ChatRequest{Messages: user("q")}, messages.ErrUnsupported},
		{"llm ok", llm, &messages.ChatRequest{Model: "m", Messages: img}, nil},
		{"llm named tool", llm, &messages.ChatRequest{Model: "m", Tools: []messages.Tool{tool}, ToolChoice: "f", Messages: user("q")}, nil},
		{"llm needs a model", llm, &messages.ChatRequest{Messages: user("q")}, messages.ErrInvalidRequest},
		{"llm tool_choice auto", llm, &messages.ChatRequest{Model: "m", Tools: []messages.Tool{tool}, ToolChoice: "auto", Messages: user("q")}, messages.ErrInvalidRequest},
		{"llm tool_choice required", llm, &messages.ChatRequest{Model: "m", Tools: []messages.Tool{tool}, ToolChoice: "required", Messages: user("q")}, messages.ErrInvalidRequest},
		{"embed ok", nil, &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}, nil},
		{"embed no inputs", nil, &messages.EmbedRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"embed empty input", nil, &messages.EmbedRequest{Model: "m", Inputs: []string{"a", ""}}, messages.ErrInvalidRequest},
		{"embed sparse", nil, &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}, Sparse: true}, messages.ErrUnsupported},
		{"embed normalize", nil, &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}, Normalize: ptr(true)}, messages.ErrUnsupported},
		{"embed task type", nil, &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}, TaskType: "RETRIEVAL_QUERY"}, messages.ErrUnsupported},
		{"rerank ok", nil, &messages.RerankRequest{Query: "q", Documents: []string{"d"}}, nil},
		{"rerank no query", nil, &messages.RerankRequest{Documents: []string{"d"}}, messages.ErrInvalidRequest},
		{"rerank no documents", nil, &messages.RerankRequest{Query: "q"}, messages.ErrInvalidRequest},
		{"rerank negative top", nil, &messages.RerankRequest{Query: "q", Documents: []string{"d"}, TopN: -1}, messages.ErrInvalidRequest},
		{"health", nil, &messages.InfoRequest{What: "health"}, nil},
		{"info", nil, &messages.InfoRequest{What: "info"}, messages.ErrUnsupported},
		{"generate", nil, &messages.GenerateRequest{Model: "m", Prompt: "p"}, messages.ErrUnsupported},
		{"responses", nil, &messages.ResponsesRequest{Model: "m", Input: user("q")}, messages.ErrUnsupported},
		{"nil", nil, nil, messages.ErrUnsupported},
		{"typed nil", nil, (*messages.ChatRequest)(nil), messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.a
			if a == nil {
				a = opea.New()
			}
			err := a.Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "rejected")
			} else {
				require.ErrorIs(t, err, tt.want)
			}
			if tt.want != nil {
				var re *messages.RequestError
				require.ErrorAs(t, err, &re, "%T is not a *RequestError", err)
				// Do refuses it too, without a request.
				call := newCallAt("http://127.0.0.1:1", &messages.ChatRequest{})
				call.Request = tt.req
				_, err := a.Do(context.Background(), call)
				require.Equal(t, messages.ClassInvalid, upstreamErr(t, err).Class, "Do: class")
			}
		})
	}
}

func TestConnectionRefused(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	url := hs.URL
	hs.Close()
	_, err := do(t, newCallAt(url, &messages.ChatRequest{Messages: user("q")}))
	ue := upstreamErr(t, err)
	require.Equal(t, messages.ClassConnection, ue.Class, "class")
	require.True(t, ue.Retryable(), "class")
}
