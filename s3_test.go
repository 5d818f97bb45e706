package switchyard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/s3"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Until kinds.go lists "s3", the tests register it themselves.

const s3Bucket = "models"

// s3Server starts versitygw with the test bucket.
func s3Server(t testing.TB) *s3test.Server {
	t.Helper()
	srv := s3test.Start(t)
	c := s3Direct(t, srv)
	require.NoError(t, c.MakeBucket(context.Background(), s3Bucket, minio.MakeBucketOptions{}), "MakeBucket")
	return srv
}

// s3Direct is a minio-go client straight to srv, for checks behind
// Switchyard's back.
func s3Direct(t testing.TB, srv *s3test.Server) *minio.Client {
	t.Helper()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	t.Cleanup(tr.CloseIdleConnections)
	c, err := minio.New(srv.Addr, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: s3.DefaultRegion, Transport: tr, MaxRetries: 1})
	require.NoError(t, err)
	return c
}

// s3Endpoint is an endpoint config for srv (or a proxy in front of it).
func s3Endpoint(name, baseURL string, keys ...KeyConfig) EndpointConfig {
	return EndpointConfig{Name: name, BaseURL: baseURL, Keys: keys}
}

func s3Key(label string, srv *s3test.Server) KeyConfig {
	return KeyConfig{Label: label, Secret: srv.Credential()}
}

func s3Rand(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func s3SHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func s3FileSHA(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return s3SHA(b)
}

func s3WriteTemp(t testing.TB, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "src.bin")
	require.NoError(t, os.WriteFile(p, b, 0o644))
	return p
}

