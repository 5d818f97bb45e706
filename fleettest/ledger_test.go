//go:build fleetprocs

package fleettest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/sim"
)

// entry is one request as the ledger received it.
type entry struct {
	// At is when it arrived, Done when it was answered.
	At, Done time.Time
	// Key is the API key's secret (the test's own values; never printed),
	// Member the member that sent it (the request ID's first part).
	Key, Member string
	// Prompt is the last message's text.
	Prompt string
	// Status is the answer's status; Injected marks an answer the ledger
	// made up (a rule), not the simulator.
	Status   int
	Injected bool
}

// rule answers matching requests with Status and Header instead of the
// simulator: Times of them, or all while Times is negative.
type rule struct {
	key, member string
	status      int
	header      map[string]string
	times       int
}

// ledger wraps a simulator's handler: it records every request with its
// arrival time, key, member and answer's status, answers the requests a
// rule matches itself, holds a key's requests while asked to, and delays
// requests whose prompt starts with "slow " by slowDelay (so that two
// members' identical requests overlap). It is safe for concurrent use.
type ledger struct {
	sim *sim.Server
	srv *httptest.Server

	mu      sync.Mutex
	entries []*entry
	rules   []*rule
	holds   map[string]chan struct{}
}

const slowDelay = time.Second

// startLedger runs the simulator's handler behind a ledger on a loopback
// port; its URL is the simulator's base URL.
func startLedger(s *sim.Server) *ledger {
	l := &ledger{sim: s, holds: map[string]chan struct{}{}}
	l.srv = httptest.NewServer(http.HandlerFunc(l.handle))
	return l
}

// URL is the base URL (without /v1).
func (l *ledger) URL() string { return l.srv.URL }

// Close releases held requests and stops the server.
func (l *ledger) Close() {
	l.release()
	l.srv.CloseClientConnections()
	l.srv.Close()
}

// add queues a rule.
func (l *ledger) add(r rule) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rules = append(l.rules, &r)
}

// clearRules drops every rule.
func (l *ledger) clearRules() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rules = nil
}

// hold makes key's requests wait, after they are recorded, until release.
func (l *ledger) hold(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holds[key] == nil {
		l.holds[key] = make(chan struct{})
	}
}

// release lets every held request go on.
func (l *ledger) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, c := range l.holds {
		close(c)
		delete(l.holds, k)
	}
}

// snapshot returns copies of the entries so far, in arrival order.
func (l *ledger) snapshot() []entry {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]entry, len(l.entries))
	for i, e := range l.entries {
		out[i] = *e
	}
	return out
}

// matching returns the entries so far for which keep is true.
func (l *ledger) matching(keep func(entry) bool) []entry {
	var out []entry
	for _, e := range l.snapshot() {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func (l *ledger) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	e := &entry{At: time.Now(), Key: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), Prompt: lastPrompt(body)}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		e.Member, _, _ = strings.Cut(id, "-")
	}
	l.mu.Lock()
	l.entries = append(l.entries, e)
	var hit *rule
	for i, ru := range l.rules {
		if (ru.key != "" && ru.key != e.Key) || (ru.member != "" && ru.member != e.Member) {
			continue
		}
		out := *ru
		hit = &out
		switch {
		case ru.times < 0:
		case ru.times <= 1:
			l.rules = append(l.rules[:i:i], l.rules[i+1:]...)
		default:
			ru.times--
		}
		break
	}
	held := l.holds[e.Key]
	l.mu.Unlock()

	if held != nil {
		select {
		case <-held:
		case <-r.Context().Done():
		}
	}
	if strings.HasPrefix(e.Prompt, "slow ") {
		select {
		case <-time.After(slowDelay):
		case <-r.Context().Done():
		}
	}
	rec := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	if hit != nil {
		for k, v := range hit.header {
			w.Header().Set(k, v)
		}
		l.sim.Backend().WriteError(rec, hit.status, http.StatusText(hit.status))
	} else {
		l.sim.Handler().ServeHTTP(rec, r)
	}
	l.mu.Lock()
	e.Done, e.Status, e.Injected = time.Now(), rec.status, hit != nil
	l.mu.Unlock()
}

// lastPrompt is the text of a chat body's last message ("" if none).
func lastPrompt(body []byte) string {
	var b struct {
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &b) != nil || len(b.Messages) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(b.Messages[len(b.Messages)-1].Content, &s) == nil {
		return s
	}
	return ""
}

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}
