package opea

import (
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// MaxBatchInputs is the most embedding inputs or rerank documents
// BatchLimits lets one merged call carry: the default
// --max-client-batch-size (32) of the TEI server behind OPEA's embedding and
// reranking microservices (GenAIComps' TEI integrations forward the whole
// list in one TEI request, and OPEA answers TEI's refusal as a 500). OPEA
// itself documents no limit.
const MaxBatchInputs = 32

var _ providers.Batcher = (*Adapter)(nil)

// BatchLimits implements providers.Batcher. Mergeable: an EmbedRequest
// (the embedding microservice's /v1/embeddings takes "input" as a list and
// answers one vector per input with its index) and a RerankRequest (the
// reranking microservice's /v1/reranking takes one query and a list of
// retrieved_docs; the adapter maps the answer back to document indices and
// asks for every document's score when TopN is 0, as a merged request's
// is). MaxInputs is MaxBatchInputs for both, MaxTokens 0 (TEI has no
// per-request token budget; its limit is per input).
//
// Not mergeable (false): embedding forms OPEA does not serve (sparse
// vectors, Normalize, Truncate, task types), chat (ChatQnA or the LLM
// microservice) and health.
//
// It reads only the request's operation and options, not its inputs; Check
// still validates every request.
func (*Adapter) BatchLimits(req messages.Request) (providers.BatchLimits, bool) {
	switch r := req.(type) {
	case *messages.EmbedRequest:
		if r == nil || checkEmbed(r) != nil {
			return providers.BatchLimits{}, false
		}
		return providers.BatchLimits{MaxInputs: MaxBatchInputs}, true
	case *messages.RerankRequest:
		if r == nil {
			return providers.BatchLimits{}, false
		}
		return providers.BatchLimits{MaxInputs: MaxBatchInputs}, true
	}
	return providers.BatchLimits{}, false
}
