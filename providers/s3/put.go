package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
)

// putShape returns the part size, part concurrency and multipart threshold
// for r (request, then adapter options, then defaults), the part size
// raised so that size bytes fit in MaxParts parts.
func (a *Adapter) putShape(r *messages.PutObjectRequest, size int64) (partSize int64, conc int, threshold int64) {
	partSize = firstPositive(r.PartSize, a.opts.PartSize, DefaultPartSize)
	partSize = max(partSize, MinPartSize)
	for size > 0 && (size+partSize-1)/partSize > MaxParts {
		partSize *= 2
	}
	conc = int(firstPositive(int64(r.Concurrency), int64(a.opts.Concurrency), DefaultConcurrency))
	threshold = firstPositive(r.MultipartThreshold, a.opts.MultipartThreshold, partSize)
	threshold = min(max(threshold, partSize), MaxSinglePut)
	return partSize, conc, threshold
}

func firstPositive(vs ...int64) int64 {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

// put uploads r.Body or r.File. See messages.PutObjectRequest.
func (a *Adapter) put(ctx context.Context, c *callClient, r *messages.PutObjectRequest) (messages.Response, error) {
	if r.File == "" {
		if _, seekable := r.Body.(io.Seeker); !seekable {
			// A body that cannot seek is wrapped (once) to count what it
			// yields: a retry after an attempt that read from it must not
			// upload the rest of the stream as if it were the object.
			ub, ok := r.Body.(*usedBody)
			if !ok {
				ub = &usedBody{r: r.Body}
				r.Body = ub
			}
			if n := ub.n.Load(); n > 0 {
				return nil, noRetry(c.objectFail(messages.ClassInvalid, "InvalidSource", r.Bucket, r.Object,
					fmt.Sprintf("an earlier attempt read %d bytes of a body that cannot seek; it cannot be sent again", n)))
			}
		}
	}
	src, size, rewindable, closeSrc, err := openSource(r)
	if err != nil {
		return nil, c.objectFail(messages.ClassInvalid, "InvalidSource", r.Bucket, r.Object, err.Error())
	}
	defer closeSrc()
	partSize, conc, threshold := a.putShape(r, size)
	multipart := size < 0 || size > threshold
	var want []byte
	if r.SHA256 != "" {
		want, _ = hex.DecodeString(r.SHA256)
	}
	prog := newProgress(c, messages.OpObjectPut, r.Bucket, r.Object, size, r.OnProgress)
	sr := &sourceReader{r: src, size: size, crc: crc64nvme.New(), want: want, prog: prog,
		bucket: r.Bucket, key: r.Object}
	if r.SHA256 != "" || r.HashSHA256 {
		// Only when asked: the CRC-64/NVME already checks the upload, and
		// a SHA-256 pass costs about as much CPU as the transfer.
		sr.sha = sha256.New()
	}

	md := make(map[string]string, len(r.Metadata)+1)
	for k, v := range r.Metadata {
		md[k] = v
	}
	if r.SHA256 != "" {
		md[MetaSHA256] = r.SHA256
	}
	if size == 0 {
		// Nothing will be read: check an expected digest now.
		if err := sr.verify(); err != nil {
			return nil, err.(*upstreamCause).fail(c)
		}
	}
	prog.start(0)
	var (
		info  minio.UploadInfo
		parts int
	)
	if multipart {
		ra, _ := src.(io.ReaderAt)
		if ra != nil && size >= 0 && rewindable {
			// Read it in order for the hashes, upload parts with ReadAt.
			sr.r, sr.prog = io.NewSectionReader(ra, 0, size), nil
			info, parts, err = c.multipartPutAt(ctx, r, md, sr, ra, size, partSize, conc, prog, !a.opts.UnsignedPayload)
		} else {
			info, parts, err = c.multipartPut(ctx, r, md, sr, partSize, conc, !a.opts.UnsignedPayload)
		}
	} else {
		tctx, bodies := trackBodies(ctx)
		info, err = c.plain.PutObject(tctx, r.Bucket, r.Object, sr, size, minio.PutObjectOptions{
			UserMetadata: md, ContentType: r.ContentType, DisableMultipart: true})
		bodies.wait() // the transport may still be reading sr after an early answer
	}
	if err != nil {
		var ue *messages.UpstreamError
		var uc *upstreamCause
		var se *sourceError
		switch {
		case sr.err != nil && sr.srcErr:
			ue = c.objectFail(messages.ClassInvalid, "InvalidSource", r.Bucket, r.Object, "reading the source: "+sr.err.Error())
		case errors.As(err, &se):
			ue = c.objectFail(messages.ClassInvalid, "InvalidSource", r.Bucket, r.Object, "reading the source: "+se.Error())
		case errors.As(sr.err, &uc) || errors.As(err, &uc):
			ue = uc.fail(c)
		default:
			ue = c.classify(ctx, err, r.Bucket, r.Object)
		}
		if sr.n > 0 && !rewindable {
			noRetry(ue)
		}
		return nil, ue
	}

	resp := &messages.PutObjectResponse{Bucket: r.Bucket, Object: r.Object, Size: sr.n, ETag: info.ETag, VersionID: info.VersionID,
		CRC64NVME: crcString(sr.sum64()), Multipart: multipart, Parts: parts}
	var sum []byte
	if sr.sha != nil {
		sum = sr.sha.Sum(nil)
		resp.SHA256 = hex.EncodeToString(sum)
	}
	// Integrity: what the server stored against what was read.
	fail := func(code, msg string) (messages.Response, error) {
		if ue := c.removeCorrupt(ctx, r.Bucket, r.Object, info.VersionID); ue != nil {
			msg += "; removing it failed: " + ue.Error()
		}
		ue := c.objectFail(messages.ClassServer, code, r.Bucket, r.Object, msg)
		if !rewindable {
			noRetry(ue)
		}
		return nil, ue
	}
	if multipart {
		info.Size = sr.n // CompleteMultipartUpload does not say; the CRC below covers it
	}
	if info.Size != sr.n || (size >= 0 && sr.n != size) {
		return fail(messages.CodeSizeMismatch, fmt.Sprintf("uploaded %d bytes, read %d", info.Size, sr.n))
	}
	resp.Verified = append(resp.Verified, "size")
	serverCRC := info.ChecksumCRC64NVME
	if serverCRC == "" {
		st, err := c.plain.StatObject(ctx, r.Bucket, r.Object, minio.StatObjectOptions{Checksum: true, VersionID: info.VersionID})
		if err != nil {
			return nil, c.classify(ctx, err, r.Bucket, r.Object)
		}
		if st.Size != sr.n {
			return fail(messages.CodeSizeMismatch, fmt.Sprintf("the server holds %d bytes, %d were uploaded", st.Size, sr.n))
		}
		if st.ChecksumMode != "COMPOSITE" {
			serverCRC = st.ChecksumCRC64NVME
		}
	}
	if serverCRC != "" {
		if serverCRC != resp.CRC64NVME {
			return fail(messages.CodeChecksumMismatch, fmt.Sprintf("the server's CRC-64/NVME %s differs from the uploaded bytes' %s", serverCRC, resp.CRC64NVME))
		}
		resp.Verified = append(resp.Verified, "crc64nvme")
	}
	if want != nil {
		if !bytes.Equal(sum, want) {
			// Unreachable while sourceReader saw every byte; a guard.
			return fail(messages.CodeChecksumMismatch, "the uploaded bytes do not have the expected SHA-256")
		}
		resp.Verified = append(resp.Verified, "sha256")
	}
	prog.final(sr.n)
	resp.Meta = meta(c)
	return resp, nil
}

// openSource opens the put's source for this attempt: the file, or the Body
// rewound to offset 0 if it can seek. size is -1 when unknown.
func openSource(r *messages.PutObjectRequest) (src io.Reader, size int64, rewindable bool, closeFn func(), err error) {
	closeFn = func() {}
	if r.File != "" {
		f, err := os.Open(r.File)
		if err != nil {
			return nil, 0, false, closeFn, err
		}
		fi, err := f.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			_ = f.Close()
			if err == nil {
				err = fmt.Errorf("%s is not a regular file", r.File)
			}
			return nil, 0, false, closeFn, err
		}
		return f, fi.Size(), true, func() { _ = f.Close() }, nil
	}
	size = r.Size
	if s, ok := r.Body.(io.Seeker); ok {
		if size <= 0 {
			end, err := s.Seek(0, io.SeekEnd)
			if err != nil {
				return nil, 0, false, closeFn, fmt.Errorf("finding the body's size: %w", err)
			}
			size = end
		}
		if _, err := s.Seek(0, io.SeekStart); err != nil {
			return nil, 0, false, closeFn, fmt.Errorf("rewinding the body: %w", err)
		}
		return r.Body, size, true, closeFn, nil
	}
	if size <= 0 {
		size = -1
	}
	return r.Body, size, false, closeFn, nil
}

