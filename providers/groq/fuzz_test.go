package groq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/groq"
	"github.com/switchyard-ai/switchyard/providers/openai"

	"github.com/stretchr/testify/require"
)

var groqKeyShape = regexp.MustCompile(`gsk_[A-Za-z0-9_\-*.]{3,}`)

const groqStreamSeed = `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"x_groq":{"id":"req_1"}}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"x_groq":{"id":"req_1","usage":{"queue_time":0.1,"prompt_tokens":3,"prompt_time":0.01,"completion_tokens":2,"completion_time":0.02,"total_tokens":5,"total_time":0.13,"prompt_tokens_details":{"cached_tokens":1}}}}

data: [DONE]

`

// FuzzDecodeStreamChunk: the x_groq reader never panics and finds only
// what is there.
func FuzzDecodeStreamChunk(f *testing.F) {
	f.Add([]byte(`{"x_groq":{"id":"req_1","usage":{"prompt_tokens":3,"completion_tokens":2}}}`))
	f.Add([]byte(`{"x_groq":{"error":"stopped"}}`))
	f.Add([]byte(`{"x_groq":null}`))
	f.Add([]byte(`{"x_groq":{"usage":{"prompt_tokens":"x"}}}`))
	f.Add([]byte(`{"x_groq":{"error":""}}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, e := groq.DecodeStreamChunk(data)
		u2, e2 := groq.DecodeStreamChunk(data)
		require.Equal(t, u2 == nil, u == nil, "not deterministic")
		require.False(t, u != nil && *u != *u2, "not deterministic")
		require.True(t, bytes.Equal(e, e2), "not deterministic")
		if !json.Valid(data) {
			require.False(t, u != nil || e != nil, "found %v %q in invalid JSON", u, e)
		}
		if e != nil {
			require.True(t, json.Valid(e), "error object %q is not JSON", e)
		}
	})
}

// FuzzChatStream drives Groq-dialect chat streams through Client.Stream as
// Do does: a response or a classified *UpstreamError, chunks in order.
func FuzzChatStream(f *testing.F) {
	f.Add([]byte(groqStreamSeed))
	f.Add([]byte(strings.ReplaceAll(groqStreamSeed, "\n", "\r\n")))
	f.Add([]byte("data: {\"choices\":[],\"x_groq\":{\"error\":\"boom\"}}\n\n"))
	f.Add([]byte("data: {\"choices\":[],\"x_groq\":{\"usage\":null}}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"x_groq\":{\"usage\":{\"prompt_tokens\":1}},\"usage\":{\"prompt_tokens\":9}}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"error\":{\"message\":\"x\",\"type\":\"tokens\",\"code\":\"rate_limit_exceeded\"}}\n\n"))
	a := groq.New()
	f.Fuzz(func(t *testing.T, body []byte) {
		call := &providers.Call{RequestID: "fuzz", Provider: "groq", Key: providers.NewCredential("k", testKey), Result: providers.CallResult{Status: 200}}
		last := -1
		call.Emit = func(ch *messages.StreamChunk) bool {
			require.Equal(t, last+1, ch.Seq, "chunk seq %d after %d", ch.Seq, last)
			last = ch.Seq
			require.False(t, ch.Type == messages.ChunkUsage && ch.Usage == nil, "bad chunk %+v", ch)
			require.False(t, ch.Type == messages.ChunkText && ch.Text == "", "bad chunk %+v", ch)
			return true
		}
		em := providers.NewEmitter(call)
		resp := &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body))}
		var out *messages.ChatResponse
		err := (&providers.Client{IdleTimeout: time.Minute}).Stream(context.Background(), call, resp, func(r io.Reader) error {
			var err error
			out, err = a.DecodeChatStream(r, call, em)
			return err
		})
		if err == nil {
			require.NotNil(t, out, "no error and no response")
			require.True(t, out.Usage == call.Result.Usage, "answer usage %+v, call usage %+v", out.Usage, call.Result.Usage)
			return
		}
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue, "error")
		require.NotEqual(t, messages.ClassUnknown, ue.Class, "error")
	})
}

// FuzzDecodeError: Groq's error decoding after OpenAI's always classifies,
// keeps 498/499 retryable, redacts keys and bounds the failed generation.
func FuzzDecodeError(f *testing.F) {
	for _, s := range []struct {
		status int
		body   string
	}{
		{498, `{"error":{"message":"Flex tier capacity exceeded","type":"capacity_exceeded","code":"capacity_exceeded"}}`},
		{499, `{"error":{"message":"Request cancelled","type":"invalid_request_error","code":"request_cancelled"}}`},
		{400, `{"error":{"message":"Failed to call a function.","type":"invalid_request_error","code":"tool_use_failed","failed_generation":"<function=f>{\"a\":"}}`},
		{400, `{"error":{"code":"tool_use_failed","failed_generation":{"a":[1,2]}}}`},
		{401, `{"error":{"message":"Invalid API Key gsk_abcdef123456","type":"invalid_request_error","code":"invalid_api_key"}}`},
		{429, `{"error":{"message":"Rate limit reached on requests per day (RPD). Please try again in 2m59.5s.","type":"requests","code":"rate_limit_exceeded"}}`},
		{500, `not json`},
	} {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := &messages.UpstreamError{Status: status, Class: providers.ClassifyStatus(status)}
		openai.DecodeError(status, http.Header{}, body, e)
		groq.DecodeError(status, http.Header{}, body, e)
		require.NotEqual(t, messages.ClassUnknown, e.Class, "no class for %d %q", status, body)
		if status == 498 || status == 499 {
			require.True(t, e.Class.Retryable(), "status %d not retryable: %v", status, e.Class)
		}
		require.False(t, groqKeyShape.MatchString(e.Message), "key kept: %q", e.Message)
		i := strings.Index(e.Message, "(failed_generation: ")
		if i >= 0 {
			require.LessOrEqual(t, len([]rune(e.Message[i:])), groq.MaxFailedGeneration+30, "failed generation not truncated: %q", e.Message)
		}
	})
}

func TestDecodeErrorTable(t *testing.T) {
	long := strings.Repeat("x", 500)
	tests := []struct {
		name    string
		status  int
		body    string
		class   messages.ErrorClass
		code    string
		msgHas  string
		msgLack string
	}{
		{"498", 498, `{"error":{"message":"Flex tier capacity exceeded","type":"capacity_exceeded","code":"capacity_exceeded"}}`, messages.ClassServer, "capacity_exceeded", "Flex tier", ""},
		{"498 empty body", 498, ``, messages.ClassServer, "", "capacity exceeded", ""},
		{"499", 499, `{"error":{"message":"Request cancelled","code":"request_cancelled"}}`, messages.ClassServer, "request_cancelled", "cancelled", ""},
		{"tool_use_failed", 400, `{"error":{"message":"Failed to call a function.","type":"invalid_request_error","code":"tool_use_failed","failed_generation":"` + long + `"}}`, messages.ClassInvalid, "tool_use_failed", "(failed_generation: xxx", long},
		{"key redacted", 401, `{"error":{"message":"Invalid API Key: gsk_abcdefghijklmnop","code":"invalid_api_key"}}`, messages.ClassAuth, "invalid_api_key", "gsk_[redacted]", "abcdefghij"},
		{"rate limited", 429, `{"error":{"message":"Please try again in 7.66s.","type":"tokens","code":"rate_limit_exceeded"}}`, messages.ClassRateLimited, "rate_limit_exceeded", "7.66s", ""},
		{"decommissioned model", 400, `{"error":{"message":"The model has been decommissioned","type":"invalid_request_error","code":"model_decommissioned"}}`, messages.ClassInvalid, "model_decommissioned", "decommissioned", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &messages.UpstreamError{Status: tt.status, Class: providers.ClassifyStatus(tt.status)}
			openai.DecodeError(tt.status, http.Header{}, []byte(tt.body), e)
			groq.DecodeError(tt.status, http.Header{}, []byte(tt.body), e)
			require.Equal(t, tt.class, e.Class)
			require.Equal(t, tt.code, e.Code)
			require.Contains(t, e.Message, tt.msgHas)
			require.False(t, tt.msgLack != "" && strings.Contains(e.Message, tt.msgLack))
		})
	}
}

func TestDecodeStreamChunk(t *testing.T) {
	u, e := groq.DecodeStreamChunk([]byte(`{"x_groq":{"id":"r","usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}}`))
	require.NotNil(t, u, "usage %+v error %q", u, e)
	require.True(t, *u == (messages.Usage{InputTokens: 3, OutputTokens: 2, CacheReadTokens: 1}), "usage %+v error %q", u, e)
	require.Nil(t, e, "usage %+v error %q", u, e)
	u, e = groq.DecodeStreamChunk([]byte(`{"x_groq":{"id":"r"}}`))
	require.Nil(t, u, "first chunk gave")
	require.Nil(t, e, "first chunk gave")
	_, e = groq.DecodeStreamChunk([]byte(`{"x_groq":{"error":"over capacity"}}`))
	require.Equal(t, `"over capacity"`, string(e), "error %q", e)
	// x_groq.usage wins over a top-level usage in the same stream.
	call := &providers.Call{RequestID: "r", Result: providers.CallResult{Status: 200}}
	out, err := groq.New().DecodeChatStream(strings.NewReader(groqStreamSeed), call, providers.NewEmitter(call))
	require.NoError(t, err, "decoded %+v, %v", out, err)
	require.True(t, out.Usage == (messages.Usage{InputTokens: 3, OutputTokens: 2, CacheReadTokens: 1}), "decoded %+v, %v", out, err)
	require.Equal(t, "Hi", out.Content, "decoded %+v, %v", out, err)
	require.Len(t, out.ToolCalls, 1, "decoded %+v, %v", out, err)
}
