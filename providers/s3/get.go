package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
)

// copyBufferSize is the chunk a get moves from the network to the
// destination at a time.
const copyBufferSize = 1 << 20

// get downloads r into r.Writer or r.File. See messages.GetObjectRequest.
func get(ctx context.Context, c *callClient, r *messages.GetObjectRequest) (messages.Response, error) {
	if r.File != "" {
		if r.Offset != 0 || r.Length != 0 {
			return getRangeToFile(ctx, c, r)
		}
		return getFile(ctx, c, r)
	}
	return getWriter(ctx, c, r)
}

// fetched is one GET's answer.
type fetched struct {
	body io.ReadCloser
	info minio.ObjectInfo
	// length is the body's length, total the object's size.
	length, total int64
	// crc is the server's full-object CRC-64/NVME ("" if it sent none).
	crc string
}

// fetch starts a GET of [offset, offset+length) (length 0: to the end),
// asking for the full-object checksum when the whole object is read. ifMatch,
// when set, makes a changed object fail with PreconditionFailed.
func fetch(ctx context.Context, c *callClient, bucket, key string, offset, length int64, ifMatch string) (*fetched, error) {
	var opts minio.GetObjectOptions
	whole := offset == 0 && length == 0
	if whole {
		// Ask for the full-object checksum but verify it here (minio-go's
		// own check, with opts.Checksum, fails with an untyped error).
		opts.Set("x-amz-checksum-mode", "ENABLED")
	} else {
		end := int64(0)
		if length > 0 {
			end = offset + length - 1
		}
		if err := opts.SetRange(offset, end); err != nil {
			return nil, err
		}
	}
	if ifMatch != "" {
		if err := opts.SetMatchETag(ifMatch); err != nil {
			return nil, err
		}
	}
	body, info, h, err := minio.Core{Client: c.plain}.GetObject(ctx, bucket, key, opts)
	if err != nil {
		return nil, err
	}
	f := &fetched{body: body, info: info, length: -1, total: -1}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			f.length = n
		}
	}
	if whole {
		f.total = f.length
		if !strings.EqualFold(h.Get("X-Amz-Checksum-Type"), "COMPOSITE") {
			f.crc = h.Get("X-Amz-Checksum-Crc64nvme")
		}
	} else {
		start, end, total, ok := parseContentRange(h.Get("Content-Range"))
		if !ok || start != offset || (f.length >= 0 && end-start+1 != f.length) {
			_ = body.Close()
			return nil, &upstreamCause{code: messages.CodeSizeMismatch, bucket: bucket, key: key,
				msg: fmt.Sprintf("asked for bytes from %d, got Content-Range %q", offset, h.Get("Content-Range"))}
		}
		f.total = total
	}
	return f, nil
}

// parseContentRange reads "bytes START-END/TOTAL" (TOTAL may be "*", -1).
func parseContentRange(s string) (start, end, total int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, 0, false
	}
	rng, tot, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, 0, false
	}
	var err error
	if start, err = strconv.ParseInt(a, 10, 64); err != nil || start < 0 {
		return 0, 0, 0, false
	}
	if end, err = strconv.ParseInt(b, 10, 64); err != nil || end < start {
		return 0, 0, 0, false
	}
	total = -1
	if tot != "*" {
		if total, err = strconv.ParseInt(tot, 10, 64); err != nil || total <= end {
			return 0, 0, 0, false
		}
	}
	return start, end, total, true
}

// sink writes a get's bytes to its destination, hashing them (only for a
// whole object: the CRC-64/NVME always, the SHA-256 when there is one to
// verify) and reporting progress.
type sink struct {
	w    io.Writer
	n    int64
	sha  hash.Hash
	crc  hash.Hash64
	prog *progress
	// werr is the destination's own failure.
	werr error
}

func newSink(w io.Writer, whole, withSHA bool, prog *progress) *sink {
	s := &sink{w: w, prog: prog}
	if whole {
		s.crc = crc64nvme.New()
		if withSHA {
			s.sha = sha256.New()
		}
	}
	return s
}

// absorb hashes bytes already at the destination (a resumed prefix).
func (s *sink) absorb(p []byte) {
	if s.crc != nil {
		s.crc.Write(p)
	}
	if s.sha != nil {
		s.sha.Write(p)
	}
	s.n += int64(len(p))
}

