package messages

// ResponsesRequest is a call to OpenAI's Responses API (POST /responses), the
// successor of the Assistants API. Input reuses chat messages; Instructions is
// the system prompt.
type ResponsesRequest struct {
	Call
	Model              string
	Instructions       string
	Input              []Message
	Tools              []Tool
	ToolChoice         string
	PreviousResponseID string
	Temperature        *float64
	MaxOutputTokens    int
	Stream             bool
	Extra              map[string]any
}

// Operation returns "responses".
func (*ResponsesRequest) Operation() string { return "responses" }

// Streaming reports whether the caller asked for a stream.
func (r *ResponsesRequest) Streaming() bool { return r.Stream }

// ResponsesResponse is a finished Responses API answer.
type ResponsesResponse struct {
	Meta
	ID         string
	Model      string
	Status     string
	OutputText string
	ToolCalls  []ToolCall
	// IncompleteReason is set when Status is "incomplete".
	IncompleteReason string
	Usage            Usage
}

// CountTokensRequest asks how many input tokens a chat request would use
// (Anthropic's /v1/messages/count_tokens).
type CountTokensRequest struct {
	Call
	Chat ChatRequest
}

// Operation returns "count_tokens".
func (*CountTokensRequest) Operation() string { return "count_tokens" }

// CountTokensResponse carries the count.
type CountTokensResponse struct {
	Meta
	InputTokens int
}
