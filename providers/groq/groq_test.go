package groq_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/groq"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testKey is a fake Groq key; tests assert it never shows up in errors.
const testKey = "gsk_test0123456789abcdefSECRET"

const model = "llama-3.3-70b-versatile"

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

var weatherTool = messages.Tool{Name: "get_weather", Description: "Weather in a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func startSim(t testing.TB, b *sim.GroqBackend) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.Groq()
	}
	return providertest.StartSim(t, b)
}

type recorder = providertest.Recorder

func newCall(baseURL string, req messages.Request) *providers.Call {
	return providertest.NewCall("groq", baseURL, testKey, req)
}

func do(t *testing.T, a *groq.Adapter, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, a, call)
}

func upstreamErr(t *testing.T, err error) *messages.UpstreamError {
	t.Helper()
	return providertest.UpstreamError(t, err, testKey)
}

func lastBody(t *testing.T, srv *sim.Server) map[string]any {
	t.Helper()
	return providertest.LastBody(t, srv)
}

func user(s string) []messages.Message { return []messages.Message{{Role: "user", Content: s}} }

func TestKindAndConstants(t *testing.T) {
	a := groq.New()
	require.Equal(t, "groq", a.Kind(), "kind %q, constants %q %q %q", a.Kind(), groq.Kind, groq.EnvKey, groq.DefaultBaseURL)
	require.True(t, groq.Kind == "groq", "kind %q, constants %q %q %q", a.Kind(), groq.Kind, groq.EnvKey, groq.DefaultBaseURL)
	require.True(t, groq.EnvKey == "GROQ_API_KEY", "kind %q, constants %q %q %q", a.Kind(), groq.Kind, groq.EnvKey, groq.DefaultBaseURL)
	require.True(t, groq.DefaultBaseURL == "https://api.groq.com/openai/v1", "kind %q, constants %q %q %q", a.Kind(), groq.Kind, groq.EnvKey, groq.DefaultBaseURL)
}

