package actors

import (
	"context"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
)

// TracerName is the instrumentation scope of Switchyard's spans.
const TracerName = "github.com/switchyard-ai/switchyard"

// AttemptSpanName names the span of one upstream attempt, a child of its
// request's (or batch call's) span. Request spans are named by the GenAI
// conventions: "{gen_ai.operation.name} {gen_ai.request.model}".
const AttemptSpanName = "switchyard.attempt"

// The span events Switchyard records.
const (
	// EventBackoff, on a request's span: it will be tried again after
	// switchyard.backoff.delay (0 for an immediate retry on another key).
	EventBackoff = "backoff scheduled"
	// EventKeyCooled and EventKeyDisabled, on the span of the attempt whose
	// outcome cooled its key down (for switchyard.cooldown) or disabled it.
	EventKeyCooled   = "key cooled"
	EventKeyDisabled = "key disabled"
	// EventBreakerOpen, EventBreakerHalf and EventBreakerClosed, on the span
	// of every request of the provider in progress when one of its
	// endpoints' breakers changed state.
	EventBreakerOpen   = "breaker opened"
	EventBreakerHalf   = "breaker half-open"
	EventBreakerClosed = "breaker closed"
)

const (
	// linkKindAttr says what a link points to: a batch's member, a cache
	// hit's origin, a single-flight follower's leader.
	linkKindAttr        = attribute.Key("switchyard.link")
	linkBatchMember     = "batch.member"
	linkCacheOrigin     = "cache.origin"
	linkCacheLeader     = "cache.leader"
	errorTypeOther      = "_OTHER"
	attemptServerScheme = "://"
)

// The attributes Switchyard puts on its spans: the GenAI semantic
// conventions' (gen_ai.*, error.type, server.address,
// http.response.status_code) and its own (switchyard.*). Durations are in
// seconds.
var (
	attrOperation     = attribute.Key("gen_ai.operation.name")
	attrProvider      = attribute.Key("gen_ai.provider.name")
	attrRequestModel  = attribute.Key("gen_ai.request.model")
	attrResponseModel = attribute.Key("gen_ai.response.model")
	attrResponseID    = attribute.Key("gen_ai.response.id")
	attrInputTokens   = attribute.Key("gen_ai.usage.input_tokens")
	attrOutputTokens  = attribute.Key("gen_ai.usage.output_tokens")
	attrFinishReasons = attribute.Key("gen_ai.response.finish_reasons")
	attrErrorType     = attribute.Key("error.type")
	attrServerAddress = attribute.Key("server.address")
	attrHTTPStatus    = attribute.Key("http.response.status_code")

	attrRequestID     = attribute.Key("switchyard.request.id")
	attrProviderName  = attribute.Key("switchyard.provider.name")
	attrPriority      = attribute.Key("switchyard.priority")
	attrStream        = attribute.Key("switchyard.stream")
	attrQueueWait     = attribute.Key("switchyard.queue.wait")
	attrAttempts      = attribute.Key("switchyard.attempts")
	attrAttempt       = attribute.Key("switchyard.attempt")
	attrEndpoint      = attribute.Key("switchyard.endpoint")
	attrKey           = attribute.Key("switchyard.key")
	attrUpstreamID    = attribute.Key("switchyard.upstream.request_id")
	attrRetryAfter    = attribute.Key("switchyard.retry_after")
	attrBatchID       = attribute.Key("switchyard.batch.id")
	attrBatchSize     = attribute.Key("switchyard.batch.size")
	attrCacheResult   = attribute.Key("switchyard.cache.result")
	attrCacheSim      = attribute.Key("switchyard.cache.similarity")
	attrCacheLookup   = attribute.Key("switchyard.cache.lookup")
	attrOriginTrace   = attribute.Key("switchyard.cache.origin.trace_id")
	attrOriginSpan    = attribute.Key("switchyard.cache.origin.span_id")
	attrBackoffDelay  = attribute.Key("switchyard.backoff.delay")
	attrRotate        = attribute.Key("switchyard.retry.rotate")
	attrCooldown      = attribute.Key("switchyard.cooldown")
	attrReason        = attribute.Key("switchyard.reason")
	attrBreakerFrom   = attribute.Key("switchyard.breaker.from")
	attrBreakerTrips  = attribute.Key("switchyard.breaker.trips")
	attrBreakerReopen = attribute.Key("switchyard.breaker.reopen_in")
)

