package gemini

import (
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testSecret is the key the tests authorise with; no error or log may show
// it.
const testSecret = "AIzaSyTest0123456789abcdefghijklmnopqrs"

const (
	chatModel  = "gemini-2.5-flash"
	modelV3    = "gemini-3-pro-preview"
	embedModel = "gemini-embedding-001"
)

func startSim(t *testing.T, b *sim.GeminiBackend, opts ...sim.Option) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.Gemini()
	}
	s := sim.Start(b, opts...)
	t.Cleanup(s.Close)
	return s
}

func newCall(s *sim.Server, req messages.Request) *providers.Call {
	return &providers.Call{
		Request:   req,
		RequestID: "rid-0001",
		Attempt:   1,
		Provider:  "gemini",
		Endpoint:  "primary",
		BaseURL:   s.URL,
		Key:       providers.NewCredential("key-a", testSecret),
		Client:    &providers.Client{IdleTimeout: 10 * time.Second},
	}
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

// sameJSON compares two JSON texts as values.
func sameJSON(t *testing.T, got any, want string) bool {
	t.Helper()
	var w any
	err := json.Unmarshal([]byte(want), &w)
	require.NoError(t, err, "bad want %s: %v", want, err)
	var g any
	require.NoError(t, json.Unmarshal([]byte(jsonOf(t, got)), &g))
	return jsonOf(t, g) == jsonOf(t, w)
}

func user(text string) messages.Message {
	return messages.Message{Role: messages.RoleUser, Content: text}
}

func f64(v float64) *float64 { return &v }

var weatherTool = messages.Tool{
	Name:        "get_weather",
	Description: "Get weather",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"},"units":{"enum":["celsius","fahrenheit"],"type":"string"}},"required":["city"],"additionalProperties":false}`),
}

var timeTool = messages.Tool{Name: "get_time", Description: "Current time"}

// png is the start of a PNG file: enough for content sniffing.
var png = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00")

func TestChat(t *testing.T) {
	tests := []struct {
		name                 string
		req                  messages.ChatRequest
		content, finish, raw string
		usage                messages.Usage
		tools                int
		body                 map[string]string // JSON of body fields; "-" means absent
	}{
		{
			name:    "plain text",
			req:     messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hello there")}},
			content: "You said: Hello there", finish: messages.FinishStop, raw: "STOP",
			usage: messages.Usage{InputTokens: 2, OutputTokens: 4},
			body: map[string]string{"contents": `[{"parts":[{"text":"Hello there"}],"role":"user"}]`, "systemInstruction": "-",
				"generationConfig": "-", "tools": "-", "toolConfig": "-"},
		},
		{
			name: "system prompt and system messages",
			req: messages.ChatRequest{Model: "models/" + chatModel, System: "Be brief.", Messages: []messages.Message{
				{Role: messages.RoleSystem, Content: "Answer in English."}, user("Hi"),
			}},
			content: "You said: Hi", finish: messages.FinishStop, raw: "STOP",
			usage: messages.Usage{InputTokens: 6, OutputTokens: 3},
			body:  map[string]string{"systemInstruction": `{"parts":[{"text":"Be brief."},{"text":"Answer in English."}]}`, "contents": `[{"parts":[{"text":"Hi"}],"role":"user"}]`},
		},
		{
			name: "generation config and a stop sequence",
			req: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hi there friend")},
				Temperature: f64(0.5), TopP: f64(0.9), Stop: []string{"friend"}, MaxTokens: 300},
			content: "You said: Hi there ", finish: messages.FinishStop, raw: "STOP",
			usage: messages.Usage{InputTokens: 3, OutputTokens: 4},
			body:  map[string]string{"generationConfig": `{"maxOutputTokens":300,"stopSequences":["friend"],"temperature":0.5,"topP":0.9}`},
		},
		{
			name:    "max tokens reached",
			req:     messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("one two three")}, MaxTokens: 2},
			content: "You said:", finish: messages.FinishLength, raw: "MAX_TOKENS",
			usage: messages.Usage{InputTokens: 3, OutputTokens: 2},
			body:  map[string]string{"generationConfig": `{"maxOutputTokens":2}`},
		},
		{
			name: "images inline, as data URL and by URL",
			req: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{{Role: messages.RoleUser, Parts: []messages.Part{
				{Type: messages.PartText, Text: "Compare these"},
				{Type: messages.PartImage, Data: png},
				{Type: messages.PartImage, ImageURL: "data:image/webp;base64,UklGRg=="},
				{Type: messages.PartImage, ImageURL: "https://example.com/cat.jpg"},
				{Type: messages.PartImage, ImageURL: "https://generativelanguage.googleapis.com/v1beta/files/abc", MediaType: "application/pdf"},
			}}}},
			content: "You said: Compare these [4 media part(s)]", finish: messages.FinishStop, raw: "STOP",
			usage: messages.Usage{InputTokens: 2 + 4*258, OutputTokens: 7},
			body: map[string]string{"contents": `[{"role":"user","parts":[{"text":"Compare these"},` +
				`{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAAA="}},` +
				`{"inlineData":{"mimeType":"image/webp","data":"UklGRg=="}},` +
				`{"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/cat.jpg"}},` +
				`{"fileData":{"mimeType":"application/pdf","fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]`},
		},
		{
			name: "extra fields merged, generationConfig merged, adapter fields win",
			req: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hi")}, Temperature: f64(0.2),
				Extra: map[string]any{
					"safetySettings":   []any{map[string]any{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_ONLY_HIGH"}},
					"generationConfig": map[string]any{"topK": 40, "temperature": 1.5, "thinkingConfig": map[string]any{"thinkingBudget": 0}},
					"contents":         "from extra",
				}},
			content: "You said: Hi", finish: messages.FinishStop, raw: "STOP",
			usage: messages.Usage{InputTokens: 1, OutputTokens: 3},
			body: map[string]string{
				"safetySettings":   `[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_ONLY_HIGH"}]`,
				"generationConfig": `{"temperature":0.2,"topK":40,"thinkingConfig":{"thinkingBudget":0}}`,
				"contents":         `[{"parts":[{"text":"Hi"}],"role":"user"}]`,
			},
		},
		{
			name: "required tool choice forces a call",
			req: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("What time is it?")},
				Tools: []messages.Tool{timeTool}, ToolChoice: "required"},
			finish: messages.FinishToolCalls, raw: "STOP", tools: 1,
			usage: messages.Usage{InputTokens: 4 + 1 + 2, OutputTokens: 1 + 1},
			body: map[string]string{"toolConfig": `{"functionCallingConfig":{"mode":"ANY"}}`,
				"tools": `[{"functionDeclarations":[{"name":"get_time","description":"Current time"}]}]`},
		},
		{
			name: "named tool choice",
			req: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hi")},
				Tools: []messages.Tool{weatherTool, timeTool}, ToolChoice: "get_time"},
			finish: messages.FinishToolCalls, raw: "STOP", tools: 1,
			usage: messages.Usage{InputTokens: 1 + 3 + 3, OutputTokens: 2},
			body:  map[string]string{"toolConfig": `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_time"]}}`},
		},
		{
			name: "tool choice none",
			req: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("weather please")},
				Tools: []messages.Tool{weatherTool}, ToolChoice: "none"},
			content: "You said: weather please", finish: messages.FinishStop, raw: "STOP",
			usage: messages.Usage{InputTokens: 2 + 1 + 2, OutputTokens: 4},
			body: map[string]string{"toolConfig": `{"functionCallingConfig":{"mode":"NONE"}}`,
				"tools": `[{"functionDeclarations":[{"name":"get_weather","description":"Get weather","parametersJsonSchema":` + string(weatherTool.Parameters) + `}]}]`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			r := doChat(t, s, &tt.req)
			resp := r.Chat(t)
			assert.Equal(t, tt.content, resp.Content, "answer = %q %q/%q, want %q %q/%q", resp.Content, resp.FinishReason, resp.RawFinishReason, tt.content, tt.finish, tt.raw)
			assert.Equal(t, tt.finish, resp.FinishReason, "answer = %q %q/%q, want %q %q/%q", resp.Content, resp.FinishReason, resp.RawFinishReason, tt.content, tt.finish, tt.raw)
			assert.Equal(t, tt.raw, resp.RawFinishReason, "answer = %q %q/%q, want %q %q/%q", resp.Content, resp.FinishReason, resp.RawFinishReason, tt.content, tt.finish, tt.raw)
			assert.Len(t, resp.ToolCalls, tt.tools, "tool calls")
			assert.True(t, resp.Usage == tt.usage, "usage = %+v (call %+v), want %+v", resp.Usage, r.Call.Result.Usage, tt.usage)
			assert.True(t, r.Call.Result.Usage == resp.Usage, "usage = %+v (call %+v), want %+v", resp.Usage, r.Call.Result.Usage, tt.usage)
			in, out := s.Usage()
			assert.Equal(t, resp.Usage.InputTokens, in, "simulator reported %d/%d tokens, response %+v", in, out, resp.Usage)
			assert.Equal(t, resp.Usage.OutputTokens, out, "simulator reported %d/%d tokens, response %+v", in, out, resp.Usage)
			assert.True(t, strings.HasPrefix(resp.ID, "gemsim"), "id/model/block = %q/%q/%q", resp.ID, resp.Model, resp.BlockReason)
			assert.Equal(t, chatModel, resp.Model, "id/model/block = %q/%q/%q", resp.ID, resp.Model, resp.BlockReason)
			assert.Equal(t, "", resp.BlockReason, "id/model/block = %q/%q/%q", resp.ID, resp.Model, resp.BlockReason)
			assert.Equal(t, "gemini", resp.Provider, "meta = %+v", resp.Meta)
			assert.Equal(t, "primary", resp.Endpoint, "meta = %+v", resp.Meta)
			assert.Equal(t, "key-a", resp.Key, "meta = %+v", resp.Meta)
			assert.Equal(t, "rid-0001", resp.RequestID, "meta = %+v", resp.Meta)
			assert.Equal(t, 0, s.InvalidCalls(), "the simulator rejected %d requests", s.InvalidCalls())
			rec := s.Requests()[0]
			assert.Equal(t, http.MethodPost, rec.Method, "request %s %s?%s", rec.Method, rec.Path, rec.Query)
			assert.Equal(t, "/v1beta/models/"+chatModel+":generateContent", rec.Path, "request %s %s?%s", rec.Method, rec.Path, rec.Query)
			assert.Equal(t, "", rec.Query, "request %s %s?%s", rec.Method, rec.Path, rec.Query)
			body := lastBody(t, s)
			for k, want := range tt.body {
				v, ok := body[k]
				if want == "-" {
					assert.False(t, ok, "body has %s = %s", k, jsonOf(t, v))
					continue
				}
				if assert.True(t, ok, "body lacks %s", k) {
					assert.True(t, sameJSON(t, v, want), "body %s = %s, want %s", k, jsonOf(t, v), want)
				}
			}
		})
	}
}

