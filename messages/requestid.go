package messages

import (
	"encoding/binary"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// v7Stamps hands out UUIDv7 time stamps: Unix milliseconds << 12 | a
// 12-bit fraction of the millisecond (RFC 9562 §6.2 method 3), each later
// than the one before, so IDs of one process sort in the order they were
// made. The zero value is ready; safe for concurrent use.
type v7Stamps struct{ last atomic.Int64 }

// requestIDStamps are the stamps of NewRequestID.
var requestIDStamps v7Stamps

// NewRequestID returns a fresh UUIDv7 string (RFC 9562), the default
// request ID: 48 bits of Unix milliseconds, 12 bits of sub-millisecond
// time (bumped by one when two IDs would share it, so one process's IDs are
// strictly increasing), and 62 random bits. The random bits come from
// math/rand/v2's top-level generator (ChaCha8 per thread, seeded from the
// operating system): an ID must be unique, not secret, and reading
// crypto/rand cost more than the rest of making one. The time is the wall
// clock's, not Config.Clock's: an ID's time stamp is a label that no
// runtime decision reads (as with google/uuid before it). Safe for
// concurrent use.
func NewRequestID() string {
	ts := requestIDStamps.next(time.Now().UnixNano())
	var b uuid.UUID
	// Milliseconds, version 7, the fraction; variant 10, random bits.
	binary.BigEndian.PutUint64(b[:8], uint64(ts>>12)<<16|0x7000|uint64(ts&0xfff))
	binary.BigEndian.PutUint64(b[8:], 1<<63|rand.Uint64()>>2)
	return b.String()
}

// next is the stamp of an ID made at nano (Unix nanoseconds): its
// milliseconds and fraction, or one more than the last stamp handed out
// when that is not earlier.
func (s *v7Stamps) next(nano int64) int64 {
	milli := nano / 1e6
	want := milli<<12 | (nano-milli*1e6)>>8 // the fraction in 1/3907 ms steps, < 4096
	for {
		last := s.last.Load()
		ts := max(want, last+1)
		if s.last.CompareAndSwap(last, ts) {
			return ts
		}
	}
}
