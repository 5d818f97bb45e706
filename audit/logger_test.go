package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// memSink keeps what it is given. gate, if set, is received from before each
// Write (so a test can hold the writer); entered is told each Write began.
type memSink struct {
	mu      sync.Mutex
	recs    []Record
	writes  int
	closed  int
	gate    chan struct{}
	entered chan struct{}
	fail    func(n int) error // the n-th Write's result (from 1)
}

func (s *memSink) Write(ctx context.Context, recs []Record) error {
	if s.entered != nil {
		s.entered <- struct{}{}
	}
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	if s.fail != nil {
		if err := s.fail(s.writes); err != nil {
			return err
		}
	}
	s.recs = append(s.recs, recs...)
	return nil
}

func (s *memSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed++
	return nil
}

func (s *memSink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, r := range s.recs {
		ids = append(ids, r.RequestID)
	}
	return ids
}

func TestLoggerWritesInOrderAndCloseFlushes(t *testing.T) {
	sink := &memSink{gate: make(chan struct{})}
	l := NewLogger(sink, LoggerOptions{Buffer: 100, Batch: 7})
	var want []string
	for i := 0; i < 100; i++ {
		r := sample(i)
		require.True(t, l.Log(r))
		want = append(want, r.RequestID)
	}
	close(sink.gate) // the sink was held: everything is still buffered
	require.NoError(t, l.Close(context.Background()))
	assert.Equal(t, want, sink.ids())
	assert.Equal(t, 1, sink.closed)
	assert.Equal(t, Stats{Logged: 100, Written: 100}, l.Stats())
	assert.GreaterOrEqual(t, sink.writes, 100/7, "records are batched, at most Batch a Write")
}

// TestLoggerSlowSinkNeverBlocks: with the sink stuck, Log keeps returning;
// once the buffer is full records are dropped, counted and reported.
func TestLoggerSlowSinkNeverBlocks(t *testing.T) {
	const buffer, extra = 4, 3
	sink := &memSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	drops := make(chan uint64, 16)
	l := NewLogger(sink, LoggerOptions{Buffer: buffer, Batch: 1, OnDrop: func(total uint64) { drops <- total }})

	require.True(t, l.Log(sample(0)))
	<-sink.entered // the writer holds record 0 and is stuck in Write
	for i := 1; i <= buffer; i++ {
		require.True(t, l.Log(sample(i)), "record %d fits in the buffer", i)
	}
	for i := 0; i < extra; i++ {
		require.False(t, l.Log(sample(100+i)), "the buffer is full")
	}
	assert.Equal(t, uint64(extra), l.Dropped())
	for total := uint64(0); total < extra; {
		got := <-drops
		require.Greater(t, got, total, "totals only grow")
		total = got
	}

	close(sink.gate)
	for i := 0; i < buffer; i++ {
		<-sink.entered
	}
	require.NoError(t, l.Close(context.Background()))
	assert.Equal(t, []string{"req-0000", "req-0001", "req-0002", "req-0003", "req-0004"}, sink.ids())
	assert.Equal(t, Stats{Logged: buffer + 1 + extra, Written: buffer + 1, Dropped: extra}, l.Stats())
}

func TestLoggerCloseGivesUp(t *testing.T) {
	sink := &memSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	l := NewLogger(sink, LoggerOptions{Buffer: 10, Batch: 1})
	for i := 0; i < 5; i++ {
		require.True(t, l.Log(sample(i)))
	}
	<-sink.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, l.Close(ctx), context.Canceled)
	assert.False(t, l.Log(sample(9)), "closed")
	// The stuck Write saw its context end; the rest are dropped; the sink is closed.
	require.NoError(t, l.Close(context.Background()))
	assert.Empty(t, sink.ids())
	assert.Equal(t, 1, sink.closed)
	assert.Equal(t, Stats{Logged: 6, Failed: 1, Dropped: 5}, l.Stats())
}

