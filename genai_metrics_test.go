package switchyard

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// genAIHistogram returns the one histogram of family name whose labels are
// exactly want (absent labels count as ""), failing t unless there is
// exactly one.
func genAIHistogram(t *testing.T, fams []*dto.MetricFamily, name string, want map[string]string) *dto.Histogram {
	t.Helper()
	var found []*dto.Histogram
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		require.Equal(t, dto.MetricType_HISTOGRAM, f.GetType(), "%s is not a histogram", name)
	next:
		for _, m := range f.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue next
				}
			}
			for k, v := range got {
				if _, ok := want[k]; !ok && v != "" {
					continue next
				}
			}
			found = append(found, m.GetHistogram())
		}
	}
	require.Len(t, found, 1, "%s%v: %d histograms, want 1", name, want, len(found))
	return found[0]
}

// gatherAndCount counts the series of family name in what reg gathers.
func gatherAndCount(reg prometheus.Gatherer, name string) (int, error) {
	fams, err := reg.Gather()
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric()), err
		}
	}
	return 0, err
}

// counterValue is the value of c.
func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	require.NoError(t, c.Write(&m))
	return m.GetCounter().GetValue()
}

// genAILabels are the labels of the GenAI metrics of one series.
func genAILabels(provider, op, genAIProvider, model, errType string) map[string]string {
	return map[string]string{labelProvider: provider, labelGenAIOp: op, labelGenAIProv: genAIProvider, labelGenAIModel: model, labelErrorType: errType}
}

// tokenLabels are the labels of one gen_ai_client_token_usage series.
func tokenLabels(provider, op, genAIProvider, model, tokenType string) map[string]string {
	return map[string]string{labelProvider: provider, labelGenAIOp: op, labelGenAIProv: genAIProvider, labelGenAIModel: model, labelGenAIToken: tokenType}
}

