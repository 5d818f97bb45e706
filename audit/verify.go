package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// ErrSequence means a record's Seq does not follow the previous record's: a
// record was removed, inserted or moved.
var ErrSequence = errors.New("sequence broken")

// ErrChain means a record's Prev is not the previous record's Hash: the
// record does not belong after the one before it.
var ErrChain = errors.New("hash chain broken")

// Report describes a log that Verify read.
type Report struct {
	Files   int // files read
	Records int // whole records that verified
	// FirstSeq is the first record's Seq: 1 for a complete log, more when
	// the oldest files are gone (removed by FileOptions.MaxFiles, or by
	// someone). 0 when there are no records, as is LastSeq.
	FirstSeq uint64
	LastSeq  uint64
	// LastHash is the last record's Hash, "" if none. Compare it (and
	// LastSeq) with an anchor kept elsewhere to detect removal of the newest
	// records.
	LastHash string
	// Torn lists torn lines: bytes after a file's last newline, left by a
	// write cut short. They are not records; see the package doc.
	Torn []Torn
}

// Torn is a torn line: the bytes after the last newline of a file.
type Torn struct {
	File   string
	Offset int64 // where the torn bytes start
	Size   int64 // how many there are
}

// VerifyError is where and why a log does not verify: the first bad record.
// Unwrap gives ErrMalformed, ErrAltered, ErrSequence or ErrChain.
type VerifyError struct {
	File   string
	Line   int    // 1-based line in File
	Offset int64  // byte offset of the line in File
	Seq    uint64 // the record's Seq; 0 if the line could not be read
	Err    error
}

// Error describes the break without quoting the record.
func (e *VerifyError) Error() string {
	s := "audit: " + e.File + " line " + strconv.Itoa(e.Line)
	if e.Seq != 0 {
		s += " (seq " + strconv.FormatUint(e.Seq, 10) + ")"
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the reason.
func (e *VerifyError) Unwrap() error { return e.Err }

// VerifyLog verifies the log kept at path (FileOptions.Path) with its
// rotated files, in the order Files gives.
func VerifyLog(path string) (Report, error) {
	files, err := Files(path)
	if err != nil {
		return Report{}, err
	}
	return Verify(files...)
}

// Verify reads files as one log, in the order given, and checks that every
// line is a record in canonical form that matches its own hash (ParseLine),
// that Seq counts up by one from record to record, across files, and that
// each Prev is the Hash of the record before (for record 1: ""). A torn line
// at the end of a file is reported in Report.Torn, not as an error; the next
// record must then follow the last whole record before it.
//
// Verify stops at the first bad record and returns a *VerifyError; the Report
// then covers the records before it, which verified. Any other error is an
// I/O error. A log may start after seq 1 (see Report.FirstSeq). Verify is
// safe for concurrent use, also while a FileSink appends to the log (it reads
// what was there when it got to each file).
func Verify(files ...string) (Report, error) {
	if len(files) == 0 {
		return Report{}, errors.New("audit: Verify: no files")
	}
	var v verifier
	for _, name := range files {
		if err := v.file(name); err != nil {
			return v.report, err
		}
	}
	return v.report, nil
}

// verifier carries the chain from file to file.
type verifier struct {
	report Report
	head   chain
	line   []byte // a line longer than the read buffer
}

// file verifies one file, continuing the chain.
func (v *verifier) file(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return v.read(name, f)
}

// read verifies the file name, read from r, continuing the chain.
func (v *verifier) read(name string, r io.Reader) error {
	v.report.Files++
	br := bufio.NewReaderSize(r, 64<<10)
	var offset int64
	for n := 1; ; n++ {
		line, complete, err := v.readLine(br)
		if err != nil {
			return fmt.Errorf("audit: %s: %w", name, err)
		}
		if !complete {
			if len(line) > 0 {
				v.report.Torn = append(v.report.Torn, Torn{File: name, Offset: offset, Size: int64(len(line))})
			}
			return nil
		}
		if err := v.record(line[:len(line)-1]); err != nil {
			e := &VerifyError{File: name, Line: n, Offset: offset, Err: err}
			var r Record
			if r.unmarshal(line[:len(line)-1]) == nil {
				e.Seq = r.Seq
			}
			return e
		}
		offset += int64(len(line))
	}
}

// readLine returns the next line with its newline (complete) or the bytes
// before the end of the file (not complete). The line is valid until the
// next call.
func (v *verifier) readLine(br *bufio.Reader) (line []byte, complete bool, err error) {
	line, err = br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		v.line = append(v.line[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			v.line = append(v.line, line...)
		}
		line = v.line
	}
	switch {
	case err == nil:
		return line, true, nil
	case errors.Is(err, io.EOF):
		return line, false, nil
	default:
		return nil, false, err
	}
}

// record checks one line (without newline) against itself and the chain.
func (v *verifier) record(line []byte) error {
	r, err := ParseLine(line)
	if err != nil {
		return err
	}
	switch {
	case v.report.Records == 0 && r.Seq == 0:
		return fmt.Errorf("%w: seq 0", ErrSequence)
	case v.report.Records == 0 && r.Seq == 1 && r.Prev != "":
		return fmt.Errorf("%w: record 1 names a previous record", ErrChain)
	case v.report.Records > 0 && r.Seq != v.head.seq+1:
		return fmt.Errorf("%w: seq %d after seq %d", ErrSequence, r.Seq, v.head.seq)
	case v.report.Records > 0 && r.Prev != v.head.hash:
		return fmt.Errorf("%w: prev is not the hash of seq %d", ErrChain, v.head.seq)
	}
	if v.report.Records == 0 {
		v.report.FirstSeq = r.Seq
	}
	v.report.Records++
	v.head = chain{seq: r.Seq, hash: r.Hash}
	v.report.LastSeq, v.report.LastHash = r.Seq, r.Hash
	return nil
}
