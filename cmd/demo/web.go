package main

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
)

// The live web view (--web ADDR): the page (plain HTML, JS and CSS embedded
// in the binary, no build step), /snapshot (one JSON snapshot of the tree as
// the live view shows it) and /events (server-sent events: the breaker
// transitions and restarts seen so far, then a snapshot every webRefresh
// and each transition as it happens).

//go:embed web
var webFiles embed.FS

const (
	// webRefresh is how often /events pushes a snapshot.
	webRefresh = 500 * time.Millisecond
	// webHistory bounds the transitions kept for clients that connect
	// later (the page's timeline starts with them).
	webHistory = 1000
	// webBacklog is how many messages a client may fall behind before it
	// is dropped; EventSource reconnects it and it starts afresh.
	webBacklog = 64
	// webWriteTimeout bounds one write to a client.
	webWriteTimeout = 5 * time.Second
	// webEventsShown is how many event lines a snapshot carries.
	webEventsShown = 12
)

// webSnapshot is what the page draws: the tree, the queue, the cache, the
// demo's own counts and its last events. Keys appear by label only: no
// secret, hint or base URL is in it.
type webSnapshot struct {
	Time     int64           `json:"time"` // ms since the epoch, server clock
	Started  int64           `json:"started"`
	Duration int64           `json:"durationMs,omitempty"`
	Source   string          `json:"source"`
	Seed     uint64          `json:"seed"`
	Metrics  string          `json:"metrics,omitempty"`
	Upload   string          `json:"upload,omitempty"`
	Error    string          `json:"error,omitempty"`
	Traffic  webTraffic      `json:"traffic"`
	Queue    webQueue        `json:"queue"`
	Cache    *webCache       `json:"cache,omitempty"`
	Provs    []webProvider   `json:"providers"`
	Counts   webCounts       `json:"counts"`
	Events   []webEventLine  `json:"events"`
	Windows  []webWindow     `json:"windows,omitempty"`
	Opened   map[string]int  `json:"opened"`
	Kinds    []webFailedKind `json:"failedKinds,omitempty"`
}

type webTraffic struct {
	Sent        int64               `json:"sent"`
	Answered    int64               `json:"answered"`
	OK          int64               `json:"ok"`
	Failed      int64               `json:"failed"`
	Skipped     int64               `json:"skipped"`
	PerProvider map[string]webTally `json:"perProvider"`
}

// webTally is what the demo's traffic loop saw of one provider.
type webTally struct {
	Sent   int64 `json:"sent"`
	OK     int64 `json:"ok"`
	Failed int64 `json:"failed"`
}

type webFailedKind struct {
	Kind  string `json:"kind"`
	Count int64  `json:"count"`
}

type webLevel struct {
	Priority   string  `json:"priority"`
	Depth      int     `json:"depth"`
	Capacity   int     `json:"capacity"`
	Admitted   uint64  `json:"admitted"`
	Rejected   uint64  `json:"rejected"`
	Expired    uint64  `json:"expired"`
	OldestWait float64 `json:"oldestWaitMs"`
	WaitP50    float64 `json:"waitP50Ms"`
	WaitP99    float64 `json:"waitP99Ms"`
}

type webQueue struct {
	Levels      []webLevel `json:"levels"`
	InFlight    int        `json:"inFlight"`
	Backoff     int        `json:"backoff"`
	Parked      int        `json:"parked"`
	RetryBudget float64    `json:"retryBudget"`
}

type webWindow struct {
	Name    string  `json:"name"`
	Calls   uint64  `json:"calls"`
	PerCall float64 `json:"perCall"`
	Largest int     `json:"largest"`
	Holds   int     `json:"holds"`
	Max     int     `json:"max"`
}

type webCache struct {
	Entries      int     `json:"entries"`
	Hits         uint64  `json:"hits"`
	SemanticHits uint64  `json:"semanticHits"`
	Coalesced    uint64  `json:"coalesced"`
	Misses       uint64  `json:"misses"`
	Bypassed     uint64  `json:"bypassed"`
	Threshold    float64 `json:"threshold"`
}

type webCounters struct {
	Requests  uint64            `json:"requests"`
	Successes uint64            `json:"successes"`
	Failures  uint64            `json:"failures"`
	ByClass   map[string]uint64 `json:"failuresByClass,omitempty"`
	Retries   uint64            `json:"retries"`
	InFlight  int64             `json:"inFlight"`
	TokensIn  uint64            `json:"tokensIn"`
	TokensOut uint64            `json:"tokensOut"`
	P50       float64           `json:"p50Ms"`
	P99       float64           `json:"p99Ms"`
}