// s3ObjectSHA downloads an object behind Switchyard's back.
func s3ObjectSHA(t testing.TB, c *minio.Client, key string) (string, error) {
	t.Helper()
	o, err := c.GetObject(context.Background(), s3Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return "", err
	}
	defer o.Close()
	h := sha256.New()
	if _, err := io.Copy(h, o); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// TestS3ThroughTheRuntime: object operations run through the dispatcher,
// provider, breaker and key actors: request IDs reach the server on every
// HTTP request, progress streams through the facade's Stream, counters count
// the attempts, and a retryable failure is retried by the runtime with the
// file re-read.
func TestS3ThroughTheRuntime(t *testing.T) {
	srv := s3Server(t)
	proxy := s3test.NewProxy(t, srv.URL)
	h := newHarness(t, Config{
		Providers: []ProviderConfig{{Name: "store", Kind: "s3", Endpoints: []EndpointConfig{s3Endpoint("primary", proxy.URL, s3Key("k1", srv))}}},
		Retry:     RetryConfig{BaseDelay: 10 * time.Millisecond, MaxDelay: 50 * time.Millisecond},
	}, false)
	ctx := context.Background()
	data := s3Rand(11<<20, 1)
	src := s3WriteTemp(t, data)

	// A streamed put: progress chunks, then the answer.
	st, err := h.sy.stream(ctx, &messages.PutObjectRequest{Call: messages.Call{Provider: "store", RequestID: "put-1"},
		Bucket: s3Bucket, Object: "m/model.bin", File: src, PartSize: 5 << 20, Stream: true, SHA256: s3SHA(data)}, nil)
	require.NoError(t, err)
	var last *messages.ObjectProgress
	n := 0
	for st.Next() {
		c := st.Chunk()
		require.Equal(t, messages.ChunkProgress, c.Type, "chunk %+v", c)
		require.NotNil(t, c.Progress, "chunk %+v", c)
		require.Equal(t, "put-1", c.RequestID, "chunk %+v", c)
		if last != nil {
			require.GreaterOrEqual(t, c.Progress.Done, last.Done, "progress went back: %d after %d", c.Progress.Done, last.Done)
		}
		last = c.Progress
		n++
	}
	require.NoError(t, st.Err(), "put")
	put := st.Response().(*messages.PutObjectResponse)
	require.Equal(t, s3SHA(data), put.SHA256, "put answer %+v", put)
	require.Equal(t, "put-1", put.RequestID, "put answer %+v", put)
	require.Equal(t, "store", put.Provider, "put answer %+v", put)
	require.Equal(t, "primary", put.Endpoint, "put answer %+v", put)
	require.Equal(t, "k1", put.Key, "put answer %+v", put)
	require.NotEqual(t, "", put.UpstreamRequestID, "put answer %+v", put)
	require.Equal(t, 1, put.Attempts, "put answer %+v", put)
	require.True(t, put.Multipart, "put answer %+v", put)
	require.GreaterOrEqual(t, n, 3, "%d progress chunks, last %+v", n, last)
	require.NotNil(t, last, "%d progress chunks, last %+v", n, last)
	require.True(t, last.Final, "%d progress chunks, last %+v", n, last)
	require.Equal(t, int64(len(data)), last.Done, "%d progress chunks, last %+v", n, last)
	for _, r := range proxy.Requests() {
		assert.Equal(t, "put-1", r.RequestID, "%s %s carried X-Request-ID %q", r.Method, r.Path, r.RequestID)
	}

	// A get to a file, and typed not-found.
	dst := filepath.Join(t.TempDir(), "model.bin")
	resp, err := h.sy.Do(ctx, &messages.GetObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: "m/model.bin", File: dst})
	require.NoError(t, err)
	g := resp.(*messages.GetObjectResponse)
	require.Equal(t, s3SHA(data), g.SHA256, "get: %+v", g)
	require.Equal(t, s3SHA(data), s3FileSHA(t, dst), "get: %+v", g)
	require.Len(t, g.Verified, 3, "get: %+v", g)
	_, err = h.sy.Do(ctx, &messages.StatObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: "nope"})
	var ue *messages.UpstreamError
	require.ErrorIs(t, err, messages.ErrNotFound, "stat of a missing key")
	require.ErrorAs(t, err, &ue, "stat of a missing key")
	require.Equal(t, 1, ue.Attempts, "stat of a missing key")
	_, err = h.sy.Do(ctx, &messages.ListObjectsRequest{Call: messages.Call{Provider: "store"}, Bucket: "no-bucket"})
	require.ErrorIs(t, err, messages.ErrNotFound, "list of a missing bucket")
	// Pinning the API key (Call.Key, not the object's name).
	_, err = h.sy.Do(ctx, &messages.StatObjectRequest{Bucket: s3Bucket, Object: "m/model.bin"}, WithProvider("store"), WithKey("k1"))
	require.NoError(t, err, "stat pinned to k1")
	_, err = h.sy.Do(ctx, &messages.StatObjectRequest{Bucket: s3Bucket, Object: "m/model.bin"}, WithProvider("store"), WithKey("m/model.bin"))
	require.ErrorIs(t, err, messages.ErrInvalidRequest, "stat pinned to a key label that does not exist")
	// Rejected before queueing.
	_, err = h.sy.Do(ctx, &messages.GetObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: "k"})
	require.ErrorIs(t, err, messages.ErrInvalidRequest, "get without a destination")

	// The runtime retries a part that failed with SlowDown, re-reading the
	// file; a plain reader is not retried once read.
	proxy.Inject(s3test.Fault{Method: "PUT", Query: "partNumber", Skip: 1, Times: 1, Status: 503, Code: "SlowDown", Header: http.Header{"Retry-After": {"0.05"}}})
	resp, err = h.sy.Do(ctx, &messages.PutObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: "m/retried.bin", File: src, PartSize: 5 << 20})
	require.NoError(t, err, "retried put")
	p := resp.(*messages.PutObjectResponse)
	require.Equal(t, 2, p.Attempts, "retried put: %+v", p)
	// No SHA-256 asked for: the CRC-64/NVME, the same data's as the first
	// put's, is what the server confirmed.
	require.Equal(t, "", p.SHA256, "retried put: %+v", p)
	require.Equal(t, put.CRC64NVME, p.CRC64NVME, "retried put: %+v", p)
	require.Contains(t, p.Verified, "crc64nvme", "retried put: %+v", p)
	proxy.Inject(s3test.Fault{Method: "PUT", Query: "partNumber", Skip: 1, Times: 1, Status: 500, Code: "InternalError"})
	_, err = h.sy.Do(ctx, &messages.PutObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: "m/stream.bin",
		Body: struct{ io.Reader }{bytes.NewReader(data)}, PartSize: 5 << 20})
	require.ErrorAs(t, err, &ue, "put from a consumed reader")
	require.Equal(t, messages.ClassServer, ue.Class, "put from a consumed reader")
	require.Equal(t, 1, ue.Attempts, "put from a consumed reader")
	require.False(t, ue.Retryable(), "put from a consumed reader")
	_, err = h.sy.Do(ctx, &messages.StatObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: "m/stream.bin"})
	require.ErrorIs(t, err, messages.ErrNotFound, "the failed put left an object")

	tree := h.tree()
	ep := tree.Providers[0].Endpoints[0]
	assert.False(t, ep.Counters.Requests < 7 || ep.Counters.Failures["rate_limited"] != 1 || ep.Keys[0].Counters.Requests != ep.Counters.Requests, "endpoint counters %+v", ep.Counters)
	assert.NotContains(t, h.logs.String(), srv.SecretKey, "the secret reached the logs")
}

