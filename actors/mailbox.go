package actors

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Mailbox is the mailbox of the tree's actors: protoactor's default
// mailbox (system messages first, user messages in order, suspension while
// a failed actor waits for its supervisor, a run of at most the
// dispatcher's throughput before yielding), plus one thing protoactor's
// cannot do: a sender may run the message it posts here on its own
// goroutine when the mailbox is idle (postHere, then RunHere, or a place
// in the chain the sender runs in). That takes a goroutine hand-off off a
// request's way when the sender would only wait or end after the send (see
// deliver). Make it with MailboxPool.mailbox; safe for concurrent use,
// like any mailbox.
type Mailbox struct {
	user, system msgQueue
	// running is 1 while some goroutine runs the mailbox (a dispatcher's
	// or a sender's); a poster that turns it from 0 to 1 starts a run.
	running   atomic.Int32
	suspended atomic.Bool
	// userN and systemN count the queued messages.
	userN, systemN atomic.Int32
	invoker        actor.MessageInvoker
	dispatcher     actor.Dispatcher
	// pool is where the mailbox registers itself under its actor's ID, for
	// deliver to find; nil registers nowhere.
	pool *MailboxPool
	id   string
	// chain, while the mailbox's handler runs, is the chain of the
	// goroutine running it: a receiver the handler delivers to runs next in
	// it. Set and read only by that goroutine.
	chain *chainRun
}

// chainRun is the mailboxes one goroutine runs in turn once the handler
// running now has returned, each owned by it (postHere returned true):
// receivers run after their sender's handler, not inside it, so the
// goroutine's stack holds one handler at a time however long a request's
// way (a caller's fresh goroutine would otherwise grow its stack for every
// nested handler), and a sender finishes its handler (a pump, say) before
// its receivers take the goroutine.
type chainRun struct{ boxes []*Mailbox }

// chainRuns keeps chainRun values (and their slices) for reuse.
var chainRuns = sync.Pool{New: func() any { return new(chainRun) }}

// drain runs the chain's mailboxes in turn, those their handlers add
// included, and empties it.
func (c *chainRun) drain() {
	for i := 0; i < len(c.boxes); i++ {
		c.boxes[i].runInChain(c)
	}
	clear(c.boxes)
	c.boxes = c.boxes[:0]
}

// PostUserMessage queues a user message and starts a run on the
// dispatcher unless one is going. A protoactor MessageBatch is also posted
// message by message, as protoactor's own mailbox does.
func (m *Mailbox) PostUserMessage(msg any) {
	if m.postHere(msg) {
		m.scheduleRun()
	}
}

func postBatch(m *Mailbox, msg any) {
	switch b := msg.(type) {
	case actor.MessageBatch:
		for _, x := range b.GetMessages() {
			m.PostUserMessage(x)
		}
	case *actor.MessageEnvelope:
		if b, ok := b.Message.(actor.MessageBatch); ok {
			for _, x := range b.GetMessages() {
				m.PostUserMessage(x)
			}
		}
	}
}

// PostSystemMessage queues a system message and starts a run unless one
// is going.
func (m *Mailbox) PostSystemMessage(msg any) {
	m.system.push(msg)
	m.systemN.Add(1)
	if m.running.CompareAndSwap(0, 1) {
		m.scheduleRun()
	}
}

// postHere queues a user message and reports whether the caller now owns
// the mailbox's run (it was idle): then the caller must call RunHere (or
// hand the run on with scheduleRun), promptly; else a run already going
// will take the message.
func (m *Mailbox) postHere(msg any) bool {
	postBatch(m, msg)
	m.pushUser(msg)
	return m.running.CompareAndSwap(0, 1)
}

func (m *Mailbox) pushUser(msg any) {
	m.user.push(msg)
	m.userN.Add(1)
}

// RegisterHandlers is called by protoactor when the actor is spawned.
func (m *Mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
	if self, ok := invoker.(interface{ Self() *actor.PID }); ok && m.pool != nil {
		if pid := self.Self(); pid != nil {
			m.id = pid.Id
			m.pool.boxes.Store(m.id, m)
		}
	}
}

// Start is called by protoactor once the actor is spawned.
func (m *Mailbox) Start() {}

// UserMessageCount is how many user messages wait.
func (m *Mailbox) UserMessageCount() int { return int(m.userN.Load()) }

