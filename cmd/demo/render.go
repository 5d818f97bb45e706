package main

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// frame is everything one screen shows.
type frame struct {
	Now, Started time.Time
	Duration     time.Duration
	Source       string
	Seed         uint64
	MetricsURL   string
	Tree         messages.Tree
	TreeErr      error
	Traffic      trafficTotals
	Events       []eventLine
	Counts       eventCounts
	// Opened counts transitions to OPEN per "provider/endpoint".
	Opened map[string]int
	// Hint is shown in the header (e.g. "q to quit").
	Hint string
	// Upload is the object store's upload line, "" without one.
	Upload string
	// Compact puts each endpoint's keys on one line (small terminals).
	Compact bool
	// Nodes are the fleet's instances with --nodes (nil for a single one;
	// Tree and TreeErr are then node 1's), Budgets the keys with
	// per-minute limits by fleet identity.
	Nodes   []nodeFrame
	Budgets map[string]keyLimit
}

// palette colours the text; the plain view's is the identity.
type palette struct {
	breaker func(messages.BreakerState, string) string
	key     func(messages.KeyState, string) string
	event   func(eventKind, string) string
	title   func(string) string
	dim     func(string) string
	bad     func(string) string
}

func same(s string) string { return s }

var plainPalette = palette{
	breaker: func(_ messages.BreakerState, s string) string { return s },
	key:     func(_ messages.KeyState, s string) string { return s },
	event:   func(_ eventKind, s string) string { return s },
	title:   same, dim: same, bad: same,
}

// renderMain renders the header, the queue and the tree.
func renderMain(f frame, pal palette) string {
	var b strings.Builder
	elapsed := f.Now.Sub(f.Started).Round(100 * time.Millisecond)
	head := fmt.Sprintf("Switchyard demo · %s · %s", f.Source, fmtDur(elapsed))
	if f.Duration > 0 {
		head += " of " + fmtDur(f.Duration)
	}
	head += fmt.Sprintf(" · seed %d", f.Seed)
	if f.MetricsURL != "" {
		head += " · metrics " + f.MetricsURL
	}
	if f.Hint != "" {
		head += " · " + f.Hint
	}
	b.WriteString(pal.title(head) + "\n")

	t := f.Traffic
	line := fmt.Sprintf("traffic   sent %d · answered %d · ok %d · failed %d", t.Sent, t.Answered, t.OK, t.Failed)
	if len(t.Kinds) > 0 {
		var ks []string
		for _, k := range t.Kinds {
			ks = append(ks, fmt.Sprintf("%s %d", k.Kind, k.Count))
		}
		line += " (" + strings.Join(ks, ", ") + ")"
	}
	line += fmt.Sprintf(" · waiting %d", t.Sent-t.Answered)
	if t.Skipped > 0 {
		line += fmt.Sprintf(" · skipped %d", t.Skipped)
	}
	b.WriteString(line + "\n")
	if f.Upload != "" {
		b.WriteString(f.Upload + "\n")
	}
	if len(f.Nodes) > 1 {
		renderNodes(&b, f, pal)
		renderFleet(&b, f, pal)
		return b.String()
	}

	if f.TreeErr != nil {
		b.WriteString(pal.bad("snapshot failed: "+f.TreeErr.Error()) + "\n")
		return b.String()
	}
	q := f.Tree.Queue
	b.WriteString(pal.dim("queue     level   depth/cap  admitted  rejected  expired  oldest   wait p50/p99") + "\n")
	for _, l := range q.Levels {
		depth := fmt.Sprintf("%d/%d", l.Depth, l.Capacity)
		b.WriteString(fmt.Sprintf("          %-6s  %9s  %8d  %8d  %7d  %-7s  %s/%s\n", l.Priority, depth, l.Admitted, l.Rejected, l.Expired,
			fmtDur(l.OldestWait), fmtDur(l.WaitP50), fmtDur(l.WaitP99)))
	}
	b.WriteString(fmt.Sprintf("          in flight %d · waiting for a retry %d · retry budget %.0f\n", q.InFlight, q.Backoff, q.RetryBudget))
	renderWindows(&b, q.Windows, f.Compact, pal)
	renderCache(&b, f.Tree.Cache, pal)

	for _, p := range f.Tree.Providers {
		b.WriteString("\n")
		renderProvider(&b, f, p, pal)
	}
	return b.String()
}

