// Command compare measures Switchyard against a direct call, in one
// process, against one loopback mock that answers a ~1 KB OpenAI chat
// completion: (a) a direct typed call with net/http and encoding/json,
// (b) the official openai-go SDK, (c) Switchyard's facade (sy.Chat) with one
// OpenAI provider, (d) Switchyard's actor API (an actor sending a
// ChatRequest to the front door and awaiting the answer as a message).
//
// Each round runs every path in turn (the order rotates): throughput with
// -conc callers for -window, allocations per request over that window
// (runtime.MemStats.Mallocs delta / requests, the mock's own allocations
// included, the same for every path) and process CPU time per request (the
// mock's included; the figure least disturbed by other load on a shared
// machine; "CPU vs direct" is direct's CPU/req over the path's, i.e. the
// throughput ratio the path would reach on an otherwise idle machine), then
// -seq sequential calls per path, alternating between the paths call by
// call, for the p50/p99 latency. It prints each round's numbers to stderr, a table of
// medians with the ratios to the direct call, and the latency over the
// sequential calls of all rounds together (reportPooled).
//
// The path direct-again (not run by default) is the direct call once more,
// on a client of its own: it does exactly what direct does, so its added
// figures show how far the benchmark reads a difference where there is
// none. A round's p99 rests on its slowest 1 % of -seq calls and moves by
// tens of microseconds between rounds, for direct-again too; the pooled
// table's rests on all rounds' calls.
//
// Run: cd bench/compare && go run . (see -h). With -profile PATH it runs
// only that path under load and writes -cpuprofile / -memprofile. With
// -stalls N it traces N sequential cycles instead and reports each path's
// time before the transport, on the wire and after, and how often each
// kind of goroutine ran for a long stretch (stalls.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
)

type sample struct {
	rps, allocs    float64
	bytes          float64       // heap bytes allocated per request
	cpu            time.Duration // process CPU time (user+system) per request
	p50, p99       time.Duration
	addP50, addP99 time.Duration
}

func main() {
	var (
		conc    = flag.Int("conc", 256, "concurrent callers for throughput")
		rounds  = flag.Int("rounds", 5, "interleaved rounds")
		window  = flag.Duration("window", 2*time.Second, "throughput window per path per round")
		seqN    = flag.Int("seq", 2000, "sequential calls per path per round (latency)")
		only    = flag.String("paths", "direct,openai-go,facade,actor", "paths to run, comma-separated; direct-again, the direct call on a client of its own, shows the benchmark's noise")
		profile = flag.String("profile", "", "run only this path under load for -window and write profiles")
		cpuOut  = flag.String("cpuprofile", "cpu.pprof", "CPU profile file (with -profile)")
		memOut  = flag.String("memprofile", "mem.pprof", "allocation profile file (with -profile)")
		stallsN = flag.Int("stalls", 0, "instead of rounds, trace this many sequential cycles and report each call's phases and the goroutines' long running stretches")
	)
	flag.Parse()
	if err := run(*conc, *rounds, *window, *seqN, strings.Split(*only, ","), *profile, *cpuOut, *memOut, *stallsN); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		os.Exit(1)
	}
}

