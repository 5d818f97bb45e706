package switchyard

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/redact"
	"github.com/switchyard-ai/switchyard/sim"
)

// spanLog is a TracerProvider whose spans a test reads back: every span is
// recorded as it starts and ends.
type spanLog struct {
	rec *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
}

func newSpanLog(t *testing.T) *spanLog {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { assert.NoError(t, tp.Shutdown(context.Background())) })
	return &spanLog{rec: rec, tp: tp}
}

// ended returns the ended spans named name, in the order they ended.
func (l *spanLog) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range l.rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// request returns the ended request span of request id.
func (l *spanLog) request(t *testing.T, id string) sdktrace.ReadOnlySpan {
	t.Helper()
	for _, s := range l.rec.Ended() {
		if s.Name() != actors.AttemptSpanName && attrOf(s, "switchyard.request.id").AsString() == id {
			return s
		}
	}
	require.FailNow(t, "no ended span", "of request %s; ended: %s", id, spanNames(l.rec.Ended()))
	return nil
}

// children returns the ended spans whose parent is s, in the order they
// ended.
func (l *spanLog) children(s sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, c := range l.rec.Ended() {
		if c.Parent().SpanID() == s.SpanContext().SpanID() && c.Parent().TraceID() == s.SpanContext().TraceID() {
			out = append(out, c)
		}
	}
	return out
}

func spanNames(spans []sdktrace.ReadOnlySpan) string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name())
	}
	return strings.Join(names, ", ")
}

