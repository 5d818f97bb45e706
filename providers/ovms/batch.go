package ovms

import (
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Batch limits of OVMS's /v3 list endpoints with their default graph
// settings (OVMS docs, model_server_rest_api_embeddings.md and
// model_server_rest_api_rerank.md, "Error handling"). A server may be
// configured otherwise; BatchLimits reports the defaults, so a merged call
// never exceeds what a default server accepts.
const (
	// MaxEmbedBatch is the most inputs one /v3/embeddings request may carry
	// by default ("The number of input documents exceeds allowed configured
	// value - default 500").
	MaxEmbedBatch = 500
	// MaxRerankBatch is the most documents one /v3/rerank request may carry
	// by default (max_allowed_docs, 100).
	MaxRerankBatch = 100
)

var _ providers.Batcher = (*Adapter)(nil)

// BatchLimits implements providers.Batcher. Mergeable: an EmbedRequest
// (/v3/embeddings takes "input" as a list and answers one vector per input
// with its index), MaxInputs MaxEmbedBatch; and a RerankRequest (/v3/rerank
// takes one query and a list of documents and answers each result with its
// document's index), MaxInputs MaxRerankBatch. MaxTokens is 0 for both:
// OVMS's limits on tokens are per input (the model's context for an
// embedding input; 10 chunks per rerank document, max_chunks_per_doc),
// which merging does not change.
//
// Not mergeable (false): embedding forms OVMS does not serve (dimensions,
// sparse vectors, task types, Normalize, Truncate); KServe inference
// (InferRequest), whose tensors have a model-specific shape and no list of
// independent inputs the adapter could concatenate and split; chat,
// completions, models and info.
//
// It reads only the request's operation and options, not its inputs; Check
// still validates every request.
func (*Adapter) BatchLimits(req messages.Request) (providers.BatchLimits, bool) {
	switch r := req.(type) {
	case *messages.EmbedRequest:
		if r == nil || checkV3(r) != nil {
			return providers.BatchLimits{}, false
		}
		return providers.BatchLimits{MaxInputs: MaxEmbedBatch}, true
	case *messages.RerankRequest:
		if r == nil {
			return providers.BatchLimits{}, false
		}
		return providers.BatchLimits{MaxInputs: MaxRerankBatch}, true
	}
	return providers.BatchLimits{}, false
}
