package bench

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"

	"github.com/switchyard-ai/switchyard"
)

// fleetRPM is the benchmark key's fleet-wide limit: high enough never to
// bind, so that the benchmark measures leasing, not waiting. Its 1 % block
// is 60,000 permits.
const fleetRPM = 6_000_000

// fleetMembers starts n instances in one in-memory cluster, each with one
// OpenAI provider on the in-memory transport and one key of fleetRPM.
func fleetMembers(b *testing.B, n int) []*switchyard.Switchyard {
	b.Helper()
	agent := test.NewInMemAgent()
	members := make([]*switchyard.Switchyard, n)
	for i := range members {
		sy, err := switchyard.New(switchyard.Config{
			Providers: []switchyard.ProviderConfig{{Name: "openai", Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
				BaseURL: "http://mem.invalid/v1", Keys: []switchyard.KeyConfig{{Label: "k1", Secret: secret, RPM: fleetRPM}}}}}},
			Queue:      switchyard.QueueConfig{High: 1 << 20, Normal: 1 << 20, Low: 1 << 20},
			HTTPClient: &http.Client{Transport: &memTransport{body: canned}},
			Cluster:    switchyard.ClusterConfig{Provider: "test", Name: "bench", InMem: agent},
		})
		if err != nil {
			b.Fatal(err)
		}
		members[i] = sy
	}
	b.Cleanup(func() {
		var wg sync.WaitGroup
		for _, sy := range members {
			wg.Add(1)
			go func() { defer wg.Done(); _ = sy.Close(context.Background()) }()
		}
		wg.Wait()
	})
	return members
}

// leaseCalls is what member sy's lease figures say: lease calls and
// permits taken (from leases and from the fair share).
func leaseCalls(b *testing.B, sy *switchyard.Switchyard) (leases, taken int64) {
	st, err := sy.Stats(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range st.Fleet.Keys {
		leases += k.Leases + k.LeaseFailures
		taken += k.Taken + k.LocalTaken
	}
	return leases, taken
}

// warmFleet sends requests through every member until each holds a lease
// (a fresh grain ramps its allowance up over its first minute).
func warmFleet(b *testing.B, members []*switchyard.Switchyard) {
	ctx := context.Background()
	deadline := time.Now().Add(30 * time.Second)
	for _, sy := range members {
		for {
			if _, err := sy.Chat(ctx, chat()); err != nil {
				b.Fatal(err)
			}
			if _, taken := leaseCalls(b, sy); taken > 0 {
				break
			}
			if time.Now().After(deadline) {
				b.Fatal("no member got a lease within 30s")
			}
		}
	}
}

// BenchmarkFleetAddedLatency compares, sequentially and interleaved, a
// chat through a single instance with the same chat through a member of a
// two-member fleet whose key leases its permits from the fleet's budget
// (in-memory transport, in-memory cluster over loopback). It reports
// p50/p99 of both, the difference, and lease calls per 1,000 requests.
func BenchmarkFleetAddedLatency(b *testing.B) {
	single := newSY(b, "http://mem.invalid/v1", &http.Client{Transport: &memTransport{body: canned}}, 0)
	members := fleetMembers(b, 2)
	warmFleet(b, members)
	ctx := context.Background()
	for i := 0; i < 200; i++ {
		_, _ = single.Chat(ctx, chat())
		_, _ = members[0].Chat(ctx, chat())
	}
	leases0, taken0 := leaseCalls(b, members[0])
	b.ResetTimer()
	var sd, fd []time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := single.Chat(ctx, chat()); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := members[0].Chat(ctx, chat()); err != nil {
			b.Fatal(err)
		}
		t2 := time.Now()
		sd = append(sd, t1.Sub(t0))
		fd = append(fd, t2.Sub(t1))
	}
	b.StopTimer()
	leases, taken := leaseCalls(b, members[0])
	b.ReportMetric(float64(percentile(sd, 0.5).Microseconds()), "single-p50-µs")
	b.ReportMetric(float64(percentile(sd, 0.99).Microseconds()), "single-p99-µs")
	b.ReportMetric(float64(percentile(fd, 0.5).Microseconds()), "fleet-p50-µs")
	b.ReportMetric(float64(percentile(fd, 0.99).Microseconds()), "fleet-p99-µs")
	b.ReportMetric(float64((percentile(fd, 0.5) - percentile(sd, 0.5)).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((percentile(fd, 0.99) - percentile(sd, 0.99)).Microseconds()), "added-p99-µs")
	if n := taken - taken0; n > 0 {
		b.ReportMetric(float64(leases-leases0)*1000/float64(n), "lease-calls/1k-req")
	}
}

// BenchmarkFleetThroughput is BenchmarkThroughput on a member of a
// two-member fleet (both members' keys lease from one grain); it reports
// lease calls per 1,000 requests at saturation.
func BenchmarkFleetThroughput(b *testing.B) {
	members := fleetMembers(b, 2)
	warmFleet(b, members)
	leases0, taken0 := leaseCalls(b, members[0])
	saturate(b, members[0])
	b.StopTimer()
	leases, taken := leaseCalls(b, members[0])
	if n := taken - taken0; n > 0 {
		b.ReportMetric(float64(leases-leases0)*1000/float64(n), "lease-calls/1k-req")
	}
}
