package messages

// ChunkType tells what a stream chunk carries.
type ChunkType string

// Stream chunk kinds.
const (
	// ChunkText carries a piece of the answer text in Text.
	ChunkText ChunkType = "text"
	// ChunkToolCall carries a fragment of a tool call in ToolCall.
	ChunkToolCall ChunkType = "tool_call"
	// ChunkUsage carries token usage in Usage.
	ChunkUsage ChunkType = "usage"
	// ChunkEvent carries a provider event with no text (e.g. a Responses API
	// lifecycle event); Event names it.
	ChunkEvent ChunkType = "event"
)

// StreamChunk is one piece of a streamed answer. Chunks of one request arrive
// in order, Seq counting from 0, before the terminal answer.
type StreamChunk struct {
	RequestID string
	Seq       int
	Type      ChunkType
	Text      string
	ToolCall  *ToolCallDelta
	Usage     *Usage
	Event     string
	// Progress carries a transfer's progress (Type ChunkProgress).
	Progress *ObjectProgress
}

// ToolCallDelta is a fragment of a streamed tool call. Index identifies the
// call; ID and Name arrive with its first fragment, Arguments in pieces to be
// concatenated.
type ToolCallDelta struct {
	Index     int
	ID        string
	Name      string
	Arguments string
}