type webKey struct {
	Label     string      `json:"label"`
	State     string      `json:"state"`
	CoolingMs float64     `json:"coolingMs,omitempty"`
	Counters  webCounters `json:"counters"`
}

type webEndpoint struct {
	Name       string      `json:"name"`
	State      string      `json:"state"`
	ReopenInMs float64     `json:"reopenInMs,omitempty"`
	Trips      int         `json:"trips"`
	Restarts   int         `json:"restarts"`
	Counters   webCounters `json:"counters"`
	Keys       []webKey    `json:"keys"`
}

type webProvider struct {
	Name      string        `json:"name"`
	Kind      string        `json:"kind"`
	Queued    [3]int        `json:"queued"`
	Counters  webCounters   `json:"counters"`
	Endpoints []webEndpoint `json:"endpoints"`
}

type webCounts struct {
	Retries   int64 `json:"retries"`
	Rejected  int64 `json:"rejected"`
	Expired   int64 `json:"expired"`
	Cooldowns int64 `json:"cooldowns"`
	Disabled  int64 `json:"disabled"`
	Trips     int64 `json:"trips"`
	Restarts  int64 `json:"restarts"`
}

type webEventLine struct {
	At   int64  `json:"at"`
	Kind string `json:"kind"`
	Text string `json:"text"`
}

