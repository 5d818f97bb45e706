package switchyard

import (
	"time"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/fleet"
)

// fleetKeys gives the provider actors their keys' fleet-wide budgets.
type fleetKeys struct{ node *fleet.Node }

func (f fleetKeys) KeyBudget(provider, endpoint, key string, limits actors.KeyLimits, onChange func()) actors.KeyBudget {
	return keyBudget{f.node.KeyLeaser(provider, endpoint, key,
		fleet.KeyLimits{RPM: int64(limits.RPM), TPM: int64(limits.TPM), MaxInFlight: int64(limits.MaxInFlight)}, onChange)}
}

// keyBudget is a fleet.Leaser seen as an actors.KeyBudget.
type keyBudget struct{ l *fleet.Leaser }

func (b keyBudget) Available(now time.Time) (time.Time, bool, bool) { return b.l.Available(now) }
func (b keyBudget) Take(now time.Time)                              { b.l.TakeAt(now) }
func (b keyBudget) Release()                                        { b.l.Release() }
func (b keyBudget) Spend(tokens int64)                              { b.l.Spend(tokens) }

// Cooldown and Disable tell the grain in the background: the provider
// actor never waits on the cluster (the Leaser bounds the call).
func (b keyBudget) Cooldown(until time.Time, reason string) {
	go func() { _ = b.l.CooldownUntil(until, reason) }()
}

func (b keyBudget) Disable(reason string) { go func() { _ = b.l.Disable(reason) }() }
