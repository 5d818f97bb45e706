package tgi_test

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
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/providers/tgi"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// testKey is a fake key; tests assert it never shows up in errors.
const testKey = "hf_test0123456789abcdefSECRET"

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

func startSim(t testing.TB, b *sim.TGIBackend) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.TGI()
	}
	return providertest.StartSim(t, b)
}

type recorder = providertest.Recorder

func newCall(srv *sim.Server, req messages.Request) *providers.Call {
	return newCallAt(srv.URL, req)
}

func newCallAt(baseURL string, req messages.Request) *providers.Call {
	return providertest.NewCall("tgi", baseURL, testKey, req)
}

func do(t *testing.T, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, tgi.New(), call)
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

func compact(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, json.Compact(&b, raw), "not JSON: %s", raw)
	return b.String()
}

func TestKind(t *testing.T) {
	require.Equal(t, "hf_tgi", tgi.New().Kind(), "kind")
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		name       string
		req        messages.GenerateRequest
		wantText   string
		wantFinish string
		wantRaw    string
		wantOut    int
		params     func(t *testing.T, p map[string]any)
	}{
		{
			name: "plain", req: messages.GenerateRequest{Model: "ignored", Prompt: "Hello there"},
			wantText: "echo: Hello there", wantFinish: messages.FinishStop, wantRaw: "eos_token", wantOut: 4,
			params: func(t *testing.T, p map[string]any) {
				require.Len(t, p, 1, "parameters %v: want details only", p)
				require.True(t, p["details"] == true, "parameters %v: want details only", p)
			},
		},
		{
			name: "max tokens", req: messages.GenerateRequest{Prompt: "one two three four", MaxTokens: 3},
			wantText: "echo: one two", wantFinish: messages.FinishLength, wantRaw: "length", wantOut: 3,
			params: func(t *testing.T, p map[string]any) {
				require.True(t, p["max_new_tokens"] == 3.0, "parameters %v", p)
			},
		},
		{
			name: "stop sequence, sampling and extra", req: messages.GenerateRequest{Prompt: "alpha beta gamma", Stop: []string{"beta"},
				Temperature: ptr(0.7), TopP: ptr(0.9), Extra: map[string]any{"top_k": 10, "seed": 7, "details": false, "add_special_tokens": false}},
			wantText: "echo: alpha beta", wantFinish: messages.FinishStop, wantRaw: "stop_sequence", wantOut: 3,
			params: func(t *testing.T, p map[string]any) {
				require.True(t, p["temperature"] == 0.7, "parameters %v", p)
				require.True(t, p["top_p"] == 0.9, "parameters %v", p)
				require.True(t, p["top_k"] == 10.0, "parameters %v", p)
				require.True(t, p["seed"] == 7.0, "parameters %v", p)
				require.True(t, p["details"] == true, "parameters %v", p)
				require.True(t, p["stop"].([]any)[0] == "beta", "parameters %v", p)
				_, has := p["add_special_tokens"]
				require.False(t, has, "add_special_tokens inside parameters")
			},
		},
		{
			name: "greedy temperature and full top_p left out", req: messages.GenerateRequest{Prompt: "x", Temperature: ptr(0.0), TopP: ptr(1.0),
				Extra: map[string]any{"temperature": 0.5, "return_full_text": true}},
			wantText: "xecho: x", wantFinish: messages.FinishStop, wantRaw: "eos_token", wantOut: 3,
			params: func(t *testing.T, p map[string]any) {
				_, has := p["temperature"]
				require.False(t, has, "temperature sent: %v", p)
				_, has = p["top_p"]
				require.False(t, has, "top_p sent: %v", p)
			},
		},
		{
			name: "json grammar", req: messages.GenerateRequest{Prompt: "Paris", Extra: map[string]any{"grammar": map[string]any{"type": "json",
				"value": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}},
			wantText: `{"city":"Paris"}`, wantFinish: messages.FinishStop, wantRaw: "eos_token", wantOut: 2,
			params: func(t *testing.T, p map[string]any) {
				require.True(t, p["grammar"].(map[string]any)["type"] == "json", "parameters %v", p)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv, &req)
			resp, err := do(t, call)
			require.NoError(t, err, "Do")
			gr := resp.(*messages.GenerateResponse)
			require.Equal(t, tt.wantText, gr.Text, "got %q finish %q (%q), want %q %q (%q)", gr.Text, gr.FinishReason, gr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			require.Equal(t, tt.wantFinish, gr.FinishReason, "got %q finish %q (%q), want %q %q (%q)", gr.Text, gr.FinishReason, gr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			require.Equal(t, tt.wantRaw, gr.RawFinishReason, "got %q finish %q (%q), want %q %q (%q)", gr.Text, gr.FinishReason, gr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			in, out := srv.Usage()
			require.Equal(t, in, gr.Usage.InputTokens, "usage %+v result %+v, server %d/%d", gr.Usage, call.Result.Usage, in, out)
			require.Equal(t, out, gr.Usage.OutputTokens, "usage %+v result %+v, server %d/%d", gr.Usage, call.Result.Usage, in, out)
			require.Equal(t, tt.wantOut, out, "usage %+v result %+v, server %d/%d", gr.Usage, call.Result.Usage, in, out)
			require.Equal(t, sim.Words(req.Prompt), in, "usage %+v result %+v, server %d/%d", gr.Usage, call.Result.Usage, in, out)
			require.True(t, call.Result.Usage == gr.Usage, "usage %+v result %+v, server %d/%d", gr.Usage, call.Result.Usage, in, out)
			rec := srv.Requests()[0]
			require.Equal(t, "/generate", rec.Path, "path %q, %d invalid, model %q, meta %+v", rec.Path, srv.InvalidCalls(), gr.Model, gr.Meta)
			require.Equal(t, 0, srv.InvalidCalls(), "path %q, %d invalid, model %q, meta %+v", rec.Path, srv.InvalidCalls(), gr.Model, gr.Meta)
			require.Equal(t, req.Model, gr.Model, "path %q, %d invalid, model %q, meta %+v", rec.Path, srv.InvalidCalls(), gr.Model, gr.Meta)
			require.Equal(t, "sim-"+call.RequestID, gr.UpstreamRequestID, "path %q, %d invalid, model %q, meta %+v", rec.Path, srv.InvalidCalls(), gr.Model, gr.Meta)
			body := lastBody(t, srv)
			require.True(t, body["inputs"] == req.Prompt, "body %v", body)
			require.LessOrEqual(t, len(body), 3, "body %v", body)
			_, has := body["model"]
			require.False(t, has, "model sent to /generate")
			tt.params(t, body["parameters"].(map[string]any))
		})
	}
}

func TestGenerateStream(t *testing.T) {
	tests := []struct {
		name       string
		req        messages.GenerateRequest
		wantWords  []string
		wantFinish string
	}{
		{"until eos", messages.GenerateRequest{Prompt: "stream me a few words", Stream: true},
			[]string{"echo:", " stream", " me", " a", " few", " words"}, messages.FinishStop},
		{"until length", messages.GenerateRequest{Prompt: "stream me a few words", MaxTokens: 3, Stream: true},
			[]string{"echo:", " stream", " me"}, messages.FinishLength},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv, &req)
			rec := &recorder{}
			call.Emit = rec.Emit
			resp, err := do(t, call)
			require.NoError(t, err)
			gr := resp.(*messages.GenerateResponse)
			chunks := rec.All()
			var words []string
			for i, ch := range chunks {
				require.Equal(t, i, ch.Seq, "chunk %d seq %d request %q", i, ch.Seq, ch.RequestID)
				require.Equal(t, call.RequestID, ch.RequestID, "chunk %d seq %d request %q", i, ch.Seq, ch.RequestID)
				if ch.Type == messages.ChunkText {
					words = append(words, ch.Text)
				}
			}
			require.True(t, slices.Equal(words, tt.wantWords), "streamed %q, text %q finish %q", words, gr.Text, gr.FinishReason)
			require.Equal(t, strings.Join(tt.wantWords, ""), gr.Text, "streamed %q, text %q finish %q", words, gr.Text, gr.FinishReason)
			require.Equal(t, tt.wantFinish, gr.FinishReason, "streamed %q, text %q finish %q", words, gr.Text, gr.FinishReason)
			last := chunks[len(chunks)-1]
			in, out := srv.Usage()
			require.Equal(t, messages.ChunkUsage, last.Type, "last chunk %+v usage %+v server %d/%d", last, gr.Usage, in, out)
			require.Equal(t, in, last.Usage.InputTokens, "last chunk %+v usage %+v server %d/%d", last, gr.Usage, in, out)
			require.Equal(t, out, last.Usage.OutputTokens, "last chunk %+v usage %+v server %d/%d", last, gr.Usage, in, out)
			require.True(t, gr.Usage == *last.Usage, "last chunk %+v usage %+v server %d/%d", last, gr.Usage, in, out)
			require.Equal(t, 5, in, "last chunk %+v usage %+v server %d/%d", last, gr.Usage, in, out)
			require.Len(t, chunks, call.Result.ChunksSent, "result %+v after %d chunks", call.Result, len(chunks))
			require.True(t, call.Result.Usage == gr.Usage, "result %+v after %d chunks", call.Result, len(chunks))
			r := srv.Requests()[0]
			require.Equal(t, "/generate_stream", r.Path, "path %q accept %q", r.Path, r.Header.Get("Accept"))
			require.Equal(t, "text/event-stream", r.Header.Get("Accept"), "path %q accept %q", r.Path, r.Header.Get("Accept"))
		})
	}
}