func (s *sink) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if n > 0 {
		s.absorb(p[:n])
		s.prog.add(int64(n))
	}
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		s.werr = err
	}
	return n, err
}

// pump copies body into s. A reader goroutine fills pumpBuffers buffers of
// copyBufferSize from the network while this goroutine writes and hashes the
// previous ones, so hashing (SHA-256 is the costly part) overlaps the
// transfer. A destination failure is reported as such (s.werr), a read
// failure as it came. The reader goroutine has exited when pump returns.
func pump(s *sink, body io.Reader) error {
	type chunk struct {
		b   []byte
		n   int
		err error
	}
	free := make(chan []byte, pumpBuffers)
	for range pumpBuffers {
		free <- make([]byte, copyBufferSize)
	}
	full := make(chan chunk, pumpBuffers)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(full)
		for {
			var buf []byte
			select {
			case buf = <-free:
			case <-stop:
				return
			}
			fill := 0
			var rerr error
			for fill < len(buf) && rerr == nil {
				var n int
				n, rerr = body.Read(buf[fill:])
				fill += n
			}
			select {
			case full <- chunk{b: buf, n: fill, err: rerr}:
			case <-stop:
				return
			}
			if rerr != nil {
				return
			}
		}
	}()
	// The reader may be blocked in body.Read when we give up early; the
	// caller's Close of the body (deferred by every caller) unblocks it,
	// so wait for it only after stop, in the usual exit paths below.
	finish := func(err error) error {
		close(stop)
		if err != nil {
			if c, ok := body.(io.Closer); ok {
				_ = c.Close()
			}
		}
		wg.Wait()
		return err
	}
	for c := range full {
		if c.n > 0 {
			if _, err := s.Write(c.b[:c.n]); err != nil {
				return finish(err)
			}
		}
		switch {
		case c.err == io.EOF:
			return finish(nil)
		case c.err != nil:
			return finish(c.err)
		}
		free <- c.b
	}
	return finish(nil)
}

// pumpBuffers is how many chunks a get may have in flight between the
// network and the destination.
const pumpBuffers = 4

// verify checks a finished get against what the server declared and what
// the caller or the object's metadata expects, returning the checks passed.
func verify(c *callClient, bucket, key string, s *sink, want int64, crc string, sum []byte) ([]string, *messages.UpstreamError) {
	if want >= 0 && s.n != want {
		return nil, c.objectFail(messages.ClassServer, messages.CodeSizeMismatch, bucket, key,
			fmt.Sprintf("received %d bytes, expected %d", s.n, want))
	}
	checks := []string{"size"}
	if s.crc == nil {
		return checks, nil
	}
	if crc != "" {
		if got := crcBase64(s.crc); got != crc {
			return nil, c.objectFail(messages.ClassServer, messages.CodeChecksumMismatch, bucket, key,
				fmt.Sprintf("CRC-64/NVME of the bytes received is %s, the server's is %s", got, crc))
		}
		checks = append(checks, "crc64nvme")
	}
	if sum != nil && s.sha != nil {
		if got := s.sha.Sum(nil); !bytes.Equal(got, sum) {
			return nil, c.objectFail(messages.ClassServer, messages.CodeChecksumMismatch, bucket, key,
				fmt.Sprintf("SHA-256 of the bytes received is %x, expected %x", got, sum))
		}
		checks = append(checks, "sha256")
	}
	return checks, nil
}

// expectedSHA returns the SHA-256 a whole-object get must match: the
// request's, else the object's "sha256" metadata (ignored if malformed).
func expectedSHA(r *messages.GetObjectRequest, info minio.ObjectInfo) []byte {
	s := r.SHA256
	if s == "" {
		s = objectInfo(r.Bucket, info).SHA256
	}
	if b, err := hex.DecodeString(s); err == nil && len(b) == sha256.Size {
		return b
	}
	return nil
}

// fetchError classifies a failed fetch.
func fetchError(ctx context.Context, c *callClient, err error, bucket, key string) *messages.UpstreamError {
	var uc *upstreamCause
	if errors.As(err, &uc) {
		return c.objectFail(messages.ClassServer, uc.code, uc.bucket, uc.key, uc.msg)
	}
	return c.classify(ctx, err, bucket, key)
}

