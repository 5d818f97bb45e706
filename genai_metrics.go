package switchyard

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Bucket boundaries the OpenTelemetry GenAI semantic conventions
// (gen-ai-metrics.md) advise for gen_ai.client.operation.duration, in
// seconds, and for gen_ai.client.token.usage, in tokens.
var (
	genAIDurationBuckets = []float64{0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92}
	genAITokenBuckets    = []float64{1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864}
	// queueWaitBuckets run from 1 ms to about 65 s, doubling.
	queueWaitBuckets = prometheus.ExponentialBuckets(0.001, 2, 17)
)

// Native histogram settings shared by every histogram here: buckets at most
// 10 % wide (schema 3, 8 buckets per power of two), at most 160 populated
// buckets per series (past that the histogram widens its buckets, and
// resets after an hour).
const (
	nativeBucketFactor   = 1.1
	nativeMaxBuckets     = 160
	nativeMinResetPeriod = time.Hour
)

// Label names of the GenAI metrics: the semantic conventions' attributes
// with dots turned into underscores (as OpenTelemetry's Prometheus exporter
// names them), plus provider, the configured provider name that labels
// every switchyard_* metric.
const (
	labelProvider     = "provider"
	labelGenAIOp      = "gen_ai_operation_name"
	labelGenAIProv    = "gen_ai_provider_name"
	labelGenAIModel   = "gen_ai_request_model"
	labelErrorType    = "error_type"
	labelGenAIToken   = "gen_ai_token_type"
	labelPriority     = "priority"
	genAITokenInput   = "input"
	genAITokenOutput  = "output"
	genAIMetricPrefix = "gen_ai_client_"
)

// genAIMetrics records, from every request's final answer, the
// OpenTelemetry GenAI client metrics and the request-level histograms the
// Tree snapshot cannot give:
//
//	gen_ai_client_operation_duration_seconds{provider,gen_ai_operation_name,gen_ai_provider_name,gen_ai_request_model,error_type}
//	gen_ai_client_token_usage{provider,gen_ai_operation_name,gen_ai_provider_name,gen_ai_request_model,gen_ai_token_type}
//	switchyard_request_queue_wait_seconds{provider,priority}
//	switchyard_retry_budget_exhausted_total{provider}
//
// Duration is admission to answer, as the caller saw it, for every
// answered request, cache hits and refusals included; error_type is empty
// on success, else the error class of the last upstream attempt
// (rate_limited, server, timeout, …) or, when none was made, what refused
// the request (queue_full, circuit_open, deadline, cancelled, …). Token
// usage counts what the upstream reported for requests it served (not
// cache hits, whose tokens were not spent again), one observation per
// token type whose count is above zero. Queue wait is the time a served
// request waited in the dispatcher's queue. Object storage operations
// (s3.*) are not GenAI operations and are not recorded; requests naming no
// configured provider are recorded with an empty provider label, so callers
// cannot grow the label set with made-up names (the model label is the
// request's, as in the batching metrics).
//
// Histograms are exposed in both forms: classic buckets (the boundaries
// the conventions advise for the two GenAI metrics, 1 ms to 65 s doubling
// for queue wait), which every Prometheus scrapes and histogram_quantile
// reads from _bucket series; and native histograms (bucket factor 1.1, at
// most 160 buckets), which a Prometheus that scrapes native histograms
// (protobuf exposition) takes instead, with finer resolution and far fewer
// series. Answered takes a read lock and a map lookup for series seen
// before; it allocates only for a new label combination and when
// client_golang itself does. Safe for concurrent use.
type genAIMetrics struct {
	clock  clock.Clock
	kindOf map[string]string // provider name → gen_ai.provider.name

	duration, tokens, queueWait *prometheus.HistogramVec
	budgetExhausted             *prometheus.CounterVec

	// waits and budget hold the per-provider series, created up front (the
	// provider set is fixed): read without locking.
	waits  map[string]*[3]prometheus.Observer
	budget map[string]prometheus.Counter

	mu     sync.RWMutex
	series map[genAISeriesKey]prometheus.Observer
}

// Which metric a genAISeriesKey names: the duration (with its error
// type), or the input or output token usage (error type empty).
const (
	genAIDuration uint8 = iota
	genAIInputToken
	genAIOutputToken
)

// genAISeriesKey identifies one series of the GenAI metrics: which metric,
// and its label values before naming (provider name, request operation,
// model, error type).
type genAISeriesKey struct {
	metric                           uint8
	provider, operation, model, errT string
}

