package ollama

import (
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

var _ providers.Batcher = (*Adapter)(nil)

// BatchLimits implements providers.Batcher. An EmbedRequest may be merged
// with others of the same model and options: POST /api/embed takes "input"
// as a list and answers "embeddings" in input order. Forms Ollama does not
// serve (sparse vectors, Normalize false, task types) and every other
// operation (chat, generate, models, info): false.
//
// Limits: none (MaxInputs and MaxTokens 0), so only the dispatcher's window
// size bounds a merged call. Ollama's API reference (docs/api.md,
// docs/openapi.yaml) documents no limit on the input list; its limits are
// per input (the model's context, num_ctx, with truncate), which merging
// does not change.
//
// It reads only the request's operation and options, not its inputs; Check
// still validates every request.
func (*Adapter) BatchLimits(req messages.Request) (providers.BatchLimits, bool) {
	r, ok := req.(*messages.EmbedRequest)
	if !ok || r == nil || r.Sparse || (r.Normalize != nil && !*r.Normalize) || r.TaskType != "" {
		return providers.BatchLimits{}, false
	}
	return providers.BatchLimits{}, true
}
