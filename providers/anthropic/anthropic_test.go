package anthropic

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"
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
			if resp.Content != tt.content || resp.FinishReason != tt.finish || resp.RawFinishReason != tt.raw {
				t.Errorf("answer = %q %q/%q, want %q %q/%q", resp.Content, resp.FinishReason, resp.RawFinishReason, tt.content, tt.finish, tt.raw)
			}
			if len(resp.ToolCalls) != tt.tools {
				t.Errorf("tool calls = %+v, want %d", resp.ToolCalls, tt.tools)
			}
			if resp.Usage != tt.usage {
				t.Errorf("usage = %+v, want %+v", resp.Usage, tt.usage)
			}
			if r.Call.Result.Usage != resp.Usage {
				t.Errorf("call.Result.Usage = %+v, want %+v", r.Call.Result.Usage, resp.Usage)
			}
			if in, out := s.Usage(); in != resp.Usage.InputTokens || out != resp.Usage.OutputTokens {
				t.Errorf("simulator reported %d/%d tokens, response %+v", in, out, resp.Usage)
			}
			if !strings.HasPrefix(resp.ID, "msg_") || resp.Model != "claude-test" {
				t.Errorf("id/model = %q/%q", resp.ID, resp.Model)
			}
			if resp.Provider != "claude" || resp.Endpoint != "primary" || resp.Key != "key-a" || resp.RequestID != "rid-0001" {
				t.Errorf("meta = %+v", resp.Meta)
			}
			if s.InvalidCalls() != 0 {
				t.Errorf("the simulator rejected %d requests", s.InvalidCalls())
			}
			body := lastBody(t, s)
			for k, want := range tt.body {
				v, ok := body[k]
				switch {
				case want == "-" && ok:
					t.Errorf("body has %s = %s", k, jsonOf(t, v))
				case want != "-" && !ok:
					t.Errorf("body lacks %s", k)
				case want != "-":
					var w any
					if err := json.Unmarshal([]byte(want), &w); err != nil {
						t.Fatalf("bad want for %s: %v", k, err)
					}
					if got := jsonOf(t, v); got != jsonOf(t, w) {
						t.Errorf("body %s = %s, want %s", k, got, jsonOf(t, w))
					}
				}
			}
		})
	}
}

