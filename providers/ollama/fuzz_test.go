package ollama_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/ollama"
	"github.com/switchyard-ai/switchyard/providers/providertest"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeError(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{404, `{"error":"model \"llama3\" not found, try pulling it first"}`},
		{400, `{"error":"registry.ollama.ai/library/llava:latest does not support tools"}`},
		{503, `{"error":"server busy, please try again.  maximum pending requests exceeded"}`},
		{500, `{"error":{"message":"proxy says no","type":"server_error","code":500}}`},
		{502, `<html>bad gateway</html>`},
		{404, "404 page not found"},
		{429, `{"message":"slow down","code":"rate_limited"}`},
		{302, ``},
		{0, `null`},
		{200, `{"error":null}`},
		{400, `{"error":["x"]}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, start := range []messages.ErrorClass{messages.ClassUnknown, providers.ClassifyStatus(status)} {
			e := &messages.UpstreamError{Status: status, Class: start}
			ollama.DecodeError(status, http.Header{}, body, e)
			require.NotEqual(t, messages.ClassUnknown, e.Class, "class not set for status %d body %q", status, body)
			require.LessOrEqual(t, len(e.Message), 600, "message of %d bytes", len(e.Message))
			if utf8.Valid(body) {
				require.True(t, utf8.ValidString(e.Message), "message %q is not UTF-8", e.Message)
			}
			_ = e.Error()
		}
	})
}

const chatStreamSeed = `{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"Hel"},"done":false}
{"model":"llama3.2","created_at":"2025-07-07T20:22:19.184789Z","message":{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Tokyo"}}}]},"done":false}
{"model":"llama3.2","created_at":"2025-07-07T20:22:19.19314Z","message":{"role":"assistant","content":""},"done_reason":"stop","done":true,"total_duration":182242375,"load_duration":41295167,"prompt_eval_count":169,"prompt_eval_duration":24573166,"eval_count":15,"eval_duration":115959084}
`

const generateStreamSeed = `{"model":"llama3.2","created_at":"2023-08-04T08:52:19.385406455-07:00","response":"The","done":false}
{"model":"llama3.2","created_at":"2023-08-04T19:22:45.499127Z","response":"","done":true,"context":[1,2,3],"total_duration":10706818083,"load_duration":6338219291,"prompt_eval_count":26,"prompt_eval_duration":130079000,"eval_count":259,"eval_duration":4232710000}
`

// streamOnce drives body through Client.Stream and decode, as Do does, and
// checks the outcome: a response, or a classified *UpstreamError.
func streamOnce[T any](t *testing.T, body []byte, decode func(io.Reader, *providers.Call, *providers.Emitter) (*T, ollama.Timings, error)) {
	call := &providers.Call{RequestID: "fuzz", Provider: "ollama", Key: providers.NewCredential("k", testKey), Result: providers.CallResult{Status: 200}}
	last := -1
	call.Emit = func(ch *messages.StreamChunk) bool {
		require.Equal(t, last+1, ch.Seq, "chunk seq %d after %d", ch.Seq, last)
		last = ch.Seq
		switch ch.Type {
		case messages.ChunkText:
			require.NotEqual(t, "", ch.Text, "empty text chunk")
		case messages.ChunkToolCall:
			require.NotNil(t, ch.ToolCall, "tool call chunk %+v", ch.ToolCall)
			require.NotEqual(t, "", ch.ToolCall.ID, "tool call chunk %+v", ch.ToolCall)
			require.True(t, json.Valid([]byte(ch.ToolCall.Arguments)), "tool call chunk %+v", ch.ToolCall)
		case messages.ChunkUsage:
			require.NotNil(t, ch.Usage, "usage chunk %+v", ch.Usage)
			require.GreaterOrEqual(t, ch.Usage.InputTokens, 0, "usage chunk %+v", ch.Usage)
			require.GreaterOrEqual(t, ch.Usage.OutputTokens, 0, "usage chunk %+v", ch.Usage)
		default:
			require.Fail(t, "unexpected chunk type", "chunk type %q", ch.Type)
		}
		return true
	}
	em := providers.NewEmitter(call)
	var out *T
	var tm ollama.Timings
	providertest.StreamBody(t, call, body, testKey, func(r io.Reader) error {
		var err error
		out, tm, err = decode(r, call, em)
		return err
	}, func() bool { return out != nil })
	require.False(t, tm.Total < 0, "negative timings %+v", tm)
	require.False(t, tm.Load < 0, "negative timings %+v", tm)
	require.False(t, tm.PromptEval < 0, "negative timings %+v", tm)
	require.False(t, tm.Eval < 0, "negative timings %+v", tm)
}

func FuzzChatStream(f *testing.F) {
	f.Add([]byte(chatStreamSeed))
	f.Add([]byte(strings.ReplaceAll(chatStreamSeed, "\n", "\r\n")))
	f.Add([]byte("{\"message\":{\"content\":\"x\"},\"done\":false}\n{\"error\":\"boom\"}\n"))
	f.Add([]byte("{\"error\":{\"message\":\"x\"}}\n"))
	f.Add([]byte("{\"message\":{\"tool_calls\":[{\"function\":{\"name\":\"f\",\"arguments\":\"{\\\"a\\\":1}\"}}]},\"done\":true}\n"))
	f.Add([]byte("{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":null}}]},\"done\":true,\"eval_count\":-5}\n"))
	f.Add([]byte("null\n{\"done\":true}\n"))
	f.Add([]byte("\n\n   \n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		streamOnce(t, body, ollama.DecodeChatStream)
	})
}

func FuzzGenerateStream(f *testing.F) {
	f.Add([]byte(generateStreamSeed))
	f.Add([]byte("{\"response\":\"a\"}\n"))
	f.Add([]byte("{\"response\":5,\"done\":true}\n"))
	f.Add([]byte("{\"done\":true,\"total_duration\":-1,\"done_reason\":\"load\"}\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		streamOnce(t, body, ollama.DecodeGenerateStream)
	})
}
