package sim

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Backend is one simulated service: its auth, its error format and its
// routes. Server does everything common around it.
type Backend interface {
	// Name names the service, e.g. "openai".
	Name() string
	// Key returns the API key the request carries, "" if none.
	Key(r *http.Request) string
	// WriteError writes the service's error answer for status.
	WriteError(w http.ResponseWriter, status int, message string)
	// Serve answers a request whose key was accepted. f is the fault that
	// applies to it (never one with a Status; those are answered by Server),
	// or nil. Serve calls s.Invalid for requests it rejects as malformed.
	Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault)
}

// Verifier is a Backend whose credentials are checked against the request
// itself: a signature over the body (AWS SigV4), or bearer tokens the
// simulator issued and expires. Server calls Verify instead of Key.
type Verifier interface {
	// Verify returns the key the request authenticates as (an access key
	// ID, a token's client), or "" with the status and message the service
	// answers a refused credential with (Server writes it with WriteError).
	Verify(r *http.Request, body []byte) (key string, status int, message string)
}

// Fault is a misbehaviour to inject into matching requests.
type Fault struct {
	// Status, when non-zero, answers with this status and the service's error
	// body (or Body when set), plus Header.
	Status int
	Body   string
	Header map[string]string
	// HeaderDelay waits this long before answering at all.
	HeaderDelay time.Duration
	// ChunkDelay waits between stream events.
	ChunkDelay time.Duration
	// CutAfter closes the connection after this many stream events.
	CutAfter int
	// StallAfter stops sending, without closing, after this many events.
	StallAfter int
	// Malformed answers 200 with a body that is not valid JSON.
	Malformed bool
	// Key and Path restrict the fault to requests with this key or whose path
	// ends in Path.
	Key, Path string
	// Times is how many requests the fault applies to: 0 means once, a
	// negative number forever (until Clear).
	Times int
}

// Record is a request as the server received it.
type Record struct {
	Time      time.Time
	Method    string
	Path      string
	Query     string
	Header    http.Header
	Body      []byte
	Key       string
	RequestID string
}

// Server is a running simulator.
type Server struct {
	// URL is the base URL, http://127.0.0.1:port.
	URL string

	backend Backend
	srv     *httptest.Server

	mu       sync.Mutex
	faults   []*Fault
	keys     map[string]bool
	rejected map[string]int
	records  []Record
	hold     chan struct{}
	latency  time.Duration
	keep     bool

	calls        atomic.Int64
	invalid      atomic.Int64
	inputTokens  atomic.Int64
	outputTokens atomic.Int64
	closing      chan struct{}
	closeOnce    sync.Once
}

// Option configures a Server.
type Option func(*Server)

// WithKeys makes the server accept only these keys (401 for any other).
// Without it every non-empty key is accepted.
func WithKeys(keys ...string) Option {
	return func(s *Server) {
		for _, k := range keys {
			s.keys[k] = true
		}
	}
}

// WithLatency delays every answer by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithoutRecords stops the server from keeping request records (for
// benchmarks and long demo runs); counters still work.
func WithoutRecords() Option { return func(s *Server) { s.keep = false } }

// Start runs backend on a loopback port.
func Start(backend Backend, opts ...Option) *Server {
	s := &Server{backend: backend, keys: map[string]bool{}, rejected: map[string]int{}, keep: true, closing: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	return s
}

// Backend returns the simulated service the server runs.
func (s *Server) Backend() Backend { return s.backend }

// Handler returns the server's handler, for in-memory transports.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.handle) }

// Close stops the server, releasing held and stalled requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.Release()
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Closing is closed when Close starts; stalled handlers wait on it.
func (s *Server) Closing() <-chan struct{} { return s.closing }

// Inject queues a fault. Faults are consumed in the order injected, each by
// the first requests it matches.
func (s *Server) Inject(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fc := f
	s.faults = append(s.faults, &fc)
}

// Clear drops every queued fault and key rejection.
func (s *Server) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = nil
	s.rejected = map[string]int{}
}

