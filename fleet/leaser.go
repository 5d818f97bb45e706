package fleet

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/cluster"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet/fleetpb"
)

// Defaults of a Leaser.
const (
	// DefaultCallTimeout bounds every call to a grain (wall-clock time).
	DefaultCallTimeout = 100 * time.Millisecond
	// DefaultRetryEvery is how often a Leaser on its fair share tries the
	// grain again.
	DefaultRetryEvery = time.Second
)

// ErrDisabled is returned by Take once some node of the fleet disabled the
// key (401/403).
var ErrDisabled = errors.New("fleet: key disabled")

// WaitError is returned by Take when no permit can be taken now: Until is
// when to try again; Cooling tells that the key cools down (a 429 seen by
// some node) rather than that the window is spent or a refill is on its way.
type WaitError struct {
	Until   time.Time
	Cooling bool
}

// Error says until when; it names no key (the caller knows which).
func (e *WaitError) Error() string {
	if e.Cooling {
		return fmt.Sprintf("fleet: key cooling down until %s", e.Until.Format(time.RFC3339Nano))
	}
	return fmt.Sprintf("fleet: no permit until %s", e.Until.Format(time.RFC3339Nano))
}

// LeaserOptions configures a Leaser. Identity and Cluster (or Call) are
// required.
type LeaserOptions struct {
	// Self, when not nil, names this node and its agent actor at each
	// call, instead of Member and Agent (a node that rejoined its cluster
	// under a new identity).
	Self func() (member string, agent *actor.PID)
	// Cluster is the started member (or client) the Leaser calls through.
	Cluster *cluster.Cluster
	// Call, when not nil, sends msg to the key's grain instead of Cluster
	// and returns its answer (tests; a host with a transport of its own).
	// The Leaser bounds the wait by CallTimeout whatever Call does.
	Call func(msg any, timeout time.Duration) (any, error)
	// Member names this node to the grain (default: the cluster address).
	Member string
	// Agent is this node's agent actor, where the grain pushes a cooldown
	// or a disable another member reported (nil: learnt on the next
	// refill only).
	Agent *actor.PID
	// Identity is the key's grain identity (BudgetIdentity).
	Identity string
	// RPM and TPM are the key's fleet-wide limits (0: no cap).
	RPM, TPM int64
	// MaxInFlight is the key's fleet-wide cap on calls in flight (0: no
	// cap). The Leaser holds concurrency slots from the grain: what its
	// calls in flight need and a margin (a tenth of the cap, at least 1),
	// renewed while calls run; Release frees one when a call ends.
	MaxInFlight int64
	// Block and BlockTokens are the permits asked per lease (default 1 % of
	// RPM and TPM, at least 1; without an RPM, unlimitedBlock: the lease
	// then only carries the key's cooldown and disable to this node).
	Block, BlockTokens int64
	// Clock drives leases' expiry, cooldowns and the fair-share window;
	// nil is the wall clock.
	Clock clock.Clock
	// Window is the period of the limits, for the fair share (default
	// DefaultWindow; the grains' must be the same).
	Window time.Duration
	// CallTimeout bounds each call to the grain in wall-clock time, like
	// the cluster's own request timeouts (default DefaultCallTimeout).
	CallTimeout time.Duration
	// RetryEvery is how often, on the fair share, the grain is tried again
	// (on the injected clock; default DefaultRetryEvery).
	RetryEvery time.Duration
	// Members returns the number of live members, for the fair share
	// (limit / members); nil counts the cluster's member list (1 without
	// a Cluster).
	Members func() int
	// OnChange, when not nil, is called from the refill goroutine after a
	// refill changed what the Leaser holds (so a Take that waited may now
	// succeed). It must not block.
	OnChange func()
}

// LeaserStats are a Leaser's figures. Fields are atomics, safe to read at
// any time.
type LeaserStats struct {
	// Leases counts answered lease calls; LeaseFailures the calls that
	// failed or timed out.
	Leases, LeaseFailures atomic.Int64
	// Taken counts permits taken from leases; LocalTaken permits taken on
	// the fair share; Waits Takes that found nothing.
	Taken, LocalTaken, Waits atomic.Int64
	// Fallbacks counts switches to the fair share.
	Fallbacks atomic.Int64
	// Refused counts lease calls the grain answered with no permit (the
	// fleet's window is spent until a time it named).
	Refused atomic.Int64
	// LastRoundTrip is the latest lease call's duration in nanoseconds.
	LastRoundTrip atomic.Int64
}

