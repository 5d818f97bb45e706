package actors

import (
	"fmt"
	"slices"
)

// fifo is a growable ring of entries: push at either end, pop at the front.
// An entry is live in q while its state is stateQueued and its inQueue is q;
// entries that left out of order (cancelled, expired) stay as tombstones
// until they reach the front. The dispatcher keeps the counts (setState).
type fifo struct {
	buf  []*entry
	head int
	n    int
}

func (q *fifo) len() int { return q.n }

func (q *fifo) grow() {
	size := len(q.buf) * 2
	if size == 0 {
		size = 8
	}
	nb := make([]*entry, size)
	for i := 0; i < q.n; i++ {
		nb[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = nb, 0
}

func (q *fifo) pushBack(e *entry) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
}

func (q *fifo) pushFront(e *entry) {
	if q.n == len(q.buf) {
		q.grow()
	}
	q.head = (q.head - 1 + len(q.buf)) % len(q.buf)
	q.buf[q.head] = e
	q.n++
}

// front returns the first live entry (dropping tombstones), or nil.
func (q *fifo) front() *entry {
	for q.n > 0 {
		e := q.buf[q.head]
		if e.state == stateQueued && e.inQueue == q {
			return e
		}
		q.buf[q.head] = nil
		q.head = (q.head + 1) % len(q.buf)
		q.n--
	}
	return nil
}

// popFront removes and returns the first live entry, or nil.
func (q *fifo) popFront() *entry {
	e := q.front()
	if e == nil {
		return nil
	}
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	e.inQueue = nil
	return e
}

// back returns the last live entry without removing it, or nil.
func (q *fifo) back() *entry {
	for i := q.n - 1; i >= 0; i-- {
		e := q.buf[(q.head+i)%len(q.buf)]
		if e != nil && e.state == stateQueued && e.inQueue == q {
			return e
		}
	}
	return nil
}

// each calls f for every live entry, front to back. f may end entries (a
// tombstone stays in place) but must not push or pop.
func (q *fifo) each(f func(*entry)) {
	for i := 0; i < q.n; i++ {
		if e := q.buf[(q.head+i)%len(q.buf)]; e != nil && e.state == stateQueued && e.inQueue == q {
			f(e)
		}
	}
}

// checkInvariants recounts the dispatcher's bookkeeping from its entries,
// queues, windows and parked lists, and returns the first disagreement:
//   - each entry in d.entries is live (not stateDone) and where its state
//     says (its level's fifo, its window, its provider's parked list, a
//     live batch);
//   - depth per provider and level = requests waiting at that level
//     (queued, windowed, members of a queued batch), and the dispatcher's
//     depth is their sum;
//   - waiting requests that are not exempt (entry.exempt) are at most the
//     level's capacity;
//   - a batch's weight per level = its members still waiting for it, and is
//     not zero;
//   - backoffN = entries in stateBackoff; each provider's inflight = its
//     entries in stateInFlight;
//   - admitted = answered + requests in d.entries.
//
// It runs after every message once CheckInvariants is received; it is not
// cheap (linear in the entries) and never runs otherwise.
func (d *Dispatcher) checkInvariants() error {
	type provCount struct {
		depth    [3]int
		inflight int
	}
	counts := map[*provQueue]*provCount{}
	for _, p := range d.provs {
		counts[p] = &provCount{}
	}
	var bounded [3]int
	inFifo := map[*entry]bool{}
	for _, p := range d.provs {
		for lvl := range p.levels {
			q := &p.levels[lvl]
			var err error
			q.each(func(e *entry) {
				switch {
				case err != nil:
				case inFifo[e]:
					err = fmt.Errorf("entry %s is live twice in its queue", e.id)
				case e.p != p || e.level != lvl:
					err = fmt.Errorf("entry %s (provider %s, level %d) is queued at %s level %d", e.id, e.p.name, e.level, p.name, lvl)
				case d.entries[e.id] != e:
					err = fmt.Errorf("queued entry %s is not in the dispatcher's entries", e.id)
				}
				inFifo[e] = true
			})
			if err != nil {
				return err
			}
		}
		for i, e := range p.parked {
			if e.state != stateParked || e.p != p || d.entries[e.id] != e || slices.Index(p.parked, e) != i {
				return fmt.Errorf("provider %s's parked list holds entry %s in state %d (parked once, live, of this provider expected)", p.name, e.id, e.state)
			}
		}
	}
	inWindow := map[*entry]bool{}
	for key, w := range d.windows {
		if w.key != key || len(w.members) == 0 {
			return fmt.Errorf("window %q is registered empty or under another key", key)
		}
		inputs, tokens := 0, 0
		for _, m := range w.members {
			if m.state != stateWindowed || m.win != w || inWindow[m] {
				return fmt.Errorf("window %q holds entry %s in state %d", key, m.id, m.state)
			}
			inWindow[m] = true
			inputs += int(m.inputs)
			tokens += int(m.tokens)
		}
		if inputs != w.inputs || tokens != w.tokens {
			return fmt.Errorf("window %q counts %d inputs and %d tokens, its members hold %d and %d", key, w.inputs, w.tokens, inputs, tokens)
		}
	}
	var live, backoff int
	weights := map[*entry][3]int{}
	for id, e := range d.entries {
		if e.id != id {
			return fmt.Errorf("entry %s is registered as %s", e.id, id)
		}
		c := counts[e.p]
		if c == nil {
			return fmt.Errorf("entry %s belongs to an unknown provider", id)
		}
		if e.group == nil {
			live++
		}
		waits := false
		switch e.state {
		case stateQueued:
			if !inFifo[e] {
				return fmt.Errorf("entry %s is queued but not live in its level's queue", id)
			}
			waits = true
		case stateWindowed:
			if e.group != nil || !inWindow[e] {
				return fmt.Errorf("entry %s is windowed but not in a registered window", id)
			}
			waits = true
		case stateBatched:
			b := e.batch
			if e.group != nil || b == nil || b.state == stateDone || d.entries[b.id] != b {
				return fmt.Errorf("entry %s is batched without a live batch", id)
			}
			w := weights[b]
			w[e.level]++
			weights[b] = w
			waits = b.state == stateQueued
		case stateInFlight:
			c.inflight++
		case stateBackoff:
			backoff++
		case stateParked:
			if !slices.Contains(e.p.parked, e) {
				return fmt.Errorf("entry %s is parked but not in its provider's parked list", id)
			}
		default:
			return fmt.Errorf("entry %s is in d.entries in state %d", id, e.state)
		}
		if waits && e.group == nil {
			c.depth[e.level]++
			if !e.exempt {
				bounded[e.level]++
			}
		}
	}
	for id, b := range d.entries {
		if b.group == nil {
			continue
		}
		if b.group.weight != weights[b] || b.group.weight == [3]int{} {
			return fmt.Errorf("batch %s weighs %v, its waiting members %v", id, b.group.weight, weights[b])
		}
	}
	var total [3]int
	for p, c := range counts {
		if p.depth != c.depth {
			return fmt.Errorf("provider %s depth %v, waiting requests %v", p.name, p.depth, c.depth)
		}
		if p.inflight != c.inflight {
			return fmt.Errorf("provider %s counts %d in flight, entries in flight %d", p.name, p.inflight, c.inflight)
		}
		for lvl, n := range c.depth {
			total[lvl] += n
		}
	}
	if d.depth != total {
		return fmt.Errorf("depth %v, waiting requests %v", d.depth, total)
	}
	for lvl, n := range bounded {
		if n > d.capacity[lvl] {
			return fmt.Errorf("level %d holds %d requests bound by its capacity %d", lvl, n, d.capacity[lvl])
		}
	}
	if d.backoffN != backoff {
		return fmt.Errorf("backoff counts %d, entries in backoff %d", d.backoffN, backoff)
	}
	admitted := d.admitted[0] + d.admitted[1] + d.admitted[2]
	if admitted != d.answered+uint64(live) {
		return fmt.Errorf("admitted %d, answered %d + live %d", admitted, d.answered, live)
	}
	return nil
}
