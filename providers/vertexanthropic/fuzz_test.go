package vertexanthropic

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// TestDecodeError: Google's error bodies (alone or in an array) and
// Anthropic's, passed on by Vertex AI, are both read.
func TestDecodeError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		typ    string
		msg    string
		class  messages.ErrorClass
	}{
		{"google quota", 429, `{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}}`,
			"RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model", messages.ClassRateLimited},
		{"google array", 400, `[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]`, "INVALID_ARGUMENT", "bad", messages.ClassInvalid},
		{"google unauthenticated", 401, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			"UNAUTHENTICATED", "Request had invalid authentication credentials.", messages.ClassAuth},
		{"anthropic overloaded", 529, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "overloaded_error", "Overloaded", messages.ClassServer},
		{"anthropic without envelope type", 400, `{"error":{"type":"invalid_request_error","message":"max_tokens: Field required"}}`,
			"invalid_request_error", "max_tokens: Field required", messages.ClassInvalid},
		{"plain text", 502, `upstream connect error`, "", "upstream connect error", messages.ClassServer},
		{"HTML", 404, `<html><body>Not Found</body></html>`, "", "", messages.ClassInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &messages.UpstreamError{Class: providers.ClassifyStatus(tt.status)}
			decodeError(tt.status, http.Header{}, []byte(tt.body), e)
			assert.Equal(t, tt.typ, e.Type)
			assert.Equal(t, tt.msg, e.Message)
			assert.Equal(t, tt.class, e.Class)
		})
	}
}

// FuzzDecodeError: any error answer gives a classified error with a
// bounded, valid message.
func FuzzDecodeError(f *testing.F) {
	f.Add(429, []byte(`{"error":{"code":429,"message":"Resource exhausted. Please try again later.","status":"RESOURCE_EXHAUSTED"}}`))
	f.Add(401, []byte(`{"error":{"code":401,"message":"x","status":"UNAUTHENTICATED","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"ACCESS_TOKEN_EXPIRED"}]}}`))
	f.Add(529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}`))
	f.Add(400, []byte(`[{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}]`))
	f.Add(500, []byte(`<html>`))
	f.Add(0, []byte(`{"error":{"type":5,"status":null}}`))
	f.Add(400, []byte(`{"error":{"message":"`+strings.Repeat("é", 900)+`"}}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := &messages.UpstreamError{}
		decodeError(status, http.Header{}, body, e)
		require.Less(t, int(e.Class), len(messages.AllErrorClasses))
		if status >= 400 && status < 600 {
			require.NotEqual(t, messages.ClassUnknown, e.Class, "status %d left the class unknown", status)
		}
		require.LessOrEqual(t, len(e.Message), 1024+len("…"))
		if utf8.Valid(body) {
			require.True(t, utf8.ValidString(e.Message), "message %q", e.Message)
		}
		_ = e.Error()
	})
}
