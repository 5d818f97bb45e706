package openai_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a fake key; tests assert it never shows up in errors.
const testKey = "sk-test-0123456789abcdefSECRET"

// pngBytes is the PNG signature plus a few bytes: enough for content sniffing.
var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

func startSim(t testing.TB, b *sim.OpenAIBackend) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.OpenAI()
	}
	return providertest.StartSim(t, b)
}

type recorder = providertest.Recorder

func newCall(srv *sim.Server, req messages.Request) *providers.Call {
	return newCallAt(srv.URL+"/v1", req)
}

// newCallAt builds a call against baseURL (a handcrafted httptest server).
func newCallAt(baseURL string, req messages.Request) *providers.Call {
	return providertest.NewCall("openai", baseURL, testKey, req)
}

func do(t *testing.T, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, openai.New(), call)
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

func TestKind(t *testing.T) {
	require.Equal(t, "openai", openai.New().Kind(), "Kind()")
}

func TestChat(t *testing.T) {
	tests := []struct {
		name       string
		req        messages.ChatRequest
		wantText   string
		wantFinish string
		checkBody  func(t *testing.T, body map[string]any)
	}{
		{
			name:       "plain",
			req:        messages.ChatRequest{Model: "gpt-4o-mini", Messages: []messages.Message{{Role: "user", Content: "Hello there"}}},
			wantText:   "echo: Hello there",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				for _, k := range []string{"stream", "stream_options", "tools", "tool_choice", "temperature", "max_completion_tokens"} {
					_, ok := body[k]
					assert.False(t, ok, "body has %q though the request did not set it", k)
				}
			},
		},
		{
			name: "system prompt, sampling and extra",
			req: messages.ChatRequest{Model: "gpt-4o", System: "Be brief.", Temperature: ptr(0.0), TopP: ptr(0.5), Stop: []string{"END"},
				Messages: []messages.Message{{Role: "user", Content: "Hi"}},
				Extra:    map[string]any{"seed": 7, "model": "not-this-one", "stream": true}},
			wantText:   "echo: Hi",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				msgs := body["messages"].([]any)
				first := msgs[0].(map[string]any)
				assert.True(t, first["role"] == "system", "first message = %v, want the system prompt", first)
				assert.True(t, first["content"] == "Be brief.", "first message = %v, want the system prompt", first)
				assert.True(t, body["model"] == "gpt-4o", "body = %v: want own model, extra seed, temperature 0 and top_p", body)
				assert.True(t, body["seed"] == 7.0, "body = %v: want own model, extra seed, temperature 0 and top_p", body)
				assert.True(t, body["temperature"] == 0.0, "body = %v: want own model, extra seed, temperature 0 and top_p", body)
				assert.True(t, body["top_p"] == 0.5, "body = %v: want own model, extra seed, temperature 0 and top_p", body)
				_, ok := body["stream"]
				assert.False(t, ok, "Extra's stream leaked into a non-stream body")
				stop := body["stop"].([]any)
				if assert.Len(t, stop, 1, "stop = %v", stop) {
					assert.True(t, stop[0] == "END", "stop = %v", stop)
				}
			},
		},
		{
			name: "max tokens truncates",
			req: messages.ChatRequest{Model: "gpt-4o", MaxTokens: 3,
				Messages: []messages.Message{{Role: "user", Content: "one two three four five"}}},
			wantText:   "echo: one two",
			wantFinish: messages.FinishLength,
			checkBody: func(t *testing.T, body map[string]any) {
				assert.True(t, body["max_completion_tokens"] == 3.0, "max_completion_tokens = %v", body["max_completion_tokens"])
				_, ok := body["max_tokens"]
				assert.False(t, ok, "deprecated max_tokens sent")
			},
		},
		{
			name: "image parts",
			req: messages.ChatRequest{Model: "gpt-4o", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
				{Type: messages.PartText, Text: "What is in these?"},
				{Type: messages.PartImage, ImageURL: "https://example.com/cat.png"},
				{Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"},
				{Type: messages.PartImage, Data: pngBytes}, // media type sniffed
			}}}},
			wantText:   "echo: What is in these? [3 images]",
			wantFinish: messages.FinishStop,
			checkBody: func(t *testing.T, body map[string]any) {
				parts := body["messages"].([]any)[0].(map[string]any)["content"].([]any)
				want := "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes)
				urls := []any{}
				for _, p := range parts[1:] {
					pm := p.(map[string]any)
					assert.True(t, pm["type"] == "image_url", "part type %v", pm["type"])
					urls = append(urls, pm["image_url"].(map[string]any)["url"])
				}
				assert.False(t, urls[0] != "https://example.com/cat.png" || urls[1] != want || urls[2] != want, "image urls = %v", urls)
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
			require.Equal(t, tt.wantText, cr.Content, "got %q finish %q (raw %q), want %q finish %q", cr.Content, cr.FinishReason, cr.RawFinishReason, tt.wantText, tt.wantFinish)
			require.Equal(t, tt.wantFinish, cr.FinishReason, "got %q finish %q (raw %q), want %q finish %q", cr.Content, cr.FinishReason, cr.RawFinishReason, tt.wantText, tt.wantFinish)
			require.NotEqual(t, "", cr.RawFinishReason, "got %q finish %q (raw %q), want %q finish %q", cr.Content, cr.FinishReason, cr.RawFinishReason, tt.wantText, tt.wantFinish)
			in, out := srv.Usage()
			require.Equal(t, in, cr.Usage.InputTokens, "usage %+v, result %+v, server counted %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.Equal(t, out, cr.Usage.OutputTokens, "usage %+v, result %+v, server counted %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.NotEqual(t, 0, out, "usage %+v, result %+v, server counted %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.True(t, call.Result.Usage == cr.Usage, "usage %+v, result %+v, server counted %d/%d", cr.Usage, call.Result.Usage, in, out)
			require.True(t, strings.HasPrefix(cr.ID, "chatcmpl-"), "id %q model %q", cr.ID, cr.Model)
			require.Equal(t, req.Model, cr.Model, "id %q model %q", cr.ID, cr.Model)
			require.Equal(t, 0, srv.InvalidCalls(), "simulator rejected %d requests", srv.InvalidCalls())
			tt.checkBody(t, lastBody(t, srv))
		})
	}
}

