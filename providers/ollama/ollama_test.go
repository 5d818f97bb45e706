package ollama_test

import (
	"context"
	"encoding/base64"
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
	"github.com/switchyard-ai/switchyard/providers/ollama"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a fake key; tests assert it never shows up in errors.
const testKey = "ollama-test-0123456789abcdefSECRET"

// pngBytes is the PNG signature plus a few bytes.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

var weatherTool = messages.Tool{Name: "get_weather", Description: "Get the weather in a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func startSim(t testing.TB, b *sim.OllamaBackend, opts ...sim.Option) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.Ollama()
	}
	return providertest.StartSim(t, b, opts...)
}

type recorder = providertest.Recorder

// newCall builds a call against baseURL (the sim's URL: the server root).
func newCall(baseURL string, req messages.Request) *providers.Call {
	return providertest.NewCall("ollama", baseURL, testKey, req)
}

func do(t *testing.T, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, ollama.New(), call)
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
	require.Equal(t, "ollama", ollama.New().Kind(), "Kind()")
}

func TestChat(t *testing.T) {
	tests := []struct {
		name       string
		req        messages.ChatRequest
		wantText   string
		wantFinish string
		wantCalls  int
		checkBody  func(t *testing.T, body map[string]any)
	}{
		{
			name:       "plain",
			req:        messages.ChatRequest{Model: "llama3.2", Messages: user("Hello there")},
			wantText:   "echo: Hello there",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				assert.True(t, body["stream"] == false, "stream = %v, want an explicit false (Ollama streams by default)", body["stream"])
				for _, k := range []string{"tools", "options"} {
					_, ok := body[k]
					assert.False(t, ok, "body has %q though the request did not set it", k)
				}
			},
		},
		{
			name: "system prompt, sampling and extra",
			req: messages.ChatRequest{Model: "llama3.2:latest", System: "Be brief.", Temperature: ptr(0.0), TopP: ptr(0.5), Stop: []string{"END"},
				Messages: user("Hi"),
				Extra:    map[string]any{"keep_alive": "10m", "model": "not-this-one", "stream": true, "options": map[string]any{"seed": 7, "temperature": 1.5}}},
			wantText:   "echo: Hi",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				msgs := body["messages"].([]any)
				first := msgs[0].(map[string]any)
				assert.True(t, first["role"] == "system", "first message = %v, want the system prompt", first)
				assert.True(t, first["content"] == "Be brief.", "first message = %v, want the system prompt", first)
				assert.True(t, body["model"] == "llama3.2:latest", "body = %v: want own model and stream, extra keep_alive", body)
				assert.True(t, body["keep_alive"] == "10m", "body = %v: want own model and stream, extra keep_alive", body)
				assert.True(t, body["stream"] == false, "body = %v: want own model and stream, extra keep_alive", body)
				opts := body["options"].(map[string]any)
				assert.True(t, opts["temperature"] == 0.0, "options = %v: want own temperature 0, top_p, extra seed", opts)
				assert.True(t, opts["top_p"] == 0.5, "options = %v: want own temperature 0, top_p, extra seed", opts)
				assert.True(t, opts["seed"] == 7.0, "options = %v: want own temperature 0, top_p, extra seed", opts)
				stop := opts["stop"].([]any)
				if assert.Len(t, stop, 1, "stop = %v", stop) {
					assert.True(t, stop[0] == "END", "stop = %v", stop)
				}
			},
		},
		{
			name:       "max tokens truncates",
			req:        messages.ChatRequest{Model: "llama3.2", MaxTokens: 3, Messages: user("one two three four five")},
			wantText:   "echo: one two",
			wantFinish: messages.FinishLength,
			checkBody: func(t *testing.T, body map[string]any) {
				assert.True(t, body["options"].(map[string]any)["num_predict"] == 3.0, "options = %v", body["options"])
			},
		},
		{
			name: "images inline and as data URL",
			req: messages.ChatRequest{Model: "llava", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
				{Type: messages.PartText, Text: "What is in these?"},
				{Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"},
				{Type: messages.PartImage, ImageURL: "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes)},
			}}}},
			wantText:   "echo: What is in these? [2 images]",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				m := body["messages"].([]any)[0].(map[string]any)
				want := base64.StdEncoding.EncodeToString(pngBytes)
				imgs := m["images"].([]any)
				assert.False(t, m["content"] != "What is in these?" || len(imgs) != 2 || imgs[0] != want || imgs[1] != want, "message = %v", m)
			},
		},
		{
			name:       "tool call",
			req:        messages.ChatRequest{Model: "llama3.2", Tools: []messages.Tool{weatherTool}, Messages: user("What is the weather in Tokyo?")},
			wantFinish: messages.FinishToolCalls,
			wantCalls:  1,
			checkBody: func(t *testing.T, body map[string]any) {
				tools := body["tools"].([]any)
				fn := tools[0].(map[string]any)["function"].(map[string]any)
				assert.False(t, tools[0].(map[string]any)["type"] != "function" || fn["name"] != "get_weather" || fn["parameters"].(map[string]any)["type"] != "object", "tools = %v", tools)
			},
		},
		{
			name:       "tool choice none leaves the tools out",
			req:        messages.ChatRequest{Model: "llava", Tools: []messages.Tool{weatherTool}, ToolChoice: "none", Messages: user("weather in Oslo")},
			wantText:   "echo: weather in Oslo",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				_, ok := body["tools"]
				assert.False(t, ok, "tools sent with tool choice none")
			},
		},
		{
			name:       "tool without parameters",
			req:        messages.ChatRequest{Model: "llama3.2", Tools: []messages.Tool{{Name: "now"}}, Messages: user("what time is it")},
			wantText:   "echo: what time is it",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				fn := body["tools"].([]any)[0].(map[string]any)["function"].(map[string]any)
				assert.True(t, fn["parameters"].(map[string]any)["type"] == "object", "parameters = %v", fn["parameters"])
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv.URL, &req)
			resp, err := do(t, call)
			require.NoError(t, err)
			cr := resp.(*messages.ChatResponse)
			if tt.wantCalls == 0 {
				require.Equal(t, tt.wantText, cr.Content, "content")
			}
			require.Len(t, cr.ToolCalls, tt.wantCalls, "tool calls %+v finish %q (raw %q)", cr.ToolCalls, cr.FinishReason, cr.RawFinishReason)
			require.Equal(t, tt.wantFinish, cr.FinishReason, "tool calls %+v finish %q (raw %q)", cr.ToolCalls, cr.FinishReason, cr.RawFinishReason)
			if tt.wantCalls > 0 {
				tc := cr.ToolCalls[0]
				require.NotEqual(t, "", tc.ID, "tool call %+v", tc)
				require.Equal(t, "get_weather", tc.Name, "tool call %+v", tc)
				require.Equal(t, `{"city":"Tokyo"}`, string(tc.Arguments), "tool call %+v", tc)
			}
			in, out := srv.Usage()
			require.Equal(t, in, cr.Usage.InputTokens, "usage %+v, server %d/%d, result %+v", cr.Usage, in, out, call.Result.Usage)
			require.Equal(t, out, cr.Usage.OutputTokens, "usage %+v, server %d/%d, result %+v", cr.Usage, in, out, call.Result.Usage)
			require.NotEqual(t, 0, in, "usage %+v, server %d/%d, result %+v", cr.Usage, in, out, call.Result.Usage)
			require.NotEqual(t, 0, out, "usage %+v, server %d/%d, result %+v", cr.Usage, in, out, call.Result.Usage)
			require.True(t, call.Result.Usage == cr.Usage, "usage %+v, server %d/%d, result %+v", cr.Usage, in, out, call.Result.Usage)
			require.Equal(t, call.RequestID, cr.RequestID, "meta %+v", cr.Meta)
			require.Equal(t, "ollama", cr.Provider, "meta %+v", cr.Meta)
			require.Equal(t, "primary", cr.Key, "meta %+v", cr.Meta)
			require.Equal(t, "sim-"+call.RequestID, cr.UpstreamRequestID, "meta %+v", cr.Meta)
			rec := srv.Requests()[0]
			require.Equal(t, http.MethodPost, rec.Method, "request %s %s %q", rec.Method, rec.Path, rec.Header.Get("Content-Type"))
			require.Equal(t, "/api/chat", rec.Path, "request %s %s %q", rec.Method, rec.Path, rec.Header.Get("Content-Type"))
			require.Equal(t, "application/json", rec.Header.Get("Content-Type"), "request %s %s %q", rec.Method, rec.Path, rec.Header.Get("Content-Type"))
			require.Equal(t, 0, srv.InvalidCalls(), "the simulator rejected the request")
			tt.checkBody(t, lastBody(t, srv))
		})
	}
}

