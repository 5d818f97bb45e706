// The in-memory cluster tests run without the race detector (make
// test-fleet): protoactor-go's remote layer races when several members share
// a process (each Remote.Start calls grpclog.SetLoggerV2, which gRPC
// documents as unsafe once gRPC runs, grpc-go#5733) and on a graceful leave
// (remote.BlockList.IsBlocked reads the block list without its lock). The
// Leaser's own concurrency is race-tested in leaser_race_test.go.

//go:build !race

package fleet

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// takeAll takes permits until l refuses and returns how many it took.
func takeAll(t *testing.T, l *Leaser) int64 {
	t.Helper()
	n := int64(0)
	for ; n < 1_000_000; n++ {
		if err := l.Take(0); err != nil {
			var we *WaitError
			require.ErrorAs(t, err, &we)
			return n
		}
	}
	require.Fail(t, "a leaser never ran out")
	return n
}

// TestLeasesAcrossMembersStayWithinLimit: three members take a key's
// permits as fast as they can for three minutes of the manual clock; no
// minute of use exceeds the fleet's rpm, and the fleet uses most of it.
func TestLeasesAcrossMembersStayWithinLimit(t *testing.T) {
	clk := clocktest.New(t)
	f := startFleet(t, 3, clk)
	const rpm = 600
	id := BudgetIdentity("openai", "primary", "prod-1")
	var leasers []*Leaser
	for _, c := range f.members {
		l := NewLeaser(LeaserOptions{Cluster: c, Identity: id, RPM: rpm, Block: 20, Clock: clk, CallTimeout: time.Second})
		defer l.Close()
		leasers = append(leasers, l)
	}
	type use struct {
		at time.Time
		n  int64
	}
	var uses []use
	perMember := make([]int64, len(leasers))
	for step := 0; step < 180; step++ {
		for i, l := range leasers {
			// Refill waits for a background refill a Take started, then
			// makes its own: the manual clock stands still meanwhile.
			_ = l.Refill()
			n := takeAll(t, l)
			perMember[i] += n
			uses = append(uses, use{clk.Now(), n})
		}
		clk.Advance(time.Second)
	}
	var last int64
	for i, u := range uses {
		sum := int64(0)
		for _, v := range uses[i:] {
			if v.at.Sub(u.at) < time.Minute {
				sum += v.n
			}
		}
		require.LessOrEqual(t, sum, int64(rpm), "minute from %s", u.at)
		if clk.Now().Sub(u.at) <= time.Minute {
			last += u.n
		}
	}
	assert.GreaterOrEqual(t, last, int64(rpm*9/10), "the last minute's permits")
	for i, n := range perMember {
		assert.Positive(t, n, "member %d took nothing", i)
	}
	for _, l := range leasers {
		assert.Zero(t, l.Stats().Fallbacks.Load())
		t.Logf("lease round trip %s", time.Duration(l.Stats().LastRoundTrip.Load()))
	}
	activations := int64(0)
	for _, g := range f.grains {
		activations += g.Activations.Load()
	}
	assert.Equal(t, int64(1), activations)
}

// TestCooldownReachesEveryMember: a 429's cooldown set through one member
// stops the others at their next refill, and ends when it should.
func TestCooldownReachesEveryMember(t *testing.T) {
	clk := clocktest.New(t)
	f := startFleet(t, 3, clk)
	id := BudgetIdentity("openai", "primary", "prod-1")
	var leasers []*Leaser
	for _, c := range f.members {
		l := NewLeaser(LeaserOptions{Cluster: c, Identity: id, RPM: 600, Block: 5, Clock: clk, CallTimeout: time.Second})
		defer l.Close()
		leasers = append(leasers, l)
	}
	// The first lease activates the grain; a minute later its ramp is over.
	_ = leasers[0].Refill()
	clk.Advance(time.Minute)
	for _, l := range leasers {
		require.NoError(t, l.Refill())
		require.NoError(t, l.Take(0))
	}
	require.NoError(t, leasers[0].Cooldown(5*time.Second, "429 Retry-After: 5"))
	until := clk.Now().Add(5 * time.Second)
	for i, l := range leasers {
		if i > 0 {
			require.NoError(t, l.Refill())
		}
		err := l.Take(0)
		var we *WaitError
		require.ErrorAs(t, err, &we, "member %d", i)
		assert.True(t, we.Cooling, "member %d", i)
		assert.False(t, we.Until.Before(until), "member %d cools until %s, want %s", i, we.Until, until)
	}
	clk.Advance(5 * time.Second)
	for i, l := range leasers {
		require.NoError(t, l.Refill())
		assert.NoError(t, l.Take(0), "member %d", i)
	}
}