// Leaser holds one node's block of a key's fleet-wide permits. Take is
// local (a mutex and a few subtractions); the Leaser refills in the
// background before its block runs out or its lease expires, and falls back
// to a fair share of the limits (limit / live members) while the grain
// cannot be reached within CallTimeout. It is safe for concurrent use.
type Leaser struct {
	o     LeaserOptions
	stats LeaserStats
	local slidingWindow
	wg    sync.WaitGroup

	mu                     sync.Mutex
	leaseID                uint64
	heldReq, heldTok       int64
	expiry, renewAt        time.Time
	coolingUntil, retryAt  time.Time
	disabled               bool
	fallback               bool
	nextTry                time.Time
	offlineReq, offlineTok int64
	flight                 chan struct{} // closed when the refill in flight ends
	closing, closed        bool
	// needTok is the largest token count a Take wanted and the block could
	// not cover; the next lease asks for at least that.
	needTok                    int64
	activation                 string
	blockReq, blockTok, lowReq int64
	// slots are the concurrency slots held until slotsExpiry; inUse those
	// taken by calls in flight; slotTimer renews the hold while calls run.
	slots, inUse, slotMargin int64
	slotsExpiry, slotAskAt   time.Time
	slotTimer                clock.Timer
}

// NewLeaser returns a Leaser holding nothing yet: the first Take starts a
// refill (Refill does one and waits for it).
func NewLeaser(o LeaserOptions) *Leaser {
	if o.Clock == nil {
		o.Clock = clock.Real
	}
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = DefaultCallTimeout
	}
	if o.RetryEvery <= 0 {
		o.RetryEvery = DefaultRetryEvery
	}
	if o.Call == nil {
		call, identity := clusterCall(o.Cluster, BudgetKind), o.Identity
		o.Call = func(msg any, timeout time.Duration) (any, error) { return call(identity, msg, timeout) }
	}
	if o.Member == "" && o.Cluster != nil {
		o.Member = o.Cluster.ActorSystem.Address()
	}
	if o.Members == nil {
		o.Members = func() int { return 1 }
		if c := o.Cluster; c != nil {
			o.Members = func() int { return c.MemberList.Members().Len() }
		}
	}
	l := &Leaser{o: o}
	l.local.window = o.Window
	l.blockReq = o.Block
	switch {
	case l.blockReq > 0:
	case o.RPM <= 0:
		l.blockReq = unlimitedBlock
	default:
		l.blockReq = max(1, o.RPM/100)
	}
	l.blockTok = o.BlockTokens
	if l.blockTok <= 0 && o.TPM > 0 {
		l.blockTok = max(1, o.TPM/100)
	}
	l.lowReq = l.blockReq / 2
	l.slotMargin = max(1, o.MaxInFlight/10)
	return l
}

// Stats returns the Leaser's figures.
func (l *Leaser) Stats() *LeaserStats { return &l.stats }

// Take takes one request and tokens (an estimate; 0 without a TPM) from
// what the Leaser holds, never waiting on the network. It returns nil on
// success, ErrDisabled, or a *WaitError telling when to try again.
func (l *Leaser) Take(tokens int64) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.take(l.o.Clock.Now(), tokens, true)
}

// Available reports, without taking anything, when a request may be taken:
// the zero time if now, a later time, and false once the key is disabled;
// cooling tells that the wait is a cooldown. Like Take, it may start a
// background refill.
func (l *Leaser) Available(now time.Time) (at time.Time, cooling, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.take(now, 1, false)
	var w *WaitError
	switch {
	case err == nil:
		return time.Time{}, false, true
	case errors.As(err, &w):
		return w.Until, w.Cooling, true
	}
	return time.Time{}, false, false
}

// TakeAt takes one request's permit at now after Available said so; the
// tokens it uses are counted afterwards by Spend.
func (l *Leaser) TakeAt(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = l.take(now, 0, true)
}

