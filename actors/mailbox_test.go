package actors

import (
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// recordingInvoker stands in for an actor: it records what it handles and
// panics on the message "boom".
type recordingInvoker struct {
	user, system []any
	failures     []any
}

func (r *recordingInvoker) InvokeSystemMessage(m any) { r.system = append(r.system, m) }
func (r *recordingInvoker) InvokeUserMessage(m any) {
	if m == "boom" {
		panic("boom")
	}
	r.user = append(r.user, m)
}
func (r *recordingInvoker) EscalateFailure(_ any, m any) { r.failures = append(r.failures, m) }

// heldDispatcher keeps the runs scheduled on it until the test runs them.
type heldDispatcher struct{ runs []func() }

func (d *heldDispatcher) Schedule(fn func()) { d.runs = append(d.runs, fn) }
func (d *heldDispatcher) Throughput() int    { return 2 }

func (d *heldDispatcher) runAll() {
	for len(d.runs) > 0 {
		fn := d.runs[0]
		d.runs = d.runs[1:]
		fn()
	}
}

func newTestMailbox() (*Mailbox, *recordingInvoker, *heldDispatcher) {
	m, inv, disp := &Mailbox{}, &recordingInvoker{}, &heldDispatcher{}
	m.RegisterHandlers(inv, disp)
	return m, inv, disp
}

// TestMailboxRunHereHandlesOneMessageAndHandsOnTheRest: a sender that
// owns an idle mailbox's run handles its own message and the system
// messages, never a backlog: what else is queued goes to the dispatcher,
// in order, and the mailbox ends idle.
func TestMailboxRunHereHandlesOneMessageAndHandsOnTheRest(t *testing.T) {
	m, inv, disp := newTestMailbox()
	require.True(t, m.postHere("first"))
	require.False(t, m.postHere("second"), "the run is owned: a second poster must not get it")
	m.PostSystemMessage("sys")
	require.Empty(t, disp.runs, "posting to an owned run schedules nothing")

	m.RunHere()
	require.Equal(t, []any{"sys"}, inv.system)
	require.Equal(t, []any{"first"}, inv.user)
	require.Len(t, disp.runs, 1, "the backlog goes to the dispatcher")
	disp.runAll()
	require.Equal(t, []any{"first", "second"}, inv.user)
	require.Zero(t, m.running.Load())
	require.Zero(t, m.UserMessageCount())

	// Idle again, with nothing behind it: a run here leaves nothing to
	// schedule.
	require.True(t, m.postHere("third"))
	m.RunHere()
	require.Empty(t, disp.runs)
	require.Equal(t, []any{"first", "second", "third"}, inv.user)
	require.Zero(t, m.running.Load())
}

// TestMailboxDispatcherRunsYieldAndDrain: a run on the dispatcher takes
// every queued message in order, past the throughput (it yields, then
// goes on), and a second post while it is scheduled starts no second run.
func TestMailboxDispatcherRunsYieldAndDrain(t *testing.T) {
	m, inv, disp := newTestMailbox()
	for i := range 5 {
		m.PostUserMessage(i)
	}
	require.Len(t, disp.runs, 1)
	disp.runAll()
	require.Equal(t, []any{0, 1, 2, 3, 4}, inv.user)
	require.Zero(t, m.running.Load())
}

// TestMailboxPanicIsTheActorsFailure: a handler that panics during a run
// here fails its own actor (escalated with the message), and the sender
// goes on; what was queued behind is handled by the dispatcher's run.
func TestMailboxPanicIsTheActorsFailure(t *testing.T) {
	m, inv, disp := newTestMailbox()
	require.True(t, m.postHere("boom"))
	m.pushUser("after")
	require.NotPanics(t, m.RunHere)
	require.Equal(t, []any{"boom"}, inv.failures)
	disp.runAll()
	require.Equal(t, []any{"after"}, inv.user)
}

// TestMailboxSuspendedHoldsUserMessages: while suspended (a failed actor
// waiting for its supervisor) no user message is handled, by a run here
// or on the dispatcher; once resumed they are, in order.
func TestMailboxSuspendedHoldsUserMessages(t *testing.T) {
	m, inv, disp := newTestMailbox()
	m.PostSystemMessage(&actor.SuspendMailbox{})
	disp.runAll()
	require.True(t, m.postHere("a")) // a run here is possible…
	m.RunHere()                      // …but handles nothing
	m.PostUserMessage("b")
	disp.runAll()
	require.Empty(t, inv.user)
	m.PostSystemMessage(&actor.ResumeMailbox{})
	disp.runAll()
	require.Equal(t, []any{"a", "b"}, inv.user)
	require.Zero(t, m.running.Load())
}

// TestMsgQueueGrowsInOrder: the ring keeps FIFO order across growth and
// wrap-around.
func TestMsgQueueGrowsInOrder(t *testing.T) {
	var q msgQueue
	next := 0
	for round := range 5 {
		for i := range 3 + round*7 {
			q.push(round*1000 + i)
		}
		for i := range 3 + round*7 {
			require.Equal(t, round*1000+i, q.pop())
			next++
		}
		require.Nil(t, q.pop())
	}
	require.Positive(t, next)
}

// deliverKit starts an actor system for actors on a MailboxPool; when t
// ends it stops both and checks that no goroutine was left behind.
func deliverKit(t *testing.T) (*Env, *actor.ActorSystem) {
	leaks := goleak.IgnoreCurrent()
	env := &Env{Mailboxes: NewMailboxPool()}
	sys := actor.NewActorSystem()
	env.Root = sys.Root
	t.Cleanup(func() {
		sys.Shutdown()
		env.Mailboxes.Wait()
		goleak.VerifyNone(t, leaks, goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
	})
	return env, sys
}

// TestDeliverRunsTheReceiverOnTheSendersGoroutine: in a real actor
// system, an actor with nothing else queued that delivers to an idle
// actor sees it handle the message on its own goroutine; with a message
// of its own waiting, the message goes the ordinary way, to another
// goroutine. Either way every message arrives once, in order, and a
// stopped actor is no longer found (its messages go to protoactor's
// dead letters, as any stopped actor's).
func TestDeliverRunsTheReceiverOnTheSendersGoroutine(t *testing.T) {
	env, sys := deliverKit(t)

	type handled struct {
		n         int
		goroutine string
	}
	got := make(chan handled, 16)
	receiver := sys.Root.Spawn(env.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			if n, ok := c.Message().(int); ok {
				got <- handled{n, goroutineID()}
			}
		})
	}))
	type deliverNow struct {
		n       int
		release chan struct{} // when set, wait for it first (so a message queues behind)
	}
	senderAt := make(chan string, 16)
	sender := sys.Root.Spawn(env.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			if m, ok := c.Message().(*deliverNow); ok {
				if m.release != nil {
					<-m.release
				}
				senderAt <- goroutineID()
				env.deliver(c, receiver, m.n)
			}
		})
	}))

	// Idle sender, idle receiver (their Started handled): the receiver
	// runs right there.
	idle := func(pid *actor.PID) func() bool {
		return func() bool { return env.Mailboxes.lookup(pid).running.Load() == 0 }
	}
	require.Eventually(t, idle(receiver), 10*time.Second, time.Millisecond)
	require.Eventually(t, idle(sender), 10*time.Second, time.Millisecond)
	sys.Root.Send(sender, &deliverNow{n: 1})
	h, at := <-got, <-senderAt
	require.Equal(t, 1, h.n)
	require.Equal(t, at, h.goroutine, "handled on the sender's goroutine")

	// The sender has another message waiting: it must not do the
	// receiver's work first.
	release := make(chan struct{})
	sys.Root.Send(sender, &deliverNow{n: 2, release: release})
	sys.Root.Send(sender, &deliverNow{n: 3})
	require.Eventually(t, func() bool { return env.Mailboxes.lookup(sender).UserMessageCount() == 1 }, 10*time.Second, time.Millisecond)
	close(release)
	h2, at2 := <-got, <-senderAt
	require.Equal(t, 2, h2.n)
	require.NotEqual(t, at2, h2.goroutine, "with a message waiting, the sender hands the message on")
	h3 := <-got
	<-senderAt
	require.Equal(t, 3, h3.n)

	// From a call goroutine (no sender actor): handled there.
	done := make(chan string)
	go func() {
		env.deliver(nil, receiver, 4)
		done <- goroutineID()
	}()
	h4 := <-got
	require.Equal(t, <-done, h4.goroutine)

	// Stopped: unregistered, so deliver sends the ordinary way.
	require.NoError(t, sys.Root.StopFuture(receiver).Wait())
	require.Nil(t, env.Mailboxes.lookup(receiver))
	env.deliver(nil, receiver, 5) // to dead letters; must not panic or block
	sys.Root.Stop(sender)
}

