package s3

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"

	"github.com/stretchr/testify/require"
)

// env is one versitygw server with a bucket, and the HTTP machinery the
// calls share.
type env struct {
	t      testing.TB
	srv    *s3test.Server
	base   string // where calls go (the server, or a proxy in front)
	bucket string
	tr     *http.Transport
	client *providers.Client
	a      *Adapter
	direct *minio.Client
	n      atomic.Int64
}

func newEnv(t *testing.T) *env { return newBenchEnv(t) }

func newBenchEnv(t testing.TB) *env {
	t.Helper()
	srv := s3test.Start(t)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	e := &env{t: t, srv: srv, base: srv.URL, bucket: "models", tr: tr, client: &providers.Client{HTTP: &http.Client{Transport: tr}}, a: New()}
	var err error
	e.direct, err = minio.New(srv.Addr, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: DefaultRegion, Transport: tr, MaxRetries: 1})
	require.NoError(t, err)
	require.NoError(t, e.direct.MakeBucket(context.Background(), e.bucket, minio.MakeBucketOptions{}), "MakeBucket")
	return e
}

// proxied puts a fault-injecting proxy in front of the server for calls.
func (e *env) proxied() *s3test.Proxy {
	p := s3test.NewProxy(e.t, e.srv.URL)
	e.base = p.URL
	return p
}

// call builds a Call the way a key actor does.
func (e *env) call(req messages.Request, secret string) *providers.Call {
	id := "req-" + strconv.FormatInt(e.n.Add(1), 10)
	if ci := req.CallInfo(); ci.RequestID != "" {
		id = ci.RequestID
	}
	return &providers.Call{Request: req, RequestID: id, Attempt: 1, Provider: "s3", Endpoint: "primary",
		BaseURL: e.base, Key: providers.NewCredential("k1", secret), Client: e.client}
}

// do runs one attempt with the server's credentials.
func (e *env) do(req messages.Request) (messages.Response, *providers.Call, error) {
	return e.doWith(context.Background(), req, e.srv.Credential())
}

func (e *env) doWith(ctx context.Context, req messages.Request, secret string) (messages.Response, *providers.Call, error) {
	e.t.Helper()
	call := e.call(req, secret)
	require.NoError(e.t, e.a.Check(req), "Check(%T)", req)
	resp, err := e.a.Do(ctx, call)
	if err != nil {
		var ue *messages.UpstreamError
		require.True(e.t, asUpstream(err, &ue), "Do returned %T %v, want *UpstreamError", err, err)
	}
	return resp, call, err
}

// mustDo runs req and fails the test on error.
func mustDo[T messages.Response](e *env, req messages.Request) T {
	e.t.Helper()
	resp, _, err := e.do(req)
	require.NoError(e.t, err, "%s: %v", req.Operation(), err)
	r, ok := resp.(T)
	require.True(e.t, ok, "%s answered %T", req.Operation(), resp)
	return r
}

func asUpstream(err error, ue **messages.UpstreamError) bool {
	u, ok := err.(*messages.UpstreamError)
	if ok {
		*ue = u
	}
	return ok
}

// exists reports whether the object is visible, via the direct client.
func (e *env) exists(key string) bool {
	_, err := e.direct.StatObject(context.Background(), e.bucket, key, minio.StatObjectOptions{})
	return err == nil
}

// incomplete lists the bucket's multipart uploads still in progress.
func (e *env) incomplete() []string {
	var ids []string
	for u := range e.direct.ListIncompleteUploads(context.Background(), e.bucket, "", true) {
		require.NoError(e.t, u.Err, "ListIncompleteUploads")
		ids = append(ids, u.Key+"#"+u.UploadID)
	}
	return ids
}

// randomBytes returns n deterministic pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n - n%8; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// streamReader yields n deterministic pseudo-random bytes without holding
// them: a non-seekable source for large transfers.
type streamReader struct {
	r    *rand.Rand
	left int64
	buf  [8]byte
	have int
}

func newStreamReader(n int64, seed uint64) *streamReader {
	return &streamReader{r: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), left: n}
}

func (s *streamReader) Read(p []byte) (int, error) {
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	n := 0
	for n < len(p) {
		if s.have == 0 {
			v := s.r.Uint64()
			for j := 0; j < 8; j++ {
				s.buf[j] = byte(v >> (8 * j))
			}
			s.have = 8
		}
		c := copy(p[n:], s.buf[8-s.have:])
		s.have -= c
		n += c
	}
	s.left -= int64(n)
	return n, nil
}

// onlyReader hides every interface but io.Reader.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func fileSHA(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// writeFile writes b to a new temp file.
func writeFile(t *testing.T, b []byte) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "src-*")
	require.NoError(t, err)
	_, err = f.Write(b)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return f.Name()
}

// shortHeaders gives calls short header and idle timeouts.
func (e *env) shortTimeouts(header, idle time.Duration) {
	e.client = &providers.Client{HTTP: e.client.HTTP, HeaderTimeout: header, IdleTimeout: idle}
}
