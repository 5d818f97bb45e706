package providertest

import (
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
)

// CheckChatChunks verifies a chat stream's chunks against its response:
// Seq counts from 0, every chunk carries the request ID, text chunks add up
// to the content, each tool call's fragments add up to its arguments with ID
// and name on the first, and the last chunk is the final usage.
func CheckChatChunks(t testing.TB, chunks []*messages.StreamChunk, requestID string, resp *messages.ChatResponse) {
	t.Helper()
	if len(chunks) == 0 {
		t.Fatal("no chunks")
	}
	var text strings.Builder
	args := map[int]*strings.Builder{}
	var order []int
	for i, c := range chunks {
		if c.Seq != i || c.RequestID != requestID {
			t.Errorf("chunk %d has seq %d, request ID %q", i, c.Seq, c.RequestID)
		}
		switch c.Type {
		case messages.ChunkText:
			text.WriteString(c.Text)
		case messages.ChunkToolCall:
			b := args[c.ToolCall.Index]
			if b == nil {
				if c.ToolCall.ID == "" || c.ToolCall.Name == "" {
					t.Errorf("first fragment of tool call %d lacks ID or name: %+v", c.ToolCall.Index, c.ToolCall)
				}
				b = &strings.Builder{}
				args[c.ToolCall.Index] = b
				order = append(order, c.ToolCall.Index)
			} else if c.ToolCall.ID != "" || c.ToolCall.Name != "" {
				t.Errorf("later fragment of tool call %d repeats ID/name: %+v", c.ToolCall.Index, c.ToolCall)
			}
			b.WriteString(c.ToolCall.Arguments)
		case messages.ChunkUsage:
			if i != len(chunks)-1 {
				t.Errorf("usage chunk at %d of %d", i, len(chunks))
			}
			if *c.Usage != resp.Usage {
				t.Errorf("usage chunk %+v, response usage %+v", *c.Usage, resp.Usage)
			}
		default:
			t.Errorf("unexpected chunk type %q", c.Type)
		}
	}
	if last := chunks[len(chunks)-1]; last.Type != messages.ChunkUsage {
		t.Errorf("last chunk is %q, want usage", last.Type)
	}
	if text.String() != resp.Content {
		t.Errorf("text chunks add up to %q, content is %q", text.String(), resp.Content)
	}
	if len(order) != len(resp.ToolCalls) {
		t.Fatalf("chunks carry %d tool calls, response %d", len(order), len(resp.ToolCalls))
	}
	for i, idx := range order {
		if got := args[idx].String(); got != string(resp.ToolCalls[i].Arguments) {
			t.Errorf("tool call %d fragments add up to %q, arguments are %q", i, got, resp.ToolCalls[i].Arguments)
		}
	}
}