func TestChatToolRoundTrip(t *testing.T) {
	srv := startSim(t, nil)
	conv := user("What is the weather in Oslo?")
	call := newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Tools: []messages.Tool{weatherTool}, Messages: conv})
	resp, err := do(t, call)
	require.NoError(t, err)
	cr := resp.(*messages.ChatResponse)
	require.Len(t, cr.ToolCalls, 1, "no tool call: %+v", cr)
	tc := cr.ToolCalls[0]
	conv = append(conv,
		messages.Message{Role: "assistant", ToolCalls: cr.ToolCalls},
		messages.Message{Role: "tool", ToolCallID: tc.ID, Content: "11 degrees celsius"})
	call = newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Tools: []messages.Tool{weatherTool}, Messages: conv})
	resp, err = do(t, call)
	require.NoError(t, err)
	require.Equal(t, "The tool returned: 11 degrees celsius", resp.(*messages.ChatResponse).Content, "content")
	msgs := lastBody(t, srv)["messages"].([]any)
	asst, tool := msgs[1].(map[string]any), msgs[2].(map[string]any)
	fn := asst["tool_calls"].([]any)[0].(map[string]any)["function"].(map[string]any)
	require.True(t, asst["content"] == "", "assistant turn %v: want content \"\" and arguments as an object", asst)
	require.True(t, fn["name"] == "get_weather", "assistant turn %v: want content \"\" and arguments as an object", asst)
	require.True(t, fn["arguments"].(map[string]any)["city"] == "Oslo", "assistant turn %v: want content \"\" and arguments as an object", asst)
	require.True(t, tool["tool_name"] == "get_weather", "tool turn %v", tool)
	require.True(t, tool["tool_call_id"] == tc.ID, "tool turn %v", tool)
	require.True(t, tool["content"] == "11 degrees celsius", "tool turn %v", tool)
}

