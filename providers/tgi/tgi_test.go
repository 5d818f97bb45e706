package tgi_test

import (
	"bytes"
	"encoding/json"
	"errors"
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
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("not JSON: %s", raw)
	}
	return b.String()
}

func TestKind(t *testing.T) {
	if tgi.New().Kind() != "hf_tgi" {
		t.Fatal("kind")
	}
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
				if len(p) != 1 || p["details"] != true {
					t.Fatalf("parameters %v: want details only", p)
				}
			},
		},
		{
			name: "max tokens", req: messages.GenerateRequest{Prompt: "one two three four", MaxTokens: 3},
			wantText: "echo: one two", wantFinish: messages.FinishLength, wantRaw: "length", wantOut: 3,
			params: func(t *testing.T, p map[string]any) {
				if p["max_new_tokens"] != 3.0 {
					t.Fatalf("parameters %v", p)
				}
			},
		},
		{
			name: "stop sequence, sampling and extra", req: messages.GenerateRequest{Prompt: "alpha beta gamma", Stop: []string{"beta"},
				Temperature: ptr(0.7), TopP: ptr(0.9), Extra: map[string]any{"top_k": 10, "seed": 7, "details": false, "add_special_tokens": false}},
			wantText: "echo: alpha beta", wantFinish: messages.FinishStop, wantRaw: "stop_sequence", wantOut: 3,
			params: func(t *testing.T, p map[string]any) {
				if p["temperature"] != 0.7 || p["top_p"] != 0.9 || p["top_k"] != 10.0 || p["seed"] != 7.0 || p["details"] != true || p["stop"].([]any)[0] != "beta" {
					t.Fatalf("parameters %v", p)
				}
				if _, has := p["add_special_tokens"]; has {
					t.Fatal("add_special_tokens inside parameters")
				}
			},
		},
		{
			name: "greedy temperature and full top_p left out", req: messages.GenerateRequest{Prompt: "x", Temperature: ptr(0.0), TopP: ptr(1.0),
				Extra: map[string]any{"temperature": 0.5, "return_full_text": true}},
			wantText: "xecho: x", wantFinish: messages.FinishStop, wantRaw: "eos_token", wantOut: 3,
			params: func(t *testing.T, p map[string]any) {
				if _, has := p["temperature"]; has {
					t.Fatalf("temperature sent: %v", p)
				}
				if _, has := p["top_p"]; has {
					t.Fatalf("top_p sent: %v", p)
				}
			},
		},
		{
			name: "json grammar", req: messages.GenerateRequest{Prompt: "Paris", Extra: map[string]any{"grammar": map[string]any{"type": "json",
				"value": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}},
			wantText: `{"city":"Paris"}`, wantFinish: messages.FinishStop, wantRaw: "eos_token", wantOut: 2,
			params: func(t *testing.T, p map[string]any) {
				if p["grammar"].(map[string]any)["type"] != "json" {
					t.Fatalf("parameters %v", p)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv, &req)
			resp, err := do(t, call)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			gr := resp.(*messages.GenerateResponse)
			if gr.Text != tt.wantText || gr.FinishReason != tt.wantFinish || gr.RawFinishReason != tt.wantRaw {
				t.Fatalf("got %q finish %q (%q), want %q %q (%q)", gr.Text, gr.FinishReason, gr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			}
			in, out := srv.Usage()
			if gr.Usage.InputTokens != in || gr.Usage.OutputTokens != out || out != tt.wantOut || in != sim.Words(req.Prompt) || call.Result.Usage != gr.Usage {
				t.Fatalf("usage %+v result %+v, server %d/%d", gr.Usage, call.Result.Usage, in, out)
			}
			rec := srv.Requests()[0]
			if rec.Path != "/generate" || srv.InvalidCalls() != 0 || gr.Model != req.Model || gr.UpstreamRequestID != "sim-"+call.RequestID {
				t.Fatalf("path %q, %d invalid, model %q, meta %+v", rec.Path, srv.InvalidCalls(), gr.Model, gr.Meta)
			}
			body := lastBody(t, srv)
			if body["inputs"] != req.Prompt || len(body) > 3 {
				t.Fatalf("body %v", body)
			}
			if _, has := body["model"]; has {
				t.Fatal("model sent to /generate")
			}
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
			if err != nil {
				t.Fatal(err)
			}
			gr := resp.(*messages.GenerateResponse)
			chunks := rec.All()
			var words []string
			for i, ch := range chunks {
				if ch.Seq != i || ch.RequestID != call.RequestID {
					t.Fatalf("chunk %d seq %d request %q", i, ch.Seq, ch.RequestID)
				}
				if ch.Type == messages.ChunkText {
					words = append(words, ch.Text)
				}
			}
			if !slices.Equal(words, tt.wantWords) || gr.Text != strings.Join(tt.wantWords, "") || gr.FinishReason != tt.wantFinish {
				t.Fatalf("streamed %q, text %q finish %q", words, gr.Text, gr.FinishReason)
			}
			last := chunks[len(chunks)-1]
			in, out := srv.Usage()
			if last.Type != messages.ChunkUsage || last.Usage.InputTokens != in || last.Usage.OutputTokens != out || gr.Usage != *last.Usage || in != 5 {
				t.Fatalf("last chunk %+v usage %+v server %d/%d", last, gr.Usage, in, out)
			}
			if call.Result.ChunksSent != len(chunks) || call.Result.Usage != gr.Usage {
				t.Fatalf("result %+v after %d chunks", call.Result, len(chunks))
			}
			r := srv.Requests()[0]
			if r.Path != "/generate_stream" || r.Header.Get("Accept") != "text/event-stream" {
				t.Fatalf("path %q accept %q", r.Path, r.Header.Get("Accept"))
			}
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
				if body["model"] != "tgi" {
					t.Fatalf("model %v", body["model"])
				}
			},
		},
		{
			name: "system, sampling, max tokens", req: messages.ChatRequest{Model: "tgi", System: "Be brief.", Temperature: ptr(0.5), TopP: ptr(1.0), MaxTokens: 2,
				Messages: []messages.Message{{Role: "user", Content: "one two three"}}},
			wantText: "echo: one", wantFinish: messages.FinishLength, wantRaw: "length",
			check: func(t *testing.T, body map[string]any) {
				if body["max_tokens"] != 2.0 || body["temperature"] != 0.5 || body["messages"].([]any)[0].(map[string]any)["role"] != "system" {
					t.Fatalf("body %v", body)
				}
				for _, k := range []string{"max_completion_tokens", "top_p"} {
					if _, has := body[k]; has {
						t.Fatalf("%s sent: %v", k, body)
					}
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
				if body["response_format"].(map[string]any)["type"] != "regex" {
					t.Fatalf("body %v", body)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv, &req)
			resp, err := do(t, call)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			cr := resp.(*messages.ChatResponse)
			if cr.Content != tt.wantText || cr.FinishReason != tt.wantFinish || cr.RawFinishReason != tt.wantRaw {
				t.Fatalf("got %q finish %q (%q), want %q %q (%q)", cr.Content, cr.FinishReason, cr.RawFinishReason, tt.wantText, tt.wantFinish, tt.wantRaw)
			}
			in, out := srv.Usage()
			if cr.Usage.InputTokens != in || cr.Usage.OutputTokens != out || out == 0 || call.Result.Usage != cr.Usage {
				t.Fatalf("usage %+v result %+v server %d/%d", cr.Usage, call.Result.Usage, in, out)
			}
			if srv.Requests()[0].Path != "/v1/chat/completions" || srv.InvalidCalls() != 0 || cr.Model == "" {
				t.Fatalf("path %q invalid %d model %q", srv.Requests()[0].Path, srv.InvalidCalls(), cr.Model)
			}
			if cr.RequestID != call.RequestID || cr.Provider != "tgi" || cr.Key != "primary" {
				t.Fatalf("meta %+v", cr.Meta)
			}
			tt.check(t, lastBody(t, srv))
		})
	}
}

func TestChatToolRoundTrip(t *testing.T) {
	srv := startSim(t, nil)
	conv := []messages.Message{{Role: "user", Content: "What is the weather in Paris?"}}
	resp, err := do(t, newCall(srv, &messages.ChatRequest{Model: "tgi", Messages: conv, Tools: []messages.Tool{weatherTool, {Name: "no_params"}}, ToolChoice: "auto"}))
	if err != nil {
		t.Fatal(err)
	}
	cr := resp.(*messages.ChatResponse)
	if cr.FinishReason != messages.FinishToolCalls || cr.RawFinishReason != "stop" || len(cr.ToolCalls) != 1 || cr.Content != "" {
		t.Fatalf("want one tool call, got %+v", cr)
	}
	tc := cr.ToolCalls[0]
	if tc.Name != "get_weather" || tc.ID == "" || compact(t, tc.Arguments) != `{"city":"Paris"}` {
		t.Fatalf("tool call %+v args %s", tc, tc.Arguments)
	}
	tools := lastBody(t, srv)["tools"].([]any)
	for _, tl := range tools {
		fn := tl.(map[string]any)["function"].(map[string]any)
		if _, has := fn["parameters"]; has || fn["arguments"] == nil {
			t.Fatalf("tool function %v: want the schema under arguments", fn)
		}
	}

	conv = append(conv, messages.Message{Role: "assistant", Content: "Let me check.", ToolCalls: cr.ToolCalls},
		messages.Message{Role: "tool", ToolCallID: tc.ID, Content: `{"temp_c":21}`})
	resp, err = do(t, newCall(srv, &messages.ChatRequest{Model: "tgi", Messages: conv, Tools: []messages.Tool{weatherTool}, ToolChoice: "get_weather"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.(*messages.ChatResponse).Content; got != `The tool returned: {"temp_c":21}` {
		t.Fatalf("final answer %q", got)
	}
	body := lastBody(t, srv)
	asst := body["messages"].([]any)[1].(map[string]any)
	if _, has := asst["content"]; has || asst["tool_calls"].([]any)[0].(map[string]any)["id"] != tc.ID {
		t.Fatalf("assistant message %v: want tool calls without content", asst)
	}
	if choice := body["tool_choice"].(map[string]any); choice["function"].(map[string]any)["name"] != "get_weather" {
		t.Fatalf("tool_choice %v", choice)
	}
	if srv.InvalidCalls() != 0 {
		t.Fatal("simulator rejected the round trip")
	}
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
				if !slices.Equal(words, []string{"echo:", " stream", " me", " a", " few", " words"}) || cr.Content != "echo: stream me a few words" || cr.FinishReason != messages.FinishStop {
					t.Fatalf("streamed %q, aggregated %+v", words, cr)
				}
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
						if n == 1 && (ch.ToolCall.ID == "" || ch.ToolCall.Name != "get_weather") {
							t.Fatalf("first fragment %+v", ch.ToolCall)
						}
					}
				}
				if n < 3 || args.String() != `{"city": "Oslo"}` {
					t.Fatalf("%d fragments, args %q", n, args.String())
				}
				if len(cr.ToolCalls) != 1 || compact(t, cr.ToolCalls[0].Arguments) != `{"city":"Oslo"}` || cr.FinishReason != messages.FinishToolCalls {
					t.Fatalf("aggregated %+v", cr)
				}
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
			if err != nil {
				t.Fatal(err)
			}
			cr := resp.(*messages.ChatResponse)
			chunks := rec.All()
			for i, ch := range chunks {
				if ch.Seq != i || ch.RequestID != call.RequestID {
					t.Fatalf("chunk %d seq %d", i, ch.Seq)
				}
			}
			last := chunks[len(chunks)-1]
			in, out := srv.Usage()
			if last.Type != messages.ChunkUsage || last.Usage.InputTokens != in || last.Usage.OutputTokens != out || cr.Usage != *last.Usage || out == 0 {
				t.Fatalf("last chunk %+v usage %+v server %d/%d", last, cr.Usage, in, out)
			}
			if call.Result.ChunksSent != len(chunks) || call.Result.Usage != cr.Usage {
				t.Fatalf("result %+v after %d chunks", call.Result, len(chunks))
			}
			body := lastBody(t, srv)
			if body["stream"] != true || body["stream_options"].(map[string]any)["include_usage"] != true {
				t.Fatalf("body %v", body)
			}
			tt.check(t, cr, chunks)
		})
	}
}

