package s3

import (
	"sync"

	"github.com/switchyard-ai/switchyard/messages"
)

// progressStep is the least number of bytes between two reports; a known
// total is reported in at most about 100 steps.
const progressStep = 1 << 20

// progress reports one transfer's progress as ChunkProgress chunks (when
// the caller asked for a stream) and to the request's callback. Chunks go
// straight to call.Emit, not through providers.Emitter: they are not part
// of the answer, so they do not count as ChunksSent and a retry stays
// possible; each attempt numbers its chunks from Seq 0 and reports its
// Attempt. Safe for concurrent use.
type progress struct {
	c    *callClient
	cb   messages.ProgressFunc
	mu   sync.Mutex
	p    messages.ObjectProgress
	last int64
	seq  int
	gone bool
}

// newProgress returns nil when nobody listens; its methods accept a nil
// receiver.
func newProgress(c *callClient, op, bucket, key string, total int64, cb messages.ProgressFunc) *progress {
	if c.call.Emit == nil && cb == nil {
		return nil
	}
	if total < 0 {
		total = -1
	}
	return &progress{c: c, cb: cb, p: messages.ObjectProgress{Operation: op, Bucket: bucket, Object: key, Total: total,
		Attempt: c.call.Attempt, Endpoint: c.call.Endpoint}}
}

// start reports the beginning, with done bytes already in place.
func (p *progress) start(done int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Done, p.last = done, done
	p.emit()
}

// setTotal records a total learned late (a get's Content-Length).
func (p *progress) setTotal(total int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.p.Total = total
	p.mu.Unlock()
}

// add counts n more bytes and reports when a step was crossed.
func (p *progress) add(n int64) {
	if p == nil || n <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Done += n
	step := int64(progressStep)
	if p.p.Total > 0 && p.p.Total/100 > step {
		step = p.p.Total / 100
	}
	if p.p.Done-p.last >= step {
		p.last = p.p.Done
		p.emit()
	}
}

// final reports a finished transfer of done bytes.
func (p *progress) final(done int64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.p.Done, p.p.Final = done, true
	if p.p.Total < 0 {
		p.p.Total = done
	}
	p.emit()
}

func (p *progress) emit() {
	snap := p.p
	if p.cb != nil {
		p.cb(snap)
	}
	if p.c.call.Emit == nil || p.gone {
		return
	}
	ch := &messages.StreamChunk{RequestID: p.c.call.RequestID, Seq: p.seq, Type: messages.ChunkProgress, Progress: &snap}
	p.seq++
	if !p.c.call.Emit(ch) {
		p.gone = true // the caller went away; its context ends the transfer
	}
}