// TestDeliverUnderContentionKeepsEveryMessageOnceAndInOrder: many call
// goroutines and one actor delivering to one receiver at once: the
// receiver handles one message at a time, each exactly once, and each
// sender's in the order sent.
func TestDeliverUnderContentionKeepsEveryMessageOnceAndInOrder(t *testing.T) {
	env, sys := deliverKit(t)

	type msg struct{ from, seq int }
	const senders, each = 8, 500
	var inside atomic.Int32
	last := make([]int, senders)
	var overlap atomic.Bool
	var wg sync.WaitGroup
	wg.Add(senders * each)
	receiver := sys.Root.Spawn(env.Props(func() actor.Actor {
		return actor.ReceiveFunc(func(c actor.Context) {
			if m, ok := c.Message().(msg); ok {
				if inside.Add(1) != 1 {
					overlap.Store(true)
				}
				if m.seq != last[m.from]+1 {
					overlap.Store(true)
				}
				last[m.from] = m.seq
				inside.Add(-1)
				wg.Done()
			}
		})
	}))
	for s := range senders {
		go func() {
			for i := 1; i <= each; i++ {
				env.deliver(nil, receiver, msg{s, i})
			}
		}()
	}
	wg.Wait()
	require.False(t, overlap.Load(), "two handlers at once, or a sender's messages out of order")
	for s := range senders {
		require.Equal(t, each, last[s])
	}
	require.NoError(t, sys.Root.StopFuture(receiver).Wait())
}