// TestOperations is the per-backend table: every operation's happy path,
// the stream in order with usage, tools plain and streamed, images on a
// vision model, and the model list, against both base URL forms.
func TestOperations(t *testing.T) {
	srv := startSim(t, nil)
	for _, base := range []string{srv.URL, srv.URL + "/openai/v1", srv.URL + "/openai/v1/"} {
		t.Run(base[len(srv.URL):], func(t *testing.T) {
			tests := []struct {
				name  string
				req   messages.Request
				check func(t *testing.T, resp messages.Response, chunks []messages.StreamChunk, body map[string]any)
			}{
				{"chat", &messages.ChatRequest{Model: model, System: "be brief", Messages: user("Hello Groq"), MaxTokens: 50, Temperature: ptr(0.2)},
					func(t *testing.T, resp messages.Response, _ []messages.StreamChunk, body map[string]any) {
						r := resp.(*messages.ChatResponse)
						require.Equal(t, "echo: Hello Groq", r.Content, "answer %+v", r)
						require.Equal(t, string(messages.FinishStop), r.FinishReason, "answer %+v", r)
						require.NotEqual(t, 0, r.Usage.InputTokens, "answer %+v", r)
						require.Equal(t, 3, r.Usage.OutputTokens, "answer %+v", r)
						require.True(t, body["max_completion_tokens"] == 50.0, "body %v", body)
						require.True(t, body["stream"] == nil, "body %v", body)
					}},
				{"chat stream", &messages.ChatRequest{Model: model, Messages: user("one two three four five six seven"), Stream: true},
					func(t *testing.T, resp messages.Response, chunks []messages.StreamChunk, body map[string]any) {
						r := resp.(*messages.ChatResponse)
						var text strings.Builder
						for i, c := range chunks {
							require.Equal(t, i, c.Seq, "chunk %d has seq %d", i, c.Seq)
							if c.Type == messages.ChunkText {
								text.WriteString(c.Text)
							}
						}
						last := chunks[len(chunks)-1]
						require.Equal(t, messages.ChunkUsage, last.Type, "last chunk %+v", last)
						require.Equal(t, 8, last.Usage.OutputTokens, "last chunk %+v", last)
						require.Equal(t, 7, last.Usage.InputTokens, "last chunk %+v", last)
						require.Equal(t, "echo: one two three four five six seven", text.String(), "streamed %q in %d chunks, answer %+v", text.String(), len(chunks), r)
						require.Equal(t, text.String(), r.Content, "streamed %q in %d chunks, answer %+v", text.String(), len(chunks), r)
						require.True(t, r.Usage == *last.Usage, "streamed %q in %d chunks, answer %+v", text.String(), len(chunks), r)
						require.GreaterOrEqual(t, len(chunks), 4, "streamed %q in %d chunks, answer %+v", text.String(), len(chunks), r)
						_, ok := body["stream_options"]
						require.False(t, ok, "stream body %v", body)
						require.True(t, body["stream"] == true, "stream body %v", body)
					}},
				{"tools", &messages.ChatRequest{Model: model, Messages: user("weather in Paris?"), Tools: []messages.Tool{weatherTool}},
					func(t *testing.T, resp messages.Response, _ []messages.StreamChunk, _ map[string]any) {
						r := resp.(*messages.ChatResponse)
						require.Equal(t, string(messages.FinishToolCalls), r.FinishReason, "answer %+v", r)
						require.Len(t, r.ToolCalls, 1, "answer %+v", r)
						require.Equal(t, "get_weather", r.ToolCalls[0].Name, "answer %+v", r)
						require.Equal(t, `{"city":"Paris"}`, string(r.ToolCalls[0].Arguments), "answer %+v", r)
					}},
				{"tools stream", &messages.ChatRequest{Model: model, Messages: user("weather in Rome?"), Tools: []messages.Tool{weatherTool}, ToolChoice: "get_weather", Stream: true},
					func(t *testing.T, resp messages.Response, chunks []messages.StreamChunk, _ map[string]any) {
						r := resp.(*messages.ChatResponse)
						require.Len(t, r.ToolCalls, 1, "answer %+v", r)
						require.Equal(t, `{"city":"Rome"}`, string(r.ToolCalls[0].Arguments), "answer %+v", r)
						require.NotEqual(t, "", r.ToolCalls[0].ID, "answer %+v", r)
						require.Equal(t, messages.ChunkToolCall, chunks[0].Type, "chunks %+v", chunks)
						require.Equal(t, "get_weather", chunks[0].ToolCall.Name, "chunks %+v", chunks)
						require.Equal(t, messages.ChunkUsage, chunks[len(chunks)-1].Type, "chunks %+v", chunks)
					}},
				{"image on vision model", &messages.ChatRequest{Model: "meta-llama/llama-4-scout-17b-16e-instruct", Messages: []messages.Message{{Role: "user", Parts: []messages.Part{
					{Type: messages.PartText, Text: "what is this"}, {Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"}}}}},
					func(t *testing.T, resp messages.Response, _ []messages.StreamChunk, _ map[string]any) {
						r := resp.(*messages.ChatResponse)
						require.Equal(t, "echo: what is this [1 image]", r.Content, "answer %+v", r)
					}},
				{"models", &messages.ModelsRequest{},
					func(t *testing.T, resp messages.Response, _ []messages.StreamChunk, _ map[string]any) {
						r := resp.(*messages.ModelsResponse)
						byID := map[string]messages.ModelInfo{}
						for _, m := range r.Models {
							byID[m.ID] = m
						}
						llama, scout, guard, whisper := byID[model], byID["meta-llama/llama-4-scout-17b-16e-instruct"], byID["meta-llama/llama-guard-4-12b"], byID["whisper-large-v3"]
						require.Len(t, r.Models, 6, "models")
						require.Equal(t, 131072, llama.ContextWindow, "models")
						require.Equal(t, "Meta", llama.OwnedBy, "models")
						require.NotEqual(t, int64(0), llama.Created, "models")
						require.True(t, llama.Details["max_completion_tokens"] == 32768.0, "models")
						require.True(t, llama.Details["active"] == true, "models")
						require.True(t, slices.Equal(llama.Capabilities, []string{"chat", "tools"}), "capabilities: llama %v scout %v guard %v whisper %v", llama.Capabilities, scout.Capabilities, guard.Capabilities, whisper.Capabilities)
						require.True(t, slices.Contains(scout.Capabilities, "vision"), "capabilities: llama %v scout %v guard %v whisper %v", llama.Capabilities, scout.Capabilities, guard.Capabilities, whisper.Capabilities)
						require.False(t, slices.Contains(guard.Capabilities, "tools"), "capabilities: llama %v scout %v guard %v whisper %v", llama.Capabilities, scout.Capabilities, guard.Capabilities, whisper.Capabilities)
						require.False(t, slices.Contains(whisper.Capabilities, "chat"), "capabilities: llama %v scout %v guard %v whisper %v", llama.Capabilities, scout.Capabilities, guard.Capabilities, whisper.Capabilities)
					}},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					rec := &recorder{}
					call := newCall(base, tt.req)
					if sr, ok := tt.req.(messages.StreamingRequest); ok && sr.Streaming() {
						call.Emit = rec.Emit
					}
					before := srv.InvalidCalls()
					resp, err := do(t, groq.New(), call)
					require.NoError(t, err, "Do")
					require.Equal(t, before, srv.InvalidCalls(), "the simulator rejected the request")
					var body map[string]any
					if _, ok := tt.req.(*messages.ChatRequest); ok {
						body = lastBody(t, srv)
					}
					tt.check(t, resp, rec.All(), body)
					require.Equal(t, 200, call.Result.Status, "result %+v", call.Result)
					require.NotEqual(t, "", call.Result.UpstreamRequestID, "result %+v", call.Result)
					require.True(t, call.Result.RateLimit.Known, "result %+v", call.Result)
				})
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestToolRoundTrip(t *testing.T) {
	srv := startSim(t, nil)
	a := groq.New()
	first, err := do(t, a, newCall(srv.URL, &messages.ChatRequest{Model: model, Messages: user("weather in Oslo"), Tools: []messages.Tool{weatherTool}}))
	require.NoError(t, err)
	calls := first.(*messages.ChatResponse).ToolCalls
	resp, err := do(t, a, newCall(srv.URL, &messages.ChatRequest{Model: model, Tools: []messages.Tool{weatherTool}, Messages: []messages.Message{
		{Role: "user", Content: "weather in Oslo"},
		{Role: "assistant", ToolCalls: calls},
		{Role: "tool", ToolCallID: calls[0].ID, Content: "cold"},
	}}))
	require.NoError(t, err)
	r := resp.(*messages.ChatResponse)
	require.Equal(t, "The tool returned: cold", r.Content, "answer %+v", r)
}

// TestUsageAcrossStreamAndSim checks that the usage the adapter reports for
// streams (x_groq.usage) matches what the simulator counted.
func TestUsageAcrossStreamAndSim(t *testing.T) {
	srv := startSim(t, nil)
	call := newCall(srv.URL, &messages.ChatRequest{Model: model, Messages: user("count me in"), Stream: true})
	call.Emit = (&recorder{}).Emit
	_, err := do(t, groq.New(), call)
	require.NoError(t, err)
	in, out := srv.Usage()
	require.Equal(t, in, call.Result.Usage.InputTokens, "adapter usage %+v, simulator %d/%d", call.Result.Usage, in, out)
	require.Equal(t, out, call.Result.Usage.OutputTokens, "adapter usage %+v, simulator %d/%d", call.Result.Usage, in, out)
	require.NotEqual(t, 0, out, "adapter usage %+v, simulator %d/%d", call.Result.Usage, in, out)
}

// TestErrorClasses is the error table: each failure the service produces,
// its class, whether it is retried, and the delay it asked for.
func TestErrorClasses(t *testing.T) {
	chat := func() messages.Request { return &messages.ChatRequest{Model: model, Messages: user("hi")} }
	stream := func() messages.Request {
		return &messages.ChatRequest{Model: model, Messages: user("hi there you"), Stream: true}
	}
	tests := []struct {
		name      string
		fault     *sim.Fault
		backend   *sim.GroqBackend
		req       func() messages.Request
		key       string
		keys      []string
		client    *providers.Client
		class     messages.ErrorClass
		retryable bool
		status    int
		delay     time.Duration
		code      string
		msg       string
	}{
		{name: "429 with retry-after", fault: &sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "7"}}, req: chat, class: messages.ClassRateLimited, retryable: true, status: 429, delay: 7 * time.Second, code: "rate_limit_exceeded"},
		{name: "429 per-day budget spent", backend: &sim.GroqBackend{RequestsPerDay: 1, EnforceRateLimit: true}, req: chat, class: messages.ClassRateLimited, retryable: true, status: 429, delay: 24 * time.Hour, code: "rate_limit_exceeded"},
		{name: "401 unknown key", key: "gsk_unknown-key-0000", keys: []string{testKey}, req: chat, class: messages.ClassAuth, status: 401, code: "invalid_api_key"},
		{name: "401 not a groq key", key: "sk-openai-key-123456", req: chat, class: messages.ClassAuth, status: 401, code: "invalid_api_key"},
		{name: "403", fault: &sim.Fault{Status: 403}, req: chat, class: messages.ClassAuth, status: 403},
		{name: "400 validation", req: func() messages.Request {
			return &messages.ChatRequest{Model: model, Messages: user("x"), Extra: map[string]any{"stream_options": map[string]any{"include_usage": true}, "best_of": 2}}
		}, class: messages.ClassInvalid, status: 400, msg: "property 'best_of' is unsupported"},
		{name: "404 unknown model", req: func() messages.Request { return &messages.ChatRequest{Model: "no-such-model", Messages: user("x")} }, class: messages.ClassInvalid, status: 404, code: "model_not_found"},
		{name: "400 tool_use_failed", req: func() messages.Request {
			return &messages.ChatRequest{Model: model, Messages: user("weather, malformed please"), Tools: []messages.Tool{weatherTool}}
		}, class: messages.ClassInvalid, status: 400, code: "tool_use_failed", msg: "failed_generation: <function=get_weather>"},
		{name: "413", fault: &sim.Fault{Status: 413}, req: chat, class: messages.ClassInvalid, status: 413, code: "request_too_large"},
		{name: "498 capacity exceeded", fault: &sim.Fault{Status: 498}, req: chat, class: messages.ClassServer, retryable: true, status: 498, code: "capacity_exceeded"},
		{name: "499 cancelled by groq", fault: &sim.Fault{Status: 499}, req: chat, class: messages.ClassServer, retryable: true, status: 499, code: "request_cancelled"},
		{name: "500", fault: &sim.Fault{Status: 500}, req: chat, class: messages.ClassServer, retryable: true, status: 500},
		{name: "503 with retry-after", fault: &sim.Fault{Status: 503, Header: map[string]string{"Retry-After": "2"}}, req: chat, class: messages.ClassServer, retryable: true, status: 503, delay: 2 * time.Second},
		{name: "malformed JSON", fault: &sim.Fault{Malformed: true}, req: chat, class: messages.ClassMalformed, status: 200},
		{name: "stream cut", fault: &sim.Fault{CutAfter: 2}, req: stream, class: messages.ClassStreamCut, retryable: true, status: 200},
		{name: "stream stall", fault: &sim.Fault{StallAfter: 2}, req: stream, client: &providers.Client{HeaderTimeout: 5 * time.Second, IdleTimeout: 200 * time.Millisecond}, class: messages.ClassTimeout, retryable: true, status: 200},
		{name: "header timeout", fault: &sim.Fault{HeaderDelay: 2 * time.Second}, req: chat, client: &providers.Client{HeaderTimeout: 100 * time.Millisecond}, class: messages.ClassTimeout, retryable: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.backend
			if b == nil {
				b = sim.Groq()
			}
			srv := sim.Start(b, sim.WithKeys(tt.keys...))
			t.Cleanup(srv.Close)
			if tt.fault != nil {
				srv.Inject(*tt.fault)
			}
			if tt.backend != nil && tt.backend.EnforceRateLimit {
				_, err := do(t, groq.New(), newCall(srv.URL, tt.req()))
				require.NoError(t, err, "first request")
			}
			call := newCall(srv.URL, tt.req())
			if tt.key != "" {
				call.Key = providers.NewCredential("primary", tt.key)
			}
			if tt.client != nil {
				call.Client = tt.client
			}
			call.Emit = (&recorder{}).Emit
			_, err := do(t, groq.New(), call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.class, ue.Class, "got %v (retryable %v, status %d), want %v (%v, %d)", ue, ue.Retryable(), ue.Status, tt.class, tt.retryable, tt.status)
			require.Equal(t, tt.retryable, ue.Retryable(), "got %v (retryable %v, status %d), want %v (%v, %d)", ue, ue.Retryable(), ue.Status, tt.class, tt.retryable, tt.status)
			require.Equal(t, tt.status, ue.Status, "got %v (retryable %v, status %d), want %v (%v, %d)", ue, ue.Retryable(), ue.Status, tt.class, tt.retryable, tt.status)
			if tt.delay >= time.Hour {
				require.GreaterOrEqual(t, ue.RetryAfter, time.Second, "retry after %v, want the per-day replenish delay", ue.RetryAfter)
				require.LessOrEqual(t, ue.RetryAfter, tt.delay, "retry after %v, want the per-day replenish delay", ue.RetryAfter)
			} else {
				require.Equal(t, tt.delay, ue.RetryAfter, "retry after")
			}
			if tt.code != "" {
				require.Equal(t, tt.code, ue.Code, "code %q, want %q (%v)", ue.Code, tt.code, ue)
			}
			if tt.msg != "" {
				require.Contains(t, ue.Message, tt.msg, "message %q lacks %q", ue.Message, tt.msg)
			}
			require.Equal(t, "rid-chat", ue.RequestID, "error identity %+v", ue)
			require.Equal(t, "primary", ue.Key, "error identity %+v", ue)
		})
	}
}

// TestInStreamError: a stream Groq stops early reports x_groq.error.
func TestInStreamError(t *testing.T) {
	body := "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}],\"x_groq\":{\"id\":\"req_1\"}}\n\n" +
		"data: {\"id\":\"c\",\"choices\":[],\"x_groq\":{\"id\":\"req_1\",\"error\":\"stream stopped: model overloaded\"}}\n\n"
	call := &providers.Call{RequestID: "r", Provider: "groq", Key: providers.NewCredential("k", testKey), Result: providers.CallResult{Status: 200}}
	_, err := groq.New().DecodeChatStream(strings.NewReader(body), call, providers.NewEmitter(call))
	ue := upstreamErr(t, err)
	require.Equal(t, messages.ClassServer, ue.Class, "error %v", ue)
	require.Contains(t, ue.Message, "model overloaded", "error %v", ue)
}

func TestRateLimitHeadersPerDay(t *testing.T) {
	srv := startSim(t, &sim.GroqBackend{RequestsPerDay: 1000, TokensPerMinute: 6000})
	call := newCall(srv.URL, &messages.ChatRequest{Model: model, Messages: user("hello")})
	_, err := do(t, groq.New(), call)
	require.NoError(t, err)
	rl := call.Result.RateLimit
	// One request of a 1000-per-day budget takes 86.4 s to replenish.
	untilReq := time.Until(rl.ResetRequests)
	require.True(t, rl.Known, "rate limit %+v (requests reset in %v)", rl, untilReq)
	require.Equal(t, int64(1000), rl.LimitRequests, "rate limit %+v (requests reset in %v)", rl, untilReq)
	require.Equal(t, int64(999), rl.RemainingRequests, "rate limit %+v (requests reset in %v)", rl, untilReq)
	require.Equal(t, int64(6000), rl.LimitTokens, "rate limit %+v (requests reset in %v)", rl, untilReq)
	require.Less(t, rl.RemainingTokens, int64(6000), "rate limit %+v (requests reset in %v)", rl, untilReq)
	require.GreaterOrEqual(t, untilReq, 80*time.Second, "rate limit %+v (requests reset in %v)", rl, untilReq)
	require.LessOrEqual(t, untilReq, 87*time.Second, "rate limit %+v (requests reset in %v)", rl, untilReq)
	require.LessOrEqual(t, time.Until(rl.ResetTokens), time.Minute, "rate limit %+v (requests reset in %v)", rl, untilReq)
}

// TestCatalogCheck: with a catalogue, requests a model cannot serve fail in
// Check, before anything is sent.
func TestCatalogCheck(t *testing.T) {
	srv := startSim(t, nil)
	resp, err := do(t, groq.New(), newCall(srv.URL, &messages.ModelsRequest{}))
	require.NoError(t, err)
	models := resp.(*messages.ModelsResponse).Models
	inactive := messages.ModelInfo{ID: "gemma2-9b-it", Details: map[string]any{"active": false}}
	a := groq.New(groq.WithCatalog(append(slices.Clone(models), inactive)))
	image := []messages.Message{{Role: "user", Parts: []messages.Part{{Type: messages.PartImage, ImageURL: "https://example.com/a.png"}}}}
	manyImages := []messages.Message{{Role: "user", Parts: slices.Repeat([]messages.Part{{Type: messages.PartImage, ImageURL: "https://example.com/a.png"}}, 6)}}
	tests := []struct {
		name string
		req  messages.Request
		want error
	}{
		{"served", &messages.ChatRequest{Model: model, Messages: user("hi"), Tools: []messages.Tool{weatherTool}}, nil},
		{"vision served", &messages.ChatRequest{Model: "meta-llama/llama-4-scout-17b-16e-instruct", Messages: image}, nil},
		{"models always", &messages.ModelsRequest{}, nil},
		{"unknown model", &messages.ChatRequest{Model: "gpt-4o", Messages: user("hi")}, messages.ErrInvalidRequest},
		{"inactive model", &messages.ChatRequest{Model: "gemma2-9b-it", Messages: user("hi")}, messages.ErrInvalidRequest},
		{"no chat", &messages.ChatRequest{Model: "whisper-large-v3", Messages: user("hi")}, messages.ErrInvalidRequest},
		{"no tools", &messages.ChatRequest{Model: "meta-llama/llama-guard-4-12b", Messages: user("hi"), Tools: []messages.Tool{weatherTool}}, messages.ErrInvalidRequest},
		{"no vision", &messages.ChatRequest{Model: model, Messages: image}, messages.ErrInvalidRequest},
		{"max tokens over model limit", &messages.ChatRequest{Model: "meta-llama/llama-4-scout-17b-16e-instruct", Messages: user("hi"), MaxTokens: 9000}, messages.ErrInvalidRequest},
		{"too many images", &messages.ChatRequest{Model: "meta-llama/llama-4-scout-17b-16e-instruct", Messages: manyImages}, messages.ErrInvalidRequest},
		{"too many stops", &messages.ChatRequest{Model: model, Messages: user("hi"), Stop: []string{"a", "b", "c", "d", "e"}}, messages.ErrInvalidRequest},
		{"embeddings unsupported", &messages.EmbedRequest{Model: model, Inputs: []string{"a"}}, messages.ErrUnsupported},
		{"generate unsupported", &messages.GenerateRequest{Model: model, Prompt: "a"}, messages.ErrUnsupported},
		{"responses unsupported", &messages.ResponsesRequest{Model: model, Input: user("a")}, messages.ErrUnsupported},
		{"openai checks still apply", &messages.ChatRequest{Model: model, Messages: user("hi"), Temperature: ptr(3.0)}, messages.ErrInvalidRequest},
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
			_, err = do(t, a, newCall(srv.URL, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassInvalid, ue.Class, "Do: %v, %d calls", ue, srv.Calls()-calls)
			require.False(t, ue.Retryable(), "Do: %v, %d calls", ue, srv.Calls()-calls)
			require.Equal(t, calls, srv.Calls(), "Do: %v, %d calls", ue, srv.Calls()-calls)
		})
	}
	// The same requests reach the simulator without a catalogue, and it
	// rejects the ones a model cannot serve: the catalogue mirrors the server.
	plain := groq.New()
	for _, tt := range tests[3:9] {
		if tt.name == "inactive model" {
			continue
		}
		t.Run("server agrees/"+tt.name, func(t *testing.T) {
			require.NoError(t, plain.Check(tt.req), "Check without catalogue")
			before := srv.InvalidCalls()
			_, err := do(t, plain, newCall(srv.URL, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassInvalid, ue.Class, "server answer %v", ue)
			require.Equal(t, before+1, srv.InvalidCalls(), "server answer %v", ue)
		})
	}
	// Refreshing and clearing the catalogue.
	a.SetCatalog([]messages.ModelInfo{{ID: "only-this"}})
	require.Len(t, a.Catalog(), 1, "catalog")
	require.True(t, slices.Equal(a.Catalog()[0].Capabilities, []string{"chat", "tools"}), "catalog")
	require.ErrorIs(t, a.Check(&messages.ChatRequest{Model: model, Messages: user("hi")}), messages.ErrInvalidRequest, "after refresh")
	a.SetCatalog(nil)
	require.Nil(t, a.Catalog(), "clearing the catalogue did not turn the checks off")
	require.NoError(t, a.Check(&messages.ChatRequest{Model: "anything", Messages: user("hi")}), "clearing the catalogue did not turn the checks off")
}

func TestCapabilities(t *testing.T) {
	for id, want := range map[string][]string{
		"llama-3.3-70b-versatile":                   {"chat", "tools"},
		"meta-llama/llama-4-maverick-17b-128e":      {"chat", "tools", "vision"},
		"llama-3.2-90b-vision-preview":              {"chat", "tools", "vision"},
		"meta-llama/llama-prompt-guard-2-86m":       {"chat"},
		"whisper-large-v3-turbo":                    {"transcription"},
		"playai-tts":                                {"speech"},
		"meta-llama/llama-4-scout-17b-16e-instruct": {"chat", "tools", "vision"},
	} {
		got := groq.Capabilities(id)
		assert.True(t, slices.Equal(got, want), "Capabilities(%q) = %v, want %v", id, got, want)
	}
}

// TestConcurrentCatalogRefresh: Check and SetCatalog race-free.
func TestConcurrentCatalogRefresh(t *testing.T) {
	a := groq.New()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 200 {
				a.SetCatalog([]messages.ModelInfo{{ID: model}, {ID: fmt.Sprint(i)}})
			}
		}()
		go func() {
			defer wg.Done()
			for range 200 {
				_ = a.Check(&messages.ChatRequest{Model: model, Messages: user("hi")})
			}
		}()
	}
	wg.Wait()
}

func TestRequestIDHeaderOnly(t *testing.T) {
	srv := startSim(t, nil)
	call := newCall(srv.URL, &messages.ChatRequest{Model: model, Messages: user("hi")})
	call.RequestID = "req-xyz-1"
	_, err := do(t, groq.New(), call)
	require.NoError(t, err)
	rec := srv.Requests()[0]
	require.Equal(t, "req-xyz-1", rec.RequestID, "record %+v", rec)
	require.NotContains(t, string(rec.Body), "req-xyz-1", "record %+v", rec)
	require.Equal(t, "Bearer "+testKey, rec.Header.Get("Authorization"), "record %+v", rec)
	require.Equal(t, "/openai/v1/chat/completions", rec.Path, "path")
	require.Equal(t, string(http.MethodPost), rec.Method, "path")
}