func TestToolRoundTrip(t *testing.T) {
	tests := []struct {
		name, model string
		signature   bool // the model hands out thought signatures
	}{
		{"gemini 2.5: no id, no signature", chatModel, false},
		{"gemini 3: thought signature echoed", modelV3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			conv := []messages.Message{user("What's the weather in Paris?")}
			req := &messages.ChatRequest{Model: tt.model, Messages: conv, Tools: []messages.Tool{weatherTool}}
			first := doChat(t, s, req).Chat(t)
			require.Equal(t, messages.FinishToolCalls, first.FinishReason, "first answer = %+v", first)
			require.Equal(t, "STOP", first.RawFinishReason, "first answer = %+v", first)
			require.Len(t, first.ToolCalls, 1, "first answer = %+v", first)
			tc := first.ToolCalls[0]
			require.Equal(t, "get_weather", tc.Name, "tool call = %s %s %s", tc.ID, tc.Name, tc.Arguments)
			require.True(t, strings.HasPrefix(tc.ID, toolIDPrefix), "tool call = %s %s %s", tc.ID, tc.Name, tc.Arguments)
			require.Equal(t, `{"city":"Paris"}`, string(tc.Arguments), "tool call = %s %s %s", tc.ID, tc.Name, tc.Arguments)
			_, sig := parseToolCallID(tc.ID)
			require.Equal(t, tt.signature, sig != "", "ID %q carries signature %q", tc.ID, sig)
			// Another answer gives another ID.
			assert.NotEqual(t, tc.ID, doChat(t, s, req).Chat(t).ToolCalls[0].ID, "two different answers gave the same tool call ID")

			conv = append(conv,
				messages.Message{Role: messages.RoleAssistant, ToolCalls: first.ToolCalls},
				messages.Message{Role: messages.RoleTool, ToolCallID: tc.ID, Content: `{"temperature":18,"sky":"sunny"}`})
			req.Messages = conv
			second := doChat(t, s, req).Chat(t)
			require.Equal(t, `The function returned: {"sky":"sunny","temperature":18}`, second.Content, "second answer = %q %q", second.Content, second.FinishReason)
			require.Equal(t, messages.FinishStop, second.FinishReason, "second answer = %q %q", second.Content, second.FinishReason)
			contents := lastBody(t, s)["contents"].([]any)
			require.Len(t, contents, 3, "contents = %s", jsonOf(t, contents))
			call := contents[1].(map[string]any)["parts"].([]any)[0].(map[string]any)
			_, hasID := call["functionCall"].(map[string]any)["id"]
			assert.False(t, hasID, "a synthesized ID was sent: %s", jsonOf(t, call))
			_, hasSig := call["thoughtSignature"]
			assert.Equal(t, tt.signature, hasSig, "model turn = %s", jsonOf(t, call))
			want := `{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temperature":18,"sky":"sunny"}}}]}`
			assert.True(t, sameJSON(t, contents[2], want), "function response turn = %s, want %s", jsonOf(t, contents[2]), want)
			assert.Equal(t, 0, s.InvalidCalls(), "the simulator rejected %d requests", s.InvalidCalls())
			if !tt.signature {
				return
			}
			// Without the signature a gemini-3 model refuses the history.
			conv[1].ToolCalls = []messages.ToolCall{{ID: "call-1", Name: "get_weather", Arguments: tc.Arguments}}
			conv[2].ToolCallID = "call-1"
			ue := doChat(t, s, req).Upstream(t)
			assert.Equal(t, messages.ClassInvalid, ue.Class, "without the signature: %v", ue)
			assert.Equal(t, 400, ue.Status, "without the signature: %v", ue)
			assert.Contains(t, ue.Message, "missing a thought_signature", "without the signature: %v", ue)
		})
	}
}

