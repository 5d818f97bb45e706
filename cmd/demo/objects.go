package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"
)

// The demo's object store: one local versitygw server holding "model
// files", with an upload always in flight so the view shows a transfer's
// progress. The demo does not wait for it: the "s3" provider points at a
// gateway on loopback from the start, and the server joins when it is
// ready — on a fresh clone `make demo` builds the binary in the background
// (a few minutes), and the demo starts it as soon as it appears.

const (
	demoBucket     = "models"
	demoUploadSize = 48 << 20
	demoUploadRate = 24 << 20 // bytes per second, so an upload is visible
)

// objectStore is the gateway, the server once it runs, and the uploader's
// state.
type objectStore struct {
	gw *gateway
	// findBinary locates versitygw.
	findBinary func() (string, error)

	mu      sync.Mutex
	srv     *s3test.Server
	waiting string
	current messages.ObjectProgress
	active  bool
	started time.Time
	last    string
	done    int
	failed  int
	wg      sync.WaitGroup
}

// startObjectStore opens the gateway the "s3" provider talks to; the server
// behind it starts later (start), once find (nil: s3test.BinaryPath) finds
// the binary.
func startObjectStore(find func() (string, error)) (*objectStore, error) {
	if find == nil {
		find = s3test.BinaryPath
	}
	gw, err := newGateway()
	if err != nil {
		return nil, fmt.Errorf("object store gateway: %w", err)
	}
	return &objectStore{gw: gw, findBinary: find, waiting: "starting"}, nil
}

// provider is the object store's provider config: the gateway, with the
// credentials every server Launch starts has.
func (o *objectStore) provider() switchyard.ProviderConfig {
	return switchyard.ProviderConfig{Name: "s3", Kind: "s3", Endpoints: []switchyard.EndpointConfig{{
		Name: "primary", BaseURL: o.gw.url, Keys: []switchyard.KeyConfig{{Label: "store-1", Secret: s3test.AccessKey + ":" + s3test.SecretKey}}}}}
}

// start waits for the server in the background, then uploads model files
// one after another until ctx ends.
func (o *objectStore) start(ctx context.Context, sy *switchyard.Switchyard) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		if !o.launch(ctx) {
			return
		}
		if _, err := sy.MakeBucket(ctx, &messages.MakeBucketRequest{Call: messages.Call{Provider: "s3"}, Bucket: demoBucket, IgnoreExisting: true}); err != nil {
			o.note(fmt.Sprintf("bucket: %v", err), false)
			return
		}
		for n := 1; ctx.Err() == nil; n++ {
			o.upload(ctx, sy, n)
			if !sleepCtx(ctx, time.Second) {
				return
			}
		}
	}()
}

// launch waits until the versitygw binary exists (polling once a second),
// starts it and points the gateway at it. It reports false if ctx ended
// first.
func (o *objectStore) launch(ctx context.Context) bool {
	for {
		bin, err := o.findBinary()
		if err == nil {
			o.setWaiting("starting versitygw")
			var srv *s3test.Server
			if srv, err = s3test.Launch(bin, s3test.Options{}); err == nil {
				o.mu.Lock()
				o.srv, o.waiting = srv, ""
				o.mu.Unlock()
				o.gw.setTarget(srv.URL)
				return true
			}
			// A binary still being written fails to start: try again.
			o.setWaiting("versitygw did not start, retrying: " + firstLine(err.Error()))
		} else {
			o.setWaiting("waiting for versitygw (`make demo` builds it in the background, log in bin/versitygw-build.log; or run `make tools`)")
		}
		if !sleepCtx(ctx, time.Second) {
			return false
		}
	}
}