var weatherTool = messages.Tool{
	Name:        "get_weather",
	Description: "Current weather for a city",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
}

func TestChat(t *testing.T) {
	tests := []struct {
		name       string
		req        messages.ChatRequest
		wantText   string
		wantFinish string
		wantRaw    string
		check      func(t *testing.T, body map[string]any)
	}{
		{
			name: "plain without model", req: messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "Hello there"}}},
			wantText: "echo: Hello there", wantFinish: messages.FinishStop, wantRaw: "stop",
			check: func(t *testing.T, body map[string]any) {
				require.True(t, body["model"] == "tgi", "model")
			},
		},
		{
			name: "system, sampling, max tokens", req: messages.ChatRequest{Model: "tgi", System: "Be brief.", Temperature: ptr(0.5), TopP: ptr(1.0), MaxTokens: 2,
				Messages: []messages.Message{{Role: "user", Content: "one two three"}}},
			wantText: "echo: one", wantFinish: messages.FinishLength, wantRaw: "length",
			check: func(t *testing.T, body map[string]any) {
				require.True(t, body["max_tokens"] == 2.0, "body %v", body)
				require.True(t, body["temperature"] == 0.5, "body %v", body)
				require.True(t, body["messages"].([]any)[0].(map[string]any)["role"] == "system", "body %v", body)
				for _, k := range []string{"max_completion_tokens", "top_p"} {
					_, has := body[k]
					require.False(t, has, "%s sent: %v", k, body)
				}
			},
		},
		{
			name: "stop sequence", req: messages.ChatRequest{Model: "tgi", Stop: []string{"two"}, Messages: []messages.Message{{Role: "user", Content: "one two three"}}},
			wantText: "echo: one two", wantFinish: messages.FinishStop, wantRaw: "stop_sequence",
			check: func(t *testing.T, body map[string]any) {},
		},
		{
			name: "images and grammar", req: messages.ChatRequest{Model: "tgi", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
				{Type: messages.PartText, Text: "What is this?"}, {Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"},
			}}}, Extra: map[string]any{"response_format": map[string]any{"type": "regex", "value": "[a-z]+"}}},
			wantText: "What is this? [1 image]", wantFinish: messages.FinishStop, wantRaw: "stop",
			check: func(t *testing.T, body map[string]any) {
				require.True(t, body["response_format"].(map[string]any)["type"] == "regex", "body %v", body)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv, &req)
			resp, err := do(t, call)
			require.NoError(t, err, "Do")
			cr := resp.(*messages.ChatResponse)
			require.Equal(t, tt.wantText, cr.Content, "got %q finish %q (%q), want %q %q (%q)", cr.Content, cr.FinishReason, cr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			require.Equal(t, tt.wantFinish, cr.FinishReason, "got %q finish %q (%q), want %q %q (%q)", cr.Content, cr.FinishReason, cr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			require.Equal(t, tt.wantRaw, cr.RawFinishReason, "got %q finish %q (%q), want %q %q (%q)", cr.Content, cr.FinishReason, cr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			in, out := srv.Usage()
			require.Equal(t, in, cr.Usage.InputTokens, "usage %+v result %+v server %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.Equal(t, out, cr.Usage.OutputTokens, "usage %+v result %+v server %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.NotEqual(t, 0, out, "usage %+v result %+v server %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.True(t, call.Result.Usage == cr.Usage, "usage %+v result %+v server %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.Equal(t, "/v1/chat/completions", srv.Requests()[0].Path, "path %q invalid %d model %q", srv.Requests()[0].Path, srv.InvalidCalls(), cr.Model)
			require.Equal(t, 0, srv.InvalidCalls(), "path %q invalid %d model %q", srv.Requests()[0].Path, srv.InvalidCalls(), cr.Model)
			require.NotEqual(t, "", cr.Model, "path %q invalid %d model %q", srv.Requests()[0].Path, srv.InvalidCalls(), cr.Model)
			require.Equal(t, call.RequestID, cr.RequestID, "meta %+v", cr.Meta)
			require.Equal(t, "tgi", cr.Provider, "meta %+v", cr.Meta)
			require.Equal(t, "primary", cr.Key, "meta %+v", cr.Meta)
			tt.check(t, lastBody(t, srv))
		})
	}
}

func TestChatToolRoundTrip(t *testing.T) {
	srv := startSim(t, nil)
	conv := []messages.Message{{Role: "user", Content: "What is the weather in Paris?"}}
	resp, err := do(t, newCall(srv, &messages.ChatRequest{Model: "tgi", Messages: conv, Tools: []messages.Tool{weatherTool, {Name: "no_params"}}, ToolChoice: "auto"}))
	require.NoError(t, err)
	cr := resp.(*messages.ChatResponse)
	require.Equal(t, string(messages.FinishToolCalls), cr.FinishReason, "want one tool call, got %+v", cr)
	require.Equal(t, "stop", cr.RawFinishReason, "want one tool call, got %+v", cr)
	require.Len(t, cr.ToolCalls, 1, "want one tool call, got %+v", cr)
	require.Equal(t, "", cr.Content, "want one tool call, got %+v", cr)
	tc := cr.ToolCalls[0]
	require.Equal(t, "get_weather", tc.Name, "tool call %+v args %s", tc, tc.Arguments)
	require.NotEqual(t, "", tc.ID, "tool call %+v args %s", tc, tc.Arguments)
	require.Equal(t, `{"city":"Paris"}`, compact(t, tc.Arguments), "tool call %+v args %s", tc, tc.Arguments)
	tools := lastBody(t, srv)["tools"].([]any)
	for _, tl := range tools {
		fn := tl.(map[string]any)["function"].(map[string]any)
		_, has := fn["parameters"]
		require.False(t, has, "tool function %v: want the schema under arguments", fn)
		require.True(t, fn["arguments"] != nil, "tool function %v: want the schema under arguments", fn)
	}

	conv = append(conv, messages.Message{Role: "assistant", Content: "Let me check.", ToolCalls: cr.ToolCalls},
		messages.Message{Role: "tool", ToolCallID: tc.ID, Content: `{"temp_c":21}`})
	resp, err = do(t, newCall(srv, &messages.ChatRequest{Model: "tgi", Messages: conv, Tools: []messages.Tool{weatherTool}, ToolChoice: "get_weather"}))
	require.NoError(t, err)
	require.Equal(t, `The tool returned: {"temp_c":21}`, resp.(*messages.ChatResponse).Content, "final answer")
	body := lastBody(t, srv)
	asst := body["messages"].([]any)[1].(map[string]any)
	_, has := asst["content"]
	require.False(t, has, "assistant message %v: want tool calls without content", asst)
	require.True(t, asst["tool_calls"].([]any)[0].(map[string]any)["id"] == tc.ID, "assistant message %v: want tool calls without content", asst)
	choice := body["tool_choice"].(map[string]any)
	require.True(t, choice["function"].(map[string]any)["name"] == "get_weather", "tool_choice %v", choice)
	require.Equal(t, 0, srv.InvalidCalls(), "simulator rejected the round trip")
}

func TestChatStream(t *testing.T) {
	tests := []struct {
		name  string
		req   messages.ChatRequest
		check func(t *testing.T, cr *messages.ChatResponse, chunks []messages.StreamChunk)
	}{
		{
			name: "text",
			req:  messages.ChatRequest{Model: "tgi", Stream: true, Messages: []messages.Message{{Role: "user", Content: "stream me a few words"}}},
			check: func(t *testing.T, cr *messages.ChatResponse, chunks []messages.StreamChunk) {
				var words []string
				for _, ch := range chunks {
					if ch.Type == messages.ChunkText {
						words = append(words, ch.Text)
					}
				}
				require.True(t, slices.Equal(words, []string{"echo:", " stream", " me", " a", " few", " words"}), "streamed %q, aggregated %+v", words, cr)
				require.Equal(t, "echo: stream me a few words", cr.Content, "streamed %q, aggregated %+v", words, cr)
				require.Equal(t, string(messages.FinishStop), cr.FinishReason, "streamed %q, aggregated %+v", words, cr)
			},
		},
		{
			name: "tool call",
			req: messages.ChatRequest{Model: "tgi", Stream: true, Tools: []messages.Tool{weatherTool}, ToolChoice: "required",
				Messages: []messages.Message{{Role: "user", Content: "forecast for Oslo"}}},
			check: func(t *testing.T, cr *messages.ChatResponse, chunks []messages.StreamChunk) {
				var args strings.Builder
				n := 0
				for _, ch := range chunks {
					if ch.Type == messages.ChunkToolCall {
						n++
						args.WriteString(ch.ToolCall.Arguments)
						if n == 1 {
							require.False(t, ch.ToolCall.ID == "" || ch.ToolCall.Name != "get_weather", "first fragment %+v", ch.ToolCall)
						}
					}
				}
				require.GreaterOrEqual(t, n, 3, "%d fragments, args %q", n, args.String())
				require.Equal(t, `{"city": "Oslo"}`, args.String(), "%d fragments, args %q", n, args.String())
				require.Len(t, cr.ToolCalls, 1, "aggregated %+v", cr)
				require.Equal(t, `{"city":"Oslo"}`, compact(t, cr.ToolCalls[0].Arguments), "aggregated %+v", cr)
				require.Equal(t, string(messages.FinishToolCalls), cr.FinishReason, "aggregated %+v", cr)
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
			resp, err := do(t, call)
			require.NoError(t, err)
			cr := resp.(*messages.ChatResponse)
			chunks := rec.All()
			for i, ch := range chunks {
				require.Equal(t, i, ch.Seq, "chunk %d seq %d", i, ch.Seq)
				require.Equal(t, call.RequestID, ch.RequestID, "chunk %d seq %d", i, ch.Seq)
			}
			last := chunks[len(chunks)-1]
			in, out := srv.Usage()
			require.Equal(t, messages.ChunkUsage, last.Type, "last chunk %+v usage %+v server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, in, last.Usage.InputTokens, "last chunk %+v usage %+v server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, out, last.Usage.OutputTokens, "last chunk %+v usage %+v server %d/%d", last, cr.Usage, in, out)
			require.True(t, cr.Usage == *last.Usage, "last chunk %+v usage %+v server %d/%d", last, cr.Usage, in, out)
			require.NotEqual(t, 0, out, "last chunk %+v usage %+v server %d/%d", last, cr.Usage, in, out)
			require.Len(t, chunks, call.Result.ChunksSent, "result %+v after %d chunks", call.Result, len(chunks))
			require.True(t, call.Result.Usage == cr.Usage, "result %+v after %d chunks", call.Result, len(chunks))
			body := lastBody(t, srv)
			require.True(t, body["stream"] == true, "body %v", body)
			require.True(t, body["stream_options"].(map[string]any)["include_usage"] == true, "body %v", body)
			tt.check(t, cr, chunks)
		})
	}
}

func TestModelsAndInfo(t *testing.T) {
	b := sim.TGI()
	srv := startSim(t, b)
	resp, err := do(t, newCall(srv, &messages.ModelsRequest{}))
	require.NoError(t, err)
	ms := resp.(*messages.ModelsResponse).Models
	require.Len(t, ms, 1, "models")
	require.Equal(t, "meta-llama/Llama-3.1-8B-Instruct", ms[0].ID, "models")
	resp, err = do(t, newCall(srv, &messages.InfoRequest{What: "info"}))
	require.NoError(t, err)
	ir := resp.(*messages.InfoResponse)
	var info map[string]any
	require.NoError(t, json.Unmarshal(ir.Body, &info), "info %+v", ir)
	require.Equal(t, "3.3.6-dev0", ir.Version, "info %+v", ir)
	require.True(t, info["max_input_tokens"] == 1024.0, "info %+v", ir)
	require.True(t, ir.Healthy, "info %+v", ir)
	resp, err = do(t, newCall(srv, &messages.InfoRequest{What: "health"}))
	require.NoError(t, err, "health %v %v", resp, err)
	require.True(t, resp.(*messages.InfoResponse).Healthy, "health %v %v", resp, err)
	b.SetHealthy(false)
	_, err = do(t, newCall(srv, &messages.InfoRequest{What: "health"}))
	ue := upstreamErr(t, err)
	require.Equal(t, messages.ClassServer, ue.Class, "unhealthy: %v", ue)
	require.Equal(t, 503, ue.Status, "unhealthy: %v", ue)
	require.Equal(t, "healthcheck", ue.Type, "unhealthy: %v", ue)
	require.True(t, ue.Retryable(), "unhealthy: %v", ue)
	var paths []string
	for _, r := range srv.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	require.True(t, slices.Equal(paths, []string{"GET /v1/models", "GET /info", "GET /health", "GET /health"}), "requests %v", paths)
}

func TestAuth(t *testing.T) {
	srv := startSim(t, &sim.TGIBackend{APIKey: testKey})
	for _, req := range []messages.Request{
		&messages.GenerateRequest{Prompt: "x"},
		&messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "x"}}},
	} {
		_, err := do(t, newCall(srv, req))
		require.NoError(t, err, "%T with key", req)
		call := newCall(srv, req)
		call.Key = providers.NewCredential("none", "")
		_, err = do(t, call)
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassAuth, ue.Class, "%T without key: %v", req, ue)
		require.Equal(t, 401, ue.Status, "%T without key: %v", req, ue)
		require.False(t, ue.Retryable(), "%T without key: %v", req, ue)
	}
	recs := srv.Requests()
	require.Equal(t, "Bearer "+testKey, recs[0].Header.Get("Authorization"), "authorization headers")
	require.Equal(t, "", recs[1].Header.Get("Authorization"), "authorization headers")
	call := newCall(srv, &messages.InfoRequest{})
	call.Key = providers.NewCredential("none", "")
	_, err := do(t, call)
	require.NoError(t, err, "/info is open")
}

