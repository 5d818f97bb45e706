// Command fleetnode is one member of a Switchyard fleet in a process of its
// own, for the fleet's multi-process tests (package fleettest, build tag
// fleetprocs). It runs switchyard.New with OpenAI providers on a simulator
// and Config.Cluster on etcd, prints "ready <cluster address>" once it has
// joined, then generates chat traffic on each provider at its own rate,
// paced on the wall clock, until stdin closes, "quit" arrives or SIGTERM.
//
// Each provider is given as -provider NAME:LABEL:RPM:RATE (one endpoint,
// "primary", on -sim's /v1; one key LABEL with RPM, 0 for none; RATE
// requests per second). The key's secret is read by Switchyard from the
// environment variable FLEETNODE_KEY_<NAME> (upper case): secrets never
// appear in flags or output.
//
// Every second it prints one JSON line of its own figures (kind "stats"):
// requests sent, answered, cached and failed by class per provider; keys'
// states; breakers' states; and the fleet figures of Switchyard.Stats
// (leases, fallbacks, the activation of each key's budget grain). Only the
// public API is used.
//
// Commands on stdin, one per line:
//
//	rate R               sets the first provider's rate (requests/s)
//	rate PROVIDER R      sets PROVIDER's rate
//	chat-once PROMPT     sends one temperature-0 chat on -once-provider and
//	                     prints a JSON line of kind "chat-once" (ok, cached,
//	                     attempts, the error's class)
//	quit                 stops, like EOF
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/internal/fleetnode/report"
	"github.com/switchyard-ai/switchyard/messages"
)

// maxInFlight bounds the requests a generator has outstanding; a tick
// that finds them all busy is counted as skipped.
const maxInFlight = 512

// providerFlag is one -provider NAME:LABEL:RPM:RATE.
type providerFlag struct {
	name, label string
	rpm         int
	rate        float64
}

type providerFlags []providerFlag

func (p *providerFlags) String() string { return fmt.Sprint(len(*p), " providers") }

func (p *providerFlags) Set(v string) error {
	parts := strings.Split(v, ":")
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" {
		return errors.New("want NAME:LABEL:RPM:RATE")
	}
	rpm, err := strconv.Atoi(parts[2])
	if err != nil || rpm < 0 {
		return fmt.Errorf("RPM %q: want a whole number ≥ 0", parts[2])
	}
	rate, err := strconv.ParseFloat(parts[3], 64)
	if err != nil || rate < 0 || math.IsInf(rate, 0) || math.IsNaN(rate) {
		return fmt.Errorf("RATE %q: want a number ≥ 0", parts[3])
	}
	*p = append(*p, providerFlag{name: parts[0], label: parts[1], rpm: rpm, rate: rate})
	return nil
}

// options are the command line.
type options struct {
	name, etcd, prefix, cluster, sim, model string
	providers                               providerFlags
	breakerProvider                         string
	breakerFailures, breakerProbes          int
	breakerCooldown                         time.Duration
	cache                                   bool
	onceProvider                            string
	timeout, leaseTTL, callTimeout          time.Duration
	logLevel                                string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("fleetnode", flag.ContinueOnError)
	fs.StringVar(&o.name, "name", "m1", "member name; request IDs start with it")
	fs.StringVar(&o.etcd, "etcd", "", "etcd client URL (required)")
	fs.StringVar(&o.prefix, "etcd-prefix", "/switchyard", "etcd key prefix of the members")
	fs.StringVar(&o.cluster, "cluster", "switchyard", "cluster name")
	fs.StringVar(&o.sim, "sim", "", "OpenAI simulator base URL, without /v1 (required)")
	fs.StringVar(&o.model, "model", "gpt-4o-mini", "model of every request")
	fs.Var(&o.providers, "provider", "NAME:LABEL:RPM:RATE (repeatable); the secret is in $FLEETNODE_KEY_<NAME>")
	fs.StringVar(&o.breakerProvider, "breaker-provider", "", "provider given the breaker settings below (others keep the defaults)")
	fs.IntVar(&o.breakerFailures, "breaker-failures", 3, "consecutive failures that trip the breaker")
	fs.DurationVar(&o.breakerCooldown, "breaker-cooldown", 5*time.Second, "breaker cooldown (doubles per trip, ±20 % jitter)")
	fs.IntVar(&o.breakerProbes, "breaker-probes", 1, "probes admitted after the cooldown")
	fs.BoolVar(&o.cache, "cache", false, "turn the exact cache on")
	fs.StringVar(&o.onceProvider, "once-provider", "", "provider of chat-once (default: the last -provider)")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Second, "timeout of each generated request")
	fs.DurationVar(&o.leaseTTL, "lease-ttl", 0, "cluster.lease.ttl (0: default)")
	fs.DurationVar(&o.callTimeout, "call-timeout", 0, "cluster.lease.call_timeout (0: default)")
	fs.StringVar(&o.logLevel, "log", "", "log Switchyard at this level (debug, info, warn, error) on stderr; empty: no logs")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case o.etcd == "":
		return o, errors.New("-etcd is required")
	case o.sim == "":
		return o, errors.New("-sim is required")
	case len(o.providers) == 0:
		return o, errors.New("at least one -provider is required")
	}
	if o.onceProvider == "" {
		o.onceProvider = o.providers[len(o.providers)-1].name
	}
	return o, nil
}

