package vertex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/gemini"
)

// MaxEmbedInputs is the most inputs one EmbedRequest may carry: the most
// instances a text embedding model's predict takes.
const MaxEmbedInputs = 250

// Embeddings on Vertex AI take one of two forms, chosen by the model as
// go-genai chooses (models.go EmbedContent, transformer.go
// tIsVertexEmbedContentModel):
//
//   - predict, for the text embedding models (text-embedding-005,
//     text-multilingual-embedding-002, gemini-embedding-001):
//     {"instances": [{"content": text, "task_type": …}], "parameters":
//     {"outputDimensionality": n, "autoTruncate": b}}, answered
//     {"predictions": [{"embeddings": {"values": […], "statistics":
//     {"token_count": n, "truncated": b}}}]};
//   - embedContent, for the other Gemini embedding models and MaaS models:
//     {"content": {"role": "user", "parts": [{"text": …}]},
//     "embedContentConfig": {"taskType": …, "outputDimensionality": n,
//     "autoTruncate": b}}, answered {"embedding": {"values": […]},
//     "usageMetadata": {"promptTokenCount": n}}.
//
// embedContent takes one content per request, and gemini-embedding-001 one
// instance per predict, so for those models the adapter sends one request
// per input, in order, within the attempt; the text embedding models take
// all inputs in one predict.

type (
	predictInstance struct {
		Content  string `json:"content"`
		TaskType string `json:"task_type,omitempty"`
	}
	predictParams struct {
		OutputDimensionality int   `json:"outputDimensionality,omitempty"`
		AutoTruncate         *bool `json:"autoTruncate,omitempty"`
	}
	predictBody struct {
		Instances  []predictInstance `json:"instances"`
		Parameters *predictParams    `json:"parameters,omitempty"`
	}
	embedPart struct {
		Text string `json:"text"`
	}
	embedContent struct {
		Role  string      `json:"role"`
		Parts []embedPart `json:"parts"`
	}
	embedConfig struct {
		TaskType             string `json:"taskType,omitempty"`
		OutputDimensionality int    `json:"outputDimensionality,omitempty"`
		AutoTruncate         *bool  `json:"autoTruncate,omitempty"`
	}
	embedContentBody struct {
		Content embedContent `json:"content"`
		Config  *embedConfig `json:"embedContentConfig,omitempty"`
	}
)

// embedPlan is the requests serving an EmbedRequest: their bodies, in
// input order, each embedding per[i] inputs.
type embedPlan struct {
	resource, method string
	bodies           []any
	per              []int
}

// isEmbedContentModel reports the models go-genai embeds with
// :embedContent on Vertex AI: Gemini embedding models other than
// gemini-embedding-001, and MaaS models.
func isEmbedContentModel(id string) bool {
	return strings.Contains(id, "gemini") && id != "gemini-embedding-001" || strings.Contains(id, "maas")
}

// oneInstanceModels take a single predict instance per request.
var oneInstanceModels = map[string]bool{"gemini-embedding-001": true}

// buildEmbed checks r and plans its requests. TaskType is sent upper-cased
// (TASK_TYPE_UNSPECIFIED as none), Dimensions as outputDimensionality,
// Truncate as autoTruncate.
func buildEmbed(r *messages.EmbedRequest) (*embedPlan, error) {
	switch {
	case r.Sparse:
		return nil, providers.RequestError(messages.ErrUnsupported, r.CallInfo(), Kind, Kind+" does not serve sparse embeddings")
	case r.Normalize != nil:
		return nil, providers.RequestError(messages.ErrUnsupported, r.CallInfo(), Kind, Kind+" has no normalize option")
	}
	if err := providers.CheckRequest(Kind, r); err != nil {
		return nil, err
	}
	invalid := func(format string, args ...any) error {
		return providers.RequestError(messages.ErrInvalidRequest, r.CallInfo(), Kind, fmt.Sprintf(format, args...))
	}
	resource, err := modelResource(strings.TrimSpace(r.Model))
	if err != nil {
		return nil, invalid("%s", err.Error())
	}
	switch {
	case len(r.Inputs) == 0:
		return nil, invalid("at least one input is required")
	case len(r.Inputs) > MaxEmbedInputs:
		return nil, invalid("at most %d inputs can be embedded in one request, got %d", MaxEmbedInputs, len(r.Inputs))
	case r.Dimensions < 0:
		return nil, invalid("dimensions must not be negative")
	}
	task := strings.ToUpper(strings.TrimSpace(r.TaskType))
	if task != "" && !gemini.TaskTypes[task] {
		return nil, invalid("unknown task type %q", r.TaskType)
	}
	if task == "TASK_TYPE_UNSPECIFIED" {
		task = ""
	}
	for i, in := range r.Inputs {
		if strings.TrimSpace(in) == "" {
			return nil, invalid("inputs[%d] is empty", i)
		}
	}
	id := strings.TrimPrefix(resource, PublisherModels)
	plan := &embedPlan{resource: resource, method: MethodPredict}
	if isEmbedContentModel(id) {
		plan.method = MethodEmbed
		var cfg *embedConfig
		if task != "" || r.Dimensions > 0 || r.Truncate != nil {
			cfg = &embedConfig{TaskType: task, OutputDimensionality: r.Dimensions, AutoTruncate: r.Truncate}
		}
		for _, in := range r.Inputs {
			plan.bodies = append(plan.bodies, embedContentBody{Content: embedContent{Role: "user", Parts: []embedPart{{Text: in}}}, Config: cfg})
			plan.per = append(plan.per, 1)
		}
		return plan, nil
	}
	var params *predictParams
	if r.Dimensions > 0 || r.Truncate != nil {
		params = &predictParams{OutputDimensionality: r.Dimensions, AutoTruncate: r.Truncate}
	}
	batch := len(r.Inputs)
	if oneInstanceModels[id] {
		batch = 1
	}
	for start := 0; start < len(r.Inputs); start += batch {
		end := min(start+batch, len(r.Inputs))
		body := predictBody{Parameters: params}
		for _, in := range r.Inputs[start:end] {
			body.Instances = append(body.Instances, predictInstance{Content: in, TaskType: task})
		}
		plan.bodies = append(plan.bodies, body)
		plan.per = append(plan.per, end-start)
	}
	return plan, nil
}

