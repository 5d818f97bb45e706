package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// TestBudgetNeverExceedsLimitInAnyWindow leases at random-looking sizes
// every 250 ms for five windows and checks that no window of use (permits
// may be used until their lease expires) holds more than the limit, while
// the steady state still grants at least window/(window+ttl) of it.
func TestBudgetNeverExceedsLimitInAnyWindow(t *testing.T) {
	tests := []struct {
		name  string
		rpm   int64
		block int64
		ttl   time.Duration
	}{
		{"small blocks", 600, 7, time.Second},
		{"large blocks", 600, 250, time.Second},
		{"long lease", 120, 10, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t)
			b := newBudget(clk.Now(), time.Minute, tt.ttl)
			type use struct {
				at time.Time
				n  int64
			}
			var uses []use
			step := 250 * time.Millisecond
			for i := 0; i < int(5*time.Minute/step); i++ {
				g := b.lease(&fleetpb.LeaseRequest{Limits: &fleetpb.Limits{Rpm: tt.rpm}, Requests: tt.block}, clk.Now())
				if g.Requests > 0 {
					// Worst case: the permits are used at the lease's last
					// instant.
					uses = append(uses, use{clk.Now().Add(tt.ttl - time.Nanosecond), g.Requests})
				}
				clk.Advance(step)
			}
			var steady int64
			end := clk.Now()
			for i, u := range uses {
				var sum int64
				for _, v := range uses[i:] {
					if v.at.Sub(u.at) < time.Minute {
						sum += v.n
					}
				}
				require.LessOrEqual(t, sum, tt.rpm, "window starting %s", u.at)
				if end.Sub(u.at) <= time.Minute {
					steady += u.n
				}
			}
			want := tt.rpm * int64(time.Minute) / int64(time.Minute+tt.ttl) * 9 / 10
			assert.GreaterOrEqual(t, steady, want, "the last window's permits")
		})
	}
}

// TestBudgetRampsAfterActivation: a fresh activation grants at most
// limit·elapsed/window in its first window.
func TestBudgetRampsAfterActivation(t *testing.T) {
	clk := clocktest.New(t)
	b := newBudget(clk.Now(), time.Minute, time.Second)
	ask := &fleetpb.LeaseRequest{Limits: &fleetpb.Limits{Rpm: 600}, Requests: 1000}
	g := b.lease(ask, clk.Now())
	assert.Zero(t, g.Requests)
	assert.Positive(t, g.RetryAfterNs)
	clk.Advance(15 * time.Second)
	g = b.lease(ask, clk.Now())
	assert.Equal(t, int64(150), g.Requests)
	clk.Advance(time.Minute)
	g = b.lease(ask, clk.Now())
	assert.Equal(t, int64(450), g.Requests, "150 still counted: their lease touched this window")
}