// config builds the Switchyard configuration of this member.
func (o options) config() (switchyard.Config, error) {
	cfg := switchyard.Config{
		Cluster: switchyard.ClusterConfig{Provider: "etcd", Name: o.cluster, Bind: "127.0.0.1:0",
			Etcd:  switchyard.EtcdConfig{Endpoints: []string{o.etcd}, Prefix: o.prefix},
			Lease: switchyard.LeaseConfig{TTL: o.leaseTTL, CallTimeout: o.callTimeout}},
		Cache: switchyard.CacheConfig{Enabled: o.cache},
	}
	for _, p := range o.providers {
		env := "FLEETNODE_KEY_" + strings.ToUpper(p.name)
		if os.Getenv(env) == "" {
			return cfg, fmt.Errorf("provider %s: $%s is not set", p.name, env)
		}
		pc := switchyard.ProviderConfig{Name: p.name, Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
			Name: "primary", BaseURL: strings.TrimSuffix(o.sim, "/") + "/v1",
			Keys: []switchyard.KeyConfig{{Label: p.label, SecretEnv: env, RPM: p.rpm}},
		}}}
		if p.name == o.breakerProvider {
			pc.Breaker = &switchyard.BreakerConfig{ConsecutiveFailures: o.breakerFailures, Cooldown: o.breakerCooldown,
				HalfOpenProbes: o.breakerProbes}
		}
		cfg.Providers = append(cfg.Providers, pc)
	}
	if o.logLevel != "" {
		var lvl slog.Level
		if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
			return cfg, fmt.Errorf("-log: %w", err)
		}
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl}))
	}
	return cfg, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "fleetnode:", err)
		os.Exit(2)
	}
	if err := run(o, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "fleetnode:", err)
		os.Exit(1)
	}
}

// out serializes lines on stdout.
type out struct {
	mu sync.Mutex
	w  io.Writer
}

func (o *out) line(s string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, _ = io.WriteString(o.w, s+"\n")
}

func (o *out) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]string{"kind": "error", "err": err.Error()})
	}
	o.line(string(b))
}

func run(o options, stdin io.Reader, stdout io.Writer) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	sy, err := switchyard.New(cfg)
	if err != nil {
		return err
	}
	w := &out{w: stdout}
	m := &member{o: o, sy: sy, w: w, gens: map[string]*generator{}}
	for _, p := range o.providers {
		g := &generator{provider: p.name, changed: make(chan struct{}, 1), failed: map[string]int64{}}
		g.setRate(p.rate)
		m.gens[p.name] = g
		m.order = append(m.order, g)
	}
	if st, err := sy.Stats(context.Background()); err == nil {
		w.line("ready " + st.Fleet.Member)
	} else {
		w.line("ready ?")
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, g := range m.order {
		wg.Add(1)
		go func() { defer wg.Done(); m.generate(ctx, g) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); m.report(ctx) }()
	commands := make(chan string)
	go func() {
		// Ends at EOF; a blocked read is released when the process exits.
		defer close(commands)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			commands <- sc.Text()
		}
	}()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case c, ok := <-commands:
			if !ok || strings.TrimSpace(c) == "quit" {
				break loop
			}
			m.command(ctx, c, &wg)
		}
	}
	cancel()
	wg.Wait()
	m.inFlight.Wait()
	cctx, ccancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer ccancel()
	return sy.Close(cctx)
}

// member is the running member: its Switchyard and its generators.
type member struct {
	o        options
	sy       *switchyard.Switchyard
	w        *out
	gens     map[string]*generator
	order    []*generator
	inFlight sync.WaitGroup
	seq      atomic.Int64
}

// generator sends one provider's traffic.
type generator struct {
	provider string
	rate     atomic.Uint64 // float64 bits
	changed  chan struct{}
	busy     atomic.Int64

	mu                        sync.Mutex
	sent, ok, cached, skipped int64
	failed                    map[string]int64
}

func (g *generator) setRate(r float64) {
	g.rate.Store(math.Float64bits(r))
	select {
	case g.changed <- struct{}{}:
	default:
	}
}

func (g *generator) getRate() float64 { return math.Float64frombits(g.rate.Load()) }

// generate sends requests at the generator's rate, paced on the wall
// clock. When it falls more than a second behind (the process was
// frozen), it starts again from now instead of sending the backlog at once.
func (m *member) generate(ctx context.Context, g *generator) {
	next := time.Now()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		r := g.getRate()
		if r <= 0 {
			select {
			case <-ctx.Done():
				return
			case <-g.changed:
				next = time.Now()
				continue
			}
		}
		next = next.Add(time.Duration(float64(time.Second) / r))
		if d := time.Until(next); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-g.changed:
				next = time.Now()
				continue
			case <-timer.C:
			}
		} else if d < -time.Second {
			next = time.Now()
		}
		m.fire(ctx, g)
	}
}

