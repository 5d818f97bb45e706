package tgi_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/tgi"
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
			if e.Class == messages.ClassUnknown {
				t.Fatalf("class not set for status %d body %q", status, body)
			}
			if e.ShouldRetry != nil && *e.ShouldRetry {
				t.Fatal("ShouldRetry true")
			}
			switch strings.ToLower(e.Type) {
			case "validation", "template_error", "tool_error", "missing_template_variable":
				if e.Class != messages.ClassInvalid || e.Retryable() {
					t.Fatalf("%s → %v", e.Type, e.Class)
				}
			case "overloaded":
				if e.Class != messages.ClassRateLimited || !e.Retryable() {
					t.Fatalf("overloaded → %v", e.Class)
				}
			case "generation":
				if e.Class != messages.ClassServer || e.Retryable() {
					t.Fatalf("generation → %v retryable %v", e.Class, e.Retryable())
				}
			}
			if len(e.Message) > 64<<10 {
				t.Fatalf("message of %d bytes", len(e.Message))
			}
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
			if ch.Seq != last+1 {
				t.Fatalf("chunk seq %d after %d", ch.Seq, last)
			}
			last = ch.Seq
			switch ch.Type {
			case messages.ChunkText:
				if ch.Text == "" {
					t.Fatal("empty text chunk")
				}
				text.WriteString(ch.Text)
			case messages.ChunkUsage:
				if ch.Usage == nil {
					t.Fatal("usage chunk without usage")
				}
			default:
				t.Fatalf("chunk type %q", ch.Type)
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
			if out == nil {
				t.Fatal("nil response without error")
			}
			if out.Usage != call.Result.Usage {
				t.Fatalf("usage %+v, result %+v", out.Usage, call.Result.Usage)
			}
			return
		}
		var ue *messages.UpstreamError
		if !errors.As(err, &ue) || ue.Class == messages.ClassUnknown || ue.Status != 200 {
			t.Fatalf("error %v is not a classified *UpstreamError", err)
		}
		if strings.Contains(ue.Error(), testKey) {
			t.Fatal("error leaks the key")
		}
	})
}
