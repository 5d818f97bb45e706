package openai_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBatchLimits(t *testing.T) {
	plain := openai.New()
	selfHosted := openai.NewDialect(openai.Dialect{Kind: "selfhosted", Prefix: "/v1",
		Operations: []string{openai.OpChat, openai.OpEmbed}, MaxEmbedInputs: -1})
	capped := openai.NewDialect(openai.Dialect{Kind: "capped", MaxEmbedInputs: 100})
	chatOnly := openai.NewDialect(openai.Dialect{Kind: "chatonly", Operations: []string{openai.OpChat, openai.OpModels}})
	embed := &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}}
	tests := []struct {
		name string
		a    *openai.Adapter
		req  messages.Request
		want providers.BatchLimits
		ok   bool
	}{
		{"openai embed", plain, embed, providers.BatchLimits{MaxInputs: 2048, MaxTokens: 200_000}, true},
		{"zero adapter embed", &openai.Adapter{}, embed, providers.BatchLimits{MaxInputs: 2048, MaxTokens: 200_000}, true},
		{"openai embed with dimensions", plain, &messages.EmbedRequest{Model: "m", Inputs: []string{"a", "b"}, Dimensions: 256},
			providers.BatchLimits{MaxInputs: 2048, MaxTokens: 200_000}, true},
		{"openai sparse embed", plain, &messages.EmbedRequest{Model: "m", Inputs: []string{"a"}, Sparse: true}, providers.BatchLimits{}, false},
		{"openai chat", plain, &messages.ChatRequest{Model: "m"}, providers.BatchLimits{}, false},
		{"openai responses", plain, &messages.ResponsesRequest{Model: "m"}, providers.BatchLimits{}, false},
		{"openai models", plain, &messages.ModelsRequest{}, providers.BatchLimits{}, false},
		{"openai rerank", plain, &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"a"}}, providers.BatchLimits{}, false},
		{"nil request", plain, nil, providers.BatchLimits{}, false},
		{"nil embed request", plain, (*messages.EmbedRequest)(nil), providers.BatchLimits{}, false},
		{"no input limit", selfHosted, embed, providers.BatchLimits{}, true},
		{"no input limit, generate", selfHosted, &messages.GenerateRequest{Model: "m", Prompt: "p"}, providers.BatchLimits{}, false},
		{"own input limit", capped, embed, providers.BatchLimits{MaxInputs: 100}, true},
		{"dialect without embeddings", chatOnly, embed, providers.BatchLimits{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := tt.a.BatchLimits(tt.req)
			require.True(t, got == tt.want, "BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			require.Equal(t, tt.ok, ok, "BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
		})
	}
	require.False(t, openai.BatchEmbedTokens >= openai.MaxEmbedTokens, "token budget %d must stay under OpenAI's %d", openai.BatchEmbedTokens, openai.MaxEmbedTokens)
	require.True(t, openai.MaxEmbedTokens == 300_000, "token budget %d must stay under OpenAI's %d", openai.BatchEmbedTokens, openai.MaxEmbedTokens)
}

// batchInputs returns n distinct inputs.
func batchInputs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("input number %d", i)
	}
	return out
}

// TestBatchedEmbedIsOneCall checks what merging relies on: several inputs
// go upstream in one request, in order, and the vectors come back in input
// order even when the server lists them in another order.
func TestBatchedEmbedIsOneCall(t *testing.T) {
	srv := providertest.StartSim(t, &sim.OpenAIBackend{ReverseEmbeddings: true})
	inputs := batchInputs(7)
	resp, err := providertest.Do(t, openai.New(), newCall(srv, &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: inputs}))
	require.NoError(t, err)
	require.Equal(t, 1, srv.Calls(), "%d upstream calls, want 1", srv.Calls())
	body := providertest.LastBody(t, srv)
	sent, _ := body["input"].([]any)
	require.Len(t, sent, len(inputs), "sent input %v", body["input"])
	for i, in := range sent {
		require.True(t, in == inputs[i], "input %d sent as %v", i, in)
	}
	vecs := resp.(*messages.EmbedResponse).Vectors
	require.Len(t, vecs, len(inputs), "%d vectors for %d inputs", len(vecs), len(inputs))
	for i, v := range vecs {
		require.True(t, slices.Equal(v, sim.OpenAIEmbedding(inputs[i], len(v))), "vector %d is not the embedding of %q", i, inputs[i])
	}
}

// TestBatchAtInputLimit checks that a call as large as BatchLimits allows is
// one the (strict) simulator accepts.
func TestBatchAtInputLimit(t *testing.T) {
	srv := providertest.StartSim(t, sim.OpenAI(), sim.WithoutRecords())
	req := &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: batchInputs(2048)}
	lim, ok := openai.New().BatchLimits(req)
	require.True(t, ok, "limits %+v %v", lim, ok)
	require.Equal(t, len(req.Inputs), lim.MaxInputs, "limits %+v %v", lim, ok)
	resp, err := providertest.Do(t, openai.New(), newCall(srv, req))
	require.NoError(t, err)
	n := len(resp.(*messages.EmbedResponse).Vectors)
	require.Equal(t, 2048, n, "%d vectors in %d calls", n, srv.Calls())
	require.Equal(t, 1, srv.Calls(), "%d vectors in %d calls", n, srv.Calls())
}

func TestCheckRefusesEmbeddingOptionsTheAPIHasNot(t *testing.T) {
	no, yes := false, true
	for _, c := range []struct {
		name string
		req  messages.EmbedRequest
	}{
		{"sparse", messages.EmbedRequest{Sparse: true}},
		{"normalize false", messages.EmbedRequest{Normalize: &no}},
		{"truncate", messages.EmbedRequest{Truncate: &yes}},
		{"task type", messages.EmbedRequest{TaskType: "RETRIEVAL_QUERY"}},
	} {
		r := c.req
		r.Model, r.Inputs = "text-embedding-3-small", []string{"x"}
		err := openai.New().Check(&r)
		assert.ErrorIs(t, err, messages.ErrUnsupported, "%s: %v, want ErrUnsupported", c.name, err)
	}
	r := messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"x"}, Normalize: &yes}
	assert.NoError(t, openai.New().Check(&r), "normalize true (what the API does anyway)")
}
