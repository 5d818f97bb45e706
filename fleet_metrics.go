package switchyard

import (
	"github.com/prometheus/client_golang/prometheus"
)

// fleetMetrics exports this member's fleet figures (fleet mode only):
//
//	switchyard_fleet_members                                  members the cluster lists
//	switchyard_fleet_leases_total{budget}                     answered lease calls, per key budget (provider/endpoint/key)
//	switchyard_fleet_lease_failures_total{budget}             lease calls that failed or timed out
//	switchyard_fleet_lease_refusals_total{budget}             lease calls answered with no permit (window spent)
//	switchyard_fleet_lease_waits_total{budget}                checks that found no permit held
//	switchyard_fleet_permits_taken_total{budget,source}       source lease|fair_share
//	switchyard_fleet_fallbacks_total{budget}                  switches to the fair share
//	switchyard_fleet_fair_share{budget}                       1 while on the fair share
//	switchyard_fleet_lease_round_trip_seconds{budget}         the latest lease call's duration
//	switchyard_fleet_grain_activations_total                  key-budget grains activated on this member
//	switchyard_fleet_grain_leases_total                       lease requests those grains answered
//	switchyard_fleet_grain_permits_granted_total              permits they granted
//	switchyard_fleet_pushes_total                             pushes received from grains
//	switchyard_fleet_rejoins_total                            rejoins under a new identity after a lost membership
type fleetMetrics struct {
	s                                                       *Switchyard
	members, leases, failures, refusals, waits, taken       *prometheus.Desc
	fallbacks, fairShare, roundTrip                         *prometheus.Desc
	grainActivations, grainLeases, grainGranted, pushesDesc *prometheus.Desc
	rejoins                                                 *prometheus.Desc
}

func newFleetMetrics(s *Switchyard) *fleetMetrics {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchyard_fleet_"+name, help, labels, nil)
	}
	return &fleetMetrics{s: s,
		members:          d("members", "Members the cluster lists."),
		leases:           d("leases_total", "Answered lease calls to a key's budget grain.", "budget"),
		failures:         d("lease_failures_total", "Lease calls that failed or timed out.", "budget"),
		refusals:         d("lease_refusals_total", "Lease calls the grain answered with no permit (the fleet's window was spent).", "budget"),
		waits:            d("lease_waits_total", "Checks that found no permit held.", "budget"),
		taken:            d("permits_taken_total", "Permits taken, from leases or from the fair share.", "budget", "source"),
		fallbacks:        d("fallbacks_total", "Switches to the fair share (limit / live members) because the grain could not be reached.", "budget"),
		fairShare:        d("fair_share", "1 while the member uses its fair share of the key's limits.", "budget"),
		roundTrip:        d("lease_round_trip_seconds", "The latest lease call's duration.", "budget"),
		grainActivations: d("grain_activations_total", "Key-budget grains activated on this member."),
		grainLeases:      d("grain_leases_total", "Lease requests answered by the grains on this member."),
		grainGranted:     d("grain_permits_granted_total", "Permits granted by the grains on this member."),
		pushesDesc:       d("pushes_total", "Messages grains pushed to this member (cooldowns, disables, endpoint states)."),
		rejoins:          d("rejoins_total", "Times this member rejoined the cluster under a new identity after its membership was lost."),
	}
}

func (m *fleetMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.members, m.leases, m.failures, m.refusals, m.waits, m.taken, m.fallbacks, m.fairShare,
		m.roundTrip, m.grainActivations, m.grainLeases, m.grainGranted, m.pushesDesc, m.rejoins} {
		ch <- d
	}
}

func (m *fleetMetrics) Collect(ch chan<- prometheus.Metric) {
	f := m.s.fleet.Figures()
	emit := func(d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, t, v, lv...)
	}
	emit(m.members, prometheus.GaugeValue, float64(f.Members))
	for id, k := range f.Keys {
		emit(m.leases, prometheus.CounterValue, float64(k.Leases), id)
		emit(m.failures, prometheus.CounterValue, float64(k.LeaseFailures), id)
		emit(m.refusals, prometheus.CounterValue, float64(k.Refused), id)
		emit(m.waits, prometheus.CounterValue, float64(k.Waits), id)
		emit(m.taken, prometheus.CounterValue, float64(k.Taken), id, "lease")
		emit(m.taken, prometheus.CounterValue, float64(k.LocalTaken), id, "fair_share")
		emit(m.fallbacks, prometheus.CounterValue, float64(k.Fallbacks), id)
		emit(m.fairShare, prometheus.GaugeValue, boolFloat(k.FairShare), id)
		emit(m.roundTrip, prometheus.GaugeValue, float64(k.LastRoundTripNs)/1e9, id)
	}
	emit(m.grainActivations, prometheus.CounterValue, float64(f.GrainActivations))
	emit(m.grainLeases, prometheus.CounterValue, float64(f.GrainLeases))
	emit(m.grainGranted, prometheus.CounterValue, float64(f.GrainGranted))
	emit(m.pushesDesc, prometheus.CounterValue, float64(f.Pushes))
	emit(m.rejoins, prometheus.CounterValue, float64(f.Rejoins))
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
