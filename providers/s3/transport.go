package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/providers"
)

// callTransport is the http.RoundTripper of one call's minio-go client. It
// wraps the shared transport and, for every HTTP request minio-go makes:
//   - sets X-Request-ID and the endpoint's configured headers (unsigned);
//   - runs the request under the call's context when minio-go gave it an
//     uncancellable one (Core.ListObjectsV2 does);
//   - bounds the wait for response headers after the body was sent
//     (Client.HeaderTimeout) and the gaps between body reads in either
//     direction (Client.IdleTimeout), cancelling a request that stalls;
//   - counts body bytes in and out, and keeps the last status,
//     x-amz-request-id and Retry-After.
//
// It is safe for concurrent use by the parallel part uploads of one call.
type callTransport struct {
	base          http.RoundTripper
	ctx           context.Context
	requestID     string
	headers       map[string]string
	headerTimeout time.Duration
	idleTimeout   time.Duration
	now           func() time.Time

	bytesIn, bytesOut atomic.Int64

	mu         sync.Mutex
	status     int
	upstreamID string
	retryAfter time.Duration
	stalled    string
}

func newCallTransport(ctx context.Context, call *providers.Call) *callTransport {
	client := call.Client
	if client == nil {
		client = &providers.Client{}
	}
	var base http.RoundTripper = http.DefaultTransport
	if client.HTTP != nil && client.HTTP.Transport != nil {
		base = client.HTTP.Transport
	}
	headerTimeout := client.HeaderTimeout
	if headerTimeout <= 0 {
		headerTimeout = providers.DefaultHeaderTimeout
	}
	return &callTransport{
		base: base, ctx: ctx, requestID: call.RequestID, headers: call.Headers,
		headerTimeout: headerTimeout, idleTimeout: client.IdleTimeoutOrDefault(), now: time.Now,
	}
}

// RoundTrip implements http.RoundTripper.
func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	parent := req.Context()
	if parent.Done() == nil {
		parent = t.ctx
	}
	ctx, cancel := context.WithCancel(parent)
	r := req.Clone(ctx)
	if t.requestID != "" {
		r.Header.Set("X-Request-ID", t.requestID)
	}
	for k, v := range t.headers {
		if r.Header.Get(k) == "" && !signedHeader(k) {
			r.Header.Set(k, v)
		}
	}
	w := newWatchdog(t, cancel)
	bt, _ := req.Context().Value(bodyTrackerKey{}).(*bodyTracker)
	if r.Body != nil && r.Body != http.NoBody {
		w.arm(t.idleTimeout, fmt.Sprintf("request body not consumed for %s", t.idleTimeout))
		r.Body = newOutBody(r.Body, t, w, bt)
		if getBody := req.GetBody; getBody != nil {
			r.GetBody = func() (io.ReadCloser, error) {
				b, err := getBody()
				if err != nil || b == nil || b == http.NoBody {
					return b, err
				}
				return newOutBody(b, t, w, bt), nil
			}
		}
	} else {
		w.awaitHeaders()
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		w.stop()
		cancel()
		return nil, err
	}
	w.arm(t.idleTimeout, fmt.Sprintf("response body idle for %s", t.idleTimeout))
	t.observe(r, resp)
	resp.Body = &inBody{ReadCloser: resp.Body, t: t, w: w, cancel: cancel}
	return resp, nil
}

// signedHeader reports headers an endpoint's configuration must not
// override: they are part of the SigV4 signature or the transfer itself.
func signedHeader(k string) bool {
	k = strings.ToLower(k)
	switch k {
	case "authorization", "host", "content-length", "content-type", "content-md5", "content-encoding", "x-request-id":
		return true
	}
	return strings.HasPrefix(k, "x-amz-")
}

// observe keeps what a response tells about the call.
func (t *callTransport) observe(r *http.Request, resp *http.Response) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.status = resp.StatusCode
	if id := resp.Header.Get("X-Amz-Request-Id"); id != "" {
		t.upstreamID = id
	} else if id := providers.UpstreamRequestID(resp.Header); id != "" {
		t.upstreamID = id
	}
	if resp.StatusCode >= 400 {
		if d := providers.RetryAfter(resp.Header, t.now()); d > t.retryAfter {
			t.retryAfter = d
		}
	}
}

