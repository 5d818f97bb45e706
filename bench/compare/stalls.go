package main

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"runtime/trace"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	xtrace "golang.org/x/exp/trace"
)

// longStretch is the running stretch the stall report counts as long: a
// goroutine that ran this long without blocking, far above every handler's
// typical 0.5–5 µs, was held up by something else (a page fault, an
// interrupt, the hypervisor, a GC assist).
const longStretch = 15 * time.Microsecond

// stallReport is what an execution trace of sequential calls shows: each
// path's calls split into phases, and how often each kind of goroutine ran
// for a long stretch.
type stallReport struct {
	paths []pathPhases
	kinds []goroutineKind
}

// pathPhases holds one path's calls and their phases. The markers come
// from net/http's client internals, which every path uses: the request is
// handed to the connection's write loop (sent), and the read loop hands
// the response back (received).
type pathPhases struct {
	name string
	// total, before, wire and after are the call's latency and its time
	// before the request reached the transport, on the wire (mock
	// included), and from the response to the caller's return.
	total, before, wire, after []time.Duration
	// waiting is, for each split call, how long the goroutines it made
	// runnable before the transport (the actors, the call goroutine) sat
	// runnable before they ran: the hand-offs' share of before. The
	// caller's own first run is not in it.
	waiting []time.Duration
	// unsplit counts calls without both markers, left out: on a busy
	// machine the transport's goroutine is sometimes still running when
	// the next request or response reaches it, and nothing is woken.
	unsplit int
}

// goroutineKind is how long one kind of goroutine ran each time it ran.
type goroutineKind struct {
	name      string
	stretches []time.Duration
	// heldUp is how long the kind ran while a goroutine a call had made
	// runnable before the transport waited longer than longStretch to run:
	// what a slow hand-off waited behind.
	heldUp time.Duration
}

// kindOf names the goroutine whose stack (where it stopped running) is st.
func kindOf(st xtrace.Stack) string {
	switch {
	case stackHas(st, "switchyard/actors.(*CallGroup).work"):
		return "switchyard actors and calls"
	case stackHas(st, "net/http.(*persistConn).readLoop"), stackHas(st, "net/http.(*persistConn).writeLoop"):
		return "net/http client loops"
	case stackHas(st, "net/http.(*conn).serve"):
		return "mock server"
	case stackHas(st, "main.sequential"):
		return "callers"
	case stackHas(st, "runtime.gcBgMarkWorker"):
		return "GC mark workers"
	}
	return "other"
}

func stackHas(st xtrace.Stack, fn string) bool {
	for f := range st.Frames() {
		if strings.Contains(f.Func, fn) {
			return true
		}
	}
	return false
}

// traceStalls runs n sequential cycles over paths under the execution
// tracer and analyses the trace.
func traceStalls(paths []path, n int) (*stallReport, error) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		return nil, err
	}
	_, err := sequential(paths, n)
	trace.Stop()
	if err != nil {
		return nil, err
	}
	return analyseStalls(&buf)
}

