package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// DefaultMaxBytes is the size at which a FileSink rotates by default.
const DefaultMaxBytes = 100 << 20

// FileOptions configures a FileSink. Every field but Path has a usable zero
// value.
type FileOptions struct {
	// Path is the log's active file, created with its directory if missing.
	// Rotated files are Path.000001, Path.000002, … next to it.
	Path string
	// MaxBytes is the size a file may reach: when the next line would take
	// the active file past it, the file is rotated first (a single line
	// larger than MaxBytes gets a file of its own). 0 means DefaultMaxBytes
	// (100 MiB); negative means never rotate.
	MaxBytes int64
	// MaxFiles is how many rotated files to keep; at rotation the oldest
	// beyond it are removed, and the log then starts after seq 1 (see
	// Report.FirstSeq). A file that cannot be removed is tried again at the
	// next rotation. 0, the default, keeps all.
	MaxFiles int
	// Fsync is when written records are forced to stable storage; the
	// default is FsyncEveryWrite.
	Fsync Fsync
	// Perm is the permission of new files; the default is 0o600. A created
	// directory gets 0o700.
	Perm fs.FileMode
	// Clock schedules FsyncInterval's syncs; the default is clock.Real.
	Clock clock.Clock
}

// FileSink is the Sink that keeps an audit log in JSON Lines files: it
// chains each record it writes (sets Seq, Prev and Hash), appends it to the
// active file, rotates by size and syncs by its Fsync policy. See the
// package doc for the format and for what happens after a crash.
//
// Only one FileSink may write a log at a time, in this process or any other.
// A FileSink is safe for concurrent use; concurrent Writes are chained in the
// order they take its lock.
type FileSink struct {
	opts      FileOptions
	sync      func(*os.File) error                // (*os.File).Sync; tests count calls
	writeFile func(*os.File, []byte) (int, error) // (*os.File).Write; tests make it fail

	mu      sync.Mutex
	f       *os.File // the active file; nil when it must be opened again
	size    int64    // bytes in the active file
	next    uint64   // number of the next rotated file
	head    chain    // the last record written whole
	torn    bool     // the active file ends in a torn line: rotate before writing
	dirty   bool     // written since the last sync
	timer   clock.Timer
	syncErr error // a background sync's failure, returned by the next Write or Close
	closed  bool
	buf     []byte
	marks   []mark
}

// mark is where a record's line ends in FileSink.buf and the chain after it.
type mark struct {
	end  int
	head chain
}

