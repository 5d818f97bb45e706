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

// TestCallGroupReusesTheMostRecentlyIdleGoroutine: with two goroutines
// idle, the next task goes to the one that finished last (its stack and
// caches are the warm ones), and the other stays idle until it exits.
func TestCallGroupReusesTheMostRecentlyIdleGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewCallGroup()
		defer g.Wait()
		// Two tasks at once take two goroutines; the second to finish is
		// the most recently idle.
		release := [2]chan struct{}{make(chan struct{}), make(chan struct{})}
		ids := [2]chan string{make(chan string, 1), make(chan string, 1)}
		for i := range 2 {
			g.Go(func() { <-release[i]; ids[i] <- goroutineID() })
		}
		synctest.Wait()
		close(release[0])
		synctest.Wait()
		close(release[1])
		synctest.Wait()
		first, second := <-ids[0], <-ids[1]
		require.NotEqual(t, first, second)
		for range 3 {
			id := make(chan string, 1)
			g.Go(func() { id <- goroutineID() })
			require.Equal(t, second, <-id, "the goroutine idle the shortest takes the task")
			synctest.Wait()
		}
	})
}

// TestCallGroupWaitWaitsForRunningCalls: Wait returns only after a running
// call returned, lets idle goroutines go and stops the sweep (the bubble
// ends with no goroutine left), and a call submitted after Wait still runs.
func TestCallGroupWaitWaitsForRunningCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewCallGroup()
		g.Go(func() {}) // leaves an idle goroutine and the sweep armed
		release, returned := make(chan struct{}), make(chan struct{})
		g.Go(func() { <-release; close(returned) })
		waited := make(chan struct{})
		go func() { g.Wait(); close(waited) }()
		synctest.Wait()
		select {
		case <-waited:
			t.Fatal("Wait returned while a call was running")
		default:
		}
		close(release)
		<-waited
		select {
		case <-returned:
		default:
			t.Fatal("Wait returned before the running call did")
		}
		ran := make(chan struct{})
		g.Go(func() { close(ran) })
		<-ran
		g.Wait()
	})
}
