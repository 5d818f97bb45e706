// Command demo shows a Switchyard instance at work: traffic of all three
// priorities flows through it while faults are injected, and the live
// supervision tree (provider → breaker per endpoint → key) shows breakers
// opening, restarting into HALF-OPEN and closing, keys cooling down and being
// disabled, queues filling and draining, with counters and recent events.
//
// With no flags it needs no configuration and no network: every upstream is
// an in-process simulator on loopback (package sim), two per provider
// ("primary" and "secondary"), with fake keys. It only talks to real services
// when asked: --config FILE (a Switchyard YAML/JSON config) or --real (keys
// from OPENAI_API_KEY / ANTHROPIC_API_KEY); then it sends modest traffic
// (one request every 5 s per provider, small answers) and injects no faults.
//
//	go run ./cmd/demo                   live view until q / Ctrl-C
//	go run ./cmd/demo --duration 60s    what `make demo` runs
//	go run ./cmd/demo --plain --duration 15s > run.txt
//	go run ./cmd/demo --nodes 3         a fleet of three in one process
//
// Flags:
//
//	--duration D   stop after D (0, the default: until Ctrl-C, or q in the live view)
//	--interval D   how often the plain view prints a snapshot (default 2s; the
//	               live view redraws every 500ms, or faster with a smaller D)
//	--plain        print text snapshots even on a terminal (the default when
//	               stdout is not a terminal)
//	--config FILE  use this Switchyard config: real services, no simulators
//	--real         real services with keys from the environment; only the
//	               providers whose key is set take part
//	--metrics ADDR serve Prometheus metrics on http://ADDR/metrics, e.g.
//	               127.0.0.1:9090 (default: off)
//	--web ADDR     serve the live web view on http://ADDR/, e.g.
//	               127.0.0.1:8080 (":0" picks a port; the demo prints the
//	               address); it runs alongside the live or plain view
//	               (default: off)
//	--rate R       requests per second per provider (default 20 with the
//	               simulators, 0.2 against real services)
//	--seed N       seeds the fake keys and the traffic mix (default 1); the
//	               runtime's jitter is not seeded, so runs differ in detail
//	--nodes N      run N instances (1–9, default 1) in this process as one
//	               fleet: members of an in-memory proto.actor cluster over
//	               loopback (docs/fleet.md; --config's cluster section is
//	               replaced). The traffic goes to each in turn; with the
//	               simulators each provider's first key gets an rpm of 120,
//	               one budget for the whole fleet. The views show each
//	               node's tree compactly and a fleet section: per key budget
//	               the member hosting its grain, the permits each node took,
//	               its leases, waits, refusals and fair-share fallbacks; per
//	               endpoint its state on each node. --web shows node 1's
//	               tree; --metrics serves every node's, labelled node="nK".
//
// On exit the demo closes the instances (5 s deadline, in parallel), stops
// the simulators and prints a summary that ends with "every request
// answered: N sent, N answered" — counted by the traffic loop itself, over
// all nodes, not by Switchyard.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/term"

	"github.com/switchyard-ai/switchyard"
)

// options are the demo's settings, from the flags.
type options struct {
	Duration time.Duration
	Interval time.Duration
	Plain    bool
	Config   string
	Real     bool
	Metrics  string
	Web      string
	Rate     float64
	Seed     uint64
	// Nodes is how many instances run as one fleet (0 or 1: a single
	// instance, no cluster).
	Nodes int

	// Getenv reads the environment (nil: os.Getenv); Stdin feeds the live
	// view (nil: os.Stdin).
	Getenv func(string) string
	Stdin  io.Reader
	// FindS3 locates the versitygw binary (nil: s3test.BinaryPath); the
	// demo polls it until the binary appears.
	FindS3 func() (string, error)
	// onSims, when set, is given the simulators once they run (tests
	// inject faults of their own with it).
	onSims func([]*simProvider)
}

func parseFlags(args []string, errOut io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(errOut)
	fs.DurationVar(&o.Duration, "duration", 0, "stop after this long (0: until Ctrl-C, or q in the live view)")
	fs.DurationVar(&o.Interval, "interval", 2*time.Second, "how often the plain view prints a snapshot")
	fs.BoolVar(&o.Plain, "plain", false, "print text snapshots even when stdout is a terminal")
	fs.StringVar(&o.Config, "config", "", "Switchyard YAML/JSON config: talk to the services it names (no simulators)")
	fs.BoolVar(&o.Real, "real", false, "talk to the real services whose keys are in the environment (OPENAI_API_KEY, ANTHROPIC_API_KEY)")
	fs.StringVar(&o.Metrics, "metrics", "", "serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9090 (default off)")
	fs.StringVar(&o.Web, "web", "", "serve the live web view at http://ADDR/, e.g. 127.0.0.1:8080 (default off)")
	fs.Float64Var(&o.Rate, "rate", 0, "requests per second per provider (default 20 with simulators, 0.2 against real services)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed for the fake keys and the traffic mix")
	fs.IntVar(&o.Nodes, "nodes", 1, fmt.Sprintf("run this many instances (1–%d) as one fleet in this process", maxNodes))
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "demo: unexpected arguments %q\n", fs.Args())
		fs.Usage()
		return o, errors.New("unexpected arguments")
	}
	return o, nil
}

