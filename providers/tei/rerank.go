package tei

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// rerankBody is the body of POST /rerank. raw_scores is left at TEI's
// default (false), so scores are the reranker's sigmoid-normalised
// relevance in [0, 1].
type rerankBody struct {
	Query      string   `json:"query"`
	Texts      []string `json:"texts"`
	ReturnText bool     `json:"return_text"`
}

type rank struct {
	Index *int     `json:"index"`
	Score *float64 `json:"score"`
	Text  *string  `json:"text"`
}

type rerankPart struct {
	results []messages.RerankResult
	tokens  int
}

// doRerank scores every document, splitting the texts into smaller requests
// when the server refuses them as too many, and returns the results ordered
// by descending score (ties by document order), cut to TopN when it is set.
// Document holds each result's text when ReturnDocuments is set: the
// server's, or the request's own when the server sent none.
func doRerank(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.RerankRequest) (messages.Response, error) {
	call.Result.Usage = messages.Usage{}
	part, err := split(ctx, call, 0, len(r.Documents), func(lo, hi int) (*rerankPart, error) {
		return rerankOnce(ctx, c, call, r, r.Documents[lo:hi], lo)
	}, func(dst, src *rerankPart) {
		dst.results = append(dst.results, src.results...)
		dst.tokens += src.tokens
	})
	if err != nil {
		return nil, err
	}
	results := part.results
	sort.SliceStable(results, func(i, j int) bool {
		if results[i].Score != results[j].Score {
			return results[i].Score > results[j].Score
		}
		return results[i].Index < results[j].Index
	})
	if r.TopN > 0 && r.TopN < len(results) {
		results = results[:r.TopN]
	}
	out := &messages.RerankResponse{Meta: call.Meta(), Model: r.Model, Results: results}
	out.Usage.InputTokens = part.tokens
	call.Result.Usage = out.Usage
	return out, nil
}

func rerankOnce(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.RerankRequest, texts []string, offset int) (*rerankPart, error) {
	resp, err := c.Send(ctx, call, exchange(PathRerank, rerankBody{Query: r.Query, Texts: texts, ReturnText: r.ReturnDocuments}))
	if err != nil {
		return nil, err
	}
	part := &rerankPart{tokens: computeTokens(resp.Header)}
	var w []rank
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if len(w) != len(texts) {
		return nil, malformed(call, fmt.Sprintf("rerank answer has %d results for %d texts", len(w), len(texts)))
	}
	seen := make([]bool, len(texts))
	for _, rk := range w {
		if rk.Index == nil || *rk.Index < 0 || *rk.Index >= len(texts) || seen[*rk.Index] {
			return nil, malformed(call, "rerank result with a missing, out of range or repeated index")
		}
		if rk.Score == nil || math.IsNaN(*rk.Score) {
			return nil, malformed(call, fmt.Sprintf("rerank result %d has no score", *rk.Index))
		}
		seen[*rk.Index] = true
		res := messages.RerankResult{Index: offset + *rk.Index, Score: *rk.Score}
		if r.ReturnDocuments {
			res.Document = texts[*rk.Index]
			if rk.Text != nil {
				res.Document = *rk.Text
			}
		}
		part.results = append(part.results, res)
	}
	call.Result.Usage.InputTokens += part.tokens
	return part, nil
}
