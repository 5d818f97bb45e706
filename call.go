package switchyard

import (
	"context"
	"fmt"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
)

// Requests are handed over by copy: every method below works on its own
// shallow copy of the request (messages.Clone) and never writes to the
// caller's value, so a request may be reused, or sent from several
// goroutines at once, and changing it after the method returned (also
// during a ChatStream) does not race with the runtime. The copy shares the
// request's slices, maps and readers: do not modify those until the call is
// answered. The request ID (the caller's, or a new UUIDv7) comes back in the
// response's RequestID, in the error (messages.RequestError.RequestID,
// UpstreamError.RequestID, …) and from Stream.RequestID.
//
// A nil request, or a nil context, is refused with ErrInvalidRequest
// (*messages.RequestError) before anything is submitted. A request that names
// no provider goes to the only configured one; with several configured it is
// refused with ErrUnknownProvider, listing their names (choose one with
// WithProvider).

// Do sends any request and waits for its answer. The typed methods (Chat,
// Embed, …) wrap it. req keeps its Stream flag: use ChatStream and the
// other *Stream methods to receive chunks.
func (s *Switchyard) Do(ctx context.Context, req messages.Request, opts ...CallOption) (messages.Response, error) {
	return s.do(ctx, req, opts, keepStream)
}

// streamMode is what a facade method does with a request's Stream flag.
type streamMode uint8

const (
	keepStream streamMode = iota
	streamOff
	streamOn
)

// own returns the runtime's copy of req with the call options applied, the
// request ID assigned and the Stream flag set as mode says; or a typed error
// for a nil request or context.
func own(ctx context.Context, req messages.Request, opts []CallOption, mode streamMode) (messages.Request, *messages.Call, error) {
	c, ok := messages.Clone(req)
	if !ok {
		detail := "nil request"
		if req != nil {
			detail = fmt.Sprintf("nil request (%T)", req)
		}
		return nil, nil, &messages.RequestError{Kind: messages.ErrInvalidRequest, Detail: detail}
	}
	call := prepare(c, opts)
	if ctx == nil {
		return nil, nil, &messages.RequestError{RequestID: call.RequestID, Provider: call.Provider, Kind: messages.ErrInvalidRequest, Detail: "nil context"}
	}
	if mode != keepStream {
		messages.SetStream(c, mode == streamOn)
	}
	return c, call, nil
}

func (s *Switchyard) do(ctx context.Context, req messages.Request, opts []CallOption, mode streamMode) (messages.Response, error) {
	req, call, err := own(ctx, req, opts, mode)
	if err != nil {
		return nil, err
	}
	reply := make(chan any, 1)
	sub := &struct {
		m actors.Submit
		r actors.CallerRuns
	}{m: actors.Submit{Req: req, Ctx: ctx, Reply: reply}}
	sub.m.Runner = &sub.r
	if !s.submit(&sub.m) {
		return nil, &messages.RequestError{RequestID: call.RequestID, Provider: call.Provider, Kind: messages.ErrShuttingDown}
	}
	if attempt := sub.r.Take(); attempt != nil {
		s.env.Calls.Run(attempt) // and runs its call, as a direct call would
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

// prepare applies the call options to the runtime's copy of a request and
// assigns the request ID the caller needs to cancel it.
func prepare(req messages.Request, opts []CallOption) *messages.Call {
	call := req.CallInfo()
	for _, o := range opts {
		if o != nil {
			o(call)
		}
	}
	if call.RequestID == "" {
		call.RequestID = messages.NewRequestID()
	}
	return call
}

// submit hands a request on unless the instance is closed: straight to the
// cache when it is on, else to the dispatcher, when it names its provider
// or only one is configured (the front door's routing, done here to save a
// mailbox hop), else to the front door, which answers the refusal. The
// send happens under the read lock, so every request admitted here is in
// its actor's mailbox before Close sends that actor Shutdown. The caller
// only waits once submit returns, so when that actor's mailbox was idle
// its handler runs here, after the lock is released (Env.PostFromCaller).
func (s *Switchyard) submit(m *actors.Submit) bool {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return false
	}
	if !actors.DefaultProvider(m.Req.CallInfo(), s.order) {
		s.sys.Root.Send(s.front(), m) // it answers the refusal
		s.mu.RUnlock()
		return true
	}
	target := s.dispatcher
	if s.cache != nil {
		target = s.cache
	}
	run := s.env.PostFromCaller(target, m)
	s.mu.RUnlock()
	if run != nil {
		run.RunHere()
	}
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
// ignored (and left as it is); use ChatStream for a stream.
func (s *Switchyard) Chat(ctx context.Context, req *messages.ChatRequest, opts ...CallOption) (*messages.ChatResponse, error) {
	return typed[*messages.ChatResponse](s.do(ctx, req, opts, streamOff))
}

// Embed asks for embeddings.
func (s *Switchyard) Embed(ctx context.Context, req *messages.EmbedRequest, opts ...CallOption) (*messages.EmbedResponse, error) {
	return typed[*messages.EmbedResponse](s.do(ctx, req, opts, keepStream))
}

// Responses calls OpenAI's Responses API and waits for the whole answer.
// req.Stream is ignored; use ResponsesStream for a stream.
func (s *Switchyard) Responses(ctx context.Context, req *messages.ResponsesRequest, opts ...CallOption) (*messages.ResponsesResponse, error) {
	return typed[*messages.ResponsesResponse](s.do(ctx, req, opts, streamOff))
}

// CountTokens asks how many input tokens a chat request would use.
func (s *Switchyard) CountTokens(ctx context.Context, req *messages.CountTokensRequest, opts ...CallOption) (*messages.CountTokensResponse, error) {
	return typed[*messages.CountTokensResponse](s.do(ctx, req, opts, keepStream))
}

// Generate runs a plain-prompt completion and waits for the whole answer.
// req.Stream is ignored; use GenerateStream for a stream.
func (s *Switchyard) Generate(ctx context.Context, req *messages.GenerateRequest, opts ...CallOption) (*messages.GenerateResponse, error) {
	return typed[*messages.GenerateResponse](s.do(ctx, req, opts, streamOff))
}

// Rerank scores documents against a query.
func (s *Switchyard) Rerank(ctx context.Context, req *messages.RerankRequest, opts ...CallOption) (*messages.RerankResponse, error) {
	return typed[*messages.RerankResponse](s.do(ctx, req, opts, keepStream))
}

// Infer runs a KServe v2 inference.
func (s *Switchyard) Infer(ctx context.Context, req *messages.InferRequest, opts ...CallOption) (*messages.InferResponse, error) {
	return typed[*messages.InferResponse](s.do(ctx, req, opts, keepStream))
}

// ListModels lists the models a provider's endpoint serves.
func (s *Switchyard) ListModels(ctx context.Context, req *messages.ModelsRequest, opts ...CallOption) (*messages.ModelsResponse, error) {
	return typed[*messages.ModelsResponse](s.do(ctx, req, opts, keepStream))
}

// Info asks an endpoint about itself (info, health, version, show, ready).
func (s *Switchyard) Info(ctx context.Context, req *messages.InfoRequest, opts ...CallOption) (*messages.InfoResponse, error) {
	return typed[*messages.InfoResponse](s.do(ctx, req, opts, keepStream))
}

// Tokenize turns text into tokens, or tokens into text.
func (s *Switchyard) Tokenize(ctx context.Context, req *messages.TokenizeRequest, opts ...CallOption) (*messages.TokenizeResponse, error) {
	return typed[*messages.TokenizeResponse](s.do(ctx, req, opts, keepStream))
}
