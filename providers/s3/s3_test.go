package s3

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/crc64nvme"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRoundTrip puts and gets objects of every shape against versitygw and
// checks the SHA-256 on both sides, the integrity checks that ran, and that
// every HTTP request carried the request ID.
func TestRoundTrip(t *testing.T) {
	e := newEnv(t)
	proxy := e.proxied()
	small := randomBytes(1000, 1)
	mid := randomBytes(7<<20+123, 2) // above one 5 MiB part
	cases := []struct {
		name      string
		data      []byte
		put       func(req *messages.PutObjectRequest, data []byte)
		multipart bool
	}{
		{"small seekable", small, func(r *messages.PutObjectRequest, d []byte) { r.Body = bytes.NewReader(d) }, false},
		{"empty", nil, func(r *messages.PutObjectRequest, d []byte) { r.Body = bytes.NewReader(d) }, false},
		{"small reader with size", small, func(r *messages.PutObjectRequest, d []byte) {
			r.Body, r.Size = onlyReader{bytes.NewReader(d)}, int64(len(d))
		}, false},
		{"small reader unknown size", small, func(r *messages.PutObjectRequest, d []byte) { r.Body = onlyReader{bytes.NewReader(d)} }, true},
		{"empty reader unknown size", nil, func(r *messages.PutObjectRequest, d []byte) { r.Body = onlyReader{bytes.NewReader(d)} }, true},
		{"multipart file", mid, func(r *messages.PutObjectRequest, d []byte) { r.File = writeFile(t, d) }, true},
		{"multipart reader unknown size", mid, func(r *messages.PutObjectRequest, d []byte) { r.Body = onlyReader{bytes.NewReader(d)} }, true},
		{"multipart one part at a time", mid, func(r *messages.PutObjectRequest, d []byte) {
			r.Body, r.Concurrency = bytes.NewReader(d), 1
		}, true},
		{"multipart threshold raised", mid, func(r *messages.PutObjectRequest, d []byte) {
			r.Body, r.MultipartThreshold = bytes.NewReader(d), 16<<20
		}, false},
		{"expected sha256 single", small, func(r *messages.PutObjectRequest, d []byte) {
			r.Body, r.SHA256 = bytes.NewReader(d), sha(d)
		}, false},
		{"expected sha256 multipart", mid, func(r *messages.PutObjectRequest, d []byte) {
			r.Body, r.SHA256 = onlyReader{bytes.NewReader(d)}, sha(d)
		}, true},
		{"sha256 asked multipart", mid, func(r *messages.PutObjectRequest, d []byte) {
			r.Body, r.HashSHA256 = onlyReader{bytes.NewReader(d)}, true
		}, true},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "rt/" + strings.ReplaceAll(tc.name, " ", "-")
			req := &messages.PutObjectRequest{Bucket: e.bucket, Object: key, PartSize: 5 << 20, ContentType: "application/x-test",
				Metadata: map[string]string{"model": "tiny"}}
			req.RequestID = "put-" + string(rune('a'+i))
			tc.put(req, tc.data)
			before := len(proxy.Requests())
			resp, call, err := e.do(req)
			require.NoError(t, err, "put")
			pr := resp.(*messages.PutObjectResponse)
			// The SHA-256 is computed on a put only when asked for or expected.
			wantPutSHA := ""
			if req.SHA256 != "" || req.HashSHA256 {
				wantPutSHA = sha(tc.data)
			}
			require.Equal(t, wantPutSHA, pr.SHA256, "put answer: sha %s size %d multipart %v; want %s %d %v", pr.SHA256, pr.Size, pr.Multipart, wantPutSHA, len(tc.data), tc.multipart)
			require.Equal(t, crc(tc.data), pr.CRC64NVME, "put answer: crc %s size %d multipart %v", pr.CRC64NVME, pr.Size, pr.Multipart)
			require.Equal(t, int64(len(tc.data)), pr.Size, "put answer: sha %s size %d multipart %v; want %s %d %v", pr.SHA256, pr.Size, pr.Multipart, sha(tc.data), len(tc.data), tc.multipart)
			require.Equal(t, tc.multipart, pr.Multipart, "put answer: sha %s size %d multipart %v; want %s %d %v", pr.SHA256, pr.Size, pr.Multipart, sha(tc.data), len(tc.data), tc.multipart)
			assert.False(t, !slices.Contains(pr.Verified, "crc64nvme") || !slices.Contains(pr.Verified, "size"), "put verified %v, want size and crc64nvme", pr.Verified)
			assert.Equal(t, slices.Contains(pr.Verified, "sha256"), req.SHA256 != "", "put verified %v with expected SHA256 %q", pr.Verified, req.SHA256)
			assert.Equal(t, req.RequestID, pr.RequestID, "put meta: %+v", pr.Meta)
			assert.NotEqual(t, "", pr.UpstreamRequestID, "put meta: %+v", pr.Meta)
			assert.Equal(t, key, pr.Object, "put meta: %+v", pr.Meta)
			assert.Equal(t, "primary", pr.Endpoint, "put meta: %+v", pr.Meta)
			assert.GreaterOrEqual(t, call.Result.BytesOut, int64(len(tc.data)), "BytesOut %d < %d", call.Result.BytesOut, len(tc.data))
			for _, rec := range proxy.Requests()[before:] {
				assert.Equal(t, req.RequestID, rec.RequestID, "%s %s?%s carried X-Request-ID %q, want %q", rec.Method, rec.Path, rec.Query.Encode(), rec.RequestID, req.RequestID)
			}

			// Back into memory.
			var buf bytes.Buffer
			g := mustDo[*messages.GetObjectResponse](e, &messages.GetObjectRequest{Bucket: e.bucket, Object: key, Writer: &buf})
			// The SHA-256 is computed on a get when it can be verified.
			wantReported := ""
			if req.SHA256 != "" {
				wantReported = sha(tc.data)
			}
			require.Equal(t, sha(tc.data), sha(buf.Bytes()), "get: sha %s (reported %q) bytes %d; want %s %d", sha(buf.Bytes()), g.SHA256, g.Bytes, sha(tc.data), len(tc.data))
			require.Equal(t, wantReported, g.SHA256, "get: sha %s (reported %q) bytes %d; want %s %d", sha(buf.Bytes()), g.SHA256, g.Bytes, sha(tc.data), len(tc.data))
			require.Equal(t, int64(len(tc.data)), g.Bytes, "get: sha %s (reported %q) bytes %d; want %s %d", sha(buf.Bytes()), g.SHA256, g.Bytes, sha(tc.data), len(tc.data))
			wantChecks := []string{"size", "crc64nvme"}
			if req.SHA256 != "" {
				wantChecks = append(wantChecks, "sha256")
			}
			assert.True(t, slices.Equal(g.Verified, wantChecks), "get verified %v, want %v", g.Verified, wantChecks)
			assert.False(t, g.Object.ContentType != "application/x-test" || g.Object.Metadata["model"] != "tiny" || g.Object.Size != int64(len(tc.data)), "get object info %+v", g.Object)
			if req.SHA256 != "" {
				assert.Equal(t, req.SHA256, g.Object.SHA256, "stored sha256 metadata")
			}
			// And to a file.
			dst := filepath.Join(t.TempDir(), "out.bin")
			g = mustDo[*messages.GetObjectResponse](e, &messages.GetObjectRequest{Bucket: e.bucket, Object: key, File: dst})
			require.Equal(t, sha(tc.data), fileSHA(t, dst), "get to file: sha %s, reported %s, resumed %d", fileSHA(t, dst), g.SHA256, g.Resumed)
			require.Equal(t, wantReported, g.SHA256, "get to file: sha %s, reported %s, resumed %d", fileSHA(t, dst), g.SHA256, g.Resumed)
			require.Equal(t, int64(0), g.Resumed, "get to file: sha %s, reported %s, resumed %d", fileSHA(t, dst), g.SHA256, g.Resumed)
			left, _ := filepath.Glob(dst + ".part-*")
			assert.LessOrEqual(t, len(left), 0, "partial files left behind: %v", left)
		})
	}
	ids := e.incomplete()
	assert.LessOrEqual(t, len(ids), 0, "incomplete multipart uploads left: %v", ids)
}