// Cache results (switchyard.cache.result).
const (
	CacheResultHit       = "hit"
	CacheResultSemantic  = "semantic_hit"
	CacheResultCoalesced = "coalesced"
	CacheResultMiss      = "miss"
)

// spanRef is the span context of the request whose answer a cache entry
// holds (zero when tracing is off).
type spanRef = trace.SpanContext

// TracerOptions configures a Tracer.
type TracerOptions struct {
	// Provider makes the tracer; nil turns tracing off (NewTracer returns
	// nil).
	Provider trace.TracerProvider
	// Propagate sends the W3C trace context (traceparent, tracestate) of
	// each attempt upstream, so a server that traces joins the trace.
	Propagate bool
	// Redactor scrubs every string that comes from an upstream before it
	// becomes an attribute; nil scrubs nothing.
	Redactor *redact.Redactor
	// Events is the runtime's bus: the tracer turns key cooldowns, disabled
	// keys and breaker transitions into span events. Nil: none.
	Events *EventBus
	// Kinds maps each provider's name to its backend kind (for
	// gen_ai.provider.name on spans made before a request reaches the
	// dispatcher, such as cache hits); a provider not in it is named by
	// its own name there.
	Kinds map[string]string
	// Clock stamps every span's start and end and every span event: the
	// runtime's clock (Config.Clock), so spans, timers and outcomes read
	// one time; nil is the wall clock.
	Clock clock.Clock
}

// Tracer makes the runtime's OpenTelemetry spans: one per request, from
// admission (the dispatcher's, or the cache's for a cacheable request) to
// its answer, named by the GenAI semantic conventions
// ("{gen_ai.operation.name} {gen_ai.request.model}", kind Client); one per
// upstream attempt (AttemptSpanName), its child; one per batched call,
// linking to its members' request spans. Span timestamps come from the
// runtime's clock (TracerOptions.Clock), as every other time does.
//
// A nil *Tracer is tracing off: every method returns at once, allocating
// nothing. Safe for concurrent use.
type Tracer struct {
	tracer    trace.Tracer
	propagate bool
	red       *redact.Redactor
	kinds     map[string]string
	clk       clock.Clock

	mu sync.Mutex
	// live holds the traces of requests and batch calls in progress, by
	// request ID, for the bus's events.
	live map[string]*reqTrace
}

// NewTracer returns a tracer, or nil when o.Provider is nil.
func NewTracer(o TracerOptions) *Tracer {
	if o.Provider == nil {
		return nil
	}
	t := &Tracer{tracer: o.Provider.Tracer(TracerName), propagate: o.Propagate, red: o.Redactor, kinds: o.Kinds, live: map[string]*reqTrace{},
		clk: o.Clock}
	if t.clk == nil {
		t.clk = clock.Real
	}
	if o.Events != nil {
		o.Events.Subscribe(t.onEvent)
	}
	return t
}

// reqTrace is the trace of one request (or batch call, or cache lookup).
// The actor that owns the request owns it; attempt is shared with the key
// actor that runs the current attempt and with the bus, under mu.
type reqTrace struct {
	// span is nil until started: a cache waiter's span starts when its
	// links are known (its answer, or its call).
	span   trace.Span
	parent trace.SpanContext
	start  time.Time
	// id registers the trace in Tracer.live while it is there.
	id       string
	provider string
	// external: the span is ended by another actor (the cache ends its
	// leaders' spans); the dispatcher only annotates it.
	external bool
	// lookup: the request is the cache's embedding of a prompt.
	lookup bool
	ended  bool

	mu      sync.Mutex
	attempt trace.Span
	// closed: the request was answered; an attempt still running ends its
	// own span when its call returns.
	closed bool
}

