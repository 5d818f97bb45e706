package bench

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/assert"
)

// faultTransport answers chat completions from memory like memTransport,
// except every 100th request (deterministically, by arrival), which gets
// in turn a 500, a 503, a 429 (Retry-After-Ms: 1) or a 200 whose JSON is
// cut short: 1 % injected faults. It is safe for concurrent use.
type faultTransport struct {
	n      atomic.Int64
	faults atomic.Int64
}

// soakFaults are the faulty answers, in the order they are given.
var soakFaults = []struct {
	status int
	header http.Header
	body   string
}{
	{500, http.Header{"Content-Type": {"application/json"}}, `{"error":{"message":"internal error","type":"server_error"}}`},
	{503, http.Header{"Content-Type": {"application/json"}}, `{"error":{"message":"overloaded","type":"server_error"}}`},
	{429, http.Header{"Content-Type": {"application/json"}, "Retry-After-Ms": {"1"}}, `{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}`},
	{200, http.Header{"Content-Type": {"application/json"}}, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"mess`},
}

func (t *faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	n := t.n.Add(1)
	if n%100 != 0 {
		return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(bytes.NewReader(canned)), Request: r}, nil
	}
	t.faults.Add(1)
	f := soakFaults[(n/100)%int64(len(soakFaults))]
	return &http.Response{StatusCode: f.status, Header: f.header.Clone(), Body: io.NopCloser(bytes.NewReader([]byte(f.body))),
		Request: r}, nil
}

// soakSize is the soak's length and sampling step: 1,000,000 requests
// sampled every 100,000 with SWITCHYARD_SOAK=1, else a short run of
// 100,000 sampled every 10,000.
func soakSize() (total, step int) {
	if os.Getenv("SWITCHYARD_SOAK") == "1" {
		return 1_000_000, 100_000
	}
	return 100_000, 10_000
}

// BenchmarkSoak sends chat requests through the facade (one OpenAI
// provider, two keys, the in-memory faultTransport: 1 % of upstream answers
// are 5xx, 429 or malformed) from 64 callers per core. After every step of
// requests it collects garbage twice and samples the heap in use; it
// reports the least-squares slope of those samples (heap-slope-B/step, the
// growth per step; a leak shows as a steady positive slope), the first and
// last sample, and checks that the goroutines return to their number
// before New once Close returns. Retries back off 1–10 ms (the default
// 500 ms would leave the callers mostly waiting). Each iteration is one
// whole soak; run it once:
//
//	SWITCHYARD_SOAK=1 go test -run '^$' -bench Soak -benchtime 1x -timeout 60m ./bench/
func BenchmarkSoak(b *testing.B) {
	total, step := soakSize()
	for i := 0; i < b.N; i++ {
		soak(b, total, step)
	}
}

func soak(b *testing.B, total, step int) {
	ctx := context.Background()
	runtime.GC()
	baseline := runtime.NumGoroutine()
	tr := &faultTransport{}
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "openai", Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
			BaseURL: "http://mem.invalid/v1", Keys: []switchyard.KeyConfig{{Label: "k1", Secret: secret}, {Label: "k2", Secret: secret + "2"}}}}}},
		Queue:      switchyard.QueueConfig{High: 1 << 20, Normal: 1 << 20, Low: 1 << 20},
		Retry:      switchyard.RetryConfig{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
		HTTPClient: &http.Client{Transport: tr},
	})
	if err != nil {
		b.Fatal(err)
	}
	callers := 64 * runtime.GOMAXPROCS(0)
	var failed atomic.Int64
	var classesMu sync.Mutex
	classes := map[string]int{} // failures by class
	var heap, alloc []float64
	start := time.Now()
	for sent := 0; sent < total; sent += step {
		var left atomic.Int64
		left.Store(int64(step))
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					if _, err := sy.Chat(ctx, chat()); err != nil {
						failed.Add(1)
						class := "not an *UpstreamError"
						var ue *messages.UpstreamError
						if errors.As(err, &ue) {
							class = ue.Class.String()
						}
						classesMu.Lock()
						classes[class]++
						classesMu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		runtime.GC()
		runtime.GC() // the second empties sync.Pools' victim caches
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = append(heap, float64(ms.HeapInuse))
		alloc = append(alloc, float64(ms.HeapAlloc))
		b.Logf("after %8d requests: heap in use %6.2f MiB, allocated %6.2f MiB, %d goroutines",
			sent+step, float64(ms.HeapInuse)/(1<<20), float64(ms.HeapAlloc)/(1<<20), runtime.NumGoroutine())
	}
	elapsed := time.Since(start)
	peak := runtime.NumGoroutine()
	if err := sy.Close(ctx); err != nil {
		b.Fatal(err)
	}
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(30 * time.Second); after > baseline && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(10 * time.Millisecond)
	}
	b.Logf("goroutines: %d before New, %d before Close, %d after Close; %d requests failed %v, %d upstream faults in %d upstream requests",
		baseline, peak, after, failed.Load(), classes, tr.faults.Load(), tr.n.Load())
	if after > baseline {
		buf := make([]byte, 1<<20)
		b.Fatalf("%d goroutines 30 s after Close, %d before New:\n%s", after, baseline, buf[:runtime.Stack(buf, true)])
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "req/s")
	b.ReportMetric(soakSlope(heap), "heap-slope-B/step")
	b.ReportMetric(soakSlope(alloc), "alloc-slope-B/step")
	b.ReportMetric(heap[0]/(1<<20), "heap-first-MiB")
	b.ReportMetric(heap[len(heap)-1]/(1<<20), "heap-last-MiB")
	b.ReportMetric(float64(failed.Load()), "failed")
	b.ReportMetric(float64(tr.faults.Load()), "faults")
	b.ReportMetric(float64(baseline), "goroutines-before")
	b.ReportMetric(float64(after), "goroutines-after-close")
}

// soakSlope is the least-squares slope of ys against 0, 1, 2, …
func soakSlope(ys []float64) float64 {
	n := float64(len(ys))
	if n < 2 {
		return 0
	}
	var sx, sy, sxx, sxy float64
	for i, y := range ys {
		x := float64(i)
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
	}
	return (n*sxy - sx*sy) / (n*sxx - sx*sx)
}

func TestSoakSlope(t *testing.T) {
	for _, tc := range []struct {
		ys   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{5}, 0},
		{[]float64{3, 3, 3, 3}, 0},
		{[]float64{0, 2, 4, 6}, 2},
		{[]float64{10, 7, 4}, -3},
		{[]float64{1, 3, 2, 4}, 0.8},
	} {
		assert.InDelta(t, tc.want, soakSlope(tc.ys), 1e-9, "soakSlope(%v)", tc.ys)
	}
}
