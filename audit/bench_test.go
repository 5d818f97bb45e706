package audit

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
)

// countSink counts records and tells waiters when a count is reached; with
// next set it passes the records on.
type countSink struct {
	next Sink
	mu   sync.Mutex
	n    int
	want int
	done chan struct{}
	gate chan struct{} // if set, Write waits for it to close
}

func (s *countSink) Write(ctx context.Context, recs []Record) error {
	if s.gate != nil {
		<-s.gate
	}
	if s.next != nil {
		if err := s.next.Write(ctx, recs); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += len(recs)
	if s.done != nil && s.n >= s.want {
		close(s.done)
		s.done = nil
	}
	return nil
}

func (s *countSink) Close() error {
	if s.next != nil {
		return s.next.Close()
	}
	return nil
}

// await returns a channel closed once n records in all were written.
func (s *countSink) await(n int) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := make(chan struct{})
	if s.n >= n {
		close(done)
		return done
	}
	s.want, s.done = n, done
	return done
}

// BenchmarkLoggerLog is what a request pays to be audited: one Log call.
//
//   - accepted: Log queues the record (the timer stops while the writer
//     drains the buffer between rounds, so no record is dropped);
//   - buffer-full: the sink is stuck and the buffer full, so Log drops the
//     record and counts it; from GOMAXPROCS goroutines.
func BenchmarkLoggerLog(b *testing.B) {
	b.Run("accepted", func(b *testing.B) {
		sink := &countSink{}
		l := NewLogger(sink, LoggerOptions{})
		r := sample(1)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; {
			n := min(DefaultBuffer, b.N-i)
			for j := 0; j < n; j++ {
				l.Log(r)
			}
			i += n
			b.StopTimer()
			<-sink.await(i)
			b.StartTimer()
		}
		b.StopTimer()
		if err := l.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		if d := l.Dropped(); d != 0 {
			b.Fatalf("%d records dropped", d)
		}
	})
	b.Run("buffer-full", func(b *testing.B) {
		sink := &countSink{gate: make(chan struct{})}
		l := NewLogger(sink, LoggerOptions{Buffer: 16, Batch: 1})
		r := sample(1)
		for i := 0; i < 17; i++ { // one record in the stuck Write, 16 in the buffer
			l.Log(r)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Log(r)
			}
		})
		b.StopTimer()
		close(sink.gate)
		if err := l.Close(context.Background()); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(l.Dropped())/float64(b.N), "dropped/op")
	})
}

// BenchmarkLoggerToFile is the throughput of the whole path, Log to file
// (fsync never), per record: rounds of a buffer's worth of records, each
// waited for until it is written.
func BenchmarkLoggerToFile(b *testing.B) {
	fs, err := OpenFileSink(FileOptions{Path: filepath.Join(b.TempDir(), "audit.log"), Fsync: FsyncNever})
	if err != nil {
		b.Fatal(err)
	}
	sink := &countSink{next: fs}
	l := NewLogger(sink, LoggerOptions{})
	r := sample(1)
	_, lines := sealed(2)
	b.SetBytes(int64(len(lines[1])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; {
		n := min(DefaultBuffer, b.N-i)
		for j := 0; j < n; j++ {
			l.Log(r)
		}
		i += n
		<-sink.await(i)
	}
	b.StopTimer()
	if err := l.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkFileSinkWrite is the file's throughput: records chained, encoded
// and appended in batches of 256, per fsync policy.
func BenchmarkFileSinkWrite(b *testing.B) {
	for _, bc := range []struct {
		name  string
		fsync Fsync
	}{
		{"fsync=never", FsyncNever},
		{"fsync=every-write", FsyncEveryWrite},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := OpenFileSink(FileOptions{Path: filepath.Join(b.TempDir(), "audit.log"), Fsync: bc.fsync})
			if err != nil {
				b.Fatal(err)
			}
			batch := samples(256)
			_, lines := sealed(2)
			b.SetBytes(int64(len(lines[1]))) // per record
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i += len(batch) {
				n := min(len(batch), b.N-i)
				if err := s.Write(context.Background(), batch[:n]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkVerify is how fast a log is checked, per record.
func BenchmarkVerify(b *testing.B) {
	path := writeLog(b, 1000, FileOptions{})
	_, lines := sealed(2)
	b.SetBytes(int64(len(lines[1])))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += 1000 {
		if _, err := Verify(path); err != nil {
			b.Fatal(err)
		}
	}
}