// sourceReader feeds minio-go the put's source: it reads exactly size bytes
// when size is known, hashes them (CRC-64/NVME always, SHA-256 when sha is
// set) and reports progress. It hides io.ReaderAt and io.Seeker, so
// minio-go reads it once, in order. When the last byte arrives it checks
// the expected SHA-256 and, on a mismatch, withholds that byte and fails:
// the upload never completes, so no object appears. Read by one goroutine
// at a time.
type sourceReader struct {
	r    io.Reader
	size int64
	n    int64
	sha  hash.Hash // nil unless a SHA-256 was asked for or expected
	crc  hash.Hash64
	// whole, when set, is the object's CRC-64/NVME combined from its
	// parts' (a multipart put from a file without a SHA-256 never reads
	// the source in order); sum64 prefers it to crc.
	whole       *uint64
	want        []byte
	prog        *progress
	bucket, key string
	// err is sticky: a source failure (srcErr) or an *upstreamCause.
	err    error
	srcErr bool
}

// upstreamCause is an integrity failure found while reading the source.
type upstreamCause struct {
	code, bucket, key, msg string
}

func (e *upstreamCause) Error() string { return e.msg }

func (e *upstreamCause) fail(c *callClient) *messages.UpstreamError {
	return c.objectFail(messages.ClassInvalid, e.code, e.bucket, e.key, e.msg)
}

