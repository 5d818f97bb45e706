package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

func TestFileSinkSealsRecordsInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
	require.NoError(t, err)
	recs := samples(3)
	recs[0].Seq, recs[0].Prev, recs[0].Hash = 99, "caller's", "caller's" // overwritten
	require.NoError(t, s.Write(context.Background(), recs))
	for i, r := range recs {
		assert.Equal(t, uint64(i+1), r.Seq)
		if i > 0 {
			assert.Equal(t, recs[i-1].Hash, r.Prev)
		}
	}
	assert.Empty(t, recs[0].Prev)
	seq, hash := s.Head()
	assert.Equal(t, uint64(3), seq)
	assert.Equal(t, recs[2].Hash, hash)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close is idempotent")
	require.ErrorIs(t, s.Write(context.Background(), samples(1)), ErrClosed)

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestFileSinkReopenContinuesChain(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int64
	}{
		{"one file", 0},
		{"rotating", 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "logs", "audit.log") // the directory is created
			for run := 0; run < 3; run++ {
				s, err := OpenFileSink(FileOptions{Path: path, MaxBytes: tt.maxBytes, Fsync: FsyncNever})
				require.NoError(t, err)
				seq, _ := s.Head()
				assert.Equal(t, uint64(run*4), seq)
				for i := 0; i < 4; i++ {
					require.NoError(t, s.Write(context.Background(), samples(1)))
				}
				require.NoError(t, s.Close())
			}
			rep, err := VerifyLog(path)
			require.NoError(t, err)
			assert.Equal(t, 12, rep.Records)
			assert.Equal(t, uint64(1), rep.FirstSeq)
			if tt.maxBytes > 0 {
				assert.Greater(t, rep.Files, 3)
			}
		})
	}
}

func TestFileSinkRotation(t *testing.T) {
	lineSize := maxLine()
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := OpenFileSink(FileOptions{Path: path, MaxBytes: 3 * lineSize, Fsync: FsyncNever})
	require.NoError(t, err)
	require.NoError(t, s.Write(context.Background(), samples(10))) // one Write spanning rotations
	require.NoError(t, s.Write(context.Background(), samples(10)))
	require.NoError(t, s.Close())

	files, err := Files(path)
	require.NoError(t, err)
	require.Len(t, files, 7) // 20 records, 3 a file
	assert.Equal(t, path+".000001", files[0])
	assert.Equal(t, path, files[len(files)-1])
	for _, f := range files {
		info, err := os.Stat(f)
		require.NoError(t, err)
		assert.LessOrEqual(t, info.Size(), 3*lineSize, f)
	}
	rep, err := Verify(files...)
	require.NoError(t, err)
	assert.Equal(t, 20, rep.Records)
	assert.Equal(t, 7, rep.Files)

	t.Run("removed middle file", func(t *testing.T) {
		_, err := Verify(append(append([]string{}, files[:2]...), files[3:]...)...)
		var ve *VerifyError
		require.ErrorAs(t, err, &ve)
		assert.ErrorIs(t, err, ErrSequence)
		assert.Equal(t, files[3], ve.File)
		assert.Equal(t, 1, ve.Line)
	})
	t.Run("files out of order", func(t *testing.T) {
		_, err := Verify(files[1], files[0])
		require.ErrorIs(t, err, ErrSequence)
	})
	t.Run("removed oldest file", func(t *testing.T) {
		rep, err := Verify(files[1:]...)
		require.NoError(t, err)
		assert.Equal(t, uint64(4), rep.FirstSeq)
		assert.Equal(t, 17, rep.Records)
	})
}

func TestFileSinkMaxFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := OpenFileSink(FileOptions{Path: path, MaxBytes: maxLine(), MaxFiles: 2, Fsync: FsyncNever})
	require.NoError(t, err)
	for i := 0; i < 6; i++ {
		require.NoError(t, s.Write(context.Background(), samples(1)))
	}
	require.NoError(t, s.Close())
	files, err := Files(path)
	require.NoError(t, err)
	assert.Equal(t, []string{path + ".000004", path + ".000005", path}, files)
	rep, err := VerifyLog(path)
	require.NoError(t, err)
	assert.Equal(t, uint64(4), rep.FirstSeq)
	assert.Equal(t, uint64(6), rep.LastSeq)
}

func TestFileSinkNeverRotates(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := OpenFileSink(FileOptions{Path: path, MaxBytes: -1, Fsync: FsyncNever})
	require.NoError(t, err)
	for i := 0; i < 20; i++ {
		require.NoError(t, s.Write(context.Background(), samples(5)))
	}
	require.NoError(t, s.Close())
	files, err := Files(path)
	require.NoError(t, err)
	assert.Equal(t, []string{path}, files)
}