func TestStreamFaults(t *testing.T) {
	gen := &messages.GenerateRequest{Prompt: "a b c d e f g h", Stream: true}
	chat := &messages.ChatRequest{Model: "tgi", Stream: true, Messages: []messages.Message{{Role: "user", Content: "a b c d e f g h"}}}
	tests := []struct {
		name      string
		fault     sim.Fault
		req       messages.Request
		wantClass messages.ErrorClass
	}{
		{"generate cut", sim.Fault{CutAfter: 3}, gen, messages.ClassStreamCut},
		{"generate cut right before the final event", sim.Fault{CutAfter: 9}, gen, messages.ClassStreamCut},
		{"generate stall", sim.Fault{StallAfter: 2}, gen, messages.ClassTimeout},
		{"chat cut", sim.Fault{CutAfter: 2}, chat, messages.ClassStreamCut},
		{"chat stall", sim.Fault{StallAfter: 1}, chat, messages.ClassTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(tt.fault)
			call := newCall(srv, tt.req)
			call.Client.IdleTimeout = 200 * time.Millisecond
			rec := &recorder{}
			call.Emit = rec.Emit
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v (retryable %v) status %d, want %v: %v", ue.Class, ue.Retryable(), ue.Status, tt.wantClass, ue)
			require.True(t, ue.Retryable(), "class %v (retryable %v) status %d, want %v: %v", ue.Class, ue.Retryable(), ue.Status, tt.wantClass, ue)
			require.Equal(t, 200, ue.Status, "class %v (retryable %v) status %d, want %v: %v", ue.Class, ue.Retryable(), ue.Status, tt.wantClass, ue)
			if tt.fault.CutAfter > 0 {
				require.NotEqual(t, 0, call.Result.ChunksSent, "no chunk reached the caller before the cut")
			}
			in, out := srv.Usage()
			require.Equal(t, 0, in, "an unfinished stream counted usage %d/%d", in, out)
			require.Equal(t, 0, out, "an unfinished stream counted usage %d/%d", in, out)
		})
	}
}

