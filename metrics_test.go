package switchyard

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const metricsTestSecret = "sk-ant-test-0123456789abcdef"

// collectorLeakCheck fails t if a goroutine not covered by ignore (captured at
// the test's start) is still running after up to 3 s. The wait matters:
// after a dead letter, protoactor's dead-letter throttle keeps a goroutine
// alive for its period (1 s here), longer than goleak.VerifyNone retries.
func collectorLeakCheck(t *testing.T, ignore goleak.Option) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = goleak.Find(ignore); err == nil {
			return
		}
	}
	assert.NoError(t, err)
}

// collectorSample returns the value of the one sample of family name whose labels
// include want, and whether there is exactly one such sample.
func collectorSample(t *testing.T, fams []*dto.MetricFamily, name string, want map[string]string) float64 {
	t.Helper()
	var found []float64
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
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
			switch {
			case m.Counter != nil:
				found = append(found, m.Counter.GetValue())
			case m.Gauge != nil:
				found = append(found, m.Gauge.GetValue())
			}
		}
	}
	require.Len(t, found, 1, "%s%v: %d samples, want 1", name, want, len(found))
	return found[0]
}

func TestCollectorExportsWhatTheInstanceDid(t *testing.T) {
	defer collectorLeakCheck(t, goleak.IgnoreCurrent())

	srv := sim.Start(sim.Anthropic(), sim.WithKeys(metricsTestSecret))
	defer srv.Close()
	sy, err := New(Config{
		Providers: []ProviderConfig{{Kind: "anthropic", Endpoints: []EndpointConfig{{
			Name: "sim", BaseURL: srv.URL, Keys: []KeyConfig{{Label: "k1", Secret: metricsTestSecret}},
		}}}},
		Retry: RetryConfig{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
	})
	require.NoError(t, err)
	closed := false
	defer func() {
		if !closed {
			_ = sy.Close(context.Background())
		}
	}()

	// One 500 first: that request is retried once and then succeeds.
	srv.Inject(sim.Fault{Status: 500})
	const calls = 4
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range calls {
		resp, err := sy.Chat(ctx, &messages.ChatRequest{Call: messages.Call{Provider: "anthropic"}, Model: "claude-test",
			Messages: []messages.Message{{Role: "user", Content: "hi there number " + string(rune('a'+i))}}})
		require.NoError(t, err, "chat %d: %v", i, err)
		require.Equal(t, "k1", resp.Key, "chat %d answered by key %q", i, resp.Key)
	}

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(sy.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	key := map[string]string{"provider": "anthropic", "endpoint": "sim", "key": "k1"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range key {
			m[a] = b
		}
		return m
	}
	expect := func(name string, labels map[string]string, want float64) {
		t.Helper()
		got := collectorSample(t, fams, name, labels)
		assert.Equal(t, want, got, "%s%v = %v, want %v", name, labels, got, want)
	}
	expect("switchyard_requests_total", key, calls+1)
	expect("switchyard_successes_total", key, calls)
	expect("switchyard_failures_total", with("class", "server"), 1)
	expect("switchyard_retries_total", map[string]string{"provider": "anthropic"}, 1)
	expect("switchyard_in_flight", key, 0)
	expect("switchyard_breaker_state", map[string]string{"provider": "anthropic", "endpoint": "sim"}, 0)
	expect("switchyard_breaker_trips_total", map[string]string{"provider": "anthropic", "endpoint": "sim"}, 0)
	expect("switchyard_key_state", with("state", "active"), 1)
	expect("switchyard_key_state", with("state", "cooling"), 0)
	expect("switchyard_key_state", with("state", "disabled"), 0)
	expect("switchyard_queue_admitted_total", map[string]string{"priority": "NORMAL"}, calls)
	expect("switchyard_queue_rejected_total", map[string]string{"priority": "NORMAL"}, 0)
	expect("switchyard_queue_depth", map[string]string{"priority": "HIGH"}, 0)
	expect("switchyard_queued", map[string]string{"provider": "anthropic", "priority": "LOW"}, 0)
	got := collectorSample(t, fams, "switchyard_queue_capacity", map[string]string{"priority": "LOW"})
	assert.False(t, got <= 0, "queue capacity LOW = %v, want > 0", got)
	// One retry spent from the default budget (burst 100), which refills
	// meanwhile: more than one retry left, never more than the burst.
	budget := collectorSample(t, fams, "switchyard_retry_budget_available", nil)
	assert.True(t, budget > 1 && budget <= 100, "retry budget available = %v, want in (1, 100]", budget)

	// Tokens match what the simulator reported, and are not zero.
	in, out := srv.Usage()
	require.NotEqual(t, 0, in, "simulator reported no usage")
	require.NotEqual(t, 0, out, "simulator reported no usage")
	expect("switchyard_tokens_total", with("direction", "input"), float64(in))
	expect("switchyard_tokens_total", with("direction", "output"), float64(out))
	p50 := collectorSample(t, fams, "switchyard_latency_seconds", with("quantile", "0.5"))
	assert.False(t, p50 <= 0, "latency p50 = %v, want > 0", p50)
	p99 := collectorSample(t, fams, "switchyard_latency_seconds", with("quantile", "0.99"))
	assert.False(t, p99 <= 0, "latency p99 = %v, want > 0", p99)
	// The simulator sends anthropic-ratelimit-* headers.
	rem := collectorSample(t, fams, "switchyard_ratelimit_remaining", with("kind", "requests"))
	assert.False(t, rem <= 0, "ratelimit remaining requests = %v, want > 0", rem)

	// The text exposition never carries the secret, nor its non-hint part.
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		require.NoError(t, enc.Encode(f))
	}
	require.Contains(t, text.String(), `key="k1"`, "exposition lacks the key label:")
	for _, leak := range []string{metricsTestSecret, metricsTestSecret[:len(metricsTestSecret)-4]} {
		require.NotContains(t, text.String(), leak, "exposition contains key material")
	}

	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	require.NoError(t, sy.Close(closeCtx), "close")
	closed = true
}

// A scrape of a closed instance reports an error instead of hanging or
// exporting stale zeros.
func TestCollectorAfterCloseReportsError(t *testing.T) {
	defer collectorLeakCheck(t, goleak.IgnoreCurrent())

	srv := sim.Start(sim.Anthropic())
	defer srv.Close()
	sy, err := New(Config{Providers: []ProviderConfig{{Kind: "anthropic", Endpoints: []EndpointConfig{{
		BaseURL: srv.URL, Keys: []KeyConfig{{Label: "k1", Secret: metricsTestSecret}}}}}}})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, sy.Close(ctx))
	reg := prometheus.NewRegistry()
	reg.MustRegister(sy.Collector())
	start := time.Now()
	_, err = reg.Gather()
	require.Error(t, err, "gather after close succeeded")
	require.LessOrEqual(t, time.Since(start), 3*time.Second, "gather after close took")
	require.Contains(t, err.Error(), "snapshot for metrics", "gather error %q does not name the snapshot", err)
}