func TestModelsAndInfo(t *testing.T) {
	b := sim.TGI()
	srv := startSim(t, b)
	resp, err := do(t, newCall(srv, &messages.ModelsRequest{}))
	if err != nil {
		t.Fatal(err)
	}
	if ms := resp.(*messages.ModelsResponse).Models; len(ms) != 1 || ms[0].ID != "meta-llama/Llama-3.1-8B-Instruct" {
		t.Fatalf("models %+v", ms)
	}
	resp, err = do(t, newCall(srv, &messages.InfoRequest{What: "info"}))
	if err != nil {
		t.Fatal(err)
	}
	ir := resp.(*messages.InfoResponse)
	var info map[string]any
	if err := json.Unmarshal(ir.Body, &info); err != nil || ir.Version != "3.3.6-dev0" || info["max_input_tokens"] != 1024.0 || !ir.Healthy {
		t.Fatalf("info %+v %v", ir, err)
	}
	resp, err = do(t, newCall(srv, &messages.InfoRequest{What: "health"}))
	if err != nil || !resp.(*messages.InfoResponse).Healthy {
		t.Fatalf("health %v %v", resp, err)
	}
	b.SetHealthy(false)
	_, err = do(t, newCall(srv, &messages.InfoRequest{What: "health"}))
	if ue := upstreamErr(t, err); ue.Class != messages.ClassServer || ue.Status != 503 || ue.Type != "healthcheck" || !ue.Retryable() {
		t.Fatalf("unhealthy: %v", ue)
	}
	var paths []string
	for _, r := range srv.Requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	if !slices.Equal(paths, []string{"GET /v1/models", "GET /info", "GET /health", "GET /health"}) {
		t.Fatalf("requests %v", paths)
	}
}