func TestCallerGoneStopsStream(t *testing.T) {
	srv := startSim(t, nil)
	call := newCall(srv, &messages.GenerateRequest{Prompt: "a b c d e f g h i j k", Stream: true})
	n := 0
	call.Emit = func(*messages.StreamChunk) bool { n++; return n < 2 }
	_, err := do(t, call)
	require.Equal(t, messages.ClassCancelled, upstreamErr(t, err).Class, "class")
	require.Equal(t, 2, n, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
	require.Equal(t, 1, call.Result.ChunksSent, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name          string
		fault         *sim.Fault
		reject        int
		wantClass     messages.ErrorClass
		wantStatus    int
		wantType      string
		wantRetry     time.Duration
		wantRetryable bool
	}{
		{name: "422 validation", fault: &sim.Fault{Status: 422}, wantClass: messages.ClassInvalid, wantStatus: 422, wantType: "validation"},
		{name: "422 tool error", fault: &sim.Fault{Status: 422, Body: `{"error":"Tool error: Tool with name x not found","error_type":"tool_error"}`},
			wantClass: messages.ClassInvalid, wantStatus: 422, wantType: "tool_error"},
		{name: "424 generation is not retried", fault: &sim.Fault{Status: 424}, wantClass: messages.ClassServer, wantStatus: 424, wantType: "generation"},
		{name: "429 overloaded with retry-after", fault: &sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "3"}},
			wantClass: messages.ClassRateLimited, wantStatus: 429, wantType: "overloaded", wantRetry: 3 * time.Second, wantRetryable: true},
		{name: "500 incomplete generation", fault: &sim.Fault{Status: 500}, wantClass: messages.ClassServer, wantStatus: 500, wantType: "incomplete_generation", wantRetryable: true},
		{name: "503", fault: &sim.Fault{Status: 503}, wantClass: messages.ClassServer, wantStatus: 503, wantType: "healthcheck", wantRetryable: true},
		{name: "502 from a proxy", fault: &sim.Fault{Status: 502, Body: "<html>bad gateway</html>"}, wantClass: messages.ClassServer, wantStatus: 502, wantRetryable: true},
		{name: "401 bare", fault: &sim.Fault{Status: 401}, wantClass: messages.ClassAuth, wantStatus: 401},
		{name: "403 revoked key", reject: 403, wantClass: messages.ClassAuth, wantStatus: 403},
	}
	reqs := []messages.Request{
		&messages.GenerateRequest{Prompt: "x"},
		&messages.GenerateRequest{Prompt: "x", Stream: true},
		&messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "x"}}},
		&messages.ChatRequest{Stream: true, Messages: []messages.Message{{Role: "user", Content: "x"}}},
	}
	for _, tt := range tests {
		for _, req := range reqs {
			stream := req.(messages.StreamingRequest).Streaming()
			t.Run(fmt.Sprintf("%s %s stream=%v", tt.name, req.Operation(), stream), func(t *testing.T) {
				srv := startSim(t, nil)
				if tt.reject != 0 {
					srv.RejectKey(testKey, tt.reject)
				} else {
					srv.Inject(*tt.fault)
				}
				call := newCall(srv, req)
				_, err := do(t, call)
				ue := upstreamErr(t, err)
				require.Equal(t, tt.wantClass, ue.Class, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantStatus, ue.Status, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantType, ue.Type, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantRetry, ue.RetryAfter, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantRetryable, ue.Retryable(), "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
				require.NotEqual(t, "", ue.Message, "error fields %+v, %d chunks", ue, call.Result.ChunksSent)
				require.ErrorIs(t, err, messages.ErrUpstream, "error fields %+v, %d chunks", ue, call.Result.ChunksSent)
				require.Equal(t, "sim-"+call.RequestID, ue.UpstreamRequestID, "error fields %+v, %d chunks", ue, call.Result.ChunksSent)
				require.Equal(t, 0, call.Result.ChunksSent, "error fields %+v, %d chunks", ue, call.Result.ChunksSent)
			})
		}
	}
}

