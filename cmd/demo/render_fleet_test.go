package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-ai/switchyard/messages"
)

// A fleet's frame renders each node compactly and the fleet section: the
// grain's host named by the address before '@' of the activation, the
// figures per node in node order, the nodes on their fair share, and each
// endpoint's state on every node.
func TestRenderFleetSections(t *testing.T) {
	now := time.Now()
	tree := func(primary messages.BreakerState, pri1 messages.KeyState) messages.Tree {
		return messages.Tree{Time: now, Providers: []messages.ProviderNode{{Name: "openai", Kind: "openai", Endpoints: []messages.EndpointNode{
			{Name: "primary", State: primary, ReopenAt: now.Add(2 * time.Second), Keys: []messages.KeyNode{
				{Label: "pri-1", State: pri1, CoolingUntil: now.Add(1500 * time.Millisecond)}, {Label: "pri-2", State: messages.KeyStateActive}}},
			{Name: "secondary", State: messages.Closed, Keys: []messages.KeyNode{{Label: "sec-1", State: messages.KeyStateDisabled}}},
		}}}}
	}
	const id = "openai/primary/pri-1"
	f := frame{Now: now, Started: now, Source: "simulators",
		Budgets: map[string]keyLimit{id: {RPM: 120}},
		Nodes: []nodeFrame{
			{Name: "n1", Sent: 10, Tree: tree(messages.Closed, messages.KeyStateActive), Fleet: messages.FleetStats{Member: "127.0.0.1:7001", Members: 2,
				Keys: map[string]messages.FleetKey{id: {Activation: "127.0.0.1:7002@1700000000", Leases: 4, Taken: 20, Waits: 3}}}},
			{Name: "n2", Sent: 9, Tree: tree(messages.Open, messages.KeyStateCooling), Fleet: messages.FleetStats{Member: "127.0.0.1:7002", Members: 2,
				GrainActivations: 1, GrainLeases: 6, Pushes: 2,
				Keys: map[string]messages.FleetKey{id: {Activation: "127.0.0.1:7002@1700000000", Leases: 2, LeaseFailures: 1, Taken: 5, LocalTaken: 7, Refused: 1, FairShare: true}}}},
		}}
	out := renderMain(f, plainPalette)
	for _, want := range []string{
		"node n1 · 127.0.0.1:7001 · 2 members · demo sent 10",
		"node n2 · 127.0.0.1:7002 · 2 members · demo sent 9",
		"grains here 1, 6 leases answered · pushes 2",
		"  openai  primary CLOSED [pri-1 ok, pri-2 ok]  secondary CLOSED [sec-1 disabled]",
		"  openai  primary OPEN 2.0s [pri-1 cooling 1.5s, pri-2 ok]  secondary CLOSED [sec-1 disabled]",
		"fleet     2 nodes in one cluster · key budgets are fleet-wide · figures per node n1/n2",
		"budget    openai/primary/pri-1  120 rpm  host n2   taken 20/12 · leases 4/2 (failed 0/1) · waits 3/0 · refused 0/1 · fair share n2",
		"endpoints openai  primary CLOSED/OPEN · secondary CLOSED/CLOSED",
	} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "queue     level", "a single instance's sections in fleet mode")

	sum := renderSummary(f, nil)
	assert.Contains(t, sum, "Summary · simulators · 2 nodes")
	assert.Contains(t, sum, "  nodes: n1 sent 10, n2 sent 9")
}

func TestHostOf(t *testing.T) {
	member := map[string]string{"127.0.0.1:7001": "n1", "127.0.0.1:7002": "n2"}
	for _, tc := range []struct{ activation, want string }{
		{"127.0.0.1:7002@1700000000", "n2"},
		{"127.0.0.1:7001@5", "n1"},
		{"10.0.0.9:7010@5", "10.0.0.9:7010"}, // not one of the demo's nodes
		{"", ""},                             // no lease answered yet
		{"@5", ""},
	} {
		assert.Equal(t, tc.want, hostOf(tc.activation, member), tc.activation)
	}
}

// The budget section says so when no key has a limit, and a budget with
// no answered lease has no host yet.
func TestRenderFleetWithoutHosts(t *testing.T) {
	n := nodeFrame{Name: "n1", Fleet: messages.FleetStats{Member: "a:1", Members: 2}}
	f := frame{Nodes: []nodeFrame{n, {Name: "n2"}}}
	var b strings.Builder
	renderFleet(&b, f, plainPalette)
	assert.Contains(t, b.String(), "budget    no key has an rpm or tpm")

	f.Budgets = map[string]keyLimit{"p/e/k": {RPM: 60, TPM: 40000}}
	b.Reset()
	renderFleet(&b, f, plainPalette)
	assert.Contains(t, b.String(), "budget    p/e/k  60 rpm 40.0k tpm  host -    taken 0/0")
}
