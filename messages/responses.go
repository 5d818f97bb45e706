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
	// Conversation continues a stored conversation (its ID); the answer's
	// input and output items are added to it.
	Conversation string
	// Store false asks the service not to keep the response (nil: the
	// service's default, which stores it).
	Store *bool
	// Background runs the response asynchronously: the first answer has
	// Status "queued" or "in_progress"; retrieve it until it completes.
	Background      bool
	Temperature     *float64
	MaxOutputTokens int
	Stream          bool
	Extra           map[string]any
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
	// Stored reports whether the service keeps the response (the
	// request's Store was not false), so follow-ups can name it.
	Stored bool
	// Conversation is the conversation the response was added to.
	Conversation string
	// Background reports a response run asynchronously.
	Background bool
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