func attrOf(s sdktrace.ReadOnlySpan, key string) attribute.Value {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func eventAttr(ev sdktrace.Event, key string) attribute.Value {
	for _, kv := range ev.Attributes {
		if string(kv.Key) == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

func eventNames(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, ev := range s.Events() {
		out = append(out, ev.Name)
	}
	return out
}

func eventOf(t *testing.T, s sdktrace.ReadOnlySpan, name string) sdktrace.Event {
	t.Helper()
	for _, ev := range s.Events() {
		if ev.Name == name {
			return ev
		}
	}
	require.FailNow(t, "no event", "%q on span %q (events %v)", name, s.Name(), eventNames(s))
	return sdktrace.Event{}
}

// traceparentOf parses the W3C traceparent a simulator received.
func traceparentOf(t *testing.T, r sim.Record) (trace.TraceID, trace.SpanID) {
	t.Helper()
	parts := strings.Split(r.Header.Get("Traceparent"), "-")
	require.Len(t, parts, 4, "traceparent %q of %s", r.Header.Get("Traceparent"), r.Path)
	tid, err := trace.TraceIDFromHex(parts[1])
	require.NoError(t, err)
	sid, err := trace.SpanIDFromHex(parts[2])
	require.NoError(t, err)
	assert.Equal(t, "00", parts[0], "version")
	assert.Equal(t, "01", parts[3], "flags: sampled")
	return tid, sid
}

// TestTraceRetriedOnAnotherKey: a 429 on one key and the retry on another
// make one request span, a child of the caller's span, with two attempt
// spans: the first with the 429, its class and Retry-After, and the "key
// cooled" event; the second the success. The request span has the GenAI
// attributes and the "backoff scheduled" event, and each attempt's
// traceparent reached the upstream.
func TestTraceRetriedOnAnotherKey(t *testing.T) {
	spans := newSpanLog(t)
	oa := startOpenAI(t)
	oa.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "7"}})
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa, KeyConfig{Label: "a", Secret: secretA}, KeyConfig{Label: "b", Secret: secretB})},
		Retry: RetryConfig{MaxAttempts: 3}, Tracing: TracingConfig{TracerProvider: spans.tp}}, false)

	ctx, caller := spans.tp.Tracer("test").Start(context.Background(), "caller")
	resp, err := h.sy.Chat(ctx, openaiChat("hello traces"), WithPriority(High))
	caller.End()
	require.NoError(t, err)
	require.Equal(t, 2, resp.Attempts)

	req := spans.request(t, resp.RequestID)
	assert.Equal(t, "chat gpt-test", req.Name())
	assert.Equal(t, trace.SpanKindClient, req.SpanKind())
	assert.Equal(t, caller.SpanContext().TraceID(), req.SpanContext().TraceID(), "the caller's trace is continued")
	assert.Equal(t, caller.SpanContext().SpanID(), req.Parent().SpanID(), "the request span is the caller span's child")
	assert.Equal(t, codes.Unset, req.Status().Code)
	for key, want := range map[string]attribute.Value{
		"gen_ai.operation.name":          attribute.StringValue("chat"),
		"gen_ai.provider.name":           attribute.StringValue("openai"),
		"gen_ai.request.model":           attribute.StringValue("gpt-test"),
		"gen_ai.response.model":          attribute.StringValue(resp.Model),
		"gen_ai.response.id":             attribute.StringValue(resp.ID),
		"gen_ai.usage.input_tokens":      attribute.IntValue(resp.Usage.InputTokens),
		"gen_ai.usage.output_tokens":     attribute.IntValue(resp.Usage.OutputTokens),
		"gen_ai.response.finish_reasons": attribute.StringSliceValue([]string{resp.FinishReason}),
		"switchyard.provider.name":       attribute.StringValue("openai"),
		"switchyard.priority":            attribute.StringValue("high"),
		"switchyard.attempts":            attribute.IntValue(2),
		"switchyard.endpoint":            attribute.StringValue("primary"),
		"switchyard.key":                 attribute.StringValue(resp.Key),
		"switchyard.upstream.request_id": attribute.StringValue(resp.UpstreamRequestID),
	} {
		assert.Equal(t, want.Emit(), attrOf(req, key).Emit(), "request span attribute %s", key)
	}
	assert.Equal(t, attribute.FLOAT64, attrOf(req, "switchyard.queue.wait").Type(), "queue wait")
	assert.Equal(t, []string{actors.EventBackoff}, eventNames(req), "the request span's events")
	backoff := eventOf(t, req, actors.EventBackoff)
	assert.Equal(t, 0.0, eventAttr(backoff, "switchyard.backoff.delay").AsFloat64(), "rotated at once to the other key")
	assert.True(t, eventAttr(backoff, "switchyard.retry.rotate").AsBool())
	assert.Equal(t, "rate_limited", eventAttr(backoff, "error.type").AsString())
	assert.Equal(t, int64(2), eventAttr(backoff, "switchyard.attempt").AsInt64(), "the attempt that follows")

	attempts := spans.children(req)
	require.Len(t, attempts, 2, "attempt spans: %s", spanNames(attempts))
	first, second := attempts[0], attempts[1]
	cooled := "a"
	if resp.Key == "a" {
		cooled = "b"
	}
	for _, c := range []struct {
		span   sdktrace.ReadOnlySpan
		n      int
		key    string
		status int
		code   codes.Code
		events []string
	}{
		{first, 1, cooled, 429, codes.Error, []string{actors.EventKeyCooled}},
		{second, 2, resp.Key, 200, codes.Unset, nil},
	} {
		s := c.span
		assert.Equal(t, actors.AttemptSpanName, s.Name())
		assert.Equal(t, trace.SpanKindClient, s.SpanKind())
		assert.Equal(t, int64(c.n), attrOf(s, "switchyard.attempt").AsInt64(), "attempt number")
		assert.Equal(t, c.key, attrOf(s, "switchyard.key").AsString(), "attempt %d: key label", c.n)
		assert.Equal(t, "primary", attrOf(s, "switchyard.endpoint").AsString(), "attempt %d", c.n)
		assert.Equal(t, strings.TrimPrefix(oa.URL, "http://"), attrOf(s, "server.address").AsString(), "attempt %d", c.n)
		assert.Equal(t, int64(c.status), attrOf(s, "http.response.status_code").AsInt64(), "attempt %d", c.n)
		assert.Equal(t, c.code, s.Status().Code, "attempt %d", c.n)
		assert.Equal(t, c.events, eventNames(s), "attempt %d: events", c.n)
	}
	assert.Equal(t, "rate_limited", attrOf(first, "error.type").AsString())
	assert.Equal(t, 7.0, attrOf(first, "switchyard.retry_after").AsFloat64(), "Retry-After, in seconds")
	ev := eventOf(t, first, actors.EventKeyCooled)
	assert.Equal(t, cooled, eventAttr(ev, "switchyard.key").AsString())
	assert.Equal(t, 7.0, eventAttr(ev, "switchyard.cooldown").AsFloat64(), "cooled for Retry-After")

	// Each attempt sent its own span's traceparent upstream.
	recs := oa.Requests()
	require.Len(t, recs, 2)
	for i, r := range recs {
		tid, sid := traceparentOf(t, r)
		assert.Equal(t, req.SpanContext().TraceID(), tid, "request %d: the request's trace", i)
		assert.Equal(t, attempts[i].SpanContext().SpanID(), sid, "request %d: its attempt's span", i)
	}
	for _, s := range spans.rec.Ended() {
		for _, kv := range s.Attributes() {
			assert.NotContains(t, kv.Value.Emit(), secretA, "span %s attribute %s", s.Name(), kv.Key)
			assert.NotContains(t, kv.Value.Emit(), secretB, "span %s attribute %s", s.Name(), kv.Key)
		}
	}
}

