package fleet

import "time"

// windowBuckets is how many buckets a slidingWindow splits its window into.
const windowBuckets = 60

// slidingWindow counts what one node took in the last window, in
// window/60 buckets (a bucket counts until a whole window after its end, so
// the count never under-states any window: one more bucket is kept), for the fair share a Leaser uses while it cannot reach
// its grain. It is plain data (the Leaser's mutex guards it).
type slidingWindow struct {
	window time.Duration
	// start[i] is the bucket's start; requests[i] and tokens[i] what was
	// taken in it.
	start            [windowBuckets + 1]time.Time
	requests, tokens [windowBuckets + 1]int64
}

func (w *slidingWindow) bucket() time.Duration { return w.window / windowBuckets }

// live reports whether the bucket that started at s still counts at now.
func (w *slidingWindow) live(s, now time.Time) bool {
	return !s.IsZero() && now.Sub(s) < w.window+w.bucket()
}

// sum is what the buckets that still count hold.
func (w *slidingWindow) sum(now time.Time) (requests, tokens int64) {
	for i := range w.start {
		if w.live(w.start[i], now) {
			requests += w.requests[i]
			tokens += w.tokens[i]
		}
	}
	return requests, tokens
}

// room reports whether requests and tokens fit at now within rpm and tpm
// (0: no cap), and otherwise when to try again.
func (w *slidingWindow) room(now time.Time, rpm, tpm, requests, tokens int64) (retryAt time.Time, ok bool) {
	usedReq, usedTok := w.sum(now)
	if (rpm > 0 && usedReq+requests > rpm) || (tpm > 0 && usedTok+tokens > tpm) {
		return w.oldest(now).Add(w.window + w.bucket()), false
	}
	return time.Time{}, true
}

// take takes requests and tokens at now if the window stays within rpm and
// tpm (0: no cap); otherwise it returns when to try again.
func (w *slidingWindow) take(now time.Time, rpm, tpm, requests, tokens int64) (retryAt time.Time, ok bool) {
	if at, ok := w.room(now, rpm, tpm, requests, tokens); !ok {
		return at, false
	}
	w.add(now, requests, tokens)
	return time.Time{}, true
}

// add counts requests and tokens at now, whatever the limits.
func (w *slidingWindow) add(now time.Time, requests, tokens int64) {
	b := w.bucket()
	start := now.Truncate(b)
	n := int64(len(w.start))
	i := ((start.UnixNano()/int64(b))%n + n) % n
	if !w.start[i].Equal(start) {
		w.start[i], w.requests[i], w.tokens[i] = start, 0, 0
	}
	w.requests[i] += requests
	w.tokens[i] += tokens
}

// oldest is the start of the oldest bucket that still counts and holds
// something (now when none does).
func (w *slidingWindow) oldest(now time.Time) time.Time {
	oldest := now
	for i := range w.start {
		if s := w.start[i]; w.live(s, now) && s.Before(oldest) && (w.requests[i] > 0 || w.tokens[i] > 0) {
			oldest = s
		}
	}
	return oldest
}