// TestServerValidation sends requests that pass Check but that the server's
// own validation refuses: on /generate as a 422, on /generate_stream as an
// error event after a 200.
func TestServerValidation(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("stream=", stream), func(t *testing.T) {
			srv := startSim(t, nil)
			call := newCall(srv, &messages.GenerateRequest{Prompt: "x", Stream: stream, Extra: map[string]any{"top_k": 0}})
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			wantStatus := 422
			if stream {
				wantStatus = 200
			}
			require.Equal(t, messages.ClassInvalid, ue.Class, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.False(t, ue.Retryable(), "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Equal(t, "validation", ue.Type, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Equal(t, wantStatus, ue.Status, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Contains(t, ue.Message, "`top_k` must be strictly positive", "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Equal(t, 1, srv.InvalidCalls(), "invalid calls")
		})
	}
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprint("chat stream=", stream), func(t *testing.T) {
			srv := startSim(t, nil)
			call := newCall(srv, &messages.ChatRequest{Stream: stream, Messages: []messages.Message{{Role: "user", Content: "x"}}, Extra: map[string]any{"frequency_penalty": 5}})
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			wantStatus := 422
			if stream {
				wantStatus = 200 // {"error":{"message":"Input validation error: …","http_status_code":422}} after a 200
			}
			require.Equal(t, messages.ClassInvalid, ue.Class, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.False(t, ue.Retryable(), "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Equal(t, "validation", ue.Type, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Equal(t, wantStatus, ue.Status, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Contains(t, ue.Message, "frequency_penalty", "%v (status %d, type %q)", ue, ue.Status, ue.Type)
		})
	}
	t.Run("chat", func(t *testing.T) {
		srv := startSim(t, nil)
		_, err := do(t, newCall(srv, &messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "x"}}, Extra: map[string]any{"tool_choice": "required"}}))
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassInvalid, ue.Class, "%v", ue)
		require.Equal(t, "tool_error", ue.Type, "%v", ue)
		require.Equal(t, 422, ue.Status, "%v", ue)
	})
}

