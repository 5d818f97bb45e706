package opea

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// rerankDoc is one entry of RerankingRequest.retrieved_docs. The TEI
// reranking integration reads doc.text, so documents are sent as objects,
// not as plain strings (which it fails on with a 500).
type rerankDoc struct {
	Text string `json:"text"`
}

// rerankBody is GenAIComps' RerankingRequest. Its field is "input", not
// "initial_query": a body with initial_query parses as a SearchedDoc, which
// the microservice answers with a prompt for the LLM instead of scores.
type rerankBody struct {
	Input         string      `json:"input"`
	RetrievedDocs []rerankDoc `json:"retrieved_docs"`
	TopN          int         `json:"top_n"`
}

// rerankResponse is RerankingResponse.
type rerankResponse struct {
	RerankedDocs *[]struct {
		Text  *string  `json:"text"`
		Score *float64 `json:"score"`
	} `json:"reranked_docs"`
}

func checkRerank(r *messages.RerankRequest) error {
	ci := &r.Call
	if strings.TrimSpace(r.Query) == "" {
		return invalid(ci, "a rerank query is required")
	}
	if len(r.Documents) == 0 {
		return invalid(ci, "at least one document is required")
	}
	if r.TopN < 0 {
		return invalid(ci, "TopN %d is negative", r.TopN)
	}
	return nil
}

func doRerank(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.RerankRequest) (messages.Response, error) {
	body := rerankBody{Input: r.Query, TopN: r.TopN}
	if body.TopN == 0 {
		body.TopN = len(r.Documents)
	}
	body.RetrievedDocs = make([]rerankDoc, len(r.Documents))
	for i, d := range r.Documents {
		body.RetrievedDocs[i] = rerankDoc{Text: d}
	}
	resp, err := c.Send(ctx, call, exchange(http.MethodPost, PathReranking, body))
	if err != nil {
		return nil, err
	}
	var w rerankResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	results, err := rerankResults(r, &w)
	if err != nil {
		return nil, malformed(call, err.Error(), nil)
	}
	call.Result.Usage = messages.Usage{}
	return &messages.RerankResponse{Meta: call.Meta(), Model: r.Model, Results: results}, nil
}

type rerankError string

func (e rerankError) Error() string { return string(e) }

// rerankResults maps the reranked documents, which OPEA names by text, back
// to their index in the request: each takes the first document with that
// text not taken yet. Results are sorted by descending score (stable) and
// cut to TopN.
func rerankResults(r *messages.RerankRequest, w *rerankResponse) ([]messages.RerankResult, error) {
	if w.RerankedDocs == nil {
		return nil, rerankError("reranking answer without reranked_docs")
	}
	free := map[string][]int{}
	for i, d := range r.Documents {
		free[d] = append(free[d], i)
	}
	out := make([]messages.RerankResult, 0, len(*w.RerankedDocs))
	for n, d := range *w.RerankedDocs {
		if d.Text == nil {
			return nil, rerankError("reranked document " + itoa(n) + " has no text")
		}
		idx := free[*d.Text]
		if len(idx) == 0 {
			return nil, rerankError("reranked document " + itoa(n) + " is not one of the request's documents (or appears too often)")
		}
		free[*d.Text] = idx[1:]
		res := messages.RerankResult{Index: idx[0]}
		if d.Score != nil && !math.IsNaN(*d.Score) {
			res.Score = *d.Score
		}
		if r.ReturnDocuments {
			res.Document = *d.Text
		}
		out = append(out, res)
	}
	slices.SortStableFunc(out, func(a, b messages.RerankResult) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return 0
	})
	if r.TopN > 0 && len(out) > r.TopN {
		out = out[:r.TopN]
	}
	return out, nil
}
