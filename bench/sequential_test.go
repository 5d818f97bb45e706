package bench

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard"
)

// BenchmarkRuntimeOnlySequential is BenchmarkRuntimeOnly one request at a
// time: the latency the actor path adds to a call when nothing else runs
// (seven mailbox deliveries, a call goroutine and the answer's channel),
// reported as p50, p90 and p99 in nanoseconds. It measures real time, so it
// reads the wall clock; no runtime decision depends on it.
func BenchmarkRuntimeOnlySequential(b *testing.B) {
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "openai", Adapter: echoAdapter{}, Endpoints: []switchyard.EndpointConfig{{
			BaseURL: "http://echo.invalid", Keys: []switchyard.KeyConfig{{Label: "k1", Secret: secret}}}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	defer sy.Close(context.Background())
	ctx := context.Background()
	for range 1000 { // warm: connections of nothing, but goroutines and caches
		if _, err := sy.Chat(ctx, chat()); err != nil {
			b.Fatal(err)
		}
	}
	lat := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t0 := time.Now()
		if _, err := sy.Chat(ctx, chat()); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	at := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Nanoseconds()) }
	b.ReportMetric(at(0.50), "p50-ns")
	b.ReportMetric(at(0.90), "p90-ns")
	b.ReportMetric(at(0.99), "p99-ns")
}