var weatherTool = messages.Tool{
	Name:        "get_weather",
	Description: "Current weather for a city",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`),
}

func TestChatToolRoundTrip(t *testing.T) {
	srv := startSim(t, nil)
	conv := []messages.Message{{Role: "user", Content: "What is the weather in Paris?"}}
	req := &messages.ChatRequest{Model: "gpt-4o", Messages: conv, Tools: []messages.Tool{weatherTool}, ToolChoice: "auto"}
	resp, err := do(t, newCall(srv, req))
	require.NoError(t, err)
	cr := resp.(*messages.ChatResponse)
	require.Equal(t, messages.FinishToolCalls, cr.FinishReason, "want one tool call, got %+v", cr)
	require.Len(t, cr.ToolCalls, 1, "want one tool call, got %+v", cr)
	tc := cr.ToolCalls[0]
	require.Equal(t, "get_weather", tc.Name, "tool call %+v args %s", tc, tc.Arguments)
	require.NotEqual(t, "", tc.ID, "tool call %+v args %s", tc, tc.Arguments)
	require.Equal(t, `{"city":"Paris"}`, string(tc.Arguments), "tool call %+v args %s", tc, tc.Arguments)
	body := lastBody(t, srv)
	tool := body["tools"].([]any)[0].(map[string]any)
	require.True(t, tool["type"] == "function", "tools %v choice %v", tool, body["tool_choice"])
	require.True(t, tool["function"].(map[string]any)["name"] == "get_weather", "tools %v choice %v", tool, body["tool_choice"])
	require.True(t, body["tool_choice"] == "auto", "tools %v choice %v", tool, body["tool_choice"])

	// Send the result back: the assistant turn with its call, then the tool message.
	conv = append(conv, messages.Message{Role: "assistant", ToolCalls: cr.ToolCalls},
		messages.Message{Role: "tool", ToolCallID: tc.ID, Content: `{"temp_c":21}`})
	req2 := &messages.ChatRequest{Model: "gpt-4o", Messages: conv, Tools: []messages.Tool{weatherTool}, ToolChoice: "get_weather"}
	resp, err = do(t, newCall(srv, req2))
	require.NoError(t, err)
	require.Equal(t, `The tool returned: {"temp_c":21}`, resp.(*messages.ChatResponse).Content, "final answer")
	body = lastBody(t, srv)
	msgs := body["messages"].([]any)
	asst, toolMsg := msgs[1].(map[string]any), msgs[2].(map[string]any)
	call0 := asst["tool_calls"].([]any)[0].(map[string]any)
	require.True(t, asst["content"] == nil, "assistant message %v", asst)
	require.True(t, call0["function"].(map[string]any)["arguments"] == `{"city":"Paris"}`, "assistant message %v", asst)
	require.True(t, call0["type"] == "function", "assistant message %v", asst)
	require.True(t, toolMsg["tool_call_id"] == tc.ID, "tool message %v", toolMsg)
	require.True(t, toolMsg["role"] == "tool", "tool message %v", toolMsg)
	choice := body["tool_choice"].(map[string]any)
	require.True(t, choice["type"] == "function", "named tool_choice = %v", choice)
	require.True(t, choice["function"].(map[string]any)["name"] == "get_weather", "named tool_choice = %v", choice)
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
			req:  messages.ChatRequest{Model: "gpt-4o", Stream: true, Messages: []messages.Message{{Role: "user", Content: "stream me a few words please"}}},
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
				require.GreaterOrEqual(t, nText, 2, "want several text chunks")
				require.Equal(t, messages.FinishStop, cr.FinishReason, "finish")
			},
		},
		{
			name: "tool call",
			req: messages.ChatRequest{Model: "gpt-4o", Stream: true, Tools: []messages.Tool{weatherTool},
				Messages: []messages.Message{{Role: "user", Content: "weather in Oslo"}}},
			check: func(t *testing.T, cr *messages.ChatResponse, chunks []messages.StreamChunk) {
				var args strings.Builder
				nCall := 0
				for _, ch := range chunks {
					if ch.Type == messages.ChunkToolCall {
						nCall++
						args.WriteString(ch.ToolCall.Arguments)
						if nCall == 1 {
							require.NotEqual(t, "", ch.ToolCall.ID, "first fragment %+v lacks ID or name", ch.ToolCall)
							require.Equal(t, "get_weather", ch.ToolCall.Name, "first fragment %+v lacks ID or name", ch.ToolCall)
						}
					}
				}
				require.GreaterOrEqual(t, nCall, 2, "%d fragments, args %q", nCall, args.String())
				require.Equal(t, `{"city":"Oslo"}`, args.String(), "%d fragments, args %q", nCall, args.String())
				require.Len(t, cr.ToolCalls, 1, "aggregated %+v", cr)
				require.Equal(t, `{"city":"Oslo"}`, string(cr.ToolCalls[0].Arguments), "aggregated %+v", cr)
				require.Equal(t, messages.FinishToolCalls, cr.FinishReason, "aggregated %+v", cr)
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
				require.Equal(t, i, ch.Seq, "chunk %d has seq %d request %q", i, ch.Seq, ch.RequestID)
				require.Equal(t, call.RequestID, ch.RequestID, "chunk %d has seq %d request %q", i, ch.Seq, ch.RequestID)
			}
			last := chunks[len(chunks)-1]
			in, out := srv.Usage()
			require.Equal(t, messages.ChunkUsage, last.Type, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, in, last.Usage.InputTokens, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, out, last.Usage.OutputTokens, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.True(t, cr.Usage == *last.Usage, "last chunk %+v, usage %+v, server %d/%d", last, cr.Usage, in, out)
			require.Equal(t, len(chunks), call.Result.ChunksSent, "result %+v after %d chunks", call.Result, len(chunks))
			require.True(t, call.Result.Usage == cr.Usage, "result %+v after %d chunks", call.Result, len(chunks))
			body := lastBody(t, srv)
			require.True(t, body["stream"] == true, "stream body %v", body)
			require.True(t, body["stream_options"].(map[string]any)["include_usage"] == true, "stream body %v", body)
			require.Equal(t, "text/event-stream", srv.Requests()[0].Header.Get("Accept"), "Accept")
			tt.check(t, cr, chunks)
		})
	}
}

func TestStreamFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     sim.Fault
		req       messages.Request
		wantClass messages.ErrorClass
	}{
		{"chat cut", sim.Fault{CutAfter: 2}, &messages.ChatRequest{Model: "m", Stream: true, Messages: []messages.Message{{Role: "user", Content: "a b c d e f g h"}}}, messages.ClassStreamCut},
		{"chat stall", sim.Fault{StallAfter: 1}, &messages.ChatRequest{Model: "m", Stream: true, Messages: []messages.Message{{Role: "user", Content: "a b c"}}}, messages.ClassTimeout},
		{"responses cut", sim.Fault{CutAfter: 3}, &messages.ResponsesRequest{Model: "m", Stream: true, Input: []messages.Message{{Role: "user", Content: "a b c d e f g"}}}, messages.ClassStreamCut},
		{"responses stall", sim.Fault{StallAfter: 2}, &messages.ResponsesRequest{Model: "m", Stream: true, Input: []messages.Message{{Role: "user", Content: "a b c"}}}, messages.ClassTimeout},
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
			require.Equal(t, tt.wantClass, ue.Class, "class %v (retryable %v), want %v: %v", ue.Class, ue.Retryable(), tt.wantClass, ue)
			require.True(t, ue.Retryable(), "class %v (retryable %v), want %v: %v", ue.Class, ue.Retryable(), tt.wantClass, ue)
			require.Equal(t, http.StatusOK, ue.Status, "error fields %+v", ue)
			require.Equal(t, call.RequestID, ue.RequestID, "error fields %+v", ue)
			require.Equal(t, "primary", ue.Key, "error fields %+v", ue)
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
	call := newCall(srv, &messages.ChatRequest{Model: "m", Stream: true, Messages: []messages.Message{{Role: "user", Content: "a b c d e f g h i j k"}}})
	n := 0
	call.Emit = func(*messages.StreamChunk) bool { n++; return n < 2 }
	_, err := do(t, call)
	require.Equal(t, messages.ClassCancelled, upstreamErr(t, err).Class, "class")
	require.Equal(t, 2, n, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
	require.Equal(t, 1, call.Result.ChunksSent, "emit called %d times, %d chunks sent", n, call.Result.ChunksSent)
}

func TestMalformed(t *testing.T) {
	reqs := []messages.Request{
		&messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}},
		&messages.EmbedRequest{Model: "m", Inputs: []string{"x"}},
		&messages.ResponsesRequest{Model: "m", Input: []messages.Message{{Role: "user", Content: "x"}}},
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
}

// TestMalformedAnswers feeds well-formed JSON with the wrong content.
func TestMalformedAnswers(t *testing.T) {
	tests := []struct {
		name string
		req  messages.Request
		body string
	}{
		{"chat without choices", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}}, `{"id":"c","choices":[]}`},
		{"chat wrong types", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}}, `{"id":1,"choices":"no"}`},
		{"embeddings missing vector", &messages.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}}, `{"data":[{"index":0,"embedding":[1]}]}`},
		{"embeddings duplicate index", &messages.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}}, `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`},
		{"embeddings index out of range", &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}, `{"data":[{"index":5,"embedding":[1]}]}`},
		{"responses bad message content", &messages.ResponsesRequest{Model: "m", Input: []messages.Message{{Role: "user", Content: "x"}}}, `{"status":"completed","output":[{"type":"message","content":"oops"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			call := newCallAt(hs.URL, tt.req)
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v: %v", ue.Class, ue)
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name               string
		fault              sim.Fault
		reject             int
		wantClass          messages.ErrorClass
		wantStatus         int
		wantRetry          time.Duration
		wantRetryable      bool
		wantCode, wantType string
	}{
		{name: "429 retry-after", fault: sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "2"}},
			wantClass: messages.ClassRateLimited, wantStatus: 429, wantRetry: 2 * time.Second, wantRetryable: true, wantCode: "rate_limit_exceeded", wantType: "requests"},
		{name: "429 retry-after-ms", fault: sim.Fault{Status: 429, Header: map[string]string{"Retry-After-Ms": "1500", "Retry-After": "9"}},
			wantClass: messages.ClassRateLimited, wantStatus: 429, wantRetry: 1500 * time.Millisecond, wantRetryable: true, wantCode: "rate_limit_exceeded"},
		{name: "429 delay in message", fault: sim.Fault{Status: 429, Body: `{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on tokens per min (TPM): Limit 30000, Used 29000, Requested 1500. Please try again in 2.5s. Visit https://platform.openai.com/account/rate-limits to learn more.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`},
			wantClass: messages.ClassRateLimited, wantStatus: 429, wantRetry: 2500 * time.Millisecond, wantRetryable: true, wantCode: "rate_limit_exceeded", wantType: "tokens"},
		{name: "429 insufficient quota", fault: sim.Fault{Status: 429, Body: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`},
			wantClass: messages.ClassQuota, wantStatus: 429, wantCode: "insufficient_quota", wantType: "insufficient_quota"},
		{name: "401", fault: sim.Fault{Status: 401}, wantClass: messages.ClassAuth, wantStatus: 401, wantCode: "invalid_api_key", wantType: "invalid_request_error"},
		{name: "401 quoting a key", fault: sim.Fault{Status: 401, Body: `{"error":{"message":"Incorrect API key provided: ` + testKey + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
			wantClass: messages.ClassAuth, wantStatus: 401, wantCode: "invalid_api_key"},
		{name: "403 revoked key", reject: 403, wantClass: messages.ClassAuth, wantStatus: 403},
		{name: "400", fault: sim.Fault{Status: 400}, wantClass: messages.ClassInvalid, wantStatus: 400, wantType: "invalid_request_error"},
		{name: "404", fault: sim.Fault{Status: 404}, wantClass: messages.ClassInvalid, wantStatus: 404},
		{name: "500", fault: sim.Fault{Status: 500}, wantClass: messages.ClassServer, wantStatus: 500, wantRetryable: true, wantType: "server_error"},
		{name: "503", fault: sim.Fault{Status: 503}, wantClass: messages.ClassServer, wantStatus: 503, wantRetryable: true, wantType: "server_error", wantCode: "server_is_overloaded"},
		{name: "500 x-should-retry false", fault: sim.Fault{Status: 500, Header: map[string]string{"X-Should-Retry": "false"}}, wantClass: messages.ClassServer, wantStatus: 500},
		{name: "400 x-should-retry true", fault: sim.Fault{Status: 400, Header: map[string]string{"X-Should-Retry": "true"}}, wantClass: messages.ClassInvalid, wantStatus: 400, wantRetryable: true},
		{name: "502 html body", fault: sim.Fault{Status: 502, Body: "<html>bad gateway</html>"}, wantClass: messages.ClassServer, wantStatus: 502, wantRetryable: true},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s stream=%v", tt.name, stream), func(t *testing.T) {
				srv := startSim(t, nil)
				if tt.reject != 0 {
					srv.RejectKey(testKey, tt.reject)
				} else {
					srv.Inject(tt.fault)
				}
				call := newCall(srv, &messages.ChatRequest{Model: "m", Stream: stream, Messages: []messages.Message{{Role: "user", Content: "x"}}})
				_, err := do(t, call)
				ue := upstreamErr(t, err)
				require.Equal(t, tt.wantClass, ue.Class, "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantStatus, ue.Status, "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantRetry, ue.RetryAfter, "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				require.Equal(t, tt.wantRetryable, ue.Retryable(), "got class %v status %d retry-after %v retryable %v; want %v %d %v %v (%v)", ue.Class, ue.Status, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetry, tt.wantRetryable, ue)
				if tt.wantCode != "" {
					require.Equal(t, tt.wantCode, ue.Code, "type/code %q/%q, want %q/%q", ue.Type, ue.Code, tt.wantType, tt.wantCode)
				}
				if tt.wantType != "" {
					require.Equal(t, tt.wantType, ue.Type, "type/code %q/%q, want %q/%q", ue.Type, ue.Code, tt.wantType, tt.wantCode)
				}
				require.NotEqual(t, "", ue.Message, "message %q, Is(ErrUpstream) %v", ue.Message, errors.Is(err, messages.ErrUpstream))
				require.ErrorIs(t, err, messages.ErrUpstream, "message %q, Is(ErrUpstream) %v", ue.Message, errors.Is(err, messages.ErrUpstream))
				require.Equal(t, "sim-"+call.RequestID, ue.UpstreamRequestID, "upstream id %q, result status %d", ue.UpstreamRequestID, call.Result.Status)
				require.Equal(t, tt.wantStatus, call.Result.Status, "upstream id %q, result status %d", ue.UpstreamRequestID, call.Result.Status)
				require.Equal(t, 0, call.Result.ChunksSent, "chunks sent for an error answer")
			})
		}
	}
}

func TestInStreamErrors(t *testing.T) {
	tests := []struct {
		name      string
		chat      bool
		body      string
		wantClass messages.ErrorClass
		wantCode  string
	}{
		{"chat error object", true, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n", messages.ClassServer, ""},
		{"chat rate limit mid-stream", true, "data: {\"error\":{\"message\":\"Rate limit reached. Please try again in 20ms.\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n", messages.ClassRateLimited, "rate_limit_exceeded"},
		{"chat error event", true, "event: error\ndata: {\"message\":\"overloaded\",\"code\":\"server_is_overloaded\"}\n\n", messages.ClassServer, "server_is_overloaded"},
		{"chat bad json", true, "data: {\"choices\":[\n\n", messages.ClassMalformed, ""},
		{"chat eof before done", true, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n", messages.ClassStreamCut, ""},
		{"responses error event", false, "event: error\ndata: {\"type\":\"error\",\"code\":\"invalid_prompt\",\"message\":\"bad prompt\",\"param\":null,\"sequence_number\":1}\n\n", messages.ClassInvalid, "invalid_prompt"},
		{"responses failed", false, "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n", messages.ClassServer, "server_error"},
		{"responses quota", false, "event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"insufficient_quota\",\"message\":\"quota\"}}}\n\n", messages.ClassQuota, "insufficient_quota"},
		{"responses eof before terminal", false, "event: response.created\ndata: {\"type\":\"response.created\",\"response\":{}}\n\n", messages.ClassStreamCut, ""},
		{"responses bad delta", false, "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":5}\n\n", messages.ClassMalformed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			var req messages.Request = &messages.ResponsesRequest{Model: "m", Stream: true, Input: []messages.Message{{Role: "user", Content: "x"}}}
			if tt.chat {
				req = &messages.ChatRequest{Model: "m", Stream: true, Messages: []messages.Message{{Role: "user", Content: "x"}}}
			}
			_, err := do(t, newCallAt(hs.URL, req))
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v code %q status %d, want %v %q: %v", ue.Class, ue.Code, ue.Status, tt.wantClass, tt.wantCode, ue)
			require.Equal(t, tt.wantCode, ue.Code, "class %v code %q status %d, want %v %q: %v", ue.Class, ue.Code, ue.Status, tt.wantClass, tt.wantCode, ue)
			require.Equal(t, 200, ue.Status, "class %v code %q status %d, want %v %q: %v", ue.Class, ue.Code, ue.Status, tt.wantClass, tt.wantCode, ue)
			if tt.wantClass == messages.ClassRateLimited {
				require.Equal(t, 20*time.Millisecond, ue.RetryAfter, "retry after")
			}
		})
	}
}

// TestStreamAnsweredWithJSON covers a server that ignores stream:true.
func TestStreamAnsweredWithJSON(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"c1","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"whole"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`)
	}))
	defer hs.Close()
	call := newCallAt(hs.URL, &messages.ChatRequest{Model: "m", Stream: true, Messages: []messages.Message{{Role: "user", Content: "x"}}})
	rec := &recorder{}
	call.Emit = rec.Emit
	resp, err := do(t, call)
	require.NoError(t, err)
	chunks := rec.All()
	require.Equal(t, "whole", resp.(*messages.ChatResponse).Content, "resp %+v chunks %+v", resp, chunks)
	require.Len(t, chunks, 2, "resp %+v chunks %+v", resp, chunks)
	require.Equal(t, "whole", chunks[0].Text, "resp %+v chunks %+v", resp, chunks)
	require.Equal(t, 3, chunks[1].Usage.InputTokens, "resp %+v chunks %+v", resp, chunks)
}

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name    string
		inputs  []string
		dims    int
		reverse bool
		wantDim int
	}{
		{"one input", []string{"hello world"}, 0, false, 8},
		{"several inputs answered out of order", []string{"alpha", "beta gamma", "delta", "epsilon zeta eta"}, 0, true, 8},
		{"dimensions", []string{"a", "b"}, 4, true, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := sim.OpenAI()
			b.ReverseEmbeddings = tt.reverse
			srv := startSim(t, b)
			call := newCall(srv, &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: tt.inputs, Dimensions: tt.dims})
			resp, err := do(t, call)
			require.NoError(t, err)
			er := resp.(*messages.EmbedResponse)
			require.Len(t, er.Vectors, len(tt.inputs), "%d vectors for %d inputs", len(er.Vectors), len(tt.inputs))
			for i, in := range tt.inputs {
				want := sim.OpenAIEmbedding(in, tt.wantDim)
				require.True(t, slices.Equal(er.Vectors[i], want), "vector %d = %v, want the one for %q %v", i, er.Vectors[i], in, want)
			}
			in, _ := srv.Usage()
			require.Equal(t, in, er.Usage.InputTokens, "usage %+v server %d model %q", er.Usage, in, er.Model)
			require.NotEqual(t, 0, in, "usage %+v server %d model %q", er.Usage, in, er.Model)
			require.True(t, call.Result.Usage == er.Usage, "usage %+v server %d model %q", er.Usage, in, er.Model)
			require.Equal(t, "text-embedding-3-small", er.Model, "usage %+v server %d model %q", er.Usage, in, er.Model)
			body := lastBody(t, srv)
			require.True(t, body["encoding_format"] == "float", "body %v", body)
			require.Len(t, body["input"].([]any), len(tt.inputs), "body %v", body)
			_, has := body["dimensions"]
			require.Equal(t, tt.dims > 0, has, "dimensions present %v for %d", has, tt.dims)
		})
	}
}

