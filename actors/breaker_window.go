package actors

import "time"

const windowBuckets = 10

// rollingWindow counts attempts and failures over a sliding window of
// windowBuckets buckets. Not safe for concurrent use.
type rollingWindow struct {
	width   time.Duration
	buckets [windowBuckets]struct {
		start       time.Time
		total, fail int
	}
}

func (w *rollingWindow) bucketWidth() time.Duration {
	bw := w.width / windowBuckets
	if bw <= 0 {
		bw = time.Millisecond
	}
	return bw
}

func (w *rollingWindow) record(now time.Time, failed bool) {
	bw := w.bucketWidth()
	start := now.Truncate(bw)
	i := int(start.UnixNano()/int64(bw)) % windowBuckets
	if i < 0 {
		i = -i
	}
	b := &w.buckets[i]
	if !b.start.Equal(start) {
		b.start, b.total, b.fail = start, 0, 0
	}
	b.total++
	if failed {
		b.fail++
	}
}

// counts returns attempts and failures within the window ending at now.
func (w *rollingWindow) counts(now time.Time) (total, fail int) {
	from := now.Add(-w.width)
	for _, b := range w.buckets {
		if b.start.After(from) && !b.start.After(now) {
			total += b.total
			fail += b.fail
		}
	}
	return total, fail
}

// recentSize is how many of the latest outcomes recentOutcomes keeps: the
// sample that confirms a run of consecutive failures (see
// circuit.judgeClosed). At high concurrency many calls complete at the same
// instant, so a run of a few failures that completed together says little;
// half of the last 100 outcomes failing does. A dead endpoint gets there
// within about 100 outcomes (2.5 ms at 40k requests a second).
const recentSize = 100

// recentOutcomes is a ring of the last recentSize outcomes and when they
// happened. Not safe for concurrent use.
type recentOutcomes struct {
	at   [recentSize]time.Time
	fail [recentSize]bool
	next int // where the next outcome goes
	n    int // how many slots hold an outcome
}

func (r *recentOutcomes) record(now time.Time, failed bool) {
	r.at[r.next], r.fail[r.next] = now, failed
	r.next = (r.next + 1) % recentSize
	r.n = min(r.n+1, recentSize)
}

// counts returns the outcomes, and the failures among them, of the latest
// outcomes recorded after since (at most recentSize).
func (r *recentOutcomes) counts(since time.Time) (total, fail int) {
	for i := 1; i <= r.n; i++ {
		j := (r.next - i + recentSize) % recentSize
		if !r.at[j].After(since) {
			break
		}
		total++
		if r.fail[j] {
			fail++
		}
	}
	return total, fail
}