// scheduleRun hands a run the caller owns to the dispatcher.
func (m *Mailbox) scheduleRun() { m.dispatcher.Schedule(m.processMessages) }

// processMessages is a run on the dispatcher: until the mailbox is empty
// (or suspended), yielding the processor every Throughput messages, then
// the chain its handlers started.
func (m *Mailbox) processMessages() {
	c := chainRuns.Get().(*chainRun)
	for {
		m.run(m.dispatcher.Throughput(), true, c)
		c.drain()
		if !m.release() {
			break
		}
	}
	chainRuns.Put(c)
}

// RunHere is a run on a sender's goroutine, which owns it (postHere
// returned true): the system messages and at most one user message, so a
// sender never works off another sender's backlog (what is left goes to
// the dispatcher), then the chain its handler started.
func (m *Mailbox) RunHere() {
	c := chainRuns.Get().(*chainRun)
	c.boxes = append(c.boxes[:0], m)
	c.drain()
	chainRuns.Put(c)
}

// runInChain is one owned run in the chain c: the system messages and one
// user message, then the run is handed on or given up.
func (m *Mailbox) runInChain(c *chainRun) {
	m.run(1, false, c)
	if m.pending() || m.release() {
		m.scheduleRun()
	}
}

// runNext adds to, whose run the caller owns (postHere returned true), to
// the chain m's handler runs in, and reports whether it did (false: m's
// handler is not running here). Called from m's handler only.
func (m *Mailbox) runNext(to *Mailbox) bool {
	if m == nil || m.chain == nil {
		return false
	}
	m.chain.boxes = append(m.chain.boxes, to)
	return true
}

// release ends a run: it marks the mailbox idle and reports whether the
// caller took the run back because messages arrived meanwhile.
func (m *Mailbox) release() bool {
	m.running.Store(0)
	return m.pending() && m.running.CompareAndSwap(0, 1)
}

// pending reports whether a run would have something to do.
func (m *Mailbox) pending() bool {
	return m.systemN.Load() > 0 || (!m.suspended.Load() && m.userN.Load() > 0)
}

// run processes system messages, then up to limit user messages (with
// yield, protoactor's policy: every limit messages it yields the processor
// and goes on until the mailbox is empty); the receivers its handlers
// deliver to join chain c. A panic in a handler is the actor's failure,
// escalated to its supervisor.
func (m *Mailbox) run(limit int, yield bool, c *chainRun) {
	var msg any
	m.chain = c
	defer func() {
		m.chain = nil // before the run ends: another goroutine may take it then
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
		}
	}()
	for done := 0; ; {
		if msg = m.system.pop(); msg != nil {
			m.systemN.Add(-1)
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended.Store(true)
			case *actor.ResumeMailbox:
				m.suspended.Store(false)
			default:
				if _, stop := msg.(*actor.Stop); stop && m.id != "" {
					// From here on senders go the ordinary way, to the
					// process registry, as to any stopping actor (an
					// actor spawned since under the same name keeps its
					// entry).
					m.pool.boxes.CompareAndDelete(m.id, m)
				}
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if m.suspended.Load() {
			return
		}
		if done == limit {
			if !yield {
				return
			}
			done = 0
			runtime.Gosched()
		}
		if msg = m.user.pop(); msg == nil {
			return
		}
		m.userN.Add(-1)
		done++
		m.invoker.InvokeUserMessage(msg)
	}
}

// msgQueue is a FIFO of messages: a ring that grows by doubling (and never
// shrinks, like protoactor's). Safe for concurrent use.
type msgQueue struct {
	mu         sync.Mutex
	buf        []any
	head, size int
}

func (q *msgQueue) push(m any) {
	q.mu.Lock()
	if q.size == len(q.buf) {
		grown := make([]any, max(8, 2*len(q.buf)))
		n := copy(grown, q.buf[q.head:])
		copy(grown[n:], q.buf[:q.head])
		q.buf, q.head = grown, 0
	}
	q.buf[(q.head+q.size)%len(q.buf)] = m
	q.size++
	q.mu.Unlock()
}

// pop returns the oldest message, or nil when there is none.
func (q *msgQueue) pop() any {
	q.mu.Lock()
	if q.size == 0 {
		q.mu.Unlock()
		return nil
	}
	m := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.size--
	q.mu.Unlock()
	return m
}

var _ actor.Mailbox = (*Mailbox)(nil)