func renderProvider(b *strings.Builder, f frame, p messages.ProviderNode, pal palette) {
	c := p.Counters
	tt := f.Traffic.PerProvider[p.Name]
	b.WriteString(pal.title(fmt.Sprintf("%s (%s)", p.Name, p.Kind)))
	b.WriteString(fmt.Sprintf("  queued H%d N%d L%d · attempts %d ok %d fail %d retries %d · tokens %s in %s out · p50 %s p99 %s · demo sent %d ok %d failed %d\n",
		p.Queued[0], p.Queued[1], p.Queued[2], c.Requests, c.Successes, c.FailureTotal(), c.Retries,
		fmtCount(c.InputTokens), fmtCount(c.OutputTokens), fmtDur(c.LatencyP50), fmtDur(c.LatencyP99), tt.Sent, tt.OK, tt.Failed))
	nameW := 0
	for _, ep := range p.Endpoints {
		nameW = max(nameW, len(ep.Name))
	}
	for i, ep := range p.Endpoints {
		last := i == len(p.Endpoints)-1
		branch, stem := "├─ ", "│  "
		if last {
			branch, stem = "└─ ", "   "
		}
		state := pal.breaker(ep.State, fmt.Sprintf("%-9s", ep.State))
		var when string
		switch ep.State {
		case messages.Open:
			if d := ep.ReopenAt.Sub(f.Tree.Time); d > 0 {
				when = "reopens in " + fmtDur(d)
			} else {
				when = "restart due"
			}
		case messages.HalfOpen:
			when = "probing"
		}
		ec := ep.Counters
		b.WriteString(fmt.Sprintf("%sbreaker %-*s %s %-16s trips %d restarts %d · in flight %d · attempts %d ok %d fail %d%s\n",
			branch, nameW, ep.Name, state, when, f.Opened[p.Name+"/"+ep.Name], ep.Restarts, ec.InFlight,
			ec.Requests, ec.Successes, ec.FailureTotal(), classes(ec.Failures)))
		if f.Compact {
			// One line for all keys: label and state, colour-coded.
			var ks []string
			for _, k := range ep.Keys {
				st := string(k.State)
				if k.State == messages.KeyStateCooling {
					st += " " + fmtDur(k.CoolingUntil.Sub(f.Tree.Time))
				}
				ks = append(ks, pal.key(k.State, k.Label+" "+st))
			}
			b.WriteString(stem + "└─ keys " + strings.Join(ks, " · ") + "\n")
			continue
		}
		labelW := 0
		for _, k := range ep.Keys {
			labelW = max(labelW, len(k.Label))
		}
		for j, k := range ep.Keys {
			kb := "├─ "
			if j == len(ep.Keys)-1 {
				kb = "└─ "
			}
			st := string(k.State)
			if k.State == messages.KeyStateCooling {
				st += " " + fmtDur(k.CoolingUntil.Sub(f.Tree.Time))
			}
			kc := k.Counters
			hint := k.Hint
			if hint == "" {
				hint = "…????"
			}
			b.WriteString(fmt.Sprintf("%s%skey %-*s %s %s in flight %d · req %d ok %d fail %d · tokens %s/%s · p50 %s p99 %s\n",
				stem, kb, labelW, k.Label, pal.dim(hint), pal.key(k.State, fmt.Sprintf("%-12s", st)), kc.InFlight,
				kc.Requests, kc.Successes, kc.FailureTotal(), fmtCount(kc.InputTokens), fmtCount(kc.OutputTokens),
				fmtDur(kc.LatencyP50), fmtDur(kc.LatencyP99)))
		}
	}
}

