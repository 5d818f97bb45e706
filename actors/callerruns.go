package actors

import "sync"

// CallerRuns is where a request's first attempt may be left for the
// caller to run on its own goroutine: the facade's caller, which would
// only wait for the answer, runs the HTTP call itself instead of waking a
// call goroutine and waiting for it (as a direct call would). The key
// actor offers the attempt; the caller takes it once, after its Submit is
// in, and from then on nothing more is left there: an attempt offered
// later (a retry, or a first attempt the key reached late) goes to a call
// goroutine as usual. Streams have none (their caller must read chunks
// while the call runs). Safe for concurrent use; the zero value is open.
type CallerRuns struct {
	mu      sync.Mutex
	closed  bool
	attempt func()
}

// offer leaves attempt for the caller and reports whether it did: false
// when r is nil, closed, or already holds one.
func (r *CallerRuns) offer(attempt func()) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.attempt != nil {
		return false
	}
	r.attempt = attempt
	return true
}

// Take closes r and returns the attempt left there, or nil.
func (r *CallerRuns) Take() func() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	a := r.attempt
	r.attempt = nil
	return a
}
