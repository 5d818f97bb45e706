package actors

import "github.com/asynkron/protoactor-go/actor"

// deliver sends msg to pid. When the receiver's mailbox is idle and the
// sender has nothing else to do, the receiver handles msg on the sender's
// goroutine instead of on another one the sender would wake and then wait
// for. The sender is an actor whose own mailbox is empty: the receiver
// runs once the sender's handler has returned (in its chain). Or it is a
// call goroutine reporting its result (from is nil): the receiver runs at
// once, starting a chain. Otherwise, and for an actor not on
// env.Mailboxes, it is ctx.Send.
//
// Nothing an actor may rely on changes: each actor still handles one
// message at a time, in the order its mailbox got them; a panic is still
// its own failure, escalated to its supervisor; a message back to the
// sender waits until the sender's handler has returned. The receiver
// handles only this message (and system messages) here; anything queued
// behind it goes to the pool. Under load the mailboxes are seldom idle or
// empty, so requests cross them as before and the work spreads over the
// processors.
func (env *Env) deliver(from actor.Context, pid *actor.PID, msg any) {
	to := env.Mailboxes.lookup(pid)
	var own *Mailbox // the sender's
	if from != nil {
		own = env.Mailboxes.lookup(from.Self())
	}
	if to == nil || (from != nil && (own == nil || own.UserMessageCount() != 0)) {
		env.send(from, pid, msg)
		return
	}
	if !to.postHere(msg) {
		return // a run going takes it
	}
	if !own.runNext(to) {
		to.RunHere()
	}
}

// PostFromCaller sends msg to pid for a caller that, once it returns,
// only waits for the answer (the facade). When pid's mailbox was idle it
// returns that mailbox: the caller then owns its run and must call
// RunHere promptly, after letting go of any lock it holds (the receiver's
// handler runs there). Else it returns nil: a run already going takes msg,
// or it was sent the ordinary way.
func (env *Env) PostFromCaller(pid *actor.PID, msg any) *Mailbox {
	to := env.Mailboxes.lookup(pid)
	if to == nil {
		env.Root.Send(pid, msg)
		return nil
	}
	if to.postHere(msg) {
		return to
	}
	return nil
}

func (env *Env) send(from actor.Context, pid *actor.PID, msg any) {
	if from != nil {
		from.Send(pid, msg)
		return
	}
	env.Root.Send(pid, msg)
}
