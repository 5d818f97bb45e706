package switchyard

import (
	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/fleet"
)

// fleetHealth makes a node's *fleet.Health the actors' FleetHealth
// (Env.FleetHealth): one watcher per provider endpoint. A
// *fleet.HealthWatcher is an actors.EndpointHealth as it is (both speak
// messages.FleetHealthView).
type fleetHealth struct{ h *fleet.Health }

func (f fleetHealth) EndpointHealth(provider, endpoint string, probes int, push func(actors.FleetHealthView)) actors.EndpointHealth {
	return f.h.Watch(provider, endpoint, probes, push)
}

var _ actors.EndpointHealth = (*fleet.HealthWatcher)(nil)