func TestParallelToolResults(t *testing.T) {
	s := startSim(t, nil)
	conv := []messages.Message{user("weather in Oslo and Rome")}
	req := &messages.ChatRequest{Model: chatModel, Messages: conv, Tools: []messages.Tool{weatherTool, timeTool}}
	first := doChat(t, s, req).Chat(t)
	require.Len(t, first.ToolCalls, 2, "tool calls = %+v", first.ToolCalls)
	require.NotEqual(t, first.ToolCalls[1].ID, first.ToolCalls[0].ID, "tool calls = %+v", first.ToolCalls)
	require.Equal(t, `{"city":"Oslo"}`, string(first.ToolCalls[0].Arguments), "tool calls = %+v", first.ToolCalls)
	require.Equal(t, `{"city":"Rome"}`, string(first.ToolCalls[1].Arguments), "tool calls = %+v", first.ToolCalls)
	result := func(id, text string, isErr bool) messages.Message {
		return messages.Message{Role: messages.RoleTool, ToolCallID: id, Content: text, IsError: isErr}
	}
	req.Messages = append(conv, messages.Message{Role: messages.RoleAssistant, ToolCalls: first.ToolCalls},
		result(first.ToolCalls[0].ID, "5 degrees", false),
		messages.Message{Role: messages.RoleSystem, Content: "a system note does not split the results"},
		result(first.ToolCalls[1].ID, "station offline", true))
	second := doChat(t, s, req).Chat(t)
	assert.Equal(t, `The function returned: {"output":"5 degrees"} {"error":"station offline"}`, second.Content, "answer")
	body := lastBody(t, s)
	contents := body["contents"].([]any)
	want := `{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"output":"5 degrees"}}},` +
		`{"functionResponse":{"name":"get_weather","response":{"error":"station offline"}}}]}`
	if assert.Len(t, contents, 3, "contents = %s", jsonOf(t, contents)) {
		assert.True(t, sameJSON(t, contents[2], want), "contents = %s", jsonOf(t, contents))
	}
	assert.True(t, sameJSON(t, body["systemInstruction"], `{"parts":[{"text":"a system note does not split the results"}]}`), "system = %s", jsonOf(t, body["systemInstruction"]))

	// One result for two calls is refused by the service, and so by Check
	// before anything is sent.
	req.Messages = req.Messages[:3]
	ue := doChat(t, s, req).Upstream(t)
	assert.False(t, ue.Class != messages.ClassInvalid || !errors.Is(ue, messages.ErrInvalidRequest) || s.Calls() != 2, "one result for two calls: %v after %d calls", ue, s.Calls())
	status, _, b := rawPost(t, s, "POST", "/v1beta/models/"+chatModel+":generateContent", validHeaders,
		`{"contents":[`+jsonOf(t, body["contents"].([]any)[0])+`,`+jsonOf(t, contents[1])+`,{"role":"user","parts":[`+
			jsonOf(t, contents[2].(map[string]any)["parts"].([]any)[0])+`]}]}`)
	assert.False(t, status != 400 || !strings.Contains(string(b), "number of function response parts is equal to the number of function call parts"), "simulator: %d %s", status, b)
}

func TestToolResponses(t *testing.T) {
	tests := []struct {
		text  string
		isErr bool
		want  string
	}{
		{`{"a":1}`, false, `{"a":1}`},
		{` {"a":1} `, false, `{"a":1}`},
		{`[1,2]`, false, `{"output":[1,2]}`},
		{`42`, false, `{"output":42}`},
		{`sunny`, false, `{"output":"sunny"}`},
		{``, false, `{}`},
		{`{"code":5}`, true, `{"error":{"code":5}}`},
		{`boom`, true, `{"error":"boom"}`},
		{``, true, `{"error":""}`},
	}
	for _, tt := range tests {
		got := toolResponse(tt.text, tt.isErr)
		assert.Equal(t, tt.want, string(got), "toolResponse(%q, %v) = %s, want %s", tt.text, tt.isErr, got, tt.want)
	}
}

func TestToolCallIDs(t *testing.T) {
	tests := []struct {
		name           string
		id, sig        string
		plain, prefix  bool
		wantID, wanSig string
	}{
		{name: "gemini id kept", id: "call_abc", plain: true, wantID: "call_abc"},
		{name: "synthesized", prefix: true},
		{name: "signature only", sig: "c2lnbmF0dXJl+/==", prefix: true, wanSig: "c2lnbmF0dXJl+/=="},
		{name: "id and signature", id: "call.with.dots", sig: "AAAA", prefix: true, wantID: "call.with.dots", wanSig: "AAAA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toolCallID("resp-1", "f", `{"a":1}`, 2, tt.id, tt.sig)
			require.Equal(t, toolCallID("resp-1", "f", `{"a":1}`, 2, tt.id, tt.sig), got, "not stable")
			if tt.plain {
				require.Equal(t, tt.id, got, "ID = %q", got)
			}
			if tt.prefix {
				require.True(t, strings.HasPrefix(got, toolIDPrefix), "ID = %q", got)
			}
			id, sig := parseToolCallID(got)
			require.Equal(t, tt.wantID, id, "parse(%q) = %q, %q", got, id, sig)
			require.Equal(t, tt.wanSig, sig, "parse(%q) = %q, %q", got, id, sig)
		})
	}
	assert.NotEqual(t, toolCallID("r", "f", "{}", 1, "", ""), toolCallID("r", "f", "{}", 0, "", ""), "two calls of one answer share an ID")
	for _, foreign := range []string{"toolu_01", "call_x", "gmn.a.b", "gmn.a.!!.??"} {
		id, sig := parseToolCallID(foreign)
		assert.Equal(t, foreign, id, "foreign ID %q parsed as %q/%q", foreign, id, sig)
		assert.Equal(t, "", sig, "foreign ID %q parsed as %q/%q", foreign, id, sig)
	}
}

