// Several cluster members in one process race inside protoactor-go's remote
// layer (docs/fleet.md, "Upstream findings"; fleet/cluster_test.go): this
// file runs without the race detector, in `make test-fleet`.

//go:build !race

package main

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/internal/leaktest"
)

// --nodes 3: three members of one in-memory cluster share the simulators;
// the plain view shows each node's tree, the fleet-wide key budgets with
// the member hosting each budget's grain and the endpoints' states on every
// node; the summary counts every request, over all nodes, as answered.
func TestRunNodesPlain(t *testing.T) {
	defer verifyNoLeaks(t, append([]goleak.Option{goleak.IgnoreCurrent()}, leaktest.ProtoactorLeftovers...)...)

	nodeRE := func(name string) *regexp.Regexp {
		return regexp.MustCompile(`(?m)^node ` + name + ` · 127\.0\.0\.1:\d+ · 3 members · demo sent [1-9]\d*`)
	}
	// A budget row whose grain has answered a lease: it names the member
	// that hosts it.
	budgetRE := regexp.MustCompile(`(?m)^(budget    |          )\w[\w-]*/primary/pri-1 +120 rpm +host (n[123]) +taken \d+/\d+/\d+ · leases \d+/\d+/\d+ \(failed \d+/\d+/\d+\)`)
	// An event line names the node that published it.
	eventRE := regexp.MustCompile(`(?m)^ +\+\S+  n[123]: (key|breaker|supervisor) `)
	endpointRE := regexp.MustCompile(`(?m)^endpoints anthropic +primary (CLOSED|OPEN|HALF-OPEN)/(CLOSED|OPEN|HALF-OPEN)/(CLOSED|OPEN|HALF-OPEN) · secondary `)

	var out syncBuffer
	// The demo runs until every node has shown with traffic, a budget has
	// named its grain's host and a node's event has shown, at least 1.5 s
	// and at most 60 s.
	ctx := runUntil(t, &out, 1500*time.Millisecond, nodeRE("n1"), nodeRE("n2"), nodeRE("n3"), budgetRE, eventRE)
	opts := options{Interval: 500 * time.Millisecond, Plain: true, Seed: 5, Nodes: 3, Getenv: noEnv, Stdin: strings.NewReader("")}
	require.NoError(t, run(ctx, opts, &out), tail(out.String(), 60))
	s := out.String()

	for _, name := range []string{"n1", "n2", "n3"} {
		assert.Regexp(t, nodeRE(name), s, "node %s's section", name)
	}
	assert.NotRegexp(t, `(?m)^node n4 `, s, "a fourth node")
	// Each node's compact tree: a line per provider, its endpoints' and
	// keys' states.
	assert.Regexp(t, `(?m)^  anthropic +primary (CLOSED|OPEN [\d.]+m?s|OPEN|HALF-OPEN) \[pri-1 (ok|cooling \S+|disabled), pri-2 `, s, "a node's provider line")
	assert.Contains(t, s, "fleet     3 nodes in one cluster")
	assert.Regexp(t, budgetRE, s, "a budget row naming its grain's host")
	assert.Regexp(t, endpointRE, s, "an endpoint's state on every node")
	assert.Regexp(t, eventRE, s, "events name their node")
	assert.Contains(t, s, "Summary · simulators · 3 nodes")
	assert.Regexp(t, `(?m)^  nodes: n1 sent [1-9]\d*, n2 sent [1-9]\d*, n3 sent [1-9]\d*`, s, "the summary's requests per node")
	assert.NotContains(t, s, "sk-demo", "output contains a fake key")
	assert.GreaterOrEqual(t, checkAnswered(t, s), 3, "requests over the three nodes")
}
