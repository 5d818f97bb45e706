// Package llvm is Switchyard's adapter for a local optimized inference
// server speaking the vLLM / llama.cpp-server OpenAI-compatible API.
//
// Why "llvm": it is the name the project's seed gave this backend ("a local
// optimized inference server"), and the seed's later code calls the same
// thing vLLM. The name is kept so configurations written against the seed
// keep working. It has nothing to do with the LLVM compiler infrastructure.
//
// Operations and routes, relative to the endpoint's base URL, which is the
// server root as started, e.g. "http://localhost:8000" for `vllm serve` or
// "http://localhost:8080" for llama.cpp's `llama-server` (a base URL ending
// in "/v1" is accepted too):
//
//	ChatRequest     → POST /v1/chat/completions (plain and SSE stream, tools, images)
//	GenerateRequest → POST /v1/completions (plain and SSE stream)
//	EmbedRequest    → POST /v1/embeddings
//	ModelsRequest   → GET  /v1/models (max_model_len becomes ContextWindow)
//	TokenizeRequest → POST /tokenize, or POST /detokenize when Detokenize is set
//	InfoRequest     → GET  /health (What "health") or GET /version (What "version")
//
// The /v1 routes are the openai package's machinery in this dialect
// (openai.NewDialect); nothing is copied. Streams ask for usage with
// stream_options.include_usage, which both servers honour.
//
// Authentication is optional: a server started with --api-key (or
// VLLM_API_KEY) wants "Authorization: Bearer <key>" on its /v1 routes; a
// request whose key is empty is sent without the header, so a server without
// a key needs none. EnvKey names the variable keys are read from by default.
//
// Errors: vLLM answers {"error":{"message","type","param","code"}} (older
// releases: {"object":"error","message","type","param","code"}), 401
// {"error":"Unauthorized"}; llama.cpp answers {"error":{"code","message",
// "type"}}. All are read by openai.DecodeError: 400/404/422 are ClassInvalid
// (not retried), 401/403 ClassAuth, 429 ClassRateLimited, 5xx (including 503
// while a model loads) ClassServer. An unhealthy /health (503, 500) is an
// error of that class, not a response with Healthy false.
//
// Tokenize bodies differ between the two servers: vLLM's {"prompt"} and
// {"tokens"} (answers {"count","max_model_len","tokens"} and {"prompt"}), and
// llama.cpp's {"content"} and {"tokens"} (answers {"tokens"} and
// {"content"}). The adapter sends vLLM's by default, llama.cpp's with
// WithLlamaCpp, and reads either answer.
//
// The adapter keeps no state and is safe for concurrent use.
package llvm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// Constants for configuring an llvm provider.
const (
	// Kind is the adapter's Kind().
	Kind = "llvm"
	// DefaultBaseURL is empty: the server is self-hosted and must be given,
	// e.g. "http://localhost:8000".
	DefaultBaseURL = ""
	// EnvKey is the environment variable keys are read from by default (the
	// variable vLLM itself reads its --api-key from). A key is optional.
	EnvKey = "VLLM_API_KEY"
	// Prefix is the path prefix of the OpenAI-compatible routes.
	Prefix = "/v1"
)

// Paths of the server's own routes, at the server root.
const (
	PathTokenize   = "/tokenize"
	PathDetokenize = "/detokenize"
	PathHealth     = "/health"
	PathVersion    = "/version"
)

// Adapter implements providers.Adapter for vLLM and llama.cpp servers.
// Create it with New.
type Adapter struct {
	*openai.Adapter
	llamaCpp bool
}

var _ providers.Adapter = (*Adapter)(nil)

// Option configures an Adapter.
type Option func(*Adapter)

// WithLlamaCpp sends llama.cpp's tokenize and detokenize bodies ({"content"}
// instead of vLLM's {"prompt"}).
func WithLlamaCpp() Option { return func(a *Adapter) { a.llamaCpp = true } }

