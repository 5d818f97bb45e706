package fleet

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// fakeGrain answers a Leaser's calls in process, as budgetGrain does, so
// the Leaser's concurrency runs under the race detector without a cluster.
type fakeGrain struct {
	clk  clock.Clock
	down atomic.Bool // calls fail
	hold chan struct{}

	calls atomic.Int64

	mu      sync.Mutex
	b       *budget
	returns []*fleetpb.Return
}

func newFakeGrain(clk clock.Clock) *fakeGrain {
	return &fakeGrain{clk: clk, b: newBudget(clk.Now().Add(-DefaultWindow), DefaultWindow, DefaultLeaseTTL)}
}

func (g *fakeGrain) call(msg any, _ time.Duration) (any, error) {
	if h := g.hold; h != nil {
		<-h
	}
	g.calls.Add(1)
	if g.down.Load() {
		return nil, errors.New("grain unreachable")
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.clk.Now()
	switch m := msg.(type) {
	case *fleetpb.LeaseRequest:
		return g.b.lease(m, now), nil
	case *fleetpb.Return:
		g.returns = append(g.returns, m)
		g.b.giveBack(m.LeaseId, m.Requests, m.Tokens)
	case *fleetpb.Cooldown:
		g.b.cooldown(now, time.Duration(m.CooldownForNs))
	case *fleetpb.Disable:
		g.b.disable(m.Reason)
	}
	return &fleetpb.Ack{}, nil
}

// TestLeaserConcurrentTakes: four goroutines per member take from three
// Leasers at once, with background refills, for three minutes of the
// manual clock; no minute exceeds the limit and every member gets a share.
func TestLeaserConcurrentTakes(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	const rpm = 900
	var changes atomic.Int64
	var leasers []*Leaser
	for _, m := range []string{"a", "b", "c"} {
		l := NewLeaser(LeaserOptions{Call: g.call, Member: m, Identity: "p/e/k", RPM: rpm, Block: 15, Clock: clk,
			CallTimeout: time.Second, Members: func() int { return 3 }, OnChange: func() { changes.Add(1) }})
		defer l.Close()
		leasers = append(leasers, l)
	}
	perStep := make([]int64, 180)
	perMember := make([]atomic.Int64, len(leasers))
	for step := range perStep {
		var wg sync.WaitGroup
		var n atomic.Int64
		for i, l := range leasers {
			_ = l.Refill()
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for k := 0; k < 10; k++ {
						if l.Take(0) == nil {
							n.Add(1)
							perMember[i].Add(1)
						}
					}
				}()
			}
		}
		wg.Wait()
		perStep[step] = n.Load()
		clk.Advance(time.Second)
	}
	var last int64
	for i := range perStep {
		sum := int64(0)
		for _, n := range perStep[i:min(i+60, len(perStep))] {
			sum += n
		}
		require.LessOrEqual(t, sum, int64(rpm), "minute from step %d", i)
		if i == len(perStep)-60 {
			last = sum
		}
	}
	assert.GreaterOrEqual(t, last, int64(rpm*9/10), "the last minute's permits")
	for i := range perMember {
		assert.GreaterOrEqual(t, perMember[i].Load(), int64(rpm/3), "member %d over three minutes", i)
	}
	assert.Positive(t, changes.Load(), "OnChange after background refills")
}

// TestLeaserFairShareWhileGrainDown: with the grain failing, a Leaser takes
// limit / members locally, then reports that spending to the grain when it
// answers again.
func TestLeaserFairShareWhileGrainDown(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", RPM: 600, Clock: clk,
		Members: func() int { return 4 }})
	defer l.Close()
	g.down.Store(true)
	require.Error(t, l.Refill())
	taken := 0
	for l.Take(0) == nil {
		taken++
	}
	assert.Equal(t, 150, taken)
	assert.Equal(t, int64(1), l.Stats().Fallbacks.Load())
	var we *WaitError
	require.ErrorAs(t, l.Take(0), &we)
	assert.False(t, we.Cooling)
	assert.True(t, we.Until.After(clk.Now()))

	g.down.Store(false)
	clk.Advance(DefaultRetryEvery)
	require.NoError(t, l.Refill())
	g.mu.Lock()
	u := g.b.usage("a")
	g.mu.Unlock()
	assert.Equal(t, int64(150+6), u.memberRequests, "spent alone, plus the new block")
}

// TestLeaserLateGrantIsHandedBack: a grain that answers after CallTimeout
// does not hold the Leaser; the permits it granted late go back.
func TestLeaserLateGrantIsHandedBack(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	g.hold = make(chan struct{})
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", RPM: 600, Clock: clk, CallTimeout: 20 * time.Millisecond})
	require.Error(t, l.Refill())
	close(g.hold)
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.returns) == 1
	}, 10*time.Second, time.Millisecond)
	l.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	assert.Equal(t, int64(6), g.returns[0].Requests)
	assert.Zero(t, g.b.usage("a").memberRequests)
}

