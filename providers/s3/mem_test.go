package s3

import (
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// heapSampler tracks the peak growth of the memory in use (Go heap objects
// and fragmentation, plus mapped part buffers) over a baseline, sampling
// runtime/metrics every 2 ms without stopping the world.
type heapSampler struct {
	base    float64
	peak    float64
	rssBase float64
	rssPeak float64
	done    chan struct{}
	wg      sync.WaitGroup
}

var heapMetrics = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}

// heapInUse is the Go heap in use plus part buffers mapped outside it:
// the process memory the transfer is responsible for (the race detector's
// shadow memory, when it runs, is not counted).
func heapInUse() float64 {
	s := append([]metrics.Sample(nil), heapMetrics...)
	metrics.Read(s)
	return float64(s[0].Value.Uint64()+s[1].Value.Uint64()) + float64(offHeap.Load())
}

func startHeapSampler() *heapSampler {
	runtime.GC()
	h := &heapSampler{base: heapInUse(), rssBase: rss(), done: make(chan struct{})}
	h.peak, h.rssPeak = h.base, h.rssBase
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-tick.C:
				if v := heapInUse(); v > h.peak {
					h.peak = v
				}
				if v := rss(); v > h.rssPeak {
					h.rssPeak = v
				}
			}
		}
	}()
	return h
}

// stop returns the peak growth in bytes.
func (h *heapSampler) stop() float64 {
	close(h.done)
	h.wg.Wait()
	if v := heapInUse(); v > h.peak {
		h.peak = v
	}
	return h.peak - h.base
}

// rssGrowth returns the peak growth of the resident set (Linux; 0
// elsewhere). Under the race detector it includes shadow memory.
func (h *heapSampler) rssGrowth() float64 { return h.rssPeak - h.rssBase }

// rss reads the resident set size from /proc/self/statm.
func rss() float64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseFloat(f[1], 64)
	return pages * float64(os.Getpagesize())
}
