package s3

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func wantIntegrity(t *testing.T, what string, err error, code string) *messages.UpstreamError {
	t.Helper()
	var ue *messages.UpstreamError
	var oe *messages.ObjectError
	require.ErrorIs(t, err, messages.ErrIntegrity, "%s: %v, want an integrity error %s", what, err, code)
	require.ErrorAs(t, err, &ue, "%s: %v, want an integrity error %s", what, err, code)
	require.ErrorAs(t, err, &oe, "%s: %v, want an integrity error %s", what, err, code)
	require.Equal(t, code, oe.Code, "%s: %v, want an integrity error %s", what, err, code)
	return ue
}

// TestPutIntegrity: a body that does not match its expected SHA-256 or
// declared size never becomes an object.
func TestPutIntegrity(t *testing.T) {
	e := newEnv(t)
	small := randomBytes(3000, 10)
	big := randomBytes(11<<20, 11)
	wrong := sha([]byte("something else"))
	for _, tc := range []struct {
		name string
		req  *messages.PutObjectRequest
		code string
	}{
		{"single put, wrong sha256", &messages.PutObjectRequest{Body: bytes.NewReader(small), SHA256: wrong}, messages.CodeChecksumMismatch},
		{"single put from a reader, wrong sha256", &messages.PutObjectRequest{Body: onlyReader{bytes.NewReader(small)}, Size: int64(len(small)), SHA256: wrong}, messages.CodeChecksumMismatch},
		{"multipart, wrong sha256", &messages.PutObjectRequest{Body: bytes.NewReader(big), SHA256: wrong, PartSize: 5 << 20}, messages.CodeChecksumMismatch},
		{"multipart unknown size, wrong sha256", &messages.PutObjectRequest{Body: onlyReader{bytes.NewReader(big)}, SHA256: wrong, PartSize: 5 << 20}, messages.CodeChecksumMismatch},
		{"empty body, wrong sha256", &messages.PutObjectRequest{Body: bytes.NewReader(nil), SHA256: wrong}, messages.CodeChecksumMismatch},
		{"empty reader, wrong sha256", &messages.PutObjectRequest{Body: onlyReader{bytes.NewReader(nil)}, SHA256: wrong}, messages.CodeChecksumMismatch},
		{"body shorter than size", &messages.PutObjectRequest{Body: onlyReader{bytes.NewReader(small)}, Size: 5000}, messages.CodeSizeMismatch},
		{"multipart body shorter than size", &messages.PutObjectRequest{Body: onlyReader{bytes.NewReader(big)}, Size: 12 << 20, PartSize: 5 << 20}, messages.CodeSizeMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.req.Bucket, tc.req.Object = e.bucket, "bad"
			_, _, err := e.do(tc.req)
			ue := wantIntegrity(t, "put", err, tc.code)
			assert.False(t, ue.Class != messages.ClassInvalid || ue.Retryable(), "class %s retryable %v, want ClassInvalid, final", ue.Class, ue.Retryable())
			require.False(t, e.exists("bad"), "an upload that failed its integrity check is visible")
			ids := e.incomplete()
			require.LessOrEqual(t, len(ids), 0, "incomplete uploads left: %v", ids)
		})
	}
	// Exactly Size bytes are read from a longer body.
	p := mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "prefix", Body: onlyReader{bytes.NewReader(small)}, Size: 1000})
	assert.False(t, p.Size != 1000 || p.CRC64NVME != crc(small[:1000]) || p.SHA256 != "", "put of the first 1000 bytes: %+v", p)
}

