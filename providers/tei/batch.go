package tei

import (
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// DefaultMaxClientBatchSize is TEI's default --max-client-batch-size: the
// most inputs (or rerank texts) the router accepts in one request (router
// main.rs; GET /info reports the server's value as max_client_batch_size).
const DefaultMaxClientBatchSize = 32

var _ providers.Batcher = (*Adapter)(nil)

// BatchLimits implements providers.Batcher. Every operation TEI serves with
// a list may be merged: dense embeddings (/embed, or /v1/embeddings with
// OpenAIEmbeddings), sparse embeddings (/embed_sparse), all answered one
// vector per input in input order, and reranking (/rerank, one query and a
// list of texts, answered with each text's index). A request with a Gemini
// TaskType (not served), info and anything else: false.
//
// MaxInputs is the server's --max-client-batch-size (MaxClientBatchSize,
// default 32), which the router applies to embedding inputs and rerank
// texts alike; a call over it is answered 413 and split inside Do, so a
// smaller server setting costs extra round trips, not failures. MaxTokens
// is 0: TEI has no per-request token budget (--max-batch-tokens, 16384 by
// default, sizes the server's own internal batches, which it fills from
// every request's inputs; an input only has to fit max_input_length).
//
// It reads only the request's operation and options, not its inputs; Check
// still validates every request.
func (a *Adapter) BatchLimits(req messages.Request) (providers.BatchLimits, bool) {
	lim := providers.BatchLimits{MaxInputs: a.maxClientBatchSize()}
	switch r := req.(type) {
	case *messages.EmbedRequest:
		if r == nil || r.TaskType != "" {
			return providers.BatchLimits{}, false
		}
		return lim, true
	case *messages.RerankRequest:
		if r == nil {
			return providers.BatchLimits{}, false
		}
		return lim, true
	}
	return providers.BatchLimits{}, false
}

func (a *Adapter) maxClientBatchSize() int {
	if a == nil || a.MaxClientBatchSize <= 0 {
		return DefaultMaxClientBatchSize
	}
	return a.MaxClientBatchSize
}
