// The in-memory fleet tests run without the race detector, like the
// cluster tests in package fleet: protoactor-go's remote layer races when
// several members share a process (docs/fleet.md, "Upstream findings").

//go:build !race

// Package fleetmode_test runs several Switchyard instances as members of
// one in-memory proto.actor cluster and checks what they share: key
// budgets, cooldowns and disables.
package fleetmode_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

const secretA = "sk-test-FLEET-0123456789abcdefFLEE"

// member is one instance of the fleet and the events it published.
type member struct {
	sy     *switchyard.Switchyard
	mu     sync.Mutex
	events []messages.Event
}

func (m *member) eventsOf(match func(messages.Event) bool) []messages.Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []messages.Event
	for _, e := range m.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

func (m *member) stats(t *testing.T) messages.Stats {
	t.Helper()
	st, err := m.sy.Stats(context.Background())
	require.NoError(t, err)
	return st
}

func (m *member) key(t *testing.T) messages.KeyNode {
	t.Helper()
	tr, err := m.sy.Tree(context.Background())
	require.NoError(t, err)
	return tr.Providers[0].Endpoints[0].Keys[0]
}

// startFleet starts n instances in one in-memory cluster, each with one
// anthropic provider on srv with one key (label a, secretA, key's limits),
// on clk. They
// are closed (in parallel) when the test ends.
func startFleet(t *testing.T, n int, srv *sim.Server, key switchyard.KeyConfig, clk clock.Clock, edits ...func(*switchyard.Config)) []*member {
	t.Helper()
	agent := test.NewInMemAgent()
	members := make([]*member, n)
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := &member{}
			cfg := switchyard.Config{
				Providers: []switchyard.ProviderConfig{{Name: "p", Kind: "anthropic", Endpoints: []switchyard.EndpointConfig{{
					Name: "primary", BaseURL: srv.URL, Keys: []switchyard.KeyConfig{{Label: "a", Secret: secretA, RPM: key.RPM, MaxInFlight: key.MaxInFlight}}}}}},
				Retry: switchyard.RetryConfig{MaxAttempts: 1},
				// A generous call timeout: on a loaded machine a lease call
				// that times out sends the member to its fair share, which
				// the fallback test covers on its own.
				Cluster: switchyard.ClusterConfig{Provider: "test", Name: "fleetmode", InMem: agent,
					Lease: switchyard.LeaseConfig{CallTimeout: 5 * time.Second}},
				Clock: clk,
			}
			for _, edit := range edits {
				edit(&cfg)
			}
			sy, err := switchyard.New(cfg)
			if err != nil {
				errs[i] = err
				return
			}
			m.sy = sy
			sy.Subscribe(func(e messages.Event) { m.mu.Lock(); m.events = append(m.events, e); m.mu.Unlock() })
			members[i] = m
		}()
	}
	wg.Wait()
	t.Cleanup(func() { closeAll(t, members) })
	for _, err := range errs {
		require.NoError(t, err, "New")
	}
	eventually(t, "every member lists the others", func() bool {
		for _, m := range members {
			if m.stats(t).Fleet.Members != n {
				return false
			}
		}
		return true
	})
	return members
}

func closeAll(t *testing.T, members []*member) {
	var wg sync.WaitGroup
	for _, m := range members {
		if m == nil || m.sy == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			_ = m.sy.Close(ctx) // requests still waiting for permits are answered ErrShuttingDown
		}()
	}
	wg.Wait()
}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.Fail(t, "timed out", "waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func chat(text string) *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{Provider: "p"}, Model: "claude-test", MaxTokens: 16,
		Messages: []messages.Message{{Role: messages.RoleUser, Content: text}}}
}

