package actors

import "sync"

// CallGroup counts running upstream-call goroutines. Safe for concurrent use.
type CallGroup struct{ wg sync.WaitGroup }

// Go runs f in a new tracked goroutine.
func (g *CallGroup) Go(f func()) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		f()
	}()
}

// Wait blocks until every tracked goroutine has returned.
func (g *CallGroup) Wait() { g.wg.Wait() }