// spanContext returns rt's span context, zero when it has none.
func (rt *reqTrace) spanContext() trace.SpanContext {
	if rt == nil || rt.span == nil {
		return trace.SpanContext{}
	}
	return rt.span.SpanContext()
}

// setAttempt makes span rt's current attempt.
func (rt *reqTrace) setAttempt(span trace.Span) {
	rt.mu.Lock()
	rt.attempt = span
	rt.mu.Unlock()
}

// endAttempt ends rt's current attempt span, if any; close also marks rt
// answered, so an attempt that started meanwhile ends by itself.
func (rt *reqTrace) endAttempt(close bool, at time.Time) {
	rt.mu.Lock()
	a := rt.attempt
	rt.attempt = nil
	rt.closed = rt.closed || close
	rt.mu.Unlock()
	if a != nil {
		a.End(trace.WithTimestamp(at))
	}
}

func (rt *reqTrace) isClosed() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.closed
}

// eventSpan is where an event about rt's current attempt goes: the attempt
// span while one runs, else the request's.
func (rt *reqTrace) eventSpan() trace.Span {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.attempt != nil {
		return rt.attempt
	}
	return rt.span
}

// parentOf is the trace a request continues: the span in the caller's ctx,
// else the W3C trace context its Call carries (the actor API's).
func parentOf(ctx context.Context, call *messages.Call) trace.SpanContext {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			return sc
		}
	}
	if call == nil || call.TraceParent == "" {
		return trace.SpanContext{}
	}
	carrier := propagation.MapCarrier{"traceparent": call.TraceParent}
	if call.TraceState != "" {
		carrier["tracestate"] = call.TraceState
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
}

// startRequest starts rt's span for req, with links.
func (t *Tracer) startRequest(rt *reqTrace, req messages.Request, kind string, links ...trace.Link) {
	call := req.CallInfo()
	op, model := GenAIOperation(req.Operation()), messages.ModelOf(req)
	name := op
	if model != "" {
		name = op + " " + model
	}
	// The conventions' sampling-relevant attributes go to the sampler; the
	// others are set only on a span that records.
	attrs := make([]attribute.KeyValue, 0, 3)
	attrs = append(attrs, attrOperation.String(op), attrProvider.String(GenAIProvider(kind)))
	if model != "" {
		attrs = append(attrs, attrRequestModel.String(model))
	}
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...)}
	if len(links) > 0 {
		opts = append(opts, trace.WithLinks(links...))
	}
	start := rt.start
	if start.IsZero() {
		start = t.clk.Now()
	}
	opts = append(opts, trace.WithTimestamp(start))
	ctx := context.Background()
	if rt.parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, rt.parent)
	}
	_, rt.span = t.tracer.Start(ctx, name, opts...)
	rt.provider = call.Provider
	if !rt.span.IsRecording() {
		return
	}
	rt.span.SetAttributes(attrRequestID.String(call.RequestID), attrProviderName.String(call.Provider), attrPriority.String(priorityName(call.Priority)))
	if sr, ok := req.(messages.StreamingRequest); ok && sr.Streaming() {
		rt.span.SetAttributes(attrStream.Bool(true))
	}
	if rt.lookup {
		rt.span.SetAttributes(attrCacheLookup.Bool(true))
	}
}

// register makes rt's events findable by request ID (only a span that
// records keeps events).
func (t *Tracer) register(id string, rt *reqTrace) {
	if !rt.span.IsRecording() {
		return
	}
	rt.id = id
	t.mu.Lock()
	t.live[id] = rt
	t.mu.Unlock()
}

func (t *Tracer) forget(rt *reqTrace) {
	if rt.id == "" {
		return
	}
	t.mu.Lock()
	if t.live[rt.id] == rt {
		delete(t.live, rt.id)
	}
	t.mu.Unlock()
	rt.id = ""
}

// kindOf is the backend kind of a configured provider, "" if unknown.
func (d *Dispatcher) kindOf(provider string) string {
	if p := d.provs[provider]; p != nil && p.handle.Adapter != nil {
		return p.handle.Adapter.Kind()
	}
	return ""
}

