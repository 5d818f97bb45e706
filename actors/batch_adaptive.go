package actors

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
)

// Adaptive batching windows (BatchAdaptive). A request that finds no call
// of its shape pending is sent at once; requests that arrive while one is
// pending gather in their window, which flushes when a call of the shape
// ends, when it is full, or when its Delay passes. The dispatcher counts
// each shape's pending calls in d.shapeCalls.
//
// A pending call is an entry of the shape that left its window to be sent
// and has not ended: a batch entry, or a request sent alone (a window of
// one, a retry), queued, in flight, backing off or parked. The count moves
// with the entry's state (setState calls movePendingCall), so it falls
// exactly once per call however the call ends: answered, failed, retried
// (a retried batch is a new entry), split, dropped when its members all
// left, or at shutdown. A request sent without a window (too large for
// one, or admitted at a full level) is not counted.

// pendingCall reports whether e, in its current state, is a pending call
// of its shape.
func pendingCall(e *entry) bool {
	if e.win == nil {
		return false
	}
	switch e.state {
	case stateQueued, stateInFlight, stateBackoff, stateParked:
		return true
	}
	return false
}

// movePendingCall counts e's state change (setState) in its shape's
// pending calls: one more when e became one, one fewer when it stopped
// being one (was: it was one before the change). When the count falls to
// zero while an adaptive window of the shape holds requests, the
// dispatcher sends itself the news (an idle windowTimer): the window
// flushes when the message arrives, outside whatever moved e.
func (d *Dispatcher) movePendingCall(e *entry, was bool) {
	is := pendingCall(e)
	if was == is {
		return
	}
	if d.shapeCalls == nil {
		d.shapeCalls = map[string]int{}
	}
	key := e.win.key
	if is {
		d.shapeCalls[key]++
		return
	}
	if n := d.shapeCalls[key] - 1; n != 0 {
		d.shapeCalls[key] = n
		return
	}
	delete(d.shapeCalls, key)
	if w := d.windows[key]; w != nil && w.adaptive && len(w.members) > 0 && d.self != nil {
		d.rootSender().Send(d.self, &windowTimer{key: key, gen: w.gen, idle: true})
	}
}

// callEnded flushes the adaptive window of e's shape when it holds
// requests: e's attempt has been reported (onAttemptDone), so the upstream
// has room for the next call of the shape.
func (d *Dispatcher) callEnded(ctx actor.Context, e *entry) {
	if e.win == nil {
		return
	}
	if w := d.windows[e.win.key]; w != nil && w.adaptive && len(w.members) > 0 {
		d.flush(ctx, w, flushEnded)
	}
}

// checkShapeCalls recounts each shape's pending calls from the entries and
// returns the first disagreement with d.shapeCalls (a count that is not
// positive is a disagreement too: a shape with none has no key). It runs
// with checkInvariants.
func (d *Dispatcher) checkShapeCalls() error {
	want := map[string]int{}
	for _, e := range d.entries {
		if pendingCall(e) {
			want[e.win.key]++
		}
	}
	for key, n := range d.shapeCalls {
		if n <= 0 || want[key] != n {
			return fmt.Errorf("shape %q counts %d pending calls, its entries %d", key, n, want[key])
		}
	}
	for key, n := range want {
		if d.shapeCalls[key] != n {
			return fmt.Errorf("shape %q counts %d pending calls, its entries %d", key, d.shapeCalls[key], n)
		}
	}
	return nil
}
