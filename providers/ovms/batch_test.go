package ovms_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/ovms"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

func TestBatchLimits(t *testing.T) {
	f := false
	embed := providers.BatchLimits{MaxInputs: 500}
	rerank := providers.BatchLimits{MaxInputs: 100}
	tests := []struct {
		name string
		req  messages.Request
		want providers.BatchLimits
		ok   bool
	}{
		{"embed", &messages.EmbedRequest{Model: "bge-small", Inputs: []string{"a"}}, embed, true},
		{"embed several", &messages.EmbedRequest{Model: "bge-small", Inputs: []string{"a", "b"}}, embed, true},
		{"embed with dimensions", &messages.EmbedRequest{Model: "bge-small", Inputs: []string{"a"}, Dimensions: 4}, providers.BatchLimits{}, false},
		{"sparse embed", &messages.EmbedRequest{Model: "bge-small", Inputs: []string{"a"}, Sparse: true}, providers.BatchLimits{}, false},
		{"embed with a task type", &messages.EmbedRequest{Model: "bge-small", Inputs: []string{"a"}, TaskType: "CLUSTERING"}, providers.BatchLimits{}, false},
		{"embed with truncate", &messages.EmbedRequest{Model: "bge-small", Inputs: []string{"a"}, Truncate: &f}, providers.BatchLimits{}, false},
		{"rerank", &messages.RerankRequest{Model: "bge-reranker", Query: "q", Documents: []string{"a"}}, rerank, true},
		{"rerank with top n and documents", &messages.RerankRequest{Model: "bge-reranker", Query: "q", Documents: []string{"a"}, TopN: 1, ReturnDocuments: true}, rerank, true},
		{"kserve infer", &messages.InferRequest{Model: "resnet"}, providers.BatchLimits{}, false},
		{"chat", &messages.ChatRequest{Model: "llama3"}, providers.BatchLimits{}, false},
		{"generate", &messages.GenerateRequest{Model: "llama3", Prompt: "p"}, providers.BatchLimits{}, false},
		{"models", &messages.ModelsRequest{}, providers.BatchLimits{}, false},
		{"info", &messages.InfoRequest{What: "ready"}, providers.BatchLimits{}, false},
		{"nil embed", (*messages.EmbedRequest)(nil), providers.BatchLimits{}, false},
		{"nil rerank", (*messages.RerankRequest)(nil), providers.BatchLimits{}, false},
		{"nil", nil, providers.BatchLimits{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ovms.New().BatchLimits(tt.req)
			require.True(t, got == tt.want, "BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			require.Equal(t, tt.ok, ok, "BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
		})
	}
}

func batchDocs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("document %d", i)
	}
	return out
}

// TestBatchedEmbedAtLimit checks that a merged embedding request as large
// as BatchLimits allows is one /v3/embeddings call, answered in input order.
func TestBatchedEmbedAtLimit(t *testing.T) {
	srv := startSim(t, nil)
	inputs := batchDocs(ovms.MaxEmbedBatch)
	resp, err := do(t, newCall(srv.URL, &messages.EmbedRequest{Model: "bge-small", Inputs: inputs}))
	require.NoError(t, err)
	recs := srv.Requests()
	require.Len(t, recs, 1, "%d upstream calls (%d invalid), want 1", len(recs), srv.InvalidCalls())
	require.Equal(t, "/v3/embeddings", recs[0].Path, "%d upstream calls (%d invalid), want 1", len(recs), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d upstream calls (%d invalid), want 1", len(recs), srv.InvalidCalls())
	vecs := resp.(*messages.EmbedResponse).Vectors
	require.Len(t, vecs, len(inputs), "%d vectors", len(vecs))
	for i, v := range vecs {
		require.True(t, slices.Equal(v, sim.OpenAIEmbedding(inputs[i], len(v))), "vector %d is not the embedding of %q", i, inputs[i])
	}
}

// TestBatchedRerankAtLimit checks that a merged rerank as large as
// BatchLimits allows is one /v3/rerank call the simulator (with OVMS's
// default max_allowed_docs) accepts, every result naming the document it
// scored, and that one document more is refused.
func TestBatchedRerankAtLimit(t *testing.T) {
	srv := startSim(t, nil)
	docs := batchDocs(ovms.MaxRerankBatch)
	docs[42] = "the query words in a document"
	req := &messages.RerankRequest{Model: "bge-reranker", Query: "query words", Documents: docs}
	resp, err := do(t, newCall(srv.URL, req))
	require.NoError(t, err)
	require.Equal(t, 1, srv.Calls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	results := resp.(*messages.RerankResponse).Results
	seen := map[int]bool{}
	for _, r := range results {
		require.False(t, seen[r.Index], "result %+v does not score document %d", r, r.Index)
		require.True(t, r.Score == sim.OVMSRelevance(req.Query, docs[r.Index]), "result %+v does not score document %d", r, r.Index)
		seen[r.Index] = true
	}
	require.Len(t, seen, len(docs), "%d results", len(seen))
	require.Equal(t, 42, results[0].Index, "first result %+v", results[0])
	req.Documents = append(req.Documents, "one too many")
	_, err = do(t, newCall(srv.URL, req))
	require.Error(t, err, "the simulator took more than MaxRerankBatch documents")
}
