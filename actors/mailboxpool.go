package actors

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// mailboxThroughput is how many messages a mailbox run processes before it
// yields the processor (runtime.Gosched): protoactor's default.
const mailboxThroughput = 300

// MailboxPool is the protoactor dispatcher the tree's actors run their
// mailboxes on. protoactor's default starts a goroutine for every mailbox
// run, whose small stack grows again to the depth of the dispatcher's or a
// key's handler each time: a request crosses seven mailboxes, and a
// sequential request took twice as long as with reused goroutines. The
// pool's goroutines wait a while for the next run (the CallGroup's policy,
// whose goroutines it shares none of), keeping the stack they grew.
// Schedule never blocks: with no idle goroutine it starts one. Safe for
// concurrent use; make it with NewMailboxPool, and Wait once the tree has
// stopped.
type MailboxPool struct {
	workers *CallGroup
	// boxes holds the Mailbox of every live actor spawned with the pool's
	// Props, by actor ID, for deliver.
	boxes sync.Map
}

// NewMailboxPool returns an empty pool.
func NewMailboxPool() *MailboxPool { return &MailboxPool{workers: NewCallGroup()} }

// mailbox makes the Mailbox of an actor spawned on the pool.
func (p *MailboxPool) mailbox() actor.Mailbox { return &Mailbox{pool: p} }

// lookup returns the Mailbox of the actor pid names, or nil when it has
// none here (not ours, or stopping).
func (p *MailboxPool) lookup(pid *actor.PID) *Mailbox {
	if p == nil || pid == nil {
		return nil
	}
	if m, ok := p.boxes.Load(pid.Id); ok {
		return m.(*Mailbox)
	}
	return nil
}

// Schedule runs fn, one mailbox run, on an idle goroutine of the pool or a
// new one.
func (p *MailboxPool) Schedule(fn func()) { p.workers.Go(fn) }

// Throughput is how many messages a mailbox run processes before it
// yields.
func (p *MailboxPool) Throughput() int { return mailboxThroughput }

// Wait lets the idle goroutines go and blocks until every mailbox run has
// returned. A nil pool has nothing to wait for.
func (p *MailboxPool) Wait() {
	if p != nil {
		p.workers.Wait()
	}
}

// Props returns the Props of one of the tree's actors: producer's, with
// opts, with a Mailbox running on env.Mailboxes when there is one (else
// protoactor's default mailbox and dispatcher).
func (env *Env) Props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	if env != nil && env.Mailboxes != nil {
		opts = append(opts, actor.WithDispatcher(env.Mailboxes), actor.WithMailbox(env.Mailboxes.mailbox))
	}
	return actor.PropsFromProducer(producer, opts...)
}

var _ actor.Dispatcher = (*MailboxPool)(nil)