// TestBudgetCarryReturnCooldownDisable covers the lease life cycle.
func TestBudgetCarryReturnCooldownDisable(t *testing.T) {
	limits := &fleetpb.Limits{Rpm: 100, Tpm: 1000}
	tests := []struct {
		name string
		run  func(t *testing.T, b *budget, now time.Time)
	}{
		{"returned permits go back to the window", func(t *testing.T, b *budget, now time.Time) {
			g := b.lease(&fleetpb.LeaseRequest{Limits: limits, Requests: 100, Tokens: 1000}, now)
			require.Equal(t, int64(100), g.Requests)
			g2 := b.lease(&fleetpb.LeaseRequest{Requests: 100, Tokens: 1000, PreviousLeaseId: g.LeaseId, ReturnedRequests: 40, ReturnedTokens: 400}, now)
			assert.Equal(t, int64(40), g2.Requests)
			assert.Equal(t, int64(400), g2.Tokens)
		}},
		{"carried permits move to the new lease", func(t *testing.T, b *budget, now time.Time) {
			g := b.lease(&fleetpb.LeaseRequest{Limits: limits, Requests: 60, Tokens: 600}, now)
			g2 := b.lease(&fleetpb.LeaseRequest{Requests: 60, Tokens: 600, PreviousLeaseId: g.LeaseId, CarriedRequests: 20, CarriedTokens: 200}, now)
			assert.Equal(t, int64(40), g2.Requests)
			assert.Equal(t, int64(20), g2.CarriedRequests)
			assert.Equal(t, int64(200), g2.CarriedTokens)
			assert.Equal(t, int64(60), b.grants[g2.LeaseId].requests)
			assert.Equal(t, int64(40), b.grants[g.LeaseId].requests)
		}},
		{"an unknown lease carries nothing", func(t *testing.T, b *budget, now time.Time) {
			g := b.lease(&fleetpb.LeaseRequest{Limits: limits, Requests: 10, Tokens: 10, PreviousLeaseId: 99, CarriedRequests: 50}, now)
			assert.Zero(t, g.CarriedRequests)
			assert.Equal(t, int64(10), g.Requests)
		}},
		{"the tpm caps a lease", func(t *testing.T, b *budget, now time.Time) {
			g := b.lease(&fleetpb.LeaseRequest{Limits: limits, Requests: 10, Tokens: 5000}, now)
			assert.Equal(t, int64(1000), g.Tokens)
			g = b.lease(&fleetpb.LeaseRequest{Requests: 10, Tokens: 10}, now)
			assert.Zero(t, g.LeaseId)
			assert.Positive(t, g.RetryAfterNs)
		}},
		{"spent offline counts in the window", func(t *testing.T, b *budget, now time.Time) {
			g := b.lease(&fleetpb.LeaseRequest{Limits: limits, Requests: 100, SpentOfflineRequests: 70}, now)
			assert.Equal(t, int64(30), g.Requests)
		}},
		{"a cooldown refuses and keeps carried permits counted", func(t *testing.T, b *budget, now time.Time) {
			g := b.lease(&fleetpb.LeaseRequest{Limits: limits, Requests: 50}, now)
			b.cooldown(now, 5*time.Second)
			b.cooldown(now, time.Second)
			g2 := b.lease(&fleetpb.LeaseRequest{Requests: 50, PreviousLeaseId: g.LeaseId, CarriedRequests: 50}, now.Add(time.Second))
			assert.Zero(t, g2.LeaseId)
			assert.Equal(t, int64(4*time.Second), g2.CooldownForNs)
			assert.Equal(t, int64(50), b.grants[g.LeaseId].requests)
			g3 := b.lease(&fleetpb.LeaseRequest{Requests: 100}, now.Add(5*time.Second))
			assert.Equal(t, int64(50), g3.Requests)
		}},
		{"members share the window fairly", func(t *testing.T, b *budget, now time.Time) {
			g := b.lease(&fleetpb.LeaseRequest{Member: "a", Limits: limits, Requests: 30}, now)
			require.Equal(t, int64(30), g.Requests)
			g = b.lease(&fleetpb.LeaseRequest{Member: "b", Requests: 100}, now)
			assert.Equal(t, int64(50), g.Requests, "b: half of the window")
			g = b.lease(&fleetpb.LeaseRequest{Member: "a", Requests: 100}, now)
			assert.Equal(t, int64(20), g.Requests, "a: the rest of its half")
		}},
		{"disable refuses for good", func(t *testing.T, b *budget, now time.Time) {
			b.disable("401 from upstream")
			g := b.lease(&fleetpb.LeaseRequest{Limits: limits, Requests: 1}, now.Add(time.Hour))
			assert.True(t, g.Disabled)
			assert.Equal(t, "401 from upstream", g.DisabledReason)
			assert.Zero(t, g.LeaseId)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t)
			start := clk.Now()
			// An activation a window old: no ramp.
			b := newBudget(start.Add(-time.Minute), time.Minute, time.Second)
			tt.run(t, b, start)
		})
	}
}