// TestRanges reads byte ranges into a writer and a file.
func TestRanges(t *testing.T) {
	e := newEnv(t)
	data := randomBytes(100_000, 3)
	mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "r", Body: bytes.NewReader(data)})
	for _, tc := range []struct{ off, n int64 }{{0, 1}, {10, 100}, {99_999, 1}, {50_000, 0}, {1, 99_999}} {
		var buf bytes.Buffer
		g := mustDo[*messages.GetObjectResponse](e, &messages.GetObjectRequest{Bucket: e.bucket, Object: "r", Writer: &buf, Offset: tc.off, Length: tc.n})
		end := int64(len(data))
		if tc.n > 0 {
			end = tc.off + tc.n
		}
		require.True(t, bytes.Equal(buf.Bytes(), data[tc.off:end]), "range %d+%d: got %d bytes, sha %q, size %d, verified %v", tc.off, tc.n, buf.Len(), g.SHA256, g.Object.Size, g.Verified)
		require.Equal(t, "", g.SHA256, "range %d+%d: got %d bytes, sha %q, size %d, verified %v", tc.off, tc.n, buf.Len(), g.SHA256, g.Object.Size, g.Verified)
		require.Equal(t, int64(len(data)), g.Object.Size, "range %d+%d: got %d bytes, sha %q, size %d, verified %v", tc.off, tc.n, buf.Len(), g.SHA256, g.Object.Size, g.Verified)
		require.True(t, slices.Equal(g.Verified, []string{"size"}), "range %d+%d: got %d bytes, sha %q, size %d, verified %v", tc.off, tc.n, buf.Len(), g.SHA256, g.Object.Size, g.Verified)
		dst := filepath.Join(t.TempDir(), "range")
		mustDo[*messages.GetObjectResponse](e, &messages.GetObjectRequest{Bucket: e.bucket, Object: "r", File: dst, Offset: tc.off, Length: tc.n})
		got, _ := os.ReadFile(dst)
		require.True(t, bytes.Equal(got, data[tc.off:end]), "range %d+%d to file: %d bytes", tc.off, tc.n, len(got))
	}
	// Past the end: typed, not retried.
	_, _, err := e.do(&messages.GetObjectRequest{Bucket: e.bucket, Object: "r", Writer: io.Discard, Offset: 200_000})
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "range past the end")
	require.Equal(t, messages.ClassInvalid, ue.Class, "range past the end")
	require.Equal(t, "InvalidRange", ue.Code, "range past the end")
	require.False(t, ue.Retryable(), "range past the end")
}