// TestS3WrongCredentials: a key the server refuses is disabled; the error
// names the endpoint and the key's label, never the secret; another key
// takes over.
func TestS3WrongCredentials(t *testing.T) {
	srv := s3Server(t)
	bad := KeyConfig{Label: "stale", Secret: srv.AccessKey + ":not-the-secret-0123456789"}
	h := newHarness(t, Config{Providers: []ProviderConfig{
		{Name: "lonely", Kind: "s3", Endpoints: []EndpointConfig{s3Endpoint("vgw", srv.URL, bad)}},
		{Name: "pair", Kind: "s3", Endpoints: []EndpointConfig{s3Endpoint("vgw", srv.URL, bad, s3Key("fresh", srv))}},
	}}, false)
	ctx := context.Background()

	_, err := h.sy.Do(ctx, &messages.StatObjectRequest{Call: messages.Call{Provider: "lonely"}, Bucket: s3Bucket, Object: "k"})
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "stat with a wrong secret")
	require.Equal(t, messages.ClassAuth, ue.Class, "stat with a wrong secret")
	require.Equal(t, "vgw", ue.Endpoint, "stat with a wrong secret")
	require.Equal(t, "stale", ue.Key, "stat with a wrong secret")
	msg := err.Error()
	require.Contains(t, msg, "vgw", "error text")
	require.Contains(t, msg, "stale", "error text")
	require.NotContains(t, msg, "not-the-secret", "error text")
	require.NotContains(t, msg, srv.SecretKey, "error text")
	_, err = h.sy.Do(ctx, &messages.StatObjectRequest{Call: messages.Call{Provider: "lonely"}, Bucket: s3Bucket, Object: "k"})
	require.ErrorIs(t, err, messages.ErrNoUsableKey, "after the key was disabled")

	for i := 0; i < 4; i++ {
		resp, err := h.sy.Do(ctx, &messages.PutObjectRequest{Call: messages.Call{Provider: "pair"}, Bucket: s3Bucket,
			Object: fmt.Sprint("p", i), Body: strings.NewReader("payload")})
		require.NoError(t, err, "put %d with a good key beside a bad one: %v", i, err)
		k := resp.(*messages.PutObjectResponse).Key
		require.Equal(t, "fresh", k, "put %d answered by key %q", i, k)
	}
	disabled := h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.KeyDisabled); return ok })
	require.Len(t, disabled, 2, "%d KeyDisabled events, want one per provider", len(disabled))
	for _, e := range disabled {
		kd := e.(*messages.KeyDisabled)
		assert.Equal(t, "vgw", kd.Endpoint, "KeyDisabled %+v", kd)
		assert.Equal(t, "stale", kd.Key, "KeyDisabled %+v", kd)
		assert.Equal(t, int(http.StatusForbidden), kd.Status, "KeyDisabled %+v", kd)
	}
	for _, p := range h.tree().Providers {
		for _, k := range p.Endpoints[0].Keys {
			want := messages.KeyStateActive
			if k.Label == "stale" {
				want = messages.KeyStateDisabled
			}
			assert.Equal(t, want, k.State, "%s/%s", p.Name, k.Label)
		}
	}
	assert.False(t, strings.Contains(h.logs.String(), "not-the-secret") || strings.Contains(h.logs.String(), srv.SecretKey), "a secret reached the logs")
}

// s3Outcome is what one operation of the failover run ended with.
type s3Outcome struct {
	op, key  string
	sha      string // of the source (put) or the seed (get)
	file     string // get destination
	endpoint string
	resumed  int64
	err      error
}