func (t *callTransport) stallReason() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stalled
}

// watchdog cancels one HTTP request that stalls: while its body is sent,
// while it waits for headers, and while its answer is read.
type watchdog struct {
	t      *callTransport
	cancel context.CancelFunc
	mu     sync.Mutex
	timer  *time.Timer
	d      time.Duration
	reason string
	done   bool
}

func newWatchdog(t *callTransport, cancel context.CancelFunc) *watchdog {
	return &watchdog{t: t, cancel: cancel}
}

// arm (re)starts the countdown with d and the reason to report if it fires.
func (w *watchdog) arm(d time.Duration, reason string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done {
		return
	}
	w.d, w.reason = d, reason
	if w.timer == nil {
		w.timer = time.AfterFunc(d, w.fire)
		return
	}
	w.timer.Reset(d)
}

// kick restarts the current countdown after progress.
func (w *watchdog) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.timer == nil {
		return
	}
	w.timer.Reset(w.d)
}

// awaitHeaders switches to the header timeout once the body is sent.
func (w *watchdog) awaitHeaders() {
	w.arm(w.t.headerTimeout, fmt.Sprintf("no response headers within %s", w.t.headerTimeout))
}

func (w *watchdog) fire() {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.done = true
	reason := w.reason
	w.mu.Unlock()
	w.t.mu.Lock()
	if w.t.stalled == "" {
		w.t.stalled = reason
	}
	w.t.mu.Unlock()
	w.cancel()
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// outBody counts a request body and feeds the watchdog; its Close tells a
// bodyTracker the transport is done with it.
type outBody struct {
	io.ReadCloser
	t      *callTransport
	w      *watchdog
	bt     *bodyTracker
	sent   atomic.Bool
	closed sync.Once
}

func newOutBody(rc io.ReadCloser, t *callTransport, w *watchdog, bt *bodyTracker) *outBody {
	if bt != nil {
		bt.wg.Add(1)
	}
	return &outBody{ReadCloser: rc, t: t, w: w, bt: bt}
}

func (b *outBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.t.bytesOut.Add(int64(n))
		b.w.kick()
	}
	if err == io.EOF && b.sent.CompareAndSwap(false, true) {
		b.w.awaitHeaders()
	}
	return n, err
}

func (b *outBody) Close() error {
	if b.sent.CompareAndSwap(false, true) {
		b.w.awaitHeaders()
	}
	err := b.ReadCloser.Close()
	b.closed.Do(func() {
		if b.bt != nil {
			b.bt.wg.Done()
		}
	})
	return err
}

// bodyTracker waits for the transport to close the request bodies of the
// requests made with its context. http.RoundTripper may go on reading a
// body after RoundTrip returned (an answer that came before the body was
// sent); a part buffer must not be reused or unmapped, nor a source read
// by a retry, before that is over. The transport cancels such a request
// once its answer is closed, so the wait is short.
type bodyTracker struct{ wg sync.WaitGroup }

type bodyTrackerKey struct{}

// trackBodies returns a context whose requests' bodies bt.wait waits for.
func trackBodies(ctx context.Context) (context.Context, *bodyTracker) {
	bt := &bodyTracker{}
	return context.WithValue(ctx, bodyTrackerKey{}, bt), bt
}

func (bt *bodyTracker) wait() { bt.wg.Wait() }

// inBody counts a response body, feeds the watchdog and releases the
// request's context when closed.
type inBody struct {
	io.ReadCloser
	t      *callTransport
	w      *watchdog
	cancel context.CancelFunc
	once   sync.Once
}

func (b *inBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.t.bytesIn.Add(int64(n))
		b.w.kick()
	}
	return n, err
}

func (b *inBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.w.stop()
		b.cancel()
	})
	return err
}