// getWriter streams the object (or range) into r.Writer. Once bytes were
// written, a failure is not retried: the writer cannot take them back.
func getWriter(ctx context.Context, c *callClient, r *messages.GetObjectRequest) (messages.Response, error) {
	f, err := fetch(ctx, c, r.Bucket, r.Object, r.Offset, r.Length, "")
	if err != nil {
		return nil, fetchError(ctx, c, err, r.Bucket, r.Object)
	}
	defer f.body.Close()
	whole := r.Offset == 0 && r.Length == 0
	prog := newProgress(c, messages.OpObjectGet, r.Bucket, r.Object, f.length, r.OnProgress)
	prog.start(0)
	var sum []byte
	if whole {
		sum = expectedSHA(r, f.info)
	}
	s := newSink(r.Writer, whole, sum != nil, prog)
	if err := pump(s, f.body); err != nil {
		var ue *messages.UpstreamError
		if s.werr != nil {
			ue = c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "writing the destination: "+s.werr.Error())
		} else {
			ue = c.classify(ctx, err, r.Bucket, r.Object)
		}
		if s.n > 0 {
			noRetry(ue)
		}
		return nil, ue
	}
	checks, ue := verify(c, r.Bucket, r.Object, s, f.length, f.crc, sum)
	if ue != nil {
		return nil, noRetry(ue)
	}
	prog.final(s.n)
	resp := &messages.GetObjectResponse{Object: objectInfo(r.Bucket, f.info), Bytes: s.n, Verified: checks}
	if f.total >= 0 {
		resp.Object.Size = f.total
	}
	if s.sha != nil {
		resp.SHA256 = hex.EncodeToString(s.sha.Sum(nil))
	}
	resp.Meta = meta(c)
	return resp, nil
}

// partialPath is where a whole-object download to file goes before it is
// verified: named after the object version, so a resume never mixes two.
func partialPath(file, bucket, key, etag string) string {
	h := sha256.Sum256([]byte(bucket + "/" + key + "\x00" + etag))
	return file + ".part-" + hex.EncodeToString(h[:8])
}

// getFile downloads the whole object to r.File through a partial file,
// resuming one left by an earlier attempt for the same object version.
func getFile(ctx context.Context, c *callClient, r *messages.GetObjectRequest) (messages.Response, error) {
	var (
		f       *fetched
		part    string
		resumed int64
		out     *os.File
		crc     string
		info    minio.ObjectInfo
		total   int64
	)
	stale, _ := filepath.Glob(globEscape(r.File) + ".part-*")
	if len(stale) > 0 {
		st, err := c.plain.StatObject(ctx, r.Bucket, r.Object, minio.StatObjectOptions{Checksum: true})
		if err != nil {
			return nil, c.classify(ctx, err, r.Bucket, r.Object)
		}
		etag := strings.Trim(st.ETag, `"`)
		mine := partialPath(r.File, r.Bucket, r.Object, etag)
		for _, p := range stale {
			if p != mine {
				_ = os.Remove(p)
			}
		}
		if fi, err := os.Stat(mine); err == nil && etag != "" && fi.Size() > 0 && fi.Size() <= st.Size {
			resumed = fi.Size()
			info, total, part = st, st.Size, mine
			if st.ChecksumMode != "COMPOSITE" {
				crc = st.ChecksumCRC64NVME
			}
			if resumed < total {
				f, err = fetch(ctx, c, r.Bucket, r.Object, resumed, 0, etag)
				var er minio.ErrorResponse
				switch {
				case errors.As(err, &er) && (er.Code == "PreconditionFailed" || er.Code == "InvalidRange"):
					// Changed since the partial was written: start over.
					_ = os.Remove(mine)
					resumed, part, f = 0, "", nil
				case err != nil:
					return nil, fetchError(ctx, c, err, r.Bucket, r.Object)
				}
			}
		} else {
			_ = os.Remove(mine)
		}
	}
	if part == "" {
		var err error
		f, err = fetch(ctx, c, r.Bucket, r.Object, 0, 0, "")
		if err != nil {
			return nil, fetchError(ctx, c, err, r.Bucket, r.Object)
		}
		info, total, crc = f.info, f.total, f.crc
		part = partialPath(r.File, r.Bucket, r.Object, strings.Trim(f.info.ETag, `"`))
	}
	if f != nil {
		defer f.body.Close()
	}
	var err error
	flags := os.O_RDWR | os.O_CREATE
	if resumed == 0 {
		flags |= os.O_TRUNC
	}
	if out, err = os.OpenFile(part, flags, 0o644); err != nil {
		return nil, c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "opening the destination: "+err.Error())
	}
	closed := false
	defer func() {
		if !closed {
			_ = out.Close()
		}
	}()
	prog := newProgress(c, messages.OpObjectGet, r.Bucket, r.Object, total, r.OnProgress)
	sum := expectedSHA(r, info)
	s := newSink(out, true, sum != nil, prog)
	if resumed > 0 {
		// Hash what is on disk, then append.
		if err := hashPrefix(s, out, resumed); err != nil {
			_ = os.Remove(part)
			return nil, c.objectFail(messages.ClassServer, "WriteFailed", r.Bucket, r.Object, "reading the partial download: "+err.Error())
		}
	}
	prog.start(resumed)
	if f != nil {
		if err := pump(s, f.body); err != nil {
			if s.werr != nil {
				return nil, noRetry(c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "writing the destination: "+s.werr.Error()))
			}
			// Keep the partial file: the retry resumes from it.
			return nil, c.classify(ctx, err, r.Bucket, r.Object)
		}
	}
	checks, ue := verify(c, r.Bucket, r.Object, s, total, crc, sum)
	if ue != nil {
		_ = os.Remove(part) // whatever is wrong, a retry starts afresh
		return nil, ue
	}
	closed = true
	if err := out.Close(); err != nil {
		return nil, noRetry(c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "closing the destination: "+err.Error()))
	}
	if err := os.Rename(part, r.File); err != nil {
		return nil, noRetry(c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "moving the download into place: "+err.Error()))
	}
	prog.final(s.n)
	resp := &messages.GetObjectResponse{Object: objectInfo(r.Bucket, info), Bytes: s.n, Resumed: resumed, Verified: checks}
	if s.sha != nil {
		resp.SHA256 = hex.EncodeToString(s.sha.Sum(nil))
	}
	resp.Object.Size = total
	resp.Meta = meta(c)
	return resp, nil
}

