package actors

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
)

// TestNilTracerCostsNothing: with tracing off (a nil *Tracer, the
// default), every hook the actors call allocates nothing.
func TestNilTracerCostsNothing(t *testing.T) {
	var tr *Tracer
	req := &messages.ChatRequest{Call: messages.Call{RequestID: "r", Provider: "p"}, Model: "m"}
	e := &entry{id: "r", req: req, call: &req.Call, group: &batchGroup{}}
	d := &Dispatcher{&dispatcherState{}}
	w := &cacheWaiter{id: "r", req: req, call: &req.Call}
	x := &execute{d: &dispatch{id: "r", req: req}}
	k := &Key{}
	call := &providers.Call{}
	ue := &messages.UpstreamError{Class: messages.ClassRateLimited}
	answer := &messages.Failure{RequestID: "r", Err: ue}
	done := &attemptDone{}
	ctx := context.Background()
	hooks := []struct {
		name string
		run  func()
	}{
		{"admitted", func() { tr.admitted(d, e, ctx, nil) }},
		{"refused", func() { tr.refused(d, req, ctx, nil, answer) }},
		{"attemptReported", func() { tr.attemptReported(e) }},
		{"backoff", func() { tr.backoff(e, time.Second, ue, true) }},
		{"finished", func() { tr.finished(e, answer) }},
		{"batchStarted", func() { tr.batchStarted(e) }},
		{"batchDone", func() { tr.batchDone(e, done) }},
		{"entryDone", func() { tr.entryDone(e) }},
		{"attempt", func() {
			c, s := tr.attempt(ctx, x, k)
			if c != ctx || s != nil {
				panic("a nil tracer changed the attempt's context")
			}
		}},
		{"attemptResult", func() { tr.attemptResult(x, nil, call, ue) }},
		{"waiter", func() { w.tr = tr.waiter(w) }},
		{"lookupFor", func() { _ = tr.lookupFor(w) }},
		{"leading", func() { tr.leading(w) }},
		{"forwarded", func() { _ = tr.forwarded(w) }},
		{"follower", func() { tr.follower(w, w) }},
		{"cached", func() { tr.cached(w, spanRef{}, 1, true, false) }},
		{"origin", func() { _ = tr.origin(w) }},
		{"waiterAnswered", func() { tr.waiterAnswered(w, answer) }},
	}
	for _, h := range hooks {
		t.Run(h.name, func(t *testing.T) {
			assert.Zero(t, testing.AllocsPerRun(100, h.run), "a nil tracer's %s allocates", h.name)
		})
	}
	assert.Nil(t, NewTracer(TracerOptions{}), "no provider: no tracer")
}

func TestGenAINames(t *testing.T) {
	ops := []struct{ op, want string }{
		{"chat", "chat"}, {"responses", "chat"}, {"embed", "embeddings"}, {"generate", "text_completion"},
		{"rerank", "rerank"}, {"count_tokens", "count_tokens"}, {"object.put", "object.put"},
	}
	for _, c := range ops {
		assert.Equal(t, c.want, GenAIOperation(c.op), "operation %q", c.op)
	}
	kinds := []struct{ kind, want string }{
		{"openai", "openai"}, {"anthropic", "anthropic"}, {"gemini", "gcp.gemini"}, {"gemini_vertex", "gcp.vertex_ai"},
		{"anthropic_bedrock", "aws.bedrock"}, {"azure_openai", "azure.ai.openai"}, {"groq", "groq"}, {"hf_tgi", "hf_tgi"}, {"", "_OTHER"},
	}
	for _, c := range kinds {
		assert.Equal(t, c.want, GenAIProvider(c.kind), "kind %q", c.kind)
	}
}

func TestErrorType(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{&messages.UpstreamError{Class: messages.ClassRateLimited}, "rate_limited"},
		{fmt.Errorf("wrapped: %w", &messages.UpstreamError{Class: messages.ClassStreamCut}), "stream_cut"},
		{&messages.QueueFullError{}, "queue_full"},
		{&messages.CircuitOpenError{}, "circuit_open"},
		{&messages.RequestError{Kind: messages.ErrDeadline}, "deadline"},
		{&messages.RequestError{Kind: context.Canceled}, "cancelled"},
		{&messages.RequestError{Kind: messages.ErrRetryBudget}, "retry_budget"},
		{errors.New("something else"), "_OTHER"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, ErrorType(c.err), "%v", c.err)
	}
}

func TestHostOf(t *testing.T) {
	cases := []struct{ url, want string }{
		{"http://127.0.0.1:8080/v1", "127.0.0.1:8080"},
		{"https://api.openai.com/v1?x=1", "api.openai.com"},
		{"https://user:secret@example.com/", "example.com"},
		{"example.com", "example.com"},
		{"", ""},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, hostOf(c.url), "%q", c.url)
	}
}

