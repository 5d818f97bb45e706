package audit

import (
	"context"
	"errors"
)

// A Sink stores audit records: FileSink keeps them in a file; a host can
// implement Sink to send them elsewhere. A Logger calls Write from one
// goroutine at a time, in log order, and Close once, after the last Write.
type Sink interface {
	// Write stores recs, in order. It may set fields of recs (FileSink sets
	// Seq, Prev and Hash, so a sink that wraps a FileSink and writes after it
	// sees the chained records) and must not keep recs after it returns.
	// ctx is cancelled when the Logger's Close gives up waiting; a Write that
	// blocks should then return. An error means some of recs may not be
	// stored.
	Write(ctx context.Context, recs []Record) error
	// Close flushes and releases the sink. No Write follows.
	Close() error
}

// ErrClosed is returned by a FileSink's Write after Close.
var ErrClosed = errors.New("audit: closed")
