package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"
)

// The demo's object store: one local versitygw server (built by `make
// tools`) holding "model files", with an upload always in flight so the
// view shows a transfer's progress. Without the binary the demo runs
// without it.

const (
	demoBucket     = "models"
	demoUploadSize = 48 << 20
	demoUploadRate = 24 << 20 // bytes per second, so an upload is visible
)

// objectStore is the running server and its uploader's state.
type objectStore struct {
	srv *s3test.Server

	mu      sync.Mutex
	current messages.ObjectProgress
	active  bool
	started time.Time
	last    string
	done    int
	failed  int
	wg      sync.WaitGroup
}

// startObjectStore launches versitygw, or returns nil and why not.
func startObjectStore() (*objectStore, error) {
	bin, err := s3test.BinaryPath()
	if err != nil {
		return nil, err
	}
	srv, err := s3test.Launch(bin, s3test.Options{})
	if err != nil {
		return nil, err
	}
	return &objectStore{srv: srv}, nil
}

// provider is the object store's provider config.
func (o *objectStore) provider() switchyard.ProviderConfig {
	return switchyard.ProviderConfig{Name: "s3", Kind: "s3", Endpoints: []switchyard.EndpointConfig{{
		Name: "primary", BaseURL: o.srv.URL, Keys: []switchyard.KeyConfig{{Label: "store-1", Secret: o.srv.Credential()}}}}}
}

// start uploads model files one after another until ctx ends.
func (o *objectStore) start(ctx context.Context, sy *switchyard.Switchyard) {
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
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

func (o *objectStore) upload(ctx context.Context, sy *switchyard.Switchyard, n int) {
	name := fmt.Sprintf("llama-demo-%03d.safetensors", n)
	body := &pacedReader{r: io.LimitReader(chacha(uint64(n)), demoUploadSize), rate: demoUploadRate, start: time.Now()}
	o.mu.Lock()
	o.active, o.started = true, time.Now()
	o.current = messages.ObjectProgress{Object: name, Total: demoUploadSize}
	o.mu.Unlock()
	st, err := sy.PutObjectStream(ctx, &messages.PutObjectRequest{Call: messages.Call{Provider: "s3", Priority: messages.Low},
		Bucket: demoBucket, Object: name, Body: body, Size: demoUploadSize, PartSize: 8 << 20, Concurrency: 2})
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

// stop waits for the uploader and stops the server.
func (o *objectStore) stop() {
	if o == nil {
		return
	}
	o.wg.Wait()
	_ = o.srv.Close()
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
