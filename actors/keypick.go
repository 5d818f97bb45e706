package actors

import (
	"slices"
	"time"
)

// pickKey chooses a usable key of ep for a call, by strategy; allowed, when
// not nil, lists the key labels the call may use (a key the caller pinned,
// or the keys of the group that can see a stored object the call names),
// avoid names one to skip while another is usable (a key that just got a
// 429). It returns nil when no key can take the call now.
func pickKey(ep *endpointState, strategy Strategy, now time.Time, allowed []string, avoid string) *keyState {
	usable := func(k *keyState) bool {
		if k.inflight >= k.maxInFlight() || (allowed != nil && !slices.Contains(allowed, k.label)) {
			return false
		}
		at, ok := k.availableAt(now)
		return ok && at.IsZero()
	}
	if len(allowed) == 1 {
		for _, k := range ep.keys {
			if usable(k) {
				return k
			}
		}
		return nil
	}
	n := len(ep.keys)
	pick := func(skip string) *keyState {
		switch strategy {
		case LeastLoaded:
			var best *keyState
			for i := 0; i < n; i++ {
				k := ep.keys[(ep.rr+i)%n]
				if k.label == skip || !usable(k) {
					continue
				}
				if best == nil || k.inflight < best.inflight {
					best = k
				}
			}
			if best != nil {
				ep.rr = (best.idx + 1) % n
			}
			return best
		case Weighted:
			// Smooth weighted round-robin (as nginx): deterministic and
			// proportional to the weights.
			total := 0
			var best *keyState
			for _, k := range ep.keys {
				if k.label == skip || !usable(k) {
					continue
				}
				w := k.spec.Weight
				if w <= 0 {
					w = 1
				}
				total += w
				ep.rrWeights[k.idx] += w
				if best == nil || ep.rrWeights[k.idx] > ep.rrWeights[best.idx] {
					best = k
				}
			}
			if best != nil {
				ep.rrWeights[best.idx] -= total
			}
			return best
		case MostHeadroom:
			var best *keyState
			bestScore := -1.0
			for i := 0; i < n; i++ {
				k := ep.keys[(ep.rr+i)%n]
				if k.label == skip || !usable(k) {
					continue
				}
				score := k.headroom() / float64(1+k.inflight)
				if score > bestScore {
					best, bestScore = k, score
				}
			}
			if best != nil {
				ep.rr = (best.idx + 1) % n
			}
			return best
		default: // RoundRobin
			for i := 0; i < n; i++ {
				k := ep.keys[(ep.rr+i)%n]
				if k.label == skip || !usable(k) {
					continue
				}
				ep.rr = (k.idx + 1) % n
				return k
			}
			return nil
		}
	}
	if avoid != "" {
		if k := pick(avoid); k != nil {
			return k
		}
	}
	return pick("")
}