func (o *objectStore) setWaiting(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waiting = s
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

func (o *objectStore) upload(ctx context.Context, sy *switchyard.Switchyard, n int) {
	name := fmt.Sprintf("llama-demo-%03d.safetensors", n)
	body := &pacedReader{r: io.LimitReader(chacha(uint64(n)), demoUploadSize), rate: demoUploadRate, start: time.Now()}
	o.mu.Lock()
	o.active, o.started = true, time.Now()
	o.current = messages.ObjectProgress{Object: name, Total: demoUploadSize}
	o.mu.Unlock()
	st, err := sy.PutObjectStream(ctx, &messages.PutObjectRequest{Call: messages.Call{Provider: "s3", Priority: messages.Low},
		Bucket: demoBucket, Object: name, Body: body, Size: demoUploadSize, PartSize: 8 << 20, Concurrency: 2,
		HashSHA256: true}) // the note below shows the SHA-256
	if err == nil {
		for st.Next() {
			if p := st.Chunk().Progress; p != nil {
				o.mu.Lock()
				o.current = *p
				o.mu.Unlock()
			}
		}
		err = st.Err()
	}
	took := time.Since(o.started).Round(100 * time.Millisecond)
	if err != nil {
		o.note(fmt.Sprintf("%s failed after %s: %v", name, took, err), false)
		return
	}
	resp := st.Response().(*messages.PutObjectResponse)
	o.note(fmt.Sprintf("%s stored and verified: %d MiB in %s, sha256 %.12s…", name, resp.Size>>20, took, resp.SHA256), true)
}

func (o *objectStore) note(s string, ok bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.active, o.last = false, s
	if ok {
		o.done++
	} else {
		o.failed++
	}
}

// line is the view's upload line.
func (o *objectStore) line() string {
	if o == nil {
		return ""
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.waiting != "" {
		return "uploads   " + o.waiting
	}
	s := fmt.Sprintf("uploads   %d stored · %d failed", o.done, o.failed)
	if o.active {
		c := o.current
		pct := 0.0
		if c.Total > 0 {
			pct = 100 * float64(c.Done) / float64(c.Total)
		}
		s += fmt.Sprintf(" · in flight %s/%s %.1f of %.1f MiB (%.0f%%) via %s, attempt %d", demoBucket, c.Object,
			float64(c.Done)/(1<<20), float64(c.Total)/(1<<20), pct, orDash(c.Endpoint), max(c.Attempt, 1))
	}
	if o.last != "" {
		s += "\n          last: " + o.last
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stop waits for the uploader and stops the server and the gateway.
func (o *objectStore) stop() {
	if o == nil {
		return
	}
	o.wg.Wait()
	o.gw.close()
	o.mu.Lock()
	srv := o.srv
	o.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// gateway is a reverse proxy on loopback in front of the versitygw server,
// so the "s3" provider has an address before the server runs. Until
// setTarget it answers 503 ServiceUnavailable (an S3 error). The Host header
// is passed through, so SigV4 signatures made for the gateway verify at the
// server.
type gateway struct {
	url    string
	target atomic.Pointer[url.URL]
	srv    *http.Server
	tr     *http.Transport
	done   chan struct{}
}

func newGateway() (*gateway, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	g := &gateway{url: "http://" + ln.Addr().String(), tr: &http.Transport{}, done: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			t := g.target.Load()
			r.URL.Scheme, r.URL.Host = t.Scheme, t.Host
		},
		Transport:     g.tr,
		FlushInterval: -1,
	}
	g.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.target.Load() == nil {
			w.Header().Set("Content-Type", "application/xml")
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>ServiceUnavailable</Code><Message>the demo's object store is starting</Message></Error>`)
			return
		}
		rp.ServeHTTP(w, r)
	})}
	go func() {
		defer close(g.done)
		if err := g.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Println("demo: object store gateway:", err)
		}
	}()
	return g, nil
}

// setTarget points the gateway at the server's base URL.
func (g *gateway) setTarget(base string) {
	if u, err := url.Parse(base); err == nil {
		g.target.Store(u)
	}
}

// close stops the gateway and waits for it.
func (g *gateway) close() {
	_ = g.srv.Close()
	<-g.done
	g.tr.CloseIdleConnections()
}

// chacha is a deterministic stream of pseudo-random bytes: model weights
// stand-ins that do not compress.
func chacha(seed uint64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	return rand.NewChaCha8(key)
}

// pacedReader yields at most rate bytes per second, so a demo upload takes
// long enough to watch.
type pacedReader struct {
	r     io.Reader
	rate  int64
	start time.Time
	n     int64
}

func (p *pacedReader) Read(b []byte) (int, error) {
	if len(b) > 256<<10 {
		b = b[:256<<10]
	}
	if due := p.start.Add(time.Duration(float64(p.n) / float64(p.rate) * float64(time.Second))); time.Until(due) > 0 {
		time.Sleep(time.Until(due))
	}
	n, err := p.r.Read(b)
	p.n += int64(n)
	return n, err
}
