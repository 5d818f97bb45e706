package messages

import (
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
)

// TestNewRequestIDIsAUUIDv7: the ID parses as an RFC 9562 UUID of version
// 7 and variant RFC 4122, and its time is the time it was made.
func TestNewRequestIDIsAUUIDv7(t *testing.T) {
	before := time.Now().UnixMilli()
	id := NewRequestID()
	after := time.Now().UnixMilli()
	u, err := uuid.Parse(id)
	require.NoError(t, err)
	require.Equal(t, id, u.String(), "canonical lower-case form")
	require.EqualValues(t, 7, u.Version())
	require.Equal(t, uuid.RFC4122, u.Variant())
	ms := u.Time() // 100 ns units since 1582 for v7 too
	sec, nsec := ms.UnixTime()
	at := sec*1000 + nsec/1e6
	require.GreaterOrEqual(t, at, before)
	require.LessOrEqual(t, at, after+1, "a stamp bumped past its millisecond is at most a little later")
}

// TestNewRequestIDsIncreaseAndNeverRepeat: IDs made one after another sort
// in the order they were made (even many within one millisecond), and IDs
// made concurrently are all different.
func TestNewRequestIDsIncreaseAndNeverRepeat(t *testing.T) {
	prev := NewRequestID()
	for range 20000 {
		id := NewRequestID()
		require.Less(t, prev, id)
		prev = id
	}
	const workers, each = 8, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for range each {
				ids[w] = append(ids[w], NewRequestID())
			}
		})
	}
	wg.Wait()
	seen := make(map[string]bool, workers*each)
	for _, l := range ids {
		for _, id := range l {
			require.False(t, seen[id], "duplicate %s", id)
			seen[id] = true
		}
	}
}

// TestV7StampNeverGoesBack: a stamp is the time's milliseconds and
// fraction, or one past the last stamp when the clock stands still or steps
// back.
func TestV7StampNeverGoesBack(t *testing.T) {
	var s v7Stamps
	nano := int64(1_800_000_000_123_456_789)
	a := s.next(nano)
	require.Equal(t, nano/1e6, a>>12)
	require.Equal(t, (nano%1e6)>>8, a&0xfff)
	require.Equal(t, a+1, s.next(nano), "the same instant: one more")
	require.Equal(t, a+2, s.next(nano-5e9), "a clock stepped back: still one more")
	later := s.next(nano + 1e6)
	require.Equal(t, nano/1e6+1, later>>12, "a later millisecond: its own stamp")
}

func BenchmarkNewRequestID(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = NewRequestID()
	}
}

func BenchmarkUUIDNewV7(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		u, _ := uuid.NewV7()
		_ = u.String()
	}
}
