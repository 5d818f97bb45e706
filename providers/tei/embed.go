package tei

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// embedBody is the body of POST /embed.
type embedBody struct {
	Inputs     []string `json:"inputs"`
	Normalize  *bool    `json:"normalize,omitempty"`
	Truncate   *bool    `json:"truncate,omitempty"`
	Dimensions int      `json:"dimensions,omitempty"`
}

// sparseBody is the body of POST /embed_sparse.
type sparseBody struct {
	Inputs   []string `json:"inputs"`
	Truncate *bool    `json:"truncate,omitempty"`
}

// openAIBody is the body of POST /v1/embeddings.
type openAIBody struct {
	Input          []string `json:"input"`
	Model          string   `json:"model,omitempty"`
	EncodingFormat string   `json:"encoding_format"`
	Dimensions     int      `json:"dimensions,omitempty"`
}

type openAIResponse struct {
	Model string `json:"model"`
	Data  []struct {
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Usage *struct {
		PromptTokens int `json:"prompt_tokens"`
	} `json:"usage"`
}

type sparseValue struct {
	Index *int     `json:"index"`
	Value *float32 `json:"value"`
}

// embedPart is what one request for a slice of the inputs returned.
type embedPart struct {
	vectors [][]float32
	sparse  [][]messages.SparseValue
	tokens  int
}

func (a *Adapter) doEmbed(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.EmbedRequest) (messages.Response, error) {
	call.Result.Usage = messages.Usage{}
	part, err := split(ctx, call, 0, len(r.Inputs), func(lo, hi int) (*embedPart, error) {
		return a.embedOnce(ctx, c, call, r, r.Inputs[lo:hi])
	}, func(dst, src *embedPart) {
		dst.vectors = append(dst.vectors, src.vectors...)
		dst.sparse = append(dst.sparse, src.sparse...)
		dst.tokens += src.tokens
	})
	if err != nil {
		return nil, err
	}
	out := &messages.EmbedResponse{Meta: call.Meta(), Model: r.Model, Vectors: part.vectors, Sparse: part.sparse}
	out.Usage.InputTokens = part.tokens
	call.Result.Usage = out.Usage
	return out, nil
}

// split runs once on the items [lo, hi) and, when the server refuses them as
// too many, on consecutive smaller ranges (recursively), merging the results
// in order. It returns the first other error. Each successful request adds
// its tokens to call.Result.Usage, so a failed split still reports what the
// parts before it consumed.
func split[T any](ctx context.Context, call *providers.Call, lo, hi int, once func(lo, hi int) (*T, error), merge func(dst, src *T)) (*T, error) {
	res, err := once(lo, hi)
	if err == nil {
		return res, nil
	}
	var ue *messages.UpstreamError
	if !errors.As(err, &ue) {
		return nil, err
	}
	size, ok := splitSize(ue, hi-lo)
	if !ok {
		return nil, err
	}
	var out T
	for start := lo; start < hi; start += size {
		if ctx.Err() != nil {
			return nil, providers.ContextError(ctx, call, ctx.Err(), messages.ClassCancelled, "")
		}
		part, err := split(ctx, call, start, min(start+size, hi), once, merge)
		if err != nil {
			return nil, err
		}
		merge(&out, part)
	}
	return &out, nil
}

// embedOnce sends one request for inputs and checks that the answer holds one
// vector per input.
func (a *Adapter) embedOnce(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.EmbedRequest, inputs []string) (*embedPart, error) {
	var ex *providers.Exchange
	switch {
	case r.Sparse:
		ex = exchange(PathEmbedSparse, sparseBody{Inputs: inputs, Truncate: r.Truncate})
	case a.OpenAIEmbeddings:
		ex = exchange(PathOpenAIEmbeddings, openAIBody{Input: inputs, Model: r.Model, EncodingFormat: "float", Dimensions: r.Dimensions})
	default:
		ex = exchange(PathEmbed, embedBody{Inputs: inputs, Normalize: r.Normalize, Truncate: r.Truncate, Dimensions: r.Dimensions})
	}
	resp, err := c.Send(ctx, call, ex)
	if err != nil {
		return nil, err
	}
	part := &embedPart{tokens: computeTokens(resp.Header)}
	switch {
	case r.Sparse:
		var w [][]sparseValue
		if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
			return nil, err
		}
		if len(w) != len(inputs) {
			return nil, malformed(call, fmt.Sprintf("sparse answer has %d vectors for %d inputs", len(w), len(inputs)))
		}
		for i, vec := range w {
			sv := make([]messages.SparseValue, len(vec))
			for j, v := range vec {
				if v.Index == nil || v.Value == nil || *v.Index < 0 {
					return nil, malformed(call, fmt.Sprintf("sparse vector %d entry %d lacks a valid index or value", i, j))
				}
				sv[j] = messages.SparseValue{Index: *v.Index, Value: *v.Value}
			}
			part.sparse = append(part.sparse, sv)
		}
	case a.OpenAIEmbeddings:
		var w openAIResponse
		if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
			return nil, err
		}
		if len(w.Data) != len(inputs) {
			return nil, malformed(call, fmt.Sprintf("embeddings answer has %d vectors for %d inputs", len(w.Data), len(inputs)))
		}
		part.vectors = make([][]float32, len(inputs))
		for _, d := range w.Data {
			if d.Index < 0 || d.Index >= len(inputs) || part.vectors[d.Index] != nil || d.Embedding == nil {
				return nil, malformed(call, fmt.Sprintf("embedding index %d is out of range, repeated or without a vector", d.Index))
			}
			part.vectors[d.Index] = d.Embedding
		}
		if w.Usage != nil && resp.Header.Get("X-Compute-Tokens") == "" {
			part.tokens = w.Usage.PromptTokens
		}
	default:
		var w [][]float32
		if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
			return nil, err
		}
		if len(w) != len(inputs) {
			return nil, malformed(call, fmt.Sprintf("embed answer has %d vectors for %d inputs", len(w), len(inputs)))
		}
		for i, v := range w {
			if v == nil {
				return nil, malformed(call, fmt.Sprintf("embedding %d is null", i))
			}
		}
		part.vectors = w
	}
	call.Result.Usage.InputTokens += part.tokens
	return part, nil
}

// computeTokens reads TEI's x-compute-tokens header: the tokens the request
// consumed, 0 when absent or not a number.
func computeTokens(h http.Header) int {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get("X-Compute-Tokens")))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

func malformed(call *providers.Call, msg string) *messages.UpstreamError {
	return call.Fail(messages.ClassMalformed, call.Result.Status, msg, nil)
}
