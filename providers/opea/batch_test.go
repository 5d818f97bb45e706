package opea_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/opea"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

func TestBatchLimits(t *testing.T) {
	f := false
	def := providers.BatchLimits{MaxInputs: 32}
	tests := []struct {
		name string
		a    *opea.Adapter
		req  messages.Request
		want providers.BatchLimits
		ok   bool
	}{
		{"embed", opea.New(), &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}, def, true},
		{"embed with dimensions", opea.New(), &messages.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}, Dimensions: 4}, def, true},
		{"embed, LLM chat mode", opea.New(opea.Options{Chat: opea.ChatLLM}), &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}, def, true},
		{"sparse embed", opea.New(), &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}, Sparse: true}, providers.BatchLimits{}, false},
		{"embed with normalize", opea.New(), &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}, Normalize: &f}, providers.BatchLimits{}, false},
		{"embed with a task type", opea.New(), &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}, TaskType: "CLUSTERING"}, providers.BatchLimits{}, false},
		{"rerank", opea.New(), &messages.RerankRequest{Query: "q", Documents: []string{"a"}}, def, true},
		{"rerank with top n", opea.New(), &messages.RerankRequest{Query: "q", Documents: []string{"a"}, TopN: 1, ReturnDocuments: true}, def, true},
		{"chatqna", opea.New(), &messages.ChatRequest{Messages: []messages.Message{{Role: "user", Content: "q"}}}, providers.BatchLimits{}, false},
		{"llm chat", opea.New(opea.Options{Chat: opea.ChatLLM}), &messages.ChatRequest{Model: "m"}, providers.BatchLimits{}, false},
		{"health", opea.New(), &messages.InfoRequest{What: "health"}, providers.BatchLimits{}, false},
		{"nil embed", opea.New(), (*messages.EmbedRequest)(nil), providers.BatchLimits{}, false},
		{"nil rerank", opea.New(), (*messages.RerankRequest)(nil), providers.BatchLimits{}, false},
		{"nil", opea.New(), nil, providers.BatchLimits{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.a.BatchLimits(tt.req)
			require.True(t, got == tt.want, "BatchLimits")
			require.Equal(t, tt.ok, ok, "BatchLimits")
		})
	}
}

// TestBatchedEmbedAtLimit checks that a merged embedding request as large
// as BatchLimits allows is one /v1/embeddings call, answered in input order.
func TestBatchedEmbedAtLimit(t *testing.T) {
	srv := startSim(t, nil)
	inputs := make([]string, opea.MaxBatchInputs)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("chunk %d", i)
	}
	resp, err := do(t, newCall(srv, &messages.EmbedRequest{Model: "BAAI/bge-base-en-v1.5", Inputs: inputs}))
	require.NoError(t, err)
	require.Equal(t, 1, srv.Calls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	vecs := resp.(*messages.EmbedResponse).Vectors
	require.Len(t, inputs, len(vecs), "%d vectors", len(vecs))
	for i, v := range vecs {
		require.True(t, slices.Equal(v, sim.OpenAIEmbedding(inputs[i], len(v))), "vector %d is not the embedding of %q", i, inputs[i])
	}
}

// TestBatchedRerankMapsEveryDocument checks a merged rerank: the documents
// of several requests (some texts repeated across them) go in one call with
// TopN 0, and every document gets exactly one result with its own index, so
// the dispatcher can hand each request its part.
func TestBatchedRerankMapsEveryDocument(t *testing.T) {
	srv := startSim(t, nil)
	var docs []string
	for m := range 4 { // four requests of eight documents
		for i := range opea.MaxBatchInputs / 4 {
			docs = append(docs, fmt.Sprintf("deep learning note %d", (m*3+i)%10))
		}
	}
	req := &messages.RerankRequest{Query: "deep learning note 7", Documents: docs}
	resp, err := do(t, newCall(srv, req))
	require.NoError(t, err)
	require.Equal(t, 1, srv.Calls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	results := resp.(*messages.RerankResponse).Results
	seen := map[int]bool{}
	for _, r := range results {
		require.False(t, seen[r.Index], "result %+v does not score document %d", r, r.Index)
		require.Equal(t, sim.OPEARerankScore(req.Query, docs[r.Index]), r.Score, "result %+v does not score document %d", r, r.Index)
		seen[r.Index] = true
	}
	require.Len(t, docs, len(seen), "%d of %d documents scored", len(seen), len(docs))
}
