package gemini

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// TaskTypes are the embedding task types the API knows.
var TaskTypes = map[string]bool{
	"TASK_TYPE_UNSPECIFIED": true, "RETRIEVAL_QUERY": true, "RETRIEVAL_DOCUMENT": true, "SEMANTIC_SIMILARITY": true,
	"CLASSIFICATION": true, "CLUSTERING": true, "QUESTION_ANSWERING": true, "FACT_VERIFICATION": true, "CODE_RETRIEVAL_QUERY": true,
}

// embedContentBody is an EmbedContentRequest, alone (embedContent) or as
// one of a batch's requests, where model is required and must be the URL's.
type embedContentBody struct {
	Model                string      `json:"model"`
	Content              wireContent `json:"content"`
	TaskType             string      `json:"taskType,omitempty"`
	OutputDimensionality int         `json:"outputDimensionality,omitempty"`
}

type batchEmbedBody struct {
	Requests []embedContentBody `json:"requests"`
}

type wireEmbedding struct {
	Values []float32 `json:"values"`
}

// embedResponse is the answer of either method: embedding for
// embedContent, embeddings (in request order) for batchEmbedContents.
type embedResponse struct {
	Embedding  *wireEmbedding   `json:"embedding"`
	Embeddings []*wireEmbedding `json:"embeddings"`
}

// embedPlan is the method and body for an EmbedRequest.
type embedPlan struct {
	resource, method string
	body             any
}

// buildEmbed checks r and chooses the method: embedContent for one input,
// batchEmbedContents for several (at most MaxBatchEmbed). TaskType is sent
// upper-cased; Dimensions becomes outputDimensionality. Sparse, Normalize
// and Truncate (TEI's options) are not served.
func buildEmbed(r *messages.EmbedRequest) (*embedPlan, error) {
	switch {
	case r.Sparse:
		return nil, requestError(r, messages.ErrUnsupported, "gemini does not serve sparse embeddings")
	case r.Normalize != nil || r.Truncate != nil:
		return nil, requestError(r, messages.ErrUnsupported, "gemini has no normalize or truncate option")
	}
	if err := providers.CheckRequest("gemini", r); err != nil {
		return nil, err
	}
	resource, err := modelResource(r, r.Model)
	if err != nil {
		return nil, err
	}
	switch {
	case len(r.Inputs) == 0:
		return nil, requestError(r, messages.ErrInvalidRequest, "at least one input is required")
	case len(r.Inputs) > MaxBatchEmbed:
		return nil, requestError(r, messages.ErrInvalidRequest, "at most %d inputs can be embedded in one request, got %d", MaxBatchEmbed, len(r.Inputs))
	case r.Dimensions < 0:
		return nil, requestError(r, messages.ErrInvalidRequest, "dimensions must not be negative")
	}
	task := strings.ToUpper(strings.TrimSpace(r.TaskType))
	if task != "" && !TaskTypes[task] {
		return nil, requestError(r, messages.ErrInvalidRequest, "unknown task type %q", r.TaskType)
	}
	reqs := make([]embedContentBody, len(r.Inputs))
	for i, in := range r.Inputs {
		if strings.TrimSpace(in) == "" {
			return nil, requestError(r, messages.ErrInvalidRequest, "inputs[%d] is empty", i)
		}
		reqs[i] = embedContentBody{Model: resource, Content: wireContent{Parts: []wirePart{{Text: in}}}, TaskType: task, OutputDimensionality: r.Dimensions}
	}
	if len(reqs) == 1 {
		return &embedPlan{resource: resource, method: MethodEmbed, body: reqs[0]}, nil
	}
	return &embedPlan{resource: resource, method: MethodBatchEmbed, body: batchEmbedBody{Requests: reqs}}, nil
}

func (ad *Adapter) embed(ctx context.Context, call *providers.Call, r *messages.EmbedRequest) (messages.Response, error) {
	plan, err := buildEmbed(r)
	if err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	resp, err := c.Send(ctx, call, exchange(nil, call, plan.resource, plan.method, plan.body, false))
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.DecodeJSON(ctx, call, resp, &raw); err != nil {
		return nil, err
	}
	vectors, err := decodeEmbeddings(raw, len(r.Inputs))
	if err != nil {
		return nil, answerError(ctx, call, err, resp.StatusCode)
	}
	// The API reports no token usage for embeddings.
	return &messages.EmbedResponse{Meta: call.Meta(), Model: r.Model, Vectors: vectors}, nil
}

// decodeEmbeddings returns exactly n vectors in input order from either
// answer form; an error body is an UpstreamError, anything else that does not
// fit ClassMalformed.
func decodeEmbeddings(raw []byte, n int) ([][]float32, error) {
	if st := parseStatus(raw); st != nil {
		return nil, streamError(raw)
	}
	var w embedResponse
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, malformed("decoding embeddings", err)
	}
	list := w.Embeddings
	if w.Embedding != nil {
		list = append([]*wireEmbedding{w.Embedding}, list...)
	}
	if len(list) != n {
		return nil, malformed(fmt.Sprintf("answer has %d embeddings for %d inputs", len(list), n), nil)
	}
	out := make([][]float32, n)
	for i, e := range list {
		if e == nil || e.Values == nil {
			return nil, malformed(fmt.Sprintf("embedding %d has no values", i), nil)
		}
		out[i] = e.Values
	}
	return out, nil
}
