package openai

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// marshalChatBody is the reference: buildChatBody through encoding/json,
// as providers.Client.Send encodes it.
func marshalChatBody(t *testing.T, d *Dialect, r *messages.ChatRequest) []byte {
	t.Helper()
	body, err := d.buildChatBody(r)
	require.NoError(t, err)
	b, err := json.Marshal(body)
	require.NoError(t, err)
	return b
}

func TestAppendChatBody(t *testing.T) {
	temp, topP, tiny, huge := 0.7, 1.0, 1e-7, 1e21
	user := func(s string) []messages.Message { return []messages.Message{{Role: messages.RoleUser, Content: s}} }
	cases := []struct {
		name    string
		dialect *Dialect
		req     messages.ChatRequest
	}{
		{"one user message", plain, messages.ChatRequest{Model: "gpt-4o-mini", Messages: user("hello")}},
		{"system, sampling, stop, max tokens", plain, messages.ChatRequest{Model: "m", System: "be brief", Messages: user("hi"),
			Temperature: &temp, TopP: &topP, MaxTokens: 64, Stop: []string{"\n\n", "END"}}},
		{"tiny and huge floats", plain, messages.ChatRequest{Model: "m", Messages: user("x"), Temperature: &tiny, TopP: &huge}},
		{"stream with usage", plain, messages.ChatRequest{Model: "m", Messages: user("x"), Stream: true}},
		{"stream without stream options", &Dialect{NoStreamOptions: true}, messages.ChatRequest{Model: "m", Messages: user("x"), Stream: true}},
		{"max_tokens dialect", &Dialect{MaxTokensField: "max_tokens"}, messages.ChatRequest{Model: "m", Messages: user("x"), MaxTokens: 9}},
		{"escaping", plain, messages.ChatRequest{Model: "m<&>", Messages: user("\"q\" \\ \n\r\t\b\f \x00\x1f\x7f <script>&amp; \u2028\u2029 é 😀 \xff\xfe bad")}},
		{"conversation with a tool result", plain, messages.ChatRequest{Model: "m", Messages: []messages.Message{
			{Role: messages.RoleUser, Content: "weather?"},
			{Role: messages.RoleAssistant, Content: "checking"},
			{Role: messages.RoleTool, Content: `{"t":21}`, ToolCallID: "call_1"},
			{Role: messages.RoleUser, Content: "thanks", ToolCallID: "ignored for users"},
		}}},
		{"empty stop list", plain, messages.ChatRequest{Model: "m", Messages: user("x"), Stop: []string{}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.dialect.appendChatBody(nil, &tc.req)
			require.True(t, ok, "declined")
			require.Equal(t, string(marshalChatBody(t, tc.dialect, &tc.req)), string(got))
		})
	}
}

func TestAppendChatBodyDeclines(t *testing.T) {
	nan := math.NaN()
	inf := math.Inf(1)
	user := []messages.Message{{Role: messages.RoleUser, Content: "x"}}
	cases := []struct {
		name    string
		dialect *Dialect
		req     messages.ChatRequest
	}{
		{"extra fields", plain, messages.ChatRequest{Model: "m", Messages: user, Extra: map[string]any{"seed": 1}}},
		{"tools", plain, messages.ChatRequest{Model: "m", Messages: user, Tools: []messages.Tool{{Name: "f"}}}},
		{"image parts", plain, messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: messages.RoleUser,
			Parts: []messages.Part{{Type: messages.PartImage, ImageURL: "https://example.com/a.png"}}}}}},
		{"assistant tool calls", plain, messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: messages.RoleAssistant,
			ToolCalls: []messages.ToolCall{{ID: "c", Name: "f"}}}}}},
		{"body hook", &Dialect{Body: func(messages.Request, map[string]any) {}}, messages.ChatRequest{Model: "m", Messages: user}},
		{"hosting", &Dialect{Hosting: &Hosting{}}, messages.ChatRequest{Model: "m", Messages: user}},
		{"NaN temperature", plain, messages.ChatRequest{Model: "m", Messages: user, Temperature: &nan}},
		{"infinite top_p", plain, messages.ChatRequest{Model: "m", Messages: user, TopP: &inf}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.dialect.appendChatBody([]byte("prefix"), &tc.req)
			require.False(t, ok, "encoded %s", got)
			require.Equal(t, "prefix", string(got), "dst changed")
		})
	}
}

// FuzzAppendChatBody holds the typed encoder to encoding/json: for any
// text, model and sampling value it encodes, the bytes are the same.
func FuzzAppendChatBody(f *testing.F) {
	f.Add("gpt-4o-mini", "be brief", "hello <b>&</b> \u2028 \xff", "END", 0.7, 1e-7, 64, true)
	f.Add("m", "", "x", "", 0.0, 1e21, 0, false)
	f.Fuzz(func(t *testing.T, model, system, content, stop string, temp, topP float64, maxTokens int, stream bool) {
		r := &messages.ChatRequest{Model: model, System: system, Messages: []messages.Message{{Role: messages.RoleUser, Content: content}},
			Temperature: &temp, TopP: &topP, MaxTokens: maxTokens, Stream: stream}
		if stop != "" {
			r.Stop = []string{stop, content}
		}
		got, ok := plain.appendChatBody(nil, r)
		body, err := plain.buildChatBody(r)
		require.NoError(t, err)
		want, err := json.Marshal(body)
		if !ok {
			require.Error(t, err, "declined what encoding/json encodes: temperature %v top_p %v", temp, topP)
			return
		}
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}

// TestHotPathAllocations pins the allocations of the typed encoder and
// decoder on the usual shapes: one buffer for a body (the race detector's
// instrumentation may add one); the kept strings (ID, model, content) and
// the cache details for an answer.
func TestHotPathAllocations(t *testing.T) {
	req := &messages.ChatRequest{Model: "gpt-4o-mini", System: "be brief",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "Explain what a circuit breaker does, in one paragraph."}}}
	body := []byte(realCompletion)
	cases := []struct {
		name string
		max  float64
		run  func()
	}{
		{"encode a chat body", 2, func() { _, _ = plain.appendChatBody(nil, req) }},
		{"decode a chat answer", 5, func() {
			var a chatAnswer
			_ = fastChat(body, &a)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.LessOrEqual(t, testing.AllocsPerRun(100, tc.run), tc.max)
		})
	}
}
