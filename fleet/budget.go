package fleet

import (
	"time"

	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// Defaults of the key-budget protocol.
const (
	// DefaultWindow is the window the limits apply to: rpm and tpm are per
	// minute.
	DefaultWindow = time.Minute
	// DefaultLeaseTTL is how long leased permits may be used.
	DefaultLeaseTTL = time.Second
)

// grant is one lease as the grain counts it: permits usable until expiry.
type grant struct {
	member           string
	expiry           time.Time
	requests, tokens int64
}

// budget is the state of one key-budget grain: the fleet's window for one
// key, its cooldown and disable. It is plain data, owned by the grain actor
// (not safe for concurrent use).
//
// A permit may be used at any moment of its lease's validity, so a grant
// counts against every window its validity touches: it is counted until its
// expiry plus the window. Then no window of use exceeds the limit, at the
// price of utilisation window / (window + ttl). A new activation knows
// nothing of the past, so its allowance ramps from 0 to the limit over its
// first window (a fresh window, not a full budget).
//
// Members share fairly: while several members asked for permits in the
// last window, each may hold at most allowance / members of it, so a busy
// member that refills first cannot starve the others (an idle member's
// share is lost for at most a window after its last request).
type budget struct {
	window, ttl  time.Duration
	activated    time.Time
	limits       fleetpb.Limits
	grants       map[uint64]*grant
	lessees      map[string]time.Time // member → its latest request
	nextID       uint64
	coolingUntil time.Time
	disabled     bool
	reason       string
	// holds are the members' concurrency slots (max in flight), each
	// until its lease's expiry.
	holds map[string]hold
}

// hold is one member's concurrency slots until expiry, and what it asked.
type hold struct {
	slots, want int64
	expiry      time.Time
}

func newBudget(now time.Time, window, ttl time.Duration) *budget {
	return &budget{window: window, ttl: ttl, activated: now, grants: map[uint64]*grant{}, lessees: map[string]time.Time{}, holds: map[string]hold{}}
}

// lease answers r at now.
func (b *budget) lease(r *fleetpb.LeaseRequest, now time.Time) *fleetpb.LeaseGrant {
	if r.GetLimits() != nil {
		b.limits.Rpm, b.limits.Tpm, b.limits.MaxInFlight = sane(r.Limits.Rpm), sane(r.Limits.Tpm), sane(r.Limits.MaxInFlight)
	}
	b.lessees[r.Member] = now
	b.prune(now)
	prev := b.grants[r.PreviousLeaseId]
	carriedReq, carriedTok := int64(0), int64(0)
	if prev != nil {
		b.giveBack(r.PreviousLeaseId, r.ReturnedRequests, r.ReturnedTokens)
		carriedReq = min(sane(r.CarriedRequests), prev.requests)
		carriedTok = min(sane(r.CarriedTokens), prev.tokens)
	}
	if offReq, offTok := sane(r.SpentOfflineRequests), sane(r.SpentOfflineTokens); offReq > 0 || offTok > 0 {
		b.record(r.Member, now, offReq, offTok)
	}
	out := &fleetpb.LeaseGrant{ValidForNs: int64(b.ttl)}
	if b.limits.MaxInFlight > 0 {
		out.Slots = b.holdSlots(r.Member, sane(r.Slots), now)
	}
	switch {
	case b.disabled:
		out.Disabled, out.DisabledReason = true, b.reason
		return out
	case now.Before(b.coolingUntil):
		out.CooldownForNs = int64(b.coolingUntil.Sub(now))
		return out
	}
	// Usage counts the carried permits (still in prev).
	u := b.usage(r.Member)
	req := grantable(sane(r.Requests), b.limits.Rpm, b.room(b.limits.Rpm, now, u.requests, u.memberRequests, u.members))
	tok := grantable(sane(r.Tokens), b.limits.Tpm, b.room(b.limits.Tpm, now, u.tokens, u.memberTokens, u.members))
	if req <= 0 || (b.limits.Tpm > 0 && r.Tokens > 0 && tok <= 0) {
		req, tok = 0, 0
		out.RetryAfterNs = int64(b.nextFree(now))
	}
	if req+carriedReq <= 0 && tok+carriedTok <= 0 {
		return out
	}
	// The carried permits move from the previous grant into the new one;
	// on a refusal above they stay where they were (still counted).
	if prev != nil {
		prev.requests -= carriedReq
		prev.tokens -= carriedTok
	}
	out.LeaseId = b.record(r.Member, now.Add(b.ttl), req+carriedReq, tok+carriedTok)
	out.Requests, out.Tokens = req, tok
	out.CarriedRequests, out.CarriedTokens = carriedReq, carriedTok
	return out
}

// holdSlots replaces member's hold of concurrency slots with at most
// want, until now + ttl: what the cap leaves after the other members'
// live holds, and, while others want slots too, at most a fair share of
// the cap (so a member that came first cannot keep them all: it gives back
// the excess at its next renewal, within a TTL).
func (b *budget) holdSlots(member string, want int64, now time.Time) int64 {
	var others, holders int64
	for m, h := range b.holds {
		if !h.expiry.After(now) {
			delete(b.holds, m)
			continue
		}
		if m != member {
			others += h.slots
			if h.want > 0 {
				holders++
			}
		}
	}
	grant := min(want, b.limits.MaxInFlight-others)
	if holders > 0 {
		grant = min(grant, max(1, b.limits.MaxInFlight/(holders+1)))
	}
	grant = max(grant, 0)
	b.holds[member] = hold{slots: grant, want: want, expiry: now.Add(b.ttl)}
	return grant
}

// giveBack removes unused permits from a lease.
func (b *budget) giveBack(id uint64, requests, tokens int64) {
	if g, ok := b.grants[id]; ok {
		g.requests -= min(sane(requests), g.requests)
		g.tokens -= min(sane(tokens), g.tokens)
	}
}

// cooldown stops grants until now+d, unless a later cooldown is in force.
func (b *budget) cooldown(now time.Time, d time.Duration) {
	if until := now.Add(d); until.After(b.coolingUntil) {
		b.coolingUntil = until
	}
}

// disable stops grants for good.
func (b *budget) disable(reason string) { b.disabled, b.reason = true, reason }

func (b *budget) record(member string, expiry time.Time, requests, tokens int64) uint64 {
	b.nextID++
	b.grants[b.nextID] = &grant{member: member, expiry: expiry, requests: requests, tokens: tokens}
	return b.nextID
}

// prune forgets grants that no longer touch the current window.
func (b *budget) prune(now time.Time) {
	for id, g := range b.grants {
		if !g.expiry.Add(b.window).After(now) {
			delete(b.grants, id)
		}
	}
	for m, at := range b.lessees {
		if now.Sub(at) > b.window {
			delete(b.lessees, m)
		}
	}
}

// usage is what the window holds: in all, and of member; members counts
// the members that asked in the last window.
type usage struct {
	requests, tokens             int64
	memberRequests, memberTokens int64
	members                      int64
}

func (b *budget) usage(member string) usage {
	var u usage
	for _, g := range b.grants {
		u.requests += g.requests
		u.tokens += g.tokens
		if g.member == member {
			u.memberRequests += g.requests
			u.memberTokens += g.tokens
		}
	}
	u.members = int64(max(1, len(b.lessees)))
	return u
}

// room is what a member may still be granted under limit at now: what the
// window has left, and at most its fair share of the allowance.
func (b *budget) room(limit int64, now time.Time, used, memberUsed, members int64) int64 {
	allowance := b.allowance(limit, now)
	return min(allowance-used, allowance/members-memberUsed)
}

// allowance is the limit, ramped over the activation's first window.
func (b *budget) allowance(limit int64, now time.Time) int64 {
	if elapsed := now.Sub(b.activated); elapsed < b.window {
		return limit * int64(elapsed) / int64(b.window)
	}
	return limit
}

// nextFree is how long until the window may have room again: the first
// grant leaving it, or a ramp step, whichever is sooner; at least 1 ms.
func (b *budget) nextFree(now time.Time) time.Duration {
	next := b.window
	for _, g := range b.grants {
		next = min(next, g.expiry.Add(b.window).Sub(now))
	}
	if now.Sub(b.activated) < b.window && b.limits.Rpm > 0 {
		next = min(next, b.window/time.Duration(b.limits.Rpm))
	}
	return max(next, time.Millisecond)
}

// grantable is what may be granted of asked under limit (0: no cap) with
// room left in the window.
func grantable(asked, limit, room int64) int64 {
	if limit <= 0 {
		return max(asked, 0)
	}
	return max(min(asked, room), 0)
}

// maxAmount bounds every amount a request names, so that sums never
// overflow whatever arrives from the network.
const maxAmount = 1 << 40

// sane is v within [0, maxAmount].
func sane(v int64) int64 { return min(max(v, 0), maxAmount) }
