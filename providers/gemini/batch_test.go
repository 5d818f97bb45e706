package gemini

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"
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
			if got != tt.want || ok != tt.ok {
				t.Fatalf("BatchLimits = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
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
	if !ok {
		t.Fatal("not batchable")
	}
	for i := range lim.MaxInputs {
		req.Inputs = append(req.Inputs, fmt.Sprintf("question %d", i))
	}
	r := doCall(t, newCall(s, req))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	recs := s.Requests()
	if len(recs) != 1 || !strings.HasSuffix(recs[0].Path, ":batchEmbedContents") || s.InvalidCalls() != 0 {
		t.Fatalf("%d calls (%d invalid)", len(recs), s.InvalidCalls())
	}
	vecs := r.Resp.(*messages.EmbedResponse).Vectors
	if len(vecs) != lim.MaxInputs {
		t.Fatalf("%d vectors", len(vecs))
	}
	for i, v := range vecs {
		if !slices.Equal(v, sim.GeminiEmbedding(req.Inputs[i], "RETRIEVAL_QUERY", 4)) {
			t.Fatalf("vector %d is not the embedding of %q", i, req.Inputs[i])
		}
	}
	// One more input is more than the API takes in one call.
	req.Inputs = append(req.Inputs, "one too many")
	if err := New().Check(req); err == nil {
		t.Fatal("Check accepts more than MaxBatchEmbed inputs")
	}
}
