package anthropic

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSecret is the key the tests authorise with; no error or log may show it.
const testSecret = "sk-ant-test-0123456789abcdef"

func startSim(t *testing.T, opts ...sim.Option) *sim.Server {
	t.Helper()
	s := sim.Start(sim.Anthropic(), opts...)
	t.Cleanup(s.Close)
	return s
}

func newCall(s *sim.Server, req messages.Request) *providers.Call {
	c := &providers.Call{
		Request:   req,
		RequestID: "rid-0001",
		Attempt:   1,
		Provider:  "claude",
		Endpoint:  "primary",
		BaseURL:   s.URL,
		Key:       providers.NewCredential("key-a", testSecret),
		Client:    &providers.Client{IdleTimeout: 10 * time.Second},
	}
	return c
}

// run is one Do against a simulator, with the chunks it emitted.
type run = providertest.Run

func doCall(t *testing.T, call *providers.Call) *run {
	t.Helper()
	return providertest.DoRun(t, New(), call, testSecret)
}

func lastBody(t *testing.T, s *sim.Server) map[string]any {
	t.Helper()
	return providertest.LastBodyNumbers(t, s)
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	return providertest.JSONOf(t, v)
}

func doChat(t *testing.T, s *sim.Server, req *messages.ChatRequest) *run {
	t.Helper()
	return doCall(t, newCall(s, req))
}

func user(text string) messages.Message {
	return messages.Message{Role: messages.RoleUser, Content: text}
}

func f64(v float64) *float64 { return &v }