func TestChatStream(t *testing.T) {
	tests := []struct {
		name  string
		req   messages.ChatRequest
		check func(t *testing.T, cr *messages.ChatResponse, chunks []messages.StreamChunk)
	}{
		{
			name: "text",
			req:  messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("stream me a few words please")},
			check: func(t *testing.T, cr *messages.ChatResponse, chunks []messages.StreamChunk) {
				var text strings.Builder
				nText := 0
				for _, ch := range chunks {
					if ch.Type == messages.ChunkText {
						text.WriteString(ch.Text)
						nText++
					}
				}
				want := "echo: stream me a few words please"
				require.Equal(t, want, text.String(), "streamed %q, aggregated %q", text.String(), cr.Content)
				require.Equal(t, want, cr.Content, "streamed %q, aggregated %q", text.String(), cr.Content)
				require.GreaterOrEqual(t, nText, 3, "%d text chunks, finish %q", nText, cr.FinishReason)
				require.Equal(t, messages.FinishStop, cr.FinishReason, "%d text chunks, finish %q", nText, cr.FinishReason)
				require.Equal(t, "stop", cr.RawFinishReason, "%d text chunks, finish %q", nText, cr.FinishReason)
			},
		},
		{
			name: "tool call",
			req:  messages.ChatRequest{Model: "llama3.2", Stream: true, Tools: []messages.Tool{weatherTool}, Messages: user("weather in Oslo")},
			check: func(t *testing.T, cr *messages.ChatResponse, chunks []messages.StreamChunk) {
				var calls []*messages.ToolCallDelta
				for _, ch := range chunks {
					if ch.Type == messages.ChunkToolCall {
						calls = append(calls, ch.ToolCall)
					}
				}
				require.Len(t, calls, 1, "tool call chunks %+v", calls)
				require.NotEqual(t, "", calls[0].ID, "tool call chunks %+v", calls)
				require.Equal(t, "get_weather", calls[0].Name, "tool call chunks %+v", calls)
				require.Equal(t, `{"city":"Oslo"}`, calls[0].Arguments, "tool call chunks %+v", calls)
				require.Equal(t, 0, calls[0].Index, "tool call chunks %+v", calls)
				require.Len(t, cr.ToolCalls, 1, "aggregated %+v", cr)
				require.Equal(t, calls[0].ID, cr.ToolCalls[0].ID, "aggregated %+v", cr)
				require.Equal(t, messages.FinishToolCalls, cr.FinishReason, "aggregated %+v", cr)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv.URL, &req)
			rec := &recorder{}
			call.Emit = rec.Emit
			resp, err := do(t, call)
			require.NoError(t, err)
			cr := resp.(*messages.ChatResponse)
			chunks := rec.All()
			for i, ch := range chunks {
				require.Equal(t, i, ch.Seq, "chunk %d has seq %d request %q", i, ch.Seq, ch.RequestID)
				require.Equal(t, call.RequestID, ch.RequestID, "chunk %d has seq %d request %q", i, ch.Seq, ch.RequestID)
			}
			last := chunks[len(chunks)-1]
			in, out := srv.Usage()
			require.Equal(t, messages.ChunkUsage, last.Type, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, in, last.Usage.InputTokens, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, out, last.Usage.OutputTokens, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.True(t, cr.Usage == *last.Usage, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.NotEqual(t, 0, in, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, len(chunks), call.Result.ChunksSent, "result %+v after %d chunks", call.Result, len(chunks))
			require.True(t, call.Result.Usage == cr.Usage, "result %+v after %d chunks", call.Result, len(chunks))
			body := lastBody(t, srv)
			require.True(t, body["stream"] == true, "stream body %v", body)
			require.Equal(t, "application/x-ndjson", srv.Requests()[0].Header.Get("Accept"), "Accept")
			tt.check(t, cr, chunks)
		})
	}
}

