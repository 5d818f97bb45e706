package fleet

import "github.com/switchyard-ai/switchyard/messages"

// Figures returns this member's fleet figures.
func (n *Node) Figures() messages.FleetStats {
	f := messages.FleetStats{Member: n.Member(), Members: n.Members(), Keys: map[string]messages.FleetKey{},
		GrainActivations: n.grains.Activations.Load(), GrainLeases: n.grains.Leases.Load(), GrainGranted: n.grains.Granted.Load(),
		Pushes:      n.stats.Pushes.Load(),
		HealthTrips: n.healthGrains.Trips.Load(), HealthOpened: n.healthGrains.Opened.Load(),
		HealthProbesGranted: n.healthGrains.Granted.Load(), HealthClosed: n.healthGrains.Closed.Load()}
	if n.health != nil {
		hs := n.health.Stats()
		f.HealthCalls, f.HealthCallFailures = hs.Calls.Load(), hs.Failures.Load()
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, l := range n.keys {
		s := l.Stats()
		f.Keys[id] = messages.FleetKey{Activation: l.Activation(), Leases: s.Leases.Load(), LeaseFailures: s.LeaseFailures.Load(),
			Fallbacks: s.Fallbacks.Load(), Taken: s.Taken.Load(), LocalTaken: s.LocalTaken.Load(), Waits: s.Waits.Load(), Refused: s.Refused.Load(),
			FairShare: l.OnFairShare(), LastRoundTripNs: s.LastRoundTrip.Load(), SpentUntil: l.SpentUntil()}
	}
	return f
}