// New returns an adapter for a vLLM server (or, WithLlamaCpp, llama.cpp).
func New(opts ...Option) *Adapter {
	a := &Adapter{Adapter: openai.NewDialect(openai.Dialect{
		Kind:           Kind,
		Prefix:         Prefix,
		Operations:     []string{openai.OpChat, openai.OpGenerate, openai.OpEmbed, openai.OpModels},
		MaxEmbedInputs: -1,
	})}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Check reports whether the adapter can serve req: tokenize and info
// requests here, everything else as the OpenAI dialect checks it. It returns
// an error matching messages.ErrUnsupported for operations the server does
// not offer (InfoRequest other than health and version, Responses API, count
// tokens, rerank, infer) and messages.ErrInvalidRequest for requests it
// would reject.
func (a *Adapter) Check(req messages.Request) error {
	switch r := req.(type) {
	case *messages.TokenizeRequest:
		if r == nil {
			return openai.Invalid(Kind, nil, "nil tokenize request")
		}
		if err := checkTokenize(r); err != nil {
			return err
		}
		return providers.CheckRequest(Kind, r) // the OpenAI layer runs it for everything else
	case *messages.InfoRequest:
		if r == nil {
			return openai.Invalid(Kind, nil, "nil info request")
		}
		switch r.What {
		case "health", "version":
			return nil
		}
		return &messages.RequestError{RequestID: r.RequestID, Provider: providerName(&r.Call), Kind: messages.ErrUnsupported,
			Detail: fmt.Sprintf("llvm: info %q is not served (health and version are)", r.What)}
	}
	return a.Adapter.Check(req)
}

func providerName(ci *messages.Call) string {
	if ci.Provider != "" {
		return ci.Provider
	}
	return Kind
}

func checkTokenize(r *messages.TokenizeRequest) error {
	if r.Detokenize {
		if r.Text != "" {
			return openai.Invalid(Kind, r, "a detokenize request carries Tokens, not Text")
		}
		for i, t := range r.Tokens {
			if t < 0 {
				return openai.Invalid(Kind, r, "token %d is negative (%d)", i, t)
			}
		}
		return nil
	}
	if len(r.Tokens) > 0 {
		return openai.Invalid(Kind, r, "a tokenize request carries Text, not Tokens (set Detokenize to turn tokens into text)")
	}
	return nil
}

// Do performs one attempt of call. It re-runs Check first, so a request
// that never went through Check still fails cleanly, as ClassInvalid.
func (a *Adapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	switch r := call.Request.(type) {
	case *messages.TokenizeRequest:
		if err := a.Check(r); err != nil {
			return nil, call.Refuse(err)
		}
		return a.doTokenize(ctx, call.HTTPClient(), call, r)
	case *messages.InfoRequest:
		if err := a.Check(r); err != nil {
			return nil, call.Refuse(err)
		}
		return doInfo(ctx, call.HTTPClient(), call, r)
	}
	return a.Adapter.Do(ctx, call)
}

// rootURL is the server root of a base URL that may end in /v1.
func rootURL(base string) string {
	return strings.TrimSuffix(strings.TrimRight(base, "/"), Prefix)
}

// sendRoot performs ex against the server root, keeping what it learns in
// call.Result.
func sendRoot(ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange) (*http.Response, error) {
	rc := *call
	rc.BaseURL = rootURL(call.BaseURL)
	resp, err := c.Send(ctx, &rc, ex)
	call.Result = rc.Result
	return resp, err
}

func exchange(method, path string, body any) *providers.Exchange {
	return &providers.Exchange{Method: method, Path: path, Body: body, Auth: providers.BearerAuth, DecodeError: openai.DecodeError}
}

// ---- tokenize ----

type tokenizeBody struct {
	Model  string `json:"model,omitempty"`
	Prompt string `json:"prompt"`
}

type llamaTokenizeBody struct {
	Content string `json:"content"`
}

type detokenizeBody struct {
	Model  string `json:"model,omitempty"`
	Tokens []int  `json:"tokens"`
}

// tokenizeAnswer is either server's answer to /tokenize or /detokenize.
type tokenizeAnswer struct {
	Count       *int   `json:"count"`
	MaxModelLen int    `json:"max_model_len"`
	Tokens      []int  `json:"tokens"`
	Prompt      string `json:"prompt"`
	Content     string `json:"content"`
}

func (a *Adapter) doTokenize(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.TokenizeRequest) (messages.Response, error) {
	var ex *providers.Exchange
	switch {
	case r.Detokenize:
		tokens := r.Tokens
		if tokens == nil {
			tokens = []int{}
		}
		b := detokenizeBody{Model: r.Model, Tokens: tokens}
		if a.llamaCpp {
			b.Model = ""
		}
		ex = exchange(http.MethodPost, PathDetokenize, b)
	case a.llamaCpp:
		ex = exchange(http.MethodPost, PathTokenize, llamaTokenizeBody{Content: r.Text})
	default:
		ex = exchange(http.MethodPost, PathTokenize, tokenizeBody{Model: r.Model, Prompt: r.Text})
	}
	resp, err := sendRoot(ctx, c, call, ex)
	if err != nil {
		return nil, err
	}
	var w tokenizeAnswer
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	return tokenizeResult(call, r, &w)
}

// DecodeTokenize reads a /tokenize (detokenize false) or /detokenize answer
// of vLLM or llama.cpp into a response. A body that is not such an answer is
// a ClassMalformed *messages.UpstreamError. It never panics.
func DecodeTokenize(call *providers.Call, detokenize bool, body []byte) (*messages.TokenizeResponse, error) {
	var w tokenizeAnswer
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, call.Fail(messages.ClassMalformed, call.Result.Status, "decoding tokenize answer", err)
	}
	return tokenizeResult(call, &messages.TokenizeRequest{Detokenize: detokenize}, &w)
}

func tokenizeResult(call *providers.Call, r *messages.TokenizeRequest, w *tokenizeAnswer) (*messages.TokenizeResponse, error) {
	out := &messages.TokenizeResponse{Meta: call.Meta(), MaxModelLen: w.MaxModelLen}
	if r.Detokenize {
		out.Text = w.Prompt
		if out.Text == "" {
			out.Text = w.Content
		}
		out.Count = len(r.Tokens)
		return out, nil
	}
	if w.Tokens == nil {
		return nil, call.Fail(messages.ClassMalformed, call.Result.Status, "tokenize answer without tokens", nil)
	}
	out.Tokens = w.Tokens
	out.Count = len(w.Tokens)
	if w.Count != nil && *w.Count != len(w.Tokens) {
		return nil, call.Fail(messages.ClassMalformed, call.Result.Status, fmt.Sprintf("tokenize answer counts %d tokens but lists %d", *w.Count, len(w.Tokens)), nil)
	}
	return out, nil
}

// ---- health and version ----

// maxInfoBody bounds a /health or /version answer.
const maxInfoBody = 1 << 20

func doInfo(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.InfoRequest) (messages.Response, error) {
	path := PathHealth
	if r.What == "version" {
		path = PathVersion
	}
	resp, err := sendRoot(ctx, c, call, exchange(http.MethodGet, path, nil))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxInfoBody))
	if err != nil {
		return nil, providers.ContextError(ctx, call, err, messages.ClassConnection, "reading "+path)
	}
	out := &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Body: body}
	if r.What == "version" {
		var v struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.Version == "" {
			return nil, call.Fail(messages.ClassMalformed, resp.StatusCode, "version answer without a version", err)
		}
		out.Version = v.Version
	}
	return out, nil
}