// classes renders failures by class, most frequent first: " (server 3, …)".
func classes(m map[string]uint64) string {
	if len(m) == 0 {
		return ""
	}
	type kv struct {
		k string
		v uint64
	}
	var s []kv
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].v != s[j].v {
			return s[i].v > s[j].v
		}
		return s[i].k < s[j].k
	})
	parts := make([]string, len(s))
	for i, e := range s {
		parts[i] = fmt.Sprintf("%s %d", e.k, e.v)
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// renderEvents renders the event counts and the last n events, oldest first.
func renderEvents(f frame, pal palette, n int) string {
	var b strings.Builder
	c := f.Counts
	b.WriteString(pal.dim(fmt.Sprintf("events    retries %d · rejected %d · expired %d · key cooldowns %d · keys disabled %d · breaker trips %d · restarts %d",
		c.Retries, c.Rejected, c.Expired, c.Cooldowns, c.Disabled, c.Trips, c.Restarts)) + "\n")
	ev := f.Events
	if n < len(ev) {
		ev = ev[len(ev)-n:]
	}
	for _, e := range ev {
		at := fmt.Sprintf("%7s", "+"+fmtDur(e.At.Sub(f.Started).Round(100*time.Millisecond)))
		b.WriteString("  " + pal.dim(at) + "  " + pal.event(e.Kind, e.Text) + "\n")
	}
	return b.String()
}

// render is the whole frame with up to 10 events.
func render(f frame, pal palette) string {
	return renderMain(f, pal) + "\n" + renderEvents(f, pal, 10)
}

// renderSummary is printed once the instance is closed.
func renderSummary(f frame, closeErr error) string {
	var b strings.Builder
	t := f.Traffic
	fleet := ""
	if len(f.Nodes) > 1 {
		fleet = fmt.Sprintf(" · %d nodes", len(f.Nodes))
	}
	b.WriteString(fmt.Sprintf("Summary · %s%s · ran %s · seed %d\n", f.Source, fleet, fmtDur(f.Now.Sub(f.Started).Round(100*time.Millisecond)), f.Seed))
	b.WriteString(fmt.Sprintf("  %-12s %7s %7s %7s %9s %8s %9s %9s %6s %9s\n", "provider", "sent", "ok", "failed", "attempts", "retries", "tokens in", "tokens out", "trips", "restarts"))
	for _, p := range f.Tree.Providers {
		pt := t.PerProvider[p.Name]
		trips, restarts := 0, 0
		for _, ep := range p.Endpoints {
			trips += f.Opened[p.Name+"/"+ep.Name]
		}
		// The instance's counters; with --nodes, summed over the nodes.
		var c messages.Counters
		for _, q := range providerOnNodes(f, p) {
			c.Requests += q.Counters.Requests
			c.Retries += q.Counters.Retries
			c.InputTokens += q.Counters.InputTokens
			c.OutputTokens += q.Counters.OutputTokens
			for _, ep := range q.Endpoints {
				restarts += ep.Restarts
			}
		}
		b.WriteString(fmt.Sprintf("  %-12s %7d %7d %7d %9d %8d %9s %9s %6d %9d\n", p.Name, pt.Sent, pt.OK, pt.Failed,
			c.Requests, c.Retries, fmtCount(c.InputTokens), fmtCount(c.OutputTokens), trips, restarts))
	}
	if f.TreeErr != nil {
		b.WriteString("  (final snapshot failed: " + f.TreeErr.Error() + ")\n")
	}
	if len(f.Nodes) > 1 {
		var ns []string
		for _, n := range f.Nodes {
			s := fmt.Sprintf("%s sent %d", n.Name, n.Sent)
			if n.TreeErr != nil {
				s += " (final snapshot failed: " + n.TreeErr.Error() + ")"
			}
			ns = append(ns, s)
		}
		b.WriteString("  nodes: " + strings.Join(ns, ", ") + " (trips and restarts: all nodes)\n")
	}
	var trips []string
	for ep, n := range f.Opened {
		trips = append(trips, fmt.Sprintf("%s %d", ep, n))
	}
	sort.Strings(trips)
	if len(trips) == 0 {
		trips = []string{"none"}
	}
	b.WriteString("  breaker trips: " + strings.Join(trips, ", ") + "\n")
	if len(t.Kinds) > 0 {
		var ks []string
		for _, k := range t.Kinds {
			ks = append(ks, fmt.Sprintf("%s %d", k.Kind, k.Count))
		}
		b.WriteString("  failed answers: " + strings.Join(ks, ", ") + "\n")
	}
	c := f.Counts
	b.WriteString(fmt.Sprintf("  events: retries %d, rejected %d, expired %d, key cooldowns %d, keys disabled %d, restarts %d\n",
		c.Retries, c.Rejected, c.Expired, c.Cooldowns, c.Disabled, c.Restarts))
	if closeErr != nil {
		b.WriteString("  close: " + closeErr.Error() + "\n")
	}
	if t.Sent == t.Answered {
		b.WriteString(fmt.Sprintf("every request answered: %d sent, %d answered\n", t.Sent, t.Answered))
	} else {
		b.WriteString(fmt.Sprintf("NOT every request answered: %d sent, %d answered, %d missing\n", t.Sent, t.Answered, t.Sent-t.Answered))
	}
	return b.String()
}

// fmtDur renders a duration compactly: "-" for zero, µs, ms, or seconds.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

// fmtCount renders a count compactly: 950, 12.3k, 4.5M.
func fmtCount(n uint64) string {
	switch {
	case n < 10_000:
		return fmt.Sprint(n)
	case n < 1_000_000:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprintf("%.1fM", float64(n)/1e6)
}

// renderWindows shows each batching window that has sent a call: its calls,
// mean requests per call, largest call, why it flushed, and what it holds.
func renderWindows(b *strings.Builder, ws []messages.WindowStatus, compact bool, pal palette) {
	if compact {
		// One line: totals, and the window that shares calls best.
		var calls, reqs uint64
		var best messages.WindowStatus
		for _, w := range ws {
			calls += w.Batches
			reqs += w.Batched
			if w.Fill() > best.Fill() {
				best = w
			}
		}
		if calls > 0 {
			fmt.Fprintf(b, "batching  %d calls carried %d requests · best %s/%s %s %.1f per call\n", calls, reqs, best.Provider, best.Model, best.Operation, best.Fill())
		}
		return
	}
	shown := 0
	for _, w := range ws {
		if w.Batches == 0 && w.Members == 0 {
			continue
		}
		if shown == 0 {
			b.WriteString(pal.dim("batching  window                       calls  req/call  largest  flushed full/delay/high/retry  holds") + "\n")
		}
		shown++
		name := w.Provider + "/" + w.Model + " " + w.Operation
		b.WriteString(fmt.Sprintf("          %-27s  %5d  %8.1f  %7d  %s  %d/%d\n", trim(name, 27), w.Batches, w.Fill(), w.LargestBatch,
			fmt.Sprintf("%-29s", fmt.Sprintf("%d/%d/%d/%d", w.FlushFull, w.FlushDelay, w.FlushHigh, w.FlushRetry)), w.Inputs, w.MaxInputs))
	}
}

// renderCache shows the cache's counts and its latest hits with their
// similarity.
func renderCache(b *strings.Builder, c *messages.CacheStatus, pal palette) {
	if c == nil {
		return
	}
	b.WriteString(fmt.Sprintf("cache     %d entries · exact %d · semantic %d · shared %d · misses %d · bypassed %d · threshold %.2f\n",
		c.Entries, c.Hits, c.SemanticHits, c.Coalesced, c.Misses, c.Bypassed, c.Threshold))
	if len(c.LastHits) == 0 {
		return
	}
	var hits []string
	for i := len(c.LastHits) - 1; i >= 0 && len(hits) < 4; i-- {
		h := c.LastHits[i]
		kind := "semantic"
		switch {
		case h.Coalesced:
			kind = "shared"
		case h.Exact:
			kind = "exact"
		}
		hits = append(hits, fmt.Sprintf("%s %s %.3f", h.Provider, kind, h.Similarity))
	}
	b.WriteString(pal.dim("          last hits: "+strings.Join(hits, " · ")) + "\n")
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