// TestGetIntegrity: bytes that differ from the server's checksum or the
// expected SHA-256 are an integrity error and leave no file behind.
func TestGetIntegrity(t *testing.T) {
	e := newEnv(t)
	data := randomBytes(200_000, 12)
	mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "good", Body: bytes.NewReader(data), SHA256: sha(data)})
	mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "rot", Body: bytes.NewReader(data)})

	// The caller expects another digest.
	_, _, err := e.do(&messages.GetObjectRequest{Bucket: e.bucket, Object: "good", Writer: io.Discard, SHA256: sha([]byte("x"))})
	ue := wantIntegrity(t, "get with a wrong expected sha256", err, messages.CodeChecksumMismatch)
	assert.False(t, ue.Retryable(), "a get into a writer that failed verification must not be retried")

	// Bit rot on the server's disk: versitygw serves the file as it is now,
	// with the checksum it stored at upload time.
	path := filepath.Join(e.srv.Dir, e.bucket, "rot")
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "object file")
	raw[1234] ^= 0x40
	require.NoError(t, os.WriteFile(path, raw, 0o644))
	dst := filepath.Join(t.TempDir(), "rot")
	_, _, err = e.do(&messages.GetObjectRequest{Bucket: e.bucket, Object: "rot", File: dst})
	ue = wantIntegrity(t, "get of a rotten object", err, messages.CodeChecksumMismatch)
	assert.False(t, ue.Class != messages.ClassServer || !ue.Retryable(), "class %s retryable %v; want ClassServer, retryable (another replica may be sound)", ue.Class, ue.Retryable())
	left, _ := filepath.Glob(dst + "*")
	assert.LessOrEqual(t, len(left), 0, "failed download left %v", left)

	// Stored sha256 metadata is checked without the caller asking.
	copyReq := &messages.CopyObjectRequest{SrcBucket: e.bucket, SrcObject: "rot", DstBucket: e.bucket, DstObject: "rot-claims-good",
		Metadata: map[string]string{MetaSHA256: sha(data)}}
	_, _, err = e.do(copyReq)
	require.NoError(t, err)
	_, _, err = e.do(&messages.GetObjectRequest{Bucket: e.bucket, Object: "rot-claims-good", Writer: io.Discard})
	wantIntegrity(t, "get of an object whose stored sha256 does not match", err, messages.CodeChecksumMismatch)
}

// TestResumeDownload: a download into a file that is cut resumes from the
// bytes on disk on the next attempt, and starts over if the object changed.
func TestResumeDownload(t *testing.T) {
	e := newEnv(t)
	proxy := e.proxied()
	data := randomBytes(9<<20, 13)
	// Stored with its SHA-256: the resumed download verifies it, prefix
	// on disk included.
	mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "model.bin", Body: bytes.NewReader(data), PartSize: 5 << 20, SHA256: sha(data)})
	dst := filepath.Join(t.TempDir(), "model.bin")
	req := func() *messages.GetObjectRequest {
		return &messages.GetObjectRequest{Bucket: e.bucket, Object: "model.bin", File: dst}
	}

	proxy.Inject(s3test.Fault{Method: "GET", Times: 1, CutResponseAfter: 3<<20 + 17})
	_, _, err := e.do(req())
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "cut download")
	require.Equal(t, messages.ClassConnection, ue.Class, "cut download")
	require.True(t, ue.Retryable(), "cut download")
	parts, _ := filepath.Glob(dst + ".part-*")
	require.Len(t, parts, 1, "partial files")
	fi, _ := os.Stat(parts[0])
	require.Equal(t, int64(3<<20+17), fi.Size(), "partial holds %d bytes", fi.Size())
	_, err = os.Stat(dst)
	require.True(t, os.IsNotExist(err), "the destination exists before the download finished")

	var first messages.ObjectProgress
	r := req()
	r.OnProgress = func(p messages.ObjectProgress) {
		if first.Operation == "" {
			first = p
		}
	}
	before := len(proxy.Requests())
	resp, call, err := e.do(r)
	require.NoError(t, err, "resumed download")
	g := resp.(*messages.GetObjectResponse)
	require.Equal(t, int64(3<<20+17), g.Resumed, "resumed %d, bytes %d, sha %s / file %s", g.Resumed, g.Bytes, g.SHA256, fileSHA(t, dst))
	require.Equal(t, int64(len(data)), g.Bytes, "resumed %d, bytes %d, sha %s / file %s", g.Resumed, g.Bytes, g.SHA256, fileSHA(t, dst))
	require.Equal(t, sha(data), g.SHA256, "resumed %d, bytes %d, sha %s / file %s", g.Resumed, g.Bytes, g.SHA256, fileSHA(t, dst))
	require.Equal(t, sha(data), fileSHA(t, dst), "resumed %d, bytes %d, sha %s / file %s", g.Resumed, g.Bytes, g.SHA256, fileSHA(t, dst))
	assert.True(t, slices.Equal(g.Verified, []string{"size", "crc64nvme", "sha256"}), "verified %v", g.Verified)
	assert.False(t, first.Done != g.Resumed || first.Total != int64(len(data)), "first progress report %+v", first)
	assert.LessOrEqual(t, call.Result.BytesIn, int64(len(data))-g.Resumed+64<<10, "resumed download read %d bytes from the network", call.Result.BytesIn)
	for _, rec := range proxy.Requests()[before:] {
		if rec.Method == "GET" && rec.Query.Get("x-id") == "" {
			assert.NotEqual(t, 200, rec.Status, "the resumed download fetched the whole object again")
		}
	}
	left, _ := filepath.Glob(dst + ".part-*")
	assert.LessOrEqual(t, len(left), 0, "partial files left: %v", left)

	// A partial that already holds the whole object (a crash between the
	// last write and the rename) is verified and moved into place without
	// downloading anything.
	st := mustDo[*messages.StatObjectResponse](e, &messages.StatObjectRequest{Bucket: e.bucket, Object: "model.bin"})
	_ = os.Remove(dst)
	require.NoError(t, os.WriteFile(partialPath(dst, e.bucket, "model.bin", st.Object.ETag), data, 0o644))
	before = len(proxy.Requests())
	g = mustDo[*messages.GetObjectResponse](e, req())
	require.Equal(t, int64(len(data)), g.Resumed, "complete partial: resumed %d sha %s", g.Resumed, g.SHA256)
	require.Equal(t, sha(data), fileSHA(t, dst), "complete partial: resumed %d sha %s", g.Resumed, g.SHA256)
	require.Equal(t, sha(data), g.SHA256, "complete partial: resumed %d sha %s", g.Resumed, g.SHA256)
	for _, rec := range proxy.Requests()[before:] {
		assert.NotEqual(t, "GET", rec.Method, "a complete partial was downloaded again: %s %s", rec.Method, rec.Path)
	}

	// Cut again, then replace the object: the partial belongs to the old
	// version and is dropped.
	_ = os.Remove(dst)
	proxy.Inject(s3test.Fault{Method: "GET", Times: 1, CutResponseAfter: 1 << 20})
	_, _, err = e.do(req())
	require.Error(t, err, "the cut download succeeded")
	data2 := randomBytes(6<<20, 14)
	_, err = e.direct.PutObject(context.Background(), e.bucket, "model.bin", bytes.NewReader(data2), int64(len(data2)), minio.PutObjectOptions{})
	require.NoError(t, err)
	g = mustDo[*messages.GetObjectResponse](e, req())
	require.Equal(t, int64(0), g.Resumed, "download after the object changed: resumed %d, sha %s", g.Resumed, g.SHA256)
	require.Equal(t, "", g.SHA256, "download after the object changed: resumed %d, sha %s", g.Resumed, g.SHA256)
	require.Equal(t, sha(data2), fileSHA(t, dst), "download after the object changed: resumed %d, sha %s", g.Resumed, g.SHA256)
	left, _ = filepath.Glob(dst + ".part-*")
	assert.LessOrEqual(t, len(left), 0, "partial files left: %v", left)
}