func TestLoggerSinkFailures(t *testing.T) {
	tests := []struct {
		name string
		fail func(n int) error
		want string
	}{
		{"error", func(n int) error { return fmt.Errorf("write %d failed", n) }, "write 2 failed"},
		{"panic", func(n int) error { panic(fmt.Sprintf("sink bug in write %d", n)) }, "audit: sink panicked: sink bug in write 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &memSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
			sink.fail = func(n int) error {
				if n == 2 {
					return tt.fail(n)
				}
				return nil
			}
			var errs []error
			l := NewLogger(sink, LoggerOptions{Batch: 1, OnError: func(err error) { errs = append(errs, err) }})
			for i := 0; i < 3; i++ {
				require.True(t, l.Log(sample(i)))
				<-sink.entered
				sink.gate <- struct{}{}
			}
			require.NoError(t, l.Close(context.Background()))
			require.Len(t, errs, 1)
			assert.EqualError(t, errs[0], tt.want)
			assert.Equal(t, []string{"req-0000", "req-0002"}, sink.ids(), "the Logger goes on after a failure")
			assert.Equal(t, Stats{Logged: 3, Written: 2, Failed: 1}, l.Stats())
		})
	}
}

type panicCloser struct{ memSink }

func (*panicCloser) Close() error { panic("close bug") }

func TestLoggerSinkClosePanics(t *testing.T) {
	l := NewLogger(&panicCloser{}, LoggerOptions{})
	require.EqualError(t, l.Close(context.Background()), "audit: sink panicked in Close: close bug")
}

func TestLoggerSetsMissingTime(t *testing.T) {
	clk := clocktest.New(t)
	sink := &memSink{}
	l := NewLogger(sink, LoggerOptions{Clock: clk})
	given := sample(1)
	require.True(t, l.Log(given))
	require.True(t, l.Log(Record{RequestID: "no time"}))
	require.NoError(t, l.Close(context.Background()))
	require.Len(t, sink.recs, 2)
	assert.Equal(t, given.Time, sink.recs[0].Time)
	assert.Equal(t, clk.Now(), sink.recs[1].Time)
}

func TestLoggerCloseTwiceAndLogAfterClose(t *testing.T) {
	sink := &memSink{}
	drops := make(chan uint64, 1)
	l := NewLogger(sink, LoggerOptions{OnDrop: func(total uint64) { drops <- total }})
	require.NoError(t, l.Close(context.Background()))
	require.NoError(t, l.Close(context.Background()))
	assert.False(t, l.Log(sample(0)))
	assert.Equal(t, uint64(1), l.Dropped())
	assert.Equal(t, 1, sink.closed)
	assert.Panics(t, func() { NewLogger(nil, LoggerOptions{}) })
}

// TestLoggerConcurrentToFile logs from many goroutines into a rotating file:
// every record written is in the log, in one chain.
func TestLoggerConcurrentToFile(t *testing.T) {
	const goroutines, each = 16, 200
	path := filepath.Join(t.TempDir(), "audit.log")
	fs, err := OpenFileSink(FileOptions{Path: path, MaxBytes: 64 << 10, Fsync: FsyncNever})
	require.NoError(t, err)
	var errs []error
	l := NewLogger(fs, LoggerOptions{Buffer: goroutines * each, OnError: func(err error) { errs = append(errs, err) }})
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				r := sample(i)
				r.RequestID = fmt.Sprintf("g%d-%d", g, i)
				assert.True(t, l.Log(r))
				_ = l.Stats()
			}
		}()
	}
	wg.Wait()
	require.NoError(t, l.Close(context.Background()))
	require.Empty(t, errs)
	rep, err := VerifyLog(path)
	require.NoError(t, err)
	assert.Equal(t, goroutines*each, rep.Records)
	assert.Greater(t, rep.Files, 1)
	assert.Equal(t, Stats{Logged: goroutines * each, Written: goroutines * each}, l.Stats())
}

func TestLoggerOnDropCoalesces(t *testing.T) {
	sink := &memSink{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	inDrop := make(chan uint64)
	release := make(chan struct{})
	l := NewLogger(sink, LoggerOptions{Buffer: 1, Batch: 1, OnDrop: func(total uint64) {
		inDrop <- total
		<-release
	}})
	require.True(t, l.Log(sample(0)))
	<-sink.entered
	require.True(t, l.Log(sample(1)))
	require.False(t, l.Log(sample(2)))
	assert.Equal(t, uint64(1), <-inDrop) // OnDrop is busy with the first drop
	for i := 0; i < 10; i++ {
		require.False(t, l.Log(sample(3+i)), "Log does not wait for OnDrop")
	}
	release <- struct{}{}
	assert.Equal(t, uint64(11), <-inDrop, "the drops during the call are told in one more call")
	close(release)
	close(sink.gate)
	<-sink.entered
	require.NoError(t, l.Close(context.Background()))
	assert.Equal(t, uint64(11), l.Dropped())
	assert.Equal(t, uint64(2), l.Stats().Written)
}