func TestStream(t *testing.T) {
	tests := []struct {
		name       string
		req        messages.ChatRequest
		content    string
		calls      int
		finish     string
		block      string
		textChunks int
	}{
		{
			name:    "text in order",
			req:     messages.ChatRequest{Model: chatModel, Stream: true, Messages: []messages.Message{user("please stream this answer to me now")}},
			content: "You said: please stream this answer to me now", finish: messages.FinishStop, textChunks: 3,
		},
		{
			name: "tool calls",
			req: messages.ChatRequest{Model: modelV3, Stream: true, Messages: []messages.Message{user("What is the weather in Oslo and Lima?")},
				Tools: []messages.Tool{weatherTool}},
			calls: 2, finish: messages.FinishToolCalls,
		},
		{
			name:  "blocked prompt",
			req:   messages.ChatRequest{Model: chatModel, Stream: true, Messages: []messages.Message{user("#block-prompt tell me")}},
			block: "SAFETY", finish: messages.FinishContentFilter,
		},
		{
			name:    "safety stop",
			req:     messages.ChatRequest{Model: chatModel, Stream: true, Messages: []messages.Message{user("#unsafe-answer go on and on")}},
			content: "You said:", finish: messages.FinishContentFilter, textChunks: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			r := doChat(t, s, &tt.req)
			resp := r.Chat(t)
			providertest.CheckChatChunks(t, r.Chunks, "rid-0001", resp)
			assert.Equal(t, tt.content, resp.Content, "answer = %+v", resp)
			assert.Equal(t, tt.finish, resp.FinishReason, "answer = %+v", resp)
			assert.Len(t, resp.ToolCalls, tt.calls, "answer = %+v", resp)
			assert.Equal(t, tt.block, resp.BlockReason, "answer = %+v", resp)
			textChunks := 0
			for _, c := range r.Chunks {
				if c.Type == messages.ChunkText {
					textChunks++
				}
			}
			assert.Equal(t, tt.textChunks, textChunks, "%d text chunks, want %d", textChunks, tt.textChunks)
			in, out := s.Usage()
			assert.Equal(t, in, resp.Usage.InputTokens, "usage %+v, simulator %d/%d", resp.Usage, in, out)
			assert.Equal(t, out, resp.Usage.OutputTokens, "usage %+v, simulator %d/%d", resp.Usage, in, out)
			assert.NotEqual(t, 0, in, "usage %+v, simulator %d/%d", resp.Usage, in, out)
			assert.True(t, r.Call.Result.Usage == resp.Usage, "call result = %+v with %d chunks", r.Call.Result, len(r.Chunks))
			assert.Equal(t, len(r.Chunks), r.Call.Result.ChunksSent, "call result = %+v with %d chunks", r.Call.Result, len(r.Chunks))
			rec := s.Requests()[0]
			assert.False(t, rec.Path != "/v1beta/models/"+tt.req.Model+":streamGenerateContent" || rec.Query != "alt=sse" || rec.Header.Get("Accept") != "text/event-stream", "request %s?%s accept %q", rec.Path, rec.Query, rec.Header.Get("Accept"))
			_, has := lastBody(t, s)["stream"]
			assert.False(t, has, "a stream field was sent")
		})
	}
}

func TestStreamFailures(t *testing.T) {
	streamReq := func() *messages.ChatRequest {
		return &messages.ChatRequest{Model: chatModel, Stream: true, Messages: []messages.Message{user("a long enough answer to cut into pieces")}}
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
		{name: "cut", fault: sim.Fault{CutAfter: 1}, class: messages.ClassStreamCut, retryable: true, minChunks: 1},
		{name: "cut before the last chunk", fault: sim.Fault{CutAfter: 3}, class: messages.ClassStreamCut, retryable: true, minChunks: 3},
		{name: "stalled", fault: sim.Fault{StallAfter: 1}, idle: 200 * time.Millisecond, class: messages.ClassTimeout, retryable: true},
		{
			name:  "bare error object after the first chunk",
			fault: sim.Fault{Body: "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"The model is overloaded. Please try again later.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n"},
			class: messages.ClassServer, retryable: true, typ: "UNAVAILABLE", msg: "The model is overloaded. Please try again later.", minChunks: 1,
		},
		{
			name:  "error event",
			fault: sim.Fault{Body: `data: {"error":{"code":400,"message":"Request contains an invalid argument.","status":"INVALID_ARGUMENT"}}`},
			class: messages.ClassInvalid, typ: "INVALID_ARGUMENT", msg: "Request contains an invalid argument.",
		},
		{
			name:  "quota error in stream",
			fault: sim.Fault{Body: "data: " + strings.ReplaceAll(sim.GeminiRateLimitBody(sim.GeminiQuotaPerMinute, 3*time.Second), "\n", "")},
			class: messages.ClassRateLimited, retryable: true, typ: "RESOURCE_EXHAUSTED",
		},
		{name: "block that is neither data nor an error", fault: sim.Fault{Body: "<html>oops</html>\n\n"}, class: messages.ClassMalformed},
		{name: "malformed", fault: sim.Fault{Malformed: true}, class: messages.ClassMalformed},
		{name: "caller goes away", stopAfter: 1, class: messages.ClassCancelled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
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
			ue := doCall(t, call).Upstream(t)
			require.Equal(t, tt.class, ue.Class, "error %v: class %s retryable %v, want %s %v", ue, ue.Class, ue.Retryable(), tt.class, tt.retryable)
			require.Equal(t, tt.retryable, ue.Retryable(), "error %v: class %s retryable %v, want %s %v", ue, ue.Class, ue.Retryable(), tt.class, tt.retryable)
			if tt.typ != "" {
				assert.Equal(t, tt.typ, ue.Type, "error type/message/status = %q/%q/%d, want %q/%q/200", ue.Type, ue.Message, ue.Status, tt.typ, tt.msg)
				assert.Contains(t, ue.Message, tt.msg, "error type/message/status = %q/%q/%d, want %q/%q/200", ue.Type, ue.Message, ue.Status, tt.typ, tt.msg)
				assert.Equal(t, http.StatusOK, ue.Status, "error type/message/status = %q/%q/%d, want %q/%q/200", ue.Type, ue.Message, ue.Status, tt.typ, tt.msg)
			}
			if tt.class == messages.ClassRateLimited {
				assert.Equal(t, 3*time.Second, ue.RetryAfter, "RetryAfter")
			}
			assert.GreaterOrEqual(t, chunks, tt.minChunks, "%d chunks before the failure, want at least %d", chunks, tt.minChunks)
			in, out := s.Usage()
			if tt.stopAfter == 0 {
				assert.Equal(t, 0, in, "the simulator counted usage %d/%d for an unfinished answer", in, out)
				assert.Equal(t, 0, out, "the simulator counted usage %d/%d for an unfinished answer", in, out)
			}
		})
	}
}

func TestBlockedAndFiltered(t *testing.T) {
	tests := []struct {
		name, prompt, content, finish, raw, block string
	}{
		{"blocked prompt", "#block-prompt now", "", messages.FinishContentFilter, "", "SAFETY"},
		{"safety finish", "#unsafe-answer please", "You said:", messages.FinishContentFilter, "SAFETY", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			r := doChat(t, s, &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user(tt.prompt)}})
			resp := r.Chat(t)
			assert.Equal(t, tt.content, resp.Content, "answer = %+v", resp)
			assert.Equal(t, tt.finish, resp.FinishReason, "answer = %+v", resp)
			assert.Equal(t, tt.raw, resp.RawFinishReason, "answer = %+v", resp)
			assert.Equal(t, tt.block, resp.BlockReason, "answer = %+v", resp)
			assert.Equal(t, 2, resp.Usage.InputTokens, "usage = %+v", resp.Usage)
		})
	}
}

