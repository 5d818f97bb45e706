package s3test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fault is what the Proxy does to the requests it matches, instead of (or
// while) forwarding them.
type Fault struct {
	// Method, Query and PathPrefix select requests: the method, a query
	// parameter that must be present (e.g. "uploads", "uploadId",
	// "partNumber", "delete"), a path prefix ("/bucket/key"). Empty matches
	// all. NoQuery requires a request without any query parameter.
	Method     string
	Query      string
	NoQuery    bool
	PathPrefix string
	// Skip lets the first Skip matching requests through; Times then
	// applies the fault that many times (0: every time).
	Skip  int
	Times int

	// Status answers without forwarding, with an S3 <Error> body of Code
	// and Message (even for a 200: the "200 with an error" answer of
	// CompleteMultipartUpload and CopyObject) and Header.
	Status  int
	Code    string
	Message string
	Header  http.Header
	// Body, when set, is sent instead of the <Error> document.
	Body string
	// Delay holds the request this long before acting on it.
	Delay time.Duration
	// CutResponseAfter, when positive, forwards the request, then drops the
	// connection after this many bytes of the answer's body.
	CutResponseAfter int64
	// StallResponseAfter, when positive, forwards the request, then stops
	// sending after this many bytes of the answer's body, holding the
	// connection open until the client gives up.
	StallResponseAfter int64
	// CutRequestAfter, when positive, reads this many bytes of the request
	// body, then drops the connection without forwarding.
	CutRequestAfter int64

	seen, applied int
}

// Record is one request the Proxy saw.
type Record struct {
	Method    string
	Path      string
	Query     url.Values
	RequestID string
	Status    int
	Faulted   bool
}

// Proxy is a reverse proxy in front of an S3 server that injects faults and
// records requests. The Host header is passed through, so SigV4 signatures
// made for the proxy's address verify at the server.
type Proxy struct {
	URL    string
	target *url.URL
	srv    *httptest.Server
	rp     *httputil.ReverseProxy
	tr     *http.Transport

	mu      sync.Mutex
	faults  []*Fault
	records []Record
}

// NewProxy starts a proxy to target (a base URL) and closes it in
// t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("s3test: proxy target: %v", err)
	}
	// No keep-alive towards the server: a request the proxy cuts mid-body
	// leaves the server answering 400 on that connection, which a pooled
	// connection would log as an unsolicited response.
	p := &Proxy{target: u, tr: &http.Transport{DisableKeepAlives: true}}
	p.rp = &httputil.ReverseProxy{
		Director: func(r *http.Request) {
			r.URL.Scheme, r.URL.Host = u.Scheme, u.Host
		},
		Transport:     p.tr,
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			w.WriteHeader(http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy and drops its connections.
func (p *Proxy) Close() {
	p.srv.CloseClientConnections()
	p.srv.Close()
	p.tr.CloseIdleConnections()
}

// Inject adds a fault; faults are tried in the order added.
func (p *Proxy) Inject(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ff := f
	p.faults = append(p.faults, &ff)
}

// Clear removes every fault.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = nil
}

// Requests returns what the proxy saw so far.
func (p *Proxy) Requests() []Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Record(nil), p.records...)
}

func (f *Fault) matches(r *http.Request) bool {
	if f.Method != "" && !strings.EqualFold(f.Method, r.Method) {
		return false
	}
	q := r.URL.Query()
	if f.Query != "" && !q.Has(f.Query) {
		return false
	}
	if f.NoQuery && len(q) > 0 {
		return false
	}
	return f.PathPrefix == "" || strings.HasPrefix(r.URL.Path, f.PathPrefix)
}

func (p *Proxy) pick(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range p.faults {
		if !f.matches(r) {
			continue
		}
		f.seen++
		if f.seen <= f.Skip || (f.Times > 0 && f.applied >= f.Times) {
			continue
		}
		f.applied++
		c := *f
		return &c
	}
	return nil
}

func (p *Proxy) record(r *http.Request, status int, faulted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.records = append(p.records, Record{Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(),
		RequestID: r.Header.Get("X-Request-ID"), Status: status, Faulted: faulted})
}

type statusWriter struct {
	http.ResponseWriter
	status  int
	written int64
	cut     int64
	// stall, when set, makes the cut a stall until it is closed.
	stall <-chan struct{}
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if w.cut >= 0 && w.written+int64(len(b)) > w.cut {
		keep := w.cut - w.written
		if keep > 0 {
			_, _ = w.ResponseWriter.Write(b[:keep])
		}
		if fl, ok := w.ResponseWriter.(http.Flusher); ok {
			fl.Flush()
		}
		if w.stall != nil {
			<-w.stall
		}
		panic(http.ErrAbortHandler) // drops the connection mid-body
	}
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) Flush() {
	if fl, ok := w.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	f := p.pick(r)
	if f == nil {
		sw := &statusWriter{ResponseWriter: w, cut: -1}
		defer func() { p.record(r, sw.status, false) }()
		p.rp.ServeHTTP(sw, r)
		return
	}
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			p.record(r, 0, true)
			return
		}
	}
	switch {
	case f.CutRequestAfter > 0:
		_, _ = io.CopyN(io.Discard, r.Body, f.CutRequestAfter)
		p.record(r, 0, true)
		panic(http.ErrAbortHandler)
	case f.Status != 0:
		_, _ = io.Copy(io.Discard, r.Body)
		for k, vs := range f.Header {
			w.Header()[k] = vs
		}
		w.Header().Set("Content-Type", "application/xml")
		w.Header().Set("X-Amz-Request-Id", "FAULT-"+fmt.Sprint(time.Now().UnixNano()))
		w.WriteHeader(f.Status)
		var b bytes.Buffer
		if f.Body != "" {
			b.WriteString(f.Body)
		} else {
			b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
			fmt.Fprintf(&b, "<Error><Code>%s</Code><Message>%s</Message><RequestId>fault</RequestId></Error>", f.Code, f.Message)
		}
		if r.Method != http.MethodHead {
			_, _ = w.Write(b.Bytes())
		}
		p.record(r, f.Status, true)
	case f.StallResponseAfter > 0:
		sw := &statusWriter{ResponseWriter: w, cut: f.StallResponseAfter, stall: r.Context().Done()}
		defer func() { p.record(r, sw.status, true) }()
		p.rp.ServeHTTP(sw, r)
	case f.CutResponseAfter > 0:
		sw := &statusWriter{ResponseWriter: w, cut: f.CutResponseAfter}
		defer func() { p.record(r, sw.status, true) }()
		p.rp.ServeHTTP(sw, r)
	default:
		sw := &statusWriter{ResponseWriter: w, cut: -1}
		defer func() { p.record(r, sw.status, true) }()
		p.rp.ServeHTTP(sw, r)
	}
}
