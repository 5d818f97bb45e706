package switchyard

import (
	"time"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/fleet"
)

// fleetHealth makes a node's *fleet.Health the actors' FleetHealth
// (Env.FleetHealth): one watcher per provider endpoint. fleet.HealthView
// and actors.FleetHealthView have the same fields, so one converts to the
// other.
type fleetHealth struct{ h *fleet.Health }

func (f fleetHealth) EndpointHealth(provider, endpoint string, probes int, push func(actors.FleetHealthView)) actors.EndpointHealth {
	return fleetHealthWatcher{f.h.Watch(provider, endpoint, probes, func(v fleet.HealthView) { push(actors.FleetHealthView(v)) })}
}

// fleetHealthWatcher is one endpoint's fleet.HealthWatcher as an
// actors.EndpointHealth.
type fleetHealthWatcher struct{ w *fleet.HealthWatcher }

func (w fleetHealthWatcher) Trip(cooldown time.Duration, reason string, answer func(actors.FleetHealthView, error)) {
	w.w.Trip(cooldown, reason, func(v fleet.HealthView, err error) { answer(actors.FleetHealthView(v), err) })
}

func (w fleetHealthWatcher) AskProbes(n int, answer func(actors.FleetHealthView, error)) {
	w.w.AskProbes(n, func(v fleet.HealthView, err error) { answer(actors.FleetHealthView(v), err) })
}

func (w fleetHealthWatcher) ProbeDone(success bool) { w.w.ProbeDone(success) }
