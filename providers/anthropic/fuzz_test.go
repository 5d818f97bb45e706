package anthropic

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeError(f *testing.F) {
	f.Add(429, []byte(`{"type":"error","error":{"type":"rate_limit_error","message":"slow down","details":{"error_code":"enforced_spend_limit_reached"}},"request_id":"req_1"}`), "")
	f.Add(529, []byte(`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_2"}`), "req_h")
	f.Add(400, []byte(`{"type":"error","error":"just a string"}`), "")
	f.Add(402, []byte(`{"error":{"type":"billing_error","details":null}}`), "")
	f.Add(500, []byte(`<html>`), "")
	f.Add(0, []byte(`{"error":{"type":"x","details":[1,2]}}`), "")
	f.Add(401, []byte(`{"type":"error","error":{"message":"`+strings.Repeat("é", 700)+`"}}`), "")
	f.Fuzz(func(t *testing.T, status int, body []byte, rid string) {
		h := http.Header{}
		if rid != "" {
			h.Set("Request-Id", rid)
		}
		e := &messages.UpstreamError{Status: status}
		decodeError(status, h, body, e)
		require.Less(t, int(e.Class), len(messages.AllErrorClasses), "class %d out of range", e.Class)
		if status >= 400 {
			require.NotEqual(t, messages.ClassUnknown, e.Class, "status %d left the class unknown", status)
		}
		require.LessOrEqual(t, len(e.Message), maxMessage+len("…"), "message of %d bytes", len(e.Message))
		if utf8.Valid(body) {
			require.True(t, utf8.ValidString(e.Message), "valid UTF-8 body gave an invalid message %q", e.Message)
		}
		r := strings.TrimSpace(rid)
		if r != "" {
			require.Equal(t, r, e.UpstreamRequestID, "request-id header %q, UpstreamRequestID %q", rid, e.UpstreamRequestID)
		}
		if e.Code == SpendLimitCode {
			require.Equal(t, messages.ClassQuota, e.Class, "spend limit classed")
		}
		_ = e.Error()
	})
}

// fuzzSeeds are the recorded streams plus a few broken ones.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	files, _ := filepath.Glob(filepath.Join(recordings, "sse", "*.sse"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		require.NoError(f, err)
		seeds = append(seeds, b)
	}
	require.NotEqual(f, 0, len(seeds), "no recorded streams")
	seeds = append(seeds,
		[]byte("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
		[]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":3,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n"),
		[]byte("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\",\"id\":\"t\",\"name\":\"f\",\"input\":[]}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"),
		[]byte("data: {\"type\":\"message_stop\"}\n\n"),
		[]byte("event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":-5}}}\n\n"),
	)
	return seeds
}

func FuzzMessagesStream(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
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
		for _, tc := range resp.ToolCalls {
			require.True(t, providers.IsJSONObject(tc.Arguments), "tool call arguments %q are not a JSON object", tc.Arguments)
		}
		_, err = json.Marshal(resp)
		require.NoError(t, err, "response does not marshal")
		require.GreaterOrEqual(t, resp.Usage.InputTokens, 0, "negative usage %+v", resp.Usage)
		require.GreaterOrEqual(t, resp.Usage.OutputTokens, 0, "negative usage %+v", resp.Usage)
		providertest.CheckChatChunks(t, chunks, "", resp)
	})
}
