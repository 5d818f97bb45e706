// Package ovms is Switchyard's adapter for OpenVINO Model Server: the KServe
// v2 (Open Inference Protocol) REST API — inference on typed tensors (POST
// /v2/models/{m}[/versions/{v}]/infer), server liveness and readiness, model
// readiness and metadata — and OVMS's OpenAI-compatible generative API under
// /v3: chat completions (plain and streamed, tools, images), completions
// (GenerateRequest), embeddings and the model list, spoken by the shared
// OpenAI machinery (openai.NewDialect, see V3), plus the Cohere-style
// /v3/rerank.
//
// The endpoint's base URL is the server root with its REST port, e.g.
// "http://localhost:8000" (OVMS has no default port; its docs use
// --rest_port 8000); the adapter appends "/v2/..." and "/v3/...". A base
// URL that already ends in "/v3" reaches the same routes: /v3 is not added
// twice, and the KServe /v2 routes go to the server root beside it. OVMS
// checks a key only on /v3 (--api_key_file or API_KEY); the key, by default
// from OVMS_API_KEY, is optional and goes in "Authorization: Bearer …" on
// every request when set (the /v2 routes ignore it, a proxy may not).
//
// Tensors follow messages.Tensor: Data is a flat, row-major slice whose Go
// type the datatype prescribes ([]float32 for FP32 and FP16, []int64 for
// INT64, UINT32 and UINT64, []int32 for the smaller integers, []float64 for
// FP64, []bool for BOOL, []string for BYTES). Check refuses a tensor whose
// data does not hold exactly the product of its shape, or whose values the
// datatype cannot carry; an answer whose outputs do not is ClassMalformed.
// Answers in the binary data extension (Inference-Header-Content-Length) are
// decoded too.
//
// KServe errors are {"error": "…"}: 400 (validation), 404 (model or version
// missing) and 412 are ClassInvalid, 503 (not ready, not loaded yet) and 500
// ClassServer, so retried. OVMS has no 429.
//
// The adapter keeps no mutable state and is safe for concurrent use.
package ovms

import (
	"context"
	"fmt"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// EnvKey is the environment variable an OVMS key is read from by default.
const EnvKey = "OVMS_API_KEY"

// Adapter implements providers.Adapter for OpenVINO Model Server. The zero
// value is not usable; New returns one. It is safe for concurrent use.
type Adapter struct {
	v3 *openai.Adapter
}

// New returns the OVMS adapter.
func New() *Adapter { return &Adapter{v3: V3()} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns "ovms".
func (*Adapter) Kind() string { return "ovms" }

// Check reports whether the adapter can serve req, before anything is
// queued. Chat, generate, embed and models requests are checked by the /v3
// dialect (V3) with OVMS's limits; infer, rerank and info requests here.
// Errors match messages.ErrUnsupported for what OVMS does not offer
// (Responses API, count tokens, tokenize; embedding dimensions, sparse
// vectors, task types, Normalize and Truncate; InfoRequest.What "show") and
// messages.ErrInvalidRequest for requests it would reject (see CheckTensor
// for tensors; a rerank without model, query or documents), then
// providers.CheckRequest (text that is not UTF-8, parameters that cannot be
// encoded; the /v3 dialect runs it too).
func (a *Adapter) Check(req messages.Request) error {
	var err error
	switch r := req.(type) {
	case *messages.InferRequest:
		if r == nil {
			return invalid(nil, "nil infer request")
		}
		err = checkInfer(r)
	case *messages.RerankRequest:
		if r == nil {
			return invalid(nil, "nil rerank request")
		}
		err = checkRerank(r)
	case *messages.InfoRequest:
		if r == nil {
			return invalid(nil, "nil info request")
		}
		err = checkInfo(r)
	case *messages.ResponsesRequest:
		// OVMS has a /v3/responses, but it is outside this adapter.
		if r == nil {
			return invalid(nil, "nil responses request")
		}
		return unsupported(&r.Call, "the Responses API is not supported for ovms")
	case nil:
		return &messages.RequestError{Kind: messages.ErrUnsupported, Provider: "ovms", Detail: "nil request"}
	default:
		return a.dialect().Check(req)
	}
	if err != nil {
		return err
	}
	return providers.CheckRequest("ovms", req)
}

func (a *Adapter) dialect() *openai.Adapter {
	if a == nil || a.v3 == nil {
		return V3()
	}
	return a.v3
}

// Do performs one attempt of call. It fills call.Result (status, upstream
// request ID, usage) and returns the response or a *messages.UpstreamError.
// It re-runs Check first, so a request that never went through Check still
// fails cleanly, as ClassInvalid.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	if err := a.Check(call.Request); err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	switch r := call.Request.(type) {
	case *messages.InferRequest:
		return doInfer(ctx, c, call, r)
	case *messages.RerankRequest:
		return doRerank(ctx, c, call, r)
	case *messages.InfoRequest:
		return doInfo(ctx, c, call, r)
	}
	return a.dialect().Do(ctx, call)
}

// ---- validation ----

func requestError(kind error, ci *messages.Call, format string, args ...any) error {
	return providers.RequestError(kind, ci, "ovms", "ovms: "+fmt.Sprintf(format, args...))
}

func invalid(ci *messages.Call, format string, args ...any) error {
	return requestError(messages.ErrInvalidRequest, ci, format, args...)
}

func unsupported(ci *messages.Call, format string, args ...any) error {
	return requestError(messages.ErrUnsupported, ci, format, args...)
}

func malformed(call *providers.Call, msg string, err error) *messages.UpstreamError {
	return call.Fail(messages.ClassMalformed, call.Result.Status, msg, err)
}
