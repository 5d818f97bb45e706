package gemini

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

func TestBatchLimits(t *testing.T) {
	f := false
	def := providers.BatchLimits{MaxInputs: 100}
	tests := []struct {
		name string
		req  messages.Request
		want providers.BatchLimits
		ok   bool
	}{
		{"embed", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}}, def, true},
		{"embed with task type and dimensions", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a", "b"}, TaskType: "RETRIEVAL_DOCUMENT", Dimensions: 768}, def, true},
		{"sparse embed", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}, Sparse: true}, providers.BatchLimits{}, false},
		{"embed with normalize", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}, Normalize: &f}, providers.BatchLimits{}, false},
		{"embed with truncate", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}, Truncate: &f}, providers.BatchLimits{}, false},
		{"chat", &messages.ChatRequest{Model: chatModel}, providers.BatchLimits{}, false},
		{"count tokens", &messages.CountTokensRequest{}, providers.BatchLimits{}, false},
		{"models", &messages.ModelsRequest{}, providers.BatchLimits{}, false},
		{"rerank", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"a"}}, providers.BatchLimits{}, false},
		{"nil embed", (*messages.EmbedRequest)(nil), providers.BatchLimits{}, false},
		{"nil", nil, providers.BatchLimits{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := New().BatchLimits(tt.req)
			require.True(t, got == tt.want, "BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			require.Equal(t, tt.ok, ok, "BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
		})
	}
}

// TestBatchAtInputLimit checks that a merged request as large as
// BatchLimits allows is one batchEmbedContents call the (strict) simulator
// accepts, with the vectors in input order.
func TestBatchAtInputLimit(t *testing.T) {
	s := startSim(t, nil)
	req := &messages.EmbedRequest{Model: embedModel, TaskType: "retrieval_query", Dimensions: 4}
	lim, ok := New().BatchLimits(req)
	require.True(t, ok, "not batchable")
	for i := range lim.MaxInputs {
		req.Inputs = append(req.Inputs, fmt.Sprintf("question %d", i))
	}
	r := doCall(t, newCall(s, req))
	require.NoError(t, r.Err)
	recs := s.Requests()
	require.Len(t, recs, 1, "%d calls (%d invalid)", len(recs), s.InvalidCalls())
	require.True(t, strings.HasSuffix(recs[0].Path, ":batchEmbedContents"), "%d calls (%d invalid)", len(recs), s.InvalidCalls())
	require.Equal(t, 0, s.InvalidCalls(), "%d calls (%d invalid)", len(recs), s.InvalidCalls())
	vecs := r.Resp.(*messages.EmbedResponse).Vectors
	require.Len(t, vecs, lim.MaxInputs, "%d vectors", len(vecs))
	for i, v := range vecs {
		require.True(t, slices.Equal(v, sim.GeminiEmbedding(req.Inputs[i], "RETRIEVAL_QUERY", 4)), "vector %d is not the embedding of %q", i, req.Inputs[i])
	}
	// One more input is more than the API takes in one call.
	req.Inputs = append(req.Inputs, "one too many")
	require.Error(t, New().Check(req), "Check accepts more than MaxBatchEmbed inputs")
}
