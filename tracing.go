package switchyard

import (
	"go.opentelemetry.io/otel/trace"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/redact"
)

// TracingConfig turns on OpenTelemetry traces, following the GenAI semantic
// conventions. The zero value is off: no spans, no allocations, no header
// sent upstream.
//
// With a TracerProvider, every request gets a span (kind Client) from its
// admission to its answer, named "{gen_ai.operation.name}
// {gen_ai.request.model}" (e.g. "chat gpt-4o", "embeddings bge-m3") and
// carrying gen_ai.operation.name, gen_ai.provider.name (the backend kind,
// or its well-known name: gcp.gemini, aws.bedrock, …),
// gen_ai.request.model, gen_ai.response.model, gen_ai.response.id,
// gen_ai.usage.input_tokens and output_tokens,
// gen_ai.response.finish_reasons, and Switchyard's own
// switchyard.request.id, switchyard.provider.name, switchyard.priority,
// switchyard.queue.wait (seconds), switchyard.attempts,
// switchyard.endpoint and switchyard.key (the key's label, never the
// key), switchyard.cache.result and switchyard.cache.similarity,
// switchyard.batch.id and switchyard.batch.size. A failed request has
// error status, its scrubbed message as description and error.type: the
// error class (rate_limited, server, stream_cut, …) or the runtime's error
// kind (queue_full, circuit_open, deadline, …). A stream's span ends when
// the stream ends; a cut stream is an error.
//
// Each upstream attempt is a child span, switchyard.attempt, with
// switchyard.attempt (its number), switchyard.endpoint, switchyard.key,
// server.address, http.response.status_code, error.type,
// switchyard.retry_after (seconds) and switchyard.upstream.request_id,
// and the events "key cooled" (with switchyard.cooldown) and "key
// disabled" when its outcome did that to its key. The request's span gets
// "backoff scheduled" (switchyard.backoff.delay, 0 for an immediate retry
// on another key) before each retry, and "breaker opened", "breaker
// half-open" and "breaker closed" for every transition of its provider's
// breakers while it was in progress.
//
// Requests that share an upstream call: a batch's call has its own span
// ("embeddings {model}", switchyard.batch.size, in a trace of its own) with
// a link to each member's request span, and its attempts are its children;
// a cache hit's span links to the span of the request whose answer was
// stored, and a single-flight follower's to its leader's. (The pinned
// OpenTelemetry API, v1.21, cannot add a link to a started span: a request
// whose span had to start early, the one whose prompt the semantic layer
// embeds, which is its child, records a semantic hit's origin as
// switchyard.cache.origin.trace_id and .span_id instead.)
//
// The caller's trace is continued: the span in the Go API's ctx, or for a
// request sent as an actor message, messages.Call.TraceParent and
// TraceState. Span timestamps come from Config.Clock; no attribute or event
// holds a secret (upstream strings pass the runtime's redactor).
type TracingConfig struct {
	// TracerProvider receives the spans (e.g. an SDK provider with an OTLP
	// exporter); nil turns tracing off. Switchyard never uses the global
	// provider.
	TracerProvider trace.TracerProvider `yaml:"-" json:"-"`
	// PropagateUpstream sends each attempt's W3C trace context
	// (traceparent, and tracestate when there is one) to the upstream, so a
	// self-hosted server that traces (TGI, vLLM, Ollama behind a tracing
	// proxy) joins the trace. Nil means true: it is on by default, since
	// services ignore headers they do not know. Set it to false for an
	// upstream that must not learn trace IDs. Object storage (s3) never
	// gets it.
	PropagateUpstream *bool `yaml:"propagate_upstream" json:"propagate_upstream"`
}

// tracer returns the runtime's tracer for providers (validated: each has
// its Name and Kind), or nil when tracing is off.
func (t TracingConfig) tracer(providers []ProviderConfig, events *actors.EventBus, red *redact.Redactor, clk clock.Clock) *actors.Tracer {
	if t.TracerProvider == nil {
		return nil
	}
	kinds := make(map[string]string, len(providers))
	for _, p := range providers {
		kinds[p.Name] = p.Kind
	}
	return actors.NewTracer(actors.TracerOptions{Provider: t.TracerProvider, Propagate: t.PropagateUpstream == nil || *t.PropagateUpstream,
		Redactor: red, Events: events, Kinds: kinds, Clock: clk})
}
