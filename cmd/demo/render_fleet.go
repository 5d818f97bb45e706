package main

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
)

// The views of a fleet (--nodes): each node's tree compactly, then the
// fleet-wide key budgets and the endpoints' states on every node.

// renderNodes shows each node: a header line (its member address, what the
// demo sent it, its queue, the grains it hosts), then one line per
// provider with its endpoints' breaker states and its keys' states.
func renderNodes(b *strings.Builder, f frame, pal palette) {
	for _, n := range f.Nodes {
		b.WriteString("\n")
		head := fmt.Sprintf("node %s · %s · %d members · demo sent %d", n.Name, orDash(n.Fleet.Member), n.Fleet.Members, n.Sent)
		if n.TreeErr != nil {
			b.WriteString(pal.title(head) + " · " + pal.bad("snapshot failed: "+n.TreeErr.Error()) + "\n")
			continue
		}
		q := n.Tree.Queue
		head += fmt.Sprintf(" · queued H%d N%d L%d · in flight %d", q.Levels[0].Depth, q.Levels[1].Depth, q.Levels[2].Depth, q.InFlight)
		if c := n.Tree.Cache; c != nil {
			head += fmt.Sprintf(" · cache hits %d", c.Hits+c.SemanticHits)
		}
		head += fmt.Sprintf(" · grains here %d, %d leases answered · pushes %d", n.Fleet.GrainActivations, n.Fleet.GrainLeases, n.Fleet.Pushes)
		b.WriteString(pal.title(head) + "\n")
		nameW := 0
		for _, p := range n.Tree.Providers {
			nameW = max(nameW, len(p.Name))
		}
		for _, p := range n.Tree.Providers {
			var eps []string
			for _, ep := range p.Endpoints {
				var ks []string
				for _, k := range ep.Keys {
					ks = append(ks, pal.key(k.State, k.Label+" "+keyWord(k, n.Tree)))
				}
				eps = append(eps, fmt.Sprintf("%s %s [%s]", ep.Name, pal.breaker(ep.State, breakerWord(ep, n.Tree)), strings.Join(ks, ", ")))
			}
			fmt.Fprintf(b, "  %-*s  %s\n", nameW, p.Name, strings.Join(eps, "  "))
		}
	}
}

// breakerWord is an endpoint's state, with the time to its restart when
// OPEN.
func breakerWord(ep messages.EndpointNode, t messages.Tree) string {
	s := ep.State.String()
	if ep.State == messages.Open {
		if d := ep.ReopenAt.Sub(t.Time); d > 0 {
			s += " " + fmtDur(d)
		}
	}
	return s
}

// keyWord is a key's state in a word: ok, cooling (with the time left) or
// disabled.
func keyWord(k messages.KeyNode, t messages.Tree) string {
	switch k.State {
	case messages.KeyStateActive:
		return "ok"
	case messages.KeyStateCooling:
		return "cooling " + fmtDur(k.CoolingUntil.Sub(t.Time))
	}
	return string(k.State)
}

