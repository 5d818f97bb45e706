package actors

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
)

// keyHandle is what a key actor may touch of its key: immutable fields and
// atomics. The provider owns the rest of keyState.
type keyHandle struct {
	epIdx, keyIdx int
	label         string
	cred          providers.Credential
	counters      *Counters
	rateLimit     *atomic.Pointer[messages.RateLimit]
}

// Key is the actor of one API key. It runs each attempt in a tracked
// goroutine (never blocking its mailbox), or leaves a facade call's first
// attempt to the caller waiting for it (CallerRuns), then accounts for the
// result, records the upstream's rate-limit headers, tells its breaker how
// the endpoint did and its provider how the call ended.
type Key struct {
	h        keyHandle
	spec     *EndpointSpec
	provider string
	adapter  providers.Adapter
	env      *Env
	provPID  *actor.PID
}

// Receive handles one message.
func (k *Key) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *execute:
		if h := k.env.Hooks; h != nil && h.KeyPanic != nil && h.KeyPanic(m.d.id) {
			panic(fmt.Sprintf("injected panic in key %s", k.h.label))
		}
		k.start(ctx, m)
	case *callFinished:
		if h := k.env.Hooks; h != nil && h.KeyPanicOnResult != nil && h.KeyPanicOnResult(m.x.d.id) {
			panic(fmt.Sprintf("injected panic in key %s", k.h.label))
		}
		k.finished(ctx, m)
	}
}

func (k *Key) start(ctx actor.Context, x *execute) {
	k.h.counters.Start(x.started)
	env := k.env
	a := &keyAttempt{x: x, adapter: k.adapter, env: env, self: ctx.Self()}
	a.call = providers.Call{
		Request: x.d.req, RequestID: x.d.id, Attempt: x.d.attempt, Provider: k.provider,
		Endpoint: k.spec.Name, BaseURL: k.spec.BaseURL, Headers: k.spec.Headers,
		Key: k.h.cred, Emit: scrubEmit(env.Redactor, x.d.emit), Client: env.Client, CancelAttempt: x.d.cancel,
	}
	a.ctx, a.span = env.Tracer.attempt(x.d.ctx, x, k)
	if !x.d.runner.offer(a.run) {
		env.Calls.Go(a.run)
	}
}

// keyAttempt is one attempt a key runs in a call goroutine: the call, what
// the goroutine needs, and the callFinished it sends back, in one
// allocation.
type keyAttempt struct {
	call    providers.Call
	fin     callFinished
	x       *execute
	ctx     context.Context
	span    trace.Span
	adapter providers.Adapter
	env     *Env
	self    *actor.PID
}

// run performs the attempt and reports it to the key actor.
func (a *keyAttempt) run() {
	env, x := a.env, a.x
	resp, err := runAdapter(a.ctx, a.adapter, &a.call, env.Redactor)
	env.Tracer.attemptResult(x, a.span, &a.call, err)
	a.fin = callFinished{callID: x.callID, x: x, resp: resp, err: err, result: &a.call.Result, latency: env.Clock.Now().Sub(x.started)}
	env.deliver(nil, a.self, &a.fin) // the goroutine's last act: the key may handle it here
}

// scrubEmit returns emit with every chunk passed through red first; emit
// itself when there is nothing to scrub.
func scrubEmit(red *redact.Redactor, emit func(*messages.StreamChunk) bool) func(*messages.StreamChunk) bool {
	if emit == nil || red == nil {
		return emit
	}
	return func(c *messages.StreamChunk) bool { return emit(red.Chunk(c)) }
}

// runAdapter performs the call and turns every failure, a panic included,
// into an *UpstreamError. It is the one place where what an upstream said
// enters the runtime, so it removes every configured secret (red) from it
// before anyone else sees it: the error's fields and cause, the response's
// meta and call.Result's upstream request ID. Counters (LastError), events,
// snapshots, Prometheus labels and answers all derive from these.
func runAdapter(ctx context.Context, a providers.Adapter, call *providers.Call, red *redact.Redactor) (resp messages.Response, ue *messages.UpstreamError) {
	defer func() {
		if r := recover(); r != nil {
			resp, ue = nil, red.UpstreamError(call.Fail(messages.ClassInternal, call.Result.Status, red.String(fmt.Sprintf("adapter panic: %v", r)), messages.ErrInternal))
		}
		call.Result.UpstreamRequestID = red.String(call.Result.UpstreamRequestID)
	}()
	resp, ue = callAdapter(ctx, a, call)
	red.Response(resp)
	return resp, red.UpstreamError(ue)
}

func callAdapter(ctx context.Context, a providers.Adapter, call *providers.Call) (messages.Response, *messages.UpstreamError) {
	r, err := a.Do(ctx, call)
	if err == nil {
		if r == nil {
			return nil, call.Fail(messages.ClassInternal, call.Result.Status, "adapter returned no response", messages.ErrInternal)
		}
		return r, nil
	}
	return nil, providers.ContextError(ctx, call, err, messages.ClassInternal, "")
}

func (k *Key) finished(ctx actor.Context, m *callFinished) {
	obs, out := settle(k.h, m)
	k.env.deliver(ctx, ctx.Parent(), obs)
	k.env.deliver(ctx, k.provPID, out)
}

// settle accounts for a finished call on its key (counters, rate-limit
// headers) and returns what the breaker and the provider are told. The key
// actor calls it; so does the breaker for a key that crashed on the result.
func settle(h keyHandle, m *callFinished) (*observe, *keyOutcome) {
	ok := m.err == nil
	class, errText := messages.ClassUnknown, ""
	if !ok {
		class, errText = m.err.Class, m.err.Error()
	}
	h.counters.Finish(ok, class, m.result.Usage, m.latency, errText)
	h.counters.AddBytes(m.result.BytesIn, m.result.BytesOut)
	if m.result.RateLimit.Known {
		rl := m.result.RateLimit
		h.rateLimit.Store(&rl)
	}
	// The breaker's and the provider's messages share one allocation.
	st := &settled{obs: observe{gen: m.x.epGen, class: class}}
	if !ok {
		st.obs.failure, st.obs.retryAfter = class.BreakerFailure(), m.err.RetryAfter
	}
	st.out = keyOutcome{callID: m.callID, keyIdx: h.keyIdx, epIdx: h.epIdx, resp: m.resp, err: m.err, result: m.result, latency: m.latency}
	return &st.obs, &st.out
}

// settled holds what settle hands out.
type settled struct {
	obs observe
	out keyOutcome
}

var _ actor.Actor = (*Key)(nil)
