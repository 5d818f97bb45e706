package actors

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMailboxPoolRunsEveryScheduleOnReusedGoroutines: every scheduled run
// happens exactly once, runs scheduled one after another reuse one
// goroutine (the point of the pool: its stack is kept), and Wait leaves no
// goroutine behind.
func TestMailboxPoolRunsEveryScheduleOnReusedGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	p := NewMailboxPool()
	defer p.Wait()
	var ran atomic.Int64
	// One after another: each run schedules the next, as a hop from one
	// actor to the next does. A run finds the goroutine of the run before
	// it busy, so two or three goroutines take turns; protoactor's default
	// would start 1,000 (the bound leaves room for a loaded machine).
	var ids sync.Map
	done := make(chan struct{})
	var next func(n int)
	next = func(n int) {
		ids.Store(goroutineID(), true)
		ran.Add(1)
		if n == 0 {
			close(done)
			return
		}
		p.Schedule(func() { next(n - 1) })
	}
	p.Schedule(func() { next(999) })
	<-done
	goroutines := 0
	ids.Range(func(any, any) bool { goroutines++; return true })
	require.Less(t, goroutines, 100, "1,000 runs in turn used %d goroutines", goroutines)

	// Concurrently: every run still happens once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 500 {
				wg.Add(1)
				p.Schedule(func() { ran.Add(1); wg.Done() })
			}
		}()
	}
	wg.Wait()
	require.EqualValues(t, 1000+8*500, ran.Load())
	require.Equal(t, mailboxThroughput, p.Throughput())
	p.Wait()
}

// TestEnvPropsRunOnThePool: an actor made with Env.Props runs its
// mailbox on a goroutine of the env's pool; without a pool, on one of
// protoactor's default dispatcher.
func TestEnvPropsRunOnThePool(t *testing.T) {
	for _, withPool := range []bool{true, false} {
		env := &Env{}
		if withPool {
			env.Mailboxes = NewMailboxPool()
		}
		sys := actor.NewActorSystem()
		stacks := make(chan string, 1)
		pid := sys.Root.Spawn(env.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if _, ok := c.Message().(string); ok {
					buf := make([]byte, 64<<10)
					stacks <- string(buf[:runtime.Stack(buf, false)])
				}
			})
		}))
		sys.Root.Send(pid, "where do you run?")
		stack := <-stacks
		onPool := strings.Contains(stack, "actors.(*CallGroup).work")
		require.Equal(t, withPool, onPool, "pool %v, stack:\n%s", withPool, stack)
		sys.Root.Stop(pid)
		sys.Shutdown()
		env.Mailboxes.Wait()
	}
}

// goroutineID is the calling goroutine's ID, from its stack header.
func goroutineID() string {
	buf := make([]byte, 64)
	s := string(buf[:runtime.Stack(buf, false)])
	s = strings.TrimPrefix(s, "goroutine ")
	return s[:strings.IndexByte(s, ' ')]
}
