package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// FuzzBudgetLease feeds the grain lease requests as they arrive from the
// network (any bytes the remote layer may hand over, decoded as protobuf):
// the grain never panics, never grants a negative amount, and never lets
// its window exceed the limits it holds.
func FuzzBudgetLease(f *testing.F) {
	seeds := []*fleetpb.LeaseRequest{
		{Member: "127.0.0.1:40001", Limits: &fleetpb.Limits{Rpm: 600, Tpm: 90000}, Requests: 6, Tokens: 900},
		{Member: "127.0.0.1:40002", Requests: 6, PreviousLeaseId: 1, CarriedRequests: 3, ReturnedRequests: 2},
		{Member: "127.0.0.1:40003", Requests: -5, Tokens: -1, SpentOfflineRequests: 200, PreviousLeaseId: 99},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		require.NoError(f, err)
		f.Add(b, b)
	}
	f.Fuzz(func(t *testing.T, first, second []byte) {
		clk := clocktest.New(t)
		b := newBudget(clk.Now(), time.Minute, time.Second)
		for _, raw := range [][]byte{first, second, first} {
			var r fleetpb.LeaseRequest
			if proto.Unmarshal(raw, &r) != nil {
				continue
			}
			before := b.usageTotal()
			require.GreaterOrEqual(t, before, int64(0), "a grant holds a negative amount")
			g := b.lease(&r, clk.Now())
			require.GreaterOrEqual(t, g.Requests, int64(0))
			require.GreaterOrEqual(t, g.Tokens, int64(0))
			require.GreaterOrEqual(t, g.CarriedRequests, int64(0))
			after := b.usageTotal()
			offline := max(r.SpentOfflineRequests, 0)
			if b.limits.Rpm > 0 && g.Requests > 0 {
				require.LessOrEqual(t, after, max(before+offline, b.limits.Rpm), "window beyond the limit")
			}
			clk.Advance(10 * time.Second)
		}
	})
}

// usageTotal is what the window holds, in requests; it also checks that no
// grant holds a negative amount.
func (b *budget) usageTotal() int64 {
	for _, g := range b.grants {
		if g.requests < 0 || g.tokens < 0 {
			return -1 << 62
		}
	}
	return b.usage("").requests
}