// liveEvents returns the events so far of request id's span, which may
// still be open.
func (l *spanLog) liveEvents(id string) []string {
	for _, s := range l.rec.Started() {
		if s.Name() != actors.AttemptSpanName && attrOf(s, "switchyard.request.id").AsString() == id {
			return eventNames(s)
		}
	}
	return nil
}

// TestTraceBreakerEventsOnTheWay: a request whose failed attempt opens its
// endpoint's breaker, and which waits in backoff while the breaker goes
// HALF-OPEN, has both transitions on its span, then succeeds on the probe.
func TestTraceBreakerEventsOnTheWay(t *testing.T) {
	spans := newSpanLog(t)
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)},
		Retry:   RetryConfig{MaxAttempts: 3, BaseDelay: time.Minute, MaxDelay: time.Minute},
		Breaker: BreakerConfig{ConsecutiveFailures: 1, Cooldown: 10 * time.Second, MaxCooldown: time.Minute, HalfOpenProbes: 1},
		Tracing: TracingConfig{TracerProvider: spans.tp}}, true)
	srv.Inject(sim.Fault{Status: 500})
	done := make(chan error, 1)
	go func() {
		_, err := h.sy.Chat(context.Background(), chatReq("p", "through the breaker"), WithRequestID("breaker-traced"))
		done <- err
	}()
	eventually(t, "the breaker to open", func() bool { return len(h.breakerEvents(messages.Open)) == 1 })
	eventually(t, "the open breaker on the waiting request's span", func() bool {
		return slices.Contains(spans.liveEvents("breaker-traced"), actors.EventBreakerOpen)
	})
	open := h.breakerEvents(messages.Open)[0]
	h.clk.Set(open.ReopenAt)
	eventually(t, "HALF-OPEN", func() bool { return len(h.breakerEvents(messages.HalfOpen)) == 1 })
	eventually(t, "the restarted breaker to start", func() bool { return h.endpoint("p", "primary").Incarnations == 2 })
	eventually(t, "HALF-OPEN on the waiting request's span", func() bool {
		return slices.Contains(spans.liveEvents("breaker-traced"), actors.EventBreakerHalf)
	})
	h.clk.Set(h.clk.Now().Add(2 * time.Minute)) // past the retry's backoff
	require.NoError(t, <-done)

	s := spans.request(t, "breaker-traced")
	events := eventNames(s)
	assert.Contains(t, events, actors.EventBackoff)
	require.Less(t, slices.Index(events, actors.EventBreakerOpen), slices.Index(events, actors.EventBreakerHalf), "events %v", events)
	ev := eventOf(t, s, actors.EventBreakerOpen)
	assert.Equal(t, "primary", eventAttr(ev, "switchyard.endpoint").AsString())
	assert.Equal(t, "CLOSED", eventAttr(ev, "switchyard.breaker.from").AsString())
	assert.Equal(t, open.ReopenAt.Sub(open.Time).Seconds(), eventAttr(ev, "switchyard.breaker.reopen_in").AsFloat64())
	attempts := spans.children(s)
	require.Len(t, attempts, 2)
	assert.Equal(t, "server", attrOf(attempts[0], "error.type").AsString())
	assert.Equal(t, int64(500), attrOf(attempts[0], "http.response.status_code").AsInt64())
	assert.Equal(t, codes.Unset, attempts[1].Status().Code, "the probe succeeded")
}

// TestTraceCancelledRequestEndsItsSpans: a caller that gives up while its
// attempt runs gets its request span ended with error.type cancelled, and
// the running attempt's span ends with it.
func TestTraceCancelledRequestEndsItsSpans(t *testing.T) {
	spans := newSpanLog(t)
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}, Tracing: TracingConfig{TracerProvider: spans.tp}}, false)
	oa.Hold()
	t.Cleanup(oa.Release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.sy.Chat(ctx, openaiChat("never mind"), WithRequestID("cancelled-traced"))
		done <- err
	}()
	eventually(t, "the attempt to reach the upstream", func() bool { return oa.Calls() == 1 })
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	s := spans.request(t, "cancelled-traced")
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "cancelled", attrOf(s, "error.type").AsString())
	require.Len(t, spans.children(s), 1, "the running attempt's span ended with its request")
}