// fire sends one generated request in the background.
func (m *member) fire(ctx context.Context, g *generator) {
	if g.busy.Load() >= maxInFlight {
		g.mu.Lock()
		g.skipped++
		g.mu.Unlock()
		return
	}
	g.busy.Add(1)
	g.mu.Lock()
	g.sent++
	g.mu.Unlock()
	seq := m.seq.Add(1)
	req := &messages.ChatRequest{
		Call:     messages.Call{RequestID: fmt.Sprintf("%s-%s-%d", m.o.name, g.provider, seq), Provider: g.provider, NoCache: true},
		Model:    m.o.model,
		Messages: []messages.Message{{Role: messages.RoleUser, Content: fmt.Sprintf("load %s %s %d", m.o.name, g.provider, seq)}},
	}
	m.inFlight.Add(1)
	go func() {
		defer m.inFlight.Done()
		defer g.busy.Add(-1)
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.o.timeout)
		defer cancel()
		res, err := m.sy.Chat(rctx, req)
		g.mu.Lock()
		defer g.mu.Unlock()
		if err != nil {
			g.failed[errorClass(err)]++
			return
		}
		g.ok++
		if res.Cached {
			g.cached++
		}
	}()
}

// errorClass names a failure in one word (never its text, which could
// quote an upstream).
func errorClass(err error) string {
	if k := messages.ErrorKind(err); k != "" {
		return k
	}
	return "other"
}

// command runs one control line.
func (m *member) command(ctx context.Context, line string, wg *sync.WaitGroup) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return
	}
	switch f[0] {
	case "rate":
		g, v := m.order[0], ""
		switch len(f) {
		case 2:
			v = f[1]
		case 3:
			g, v = m.gens[f[1]], f[2]
		}
		r, err := strconv.ParseFloat(v, 64)
		if g == nil || err != nil || r < 0 || math.IsInf(r, 0) || math.IsNaN(r) {
			m.w.json(map[string]string{"kind": "error", "err": "usage: rate [PROVIDER] R"})
			return
		}
		g.setRate(r)
		m.w.json(map[string]any{"kind": "rate", "provider": g.provider, "rate": r})
	case "chat-once":
		prompt := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "chat-once"))
		wg.Add(1)
		go func() { defer wg.Done(); m.chatOnce(ctx, prompt) }()
	default:
		m.w.json(map[string]string{"kind": "error", "err": "unknown command " + strconv.Quote(f[0])})
	}
}

func (m *member) chatOnce(ctx context.Context, prompt string) {
	zero := 0.0
	req := &messages.ChatRequest{
		Call:        messages.Call{RequestID: fmt.Sprintf("%s-once-%d", m.o.name, m.seq.Add(1)), Provider: m.o.onceProvider},
		Model:       m.o.model,
		Messages:    []messages.Message{{Role: messages.RoleUser, Content: prompt}},
		Temperature: &zero,
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*m.o.timeout)
	defer cancel()
	res, err := m.sy.Chat(rctx, req)
	r := report.ChatOnce{Kind: "chat-once", Prompt: prompt}
	if err != nil {
		r.Error = errorClass(err)
	} else {
		r.OK, r.Cached, r.Attempts, r.Upstream = true, res.Cached, res.Attempts, !res.Cached && res.Attempts > 0
		r.Answer = res.Content
	}
	m.w.json(r)
}

// report prints a stats line every second until ctx ends.
func (m *member) report(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.w.json(m.stats(ctx))
	}
}

func (m *member) stats(ctx context.Context) report.Stats {
	l := report.Stats{Kind: "stats", Time: time.Now(), Member: m.o.name, Traffic: map[string]report.Traffic{},
		Keys: map[string]string{}, Breakers: map[string]string{}}
	for _, g := range m.order {
		g.mu.Lock()
		t := report.Traffic{Rate: g.getRate(), Sent: g.sent, OK: g.ok, Cached: g.cached, Skipped: g.skipped, Failed: map[string]int64{}}
		for k, v := range g.failed {
			t.Failed[k] = v
		}
		g.mu.Unlock()
		l.Traffic[g.provider] = t
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := m.sy.Stats(sctx)
	if err != nil {
		l.Error = errorClass(err)
		return l
	}
	l.Fleet, l.Addr, l.Members = st.Fleet, st.Fleet.Member, st.Fleet.Members
	tree, err := m.sy.Tree(sctx)
	if err != nil {
		l.Error = errorClass(err)
		return l
	}
	for _, p := range tree.Providers {
		for _, e := range p.Endpoints {
			l.Breakers[p.Name+"/"+e.Name] = e.State.String()
			for _, k := range e.Keys {
				l.Keys[p.Name+"/"+e.Name+"/"+k.Label] = string(k.State)
			}
		}
	}
	return l
}