func TestToolRoundTrip(t *testing.T) {
	s := startSim(t)
	conv := []messages.Message{user("What's the weather in Paris?")}
	req := &messages.ChatRequest{Model: "claude-test", Messages: conv, Tools: []messages.Tool{weatherTool}}
	first := doChat(t, s, req).Chat(t)
	if first.FinishReason != messages.FinishToolCalls || first.RawFinishReason != "tool_use" {
		t.Fatalf("finish = %q/%q", first.FinishReason, first.RawFinishReason)
	}
	if len(first.ToolCalls) != 1 {
		t.Fatalf("tool calls = %+v", first.ToolCalls)
	}
	tc := first.ToolCalls[0]
	if tc.Name != "get_weather" || !strings.HasPrefix(tc.ID, "toolu_") || string(tc.Arguments) != `{"city":"Paris"}` {
		t.Fatalf("tool call = %s %s %s", tc.ID, tc.Name, tc.Arguments)
	}

	// Answer the call; the simulator only accepts a tool_result that answers
	// a tool_use of the previous assistant turn.
	conv = append(conv,
		messages.Message{Role: messages.RoleAssistant, Content: first.Content, ToolCalls: first.ToolCalls},
		messages.Message{Role: messages.RoleTool, ToolCallID: tc.ID, Content: "18 degrees and sunny"})
	req.Messages = conv
	second := doChat(t, s, req).Chat(t)
	if second.Content != "The tool returned: 18 degrees and sunny" || second.FinishReason != messages.FinishStop {
		t.Fatalf("second answer = %q %q", second.Content, second.FinishReason)
	}
	body := lastBody(t, s)
	wantMsgs := `[{"content":"What's the weather in Paris?","role":"user"},` +
		`{"content":[{"text":"I'll use the get_weather tool.","type":"text"},{"id":"` + tc.ID + `","input":{"city":"Paris"},"name":"get_weather","type":"tool_use"}],"role":"assistant"},` +
		`{"content":[{"content":"18 degrees and sunny","tool_use_id":"` + tc.ID + `","type":"tool_result"}],"role":"user"}]`
	var w any
	_ = json.Unmarshal([]byte(wantMsgs), &w)
	if got := jsonOf(t, body["messages"]); got != jsonOf(t, w) {
		t.Errorf("messages =\n%s\nwant\n%s", got, jsonOf(t, w))
	}
	if s.InvalidCalls() != 0 {
		t.Errorf("the simulator rejected %d requests", s.InvalidCalls())
	}
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
				if ue.Class != messages.ClassInvalid || ue.Status != 400 || ue.Type != "invalid_request_error" || !strings.Contains(ue.Message, tt.wantErr) {
					t.Fatalf("error = %v (class %s, type %q), want invalid %q", ue, ue.Class, ue.Type, tt.wantErr)
				}
				return
			}
			r.Chat(t)
			msgs := lastBody(t, s)["messages"].([]any)
			var w any
			_ = json.Unmarshal([]byte(tt.wantLast), &w)
			if got := jsonOf(t, msgs[len(msgs)-1]); got != jsonOf(t, w) {
				t.Errorf("last message =\n%s\nwant\n%s", got, jsonOf(t, w))
			}
			if got := jsonOf(t, msgs[1]); !strings.Contains(got, `"input":{"city":"Rome"}`) || !strings.Contains(got, `"id":"toolu_c","input":{}`) {
				t.Errorf("assistant turn = %s", got)
			}
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
			if resp.Content != tt.content || resp.FinishReason != tt.finish {
				t.Errorf("answer = %q %q, want %q %q", resp.Content, resp.FinishReason, tt.content, tt.finish)
			}
			textChunks := 0
			for _, c := range r.Chunks {
				if c.Type == messages.ChunkText {
					textChunks++
				}
				if c.Type == messages.ChunkToolCall && c.ToolCall.Index != tt.toolIndex {
					t.Errorf("tool chunk index %d, want %d", c.ToolCall.Index, tt.toolIndex)
				}
			}
			if textChunks < 2 {
				t.Errorf("%d text chunks: the answer was not streamed in pieces", textChunks)
			}
			if tt.toolIndex >= 0 && (len(resp.ToolCalls) != 1 || string(resp.ToolCalls[0].Arguments) != tt.args) {
				t.Errorf("tool calls = %+v, want args %s", resp.ToolCalls, tt.args)
			}
			if in, out := s.Usage(); resp.Usage.InputTokens != in || resp.Usage.OutputTokens != out || in == 0 || out == 0 {
				t.Errorf("usage %+v, simulator %d/%d", resp.Usage, in, out)
			}
			if r.Call.Result.Usage != resp.Usage || r.Call.Result.ChunksSent != len(r.Chunks) {
				t.Errorf("call result = %+v with %d chunks", r.Call.Result, len(r.Chunks))
			}
			if !strings.HasPrefix(resp.ID, "msg_") || resp.Model != "claude-test" {
				t.Errorf("id/model = %q/%q", resp.ID, resp.Model)
			}
			if lastBody(t, s)["stream"] != true {
				t.Error("stream: true not sent")
			}
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
			if ue.Class != tt.class || ue.Retryable() != tt.retryable {
				t.Fatalf("error %v: class %s retryable %v, want %s %v", ue, ue.Class, ue.Retryable(), tt.class, tt.retryable)
			}
			if tt.typ != "" && (ue.Type != tt.typ || ue.Message != tt.msg || ue.Status != http.StatusOK) {
				t.Errorf("error type/message/status = %q/%q/%d, want %q/%q/200", ue.Type, ue.Message, ue.Status, tt.typ, tt.msg)
			}
			if chunks < tt.minChunks {
				t.Errorf("%d chunks before the failure, want at least %d", chunks, tt.minChunks)
			}
			if ue.UpstreamRequestID == "" && tt.class != messages.ClassMalformed {
				t.Error("no upstream request ID on the error")
			}
			if in, out := s.Usage(); tt.stopAfter == 0 && (in != 0 || out != 0) {
				t.Errorf("the simulator counted usage %d/%d for an unfinished answer", in, out)
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
			if ue.Class != tt.class || ue.Type != tt.typ {
				t.Fatalf("error %v: class %s type %q, want %s %q", ue, ue.Class, ue.Type, tt.class, tt.typ)
			}
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
			if ue.Status != tt.status || ue.Class != tt.class || ue.Type != tt.typ || ue.Code != tt.code {
				t.Errorf("error %v: status %d class %s type %q code %q, want %d %s %q %q", ue, ue.Status, ue.Class, ue.Type, ue.Code, tt.status, tt.class, tt.typ, tt.code)
			}
			if !strings.Contains(ue.Message, tt.msg) || ue.Message == "" {
				t.Errorf("message %q, want it to contain %q", ue.Message, tt.msg)
			}
			if ue.RetryAfter != tt.retry {
				t.Errorf("RetryAfter = %v, want %v", ue.RetryAfter, tt.retry)
			}
			if !reflect.DeepEqual(ue.ShouldRetry, tt.should) {
				t.Errorf("ShouldRetry = %v, want %v", ue.ShouldRetry, tt.should)
			}
			if ue.Retryable() != tt.retrying {
				t.Errorf("Retryable() = %v, want %v", ue.Retryable(), tt.retrying)
			}
			if tt.rid == "req_" && !strings.HasPrefix(ue.UpstreamRequestID, "req_") || tt.rid != "req_" && ue.UpstreamRequestID != tt.rid {
				t.Errorf("UpstreamRequestID = %q, want %q", ue.UpstreamRequestID, tt.rid)
			}
			if call.Result.Status != tt.status || call.Result.UpstreamRequestID != ue.UpstreamRequestID {
				t.Errorf("call result = %+v", call.Result)
			}
			if !errors.Is(ue, messages.ErrUpstream) {
				t.Error("error does not match ErrUpstream")
			}
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
	if r.Err != nil {
		t.Fatalf("count tokens: %v", r.Err)
	}
	ct, ok := r.Resp.(*messages.CountTokensResponse)
	if !ok {
		t.Fatalf("response %T", r.Resp)
	}
	rec := s.Requests()[0]
	if rec.Path != PathCountTokens || rec.Method != http.MethodPost {
		t.Errorf("sent %s %s", rec.Method, rec.Path)
	}
	body := lastBody(t, s)
	for _, k := range []string{"max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata"} {
		if _, ok := body[k]; ok {
			t.Errorf("count_tokens body has %s", k)
		}
	}
	for _, k := range []string{"model", "messages", "system", "tools"} {
		if _, ok := body[k]; !ok {
			t.Errorf("count_tokens body lacks %s", k)
		}
	}
	if !strings.HasPrefix(ct.UpstreamRequestID, "req_") {
		t.Errorf("UpstreamRequestID = %q", ct.UpstreamRequestID)
	}
	// The same conversation as a chat reports the same input count.
	chat.Stream, chat.Extra, chat.Temperature = false, nil, nil
	resp := doChat(t, s, &chat).Chat(t)
	if ct.InputTokens != resp.Usage.InputTokens || ct.InputTokens == 0 {
		t.Errorf("count_tokens = %d, chat input tokens = %d", ct.InputTokens, resp.Usage.InputTokens)
	}
	if in, _ := s.Usage(); in != resp.Usage.InputTokens {
		t.Errorf("simulator counted %d input tokens, want only the chat's %d", in, resp.Usage.InputTokens)
	}

	// A malformed count is ClassMalformed.
	s.Inject(sim.Fault{Status: 200, Body: `{"tokens":3}`})
	ue := doCall(t, newCall(s, &messages.CountTokensRequest{Chat: chat})).Upstream(t)
	if ue.Class != messages.ClassMalformed {
		t.Errorf("class = %s", ue.Class)
	}
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
				if got := rec.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if rec.Path != PathMessages || rec.Method != http.MethodPost || rec.RequestID != "rid-0001" || rec.Key != testSecret {
				t.Errorf("request = %s %s id %q", rec.Method, rec.Path, rec.RequestID)
			}
			// Anthropic's own request-id wins over the X-Request-Id echo.
			if !strings.HasPrefix(call.Result.UpstreamRequestID, "req_sim") || resp.UpstreamRequestID != call.Result.UpstreamRequestID {
				t.Errorf("upstream request ID = %q (response %q)", call.Result.UpstreamRequestID, resp.UpstreamRequestID)
			}
			if call.Result.Status != 200 {
				t.Errorf("status = %d", call.Result.Status)
			}
		})
	}
}

