package actors

// fifo is a growable ring of entries: push at either end, pop at the front.
// Entries removed out of order (cancelled, expired) stay as tombstones until
// they reach the front; callers track live counts themselves.
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
