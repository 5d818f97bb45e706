package openai_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/providertest"

	"github.com/stretchr/testify/require"
)

var keyShape = regexp.MustCompile(`sk-[A-Za-z0-9_\-*.]{3,}`)

func FuzzDecodeError(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{429, `{"error":{"message":"Rate limit reached. Please try again in 1.5s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`},
		{429, `{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`},
		{401, `{"error":{"message":"Incorrect API key provided: sk-proj-abc***xyz.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`},
		{400, `{"error":{"message":"bad","type":"invalid_request_error","param":"messages","code":400}}`},
		{400, `{"error":"plain string"}`},
		{500, `{"object":"error","message":"vllm style","type":"InternalError","code":500}`},
		{503, `<html>down</html>`},
		{302, ``},
		{0, `null`},
		{200, `{"error":null}`},
		{429, `{"error":{"message":"try again in 99999h","code":["x"]}}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, start := range []messages.ErrorClass{messages.ClassUnknown, providers.ClassifyStatus(status)} {
			e := &messages.UpstreamError{Status: status, Class: start}
			openai.DecodeError(status, http.Header{}, body, e)
			require.NotEqual(t, messages.ClassUnknown, e.Class, "class not set for status %d body %q", status, body)
			require.False(t, keyShape.MatchString(e.Message), "message keeps a key-shaped string: %q", e.Message)
			require.GreaterOrEqual(t, e.RetryAfter, time.Duration(0), "retry after %v", e.RetryAfter)
			require.LessOrEqual(t, e.RetryAfter, 24*time.Hour, "retry after %v", e.RetryAfter)
			if e.Class == messages.ClassQuota {
				require.Equal(t, http.StatusTooManyRequests, status, "quota class for status")
			}
			_ = e.Error()
		}
	})
}

const chatStreamSeed = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}

data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]},"finish_reason":null}]}

data: {"id":"chatcmpl-1","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}

data: {"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}

data: [DONE]

`

// streamOnce drives body through Client.Stream and decode, as Do does, and
// checks the outcome: a response, or a classified *UpstreamError.
func streamOnce[T any](t *testing.T, body []byte, decode func(io.Reader, *providers.Call, *providers.Emitter) (*T, error)) {
	call := &providers.Call{RequestID: "fuzz", Provider: "openai", Key: providers.NewCredential("k", testKey), Result: providers.CallResult{Status: 200}}
	last := -1
	call.Emit = func(ch *messages.StreamChunk) bool {
		require.Equal(t, last+1, ch.Seq, "chunk seq %d after %d", ch.Seq, last)
		last = ch.Seq
		switch ch.Type {
		case messages.ChunkText:
			require.NotEqual(t, "", ch.Text, "empty text chunk")
		case messages.ChunkToolCall:
			require.NotNil(t, ch.ToolCall, "tool call chunk without delta")
		case messages.ChunkUsage:
			require.NotNil(t, ch.Usage, "usage chunk without usage")
		case messages.ChunkEvent:
			require.NotEqual(t, "", ch.Event, "event chunk without a name")
		default:
			require.Fail(t, "unexpected chunk type", "chunk type %q", ch.Type)
		}
		return true
	}
	em := providers.NewEmitter(call)
	var out *T
	providertest.StreamBody(t, call, body, testKey, func(r io.Reader) error {
		var err error
		out, err = decode(r, call, em)
		return err
	}, func() bool { return out != nil })
}

func FuzzChatStream(f *testing.F) {
	f.Add([]byte(chatStreamSeed))
	f.Add([]byte(strings.ReplaceAll(chatStreamSeed, "\n", "\r\n")))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n\n"))
	f.Add([]byte("data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"))
	f.Add([]byte("event: error\ndata: not json\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1000000000,\"function\":{\"arguments\":\"{\"}}]}}]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": keep-alive\n\ndata:[DONE]\n\n"))
	f.Add([]byte("data: null\n\ndata: [DONE]\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		streamOnce(t, body, openai.DecodeChatStream)
	})
}

const responsesStreamSeed = `event: response.created
data: {"type":"response.created","sequence_number":0,"response":{"id":"resp_1","status":"in_progress","output":[]}}

event: response.output_item.added
data: {"type":"response.output_item.added","sequence_number":1,"output_index":0,"item":{"type":"function_call","id":"fc_1","call_id":"call_1","name":"f","arguments":""}}

event: response.function_call_arguments.delta
data: {"type":"response.function_call_arguments.delta","sequence_number":2,"item_id":"fc_1","output_index":0,"delta":"{}"}

event: response.output_text.delta
data: {"type":"response.output_text.delta","sequence_number":3,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi"}

event: response.completed
data: {"type":"response.completed","sequence_number":4,"response":{"id":"resp_1","status":"completed","output":[{"type":"message","content":[{"type":"output_text","text":"Hi"}]}],"usage":{"input_tokens":1,"output_tokens":1}}}

`

func FuzzResponsesStream(f *testing.F) {
	f.Add([]byte(responsesStreamSeed))
	f.Add([]byte("event: error\ndata: {\"type\":\"error\",\"code\":\"rate_limit_exceeded\",\"message\":\"slow down\"}\n\n"))
	f.Add([]byte("event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"x\"}}}\n\n"))
	f.Add([]byte("data: {\"type\":\"response.incomplete\",\"response\":{\"status\":\"incomplete\",\"incomplete_details\":{\"reason\":\"max_output_tokens\"}}}\n\n"))
	f.Add([]byte("data: {\"type\":\"response.completed\",\"response\":null}\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		streamOnce(t, body, openai.DecodeResponsesStream)
	})
}

// TestDecodeErrorShapes pins the decoder on the error bodies of OpenAI and
// OpenAI-compatible servers.
func TestDecodeErrorShapes(t *testing.T) {
	tests := []struct {
		name               string
		status             int
		body               string
		wantClass          messages.ErrorClass
		wantType, wantCode string
		wantMsg            string
		wantRetry          time.Duration
	}{
		{"openai", 400, `{"error":{"message":"bad param","type":"invalid_request_error","param":"x","code":null}}`, messages.ClassInvalid, "invalid_request_error", "", "bad param", 0},
		{"numeric code", 400, `{"error":{"message":"m","type":"t","code":400}}`, messages.ClassInvalid, "t", "400", "m", 0},
		{"string error", 500, `{"error":"upstream exploded"}`, messages.ClassServer, "", "", "upstream exploded", 0},
		{"vllm", 400, `{"object":"error","message":"too long","type":"BadRequestError","code":400}`, messages.ClassInvalid, "BadRequestError", "400", "too long", 0},
		{"quota", 429, `{"error":{"message":"quota","type":"insufficient_quota","code":"insufficient_quota"}}`, messages.ClassQuota, "insufficient_quota", "insufficient_quota", "quota", 0},
		{"billing", 429, `{"error":{"message":"b","type":"requests","code":"billing_hard_limit_reached"}}`, messages.ClassQuota, "requests", "billing_hard_limit_reached", "b", 0},
		{"rate hint", 429, `{"error":{"message":"Please try again in 1m2.5s.","type":"tokens","code":"rate_limit_exceeded"}}`, messages.ClassRateLimited, "tokens", "rate_limit_exceeded", "Please try again in 1m2.5s.", 62500 * time.Millisecond},
		{"key redacted", 401, `{"error":{"message":"Incorrect API key provided: sk-proj-AbC*****wxyz. You can find it.","type":"invalid_request_error","code":"invalid_api_key"}}`, messages.ClassAuth, "invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-[redacted] You can find it.", 0},
		{"not json", 502, `<html>`, messages.ClassServer, "", "", "", 0},
		{"redirect", 307, ``, messages.ClassServer, "", "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &messages.UpstreamError{Class: providers.ClassifyStatus(tt.status)}
			openai.DecodeError(tt.status, http.Header{}, []byte(tt.body), e)
			require.Equal(t, tt.wantClass, e.Class, "got %v %q/%q %q %v", e.Class, e.Type, e.Code, e.Message, e.RetryAfter)
			require.Equal(t, tt.wantType, e.Type, "got %v %q/%q %q %v", e.Class, e.Type, e.Code, e.Message, e.RetryAfter)
			require.Equal(t, tt.wantCode, e.Code, "got %v %q/%q %q %v", e.Class, e.Type, e.Code, e.Message, e.RetryAfter)
			require.Equal(t, tt.wantMsg, e.Message, "got %v %q/%q %q %v", e.Class, e.Type, e.Code, e.Message, e.RetryAfter)
			require.Equal(t, tt.wantRetry, e.RetryAfter, "got %v %q/%q %q %v", e.Class, e.Type, e.Code, e.Message, e.RetryAfter)
		})
	}
}