// TestDecodeAnswers decodes answers the simulator does not produce: finish
// reasons, usage with cached, thinking and tool-use tokens, thought parts,
// function calls with ids and without args, the JSON-array stream form.
func TestDecodeAnswers(t *testing.T) {
	usage := `"usageMetadata":{"promptTokenCount":100,"candidatesTokenCount":7,"cachedContentTokenCount":60,"thoughtsTokenCount":20,"toolUsePromptTokenCount":5,"totalTokenCount":132}`
	cand := func(parts, finish string) string {
		return `{"candidates":[{"content":{"role":"model","parts":[` + parts + `]},"finishReason":"` + finish + `","index":0}],` + usage + `,"modelVersion":"gemini-x","responseId":"r1"}`
	}
	full := messages.Usage{InputTokens: 105, OutputTokens: 27, CacheReadTokens: 60}
	tests := []struct {
		name, body      string
		content, finish string
		raw, block      string
		calls           []messages.ToolCall
		usage           messages.Usage
		class           messages.ErrorClass
	}{
		{name: "stop", body: cand(`{"text":"ok"}`, "STOP"), content: "ok", finish: "stop", raw: "STOP", usage: full},
		{name: "thought parts skipped", body: cand(`{"text":"thinking…","thought":true},{"text":"ok"}`, "STOP"), content: "ok", finish: "stop", raw: "STOP", usage: full},
		{name: "max tokens", body: cand(`{"text":"ok"}`, "MAX_TOKENS"), content: "ok", finish: "length", raw: "MAX_TOKENS", usage: full},
		{name: "recitation", body: cand(`{"text":"ok"}`, "RECITATION"), content: "ok", finish: "content_filter", raw: "RECITATION", usage: full},
		{name: "blocklist", body: cand(`{"text":"ok"}`, "BLOCKLIST"), content: "ok", finish: "content_filter", raw: "BLOCKLIST", usage: full},
		{name: "prohibited", body: cand(`{"text":"ok"}`, "PROHIBITED_CONTENT"), content: "ok", finish: "content_filter", raw: "PROHIBITED_CONTENT", usage: full},
		{name: "spii", body: cand(`{"text":"ok"}`, "SPII"), content: "ok", finish: "content_filter", raw: "SPII", usage: full},
		{name: "malformed function call", body: cand(`{"text":"ok"}`, "MALFORMED_FUNCTION_CALL"), content: "ok", finish: "other", raw: "MALFORMED_FUNCTION_CALL", usage: full},
		{name: "language", body: cand(`{"text":"ok"}`, "LANGUAGE"), content: "ok", finish: "other", raw: "LANGUAGE", usage: full},
		{
			name: "function calls with an id and without args", body: cand(`{"functionCall":{"id":"call_1","name":"f","args":{"a":1}}},{"functionCall":{"name":"g"}}`, "STOP"),
			finish: "tool_calls", raw: "STOP", usage: full,
			calls: []messages.ToolCall{{ID: "call_1", Name: "f", Arguments: json.RawMessage(`{"a":1}`)}, {ID: toolCallID("r1", "g", "{}", 1, "", ""), Name: "g", Arguments: json.RawMessage(`{}`)}},
		},
		{
			name: "blocked prompt", body: `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":9,"totalTokenCount":9}}`,
			finish: "content_filter", block: "PROHIBITED_CONTENT", usage: messages.Usage{InputTokens: 9},
		},
		{
			name: "JSON array of chunks", body: `[` + cand(`{"text":"o"}`, "") + `,` + cand(`{"text":"k"}`, "STOP") + `]`,
			content: "ok", finish: "stop", raw: "STOP", usage: full,
		},
		{name: "no candidates", body: `{"usageMetadata":{"promptTokenCount":1}}`, class: messages.ClassMalformed},
		{name: "function call without name", body: cand(`{"functionCall":{"args":{}}}`, "STOP"), class: messages.ClassMalformed},
		{name: "args not an object", body: cand(`{"functionCall":{"name":"f","args":[1]}}`, "STOP"), class: messages.ClassMalformed},
		{name: "error body with 200", body: `{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`, class: messages.ClassServer},
		{name: "not an object", body: `"x"`, class: messages.ClassMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			s.Inject(sim.Fault{Status: 200, Body: tt.body})
			r := doChat(t, s, &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("x")}})
			if tt.class != 0 {
				ue := r.Upstream(t)
				require.Equal(t, tt.class, ue.Class, "error %v: class %s, want %s", ue, ue.Class, tt.class)
				return
			}
			resp := r.Chat(t)
			assert.Equal(t, tt.content, resp.Content, "answer = %+v", resp)
			assert.Equal(t, tt.finish, resp.FinishReason, "answer = %+v", resp)
			assert.Equal(t, tt.raw, resp.RawFinishReason, "answer = %+v", resp)
			assert.Equal(t, tt.block, resp.BlockReason, "answer = %+v", resp)
			assert.True(t, resp.Usage == tt.usage, "answer = %+v", resp)
			assert.Equal(t, jsonOf(t, tt.calls), jsonOf(t, resp.ToolCalls), "tool calls")
			assert.True(t, r.Call.Result.Usage == tt.usage, "call usage = %+v", r.Call.Result.Usage)
		})
	}
}