func TestResponses(t *testing.T) {
	srv := startSim(t, nil)
	t.Run("plain", func(t *testing.T) {
		call := newCall(srv, &messages.ResponsesRequest{Model: "gpt-4o", Instructions: "Be nice.", Temperature: ptr(0.2), MaxOutputTokens: 64,
			Input: []messages.Message{{Role: "user", Parts: []messages.Part{{Type: messages.PartText, Text: "Hi there"}, {Type: messages.PartImage, Data: pngBytes}}}}})
		resp, err := do(t, call)
		require.NoError(t, err)
		rr := resp.(*messages.ResponsesResponse)
		require.Equal(t, "echo: Hi there [1 image]", rr.OutputText, "response %+v", rr)
		require.Equal(t, "completed", rr.Status, "response %+v", rr)
		require.True(t, strings.HasPrefix(rr.ID, "resp_"), "response %+v", rr)
		require.NotEqual(t, 0, rr.Usage.InputTokens, "response %+v", rr)
		require.Equal(t, 5, rr.Usage.OutputTokens, "response %+v", rr)
		body := lastBody(t, srv)
		item := body["input"].([]any)[0].(map[string]any)
		parts := item["content"].([]any)
		require.True(t, item["type"] == "message", "input item %v", item)
		require.True(t, item["role"] == "user", "input item %v", item)
		require.True(t, parts[0].(map[string]any)["type"] == "input_text", "input item %v", item)
		require.True(t, parts[1].(map[string]any)["type"] == "input_image", "input item %v", item)
		require.True(t, body["instructions"] == "Be nice.", "body %v", body)
		require.True(t, body["max_output_tokens"] == 64.0, "body %v", body)
		require.True(t, body["temperature"] == 0.2, "body %v", body)
	})
	t.Run("incomplete", func(t *testing.T) {
		words := strings.Repeat("word ", 30)
		call := newCall(srv, &messages.ResponsesRequest{Model: "gpt-4o", MaxOutputTokens: 16, Input: []messages.Message{{Role: "user", Content: words}}})
		resp, err := do(t, call)
		require.NoError(t, err)
		rr := resp.(*messages.ResponsesResponse)
		require.Equal(t, "incomplete", rr.Status, "response %+v", rr)
		require.Equal(t, "max_output_tokens", rr.IncompleteReason, "response %+v", rr)
		require.Equal(t, 16, sim.Words(rr.OutputText), "response %+v", rr)
	})
	t.Run("tool round trip with previous_response_id", func(t *testing.T) {
		tools := []messages.Tool{weatherTool}
		resp, err := do(t, newCall(srv, &messages.ResponsesRequest{Model: "gpt-4o", Tools: tools, ToolChoice: "required",
			Input: []messages.Message{{Role: "user", Content: "Weather in Rome?"}}}))
		require.NoError(t, err)
		first := resp.(*messages.ResponsesResponse)
		require.Len(t, first.ToolCalls, 1, "tool calls %+v", first.ToolCalls)
		require.Equal(t, "get_weather", first.ToolCalls[0].Name, "tool calls %+v", first.ToolCalls)
		require.Equal(t, `{"city":"Rome"}`, string(first.ToolCalls[0].Arguments), "tool calls %+v", first.ToolCalls)
		tool := lastBody(t, srv)["tools"].([]any)[0].(map[string]any)
		require.True(t, tool["name"] == "get_weather", "flat tool %v", tool)
		require.True(t, tool["strict"] == false, "flat tool %v", tool)
		require.True(t, tool["parameters"] != nil, "flat tool %v", tool)
		resp, err = do(t, newCall(srv, &messages.ResponsesRequest{Model: "gpt-4o", PreviousResponseID: first.ID, Tools: tools,
			Input: []messages.Message{{Role: "tool", ToolCallID: first.ToolCalls[0].ID, Content: "sunny"}}}))
		require.NoError(t, err)
		require.Equal(t, "The tool returned: sunny", resp.(*messages.ResponsesResponse).OutputText, "second answer")
		body := lastBody(t, srv)
		out := body["input"].([]any)[0].(map[string]any)
		require.True(t, body["previous_response_id"] == first.ID, "body %v", body)
		require.True(t, out["type"] == "function_call_output", "body %v", body)
		require.True(t, out["call_id"] == first.ToolCalls[0].ID, "body %v", body)
		require.True(t, out["output"] == "sunny", "body %v", body)
	})
	t.Run("echoed call without previous response", func(t *testing.T) {
		resp, err := do(t, newCall(srv, &messages.ResponsesRequest{Model: "gpt-4o", Input: []messages.Message{
			{Role: "user", Content: "weather?"},
			{Role: "assistant", ToolCalls: []messages.ToolCall{{ID: "call_1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Bern"}`)}}},
			{Role: "tool", ToolCallID: "call_1", Content: "rain"},
		}}))
		require.NoError(t, err)
		require.Equal(t, "The tool returned: rain", resp.(*messages.ResponsesResponse).OutputText, "answer")
	})
	t.Run("unknown previous response", func(t *testing.T) {
		_, err := do(t, newCall(srv, &messages.ResponsesRequest{Model: "gpt-4o", PreviousResponseID: "resp_nope", Input: []messages.Message{{Role: "user", Content: "x"}}}))
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassInvalid, ue.Class, "%v", ue)
		require.Equal(t, "previous_response_not_found", ue.Code, "%v", ue)
	})
	require.Equal(t, 1, srv.InvalidCalls(), "simulator rejected %d requests, want only the unknown previous response", srv.InvalidCalls())
}

func TestResponsesStream(t *testing.T) {
	tests := []struct {
		name  string
		req   messages.ResponsesRequest
		check func(t *testing.T, rr *messages.ResponsesResponse, chunks []messages.StreamChunk)
	}{
		{
			name: "text",
			req:  messages.ResponsesRequest{Model: "gpt-4o", Stream: true, Input: []messages.Message{{Role: "user", Content: "tell me something nice today"}}},
			check: func(t *testing.T, rr *messages.ResponsesResponse, chunks []messages.StreamChunk) {
				var text strings.Builder
				for _, ch := range chunks {
					if ch.Type == messages.ChunkText {
						text.WriteString(ch.Text)
					}
				}
				want := "echo: tell me something nice today"
				require.Equal(t, want, text.String(), "streamed %q, final %q", text.String(), rr.OutputText)
				require.Equal(t, want, rr.OutputText, "streamed %q, final %q", text.String(), rr.OutputText)
			},
		},
		{
			name: "function call",
			req: messages.ResponsesRequest{Model: "gpt-4o", Stream: true, Tools: []messages.Tool{weatherTool},
				Input: []messages.Message{{Role: "user", Content: "weather for Lisbon"}}},
			check: func(t *testing.T, rr *messages.ResponsesResponse, chunks []messages.StreamChunk) {
				var args strings.Builder
				var first *messages.ToolCallDelta
				for _, ch := range chunks {
					if ch.Type == messages.ChunkToolCall {
						if first == nil {
							first = ch.ToolCall
						}
						args.WriteString(ch.ToolCall.Arguments)
					}
				}
				require.NotNil(t, first, "first %+v args %q", first, args.String())
				require.Equal(t, "get_weather", first.Name, "first %+v args %q", first, args.String())
				require.NotEqual(t, "", first.ID, "first %+v args %q", first, args.String())
				require.Equal(t, `{"city":"Lisbon"}`, args.String(), "first %+v args %q", first, args.String())
				require.Len(t, rr.ToolCalls, 1, "final calls %+v", rr.ToolCalls)
				require.Equal(t, first.ID, rr.ToolCalls[0].ID, "final calls %+v", rr.ToolCalls)
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
			rr := resp.(*messages.ResponsesResponse)
			chunks := rec.All()
			var events []string
			for i, ch := range chunks {
				require.Equal(t, i, ch.Seq, "chunk %d seq %d", i, ch.Seq)
				if ch.Type == messages.ChunkEvent {
					events = append(events, ch.Event)
				}
			}
			require.GreaterOrEqual(t, len(events), 2, "events %v", events)
			require.Equal(t, "response.created", events[0], "events %v", events)
			require.Equal(t, "response.in_progress", events[1], "events %v", events)
			last := chunks[len(chunks)-1]
			in, out := srv.Usage()
			require.Equal(t, messages.ChunkUsage, last.Type, "last %+v response %+v server %d/%d", last, rr, in, out)
			require.Equal(t, in, last.Usage.InputTokens, "last %+v response %+v server %d/%d", last, rr, in, out)
			require.Equal(t, out, last.Usage.OutputTokens, "last %+v response %+v server %d/%d", last, rr, in, out)
			require.True(t, rr.Usage == *last.Usage, "last %+v response %+v server %d/%d", last, rr, in, out)
			require.Equal(t, "completed", rr.Status, "last %+v response %+v server %d/%d", last, rr, in, out)
			require.True(t, lastBody(t, srv)["stream"] == true, "stream not requested")
			tt.check(t, rr, chunks)
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	b := sim.OpenAI()
	b.RequestLimit, b.TokenLimit = 3, 1000
	b.EnforceRateLimit = true
	srv := startSim(t, b)
	var remaining []int64
	for i := 0; i < 3; i++ {
		call := newCall(srv, &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "hi"}}})
		_, err := do(t, call)
		require.NoError(t, err)
		rl := call.Result.RateLimit
		require.True(t, rl.Known, "rate limit %+v", rl)
		require.Equal(t, int64(3), rl.LimitRequests, "rate limit %+v", rl)
		require.Equal(t, int64(1000), rl.LimitTokens, "rate limit %+v", rl)
		require.True(t, rl.ResetRequests.After(time.Now()), "rate limit %+v", rl)
		require.Less(t, rl.RemainingTokens, int64(1000), "rate limit %+v", rl)
		remaining = append(remaining, rl.RemainingRequests)
	}
	require.True(t, slices.Equal(remaining, []int64{2, 1, 0}), "remaining requests %v", remaining)
	call := newCall(srv, &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "hi"}}})
	_, err := do(t, call)
	ue := upstreamErr(t, err)
	require.Equal(t, messages.ClassRateLimited, ue.Class, "over budget: %v retry after %v, rate limit %+v", ue, ue.RetryAfter, call.Result.RateLimit)
	require.Greater(t, ue.RetryAfter, time.Duration(0), "over budget: %v retry after %v, rate limit %+v", ue, ue.RetryAfter, call.Result.RateLimit)
	require.LessOrEqual(t, ue.RetryAfter, time.Minute, "over budget: %v retry after %v, rate limit %+v", ue, ue.RetryAfter, call.Result.RateLimit)
	require.Equal(t, int64(0), call.Result.RateLimit.RemainingRequests, "over budget: %v retry after %v, rate limit %+v", ue, ue.RetryAfter, call.Result.RateLimit)
}

func TestRequestIDs(t *testing.T) {
	srv := startSim(t, nil)
	req := &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "hi"}}}
	req.RequestID, req.Priority, req.Key = "caller-id-123", messages.High, "primary"
	call := newCall(srv, req)
	call.RequestID = req.RequestID
	call.Headers = map[string]string{"OpenAI-Organization": "org-sim"}
	resp, err := do(t, call)
	require.NoError(t, err)
	rec := srv.Requests()[0]
	require.Equal(t, "caller-id-123", rec.RequestID, "headers %v", rec.Header)
	require.Equal(t, "Bearer "+testKey, rec.Header.Get("Authorization"), "headers %v", rec.Header)
	require.Equal(t, "org-sim", rec.Header.Get("OpenAI-Organization"), "headers %v", rec.Header)
	m := resp.(*messages.ChatResponse).Meta
	require.Equal(t, "sim-caller-id-123", m.UpstreamRequestID, "meta %+v", m)
	require.Equal(t, m.UpstreamRequestID, call.Result.UpstreamRequestID, "meta %+v", m)
	require.Equal(t, "caller-id-123", m.RequestID, "meta %+v", m)
	require.Equal(t, "primary", m.Key, "meta %+v", m)
	require.Equal(t, "openai", m.Provider, "meta %+v", m)
	for _, leak := range []string{"caller-id-123", "priority", "HIGH", "request_id", testKey} {
		require.False(t, bytes.Contains(rec.Body, []byte(leak)), "body leaks %q: %s", leak, rec.Body)
	}
}

func TestCheck(t *testing.T) {
	user := []messages.Message{{Role: "user", Content: "hi"}}
	tests := []struct {
		name string
		req  messages.Request
		want error
	}{
		{"chat ok", &messages.ChatRequest{Model: "m", Messages: user}, nil},
		{"embed ok", &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}, nil},
		{"responses ok", &messages.ResponsesRequest{Model: "m", Input: user}, nil},
		{"count tokens", &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: "m", Messages: user}}, messages.ErrUnsupported},
		{"nil", nil, messages.ErrUnsupported},
		{"nil chat", (*messages.ChatRequest)(nil), messages.ErrInvalidRequest},
		{"chat no model", &messages.ChatRequest{Messages: user}, messages.ErrInvalidRequest},
		{"chat no messages", &messages.ChatRequest{Model: "m", System: "s"}, messages.ErrInvalidRequest},
		{"chat bad role", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "wizard", Content: "x"}}}, messages.ErrInvalidRequest},
		{"chat tool without id", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "tool", Content: "x"}}}, messages.ErrInvalidRequest},
		{"chat image in system", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "system", Parts: []messages.Part{{Type: messages.PartImage, ImageURL: "https://x/y.png"}}}}}, messages.ErrInvalidRequest},
		{"chat empty image", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{{Type: messages.PartImage}}}}}, messages.ErrInvalidRequest},
		{"chat bad part", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{{Type: "audio"}}}}}, messages.ErrInvalidRequest},
		{"chat bad tool args", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "assistant", ToolCalls: []messages.ToolCall{{ID: "c", Name: "f", Arguments: json.RawMessage("{")}}}}}, messages.ErrInvalidRequest},
		{"chat temperature", &messages.ChatRequest{Model: "m", Messages: user, Temperature: ptr(2.5)}, messages.ErrInvalidRequest},
		{"chat top_p", &messages.ChatRequest{Model: "m", Messages: user, TopP: ptr(-0.1)}, messages.ErrInvalidRequest},
		{"chat bad tool name", &messages.ChatRequest{Model: "m", Messages: user, Tools: []messages.Tool{{Name: "has space"}}}, messages.ErrInvalidRequest},
		{"chat tool params not object", &messages.ChatRequest{Model: "m", Messages: user, Tools: []messages.Tool{{Name: "f", Parameters: json.RawMessage(`[1]`)}}}, messages.ErrInvalidRequest},
		{"chat choice names no tool", &messages.ChatRequest{Model: "m", Messages: user, Tools: []messages.Tool{{Name: "f"}}, ToolChoice: "g"}, messages.ErrInvalidRequest},
		{"chat required without tools", &messages.ChatRequest{Model: "m", Messages: user, ToolChoice: "required"}, messages.ErrInvalidRequest},
		{"chat extra not JSON", &messages.ChatRequest{Model: "m", Messages: user, Extra: map[string]any{"f": func() {}}}, messages.ErrInvalidRequest},
		{"embed no model", &messages.EmbedRequest{Inputs: []string{"a"}}, messages.ErrInvalidRequest},
		{"embed no inputs", &messages.EmbedRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"embed empty input", &messages.EmbedRequest{Model: "m", Inputs: []string{"a", ""}}, messages.ErrInvalidRequest},
		{"embed too many", &messages.EmbedRequest{Model: "m", Inputs: slices.Repeat([]string{"a"}, 2049)}, messages.ErrInvalidRequest},
		{"responses no input", &messages.ResponsesRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"responses small max output", &messages.ResponsesRequest{Model: "m", Input: user, MaxOutputTokens: 5}, messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := openai.New().Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "Check")
				return
			}
			var re *messages.RequestError
			require.ErrorIs(t, err, tt.want, "Check = %v, want %v as *RequestError", err, tt.want)
			require.ErrorAs(t, err, &re, "Check = %v, want %v as *RequestError", err, tt.want)
			// Do refuses the same request without calling out.
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

// rawPost sends body to the simulator as a client that bypasses the adapter.
func rawPost(t *testing.T, srv *sim.Server, path, contentType, auth, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &m), "answer is not JSON: %q", raw)
	return resp.StatusCode, m
}

func TestSimulatorRejects(t *testing.T) {
	const (
		chat = "/v1/chat/completions"
		emb  = "/v1/embeddings"
		resp = "/v1/responses"
		ct   = "application/json"
		auth = "Bearer " + testKey
	)
	strictTool := `{"type":"function","name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}}}}`
	tests := []struct {
		name, path, ct, auth, body string
		wantStatus                 int
		wantParam                  any
		invalid                    bool
	}{
		{"missing messages", chat, ct, auth, `{"model":"m"}`, 400, "messages", true},
		{"empty messages", chat, ct, auth, `{"model":"m","messages":[]}`, 400, "messages", true},
		{"bad role", chat, ct, auth, `{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, 400, "messages[0].role", true},
		{"missing model", chat, ct, auth, `{"messages":[{"role":"user","content":"x"}]}`, 400, nil, true},
		{"string temperature", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, 400, "temperature", true},
		{"temperature above 2", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":2.5}`, 400, "temperature", true},
		{"unknown field", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x"}],"priority":"high"}`, 400, "priority", true},
		{"unknown message field", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x","request_id":"r"}]}`, 400, "messages[0]", true},
		{"user without content", chat, ct, auth, `{"model":"m","messages":[{"role":"user"}]}`, 400, "messages[0].content", true},
		{"tool without call", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c","content":"r"}]}`, 400, "messages[1].role", true},
		{"tool call unanswered", chat, ct, auth, `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"x"}]}`, 400, "messages.[0].role", true},
		{"tool result after a user turn", chat, ct, auth, `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"user","content":"x"},{"role":"tool","tool_call_id":"c","content":"r"}]}`, 400, "messages.[0].role", true},
		{"object arguments", chat, ct, auth, `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{}}}]},{"role":"tool","tool_call_id":"c","content":"r"}]}`, 400, "messages[0].tool_calls[0].function.arguments", true},
		{"tool message without id", chat, ct, auth, `{"model":"m","messages":[{"role":"tool","content":"r"}]}`, 400, "messages[0].tool_call_id", true},
		{"bad image data", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,aGVsbG8="}}]}]}`, 400, "messages[0].content[0].image_url.url", true},
		{"tool_choice without tools", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"auto"}`, 400, "tool_choice", true},
		{"bad tool name", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a b"}}]}`, 400, "tools[0].function.name", true},
		{"stream_options without stream", chat, ct, auth, `{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}`, 400, "stream_options", true},
		{"not JSON", chat, ct, auth, `{"model":`, 400, nil, true},
		{"wrong content type", chat, "text/plain", auth, `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 400, nil, true},
		{"unknown path", "/v1/chat/complete", ct, auth, `{}`, 404, nil, true},
		{"no /v1 prefix", "/chat/completions", ct, auth, `{}`, 404, nil, true},
		{"no key", chat, ct, "", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 401, nil, false},
		{"basic auth", chat, ct, "Basic abc", `{"model":"m","messages":[{"role":"user","content":"x"}]}`, 401, nil, false},
		{"embed empty string", emb, ct, auth, `{"model":"m","input":["a",""]}`, 400, "input", true},
		{"embed no input", emb, ct, auth, `{"model":"m"}`, 400, "input", true},
		{"embed unknown field", emb, ct, auth, `{"model":"m","input":"a","normalize":true}`, 400, "normalize", true},
		{"embed bad format", emb, ct, auth, `{"model":"m","input":"a","encoding_format":"int8"}`, 400, "encoding_format", true},
		{"responses no input", resp, ct, auth, `{"model":"m"}`, 400, "input", true},
		{"responses bad item", resp, ct, auth, `{"model":"m","input":[{"type":"bogus"}]}`, 400, "input[0].type", true},
		{"responses assistant input_text", resp, ct, auth, `{"model":"m","input":[{"role":"assistant","content":[{"type":"input_text","text":"x"}]}]}`, 400, "input[0].content[0].type", true},
		{"responses orphan output", resp, ct, auth, `{"model":"m","input":[{"type":"function_call_output","call_id":"c","output":"x"}]}`, 400, "input", true},
		{"responses strict schema", resp, ct, auth, `{"model":"m","input":"x","tools":[` + strictTool + `]}`, 400, "tools[0].parameters", true},
		{"responses small max_output_tokens", resp, ct, auth, `{"model":"m","input":"x","max_output_tokens":8}`, 400, "max_output_tokens", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			status, body := rawPost(t, srv, tt.path, tt.ct, tt.auth, tt.body)
			e, _ := body["error"].(map[string]any)
			require.Equal(t, tt.wantStatus, status, "status %d body %v, want %d", status, body, tt.wantStatus)
			require.NotNil(t, e, "status %d body %v, want %d", status, body, tt.wantStatus)
			for _, k := range []string{"message", "type", "param", "code"} {
				_, ok := e[k]
				require.True(t, ok, "error body lacks %q: %v", k, e)
			}
			msg, _ := e["message"].(string)
			require.NotEqual(t, "", msg, "message %q", msg)
			require.NotContains(t, msg, testKey, "message %q", msg)
			if tt.wantStatus == 400 {
				require.True(t, e["type"] == "invalid_request_error", "error %v, want param %v", e, tt.wantParam)
				require.True(t, e["param"] == tt.wantParam, "error %v, want param %v", e, tt.wantParam)
			}
			wantInvalid := 0
			if tt.invalid {
				wantInvalid = 1
			}
			require.Equal(t, wantInvalid, srv.InvalidCalls(), "InvalidCalls")
			in, out := srv.Usage()
			require.Equal(t, 0, in+out, "a rejected request counted usage")
		})
	}
	t.Run("valid raw request", func(t *testing.T) {
		srv := startSim(t, nil)
		status, body := rawPost(t, srv, chat, "application/json; charset=utf-8", auth,
			`{"model":"m","messages":[{"role":"developer","content":[{"type":"text","text":"d"}]},{"role":"user","content":"x"}],"n":2,"temperature":null,"stop":"END"}`)
		require.Equal(t, 200, status, "status %d body %v", status, body)
		require.Len(t, body["choices"].([]any), 2, "status %d body %v", status, body)
		require.Equal(t, 0, srv.InvalidCalls(), "status %d body %v", status, body)
	})
	t.Run("models", func(t *testing.T) {
		srv := startSim(t, nil)
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1/models", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var m struct {
			Object string `json:"object"`
			Data   []struct {
				ID string `json:"id"`
			} `json:"data"`
		}
		err = json.NewDecoder(resp.Body).Decode(&m)
		require.NoError(t, err, "models: %d %+v %v", resp.StatusCode, m, err)
		require.Equal(t, 200, resp.StatusCode, "models: %d %+v %v", resp.StatusCode, m, err)
		require.Equal(t, "list", m.Object, "models: %d %+v %v", resp.StatusCode, m, err)
		require.NotEqual(t, 0, len(m.Data), "models: %d %+v %v", resp.StatusCode, m, err)
	})
}

func TestEmbeddingVectorDeterministic(t *testing.T) {
	a, b, c := sim.OpenAIEmbedding("same", 16), sim.OpenAIEmbedding("same", 16), sim.OpenAIEmbedding("other", 16)
	var norm float64
	for _, x := range a {
		norm += float64(x) * float64(x)
	}
	require.True(t, slices.Equal(a, b), "vectors %v %v %v norm %v", a, b, c, norm)
	require.False(t, slices.Equal(a, c), "vectors %v %v %v norm %v", a, b, c, norm)
	require.Len(t, a, 16, "vectors %v %v %v norm %v", a, b, c, norm)
	require.False(t, norm < 0.999, "vectors %v %v %v norm %v", a, b, c, norm)
	require.False(t, norm > 1.001, "vectors %v %v %v norm %v", a, b, c, norm)
}

// TestDecodeStreams feeds handcrafted streams straight into the decoders.
func TestDecodeStreams(t *testing.T) {
	type want struct {
		text, finish string
		calls        []messages.ToolCall
		usage        messages.Usage
		chunks       int
	}
	tests := []struct {
		name      string
		responses bool
		body      string
		want      want
	}{
		{
			name: "chat second choice ignored",
			body: "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"A\"}},{\"index\":1,\"delta\":{\"content\":\"B\"}}]}\n\n" +
				"data: {\"choices\":[{\"index\":1,\"delta\":{},\"finish_reason\":\"length\"},{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
			want: want{text: "A", finish: messages.FinishStop, chunks: 1},
		},
		{
			name: "chat interleaved tool calls, CRLF",
			body: strings.ReplaceAll("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"id\":\"c2\",\"function\":{\"name\":\"g\",\"arguments\":\"\"}}]}}]}\n\n"+
				"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\"\"}}]}}]}\n\n"+
				"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,\"function\":{\"arguments\":\"{}\"}}]}}]}\n\n"+
				"data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":\":1}\"}}]}}]}\n\n"+
				"data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"tool_calls\"}]}\n\n"+
				"data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":2}}}\n\ndata: [DONE]\n\n", "\n", "\r\n"),
			want: want{finish: messages.FinishToolCalls, chunks: 4, usage: messages.Usage{InputTokens: 4, OutputTokens: 6, CacheReadTokens: 2},
				calls: []messages.ToolCall{{ID: "c1", Name: "f", Arguments: json.RawMessage(`{"a":1}`)}, {ID: "c2", Name: "g", Arguments: json.RawMessage(`{}`)}}},
		},
		{
			name: "chat refusal",
			body: "data: {\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I can't\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
			want: want{text: "I can't", finish: messages.FinishContentFilter},
		},
		{
			name: "chat truncated tool arguments stay valid JSON",
			body: "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\"}}]},\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n",
			want: want{finish: messages.FinishLength, chunks: 1, calls: []messages.ToolCall{{ID: "c", Name: "f", Arguments: json.RawMessage(`"{\"a"`)}}},
		},
		{
			name:      "responses final response without output",
			responses: true,
			body: "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{\"type\":\"function_call\",\"call_id\":\"c\",\"name\":\"f\",\"arguments\":\"\"}}\n\n" +
				"event: response.function_call_arguments.delta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"output_index\":1,\"delta\":\"{}\"}\n\n" +
				"event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"output_index\":0,\"delta\":\"Hi\"}\n\n" +
				"event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":{\"id\":\"r\",\"status\":\"completed\",\"usage\":{\"input_tokens\":2,\"output_tokens\":3}}}\n\n",
			want: want{text: "Hi", finish: "completed", chunks: 3, usage: messages.Usage{InputTokens: 2, OutputTokens: 3},
				calls: []messages.ToolCall{{ID: "c", Name: "f", Arguments: json.RawMessage(`{}`)}}},
		},
		{
			name:      "responses event type from the event line",
			responses: true,
			body:      "event: response.incomplete\ndata: {\"response\":{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"},\"output\":[{\"type\":\"reasoning\",\"summary\":[]},{\"type\":\"message\",\"content\":[{\"type\":\"output_text\",\"text\":\"part\"}]}]}}\n\n",
			want:      want{text: "part", finish: "incomplete"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			call := &providers.Call{RequestID: "r"}
			rec := &recorder{}
			call.Emit = rec.Emit
			em := providers.NewEmitter(call)
			var got want
			if tt.responses {
				rr, err := openai.DecodeResponsesStream(strings.NewReader(tt.body), call, em)
				require.NoError(t, err)
				got = want{text: rr.OutputText, finish: rr.Status, calls: rr.ToolCalls, usage: rr.Usage}
			} else {
				cr, err := openai.DecodeChatStream(strings.NewReader(tt.body), call, em)
				require.NoError(t, err)
				got = want{text: cr.Content, finish: cr.FinishReason, calls: cr.ToolCalls, usage: cr.Usage}
			}
			for _, ch := range rec.All() {
				if ch.Type != messages.ChunkEvent && ch.Type != messages.ChunkUsage {
					got.chunks++
				}
			}
			require.Equal(t, tt.want.text, got.text, "got %+v, want %+v", got, tt.want)
			require.Equal(t, tt.want.finish, got.finish, "got %+v, want %+v", got, tt.want)
			require.True(t, got.usage == tt.want.usage, "got %+v, want %+v", got, tt.want)
			require.Equal(t, tt.want.chunks, got.chunks, "got %+v, want %+v", got, tt.want)
			require.Len(t, got.calls, len(tt.want.calls), "got %+v, want %+v", got, tt.want)
			for i, c := range got.calls {
				w := tt.want.calls[i]
				require.Equal(t, w.ID, c.ID, "call %d = %+v (%s), want %+v (%s)", i, c, c.Arguments, w, w.Arguments)
				require.Equal(t, w.Name, c.Name, "call %d = %+v (%s), want %+v (%s)", i, c, c.Arguments, w, w.Arguments)
				require.Equal(t, string(w.Arguments), string(c.Arguments), "call %d = %+v (%s), want %+v (%s)", i, c, c.Arguments, w, w.Arguments)
			}
		})
	}
}
