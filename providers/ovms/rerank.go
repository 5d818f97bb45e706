package ovms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// PathRerank is OVMS's Cohere-style rerank route.
const PathRerank = "/v3/rerank"

type rerankBody struct {
	Model           string   `json:"model"`
	Query           string   `json:"query"`
	Documents       []string `json:"documents"`
	TopN            int      `json:"top_n,omitempty"`
	ReturnDocuments bool     `json:"return_documents,omitempty"`
}

type rerankResponse struct {
	Results *[]struct {
		Index          *int            `json:"index"`
		RelevanceScore *float64        `json:"relevance_score"`
		Document       json.RawMessage `json:"document"`
	} `json:"results"`
}

func checkRerank(r *messages.RerankRequest) error {
	ci := &r.Call
	switch {
	case r.Model == "":
		return invalid(ci, "model is required")
	case r.Query == "":
		return invalid(ci, "query is required")
	case len(r.Documents) == 0:
		return invalid(ci, "at least one document is required")
	case r.TopN < 0:
		return invalid(ci, "TopN %d is negative", r.TopN)
	}
	return nil
}

// doRerank posts {model, query, documents, top_n, return_documents} to
// /v3/rerank and reads {"results": [{index, relevance_score, document}]}.
// Results come back ordered by descending score (ties by index); a document
// is a string or Cohere's {"text": …}.
func doRerank(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.RerankRequest) (messages.Response, error) {
	body := rerankBody{Model: r.Model, Query: r.Query, Documents: r.Documents, TopN: r.TopN, ReturnDocuments: r.ReturnDocuments}
	ex := &providers.Exchange{Method: http.MethodPost, Path: v3Path(call.BaseURL, PathRerank), Body: body, Auth: providers.BearerAuth, DecodeError: DecodeError}
	resp, err := c.Send(ctx, call, ex)
	if err != nil {
		return nil, err
	}
	var w rerankResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	results, err := rerankResults(&w, len(r.Documents))
	if err != nil {
		return nil, malformed(call, err.Error(), nil)
	}
	return &messages.RerankResponse{Meta: call.Meta(), Model: r.Model, Results: results}, nil
}

func rerankResults(w *rerankResponse, docs int) ([]messages.RerankResult, error) {
	if w.Results == nil {
		return nil, fmt.Errorf("rerank answer without results")
	}
	seen := map[int]bool{}
	out := make([]messages.RerankResult, 0, len(*w.Results))
	for _, res := range *w.Results {
		if res.Index == nil || res.RelevanceScore == nil {
			return nil, fmt.Errorf("rerank result without index or relevance_score")
		}
		i := *res.Index
		if i < 0 || i >= docs || seen[i] {
			return nil, fmt.Errorf("rerank result index %d is out of range or repeated", i)
		}
		if math.IsNaN(*res.RelevanceScore) {
			return nil, fmt.Errorf("rerank result %d has no score", i)
		}
		seen[i] = true
		rr := messages.RerankResult{Index: i, Score: *res.RelevanceScore}
		if doc := bytes.TrimSpace(res.Document); len(doc) > 0 && string(doc) != "null" {
			var s string
			var obj struct {
				Text string `json:"text"`
			}
			switch {
			case json.Unmarshal(doc, &s) == nil:
				rr.Document = s
			case json.Unmarshal(doc, &obj) == nil:
				rr.Document = obj.Text
			default:
				return nil, fmt.Errorf("rerank result %d: document is neither a string nor {\"text\"}", i)
			}
		}
		out = append(out, rr)
	}
	sort.SliceStable(out, func(a, b int) bool {
		if out[a].Score != out[b].Score {
			return out[a].Score > out[b].Score
		}
		return out[a].Index < out[b].Index
	})
	return out, nil
}

// v3Path returns p (which starts with "/v3") relative to baseURL, which is
// the server root or, as for the /v3 dialect, may already end in "/v3".
func v3Path(baseURL, p string) string {
	if strings.HasSuffix(strings.TrimRight(baseURL, "/"), "/v3") {
		return strings.TrimPrefix(p, "/v3")
	}
	return p
}
