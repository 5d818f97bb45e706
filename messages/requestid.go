package messages

import (
	"math/rand/v2"
	"sync/atomic"
	"time"
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
	var b [16]byte
	b[0], b[1], b[2], b[3], b[4], b[5] = byte(ts>>52), byte(ts>>44), byte(ts>>36), byte(ts>>28), byte(ts>>20), byte(ts>>12)
	b[6] = 0x70 | byte(ts>>8)&0x0f // version 7, then the fraction's top 4 bits
	b[7] = byte(ts)
	r := rand.Uint64()
	for i := 8; i < 16; i++ {
		b[i] = byte(r >> (8 * (15 - i)))
	}
	b[8] = 0x80 | b[8]&0x3f // variant 10
	return formatUUID(&b)
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

// formatUUID writes b in the canonical 8-4-4-4-12 hex form.
func formatUUID(b *[16]byte) string {
	const hex = "0123456789abcdef"
	var s [36]byte
	j := 0
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			s[j] = '-'
			j++
		}
		s[j], s[j+1] = hex[c>>4], hex[c&0x0f]
		j += 2
	}
	return string(s[:])
}
