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
		if int(e.Class) >= len(messages.AllErrorClasses) {
			t.Fatalf("class %d out of range", e.Class)
		}
		if status >= 400 && e.Class == messages.ClassUnknown {
			t.Fatalf("status %d left the class unknown", status)
		}
		if len(e.Message) > maxMessage+len("…") {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		if utf8.Valid(body) && !utf8.ValidString(e.Message) {
			t.Fatalf("valid UTF-8 body gave an invalid message %q", e.Message)
		}
		if r := strings.TrimSpace(rid); r != "" && e.UpstreamRequestID != r {
			t.Fatalf("request-id header %q, UpstreamRequestID %q", rid, e.UpstreamRequestID)
		}
		if e.Code == SpendLimitCode && e.Class != messages.ClassQuota {
			t.Fatalf("spend limit classed %s", e.Class)
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
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	if len(seeds) == 0 {
		f.Fatal("no recorded streams")
	}
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
			if resp != nil {
				t.Fatal("both a response and an error")
			}
			var ue *messages.UpstreamError
			switch {
			case errors.As(err, &ue):
				if ue.Class == messages.ClassUnknown {
					t.Fatalf("unclassified error %v", ue)
				}
			case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, bufio.ErrTooLong):
			default:
				t.Fatalf("error %T %v is neither an UpstreamError nor a cut", err, err)
			}
			return
		}
		for _, tc := range resp.ToolCalls {
			if !providers.IsJSONObject(tc.Arguments) {
				t.Fatalf("tool call arguments %q are not a JSON object", tc.Arguments)
			}
		}
		if _, err := json.Marshal(resp); err != nil {
			t.Fatalf("response does not marshal: %v", err)
		}
		if resp.Usage.InputTokens < 0 || resp.Usage.OutputTokens < 0 {
			t.Fatalf("negative usage %+v", resp.Usage)
		}
		providertest.CheckChatChunks(t, chunks, "", resp)
	})
}