// newGenAIMetrics returns the recorder for an instance whose providers
// have the kinds kindOf gives (provider name → ProviderConfig.Kind); clk is
// the runtime's clock, against which AuditInfo.Admitted was taken.
func newGenAIMetrics(kindOf map[string]string, clk clock.Clock) *genAIMetrics {
	if clk == nil {
		clk = clock.Real
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: name, Help: help, Buckets: buckets,
			NativeHistogramBucketFactor:     nativeBucketFactor,
			NativeHistogramMaxBucketNumber:  nativeMaxBuckets,
			NativeHistogramMinResetDuration: nativeMinResetPeriod,
		}, labels)
	}
	g := &genAIMetrics{
		clock:  clk,
		kindOf: map[string]string{},
		duration: hist(genAIMetricPrefix+"operation_duration_seconds",
			"GenAI operation duration: admission to answer (OpenTelemetry gen_ai.client.operation.duration).",
			genAIDurationBuckets, labelProvider, labelGenAIOp, labelGenAIProv, labelGenAIModel, labelErrorType),
		tokens: hist(genAIMetricPrefix+"token_usage",
			"Tokens per request the upstream reported, by type input|output (OpenTelemetry gen_ai.client.token.usage).",
			genAITokenBuckets, labelProvider, labelGenAIOp, labelGenAIProv, labelGenAIModel, labelGenAIToken),
		queueWait: hist("switchyard_request_queue_wait_seconds",
			"Time each served request waited in the dispatcher's queue, per provider and priority.",
			queueWaitBuckets, labelProvider, labelPriority),
		budgetExhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchyard_retry_budget_exhausted_total",
			Help: "Requests that failed because a retry was due but the retry budget was spent.",
		}, []string{labelProvider}),
		waits:  map[string]*[3]prometheus.Observer{},
		budget: map[string]prometheus.Counter{},
		series: map[genAISeriesKey]prometheus.Observer{},
	}
	for name, kind := range kindOf {
		g.kindOf[name] = actors.GenAIProvider(kind)
		var w [3]prometheus.Observer
		for i := range w {
			w[i] = g.queueWait.WithLabelValues(name, messages.PriorityAt(i).String())
		}
		g.waits[name] = &w
		g.budget[name] = g.budgetExhausted.WithLabelValues(name)
	}
	return g
}

// Describe sends the descriptors of every metric g records.
func (g *genAIMetrics) Describe(ch chan<- *prometheus.Desc) {
	g.duration.Describe(ch)
	g.tokens.Describe(ch)
	g.queueWait.Describe(ch)
	g.budgetExhausted.Describe(ch)
}

// Collect sends every series g has recorded.
func (g *genAIMetrics) Collect(ch chan<- prometheus.Metric) {
	g.duration.Collect(ch)
	g.tokens.Collect(ch)
	g.queueWait.Collect(ch)
	g.budgetExhausted.Collect(ch)
}

// Answered records one answered request (actors.Auditor).
func (g *genAIMetrics) Answered(req messages.Request, answer any, how actors.AuditInfo) {
	ci := providers.CallInfo(req)
	if ci == nil {
		return // a nil request: no operation to name
	}
	op := req.Operation()
	if strings.HasPrefix(op, "s3.") {
		return
	}
	provider := ci.Provider
	if _, ok := g.kindOf[provider]; !ok {
		provider = ""
	}
	// The time since admission, unless the answer carries its latency (a
	// clock read is not free on a hot path).
	elapsed := func() time.Duration {
		if how.Admitted.IsZero() {
			return 0
		}
		return max(g.clock.Now().Sub(how.Admitted), 0)
	}
	k := genAISeriesKey{metric: genAIDuration, provider: provider, operation: op, model: messages.ModelOf(req)}
	switch v := answer.(type) {
	case messages.Response:
		var m *messages.Meta
		if v != nil {
			m = v.ResponseMeta()
		}
		var took time.Duration
		if m != nil && m.Latency > 0 {
			took = m.Latency
		} else {
			took = elapsed()
		}
		g.observer(k).Observe(took.Seconds())
		if m == nil || m.Cached {
			return
		}
		u := messages.UsageOf(v)
		if u.InputTokens > 0 {
			k.metric = genAIInputToken
			g.observer(k).Observe(float64(u.InputTokens))
		}
		if u.OutputTokens > 0 {
			k.metric = genAIOutputToken
			g.observer(k).Observe(float64(u.OutputTokens))
		}
		if w := g.waits[provider]; w != nil && m.Attempts > 0 {
			w[ci.Priority.Index()].Observe(m.Queued.Seconds())
		}
	case *messages.Failure:
		var err error
		if v != nil {
			err = v.Err
		}
		k.errT = errorTypeOf(err)
		g.observer(k).Observe(elapsed().Seconds())
		if c := g.budget[provider]; c != nil && retryBudgetSpent(err) {
			c.Inc()
		}
	}
}

// observer returns the series k names, creating it the first time.
func (g *genAIMetrics) observer(k genAISeriesKey) prometheus.Observer {
	g.mu.RLock()
	o := g.series[k]
	g.mu.RUnlock()
	if o != nil {
		return o
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if o = g.series[k]; o != nil {
		return o
	}
	op, prov := actors.GenAIOperation(k.operation), g.kindOf[k.provider]
	switch k.metric {
	case genAIInputToken:
		o = g.tokens.WithLabelValues(k.provider, op, prov, k.model, genAITokenInput)
	case genAIOutputToken:
		o = g.tokens.WithLabelValues(k.provider, op, prov, k.model, genAITokenOutput)
	default:
		o = g.duration.WithLabelValues(k.provider, op, prov, k.model, k.errT)
	}
	g.series[k] = o
	return o
}

// errorTypeOf is the error_type of a failed request: messages.ErrorKind
// (the last upstream error's class, else the kind of refusal), the same word
// the audit log and the traces use; "internal" when it names none, since a
// failure must have a non-empty type.
func errorTypeOf(err error) string {
	if k := messages.ErrorKind(err); k != "" {
		return k
	}
	return "internal"
}

// retryBudgetSpent reports whether err is ErrRetryBudget; the runtime's
// own *RequestError without a cause (its last upstream error is never a
// budget error) is read without allocating.
func retryBudgetSpent(err error) bool {
	if re, ok := err.(*messages.RequestError); ok && re.Cause == nil {
		return re.Kind == messages.ErrRetryBudget
	}
	return errors.Is(err, messages.ErrRetryBudget)
}