func TestParentOf(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tid, err := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex("00f067aa0ba902b7")
	require.NoError(t, err)
	local := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	cases := []struct {
		name      string
		ctx       context.Context
		call      messages.Call
		trace     trace.TraceID
		span      trace.SpanID
		valid     bool
		remote    bool
		tracestte string
	}{
		{name: "ctx wins over the call", ctx: trace.ContextWithSpanContext(context.Background(), local), call: messages.Call{TraceParent: tp},
			trace: local.TraceID(), span: local.SpanID(), valid: true},
		{name: "the call's traceparent", ctx: context.Background(), call: messages.Call{TraceParent: tp, TraceState: "vendor=x"},
			trace: tid, span: sid, valid: true, remote: true, tracestte: "vendor=x"},
		{name: "nil ctx", call: messages.Call{TraceParent: tp}, trace: tid, span: sid, valid: true, remote: true},
		{name: "malformed traceparent", ctx: context.Background(), call: messages.Call{TraceParent: "00-zz-00-01"}},
		{name: "none", ctx: context.Background()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sc := parentOf(c.ctx, &c.call)
			require.Equal(t, c.valid, sc.IsValid())
			if !c.valid {
				return
			}
			assert.Equal(t, c.trace, sc.TraceID())
			assert.Equal(t, c.span, sc.SpanID())
			assert.Equal(t, c.remote, sc.IsRemote())
			assert.Equal(t, c.tracestte, sc.TraceState().String())
		})
	}
}

// TestTracerBusEvents: key events go on the span of the attempt that caused
// them (by request ID); a breaker transition goes on every live request
// span of its provider and no other; strings pass the redactor.
func TestTracerBusEvents(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	bus := NewEventBus(nil)
	const secret = "sk-tracer-bus-SECRET-0123456789"
	tr := NewTracer(TracerOptions{Provider: tp, Events: bus, Redactor: redact.New(secret)})
	require.NotNil(t, tr)

	start := func(id, provider string) *reqTrace {
		rt := &reqTrace{}
		tr.startRequest(rt, &messages.ChatRequest{Call: messages.Call{RequestID: id, Provider: provider}, Model: "m"}, "openai")
		tr.register(id, rt)
		return rt
	}
	a, b, other := start("a", "p"), start("b", "p"), start("c", "q")
	_, attempt := tr.tracer.Start(trace.ContextWithSpan(context.Background(), a.span), AttemptSpanName)
	a.setAttempt(attempt)

	now := time.Now()
	bus.Publish(&messages.KeyCooldown{Time: now, Provider: "p", Endpoint: "primary", Key: "k1", Until: now.Add(2 * time.Second), Reason: "429 " + secret, RequestID: "a"})
	bus.Publish(&messages.KeyDisabled{Time: now, Provider: "p", Endpoint: "primary", Key: "k2", Status: 401, RequestID: "b"})
	bus.Publish(&messages.BreakerStateChanged{Time: now, Provider: "p", Endpoint: "primary", From: messages.Closed, To: messages.Open, Reason: "5 failures", ReopenAt: now.Add(time.Second), Trips: 1})
	bus.Publish(&messages.KeyCooldown{Time: now, Provider: "p", Key: "k1", Until: now.Add(time.Second), RequestID: "unknown"})
	a.endAttempt(false, now)
	tr.forget(b)
	bus.Publish(&messages.BreakerStateChanged{Time: now, Provider: "p", Endpoint: "primary", From: messages.Open, To: messages.HalfOpen})
	for _, rt := range []*reqTrace{a, b, other} {
		rt.span.End()
	}

	events := map[string][]string{}
	for _, s := range rec.Ended() {
		name := s.Name()
		for _, kv := range s.Attributes() {
			if kv.Key == attrRequestID {
				name += "/" + kv.Value.AsString()
			}
		}
		for _, ev := range s.Events() {
			events[name] = append(events[name], ev.Name)
			for _, kv := range ev.Attributes {
				assert.NotContains(t, kv.Value.Emit(), secret, "event %s attribute %s", ev.Name, kv.Key)
			}
			if ev.Name == EventKeyCooled {
				assert.Contains(t, ev.Attributes, attrCooldown.Float64(2), "the cooldown's length")
			}
		}
	}
	assert.Equal(t, map[string][]string{
		AttemptSpanName: {EventKeyCooled},
		"chat m/a":      {EventBreakerOpen, EventBreakerHalf},
		"chat m/b":      {EventKeyDisabled, EventBreakerOpen},
	}, events)
}

// TestTraceparentMatchesThePropagator: the traceparent an attempt sends is
// what the OpenTelemetry W3C propagator writes for its span context.
func TestTraceparentMatchesThePropagator(t *testing.T) {
	ts, err := trace.ParseTraceState("vendor=x")
	require.NoError(t, err)
	for _, flags := range []trace.TraceFlags{0, trace.FlagsSampled, 0xff} {
		sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0xab, 1, 2, 3, 0xff}, SpanID: trace.SpanID{9, 8, 0xcd}, TraceFlags: flags, TraceState: ts})
		carrier := propagation.MapCarrier{}
		propagation.TraceContext{}.Inject(trace.ContextWithSpanContext(context.Background(), sc), carrier)
		assert.Equal(t, carrier["traceparent"], traceparent(sc), "flags %v", flags)
		assert.Equal(t, carrier["tracestate"], sc.TraceState().String())
	}
}
