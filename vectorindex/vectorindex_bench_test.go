package vectorindex

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The benchmark index sizes: n stored random unit vectors of dim components.
var benchSizes = []struct{ n, dim int }{
	{10_000, 384}, {10_000, 768}, {100_000, 384}, {100_000, 768},
}

const (
	// benchThreshold is the similarity threshold of the benchmark queries.
	benchThreshold = 0.95
	// benchQueries is the number of queries timed per latency measurement;
	// half are near duplicates of a stored vector (cosine 0.95–0.99), half
	// random (misses).
	benchQueries = 2000
	// benchExactQueries is how many of those also run SearchExact, for
	// recall and the exact-scan latency (it takes ~30 ms at 100k×768).
	benchExactQueries = 400
)

// benchData is a built index and its queries, cached across benchmarks.
type benchData struct {
	x            *Index
	queries      [][]float32
	build        time.Duration // total time of the n Adds
	heapPerEntry float64       // heap growth while building, per entry
}

var benchCache = map[[2]int]*benchData{}

func benchIndex(b *testing.B, n, dim int) *benchData {
	key := [2]int{n, dim}
	if d := benchCache[key]; d != nil {
		return d
	}
	rng := testRNG(uint64(n) ^ uint64(dim)<<32)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := New(dim)
	v := make([]float32, dim)
	var build time.Duration
	for i := range n {
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		start := time.Now()
		require.NoError(b, x.Add(uint64(i)*7919+13, v))
		build += time.Since(start)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	d := &benchData{
		x:            x,
		build:        build,
		heapPerEntry: float64(after.HeapAlloc-before.HeapAlloc) / float64(n),
	}
	for i := range benchQueries {
		if i%2 == 0 {
			src := x.vec(rng.IntN(n))
			d.queries = append(d.queries, perturb(rng, src, 0.95+0.04*rng.Float64(), nil))
		} else {
			d.queries = append(d.queries, randUnit(rng, dim))
		}
	}
	benchCache[key] = d
	return d
}

func benchSizesRun(b *testing.B, f func(b *testing.B, d *benchData)) {
	for _, s := range benchSizes {
		b.Run(fmt.Sprintf("n=%d/dim=%d", s.n, s.dim), func(b *testing.B) {
			f(b, benchIndex(b, s.n, s.dim))
		})
	}
}

// BenchmarkSearch measures Search over a mix of hits and misses.
func BenchmarkSearch(b *testing.B) {
	benchSizesRun(b, func(b *testing.B, d *benchData) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.x.Search(d.queries[i%len(d.queries)], benchThreshold)
			i++
		}
	})
}

// BenchmarkSearchExact measures the exhaustive scan, for comparison.
func BenchmarkSearchExact(b *testing.B) {
	benchSizesRun(b, func(b *testing.B, d *benchData) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.x.SearchExact(d.queries[i%len(d.queries)], benchThreshold)
			i++
		}
	})
}

// BenchmarkLatency reports, per index size, the p50/p99 latency of Search
// over benchQueries queries; the p50/p99 latency of SearchExact and the
// recall of Search against it over the first benchExactQueries queries;
// BytesPerEntry and the heap actually used per entry; and the build time.
// Run it with -benchtime=1x: one iteration is the whole measurement.
func BenchmarkLatency(b *testing.B) {
	benchSizesRun(b, func(b *testing.B, d *benchData) {
		lat := make([]time.Duration, len(d.queries))
		exactLat := make([]time.Duration, benchExactQueries)
		var st recallStats
		for b.Loop() {
			for i, q := range d.queries {
				start := time.Now()
				d.x.Search(q, benchThreshold)
				lat[i] = time.Since(start)
			}
			st = recallStats{}
			for i, q := range d.queries[:benchExactQueries] {
				start := time.Now()
				d.x.SearchExact(q, benchThreshold)
				exactLat[i] = time.Since(start)
				require.NoError(b, compare(d.x, q, benchThreshold, &st))
			}
		}
		p50, p99 := percentiles(lat)
		e50, e99 := percentiles(exactLat)
		b.ReportMetric(p50, "p50-ns")
		b.ReportMetric(p99, "p99-ns")
		b.ReportMetric(e50, "exact-p50-ns")
		b.ReportMetric(e99, "exact-p99-ns")
		b.ReportMetric(st.recall(), "recall")
		b.ReportMetric(float64(st.exactHits), "exact-hits")
		b.ReportMetric(float64(d.x.BytesPerEntry()), "bytes/entry")
		b.ReportMetric(d.heapPerEntry, "heap-bytes/entry")
		b.ReportMetric(float64(d.build.Milliseconds()), "build-ms")
	})
}

// percentiles returns the 50th and 99th percentiles of ds in nanoseconds.
func percentiles(ds []time.Duration) (p50, p99 float64) {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) float64 { return float64(s[int(p*float64(len(s)-1))].Nanoseconds()) }
	return at(0.50), at(0.99)
}

// BenchmarkChurn measures an LRU step: Remove an entry, Add one (here the
// same vector back, so the index's content does not drift).
func BenchmarkChurn(b *testing.B) {
	benchSizesRun(b, func(b *testing.B, d *benchData) {
		b.ReportAllocs()
		v := make([]float32, d.x.Dim())
		i := 0
		for b.Loop() {
			id := d.x.ids[i%len(d.x.ids)]
			copy(v, d.x.vec(i%len(d.x.ids)))
			d.x.Remove(id)
			require.NoError(b, d.x.Add(id, v))
			i += 7
		}
	})
}