// Two members share one key of 10 rpm: together they send it at most 10
// requests a minute, whatever each is asked.
func TestFleetSharesAKeysBudget(t *testing.T) {
	srv := sim.Start(sim.Anthropic())
	t.Cleanup(srv.Close)
	clk := clocktest.New(t)
	fleet := startFleet(t, 2, srv, switchyard.KeyConfig{RPM: 10}, clk)
	var answered sync.WaitGroup
	for i := 0; i < 30; i++ {
		answered.Add(1)
		go func() {
			defer answered.Done()
			_, _ = fleet[i%2].sy.Chat(context.Background(), chat("hello"))
		}()
	}
	// A fresh grain ramps its allowance up over its first minute (it knows
	// nothing of what was spent before it): move past the ramp.
	eventually(t, "both members asked the grain", func() bool {
		for _, m := range fleet {
			if k := m.stats(t).Fleet.Keys["p/primary/a"]; k.Leases == 0 {
				return false
			}
		}
		return true
	})
	clk.Advance(61 * time.Second)
	eventually(t, "10 requests reached the upstream", func() bool { return srv.Calls() >= 10 })
	// Both still have requests waiting: each asks again and is refused
	// until the window has room.
	eventually(t, "the grain refused both members more permits", func() bool {
		for _, m := range fleet {
			if k := m.stats(t).Fleet.Keys["p/primary/a"]; !k.SpentUntil.After(clk.Now()) {
				t.Logf("%s: %+v", m.stats(t).Fleet.Member, k)
				return false
			}
		}
		return true
	})
	var granted, taken int64
	for _, m := range fleet {
		st := m.stats(t).Fleet
		granted += st.GrainGranted
		taken += st.Keys["p/primary/a"].Taken
	}
	assert.LessOrEqual(t, granted, int64(10), "the grain granted more than the key's rpm in one minute")
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(fleet[0].sy.Collector()))
	families, err := reg.Gather()
	require.NoError(t, err)
	series := map[string]int{}
	for _, f := range families {
		series[f.GetName()] = len(f.GetMetric())
	}
	assert.Equal(t, 1, series["switchyard_fleet_leases_total"], "lease series (one key)")
	assert.Equal(t, 2, series["switchyard_fleet_permits_taken_total"], "taken series (lease, fair_share)")
	assert.Equal(t, 1, series["switchyard_fleet_members"], "members")
	tr, err := fleet[0].sy.Tree(context.Background())
	require.NoError(t, err)
	require.NotNil(t, tr.Fleet, "Tree's fleet figures")
	assert.Equal(t, 2, tr.Fleet.Members)
	closeAll(t, fleet)
	answered.Wait()
	assert.Equal(t, 10, srv.Calls(), "upstream calls in the minute")
	assert.Equal(t, int64(10), taken, "permits taken")
}