func TestAuth(t *testing.T) {
	srv := startSim(t, &sim.TGIBackend{APIKey: testKey})
	for _, req := range []messages.Request{
		&messages.GenerateRequest{Prompt: "x"},
		&messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "x"}}},
	} {
		if _, err := do(t, newCall(srv, req)); err != nil {
			t.Fatalf("%T with key: %v", req, err)
		}
		call := newCall(srv, req)
		call.Key = providers.NewCredential("none", "")
		_, err := do(t, call)
		if ue := upstreamErr(t, err); ue.Class != messages.ClassAuth || ue.Status != 401 || ue.Retryable() {
			t.Fatalf("%T without key: %v", req, ue)
		}
	}
	recs := srv.Requests()
	if recs[0].Header.Get("Authorization") != "Bearer "+testKey || recs[1].Header.Get("Authorization") != "" {
		t.Fatalf("authorization headers %q %q", recs[0].Header.Get("Authorization"), recs[1].Header.Get("Authorization"))
	}
	call := newCall(srv, &messages.InfoRequest{})
	call.Key = providers.NewCredential("none", "")
	if _, err := do(t, call); err != nil {
		t.Fatalf("/info is open: %v", err)
	}
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
			if ue.Class != tt.wantClass || !ue.Retryable() || ue.Status != 200 {
				t.Fatalf("class %v (retryable %v) status %d, want %v: %v", ue.Class, ue.Retryable(), ue.Status, tt.wantClass, ue)
			}
			if tt.fault.CutAfter > 0 && call.Result.ChunksSent == 0 {
				t.Fatal("no chunk reached the caller before the cut")
			}
			if in, out := srv.Usage(); in != 0 || out != 0 {
				t.Fatalf("an unfinished stream counted usage %d/%d", in, out)
			}
		})
	}
}

