package audit

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVerifyRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		n    int
	}{
		{"empty log", 0},
		{"one record", 1},
		{"many records", 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLog(t, tt.n, FileOptions{})
			rep, err := VerifyLog(path)
			require.NoError(t, err)
			assert.Equal(t, tt.n, rep.Records)
			assert.Equal(t, 1, rep.Files)
			assert.Empty(t, rep.Torn)
			if tt.n == 0 {
				assert.Zero(t, rep.FirstSeq)
				assert.Empty(t, rep.LastHash)
				return
			}
			assert.Equal(t, uint64(1), rep.FirstSeq)
			assert.Equal(t, uint64(tt.n), rep.LastSeq)
			lines := bytes.Split(bytes.TrimSuffix(readFile(t, path), []byte("\n")), []byte("\n"))
			last, err := ParseLine(lines[len(lines)-1])
			require.NoError(t, err)
			assert.Equal(t, last.Hash, rep.LastHash)
		})
	}
}

// TestVerifyDetectsEveryByteFlip flips each bit pattern of each byte of a
// small log: every change is reported at the line that holds the byte, or,
// for the final newline, as a torn last line with the records before it intact.
func TestVerifyDetectsEveryByteFlip(t *testing.T) {
	_, lines := sealed(3)
	data := bytes.Join(lines, nil)
	lineOf := make([]int, len(data)) // 1-based line of each byte
	for i, n := 0, 1; i < len(data); i++ {
		lineOf[i] = n
		if data[i] == '\n' {
			n++
		}
	}
	const name = "audit.log"
	for _, mask := range []byte{0x01, 0x20, 0x80} {
		for i := range data {
			flipped := bytes.Clone(data)
			flipped[i] ^= mask
			var v verifier
			err := v.read(name, bytes.NewReader(flipped))
			rep := v.report
			if i == len(data)-1 {
				require.NoError(t, err, "byte %d mask %#x", i, mask)
				assert.Equal(t, 2, rep.Records)
				require.Len(t, rep.Torn, 1)
				assert.Equal(t, Torn{File: name, Offset: int64(len(lines[0]) + len(lines[1])), Size: int64(len(lines[2]))}, rep.Torn[0])
				continue
			}
			var ve *VerifyError
			require.ErrorAs(t, err, &ve, "byte %d (%q) mask %#x went unnoticed", i, data[i], mask)
			assert.Equal(t, lineOf[i], ve.Line, "byte %d mask %#x", i, mask)
			assert.Equal(t, lineOf[i]-1, rep.Records, "the records before the break verify")
		}
	}
}

func TestVerifyRemovedRecord(t *testing.T) {
	const n = 5
	_, lines := sealed(n)
	anchor, err := Verify(writeFile(t, bytes.Join(lines, nil)))
	require.NoError(t, err)
	for k := 0; k < n; k++ {
		t.Run("record "+string(rune('1'+k)), func(t *testing.T) {
			kept := append(append([][]byte{}, lines[:k]...), lines[k+1:]...)
			rep, err := Verify(writeFile(t, bytes.Join(kept, nil)))
			if k == n-1 {
				// The newest record: no break in the file, only the anchor tells.
				require.NoError(t, err)
				assert.Equal(t, n-1, rep.Records)
				assert.NotEqual(t, anchor.LastHash, rep.LastHash)
				assert.NotEqual(t, anchor.LastSeq, rep.LastSeq)
				return
			}
			if k == 0 {
				// The oldest record: the log now starts at seq 2, as one whose
				// oldest files were removed does; the report tells.
				require.NoError(t, err)
				assert.Equal(t, uint64(2), rep.FirstSeq)
				assert.Equal(t, n-1, rep.Records)
				return
			}
			var ve *VerifyError
			require.ErrorAs(t, err, &ve)
			assert.ErrorIs(t, err, ErrSequence)
			assert.Equal(t, k+1, ve.Line)
			assert.Equal(t, uint64(k+2), ve.Seq)
		})
	}
}