// TestNotFound: a missing bucket or key is a typed not-found, not retried.
func TestNotFound(t *testing.T) {
	e := newEnv(t)
	for _, req := range []messages.Request{
		&messages.GetObjectRequest{Bucket: "no-such-bucket", Object: "k", Writer: io.Discard},
		&messages.GetObjectRequest{Bucket: e.bucket, Object: "missing", Writer: io.Discard},
		&messages.GetObjectRequest{Bucket: e.bucket, Object: "missing", File: filepath.Join(t.TempDir(), "x")},
		&messages.StatObjectRequest{Bucket: e.bucket, Object: "missing"},
		&messages.StatObjectRequest{Bucket: "no-such-bucket", Object: "missing"},
		&messages.ListObjectsRequest{Bucket: "no-such-bucket"},
		&messages.PutObjectRequest{Bucket: "no-such-bucket", Object: "k", Body: strings.NewReader("x")},
		&messages.PutObjectRequest{Bucket: "no-such-bucket", Object: "k", Body: onlyReader{strings.NewReader("x")}},
		&messages.CopyObjectRequest{SrcBucket: e.bucket, SrcObject: "missing", DstBucket: e.bucket, DstObject: "copy"},
	} {
		_, _, err := e.do(req)
		var ue *messages.UpstreamError
		if !assert.ErrorIs(t, err, messages.ErrNotFound, "%s %+v", req.Operation(), req) ||
			!assert.ErrorAs(t, err, &ue, "%s %+v", req.Operation(), req) ||
			!assert.Equal(t, messages.ClassInvalid, ue.Class, "%s %+v", req.Operation(), req) ||
			!assert.False(t, ue.Retryable(), "%s %+v: not found is final", req.Operation(), req) {
			continue
		}
		var oe *messages.ObjectError
		if assert.ErrorAs(t, err, &oe, "%s: cause %v, want an *ObjectError with a NoSuch… code", req.Operation(), oe) {
			assert.True(t, strings.HasPrefix(oe.Code, "NoSuch"), "%s: cause %v, want an *ObjectError with a NoSuch… code", req.Operation(), oe)
		}
	}
}

