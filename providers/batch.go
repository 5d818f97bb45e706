package providers

import "github.com/switchyard-ai/switchyard/messages"

// BatchLimits is how much one upstream call of an operation may carry. Zero
// means the service documents no limit (the dispatcher's window size still
// applies).
type BatchLimits struct {
	// MaxInputs is the most inputs (embedding texts, rerank documents) one
	// call may carry.
	MaxInputs int
	// MaxTokens is the most input tokens one call may carry, as the
	// dispatcher estimates them (EstimateTokens).
	MaxTokens int
}

// Batcher is implemented by adapters whose operations take a list of inputs,
// so the dispatcher may merge requests waiting in a batching window into one
// upstream call. BatchLimits reports whether req may be merged with others
// of the same shape (same model and options) and the limits of one call;
// false means the operation, or this form of it, takes no list.
type Batcher interface {
	BatchLimits(req messages.Request) (BatchLimits, bool)
}

// EstimateTokens estimates the tokens of text the way the dispatcher counts
// them against BatchLimits.MaxTokens and window token budgets: one token per
// four bytes, rounded up, at least one. Real tokenizers average 3.5–4.5
// bytes per token on English text.
func EstimateTokens(text string) int {
	return max(1, (len(text)+3)/4)
}