// ---- Dispatcher hooks ----

// admitted starts (or adopts) the span of an admitted request e: tr, when
// the cache sent it, else a new one continuing cctx's trace or the Call's.
func (t *Tracer) admitted(d *Dispatcher, e *entry, cctx context.Context, tr *reqTrace) {
	if t == nil {
		return
	}
	if tr == nil {
		tr = &reqTrace{parent: parentOf(cctx, e.call)}
	}
	if tr.span == nil {
		t.startRequest(tr, e.req, d.kindOf(e.call.Provider))
	}
	e.tr = tr
	t.register(e.id, tr)
}

// refused records a request answered at admission (its span starts and
// ends there, unless the cache ends it).
func (t *Tracer) refused(d *Dispatcher, req messages.Request, cctx context.Context, tr *reqTrace, answer any) {
	if t == nil {
		return
	}
	if tr == nil {
		tr = &reqTrace{parent: parentOf(cctx, req.CallInfo())}
	}
	if tr.span == nil {
		t.startRequest(tr, req, d.kindOf(req.CallInfo().Provider))
	}
	if !tr.external {
		t.answer(tr, answer)
	}
}

// attemptReported ends the attempt span of e's attempt that the provider
// just reported.
func (t *Tracer) attemptReported(e *entry) {
	if t != nil && e.tr != nil {
		e.tr.endAttempt(false, t.clk.Now())
	}
}

// backoff records that e will be tried again after delay.
func (t *Tracer) backoff(e *entry, delay time.Duration, ue *messages.UpstreamError, rotate bool) {
	if t == nil || e.tr == nil || e.tr.span == nil || !e.tr.span.IsRecording() {
		return
	}
	e.tr.span.AddEvent(EventBackoff, trace.WithTimestamp(t.clk.Now()), trace.WithAttributes(attrBackoffDelay.Float64(delay.Seconds()), attrAttempt.Int(e.attempt),
		attrErrorType.String(ue.Class.String()), attrRotate.Bool(rotate)))
}

// finished records e's answer: the dispatcher's view (attempts, queue
// wait), and the answer itself unless the cache ends the span.
func (t *Tracer) finished(e *entry, answer any) {
	if t == nil || e.tr == nil {
		return
	}
	rt := e.tr
	t.forget(rt)
	rt.endAttempt(true, t.clk.Now())
	if rt.span.IsRecording() {
		rt.span.SetAttributes(attrAttempts.Int(e.sent), attrQueueWait.Float64(e.queuedFor.Seconds()))
	}
	if !rt.external {
		t.answer(rt, answer)
	}
}

// batchStarted starts the span of batch entry b's call, linking to each
// member's request span. It starts a trace of its own: its members may
// belong to several.
func (t *Tracer) batchStarted(b *entry) {
	if t == nil {
		return
	}
	members := b.group.members
	links := make([]trace.Link, 0, len(members))
	for _, m := range members {
		if sc := m.tr.spanContext(); sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{linkKindAttr.String(linkBatchMember), attrRequestID.String(m.id)}})
		}
	}
	rt := &reqTrace{}
	t.startRequest(rt, members[0].req, members[0].p.handle.Adapter.Kind(), links...)
	b.tr = rt
	t.register(b.id, rt)
	if !rt.span.IsRecording() {
		return
	}
	rt.span.SetAttributes(attrRequestID.String(b.id), attrBatchID.String(b.id), attrBatchSize.Int(len(members)),
		attrPriority.String(priorityName(messages.PriorityAt(b.level))))
}

// batchDone records the outcome of batch b's call (m) on its span.
func (t *Tracer) batchDone(b *entry, m *attemptDone) {
	if t == nil || b.tr == nil {
		return
	}
	rt := b.tr
	if !rt.span.IsRecording() {
		return
	}
	rt.span.SetAttributes(attrAttempts.Int(b.sent), attrQueueWait.Float64(b.queuedFor.Seconds()))
	if m.err != nil {
		t.failed(rt.span, m.err)
		return
	}
	t.succeeded(rt.span, m.resp)
}

