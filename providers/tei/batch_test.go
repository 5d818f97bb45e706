package tei_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/providers/tei"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

func TestBatchLimits(t *testing.T) {
	f := false
	embed := &messages.EmbedRequest{Inputs: []string{"a"}}
	rerank := &messages.RerankRequest{Query: "q", Documents: []string{"a", "b"}}
	def := providers.BatchLimits{MaxInputs: 32}
	tests := []struct {
		name string
		a    *tei.Adapter
		req  messages.Request
		want providers.BatchLimits
		ok   bool
	}{
		{"embed", tei.New(), embed, def, true},
		{"embed, zero adapter", &tei.Adapter{}, embed, def, true},
		{"embed, nil adapter", nil, embed, def, true},
		{"embed with options", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Normalize: &f, Truncate: &f, Dimensions: 4}, def, true},
		{"embed via /v1/embeddings", tei.NewOpenAICompatible(), embed, def, true},
		{"sparse embed", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Sparse: true}, def, true},
		{"embed with a task type", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, TaskType: "RETRIEVAL_QUERY"}, providers.BatchLimits{}, false},
		{"rerank", tei.New(), rerank, def, true},
		{"rerank with top n", tei.New(), &messages.RerankRequest{Query: "q", Documents: []string{"a"}, TopN: 1, ReturnDocuments: true}, def, true},
		{"configured embed", &tei.Adapter{MaxClientBatchSize: 128}, embed, providers.BatchLimits{MaxInputs: 128}, true},
		{"configured sparse", &tei.Adapter{MaxClientBatchSize: 8}, &messages.EmbedRequest{Inputs: []string{"a"}, Sparse: true}, providers.BatchLimits{MaxInputs: 8}, true},
		{"configured rerank", &tei.Adapter{MaxClientBatchSize: 8, OpenAIEmbeddings: true}, rerank, providers.BatchLimits{MaxInputs: 8}, true},
		{"negative means default", &tei.Adapter{MaxClientBatchSize: -1}, embed, def, true},
		{"info", tei.New(), &messages.InfoRequest{What: "info"}, providers.BatchLimits{}, false},
		{"chat", tei.New(), &messages.ChatRequest{Model: "m"}, providers.BatchLimits{}, false},
		{"nil embed", tei.New(), (*messages.EmbedRequest)(nil), providers.BatchLimits{}, false},
		{"nil rerank", tei.New(), (*messages.RerankRequest)(nil), providers.BatchLimits{}, false},
		{"nil", tei.New(), nil, providers.BatchLimits{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.a.BatchLimits(tt.req)
			require.True(t, got == tt.want, "BatchLimits")
			require.Equal(t, tt.ok, ok, "BatchLimits")
		})
	}
	require.True(t, tei.DefaultMaxClientBatchSize == 32, "DefaultMaxClientBatchSize %d, TEI's default is 32", tei.DefaultMaxClientBatchSize)
}

func batchTexts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text %d about cats", i)
	}
	return out
}

// TestBatchedEmbedIsOneCall checks, on every embedding route, that a call as
// large as BatchLimits allows goes upstream as one request the simulator
// (with the same --max-client-batch-size) accepts, and that its vectors come
// back in input order.
func TestBatchedEmbedIsOneCall(t *testing.T) {
	tests := []struct {
		name    string
		a       *tei.Adapter
		backend *sim.TEIBackend
		sparse  bool
		path    string
	}{
		{"embed, default size", tei.New(), sim.TEI(), false, tei.PathEmbed},
		{"embed, configured size", &tei.Adapter{MaxClientBatchSize: 48}, &sim.TEIBackend{MaxClientBatchSize: 48}, false, tei.PathEmbed},
		{"embed_sparse", tei.New(), sim.TEI(), true, tei.PathEmbedSparse},
		{"v1/embeddings", tei.NewOpenAICompatible(), sim.TEI(), false, tei.PathOpenAIEmbeddings},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, tt.backend)
			req := &messages.EmbedRequest{Inputs: []string{"x"}, Sparse: tt.sparse}
			lim, ok := tt.a.BatchLimits(req)
			require.True(t, ok, "limits %+v %v", lim, ok)
			require.GreaterOrEqual(t, lim.MaxInputs, 2, "limits %+v %v", lim, ok)
			req.Inputs = batchTexts(lim.MaxInputs)
			resp, err := do(t, tt.a, newCall(srv, req))
			require.NoError(t, err)
			recs := srv.Requests()
			require.Len(t, recs, 1, "%d upstream calls (%d invalid), want 1 to %s", len(recs), srv.InvalidCalls(), tt.path)
			require.Equal(t, tt.path, recs[0].Path, "%d upstream calls (%d invalid), want 1 to %s", len(recs), srv.InvalidCalls(), tt.path)
			require.Equal(t, 0, srv.InvalidCalls(), "%d upstream calls (%d invalid), want 1 to %s", len(recs), srv.InvalidCalls(), tt.path)
			er := resp.(*messages.EmbedResponse)
			if tt.sparse {
				require.Len(t, req.Inputs, len(er.Sparse), "%d sparse vectors for %d inputs", len(er.Sparse), len(req.Inputs))
				for i, v := range er.Sparse {
					want := sim.TEISparse(req.Inputs[i], 0)
					require.True(t, slices.EqualFunc(v, want, func(g messages.SparseValue, w sim.TEISparseValue) bool {
						return g.Index == w.Index && g.Value == w.Value
					}), "sparse vector %d is not that of %q", i, req.Inputs[i])
				}
				return
			}
			require.Len(t, req.Inputs, len(er.Vectors), "%d vectors for %d inputs", len(er.Vectors), len(req.Inputs))
			for i, v := range er.Vectors {
				require.True(t, slices.Equal(v, sim.TEIEmbedding(req.Inputs[i], len(v), true)), "vector %d is not the embedding of %q", i, req.Inputs[i])
			}
		})
	}
}

// TestBatchedRerankIsOneCall checks that the texts of a merged rerank go in
// one request and every result's index names the text it scored.
func TestBatchedRerankIsOneCall(t *testing.T) {
	srv := startSim(t, nil)
	texts := batchTexts(32)
	texts[5], texts[20] = "dogs only", "cats and more cats about"
	req := &messages.RerankRequest{Query: "cats about", Documents: texts}
	lim, ok := tei.New().BatchLimits(req)
	require.True(t, ok, "limits %+v %v", lim, ok)
	require.Len(t, texts, lim.MaxInputs, "limits %+v %v", lim, ok)
	resp, err := do(t, tei.New(), newCall(srv, req))
	require.NoError(t, err)
	require.Equal(t, 1, srv.Calls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d upstream calls (%d invalid), want 1", srv.Calls(), srv.InvalidCalls())
	sent, _ := providertest.LastBody(t, srv)["texts"].([]any)
	require.Len(t, texts, len(sent), "sent %d texts", len(sent))
	results := resp.(*messages.RerankResponse).Results
	seen := map[int]bool{}
	for _, r := range results {
		require.False(t, seen[r.Index], "result %+v does not score text %d", r, r.Index)
		require.Equal(t, sim.TEIRerankScore(req.Query, texts[r.Index], false), float32(r.Score), "result %+v does not score text %d", r, r.Index)
		seen[r.Index] = true
	}
	require.Len(t, texts, len(seen), "results %+v", results)
	require.Equal(t, 5, results[len(results)-1].Index, "results %+v", results)
}