// gatedBody serves an OpenAI stream up to its terminator ("data: [DONE]")
// and then waits for gate before the rest, so the stream cannot end until
// the test says so.
type gatedBody struct {
	head, tail *bytes.Reader
	gate       <-chan struct{}
	closer     io.Closer
}

func (b *gatedBody) Read(p []byte) (int, error) {
	if b.head.Len() > 0 {
		return b.head.Read(p)
	}
	<-b.gate
	return b.tail.Read(p)
}

func (b *gatedBody) Close() error { return b.closer.Close() }

type gatedTransport struct {
	next http.RoundTripper
	gate chan struct{}
}

func (g *gatedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := g.next.RoundTrip(r)
	if err != nil || !strings.HasPrefix(r.Header.Get("X-Request-Id"), "gated-") {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	i := bytes.Index(body, []byte("data: [DONE]"))
	if i < 0 {
		i = len(body)
	}
	resp.Body = &gatedBody{head: bytes.NewReader(body[:i]), tail: bytes.NewReader(body[i:]), gate: g.gate, closer: resp.Body}
	return resp, nil
}

// TestTraceStreamSpanEndsWithTheStream: a stream's request span is still
// open while the stream runs and ends with it; a stream cut by the upstream
// ends it with error status.
func TestTraceStreamSpanEndsWithTheStream(t *testing.T) {
	spans := newSpanLog(t)
	oa := startOpenAI(t)
	tr := &gatedTransport{next: http.DefaultTransport.(*http.Transport).Clone(), gate: make(chan struct{})}
	t.Cleanup(tr.next.(*http.Transport).CloseIdleConnections)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}, HTTPClient: &http.Client{Transport: tr},
		Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond}, Tracing: TracingConfig{TracerProvider: spans.tp}}, false)

	t.Run("complete", func(t *testing.T) {
		st, err := h.sy.ChatStream(context.Background(), openaiChat("a story about seven small foxes please"), WithRequestID("gated-stream"))
		require.NoError(t, err)
		require.True(t, st.Next(), "a first chunk")
		var open bool
		for _, s := range spans.rec.Started() {
			open = open || attrOf(s, "switchyard.request.id").AsString() == "gated-stream"
		}
		assert.True(t, open, "the stream's span started")
		for _, s := range spans.rec.Ended() {
			require.NotEqual(t, "gated-stream", attrOf(s, "switchyard.request.id").AsString(), "span %s ended before its stream", s.Name())
		}
		close(tr.gate)
		text, _ := collect(t, st)
		require.NoError(t, st.Err())
		require.NotEmpty(t, text)
		s := spans.request(t, "gated-stream")
		assert.Equal(t, "chat gpt-test", s.Name())
		assert.True(t, attrOf(s, "switchyard.stream").AsBool())
		assert.Equal(t, codes.Unset, s.Status().Code)
		assert.Positive(t, attrOf(s, "gen_ai.usage.output_tokens").AsInt64())
		require.Len(t, spans.children(s), 1, "one attempt")
	})
	t.Run("cut", func(t *testing.T) {
		oa.Inject(sim.Fault{CutAfter: 3})
		st, err := h.sy.ChatStream(context.Background(), openaiChat("another long story please"), WithRequestID("cut-stream"))
		require.NoError(t, err)
		_, chunks := collect(t, st)
		require.NotEmpty(t, chunks)
		require.Error(t, st.Err())
		s := spans.request(t, "cut-stream")
		assert.Equal(t, codes.Error, s.Status().Code, "a cut stream is an error")
		assert.Equal(t, "stream_cut", attrOf(s, "error.type").AsString())
		assert.NotEmpty(t, s.Status().Description)
		attempts := spans.children(s)
		require.Len(t, attempts, 1, "a stream that reached its caller is not retried")
		assert.Equal(t, codes.Error, attempts[0].Status().Code)
		assert.Equal(t, "stream_cut", attrOf(attempts[0], "error.type").AsString())
	})
}