// webTransition is a breaker transition or a supervised restart, as
// /events pushes it.
type webTransition struct {
	Time     int64  `json:"time"`
	Kind     string `json:"kind"` // "breaker" or "restart"
	Provider string `json:"provider,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	From     string `json:"from,omitempty"`
	To       string `json:"to,omitempty"`
	ReopenAt int64  `json:"reopenAt,omitempty"`
	Actor    string `json:"actor,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

var eventKindNames = map[eventKind]string{evFault: "fault", evOpen: "open", evHalfOpen: "half-open", evClosed: "closed",
	evRestart: "restart", evCooldown: "cooldown", evDisabled: "disabled", evExpired: "expired"}

func webCountersOf(c messages.Counters) webCounters {
	return webCounters{Requests: c.Requests, Successes: c.Successes, Failures: c.FailureTotal(), ByClass: c.Failures, Retries: c.Retries,
		InFlight: c.InFlight, TokensIn: c.InputTokens, TokensOut: c.OutputTokens, P50: ms(c.LatencyP50), P99: ms(c.LatencyP99)}
}

// snapshotOf turns a frame into what the page draws.
func snapshotOf(f frame) webSnapshot {
	t := f.Traffic
	s := webSnapshot{Time: unixMs(f.Now), Started: unixMs(f.Started), Duration: f.Duration.Milliseconds(), Source: f.Source, Seed: f.Seed,
		Metrics: f.MetricsURL, Upload: f.Upload, Opened: f.Opened,
		Traffic: webTraffic{Sent: t.Sent, Answered: t.Answered, OK: t.OK, Failed: t.Failed, Skipped: t.Skipped, PerProvider: map[string]webTally{}},
		Counts: webCounts{Retries: f.Counts.Retries, Rejected: f.Counts.Rejected, Expired: f.Counts.Expired, Cooldowns: f.Counts.Cooldowns,
			Disabled: f.Counts.Disabled, Trips: f.Counts.Trips, Restarts: f.Counts.Restarts},
		Provs: []webProvider{}, Events: []webEventLine{}}
	if s.Opened == nil {
		s.Opened = map[string]int{}
	}
	for name, pt := range t.PerProvider {
		s.Traffic.PerProvider[name] = webTally(pt)
	}
	for _, k := range t.Kinds {
		s.Kinds = append(s.Kinds, webFailedKind(k))
	}
	ev := f.Events
	if len(ev) > webEventsShown {
		ev = ev[len(ev)-webEventsShown:]
	}
	for _, e := range ev {
		s.Events = append(s.Events, webEventLine{At: unixMs(e.At), Kind: eventKindNames[e.Kind], Text: e.Text})
	}
	if f.TreeErr != nil {
		s.Error = "snapshot failed: " + f.TreeErr.Error()
		return s
	}
	tree := f.Tree
	q := tree.Queue
	s.Queue = webQueue{InFlight: q.InFlight, Backoff: q.Backoff, Parked: q.Parked, RetryBudget: q.RetryBudget}
	for _, l := range q.Levels {
		s.Queue.Levels = append(s.Queue.Levels, webLevel{Priority: l.Priority.String(), Depth: l.Depth, Capacity: l.Capacity, Admitted: l.Admitted,
			Rejected: l.Rejected, Expired: l.Expired, OldestWait: ms(l.OldestWait), WaitP50: ms(l.WaitP50), WaitP99: ms(l.WaitP99)})
	}
	for _, w := range q.Windows {
		if w.Batches == 0 && w.Members == 0 {
			continue
		}
		s.Windows = append(s.Windows, webWindow{Name: w.Provider + "/" + w.Model + " " + w.Operation, Calls: w.Batches, PerCall: w.Fill(),
			Largest: w.LargestBatch, Holds: w.Inputs, Max: w.MaxInputs})
	}
	if c := tree.Cache; c != nil {
		s.Cache = &webCache{Entries: c.Entries, Hits: c.Hits, SemanticHits: c.SemanticHits, Coalesced: c.Coalesced, Misses: c.Misses,
			Bypassed: c.Bypassed, Threshold: c.Threshold}
	}
	for _, p := range tree.Providers {
		wp := webProvider{Name: p.Name, Kind: p.Kind, Queued: p.Queued, Counters: webCountersOf(p.Counters), Endpoints: []webEndpoint{}}
		for _, ep := range p.Endpoints {
			we := webEndpoint{Name: ep.Name, State: ep.State.String(), Trips: f.Opened[p.Name+"/"+ep.Name], Restarts: ep.Restarts,
				Counters: webCountersOf(ep.Counters), Keys: []webKey{}}
			if ep.State == messages.Open {
				we.ReopenInMs = max(0, ms(ep.ReopenAt.Sub(tree.Time)))
			}
			for _, k := range ep.Keys {
				wk := webKey{Label: k.Label, State: string(k.State), Counters: webCountersOf(k.Counters)}
				if k.State == messages.KeyStateCooling {
					wk.CoolingMs = max(0, ms(k.CoolingUntil.Sub(tree.Time)))
				}
				we.Keys = append(we.Keys, wk)
			}
			wp.Endpoints = append(wp.Endpoints, we)
		}
		s.Provs = append(s.Provs, wp)
	}
	return s
}

// transitionOf returns the web form of a breaker transition or a restart;
// ok is false for every other event.
func transitionOf(e messages.Event) (webTransition, bool) {
	switch v := e.(type) {
	case *messages.BreakerStateChanged:
		return webTransition{Time: unixMs(v.Time), Kind: "breaker", Provider: v.Provider, Endpoint: v.Endpoint, From: v.From.String(),
			To: v.To.String(), ReopenAt: unixMs(v.ReopenAt), Reason: v.Reason}, true
	case *messages.ActorRestarted:
		prov, ep := actorEndpoint(v.Actor)
		return webTransition{Time: unixMs(v.Time), Kind: "restart", Provider: prov, Endpoint: ep, Actor: v.Actor, Reason: v.Reason}, true
	}
	return webTransition{}, false
}

// actorEndpoint finds provider and endpoint in a breaker's or key's actor
// ID (".../<provider>/breaker-<endpoint>[/key-<label>]"); "" when the ID
// has no breaker in it.
func actorEndpoint(id string) (provider, endpoint string) {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, "breaker-"); ok && i > 0 {
			return parts[i-1], name
		}
	}
	return "", ""
}

// sseMsg is one server-sent event.
type sseMsg struct {
	event string
	data  []byte
}

// webClient is one /events connection: its backlog, and kicked, closed
// when it fell too far behind.
type webClient struct {
	ch     chan sseMsg
	kicked chan struct{}
}

// webHub fans snapshots and transitions out to the /events clients and
// keeps the transitions for those that connect later. Safe for concurrent
// use; publish never blocks (transitions are published on actors'
// goroutines).
type webHub struct {
	mu      sync.Mutex
	clients map[*webClient]struct{}
	history []webTransition
}

func newWebHub() *webHub { return &webHub{clients: map[*webClient]struct{}{}} }

// join registers a client and returns it with the transitions so far;
// nothing published after the copy is missed.
func (h *webHub) join() (*webClient, []byte) {
	c := &webClient{ch: make(chan sseMsg, webBacklog), kicked: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clients[c] = struct{}{}
	hist := []byte("[]")
	if len(h.history) > 0 {
		hist, _ = json.Marshal(h.history)
	}
	return c, hist
}

func (h *webHub) leave(c *webClient) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.clients, c)
}