func TestVerifyReordered(t *testing.T) {
	_, lines := sealed(5)
	tests := []struct {
		name     string
		i, j     int
		wantLine int
	}{
		{"first two", 0, 1, 2}, // a log may start at seq 2; seq 1 may not follow it
		{"neighbours", 2, 3, 3},
		{"far apart", 1, 4, 2},
		{"last two", 3, 4, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			swapped := append([][]byte{}, lines...)
			swapped[tt.i], swapped[tt.j] = swapped[tt.j], swapped[tt.i]
			_, err := Verify(writeFile(t, bytes.Join(swapped, nil)))
			var ve *VerifyError
			require.ErrorAs(t, err, &ve)
			assert.ErrorIs(t, err, ErrSequence)
			assert.Equal(t, tt.wantLine, ve.Line)
		})
	}
}

// TestVerifyCrashPrefix cuts a log at every byte, as a crash mid-write may:
// the whole lines before the cut verify and the rest is one torn line.
func TestVerifyCrashPrefix(t *testing.T) {
	_, lines := sealed(3)
	data := bytes.Join(lines, nil)
	const name = "audit.log"
	for cut := 0; cut <= len(data); cut++ {
		var v verifier
		err := v.read(name, bytes.NewReader(data[:cut]))
		rep := v.report
		require.NoError(t, err, "cut at %d", cut)
		whole := bytes.Count(data[:cut], []byte("\n"))
		assert.Equal(t, whole, rep.Records, "cut at %d", cut)
		start := bytes.LastIndexByte(data[:cut], '\n') + 1
		if start == cut {
			assert.Empty(t, rep.Torn, "cut at %d", cut)
			continue
		}
		assert.Equal(t, []Torn{{File: name, Offset: int64(start), Size: int64(cut - start)}}, rep.Torn, "cut at %d", cut)
	}
}

func TestVerifyRejects(t *testing.T) {
	_, lines := sealed(3)
	var c chain
	c.hash = sha256hex("elsewhere")
	r := sample(0)
	notGenesis := append(c.seal(nil, &r), '\n') // seq 1 naming a previous record
	tests := []struct {
		name     string
		data     []byte
		want     error
		wantLine int
	}{
		{"empty line", append(append(bytes.Clone(lines[0]), '\n'), lines[1]...), ErrMalformed, 2},
		{"blank first line", append([]byte("\n"), lines[0]...), ErrMalformed, 1},
		{"duplicated record", bytes.Join([][]byte{lines[0], lines[1], lines[1]}, nil), ErrSequence, 3},
		{"seq 1 with a prev", notGenesis, ErrChain, 1},
		{"windows line ending", append(bytes.TrimSuffix(lines[0], []byte("\n")), '\r', '\n'), ErrMalformed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(writeFile(t, tt.data))
			var ve *VerifyError
			require.ErrorAs(t, err, &ve)
			assert.ErrorIs(t, err, tt.want)
			assert.Equal(t, tt.wantLine, ve.Line)
		})
	}
}

func TestVerifyErrors(t *testing.T) {
	_, err := Verify()
	require.Error(t, err)
	_, err = Verify(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist)
	_, err = VerifyLog(filepath.Join(t.TempDir(), "missing"))
	require.ErrorIs(t, err, fs.ErrNotExist)
}

func TestVerifyLongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	s, err := OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
	require.NoError(t, err)
	recs := samples(3)
	recs[1].Content = &Content{Request: string(bytes.Repeat([]byte("q"), 300<<10)), Response: "a"}
	require.NoError(t, s.Write(context.Background(), recs))
	require.NoError(t, s.Close())
	rep, err := VerifyLog(path)
	require.NoError(t, err)
	assert.Equal(t, 3, rep.Records)

	// A FileSink reopens a log that ends in a long line.
	s, err = OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
	require.NoError(t, err)
	recs = samples(1)
	recs[0].Content = &Content{Request: string(bytes.Repeat([]byte("z"), 100<<10))}
	require.NoError(t, s.Write(context.Background(), recs))
	require.NoError(t, s.Close())
	s, err = OpenFileSink(FileOptions{Path: path, Fsync: FsyncNever})
	require.NoError(t, err)
	seq, _ := s.Head()
	assert.Equal(t, uint64(4), seq)
	require.NoError(t, s.Close())
}

func TestVerifyErrorMessage(t *testing.T) {
	e := &VerifyError{File: "a.log", Line: 3, Seq: 9, Err: ErrChain}
	assert.Equal(t, "audit: a.log line 3 (seq 9): hash chain broken", e.Error())
	assert.True(t, errors.Is(e, ErrChain))
	e.Seq = 0
	assert.Equal(t, "audit: a.log line 3: hash chain broken", e.Error())
}
