package actors

import (
	"sync"
	"time"
)

// workerIdle is how long a call goroutine waits for the next call before it
// exits. It is housekeeping on the wall clock (time itself under
// synctest), never compared with a time of Config.Clock.
const workerIdle = 2 * time.Second

// CallGroup runs upstream calls off the actors' goroutines and tracks them so
// shutdown can wait. Goroutines are reused: one that finished a call waits
// briefly for the next, so the deep stack an HTTP call and JSON decoding
// grow is kept instead of being grown again for every call (stack growth was
// a quarter of the CPU of a call). Go never blocks: with no idle goroutine it
// starts one. Safe for concurrent use; make it with NewCallGroup.
type CallGroup struct {
	wg    sync.WaitGroup
	tasks chan func()
	quit  chan struct{}
	once  sync.Once
}

// NewCallGroup returns an empty group.
func NewCallGroup() *CallGroup {
	return &CallGroup{tasks: make(chan func()), quit: make(chan struct{})}
}

// Go runs f on an idle goroutine of the group, or a new one.
func (g *CallGroup) Go(f func()) {
	select {
	case g.tasks <- f:
		return
	default:
	}
	g.wg.Add(1)
	go g.work(f)
}

// work runs f, then whatever Go hands it, until it has waited a whole tick
// of workerIdle without work (so it exits after one to two workerIdle of
// idleness). A ticker rather than a timer reset after every task: a mailbox
// run can be a microsecond, and resetting a timer each time cost more
// than the run.
func (g *CallGroup) work(f func()) {
	defer g.wg.Done()
	tick := time.NewTicker(workerIdle)
	defer tick.Stop()
	for {
		f()
		worked := true
	wait:
		select {
		case f = <-g.tasks:
		case <-tick.C:
			if !worked {
				return
			}
			worked = false
			goto wait
		case <-g.quit:
			return
		}
	}
}

// Wait lets idle goroutines go and blocks until every call has returned. Call
// it once nothing submits calls any more.
func (g *CallGroup) Wait() {
	g.once.Do(func() { close(g.quit) })
	g.wg.Wait()
}