// TestOverloaded fills the simulator's one generation slot with a slow
// stream, then asks again: /generate and chat answer 429, /generate_stream
// and a streamed chat an overloaded event after a 200; all are rate limited,
// so retried.
func TestOverloaded(t *testing.T) {
	tests := []struct {
		req        messages.Request
		wantStatus int
	}{
		{&messages.GenerateRequest{Prompt: "x"}, 429},
		{&messages.GenerateRequest{Prompt: "x", Stream: true}, 200},
		{&messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "x"}}}, 429},
		{&messages.ChatRequest{Stream: true, Messages: []messages.Message{{Role: "user", Content: "x"}}}, 200},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s stream=%v", tt.req.Operation(), tt.wantStatus == 200), func(t *testing.T) {
			srv := startSim(t, &sim.TGIBackend{MaxConcurrentRequests: 1})
			srv.Inject(sim.Fault{ChunkDelay: 100 * time.Millisecond})
			first := newCall(srv, &messages.GenerateRequest{Prompt: "a b c", Stream: true})
			started := make(chan struct{})
			var once sync.Once
			first.Emit = func(*messages.StreamChunk) bool { once.Do(func() { close(started) }); return true }
			done := make(chan error, 1)
			go func() {
				_, err := do(t, first)
				done <- err
			}()
			<-started
			_, err := do(t, newCall(srv, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassRateLimited, ue.Class, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.True(t, ue.Retryable(), "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Equal(t, "overloaded", ue.Type, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.Equal(t, tt.wantStatus, ue.Status, "%v (status %d, type %q)", ue, ue.Status, ue.Type)
			require.NoError(t, <-done, "first request")
			require.Equal(t, 0, srv.InvalidCalls(), "overload counted as invalid")
		})
	}
}

