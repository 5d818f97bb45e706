package switchyard

import (
	"context"
	"fmt"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
)

// Do sends any request and waits for its answer. The typed methods (Chat,
// Embed, …) wrap it.
func (s *Switchyard) Do(ctx context.Context, req messages.Request, opts ...CallOption) (messages.Response, error) {
	call := prepare(req, opts)
	reply := make(chan any, 1)
	if !s.submit(&actors.Submit{Req: req, Ctx: ctx, Reply: reply}) {
		return nil, &messages.RequestError{RequestID: call.RequestID, Provider: call.Provider, Kind: messages.ErrShuttingDown}
	}
	var answer any
	select {
	case answer = <-reply:
	case <-ctx.Done():
		s.sys.Root.Send(s.front(), messages.CancelFor(call.RequestID, ctx.Err()))
		answer = <-reply
	}
	return decodeAnswer(answer)
}

// prepare applies the call options and assigns the request ID the caller
// needs to cancel it.
func prepare(req messages.Request, opts []CallOption) *messages.Call {
	call := req.CallInfo()
	for _, o := range opts {
		o(call)
	}
	if call.RequestID == "" {
		call.RequestID = messages.NewRequestID()
	}
	return call
}

// submit hands a request to the dispatcher (through the cache when it is
// on) unless the instance is closed.
func (s *Switchyard) submit(m *actors.Submit) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false
	}
	s.sys.Root.Send(s.front(), m)
	return true
}

func decodeAnswer(a any) (messages.Response, error) {
	switch v := a.(type) {
	case *messages.Failure:
		return nil, v.Err
	case messages.Response:
		return v, nil
	}
	return nil, fmt.Errorf("%w: unexpected answer %T", messages.ErrInternal, a)
}

func typed[T messages.Response](r messages.Response, err error) (T, error) {
	var zero T
	if err != nil {
		return zero, err
	}
	t, ok := r.(T)
	if !ok {
		return zero, fmt.Errorf("%w: answer of type %T", messages.ErrInternal, r)
	}
	return t, nil
}

// Chat sends a chat request and waits for the whole answer. req.Stream is
// ignored; use ChatStream for a stream.
func (s *Switchyard) Chat(ctx context.Context, req *messages.ChatRequest, opts ...CallOption) (*messages.ChatResponse, error) {
	req.Stream = false
	return typed[*messages.ChatResponse](s.Do(ctx, req, opts...))
}

// Embed asks for embeddings.
func (s *Switchyard) Embed(ctx context.Context, req *messages.EmbedRequest, opts ...CallOption) (*messages.EmbedResponse, error) {
	return typed[*messages.EmbedResponse](s.Do(ctx, req, opts...))
}

// Responses calls OpenAI's Responses API and waits for the whole answer.
func (s *Switchyard) Responses(ctx context.Context, req *messages.ResponsesRequest, opts ...CallOption) (*messages.ResponsesResponse, error) {
	req.Stream = false
	return typed[*messages.ResponsesResponse](s.Do(ctx, req, opts...))
}

// CountTokens asks how many input tokens a chat request would use.
func (s *Switchyard) CountTokens(ctx context.Context, req *messages.CountTokensRequest, opts ...CallOption) (*messages.CountTokensResponse, error) {
	return typed[*messages.CountTokensResponse](s.Do(ctx, req, opts...))
}

// Generate runs a plain-prompt completion and waits for the whole answer.
func (s *Switchyard) Generate(ctx context.Context, req *messages.GenerateRequest, opts ...CallOption) (*messages.GenerateResponse, error) {
	req.Stream = false
	return typed[*messages.GenerateResponse](s.Do(ctx, req, opts...))
}

// Rerank scores documents against a query.
func (s *Switchyard) Rerank(ctx context.Context, req *messages.RerankRequest, opts ...CallOption) (*messages.RerankResponse, error) {
	return typed[*messages.RerankResponse](s.Do(ctx, req, opts...))
}

// Infer runs a KServe v2 inference.
func (s *Switchyard) Infer(ctx context.Context, req *messages.InferRequest, opts ...CallOption) (*messages.InferResponse, error) {
	return typed[*messages.InferResponse](s.Do(ctx, req, opts...))
}

// ListModels lists the models a provider's endpoint serves.
func (s *Switchyard) ListModels(ctx context.Context, req *messages.ModelsRequest, opts ...CallOption) (*messages.ModelsResponse, error) {
	return typed[*messages.ModelsResponse](s.Do(ctx, req, opts...))
}

// Info asks an endpoint about itself (info, health, version, show, ready).
func (s *Switchyard) Info(ctx context.Context, req *messages.InfoRequest, opts ...CallOption) (*messages.InfoResponse, error) {
	return typed[*messages.InfoResponse](s.Do(ctx, req, opts...))
}

// Tokenize turns text into tokens, or tokens into text.
func (s *Switchyard) Tokenize(ctx context.Context, req *messages.TokenizeRequest, opts ...CallOption) (*messages.TokenizeResponse, error) {
	return typed[*messages.TokenizeResponse](s.Do(ctx, req, opts...))
}
