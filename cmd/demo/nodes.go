package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/fleet"
	"github.com/switchyard-ai/switchyard/messages"
)

// The demo's fleet mode (--nodes N): N Switchyard instances in this process,
// members of one in-memory proto.actor cluster whose remote layers talk over
// loopback (docs/fleet.md). They share the simulators, the keys' fleet-wide
// budgets, 429 cooldowns and 401 disables; the traffic goes to each instance
// in turn.
const (
	// maxNodes bounds --nodes: every member is a whole instance with its
	// own actor system and remote layer.
	maxNodes = 9
	// fleetRPM is the rpm of each simulated provider's first key with
	// --nodes: the demo's traffic offers that key more than this, so the
	// view shows the fleet-wide budget binding (waits, refusals).
	fleetRPM = 120
	// fleetBlockPercent sizes the leases: 5 % of 120 rpm, 6 permits.
	fleetBlockPercent = 5
	// joinWait bounds the wait for every member to list all the others
	// before the traffic starts.
	joinWait = 20 * time.Second
)

// nodeName names the i-th instance (from 0) in the views: n1, n2, …
func nodeName(i int) string { return fmt.Sprintf("n%d", i+1) }

// withKeyBudgets gives the first key of each provider's first endpoint an
// rpm of rpm.
func withKeyBudgets(cfg *switchyard.Config, rpm int) {
	for i := range cfg.Providers {
		pc := &cfg.Providers[i]
		if len(pc.Endpoints) > 0 && len(pc.Endpoints[0].Keys) > 0 {
			pc.Endpoints[0].Keys[0].RPM = rpm
		}
	}
}

// keyLimit is a key's configured per-minute limits.
type keyLimit struct{ RPM, TPM int }

// budgetsOf lists the keys of cfg that have a per-minute limit, by their
// fleet identity (fleet.BudgetIdentity).
func budgetsOf(cfg switchyard.Config) map[string]keyLimit {
	out := map[string]keyLimit{}
	for _, pc := range cfg.Providers {
		name := pc.Name
		if name == "" {
			name = pc.Kind
		}
		for _, ec := range pc.Endpoints {
			for _, kc := range ec.Keys {
				if kc.RPM > 0 || kc.TPM > 0 {
					out[fleet.BudgetIdentity(name, ec.Name, kc.Label)] = keyLimit{RPM: kc.RPM, TPM: kc.TPM}
				}
			}
		}
	}
	return out
}

// startNodes starts n instances of cfg, in parallel; with n > 1 each joins
// one in-memory cluster (cfg's own Cluster section is replaced). When one
// fails, those that started are closed.
func startNodes(cfg switchyard.Config, n int) ([]*switchyard.Switchyard, error) {
	if n <= 1 {
		sy, err := switchyard.New(cfg)
		if err != nil {
			return nil, err
		}
		return []*switchyard.Switchyard{sy}, nil
	}
	cfg.Cluster = switchyard.ClusterConfig{Provider: "test", Name: "demo", InMem: test.NewInMemAgent(),
		Lease: switchyard.LeaseConfig{BlockPercent: fleetBlockPercent}}
	sys := make([]*switchyard.Switchyard, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range sys {
		wg.Go(func() { sys[i], errs[i] = switchyard.New(cfg) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		var started []*switchyard.Switchyard
		for _, sy := range sys {
			if sy != nil {
				started = append(started, sy)
			}
		}
		_ = closeNodes(started)
		return nil, err
	}
	return sys, nil
}

// closeNodes closes every instance in parallel, each within closeTimeout
// (a member's Close also leaves the cluster, which takes about 2 s).
func closeNodes(sys []*switchyard.Switchyard) error {
	errs := make([]error, len(sys))
	var wg sync.WaitGroup
	for i, sy := range sys {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			defer cancel()
			if err := sy.Close(ctx); err != nil && len(sys) > 1 {
				errs[i] = fmt.Errorf("%s: %w", nodeName(i), err)
			} else {
				errs[i] = err
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// awaitMembers waits until every instance lists all of them as members, up
// to d or the end of ctx; it reports whether they all did.
func awaitMembers(ctx context.Context, sys []*switchyard.Switchyard, d time.Duration) bool {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		all := true
		for _, sy := range sys {
			if st, err := sy.Stats(ctx); err != nil || st.Fleet.Members != len(sys) {
				all = false
				break
			}
		}
		if all {
			return true
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return false
		}
	}
}

// nodeFrame is what the views show of one instance with --nodes.
type nodeFrame struct {
	Name    string
	Tree    messages.Tree
	TreeErr error
	// Fleet are the instance's fleet figures (its member address, its
	// leases, the grains it hosts).
	Fleet messages.FleetStats
	// Sent counts the demo's requests sent to this instance.
	Sent int64
}

// nodeFrames takes every instance's tree and fleet figures, in parallel,
// within ctx.
func nodeFrames(ctx context.Context, sys []*switchyard.Switchyard, sent []int64) []nodeFrame {
	out := make([]nodeFrame, len(sys))
	var wg sync.WaitGroup
	for i, sy := range sys {
		wg.Go(func() {
			n := nodeFrame{Name: nodeName(i)}
			if i < len(sent) {
				n.Sent = sent[i]
			}
			n.Tree, n.TreeErr = sy.Tree(ctx)
			if st, err := sy.Stats(ctx); err == nil {
				n.Fleet = st.Fleet
			}
			out[i] = n
		})
	}
	wg.Wait()
	return out
}