func TestGenerate(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			srv := startSim(t, nil)
			call := newCall(srv.URL, &messages.GenerateRequest{Model: "llama3.2", Prompt: "why is the sky blue", MaxTokens: 4, Temperature: ptr(0.2), Stream: stream,
				Extra: map[string]any{"system": "be terse", "raw": false}})
			rec := &recorder{}
			call.Emit = rec.Emit
			resp, err := do(t, call)
			require.NoError(t, err)
			gr := resp.(*messages.GenerateResponse)
			in, out := srv.Usage()
			require.Equal(t, "echo: why is the", gr.Text, "response %+v", gr)
			require.Equal(t, messages.FinishLength, gr.FinishReason, "response %+v", gr)
			require.Equal(t, "llama3.2", gr.Model, "response %+v", gr)
			require.Equal(t, in, gr.Usage.InputTokens, "usage %+v, server %d/%d", gr.Usage, in, out)
			require.Equal(t, out, gr.Usage.OutputTokens, "usage %+v, server %d/%d", gr.Usage, in, out)
			require.Equal(t, 7, in, "usage %+v, server %d/%d", gr.Usage, in, out)
			require.Equal(t, 4, out, "usage %+v, server %d/%d", gr.Usage, in, out)
			body := lastBody(t, srv)
			require.Equal(t, "/api/generate", srv.Requests()[0].Path, "body %v", body)
			require.True(t, body["stream"] == stream, "body %v", body)
			require.True(t, body["system"] == "be terse", "body %v", body)
			require.True(t, body["prompt"] == "why is the sky blue", "body %v", body)
			opts := body["options"].(map[string]any)
			require.True(t, opts["num_predict"] == 4.0, "options %v", opts)
			require.True(t, opts["temperature"] == 0.2, "options %v", opts)
			chunks := rec.All()
			if !stream {
				require.Len(t, chunks, 0, "chunks for a plain answer")
				return
			}
			var text strings.Builder
			for _, ch := range chunks[:len(chunks)-1] {
				require.Equal(t, messages.ChunkText, ch.Type, "chunk %+v before the usage", ch)
				text.WriteString(ch.Text)
			}
			require.Equal(t, gr.Text, text.String(), "chunks %+v", chunks)
			require.Equal(t, messages.ChunkUsage, chunks[len(chunks)-1].Type, "chunks %+v", chunks)
			require.GreaterOrEqual(t, len(chunks), 3, "chunks %+v", chunks)
		})
	}
}

func TestEmbed(t *testing.T) {
	tests := []struct {
		name    string
		req     messages.EmbedRequest
		wantDim int
	}{
		{"one input", messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"hello world"}}, 8},
		{"several inputs", messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"alpha", "beta gamma", "delta", "epsilon zeta eta"}}, 8},
		{"dimensions and truncate", messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"a", "b"}, Dimensions: 4, Truncate: ptr(false), Normalize: ptr(true)}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv.URL, &req)
			resp, err := do(t, call)
			require.NoError(t, err)
			er := resp.(*messages.EmbedResponse)
			require.Len(t, er.Vectors, len(req.Inputs), "%d vectors for %d inputs", len(er.Vectors), len(req.Inputs))
			for i, in := range req.Inputs {
				want := sim.OpenAIEmbedding(in, tt.wantDim)
				require.True(t, slices.Equal(er.Vectors[i], want), "vector %d = %v, want the embedding of %q", i, er.Vectors[i], in)
			}
			in, _ := srv.Usage()
			require.Equal(t, in, er.Usage.InputTokens, "usage %+v server %d", er.Usage, in)
			require.NotEqual(t, 0, in, "usage %+v server %d", er.Usage, in)
			require.True(t, call.Result.Usage == er.Usage, "usage %+v server %d", er.Usage, in)
			body := lastBody(t, srv)
			inputs, ok := body["input"].([]any)
			require.True(t, ok, "input %v: want a list", body["input"])
			require.Len(t, inputs, len(req.Inputs), "input %v: want a list", body["input"])
			if req.Dimensions > 0 {
				require.True(t, body["dimensions"] == 4.0, "body %v", body)
				require.True(t, body["truncate"] == false, "body %v", body)
			}
		})
	}
}

func TestAuthHeader(t *testing.T) {
	srv := startSim(t, nil)
	call := newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Messages: user("hi")})
	call.Key = providers.NewCredential("none", "")
	_, err := do(t, call)
	require.NoError(t, err)
	h, ok := srv.Requests()[0].Header["Authorization"]
	require.False(t, ok, "Authorization %q sent without a key", h)
	_, err = do(t, newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Messages: user("hi")}))
	require.NoError(t, err)
	require.Equal(t, "Bearer "+testKey, srv.Requests()[1].Header.Get("Authorization"), "key not sent as a bearer token")
}

func TestStreamFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     sim.Fault
		req       messages.Request
		wantClass messages.ErrorClass
	}{
		{"chat cut", sim.Fault{CutAfter: 2}, &messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("a b c d e f g h")}, messages.ClassStreamCut},
		{"chat cut before done", sim.Fault{CutAfter: 5}, &messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("a b c d e f g h")}, messages.ClassStreamCut},
		{"chat stall", sim.Fault{StallAfter: 1}, &messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("a b c")}, messages.ClassTimeout},
		{"generate cut", sim.Fault{CutAfter: 1}, &messages.GenerateRequest{Model: "llama3.2", Stream: true, Prompt: "a b c d e f g"}, messages.ClassStreamCut},
		{"generate stall", sim.Fault{StallAfter: 2, ChunkDelay: 10 * time.Millisecond}, &messages.GenerateRequest{Model: "llama3.2", Stream: true, Prompt: "a b c d e"}, messages.ClassTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(tt.fault)
			call := newCall(srv.URL, tt.req)
			call.Client.IdleTimeout = 200 * time.Millisecond
			rec := &recorder{}
			call.Emit = rec.Emit
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v (retryable %v), want %v: %v", ue.Class, ue.Retryable(), tt.wantClass, ue)
			require.True(t, ue.Retryable(), "class %v (retryable %v), want %v: %v", ue.Class, ue.Retryable(), tt.wantClass, ue)
			require.Equal(t, http.StatusOK, ue.Status, "error fields %+v", ue)
			require.Equal(t, call.RequestID, ue.RequestID, "error fields %+v", ue)
			require.Equal(t, "primary", ue.Key, "error fields %+v", ue)
			require.NotEqual(t, 0, call.Result.ChunksSent, "no chunk reached the caller before the fault")
			in, out := srv.Usage()
			require.Equal(t, 0, in, "an unfinished stream counted usage %d/%d", in, out)
			require.Equal(t, 0, out, "an unfinished stream counted usage %d/%d", in, out)
		})
	}
}

func TestCallerGoneStopsStream(t *testing.T) {
	srv := startSim(t, nil)
	call := newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("a b c d e f g h i j k")})
	n := 0
	call.Emit = func(*messages.StreamChunk) bool { n++; return n < 2 }
	_, err := do(t, call)
	require.Equal(t, messages.ClassCancelled, upstreamErr(t, err).Class, "class")
	require.Equal(t, 2, n, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
	require.Equal(t, 1, call.Result.ChunksSent, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
}

func TestMalformed(t *testing.T) {
	reqs := []messages.Request{
		&messages.ChatRequest{Model: "llama3.2", Messages: user("x")},
		&messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("x")},
		&messages.GenerateRequest{Model: "llama3.2", Prompt: "x"},
		&messages.GenerateRequest{Model: "llama3.2", Prompt: "x", Stream: true},
		&messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"x"}},
		&messages.ModelsRequest{},
		&messages.InfoRequest{What: "version"},
		&messages.InfoRequest{What: "show", Model: "llava"},
	}
	for i, req := range reqs {
		t.Run(fmt.Sprintf("%d %s", i, req.Operation()), func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(sim.Fault{Malformed: true})
			_, err := do(t, newCall(srv.URL, req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v status %d: %v", ue.Class, ue.Status, ue)
			require.Equal(t, 200, ue.Status, "class %v status %d: %v", ue.Class, ue.Status, ue)
		})
	}
}

