package s3

import (
	"bytes"
	"context"
	"errors"
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
)

func wantIntegrity(t *testing.T, what string, err error, code string) *messages.UpstreamError {
	t.Helper()
	var ue *messages.UpstreamError
	var oe *messages.ObjectError
	if !errors.Is(err, messages.ErrIntegrity) || !errors.As(err, &ue) || !errors.As(err, &oe) || oe.Code != code {
		t.Fatalf("%s: %v, want an integrity error %s", what, err, code)
	}
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
			if ue.Class != messages.ClassInvalid || ue.Retryable() {
				t.Errorf("class %s retryable %v, want ClassInvalid, final", ue.Class, ue.Retryable())
			}
			if e.exists("bad") {
				t.Fatalf("an upload that failed its integrity check is visible")
			}
			if ids := e.incomplete(); len(ids) > 0 {
				t.Fatalf("incomplete uploads left: %v", ids)
			}
		})
	}
	// Exactly Size bytes are read from a longer body.
	p := mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "prefix", Body: onlyReader{bytes.NewReader(small)}, Size: 1000})
	if p.Size != 1000 || p.SHA256 != sha(small[:1000]) {
		t.Errorf("put of the first 1000 bytes: %+v", p)
	}
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
	if ue.Retryable() {
		t.Errorf("a get into a writer that failed verification must not be retried")
	}

	// Bit rot on the server's disk: versitygw serves the file as it is now,
	// with the checksum it stored at upload time.
	path := filepath.Join(e.srv.Dir, e.bucket, "rot")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("object file: %v", err)
	}
	raw[1234] ^= 0x40
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "rot")
	_, _, err = e.do(&messages.GetObjectRequest{Bucket: e.bucket, Object: "rot", File: dst})
	ue = wantIntegrity(t, "get of a rotten object", err, messages.CodeChecksumMismatch)
	if ue.Class != messages.ClassServer || !ue.Retryable() {
		t.Errorf("class %s retryable %v; want ClassServer, retryable (another replica may be sound)", ue.Class, ue.Retryable())
	}
	if left, _ := filepath.Glob(dst + "*"); len(left) > 0 {
		t.Errorf("failed download left %v", left)
	}

	// Stored sha256 metadata is checked without the caller asking.
	copyReq := &messages.CopyObjectRequest{SrcBucket: e.bucket, SrcObject: "rot", DstBucket: e.bucket, DstObject: "rot-claims-good",
		Metadata: map[string]string{MetaSHA256: sha(data)}}
	if _, _, err := e.do(copyReq); err != nil {
		t.Fatal(err)
	}
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
	if !errors.As(err, &ue) || ue.Class != messages.ClassConnection || !ue.Retryable() {
		t.Fatalf("cut download: %v", err)
	}
	parts, _ := filepath.Glob(dst + ".part-*")
	if len(parts) != 1 {
		t.Fatalf("partial files %v", parts)
	}
	if fi, _ := os.Stat(parts[0]); fi.Size() != 3<<20+17 {
		t.Fatalf("partial holds %d bytes", fi.Size())
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatalf("the destination exists before the download finished")
	}

	var first messages.ObjectProgress
	r := req()
	r.OnProgress = func(p messages.ObjectProgress) {
		if first.Operation == "" {
			first = p
		}
	}
	before := len(proxy.Requests())
	resp, call, err := e.do(r)
	if err != nil {
		t.Fatalf("resumed download: %v", err)
	}
	g := resp.(*messages.GetObjectResponse)
	if g.Resumed != 3<<20+17 || g.Bytes != int64(len(data)) || g.SHA256 != sha(data) || fileSHA(t, dst) != sha(data) {
		t.Fatalf("resumed %d, bytes %d, sha %s / file %s", g.Resumed, g.Bytes, g.SHA256, fileSHA(t, dst))
	}
	if !slices.Equal(g.Verified, []string{"size", "crc64nvme", "sha256"}) {
		t.Errorf("verified %v", g.Verified)
	}
	if first.Done != g.Resumed || first.Total != int64(len(data)) {
		t.Errorf("first progress report %+v", first)
	}
	if call.Result.BytesIn > int64(len(data))-g.Resumed+64<<10 {
		t.Errorf("resumed download read %d bytes from the network", call.Result.BytesIn)
	}
	for _, rec := range proxy.Requests()[before:] {
		if rec.Method == "GET" && rec.Query.Get("x-id") == "" && rec.Status == 200 {
			t.Errorf("the resumed download fetched the whole object again")
		}
	}
	if left, _ := filepath.Glob(dst + ".part-*"); len(left) > 0 {
		t.Errorf("partial files left: %v", left)
	}

	// A partial that already holds the whole object (a crash between the
	// last write and the rename) is verified and moved into place without
	// downloading anything.
	st := mustDo[*messages.StatObjectResponse](e, &messages.StatObjectRequest{Bucket: e.bucket, Object: "model.bin"})
	_ = os.Remove(dst)
	if err := os.WriteFile(partialPath(dst, e.bucket, "model.bin", st.Object.ETag), data, 0o644); err != nil {
		t.Fatal(err)
	}
	before = len(proxy.Requests())
	g = mustDo[*messages.GetObjectResponse](e, req())
	if g.Resumed != int64(len(data)) || fileSHA(t, dst) != sha(data) || g.SHA256 != sha(data) {
		t.Fatalf("complete partial: resumed %d sha %s", g.Resumed, g.SHA256)
	}
	for _, rec := range proxy.Requests()[before:] {
		if rec.Method == "GET" {
			t.Errorf("a complete partial was downloaded again: %s %s", rec.Method, rec.Path)
		}
	}

	// Cut again, then replace the object: the partial belongs to the old
	// version and is dropped.
	_ = os.Remove(dst)
	proxy.Inject(s3test.Fault{Method: "GET", Times: 1, CutResponseAfter: 1 << 20})
	if _, _, err := e.do(req()); err == nil {
		t.Fatal("the cut download succeeded")
	}
	data2 := randomBytes(6<<20, 14)
	if _, err := e.direct.PutObject(context.Background(), e.bucket, "model.bin", bytes.NewReader(data2), int64(len(data2)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	g = mustDo[*messages.GetObjectResponse](e, req())
	if g.Resumed != 0 || g.SHA256 != "" || fileSHA(t, dst) != sha(data2) {
		t.Fatalf("download after the object changed: resumed %d, sha %s", g.Resumed, g.SHA256)
	}
	if left, _ := filepath.Glob(dst + ".part-*"); len(left) > 0 {
		t.Errorf("partial files left: %v", left)
	}
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
		if _, err := e.a.Do(context.Background(), call); err != nil {
			t.Fatalf("%s: %v", op, err)
		}
		if len(reports) < 5 || len(reports) > 110 || len(chunks) != len(reports) {
			t.Fatalf("%s: %d reports, %d chunks", op, len(reports), len(chunks))
		}
		for i, p := range reports {
			if p.Total != int64(len(data)) || p.Object != "p" || p.Attempt != 1 || p.Endpoint != "primary" || (i > 0 && p.Done < reports[i-1].Done) {
				t.Fatalf("%s report %d: %+v", op, i, p)
			}
			c := chunks[i]
			if c.Type != messages.ChunkProgress || c.Seq != i || c.RequestID != call.RequestID || *c.Progress != p {
				t.Fatalf("%s chunk %d: %+v", op, i, c)
			}
		}
		last := reports[len(reports)-1]
		if !last.Final || last.Done != int64(len(data)) || reports[0].Done != 0 || reports[0].Final {
			t.Errorf("%s: first %+v, last %+v", op, reports[0], last)
		}
		if call.Result.ChunksSent != 0 {
			t.Errorf("progress chunks counted as answer chunks (%d): a retry would be refused", call.Result.ChunksSent)
		}
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
		if !errors.Is(err, tc.kind) {
			t.Errorf("Check(%T %+v) = %v, want %v", tc.req, tc.req, err, tc.kind)
		}
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
		if err := a.Check(ok); err != nil {
			t.Errorf("Check(%T %+v) = %v", ok, ok, err)
		}
	}
}