func TestRateLimitHeaders(t *testing.T) {
	s := startSim(t)
	for i, wantRemaining := range []int64{3999, 3998} {
		call := newCall(s, &messages.ChatRequest{Model: "claude-test", Messages: []messages.Message{user("count these four words")}})
		doCall(t, call).Chat(t)
		rl := call.Result.RateLimit
		if !rl.Known || rl.LimitRequests != 4000 || rl.RemainingRequests != wantRemaining || rl.LimitTokens != 280000 || rl.RemainingTokens != 280000-4 {
			t.Errorf("call %d: rate limit = %+v", i, rl)
		}
		if rl.ResetRequests.IsZero() || rl.ResetTokens.IsZero() || rl.ResetRequests.Before(time.Now().Add(-time.Minute)) {
			t.Errorf("call %d: resets = %v / %v", i, rl.ResetRequests, rl.ResetTokens)
		}
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
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var re *messages.RequestError
			if !errors.As(err, &re) || !errors.Is(err, tt.want) {
				t.Fatalf("Check = %T %v, want a *RequestError matching %v", err, err, tt.want)
			}
			if re.Detail == "" {
				t.Error("no detail")
			}
			if cr, ok := tt.req.(*messages.ChatRequest); ok && (re.RequestID != cr.RequestID || re.Provider != cr.Provider) {
				t.Errorf("request error identity = %q/%q", re.RequestID, re.Provider)
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
			if ue.Class != messages.ClassInvalid || !errors.Is(ue, tt.kind) {
				t.Errorf("error %v: class %s, want invalid matching %v", ue, ue.Class, tt.kind)
			}
			if s.Calls() != 0 {
				t.Errorf("%d requests sent", s.Calls())
			}
		})
	}
}

func TestKind(t *testing.T) {
	if New().Kind() != "anthropic" {
		t.Fatal(New().Kind())
	}
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
				if err != nil {
					t.Fatal(err)
				}
				resp = r
			} else {
				s := startSim(t)
				s.Inject(sim.Fault{Status: 200, Body: tt.body})
				r := doChat(t, s, &messages.ChatRequest{Model: "m", Messages: []messages.Message{user("x")}})
				resp = r.Chat(t)
				if r.Call.Result.Usage != tt.usage {
					t.Errorf("call.Result.Usage = %+v", r.Call.Result.Usage)
				}
			}
			if resp.Content != "ok" || resp.FinishReason != tt.finish || resp.Usage != tt.usage {
				t.Errorf("got %q %q %+v, want ok %q %+v", resp.Content, resp.FinishReason, resp.Usage, tt.finish, tt.usage)
			}
		})
	}
}