// TestProgress: callbacks and stream chunks report a transfer in order, up
// to a final report with Done == Total.
func TestProgress(t *testing.T) {
	e := newEnv(t)
	data := randomBytes(12<<20, 15)
	for _, op := range []string{"put", "get"} {
		var reports []messages.ObjectProgress
		var chunks []*messages.StreamChunk
		var req messages.Request
		if op == "put" {
			req = &messages.PutObjectRequest{Bucket: e.bucket, Object: "p", Body: bytes.NewReader(data), PartSize: 5 << 20, Stream: true,
				OnProgress: func(p messages.ObjectProgress) { reports = append(reports, p) }}
		} else {
			req = &messages.GetObjectRequest{Bucket: e.bucket, Object: "p", Writer: io.Discard, Stream: true,
				OnProgress: func(p messages.ObjectProgress) { reports = append(reports, p) }}
		}
		call := e.call(req, e.srv.Credential())
		call.Emit = func(c *messages.StreamChunk) bool { chunks = append(chunks, c); return true }
		_, err := e.a.Do(context.Background(), call)
		require.NoError(t, err, "%s: %v", op, err)
		require.GreaterOrEqual(t, len(reports), 5, "%s: %d reports, %d chunks", op, len(reports), len(chunks))
		require.LessOrEqual(t, len(reports), 110, "%s: %d reports, %d chunks", op, len(reports), len(chunks))
		require.Len(t, reports, len(chunks), "%s: %d reports, %d chunks", op, len(reports), len(chunks))
		for i, p := range reports {
			require.Equal(t, int64(len(data)), p.Total, "%s report %d: %+v", op, i, p)
			require.Equal(t, "p", p.Object, "%s report %d: %+v", op, i, p)
			require.Equal(t, 1, p.Attempt, "%s report %d: %+v", op, i, p)
			require.Equal(t, "primary", p.Endpoint, "%s report %d: %+v", op, i, p)
			require.False(t, i > 0 && p.Done < reports[i-1].Done, "%s report %d: %+v", op, i, p)
			c := chunks[i]
			require.Equal(t, messages.ChunkProgress, c.Type, "%s chunk %d: %+v", op, i, c)
			require.Equal(t, i, c.Seq, "%s chunk %d: %+v", op, i, c)
			require.Equal(t, call.RequestID, c.RequestID, "%s chunk %d: %+v", op, i, c)
			require.True(t, *c.Progress == p, "%s chunk %d: %+v", op, i, c)
		}
		last := reports[len(reports)-1]
		assert.True(t, last.Final, "%s: first %+v, last %+v", op, reports[0], last)
		assert.Equal(t, int64(len(data)), last.Done, "%s: first %+v, last %+v", op, reports[0], last)
		assert.Equal(t, int64(0), reports[0].Done, "%s: first %+v, last %+v", op, reports[0], last)
		assert.False(t, reports[0].Final, "%s: first %+v, last %+v", op, reports[0], last)
		assert.Equal(t, 0, call.Result.ChunksSent, "progress chunks counted as answer chunks (%d): a retry would be refused", call.Result.ChunksSent)
	}
}