// TestOperations covers stat, list paging, delimiters, delete, copy,
// presigned URLs and buckets.
func TestOperations(t *testing.T) {
	e := newEnv(t)
	keys := []string{"m/a/1.bin", "m/a/2.bin", "m/b/3.bin", "m/c.bin", "other.bin"}
	for i, k := range keys {
		mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: k, Body: bytes.NewReader(randomBytes(100+i, uint64(i)))})
	}

	st := mustDo[*messages.StatObjectResponse](e, &messages.StatObjectRequest{Bucket: e.bucket, Object: "m/c.bin"})
	assert.False(t, st.Object.Size != 103 || st.Object.ETag == "" || st.Object.CRC64NVME == "" || st.Object.LastModified.IsZero() || st.UpstreamRequestID == "", "stat: %+v", st)

	// Paging: two keys a page under m/.
	var got []string
	token := ""
	pages := 0
	for {
		l := mustDo[*messages.ListObjectsResponse](e, &messages.ListObjectsRequest{Bucket: e.bucket, Prefix: "m/", MaxKeys: 2, ContinuationToken: token})
		pages++
		for _, o := range l.Objects {
			got = append(got, o.Key)
			assert.GreaterOrEqual(t, o.Size, int64(100), "listed %+v", o)
			assert.NotEqual(t, "", o.ETag, "listed %+v", o)
		}
		if !l.IsTruncated {
			break
		}
		token = l.NextContinuationToken
		require.NotEqual(t, "", token, "truncated page without a usable token")
		require.LessOrEqual(t, pages, 10, "truncated page without a usable token")
	}
	if assert.True(t, slices.Equal(got, keys[:4]), "paged list: %v in %d pages", got, pages) {
		assert.Equal(t, 2, pages, "paged list: %v in %d pages", got, pages)
	}
	l := mustDo[*messages.ListObjectsResponse](e, &messages.ListObjectsRequest{Bucket: e.bucket, Prefix: "m/", Delimiter: "/"})
	assert.False(t, len(l.Objects) != 1 || l.Objects[0].Key != "m/c.bin" || !slices.Equal(l.CommonPrefixes, []string{"m/a/", "m/b/"}), "delimited list: %+v", l)
	l = mustDo[*messages.ListObjectsResponse](e, &messages.ListObjectsRequest{Bucket: e.bucket, StartAfter: "m/c.bin"})
	assert.False(t, len(l.Objects) != 1 || l.Objects[0].Key != "other.bin", "list after m/c.bin: %+v", l.Objects)

	// Copy, with and without new metadata.
	c := mustDo[*messages.CopyObjectResponse](e, &messages.CopyObjectRequest{SrcBucket: e.bucket, SrcObject: "m/c.bin", DstBucket: e.bucket, DstObject: "copy.bin"})
	assert.Equal(t, st.Object.ETag, c.ETag, "copy ETag %q, source %q", c.ETag, st.Object.ETag)
	mustDo[*messages.CopyObjectResponse](e, &messages.CopyObjectRequest{SrcBucket: e.bucket, SrcObject: "m/c.bin", DstBucket: e.bucket, DstObject: "copy2.bin",
		Metadata: map[string]string{"stage": "prod"}})
	st2 := mustDo[*messages.StatObjectResponse](e, &messages.StatObjectRequest{Bucket: e.bucket, Object: "copy2.bin"})
	assert.Equal(t, "prod", st2.Object.Metadata["stage"], "copy with metadata: %+v", st2.Object)
	assert.Equal(t, int64(103), st2.Object.Size, "copy with metadata: %+v", st2.Object)

	// Delete one, then many (a missing key deletes fine).
	d := mustDo[*messages.DeleteObjectsResponse](e, &messages.DeleteObjectsRequest{Bucket: e.bucket, Objects: []string{"copy.bin"}})
	assert.False(t, !slices.Equal(d.Deleted, []string{"copy.bin"}) || e.exists("copy.bin"), "delete one: %+v", d)
	d = mustDo[*messages.DeleteObjectsResponse](e, &messages.DeleteObjectsRequest{Bucket: e.bucket, Objects: []string{"m/a/1.bin", "m/a/2.bin", "never-was"}})
	slices.Sort(d.Deleted)
	assert.False(t, !slices.Equal(d.Deleted, []string{"m/a/1.bin", "m/a/2.bin", "never-was"}) || len(d.Errors) != 0 || e.exists("m/a/1.bin"), "delete many: %+v", d)

	// Presigned URLs work without credentials.
	data := randomBytes(5000, 9)
	pu := mustDo[*messages.PresignResponse](e, &messages.PresignRequest{Method: "PUT", Bucket: e.bucket, Object: "presigned.bin"})
	require.True(t, strings.HasPrefix(pu.URL, e.srv.URL+"/"+e.bucket+"/presigned.bin?"), "presigned PUT URL")
	require.Contains(t, pu.URL, "X-Amz-Signature=", "presigned PUT URL")
	require.Equal(t, "PUT", pu.Method, "presigned PUT URL")
	hreq, _ := http.NewRequest(http.MethodPut, pu.URL, bytes.NewReader(data))
	hresp, err := (&http.Client{Transport: e.tr}).Do(hreq)
	require.NoError(t, err, "PUT to presigned URL: %v %v", err, hresp)
	require.Equal(t, 200, hresp.StatusCode, "PUT to presigned URL: %v %v", err, hresp)
	hresp.Body.Close()
	pg := mustDo[*messages.PresignResponse](e, &messages.PresignRequest{Bucket: e.bucket, Object: "presigned.bin", Expires: time.Minute})
	assert.LessOrEqual(t, time.Until(pg.ExpiresAt), time.Minute, "presigned GET: %+v", pg)
	assert.Equal(t, "GET", pg.Method, "presigned GET: %+v", pg)
	assert.Contains(t, pg.URL, "X-Amz-Expires=60", "presigned GET: %+v", pg)
	hresp, err = (&http.Client{Transport: e.tr}).Get(pg.URL)
	require.NoError(t, err)
	body, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	require.Equal(t, 200, hresp.StatusCode, "GET presigned URL: %d, %d bytes", hresp.StatusCode, len(body))
	require.True(t, bytes.Equal(body, data), "GET presigned URL: %d, %d bytes", hresp.StatusCode, len(body))

	// Buckets.
	b := mustDo[*messages.BucketResponse](e, &messages.BucketExistsRequest{Bucket: e.bucket})
	assert.True(t, b.Exists, "bucket %s does not exist?", e.bucket)
	b = mustDo[*messages.BucketResponse](e, &messages.BucketExistsRequest{Bucket: "not-there"})
	assert.False(t, b.Exists, "bucket not-there exists?")
	b = mustDo[*messages.BucketResponse](e, &messages.MakeBucketRequest{Bucket: "fresh"})
	if assert.True(t, b.Created, "make bucket: %+v", b) {
		assert.True(t, b.Exists, "make bucket: %+v", b)
	}
	b = mustDo[*messages.BucketResponse](e, &messages.MakeBucketRequest{Bucket: "fresh", IgnoreExisting: true})
	assert.False(t, b.Created, "make existing bucket, ignoring: %+v", b)
	assert.True(t, b.Exists, "make existing bucket, ignoring: %+v", b)
	_, _, err = e.do(&messages.MakeBucketRequest{Bucket: "fresh"})
	var ue *messages.UpstreamError
	if assert.ErrorAs(t, err, &ue, "make existing bucket") {
		assert.Equal(t, messages.ClassInvalid, ue.Class, "make existing bucket")
		assert.True(t, strings.HasPrefix(ue.Code, "BucketAlready"), "make existing bucket")
	}
}