// analyseStalls reads an execution trace in which every call is a region
// named after its path (as sequential makes them).
func analyseStalls(r io.Reader) (*stallReport, error) {
	tr, err := xtrace.NewReader(r)
	if err != nil {
		return nil, err
	}
	type call struct {
		path              string
		begin, sent, recv xtrace.Time
		inCall            bool
		waiting           time.Duration
	}
	var (
		cur     call // calls never overlap: sequential makes one at a time
		byPath  = map[string]*pathPhases{}
		order   []string
		running = map[xtrace.GoID]xtrace.Time{}
		byKind  = map[string]*goroutineKind{}
		// waiters are the goroutines the current call made runnable
		// before the transport, not yet running: when each became
		// runnable, and how long each kind ran meanwhile.
		waiters = map[xtrace.GoID]*waiter{}
	)
	kind := func(name string) *goroutineKind {
		g := byKind[name]
		if g == nil {
			g = &goroutineKind{name: name}
			byKind[name] = g
		}
		return g
	}
	// settle ends w's wait at end: it counts in the call's waiting and,
	// if long, in what each kind ran meanwhile.
	settle := func(w *waiter, end xtrace.Time) {
		cur.waiting += end.Sub(w.since)
		if end.Sub(w.since) > longStretch {
			for k, d := range w.behind {
				kind(k).heldUp += d
			}
		}
	}
	for {
		ev, err := tr.ReadEvent()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		t := ev.Time()
		switch ev.Kind() {
		case xtrace.EventRegionBegin:
			cur = call{path: ev.Region().Type, begin: t, inCall: true}
			clear(waiters)
			if byPath[cur.path] == nil {
				byPath[cur.path] = &pathPhases{name: cur.path}
				order = append(order, cur.path)
			}
		case xtrace.EventRegionEnd:
			if !cur.inCall {
				continue
			}
			cur.inCall = false
			p := byPath[cur.path]
			if cur.sent == 0 || cur.recv == 0 {
				p.unsplit++
				continue
			}
			p.total = append(p.total, t.Sub(cur.begin))
			p.before = append(p.before, cur.sent.Sub(cur.begin))
			p.wire = append(p.wire, cur.recv.Sub(cur.sent))
			p.after = append(p.after, t.Sub(cur.recv))
			p.waiting = append(p.waiting, cur.waiting)
		case xtrace.EventStateTransition:
			st := ev.StateTransition()
			if st.Resource.Kind != xtrace.ResourceGoroutine {
				continue
			}
			id := st.Resource.Goroutine()
			from, to := st.Goroutine()
			if to == xtrace.GoRunning {
				running[id] = t
				if w, ok := waiters[id]; ok {
					settle(w, t)
					delete(waiters, id)
				}
			}
			if from == xtrace.GoRunning {
				if began, ok := running[id]; ok {
					k := kindOf(st.Stack)
					kind(k).stretches = append(kind(k).stretches, t.Sub(began))
					for _, w := range waiters {
						w.ranMeanwhile(k, began, t)
					}
					delete(running, id)
				}
			}
			if cur.inCall && to == xtrace.GoRunnable {
				switch s := ev.Stack(); {
				case cur.sent == 0 && stackHas(s, "net/http.(*persistConn).roundTrip"):
					cur.sent = t
					for _, w := range waiters { // their waits end with the phase
						settle(w, t)
					}
					clear(waiters)
				case cur.sent == 0:
					waiters[id] = &waiter{since: t, behind: map[string]time.Duration{}}
				case cur.sent != 0 && cur.recv == 0 && stackHas(s, "net/http.(*persistConn).readLoop"):
					cur.recv = t
				}
			}
		}
	}
	rep := &stallReport{}
	for _, name := range order {
		rep.paths = append(rep.paths, *byPath[name])
	}
	for _, k := range slices.Sorted(maps.Keys(byKind)) {
		rep.kinds = append(rep.kinds, *byKind[k])
	}
	return rep, nil
}

// waiter is a goroutine a call made runnable, waiting to run.
type waiter struct {
	since  xtrace.Time
	behind map[string]time.Duration // by kind: how long each ran since
}

// ranMeanwhile records that a goroutine of kind k ran from began to end,
// the part after w became runnable.
func (w *waiter) ranMeanwhile(k string, began, end xtrace.Time) {
	if end > w.since {
		w.behind[k] += end.Sub(max(began, w.since))
	}
}

// write prints the report.
func (r *stallReport) write(out io.Writer) {
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "path\tcalls\tunsplit\tp50\tp90\tp99\tbefore transport p50\tp90\tp99\tof which waiting p50\tp90\tp99\ton the wire p50\tp90\tp99\tafter p50\tp90\tp99\t")
	for _, p := range r.paths {
		fmt.Fprintf(w, "%s\t%d\t%d\t", p.name, len(p.total), p.unsplit)
		if len(p.total) == 0 {
			fmt.Fprintln(w)
			continue
		}
		for _, d := range [][]time.Duration{p.total, p.before, p.waiting, p.wire, p.after} {
			d = sortedCopy(d)
			fmt.Fprintf(w, "%s\t%s\t%s\t", us(quantile(d, 0.50)), us(quantile(d, 0.90)), us(quantile(d, 0.99)))
		}
		fmt.Fprintln(w)
	}
	_ = w.Flush()
	fmt.Fprintln(out)
	w = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "goroutines\truns\trunning\tp50 run\tp99 run\truns over %s\tper ms running\tran while a hand-off waited over %s\t\n", us(longStretch), us(longStretch))
	for _, k := range r.kinds {
		total, long := k.runs()
		st := sortedCopy(k.stretches)
		fmt.Fprintf(w, "%s\t%d\t%.1fms\t%s\t%s\t%d\t%.2f\t%.2fms\t\n", k.name, len(st), float64(total)/1e6,
			us(quantile(st, 0.50)), us(quantile(st, 0.99)), long, longPerMs(total, long), float64(k.heldUp)/1e6)
	}
	_ = w.Flush()
	fmt.Fprintln(out, "(one execution trace of sequential calls; the tracer adds its own cost, so compare the rows with each other, not with the table of rounds)")
}

// runs is how long the kind ran in all, and how many of its runs were
// long.
func (k *goroutineKind) runs() (total time.Duration, long int) {
	for _, d := range k.stretches {
		total += d
		if d > longStretch {
			long++
		}
	}
	return total, long
}

// longPerMs is how many long runs there were per millisecond of running:
// the same everywhere if what holds goroutines up is the machine, not the
// code.
func longPerMs(total time.Duration, long int) float64 {
	if total == 0 {
		return 0
	}
	return float64(long) / (float64(total) / float64(time.Millisecond))
}