// TestCheck rejects malformed requests before anything is queued.
func TestCheck(t *testing.T) {
	a := New()
	long := strings.Repeat("k", 1025)
	for _, tc := range []struct {
		req  messages.Request
		kind error
	}{
		{&messages.ChatRequest{}, messages.ErrUnsupported},
		{(*messages.PutObjectRequest)(nil), messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "ab", Object: "k", Body: strings.NewReader("")}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "", Body: strings.NewReader("")}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: long, Body: strings.NewReader("")}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k"}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", Body: strings.NewReader(""), File: "/x"}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", File: "/x", PartSize: 1 << 20}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", File: "/x", Concurrency: -1}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", File: "/x", SHA256: "abc"}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", File: "/x", Metadata: map[string]string{"Content-Type": "x"}}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", File: "/x", Metadata: map[string]string{"bad key": "x"}}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", File: "/x", Metadata: map[string]string{"k": "a\nb"}}, messages.ErrInvalidRequest},
		{&messages.PutObjectRequest{Bucket: "bucket", Object: "k", File: "/x", SHA256: sha(nil), Metadata: map[string]string{"SHA256": "x"}}, messages.ErrInvalidRequest},
		{&messages.GetObjectRequest{Bucket: "bucket", Object: "k"}, messages.ErrInvalidRequest},
		{&messages.GetObjectRequest{Bucket: "bucket", Object: "k", File: "/x", Writer: io.Discard}, messages.ErrInvalidRequest},
		{&messages.GetObjectRequest{Bucket: "bucket", Object: "k", File: "/x", Offset: -1}, messages.ErrInvalidRequest},
		{&messages.GetObjectRequest{Bucket: "bucket", Object: "k", File: "/x", Offset: 5, SHA256: sha(nil)}, messages.ErrInvalidRequest},
		{&messages.ListObjectsRequest{Bucket: "bucket", MaxKeys: 1001}, messages.ErrInvalidRequest},
		{&messages.DeleteObjectsRequest{Bucket: "bucket"}, messages.ErrInvalidRequest},
		{&messages.DeleteObjectsRequest{Bucket: "bucket", Objects: []string{"a", ""}}, messages.ErrInvalidRequest},
		{&messages.CopyObjectRequest{SrcBucket: "bucket", SrcObject: "a", DstBucket: "bucket"}, messages.ErrInvalidRequest},
		{&messages.PresignRequest{Method: "DELETE", Bucket: "bucket", Object: "k"}, messages.ErrInvalidRequest},
		{&messages.PresignRequest{Bucket: "bucket", Object: "k", Expires: 8 * 24 * time.Hour}, messages.ErrInvalidRequest},
		{&messages.MakeBucketRequest{Bucket: "Bad_Bucket!"}, messages.ErrInvalidRequest},
		{&messages.BucketExistsRequest{}, messages.ErrInvalidRequest},
	} {
		err := a.Check(tc.req)
		assert.ErrorIs(t, err, tc.kind, "Check(%T %+v) = %v, want %v", tc.req, tc.req, err, tc.kind)
	}
	for _, ok := range []messages.Request{
		&messages.PutObjectRequest{Bucket: "bucket", Object: "a/b c/ü.bin", File: "/x", PartSize: 5 << 20, SHA256: sha(nil), Metadata: map[string]string{"model": "x"}},
		&messages.GetObjectRequest{Bucket: "bucket", Object: "k", Writer: io.Discard, Offset: 10, Length: 5},
		&messages.ListObjectsRequest{Bucket: "bucket", Prefix: "a/", Delimiter: "/"},
		&messages.DeleteObjectsRequest{Bucket: "bucket", Objects: []string{"a", "b"}},
		&messages.PresignRequest{Method: "put", Bucket: "bucket", Object: "k"},
		&messages.MakeBucketRequest{Bucket: "bucket"},
		&messages.StatObjectRequest{Bucket: "bucket", Object: "k"},
	} {
		err := a.Check(ok)
		assert.NoError(t, err, "Check(%T %+v) = %v", ok, ok, err)
	}
}
