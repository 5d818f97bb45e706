package gemini

import (
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

var _ providers.Batcher = (*Adapter)(nil)

// BatchLimits implements providers.Batcher. An EmbedRequest may be merged
// with others of the same model, task type and dimensions: the adapter sends
// one input with embedContent and several with batchEmbedContents, whose
// answer lists the embeddings in request order, so a merged request is one
// batchEmbedContents call. Sparse, Normalize and Truncate requests (not
// served) and every other operation (chat, count tokens, models): false.
//
// Limits: MaxInputs is MaxBatchEmbed (100), the most requests
// batchEmbedContents takes (Gemini API reference; the API answers more with
// 400 INVALID_ARGUMENT). MaxTokens is 0: the Gemini API documents no token
// budget per batch, only one per input (the model's inputTokenLimit, 2048
// for gemini-embedding-001), which merging does not change.
//
// It reads only the request's operation and options, not its inputs; Check
// still validates every request. A hosted adapter serves no embeddings:
// false.
func (a *Adapter) BatchLimits(req messages.Request) (providers.BatchLimits, bool) {
	r, ok := req.(*messages.EmbedRequest)
	if !ok || r == nil || a.host != nil || r.Sparse || r.Normalize != nil || r.Truncate != nil {
		return providers.BatchLimits{}, false
	}
	return providers.BatchLimits{MaxInputs: MaxBatchEmbed}, true
}
