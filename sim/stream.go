package sim

import (
	"fmt"
	"net/http"
	"time"
)

// SSE writes a server-sent event stream and applies a fault's stream
// misbehaviour (delay, cut, stall).
type SSE struct {
	s       *Server
	w       http.ResponseWriter
	r       *http.Request
	f       *Fault
	n       int
	NoSpace bool // write "data:x" without the space, as TGI does
}

// NewSSE starts an event stream answer.
func NewSSE(s *Server, w http.ResponseWriter, r *http.Request, f *Fault) *SSE {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	return &SSE{s: s, w: w, r: r, f: f}
}

// Send writes one event (event may be empty). After a cut it aborts the
// handler, which closes the connection mid-stream; after a stall it blocks
// until the client or the server goes away and then aborts.
func (e *SSE) Send(event, data string) {
	if e.f != nil {
		if e.f.CutAfter > 0 && e.n >= e.f.CutAfter {
			panic(http.ErrAbortHandler)
		}
		if e.f.StallAfter > 0 && e.n >= e.f.StallAfter {
			select {
			case <-e.r.Context().Done():
			case <-e.s.Closing():
			}
			panic(http.ErrAbortHandler)
		}
		if e.f.ChunkDelay > 0 && e.n > 0 {
			if !sleep(e.r, e.f.ChunkDelay) {
				panic(http.ErrAbortHandler)
			}
		}
	}
	sep := " "
	if e.NoSpace {
		sep = ""
	}
	if event != "" {
		fmt.Fprintf(e.w, "event:%s%s\n", sep, event)
	}
	fmt.Fprintf(e.w, "data:%s%s\n\n", sep, data)
	if fl, ok := e.w.(http.Flusher); ok {
		fl.Flush()
	}
	e.n++
}

// Sleep waits d or until the client leaves; it reports whether d elapsed.
func Sleep(r *http.Request, d time.Duration) bool { return sleep(r, d) }

// Words splits text into the simulators' notion of tokens.
func Words(s string) int {
	n, in := 0, false
	for _, c := range s {
		if c == ' ' || c == '\n' || c == '\t' {
			in = false
			continue
		}
		if !in {
			n++
			in = true
		}
	}
	return n
}

// Since is time.Since, kept here so backends share one notion of time.
func Since(t time.Time) time.Duration { return time.Since(t) }