// A real instance against the OpenAI simulator: every answered request is
// one duration observation under its labels, token usage sums to what the
// answers reported, a failure is labelled with its error class, and the
// collector exports it all through a pedantic registry.
func TestGenAIMetricsFromRealRequests(t *testing.T) {
	srv := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("oa", srv)},
		Retry: RetryConfig{MaxAttempts: 1}}, false)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(h.sy.Collector()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	const chats = 5
	var in, out float64
	for i := range chats {
		req := openaiChat(fmt.Sprintf("hello number %d with %d extra words", i, i))
		req.Provider = "oa"
		resp, err := h.sy.Chat(ctx, req)
		require.NoError(t, err, "chat %d", i)
		require.NotZero(t, resp.Usage.InputTokens, "chat %d reported no input tokens", i)
		require.NotZero(t, resp.Usage.OutputTokens, "chat %d reported no output tokens", i)
		in += float64(resp.Usage.InputTokens)
		out += float64(resp.Usage.OutputTokens)
	}
	emb, err := h.sy.Embed(ctx, &messages.EmbedRequest{Call: messages.Call{Provider: "oa"}, Model: "text-embedding-test", Inputs: []string{"one", "two"}})
	require.NoError(t, err, "embed")
	srv.Inject(sim.Fault{Status: 500})
	req := openaiChat("this one fails")
	req.Provider = "oa"
	_, err = h.sy.Chat(ctx, req)
	require.ErrorIs(t, err, ErrUpstream, "injected 500")
	_, err = h.sy.Chat(ctx, chatReq("no-such-provider", "x"))
	require.ErrorIs(t, err, ErrUnknownProvider, "unknown provider")

	fams, err := reg.Gather()
	require.NoError(t, err)
	const dur, tok = "gen_ai_client_operation_duration_seconds", "gen_ai_client_token_usage"
	for _, c := range []struct {
		name, what string
		labels     map[string]string
		count      uint64
		sum        float64 // checked when not negative
	}{
		{dur, "successful chats", genAILabels("oa", "chat", "openai", "gpt-test", ""), chats, -1},
		{dur, "the failed chat", genAILabels("oa", "chat", "openai", "gpt-test", "server"), 1, -1},
		{dur, "the unknown provider's chat", genAILabels("", "chat", "", "claude-test", "unknown_provider"), 1, -1},
		{dur, "the embedding", genAILabels("oa", "embeddings", "openai", "text-embedding-test", ""), 1, -1},
		{tok, "chat input tokens", tokenLabels("oa", "chat", "openai", "gpt-test", "input"), chats, in},
		{tok, "chat output tokens", tokenLabels("oa", "chat", "openai", "gpt-test", "output"), chats, out},
		{tok, "embedding input tokens", tokenLabels("oa", "embeddings", "openai", "text-embedding-test", "input"), 1, float64(emb.Usage.InputTokens)},
		{"switchyard_request_queue_wait_seconds", "queue waits", map[string]string{"provider": "oa", "priority": "NORMAL"}, chats + 1, -1},
	} {
		hist := genAIHistogram(t, fams, c.name, c.labels)
		assert.Equal(t, c.count, hist.GetSampleCount(), "%s: %s count", c.what, c.name)
		if c.sum >= 0 {
			assert.Equal(t, c.sum, hist.GetSampleSum(), "%s: %s sum", c.what, c.name)
		}
		// The last classic bucket holds every observation here, and the
		// native form is there too.
		require.NotEmpty(t, hist.GetBucket(), "%s: no classic buckets", c.what)
		assert.Equal(t, c.count, hist.GetBucket()[len(hist.GetBucket())-1].GetCumulativeCount(), "%s: last bucket", c.what)
		assert.Equal(t, int32(3), hist.GetSchema(), "%s: native schema", c.what)
	}
	// Token series: chat input and output, embedding input (its output
	// count is zero, so none); the failures made none.
	n, err := gatherAndCount(reg, tok)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "token usage series")
	// The classic buckets are the ones the conventions advise.
	hist := genAIHistogram(t, fams, tok, tokenLabels("oa", "chat", "openai", "gpt-test", "input"))
	var bounds []float64
	for _, b := range hist.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	assert.Equal(t, genAITokenBuckets, bounds, "token usage buckets")
	hist = genAIHistogram(t, fams, dur, genAILabels("oa", "chat", "openai", "gpt-test", ""))
	bounds = bounds[:0]
	for _, b := range hist.GetBucket() {
		bounds = append(bounds, b.GetUpperBound())
	}
	assert.Equal(t, genAIDurationBuckets, bounds, "duration buckets")
	// No retry budget was exhausted; the counter exists at zero.
	assert.Equal(t, 0.0, counterValue(t, h.sy.genai.budget["oa"]))
}

// A due retry refused by a spent retry budget counts in
// switchyard_retry_budget_exhausted_total, is labelled with the last
// attempt's class, and the budget gauge shows less than one retry left.
func TestGenAIMetricsRetryBudgetExhausted(t *testing.T) {
	srv := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("oa", srv)},
		Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond,
			BudgetRatio: 0.001, BudgetPerSecond: 0.001, BudgetBurst: 0.5}}, false)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(h.sy.Collector()))
	srv.Inject(sim.Fault{Status: 500})
	req := openaiChat("retry me")
	req.Provider = "oa"
	_, err := h.sy.Chat(context.Background(), req)
	require.ErrorIs(t, err, ErrRetryBudget)

	n, err := gatherAndCount(reg, "switchyard_retry_budget_exhausted_total")
	require.NoError(t, err)
	require.Equal(t, 1, n, "one provider, one series")
	assert.Equal(t, 1.0, counterValue(t, h.sy.genai.budget["oa"]))
	fams, err := reg.Gather()
	require.NoError(t, err)
	hist := genAIHistogram(t, fams, "gen_ai_client_operation_duration_seconds", genAILabels("oa", "chat", "openai", "gpt-test", "server"))
	assert.Equal(t, uint64(1), hist.GetSampleCount())
	left := collectorSample(t, fams, "switchyard_retry_budget_available", nil)
	assert.Less(t, left, 1.0, "retry budget available")
}

