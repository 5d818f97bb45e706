package actors

import "github.com/asynkron/protoactor-go/actor"

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
type MailboxPool struct{ workers *CallGroup }

// NewMailboxPool returns an empty pool.
func NewMailboxPool() *MailboxPool { return &MailboxPool{workers: NewCallGroup()} }

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
// opts, running on env.Mailboxes when there is one (else on protoactor's
// default dispatcher).
func (env *Env) Props(producer actor.Producer, opts ...actor.PropsOption) *actor.Props {
	if env != nil && env.Mailboxes != nil {
		opts = append(opts, actor.WithDispatcher(env.Mailboxes))
	}
	return actor.PropsFromProducer(producer, opts...)
}

var _ actor.Dispatcher = (*MailboxPool)(nil)