// entryDone ends a batch entry's span when the batch leaves the dispatcher.
func (t *Tracer) entryDone(e *entry) {
	if t == nil || e.tr == nil || e.group == nil {
		return
	}
	t.forget(e.tr)
	e.tr.endAttempt(true, t.clk.Now())
	if !e.tr.ended {
		e.tr.ended = true
		e.tr.span.End(trace.WithTimestamp(t.clk.Now()))
	}
}

// ---- Key hook ----

// attempt starts the span of attempt x on key k, a child of its request's
// span, and returns the context the adapter runs under: it carries the span
// and, when propagating, the W3C trace context Client.Send puts upstream.
func (t *Tracer) attempt(ctx context.Context, x *execute, k *Key) (context.Context, trace.Span) {
	if t == nil || x.d.tr == nil || x.d.tr.span == nil {
		return ctx, nil
	}
	rt := x.d.tr
	actx, span := t.tracer.Start(trace.ContextWithSpan(ctx, rt.span), AttemptSpanName,
		trace.WithTimestamp(t.clk.Now()), trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrProvider.String(GenAIProvider(k.adapter.Kind())),
			attrServerAddress.String(hostOf(k.spec.BaseURL))))
	if span.IsRecording() {
		span.SetAttributes(attrAttempt.Int(x.d.attempt), attrEndpoint.String(k.spec.Name), attrKey.String(k.h.label), attrRequestID.String(x.d.id))
		rt.setAttempt(span)
	}
	if t.propagate {
		sc := span.SpanContext()
		actx = providers.WithTraceContext(actx, traceparent(sc), sc.TraceState().String())
	}
	return actx, span
}

// traceparent is sc as a W3C traceparent header value (version 00, the
// sampled flag only), as propagation.TraceContext writes it.
func traceparent(sc trace.SpanContext) string {
	var b [55]byte
	tid, sid, flags := sc.TraceID(), sc.SpanID(), [1]byte{byte(sc.TraceFlags() & trace.FlagsSampled)}
	b[0], b[1], b[2], b[35], b[52] = '0', '0', '-', '-', '-'
	hex.Encode(b[3:35], tid[:])
	hex.Encode(b[36:52], sid[:])
	hex.Encode(b[53:55], flags[:])
	return string(b[:])
}

// attemptResult records how attempt x went on its span. The dispatcher
// ends the span when the attempt is reported (after the provider's cooldown
// and disable events); one whose request was answered meanwhile (a cancel)
// ends here. call.Result and err are already scrubbed.
func (t *Tracer) attemptResult(x *execute, span trace.Span, call *providers.Call, err *messages.UpstreamError) {
	if t == nil || span == nil || !span.IsRecording() {
		return
	}
	defer func() {
		if x.d.tr.isClosed() {
			span.End(trace.WithTimestamp(t.clk.Now()))
		}
	}()
	if call.Result.Status > 0 {
		span.SetAttributes(attrHTTPStatus.Int(call.Result.Status))
	}
	if call.Result.UpstreamRequestID != "" {
		span.SetAttributes(attrUpstreamID.String(t.red.String(call.Result.UpstreamRequestID)))
	}
	if err == nil {
		return
	}
	if err.RetryAfter > 0 {
		span.SetAttributes(attrRetryAfter.Float64(err.RetryAfter.Seconds()))
	}
	t.failed(span, err)
}

// ---- Cache hooks ----

// waiter begins the trace of a request the cache holds; its span starts
// when its links are known (see startWaiter).
func (t *Tracer) waiter(w *cacheWaiter) *reqTrace {
	if t == nil {
		return nil
	}
	return &reqTrace{parent: parentOf(w.ctx, w.call), start: t.clk.Now()}
}