// TestDisableReachesEveryMember: a 401 on one member disables the key on
// all of them.
func TestDisableReachesEveryMember(t *testing.T) {
	clk := clocktest.New(t)
	f := startFleet(t, 2, clk)
	id := BudgetIdentity("anthropic", "main", "key-1")
	a := NewLeaser(LeaserOptions{Cluster: f.members[0], Identity: id, RPM: 60, Clock: clk, CallTimeout: time.Second})
	defer a.Close()
	b := NewLeaser(LeaserOptions{Cluster: f.members[1], Identity: id, RPM: 60, Clock: clk, CallTimeout: time.Second})
	defer b.Close()
	require.NoError(t, a.Disable("401"))
	require.NoError(t, b.Refill())
	for _, l := range []*Leaser{a, b} {
		assert.True(t, errors.Is(l.Take(0), ErrDisabled))
	}
}

// TestFallbackToFairShareThenReactivation: the member hosting the grain
// dies; the others cannot reach it and take their fair share locally; once
// the dead member leaves the member list, the grain re-activates on a
// survivor and they lease from it again, its window counting what they
// spent alone.
func TestFallbackToFairShareThenReactivation(t *testing.T) {
	clk := clocktest.New(t)
	f := startFleet(t, 3, clk)
	const rpm = 600
	id := BudgetIdentity("openai", "primary", "prod-1")
	leasers := make([]*Leaser, 3)
	for i, c := range f.members {
		leasers[i] = NewLeaser(LeaserOptions{Cluster: c, Identity: id, RPM: rpm, Block: rpm, Clock: clk, CallTimeout: 200 * time.Millisecond})
	}
	_ = leasers[0].Refill() // activates the grain
	clk.Advance(time.Minute)
	for _, l := range leasers {
		require.NoError(t, l.Refill())
	}
	dead := f.host(t, id)
	first := leasers[(dead+1)%3].Activation()
	require.NotEmpty(t, first)
	leasers[dead].Close()

	// Kill the host without leaving: the member list still names it, so
	// the grain stays placed there and calls to it fail.
	f.stopped[dead] = true
	f.members[dead].Shutdown(false)
	var survivors []*Leaser
	for i, l := range leasers {
		if i != dead {
			survivors = append(survivors, l)
			defer l.Close()
		}
	}
	clk.Advance(2 * time.Second) // the leases expire
	for _, l := range survivors {
		require.Error(t, l.Refill())
		// The fair share: limit / members listed (3: the dead one is
		// still listed, which keeps the share conservative).
		assert.Equal(t, int64(rpm/3), takeAll(t, l))
		assert.Equal(t, int64(1), l.Stats().Fallbacks.Load())
	}

	// The dead member leaves the list: the grain re-activates on a survivor.
	require.NoError(t, f.members[dead].Config.ClusterProvider.Shutdown(true))
	f.members[dead].IdentityLookup.Shutdown()
	f.members[dead].Gossip.Shutdown()
	for i, c := range f.members {
		if i != dead {
			require.Eventually(t, func() bool { return c.MemberList.Members().Len() == 2 }, 10*time.Second, 10*time.Millisecond)
		}
	}
	clk.Advance(time.Second) // past RetryEvery
	for _, l := range survivors {
		// The first call that reaches the new activation reports what the
		// survivor spent alone.
		require.Eventually(t, func() bool { return l.Refill() == nil }, 10*time.Second, 10*time.Millisecond)
		assert.NotEqual(t, first, l.Activation())
		assert.Equal(t, int64(rpm/3), l.Stats().LocalTaken.Load())
	}
	// 59 s into its ramp the new activation allows 590; the 400 spent alone
	// still count, so the survivors get at most 190 between them (without
	// that accounting, 295 each).
	clk.Advance(59 * time.Second)
	var granted int64
	for _, l := range survivors {
		require.NoError(t, l.Refill())
		granted += takeAll(t, l)
	}
	assert.Positive(t, granted)
	assert.LessOrEqual(t, granted, int64(rpm*59/60-2*(rpm/3)))
	activations := int64(0)
	for _, g := range f.grains {
		activations += g.Activations.Load()
	}
	assert.Equal(t, int64(2), activations)
}

// BenchmarkLeaseRoundTrip is one lease call from a member to the grain on
// another member, over gRPC on loopback (what a background refill costs).
func BenchmarkLeaseRoundTrip(b *testing.B) {
	f := startFleet(b, 2, clock.Real)
	id := BudgetIdentity("openai", "primary", "prod-1")
	host := f.host(b, id)
	l := NewLeaser(LeaserOptions{Cluster: f.members[1-host], Identity: id, RPM: 1 << 40, CallTimeout: time.Second})
	defer l.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := l.Refill(); err != nil {
			b.Fatal(err)
		}
	}
}
