package openai

import (
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Embedding limits of OpenAI's /embeddings (API reference, "Create
// embeddings": an input array has at most 2048 items, MaxEmbedInputs, and
// at most 300,000 tokens summed over all inputs in one request).
const (
	// MaxEmbedTokens is the most tokens, summed over its inputs, one
	// embeddings request may carry.
	MaxEmbedTokens = 300_000
	// BatchEmbedTokens is the token budget BatchLimits reports for a merged
	// embeddings call: two thirds of MaxEmbedTokens. The dispatcher counts
	// tokens with providers.EstimateTokens (four bytes a token), which is
	// right for English prose, but code, digits and non-Latin scripts
	// tokenize at about 2.7 to 3.5 bytes a token; the margin keeps a merged
	// call whose estimate is at the budget under OpenAI's real limit for
	// such text, so one window never turns into a 400 for all its members.
	BatchEmbedTokens = MaxEmbedTokens * 2 / 3
)

var _ providers.Batcher = (*Adapter)(nil)

// BatchLimits implements providers.Batcher: an EmbedRequest may be merged
// with others when the dialect serves embeddings (OpEmbed), since
// /embeddings takes a list of inputs and answers one vector per input with
// its index. Sparse requests are not merged (the route has no sparse
// vectors). Every other operation (chat, completions, Responses API,
// models) takes no list: false.
//
// Limits: MaxInputs is the dialect's MaxEmbedInputs (OpenAI's 2048 when it
// is zero; 0, no limit, when it is negative, as for vLLM, llama.cpp, OVMS
// and OPEA, whose servers document none). MaxTokens is BatchEmbedTokens for
// a dialect that keeps OpenAI's input limit (MaxEmbedInputs zero: plain
// OpenAI and servers that declare OpenAI's limits), else 0: no other
// OpenAI-compatible server documents a per-request token budget.
//
// It reads only the request's operation and options, not its inputs; Check
// still validates every request.
func (a *Adapter) BatchLimits(req messages.Request) (providers.BatchLimits, bool) {
	d := a.dialect()
	r, ok := req.(*messages.EmbedRequest)
	if !ok || r == nil || !d.serves(OpEmbed) || r.Sparse {
		return providers.BatchLimits{}, false
	}
	lim := providers.BatchLimits{MaxInputs: d.maxEmbedInputs()}
	if d.MaxEmbedInputs == 0 {
		lim.MaxTokens = BatchEmbedTokens
	}
	return lim, true
}