func (s *sourceReader) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	if s.size >= 0 {
		rest := s.size - s.n
		if rest <= 0 {
			if err := s.verify(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		if int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := s.r.Read(p)
	if n > 0 {
		if s.sha != nil {
			s.sha.Write(p[:n])
		}
		s.crc.Write(p[:n])
		s.n += int64(n)
		s.prog.add(int64(n))
	}
	complete := s.size >= 0 && s.n == s.size
	switch {
	case err != nil && err != io.EOF:
		s.err, s.srcErr = err, true
		return n, err
	case err == io.EOF && s.size >= 0 && s.n < s.size:
		s.err = &upstreamCause{code: messages.CodeSizeMismatch, bucket: s.bucket, key: s.key,
			msg: fmt.Sprintf("the body ended after %d of its declared %d bytes", s.n, s.size)}
		return n, s.err
	case complete || err == io.EOF:
		if err := s.verify(); err != nil {
			if n > 0 {
				n-- // withhold the last byte so the upload cannot complete
			}
			return n, err
		}
		if complete {
			return n, io.EOF
		}
	}
	return n, err
}

// verify checks the expected SHA-256 once the whole body was read; a
// mismatch becomes the sticky error. sha is set whenever want is.
func (s *sourceReader) verify() error {
	if s.want == nil || s.sha == nil {
		return s.err
	}
	if got := s.sha.Sum(nil); !bytes.Equal(got, s.want) {
		s.err = &upstreamCause{code: messages.CodeChecksumMismatch, bucket: s.bucket, key: s.key,
			msg: fmt.Sprintf("the body's SHA-256 %x differs from the expected %x", got, s.want)}
	}
	return s.err
}

// usedBody counts what a put's non-seekable Body yielded, across attempts.
type usedBody struct {
	r io.Reader
	n atomic.Int64
}

func (u *usedBody) Read(p []byte) (int, error) {
	n, err := u.r.Read(p)
	u.n.Add(int64(n))
	return n, err
}

// crcBase64 is h's CRC-64/NVME as S3 writes it (crcString).
func crcBase64(h hash.Hash64) string { return crcString(h.Sum64()) }

// crcString is a CRC-64/NVME as S3 writes it: base64 of its 8 big-endian
// bytes.
func crcString(v uint64) string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return base64.StdEncoding.EncodeToString(b[:])
}

// sum64 is the CRC-64/NVME of the bytes put: combined from the parts', or
// of the bytes read in order.
func (s *sourceReader) sum64() uint64 {
	if s.whole != nil {
		return *s.whole
	}
	return s.crc.Sum64()
}

// removeCorrupt deletes an object that failed its integrity check.
func (c *callClient) removeCorrupt(ctx context.Context, bucket, key, versionID string) *messages.UpstreamError {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := c.plain.RemoveObject(dctx, bucket, key, minio.RemoveObjectOptions{VersionID: versionID})
	if err == nil {
		return nil
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && er.StatusCode == http.StatusNotFound {
		return nil
	}
	return c.classify(dctx, err, bucket, key)
}