// Spend counts tokens a finished request used: from the block held, and
// what the block cannot cover is reported to the grain with the next lease
// (as spent), so the fleet's window counts it.
func (l *Leaser) Spend(tokens int64) {
	if tokens <= 0 || l.o.TPM <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.o.Clock.Now()
	if l.fallback || !now.Before(l.expiry) {
		l.local.add(now, 0, tokens)
		l.offlineTok += tokens
		return
	}
	l.local.add(now, 0, tokens)
	take := min(tokens, max(l.heldTok, 0))
	l.heldTok -= take
	if rest := tokens - take; rest > 0 {
		l.offlineTok += rest
	}
	if l.heldTok <= l.blockTok/2 {
		l.startRefill(now)
	}
}

// take is Take at now, taking only when consume is set. l.mu is held.
func (l *Leaser) take(now time.Time, tokens int64, consume bool) error {
	switch {
	case l.disabled:
		return ErrDisabled
	case now.Before(l.coolingUntil):
		return &WaitError{Until: l.coolingUntil, Cooling: true}
	}
	if l.o.TPM > 0 && tokens > l.blockTok {
		l.needTok = max(l.needTok, tokens)
	}
	if l.o.MaxInFlight > 0 {
		if err := l.slot(now, consume); err != nil {
			return err
		}
	}
	if now.Before(l.expiry) && l.heldReq >= 1 && (l.o.TPM <= 0 || l.heldTok >= tokens) {
		if consume {
			l.heldReq--
			if l.o.TPM > 0 {
				l.heldTok -= tokens
			}
			l.stats.Taken.Add(1)
			// The fair share counts what this member took in the last
			// window, leased or not: falling back mid-minute does not open
			// a fresh share on top of what was already spent.
			l.local.add(now, 1, tokens)
		}
		if l.heldReq <= l.lowReq || !now.Before(l.renewAt) {
			l.startRefill(now)
		}
		return nil
	}
	if l.fallback {
		l.startRefill(now)
		members := int64(max(1, l.o.Members()))
		rpm, tpm := shareOf(l.o.RPM, members), shareOf(l.o.TPM, members)
		if !consume {
			if at, ok := l.local.room(now, rpm, tpm, 1, tokens); !ok {
				return &WaitError{Until: at}
			}
			return nil
		}
		at, ok := l.local.take(now, rpm, tpm, 1, tokens)
		if ok {
			l.offlineReq++
			l.offlineTok += tokens
			l.stats.LocalTaken.Add(1)
			return nil
		}
		l.stats.Waits.Add(1)
		return &WaitError{Until: at}
	}
	l.stats.Waits.Add(1)
	if now.Before(l.retryAt) {
		return &WaitError{Until: l.retryAt}
	}
	l.startRefill(now)
	return &WaitError{Until: now.Add(l.o.CallTimeout)}
}

// slot checks that a concurrency slot is free at now, and takes it when
// consume is set. l.mu is held.
func (l *Leaser) slot(now time.Time, consume bool) error {
	limit, held := l.slots, now.Before(l.slotsExpiry)
	if l.fallback {
		limit, held = shareOf(l.o.MaxInFlight, int64(max(1, l.o.Members()))), true
	}
	if !held || l.inUse >= limit {
		l.stats.Waits.Add(1)
		// Ask for more only when the hold lapsed, or the grain may grant
		// more than held and the last ask is not recent: a member at its
		// share does not ask at every check.
		retry := l.slotRetryAt()
		if !held || (l.slots < l.o.MaxInFlight && !now.Before(retry)) {
			l.startRefill(now)
		}
		until := retry
		if !until.After(now) {
			until = now.Add(l.o.CallTimeout)
		}
		if now.Before(l.retryAt) && l.retryAt.Before(until) {
			until = l.retryAt
		}
		return &WaitError{Until: until}
	}
	if consume {
		l.inUse++
		if l.slots-l.inUse < (l.slotMargin+1)/2 && l.slots < l.o.MaxInFlight && !now.Before(l.slotRetryAt()) {
			l.startRefill(now)
		}
	}
	return nil
}

