package s3

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/minio/crc64nvme"
	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
)

// Headers of a multipart upload with a full-object CRC-64/NVME.
const (
	hdrChecksumAlgo = "X-Amz-Checksum-Algorithm"
	hdrChecksumType = "X-Amz-Checksum-Type"
	hdrChecksumCRC  = "X-Amz-Checksum-Crc64nvme"
)

// sourceError is a failure to read the put's source in a part upload.
type sourceError struct{ err error }

func (e *sourceError) Error() string { return e.err.Error() }

// upload is one multipart upload in progress: its parts in flight, those
// done, and the first failure. Safe for concurrent use by the part
// goroutines.
type upload struct {
	c      *callClient
	core   minio.Core
	bucket string
	key    string
	id     string
	// signPayload: parts carry streaming signatures (see
	// Options.UnsignedPayload).
	signPayload bool
	wg          sync.WaitGroup

	mu       sync.Mutex
	parts    []minio.CompletePart
	firstErr error
}

// startUpload initiates a multipart upload that declares a full-object
// CRC-64/NVME.
func (c *callClient) startUpload(ctx context.Context, r *messages.PutObjectRequest, md map[string]string, signPayload bool) (*upload, error) {
	u := &upload{c: c, core: minio.Core{Client: c.plain}, bucket: r.Bucket, key: r.Object, signPayload: signPayload}
	initMD := make(map[string]string, len(md)+2)
	for k, v := range md {
		initMD[k] = v
	}
	initMD[hdrChecksumAlgo] = "CRC64NVME"
	initMD[hdrChecksumType] = "FULL_OBJECT"
	var err error
	u.id, err = u.core.NewMultipartUpload(ctx, r.Bucket, r.Object, minio.PutObjectOptions{UserMetadata: initMD, ContentType: r.ContentType})
	return u, err
}

// fail records the upload's first failure.
func (u *upload) fail(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.firstErr == nil {
		u.firstErr = err
	}
}

// failed reports whether a failure was recorded.
func (u *upload) failed() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.firstErr != nil
}

// sendPart uploads part n (k bytes of body, whose CRC-64/NVME is crc); the
// server refuses a part whose bytes do not match crc. The CRC header is
// signed with the request. The body carries SigV4 streaming signatures
// unless Options.UnsignedPayload (minio-go's choice on plain HTTP, a SHA-256
// pass over every part on both sides; over HTTPS it goes as
// UNSIGNED-PAYLOAD either way). It returns once the
// transport let go of body: after an early answer it may still be sending,
// and body's memory must not be reused before that.
func (u *upload) sendPart(ctx context.Context, n int, body io.Reader, k int64, crc string) {
	h := http.Header{}
	h.Set(hdrChecksumAlgo, "CRC64NVME")
	h.Set(hdrChecksumType, "FULL_OBJECT")
	h.Set(hdrChecksumCRC, crc)
	pctx, bodies := trackBodies(ctx)
	part, err := u.core.PutObjectPart(pctx, u.bucket, u.key, u.id, n, body, k, minio.PutObjectPartOptions{CustomHeader: h,
		DisableContentSha256: !u.signPayload})
	bodies.wait()
	if err != nil {
		u.fail(err)
		return
	}
	u.mu.Lock()
	u.parts = append(u.parts, minio.CompletePart{PartNumber: n, ETag: part.ETag, ChecksumCRC64NVME: crc})
	u.mu.Unlock()
}