// startWaiter starts w's span if it has none, with links; one already
// started gets the links' span contexts as attributes instead (the pinned
// OpenTelemetry API, v1.21, cannot add a link to a started span).
func (t *Tracer) startWaiter(w *cacheWaiter, links ...trace.Link) {
	rt := w.tr
	if rt.span == nil {
		t.startRequest(rt, w.req, t.kindOf(w), links...)
		return
	}
	for _, l := range links {
		if !rt.span.IsRecording() {
			break
		}
		rt.span.SetAttributes(attrOriginTrace.String(l.SpanContext.TraceID().String()), attrOriginSpan.String(l.SpanContext.SpanID().String()))
	}
}

// kindOf is the backend kind of the provider a cache waiter names
// (TracerOptions.Kinds; the cache knows no adapters).
func (t *Tracer) kindOf(w *cacheWaiter) string {
	if k, ok := t.kinds[w.call.Provider]; ok {
		return k
	}
	return w.call.Provider
}

// lookupFor starts the span of the flight creator w (the lookup is its
// child) and returns the trace of its prompt's embedding request.
func (t *Tracer) lookupFor(w *cacheWaiter) *reqTrace {
	if t == nil || w.tr == nil {
		return nil
	}
	t.startWaiter(w)
	return &reqTrace{parent: w.tr.spanContext(), lookup: true}
}

// leading starts the span of w, which leads its flight's call; the cache
// ends it when it answers w.
func (t *Tracer) leading(w *cacheWaiter) {
	if t == nil || w.tr == nil {
		return
	}
	t.startWaiter(w)
	w.tr.external = true
	if w.tr.span.IsRecording() {
		w.tr.span.SetAttributes(attrCacheResult.String(CacheResultMiss))
	}
}

// forwarded hands w's trace to the dispatcher, which answers w and ends it.
func (t *Tracer) forwarded(w *cacheWaiter) *reqTrace {
	if t == nil || w.tr == nil {
		return nil
	}
	w.tr.external = false
	return w.tr
}

// follower starts follower o's span with a link to its flight leader's.
func (t *Tracer) follower(o, leader *cacheWaiter) {
	if t == nil || o == leader || o.tr == nil {
		return
	}
	if sc := leader.tr.spanContext(); sc.IsValid() {
		t.startWaiter(o, trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{linkKindAttr.String(linkCacheLeader), attrRequestID.String(leader.id)}})
		return
	}
	t.startWaiter(o)
}

// cached records that w is answered from the cache: from a stored answer
// (origin is the span of the request that stored it) or from its flight
// leader's call (coalesced).
func (t *Tracer) cached(w *cacheWaiter, origin spanRef, sim float64, exact, coalesced bool) {
	if t == nil || w.tr == nil {
		return
	}
	if origin.IsValid() {
		t.startWaiter(w, trace.Link{SpanContext: origin, Attributes: []attribute.KeyValue{linkKindAttr.String(linkCacheOrigin)}})
	} else {
		t.startWaiter(w)
	}
	if !w.tr.span.IsRecording() {
		return
	}
	result := CacheResultHit
	switch {
	case coalesced:
		result = CacheResultCoalesced
	case !exact:
		result = CacheResultSemantic
	}
	w.tr.span.SetAttributes(attrCacheResult.String(result), attrCacheSim.Float64(sim), attrAttempts.Int(0))
}

// origin is the span context a stored answer keeps: its leader's.
func (t *Tracer) origin(leader *cacheWaiter) spanRef {
	if t == nil || leader.tr == nil {
		return spanRef{}
	}
	return leader.tr.spanContext()
}

// waiterAnswered ends w's span with its answer.
func (t *Tracer) waiterAnswered(w *cacheWaiter, answer any) {
	if t == nil || w.tr == nil || w.tr.ended {
		return
	}
	if w.tr.span == nil {
		t.startWaiter(w)
	}
	t.answer(w.tr, answer)
}

// ---- Answers ----

