package ollama

import (
	"context"
	"fmt"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

type embedBody struct {
	Model      string   `json:"model"`
	Input      []string `json:"input"`
	Truncate   *bool    `json:"truncate,omitempty"`
	Dimensions int      `json:"dimensions,omitempty"`
}

type embedResponse struct {
	Model           string      `json:"model"`
	Embeddings      [][]float32 `json:"embeddings"`
	TotalDuration   int64       `json:"total_duration"`
	LoadDuration    int64       `json:"load_duration"`
	PromptEvalCount int         `json:"prompt_eval_count"`
}

func checkEmbed(r *messages.EmbedRequest) error {
	ci := &r.Call
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if len(r.Inputs) == 0 {
		return invalid(ci, "at least one input is required")
	}
	if r.Dimensions < 0 {
		return invalid(ci, "Dimensions %d is negative", r.Dimensions)
	}
	switch {
	case r.Sparse:
		return unsupported(ci, "Ollama has no sparse embeddings")
	case r.Normalize != nil && !*r.Normalize:
		return unsupported(ci, "Ollama always normalises embeddings")
	case r.TaskType != "":
		return unsupported(ci, "Ollama has no embedding task types")
	}
	return nil
}

func doEmbed(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.EmbedRequest) (messages.Response, error) {
	body := embedBody{Model: r.Model, Input: r.Inputs, Truncate: r.Truncate, Dimensions: r.Dimensions}
	resp, err := c.Send(ctx, call, exchange(PathEmbed, body, false))
	if err != nil {
		return nil, err
	}
	var w embedResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if len(w.Embeddings) != len(r.Inputs) {
		return nil, malformed(call, fmt.Sprintf("embed answer has %d vectors for %d inputs", len(w.Embeddings), len(r.Inputs)), nil)
	}
	for i, v := range w.Embeddings {
		if len(v) == 0 {
			return nil, malformed(call, fmt.Sprintf("embedding %d is empty", i), nil)
		}
	}
	out := &messages.EmbedResponse{Meta: call.Meta(), Model: w.Model, Vectors: w.Embeddings,
		Usage: messages.Usage{InputTokens: max(w.PromptEvalCount, 0)}}
	call.Result.Usage = out.Usage
	return out, nil
}