// RejectKey answers every request with key with status (401 or 403).
func (s *Server) RejectKey(key string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[key] = status
}

// SetLatency changes the delay before every answer.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Hold makes every request wait, after it is recorded, until Release.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold == nil {
		s.hold = make(chan struct{})
	}
}

// Release lets held requests go on.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hold != nil {
		close(s.hold)
		s.hold = nil
	}
}

// Calls counts requests received, valid or not.
func (s *Server) Calls() int { return int(s.calls.Load()) }

// InvalidCalls counts requests the backend rejected as malformed.
func (s *Server) InvalidCalls() int { return int(s.invalid.Load()) }

// Usage returns the input and output tokens the server reported in answers.
func (s *Server) Usage() (input, output int) {
	return int(s.inputTokens.Load()), int(s.outputTokens.Load())
}

// AddUsage is called by backends when they report usage in an answer.
func (s *Server) AddUsage(input, output int) {
	s.inputTokens.Add(int64(input))
	s.outputTokens.Add(int64(output))
}

// Requests returns a copy of the records so far.
func (s *Server) Requests() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.records...)
}

// Invalid answers a malformed request with the backend's 400 (or status) and
// counts it.
func (s *Server) Invalid(w http.ResponseWriter, status int, msg string) {
	s.invalid.Add(1)
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.backend.WriteError(w, status, msg)
}

func (s *Server) takeFault(r *http.Request, key string) *Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.faults {
		if f.Key != "" && f.Key != key {
			continue
		}
		if f.Path != "" && !strings.HasSuffix(r.URL.Path, f.Path) {
			continue
		}
		out := *f
		switch {
		case f.Times < 0:
		case f.Times <= 1:
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
		default:
			f.Times--
		}
		return &out
	}
	return nil
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	s.calls.Add(1)
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<20))
	if err != nil {
		return
	}
	var key string
	refusal, refusalMsg := http.StatusUnauthorized, "invalid API key"
	if v, ok := s.backend.(Verifier); ok {
		var st int
		var msg string
		if key, st, msg = v.Verify(r, body); key == "" && st != 0 {
			refusal, refusalMsg = st, msg
		}
	} else {
		key = s.backend.Key(r)
	}
	s.mu.Lock()
	if s.keep {
		s.records = append(s.records, Record{Time: time.Now(), Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery,
			Header: r.Header.Clone(), Body: bytes.Clone(body), Key: key, RequestID: r.Header.Get("X-Request-Id")})
	}
	hold, latency := s.hold, s.latency
	rejected, known := s.rejected[key], len(s.keys) == 0 || s.keys[key]
	s.mu.Unlock()
	var f *Fault
	if key != "" && known && rejected == 0 {
		f = s.takeFault(r, key)
	}

	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	if !sleep(r, latency) {
		return
	}
	if f != nil && !sleep(r, f.HeaderDelay) {
		return
	}
	if rid := r.Header.Get("X-Request-Id"); rid != "" {
		w.Header().Set("X-Request-Id", "sim-"+rid)
	}
	switch {
	case key == "":
		s.backend.WriteError(w, refusal, refusalMsg)
		return
	case !known:
		s.backend.WriteError(w, http.StatusUnauthorized, "invalid API key")
		return
	case rejected != 0:
		s.backend.WriteError(w, rejected, "this key has been revoked")
		return
	}
	if f != nil && f.Status != 0 {
		for k, v := range f.Header {
			w.Header().Set(k, v)
		}
		if f.Body != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(f.Status)
			_, _ = io.WriteString(w, f.Body)
			return
		}
		s.backend.WriteError(w, f.Status, http.StatusText(f.Status))
		return
	}
	if f != nil && f.Malformed {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id": "broken", "choices": [ {"message": `)
		return
	}
	s.backend.Serve(s, w, r, body, f)
}

func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}
