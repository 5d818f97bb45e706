// Package tei is Switchyard's adapter for Hugging Face Text Embeddings
// Inference (TEI, the text-embeddings-router): dense embeddings (POST /embed,
// or the OpenAI-compatible POST /v1/embeddings), sparse embeddings (POST
// /embed_sparse), reranking (POST /rerank), and the server's /info and
// /health.
//
// The endpoint's base URL is the server root as users configure it, e.g.
// "http://localhost:8080" for the Docker image mapped with -p 8080:80 (the
// native router listens on 3000), or a Hugging Face Inference Endpoint URL;
// the adapter appends the paths. TEI runs without authentication unless
// started with --api-key; then, as on Inference Endpoints, the key goes in
// "Authorization: Bearer …". An empty key sends no Authorization header.
//
// Errors come as {"error","error_type"} with PascalCase types ("Validation",
// "Tokenizer", "Backend", "Overloaded", "Unhealthy", "Empty"); DecodeError
// classifies them. A batch the server refuses as too large (413, "batch size
// N > maximum allowed batch size M", or the router's payload limit) is split
// inside the same Do and the parts' results are merged in input order.
//
// The adapter is plain Go: it builds request bodies, decodes answers and
// classifies errors. It keeps no state and is safe for concurrent use.
// Nothing Switchyard-specific ever goes into a request body; the request ID
// travels only as the X-Request-ID header that providers.Client sets.
package tei

import (
	"context"
	"fmt"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Kind is the adapter's kind string.
const Kind = "hf_tei"

// Paths appended to the endpoint's base URL.
const (
	PathEmbed            = "/embed"
	PathEmbedSparse      = "/embed_sparse"
	PathRerank           = "/rerank"
	PathOpenAIEmbeddings = "/v1/embeddings"
	PathInfo             = "/info"
	PathHealth           = "/health"
)

// Adapter implements providers.Adapter for TEI. It holds no mutable state:
// the zero value is ready to use and it is safe for concurrent use.
type Adapter struct {
	// OpenAIEmbeddings sends dense embedding requests to the
	// OpenAI-compatible /v1/embeddings instead of /embed. That route always
	// normalises and truncates as the server's --auto-truncate says, so a
	// request that sets Normalize to false or sets Truncate is refused by
	// Check. Sparse requests always go to /embed_sparse.
	OpenAIEmbeddings bool
	// MaxClientBatchSize is the server's --max-client-batch-size: the most
	// inputs (or rerank texts) one request may carry, which BatchLimits
	// reports. Zero means TEI's default, DefaultMaxClientBatchSize (32).
	MaxClientBatchSize int
}

// New returns the TEI adapter, which sends dense embeddings to /embed.
func New() *Adapter { return &Adapter{} }

// NewOpenAICompatible returns a TEI adapter that sends dense embeddings to
// /v1/embeddings.
func NewOpenAICompatible() *Adapter { return &Adapter{OpenAIEmbeddings: true} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns "hf_tei".
func (*Adapter) Kind() string { return Kind }

// Check reports whether the adapter can serve req. EmbedRequest, RerankRequest
// and InfoRequest (What "info", "" or "version": GET /info; "health": GET
// /health) are served; anything else is messages.ErrUnsupported, as is a
// Gemini TaskType. It returns messages.ErrInvalidRequest for requests TEI
// would reject: no inputs, an empty input, negative Dimensions, Dimensions or
// Normalize on a sparse request, Normalize false or Truncate on the
// OpenAI-compatible route; a rerank without query or documents, or with a
// negative TopN. Model is optional (TEI serves one model).
func (a *Adapter) Check(req messages.Request) error {
	if err := a.check(req); err != nil {
		return err
	}
	// The checks every adapter shares: valid UTF-8, finite sampling
	// parameters, an Extra that encodes.
	return providers.CheckRequest(Kind, req)
}

func (a *Adapter) check(req messages.Request) error {
	switch r := req.(type) {
	case *messages.EmbedRequest:
		if r == nil {
			return invalid(nil, "nil embed request")
		}
		return a.checkEmbed(r)
	case *messages.RerankRequest:
		if r == nil {
			return invalid(nil, "nil rerank request")
		}
		return checkRerank(r)
	case *messages.InfoRequest:
		if r == nil {
			return invalid(nil, "nil info request")
		}
		switch r.What {
		case "", "info", "version", "health":
			return nil
		}
		return unsupported(&r.Call, fmt.Sprintf("hf_tei answers InfoRequest What \"info\", \"version\" and \"health\", not %q", r.What))
	}
	return providers.UnsupportedOperation(Kind, req)
}

// Do performs one attempt of call. It fills call.Result (status, upstream
// request ID, usage) and returns the response or a *messages.UpstreamError.
// It re-runs Check first, so a request that never went through Check still
// fails cleanly, as ClassInvalid. A batch split after a 413 is still one
// attempt: the parts are sent one after the other, and the first part that
// fails for another reason fails the call.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	if err := a.Check(call.Request); err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	switch r := call.Request.(type) {
	case *messages.EmbedRequest:
		return a.doEmbed(ctx, c, call, r)
	case *messages.RerankRequest:
		return doRerank(ctx, c, call, r)
	case *messages.InfoRequest:
		return doInfo(ctx, c, call, r)
	}
	return nil, call.Fail(messages.ClassInvalid, 0, "unsupported request", messages.ErrUnsupported)
}

// exchange describes a POST of body to path (a GET when body is nil) with
// bearer auth and TEI's error decoder.
func exchange(path string, body any) *providers.Exchange {
	return providers.BearerExchange(path, body, "", DecodeError)
}

// ---- validation ----

func invalid(ci *messages.Call, format string, args ...any) error {
	return providers.RequestError(messages.ErrInvalidRequest, ci, Kind, Kind+": "+fmt.Sprintf(format, args...))
}

func unsupported(ci *messages.Call, detail string) error {
	return providers.RequestError(messages.ErrUnsupported, ci, Kind, detail)
}

func (a *Adapter) checkEmbed(r *messages.EmbedRequest) error {
	ci := &r.Call
	if r.TaskType != "" {
		return unsupported(ci, "hf_tei has no embedding task types (TaskType is Gemini's)")
	}
	if len(r.Inputs) == 0 {
		return invalid(ci, "at least one input is required")
	}
	for i, in := range r.Inputs {
		if in == "" {
			return invalid(ci, "input %d is empty (TEI rejects empty inputs)", i)
		}
	}
	if r.Dimensions < 0 {
		return invalid(ci, "Dimensions %d is negative", r.Dimensions)
	}
	if r.Sparse {
		if r.Dimensions > 0 {
			return invalid(ci, "Dimensions does not apply to sparse embeddings")
		}
		if r.Normalize != nil {
			return invalid(ci, "Normalize does not apply to sparse embeddings")
		}
		return nil
	}
	if a.OpenAIEmbeddings {
		if r.Normalize != nil && !*r.Normalize {
			return invalid(ci, "/v1/embeddings always normalises; use the /embed route for raw vectors")
		}
		if r.Truncate != nil {
			return invalid(ci, "/v1/embeddings truncates as the server's --auto-truncate says; use the /embed route to choose")
		}
	}
	return nil
}

func checkRerank(r *messages.RerankRequest) error {
	ci := &r.Call
	if r.Query == "" {
		return invalid(ci, "a query is required")
	}
	if len(r.Documents) == 0 {
		return invalid(ci, "at least one document is required")
	}
	if r.TopN < 0 {
		return invalid(ci, "TopN %d is negative", r.TopN)
	}
	return nil
}
