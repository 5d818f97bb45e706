package actors

import (
	"encoding/json"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// fleetEntryExamples are answers of every kind the exact layer stores, as
// the adapters produce them.
func fleetEntryExamples() []struct {
	name   string
	resp   messages.Response
	chunks []*messages.StreamChunk
} {
	meta := messages.Meta{UpstreamRequestID: "req_1", Provider: "openai", Endpoint: "primary", Key: "prod-1"}
	usage := messages.Usage{InputTokens: 12, OutputTokens: 3, CacheReadTokens: 4}
	return []struct {
		name   string
		resp   messages.Response
		chunks []*messages.StreamChunk
	}{
		{name: "chat", resp: &messages.ChatResponse{Meta: meta, ID: "chatcmpl-1", Model: "gpt-4o", Content: "a fuse",
			FinishReason: messages.FinishStop, RawFinishReason: "stop", Usage: usage}},
		{name: "chat with tool calls", resp: &messages.ChatResponse{Meta: meta, Model: "gpt-4o",
			ToolCalls:    []messages.ToolCall{{ID: "call_1", Name: "weather", Arguments: json.RawMessage(`{"city":"Oslo"}`)}, {ID: "call_2", Name: "now"}},
			FinishReason: "tool_calls", Usage: usage}},
		{name: "chat stream", resp: &messages.ChatResponse{Meta: meta, Content: "ab", Usage: usage}, chunks: []*messages.StreamChunk{
			{Seq: 0, Type: messages.ChunkText, Text: "a"},
			{Seq: 1, Type: messages.ChunkToolCall, ToolCall: &messages.ToolCallDelta{Index: 0, ID: "c", Name: "f", Arguments: `{"x"`}},
			{Seq: 2, Type: messages.ChunkEvent, Event: "response.completed"},
			{Seq: 3, Type: messages.ChunkUsage, Usage: &usage},
		}},
		{name: "generate", resp: &messages.GenerateResponse{Meta: meta, Model: "llama", Text: "hello", FinishReason: "length", Usage: usage}},
		{name: "embed", resp: &messages.EmbedResponse{Meta: meta, Model: "e5", Vectors: [][]float32{{0.1, -0.25, 3.4028235e38}, {1e-45, 0}},
			Sparse: [][]messages.SparseValue{{{Index: 7, Value: 0.5}}}, Usage: usage}},
		{name: "rerank", resp: &messages.RerankResponse{Meta: meta, Model: "bge", Results: []messages.RerankResult{{Index: 1, Score: 0.9, Document: "d"}, {Index: 0, Score: 0.1}}}},
	}
}

// Every kind the exact layer stores survives the trip through the fleet
// unchanged (the request-specific meta aside).
func TestFleetEntryRoundTrip(t *testing.T) {
	for _, tc := range fleetEntryExamples() {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := encodeFleetEntry(tc.resp, tc.chunks)
			require.True(t, ok)
			resp, chunks, err := decodeFleetEntry(b)
			require.NoError(t, err)
			assert.Equal(t, tc.resp, resp)
			assert.Equal(t, tc.chunks, chunks)
		})
	}
}

// Only the shared meta travels: a hit sets its own request ID, attempts
// and timings.
func TestFleetEntryDropsRequestMeta(t *testing.T) {
	b, ok := encodeFleetEntry(&messages.ChatResponse{Meta: messages.Meta{RequestID: "r1", Attempts: 3, Queued: 5, Latency: 7,
		Cached: true, Similarity: 0.5, Provider: "p"}, Content: "x"}, nil)
	require.True(t, ok)
	resp, _, err := decodeFleetEntry(b)
	require.NoError(t, err)
	assert.Equal(t, messages.Meta{Provider: "p"}, *resp.ResponseMeta())
}

type otherResponse struct{ messages.Meta }

// What the encoding cannot hold is not shared.
func TestFleetEntryNotShared(t *testing.T) {
	tests := []struct {
		name   string
		resp   messages.Response
		chunks []*messages.StreamChunk
	}{
		{name: "another response type", resp: &otherResponse{}},
		{name: "a vector that is not a number", resp: &messages.EmbedResponse{Vectors: [][]float32{{float32(math.NaN())}}}},
		{name: "a rerank score that is infinite", resp: &messages.RerankResponse{Results: []messages.RerankResult{{Score: math.Inf(1)}}}},
		{name: "a progress chunk", resp: &messages.ChatResponse{}, chunks: []*messages.StreamChunk{{Type: messages.ChunkEvent, Progress: &messages.ObjectProgress{}}}},
		{name: "an unknown chunk kind", resp: &messages.ChatResponse{}, chunks: []*messages.StreamChunk{{Type: "telepathy"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, ok := encodeFleetEntry(tc.resp, tc.chunks)
			assert.False(t, ok)
			assert.Nil(t, b)
		})
	}
}

// The decoder rejects anything but one well-formed entry of this version.
func TestFleetEntryDecodeRejects(t *testing.T) {
	tests := []struct{ name, in string }{
		{"not JSON", `nope`},
		{"empty", ``},
		{"another version", `{"v":2,"kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}}}`},
		{"no payload", `{"v":1,"kind":"chat","meta":{}}`},
		{"two payloads", `{"v":1,"kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}},"generate":{"usage":{"input":0,"output":0}}}`},
		{"a kind that does not match", `{"v":1,"kind":"embed","meta":{},"chat":{"usage":{"input":0,"output":0}}}`},
		{"an unknown kind", `{"v":1,"kind":"infer","meta":{},"chat":{"usage":{"input":0,"output":0}}}`},
		{"an unknown field", `{"v":1,"kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}},"extra":1}`},
		{"data after the entry", `{"v":1,"kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}}} {}`},
		{"an unknown chunk kind", `{"v":1,"kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}},"chunks":[{"seq":0,"type":"x"}]}`},
		{"a wrong type", `{"v":"1","kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, chunks, err := decodeFleetEntry([]byte(tc.in))
			require.ErrorIs(t, err, errFleetEntry)
			assert.Nil(t, resp)
			assert.Nil(t, chunks)
		})
	}
	_, _, err := decodeFleetEntry([]byte(`{"v":1,"kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}}}`))
	require.NoError(t, err, "the smallest valid entry")
}

// FuzzFleetEntryDecode: whatever another member sends, decoding never
// panics, and what decodes encodes again to an entry that decodes to the
// same answer.
func FuzzFleetEntryDecode(f *testing.F) {
	for _, tc := range fleetEntryExamples() {
		b, ok := encodeFleetEntry(tc.resp, tc.chunks)
		if !ok {
			f.Fatalf("%s: not encodable", tc.name)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"v":1,"kind":"chat","meta":{},"chat":{"usage":{"input":0,"output":0}}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		resp, chunks, err := decodeFleetEntry(b)
		if err != nil {
			return
		}
		again, ok := encodeFleetEntry(resp, chunks)
		require.True(t, ok, "a decoded entry does not encode")
		resp2, chunks2, err := decodeFleetEntry(again)
		require.NoError(t, err)
		assert.Equal(t, resp, resp2)
		assert.Equal(t, chunks, chunks2)
	})
}