func (*Adapter) embed(ctx context.Context, call *providers.Call, r *messages.EmbedRequest) (messages.Response, error) {
	plan, err := buildEmbed(r)
	if err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	out := &messages.EmbedResponse{Model: r.Model, Vectors: make([][]float32, 0, len(r.Inputs))}
	for i, body := range plan.bodies {
		resp, err := c.Send(ctx, call, embedExchange(call, plan.resource, plan.method, body))
		if err != nil {
			return nil, err
		}
		var raw json.RawMessage
		if err := c.DecodeJSON(ctx, call, resp, &raw); err != nil {
			return nil, err
		}
		vectors, tokens, err := decodeEmbeddings(plan.method, raw, plan.per[i])
		if err != nil {
			return nil, withIdentity(call, err, resp.StatusCode)
		}
		out.Vectors = append(out.Vectors, vectors...)
		out.Usage.InputTokens += tokens
		call.Result.Usage = out.Usage
	}
	out.Meta = call.Meta()
	return out, nil
}

// embedExchange describes a POST of body to the model's method, with a
// fixed secret as a bearer token and google.rpc error decoding.
func embedExchange(call *providers.Call, resource, method string, body any) *providers.Exchange {
	return &providers.Exchange{
		Method: http.MethodPost,
		Path:   methodPath(resource, method),
		Body:   body,
		Auth:   providers.BearerAuth,
		DecodeError: func(status int, h http.Header, b []byte, e *messages.UpstreamError) {
			gemini.DecodeError(status, h, b, e)
			if s := call.Key.Secret(); len(s) >= 8 {
				e.Message = strings.ReplaceAll(e.Message, s, "[redacted]")
			}
		},
	}
}

// withIdentity gives a decoding failure the call's identity.
func withIdentity(call *providers.Call, err error, status int) error {
	var ue *messages.UpstreamError
	if !errors.As(err, &ue) {
		return call.Fail(messages.ClassMalformed, status, "decoding embeddings", err)
	}
	out := call.Fail(ue.Class, status, ue.Message, ue.Cause)
	out.Type, out.Code, out.RetryAfter = ue.Type, ue.Code, ue.RetryAfter
	return out
}

// Answer wire types.
type (
	predictResponse struct {
		Predictions []*struct {
			Embeddings *struct {
				Values     []float32 `json:"values"`
				Statistics struct {
					TokenCount float64 `json:"token_count"`
				} `json:"statistics"`
			} `json:"embeddings"`
		} `json:"predictions"`
	}
	embedContentResponse struct {
		Embedding *struct {
			Values []float32 `json:"values"`
		} `json:"embedding"`
		UsageMetadata struct {
			PromptTokenCount float64 `json:"promptTokenCount"`
		} `json:"usageMetadata"`
	}
)

// maxTokenCount bounds a token count read from an answer.
const maxTokenCount = 1 << 40

// tokenCount converts a count from an answer: negative or absurd values are
// not counts.
func tokenCount(f float64) int {
	if !(f > 0) {
		return 0
	}
	return int(min(f, maxTokenCount))
}

// decodeEmbeddings decodes the answer of method (predict or embedContent)
// to a request of n inputs: exactly n vectors, in input order, and the
// tokens counted. Errors are *messages.UpstreamError without the call's
// identity: a google.rpc error object is classified by its status (default
// ClassServer), anything else that does not fit is ClassMalformed.
func decodeEmbeddings(method string, raw []byte, n int) ([][]float32, int, error) {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(raw, &env) == nil && len(bytes.TrimSpace(env.Error)) > 0 && string(bytes.TrimSpace(env.Error)) != "null" {
		e := &messages.UpstreamError{Class: messages.ClassServer}
		gemini.DecodeError(0, nil, raw, e)
		if e.Message == "" {
			e.Message = "error object in a 200 answer"
		}
		return nil, 0, e
	}
	malformed := func(msg string, cause error) *messages.UpstreamError {
		return &messages.UpstreamError{Class: messages.ClassMalformed, Message: msg, Cause: cause}
	}
	if method == MethodEmbed {
		var w embedContentResponse
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, 0, malformed("decoding embedContent answer", err)
		}
		if w.Embedding == nil || w.Embedding.Values == nil || n != 1 {
			return nil, 0, malformed("embedContent answer has no embedding.values", nil)
		}
		return [][]float32{w.Embedding.Values}, tokenCount(w.UsageMetadata.PromptTokenCount), nil
	}
	var w predictResponse
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, 0, malformed("decoding predict answer", err)
	}
	if len(w.Predictions) != n {
		return nil, 0, malformed(fmt.Sprintf("predict answer has %d predictions for %d inputs", len(w.Predictions), n), nil)
	}
	out := make([][]float32, n)
	tokens := 0
	for i, p := range w.Predictions {
		if p == nil || p.Embeddings == nil || p.Embeddings.Values == nil {
			return nil, 0, malformed(fmt.Sprintf("prediction %d has no embeddings.values", i), nil)
		}
		out[i] = p.Embeddings.Values
		tokens += tokenCount(p.Embeddings.Statistics.TokenCount)
	}
	return out, tokens, nil
}
