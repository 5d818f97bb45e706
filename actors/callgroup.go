package actors

import (
	"sync"
	"time"
)

// workerIdle is how long a call goroutine waits for the next call before it
// exits (between one and two workerIdle). It is housekeeping on the wall
// clock (time itself under synctest), never compared with a time of
// Config.Clock.
const workerIdle = 2 * time.Second

// CallGroup runs upstream calls (and the MailboxPool's mailbox runs) off
// the callers' goroutines and tracks them so shutdown can wait. Goroutines
// are reused: one that finished a task waits for the next, so the deep stack
// an HTTP call and JSON decoding grow is kept instead of being grown again
// for every call (stack growth was a quarter of the CPU of a call). Go never
// blocks: with no idle goroutine it starts one. Safe for concurrent use; make
// it with NewCallGroup.
//
// Idle goroutines wait on a channel of their own, last in first out, so the
// most recently used (warmest) goroutine takes the next task and the others
// really go idle. They wait with a plain receive: a select over a timer
// channel as well cost more than a short mailbox run (the timer is added to
// and removed from the runtime's heap at every wait). Idleness is measured
// in ticks of one sweep timer, armed only while a goroutine is idle.
type CallGroup struct {
	wg      sync.WaitGroup
	mu      sync.Mutex
	idle    []*callWorker // by the tick they went idle in, oldest first
	tick    uint64        // sweeps so far
	sweep   *time.Timer   // armed while idle is not empty
	stopped bool          // Wait was called
}

// callWorker is one goroutine of a CallGroup; it receives its next task, or
// nil to exit, on run.
type callWorker struct {
	run       chan func() // capacity 1: a send never blocks
	idleSince uint64      // the tick it went idle in
}

// NewCallGroup returns an empty group.
func NewCallGroup() *CallGroup { return &CallGroup{} }

// Go runs f on an idle goroutine of the group, or a new one.
func (g *CallGroup) Go(f func()) {
	g.mu.Lock()
	if n := len(g.idle); n > 0 {
		w := g.idle[n-1]
		g.idle[n-1] = nil
		g.idle = g.idle[:n-1]
		g.mu.Unlock()
		w.run <- f
		return
	}
	g.mu.Unlock()
	g.wg.Add(1)
	go g.work(&callWorker{run: make(chan func(), 1)}, f)
}

// Run runs f on the calling goroutine, counted among the group's calls so
// Wait waits for it too; once Wait was called, uncounted.
func (g *CallGroup) Run(f func()) {
	g.mu.Lock()
	tracked := !g.stopped
	if tracked {
		g.wg.Add(1)
	}
	g.mu.Unlock()
	if tracked {
		defer g.wg.Done()
	}
	f()
}

// work runs f, then whatever Go hands it, until it is told to exit.
func (g *CallGroup) work(w *callWorker, f func()) {
	defer g.wg.Done()
	for f != nil {
		f()
		if !g.park(w) {
			return
		}
		f = <-w.run
	}
}

// park puts w on the idle list, arming the sweep when w is the only one, and
// reports false once Wait was called (w exits instead).
func (g *CallGroup) park(w *callWorker) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped {
		return false
	}
	w.idleSince = g.tick
	g.idle = append(g.idle, w)
	if g.sweep == nil {
		g.armSweep()
	}
	return true
}

// armSweep starts the sweep timer; the timer's run is counted in wg, so
// Wait also waits for a sweep under way. Called with mu held.
func (g *CallGroup) armSweep() {
	g.wg.Add(1)
	g.sweep = time.AfterFunc(workerIdle, g.sweepIdle)
}

// sweepIdle ends a tick: goroutines idle since before the previous tick
// (one to two workerIdle without a task) exit. It re-arms while any stay
// idle.
func (g *CallGroup) sweepIdle() {
	defer g.wg.Done()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.sweep = nil
	if g.stopped {
		return
	}
	g.tick++
	n := 0
	for n < len(g.idle) && g.idle[n].idleSince+1 < g.tick {
		g.idle[n].run <- nil
		n++
	}
	kept := copy(g.idle, g.idle[n:])
	clear(g.idle[kept:])
	g.idle = g.idle[:kept]
	if kept > 0 {
		g.armSweep()
	}
}

// Wait lets idle goroutines go and blocks until every call has returned. Call
// it once nothing submits calls any more (a call submitted later still runs,
// on a goroutine of its own that exits after it).
func (g *CallGroup) Wait() {
	g.mu.Lock()
	g.stopped = true
	for i, w := range g.idle {
		w.run <- nil
		g.idle[i] = nil
	}
	g.idle = g.idle[:0]
	if g.sweep != nil && g.sweep.Stop() {
		g.sweep = nil
		g.wg.Done() // the stopped sweep will not run
	}
	g.mu.Unlock()
	g.wg.Wait()
}
