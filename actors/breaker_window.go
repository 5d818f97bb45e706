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
