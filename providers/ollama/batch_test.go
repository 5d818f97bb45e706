package ollama_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/ollama"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

func TestBatchLimits(t *testing.T) {
	yes, no := true, false
	tests := []struct {
		name string
		req  messages.Request
		ok   bool
	}{
		{"embed", &messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"a"}}, true},
		{"embed with options", &messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"a", "b"}, Dimensions: 4, Truncate: &no, Normalize: &yes}, true},
		{"embed unnormalised", &messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"a"}, Normalize: &no}, false},
		{"sparse embed", &messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"a"}, Sparse: true}, false},
		{"embed with a task type", &messages.EmbedRequest{Model: "embeddinggemma", Inputs: []string{"a"}, TaskType: "CLUSTERING"}, false},
		{"chat", &messages.ChatRequest{Model: "llama3.2"}, false},
		{"generate", &messages.GenerateRequest{Model: "llama3.2", Prompt: "p"}, false},
		{"models", &messages.ModelsRequest{}, false},
		{"rerank", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"a"}}, false},
		{"nil embed", (*messages.EmbedRequest)(nil), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ollama.New().BatchLimits(tt.req)
			// No documented limit: only the dispatcher's window bounds a call.
			require.Equal(t, tt.ok, ok, "BatchLimits = %+v, %v; want no limits, %v", got, ok, tt.ok)
			require.True(t, got == (providers.BatchLimits{}), "BatchLimits = %+v, %v; want no limits, %v", got, ok, tt.ok)
		})
	}
}

// TestBatchedEmbedIsOneCall checks what merging relies on: the inputs go
// upstream in one /api/embed request, in order, and the vectors come back
// in input order.
func TestBatchedEmbedIsOneCall(t *testing.T) {
	srv := startSim(t, nil)
	inputs := make([]string, 300)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("sentence %d", i)
	}
	resp, err := providertest.Do(t, ollama.New(), newCall(srv.URL, &messages.EmbedRequest{Model: "embeddinggemma", Inputs: inputs}))
	require.NoError(t, err)
	recs := srv.Requests()
	require.Len(t, recs, 1, "%d upstream calls (%d invalid), want 1 to /api/embed", len(recs), srv.InvalidCalls())
	require.Equal(t, "/api/embed", recs[0].Path, "%d upstream calls (%d invalid), want 1 to /api/embed", len(recs), srv.InvalidCalls())
	require.Equal(t, 0, srv.InvalidCalls(), "%d upstream calls (%d invalid), want 1 to /api/embed", len(recs), srv.InvalidCalls())
	sent, _ := providertest.LastBody(t, srv)["input"].([]any)
	require.Len(t, sent, len(inputs), "sent %d inputs", len(sent))
	require.True(t, sent[299] == inputs[299], "sent %d inputs", len(sent))
	vecs := resp.(*messages.EmbedResponse).Vectors
	require.Len(t, vecs, len(inputs), "%d vectors for %d inputs", len(vecs), len(inputs))
	for i, v := range vecs {
		require.True(t, slices.Equal(v, sim.OpenAIEmbedding(inputs[i], len(v))), "vector %d is not the embedding of %q", i, inputs[i])
	}
}
