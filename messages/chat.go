package messages

import "encoding/json"

// Roles of a chat message.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// ChatRequest is one chat completion in a provider-neutral shape. Adapters map
// it onto their wire format (OpenAI chat completions, Anthropic Messages, …).
type ChatRequest struct {
	Call
	// Model is the upstream model name.
	Model string
	// System is the system prompt. Adapters place it where their API wants it
	// (a system message, Anthropic's top-level system field, …).
	System string
	// Messages is the conversation, oldest first.
	Messages []Message
	// Tools the model may call, and how it should choose: "" (provider
	// default), "auto", "none", "required", or the name of one tool.
	Tools      []Tool
	ToolChoice string
	// Sampling parameters; nil means the provider's default.
	Temperature *float64
	TopP        *float64
	// MaxTokens caps the output; 0 means the adapter's default (Anthropic
	// requires a value and gets 1024).
	MaxTokens int
	Stop      []string
	// Stream asks for a streamed answer: chunks first, then the aggregated
	// *ChatResponse.
	Stream bool
	// Extra holds provider-specific body fields, merged into the JSON body
	// as given. Fields the adapter sets itself win.
	Extra map[string]any
}

// Operation returns "chat".
func (*ChatRequest) Operation() string { return "chat" }

// Streaming reports whether the caller asked for a stream.
func (r *ChatRequest) Streaming() bool { return r.Stream }

// Message is one turn of a conversation.
type Message struct {
	Role string
	// Content is the text of the message. Parts, when set, replace it with
	// mixed content (text and images).
	Content string
	Parts   []Part
	// ToolCalls are the calls an assistant turn made.
	ToolCalls []ToolCall
	// ToolCallID links a tool-role message to the call it answers.
	ToolCallID string
	// IsError marks a tool result that reports a failure.
	IsError bool
}

// PartType tells the kind of a content part.
type PartType string

// Content part kinds.
const (
	PartText  PartType = "text"
	PartImage PartType = "image"
)

// Part is a piece of mixed content.
type Part struct {
	Type PartType
	Text string
	// An image is either a URL (ImageURL) or inline bytes (Data with
	// MediaType such as "image/png").
	ImageURL  string
	MediaType string
	Data      []byte
}

// Tool is a function the model may call. Parameters is a JSON Schema object.
type Tool struct {
	Name        string
	Description string
	Parameters  json.RawMessage
}

// ToolCall is a call the model made. Arguments is a JSON object.
type ToolCall struct {
	ID        string
	Name      string
	Arguments json.RawMessage
}

// Finish reasons, normalised across providers. The provider's own value is in
// ChatResponse.RawFinishReason.
const (
	FinishStop          = "stop"
	FinishLength        = "length"
	FinishToolCalls     = "tool_calls"
	FinishContentFilter = "content_filter"
	FinishOther         = "other"
)

// ChatResponse is a completed chat answer.
type ChatResponse struct {
	Meta
	// ID is the upstream's id for the completion (chatcmpl-…, msg_…).
	ID              string
	Model           string
	Content         string
	ToolCalls       []ToolCall
	FinishReason    string
	RawFinishReason string
	Usage           Usage
	// BlockReason is set when the provider refused the prompt itself (Gemini
	// promptFeedback.blockReason); Content is then empty and FinishReason
	// content_filter.
	BlockReason string
}