// listening reports whether any client is connected.
func (h *webHub) listening() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients) > 0
}

// broadcast queues m for every client; one that is full is dropped.
func (h *webHub) broadcast(m sseMsg) {
	for c := range h.clients {
		select {
		case c.ch <- m:
		default:
			delete(h.clients, c)
			close(c.kicked)
		}
	}
}

func (h *webHub) publishSnapshot(data []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.broadcast(sseMsg{event: "snapshot", data: data})
}

// event is the Subscribe callback: it records and pushes transitions.
func (h *webHub) event(e messages.Event) {
	tr, ok := transitionOf(e)
	if !ok {
		return
	}
	data, err := json.Marshal(tr)
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.history = append(h.history, tr)
	if len(h.history) > webHistory {
		h.history = append(h.history[:0:0], h.history[len(h.history)-webHistory:]...)
	}
	h.broadcast(sseMsg{event: "transition", data: data})
}

// webView is the running web server.
type webView struct {
	src *source
	hub *webHub
	// ctx ends when the view stops.
	ctx context.Context
}

// serveWeb serves the web view on addr ("" serves nothing) and returns the
// page's URL (with 127.0.0.1 for an unspecified host, e.g. ":0") and an
// idempotent stop that ends every /events stream and waits for the
// server's goroutines. The view takes its frames from a copy of src made
// now, so the caller may go on setting src's fields (the hint).
func serveWeb(addr string, src *source, sy *switchyard.Switchyard) (url string, stop func(), err error) {
	if addr == "" {
		return "", func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("--web: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	own := *src
	v := &webView{src: &own, hub: newWebHub(), ctx: ctx}
	unsubscribe := sy.Subscribe(v.hub.event)
	srv := &http.Server{Handler: v.handler(), ReadHeaderTimeout: 5 * time.Second}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		_ = srv.Serve(ln)
	}()
	go func() {
		defer wg.Done()
		v.produce()
	}()
	var once sync.Once
	return pageURL(ln.Addr()), func() {
		once.Do(func() {
			unsubscribe()
			cancel()
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			if srv.Shutdown(sctx) != nil {
				_ = srv.Close()
			}
			wg.Wait()
		})
	}, nil
}

// withWebHint adds the web view's address to a view's header hint.
func withWebHint(hint, url string) string {
	switch {
	case url == "":
		return hint
	case hint == "":
		return "web view " + url
	}
	return hint + " · web view " + url
}

// pageURL is the page's address on a listener's address.
func pageURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

func (v *webView) handler() http.Handler {
	static, err := fs.Sub(webFiles, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServerFS(static))
	mux.HandleFunc("GET /snapshot", v.serveSnapshot)
	mux.HandleFunc("GET /events", v.serveEvents)
	return mux
}

// snapshot takes a frame and encodes it.
func (v *webView) snapshot(ctx context.Context) []byte {
	data, err := json.Marshal(snapshotOf(v.src.frame(ctx)))
	if err != nil {
		data, _ = json.Marshal(webSnapshot{Time: time.Now().UnixMilli(), Error: err.Error()})
	}
	return data
}

// produce pushes a snapshot every webRefresh while clients listen, until
// the view stops.
func (v *webView) produce() {
	tick := time.NewTicker(webRefresh)
	defer tick.Stop()
	for {
		select {
		case <-v.ctx.Done():
			return
		case <-tick.C:
		}
		if v.hub.listening() {
			v.hub.publishSnapshot(v.snapshot(v.ctx))
		}
	}
}

func (v *webView) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(v.snapshot(r.Context()))
}

// serveEvents streams server-sent events: "history" (the transitions so
// far, a JSON array), a first "snapshot", then each "snapshot" and
// "transition" as published. It returns when the client goes, falls too
// far behind, or the view stops.
func (v *webView) serveEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	c, hist := v.hub.join()
	defer v.hub.leave(c)
	send := func(m sseMsg) error {
		_ = rc.SetWriteDeadline(time.Now().Add(webWriteTimeout))
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.event, m.data); err != nil {
			return err
		}
		return rc.Flush()
	}
	if _, err := fmt.Fprint(w, "retry: 1000\n\n"); err != nil {
		return
	}
	if send(sseMsg{"history", hist}) != nil || send(sseMsg{"snapshot", v.snapshot(r.Context())}) != nil {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-v.ctx.Done():
			return
		case <-c.kicked:
			return
		case m := <-c.ch:
			if send(m) != nil {
				return
			}
		}
	}
}