// TestTraceBatchLinksMembers: four embeddings that share one upstream call
// make four request spans and one call span, "embeddings bge" with
// switchyard.batch.size 4, that links to each of them; the call's attempt
// is its child and sent its traceparent upstream.
func TestTraceBatchLinksMembers(t *testing.T) {
	spans := newSpanLog(t)
	srv := sim.Start(sim.TEI())
	t.Cleanup(srv.Close)
	h := newHarness(t, Config{Providers: []ProviderConfig{{Name: "tei", Kind: "hf_tei",
		Batching:  BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 4, Delay: time.Second}},
		Endpoints: []EndpointConfig{{Name: "primary", BaseURL: srv.URL}}}}, Tracing: TracingConfig{TracerProvider: spans.tp}}, false)
	var chans []<-chan embedResult
	for i := range 4 {
		_, ch := embedAsync(context.Background(), h, fmt.Sprintf("input %d", i), messages.Normal, time.Time{})
		chans = append(chans, ch)
	}
	members := map[trace.SpanID]string{}
	var batchID string
	for _, ch := range chans {
		r := <-ch
		require.NoError(t, r.err)
		require.Equal(t, 4, r.resp.BatchSize)
		batchID = r.resp.BatchID
		s := spans.request(t, r.id)
		assert.Equal(t, "embeddings bge", s.Name())
		assert.Equal(t, batchID, attrOf(s, "switchyard.batch.id").AsString(), "a member names its batch")
		assert.Empty(t, spans.children(s), "a member's attempts are its batch's")
		members[s.SpanContext().SpanID()] = r.id
	}
	call := spans.request(t, batchID)
	assert.Equal(t, "embeddings bge", call.Name())
	assert.Equal(t, int64(4), attrOf(call, "switchyard.batch.size").AsInt64())
	assert.Equal(t, "embeddings", attrOf(call, "gen_ai.operation.name").AsString())
	assert.Equal(t, "hf_tei", attrOf(call, "gen_ai.provider.name").AsString())
	linked := map[trace.SpanID]string{}
	for _, l := range call.Links() {
		linked[l.SpanContext.SpanID()] = l.SpanContext.TraceID().String()
	}
	require.Len(t, linked, 4, "the call links to every member")
	for sid := range members {
		assert.Contains(t, linked, sid, "a link to member %s", members[sid])
	}
	attempts := spans.children(call)
	require.Len(t, attempts, 1)
	recs := srv.Requests()
	require.Len(t, recs, 1, "one upstream call")
	_, sid := traceparentOf(t, recs[0])
	assert.Equal(t, attempts[0].SpanContext().SpanID(), sid)
}

// tracedCacheRig is newCacheRig with tracing.
func tracedCacheRig(t *testing.T, cc CacheConfig, spans *spanLog) *cacheRig {
	t.Helper()
	chat, emb := startOpenAI(t), startOpenAI(t)
	cc.Enabled = true
	cfg := Config{Providers: []ProviderConfig{openaiProvider("chat", chat), openaiProvider("emb", emb)}, Cache: cc,
		Retry: RetryConfig{MaxAttempts: 1}, Tracing: TracingConfig{TracerProvider: spans.tp}}
	return &cacheRig{harness: newHarness(t, cfg, false), chat: chat, emb: emb}
}

func linksOf(s sdktrace.ReadOnlySpan) map[trace.SpanID]string {
	out := map[trace.SpanID]string{}
	for _, l := range s.Links() {
		for _, kv := range l.Attributes {
			if kv.Key == "switchyard.link" {
				out[l.SpanContext.SpanID()] = kv.Value.AsString()
			}
		}
	}
	return out
}