// TestFileSinkRecoversTornLine: a crash left part of a line; the next
// FileSink keeps that file as it is and continues the chain in a new one.
func TestFileSinkRecoversTornLine(t *testing.T) {
	tests := []struct {
		name    string
		before  int // whole records before the crash
		partial string
	}{
		{"after records", 3, `{"seq":4,"time":"20`},
		{"whole line without newline", 2, "LINE"}, // replaced by a whole line below
		{"nothing whole yet", 0, `{"seq":1,`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLog(t, tt.before, FileOptions{})
			partial := tt.partial
			if partial == "LINE" {
				var c chain
				recs := samples(3)
				for i := range recs {
					line := c.seal(nil, &recs[i])
					partial = string(line)
				}
			}
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
			require.NoError(t, err)
			_, err = f.WriteString(partial)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			crashed := readFile(t, path)

			s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
			require.NoError(t, err)
			seq, _ := s.Head()
			assert.Equal(t, uint64(tt.before), seq)
			require.NoError(t, s.Write(context.Background(), samples(2)))
			require.NoError(t, s.Close())

			assert.Equal(t, crashed, readFile(t, path+".000001"), "the torn file is kept as it was")
			rep, err := VerifyLog(path)
			require.NoError(t, err)
			assert.Equal(t, tt.before+2, rep.Records)
			assert.Equal(t, uint64(tt.before+2), rep.LastSeq)
			assert.Equal(t, []Torn{{File: path + ".000001", Offset: int64(len(crashed) - len(partial)), Size: int64(len(partial))}}, rep.Torn)
		})
	}
}

// TestVerifyTornLineInMiddleMustContinue: a torn line at the end of a
// rotated file is accepted only if the next file continues from the last
// whole record — cutting the last record of a rotated file is caught.
func TestVerifyTornLineInMiddleMustContinue(t *testing.T) {
	path := writeLog(t, 6, FileOptions{MaxBytes: 3 * maxLine()})
	files, err := Files(path)
	require.NoError(t, err)
	require.Len(t, files, 2)
	data := readFile(t, files[0])
	require.NoError(t, os.WriteFile(files[0], data[:len(data)-10], 0o600)) // cut record 3 short
	_, err = Verify(files...)
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.ErrorIs(t, err, ErrSequence)
	assert.Equal(t, files[1], ve.File)
}

func TestFileSinkRefusesBrokenHead(t *testing.T) {
	tests := []struct {
		name string
		edit func([]byte) []byte
		want error
	}{
		{"edited last record", func(b []byte) []byte {
			return []byte(strings.Replace(string(b), `"req-0002"`, `"req-0009"`, 1))
		}, ErrAltered},
		{"garbage last line", func(b []byte) []byte { return append(b, "garbage\n"...) }, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLog(t, 3, FileOptions{})
			require.NoError(t, os.WriteFile(path, tt.edit(readFile(t, path)), 0o600))
			_, err := OpenFileSink(FileOptions{Path: path})
			require.ErrorIs(t, err, tt.want)
		})
	}
}

func TestFileSinkHeadFromRotatedFile(t *testing.T) {
	path := writeLog(t, 4, FileOptions{MaxBytes: 2 * maxLine()})
	require.NoError(t, os.Remove(path)) // the active file is gone: continue from the newest rotated one
	s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
	require.NoError(t, err)
	seq, _ := s.Head()
	assert.Equal(t, uint64(2), seq)
	require.NoError(t, s.Close())
}

// syncLog records the files a FileSink syncs.
type syncLog struct {
	mu    sync.Mutex
	names []string
	ch    chan string
}

func (l *syncLog) sync(f *os.File) error {
	l.mu.Lock()
	l.names = append(l.names, filepath.Base(f.Name()))
	l.mu.Unlock()
	if l.ch != nil {
		l.ch <- f.Name()
	}
	return nil
}

func (l *syncLog) count(base string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, name := range l.names {
		if name == base {
			n++
		}
	}
	return n
}

func TestFileSinkFsyncPolicies(t *testing.T) {
	tests := []struct {
		name          string
		fsync         Fsync
		afterWrites   int // syncs of the active file after three Writes
		afterClose    int
		dirAfterClose int // syncs of the directory (one rotation)
	}{
		{"every write", FsyncEveryWrite, 3, 3, 1},
		{"never", FsyncNever, 0, 0, 0},
		{"interval", FsyncInterval(time.Second), 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "audit.log")
			clk := clocktest.New(t)
			s, err := OpenFileSink(FileOptions{Path: path, Fsync: tt.fsync, Clock: clk, MaxBytes: 1 << 20})
			require.NoError(t, err)
			var log syncLog
			s.sync = log.sync
			for i := 0; i < 3; i++ {
				require.NoError(t, s.Write(context.Background(), samples(2)))
			}
			assert.Equal(t, tt.afterWrites, log.count("audit.log"))
			if tt.fsync > 0 {
				assert.Equal(t, 1, clk.Pending(), "one background sync is scheduled")
			} else {
				assert.Zero(t, clk.Pending())
			}
			s.mu.Lock()
			require.NoError(t, s.rotate())
			s.mu.Unlock()
			assert.Equal(t, tt.dirAfterClose, log.count(filepath.Base(dir)))
			require.NoError(t, s.Close())
			assert.Equal(t, tt.afterClose, log.count("audit.log"), "rotation syncs what is not yet synced")
		})
	}
}