// renderFleet shows what the fleet shares: per key budget, the member that
// hosts its grain and, per node, the permits taken, the leases, the checks
// that found no permit, the refusals and the fallbacks to the fair share;
// per endpoint, its state on each node.
func renderFleet(b *strings.Builder, f frame, pal palette) {
	names := make([]string, len(f.Nodes))
	member := map[string]string{} // cluster address → node name
	for i, n := range f.Nodes {
		names[i] = n.Name
		if n.Fleet.Member != "" {
			member[n.Fleet.Member] = n.Name
		}
	}
	per := strings.Join(names, "/")
	b.WriteString("\n" + pal.title(fmt.Sprintf("fleet     %d nodes in one cluster · key budgets are fleet-wide · figures per node %s", len(f.Nodes), per)) + "\n")

	ids := make([]string, 0, len(f.Budgets))
	idW := 0
	for id := range f.Budgets {
		ids = append(ids, id)
		idW = max(idW, len(id))
	}
	sort.Strings(ids)
	if len(ids) == 0 {
		b.WriteString(pal.dim("budget    no key has an rpm or tpm") + "\n")
	}
	for i, id := range ids {
		label := "          "
		if i == 0 {
			label = pal.dim("budget    ")
		}
		var hosts, fair []string
		var taken, leases, failed, waits, refused []string
		for _, n := range f.Nodes {
			k := n.Fleet.Keys[id]
			if h := hostOf(k.Activation, member); h != "" && !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
			if k.FairShare {
				fair = append(fair, n.Name)
			}
			taken = append(taken, fmt.Sprint(k.Taken+k.LocalTaken))
			leases = append(leases, fmt.Sprint(k.Leases))
			failed = append(failed, fmt.Sprint(k.LeaseFailures))
			waits = append(waits, fmt.Sprint(k.Waits))
			refused = append(refused, fmt.Sprint(k.Refused))
		}
		host := "-"
		if len(hosts) > 0 {
			host = strings.Join(hosts, ",")
		}
		fairShare := "-"
		if len(fair) > 0 {
			fairShare = pal.bad(strings.Join(fair, ","))
		}
		fmt.Fprintf(b, "%s%-*s  %-7s  host %-3s  taken %s · leases %s (failed %s) · waits %s · refused %s · fair share %s\n",
			label, idW, id, limitWord(f.Budgets[id]), host, strings.Join(taken, "/"), strings.Join(leases, "/"), strings.Join(failed, "/"),
			strings.Join(waits, "/"), strings.Join(refused, "/"), fairShare)
	}

	// Endpoints in node 1's order, their state on every node.
	first := f.Nodes[0].Tree
	nameW := 0
	for _, p := range first.Providers {
		nameW = max(nameW, len(p.Name))
	}
	for i, p := range first.Providers {
		label := "          "
		if i == 0 {
			label = pal.dim("endpoints ")
		}
		var eps []string
		for _, ep := range p.Endpoints {
			var states []string
			for _, n := range f.Nodes {
				states = append(states, endpointWord(n, p.Name, ep.Name, pal))
			}
			eps = append(eps, ep.Name+" "+strings.Join(states, "/"))
		}
		fmt.Fprintf(b, "%s%-*s  %s\n", label, nameW, p.Name, strings.Join(eps, " · "))
	}
}

// hostOf names the member of a grain activation ("address@start"): the
// node's name when it is one of the demo's, else its address.
func hostOf(activation string, member map[string]string) string {
	addr, _, _ := strings.Cut(activation, "@")
	if addr == "" {
		return ""
	}
	if n, ok := member[addr]; ok {
		return n
	}
	return addr
}

// limitWord renders a key's per-minute limits: "120 rpm", "120 rpm 40k tpm".
func limitWord(l keyLimit) string {
	var parts []string
	if l.RPM > 0 {
		parts = append(parts, fmt.Sprintf("%d rpm", l.RPM))
	}
	if l.TPM > 0 {
		parts = append(parts, fmtCount(uint64(l.TPM))+" tpm")
	}
	return strings.Join(parts, " ")
}

// endpointWord is an endpoint's state on node n ("?" when its snapshot
// failed).
func endpointWord(n nodeFrame, provider, endpoint string, pal palette) string {
	for _, p := range n.Tree.Providers {
		if p.Name != provider {
			continue
		}
		for _, ep := range p.Endpoints {
			if ep.Name == endpoint {
				return pal.breaker(ep.State, ep.State.String())
			}
		}
	}
	return "?"
}

// providerOnNodes is provider p on every node (p itself for a single
// instance).
func providerOnNodes(f frame, p messages.ProviderNode) []messages.ProviderNode {
	if len(f.Nodes) <= 1 {
		return []messages.ProviderNode{p}
	}
	var out []messages.ProviderNode
	for _, n := range f.Nodes {
		for _, q := range n.Tree.Providers {
			if q.Name == p.Name {
				out = append(out, q)
			}
		}
	}
	return out
}