// Release frees the concurrency slot of a call that ended (MaxInFlight
// only).
func (l *Leaser) Release() {
	if l.o.MaxInFlight <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.inUse > 0 {
		l.inUse--
	}
}

// renewSlots keeps the hold of slots alive while calls run: after each
// refill it arms a timer for the renewal time. l.mu is held.
func (l *Leaser) renewSlots(now time.Time) {
	if l.o.MaxInFlight <= 0 || l.closing {
		return
	}
	if l.slotTimer != nil {
		l.slotTimer.Stop()
	}
	l.slotTimer = l.o.Clock.AfterFunc(max(l.renewAt.Sub(now), time.Millisecond), func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.inUse > 0 {
			l.startRefill(l.o.Clock.Now())
		}
	})
}

// shareOf is a fair share of limit (0: no cap) among members, at least 1.
func shareOf(limit, members int64) int64 {
	if limit <= 0 {
		return 0
	}
	return max(1, limit/members)
}

// startRefill starts a background refill unless one is in flight, the
// Leaser is closed, the grain said its window is spent until retryAt, or
// (on the fair share) the next try is not due. l.mu is held.
func (l *Leaser) startRefill(now time.Time) {
	if l.flight != nil || l.closing || (l.fallback && now.Before(l.nextTry)) || now.Before(l.retryAt) {
		return
	}
	flight := make(chan struct{})
	l.flight = flight
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		changed := l.refill(flight)
		if changed && l.o.OnChange != nil {
			l.o.OnChange()
		}
	}()
}

// Refill asks the grain for a block now (after the refill in flight, if
// any) and waits for the answer, at most CallTimeout. It returns the
// call's error; the Leaser is then on its fair share.
func (l *Leaser) Refill() error {
	for {
		l.mu.Lock()
		if l.closing {
			l.mu.Unlock()
			return errors.New("fleet: leaser closed")
		}
		if f := l.flight; f != nil {
			l.mu.Unlock()
			<-f
			continue
		}
		flight := make(chan struct{})
		l.flight = flight
		l.wg.Add(1)
		l.mu.Unlock()
		defer l.wg.Done()
		l.refill(flight)
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.fallback {
			return errors.New("fleet: grain unreachable, on the fair share")
		}
		return nil
	}
}