// TestMalformedAnswers feeds well-formed JSON with the wrong content.
func TestMalformedAnswers(t *testing.T) {
	chat := &messages.ChatRequest{Model: "m", Messages: user("x")}
	tests := []struct {
		name string
		req  messages.Request
		body string
	}{
		{"chat not done", chat, `{"model":"m","message":{"role":"assistant","content":"hi"},"done":false}`},
		{"chat wrong types", chat, `{"model":"m","message":{"role":"assistant","content":5},"done":true}`},
		{"chat null", chat, `null`},
		{"generate wrong usage type", &messages.GenerateRequest{Model: "m", Prompt: "x"}, `{"response":"hi","done":true,"eval_count":"many"}`},
		{"embed missing vector", &messages.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}}, `{"embeddings":[[1]]}`},
		{"embed empty vector", &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}, `{"embeddings":[[]]}`},
		{"tags without models", &messages.ModelsRequest{}, `{}`},
		{"tags model without name", &messages.ModelsRequest{}, `{"models":[{"size":1}]}`},
		{"version empty", &messages.InfoRequest{What: "version"}, `{}`},
		{"show not an object", &messages.InfoRequest{What: "show", Model: "m"}, `[1]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			_, err := do(t, newCall(hs.URL, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v: %v", ue.Class, ue)
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name          string
		fault         sim.Fault
		reject        int
		keys          []string
		req           func(stream bool) messages.Request
		wantClass     messages.ErrorClass
		wantStatus    int
		wantRetry     time.Duration
		wantRetryable bool
		wantMessage   string
	}{
		{name: "404 model not found", req: func(s bool) messages.Request {
			return &messages.ChatRequest{Model: "llama9", Stream: s, Messages: user("x")}
		}, wantClass: messages.ClassInvalid, wantStatus: 404, wantMessage: `model "llama9" not found, try pulling it first`},
		{name: "400 tools unsupported", req: func(s bool) messages.Request {
			return &messages.ChatRequest{Model: "llava", Stream: s, Tools: []messages.Tool{weatherTool}, Messages: user("x")}
		}, wantClass: messages.ClassInvalid, wantStatus: 400, wantMessage: "registry.ollama.ai/library/llava:latest does not support tools"},
		{name: "400 chat on an embedding model", req: func(s bool) messages.Request {
			return &messages.ChatRequest{Model: "embeddinggemma", Stream: s, Messages: user("x")}
		}, wantClass: messages.ClassInvalid, wantStatus: 400, wantMessage: `"embeddinggemma" does not support chat`},
		{name: "503 busy", fault: sim.Fault{Status: 503}, wantClass: messages.ClassServer, wantStatus: 503, wantRetryable: true, wantMessage: sim.OllamaBusyMessage},
		{name: "503 busy with retry-after", fault: sim.Fault{Status: 503, Header: map[string]string{"Retry-After": "1"}}, wantClass: messages.ClassServer, wantStatus: 503, wantRetry: time.Second, wantRetryable: true},
		{name: "500", fault: sim.Fault{Status: 500, Body: `{"error":"llama runner process has terminated: exit status 2"}`}, wantClass: messages.ClassServer, wantStatus: 500, wantRetryable: true, wantMessage: "llama runner process has terminated: exit status 2"},
		{name: "502 html", fault: sim.Fault{Status: 502, Body: "<html>bad gateway</html>"}, wantClass: messages.ClassServer, wantStatus: 502, wantRetryable: true},
		{name: "429 cloud rate limit", fault: sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "3"}}, wantClass: messages.ClassRateLimited, wantStatus: 429, wantRetry: 3 * time.Second, wantRetryable: true},
		{name: "401 behind a proxy", keys: []string{"another-key"}, wantClass: messages.ClassAuth, wantStatus: 401, wantMessage: "unauthorized"},
		{name: "403 revoked key", reject: 403, wantClass: messages.ClassAuth, wantStatus: 403},
		{name: "400 plain text", fault: sim.Fault{Status: 400, Body: "bad things"}, wantClass: messages.ClassInvalid, wantStatus: 400, wantMessage: "bad things"},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tt.name, stream), func(t *testing.T) {
				var opts []sim.Option
				if tt.keys != nil {
					opts = append(opts, sim.WithKeys(tt.keys...))
				}
				srv := startSim(t, nil, opts...)
				switch {
				case tt.reject != 0:
					srv.RejectKey(testKey, tt.reject)
				case tt.fault.Status != 0:
					srv.Inject(tt.fault)
				}
				var req messages.Request = &messages.ChatRequest{Model: "llama3.2", Stream: stream, Messages: user("x")}
				if tt.req != nil {
					req = tt.req(stream)
				}
				call := newCall(srv.URL, req)
				rec := &recorder{}
				call.Emit = rec.Emit
				_, err := do(t, call)
				ue := upstreamErr(t, err)
				require.Equal(t, tt.wantClass, ue.Class, "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantStatus, ue.Status, "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantRetry, ue.RetryAfter, "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantRetryable, ue.Retryable(), "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				if tt.wantMessage != "" {
					require.Equal(t, tt.wantMessage, ue.Message, "message %q, want %q", ue.Message, tt.wantMessage)
				}
				require.NotEqual(t, "", ue.Message, "message %q, want %q", ue.Message, tt.wantMessage)
				require.ErrorIs(t, err, messages.ErrUpstream, "message %q, want %q", ue.Message, tt.wantMessage)
				require.Equal(t, "sim-"+call.RequestID, ue.UpstreamRequestID, "upstream id %q, result status %d, %d chunks", ue.UpstreamRequestID, call.Result.Status, len(rec.All()))
				require.Equal(t, tt.wantStatus, call.Result.Status, "upstream id %q, result status %d, %d chunks", ue.UpstreamRequestID, call.Result.Status, len(rec.All()))
				require.Len(t, rec.All(), 0, "upstream id %q, result status %d, %d chunks", ue.UpstreamRequestID, call.Result.Status, len(rec.All()))
			})
		}
	}
}

func TestInStreamErrors(t *testing.T) {
	tests := []struct {
		name      string
		generate  bool
		body      string
		wantClass messages.ErrorClass
		wantMsg   string
		wantSent  int
	}{
		{"error line after text", false, "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n{\"error\":\"an error was encountered while running the model: unexpected EOF\"}\n",
			messages.ClassServer, "an error was encountered while running the model: unexpected EOF", 1},
		{"error line first", true, "{\"error\":\"model \\\"x\\\" not found, try pulling it first\"}\n", messages.ClassInvalid, `model "x" not found, try pulling it first`, 0},
		{"error object", false, "{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n", messages.ClassServer, "overloaded", 0},
		{"bad json", false, "{\"message\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"done\":false}\n{\"message\":\n", messages.ClassMalformed, "", 1},
		{"eof before done", true, "{\"response\":\"Hi\",\"done\":false}\n{\"response\":\" there\",\"done\":false}\n", messages.ClassStreamCut, "", 2},
		{"empty body", false, "", messages.ClassStreamCut, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-ndjson")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			var req messages.Request = &messages.ChatRequest{Model: "m", Stream: true, Messages: user("x")}
			if tt.generate {
				req = &messages.GenerateRequest{Model: "m", Stream: true, Prompt: "x"}
			}
			call := newCall(hs.URL, req)
			rec := &recorder{}
			call.Emit = rec.Emit
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v status %d message %q, want %v %q", ue.Class, ue.Status, ue.Message, tt.wantClass, tt.wantMsg)
			require.Equal(t, 200, ue.Status, "class %v status %d message %q, want %v %q", ue.Class, ue.Status, ue.Message, tt.wantClass, tt.wantMsg)
			if tt.wantMsg != "" {
				require.Equal(t, tt.wantMsg, ue.Message, "class %v status %d message %q, want %v %q", ue.Class, ue.Status, ue.Message, tt.wantClass, tt.wantMsg)
			}
			require.Equal(t, tt.wantSent, call.Result.ChunksSent, "%d chunks sent, want %d", call.Result.ChunksSent, tt.wantSent)
		})
	}
}

// TestTimings decodes the nanosecond durations of a finished answer.
func TestTimings(t *testing.T) {
	body := `{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"Hel"},"done":false}
{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"lo"},"done":false}
{"model":"llama3.2","created_at":"2025-07-07T20:22:19.19314Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":182242375,"load_duration":41295167,"prompt_eval_count":169,"prompt_eval_duration":24573166,"eval_count":15,"eval_duration":115959084}
`
	call := newCall("http://unused", &messages.ChatRequest{Model: "m", Stream: true, Messages: user("x")})
	rec := &recorder{}
	call.Emit = rec.Emit
	out, tm, err := ollama.DecodeChatStream(strings.NewReader(body), call, providers.NewEmitter(call))
	require.NoError(t, err)
	want := ollama.Timings{Total: 182242375, Load: 41295167, PromptEval: 24573166, Eval: 115959084}
	require.True(t, tm == want, "timings %+v, response %+v", tm, out)
	require.Equal(t, "Hello", out.Content, "timings %+v, response %+v", tm, out)
	require.True(t, out.Usage == (messages.Usage{InputTokens: 169, OutputTokens: 15}), "timings %+v, response %+v", tm, out)
	require.Equal(t, "llama3.2", out.Model, "timings %+v, response %+v", tm, out)
	require.Equal(t, 182242375*time.Nanosecond, tm.Total, "durations are not nanoseconds: %v", tm)
	require.Equal(t, int64(115), tm.Eval.Milliseconds(), "durations are not nanoseconds: %v", tm)
	gen := `{"response":"x","done":true,"done_reason":"length","total_duration":5,"load_duration":-1,"eval_count":1}` + "\n"
	gout, gtm, err := ollama.DecodeGenerateStream(strings.NewReader(gen), call, providers.NewEmitter(call))
	require.NoError(t, err)
	require.True(t, gtm == (ollama.Timings{Total: 5}), "timings %+v, response %+v", gtm, gout)
	require.Equal(t, "x", gout.Text, "timings %+v, response %+v", gtm, gout)
	require.Equal(t, messages.FinishLength, gout.FinishReason, "timings %+v, response %+v", gtm, gout)
}

func TestCheck(t *testing.T) {
	a := ollama.New()
	img := func(p messages.Part) []messages.Message {
		return []messages.Message{{Role: "user", Parts: []messages.Part{p}}}
	}
	tests := []struct {
		name string
		req  messages.Request
		want error
	}{
		{"chat ok", &messages.ChatRequest{Model: "m", Messages: user("x")}, nil},
		{"chat no model", &messages.ChatRequest{Messages: user("x")}, messages.ErrInvalidRequest},
		{"chat no messages", &messages.ChatRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"chat bad role", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "developer", Content: "x"}}}, messages.ErrInvalidRequest},
		{"chat image url", &messages.ChatRequest{Model: "m", Messages: img(messages.Part{Type: messages.PartImage, ImageURL: "https://example.com/a.png"})}, messages.ErrUnsupported},
		{"chat bad data url", &messages.ChatRequest{Model: "m", Messages: img(messages.Part{Type: messages.PartImage, ImageURL: "data:image/png;base64,!!!"})}, messages.ErrInvalidRequest},
		{"chat empty image", &messages.ChatRequest{Model: "m", Messages: img(messages.Part{Type: messages.PartImage})}, messages.ErrInvalidRequest},
		{"chat bad part", &messages.ChatRequest{Model: "m", Messages: img(messages.Part{Type: "audio"})}, messages.ErrInvalidRequest},
		{"chat string arguments", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "assistant", ToolCalls: []messages.ToolCall{{ID: "c", Name: "f", Arguments: json.RawMessage(`"{}"`)}}}}}, messages.ErrInvalidRequest},
		{"chat tool call without name", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "assistant", ToolCalls: []messages.ToolCall{{ID: "c"}}}}}, messages.ErrInvalidRequest},
		{"chat tool calls on a user turn", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", ToolCalls: []messages.ToolCall{{ID: "c", Name: "f"}}}}}, messages.ErrInvalidRequest},
		{"chat tool parameters not an object", &messages.ChatRequest{Model: "m", Messages: user("x"), Tools: []messages.Tool{{Name: "f", Parameters: json.RawMessage(`[1]`)}}}, messages.ErrInvalidRequest},
		{"chat tool without name", &messages.ChatRequest{Model: "m", Messages: user("x"), Tools: []messages.Tool{{}}}, messages.ErrInvalidRequest},
		{"chat tool choice required", &messages.ChatRequest{Model: "m", Messages: user("x"), Tools: []messages.Tool{weatherTool}, ToolChoice: "required"}, messages.ErrUnsupported},
		{"chat tool choice named", &messages.ChatRequest{Model: "m", Messages: user("x"), Tools: []messages.Tool{weatherTool}, ToolChoice: "get_weather"}, messages.ErrUnsupported},
		{"chat negative temperature", &messages.ChatRequest{Model: "m", Messages: user("x"), Temperature: ptr(-1.0)}, messages.ErrInvalidRequest},
		{"chat top_p over 1", &messages.ChatRequest{Model: "m", Messages: user("x"), TopP: ptr(1.5)}, messages.ErrInvalidRequest},
		{"chat negative max tokens", &messages.ChatRequest{Model: "m", Messages: user("x"), MaxTokens: -1}, messages.ErrInvalidRequest},
		{"chat options not an object", &messages.ChatRequest{Model: "m", Messages: user("x"), Extra: map[string]any{"options": 3}}, messages.ErrInvalidRequest},
		{"chat extra not JSON", &messages.ChatRequest{Model: "m", Messages: user("x"), Extra: map[string]any{"f": func() {}}}, messages.ErrInvalidRequest},
		{"generate ok", &messages.GenerateRequest{Model: "m", Prompt: "x"}, nil},
		{"generate no prompt", &messages.GenerateRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"generate no model", &messages.GenerateRequest{Prompt: "x"}, messages.ErrInvalidRequest},
		{"embed ok", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}}, nil},
		{"embed no inputs", &messages.EmbedRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"embed sparse", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}, Sparse: true}, messages.ErrUnsupported},
		{"embed no normalise", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}, Normalize: ptr(false)}, messages.ErrUnsupported},
		{"embed task type", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}, TaskType: "RETRIEVAL_QUERY"}, messages.ErrUnsupported},
		{"embed negative dimensions", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}, Dimensions: -2}, messages.ErrInvalidRequest},
		{"models", &messages.ModelsRequest{}, nil},
		{"info version", &messages.InfoRequest{What: "version"}, nil},
		{"info show without model", &messages.InfoRequest{What: "show"}, messages.ErrInvalidRequest},
		{"info unknown", &messages.InfoRequest{What: "metrics"}, messages.ErrUnsupported},
		{"rerank", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"d"}}, messages.ErrUnsupported},
		{"infer", &messages.InferRequest{Model: "m"}, messages.ErrUnsupported},
		{"responses", &messages.ResponsesRequest{Model: "m"}, messages.ErrUnsupported},
		{"nil", nil, messages.ErrUnsupported},
		{"typed nil", (*messages.ChatRequest)(nil), messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "Check")
				return
			}
			var re *messages.RequestError
			require.ErrorIs(t, err, tt.want, "Check = %v, want %v", err, tt.want)
			require.ErrorAs(t, err, &re, "Check = %v, want %v", err, tt.want)
			if tt.req == nil {
				return
			}
			// Do refuses the same request without sending it.
			srv := startSim(t, nil)
			_, derr := do(t, newCall(srv.URL, tt.req))
			ue := upstreamErr(t, derr)
			require.Equal(t, messages.ClassInvalid, ue.Class, "Do: class %v after %d calls", ue.Class, srv.Calls())
			require.Equal(t, 0, srv.Calls(), "Do: class %v after %d calls", ue.Class, srv.Calls())
		})
	}
}

// TestBusyQueue fills the simulator's queue (MaxPending) with one slow
// stream: the next request gets Ollama's 503, which is retryable.
func TestBusyQueue(t *testing.T) {
	srv := startSim(t, &sim.OllamaBackend{MaxPending: 1})
	srv.Inject(sim.Fault{ChunkDelay: 100 * time.Millisecond})
	first := newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Stream: true, Messages: user("a b c d e f g h")})
	started := make(chan struct{})
	var once sync.Once
	first.Emit = func(*messages.StreamChunk) bool { once.Do(func() { close(started) }); return true }
	done := make(chan error, 1)
	go func() {
		_, err := ollama.New().Do(context.Background(), first)
		done <- err
	}()
	<-started
	_, err := do(t, newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Messages: user("x")}))
	ue := upstreamErr(t, err)
	require.Equal(t, 503, ue.Status, "error %+v", ue)
	require.Equal(t, messages.ClassServer, ue.Class, "error %+v", ue)
	require.True(t, ue.Retryable(), "error %+v", ue)
	require.Equal(t, sim.OllamaBusyMessage, ue.Message, "error %+v", ue)
	require.NoError(t, (<-done), "the slow stream failed")
	// The slow handler leaves the queue just after its last line; the queue
	// frees up then.
	for i := 0; ; i++ {
		_, err := do(t, newCall(srv.URL, &messages.ChatRequest{Model: "llama3.2", Messages: user("x")}))
		if err == nil {
			break
		}
		require.NotEqual(t, 100, i, "queue still full: %v", err)
		time.Sleep(10 * time.Millisecond)
	}
}
