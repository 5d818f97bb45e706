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
// (seven messages, handled on the caller's goroutine when the tree is
// idle: ARCHITECTURE.md, "Handlers run where the sender waits"), reported
// as p50, p90 and p99 in nanoseconds. It measures real time, so it
// reads the wall clock; no runtime decision depends on it.
func BenchmarkRuntimeOnlySequential(b *testing.B) { sequentialLatency(b, nil) }

// evictBytes is how much memory BenchmarkRuntimeOnlySequentialCold writes
// between two requests: twice the largest L3 an EPYC core complex has
// (32 MiB) and far more than its TLBs map, as when a daemon's other work
// runs between two calls.
const evictBytes = 64 << 20

// BenchmarkRuntimeOnlySequentialCold is BenchmarkRuntimeOnlySequential with
// the caches emptied before every request: between two requests the caller
// writes one byte in every 64-byte line of evictBytes, so the actors' state,
// the goroutines' stacks and the page tables that map them are fetched from
// memory again. The buffer is outside the Go heap (offHeap), so the heap
// and its collections stay as in the warm benchmark. It is the cost of the
// path's memory footprint, which the warm benchmark hides: in make
// bench-compare the calls of the other paths between two facade calls
// empty the caches part of the way. With more than one P the other
// processors sit idle through the eviction (about 2 ms), so a request also
// pays for waking one: run it with -cpu 1,2 to see both costs. ns/op
// includes the eviction; the percentiles time the requests alone.
func BenchmarkRuntimeOnlySequentialCold(b *testing.B) {
	buf, release, err := offHeap(evictBytes)
	if err != nil {
		b.Fatal(err)
	}
	defer release()
	for i := 0; i < len(buf); i += 64 { // fault its pages in once
		buf[i] = 1
	}
	sequentialLatency(b, func() {
		for i := 0; i < len(buf); i += 64 {
			buf[i]++
		}
	})
}

// sequentialLatency makes b.N chat requests one at a time against the echo
// adapter, running between (when set) before each, and reports the
// requests' p50, p90 and p99 in nanoseconds.
func sequentialLatency(b *testing.B, between func()) {
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
		if between != nil {
			between()
		}
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
