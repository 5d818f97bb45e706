package llvm_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/llvm"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

func TestBatchLimits(t *testing.T) {
	var b providers.Batcher = llvm.New()
	tests := []struct {
		name string
		req  messages.Request
		ok   bool
	}{
		{"embed", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}}, true},
		{"embed several", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a", "b"}}, true},
		{"sparse embed", &messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}, Sparse: true}, false},
		{"chat", &messages.ChatRequest{Model: chatModel, Messages: user("hi")}, false},
		{"generate", &messages.GenerateRequest{Model: chatModel, Prompt: "p"}, false},
		{"models", &messages.ModelsRequest{}, false},
		{"tokenize", &messages.TokenizeRequest{Model: chatModel, Text: "a b"}, false},
		{"info", &messages.InfoRequest{What: "health"}, false},
		{"rerank", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"a"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := b.BatchLimits(tt.req)
			// No documented limit: only the dispatcher's window bounds a call.
			require.Equal(t, tt.ok, ok, "BatchLimits = %+v, %v; want no limits, %v", got, ok, tt.ok)
			require.True(t, got == (providers.BatchLimits{}), "BatchLimits = %+v, %v; want no limits, %v", got, ok, tt.ok)
		})
	}
	_, ok := llvm.New(llvm.WithLlamaCpp()).BatchLimits(&messages.EmbedRequest{Model: embedModel, Inputs: []string{"a"}})
	require.True(t, ok, "llama.cpp flavour does not batch embeddings")
}

// TestBatchedEmbedIsOneCall checks what merging relies on: many inputs (more
// than OpenAI's 2048, since the server has no list limit) go upstream in one
// request, in order, and the vectors come back in input order.
func TestBatchedEmbedIsOneCall(t *testing.T) {
	srv := startSim(t, nil)
	inputs := make([]string, 2100)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("passage %d", i)
	}
	resp, err := do(t, llvm.New(), newCall(srv.URL, testKey, &messages.EmbedRequest{Model: embedModel, Inputs: inputs}))
	require.NoError(t, err)
	require.Equal(t, 1, srv.Calls(), "%d upstream calls, want 1", srv.Calls())
	sent, _ := providertest.LastBody(t, srv)["input"].([]any)
	require.Len(t, inputs, len(sent), "sent %d inputs", len(sent))
	require.True(t, sent[0] == inputs[0], "sent %d inputs", len(sent))
	require.True(t, sent[len(sent)-1] == inputs[len(inputs)-1], "sent %d inputs", len(sent))
	vecs := resp.(*messages.EmbedResponse).Vectors
	require.Len(t, inputs, len(vecs), "%d vectors for %d inputs", len(vecs), len(inputs))
	for i, v := range vecs {
		require.True(t, slices.Equal(v, sim.OpenAIEmbedding(inputs[i], len(v))), "vector %d is not the embedding of %q", i, inputs[i])
	}
}