// finish completes the upload with the whole object's CRC-64/NVME once
// every part is in, or aborts it after a failure. The caller has waited
// for the parts in flight.
func (u *upload) finish(ctx context.Context, crc string) (minio.UploadInfo, int, error) {
	if u.firstErr == nil {
		slices.SortFunc(u.parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
		info, err := u.core.CompleteMultipartUpload(ctx, u.bucket, u.key, u.id, u.parts, minio.PutObjectOptions{
			UserMetadata: map[string]string{hdrChecksumCRC: crc, hdrChecksumType: "FULL_OBJECT"}})
		if err == nil {
			return info, len(u.parts), nil
		}
		u.firstErr = err
	}
	u.c.abortUpload(ctx, u.bucket, u.key, u.id)
	return minio.UploadInfo{}, 0, u.firstErr
}

// multipartPut uploads sr, a stream, in parts of partSize, conc of them in
// flight. The source is read in order on this goroutine (hashed as it
// goes) into one buffer per part in flight: conc × partSize, outside the
// Go heap where possible (see partBuffer). Each part carries its
// CRC-64/NVME and the completion the whole object's, so the server refuses
// a corrupted part or object before it becomes visible. On any failure the
// parts still in flight are allowed to finish (cancelling them would leave
// the server writing parts after the abort), then the upload is aborted.
func (c *callClient) multipartPut(ctx context.Context, r *messages.PutObjectRequest, md map[string]string, sr *sourceReader,
	partSize int64, conc int, signPayload bool) (minio.UploadInfo, int, error) {
	u, err := c.startUpload(ctx, r, md, signPayload)
	if err != nil {
		return minio.UploadInfo{}, 0, err
	}
	// A slot is a part in flight and its buffer (allocated on first use,
	// freed when the upload ends).
	slots := make(chan *partBuffer, conc)
	for range conc {
		slots <- nil
	}
	defer func() {
		for range conc {
			(<-slots).free()
		}
	}()
	for n := 1; ; n++ {
		buf := <-slots
		if u.failed() {
			slots <- buf
			break
		}
		if err := ctx.Err(); err != nil {
			u.fail(err)
			slots <- buf
			break
		}
		if n > MaxParts {
			u.fail(&upstreamCause{code: "EntityTooLarge", bucket: r.Bucket, key: r.Object,
				msg: fmt.Sprintf("the body needs more than %d parts of %d bytes", MaxParts, partSize)})
			slots <- buf
			break
		}
		if buf == nil {
			buf = newPartBuffer(partSize)
		}
		k, rerr := io.ReadFull(sr, buf.b)
		last := rerr == io.EOF || rerr == io.ErrUnexpectedEOF
		if rerr != nil && !last {
			u.fail(rerr)
			slots <- buf
			break
		}
		if k == 0 && n > 1 {
			slots <- buf // the previous part ended exactly at the end
			break
		}
		pc := crc64nvme.New()
		pc.Write(buf.b[:k])
		crc := crcBase64(pc)
		u.wg.Add(1)
		go func(n int, k int, buf *partBuffer) {
			defer u.wg.Done()
			u.sendPart(ctx, n, bytes.NewReader(buf.b[:k]), int64(k), crc)
			slots <- buf
		}(n, k, buf)
		if last {
			break
		}
	}
	u.wg.Wait()
	return u.finish(ctx, crcString(sr.sum64()))
}

// multipartPutAt uploads size bytes of ra in parts of partSize, conc of
// them in flight, without holding a part in memory: each part goroutine
// computes its part's CRC-64/NVME with ReadAt, then sends the part with
// ReadAt. Meanwhile sr reads the whole source once, in order, on its own
// goroutine for the whole object's SHA-256 and CRC-64/NVME, so no part
// waits for that hashing. The source is read twice (the second time
// usually from the page cache); if it changes in between, the part's CRC
// (the server refuses the part) or the whole object's (the server refuses
// the completion, or the put's final comparison fails) differs. sr is not
// read once multipartPutAt has returned. Progress counts the bytes the
// parts send.
func (c *callClient) multipartPutAt(ctx context.Context, r *messages.PutObjectRequest, md map[string]string, sr *sourceReader,
	ra io.ReaderAt, size, partSize int64, conc int, prog *progress, signPayload bool) (minio.UploadInfo, int, error) {
	u, err := c.startUpload(ctx, r, md, signPayload)
	if err != nil {
		return minio.UploadInfo{}, 0, err
	}
	// The parts' CRCs are computed as they go; the whole object's is
	// combined from them in order. Only a SHA-256 (asked for, or expected)
	// needs the bytes read once more, in order.
	hashed := make(chan struct{})
	partCRCs := make([]uint64, (size+partSize-1)/partSize)
	if sr.sha == nil {
		close(hashed)
	} else {
		go func() {
			defer close(hashed)
			buf := make([]byte, min(size, copyBufferSize))
			for !u.failed() {
				if _, err := sr.Read(buf); err != nil {
					if err != io.EOF {
						u.fail(err)
					}
					return
				}
			}
		}()
	}
	// A slot is a part in flight and its scratch buffer for the CRC.
	slots := make(chan []byte, conc)
	for range conc {
		slots <- nil
	}
	for off, n := int64(0), 1; off < size; off, n = off+partSize, n+1 {
		buf := <-slots
		if u.failed() {
			break
		}
		if err := ctx.Err(); err != nil {
			u.fail(err)
			break
		}
		k := min(partSize, size-off)
		if buf == nil {
			buf = make([]byte, min(k, copyBufferSize))
		}
		u.wg.Add(1)
		go func(n int, off, k int64, buf []byte) {
			defer u.wg.Done()
			defer func() { slots <- buf }()
			pc := crc64nvme.New()
			got, err := io.CopyBuffer(pc, io.NewSectionReader(ra, off, k), buf)
			switch {
			case err != nil:
				u.fail(&sourceError{err})
				return
			case got != k:
				u.fail(&upstreamCause{code: messages.CodeSizeMismatch, bucket: r.Bucket, key: r.Object,
					msg: fmt.Sprintf("the source ended after %d of its %d bytes", off+got, size)})
				return
			}
			partCRCs[n-1] = pc.Sum64()
			u.sendPart(ctx, n, &countingReader{r: io.NewSectionReader(ra, off, k), prog: prog}, k, crcBase64(pc))
		}(n, off, k, buf)
	}
	u.wg.Wait()
	<-hashed
	if sr.sha == nil && !u.failed() {
		// Every part was read whole (a short one failed the upload): the
		// object's CRC is the parts' combined in order (minio-go's
		// FullObjectChecksum, the merge S3 itself does).
		parts := make([]minio.ObjectPart, len(partCRCs))
		for i, c := range partCRCs {
			parts[i] = minio.ObjectPart{PartNumber: i + 1, Size: min(partSize, size-int64(i)*partSize), ChecksumCRC64NVME: crcString(c)}
		}
		if cs, err := minio.ChecksumCRC64NVME.FullObjectChecksum(parts); err != nil {
			u.fail(err)
		} else {
			whole := binary.BigEndian.Uint64(cs.Raw())
			sr.n, sr.whole = size, &whole
		}
	}
	return u.finish(ctx, crcString(sr.sum64()))
}

// countingReader reports what is read through it as progress.
type countingReader struct {
	r    io.Reader
	prog *progress
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.prog.add(int64(n))
	return n, err
}

// abortUpload aborts a multipart upload and makes sure it stays gone: a
// part the server was still writing when the abort arrived can bring it
// back (S3 documents that an abort may have to be repeated), so the key's
// uploads are listed until this one has been absent for abortSettle (at
// most 10×abortSettle). When the endpoint cannot be reached (it went down
// mid-upload), the upload is handed to the adapter's orphan list, and a
// later call that reaches the endpoint with the same access key aborts it.
func (c *callClient) abortUpload(ctx context.Context, bucket, key, id string) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*abortSettle+10*time.Second)
	defer cancel()
	core := minio.Core{Client: c.plain}
	unreachable := func(err error) bool {
		if err != nil && isConnectionError(err) {
			if c.orphan != nil {
				c.orphan(orphan{bucket: bucket, key: key, id: id})
			}
			return true
		}
		return false
	}
	if unreachable(core.AbortMultipartUpload(actx, bucket, key, id)) {
		return
	}
	deadline := time.Now().Add(10 * abortSettle)
	lastSeen := time.Now()
	for {
		res, err := core.ListMultipartUploads(actx, bucket, key, "", "", "", 1000)
		if err != nil {
			return
		}
		seen := false
		for _, u := range res.Uploads {
			if u.UploadID == id {
				seen = true
				if unreachable(core.AbortMultipartUpload(actx, bucket, key, id)) {
					return
				}
			}
		}
		if seen {
			lastSeen = time.Now()
		} else if time.Since(lastSeen) >= abortSettle {
			return
		}
		if time.Now().After(deadline) {
			return
		}
		select {
		case <-time.After(abortSettle / 3):
		case <-actx.Done():
			return
		}
	}
}

// abortSettle is how long the uploads of a failed put must stay gone.
const abortSettle = 150 * time.Millisecond
