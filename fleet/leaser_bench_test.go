package fleet

import (
	"testing"

	"github.com/switchyard-ai/switchyard/clock"
)

// BenchmarkLeaserTake is the hot path: a permit taken from a held block
// (refills, in the background, are rare at 1 % of the limit per lease).
func BenchmarkLeaserTake(b *testing.B) {
	g := newFakeGrain(clock.Real)
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", RPM: 1 << 40})
	defer l.Close()
	if err := l.Refill(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Take(0); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
