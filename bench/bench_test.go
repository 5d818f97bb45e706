// Package bench measures Switchyard's overhead: added latency against a
// direct call, throughput through dispatcher → provider → key with an
// in-memory transport, allocations per request, and memory per queued
// request. Run with `make bench`; numbers go in BENCHMARKS.md.
package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/sim"
)

const secret = "sk-bench-0000000000000000000000"

func chat() *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{Provider: "openai"}, Model: "gpt-bench",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "hello there"}}}
}

func newSY(b *testing.B, base string, hc *http.Client, maxInFlight int) *switchyard.Switchyard {
	b.Helper()
	sy := newSYNoCleanup(b, base, hc, maxInFlight)
	b.Cleanup(func() { _ = sy.Close(context.Background()) })
	return sy
}

func newSYNoCleanup(b *testing.B, base string, hc *http.Client, maxInFlight int) *switchyard.Switchyard {
	b.Helper()
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "openai", Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
			BaseURL: base, Keys: []switchyard.KeyConfig{{Label: "k1", Secret: secret, MaxInFlight: maxInFlight}, {Label: "k2", Secret: secret + "2", MaxInFlight: maxInFlight}}}}}},
		Queue:      switchyard.QueueConfig{High: 1 << 20, Normal: 1 << 20, Low: 1 << 20},
		HTTPClient: hc,
	})
	if err != nil {
		b.Fatal(err)
	}
	return sy
}

func percentile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// BenchmarkAddedLatency compares, sequentially against the same loopback
// simulator, a chat call through the whole actor path with the same call
// made directly by the OpenAI adapter over net/http (same encoding and
// decoding, no actors), and reports p50/p99 of each and the difference.
func BenchmarkAddedLatency(b *testing.B) {
	// A rate-limit window large enough that the simulator's x-ratelimit
	// headers never make Switchyard cool a key mid-benchmark.
	srv := sim.Start(&sim.OpenAIBackend{RequestLimit: 1 << 30, TokenLimit: 1 << 40}, sim.WithoutRecords())
	defer srv.Close()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	hc := &http.Client{Transport: tr}
	defer tr.CloseIdleConnections()
	sy := newSY(b, srv.URL+"/v1", hc, 0)
	adapter := openai.New()
	client := &providers.Client{HTTP: hc}
	ctx := context.Background()
	direct := func() error {
		call := &providers.Call{Request: chat(), RequestID: messages.NewRequestID(), Provider: "openai", BaseURL: srv.URL + "/v1",
			Key: providers.NewCredential("k1", secret), Client: client}
		_, err := adapter.Do(ctx, call)
		return err
	}
	through := func() error { _, err := sy.Chat(ctx, chat()); return err }
	for i := 0; i < 200; i++ { // warm both paths and the connection pool
		_ = direct()
		_ = through()
	}
	b.ResetTimer()
	var dd, sd []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := direct(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if err := through(); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		dd = append(dd, t1.Sub(t0))
		sd = append(sd, t2.Sub(t1))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(dd, 0.5).Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(percentile(dd, 0.99).Microseconds()), "direct-p99-µs")
	b.ReportMetric(float64(percentile(sd, 0.5).Microseconds()), "switchyard-p50-µs")
	b.ReportMetric(float64(percentile(sd, 0.99).Microseconds()), "switchyard-p99-µs")
	b.ReportMetric(float64((percentile(sd, 0.5) - percentile(dd, 0.5)).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((percentile(sd, 0.99) - percentile(dd, 0.99)).Microseconds()), "added-p99-µs")
	b.ReportMetric(float64(percentile(sd, 1).Microseconds()), "switchyard-max-µs")
}

// memTransport answers every request from memory with a canned chat
// completion, so the benchmark measures Switchyard, not a server.
type memTransport struct{ body []byte }

func (m *memTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(bytes.NewReader(m.body)), Request: r}, nil
}

var canned = []byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"gpt-bench","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}`)

// BenchmarkThroughput drives chat requests from many goroutines through
// dispatcher → provider → breaker → key → adapter with an in-memory
// transport; ns/op is the cost per request, allocs and bytes per request are
// reported by -benchmem.
func BenchmarkThroughput(b *testing.B) {
	sy := newSY(b, "http://mem.invalid/v1", &http.Client{Transport: &memTransport{body: canned}}, 0)
	saturate(b, sy)
}

// BenchmarkQueuedRequestMemory measures the heap the dispatcher holds per
// queued request: n requests wait behind a provider with no free slot, in a
// fresh instance per iteration (so map growth is counted). The requests
// themselves are allocated before the baseline: they are the caller's.
func BenchmarkQueuedRequestMemory(b *testing.B) {
	const n = 20000
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		block := make(chan struct{})
		sy := newSYNoCleanup(b, "http://mem.invalid/v1", &http.Client{Transport: &blockingTransport{release: block}}, 1)
		reqs := make([]*messages.ChatRequest, n)
		replies := make([]chan any, n)
		for j := range reqs {
			reqs[j] = chat()
			reqs[j].RequestID = fmt.Sprintf("q-%d-%d", i, j)
			replies[j] = make(chan any, 1)
		}
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for j := range reqs {
			sy.ActorSystem().Root.Send(sy.Dispatcher(), &actors.Submit{Req: reqs[j], Ctx: ctx, Reply: replies[j]})
		}
		for {
			q, _ := sy.QueueStatus(ctx)
			if q.Levels[1].Depth >= n-2 {
				break
			}
			time.Sleep(time.Millisecond)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/queued-request")
		close(block)
		_ = sy.Close(ctx)
		for j := range replies {
			<-replies[j]
		}
	}
}

type blockingTransport struct {
	release chan struct{}
	once    sync.Once
}

func (t *blockingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	select {
	case <-t.release:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	return (&memTransport{body: canned}).RoundTrip(r)
}

// echoAdapter answers every chat at once, without HTTP: it isolates the
// actor path (dispatcher → provider → breaker → key → goroutine and back).
type echoAdapter struct{}

func (echoAdapter) Kind() string                 { return "echo" }
func (echoAdapter) Check(messages.Request) error { return nil }
func (echoAdapter) Do(_ context.Context, c *providers.Call) (messages.Response, error) {
	return &messages.ChatResponse{Content: "ok"}, nil
}

// BenchmarkRuntimeOnly is BenchmarkThroughput with an adapter that does no
// I/O and no JSON: the cost of the actor path alone.
func BenchmarkRuntimeOnly(b *testing.B) {
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "openai", Adapter: echoAdapter{}, Endpoints: []switchyard.EndpointConfig{{
			BaseURL: "http://echo.invalid", Keys: []switchyard.KeyConfig{{Label: "k1", Secret: secret}, {Label: "k2", Secret: secret + "2"}}}}}},
		Queue: switchyard.QueueConfig{High: 1 << 20, Normal: 1 << 20, Low: 1 << 20},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sy.Close(context.Background())
	saturate(b, sy)
}

// saturate sends chats through sy from 64 callers per core for b.N
// requests and reports allocations and req/s.
func saturate(b *testing.B, sy *switchyard.Switchyard) {
	b.Helper()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(64)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := sy.Chat(ctx, chat()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
}