func TestEmbed(t *testing.T) {
	tests := []struct {
		name   string
		req    messages.EmbedRequest
		dims   int
		path   string
		body   string
		vector func(i int) []float32
	}{
		{
			name: "one input", req: messages.EmbedRequest{Model: embedModel, Inputs: []string{"hello world"}},
			dims: 8, path: ":embedContent",
			body: `{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"hello world"}]}}`,
		},
		{
			name: "several inputs with task type and dimensions",
			req:  messages.EmbedRequest{Model: embedModel, Inputs: []string{"alpha", "beta", "gamma"}, TaskType: "retrieval_document", Dimensions: 16},
			dims: 16, path: ":batchEmbedContents",
			body: `{"requests":[` +
				`{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"alpha"}]},"taskType":"RETRIEVAL_DOCUMENT","outputDimensionality":16},` +
				`{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"beta"}]},"taskType":"RETRIEVAL_DOCUMENT","outputDimensionality":16},` +
				`{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"gamma"}]},"taskType":"RETRIEVAL_DOCUMENT","outputDimensionality":16}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			r := doCall(t, newCall(s, &tt.req))
			require.NoError(t, r.Err)
			resp := r.Resp.(*messages.EmbedResponse)
			require.Len(t, resp.Vectors, len(tt.req.Inputs), "response = %+v", resp)
			require.Equal(t, embedModel, resp.Model, "response = %+v", resp)
			require.Equal(t, "key-a", resp.Key, "response = %+v", resp)
			task := strings.ToUpper(tt.req.TaskType)
			for i, in := range tt.req.Inputs {
				want := sim.GeminiEmbedding(in, task, tt.dims)
				assert.Equal(t, jsonOf(t, want), jsonOf(t, resp.Vectors[i]), "vector %d = %v, want the embedding of %q", i, resp.Vectors[i], in)
			}
			rec := s.Requests()[0]
			assert.Equal(t, "/v1beta/models/"+embedModel+tt.path, rec.Path, "path")
			assert.True(t, sameJSON(t, lastBody(t, s), tt.body), "body = %s, want %s", jsonOf(t, lastBody(t, s)), tt.body)
			assert.Equal(t, 0, s.InvalidCalls(), "rejected")
		})
	}
	// An answer with the wrong number of vectors is malformed.
	s := startSim(t, nil)
	s.Inject(sim.Fault{Status: 200, Body: `{"embeddings":[{"values":[1,2]}]}`})
	ue := doCall(t, newCall(s, &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a", "b"}})).Upstream(t)
	assert.Equal(t, messages.ClassMalformed, ue.Class, "class")
	// A chat model does not embed: 404 NOT_FOUND, not retried.
	ue = doCall(t, newCall(s, &messages.EmbedRequest{Model: chatModel, Inputs: []string{"a", "b"}})).Upstream(t)
	assert.Equal(t, messages.ClassInvalid, ue.Class, "chat model: %v", ue)
	assert.Equal(t, 404, ue.Status, "chat model: %v", ue)
	assert.Equal(t, "NOT_FOUND", ue.Type, "chat model: %v", ue)
	assert.Contains(t, ue.Message, "not supported for batchEmbedContents", "chat model: %v", ue)
}

func TestCountTokens(t *testing.T) {
	tests := []struct {
		name    string
		chat    messages.ChatRequest
		wrapped bool
	}{
		{name: "contents", chat: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("How many tokens is this?")}, Temperature: f64(0.3)}},
		{name: "with system and tools", wrapped: true, chat: messages.ChatRequest{
			Model: chatModel, System: "You are terse.", Messages: []messages.Message{user("How many tokens is this?")},
			Tools: []messages.Tool{weatherTool}, ToolChoice: "auto", Temperature: f64(0.2), MaxTokens: 64, Stop: []string{"END"}, Stream: true,
			Extra: map[string]any{"safetySettings": []any{}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			r := doCall(t, newCall(s, &messages.CountTokensRequest{Call: messages.Call{RequestID: "rid-0001"}, Chat: tt.chat}))
			require.NoError(t, r.Err, "count tokens")
			ct := r.Resp.(*messages.CountTokensResponse)
			rec := s.Requests()[0]
			assert.Equal(t, "/v1beta/models/"+chatModel+":countTokens", rec.Path, "path")
			body := lastBody(t, s)
			gen, wrapped := body["generateContentRequest"].(map[string]any)
			require.Equal(t, tt.wrapped, wrapped, "body = %s", jsonOf(t, body))
			require.Len(t, body, 1, "body = %s", jsonOf(t, body))
			if wrapped {
				assert.True(t, gen["model"] == "models/"+chatModel, "generateContentRequest = %s", jsonOf(t, gen))
				assert.True(t, gen["systemInstruction"] != nil, "generateContentRequest = %s", jsonOf(t, gen))
				assert.True(t, gen["tools"] != nil, "generateContentRequest = %s", jsonOf(t, gen))
				assert.True(t, gen["generationConfig"] == nil, "generateContentRequest = %s", jsonOf(t, gen))
				assert.True(t, gen["safetySettings"] == nil, "generateContentRequest = %s", jsonOf(t, gen))
			}
			// The same conversation as a chat reports the same input count.
			chat := tt.chat
			chat.Stream, chat.Extra = false, nil
			resp := doChat(t, s, &chat).Chat(t)
			assert.Equal(t, resp.Usage.InputTokens, ct.InputTokens, "countTokens = %d, chat input tokens = %d", ct.InputTokens, resp.Usage.InputTokens)
			assert.NotEqual(t, 0, ct.InputTokens, "countTokens = %d, chat input tokens = %d", ct.InputTokens, resp.Usage.InputTokens)
			in, _ := s.Usage()
			assert.Equal(t, resp.Usage.InputTokens, in, "simulator counted %d input tokens, want only the chat's %d", in, resp.Usage.InputTokens)
		})
	}
	s := startSim(t, nil)
	s.Inject(sim.Fault{Status: 200, Body: `{"tokens":3}`})
	ue := doCall(t, newCall(s, &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("x")}}})).Upstream(t)
	assert.Equal(t, messages.ClassMalformed, ue.Class, "class")
}

func TestErrors(t *testing.T) {
	perDay := sim.GeminiRateLimitBody(sim.GeminiQuotaPerDay, 30*time.Second)
	invalidKey := `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[` +
		`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}]}}`
	suspended := `{"error":{"code":403,"message":"Permission denied: Consumer 'api_key:` + testSecret + `' has been suspended.","status":"PERMISSION_DENIED",` +
		`"details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"CONSUMER_SUSPENDED"}]}}`
	tests := []struct {
		name     string
		setup    func(s *sim.Server)
		req      messages.Request
		baseURL  string
		status   int
		class    messages.ErrorClass
		typ      string
		code     string
		msg      string // substring
		retry    time.Duration
		retrying bool
	}{
		{
			name:   "429 with RetryInfo",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 429}) },
			status: 429, class: messages.ClassRateLimited, typ: "RESOURCE_EXHAUSTED", code: sim.GeminiQuotaPerMinute, msg: "exceeded your current quota",
			retry: 2 * time.Second, retrying: true,
		},
		{
			name:   "429 RetryInfo wins over Retry-After",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "9"}}) },
			status: 429, class: messages.ClassRateLimited, typ: "RESOURCE_EXHAUSTED", code: sim.GeminiQuotaPerMinute, retry: 2 * time.Second, retrying: true,
		},
		{
			name:   "429 per-day quota is not retried",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 429, Body: perDay}) },
			status: 429, class: messages.ClassQuota, typ: "RESOURCE_EXHAUSTED", code: sim.GeminiQuotaPerDay, msg: "limit: 250", retry: 30 * time.Second,
		},
		{
			name: "429 without RetryInfo: delay from the message",
			setup: func(s *sim.Server) {
				s.Inject(sim.Fault{Status: 429, Body: `{"error":{"code":429,"message":"Quota exceeded. Please retry in 1.5s.","status":"RESOURCE_EXHAUSTED"}}`})
			},
			status: 429, class: messages.ClassRateLimited, typ: "RESOURCE_EXHAUSTED", retry: 1500 * time.Millisecond, retrying: true,
		},
		{
			name:   "400 invalid argument from the validator",
			req:    &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hi")}, Extra: map[string]any{"stream": true}},
			status: 400, class: messages.ClassInvalid, typ: "INVALID_ARGUMENT", msg: `Invalid JSON payload received. Unknown name "stream": Cannot find field.`,
		},
		{
			name:   "400 invalid key is an auth failure",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 400, Body: invalidKey}) },
			status: 400, class: messages.ClassAuth, typ: "INVALID_ARGUMENT", code: "API_KEY_INVALID", msg: "API key not valid",
		},
		{
			name:   "401 unknown key",
			setup:  func(s *sim.Server) { s.RejectKey(testSecret, 401) },
			status: 401, class: messages.ClassAuth, typ: "UNAUTHENTICATED", code: "API_KEY_INVALID",
		},
		{
			name:   "403 leaked key",
			setup:  func(s *sim.Server) { s.RejectKey(testSecret, 403) },
			status: 403, class: messages.ClassAuth, typ: "PERMISSION_DENIED", msg: "reported as leaked",
		},
		{
			name:   "403 suspended consumer, key scrubbed from the message",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 403, Body: suspended}) },
			status: 403, class: messages.ClassAuth, typ: "PERMISSION_DENIED", code: "CONSUMER_SUSPENDED", msg: "api_key:AIza[redacted]' has been suspended",
		},
		{
			name:   "404 model not found",
			req:    &messages.ChatRequest{Model: embedModel, Messages: []messages.Message{user("Hi")}},
			status: 404, class: messages.ClassInvalid, typ: "NOT_FOUND", msg: "not supported for generateContent",
		},
		{
			name:    "404 wrong base URL",
			baseURL: "/v1beta",
			status:  404, class: messages.ClassInvalid, typ: "NOT_FOUND",
		},
		{
			name:   "500 internal",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 500}) },
			status: 500, class: messages.ClassServer, typ: "INTERNAL", msg: "internal error", retrying: true,
		},
		{
			name:   "503 unavailable",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 503}) },
			status: 503, class: messages.ClassServer, typ: "UNAVAILABLE", msg: "overloaded", retrying: true,
		},
		{
			name:   "504 deadline exceeded",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 504}) },
			status: 504, class: messages.ClassServer, typ: "DEADLINE_EXCEEDED", msg: "Deadline expired", retrying: true,
		},
		{
			name:   "error body that is not JSON",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 502, Body: `<html>Bad gateway</html>`}) },
			status: 502, class: messages.ClassServer, msg: "Bad Gateway", retrying: true,
		},
		{
			name:   "embedding 429",
			setup:  func(s *sim.Server) { s.Inject(sim.Fault{Status: 429}) },
			req:    &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a", "b"}},
			status: 429, class: messages.ClassRateLimited, typ: "RESOURCE_EXHAUSTED", code: sim.GeminiQuotaPerMinute, retry: 2 * time.Second, retrying: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			if tt.setup != nil {
				tt.setup(s)
			}
			req := tt.req
			if req == nil {
				req = &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hi")}}
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
			assert.Equal(t, tt.retrying, ue.Retryable(), "Retryable()")
			assert.Equal(t, tt.status, call.Result.Status, "call result = %+v", call.Result)
			assert.ErrorIs(t, ue, messages.ErrUpstream, "call result = %+v", call.Result)
		})
	}
}

