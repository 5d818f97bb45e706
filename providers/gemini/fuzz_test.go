package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeError(f *testing.F) {
	f.Add(429, []byte(sim.GeminiRateLimitBody(sim.GeminiQuotaPerMinute, 29720*time.Millisecond)), "")
	f.Add(429, []byte(sim.GeminiRateLimitBody(sim.GeminiQuotaPerDay, 0)), "3")
	f.Add(400, []byte(`{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID"}]}}`), "")
	f.Add(403, []byte(`{"error":{"code":403,"message":"Consumer 'api_key:AIzaSyA1234567890abcdefghijklmnopqrstu' has been suspended.","status":"PERMISSION_DENIED"}}`), "")
	f.Add(503, []byte(`[{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}]`), "")
	f.Add(500, []byte(`<html>`), "")
	f.Add(429, []byte(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":{"seconds":"1e30"}},{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaValue":0}]}]}}`), "")
	f.Add(0, []byte(`{"error":"just text"}`), "")
	f.Add(200, []byte(`{"error":{"details":[1,"x",null,{"retryDelay":"-5s"}],"message":"`+strings.Repeat("é", 700)+`"}}`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, retryAfter string) {
		h := http.Header{}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		e := &messages.UpstreamError{Status: status}
		decodeError(status, h, body, e)
		require.Less(t, int(e.Class), len(messages.AllErrorClasses), "class %d out of range", e.Class)
		if status >= 400 && status < 600 {
			require.NotEqual(t, messages.ClassUnknown, e.Class, "status %d left the class unknown", status)
		}
		require.LessOrEqual(t, len(e.Message), maxMessage+len("…"), "message of %d bytes", len(e.Message))
		if utf8.Valid(body) {
			require.True(t, utf8.ValidString(e.Message), "valid UTF-8 body gave an invalid message %q", e.Message)
		}
		require.False(t, googleKey.MatchString(e.Message), "key-shaped text kept in %q", e.Message)
		require.GreaterOrEqual(t, e.RetryAfter, time.Duration(0), "RetryAfter %v", e.RetryAfter)
		require.LessOrEqual(t, e.RetryAfter, maxRetryDelay, "RetryAfter %v", e.RetryAfter)
		if e.Type == "RESOURCE_EXHAUSTED" {
			require.Contains(t, []messages.ErrorClass{messages.ClassRateLimited, messages.ClassQuota, messages.ClassAuth}, e.Class, "RESOURCE_EXHAUSTED classed %s", e.Class)
		}
		_ = e.Error()
		se := streamError(body)
		require.NotEqual(t, messages.ClassUnknown, se.Class, "stream error %+v", se)
		require.NotEqual(t, "", se.Message, "stream error %+v", se)
	})
}

// streamSeeds are hand-written streams in the API's shapes plus broken ones.
var streamSeeds = []string{
	"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hel\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 4,\"totalTokenCount\": 4},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"a\"}\r\n\r\n" +
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"lo\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 4,\"candidatesTokenCount\": 1,\"totalTokenCount\": 5},\"modelVersion\": \"gemini-2.5-flash\",\"responseId\": \"a\"}\r\n\r\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{\"name\":\"f\",\"args\":{\"a\":1}},\"thoughtSignature\":\"c2ln\"},{\"functionCall\":{\"name\":\"g\"}}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}]}\n\n",
	"data: {\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{\"promptTokenCount\":3}}\n\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},\"index\":0}]}\r\n\r\n{\n  \"error\": {\n    \"code\": 503,\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n",
	"data: {\"error\":{\"code\":429,\"status\":\"RESOURCE_EXHAUSTED\",\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.RetryInfo\",\"retryDelay\":\"2s\"}]}}\r\n\r\n",
	"data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"cut\"}]},\"index\":0}]}\r\n\r\n",
	"data: {\"candidates\":[{\"finishReason\":\"STOP\"}]}",
	": comment\r\nevent: x\r\ndata: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"},{\"functionCall\":{\"name\":\"f\",\"args\":\"no\"}}]},\"finishReason\":\"STOP\"}]}\n\n",
	"data: [1,2]\n\n",
	"<html>\n",
}

func FuzzStream(f *testing.F) {
	for _, s := range streamSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var chunks []*messages.StreamChunk
		emit := func(c *messages.StreamChunk) error {
			c.Seq = len(chunks)
			chunks = append(chunks, c)
			return nil
		}
		resp, err := decodeStream(bytes.NewReader(data), emit)
		if err != nil {
			require.Nil(t, resp, "both a response and an error")
			var ue *messages.UpstreamError
			switch {
			case errors.As(err, &ue):
				require.NotEqual(t, messages.ClassUnknown, ue.Class, "unclassified error %v", ue)
			case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, bufio.ErrTooLong):
			default:
				require.Fail(t, "error is neither an UpstreamError nor a cut", "error %T %v", err, err)
			}
			return
		}
		checkDecoded(t, resp)
		providertest.CheckChatChunks(t, chunks, "", resp)
	})
}

// FuzzStreamRoundTrip builds well-formed streams from arbitrary text pieces
// with either event separator and checks they decode to exactly that text.
func FuzzStreamRoundTrip(f *testing.F) {
	f.Add("Hello", " wor", "ld\n\r\n", true, uint8(0))
	f.Add("", "data: x", "\"quoted\"", false, uint8(2))
	f.Fuzz(func(t *testing.T, a, b, c string, crlf bool, finish uint8) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) || !utf8.ValidString(c) {
			return // JSON would replace the invalid bytes
		}
		sep := "\n\n"
		if crlf {
			sep = "\r\n\r\n"
		}
		reasons := []string{"STOP", "MAX_TOKENS", "SAFETY", "OTHER"}
		reason := reasons[int(finish)%len(reasons)]
		var sb strings.Builder
		for i, piece := range []string{a, b, c} {
			cand := map[string]any{"content": map[string]any{"parts": []any{map[string]any{"text": piece}}, "role": "model"}, "index": 0}
			if i == 2 {
				cand["finishReason"] = reason
			}
			js, _ := json.Marshal(map[string]any{"candidates": []any{cand}, "usageMetadata": map[string]any{"promptTokenCount": 2, "candidatesTokenCount": i, "totalTokenCount": 2 + i}})
			sb.WriteString("data: " + string(js) + sep)
		}
		resp, err := decodeStream(strings.NewReader(sb.String()), nil)
		require.NoError(t, err, "decode: %v\n%q", err, sb.String())
		require.Equal(t, a+b+c, resp.Content, "decoded %+v", resp)
		require.Equal(t, reason, resp.RawFinishReason, "decoded %+v", resp)
		require.True(t, resp.Usage == (messages.Usage{InputTokens: 2, OutputTokens: 2}), "decoded %+v", resp)
		// Cut anywhere before the last event's end, it is a cut.
		full := sb.String()
		lastStart := strings.LastIndex(strings.TrimSuffix(full, sep), sep) + len(sep)
		cut := lastStart + (len(a)+len(b)+len(c))%(len(full)-len(sep)-lastStart)
		_, err = decodeStream(strings.NewReader(full[:cut]), nil)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF, "stream cut at %d of %d: %v", cut, len(full), err)
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"ok"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":-3}}`))
	f.Add([]byte(`[{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]},{"promptFeedback":{"blockReason":"OTHER"}}]`))
	f.Add([]byte(`{"error":{"code":500}}`))
	f.Add([]byte(`{"candidates":[{"index":1,"content":{"parts":[{"text":"other candidate"}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var chunks []*messages.StreamChunk
		emit := func(c *messages.StreamChunk) error {
			c.Seq = len(chunks)
			chunks = append(chunks, c)
			return nil
		}
		resp, err := decodeResponse(data, emit)
		if err != nil {
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue, "error %T %v", err, err)
			require.NotEqual(t, messages.ClassUnknown, ue.Class, "error %T %v", err, err)
			require.Nil(t, resp, "error %T %v", err, err)
			return
		}
		checkDecoded(t, resp)
		providertest.CheckChatChunks(t, chunks, "", resp)
	})
}

// checkDecoded checks what any decoded answer must satisfy.
func checkDecoded(t *testing.T, resp *messages.ChatResponse) {
	t.Helper()
	for _, tc := range resp.ToolCalls {
		require.True(t, providers.IsJSONObject(tc.Arguments), "tool call %+v", tc)
		require.NotEqual(t, "", tc.Name, "tool call %+v", tc)
		require.NotEqual(t, "", tc.ID, "tool call %+v", tc)
	}
	require.GreaterOrEqual(t, resp.Usage.InputTokens, 0, "negative usage %+v", resp.Usage)
	require.GreaterOrEqual(t, resp.Usage.OutputTokens, 0, "negative usage %+v", resp.Usage)
	require.GreaterOrEqual(t, resp.Usage.CacheReadTokens, 0, "negative usage %+v", resp.Usage)
	if resp.BlockReason != "" {
		require.NotEqual(t, "", resp.FinishReason, "blocked without a finish reason: %+v", resp)
	}
	_, err := json.Marshal(resp)
	require.NoError(t, err, "response does not marshal")
}