// A 429 seen by one member cools the key on every member, until the
// Retry-After; a 401 disables it on every member.
func TestFleetCooldownAndDisableReachEveryMember(t *testing.T) {
	srv := sim.Start(sim.Anthropic())
	t.Cleanup(srv.Close)
	clk := clocktest.New(t)
	fleet := startFleet(t, 2, srv, switchyard.KeyConfig{}, clk)
	a, b := fleet[0], fleet[1]
	_, err := b.sy.Chat(context.Background(), chat("first"))
	require.NoError(t, err, "b's first request")
	srv.Inject(sim.Fault{Status: 429, Key: secretA, Header: map[string]string{"Retry-After": "30"}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _, _ = a.sy.Chat(ctx, chat("429")) }()
	isCooldown := func(e messages.Event) bool { _, ok := e.(*messages.KeyCooldown); return ok }
	eventually(t, "b learns a's cooldown", func() bool { return len(b.eventsOf(isCooldown)) > 0 })
	cool := b.eventsOf(isCooldown)[0].(*messages.KeyCooldown)
	assert.Equal(t, "a", cool.Key)
	assert.Contains(t, cool.Reason, "another member")
	assert.WithinDuration(t, clk.Now().Add(30*time.Second), cool.Until, time.Second)
	assert.Equal(t, messages.KeyStateCooling, b.key(t).State, "b's key")
	assert.Equal(t, 2, srv.Calls(), "upstream calls: b's first and a's 429")
	cancel()

	srv.RejectKey(secretA, 401)
	clk.Advance(31 * time.Second)
	_, err = a.sy.Chat(context.Background(), chat("401"))
	require.Error(t, err, "a's request with a refused key")
	isDisabled := func(e messages.Event) bool { _, ok := e.(*messages.KeyDisabled); return ok }
	eventually(t, "b learns a's disable", func() bool { return len(b.eventsOf(isDisabled)) > 0 })
	assert.Equal(t, messages.KeyStateDisabled, b.key(t).State, "b's key")
}

// An etcd that cannot be reached fails New with an error that names the
// cluster configuration, within the join timeout: New never hangs.
func TestFleetUnreachableEtcdFailsNew(t *testing.T) {
	srv := sim.Start(sim.Anthropic())
	t.Cleanup(srv.Close)
	done := make(chan error, 1)
	go func() {
		_, err := switchyard.New(switchyard.Config{
			Providers: []switchyard.ProviderConfig{{Name: "p", Kind: "anthropic", Endpoints: []switchyard.EndpointConfig{{
				Name: "primary", BaseURL: srv.URL, Keys: []switchyard.KeyConfig{{Label: "a", Secret: secretA}}}}}},
			Cluster: switchyard.ClusterConfig{Provider: "etcd", Etcd: switchyard.EtcdConfig{Endpoints: []string{"http://127.0.0.1:1"}, DialTimeout: 200 * time.Millisecond},
				JoinTimeout: 2 * time.Second},
		})
		done <- err
	}()
	select {
	case err := <-done:
		var ce *switchyard.ConfigError
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, "cluster.etcd.endpoints", ce.Field)
	case <-time.After(30 * time.Second):
		require.Fail(t, "New hung on an unreachable etcd")
	}
}

// A key's max in flight holds for the whole fleet: two members with three
// requests each keep at most two at the upstream at once.
func TestFleetSharesAKeysMaxInFlight(t *testing.T) {
	srv := sim.Start(sim.Anthropic())
	t.Cleanup(srv.Close)
	fleet := startFleet(t, 2, srv, switchyard.KeyConfig{MaxInFlight: 2}, clock.Real)
	srv.Hold()
	var answered sync.WaitGroup
	errs := make(chan error, 6)
	for i := 0; i < 6; i++ {
		answered.Add(1)
		go func() {
			defer answered.Done()
			_, err := fleet[i%2].sy.Chat(context.Background(), chat("slow"))
			errs <- err
		}()
	}
	eventually(t, "two requests at the upstream", func() bool { return srv.Calls() >= 2 })
	eventually(t, "both members wait for a slot", func() bool {
		for _, m := range fleet {
			if m.stats(t).Fleet.Keys["p/primary/a"].Waits == 0 {
				return false
			}
		}
		return true
	})
	assert.Equal(t, 2, srv.Calls(), "requests at the upstream while two are held")
	srv.Release()
	answered.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	assert.Equal(t, 6, srv.Calls(), "every request answered in the end")
}

func (m *member) endpoint(t *testing.T) messages.EndpointNode {
	t.Helper()
	tr, err := m.sy.Tree(context.Background())
	require.NoError(t, err)
	return tr.Providers[0].Endpoints[0]
}

func allInState(t *testing.T, fleet []*member, state messages.BreakerState) func() bool {
	return func() bool {
		for i, m := range fleet {
			if ep := m.endpoint(t); ep.State != state {
				t.Logf("member %d: endpoint %s, %+v", i, ep.State, m.stats(t).Fleet)
				return false
			}
		}
		return true
	}
}