func TestMalformedAnswers(t *testing.T) {
	for _, f := range []sim.Fault{{Malformed: true}, {Status: 200, Body: `{}`}, {Status: 200, Body: `[1,2]`}} {
		s := startSim(t, nil)
		s.Inject(f)
		ue := doChat(t, s, &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hi")}}).Upstream(t)
		assert.False(t, ue.Class != messages.ClassMalformed || ue.Retryable(), "%+v: class %s", f, ue.Class)
	}
}

func TestRequestHeaders(t *testing.T) {
	s := startSim(t, nil)
	call := newCall(s, &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("Hi")}})
	call.Headers = map[string]string{"x-goog-api-client": "switchyard"}
	doCall(t, call).Chat(t)
	rec := s.Requests()[0]
	for k, v := range map[string]string{"X-Goog-Api-Key": testSecret, "Content-Type": "application/json", "Accept": "application/json",
		"X-Request-Id": "rid-0001", "Authorization": "", "X-Goog-Api-Client": "switchyard"} {
		got := rec.Header.Get(k)
		assert.Equal(t, v, got, "header %s = %q, want %q", k, got, v)
	}
	assert.Equal(t, "", rec.Query, "query %q (the key must not go in the URL)", rec.Query)
	assert.Equal(t, testSecret, rec.Key, "query %q (the key must not go in the URL)", rec.Query)
}

func TestCheck(t *testing.T) {
	ok := func() *messages.ChatRequest {
		return &messages.ChatRequest{Call: messages.Call{RequestID: "r1", Provider: "gemini"}, Model: chatModel, Messages: []messages.Message{user("hi")}}
	}
	with := func(f func(r *messages.ChatRequest)) *messages.ChatRequest { r := ok(); f(r); return r }
	call := messages.ToolCall{ID: "c1", Name: "get_weather", Arguments: json.RawMessage(`{"city":"x"}`)}
	tests := []struct {
		name string
		req  messages.Request
		want error // nil, ErrUnsupported or ErrInvalidRequest
	}{
		{"chat", ok(), nil},
		{"tuned model", with(func(r *messages.ChatRequest) { r.Model = "tunedModels/my-model-1" }), nil},
		{"count tokens", &messages.CountTokensRequest{Chat: *ok()}, nil},
		{"embed", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"x"}}, nil},
		{"embed with task type", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"x"}, TaskType: "clustering"}, nil},
		{"tool round trip", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleAssistant, ToolCalls: []messages.ToolCall{call}},
				messages.Message{Role: messages.RoleTool, ToolCallID: "c1", Content: "ok"})
		}), nil},
		{"responses", &messages.ResponsesRequest{Model: "m"}, messages.ErrUnsupported},
		{"generate", &messages.GenerateRequest{Model: "m"}, messages.ErrUnsupported},
		{"typed nil generate", (*messages.GenerateRequest)(nil), messages.ErrUnsupported},
		{"nil", nil, messages.ErrUnsupported},
		{"sparse embeddings", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"x"}, Sparse: true}, messages.ErrUnsupported},
		{"normalize", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"x"}, Normalize: new(bool)}, messages.ErrUnsupported},
		{"no model", with(func(r *messages.ChatRequest) { r.Model = "" }), messages.ErrInvalidRequest},
		{"model with a path", with(func(r *messages.ChatRequest) { r.Model = "models/a/b" }), messages.ErrInvalidRequest},
		{"model with a method", with(func(r *messages.ChatRequest) { r.Model = "gemini:generateContent" }), messages.ErrInvalidRequest},
		{"no messages", with(func(r *messages.ChatRequest) { r.Messages = nil }), messages.ErrInvalidRequest},
		{"only system messages", with(func(r *messages.ChatRequest) {
			r.Messages = []messages.Message{{Role: messages.RoleSystem, Content: "x"}}
		}), messages.ErrInvalidRequest},
		{"empty user message", with(func(r *messages.ChatRequest) { r.Messages[0].Content = "" }), messages.ErrInvalidRequest},
		{"unknown role", with(func(r *messages.ChatRequest) { r.Messages[0].Role = "developer" }), messages.ErrInvalidRequest},
		{"negative max tokens", with(func(r *messages.ChatRequest) { r.MaxTokens = -1 }), messages.ErrInvalidRequest},
		{"temperature above 2", with(func(r *messages.ChatRequest) { r.Temperature = f64(2.5) }), messages.ErrInvalidRequest},
		{"NaN temperature", with(func(r *messages.ChatRequest) { r.Temperature = f64(math.NaN()) }), messages.ErrInvalidRequest},
		{"top_p above 1", with(func(r *messages.ChatRequest) { r.TopP = f64(1.5) }), messages.ErrInvalidRequest},
		{"six stop sequences", with(func(r *messages.ChatRequest) { r.Stop = []string{"a", "b", "c", "d", "e", "f"} }), messages.ErrInvalidRequest},
		{"empty stop sequence", with(func(r *messages.ChatRequest) { r.Stop = []string{""} }), messages.ErrInvalidRequest},
		{"tool message without call ID", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleTool, Content: "x"})
		}), messages.ErrInvalidRequest},
		{"tool result for an unknown call", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleTool, ToolCallID: "nope", Content: "x"})
		}), messages.ErrInvalidRequest},
		{"tool result after a user turn", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleAssistant, ToolCalls: []messages.ToolCall{call}},
				user("and?"), messages.Message{Role: messages.RoleTool, ToolCallID: "c1", Content: "ok"})
		}), messages.ErrInvalidRequest},
		{"one result for two calls", with(func(r *messages.ChatRequest) {
			two := []messages.ToolCall{call, {ID: "c2", Name: "get_weather"}}
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleAssistant, ToolCalls: two},
				messages.Message{Role: messages.RoleTool, ToolCallID: "c1", Content: "ok"})
		}), messages.ErrInvalidRequest},
		{"tool calls opening the conversation", with(func(r *messages.ChatRequest) {
			r.Messages = []messages.Message{{Role: messages.RoleAssistant, ToolCalls: []messages.ToolCall{call}},
				{Role: messages.RoleTool, ToolCallID: "c1", Content: "ok"}}
		}), messages.ErrInvalidRequest},
		{"tool call arguments not an object", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleAssistant, ToolCalls: []messages.ToolCall{{ID: "t", Name: "f", Arguments: json.RawMessage(`[1]`)}}})
		}), messages.ErrInvalidRequest},
		{"tool name with a space", with(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{{Name: "get weather"}} }), messages.ErrInvalidRequest},
		{"tool name starting with a digit", with(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{{Name: "1tool"}} }), messages.ErrInvalidRequest},
		{"duplicate tools", with(func(r *messages.ChatRequest) { r.Tools = []messages.Tool{timeTool, timeTool} }), messages.ErrInvalidRequest},
		{"tool schema not an object", with(func(r *messages.ChatRequest) {
			r.Tools = []messages.Tool{{Name: "f", Parameters: json.RawMessage(`"x"`)}}
		}), messages.ErrInvalidRequest},
		{"tool choice naming no tool", with(func(r *messages.ChatRequest) { r.Tools, r.ToolChoice = []messages.Tool{timeTool}, "other" }), messages.ErrInvalidRequest},
		{"required without tools", with(func(r *messages.ChatRequest) { r.ToolChoice = "required" }), messages.ErrInvalidRequest},
		{"image without data or URL", with(func(r *messages.ChatRequest) { r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage}} }), messages.ErrInvalidRequest},
		{"image of an unsupported type", with(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage, Data: []byte("GIF89a"), MediaType: "image/gif"}}
		}), messages.ErrInvalidRequest},
		{"unsniffable image", with(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage, Data: []byte{1, 2, 3}}}
		}), messages.ErrInvalidRequest},
		{"URL without a known media type", with(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage, ImageURL: "https://example.com/image"}}
		}), messages.ErrInvalidRequest},
		{"ftp URL", with(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage, ImageURL: "ftp://example.com/a.png"}}
		}), messages.ErrInvalidRequest},
		{"bad data URL", with(func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage, ImageURL: "data:image/png;base64,***"}}
		}), messages.ErrInvalidRequest},
		{"image in a system message", with(func(r *messages.ChatRequest) {
			r.Messages = append(r.Messages, messages.Message{Role: messages.RoleSystem, Parts: []messages.Part{{Type: messages.PartImage, ImageURL: "https://x/y.png"}}})
		}), messages.ErrInvalidRequest},
		{"count tokens without model", &messages.CountTokensRequest{Chat: messages.ChatRequest{Messages: []messages.Message{user("x")}}}, messages.ErrInvalidRequest},
		{"embed without inputs", &messages.EmbedRequest{Model: embedModel}, messages.ErrInvalidRequest},
		{"embed with an empty input", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a", " "}}, messages.ErrInvalidRequest},
		{"embed 101 inputs", &messages.EmbedRequest{Model: embedModel, Inputs: make([]string, 101)}, messages.ErrInvalidRequest},
		{"embed with an unknown task type", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}, TaskType: "SUMMARIZE"}, messages.ErrInvalidRequest},
		{"embed with negative dimensions", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}, Dimensions: -1}, messages.ErrInvalidRequest},
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
		{"unsupported", &messages.GenerateRequest{Model: "m"}, messages.ErrUnsupported},
		{"invalid chat", &messages.ChatRequest{Messages: []messages.Message{user("x")}}, messages.ErrInvalidRequest},
		{"invalid embed", &messages.EmbedRequest{Model: embedModel}, messages.ErrInvalidRequest},
		{"invalid count", &messages.CountTokensRequest{}, messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startSim(t, nil)
			ue := doCall(t, newCall(s, tt.req)).Upstream(t)
			assert.Equal(t, messages.ClassInvalid, ue.Class, "error %v: class %s, want invalid matching %v", ue, ue.Class, tt.kind)
			assert.ErrorIs(t, ue, tt.kind, "error %v: class %s, want invalid matching %v", ue, ue.Class, tt.kind)
			assert.Equal(t, 0, s.Calls(), "%d requests sent", s.Calls())
		})
	}
}

