package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// The grain's concurrency holds: never more than the cap across members,
// a fair share while several want slots, and a hold that is not renewed
// frees its slots at its expiry.
func TestBudgetHoldsSlotsWithinTheCap(t *testing.T) {
	clk := clocktest.New(t)
	b := newBudget(clk.Now(), time.Minute, time.Second)
	ask := func(member string, want int64) int64 {
		return b.lease(&fleetpb.LeaseRequest{Member: member, Limits: &fleetpb.Limits{MaxInFlight: 10}, Slots: want}, clk.Now()).Slots
	}
	steps := []struct {
		name   string
		member string
		want   int64
		got    int64
	}{
		{"alone: all it wants", "a", 10, 10},
		{"b arrives while a holds everything", "b", 4, 0},
		{"a renews: its fair share, b wants some", "a", 10, 5},
		{"b gets what a gave back", "b", 4, 4},
		{"a again: what b leaves, within its share", "a", 10, 5},
		{"b wants less: a may take the rest", "b", 1, 1},
		{"a renews", "a", 10, 5},
	}
	for _, s := range steps {
		got := ask(s.member, s.want)
		assert.Equal(t, s.got, got, s.name)
		var total int64
		for _, h := range b.holds {
			total += h.slots
		}
		assert.LessOrEqual(t, total, int64(10), "%s: slots held in all", s.name)
	}
	clk.Advance(1500 * time.Millisecond) // every hold expired
	assert.Equal(t, int64(10), ask("c", 10), "a newcomer once the holds expired")
	assert.Equal(t, int64(0), ask("d", 0), "a member that wants none holds none")
}
