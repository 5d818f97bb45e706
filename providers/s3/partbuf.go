package s3

import "sync/atomic"

// offHeap counts the bytes of part buffers currently mapped outside the Go
// heap (for tests and memory reports).
var offHeap atomic.Int64

// partBuffer is a buffer for one part of a streamed multipart upload.
// Where the platform allows, it is mapped outside the Go heap: the GC's
// heap goal is twice the live heap, so heap buffers of PartSize ×
// Concurrency would let the heap peak at about double that; mapped ones
// cost exactly their size and are returned at once by free.
type partBuffer struct {
	b      []byte
	mapped bool
}

func newPartBuffer(n int64) *partBuffer {
	if b, ok := mapBuffer(int(n)); ok {
		offHeap.Add(n)
		return &partBuffer{b: b, mapped: true}
	}
	return &partBuffer{b: make([]byte, n)}
}

// free returns the memory; the buffer must not be used afterwards.
func (p *partBuffer) free() {
	if p == nil || p.b == nil {
		return
	}
	if p.mapped {
		offHeap.Add(-int64(len(p.b)))
		unmapBuffer(p.b)
	}
	p.b = nil
}
