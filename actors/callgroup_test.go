package actors

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCallGroupKeepsIdleGoroutinesForAWhile: a task finds the goroutine
// that ran the previous one while it has been idle less than workerIdle
// (it exits between one and two workerIdle of idleness), and a new one
// once it has been idle for two. Virtual time.
func TestCallGroupKeepsIdleGoroutinesForAWhile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewCallGroup()
		defer g.Wait()
		runOn := func() string {
			id := make(chan string, 1)
			g.Go(func() { id <- goroutineID() })
			got := <-id
			synctest.Wait() // the goroutine is back waiting for work
			return got
		}
		first := runOn()
		time.Sleep(workerIdle / 2)
		require.Equal(t, first, runOn(), "idle for half of workerIdle: reused")
		time.Sleep(2*workerIdle + time.Millisecond)
		require.NotEqual(t, first, runOn(), "idle for two ticks: it exited, a new goroutine ran the task")
	})
}