func main() {
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, opts, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

// Rates and bounds of the two modes.
const (
	simRate       = 20
	realRate      = 0.2
	simMaxTokens  = 64
	realMaxTokens = 16
	closeTimeout  = 5 * time.Second
	drainTimeout  = 3 * time.Second
)

// run is the whole demo: it returns when opts.Duration has passed, ctx ended
// or the user quit, after closing everything it started. It fails when a
// request was left unanswered.
func run(ctx context.Context, opts options, stdout io.Writer) error {
	if opts.Interval <= 0 {
		opts.Interval = 2 * time.Second
	}
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	if opts.Config != "" && opts.Real {
		return errors.New("--config and --real exclude each other")
	}
	nodes := max(opts.Nodes, 1)
	if nodes > maxNodes {
		return fmt.Errorf("--nodes %d: at most %d", opts.Nodes, maxNodes)
	}

	var (
		cfg     switchyard.Config
		targets []target
		sims    []*simProvider
		store   *objectStore
		label   string
		rate    float64
		err     error
	)
	switch {
	case opts.Config != "":
		if cfg, err = switchyard.Load(opts.Config); err != nil {
			return err
		}
		if cfg.Getenv == nil {
			cfg.Getenv = opts.Getenv
		}
		label, rate, targets = "config "+opts.Config, realRate, realTargets(cfg)
	case opts.Real:
		if cfg, err = realConfig(opts.Getenv); err != nil {
			return err
		}
		label, rate, targets = "real services", realRate, realTargets(cfg)
	default:
		sims = startSims(rand.New(rand.NewPCG(opts.Seed, 0xde770)))
		if opts.onSims != nil {
			opts.onSims(sims)
		}
		cfg = simConfig(sims)
		if nodes > 1 {
			withKeyBudgets(&cfg, fleetRPM)
		}
		// The object store joins when its server is ready; the demo does
		// not wait for it.
		if store, err = startObjectStore(opts.FindS3); err != nil {
			stopSims(sims)
			return err
		}
		cfg.Providers = append(cfg.Providers, store.provider())
		label, rate, targets = "simulators", simRate, simTargets(sims)
	}
	defer func() { store.stop() }()
	var stopOnce sync.Once
	stopSimulators := func() { stopOnce.Do(func() { stopSims(sims) }) }
	defer stopSimulators()
	if opts.Rate > 0 {
		rate = opts.Rate
	}

	sys, err := startNodes(cfg, nodes)
	if err != nil {
		return err
	}
	sy := sys[0]
	closed := false
	defer func() {
		if !closed {
			_ = closeNodes(sys)
		}
	}()
	events := newEventLog(50)
	var collectors []prometheus.Collector
	for i, n := range sys {
		collectors = append(collectors, n.Collector())
		sub := events.add
		if nodes > 1 {
			sub = events.from(nodeName(i))
		}
		defer n.Subscribe(sub)()
	}

	metricsURL, stopMetrics, err := serveMetrics(opts.Metrics, collectors)
	if err != nil {
		return err
	}
	defer stopMetrics()
	if nodes > 1 && !awaitMembers(ctx, sys, joinWait) && ctx.Err() == nil {
		return fmt.Errorf("the %d members did not all list each other within %s", nodes, joinWait)
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if opts.Duration > 0 {
		var cancelTimeout context.CancelFunc
		runCtx, cancelTimeout = context.WithTimeout(runCtx, opts.Duration)
		defer cancelTimeout()
	}

	tr := newTraffic(sys, targets, rate, opts.Seed)
	src := &source{sys: sys, tr: tr, ev: events, started: time.Now(), duration: opts.Duration, label: label, seed: opts.Seed, metricsURL: metricsURL}
	if nodes > 1 {
		src.budgets = budgetsOf(cfg)
	}
	src.store = store
	webURL, stopWeb, err := serveWeb(opts.Web, src, sy)
	if err != nil {
		return err
	}
	defer stopWeb()
	if webURL != "" {
		if _, err := fmt.Fprintf(stdout, "web view: %s\n", webURL); err != nil {
			return err
		}
	}
	tr.start(runCtx)
	if store != nil {
		store.start(runCtx, sy)
	}
	var fl *faults
	if sims != nil {
		fl = newFaults(sims, events.note)
		fl.start(runCtx)
	}

	var viewErr error
	if f, ok := stdout.(*os.File); ok && !opts.Plain && term.IsTerminal(int(f.Fd())) {
		// Keys are read only from a terminal (q quits); otherwise Ctrl-C
		// (SIGINT) or --duration ends the run.
		var in io.Reader
		src.hint = "Ctrl-C to quit"
		if f, ok := opts.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			in, src.hint = f, "q to quit"
		}
		src.hint = withWebHint(src.hint, webURL)
		viewErr = runTUI(runCtx, in, stdout, src, opts.Interval, cancel)
	} else {
		src.hint = withWebHint("", webURL)
		viewErr = runPlain(runCtx, stdout, src, opts.Interval)
	}
	cancel()
	stopWeb()

	// Stop sending and injecting, give the requests out there a moment,
	// take the last snapshot, then close: Close answers what is still
	// queued and waits (up to its deadline) for calls in flight.
	tr.stopped()
	if fl != nil {
		fl.stopped()
	}
	tr.wait(drainTimeout)
	final := src.frame(context.Background())
	closeErr := closeNodes(sys)
	closed = true
	allAnswered := tr.wait(closeTimeout)
	stopSimulators()
	stopMetrics()

	final.Now = time.Now()
	final.Traffic = tr.totals()
	final.Events, final.Counts, final.Opened = events.snapshot()
	if _, err := fmt.Fprint(stdout, "\n"+renderSummary(final, closeErr)); err != nil {
		return err
	}
	if viewErr != nil {
		return viewErr
	}
	if !allAnswered {
		t := final.Traffic
		return fmt.Errorf("%d of %d requests were never answered", t.Sent-t.Answered, t.Sent)
	}
	return nil
}

// simTargets is the traffic for the simulators: each backend's whole mix.
func simTargets(provs []*simProvider) []target {
	var out []target
	for _, p := range provs {
		out = append(out, target{provider: p.b.name, model: p.b.model, embedModel: p.b.embedModel, inferModel: p.b.inferModel, ops: opsFor(p.b), maxTokens: simMaxTokens})
	}
	return out
}

// realTargets is modest traffic for real services: chats and streams with
// small answers, for the providers of cfg whose kind the demo knows.
func realTargets(cfg switchyard.Config) []target {
	var out []target
	for _, pc := range cfg.Providers {
		b, ok := backendOf(pc.Kind)
		if !ok {
			continue
		}
		name := pc.Name
		if name == "" {
			name = pc.Kind
		}
		out = append(out, target{provider: name, model: b.realModel, ops: []weighted{{"chat", 60}, {"stream", 40}}, maxTokens: realMaxTokens})
	}
	return out
}

// opsFor drops embeddings from a backend's mix where it serves none.
func opsFor(b backend) []weighted {
	var ops []weighted
	for _, o := range b.ops {
		if o.op == "embed" && b.embedModel == "" {
			continue
		}
		ops = append(ops, o)
	}
	return ops
}

// source assembles frames for the views.
type source struct {
	// sys are the instances: one, or the members of the fleet (--nodes).
	sys        []*switchyard.Switchyard
	tr         *traffic
	ev         *eventLog
	started    time.Time
	duration   time.Duration
	label      string
	seed       uint64
	metricsURL string
	hint       string
	store      *objectStore
	// budgets are the keys with per-minute limits, by fleet identity
	// (with --nodes).
	budgets map[string]keyLimit
}

// frame takes a snapshot of the tree (bounded to 2 s) and of the counts;
// with --nodes, of every node's tree and fleet figures (Tree is node 1's).
func (s *source) frame(ctx context.Context) frame {
	tctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	f := frame{Now: time.Now(), Started: s.started, Duration: s.duration, Source: s.label, Seed: s.seed,
		MetricsURL: s.metricsURL, Traffic: s.tr.totals(), Hint: s.hint, Upload: s.store.line()}
	if len(s.sys) > 1 {
		f.Nodes = nodeFrames(tctx, s.sys, f.Traffic.PerNode)
		f.Tree, f.TreeErr = f.Nodes[0].Tree, f.Nodes[0].TreeErr
		f.Budgets = s.budgets
	} else {
		f.Tree, f.TreeErr = s.sys[0].Tree(tctx)
	}
	f.Events, f.Counts, f.Opened = s.ev.snapshot()
	return f
}

// serveMetrics serves the collectors at http://addr/metrics, each of
// several labelled node="n1", "n2", …; "" serves nothing. stop is
// idempotent.
func serveMetrics(addr string, cs []prometheus.Collector) (url string, stop func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	reg := prometheus.NewRegistry()
	for i, c := range cs {
		var r prometheus.Registerer = reg
		if len(cs) > 1 {
			r = prometheus.WrapRegistererWith(prometheus.Labels{"node": nodeName(i)}, reg)
		}
		if err := r.Register(c); err != nil {
			return "", nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	var once sync.Once
	return "http://" + ln.Addr().String() + "/metrics", func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(ctx)
			<-done
		})
	}, nil
}