// TestCallerRunsTakesOneOfferOnce: the caller gets the attempt offered
// before it takes; after that, and without a CallerRuns, the key keeps its
// attempts.
func TestCallerRunsTakesOneOfferOnce(t *testing.T) {
	var r CallerRuns
	ran := 0
	require.True(t, r.offer(func() { ran++ }))
	require.False(t, r.offer(func() { ran += 10 }), "one attempt at most")
	a := r.Take()
	require.NotNil(t, a)
	a()
	require.Equal(t, 1, ran)
	require.False(t, r.offer(func() {}), "taken: a retry goes to a call goroutine")
	require.Nil(t, r.Take())

	var late CallerRuns
	require.Nil(t, late.Take(), "nothing offered yet: the caller waits for its answer")
	require.False(t, late.offer(func() {}), "closed by the caller: the key starts a goroutine")
	require.False(t, (*CallerRuns)(nil).offer(func() {}))
}

// TestCallGroupWaitsForARunOnTheCallersGoroutine: Wait does not return
// while a call running on its caller's goroutine (CallGroup.Run) runs,
// and returns once it has (in a synctest bubble: Wait is seen blocked when
// every goroutine is).
func TestCallGroupWaitsForARunOnTheCallersGoroutine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := NewCallGroup()
		release, waited := make(chan struct{}), make(chan struct{})
		go g.Run(func() { <-release })
		synctest.Wait() // the run has started and blocks
		go func() {
			g.Wait()
			close(waited)
		}()
		synctest.Wait() // both blocked: Wait has not returned
		select {
		case <-waited:
			t.Fatal("Wait returned while a run was going")
		default:
		}
		close(release)
		<-waited
		// After Wait, a run is not counted (nothing waits any more) but runs.
		ran := false
		g.Run(func() { ran = true })
		require.True(t, ran)
	})
}

// TestDeliverInAChainRunsAfterTheSendersHandler: a receiver delivered to
// from a handler that runs in a chain runs on the same goroutine once that
// handler has returned, not inside it, so the stack holds one handler at a
// time however long the chain.
func TestDeliverInAChainRunsAfterTheSendersHandler(t *testing.T) {
	env, sys := deliverKit(t)
	type step struct {
		name      string
		goroutine string
		afterPrev bool // the previous handler had returned
	}
	steps := make(chan step, 3)
	var returned atomic.Int32 // handlers that have returned
	spawn := func(name string, next func() *actor.PID, n int32) *actor.PID {
		return sys.Root.Spawn(env.Props(func() actor.Actor {
			return actor.ReceiveFunc(func(c actor.Context) {
				if _, ok := c.Message().(string); !ok {
					return
				}
				steps <- step{name, goroutineID(), returned.Load() == n}
				if to := next(); to != nil {
					env.deliver(c, to, "go on")
				}
				returned.Add(1)
			})
		}))
	}
	var b, c *actor.PID
	c = spawn("c", func() *actor.PID { return nil }, 2)
	b = spawn("b", func() *actor.PID { return c }, 1)
	a := spawn("a", func() *actor.PID { return b }, 0)
	for _, pid := range []*actor.PID{a, b, c} {
		require.Eventually(t, func() bool { return env.Mailboxes.lookup(pid).running.Load() == 0 }, 10*time.Second, time.Millisecond)
	}
	env.deliver(nil, a, "start") // a call goroutine's way: the chain runs here
	here := goroutineID()
	for _, name := range []string{"a", "b", "c"} {
		s := <-steps
		require.Equal(t, name, s.name)
		require.Equal(t, here, s.goroutine, "%s ran on another goroutine", name)
		require.True(t, s.afterPrev, "%s ran inside the handler that delivered to it", name)
	}
	require.EqualValues(t, 3, returned.Load())
}