// TestTraceCacheLinks: a cache hit's span links to the span of the request
// whose answer was stored, and a single-flight follower's to its leader's.
func TestTraceCacheLinks(t *testing.T) {
	t.Run("exact hit", func(t *testing.T) {
		spans := newSpanLog(t)
		r := tracedCacheRig(t, CacheConfig{}, spans)
		first := r.ask(det("hello traced cache"))
		second := r.ask(det("hello traced cache"))
		require.True(t, second.Cached)
		stored, hit := spans.request(t, first.RequestID), spans.request(t, second.RequestID)
		assert.Equal(t, "miss", attrOf(stored, "switchyard.cache.result").AsString())
		require.Len(t, spans.children(stored), 1, "the stored answer's attempt")
		assert.Equal(t, "chat gpt-test", hit.Name())
		assert.Equal(t, "hit", attrOf(hit, "switchyard.cache.result").AsString())
		assert.Equal(t, 1.0, attrOf(hit, "switchyard.cache.similarity").AsFloat64())
		assert.Equal(t, "openai", attrOf(hit, "gen_ai.provider.name").AsString(), "the provider's kind")
		assert.Equal(t, map[trace.SpanID]string{stored.SpanContext().SpanID(): "cache.origin"}, linksOf(hit), "the hit links to the span that stored it")
		assert.Equal(t, stored.SpanContext().TraceID(), hit.Links()[0].SpanContext.TraceID())
		assert.Empty(t, spans.children(hit), "a hit makes no attempt")
	})
	t.Run("single flight", func(t *testing.T) {
		spans := newSpanLog(t)
		r := tracedCacheRig(t, CacheConfig{}, spans)
		r.chat.Hold()
		out := make(chan chatResult, 2)
		for range 2 {
			go func() {
				resp, err := r.sy.Chat(context.Background(), det("everyone traces this"))
				out <- chatResult{resp, err}
			}()
		}
		eventually(t, "a leader and its follower", func() bool { st := r.status(); return st.InFlight == 1 && st.Followers == 1 })
		r.chat.Release()
		var leader, follower *messages.ChatResponse
		for range 2 {
			res := <-out
			require.NoError(t, res.err)
			if res.resp.Cached {
				follower = res.resp
			} else {
				leader = res.resp
			}
		}
		require.NotNil(t, leader)
		require.NotNil(t, follower)
		ls, fs := spans.request(t, leader.RequestID), spans.request(t, follower.RequestID)
		assert.Equal(t, "coalesced", attrOf(fs, "switchyard.cache.result").AsString())
		assert.Equal(t, map[trace.SpanID]string{ls.SpanContext().SpanID(): "cache.leader"}, linksOf(fs), "the follower links to its leader")
		assert.Len(t, spans.children(ls), 1, "the leader's attempt")
	})
	t.Run("semantic hit", func(t *testing.T) {
		spans := newSpanLog(t)
		r := tracedCacheRig(t, CacheConfig{Embedding: semanticRoute}, spans)
		base := "what does a circuit breaker do"
		near, _, _, _ := r.similarPrompts(base, 0.97, 0.85, 0.93)
		first := r.ask(det(base))
		r.indexed(1)
		second := r.ask(det(near))
		require.True(t, second.Cached, "a semantic hit")
		stored, hit := spans.request(t, first.RequestID), spans.request(t, second.RequestID)
		assert.Equal(t, "semantic_hit", attrOf(hit, "switchyard.cache.result").AsString())
		assert.Equal(t, second.Similarity, attrOf(hit, "switchyard.cache.similarity").AsFloat64())
		// The hit's span started before the search (its lookup is its
		// child), so the origin is named by attributes.
		assert.Equal(t, stored.SpanContext().TraceID().String(), attrOf(hit, "switchyard.cache.origin.trace_id").AsString())
		assert.Equal(t, stored.SpanContext().SpanID().String(), attrOf(hit, "switchyard.cache.origin.span_id").AsString())
		lookups := spans.children(hit)
		require.Len(t, lookups, 1, "the prompt's embedding: %s", spanNames(lookups))
		assert.Equal(t, "embeddings "+embedModel, lookups[0].Name())
		assert.True(t, attrOf(lookups[0], "switchyard.cache.lookup").AsBool())
		require.Len(t, spans.children(lookups[0]), 1, "the lookup's attempt")
	})
}

// TestTraceActorAPIContinuesTraceParent: a request sent as an actor message
// continues the trace its Call.TraceParent names.
func TestTraceActorAPIContinuesTraceParent(t *testing.T) {
	spans := newSpanLog(t)
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}, Tracing: TracingConfig{TracerProvider: spans.tp}}, false)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req := openaiChat("from an actor")
	req.RequestID, req.TraceParent, req.TraceState = "actor-traced", parent, "vendor=1"
	got := make(chan any, 10)
	pid := h.sy.ActorSystem().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &caller{dispatcher: h.sy.FrontDoor(), requests: []messages.Request{req}, got: got}
	}))
	defer h.sy.ActorSystem().Root.Stop(pid)
	select {
	case m := <-got:
		_, ok := m.(*messages.ChatResponse)
		require.True(t, ok, "answer %T %+v", m, m)
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no answer")
	}
	s := spans.request(t, "actor-traced")
	assert.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext().TraceID().String())
	assert.Equal(t, "00f067aa0ba902b7", s.Parent().SpanID().String())
	assert.True(t, s.Parent().IsRemote())
	assert.Equal(t, "vendor=1", s.SpanContext().TraceState().String(), "tracestate carries on")
	recs := oa.Requests()
	require.Len(t, recs, 1)
	tid, _ := traceparentOf(t, recs[0])
	assert.Equal(t, s.SpanContext().TraceID(), tid)
	assert.Equal(t, "vendor=1", recs[0].Header.Get("Tracestate"))
}

