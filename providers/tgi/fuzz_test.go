package tgi_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/tgi"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeError(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{422, `{"error":"Input validation error: ` + "`temperature`" + ` must be strictly positive","error_type":"validation"}`},
		{424, `{"error":"Request failed during generation: Server error: CUDA out of memory","error_type":"generation"}`},
		{429, `{"error":"Model is overloaded","error_type":"overloaded"}`},
		{500, `{"error":"Incomplete generation","error_type":"incomplete_generation"}`},
		{503, `{"error":"unhealthy","error_type":"healthcheck"}`},
		{422, `{"error":{"message":"Template error: bad role","http_status_code":422}}`},
		{400, `{"error":{"message":"bad","type":"invalid_request_error","code":null}}`},
		{422, `Failed to deserialize the JSON body into the target type: missing field ` + "`inputs`"},
		{415, `Expected request with ` + "`Content-Type: application/json`"},
		{502, `<html>bad gateway</html>`},
		{302, ``},
		{0, `null`},
		{422, `{"error":{"http_status_code":1e308},"error_type":["x"]}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, start := range []messages.ErrorClass{messages.ClassUnknown, providers.ClassifyStatus(status)} {
			e := &messages.UpstreamError{Status: status, Class: start}
			tgi.DecodeError(status, http.Header{}, body, e)
			require.NotEqual(t, messages.ClassUnknown, e.Class, "class not set for status %d body %q", status, body)
			if e.ShouldRetry != nil {
				require.False(t, *e.ShouldRetry, "ShouldRetry true")
			}
			switch strings.ToLower(e.Type) {
			case "validation", "template_error", "tool_error", "missing_template_variable":
				require.Equal(t, messages.ClassInvalid, e.Class, "%s → %v", e.Type, e.Class)
				require.False(t, e.Retryable(), "%s → %v", e.Type, e.Class)
			case "overloaded":
				require.Equal(t, messages.ClassRateLimited, e.Class, "overloaded →")
				require.True(t, e.Retryable(), "overloaded →")
			case "generation":
				require.Equal(t, messages.ClassServer, e.Class, "generation → %v retryable %v", e.Class, e.Retryable())
				require.False(t, e.Retryable(), "generation → %v retryable %v", e.Class, e.Retryable())
			}
			require.LessOrEqual(t, len(e.Message), 64<<10, "message of %d bytes", len(e.Message))
			_ = e.Error()
		}
	})
}

const streamSeed = "data:{\"index\":1,\"token\":{\"id\":28723,\"text\":\" Deep\",\"logprob\":-0.6,\"special\":false},\"generated_text\":null,\"details\":null}\n\n" +
	":\n\n" +
	"data:{\"index\":2,\"token\":{\"id\":2,\"text\":\"</s>\",\"logprob\":-0.1,\"special\":true},\"generated_text\":\" Deep\",\"details\":{\"finish_reason\":\"eos_token\",\"generated_tokens\":2,\"input_length\":12,\"seed\":null}}\n\n"

// FuzzDecodeGenerateStream drives arbitrary bytes through Client.Stream and
// DecodeGenerateStream, as Do does: it never panics, chunks come in order,
// and the outcome is a response or a classified *UpstreamError.
func FuzzDecodeGenerateStream(f *testing.F) {
	f.Add([]byte(streamSeed))
	f.Add([]byte(strings.ReplaceAll(streamSeed, "\n", "\r\n")))
	f.Add([]byte("data:{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}\n\n"))
	f.Add([]byte("data:{\"error\":{\"message\":\"x\",\"http_status_code\":424}}\n\n"))
	f.Add([]byte("data: {\"index\":1,\"token\":{\"text\":\"a\"},\"generated_text\":\"a\",\"details\":{\"finish_reason\":\"length\",\"generated_tokens\":1,\"input_length\":1}}\n\n"))
	f.Add([]byte("data:{\"index\":1}\n\n"))
	f.Add([]byte("data:[DONE]\n\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, body []byte) {
		call := &providers.Call{RequestID: "fuzz", Provider: "tgi", Key: providers.NewCredential("k", testKey), Result: providers.CallResult{Status: 200}}
		last := -1
		var text strings.Builder
		call.Emit = func(ch *messages.StreamChunk) bool {
			require.Equal(t, last+1, ch.Seq, "chunk seq %d after %d", ch.Seq, last)
			last = ch.Seq
			switch ch.Type {
			case messages.ChunkText:
				require.NotEqual(t, "", ch.Text, "empty text chunk")
				text.WriteString(ch.Text)
			case messages.ChunkUsage:
				require.NotNil(t, ch.Usage, "usage chunk without usage")
			default:
				require.Fail(t, "unexpected chunk type", "chunk type %q", ch.Type)
			}
			return true
		}
		em := providers.NewEmitter(call)
		client := &providers.Client{IdleTimeout: time.Minute}
		resp := &http.Response{StatusCode: 200, Body: io.NopCloser(bytes.NewReader(body))}
		var out *messages.GenerateResponse
		err := client.Stream(context.Background(), call, resp, func(r io.Reader) error {
			var err error
			out, err = tgi.DecodeGenerateStream(r, call, em)
			return err
		})
		if err == nil {
			require.NotNil(t, out, "nil response without error")
			require.True(t, out.Usage == call.Result.Usage, "usage %+v, result %+v", out.Usage, call.Result.Usage)
			return
		}
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue, "error %v is not a classified *UpstreamError", err)
		require.NotEqual(t, messages.ClassUnknown, ue.Class, "error %v is not a classified *UpstreamError", err)
		require.Equal(t, 200, ue.Status, "error %v is not a classified *UpstreamError", err)
		require.NotContains(t, ue.Error(), testKey, "error leaks the key")
	})
}
