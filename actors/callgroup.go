package actors

import (
	"sync"
	"time"
)

// workerIdle is how long a call goroutine waits for the next call before it
// exits.
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

func (g *CallGroup) work(f func()) {
	defer g.wg.Done()
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(workerIdle)
		select {
		case f = <-g.tasks:
		case <-idle.C:
			return
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