// TestTracePropagationAndOff: with PropagateUpstream false the spans are
// made but no trace context goes upstream; with no TracerProvider nothing
// is traced (not even through the global provider) and nothing is sent.
func TestTracePropagationAndOff(t *testing.T) {
	off := false
	cases := []struct {
		name    string
		tracing func(*spanLog) TracingConfig
		spans   bool
	}{
		{"propagation off", func(l *spanLog) TracingConfig { return TracingConfig{TracerProvider: l.tp, PropagateUpstream: &off} }, true},
		{"tracing off", func(*spanLog) TracingConfig { return TracingConfig{} }, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			global := newSpanLog(t)
			prev := otel.GetTracerProvider()
			otel.SetTracerProvider(global.tp)
			t.Cleanup(func() { otel.SetTracerProvider(prev) })
			spans := newSpanLog(t)
			oa := startOpenAI(t)
			h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}, Tracing: c.tracing(spans)}, false)
			ctx, parent := global.tp.Tracer("test").Start(context.Background(), "caller")
			resp, err := h.sy.Chat(ctx, openaiChat("hello"))
			parent.End()
			require.NoError(t, err)
			if c.spans {
				spans.request(t, resp.RequestID)
			} else {
				assert.Empty(t, spans.rec.Started(), "no spans")
			}
			var names []string
			for _, s := range global.rec.Started() {
				names = append(names, s.Name())
			}
			assert.Equal(t, []string{"caller"}, names, "the global provider is never used")
			require.NotEmpty(t, oa.Requests())
			for _, r := range oa.Requests() {
				assert.Empty(t, r.Header.Get("Traceparent"), "no trace context upstream")
			}
		})
	}
}