// OpenFileSink opens the log at opts.Path, creating it if needed, and reads
// its newest whole record to continue the chain. If the active file ends in
// a torn line, that file is rotated away as it is (see the package doc). It
// fails if the newest whole record does not verify on its own (ParseLine):
// an operator must look at such a log before more is appended to it.
func OpenFileSink(opts FileOptions) (*FileSink, error) {
	if opts.Path == "" {
		return nil, errors.New("audit: FileOptions.Path is empty")
	}
	if opts.MaxBytes == 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Perm == 0 {
		opts.Perm = 0o600
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real
	}
	s := &FileSink{opts: opts, sync: (*os.File).Sync, writeFile: (*os.File).Write, next: 1}
	if err := os.MkdirAll(filepath.Dir(opts.Path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("audit: opening %s: %w", opts.Path, err)
	}
	if err := s.open(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return s, nil
}

// recover finds the chain's head and rotates a torn active file away.
func (s *FileSink) recover() error {
	rs, err := rotated(s.opts.Path)
	if err != nil {
		return err
	}
	if len(rs) > 0 {
		s.next = rs[len(rs)-1].n + 1
	}
	names := make([]string, 0, len(rs)+1)
	for _, r := range rs {
		names = append(names, r.name)
	}
	line, end, size, err := tail(s.opts.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return err
	case end < size:
		if err := s.rename(); err != nil {
			return err
		}
		fallthrough
	default:
		names = append(names, "") // the active file, already read
	}
	for i := len(names) - 1; line == nil && i >= 0; i-- {
		if names[i] == "" {
			continue
		}
		if line, _, _, err = tail(names[i]); err != nil {
			return err
		}
	}
	if line == nil {
		return nil // a new log
	}
	r, err := ParseLine(line)
	if err != nil {
		return fmt.Errorf("newest record: %w", err)
	}
	s.head = chain{seq: r.Seq, hash: r.Hash}
	return nil
}

// Write chains recs (setting their Seq, Prev and Hash) and appends them to
// the log, rotating first when a line would not fit; then it syncs if the
// policy is FsyncEveryWrite. On an error the records before the failing one
// are in the log and the chain continues from the last one written whole;
// if the error left part of a line in the file, the next Write starts a new
// file (so the part is a torn line at the end of the old one). Write after
// Close returns ErrClosed.
func (s *FileSink) Write(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.write(recs)
	if s.syncErr != nil {
		err = errors.Join(err, s.syncErr)
		s.syncErr = nil
	}
	return err
}

func (s *FileSink) write(recs []Record) error {
	if s.f == nil {
		if err := s.open(); err != nil {
			return err
		}
	}
	if s.torn {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	next := s.head
	s.buf, s.marks = s.buf[:0], s.marks[:0]
	for i := range recs {
		start := len(s.buf)
		s.buf = next.seal(s.buf, &recs[i])
		s.buf = append(s.buf, '\n')
		if s.opts.MaxBytes > 0 && s.size+int64(start) > 0 && s.size+int64(len(s.buf)) > s.opts.MaxBytes {
			if err := s.flush(s.buf[:start]); err != nil {
				return err
			}
			if err := s.rotate(); err != nil {
				return err
			}
			s.buf = append(s.buf[:0], s.buf[start:]...)
			s.marks = s.marks[:0]
		}
		s.marks = append(s.marks, mark{end: len(s.buf), head: next})
	}
	if err := s.flush(s.buf); err != nil {
		return err
	}
	switch {
	case !s.dirty || s.opts.Fsync < 0:
	case s.opts.Fsync == FsyncEveryWrite:
		s.dirty = false
		return s.sync(s.f)
	case s.timer == nil:
		s.timer = s.opts.Clock.AfterFunc(time.Duration(s.opts.Fsync), s.backgroundSync)
	}
	return nil
}

// flush appends data, whose lines s.marks describe, to the active file and
// moves the head past the lines written whole.
func (s *FileSink) flush(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	n, err := s.writeFile(s.f, data)
	s.size += int64(n)
	s.dirty = s.dirty || n > 0
	whole := 0
	for _, m := range s.marks {
		if m.end > n {
			break
		}
		s.head, whole = m.head, m.end
	}
	if err != nil {
		s.torn = n > whole
		return fmt.Errorf("audit: writing %s: %w", s.opts.Path, err)
	}
	return nil
}

// backgroundSync is FsyncInterval's timer.
func (s *FileSink) backgroundSync() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.timer = nil
	if s.closed || s.f == nil || !s.dirty {
		return
	}
	s.dirty = false
	if err := s.sync(s.f); err != nil {
		s.syncErr = fmt.Errorf("audit: syncing %s: %w", s.opts.Path, err)
	}
}

// open opens (or creates) the active file for appending.
func (s *FileSink) open() error {
	f, err := os.OpenFile(s.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, s.opts.Perm)
	if err != nil {
		return err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	s.f, s.size, s.dirty = f, info.Size(), false
	if s.opts.Fsync >= 0 {
		return s.syncDir()
	}
	return nil
}

// rotate closes the active file, renames it to the next rotated name,
// starts a new one and removes rotated files beyond MaxFiles.
func (s *FileSink) rotate() error {
	if s.dirty && s.opts.Fsync >= 0 {
		if err := s.sync(s.f); err != nil {
			return fmt.Errorf("audit: syncing %s: %w", s.opts.Path, err)
		}
	}
	err := s.f.Close()
	s.f, s.dirty = nil, false
	if err != nil {
		return err
	}
	if err := s.rename(); err != nil {
		return err
	}
	if err := s.open(); err != nil {
		return err
	}
	s.prune()
	return nil
}

// rename moves the active file to the next rotated name.
func (s *FileSink) rename() error {
	name := rotatedName(s.opts.Path, s.next)
	if _, err := os.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit: cannot rotate %s: %s exists", s.opts.Path, name)
	}
	if err := os.Rename(s.opts.Path, name); err != nil {
		return err
	}
	s.next++
	s.torn = false
	return nil
}

// prune removes the oldest rotated files beyond MaxFiles. It is best
// effort: the records are written, and what it cannot remove now it tries
// again at the next rotation.
func (s *FileSink) prune() {
	if s.opts.MaxFiles <= 0 {
		return
	}
	rs, err := rotated(s.opts.Path)
	if err != nil {
		return
	}
	for i := 0; i < len(rs)-s.opts.MaxFiles; i++ {
		os.Remove(rs[i].name)
	}
}

// syncDir makes the directory's entries (a created or renamed file) durable.
func (s *FileSink) syncDir() error {
	d, err := os.Open(filepath.Dir(s.opts.Path))
	if err != nil {
		return err
	}
	defer d.Close()
	return s.sync(d)
}

// Head returns the Seq and Hash of the last record written whole (0 and ""
// for an empty log): a value to anchor outside the log (see the package
// doc). Safe for concurrent use.
func (s *FileSink) Head() (seq uint64, hash string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.head.seq, s.head.hash
}

// Close syncs (unless the policy is FsyncNever) and closes the active file.
// It returns a background sync's failure not yet returned. Close is
// idempotent; later calls return nil.
func (s *FileSink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	err := s.syncErr
	s.syncErr = nil
	if s.f != nil {
		if s.dirty && s.opts.Fsync >= 0 {
			err = errors.Join(err, s.sync(s.f))
		}
		err = errors.Join(err, s.f.Close())
		s.f = nil
	}
	return err
}

// tail reads the last whole line of the file name (without its newline; nil
// if it has none), where that line ends (after its newline; 0 if none) and
// the file's size. Bytes between end and size are a torn line.
func tail(name string) (line []byte, end, size int64, err error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, 0, 0, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, 0, 0, err
	}
	size = info.Size()
	buf := make([]byte, 32<<10)
	last, err := lastNewline(f, size, buf)
	if err != nil || last < 0 {
		return nil, 0, size, err
	}
	prev, err := lastNewline(f, last, buf)
	if err != nil {
		return nil, 0, 0, err
	}
	line = make([]byte, last-prev-1)
	if _, err := f.ReadAt(line, prev+1); err != nil {
		return nil, 0, 0, err
	}
	return line, last + 1, size, nil
}

// lastNewline returns the offset of the last '\n' before offset before in
// f, or -1 if there is none.
func lastNewline(f *os.File, before int64, buf []byte) (int64, error) {
	for before > 0 {
		n := min(int64(len(buf)), before)
		start := before - n
		if _, err := f.ReadAt(buf[:n], start); err != nil && !errors.Is(err, io.EOF) {
			return -1, err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			return start + int64(i), nil
		}
		before = start
	}
	return -1, nil
}
