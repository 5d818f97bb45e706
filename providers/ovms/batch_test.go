package ovms_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/ovms"
	"github.com/switchyard-ai/switchyard/sim"
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
			if got != tt.want || ok != tt.ok {
				t.Fatalf("BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
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
	if err != nil {
		t.Fatal(err)
	}
	recs := srv.Requests()
	if len(recs) != 1 || recs[0].Path != "/v3/embeddings" || srv.InvalidCalls() != 0 {
		t.Fatalf("%d upstream calls (%d invalid), want 1", len(recs), srv.InvalidCalls())
	}
	vecs := resp.(*messages.EmbedResponse).Vectors
	if len(vecs) != len(inputs) {
		t.Fatalf("%d vectors", len(vecs))
	}
	for i, v := range vecs {
		if !slices.Equal(v, sim.OpenAIEmbedding(inputs[i], len(v))) {
			t.Fatalf("vector %d is not the embedding of %q", i, inputs[i])
		}
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
	if err != nil {
		t.Fatal(err)
	}
	if srv.Calls() != 1 || srv.InvalidCalls() != 0 {
		t.Fatalf("%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	}
	results := resp.(*messages.RerankResponse).Results
	seen := map[int]bool{}
	for _, r := range results {
		if seen[r.Index] || r.Score != sim.OVMSRelevance(req.Query, docs[r.Index]) {
			t.Fatalf("result %+v does not score document %d", r, r.Index)
		}
		seen[r.Index] = true
	}
	if len(seen) != len(docs) || results[0].Index != 42 {
		t.Fatalf("%d results, first %+v", len(seen), results[0])
	}
	req.Documents = append(req.Documents, "one too many")
	if _, err := do(t, newCall(srv.URL, req)); err == nil {
		t.Fatal("the simulator took more than MaxRerankBatch documents")
	}
}