// An endpoint that trips on one member's traffic opens on all three;
// while it is OPEN no member sends it anything; after the cooldown exactly
// K probes go out in all, and their success closes it on every member.
func TestFleetEndpointHealth(t *testing.T) {
	const probes = 2
	srv := sim.Start(sim.Anthropic())
	t.Cleanup(srv.Close)
	clk := clocktest.New(t)
	fleet := startFleet(t, 3, srv, switchyard.KeyConfig{}, clk, func(c *switchyard.Config) {
		c.Breaker = switchyard.BreakerConfig{ConsecutiveFailures: 2, Cooldown: 10 * time.Second, HalfOpenProbes: probes}
	})
	srv.Inject(sim.Fault{Status: 500, Times: 2})
	for i := 0; i < 2; i++ {
		_, err := fleet[0].sy.Chat(context.Background(), chat("fails"))
		require.Error(t, err)
	}
	eventually(t, "the endpoint OPEN on every member", allInState(t, fleet, messages.Open))
	before := srv.Calls()
	for i, m := range fleet {
		_, err := m.sy.Chat(context.Background(), chat("while open"))
		require.ErrorIs(t, err, messages.ErrCircuitOpen, "member %d", i)
	}
	assert.Equal(t, before, srv.Calls(), "requests the upstream received while OPEN")

	clk.Advance(time.Minute) // past the cooldown, whatever its jitter
	eventually(t, "the endpoint HALF-OPEN on every member", allInState(t, fleet, messages.HalfOpen))
	srv.Hold()
	var answered sync.WaitGroup
	for i := 0; i < 6; i++ {
		answered.Add(1)
		go func() {
			defer answered.Done()
			_, _ = fleet[i%3].sy.Chat(context.Background(), chat("probe?"))
		}()
	}
	eventually(t, "K probes at the upstream", func() bool { return srv.Calls() >= before+probes })
	eventually(t, "every member asked for probe slots", func() bool {
		for _, m := range fleet {
			if m.stats(t).Fleet.HealthCalls < 2 { // its trip or watch, then its ask
				return false
			}
		}
		return true
	})
	var granted int64
	for _, m := range fleet {
		granted += m.stats(t).Fleet.HealthProbesGranted
	}
	assert.Equal(t, int64(probes), granted, "probe slots granted in the whole fleet")
	assert.Equal(t, before+probes, srv.Calls(), "probes at the upstream")
	srv.Release()
	eventually(t, "the endpoint CLOSED on every member", allInState(t, fleet, messages.Closed))
	answered.Wait()
	assert.Equal(t, before+6, srv.Calls(), "every request sent once the endpoint closed")
}

// A member that cannot reach the key's grain in time uses its fair share
// (the limit over the members), and its figures stay readable while its
// requests wait: every lease call here outlives a 1 µs call timeout.
func TestFleetFairShareWhenTheGrainCannotAnswer(t *testing.T) {
	srv := sim.Start(sim.Anthropic())
	t.Cleanup(srv.Close)
	fleet := startFleet(t, 2, srv, switchyard.KeyConfig{RPM: 10}, clock.Real, func(c *switchyard.Config) {
		c.Cluster.Lease.CallTimeout = time.Microsecond
	})
	m := fleet[0]
	stop := make(chan struct{})
	var polled sync.WaitGroup
	polled.Add(1)
	go func() { // figures read while requests take permits
		defer polled.Done()
		for {
			select {
			case <-stop:
				return
			default:
				_, err := m.sy.Stats(context.Background())
				assert.NoError(t, err)
			}
		}
	}()
	var answered sync.WaitGroup
	var ok atomic.Int64
	for i := 0; i < 12; i++ {
		answered.Add(1)
		go func() {
			defer answered.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := m.sy.Chat(ctx, chat("fair share")); err == nil {
				ok.Add(1)
			}
		}()
	}
	answered.Wait()
	close(stop)
	polled.Wait()
	k := m.stats(t).Fleet.Keys["p/primary/a"]
	assert.True(t, k.FairShare, "on the fair share: %+v", k)
	assert.Equal(t, int64(5), k.LocalTaken, "permits taken on the fair share (10 rpm over 2 members)")
	assert.Equal(t, int64(5), ok.Load(), "requests answered")
	assert.Equal(t, 5, srv.Calls(), "upstream calls")
}