var weatherTool = messages.Tool{
	Name:        "get_weather",
	Description: "Get weather",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"units":{"enum":["celsius","fahrenheit"],"type":"string"}},"required":["city"]}`),
}

var timeTool = messages.Tool{Name: "get_time", Description: "Current time"}

// png is the start of a PNG file: enough for content sniffing.
var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")

func TestChat(t *testing.T) {
	tests := []struct {
		name string
		req  messages.ChatRequest
		// want is checked field by field where set.
		content, finish, raw string
		usage                messages.Usage
		tools                int
		body                 map[string]string // JSON of body fields; "-" means absent
	}{
		{
			name:    "plain text",
			req:     messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hello there")}},
			content: "You said: Hello there", finish: messages.FinishStop, raw: "end_turn",
			usage: messages.Usage{InputTokens: 2, OutputTokens: 4},
			body:  map[string]string{"model": `"claude-test"`, "max_tokens": "1024", "messages": `[{"content":"Hello there","role":"user"}]`, "stream": "-", "system": "-", "temperature": "-", "tools": "-"},
		},
		{
			name: "system prompt and system messages merged",
			req: messages.ChatRequest{Model: "claude-test", System: "Be brief.", Messages: []messages.Message{
				{Role: messages.RoleSystem, Content: "Answer in English."}, user("Hi"),
			}},
			content: "You said: Hi", finish: messages.FinishStop, raw: "end_turn",
			usage: messages.Usage{InputTokens: 6, OutputTokens: 3},
			body:  map[string]string{"system": `"Be brief.\n\nAnswer in English."`, "messages": `[{"content":"Hi","role":"user"}]`},
		},
		{
			name: "sampling parameters and a stop sequence",
			req: messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hi")},
				Temperature: f64(0.5), TopP: f64(0.9), Stop: []string{"said"}, MaxTokens: 300},
			content: "You ", finish: messages.FinishStop, raw: "stop_sequence",
			usage: messages.Usage{InputTokens: 1, OutputTokens: 1},
			body:  map[string]string{"temperature": "0.5", "top_p": "0.9", "stop_sequences": `["said"]`, "max_tokens": "300"},
		},
		{
			name:    "max tokens reached",
			req:     messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("one two three")}, MaxTokens: 2},
			content: "You said:", finish: messages.FinishLength, raw: "max_tokens",
			usage: messages.Usage{InputTokens: 3, OutputTokens: 2},
			body:  map[string]string{"max_tokens": "2"},
		},
		{
			name: "images inline, by URL and as data URL",
			req: messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{{Role: messages.RoleUser, Parts: []messages.Part{
				{Type: messages.PartText, Text: "Compare these"},
				{Type: messages.PartImage, Data: png},
				{Type: messages.PartImage, ImageURL: "https://example.com/cat.jpg"},
				{Type: messages.PartImage, ImageURL: "data:image/png;base64,iVBORw0KGgo="},
			}}}},
			content: "You said: Compare these", finish: messages.FinishStop, raw: "end_turn",
			usage: messages.Usage{InputTokens: 2, OutputTokens: 4},
			body: map[string]string{"messages": `[{"content":[{"text":"Compare these","type":"text"},` +
				`{"source":{"data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAAA=","media_type":"image/png","type":"base64"},"type":"image"},` +
				`{"source":{"type":"url","url":"https://example.com/cat.jpg"},"type":"image"},` +
				`{"source":{"data":"iVBORw0KGgo=","media_type":"image/png","type":"base64"},"type":"image"}],"role":"user"}]`},
		},
		{
			name: "extra fields merged, adapter fields win",
			req: messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hi")},
				Extra: map[string]any{"top_k": 5, "model": "from-extra", "metadata": map[string]any{"user_id": "u-1"}}},
			content: "You said: Hi", finish: messages.FinishStop, raw: "end_turn",
			usage: messages.Usage{InputTokens: 1, OutputTokens: 3},
			body:  map[string]string{"model": `"claude-test"`, "top_k": "5", "metadata": `{"user_id":"u-1"}`},
		},
		{
			name: "required tool choice forces a tool call",
			req: messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("What time is it?")},
				Tools: []messages.Tool{timeTool}, ToolChoice: "required"},
			content: "I'll use the get_time tool.", finish: messages.FinishToolCalls, raw: "tool_use", tools: 1,
			usage: messages.Usage{InputTokens: 4 + 1 + 2, OutputTokens: 5 + 1},
			body: map[string]string{"tool_choice": `{"type":"any"}`,
				"tools": `[{"name":"get_time","description":"Current time","input_schema":{"type":"object","properties":{}}}]`},
		},
		{
			name: "named tool choice",
			req: messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hi")},
				Tools: []messages.Tool{weatherTool, timeTool}, ToolChoice: "get_time"},
			content: "I'll use the get_time tool.", finish: messages.FinishToolCalls, raw: "tool_use", tools: 1,
			usage: messages.Usage{InputTokens: 1 + 3 + 3, OutputTokens: 5 + 1},
			body:  map[string]string{"tool_choice": `{"name":"get_time","type":"tool"}`},
		},
		{
			name: "tool choice none",
			req: messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("weather please")},
				Tools: []messages.Tool{weatherTool}, ToolChoice: "none"},
			content: "You said: weather please", finish: messages.FinishStop, raw: "end_turn",
			usage: messages.Usage{InputTokens: 2 + 1 + 2, OutputTokens: 4},
			body:  map[string]string{"tool_choice": `{"type":"none"}`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			r := doChat(t, s, &tt.req)
			resp := r.Chat(t)
			assert.Equal(t, tt.content, resp.Content, "answer = %q %q/%q, want %q %q/%q", resp.Content, resp.FinishReason, resp.RawFinishReason, tt.content, tt.finish, tt.raw)
			assert.Equal(t, tt.finish, resp.FinishReason, "answer = %q %q/%q, want %q %q/%q", resp.Content, resp.FinishReason, resp.RawFinishReason, tt.content, tt.finish, tt.raw)
			assert.Equal(t, tt.raw, resp.RawFinishReason, "answer = %q %q/%q, want %q %q/%q", resp.Content, resp.FinishReason, resp.RawFinishReason, tt.content, tt.finish, tt.raw)
			assert.Len(t, resp.ToolCalls, tt.tools, "tool calls")
			assert.True(t, resp.Usage == tt.usage, "usage = %+v, want %+v", resp.Usage, tt.usage)
			assert.True(t, r.Call.Result.Usage == resp.Usage, "call.Result.Usage = %+v, want %+v", r.Call.Result.Usage, resp.Usage)
			in, out := s.Usage()
			assert.Equal(t, resp.Usage.InputTokens, in, "simulator reported %d/%d tokens, response %+v", in, out, resp.Usage)
			assert.Equal(t, resp.Usage.OutputTokens, out, "simulator reported %d/%d tokens, response %+v", in, out, resp.Usage)
			assert.True(t, strings.HasPrefix(resp.ID, "msg_"), "id/model = %q/%q", resp.ID, resp.Model)
			assert.Equal(t, "claude-test", resp.Model, "id/model = %q/%q", resp.ID, resp.Model)
			assert.Equal(t, "claude", resp.Provider, "meta = %+v", resp.Meta)
			assert.Equal(t, "primary", resp.Endpoint, "meta = %+v", resp.Meta)
			assert.Equal(t, "key-a", resp.Key, "meta = %+v", resp.Meta)
			assert.Equal(t, "rid-0001", resp.RequestID, "meta = %+v", resp.Meta)
			assert.Equal(t, 0, s.InvalidCalls(), "the simulator rejected %d requests", s.InvalidCalls())
			body := lastBody(t, s)
			for k, want := range tt.body {
				v, ok := body[k]
				if want == "-" {
					assert.False(t, ok, "body has %s = %s", k, jsonOf(t, v))
					continue
				}
				if !assert.True(t, ok, "body lacks %s", k) {
					continue
				}
				var w any
				err := json.Unmarshal([]byte(want), &w)
				require.NoError(t, err, "bad want for %s: %v", k, err)
				got := jsonOf(t, v)
				assert.Equal(t, jsonOf(t, w), got, "body %s = %s, want %s", k, got, jsonOf(t, w))
			}
		})
	}
}

func TestToolRoundTrip(t *testing.T) {
	s := startSim(t)
	conv := []messages.Message{user("What's the weather in Paris?")}
	req := &messages.ChatRequest{Model: "claude-test", Messages: conv, Tools: []messages.Tool{weatherTool}}
	first := doChat(t, s, req).Chat(t)
	require.Equal(t, messages.FinishToolCalls, first.FinishReason, "finish = %q/%q", first.FinishReason, first.RawFinishReason)
	require.Equal(t, "tool_use", first.RawFinishReason, "finish = %q/%q", first.FinishReason, first.RawFinishReason)
	require.Len(t, first.ToolCalls, 1, "tool calls")
	tc := first.ToolCalls[0]
	require.Equal(t, "get_weather", tc.Name, "tool call = %s %s %s", tc.ID, tc.Name, tc.Arguments)
	require.True(t, strings.HasPrefix(tc.ID, "toolu_"), "tool call = %s %s %s", tc.ID, tc.Name, tc.Arguments)
	require.Equal(t, `{"city":"Paris"}`, string(tc.Arguments), "tool call = %s %s %s", tc.ID, tc.Name, tc.Arguments)

	// Answer the call; the simulator only accepts a tool_result that answers
	// a tool_use of the previous assistant turn.
	conv = append(conv,
		messages.Message{Role: messages.RoleAssistant, Content: first.Content, ToolCalls: first.ToolCalls},
		messages.Message{Role: messages.RoleTool, ToolCallID: tc.ID, Content: "18 degrees and sunny"})
	req.Messages = conv
	second := doChat(t, s, req).Chat(t)
	require.Equal(t, "The tool returned: 18 degrees and sunny", second.Content, "second answer = %q %q", second.Content, second.FinishReason)
	require.Equal(t, messages.FinishStop, second.FinishReason, "second answer = %q %q", second.Content, second.FinishReason)
	body := lastBody(t, s)
	wantMsgs := `[{"content":"What's the weather in Paris?","role":"user"},` +
		`{"content":[{"text":"I'll use the get_weather tool.","type":"text"},{"id":"` + tc.ID + `","input":{"city":"Paris"},"name":"get_weather","type":"tool_use"}],"role":"assistant"},` +
		`{"content":[{"content":"18 degrees and sunny","tool_use_id":"` + tc.ID + `","type":"tool_result"}],"role":"user"}]`
	var w any
	_ = json.Unmarshal([]byte(wantMsgs), &w)
	assert.Equal(t, jsonOf(t, w), jsonOf(t, body["messages"]), "messages")
	assert.Equal(t, 0, s.InvalidCalls(), "the simulator rejected %d requests", s.InvalidCalls())
}

func TestToolResults(t *testing.T) {
	calls := []messages.ToolCall{
		{ID: "toolu_a", Name: "get_weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)},
		{ID: "toolu_b", Name: "get_weather", Arguments: json.RawMessage(`"{\"city\":\"Rome\"}"`)}, // OpenAI-style string
		{ID: "toolu_c", Name: "get_time"},
	}
	asst := messages.Message{Role: messages.RoleAssistant, ToolCalls: calls}
	result := func(id, text string, isErr bool) messages.Message {
		return messages.Message{Role: messages.RoleTool, ToolCallID: id, Content: text, IsError: isErr}
	}
	tests := []struct {
		name     string
		msgs     []messages.Message
		wantErr  string // substring of the simulator's 400 message
		wantLast string // JSON of the last wire message
	}{
		{
			name: "parallel results merged into one user turn",
			msgs: []messages.Message{user("weather in Oslo and Rome, and the time"), asst,
				result("toolu_a", "5 degrees", false), result("toolu_b", "", true),
				{Role: messages.RoleSystem, Content: "a system note does not split the results"},
				result("toolu_c", "noon", false)},
			wantLast: `{"content":[{"content":"5 degrees","tool_use_id":"toolu_a","type":"tool_result"},` +
				`{"is_error":true,"tool_use_id":"toolu_b","type":"tool_result"},` +
				`{"content":"noon","tool_use_id":"toolu_c","type":"tool_result"}],"role":"user"}`,
		},
		{
			name:    "result for an unknown tool_use rejected",
			msgs:    []messages.Message{user("weather"), asst, result("toolu_a", "x", false), result("toolu_b", "x", false), result("toolu_zzz", "x", false)},
			wantErr: "unexpected `tool_use_id` found in `tool_result` blocks: toolu_zzz",
		},
		{
			name:    "unanswered tool_use rejected",
			msgs:    []messages.Message{user("weather"), asst, result("toolu_a", "x", false), user("and?")},
			wantErr: "`tool_use` ids were found without `tool_result` blocks immediately after: toolu_b, toolu_c",
		},
		{
			name:    "result without a preceding tool_use rejected",
			msgs:    []messages.Message{user("weather"), result("toolu_a", "x", false)},
			wantErr: "previous message does not contain any tool_use blocks",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			r := doChat(t, s, &messages.ChatRequest{Model: "claude-test", Messages: tt.msgs, Tools: []messages.Tool{weatherTool, timeTool}})
			if tt.wantErr != "" {
				ue := r.Upstream(t)
				require.Equal(t, messages.ClassInvalid, ue.Class, "error = %v (class %s, type %q), want invalid %q", ue, ue.Class, ue.Type, tt.wantErr)
				require.Equal(t, 400, ue.Status, "error = %v (class %s, type %q), want invalid %q", ue, ue.Class, ue.Type, tt.wantErr)
				require.Equal(t, "invalid_request_error", ue.Type, "error = %v (class %s, type %q), want invalid %q", ue, ue.Class, ue.Type, tt.wantErr)
				require.Contains(t, ue.Message, tt.wantErr, "error = %v (class %s, type %q), want invalid %q", ue, ue.Class, ue.Type, tt.wantErr)
				return
			}
			r.Chat(t)
			msgs := lastBody(t, s)["messages"].([]any)
			var w any
			_ = json.Unmarshal([]byte(tt.wantLast), &w)
			assert.Equal(t, jsonOf(t, w), jsonOf(t, msgs[len(msgs)-1]), "last message")
			got := jsonOf(t, msgs[1])
			assert.Contains(t, got, `"input":{"city":"Rome"}`, "assistant turn = %s", got)
			assert.Contains(t, got, `"id":"toolu_c","input":{}`, "assistant turn = %s", got)
		})
	}
}

func TestStream(t *testing.T) {
	tests := []struct {
		name      string
		req       messages.ChatRequest
		content   string
		toolIndex int // chunk Index of the tool call, -1 for none
		args      string
		finish    string
	}{
		{
			name:    "text",
			req:     messages.ChatRequest{Model: "claude-test", Stream: true, Messages: []messages.Message{user("please stream this answer")}},
			content: "You said: please stream this answer", toolIndex: -1, finish: messages.FinishStop,
		},
		{
			name: "tool use",
			req: messages.ChatRequest{Model: "claude-test", Stream: true, Messages: []messages.Message{user("What is the weather in Oslo?")},
				Tools: []messages.Tool{weatherTool}},
			content: "I'll use the get_weather tool.", toolIndex: 1, args: `{"city":"Oslo"}`, finish: messages.FinishToolCalls,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			r := doChat(t, s, &tt.req)
			resp := r.Chat(t)
			providertest.CheckChatChunks(t, r.Chunks, "rid-0001", resp)
			assert.Equal(t, tt.content, resp.Content, "answer = %q %q, want %q %q", resp.Content, resp.FinishReason, tt.content, tt.finish)
			assert.Equal(t, tt.finish, resp.FinishReason, "answer = %q %q, want %q %q", resp.Content, resp.FinishReason, tt.content, tt.finish)
			textChunks := 0
			for _, c := range r.Chunks {
				if c.Type == messages.ChunkText {
					textChunks++
				}
				if c.Type == messages.ChunkToolCall {
					assert.Equal(t, tt.toolIndex, c.ToolCall.Index, "tool chunk index")
				}
			}
			assert.GreaterOrEqual(t, textChunks, 2, "%d text chunks: the answer was not streamed in pieces", textChunks)
			if tt.toolIndex >= 0 {
				if assert.Len(t, resp.ToolCalls, 1, "tool calls = %+v, want args %s", resp.ToolCalls, tt.args) {
					assert.Equal(t, tt.args, string(resp.ToolCalls[0].Arguments), "tool calls = %+v, want args %s", resp.ToolCalls, tt.args)
				}
			}
			in, out := s.Usage()
			assert.Equal(t, in, resp.Usage.InputTokens, "usage %+v, simulator %d/%d", resp.Usage, in, out)
			assert.Equal(t, out, resp.Usage.OutputTokens, "usage %+v, simulator %d/%d", resp.Usage, in, out)
			assert.NotEqual(t, 0, in, "usage %+v, simulator %d/%d", resp.Usage, in, out)
			assert.NotEqual(t, 0, out, "usage %+v, simulator %d/%d", resp.Usage, in, out)
			assert.True(t, r.Call.Result.Usage == resp.Usage, "call result = %+v with %d chunks", r.Call.Result, len(r.Chunks))
			assert.Equal(t, len(r.Chunks), r.Call.Result.ChunksSent, "call result = %+v with %d chunks", r.Call.Result, len(r.Chunks))
			assert.True(t, strings.HasPrefix(resp.ID, "msg_"), "id/model = %q/%q", resp.ID, resp.Model)
			assert.Equal(t, "claude-test", resp.Model, "id/model = %q/%q", resp.ID, resp.Model)
			assert.True(t, lastBody(t, s)["stream"] == true, "stream: true not sent")
		})
	}
}

func TestStreamFailures(t *testing.T) {
	streamReq := func() *messages.ChatRequest {
		return &messages.ChatRequest{Model: "claude-test", Stream: true, Messages: []messages.Message{user("a long enough answer to cut")}}
	}
	tests := []struct {
		name      string
		fault     sim.Fault
		idle      time.Duration
		stopAfter int // the caller goes away after this many chunks (0: never)
		class     messages.ErrorClass
		retryable bool
		typ, msg  string
		minChunks int
	}{
		{name: "cut", fault: sim.Fault{CutAfter: 2}, class: messages.ClassStreamCut, retryable: true},
		{name: "cut mid-answer", fault: sim.Fault{CutAfter: 5}, class: messages.ClassStreamCut, retryable: true, minChunks: 1},
		{name: "stalled", fault: sim.Fault{StallAfter: 1}, idle: 200 * time.Millisecond, class: messages.ClassTimeout, retryable: true},
		{
			name:  "overloaded in stream",
			fault: sim.Fault{Body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
			class: messages.ClassServer, retryable: true, typ: "overloaded_error", msg: "Overloaded",
		},
		{
			name:  "invalid request in stream",
			fault: sim.Fault{Body: `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long"}}`},
			class: messages.ClassInvalid, typ: "invalid_request_error", msg: "prompt is too long",
		},
		{name: "error event that is not JSON", fault: sim.Fault{Body: `<html>oops</html>`}, class: messages.ClassServer, retryable: true},
		{name: "malformed", fault: sim.Fault{Malformed: true}, class: messages.ClassMalformed},
		{name: "caller goes away", stopAfter: 1, class: messages.ClassCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			s.Inject(tt.fault)
			call := newCall(s, streamReq())
			if tt.idle > 0 {
				call.Client.IdleTimeout = tt.idle
			}
			var chunks int
			call.Emit = func(*messages.StreamChunk) bool {
				chunks++
				return tt.stopAfter == 0 || chunks < tt.stopAfter
			}
			r := doCall(t, call)
			ue := r.Upstream(t)
			require.Equal(t, tt.class, ue.Class, "error %v: class %s retryable %v, want %s %v", ue, ue.Class, ue.Retryable(), tt.class, tt.retryable)
			require.Equal(t, tt.retryable, ue.Retryable(), "error %v: class %s retryable %v, want %s %v", ue, ue.Class, ue.Retryable(), tt.class, tt.retryable)
			if tt.typ != "" {
				assert.Equal(t, tt.typ, ue.Type, "error type/message/status = %q/%q/%d, want %q/%q/200", ue.Type, ue.Message, ue.Status, tt.typ, tt.msg)
				assert.Equal(t, tt.msg, ue.Message, "error type/message/status = %q/%q/%d, want %q/%q/200", ue.Type, ue.Message, ue.Status, tt.typ, tt.msg)
				assert.Equal(t, http.StatusOK, ue.Status, "error type/message/status = %q/%q/%d, want %q/%q/200", ue.Type, ue.Message, ue.Status, tt.typ, tt.msg)
			}
			assert.GreaterOrEqual(t, chunks, tt.minChunks, "%d chunks before the failure, want at least %d", chunks, tt.minChunks)
			if tt.class != messages.ClassMalformed {
				assert.NotEqual(t, "", ue.UpstreamRequestID, "no upstream request ID on the error")
			}
			in, out := s.Usage()
			if tt.stopAfter == 0 {
				assert.Equal(t, 0, in, "the simulator counted usage %d/%d for an unfinished answer", in, out)
				assert.Equal(t, 0, out, "the simulator counted usage %d/%d for an unfinished answer", in, out)
			}
		})
	}
}