// Answered records exactly what the answer says: durations on the runtime's
// (here manual) clock into the spec's buckets, tokens not for cache hits,
// queue waits only for requests that were sent, nothing for object
// operations or nil requests.
func TestGenAIMetricsAnswered(t *testing.T) {
	clk := newTestClock(t)
	g := newGenAIMetrics(map[string]string{"az": "azure_openai", "an": "anthropic"}, clk)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(g))
	chat := func(provider string, p messages.Priority) *messages.ChatRequest {
		return &messages.ChatRequest{Call: messages.Call{Provider: provider, Priority: p}, Model: "m"}
	}
	resp := func(latency, queued time.Duration, attempts int, cached bool, in, out int) *messages.ChatResponse {
		return &messages.ChatResponse{Meta: messages.Meta{Provider: "az", Latency: latency, Queued: queued, Attempts: attempts, Cached: cached},
			Usage: messages.Usage{InputTokens: in, OutputTokens: out}}
	}
	admitted := clk.Now().Add(-3 * time.Second)
	// Served: 2 s by the response's own latency.
	g.Answered(chat("az", messages.High), resp(2*time.Second, 250*time.Millisecond, 1, false, 100, 7), actors.AuditInfo{Admitted: admitted, Attempts: 1})
	// A cache hit with no latency of its own: 3 s by the clock, no tokens, no wait.
	g.Answered(chat("az", messages.High), resp(0, 0, 0, true, 100, 7), actors.AuditInfo{Admitted: admitted})
	// Failures: 3 s by the clock.
	g.Answered(chat("an", messages.Low), &messages.Failure{Err: &messages.RequestError{Kind: messages.ErrQueueFull}}, actors.AuditInfo{Admitted: admitted})
	g.Answered(chat("an", messages.Low), &messages.Failure{Err: &messages.RequestError{Kind: messages.ErrDeadline,
		Last: &messages.UpstreamError{Class: messages.ClassRateLimited}}}, actors.AuditInfo{Admitted: admitted, Attempts: 2})
	// Not recorded.
	g.Answered(nil, &messages.Failure{Err: &messages.RequestError{Kind: messages.ErrInvalidRequest}}, actors.AuditInfo{})
	g.Answered(&messages.PutObjectRequest{Call: messages.Call{Provider: "an"}}, &messages.Failure{Err: errors.New("x")}, actors.AuditInfo{Admitted: admitted})

	fams, err := reg.Gather()
	require.NoError(t, err)
	const dur = "gen_ai_client_operation_duration_seconds"
	type bucket struct {
		le    float64
		count uint64
	}
	for _, c := range []struct {
		what    string
		name    string
		labels  map[string]string
		count   uint64
		sum     float64
		buckets []bucket
	}{
		{"served and cached", dur, genAILabels("az", "chat", "azure.ai.openai", "m", ""), 2, 5, []bucket{{1.28, 0}, {2.56, 1}, {5.12, 2}}},
		{"queue full", dur, genAILabels("an", "chat", "anthropic", "m", "queue_full"), 1, 3, []bucket{{2.56, 0}, {5.12, 1}}},
		{"rate limited", dur, genAILabels("an", "chat", "anthropic", "m", "rate_limited"), 1, 3, nil},
		{"input tokens", "gen_ai_client_token_usage", tokenLabels("az", "chat", "azure.ai.openai", "m", "input"), 1, 100, []bucket{{64, 0}, {256, 1}}},
		{"output tokens", "gen_ai_client_token_usage", tokenLabels("az", "chat", "azure.ai.openai", "m", "output"), 1, 7, []bucket{{4, 0}, {16, 1}}},
		{"queue wait", "switchyard_request_queue_wait_seconds", map[string]string{"provider": "az", "priority": "HIGH"}, 1, 0.25, []bucket{{0.128, 0}, {0.256, 1}}},
	} {
		hist := genAIHistogram(t, fams, c.name, c.labels)
		assert.Equal(t, c.count, hist.GetSampleCount(), "%s count", c.what)
		assert.InDelta(t, c.sum, hist.GetSampleSum(), 1e-9, "%s sum", c.what)
		got := map[float64]uint64{}
		for _, b := range hist.GetBucket() {
			got[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		for _, b := range c.buckets {
			assert.Equal(t, b.count, got[b.le], "%s: bucket le=%v", c.what, b.le)
		}
	}
	// Queue waits exist for every provider and level, all but one empty;
	// the budget counters exist at zero.
	n, err := gatherAndCount(reg, "switchyard_request_queue_wait_seconds")
	require.NoError(t, err)
	assert.Equal(t, 6, n, "queue wait series")
	n, err = gatherAndCount(reg, dur)
	require.NoError(t, err)
	assert.Equal(t, 3, n, "duration series: the nil and object requests made none")
	n, err = gatherAndCount(reg, "switchyard_retry_budget_exhausted_total")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "retry budget series")
}

