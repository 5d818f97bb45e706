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

// batching is how a benchmark's instance batches: not at all, or in one
// of the windows' modes.
type batching struct {
	name string
	off  bool
	mode switchyard.BatchMode
}

var (
	unbatched = batching{name: "unbatched", off: true}
	adaptive  = batching{name: "adaptive", mode: switchyard.BatchAdaptive}
	fixed     = batching{name: "fixed", mode: switchyard.BatchFixed}
)

func teiSY(b *testing.B, url string, bt batching) *switchyard.Switchyard {
	b.Helper()
	bc := switchyard.BatchingConfig{Disabled: bt.off, BatchLimits: switchyard.BatchLimits{Mode: bt.mode, Delay: batchDelay}}
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
// its per-call cost, without batching, with adaptive windows and with
// fixed-delay windows, and reports the three rates and each mode's speedup
// over unbatched (targets: adaptive ≥ 15×, fixed ≥ 5×).
func BenchmarkEmbedBatchingThroughput(b *testing.B) {
	const requests, senders = 10000, 256
	run := func(bt batching) (float64, float64) {
		srv := sim.Start(&sim.TEIBackend{CallCost: teiCallCost, InputCost: teiInputCost, Workers: 1}, sim.WithoutRecords())
		defer srv.Close()
		sy := teiSY(b, srv.URL, bt)
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
			b.Fatalf("%s: %d of %d requests failed", bt.name, f, requests)
		}
		return requests / elapsed.Seconds(), float64(srv.Calls())
	}
	for range b.N {
		rates := map[string]float64{}
		for _, bt := range []batching{unbatched, adaptive, fixed} {
			rate, calls := run(bt)
			rates[bt.name] = rate
			b.ReportMetric(rate, bt.name+"-req/s")
			b.ReportMetric(calls, bt.name+"-calls")
		}
		b.ReportMetric(rates["adaptive"]/rates["unbatched"], "adaptive-speedup")
		b.ReportMetric(rates["fixed"]/rates["unbatched"], "fixed-speedup")
	}
}

// BenchmarkEmbedBatchingLowLoadLatency sends single-input embedding
// requests one at a time (no other traffic) to three instances in turn,
// each with its own simulator: without batching, with adaptive windows
// (nothing of the shape in flight, so each request goes at once) and with
// fixed-delay windows (each waits the full delay). Taking turns spreads
// the machine's noise over the three alike. It reports the p50/p99 of each
// and what each mode adds to unbatched (targets: adaptive p99 ≤ 100 µs,
// fixed p99 ≤ delay + 1 ms), and the p99 of the time each request spent
// in the dispatcher before it was sent (Meta.Queued: its window and the
// queue), which the simulator's noise does not reach.
func BenchmarkEmbedBatchingLowLoadLatency(b *testing.B) {
	const requests = 1000
	modes := []batching{unbatched, adaptive, fixed}
	for range b.N {
		sys := make([]*switchyard.Switchyard, len(modes))
		for i, bt := range modes {
			srv := sim.Start(&sim.TEIBackend{CallCost: teiCallCost, InputCost: teiInputCost, Workers: 1}, sim.WithoutRecords())
			b.Cleanup(srv.Close)
			sys[i] = teiSY(b, srv.URL, bt)
		}
		lat := make([][]time.Duration, len(modes))
		queued := make([][]time.Duration, len(modes))
		for n := range requests {
			for i, sy := range sys {
				t0 := time.Now()
				r, err := embedOne(sy, fmt.Sprintf("input %d", n))
				if err != nil {
					b.Fatal(err)
				}
				lat[i] = append(lat[i], time.Since(t0))
				queued[i] = append(queued[i], r.Queued)
			}
		}
		us := func(d time.Duration) float64 { return float64(d.Microseconds()) }
		for i, bt := range modes {
			b.ReportMetric(us(percentile(lat[i], 0.5)), bt.name+"-p50-µs")
			b.ReportMetric(us(percentile(lat[i], 0.99)), bt.name+"-p99-µs")
			b.ReportMetric(us(percentile(queued[i], 0.99)), bt.name+"-queued-p99-µs")
			if i > 0 {
				b.ReportMetric(us(percentile(lat[i], 0.5)-percentile(lat[0], 0.5)), bt.name+"-added-p50-µs")
				b.ReportMetric(us(percentile(lat[i], 0.99)-percentile(lat[0], 0.99)), bt.name+"-added-p99-µs")
			}
		}
	}
}