func TestKind(t *testing.T) {
	require.Equal(t, "gemini", New().Kind())
}

// TestDecodeStream covers stream endings the simulator's faults cannot
// produce (a clean EOF before the finish, unterminated last events) and the
// separators and error forms the API may send.
func TestDecodeStream(t *testing.T) {
	const (
		text   = `data: {"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":2,"totalTokenCount":2}}`
		finish = `data: {"candidates":[{"content":{"parts":[{"text":"!"}],"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":2,"totalTokenCount":4}}`
		usage  = `data: {"usageMetadata":{"promptTokenCount":2,"candidatesTokenCount":3,"totalTokenCount":5}}`
	)
	tests := []struct {
		name    string
		stream  string
		content string
		out     int
		err     error
		class   messages.ErrorClass
	}{
		{name: "crlf separators", stream: text + "\r\n\r\n" + finish + "\r\n\r\n", content: "Hi!", out: 2},
		{name: "lf separators and extra blank lines", stream: "\n\n" + text + "\n\n\n\n" + finish + "\n\n", content: "Hi!", out: 2},
		{name: "comments and other fields ignored", stream: ": keep-alive\r\n" + text + "\r\nid: 1\r\n\r\n" + finish + "\r\n\r\n", content: "Hi!", out: 2},
		{name: "usage after the finish", stream: text + "\r\n\r\n" + finish + "\r\n\r\n" + usage + "\r\n\r\n", content: "Hi!", out: 3},
		{name: "complete last event without separator", stream: text + "\r\n\r\n" + finish, content: "Hi!", out: 2},
		{name: "clean EOF before the finish", stream: text + "\r\n\r\n", err: io.ErrUnexpectedEOF},
		{name: "empty stream", stream: "", err: io.ErrUnexpectedEOF},
		{name: "last event cut mid-JSON", stream: text + "\r\n\r\n" + finish[:len(finish)-5], err: io.ErrUnexpectedEOF},
		{name: "error object as data", stream: text + "\r\n\r\n" + `data: {"error":{"code":500,"message":"boom","status":"INTERNAL"}}` + "\r\n\r\n", class: messages.ClassServer},
		{name: "bare error object", stream: text + "\r\n\r\n" + "{\n  \"error\": {\n    \"code\": 429,\n    \"status\": \"RESOURCE_EXHAUSTED\"\n  }\n}\n", class: messages.ClassRateLimited},
		{name: "bare error array at EOF", stream: `[{"error":{"code":503,"status":"UNAVAILABLE"}}]`, class: messages.ClassServer},
		{name: "bad JSON in an event", stream: "data: {nope}\r\n\r\n", class: messages.ClassMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range []string{"whole", "byte at a time"} {
				var r io.Reader = strings.NewReader(tt.stream)
				if mode != "whole" {
					r = iotest.OneByteReader(r)
				}
				resp, err := decodeStream(r, nil)
				var ue *messages.UpstreamError
				switch {
				case tt.err != nil:
					require.ErrorIs(t, err, tt.err, "%s: error %v, want %v", mode, err, tt.err)
				case tt.class != 0:
					require.ErrorAs(t, err, &ue, "%s: error %v, want class %s", mode, err, tt.class)
					require.Equal(t, tt.class, ue.Class, "%s: error %v, want class %s", mode, err, tt.class)
				default:
					require.NoError(t, err, mode)
					require.Equal(t, tt.content, resp.Content, "%s: %+v", mode, resp)
					require.Equal(t, tt.out, resp.Usage.OutputTokens, "%s: %+v", mode, resp)
					require.Equal(t, messages.FinishStop, resp.FinishReason, "%s: %+v", mode, resp)
				}
			}
		})
	}
}