func TestMalformedAnswers(t *testing.T) {
	tests := []struct {
		name  string
		fault sim.Fault
		class messages.ErrorClass
		typ   string
	}{
		{"truncated JSON", sim.Fault{Malformed: true}, messages.ClassMalformed, ""},
		{"empty object", sim.Fault{Status: 200, Body: `{}`}, messages.ClassMalformed, ""},
		{"not an object", sim.Fault{Status: 200, Body: `[1,2]`}, messages.ClassMalformed, ""},
		{"wrong type", sim.Fault{Status: 200, Body: `{"type":"completion","id":"x","content":[]}`}, messages.ClassMalformed, ""},
		{"tool_use with string input", sim.Fault{Status: 200, Body: `{"type":"message","id":"msg_1","content":[{"type":"tool_use","id":"t","name":"f","input":"{}"}]}`}, messages.ClassMalformed, ""},
		{"error envelope with 200", sim.Fault{Status: 200, Body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`}, messages.ClassServer, "overloaded_error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			s.Inject(tt.fault)
			ue := doChat(t, s, &messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hi")}}).Upstream(t)
			require.Equal(t, tt.class, ue.Class, "error %v: class %s type %q, want %s %q", ue, ue.Class, ue.Type, tt.class, tt.typ)
			require.Equal(t, tt.typ, ue.Type, "error %v: class %s type %q, want %s %q", ue, ue.Class, ue.Type, tt.class, tt.typ)
		})
	}
}

func TestErrors(t *testing.T) {
	spend := `{"type":"error","error":{"type":"rate_limit_error","message":"You have reached your specified API usage limits.","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_spend_1"}`
	yes, no := true, false
	tests := []struct {
		name     string
		setup    func(s *sim.Server)
		req      *messages.ChatRequest
		baseURL  string // appended to the simulator's URL
		status   int
		class    messages.ErrorClass
		typ      string
		code     string
		msg      string // substring
		retry    time.Duration
		should   *bool
		retrying bool
		rid      string // "req_" means any simulator request-id
	}{
		{
			name:   "429 with retry-after",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "7"}}) },
			status: 429, class: messages.ClassRateLimited, typ: "rate_limit_error", retry: 7 * time.Second, retrying: true, rid: "req_",
		},
		{
			name: "429 with retry-after-ms",
			setup: func(s *sim.Server) {
				s.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After-Ms": "1500", "Retry-After": "2"}})
			},
			status: 429, class: messages.ClassRateLimited, typ: "rate_limit_error", retry: 1500 * time.Millisecond, retrying: true, rid: "req_",
		},
		{
			name:   "429 spend limit is a quota",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 429, Body: spend}) },
			status: 429, class: messages.ClassQuota, typ: "rate_limit_error", code: SpendLimitCode, msg: "usage limits", rid: "req_spend_1",
		},
		{
			name:   "529 overloaded",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 529}) },
			status: 529, class: messages.ClassServer, typ: "overloaded_error", retrying: true, rid: "req_",
		},
		{
			name: "529 with x-should-retry false",
			setup: func(s *sim.Server) {
				s.Inject(sim.Fault{Status: 529, Header: map[string]string{"X-Should-Retry": "false"}})
			},
			status: 529, class: messages.ClassServer, typ: "overloaded_error", should: &no, retrying: false, rid: "req_",
		},
		{
			name:   "500 api error",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 500}) },
			status: 500, class: messages.ClassServer, typ: "api_error", retrying: true, rid: "req_",
		},
		{
			name: "400 with x-should-retry true",
			setup: func(s *sim.Server) {
				s.Inject(sim.Fault{Status: 400, Header: map[string]string{"X-Should-Retry": "true"}})
			},
			status: 400, class: messages.ClassInvalid, typ: "invalid_request_error", should: &yes, retrying: true, rid: "req_",
		},
		{
			name:   "402 billing error is a quota",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 402}) },
			status: 402, class: messages.ClassQuota, typ: "billing_error", rid: "req_",
		},
		{
			name:   "401 unknown key",
			setup:  func(s *sim.Server) { s.RejectKey(testSecret, 401) },
			status: 401, class: messages.ClassAuth, typ: "authentication_error", rid: "req_",
		},
		{
			name:   "403 revoked key",
			setup:  func(s *sim.Server) { s.RejectKey(testSecret, 403) },
			status: 403, class: messages.ClassAuth, typ: "permission_error", rid: "req_",
		},
		{
			name:   "400 rejected by validation",
			req:    &messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hi")}, Temperature: f64(1.5)},
			status: 400, class: messages.ClassInvalid, typ: "invalid_request_error", msg: "temperature: Input should be less than or equal to 1", rid: "req_",
		},
		{
			name:    "404 wrong base URL",
			baseURL: "/v2",
			status:  404, class: messages.ClassInvalid, typ: "not_found_error", rid: "req_",
		},
		{
			name:   "error body that is not JSON",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 502, Body: `<html>Bad gateway</html>`}) },
			status: 502, class: messages.ClassServer, msg: "Bad Gateway", retrying: true, rid: "sim-rid-0001",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			req := tt.req
			if req == nil {
				req = &messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hi")}}
			}
			call := newCall(s, req)
			call.BaseURL += tt.baseURL
			ue := doCall(t, call).Upstream(t)
			assert.Equal(t, tt.status, ue.Status, "error %v: status %d class %s type %q code %q, want %d %s %q %q", ue, ue.Status, ue.Class, ue.Type, ue.Code, tt.status, tt.class, tt.typ, tt.code)
			assert.Equal(t, tt.class, ue.Class, "error %v: status %d class %s type %q code %q, want %d %s %q %q", ue, ue.Status, ue.Class, ue.Type, ue.Code, tt.status, tt.class, tt.typ, tt.code)
			assert.Equal(t, tt.typ, ue.Type, "error %v: status %d class %s type %q code %q, want %d %s %q %q", ue, ue.Status, ue.Class, ue.Type, ue.Code, tt.status, tt.class, tt.typ, tt.code)
			assert.Equal(t, tt.code, ue.Code, "error %v: status %d class %s type %q code %q, want %d %s %q %q", ue, ue.Status, ue.Class, ue.Type, ue.Code, tt.status, tt.class, tt.typ, tt.code)
			assert.Contains(t, ue.Message, tt.msg, "message %q, want it to contain %q", ue.Message, tt.msg)
			assert.NotEqual(t, "", ue.Message, "message %q, want it to contain %q", ue.Message, tt.msg)
			assert.Equal(t, tt.retry, ue.RetryAfter, "RetryAfter")
			assert.True(t, reflect.DeepEqual(ue.ShouldRetry, tt.should), "ShouldRetry = %v, want %v", ue.ShouldRetry, tt.should)
			assert.Equal(t, tt.retrying, ue.Retryable(), "Retryable()")
			if tt.rid == "req_" {
				assert.True(t, strings.HasPrefix(ue.UpstreamRequestID, "req_"), "UpstreamRequestID = %q, want %q", ue.UpstreamRequestID, tt.rid)
			}
			if tt.rid != "req_" {
				assert.Equal(t, tt.rid, ue.UpstreamRequestID, "UpstreamRequestID = %q, want %q", ue.UpstreamRequestID, tt.rid)
			}
			assert.Equal(t, tt.status, call.Result.Status, "call result = %+v", call.Result)
			assert.Equal(t, ue.UpstreamRequestID, call.Result.UpstreamRequestID, "call result = %+v", call.Result)
			assert.ErrorIs(t, ue, messages.ErrUpstream, "error does not match ErrUpstream")
		})
	}
}

func TestCountTokens(t *testing.T) {
	s := startSim(t)
	chat := messages.ChatRequest{
		Model: "claude-test", System: "You are terse.", Messages: []messages.Message{user("How many tokens is this?")},
		Tools: []messages.Tool{weatherTool}, Temperature: f64(0.2), TopP: f64(0.5), MaxTokens: 64, Stop: []string{"END"}, Stream: true,
		Extra: map[string]any{"top_k": 3, "metadata": map[string]any{"user_id": "u"}},
	}
	r := doCall(t, newCall(s, &messages.CountTokensRequest{Call: messages.Call{RequestID: "rid-0001"}, Chat: chat}))
	require.NoError(t, r.Err, "count tokens")
	ct, ok := r.Resp.(*messages.CountTokensResponse)
	require.True(t, ok, "response %T", r.Resp)
	rec := s.Requests()[0]
	assert.Equal(t, PathCountTokens, rec.Path, "sent %s %s", rec.Method, rec.Path)
	assert.Equal(t, http.MethodPost, rec.Method, "sent %s %s", rec.Method, rec.Path)
	body := lastBody(t, s)
	for _, k := range []string{"max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata"} {
		_, ok := body[k]
		assert.False(t, ok, "count_tokens body has %s", k)
	}
	for _, k := range []string{"model", "messages", "system", "tools"} {
		_, ok := body[k]
		assert.True(t, ok, "count_tokens body lacks %s", k)
	}
	assert.True(t, strings.HasPrefix(ct.UpstreamRequestID, "req_"), "UpstreamRequestID = %q", ct.UpstreamRequestID)
	// The same conversation as a chat reports the same input count.
	chat.Stream, chat.Extra, chat.Temperature = false, nil, nil
	resp := doChat(t, s, &chat).Chat(t)
	assert.Equal(t, resp.Usage.InputTokens, ct.InputTokens, "count_tokens = %d, chat input tokens = %d", ct.InputTokens, resp.Usage.InputTokens)
	assert.NotEqual(t, 0, ct.InputTokens, "count_tokens = %d, chat input tokens = %d", ct.InputTokens, resp.Usage.InputTokens)
	in, _ := s.Usage()
	assert.Equal(t, resp.Usage.InputTokens, in, "simulator counted %d input tokens, want only the chat's %d", in, resp.Usage.InputTokens)

	// A malformed count is ClassMalformed.
	s.Inject(sim.Fault{Status: 200, Body: `{"tokens":3}`})
	ue := doCall(t, newCall(s, &messages.CountTokensRequest{Chat: chat})).Upstream(t)
	assert.Equal(t, messages.ClassMalformed, ue.Class, "class")
}

func TestRequestHeadersAndIDs(t *testing.T) {
	tests := []struct {
		name    string
		headers map[string]string
		want    map[string]string
	}{
		{name: "defaults", want: map[string]string{
			"Anthropic-Version": APIVersion, "X-Api-Key": testSecret, "Content-Type": "application/json",
			"Accept": "application/json", "X-Request-Id": "rid-0001", "Authorization": "", "Anthropic-Beta": "",
		}},
		{name: "endpoint headers", headers: map[string]string{"anthropic-beta": "prompt-caching-2024-07-31", "ANTHROPIC-VERSION": "2023-01-01"}, want: map[string]string{
			"Anthropic-Version": "2023-01-01", "Anthropic-Beta": "prompt-caching-2024-07-31", "X-Api-Key": testSecret,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			call := newCall(s, &messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("Hi")}})
			call.Headers = tt.headers
			resp := doCall(t, call).Chat(t)
			rec := s.Requests()[0]
			for k, v := range tt.want {
				got := rec.Header.Get(k)
				assert.Equal(t, v, got, "header %s = %q, want %q", k, got, v)
			}
			assert.Equal(t, PathMessages, rec.Path, "request = %s %s id %q", rec.Method, rec.Path, rec.RequestID)
			assert.Equal(t, http.MethodPost, rec.Method, "request = %s %s id %q", rec.Method, rec.Path, rec.RequestID)
			assert.Equal(t, "rid-0001", rec.RequestID, "request = %s %s id %q", rec.Method, rec.Path, rec.RequestID)
			assert.Equal(t, testSecret, rec.Key, "request = %s %s id %q", rec.Method, rec.Path, rec.RequestID)
			// Anthropic's own request-id wins over the X-Request-Id echo.
			assert.True(t, strings.HasPrefix(call.Result.UpstreamRequestID, "req_sim"), "upstream request ID = %q (response %q)", call.Result.UpstreamRequestID, resp.UpstreamRequestID)
			assert.Equal(t, call.Result.UpstreamRequestID, resp.UpstreamRequestID, "upstream request ID = %q (response %q)", call.Result.UpstreamRequestID, resp.UpstreamRequestID)
			assert.Equal(t, 200, call.Result.Status, "status")
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	s := startSim(t)
	for i, wantRemaining := range []int64{3999, 3998} {
		call := newCall(s, &messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("count these four words")}})
		doCall(t, call).Chat(t)
		rl := call.Result.RateLimit
		assert.True(t, rl.Known, "call %d: rate limit = %+v", i, rl)
		assert.Equal(t, int64(4000), rl.LimitRequests, "call %d: rate limit = %+v", i, rl)
		assert.Equal(t, wantRemaining, rl.RemainingRequests, "call %d: rate limit = %+v", i, rl)
		assert.Equal(t, int64(280000), rl.LimitTokens, "call %d: rate limit = %+v", i, rl)
		assert.Equal(t, int64(280000-4), rl.RemainingTokens, "call %d: rate limit = %+v", i, rl)
		assert.False(t, rl.ResetRequests.IsZero() || rl.ResetTokens.IsZero() || rl.ResetRequests.Before(time.Now().Add(-time.Minute)), "call %d: resets = %v / %v", i, rl.ResetRequests, rl.ResetTokens)
	}
}

func TestCheck(t *testing.T) {
	ok := func() *messages.ChatRequest {
		return &messages.ChatRequest{Call: messages.Call{RequestID: "r1", Provider: "claude"}, Model: "m", Messages: []messages.Message{user("hi")}}
	}
	with := func(f func(r *messages.ChatRequest)) *messages.ChatRequest { r := ok(); f(r); return r }
	tests := []struct {
		name string
		req  messages.Request
		want error // nil, ErrUnsupported or ErrInvalidRequest
	}{
		{"chat", ok(), nil},
		{"count tokens", &messages.CountTokensRequest{Chat: *ok()}, nil},
		{"embed", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}}, messages.ErrUnsupported},
		{"responses", &messages.ResponsesRequest{Model: "m"}, messages.ErrUnsupported},
		{"nil", nil, messages.ErrUnsupported},
		{"no model", with(func(r *messages.ChatRequest) { r.Model = "" }), messages.ErrInvalidRequest},
		{"no messages", with(func(r *messages.ChatRequest) { r.Messages = nil }), messages.ErrInvalidRequest},
		{"only system messages", with(func(r *messages.ChatRequest) {
			r.Messages = []messages.Message{{Role: messages.RoleSystem, Content: "x"}}
		}), messages.ErrInvalidRequest},
		{"unknown role", with(func(r *messages.ChatRequest) { r.Messages[0].Role = "developer" }), messages.ErrInvalidRequest},
		{"negative max tokens", with(func(r *messages.ChatRequest) { r.MaxTokens = -1 }), messages.ErrInvalidRequest},
		{"tool message without call ID", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleTool, Content: "x"})
		}), messages.ErrInvalidRequest},
		{"tool call arguments not an object", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleAssistant, ToolCalls: []messages.ToolCall{{ID: "t", Name: "f", Arguments: json.RawMessage(`[1]`)}}})
		}), messages.ErrInvalidRequest},
		{"tool without name", with(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{{Description: "x"}} }), messages.ErrInvalidRequest},
		{"tool schema not an object", with(func(r *messages.ChatRequest) {
			r.Tools = []messages.Tool{{Name: "f", Parameters: json.RawMessage(`"x"`)}}
		}), messages.ErrInvalidRequest},
		{"image without data or URL", with(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage}}
		}), messages.ErrInvalidRequest},
		{"image of an unsupported type", with(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage, Data: []byte("%PDF-1.4"), MediaType: "application/pdf"}}
		}), messages.ErrInvalidRequest},
		{"image in a system message", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleSystem, Parts: []messages.Part{{Type: messages.PartImage, ImageURL: "https://x/y.png"}}})
		}), messages.ErrInvalidRequest},
		{"count tokens without model", &messages.CountTokensRequest{Chat: messages.ChatRequest{Messages: []messages.Message{user("x")}}}, messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := New().Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "Check = %v, want nil", err)
				return
			}
			var re *messages.RequestError
			require.ErrorAs(t, err, &re, "Check = %T %v, want a *RequestError matching %v", err, err, tt.want)
			require.ErrorIs(t, err, tt.want, "Check = %T %v, want a *RequestError matching %v", err, err, tt.want)
			assert.NotEqual(t, "", re.Detail, "no detail")
			cr, ok := tt.req.(*messages.ChatRequest)
			if ok {
				assert.Equal(t, cr.RequestID, re.RequestID, "request error identity = %q/%q", re.RequestID, re.Provider)
				assert.Equal(t, cr.Provider, re.Provider, "request error identity = %q/%q", re.RequestID, re.Provider)
			}
		})
	}
}

func TestDoRejectsWithoutSending(t *testing.T) {
	tests := []struct {
		name string
		req  messages.Request
		kind error
	}{
		{"unsupported", &messages.EmbedRequest{Model: "m"}, messages.ErrUnsupported},
		{"invalid chat", &messages.ChatRequest{Messages: []messages.Message{user("x")}}, messages.ErrInvalidRequest},
		{"invalid count", &messages.CountTokensRequest{}, messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t)
			ue := doCall(t, newCall(s, tt.req)).Upstream(t)
			assert.Equal(t, messages.ClassInvalid, ue.Class, "error %v: class %s, want invalid matching %v", ue, ue.Class, tt.kind)
			assert.ErrorIs(t, ue, tt.kind, "error %v: class %s, want invalid matching %v", ue, ue.Class, tt.kind)
			assert.Equal(t, 0, s.Calls(), "%d requests sent", s.Calls())
		})
	}
}

func TestKind(t *testing.T) {
	require.Equal(t, "anthropic", New().Kind())
}

func TestUsageAndStopReasons(t *testing.T) {
	const start = `event: message_start
data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[],"stop_reason":null,"usage":{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":50,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"ok"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

`
	stream := func(stop, usage string) string {
		return start + `event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"` + stop + `","stop_sequence":null},"usage":` + usage + `}

event: message_stop
data: {"type":"message_stop"}

`
	}
	tests := []struct {
		name   string
		body   string // a stream, or a JSON message
		finish string
		usage  messages.Usage
	}{
		{"stream, delta with output only", stream("end_turn", `{"output_tokens":42}`), messages.FinishStop,
			messages.Usage{InputTokens: 160, OutputTokens: 42, CacheReadTokens: 50, CacheWriteTokens: 100}},
		{"stream, cumulative delta repeats input", stream("max_tokens", `{"input_tokens":10,"cache_creation_input_tokens":100,"cache_read_input_tokens":50,"output_tokens":7}`), messages.FinishLength,
			messages.Usage{InputTokens: 160, OutputTokens: 7, CacheReadTokens: 50, CacheWriteTokens: 100}},
		{"stream, pause_turn", stream("pause_turn", `{"output_tokens":3}`), messages.FinishOther,
			messages.Usage{InputTokens: 160, OutputTokens: 3, CacheReadTokens: 50, CacheWriteTokens: 100}},
		{"stream, context window exceeded", stream("model_context_window_exceeded", `{"output_tokens":3}`), messages.FinishOther,
			messages.Usage{InputTokens: 160, OutputTokens: 3, CacheReadTokens: 50, CacheWriteTokens: 100}},
		{"message with cache counts", `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"}],"stop_reason":"refusal","usage":{"input_tokens":3,"cache_creation_input_tokens":20,"cache_read_input_tokens":1000,"output_tokens":9}}`,
			messages.FinishContentFilter, messages.Usage{InputTokens: 1023, OutputTokens: 9, CacheReadTokens: 1000, CacheWriteTokens: 20}},
		{"message with stop_sequence", `{"id":"msg_1","type":"message","role":"assistant","model":"m","content":[{"type":"text","text":"ok"},{"type":"thinking","thinking":"hidden"}],"stop_reason":"stop_sequence","usage":{"input_tokens":3,"output_tokens":9}}`,
			messages.FinishStop, messages.Usage{InputTokens: 3, OutputTokens: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp *messages.ChatResponse
			if strings.HasPrefix(tt.body, "event:") {
				r, err := decodeStream(strings.NewReader(tt.body), nil)
				require.NoError(t, err)
				resp = r
			} else {
				s := startSim(t)
				s.Inject(sim.Fault{Status: 200, Body: tt.body})
				r := doChat(t, s, &messages.ChatRequest{Model: "m", Messages: []messages.Message{user("x")}})
				resp = r.Chat(t)
				assert.True(t, r.Call.Result.Usage == tt.usage, "call.Result.Usage = %+v", r.Call.Result.Usage)
			}
			assert.Equal(t, "ok", resp.Content, "got %q %q %+v, want ok %q %+v", resp.Content, resp.FinishReason, resp.Usage, tt.finish, tt.usage)
			assert.Equal(t, tt.finish, resp.FinishReason, "got %q %q %+v, want ok %q %+v", resp.Content, resp.FinishReason, resp.Usage, tt.finish, tt.usage)
			assert.True(t, resp.Usage == tt.usage, "got %q %q %+v, want ok %q %+v", resp.Content, resp.FinishReason, resp.Usage, tt.finish, tt.usage)
		})
	}
}