// refill makes one lease call and applies its answer; it ends the flight.
// It reports whether what the Leaser holds changed.
func (l *Leaser) refill(flight chan struct{}) bool {
	l.mu.Lock()
	now := l.o.Clock.Now()
	me, agent := l.whoAmI()
	req := &fleetpb.LeaseRequest{
		Member: me, Limits: &fleetpb.Limits{Rpm: l.o.RPM, Tpm: l.o.TPM},
		Requests: l.blockReq, Tokens: max(l.blockTok, l.needTok),
		SpentOfflineRequests: l.offlineReq, SpentOfflineTokens: l.offlineTok,
	}
	req.AgentAddress, req.AgentId = agentRef(agent)
	if l.o.MaxInFlight > 0 {
		req.Limits.MaxInFlight = l.o.MaxInFlight
		// Enough for the calls in flight and as many again (at least the
		// margin): a burst doubles the hold at each refill.
		req.Slots = min(l.inUse+max(l.inUse, l.slotMargin), l.o.MaxInFlight)
	}
	if l.leaseID != 0 {
		req.PreviousLeaseId = l.leaseID
		if now.Before(l.expiry) {
			req.CarriedRequests, req.CarriedTokens = l.heldReq, l.heldTok
		} else {
			req.ReturnedRequests, req.ReturnedTokens = l.heldReq, l.heldTok
		}
	}
	sentLease, sentAt := l.leaseID, now
	l.mu.Unlock()

	start := time.Now()
	grant, err := l.call(req)
	l.stats.LastRoundTrip.Store(int64(time.Since(start)))

	l.mu.Lock()
	defer l.mu.Unlock()
	defer func() { l.flight = nil; close(flight) }()
	now = l.o.Clock.Now()
	if err != nil {
		l.stats.LeaseFailures.Add(1)
		l.retryAt = time.Time{} // an unreachable grain's advice no longer holds
		if !l.fallback {
			l.fallback = true
			l.stats.Fallbacks.Add(1)
		}
		l.nextTry = now.Add(l.o.RetryEvery)
		return true
	}
	l.stats.Leases.Add(1)
	l.fallback = false
	l.needTok = 0
	l.offlineReq -= req.SpentOfflineRequests
	l.offlineTok -= req.SpentOfflineTokens
	l.activation = grant.Activation
	if l.leaseID == sentLease && sentLease != 0 {
		// The previous lease was carried (its remaining permits, at most
		// what the grain accepted, move into the new one) or returned.
		if req.CarriedRequests == 0 && req.CarriedTokens == 0 {
			l.leaseID, l.heldReq, l.heldTok = 0, 0, 0
		}
	}
	if l.o.MaxInFlight > 0 {
		l.slots, l.slotsExpiry, l.slotAskAt = grant.Slots, sentAt.Add(time.Duration(grant.ValidForNs)), sentAt
		l.renewAt = sentAt.Add(time.Duration(grant.ValidForNs) * 3 / 4)
		l.renewSlots(now)
	}
	switch {
	case grant.Disabled:
		l.disabled = true
		l.leaseID, l.heldReq, l.heldTok = 0, 0, 0
		return true
	case grant.CooldownForNs > 0:
		l.coolingUntil = now.Add(time.Duration(grant.CooldownForNs))
		l.leaseID, l.heldReq, l.heldTok = 0, 0, 0
		return true
	}
	if grant.RetryAfterNs > 0 {
		// The grain's advice, but asked again at least every RetryEvery:
		// a grain that died meanwhile is found (and re-activated) soon.
		l.retryAt = now.Add(min(time.Duration(grant.RetryAfterNs), l.o.RetryEvery))
		l.stats.Refused.Add(1)
	}
	if grant.LeaseId == 0 {
		return false
	}
	l.heldReq = min(l.heldReq, grant.CarriedRequests) + grant.Requests
	l.heldTok = min(l.heldTok, grant.CarriedTokens) + grant.Tokens
	l.leaseID = grant.LeaseId
	// Validity runs from when the request left: the grain granted later,
	// so this node's expiry never outlasts the grain's.
	valid := time.Duration(grant.ValidForNs)
	l.expiry, l.renewAt = sentAt.Add(valid), sentAt.Add(valid*3/4)
	return true
}

// call sends req to the grain and waits for the grant (see request).
func (l *Leaser) call(req *fleetpb.LeaseRequest) (*fleetpb.LeaseGrant, error) {
	res, err := l.request(req, func(late any) {
		// A grant that came too late is handed back; permits it carried
		// stay counted (the old lease may still be used until it expires).
		if g, ok := late.(*fleetpb.LeaseGrant); ok && g.LeaseId != 0 && (g.Requests > 0 || g.Tokens > 0) {
			_, _ = l.request(&fleetpb.Return{LeaseId: g.LeaseId, Requests: g.Requests, Tokens: g.Tokens}, nil)
		}
	})
	if err != nil {
		return nil, err
	}
	g, ok := res.(*fleetpb.LeaseGrant)
	if !ok {
		return nil, fmt.Errorf("fleet: unexpected answer %T from the key-budget grain", res)
	}
	return g, nil
}

// request sends msg to the grain and waits at most CallTimeout (wall
// clock, like the cluster's own timeouts) for the answer, whatever the
// cluster does meanwhile (identity lookups may take longer). A call that
// outlives the wait finishes in the background and its answer goes to late
// (when not nil); Close waits for it. While Close waits, new calls fail.
func (l *Leaser) request(msg any, late func(any)) (any, error) {
	l.mu.Lock()
	if l.closing && !l.closed {
		l.mu.Unlock()
		return nil, errors.New("fleet: leaser closing")
	}
	l.wg.Add(1)
	l.mu.Unlock()
	res, timedOut, err := boundedCall(&l.wg, l.o.CallTimeout, func() (any, error) { return l.o.Call(msg, l.o.CallTimeout) }, late)
	if timedOut {
		return nil, fmt.Errorf("fleet: key-budget grain %q did not answer within %s", l.o.Identity, l.o.CallTimeout)
	}
	return res, err
}

