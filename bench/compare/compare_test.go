package main

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/internal/leaktest"
)

// checkLeaks fails t if goroutines started after the call are still
// running when t ends (after its own defers: the paths and the mock are
// closed by then), excusing what protoactor-go itself leaves behind.
func checkLeaks(t *testing.T) {
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, leaktest.ProtoactorLeftovers...)
	t.Cleanup(func() { goleak.VerifyNone(t, opts...) })
}

// TestEveryPathAnswers builds every path against the mock and makes
// sequential and concurrent calls on each: each must get the mock's
// answer (the paths check its content) and complete requests.
func TestEveryPathAnswers(t *testing.T) {
	checkLeaks(t)
	m, err := startMock()
	require.NoError(t, err)
	defer m.Close()
	paths, err := build([]string{"direct", "direct-again", "openai-go", "facade", "actor"}, m.URL)
	require.NoError(t, err)
	defer func() {
		for _, p := range paths {
			p.close()
		}
	}()
	lat, err := sequential(paths, 3)
	require.NoError(t, err)
	for _, p := range paths {
		require.Len(t, lat[p.name()], 3, "latencies of %s", p.name())
		stop := make(chan struct{})
		close(stop)
		// A closed stop still lets no caller start: zero requests, no error.
		n, err := p.run(4, stop)
		require.NoError(t, err, p.name())
		require.Zero(t, n, p.name())
		s, err := throughput(p, 4, 50*time.Millisecond)
		require.NoError(t, err, p.name())
		require.Positive(t, s.rps, p.name())
		require.Positive(t, s.allocs, p.name())
	}
	require.Positive(t, m.requests.Load())
}

// TestReportPooledSubtractsTheDirectCall feeds reportPooled known
// latencies: a path 10 µs slower than direct at every call reads +10 µs at
// p50 and p99, a copy of direct reads +0, and without direct nothing is
// subtracted.
func TestReportPooledSubtractsTheDirectCall(t *testing.T) {
	var direct, slower []time.Duration
	for i := range 1000 {
		d := time.Duration(100+i) * time.Microsecond
		direct = append(direct, d)
		slower = append(slower, d+10*time.Microsecond)
	}
	paths := []path{&callPath{label: "direct"}, &callPath{label: "direct-again"}, &callPath{label: "facade"}}
	var out strings.Builder
	reportPooled(&out, paths, map[string][]time.Duration{"direct": direct, "direct-again": slices.Clone(direct), "facade": slower})
	rows := map[string][]string{}
	for _, line := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(line); len(f) == 8 {
			rows[f[0]] = f[1:]
		}
	}
	require.Equal(t, []string{"1000", "599.0µs", "999.0µs", "1089.0µs", "1098.0µs", "0.0µs", "0.0µs"}, rows["direct"])
	require.Equal(t, rows["direct"], rows["direct-again"])
	require.Equal(t, []string{"1000", "609.0µs", "1009.0µs", "1099.0µs", "1108.0µs", "10.0µs", "10.0µs"}, rows["facade"])

	out.Reset()
	reportPooled(&out, paths[2:], map[string][]time.Duration{"facade": slower})
	lines := strings.Split(out.String(), "\n")
	require.Equal(t, []string{"facade", "1000", "609.0µs", "1009.0µs", "1099.0µs", "1108.0µs", "-", "-"}, strings.Fields(lines[1]))
}

func TestBuildRefusesAnUnknownPath(t *testing.T) {
	_, err := build([]string{"nope"}, "http://127.0.0.1:1")
	require.ErrorContains(t, err, `unknown path "nope"`)
}

// TestStallsSplitsTheCalls traces sequential calls of the direct path and
// the facade: every call is found in the trace, most with both markers,
// each split call's phases add up to its latency, and the actors'
// goroutines show up as their own kind.
func TestStallsSplitsTheCalls(t *testing.T) {
	checkLeaks(t)
	m, err := startMock()
	require.NoError(t, err)
	defer m.Close()
	paths, err := build([]string{"direct", "facade", "actor"}, m.URL)
	require.NoError(t, err)
	defer func() {
		for _, p := range paths {
			p.close()
		}
	}()
	// Warm the connections first, as run does: a call that dials is not
	// split (its request reaches the wire another way) and is left out.
	_, err = sequential(paths, 3)
	require.NoError(t, err)
	rep, err := traceStalls(paths, 20)
	require.NoError(t, err)
	require.Len(t, rep.paths, 3)
	for _, p := range rep.paths {
		require.Equal(t, 20, len(p.total)+p.unsplit, p.name)
		// Idle, every call is split; a busy machine loses one or two.
		require.GreaterOrEqual(t, len(p.total), 10, p.name)
		require.Len(t, p.waiting, len(p.total), p.name)
		for i := range p.total {
			require.Positive(t, p.wire[i], p.name)
			require.Equal(t, p.total[i], p.before[i]+p.wire[i]+p.after[i], p.name)
			require.GreaterOrEqual(t, p.waiting[i], time.Duration(0), p.name)
		}
	}
	var names []string
	for _, k := range rep.kinds {
		names = append(names, k.name)
		require.NotEmpty(t, k.stretches, k.name)
	}
	require.Contains(t, names, "net/http client loops")
	// The actor path hands each request over before the transport (the
	// poke to its caller actor, the request to the front door, which runs
	// on the pool), so goroutines it readied wait to run, if only briefly.
	// (A quiet facade call hands nothing over: it runs on its caller's
	// goroutine up to the transport.)
	require.Contains(t, names, "switchyard actors and calls")
	var actorWaits time.Duration
	for _, p := range rep.paths {
		if p.name == "actor" {
			for _, w := range p.waiting {
				actorWaits += w
			}
		}
	}
	require.Positive(t, actorWaits)
	var out strings.Builder
	rep.write(&out)
	require.Contains(t, out.String(), "before transport")
	require.Contains(t, out.String(), "of which waiting")
}

func TestLongPerMsCountsOnlyLongStretches(t *testing.T) {
	k := goroutineKind{stretches: []time.Duration{longStretch + time.Microsecond, time.Microsecond, 983 * time.Microsecond}}
	total, long := k.runs()
	require.Equal(t, 2, long)
	require.InDelta(t, 2.0, longPerMs(total, long), 1e-9) // 2 long runs in exactly 1 ms of running
	require.Zero(t, longPerMs((&goroutineKind{}).runs()))
}

// TestWaiterCountsOnlyWhatRanAfterIt: a run that began before the
// goroutine became runnable counts only from then; one that ended before
// counts nothing.
func TestWaiterCountsOnlyWhatRanAfterIt(t *testing.T) {
	w := &waiter{since: 100, behind: map[string]time.Duration{}}
	w.ranMeanwhile("a", 40, 130)  // 30 after since
	w.ranMeanwhile("a", 140, 150) // 10
	w.ranMeanwhile("b", 10, 90)   // before: nothing
	require.Equal(t, map[string]time.Duration{"a": 40}, w.behind)
}