// A tripped breaker shows as OPEN with one trip, and the failures that
// tripped it are counted by class.
func TestCollectorBreakerTrip(t *testing.T) {
	defer collectorLeakCheck(t, goleak.IgnoreCurrent())

	srv := sim.Start(sim.Anthropic())
	defer srv.Close()
	sy, err := New(Config{
		Providers: []ProviderConfig{{Kind: "anthropic", Endpoints: []EndpointConfig{{
			Name: "only", BaseURL: srv.URL, Keys: []KeyConfig{{Label: "k1", Secret: metricsTestSecret}}}}}},
		Retry:   RetryConfig{MaxAttempts: 1},
		Breaker: BreakerConfig{ConsecutiveFailures: 3, Cooldown: time.Minute, MaxCooldown: time.Minute},
	})
	require.NoError(t, err)
	defer func() { _ = sy.Close(context.Background()) }()
	collector := sy.Collector()

	srv.Inject(sim.Fault{Status: 500, Times: 3})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	chat := func() error {
		_, err := sy.Chat(ctx, &messages.ChatRequest{Call: messages.Call{Provider: "anthropic"}, Model: "claude-test",
			Messages: []messages.Message{{Role: "user", Content: "hi"}}})
		return err
	}
	for i := range 3 {
		err := chat()
		require.ErrorIs(t, err, ErrUpstream, "chat %d: %v, want an upstream error", i, err)
	}
	// The trip is asynchronous (breaker → provider); wait for the state.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector)
	ep := map[string]string{"provider": "anthropic", "endpoint": "only"}
	var fams []*dto.MetricFamily
	for deadline := time.Now().Add(5 * time.Second); ; {
		fams, err = reg.Gather()
		require.NoError(t, err)
		if collectorSample(t, fams, "switchyard_breaker_state", ep) == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	got := collectorSample(t, fams, "switchyard_breaker_state", ep)
	require.Equal(t, float64(1), got, "breaker state %v, want 1 (open)", got)
	got = collectorSample(t, fams, "switchyard_breaker_trips_total", ep)
	assert.Equal(t, float64(1), got, "trips %v, want 1", got)
	got = collectorSample(t, fams, "switchyard_breaker_consecutive_trips", ep)
	assert.Equal(t, float64(1), got, "consecutive trips %v, want 1", got)
	got = collectorSample(t, fams, "switchyard_breaker_reopen_seconds", ep)
	assert.True(t, got > 0 && got <= 60, "reopen in %v s, want in (0, 60] (cooldown 1m)", got)
	key := map[string]string{"provider": "anthropic", "endpoint": "only", "key": "k1", "class": "server"}
	got = collectorSample(t, fams, "switchyard_failures_total", key)
	assert.Equal(t, float64(3), got, "server failures %v, want 3", got)
	err = chat()
	require.ErrorIs(t, err, ErrCircuitOpen, "chat on an open breaker: %v, want ErrCircuitOpen", err)
	closeCtx, closeCancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer closeCancel()
	require.NoError(t, sy.Close(closeCtx), "close")
}

func TestCollectorExportsBatchingAndCache(t *testing.T) {
	defer collectorLeakCheck(t, goleak.IgnoreCurrent())

	srv := sim.Start(sim.TEI())
	defer srv.Close()
	sy, err := New(Config{
		Providers: []ProviderConfig{{Name: "tei", Kind: "hf_tei", Endpoints: []EndpointConfig{{BaseURL: srv.URL}},
			Batching: BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 3, Delay: time.Second}}}},
		Cache: CacheConfig{Enabled: true},
	})
	require.NoError(t, err)
	defer func() { _ = sy.Close(context.Background()) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Three different inputs fill one window; the fourth request repeats
	// the first and is an exact cache hit.
	var wg sync.WaitGroup
	for _, text := range []string{"one", "two", "three"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := sy.Embed(ctx, &messages.EmbedRequest{Call: messages.Call{Provider: "tei"}, Model: "bge", Inputs: []string{text}})
			assert.NoError(t, err)
		}()
	}
	wg.Wait()
	r, err := sy.Embed(ctx, &messages.EmbedRequest{Call: messages.Call{Provider: "tei"}, Model: "bge", Inputs: []string{"one"}})
	require.NoError(t, err, "repeat")
	require.True(t, r.Cached, "repeat: want a cache hit")
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(sy.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	win := map[string]string{"provider": "tei", "operation": "embed", "model": "bge"}
	full := map[string]string{"provider": "tei", "operation": "embed", "model": "bge", "reason": "full"}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"switchyard_batch_calls_total", win, 1},
		{"switchyard_batch_requests_total", win, 3},
		{"switchyard_batch_flushes_total", full, 1},
		{"switchyard_batch_window_inputs", win, 0},
		{"switchyard_cache_lookups_total", map[string]string{"result": "exact_hit"}, 1},
		{"switchyard_cache_lookups_total", map[string]string{"result": "miss"}, 3},
		{"switchyard_cache_stores_total", nil, 3},
		{"switchyard_cache_entries", nil, 3},
	} {
		got := collectorSample(t, fams, c.name, c.labels)
		assert.Equal(t, c.want, got, "%s%v = %v, want %v", c.name, c.labels, got, c.want)
	}
	assert.Equal(t, 1, srv.Calls(), "%d upstream calls, want 1", srv.Calls())
}