func TestFileSinkFsyncInterval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	clk := clocktest.New(t)
	s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncInterval(time.Second), Clock: clk})
	require.NoError(t, err)
	log := syncLog{ch: make(chan string, 1)}
	s.sync = log.sync

	require.NoError(t, s.Write(context.Background(), samples(1)))
	require.NoError(t, s.Write(context.Background(), samples(1)))
	clk.Advance(999 * time.Millisecond)
	assert.Zero(t, log.count("audit.log"))
	clk.Advance(time.Millisecond)
	assert.Equal(t, path, <-log.ch, "the timer syncs the file")

	require.NoError(t, s.Write(context.Background(), samples(1)))
	require.Equal(t, 1, clk.Pending(), "a new Write schedules the next sync")
	clk.Advance(time.Second)
	assert.Equal(t, path, <-log.ch)
	assert.Equal(t, 2, log.count("audit.log"))

	// A failed background sync is returned by the next Write.
	s.sync = func(*os.File) error { defer func() { log.ch <- "failed" }(); return errors.New("disk on fire") }
	require.NoError(t, s.Write(context.Background(), samples(1)))
	clk.Advance(time.Second)
	assert.Equal(t, "failed", <-log.ch)
	s.mu.Lock() // the timer goroutine has set the error once it releases the lock
	s.mu.Unlock()
	err = s.Write(context.Background(), samples(1))
	require.ErrorContains(t, err, "disk on fire")
	s.sync = log.sync
	require.NoError(t, s.Close())
	<-log.ch // Close synced the last Write
	rep, err := VerifyLog(path)
	require.NoError(t, err)
	assert.Equal(t, 5, rep.Records)
}

func TestFsyncString(t *testing.T) {
	assert.Equal(t, "every write", FsyncEveryWrite.String())
	assert.Equal(t, "never", FsyncNever.String())
	assert.Equal(t, "every 2s", FsyncInterval(2*time.Second).String())
	assert.Panics(t, func() { FsyncInterval(0) })
}

// TestFileSinkWriteFailure: a Write that fails part-way leaves the records
// before the failure in the log, and the chain continues from the last whole
// one; a part of a line left behind is sealed off in its own file.
func TestFileSinkWriteFailure(t *testing.T) {
	tests := []struct {
		name      string
		written   func(batch int) int // bytes the failing write gets out
		wantHead  uint64
		wantFiles int
	}{
		{"nothing written", func(int) int { return 0 }, 2, 1},
		{"one record and a half", func(int) int { return -1 }, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
			require.NoError(t, err)
			require.NoError(t, s.Write(context.Background(), samples(2)))
			s.writeFile = func(f *os.File, p []byte) (int, error) {
				n := tt.written(len(p))
				if n < 0 {
					n = len(p) / 3 * 3 / 2 // 1.5 of 3 lines of about equal length
				}
				_, err := f.Write(p[:n])
				require.NoError(t, err)
				return n, errors.New("no space left on device")
			}
			err = s.Write(context.Background(), samples(3))
			require.ErrorContains(t, err, "no space left on device")
			seq, _ := s.Head()
			assert.Equal(t, tt.wantHead, seq)

			s.writeFile = (*os.File).Write
			require.NoError(t, s.Write(context.Background(), samples(2)))
			require.NoError(t, s.Close())
			rep, err := VerifyLog(path)
			require.NoError(t, err)
			assert.Equal(t, int(tt.wantHead)+2, rep.Records)
			assert.Equal(t, tt.wantFiles, rep.Files)
			assert.Len(t, rep.Torn, tt.wantFiles-1)
		})
	}
}

func TestFileSinkCancelledContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, s.Write(ctx, samples(1)), context.Canceled)
	require.NoError(t, s.Close())
	rep, err := VerifyLog(path)
	require.NoError(t, err)
	assert.Zero(t, rep.Records)
}

func TestOpenFileSinkErrors(t *testing.T) {
	_, err := OpenFileSink(FileOptions{})
	require.Error(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	require.NoError(t, os.WriteFile(path+".000001", nil, 0o600))
	require.NoError(t, os.Mkdir(path+".000002", 0o700)) // not a rotated file: a directory
	s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	files, err := Files(path)
	require.NoError(t, err)
	assert.Equal(t, []string{path + ".000001", path}, files)
}