func build(names []string, base string) ([]path, error) {
	var out []path
	for _, n := range names {
		var p path
		var err error
		switch name := strings.TrimSpace(n); name {
		case "direct", "direct-again":
			p = newDirect(name, base)
		case "openai-go":
			p = newSDK(base)
		case "facade":
			p, err = newFacade(base)
		case "actor":
			p, err = newActor(base)
		default:
			err = fmt.Errorf("unknown path %q", n)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func run(conc, rounds int, window time.Duration, seqN int, names []string, profile, cpuOut, memOut string, stallsN int) error {
	m, err := startMock()
	if err != nil {
		return err
	}
	defer m.Close()
	if profile != "" {
		names = []string{profile}
	}
	paths, err := build(names, m.URL)
	if err != nil {
		return err
	}
	defer func() {
		for _, p := range paths {
			p.close()
		}
	}()
	// Warm every path: connections for every caller, lazily built state.
	for _, p := range paths {
		if _, err := throughput(p, conc, 300*time.Millisecond); err != nil {
			return fmt.Errorf("%s: %w", p.name(), err)
		}
	}
	if _, err := sequential(paths, 200); err != nil {
		return err
	}
	if profile != "" {
		return profileRun(paths[0], conc, window, cpuOut, memOut)
	}
	if stallsN > 0 {
		rep, err := traceStalls(paths, stallsN)
		if err != nil {
			return err
		}
		rep.write(os.Stdout)
		return nil
	}
	samples := make(map[string][]sample)
	pooled := make(map[string][]time.Duration) // every round's sequential latencies
	fmt.Fprintf(os.Stderr, "GOMAXPROCS=%d conc=%d window=%s seq=%d rounds=%d\n", runtime.GOMAXPROCS(0), conc, window, seqN, rounds)
	for r := range rounds {
		order := slices.Clone(paths)
		k := r % len(order)
		order = append(order[k:], order[:k]...)
		got := make(map[string]sample)
		for _, p := range order {
			s, err := throughput(p, conc, window)
			if err != nil {
				return fmt.Errorf("%s: %w", p.name(), err)
			}
			got[p.name()] = s
		}
		lat, err := sequential(order, seqN)
		if err != nil {
			return err
		}
		for name, l := range lat {
			pooled[name] = append(pooled[name], l...)
			slices.Sort(l) // this round's quantiles below
		}
		for _, p := range paths {
			s := got[p.name()]
			s.p50, s.p99 = quantile(lat[p.name()], 0.50), quantile(lat[p.name()], 0.99)
			got[p.name()] = s
		}
		for _, p := range paths {
			s := got[p.name()]
			if d, ok := got["direct"]; ok {
				s.addP50, s.addP99 = s.p50-d.p50, s.p99-d.p99
			}
			samples[p.name()] = append(samples[p.name()], s)
			l := lat[p.name()]
			fmt.Fprintf(os.Stderr, "round %d %-10s %8.0f req/s %6.1f allocs/req %6.0f B/req cpu %7s/req p50 %7s p90 %7s p99 %7s p99.9 %7s\n", r+1, p.name(), s.rps, s.allocs, s.bytes, us(s.cpu),
				us(s.p50), us(quantile(l, 0.90)), us(s.p99), us(quantile(l, 0.999)))
		}
	}
	report(paths, samples)
	reportPooled(os.Stdout, paths, pooled)
	return nil
}

// sequential makes n calls on every path, one at a time, alternating
// between the paths call by call (so a noisy moment on the shared machine
// hits them all), and returns each path's latencies. Each cycle takes the
// paths in a fresh random order: in a fixed cycle one path would always
// follow the openai-go SDK, whose 40 KB of garbage per call starts most GC
// cycles, and pay for the marking in its own latency.
func sequential(paths []path, n int) (map[string][]time.Duration, error) {
	out := make(map[string][]time.Duration, len(paths))
	order := slices.Clone(paths)
	shuffle := rand.New(rand.NewPCG(1, 2)) // the same orders in every run
	for range n {
		shuffle.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, p := range order {
			// A region per call marks it in an execution trace (-stalls);
			// with the tracer off it costs nothing.
			region := trace.StartRegion(context.Background(), p.name())
			d, err := p.one()
			region.End()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name(), err)
			}
			out[p.name()] = append(out[p.name()], d)
		}
	}
	return out, nil
}

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// throughput runs conc callers of p for d and returns requests per second,
// allocations per request and CPU time per request (the last is the least
// disturbed by other load on a shared machine). A benchmark measures real
// time, so it reads the wall clock; no runtime decision depends on it.
func throughput(p path, conc int, d time.Duration) (sample, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	c0 := cpuTime()
	stop := make(chan struct{})
	t := time.AfterFunc(d, func() { close(stop) })
	defer t.Stop()
	t0 := time.Now()
	n, err := p.run(conc, stop)
	el := time.Since(t0)
	cpu := cpuTime() - c0
	runtime.ReadMemStats(&after)
	if err != nil {
		return sample{}, err
	}
	if n == 0 {
		return sample{}, fmt.Errorf("no request completed")
	}
	return sample{rps: float64(n) / el.Seconds(), allocs: float64(after.Mallocs-before.Mallocs) / float64(n),
		bytes: float64(after.TotalAlloc-before.TotalAlloc) / float64(n), cpu: cpu / time.Duration(n)}, nil
}

// profileRun profiles p under load: a CPU profile over one window (at the
// default memory profile rate, so allocation sampling does not show up in
// it), then a profile of every allocation over another (written before and
// after it: compare with pprof -base).
func profileRun(p path, conc int, d time.Duration, cpuOut, memOut string) error {
	f, err := os.Create(cpuOut)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	s, err := throughput(p, conc, d)
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	fmt.Printf("%s: %.0f req/s, %.1f allocs/req, %s CPU/req; CPU profile in %s\n", p.name(), s.rps, s.allocs, us(s.cpu), cpuOut)
	runtime.MemProfileRate = 1
	if err := writeAllocs(memOut + ".base"); err != nil {
		return err
	}
	s, err = throughput(p, conc, d)
	if err != nil {
		return err
	}
	if err := writeAllocs(memOut); err != nil {
		return err
	}
	fmt.Printf("allocation profile (every allocation) in %s; %d requests in the window: go tool pprof -base %s.base -sample_index=alloc_objects %s\n",
		memOut, int64(s.rps*d.Seconds()+0.5), memOut, memOut)
	return nil
}

func writeAllocs(name string) error {
	runtime.GC()
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

func report(paths []path, samples map[string][]sample) {
	med := func(name string, f func(sample) float64) float64 {
		var v []float64
		for _, s := range samples[name] {
			v = append(v, f(s))
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	// The ratio is taken per round (both paths measured moments apart),
	// then its median, which cancels most of the shared machine's drift.
	ratio := func(name, to string) float64 {
		var v []float64
		for i, s := range samples[name] {
			v = append(v, s.rps/samples[to][i].rps)
		}
		slices.Sort(v)
		return v[len(v)/2]
	}
	_, hasDirect := samples["direct"]
	_, hasFacade := samples["facade"]
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "path\treq/s\tvs direct\tvs facade\tCPU/req\tCPU vs direct\tallocs/req\tallocs - direct\tB/req\tp50\tp99\tadded p50\tadded p99\t")
	for _, p := range paths {
		n := p.name()
		vsDirect, vsFacade, dAllocs, cpuRatio := "-", "-", "-", "-"
		cpu := med(n, func(s sample) float64 { return float64(s.cpu) })
		if hasDirect {
			cpuRatio = fmt.Sprintf("%.2fx", med("direct", func(s sample) float64 { return float64(s.cpu) })/cpu)
			vsDirect = fmt.Sprintf("%.2fx", ratio(n, "direct"))
			dAllocs = fmt.Sprintf("%+.0f", med(n, func(s sample) float64 { return s.allocs })-med("direct", func(s sample) float64 { return s.allocs }))
		}
		if hasFacade {
			vsFacade = fmt.Sprintf("%.2fx", ratio(n, "facade"))
		}
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%s\t%s\t%.1f\t%s\t%.0f\t%s\t%s\t%s\t%s\t\n", n,
			med(n, func(s sample) float64 { return s.rps }), vsDirect, vsFacade, us(time.Duration(cpu)), cpuRatio,
			med(n, func(s sample) float64 { return s.allocs }), dAllocs, med(n, func(s sample) float64 { return s.bytes }),
			us(time.Duration(med(n, func(s sample) float64 { return float64(s.p50) }))),
			us(time.Duration(med(n, func(s sample) float64 { return float64(s.p99) }))),
			us(time.Duration(med(n, func(s sample) float64 { return float64(s.addP50) }))),
			us(time.Duration(med(n, func(s sample) float64 { return float64(s.addP99) }))))
	}
	_ = w.Flush()
	fmt.Printf("(medians of %d interleaved rounds; ratios are per-round ratios' medians; added = path - direct in the same round)\n", len(samples[paths[0].name()]))
}

// pooledQuantiles are the quantiles reportPooled prints.
var pooledQuantiles = []float64{0.50, 0.90, 0.99, 0.999}

// reportPooled prints each path's latency over the sequential calls of all
// rounds together, and the difference to the direct call's at p50 and p99.
// The paths alternate call by call in every round, so each path's pooled
// calls saw the same moments of the machine.
func reportPooled(out io.Writer, paths []path, pooled map[string][]time.Duration) {
	direct := sortedCopy(pooled["direct"])
	w := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "path\tcalls\tp50\tp90\tp99\tp99.9\tadded p50\tadded p99\t")
	for _, p := range paths {
		l := sortedCopy(pooled[p.name()])
		if len(l) == 0 {
			continue
		}
		fmt.Fprintf(w, "%s\t%d\t", p.name(), len(l))
		for _, q := range pooledQuantiles {
			fmt.Fprintf(w, "%s\t", us(quantile(l, q)))
		}
		added50, added99 := "-", "-"
		if len(direct) > 0 {
			added50 = us(quantile(l, 0.50) - quantile(direct, 0.50))
			added99 = us(quantile(l, 0.99) - quantile(direct, 0.99))
		}
		fmt.Fprintf(w, "%s\t%s\t\n", added50, added99)
	}
	_ = w.Flush()
	fmt.Fprintln(out, "(sequential calls of all rounds together; added = the path's quantile minus direct's)")
}

// sortedCopy returns d sorted, leaving d as it is.
func sortedCopy(d []time.Duration) []time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s
}

// quantile is the q-quantile of sorted, which must be in ascending order
// (sortedCopy makes such a copy): sort once, read as many as needed.
func quantile(sorted []time.Duration, q float64) time.Duration {
	return sorted[int(q*float64(len(sorted)-1))]
}

func us(d time.Duration) string { return fmt.Sprintf("%.1fµs", float64(d)/1e3) }