// answer records answer on rt's span and ends it.
func (t *Tracer) answer(rt *reqTrace, answer any) {
	if rt.ended {
		return
	}
	rt.ended = true
	if !rt.span.IsRecording() {
		rt.span.End(trace.WithTimestamp(t.clk.Now()))
		return
	}
	switch a := answer.(type) {
	case *messages.Failure:
		t.failed(rt.span, a.Err)
	case messages.Response:
		t.succeeded(rt.span, a)
	}
	rt.span.End(trace.WithTimestamp(t.clk.Now()))
}

// succeeded puts a response's GenAI attributes and meta on span. Strings
// that come from the upstream pass the redactor.
func (t *Tracer) succeeded(span trace.Span, resp messages.Response) {
	if resp == nil {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	model, id, finish, usage, hasUsage := responseFacts(resp)
	if model != "" {
		attrs = append(attrs, attrResponseModel.String(t.red.String(model)))
	}
	if id != "" {
		attrs = append(attrs, attrResponseID.String(t.red.String(id)))
	}
	if finish != "" {
		attrs = append(attrs, attrFinishReasons.StringSlice([]string{t.red.String(finish)}))
	}
	if hasUsage {
		attrs = append(attrs, attrInputTokens.Int(usage.InputTokens), attrOutputTokens.Int(usage.OutputTokens))
	}
	if m := resp.ResponseMeta(); m != nil {
		if m.Endpoint != "" {
			attrs = append(attrs, attrEndpoint.String(m.Endpoint), attrKey.String(m.Key))
		}
		if m.UpstreamRequestID != "" {
			attrs = append(attrs, attrUpstreamID.String(t.red.String(m.UpstreamRequestID)))
		}
		if m.BatchID != "" {
			attrs = append(attrs, attrBatchID.String(m.BatchID), attrBatchSize.Int(m.BatchSize))
		}
	}
	span.SetAttributes(attrs...)
}

// failed marks span as failed by err: error status, error.type the class
// (or the runtime's error kind), the scrubbed message as description.
func (t *Tracer) failed(span trace.Span, err error) {
	if err == nil {
		return
	}
	typ := ErrorType(err)
	attrs := []attribute.KeyValue{attrErrorType.String(typ)}
	var ue *messages.UpstreamError
	if errors.As(err, &ue) && ue.Status > 0 {
		attrs = append(attrs, attrHTTPStatus.Int(ue.Status))
	}
	span.SetAttributes(attrs...)
	span.SetStatus(codes.Error, t.red.String(err.Error()))
}

// ---- Events from the bus ----

// onEvent turns the bus's key and breaker events into span events: a key
// cooled down or disabled by an attempt's outcome goes on that attempt's
// span (the provider publishes it before it reports the attempt); a breaker
// transition goes on the span of every request of its provider in
// progress, which lived through it.
func (t *Tracer) onEvent(ev messages.Event) {
	switch e := ev.(type) {
	case *messages.KeyCooldown:
		if span := t.eventSpanOf(e.RequestID); span != nil {
			span.AddEvent(EventKeyCooled, trace.WithTimestamp(t.clk.Now()), trace.WithAttributes(attrEndpoint.String(e.Endpoint), attrKey.String(e.Key),
				attrCooldown.Float64(e.Until.Sub(e.Time).Seconds()), attrReason.String(t.red.String(e.Reason))))
		}
	case *messages.KeyDisabled:
		if span := t.eventSpanOf(e.RequestID); span != nil {
			span.AddEvent(EventKeyDisabled, trace.WithTimestamp(t.clk.Now()), trace.WithAttributes(attrEndpoint.String(e.Endpoint), attrKey.String(e.Key),
				attrHTTPStatus.Int(e.Status)))
		}
	case *messages.BreakerStateChanged:
		name := EventBreakerClosed
		switch e.To {
		case messages.Open:
			name = EventBreakerOpen
		case messages.HalfOpen:
			name = EventBreakerHalf
		}
		attrs := []attribute.KeyValue{attrEndpoint.String(e.Endpoint), attrBreakerFrom.String(e.From.String()),
			attrReason.String(t.red.String(e.Reason)), attrBreakerTrips.Int(e.Trips)}
		if e.To == messages.Open && !e.ReopenAt.IsZero() {
			attrs = append(attrs, attrBreakerReopen.Float64(e.ReopenAt.Sub(e.Time).Seconds()))
		}
		opt := trace.WithAttributes(attrs...)
		t.mu.Lock()
		spans := make([]trace.Span, 0, len(t.live))
		for _, rt := range t.live {
			if rt.provider == e.Provider && rt.span != nil {
				spans = append(spans, rt.span)
			}
		}
		t.mu.Unlock()
		for _, s := range spans {
			s.AddEvent(name, trace.WithTimestamp(t.clk.Now()), opt)
		}
	}
}

func (t *Tracer) eventSpanOf(id string) trace.Span {
	if id == "" {
		return nil
	}
	t.mu.Lock()
	rt := t.live[id]
	t.mu.Unlock()
	if rt == nil || rt.span == nil {
		return nil
	}
	return rt.eventSpan()
}

// ---- Conventions ----

// GenAIOperation maps a Switchyard operation to gen_ai.operation.name:
// chat and the Responses API are "chat", embed "embeddings", generate
// "text_completion"; the others keep their own name (the conventions allow
// custom values).
func GenAIOperation(op string) string {
	switch op {
	case "chat", "responses":
		return "chat"
	case "embed":
		return "embeddings"
	case "generate":
		return "text_completion"
	}
	return op
}

// GenAIProvider maps a backend kind to gen_ai.provider.name: the
// conventions' well-known value where one applies (gemini is
// "gcp.gemini", Vertex AI "gcp.vertex_ai", Bedrock "aws.bedrock", Azure
// OpenAI "azure.ai.openai"), else the kind itself.
func GenAIProvider(kind string) string {
	switch kind {
	case "gemini":
		return "gcp.gemini"
	case "gemini_vertex", "anthropic_vertex":
		return "gcp.vertex_ai"
	case "anthropic_bedrock", "bedrock":
		return "aws.bedrock"
	case "azure_openai":
		return "azure.ai.openai"
	case "":
		return errorTypeOther
	}
	return kind
}

// ErrorType is the error.type of a failure: the upstream error's class
// (messages.ErrorClass.String: rate_limited, server, stream_cut, …), else the
// runtime's error kind (queue_full, circuit_open, rate_limited,
// shutting_down, no_usable_key, unknown_provider, unsupported,
// invalid_request, deadline, retry_budget, affinity_unavailable, cancelled,
// internal), else "_OTHER".
func ErrorType(err error) string {
	if k := messages.ErrorKind(err); k != "" {
		return k
	}
	return errorTypeOther
}

func priorityName(p messages.Priority) string {
	switch p {
	case messages.High:
		return "high"
	case messages.Low:
		return "low"
	}
	return "normal"
}

// hostOf is the host[:port] of a base URL, without allocating.
func hostOf(base string) string {
	if i := strings.Index(base, attemptServerScheme); i >= 0 {
		base = base[i+len(attemptServerScheme):]
	}
	if i := strings.IndexAny(base, "/?#"); i >= 0 {
		base = base[:i]
	}
	if i := strings.LastIndexByte(base, '@'); i >= 0 {
		base = base[i+1:] // never user:password@
	}
	return base
}

// responseFacts is what an answer tells of its model, ID, finish reason and
// usage.
func responseFacts(resp messages.Response) (model, id, finish string, usage messages.Usage, hasUsage bool) {
	switch r := resp.(type) {
	case *messages.ChatResponse:
		return r.Model, r.ID, r.FinishReason, r.Usage, true
	case *messages.GenerateResponse:
		return r.Model, "", r.FinishReason, r.Usage, true
	case *messages.EmbedResponse:
		return r.Model, "", "", r.Usage, true
	case *messages.RerankResponse:
		return r.Model, "", "", r.Usage, true
	case *messages.ResponsesResponse:
		return r.Model, r.ID, "", r.Usage, true
	case *messages.InferResponse:
		return r.Model, "", "", messages.Usage{}, false
	}
	return "", "", "", messages.Usage{}, false
}
