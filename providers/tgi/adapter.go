// Package tgi is Switchyard's adapter for Hugging Face Text Generation
// Inference (TGI, the text-generation-router): plain-prompt generation (POST
// /generate, streamed with POST /generate_stream), OpenAI-compatible chat
// (POST /v1/chat/completions, plain and streamed, tools, TGI grammars), the
// model list (GET /v1/models), and the server's /info and /health.
//
// The endpoint's base URL is the server root as users configure it, e.g.
// "http://localhost:8080" for the Docker image mapped with -p 8080:80 (the
// native launcher listens on 3000), or a Hugging Face Inference Endpoint URL,
// which serves the same API; the adapter appends the paths. TGI runs without
// authentication unless started with --api-key; then, as on Inference
// Endpoints, the key goes in "Authorization: Bearer …". An empty key sends no
// Authorization header.
//
// Errors come as {"error","error_type"}; DecodeError classifies them:
// validation (422) is not retried, overloaded (429) is rate limited, a
// generation failure (424) counts against the endpoint but is not retried. On
// /generate_stream the router reports even validation and overload errors as
// an SSE event after a 200; DecodeGenerateStream classifies those the same
// way.
//
// Chat goes through the OpenAI adapter's machinery (openai.NewDialect) with
// TGI's differences: max_tokens, the tool schema under "arguments", content
// left out of an assistant turn that calls tools, top_p 1 left out (TGI
// accepts only (0, 1)), and TGI's finish reasons ("eos_token",
// "stop_sequence") normalised.
//
// The adapter is plain Go: it builds request bodies, decodes answers and
// streams, and classifies errors. It keeps no state and is safe for
// concurrent use. Nothing Switchyard-specific ever goes into a request body;
// the request ID travels only as the X-Request-ID header that
// providers.Client sets.
package tgi

import (
	"context"
	"fmt"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Kind is the adapter's kind string.
const Kind = "hf_tgi"

// Paths appended to the endpoint's base URL.
const (
	PathGenerate       = "/generate"
	PathGenerateStream = "/generate_stream"
	PathChat           = "/v1/chat/completions"
	PathModels         = "/v1/models"
	PathInfo           = "/info"
	PathHealth         = "/health"
)

// Limits TGI enforces by default, checked before a request is queued.
const (
	// MaxStopSequences is the router's default --max-stop-sequences.
	MaxStopSequences = 4
)

// Adapter implements providers.Adapter for TGI. It holds no mutable state:
// the zero value is ready to use and it is safe for concurrent use.
type Adapter struct{}

// New returns the TGI adapter.
func New() *Adapter { return &Adapter{} }

var _ providers.Adapter = (*Adapter)(nil)

// Kind returns "hf_tgi".
func (*Adapter) Kind() string { return Kind }

// Check reports whether the adapter can serve req: GenerateRequest,
// ChatRequest, ModelsRequest and InfoRequest (What "info", "" or "version":
// GET /info; "health": GET /health). Anything else is messages.ErrUnsupported.
// It returns messages.ErrInvalidRequest for requests TGI would reject: an
// empty prompt, a negative MaxTokens or temperature, a top_p outside (0, 1],
// more than MaxStopSequences stop sequences, an Extra that is not JSON; for
// chat, what the OpenAI adapter refuses plus a "developer" role (TGI's chat
// templates know system, user, assistant and tool). Model is optional for
// chat (TGI serves one model; an empty Model is sent as "tgi").
func (a *Adapter) Check(req messages.Request) error {
	switch r := req.(type) {
	case *messages.GenerateRequest:
		if r == nil {
			return invalid(nil, "nil generate request")
		}
		if err := checkGenerate(r); err != nil {
			return err
		}
		return providers.CheckRequest(Kind, r) // chat's goes through the OpenAI layer's Check
	case *messages.ChatRequest:
		if r == nil {
			return invalid(nil, "nil chat request")
		}
		return chatAdapter.Check(chatCopy(r))
	case *messages.ModelsRequest:
		if r == nil {
			return invalid(nil, "nil models request")
		}
		return nil
	case *messages.InfoRequest:
		if r == nil {
			return invalid(nil, "nil info request")
		}
		switch r.What {
		case "", "info", "version", "health":
			return nil
		}
		return unsupported(&r.Call, fmt.Sprintf("hf_tgi answers InfoRequest What \"info\", \"version\" and \"health\", not %q", r.What))
	}
	return providers.UnsupportedOperation(Kind, req)
}

// Do performs one attempt of call. It fills call.Result (status, upstream
// request ID, usage, chunks sent) and returns the response or a
// *messages.UpstreamError. It re-runs Check first, so a request that never
// went through Check still fails cleanly, as ClassInvalid.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	if err := a.Check(call.Request); err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	switch r := call.Request.(type) {
	case *messages.GenerateRequest:
		return doGenerate(ctx, c, call, r)
	case *messages.ChatRequest:
		return doChat(ctx, call, r)
	case *messages.ModelsRequest:
		return chatAdapter.Do(ctx, call)
	case *messages.InfoRequest:
		return doInfo(ctx, c, call, r)
	}
	return nil, call.Fail(messages.ClassInvalid, 0, "unsupported request", messages.ErrUnsupported)
}

// exchange describes a POST of body to path (a GET when body is nil) with
// bearer auth and TGI's error decoder.
func exchange(path string, body any, stream bool) *providers.Exchange {
	accept := ""
	if stream {
		accept = "text/event-stream"
	}
	return providers.BearerExchange(path, body, accept, DecodeError)
}

// ---- validation ----

func invalid(ci *messages.Call, format string, args ...any) error {
	return providers.RequestError(messages.ErrInvalidRequest, ci, Kind, Kind+": "+fmt.Sprintf(format, args...))
}

func unsupported(ci *messages.Call, detail string) error {
	return providers.RequestError(messages.ErrUnsupported, ci, Kind, detail)
}
