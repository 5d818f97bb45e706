package fleet

import (
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// unlimitedBlock is the block a Leaser asks for on a key without rpm: its
// lease then only carries the key's cooldown and disable to this node
// (LeaserOptions.Block).
const unlimitedBlock = 1 << 20

// KeyLimits are one key's fleet-wide limits (0: no cap): requests and
// tokens per minute, calls in flight.
type KeyLimits struct {
	RPM, TPM, MaxInFlight int64
}

// KeyLeaser returns the Leaser of one key's fleet-wide budget, created at
// the first call and closed by
// Close; later calls for the same key return it. Pushes from the key's
// grain are applied to it; onChange (not nil) is then called, and after
// each refill that changed what it holds. onChange must not block.
func (n *Node) KeyLeaser(provider, endpoint, key string, limits KeyLimits, onChange func()) *Leaser {
	rpm, tpm := limits.RPM, limits.TPM
	identity := BudgetIdentity(provider, endpoint, key)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.keys == nil {
		n.keys = map[string]*Leaser{}
		n.Handle(&fleetpb.KeyPush{}, n.applyKeyPush)
	}
	if l := n.keys[identity]; l != nil {
		return l
	}
	// The configured share of each limit; 0 leaves NewLeaser's defaults.
	block := func(limit int64) int64 {
		pct := n.o.Lease.BlockPercent
		if limit <= 0 || pct <= 0 {
			return 0
		}
		return max(1, int64(math.Floor(float64(limit)*pct/100)))
	}
	o := LeaserOptions{Identity: identity,
		Self: func() (string, *actor.PID) { return n.Member(), n.Agent() },
		Call: func(msg any, timeout time.Duration) (any, error) {
			return n.Request(identity, BudgetKind, msg, timeout)
		},
		RPM: rpm, TPM: tpm, MaxInFlight: limits.MaxInFlight, Block: block(rpm), BlockTokens: block(tpm), Clock: n.o.Clock,
		CallTimeout: n.o.Lease.CallTimeout, RetryEvery: n.o.Lease.RetryEvery, Members: n.Members, OnChange: onChange}
	l := NewLeaser(o)
	n.keys[identity] = l
	return l
}

// applyKeyPush hands a grain's push to its key's Leaser.
func (n *Node) applyKeyPush(msg any) {
	p := msg.(*fleetpb.KeyPush)
	n.mu.Lock()
	l := n.keys[p.Identity]
	n.mu.Unlock()
	if l != nil && l.Apply(p) && l.o.OnChange != nil {
		l.o.OnChange()
	}
}
