package audit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/switchyard-ai/switchyard/clock"
)

// Defaults of LoggerOptions.
const (
	DefaultBuffer = 8192
	DefaultBatch  = 256
)

// LoggerOptions configures a Logger. Every field has a usable zero value.
type LoggerOptions struct {
	// Buffer is how many records may wait for the sink; a record logged
	// when it is full is dropped. Default DefaultBuffer (8192).
	Buffer int
	// Batch is the most records handed to one Sink.Write; the writer takes
	// whatever is waiting, up to Batch. Default DefaultBatch (256).
	Batch int
	// OnDrop, if set, is told the total of dropped records after records
	// were dropped. It runs on a goroutine of its own, never in Log, and
	// calls are coalesced: drops that happen while it runs are reported by
	// one more call, so the last call always has the final total. It runs
	// while the Logger runs; drops after Close are counted, not reported.
	OnDrop func(total uint64)
	// OnError, if set, is called with each error of Sink.Write (or the
	// panic of a Write, as an error) from the writer goroutine, which waits
	// for it: it should be quick. The records of that Write are counted in
	// Stats.Failed.
	OnError func(error)
	// Clock sets Time on records logged without one; default clock.Real.
	Clock clock.Clock
}

// Stats counts a Logger's records. Logged = Written + Failed + Dropped +
// those still waiting.
type Stats struct {
	Logged  uint64 // calls to Log
	Written uint64 // handed to Sink.Write, which returned nil
	Failed  uint64 // handed to a Sink.Write that returned an error or panicked
	Dropped uint64 // never handed to the sink: the buffer was full, the Logger closed, or Close gave up
}

// Logger is what the runtime calls to audit requests: Log hands a record to
// a bounded buffer and returns at once; one goroutine writes the buffer to
// the Sink, in the order Log accepted the records, so the sink's order is the
// log's order. A slow or stuck sink fills the buffer and further records are
// dropped and counted; requests never wait for the audit log.
//
// The Logger owns the Sink: Close closes it. A Logger is safe for concurrent
// use.
type Logger struct {
	sink    Sink
	opts    LoggerOptions
	records chan Record
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the writer has closed the sink
	dropped chan struct{} // wakes the drop notifier; capacity 1
	stopped chan struct{} // closed when the drop notifier has returned

	mu     sync.RWMutex // Log holds it shared; Close exclusively, to stop accepting
	closed bool

	logged, written, failed, drops atomic.Uint64
	closeErr                       error // the sink's Close, set before done is closed
}

// NewLogger starts a Logger that writes to sink. It panics if sink is nil.
func NewLogger(sink Sink, opts LoggerOptions) *Logger {
	if sink == nil {
		panic("audit: NewLogger with a nil Sink")
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Logger{
		sink:    sink,
		opts:    opts,
		records: make(chan Record, opts.Buffer),
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		dropped: make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	go l.write()
	go l.notify()
	return l
}

// Log queues r for the sink and reports whether it was accepted. It never
// blocks: when the buffer is full, or after Close, r is dropped and counted.
// A zero r.Time is set to the Logger's clock; Seq, Prev and Hash are set by
// the sink. r is copied, but not r.Content: do not change it after Log.
func (l *Logger) Log(r Record) bool {
	l.logged.Add(1)
	if r.Time.IsZero() {
		r.Time = l.opts.Clock.Now()
	}
	l.mu.RLock()
	accepted := false
	if !l.closed {
		select {
		case l.records <- r:
			accepted = true
		default:
		}
	}
	l.mu.RUnlock()
	if !accepted {
		l.drop(1)
	}
	return accepted
}

// drop counts n dropped records and wakes the notifier.
func (l *Logger) drop(n uint64) {
	l.drops.Add(n)
	select {
	case l.dropped <- struct{}{}:
	default:
	}
}

// Dropped returns how many records were dropped so far. Safe for concurrent
// use.
func (l *Logger) Dropped() uint64 { return l.drops.Load() }

// Stats returns the Logger's counts so far. Safe for concurrent use.
func (l *Logger) Stats() Stats {
	return Stats{
		Logged:  l.logged.Load(),
		Written: l.written.Load(),
		Failed:  l.failed.Load(),
		Dropped: l.drops.Load(),
	}
}

// Close stops accepting records, waits until every record accepted so far is
// written, then closes the sink and returns its Close error. If ctx ends
// first, Close cancels the context of the Sink.Write in progress, counts the
// records still waiting as dropped and returns ctx's error; the sink is
// closed once that Write returns (a Write that ignores its context keeps the
// writer goroutine until it does). Close also waits for a running OnDrop.
// Close may be called more than once; each call waits the same way.
func (l *Logger) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.records)
	}
	l.mu.Unlock()
	select {
	case <-l.done:
	case <-ctx.Done():
		select {
		case <-l.done:
		default:
			l.cancel()
			return ctx.Err()
		}
	}
	select {
	case <-l.stopped:
		return l.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write is the writer goroutine: it hands batches to the sink until the
// buffer is closed and empty, then closes the sink.
func (l *Logger) write() {
	defer close(l.done)
	defer l.cancel()
	batch := make([]Record, 0, l.opts.Batch)
	for r := range l.records {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < cap(batch) {
			select {
			case r, ok := <-l.records:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		if l.ctx.Err() != nil {
			l.drop(uint64(len(batch)))
			continue
		}
		if err := l.writeBatch(batch); err != nil {
			l.failed.Add(uint64(len(batch)))
			if l.opts.OnError != nil {
				l.opts.OnError(err)
			}
		} else {
			l.written.Add(uint64(len(batch)))
		}
		clear(batch) // let go of Content the runtime may have attached
	}
	l.closeErr = l.closeSink()
}

// writeBatch calls Sink.Write, turning a panic into an error.
func (l *Logger) writeBatch(batch []Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("audit: sink panicked: %v", p)
		}
	}()
	return l.sink.Write(l.ctx, batch)
}

// closeSink calls Sink.Close, turning a panic into an error.
func (l *Logger) closeSink() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("audit: sink panicked in Close: %v", p)
		}
	}()
	return l.sink.Close()
}

// notify is the drop notifier: it tells OnDrop the total after drops, until
// the writer is done.
func (l *Logger) notify() {
	defer close(l.stopped)
	var told uint64
	for {
		select {
		case <-l.dropped:
		case <-l.done:
			select {
			case <-l.dropped:
			default:
				return
			}
		}
		if total := l.drops.Load(); total > told && l.opts.OnDrop != nil {
			told = total
			l.opts.OnDrop(total)
		}
	}
}