// hashPrefix feeds the first n bytes of f to s's hashes and leaves f's
// offset at n.
func hashPrefix(s *sink, f *os.File, n int64) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	buf := make([]byte, copyBufferSize)
	left := n
	for left > 0 {
		k := int64(len(buf))
		if left < k {
			k = left
		}
		if _, err := io.ReadFull(f, buf[:k]); err != nil {
			return err
		}
		s.absorb(buf[:k])
		left -= k
	}
	_, err := f.Seek(n, io.SeekStart)
	return err
}

// getRangeToFile writes a byte range to r.File (through a temporary file,
// renamed into place once complete).
func getRangeToFile(ctx context.Context, c *callClient, r *messages.GetObjectRequest) (messages.Response, error) {
	f, err := fetch(ctx, c, r.Bucket, r.Object, r.Offset, r.Length, "")
	if err != nil {
		return nil, fetchError(ctx, c, err, r.Bucket, r.Object)
	}
	defer f.body.Close()
	out, err := os.CreateTemp(filepath.Dir(r.File), filepath.Base(r.File)+".range-*")
	if err != nil {
		return nil, c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "creating the destination: "+err.Error())
	}
	tmp := out.Name()
	defer func() {
		_ = out.Close()
		_ = os.Remove(tmp)
	}()
	prog := newProgress(c, messages.OpObjectGet, r.Bucket, r.Object, f.length, r.OnProgress)
	prog.start(0)
	s := newSink(out, false, false, prog)
	if err := pump(s, f.body); err != nil {
		if s.werr != nil {
			return nil, noRetry(c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "writing the destination: "+s.werr.Error()))
		}
		return nil, c.classify(ctx, err, r.Bucket, r.Object)
	}
	checks, ue := verify(c, r.Bucket, r.Object, s, f.length, "", nil)
	if ue != nil {
		return nil, ue
	}
	if err := out.Close(); err != nil {
		return nil, c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "closing the destination: "+err.Error())
	}
	if err := os.Rename(tmp, r.File); err != nil {
		return nil, c.objectFail(messages.ClassInvalid, "WriteFailed", r.Bucket, r.Object, "moving the download into place: "+err.Error())
	}
	prog.final(s.n)
	resp := &messages.GetObjectResponse{Object: objectInfo(r.Bucket, f.info), Bytes: s.n, Verified: checks}
	resp.Object.Size = f.total
	resp.Meta = meta(c)
	return resp, nil
}

// globEscape escapes filepath.Match metacharacters in a literal path.
func globEscape(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