func TestInStreamErrors(t *testing.T) {
	tests := []struct {
		name          string
		body          string
		wantClass     messages.ErrorClass
		wantType      string
		wantRetryable bool
	}{
		{"validation", "data:{\"error\":\"Input validation error: `temperature` must be strictly positive\",\"error_type\":\"validation\"}\n\n", messages.ClassInvalid, "validation", false},
		{"overloaded", "data:{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}\n\n", messages.ClassRateLimited, "overloaded", true},
		{"generation after tokens", "data:{\"index\":1,\"token\":{\"id\":5,\"text\":\"Hi\",\"logprob\":-0.1,\"special\":false},\"generated_text\":null,\"details\":null}\n\ndata:{\"error\":\"Request failed during generation: Server error: CUDA out of memory\",\"error_type\":\"generation\"}\n\n", messages.ClassServer, "generation", false},
		{"incomplete", "data:{\"error\":\"Incomplete generation stream\",\"error_type\":\"incomplete_generation_stream\"}\n\n", messages.ClassServer, "incomplete_generation_stream", true},
		{"untyped", "data:{\"error\":\"boom\"}\n\n", messages.ClassServer, "", true},
		{"bad json", "data:{\"index\":\n\n", messages.ClassMalformed, "", false},
		{"no token", "data:{\"index\":1,\"generated_text\":null}\n\n", messages.ClassMalformed, "", false},
		{"eof before the final event", "data:{\"index\":1,\"token\":{\"id\":5,\"text\":\"Hi\",\"logprob\":-0.1,\"special\":false},\"generated_text\":null,\"details\":null}\n\n", messages.ClassStreamCut, "", true},
		{"keep-alive only", ":\n\n:\n\n", messages.ClassStreamCut, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			_, err := do(t, newCallAt(hs.URL, &messages.GenerateRequest{Prompt: "x", Stream: true}))
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v type %q status %d retryable %v, want %v %q %v: %v", ue.Class, ue.Type, ue.Status, ue.Retryable(), tt.wantClass, tt.wantType, tt.wantRetryable, ue)
			require.Equal(t, tt.wantType, ue.Type, "class %v type %q status %d retryable %v, want %v %q %v: %v", ue.Class, ue.Type, ue.Status, ue.Retryable(), tt.wantClass, tt.wantType, tt.wantRetryable, ue)
			require.Equal(t, 200, ue.Status, "class %v type %q status %d retryable %v, want %v %q %v: %v", ue.Class, ue.Type, ue.Status, ue.Retryable(), tt.wantClass, tt.wantType, tt.wantRetryable, ue)
			require.Equal(t, tt.wantRetryable, ue.Retryable(), "class %v type %q status %d retryable %v, want %v %q %v: %v", ue.Class, ue.Type, ue.Status, ue.Retryable(), tt.wantClass, tt.wantType, tt.wantRetryable, ue)
		})
	}
}

// TestStreamWithoutDetails covers a final event without details (the caller
// cannot switch details off, but another client's proxy might).
func TestStreamWithoutDetails(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data:{\"index\":1,\"token\":{\"id\":5,\"text\":\"Hi\",\"logprob\":-0.1,\"special\":false},\"generated_text\":null,\"details\":null}\r\n\r\n"+
			"data:{\"index\":2,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.1,\"special\":true},\"generated_text\":\"Hi\",\"details\":null}\r\n\r\n")
	}))
	defer hs.Close()
	call := newCallAt(hs.URL, &messages.GenerateRequest{Prompt: "x", Stream: true})
	rec := &recorder{}
	call.Emit = rec.Emit
	resp, err := do(t, call)
	require.NoError(t, err)
	gr := resp.(*messages.GenerateResponse)
	require.Equal(t, "Hi", gr.Text, "%+v, %d chunks", gr, len(rec.All()))
	require.Equal(t, "", gr.FinishReason, "%+v, %d chunks", gr, len(rec.All()))
	require.Len(t, rec.All(), 1, "%+v, %d chunks", gr, len(rec.All()))
}

