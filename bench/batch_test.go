package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// The TEI simulator's cost model for the batching benchmarks: a small
// embedding model (bge-small class) on one GPU spends a fixed ~2 ms per
// forward pass plus ~50 µs per input, and runs one pass at a time.
const (
	teiCallCost  = 2 * time.Millisecond
	teiInputCost = 50 * time.Microsecond
	batchDelay   = 2 * time.Millisecond
)

func teiSY(b *testing.B, url string, batching bool) *switchyard.Switchyard {
	b.Helper()
	bc := switchyard.BatchingConfig{BatchLimits: switchyard.BatchLimits{Delay: batchDelay}}
	bc.Disabled = !batching
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "tei", Kind: "hf_tei", Batching: bc,
			Endpoints: []switchyard.EndpointConfig{{BaseURL: url}}}},
		Queue: switchyard.QueueConfig{High: 1 << 16, Normal: 1 << 16, Low: 1 << 16},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sy.Close(context.Background()) })
	return sy
}

func embedOne(sy *switchyard.Switchyard, text string) (*messages.EmbedResponse, error) {
	return sy.Embed(context.Background(), &messages.EmbedRequest{Call: messages.Call{Provider: "tei"}, Model: "bge", Inputs: []string{text}})
}

// BenchmarkEmbedBatchingThroughput sends 10,000 single-input embedding
// requests from 256 goroutines through the tree to the TEI simulator with
// its per-call cost, once with batching windows and once without, and
// reports both rates and their ratio (target ≥ 5×).
func BenchmarkEmbedBatchingThroughput(b *testing.B) {
	const requests, senders = 10000, 256
	run := func(batching bool) (float64, float64) {
		srv := sim.Start(&sim.TEIBackend{CallCost: teiCallCost, InputCost: teiInputCost, Workers: 1}, sim.WithoutRecords())
		defer srv.Close()
		sy := teiSY(b, srv.URL, batching)
		var next, failed atomic.Int64
		var wg sync.WaitGroup
		start := time.Now()
		for range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n := next.Add(1)
					if n > requests {
						return
					}
					if _, err := embedOne(sy, fmt.Sprintf("input %d", n)); err != nil {
						failed.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		if f := failed.Load(); f > 0 {
			b.Fatalf("%d of %d requests failed", f, requests)
		}
		return requests / elapsed.Seconds(), float64(srv.Calls())
	}
	for range b.N {
		unbatched, unCalls := run(false)
		batched, calls := run(true)
		b.ReportMetric(unbatched, "unbatched-req/s")
		b.ReportMetric(batched, "batched-req/s")
		b.ReportMetric(batched/unbatched, "speedup")
		b.ReportMetric(unCalls, "unbatched-calls")
		b.ReportMetric(calls, "batched-calls")
	}
}

// BenchmarkEmbedBatchingLowLoadLatency sends single-input embedding
// requests one at a time (no other traffic, so every window waits its full
// delay) with and without batching, and reports the p50/p99 of each and
// what the window adds (target p99 ≤ delay + 1 ms).
func BenchmarkEmbedBatchingLowLoadLatency(b *testing.B) {
	const requests = 500
	run := func(batching bool) []time.Duration {
		srv := sim.Start(&sim.TEIBackend{CallCost: teiCallCost, InputCost: teiInputCost, Workers: 1}, sim.WithoutRecords())
		defer srv.Close()
		sy := teiSY(b, srv.URL, batching)
		lat := make([]time.Duration, 0, requests)
		for i := range requests {
			t0 := time.Now()
			if _, err := embedOne(sy, fmt.Sprintf("input %d", i)); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		return lat
	}
	for range b.N {
		plain, windowed := run(false), run(true)
		b.ReportMetric(float64(percentile(plain, 0.5).Microseconds()), "unbatched-p50-µs")
		b.ReportMetric(float64(percentile(plain, 0.99).Microseconds()), "unbatched-p99-µs")
		b.ReportMetric(float64(percentile(windowed, 0.5).Microseconds()), "batched-p50-µs")
		b.ReportMetric(float64(percentile(windowed, 0.99).Microseconds()), "batched-p99-µs")
		b.ReportMetric(float64((percentile(windowed, 0.5) - percentile(plain, 0.5)).Microseconds()), "added-p50-µs")
		b.ReportMetric(float64((percentile(windowed, 0.99) - percentile(plain, 0.99)).Microseconds()), "added-p99-µs")
	}
}
