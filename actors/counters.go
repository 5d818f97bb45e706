package actors

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// Counters is one node's counters (provider, endpoint or key). Fields are
// atomics: writers are actors, readers anything (snapshots, Prometheus).
// Safe for concurrent use.
type Counters struct {
	Requests     atomic.Uint64
	Successes    atomic.Uint64
	Retries      atomic.Uint64
	InFlight     atomic.Int64
	InputTokens  atomic.Uint64
	OutputTokens atomic.Uint64
	BytesIn      atomic.Uint64
	BytesOut     atomic.Uint64
	Failures     [messages.NumErrorClasses]atomic.Uint64
	lastRequest  atomic.Int64
	Latency      Histogram

	mu        sync.Mutex
	lastError string
}

// Start counts an attempt that begins at now.
func (c *Counters) Start(now time.Time) {
	c.Requests.Add(1)
	c.InFlight.Add(1)
	c.lastRequest.Store(now.UnixNano())
}

// Finish counts the end of an attempt. A failed attempt is counted under
// its class; its text becomes the last error unless the caller ended it (a
// cancel or the caller's deadline, ClassCancelled), which says nothing of
// the node's health.
func (c *Counters) Finish(ok bool, class messages.ErrorClass, usage messages.Usage, latency time.Duration, errText string) {
	c.InFlight.Add(-1)
	switch {
	case ok:
		c.Successes.Add(1)
	case class == messages.ClassCancelled:
		c.Failures[class].Add(1)
	default:
		c.Failures[class].Add(1)
		c.mu.Lock()
		c.lastError = errText
		c.mu.Unlock()
	}
	if usage.InputTokens > 0 {
		c.InputTokens.Add(uint64(usage.InputTokens))
	}
	if usage.OutputTokens > 0 {
		c.OutputTokens.Add(uint64(usage.OutputTokens))
	}
	c.Latency.Observe(latency)
}

// AddBytes counts body bytes received from and sent to an upstream.
func (c *Counters) AddBytes(in, out int64) {
	if in > 0 {
		c.BytesIn.Add(uint64(in))
	}
	if out > 0 {
		c.BytesOut.Add(uint64(out))
	}
}

// Snapshot copies the counters.
func (c *Counters) Snapshot() messages.Counters {
	s := messages.Counters{
		Requests:     c.Requests.Load(),
		Successes:    c.Successes.Load(),
		Retries:      c.Retries.Load(),
		InFlight:     c.InFlight.Load(),
		InputTokens:  c.InputTokens.Load(),
		OutputTokens: c.OutputTokens.Load(),
		BytesIn:      c.BytesIn.Load(),
		BytesOut:     c.BytesOut.Load(),
		LatencyP50:   c.Latency.Quantile(0.5),
		LatencyP99:   c.Latency.Quantile(0.99),
		Failures:     map[string]uint64{},
	}
	if t := c.lastRequest.Load(); t != 0 {
		s.LastRequest = time.Unix(0, t)
	}
	for i := range c.Failures {
		if v := c.Failures[i].Load(); v > 0 {
			s.Failures[messages.ErrorClass(i).String()] = v
		}
	}
	c.mu.Lock()
	s.LastError = c.lastError
	c.mu.Unlock()
	return s
}

// histBuckets: 8 buckets per power of two of microseconds, 40 powers
// (1 µs … ~12 days): about 9 % resolution.
const (
	histSub     = 8
	histBuckets = 40 * histSub
)

// Histogram is a lock-free log-bucketed latency histogram. Safe for
// concurrent use.
type Histogram struct {
	buckets [histBuckets]atomic.Uint64
	count   atomic.Uint64
}

func bucketOf(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < 1 {
		return 0
	}
	lead := bits.Len64(us) - 1
	var frac uint64
	if lead >= 3 {
		frac = (us >> (lead - 3)) & (histSub - 1)
	} else {
		frac = (us << (3 - lead)) & (histSub - 1)
	}
	i := lead*histSub + int(frac)
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

func bucketUpper(i int) time.Duration {
	lead := i / histSub
	frac := uint64(i % histSub)
	us := (uint64(1) << lead) + ((frac + 1) << lead >> 3)
	return time.Duration(us) * time.Microsecond
}

// Observe records d.
func (h *Histogram) Observe(d time.Duration) {
	h.buckets[bucketOf(d)].Add(1)
	h.count.Add(1)
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Quantile returns the upper bound of the bucket holding quantile q, 0 when
// empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.count.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i := range h.buckets {
		seen += h.buckets[i].Load()
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(histBuckets - 1)
}