// TestS3Failover runs uploads and downloads against two versitygw servers
// holding the same seed objects and kills the first in the middle of a
// transfer. Every operation must either complete (on the survivor, once the
// first's breaker opened; downloads resume from the bytes on disk) or end in
// a typed error; afterwards every object on either server hashes to what
// was uploaded (none is corrupted or half-written), and once the first
// server is back, no incomplete multipart upload is left on either.
func TestS3Failover(t *testing.T) {
	a, b := s3Server(t), s3Server(t)
	da, db := s3Direct(t, a), s3Direct(t, b)
	const seeds = 4
	seedSHA := map[string]string{}
	for i := 0; i < seeds; i++ {
		d := s3Rand(12<<20+i*4096, uint64(100+i))
		key := fmt.Sprint("seed/", i)
		seedSHA[key] = s3SHA(d)
		for _, c := range []*minio.Client{da, db} {
			_, err := c.PutObject(context.Background(), s3Bucket, key, bytes.NewReader(d), int64(len(d)), minio.PutObjectOptions{})
			require.NoError(t, err)
		}
	}
	h := newHarness(t, Config{
		Providers: []ProviderConfig{{Name: "store", Kind: "s3", Endpoints: []EndpointConfig{
			s3Endpoint("a", a.URL, s3Key("ka", a)), s3Endpoint("b", b.URL, s3Key("kb", b))},
			Breaker: &BreakerConfig{ConsecutiveFailures: 2, Cooldown: 300 * time.Millisecond, MaxCooldown: time.Second}}},
		Retry:    RetryConfig{MaxAttempts: 6, BaseDelay: 20 * time.Millisecond, MaxDelay: 200 * time.Millisecond},
		Timeouts: TimeoutsConfig{Header: 5 * time.Second, StreamIdle: 5 * time.Second},
	}, false)
	dir := t.TempDir()
	const workers, perWorker = 4, 10
	var (
		mu       sync.Mutex
		outcomes []s3Outcome
		done     atomic.Int64
		killOnce sync.Once
		killed   = make(chan struct{})
		killedBy atomic.Value
	)
	// Once a quarter of the operations are done, the next transfer to pass
	// a quarter of its bytes on a kills a in the middle of it.
	onProgress := func(key string) messages.ProgressFunc {
		return func(p messages.ObjectProgress) {
			if done.Load() >= workers*perWorker/4 && p.Endpoint == "a" && p.Total > 0 && 4*p.Done >= p.Total && !p.Final {
				killOnce.Do(func() { killedBy.Store(key); _ = a.Stop(); close(killed) })
			}
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				var o s3Outcome
				var resp messages.Response
				var err error
				if i%2 == 0 {
					// 3 to 9 MiB: single PUTs and multipart uploads.
					d := s3Rand(3<<20+(w*perWorker+i)*150_000, uint64(w*1000+i))
					src := filepath.Join(dir, fmt.Sprintf("src-%d-%d", w, i))
					if !assert.NoError(t, os.WriteFile(src, d, 0o644)) {
						return
					}
					o = s3Outcome{op: "put", key: fmt.Sprintf("run/%d-%d", w, i), sha: s3SHA(d)}
					req := &messages.PutObjectRequest{Call: messages.Call{Provider: "store"},
						Bucket: s3Bucket, Object: o.key, File: src, PartSize: 5 << 20, OnProgress: onProgress(o.key)}
					if w == 3 {
						// A plain reader: not retried once read, so an
						// interruption ends in a typed error.
						req.File, req.Body, req.Size = "", struct{ io.Reader }{bytes.NewReader(d)}, int64(len(d))
					}
					resp, err = h.sy.Do(context.Background(), req)
				} else {
					key := fmt.Sprint("seed/", (w+i)%seeds)
					o = s3Outcome{op: "get", key: key, sha: seedSHA[key], file: filepath.Join(dir, fmt.Sprintf("dl-%d-%d", w, i))}
					resp, err = h.sy.Do(context.Background(), &messages.GetObjectRequest{Call: messages.Call{Provider: "store"},
						Bucket: s3Bucket, Object: key, File: o.file, OnProgress: onProgress(key)})
				}
				o.err = err
				if resp != nil {
					o.endpoint = resp.ResponseMeta().Endpoint
					if g, ok := resp.(*messages.GetObjectResponse); ok {
						o.resumed = g.Resumed
					}
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				done.Add(1)
			}
		}(w)
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		require.Fail(t, "the run ended before server a was stopped")
	}
	require.Len(t, outcomes, workers*perWorker, "%d outcomes for %d operations", len(outcomes), workers*perWorker)

	// Bring a back. Once its breaker lets a probe through, the first call
	// that reaches it aborts the multipart uploads it was left holding.
	require.NoError(t, a.Restart())
	leftOnA := 0
	for u := range da.ListIncompleteUploads(context.Background(), s3Bucket, "", true) {
		if u.Err == nil {
			leftOnA++
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := h.sy.Do(ctx, &messages.StatObjectRequest{Call: messages.Call{Provider: "store", Endpoint: "a"}, Bucket: s3Bucket, Object: "seed/0"})
		cancel()
		if err == nil {
			break
		}
		require.False(t, time.Now().After(deadline), "a did not come back: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	perEndpoint := map[string]int{}
	failed, resumed := 0, 0
	for _, o := range outcomes {
		if o.resumed > 0 {
			resumed++
		}
		if o.err != nil {
			failed++
			var ue *messages.UpstreamError
			var re *messages.RequestError
			var co *messages.CircuitOpenError
			if !errors.As(o.err, &ue) && !errors.As(o.err, &re) {
				assert.ErrorAs(t, o.err, &co, "%s %s: untyped error %T %v", o.op, o.key, o.err, o.err)
			}
			if o.op == "get" {
				_, err := os.Stat(o.file)
				assert.Error(t, err, "failed get %s left a file in place", o.key)
			}
			continue
		}
		perEndpoint[o.endpoint]++
		switch o.op {
		case "get":
			got := s3FileSHA(t, o.file)
			assert.Equal(t, o.sha, got, "get %s from %s: sha %s, want %s", o.key, o.endpoint, got, o.sha)
		case "put":
			c := map[string]*minio.Client{"a": da, "b": db}[o.endpoint]
			got, err := s3ObjectSHA(t, c, o.key)
			if assert.NoError(t, err, "put %s on %s: sha %s (%v), want %s", o.key, o.endpoint, got, err, o.sha) {
				assert.Equal(t, o.sha, got, "put %s on %s: sha %s (%v), want %s", o.key, o.endpoint, got, err, o.sha)
			}
		}
	}
	// Nothing on either server is corrupted or half-written: every object
	// under run/ hashes to what its put sent.
	want := map[string]string{}
	for _, o := range outcomes {
		if o.op == "put" {
			want[o.key] = o.sha
		}
	}
	orphans := 0
	for name, c := range map[string]*minio.Client{"a": da, "b": db} {
		for obj := range c.ListObjects(context.Background(), s3Bucket, minio.ListObjectsOptions{Prefix: "run/", Recursive: true}) {
			require.NoError(t, obj.Err, "list %s: %v", name, obj.Err)
			got, err := s3ObjectSHA(t, c, obj.Key)
			assert.False(t, err != nil || got != want[obj.Key], "%s holds %s with sha %s (%v), want %s", name, obj.Key, got, err, want[obj.Key])
		}
		for u := range c.ListIncompleteUploads(context.Background(), s3Bucket, "", true) {
			if u.Err == nil {
				orphans++
				assert.Fail(t, "incomplete upload", "%s holds an incomplete upload of %s", name, u.Key)
			}
		}
	}
	opened := h.eventsOf(func(e messages.Event) bool {
		bs, ok := e.(*messages.BreakerStateChanged)
		return ok && bs.Endpoint == "a" && bs.To == messages.Open
	})
	retried := h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.RequestRetried); return ok })
	t.Logf("%d operations: %d completed (%v), %d typed errors, %d retries, %d downloads resumed; a killed in the middle of %v; "+
		"a came back holding %d incomplete uploads, %d left after the first call reached it",
		len(outcomes), len(outcomes)-failed, perEndpoint, failed, len(retried), resumed, killedBy.Load(), leftOnA, orphans)
	assert.NotEqual(t, 0, len(retried), "no operation was retried: the kill interrupted nothing")
	assert.NotEqual(t, 0, len(opened), "endpoint a's breaker never opened")
	assert.NotEqual(t, 0, perEndpoint["b"], "nothing failed over to b")
}