func TestMalformed(t *testing.T) {
	reqs := []messages.Request{
		&messages.GenerateRequest{Prompt: "x"},
		&messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "x"}}},
		&messages.InfoRequest{},
		&messages.ModelsRequest{},
	}
	for _, req := range reqs {
		t.Run(req.Operation(), func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(sim.Fault{Malformed: true})
			_, err := do(t, newCall(srv, req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v status %d", ue.Class, ue.Status)
			require.Equal(t, 200, ue.Status, "class %v status %d", ue.Class, ue.Status)
		})
	}
	t.Run("generate without generated_text", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"details":{"finish_reason":"length","generated_tokens":1}}`)
		}))
		defer hs.Close()
		_, err := do(t, newCallAt(hs.URL, &messages.GenerateRequest{Prompt: "x"}))
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassMalformed, ue.Class, "%v", ue)
	})
}

func TestCheck(t *testing.T) {
	user := []messages.Message{{Role: "user", Content: "hi"}}
	tests := []struct {
		name string
		req  messages.Request
		want error
	}{
		{"generate ok", &messages.GenerateRequest{Prompt: "x", Temperature: ptr(0.0), TopP: ptr(1.0), Stop: []string{"a", "b", "c", "d"}}, nil},
		{"chat ok without model", &messages.ChatRequest{Messages: user}, nil},
		{"models ok", &messages.ModelsRequest{}, nil},
		{"info ok", &messages.InfoRequest{What: "health"}, nil},
		{"embed unsupported", &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}, messages.ErrUnsupported},
		{"rerank unsupported", &messages.RerankRequest{Query: "q", Documents: []string{"d"}}, messages.ErrUnsupported},
		{"nil", nil, messages.ErrUnsupported},
		{"typed nil embed", (*messages.EmbedRequest)(nil), messages.ErrUnsupported},
		{"info show", &messages.InfoRequest{What: "show"}, messages.ErrUnsupported},
		{"nil generate", (*messages.GenerateRequest)(nil), messages.ErrInvalidRequest},
		{"nil chat", (*messages.ChatRequest)(nil), messages.ErrInvalidRequest},
		{"empty prompt", &messages.GenerateRequest{}, messages.ErrInvalidRequest},
		{"negative max tokens", &messages.GenerateRequest{Prompt: "x", MaxTokens: -1}, messages.ErrInvalidRequest},
		{"negative temperature", &messages.GenerateRequest{Prompt: "x", Temperature: ptr(-0.1)}, messages.ErrInvalidRequest},
		{"top_p 0", &messages.GenerateRequest{Prompt: "x", TopP: ptr(0.0)}, messages.ErrInvalidRequest},
		{"top_p above 1", &messages.GenerateRequest{Prompt: "x", TopP: ptr(1.5)}, messages.ErrInvalidRequest},
		{"five stop sequences", &messages.GenerateRequest{Prompt: "x", Stop: []string{"a", "b", "c", "d", "e"}}, messages.ErrInvalidRequest},
		{"extra not JSON", &messages.GenerateRequest{Prompt: "x", Extra: map[string]any{"f": func() {}}}, messages.ErrInvalidRequest},
		{"extra add_special_tokens not bool", &messages.GenerateRequest{Prompt: "x", Extra: map[string]any{"add_special_tokens": "no"}}, messages.ErrInvalidRequest},
		{"chat no messages", &messages.ChatRequest{Model: "tgi"}, messages.ErrInvalidRequest},
		{"chat developer role", &messages.ChatRequest{Messages: []messages.Message{{Role: "developer", Content: "x"}}}, messages.ErrInvalidRequest},
		{"chat top_p 0", &messages.ChatRequest{Messages: user, TopP: ptr(0.0)}, messages.ErrInvalidRequest},
		{"chat five stops", &messages.ChatRequest{Messages: user, Stop: []string{"a", "b", "c", "d", "e"}}, messages.ErrInvalidRequest},
		{"chat tool without id", &messages.ChatRequest{Messages: []messages.Message{{Role: "tool", Content: "x"}}}, messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tgi.New().Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "Check")
				return
			}
			var re *messages.RequestError
			require.ErrorIs(t, err, tt.want, "Check = %v, want %v as *RequestError", err, tt.want)
			require.ErrorAs(t, err, &re, "Check = %v, want %v as *RequestError", err, tt.want)
			if tt.req == nil {
				return
			}
			srv := startSim(t, nil)
			_, err = do(t, newCall(srv, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassInvalid, ue.Class, "Do: %v, %d calls", ue, srv.Calls())
			require.False(t, ue.Retryable(), "Do: %v, %d calls", ue, srv.Calls())
			require.Equal(t, 0, srv.Calls(), "Do: %v, %d calls", ue, srv.Calls())
		})
	}
}

func TestRequestIDs(t *testing.T) {
	srv := startSim(t, nil)
	req := &messages.GenerateRequest{Prompt: "hi"}
	req.RequestID, req.Priority, req.Key = "caller-id-123", messages.High, "primary"
	call := newCall(srv, req)
	call.RequestID = req.RequestID
	_, err := do(t, call)
	require.NoError(t, err)
	rec := srv.Requests()[0]
	require.Equal(t, "caller-id-123", rec.RequestID, "headers %v", rec.Header)
	require.Equal(t, "application/json", rec.Header.Get("Content-Type"), "headers %v", rec.Header)
	for _, leak := range []string{"caller-id-123", "priority", "HIGH", "request_id", testKey} {
		require.False(t, bytes.Contains(rec.Body, []byte(leak)), "body leaks %q: %s", leak, rec.Body)
	}
}