func TestCallerGoneStopsStream(t *testing.T) {
	srv := startSim(t, nil)
	call := newCall(srv, &messages.GenerateRequest{Prompt: "a b c d e f g h i j k", Stream: true})
	n := 0
	call.Emit = func(*messages.StreamChunk) bool { n++; return n < 2 }
	_, err := do(t, call)
	if ue := upstreamErr(t, err); ue.Class != messages.ClassCancelled {
		t.Fatalf("class %v", ue.Class)
	}
	if n != 2 || call.Result.ChunksSent != 1 {
		t.Fatalf("emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
	}
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
				if ue.Class != tt.wantClass || ue.Status != tt.wantStatus || ue.Type != tt.wantType || ue.RetryAfter != tt.wantRetry || ue.Retryable() != tt.wantRetryable {
					t.Fatalf("got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)",
						ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
				}
				if ue.Message == "" || !errors.Is(err, messages.ErrUpstream) || ue.UpstreamRequestID != "sim-"+call.RequestID || call.Result.ChunksSent != 0 {
					t.Fatalf("error fields %+v, %d chunks", ue, call.Result.ChunksSent)
				}
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
			if ue.Class != messages.ClassInvalid || ue.Retryable() || ue.Type != "validation" || ue.Status != wantStatus || !strings.Contains(ue.Message, "`top_k` must be strictly positive") {
				t.Fatalf("%v (status %d, type %q)", ue, ue.Status, ue.Type)
			}
			if srv.InvalidCalls() != 1 {
				t.Fatalf("invalid calls %d", srv.InvalidCalls())
			}
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
			if ue.Class != messages.ClassInvalid || ue.Retryable() || ue.Type != "validation" || ue.Status != wantStatus || !strings.Contains(ue.Message, "frequency_penalty") {
				t.Fatalf("%v (status %d, type %q)", ue, ue.Status, ue.Type)
			}
		})
	}
	t.Run("chat", func(t *testing.T) {
		srv := startSim(t, nil)
		_, err := do(t, newCall(srv, &messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "x"}}, Extra: map[string]any{"tool_choice": "required"}}))
		if ue := upstreamErr(t, err); ue.Class != messages.ClassInvalid || ue.Type != "tool_error" || ue.Status != 422 {
			t.Fatalf("%v", ue)
		}
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
			if ue.Class != messages.ClassRateLimited || !ue.Retryable() || ue.Type != "overloaded" || ue.Status != tt.wantStatus {
				t.Fatalf("%v (status %d, type %q)", ue, ue.Status, ue.Type)
			}
			if err := <-done; err != nil {
				t.Fatalf("first request: %v", err)
			}
			if srv.InvalidCalls() != 0 {
				t.Fatal("overload counted as invalid")
			}
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
			if ue.Class != tt.wantClass || ue.Type != tt.wantType || ue.Status != 200 || ue.Retryable() != tt.wantRetryable {
				t.Fatalf("class %v type %q status %d retryable %v, want %v %q %v: %v", ue.Class, ue.Type, ue.Status, ue.Retryable(), tt.wantClass, tt.wantType, tt.wantRetryable, ue)
			}
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
	if err != nil {
		t.Fatal(err)
	}
	if gr := resp.(*messages.GenerateResponse); gr.Text != "Hi" || gr.FinishReason != "" || len(rec.All()) != 1 {
		t.Fatalf("%+v, %d chunks", gr, len(rec.All()))
	}
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
			if ue := upstreamErr(t, err); ue.Class != messages.ClassMalformed || ue.Status != 200 {
				t.Fatalf("class %v status %d", ue.Class, ue.Status)
			}
		})
	}
	t.Run("generate without generated_text", func(t *testing.T) {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"details":{"finish_reason":"length","generated_tokens":1}}`)
		}))
		defer hs.Close()
		_, err := do(t, newCallAt(hs.URL, &messages.GenerateRequest{Prompt: "x"}))
		if ue := upstreamErr(t, err); ue.Class != messages.ClassMalformed {
			t.Fatalf("%v", ue)
		}
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
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var re *messages.RequestError
			if !errors.Is(err, tt.want) || !errors.As(err, &re) {
				t.Fatalf("Check = %v, want %v as *RequestError", err, tt.want)
			}
			if tt.req == nil {
				return
			}
			srv := startSim(t, nil)
			_, err = do(t, newCall(srv, tt.req))
			if ue := upstreamErr(t, err); ue.Class != messages.ClassInvalid || ue.Retryable() || srv.Calls() != 0 {
				t.Fatalf("Do: %v, %d calls", ue, srv.Calls())
			}
		})
	}
}

func TestRequestIDs(t *testing.T) {
	srv := startSim(t, nil)
	req := &messages.GenerateRequest{Prompt: "hi"}
	req.RequestID, req.Priority, req.Key = "caller-id-123", messages.High, "primary"
	call := newCall(srv, req)
	call.RequestID = req.RequestID
	if _, err := do(t, call); err != nil {
		t.Fatal(err)
	}
	rec := srv.Requests()[0]
	if rec.RequestID != "caller-id-123" || rec.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", rec.Header)
	}
	for _, leak := range []string{"caller-id-123", "priority", "HIGH", "request_id", testKey} {
		if bytes.Contains(rec.Body, []byte(leak)) {
			t.Fatalf("body leaks %q: %s", leak, rec.Body)
		}
	}
}