// Answered allocates nothing of its own for a series it has seen.
func TestGenAIMetricsAnsweredAllocations(t *testing.T) {
	clk := newTestClock(t)
	g := newGenAIMetrics(map[string]string{"oa": "openai"}, clk)
	req := &messages.ChatRequest{Call: messages.Call{Provider: "oa"}, Model: "m"}
	ok := &messages.ChatResponse{Meta: messages.Meta{Latency: 300 * time.Millisecond, Queued: 2 * time.Millisecond, Attempts: 1},
		Usage: messages.Usage{InputTokens: 12, OutputTokens: 34}}
	refused := &messages.Failure{Err: &messages.RequestError{Kind: messages.ErrQueueFull}}
	failed := &messages.Failure{Err: &messages.RequestError{Kind: messages.ErrUpstream, Last: &messages.UpstreamError{Class: messages.ClassServer}}}
	spent := &messages.Failure{Err: &messages.RequestError{Kind: messages.ErrRetryBudget, Last: &messages.UpstreamError{Class: messages.ClassServer}}}
	how := actors.AuditInfo{Admitted: clk.Now(), Attempts: 1}
	for _, c := range []struct {
		name   string
		answer any
	}{{"success", ok}, {"refusal", refused}, {"upstream failure", failed}, {"retry budget spent", spent}} {
		g.Answered(req, c.answer, how) // creates the series
		allocs := testing.AllocsPerRun(200, func() { g.Answered(req, c.answer, how) })
		assert.Zero(t, allocs, "%s: allocations per Answered", c.name)
	}
}

func TestErrorTypeOf(t *testing.T) {
	ue := &messages.UpstreamError{Class: messages.ClassAuth}
	for _, c := range []struct {
		err  error
		want string
	}{
		{&messages.RequestError{Kind: messages.ErrRetryBudget, Last: &messages.UpstreamError{Class: messages.ClassServer}}, "server"},
		{fmt.Errorf("wrapped: %w", ue), "auth"},
		{&messages.RequestError{Kind: messages.ErrCircuitOpen}, "circuit_open"},
		{&messages.RequestError{Kind: messages.ErrQueueFull}, "queue_full"},
		{&messages.RequestError{Kind: messages.ErrDeadline}, "deadline"},
		{&messages.RequestError{Kind: context.Canceled}, "cancelled"},
		{&messages.RequestError{Kind: messages.ErrNoUsableKey}, "no_usable_key"},
		{&messages.RequestError{Kind: messages.ErrRetryBudget}, "retry_budget"},
		{&messages.RequestError{Kind: messages.ErrAffinityUnavailable}, "affinity_unavailable"},
		{errors.New("something else"), "internal"},
		{nil, "internal"},
	} {
		assert.Equal(t, c.want, errorTypeOf(c.err), "%v", c.err)
	}
}

func BenchmarkGenAIMetricsAnswered(b *testing.B) {
	g := newGenAIMetrics(map[string]string{"oa": "openai"}, nil)
	req := &messages.ChatRequest{Call: messages.Call{Provider: "oa"}, Model: "m"}
	ok := &messages.ChatResponse{Meta: messages.Meta{Latency: 300 * time.Millisecond, Queued: 2 * time.Millisecond, Attempts: 1},
		Usage: messages.Usage{InputTokens: 12, OutputTokens: 34}}
	how := actors.AuditInfo{Admitted: time.Now(), Attempts: 1}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			g.Answered(req, ok, how)
		}
	})
}