// TestTraceNoSecrets: against upstreams that echo every secret in their
// error bodies, headers and stream events, no span name, attribute, event,
// link or status holds any form of any canary, while the upstreams' words
// (scrubbed) do reach the spans.
func TestTraceNoSecrets(t *testing.T) {
	spans := newSpanLog(t)
	start := func(b sim.Backend) *sim.Server {
		s := sim.Start(b, sim.WithoutRecords())
		t.Cleanup(s.Close)
		return s
	}
	oa, an, gem := start(sim.OpenAI()), start(sim.Anthropic()), start(&sim.GeminiBackend{})
	backends := []secretBackend{
		{kind: "openai", baseURL: oa.URL + "/v1", plain: chatFor("gpt-test", false), stream: chatFor("gpt-test", true)},
		{kind: "anthropic", baseURL: an.URL, plain: chatFor("claude-test", false), stream: chatFor("claude-test", true)},
		{kind: "gemini", baseURL: gem.URL, plain: chatFor("gemini-2.5-flash", false), stream: chatFor("gemini-2.5-flash", true)},
	}
	tr := &hostile{kinds: map[string]string{}, next: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(tr.next.(*http.Transport).CloseIdleConnections)
	cfg := Config{HTTPClient: &http.Client{Transport: tr}, Retry: RetryConfig{MaxAttempts: 1}, Breaker: BreakerConfig{ConsecutiveFailures: 100},
		Tracing: TracingConfig{TracerProvider: spans.tp}}
	for _, b := range backends {
		u, err := url.Parse(b.baseURL)
		require.NoError(t, err)
		tr.kinds[u.Host] = b.kind
		// Every canary is a configured secret (the S3 access key too).
		keys := append(secretKeys(b.kind), KeyConfig{Label: "acc", Secret: canS3Acc})
		cfg.Providers = append(cfg.Providers, ProviderConfig{Name: b.kind, Kind: b.kind,
			Endpoints: []EndpointConfig{{Name: "primary", BaseURL: b.baseURL, Keys: keys}}})
	}
	h := newHarness(t, cfg, false)
	ctx := context.Background()
	for _, b := range backends {
		for _, sc := range []struct{ scenario, key string }{{"json400", "hf"}, {"html502", "gsk"}, {"json429", "plain"}, {"auth", "s3"}, {"ok", "sk"}} {
			_, _ = h.sy.Do(ctx, b.plain(b.kind), WithRequestID("sec-"+sc.scenario+"-"+b.kind), WithKey(sc.key))
		}
		st, err := h.sy.stream(ctx, b.stream(b.kind), []CallOption{WithRequestID("sec-stream-" + b.kind), WithKey("sk")})
		require.NoError(t, err)
		collect(t, st)
		require.Error(t, st.Err())
	}
	var dump strings.Builder
	ended := spans.rec.Ended()
	require.Len(t, ended, 2*6*len(backends), "a request span and an attempt span per request")
	for _, s := range ended {
		fmt.Fprintf(&dump, "span %s status %v %q\n", s.Name(), s.Status().Code, s.Status().Description)
		for _, kv := range s.Attributes() {
			fmt.Fprintf(&dump, "  %s=%s\n", kv.Key, kv.Value.Emit())
		}
		for _, ev := range s.Events() {
			fmt.Fprintf(&dump, "  event %s\n", ev.Name)
			for _, kv := range ev.Attributes {
				fmt.Fprintf(&dump, "    %s=%s\n", kv.Key, kv.Value.Emit())
			}
		}
		for _, l := range s.Links() {
			for _, kv := range l.Attributes {
				fmt.Fprintf(&dump, "  link %s=%s\n", kv.Key, kv.Value.Emit())
			}
		}
	}
	text := dump.String()
	assertNoCanary(t, "spans", text)
	assert.Contains(t, text, redact.Marker, "the upstreams' words reached the spans, scrubbed")
	assert.Contains(t, text, actors.EventKeyDisabled, "the 401 disabled its key")
	assert.Contains(t, text, "switchyard.upstream.request_id="+redact.Marker, "the echoed upstream request ID was scrubbed")
}

// BenchmarkTracing measures what tracing adds per request through the whole
// runtime (an in-memory upstream): off (no TracerProvider), on with a
// sampler that records nothing, and on with every span recorded to an
// in-memory exporter.
func BenchmarkTracing(b *testing.B) {
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}`)
	cases := []struct {
		name string
		tp   func() trace.TracerProvider
	}{
		{"off", func() trace.TracerProvider { return nil }},
		{"never-sample", func() trace.TracerProvider {
			return sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.NeverSample()))
		}},
		{"always-sample-in-memory", func() trace.TracerProvider {
			exp := tracetest.NewInMemoryExporter()
			return sdktrace.NewTracerProvider(sdktrace.WithSyncer(&resettingExporter{InMemoryExporter: exp}))
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			sy, err := New(Config{HTTPClient: &http.Client{Transport: memAnswer(body)}, Tracing: TracingConfig{TracerProvider: c.tp()},
				Providers: []ProviderConfig{{Name: "openai", Kind: "openai", Endpoints: []EndpointConfig{{Name: "primary", BaseURL: "http://mem.invalid/v1",
					Keys: []KeyConfig{{Label: "a", Secret: secretA, MaxInFlight: 1 << 20}}}}}}})
			require.NoError(b, err)
			b.Cleanup(func() { _ = sy.Close(context.Background()) })
			ctx := context.Background()
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := sy.Chat(ctx, openaiChat("hi")); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// resettingExporter keeps the in-memory exporter from growing without
// bound during a benchmark.
type resettingExporter struct {
	*tracetest.InMemoryExporter
	mu sync.Mutex
	n  int
}

func (e *resettingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n++; e.n%10000 == 0 {
		e.InMemoryExporter.Reset()
	}
	return e.InMemoryExporter.ExportSpans(ctx, spans)
}

// memAnswer is an upstream in memory that answers every request with body.
type memAnswer []byte

func (m memAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(m)), Request: r}, nil
}

// Spans are stamped by the runtime's clock: on a manual clock the request
// span starts when the request is admitted on it and ends when it is
// answered on it, and so do its attempts.
func TestTraceTimesComeFromTheRuntimeClock(t *testing.T) {
	spans := newSpanLog(t)
	srv := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", srv)}, Tracing: TracingConfig{TracerProvider: spans.tp}}, true)
	before := h.clk.Now()
	_, err := h.sy.Chat(context.Background(), openaiChat("what time is it"), WithRequestID("clocked"))
	require.NoError(t, err)
	after := h.clk.Now()
	req := spans.request(t, "clocked")
	for _, s := range append([]sdktrace.ReadOnlySpan{req}, spans.children(req)...) {
		assert.False(t, s.StartTime().Before(before), "%s starts %v, before the clock's %v", s.Name(), s.StartTime(), before)
		assert.False(t, s.EndTime().After(after), "%s ends %v, after the clock's %v", s.Name(), s.EndTime(), after)
	}
	require.NotEmpty(t, spans.children(req), "an attempt span")
}