// TestLargeTransfer round-trips one large object through a multipart
// upload (from a stream, buffered, and from a file, read in place) and a
// streamed download, comparing SHA-256 on both sides and bounding the heap
// growth. `make test` runs 24 MiB in 5 MiB parts; SWITCHYARD_S3_LARGE=1
// runs 256 MiB in 8 MiB parts (the default part size), 4 in flight.
func TestLargeTransfer(t *testing.T) {
	size, partSize := int64(24<<20), int64(5<<20)
	if os.Getenv("SWITCHYARD_S3_LARGE") == "1" {
		size, partSize = 256<<20, 8<<20
	}
	e := newEnv(t)
	want, wantCRC64 := sha256.New(), crc64nvme.New()
	_, err := io.Copy(io.MultiWriter(want, wantCRC64), newStreamReader(size, 42))
	require.NoError(t, err)
	wantSum := hex.EncodeToString(want.Sum(nil))
	wantCRC := base64.StdEncoding.EncodeToString(wantCRC64.Sum(nil))
	var file string
	var mem *heapSampler
	for _, source := range []string{"stream", "file"} {
		req := &messages.PutObjectRequest{Bucket: e.bucket, Object: "large-" + source, PartSize: partSize, Concurrency: 4}
		if source == "stream" {
			// Declared up front: stored, and verified by the get below.
			req.Body, req.Size, req.SHA256 = newStreamReader(size, 42), size, wantSum
		} else {
			f, err := os.Create(filepath.Join(t.TempDir(), "large.bin"))
			require.NoError(t, err)
			_, err = io.Copy(f, newStreamReader(size, 42))
			require.NoError(t, err)
			_ = f.Close()
			file, req.File = f.Name(), f.Name()
		}
		mem = startHeapSampler()
		p := mustDo[*messages.PutObjectResponse](e, req)
		putPeak := mem.stop()
		if req.SHA256 != "" {
			require.Equal(t, wantSum, p.SHA256, "put from %s: %+v", source, p)
		} else {
			require.Equal(t, "", p.SHA256, "put from %s without a SHA-256 asked for: %+v", source, p)
		}
		require.Equal(t, wantCRC, p.CRC64NVME, "put from %s: %+v", source, p)
		require.Equal(t, size, p.Size, "put from %s: %+v", source, p)
		require.True(t, p.Multipart, "put from %s: %+v", source, p)
		require.Equal(t, int((size+partSize-1)/partSize), p.Parts, "put from %s: %+v", source, p)
		t.Logf("put %d MiB from a %s in %d MiB parts, 4 in flight: memory growth peak %.1f MiB (heap + part buffers), RSS %+.1f MiB",
			size>>20, source, partSize>>20, putPeak/(1<<20), mem.rssGrowth()/(1<<20))
		assert.False(t, putPeak > 64<<20, "heap grew by %.1f MiB, over 64 MiB", putPeak/(1<<20))
	}

	mem = startHeapSampler()
	got := sha256.New()
	g := mustDo[*messages.GetObjectResponse](e, &messages.GetObjectRequest{Bucket: e.bucket, Object: "large-stream", Writer: got})
	getPeak := mem.stop()
	require.Equal(t, wantSum, hex.EncodeToString(got.Sum(nil)), "get: sha %x reported %s bytes %d", got.Sum(nil), g.SHA256, g.Bytes)
	require.Equal(t, wantSum, g.SHA256, "get: sha %x reported %s bytes %d", got.Sum(nil), g.SHA256, g.Bytes)
	require.Equal(t, size, g.Bytes, "get: sha %x reported %s bytes %d", got.Sum(nil), g.SHA256, g.Bytes)
	require.True(t, slices.Contains(g.Verified, "sha256"), "get: sha %x reported %s bytes %d", got.Sum(nil), g.SHA256, g.Bytes)
	getRSS := mem.rssGrowth() // of the get just measured; its sampler has stopped
	mem = startHeapSampler()
	g = mustDo[*messages.GetObjectResponse](e, &messages.GetObjectRequest{Bucket: e.bucket, Object: "large-file", File: file + ".back"})
	fileGetPeak := mem.stop()
	require.Equal(t, "", g.SHA256, "get to file: sha %q verified %v", g.SHA256, g.Verified)
	require.Equal(t, wantSum, fileSHA(t, file+".back"), "get to file: sha %q verified %v", g.SHA256, g.Verified)
	require.True(t, slices.Equal(g.Verified, []string{"size", "crc64nvme"}), "get to file: sha %q verified %v", g.SHA256, g.Verified)
	t.Logf("get %d MiB into a writer: memory growth peak %.1f MiB, RSS %+.1f MiB; into a file: %.1f MiB, RSS %+.1f MiB",
		size>>20, getPeak/(1<<20), getRSS/(1<<20), fileGetPeak/(1<<20), mem.rssGrowth()/(1<<20))
	assert.False(t, getPeak > 64<<20, "heap grew by over 64 MiB")
	assert.False(t, fileGetPeak > 64<<20, "heap grew by over 64 MiB")
}

// TestMutates marks the requests a read-only replica must not serve.
func TestMutates(t *testing.T) {
	for _, tc := range []struct {
		req  messages.Request
		want bool
	}{
		{&messages.PutObjectRequest{}, true},
		{&messages.DeleteObjectsRequest{}, true},
		{&messages.CopyObjectRequest{}, true},
		{&messages.MakeBucketRequest{}, true},
		{&messages.PresignRequest{Method: "put"}, true},
		{&messages.PresignRequest{}, false},
		{&messages.GetObjectRequest{}, false},
		{&messages.StatObjectRequest{}, false},
		{&messages.ListObjectsRequest{}, false},
		{&messages.BucketExistsRequest{}, false},
	} {
		m, ok := tc.req.(messages.MutatingRequest)
		got := ok && m.Mutates()
		assert.Equal(t, tc.want, got, "%T mutates = %v", tc.req, got)
	}
}
