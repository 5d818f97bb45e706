package fleet

import "github.com/switchyard-ai/switchyard/messages"

// Figures returns this member's fleet figures.
func (n *Node) Figures() messages.FleetStats {
	f := messages.FleetStats{Member: n.Member(), Members: max(1, n.Cluster().MemberList.Members().Len()), Keys: map[string]messages.FleetKey{},
		GrainActivations: n.grains.Activations.Load(), GrainLeases: n.grains.Leases.Load(), GrainGranted: n.grains.Granted.Load(),
		Pushes: n.stats.Pushes.Load(), Rejoins: n.stats.Rejoins.Load(),
		HealthTrips: n.healthGrains.Trips.Load(), HealthOpened: n.healthGrains.Opened.Load(),
		HealthProbesGranted: n.healthGrains.Granted.Load(), HealthClosed: n.healthGrains.Closed.Load()}
	if n.health != nil {
		hs := n.health.Stats()
		f.HealthCalls, f.HealthCallFailures = hs.Calls.Load(), hs.Failures.Load()
	}
	// Leasers are read without n.mu held: a Leaser takes Node locks of
	// its own under its lock.
	n.mu.Lock()
	keys := make(map[string]*Leaser, len(n.keys))
	for id, l := range n.keys {
		keys[id] = l
	}
	n.mu.Unlock()
	for id, l := range keys {
		s := l.Stats()
		f.Keys[id] = messages.FleetKey{Activation: l.Activation(), Leases: s.Leases.Load(), LeaseFailures: s.LeaseFailures.Load(),
			Fallbacks: s.Fallbacks.Load(), Taken: s.Taken.Load(), LocalTaken: s.LocalTaken.Load(), Waits: s.Waits.Load(), Refused: s.Refused.Load(),
			FairShare: l.OnFairShare(), LastRoundTripNs: s.LastRoundTrip.Load(), SpentUntil: l.SpentUntil()}
	}
	return f
}