// A key cooled by a 429 with Retry-After shows as cooling with the time
// left; the other key, which served the retry, as active with none.
func TestCollectorKeyCooldown(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{
		Providers: []ProviderConfig{anthropicProvider("anthropic", srv, KeyConfig{Label: "k1", Secret: secretA}, KeyConfig{Label: "k2", Secret: secretB})},
		Retry:     RetryConfig{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
	}, false)
	srv.Inject(sim.Fault{Status: 429, Header: map[string]string{"retry-after": "30"}})
	resp, err := h.sy.Chat(context.Background(), chatReq("anthropic", "hello"))
	require.NoError(t, err)
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(h.sy.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	cooling := 0
	for _, k := range []string{"k1", "k2"} {
		lv := map[string]string{"provider": "anthropic", "endpoint": "primary", "key": k}
		left := collectorSample(t, fams, "switchyard_key_cooldown_seconds", lv)
		lv["state"] = "cooling"
		if collectorSample(t, fams, "switchyard_key_state", lv) == 1 {
			cooling++
			assert.NotEqual(t, resp.Key, k, "the cooling key served the answer")
			assert.True(t, left > 0 && left <= 30, "key %s cools for %v s, want in (0, 30]", k, left)
		} else {
			assert.Equal(t, resp.Key, k, "key %s is active but did not serve", k)
			assert.Equal(t, 0.0, left, "active key %s has a cooldown", k)
		}
	}
	assert.Equal(t, 1, cooling, "cooling keys")
}