// TestLeaserCooldownAndDisable: this node stops at once; the grain keeps
// the state for the others.
func TestLeaserCooldownAndDisable(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", RPM: 600, Clock: clk})
	defer l.Close()
	require.NoError(t, l.Refill())
	require.NoError(t, l.Take(0))
	require.NoError(t, l.Cooldown(3*time.Second, "429"))
	var we *WaitError
	require.ErrorAs(t, l.Take(0), &we)
	assert.True(t, we.Cooling)
	assert.Equal(t, clk.Now().Add(3*time.Second), we.Until)
	clk.Advance(3 * time.Second)
	require.NoError(t, l.Refill())
	require.NoError(t, l.Take(0))
	require.NoError(t, l.Disable("401"))
	assert.ErrorIs(t, l.Take(0), ErrDisabled)
	g.mu.Lock()
	defer g.mu.Unlock()
	assert.True(t, g.b.disabled)
}

// TestLeaserAsksForTokensARequestNeeds: a request that needs more tokens
// than a block holds makes the next lease ask for them, so it is not
// refused for ever.
func TestLeaserAsksForTokensARequestNeeds(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", RPM: 600, TPM: 100_000, Clock: clk})
	defer l.Close()
	require.NoError(t, l.Refill())
	var we *WaitError
	require.ErrorAs(t, l.Take(5000), &we, "a block holds 1000 tokens")
	require.NoError(t, l.Refill())
	assert.NoError(t, l.Take(5000))
}

// TestLeaserSpentWindowDoesNotHammerTheGrain: once the grain says the
// window is spent, Takes (from a block below its refill mark) do not call
// it again before the time it named.
func TestLeaserSpentWindowDoesNotHammerTheGrain(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", RPM: 60, Block: 60, Clock: clk})
	defer l.Close()
	require.NoError(t, l.Refill())
	for i := 0; i < 40; i++ {
		require.NoError(t, l.Take(0))
	}
	require.NoError(t, l.Refill()) // the window is spent: retry later
	calls := g.calls.Load()
	for i := 0; i < 20; i++ {
		require.NoError(t, l.Take(0), "the carried permits")
	}
	for i := 0; i < 100; i++ {
		var we *WaitError
		require.ErrorAs(t, l.Take(0), &we)
		require.True(t, we.Until.After(clk.Now()))
	}
	require.NoError(t, l.Refill()) // waits for any refill a Take started
	assert.Equal(t, calls+1, g.calls.Load(), "only the explicit Refill called the grain")
}

// TestLeaserHoldsConcurrencySlots: with a max in flight, a Leaser takes
// no more slots than the grain let it hold, Release frees one, and on its
// fair share it holds cap / members.
func TestLeaserHoldsConcurrencySlots(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", MaxInFlight: 3, Clock: clk,
		Members: func() int { return 3 }})
	defer l.Close()
	// takeSlot takes a slot, refilling once when none is held: the hold
	// grows with the calls in flight.
	takeSlot := func() error {
		if err := l.Take(0); err == nil {
			return nil
		}
		require.NoError(t, l.Refill())
		return l.Take(0)
	}
	for i := 0; i < 3; i++ {
		require.NoError(t, takeSlot(), "slot %d", i)
	}
	var we *WaitError
	require.ErrorAs(t, takeSlot(), &we, "a fourth call in flight")
	l.Release()
	require.NoError(t, l.Take(0), "the released slot")
	require.ErrorAs(t, takeSlot(), &we)

	for i := 0; i < 3; i++ {
		l.Release()
	}
	g.down.Store(true)
	clk.Advance(2 * DefaultLeaseTTL) // the hold expired; the grain is down
	require.Error(t, l.Refill())
	require.NoError(t, l.Take(0), "the fair share: one slot of three")
	require.ErrorAs(t, l.Take(0), &we, "a second slot on the fair share")
}

// TestLeaserFairShareCountsLeasedPermits: a member that falls back to its
// fair share mid-minute counts what it took from leases in that minute, so
// the fallback does not open a fresh share on top of it.
func TestLeaserFairShareCountsLeasedPermits(t *testing.T) {
	clk := clocktest.New(t)
	g := newFakeGrain(clk)
	l := NewLeaser(LeaserOptions{Call: g.call, Member: "a", Identity: "p/e/k", RPM: 600, Block: 100, Clock: clk,
		Members: func() int { return 4 }})
	defer l.Close()
	require.NoError(t, l.Refill())
	leased := 0
	for leased < 100 && l.Take(0) == nil {
		leased++
	}
	require.Equal(t, 100, leased, "permits from the lease")
	g.down.Store(true)
	clk.Advance(2 * DefaultLeaseTTL) // the lease expired; the grain is down
	require.Error(t, l.Refill())
	alone := 0
	for l.Take(0) == nil {
		alone++
	}
	assert.Equal(t, 150-100, alone, "the fair share (600 / 4) less what the minute already took")
}