// giveBack returns permits of a lease to the grain (bounded, best effort).
func (l *Leaser) giveBack(id uint64, requests, tokens int64) {
	_, _ = l.request(&fleetpb.Return{LeaseId: id, Requests: requests, Tokens: tokens}, nil)
}

// Cooldown tells the fleet that the key must not be used for d (a 429's
// Retry-After): this node stops at once, the others on their next refill.
// It waits at most CallTimeout for the grain.
func (l *Leaser) Cooldown(d time.Duration, reason string) error {
	return l.CooldownUntil(l.o.Clock.Now().Add(d), reason)
}

// CooldownUntil is Cooldown until a time on the Leaser's clock (sent to
// the grain as a duration: members' clocks need not agree).
func (l *Leaser) CooldownUntil(until time.Time, reason string) error {
	l.mu.Lock()
	now := l.o.Clock.Now()
	if until.After(l.coolingUntil) {
		l.coolingUntil = until
	}
	l.mu.Unlock()
	if !until.After(now) {
		return nil
	}
	return l.tell(&fleetpb.Cooldown{CooldownForNs: int64(until.Sub(now)), Reason: reason, Member: l.memberName()})
}

// Disable tells the fleet that the key was refused (401/403): this node
// stops at once, the others on their next refill. It waits at most
// CallTimeout for the grain.
func (l *Leaser) Disable(reason string) error {
	l.mu.Lock()
	l.disabled = true
	l.mu.Unlock()
	return l.tell(&fleetpb.Disable{Reason: reason, Member: l.memberName()})
}

// Apply applies what the grain pushed (another member's 429 or refusal):
// the Leaser stops using the key at once and drops what it holds (the
// grain keeps those permits counted until their lease expires). It reports
// whether anything changed.
func (l *Leaser) Apply(p *fleetpb.KeyPush) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	changed := false
	if p.Disabled && !l.disabled {
		l.disabled, changed = true, true
	}
	if d := time.Duration(p.CooldownForNs); d > 0 {
		if until := l.o.Clock.Now().Add(d); until.After(l.coolingUntil) {
			l.coolingUntil, changed = until, true
		}
	}
	if changed {
		l.leaseID, l.heldReq, l.heldTok = 0, 0, 0
	}
	return changed
}

func (l *Leaser) tell(msg any) error {
	_, err := l.request(msg, nil)
	return err
}

// Activation names the grain activation of the latest lease ("" before).
func (l *Leaser) Activation() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.activation
}

// Close stops refills, waits for the calls in flight and hands unused
// permits back to the grain (bounded by CallTimeout).
func (l *Leaser) Close() {
	l.mu.Lock()
	l.closing = true
	if l.slotTimer != nil {
		l.slotTimer.Stop()
	}
	l.mu.Unlock()
	l.wg.Wait()
	l.mu.Lock()
	l.closed = true
	id, req, tok := l.leaseID, l.heldReq, l.heldTok
	l.leaseID, l.heldReq, l.heldTok = 0, 0, 0
	l.mu.Unlock()
	if id != 0 && (req > 0 || tok > 0) {
		l.giveBack(id, req, tok)
	}
}

// OnFairShare reports whether the Leaser is on its fair share (the grain
// could not be reached).
func (l *Leaser) OnFairShare() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fallback
}

// SpentUntil is the time until which the grain said the fleet's window
// is spent (the zero time before any refusal).
func (l *Leaser) SpentUntil() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.retryAt
}

// member names this node and agent is its agent actor (see Self).
// slotRetryAt is when the slots may be asked for again: a quarter of the
// latest grant's validity after it was asked for, at least CallTimeout.
// Call with l.mu held.
func (l *Leaser) slotRetryAt() time.Time {
	return l.slotAskAt.Add(max(l.o.CallTimeout, l.slotsExpiry.Sub(l.slotAskAt)/4))
}

// whoAmI is this node's member name and agent, read once per message so
// both come from the same incarnation.
func (l *Leaser) whoAmI() (string, *actor.PID) { return self(l.o.Self, l.o.Member, l.o.Agent) }
func (l *Leaser) memberName() string           { m, _ := l.whoAmI(); return m }
