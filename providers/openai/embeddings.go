package openai

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

type embedBody struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type embedResponse struct {
	Model string `json:"model"`
	Data  []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage *struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func (d *Dialect) doEmbed(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.EmbedRequest) (messages.Response, error) {
	body := embedBody{Model: r.Model, Input: r.Inputs, EncodingFormat: "float", Dimensions: r.Dimensions}
	resp, err := c.Send(ctx, call, d.exchange(call, OpEmbed, body, false))
	if err != nil {
		return nil, err
	}
	var w embedResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if !providers.IsJSONNull(w.Error) {
		return nil, bodyError(call, w.Error)
	}
	vectors, err := orderVectors(len(r.Inputs), &w)
	if err != nil {
		return nil, malformed(call, err.Error(), nil)
	}
	out := &messages.EmbedResponse{Meta: call.Meta(), Model: w.Model, Vectors: vectors}
	if w.Usage != nil {
		out.Usage.InputTokens = w.Usage.PromptTokens
	}
	call.Result.Usage = out.Usage
	return out, nil
}

// orderVectors puts the vectors in input order by their index, and insists on
// exactly one vector per input.
func orderVectors(n int, w *embedResponse) ([][]float32, error) {
	if len(w.Data) != n {
		return nil, fmt.Errorf("embeddings answer has %d vectors for %d inputs", len(w.Data), n)
	}
	out := make([][]float32, n)
	for _, d := range w.Data {
		if d.Index < 0 || d.Index >= n {
			return nil, fmt.Errorf("embedding index %d out of range [0, %d)", d.Index, n)
		}
		if out[d.Index] != nil {
			return nil, fmt.Errorf("embedding index %d appears twice", d.Index)
		}
		if d.Embedding == nil {
			return nil, fmt.Errorf("embedding %d has no vector", d.Index)
		}
		out[d.Index] = d.Embedding
	}
	return out, nil
}
