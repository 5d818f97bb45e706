package actors

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
)

// Cache defaults.
const (
	DefaultCacheEntries   = 10000
	DefaultCacheTTL       = time.Hour
	DefaultCacheThreshold = 0.95
	// DefaultCacheLookupTimeout bounds a semantic lookup's embedding call.
	DefaultCacheLookupTimeout = time.Second
	// cacheLastHits is how many recent hits CacheStatus lists.
	cacheLastHits = 8
)

// CacheSpec configures the cache actor.
type CacheSpec struct {
	// MaxEntries bounds the stored answers (default 10,000); the least
	// recently used goes first.
	MaxEntries int
	// TTL is how long an answer is served after it was stored (default 1 h).
	TTL time.Duration
	// Threshold is the cosine similarity at or above which a stored answer
	// serves another prompt of the same scope (default 0.95).
	Threshold float64
	// LookupTimeout bounds the embedding call of a semantic lookup (default
	// 1 s): past it the request goes upstream as a miss, so a slow or
	// failing embedding route never holds callers for long.
	LookupTimeout time.Duration
	// Embedding is the route that embeds prompts for the semantic layer; an
	// empty Provider turns the semantic layer off (exact layer only).
	Embedding CacheEmbedding
	// CacheSampled opts every request in: sampled requests are cached, and
	// answers with tool calls stored and shared.
	CacheSampled bool
	// TenantScope separates entries by the requests' Tenant (default) or
	// Tenant and Principal, or shares them across tenants.
	TenantScope TenantScope
	// Providers names the configured providers: a request for another one
	// is forwarded untouched, so the dispatcher answers the error and no
	// lookup is spent on it. Requests are not validated here (the
	// dispatcher's admission runs the adapter's Check once): an invalid one
	// cannot match a stored answer, and its failure is never stored.
	Providers map[string]bool
}

// CacheEmbedding names the embedding route of the semantic layer.
type CacheEmbedding struct {
	Provider, Model string
	// Dimensions asks for shortened vectors where the model supports it (0:
	// the model's default).
	Dimensions int
}

func (s CacheSpec) withDefaults() CacheSpec {
	if s.MaxEntries <= 0 {
		s.MaxEntries = DefaultCacheEntries
	}
	if s.TTL <= 0 {
		s.TTL = DefaultCacheTTL
	}
	if s.Threshold <= 0 || s.Threshold > 1 {
		s.Threshold = DefaultCacheThreshold
	}
	if s.LookupTimeout <= 0 {
		s.LookupTimeout = DefaultCacheLookupTimeout
	}
	return s
}

// sweepEvery is how often expired entries are swept: half the TTL, within
// [1 s, 5 min]. An expired entry is never served (lookups check the expiry);
// the sweep only frees its memory.
func (s CacheSpec) sweepEvery() time.Duration {
	return min(max(s.TTL/2, time.Second), 5*time.Minute)
}

// cacheWaiter is one request the cache holds: waiting for a semantic lookup,
// for its single-flight leader, or (as a leader) for its own upstream call.
type cacheWaiter struct {
	id   string
	req  messages.Request
	call *messages.Call
	ctx  context.Context
	// The answer goes to reply (the facade) or to pid (an actor, or a
	// Submit's ReplyPID); stream chunks to emit. inline: emit never blocks
	// (it sends messages), so a replay may run on the actor's goroutine.
	reply    chan<- any
	pid      *actor.PID
	emit     func(*messages.StreamChunk) bool
	inline   bool
	admitted time.Time
	timer    clock.Timer
	timerGen uint64
	// flight is the flight the waiter belongs to; nil for a leader whose
	// caller gave up, waiting only for its own call's answer.
	flight *flight
	// tr is the request's trace (tracing on).
	tr *reqTrace
}

// flight is the single flight of identical requests (one exact key, one
// opt-in): their semantic lookup, then one upstream call whose answer they
// share.
type flight struct {
	lk cacheLookup
	// prio is the priority index of the flight's leader (or creator); a
	// more urgent request does not join a less urgent flight.
	prio    int
	waiters []*cacheWaiter
	// call is the leader's upstream call; nil while the lookup runs.
	call *leaderCall
	// embedID is the pending embedding request; vec the prompt's unit
	// vector once known.
	embedID string
	vec     []float32
	// ended: the flight answered its waiters; an embedding that arrives
	// after that only indexes the stored answer.
	ended bool
	// Fleet mode (Env.FleetCache): fleetAsking while the fleet's answer to
	// the exact lookup is awaited; fleetReports once the fleet said to go
	// upstream, so the flight's outcome is reported (Store, else Abandon
	// when it ends); fleetStored once it was stored.
	fleetAsking, fleetReports, fleetStored bool
}

// leaderCall is a request the cache sent to the dispatcher on behalf of a
// flight, answered to the cache.
type leaderCall struct {
	id     string
	leader *cacheWaiter
	// flight is nil once the leader's caller gave up (the others moved on).
	flight *flight
	lk     cacheLookup
	vec    []float32
	rec    *chunkRecorder
	// fleet: a stored answer is shared with the fleet too.
	fleet bool
}

// cacheTimer is a waiter's deadline timer.
type cacheTimer struct {
	id  string
	gen uint64
}

// cacheSweep is the expiry sweep's timer.
type cacheSweep struct{ gen uint64 }

// replayDone reports a replay goroutine finished.
type replayDone struct{}

// fleetAnswer is the fleet's answer to a flight's exact lookup: an entry
// and its remaining life, or nil to go upstream.
type fleetAnswer struct {
	f     *flight
	entry []byte
	ttl   time.Duration
}

// cacheState survives a restart of the cache actor (the Props producer holds
// it), so a bug that crashes the actor loses neither entries nor held
// requests.
type cacheState struct {
	spec       CacheSpec
	env        *Env
	dispatcher *actor.PID
	self       *actor.PID
	store      *cacheStore
	semantic   bool

	flights map[string]*flight
	waiters map[string]*cacheWaiter
	calls   map[string]*leaderCall
	embeds  map[string]*flight
	nflight int

	hits, semanticHits, misses, coalesced, bypassed, embedErrors uint64
	lastHits                                                     []messages.CacheHitInfo

	sweepGen   uint64
	sweepTimer clock.Timer
	timerSeq   uint64
	replays    int
	shutdown   bool
	drained    chan struct{}
}

// Cache is the cache actor: an exact layer (a hash of the canonical request)
// and a semantic layer (the prompt's embedding, through the dispatcher, by
// cosine similarity within a scope), in front of the dispatcher.
//
// Requests reach it like the dispatcher: a Submit from the facade or a bare
// request from an actor (the answer goes to the sender). A request that is
// not cacheable is forwarded untouched. A cacheable one is answered from an
// entry by its exact key, or joins the single flight of an identical
// request in progress (same key, same opt-in, a leader at least as
// urgent), or leads a new flight. With a semantic layer the cache asks the
// dispatcher for the prompt's embedding: in a scope that holds vectors the
// flight waits for it and searches (a hit answers every waiter); in an
// empty scope nothing can be found, so the call goes at once and the
// embedding (at LOW priority) only indexes the answer. The leader's request
// goes to the dispatcher with ReplyPID set to the cache, which answers the
// caller and every follower when the dispatcher answers and stores a
// complete success. Cancel messages for requests it holds are handled
// here; others are forwarded.
//
// In fleet mode (Env.FleetCache set) a local exact miss asks the fleet
// before anything else, without waiting for it: the flight's waiters stay
// held until the answer arrives as a message. An entry answers them (and
// is kept in the local exact layer for the rest of its life); otherwise the
// flight runs on as above (this node leads the fleet's flight for the key,
// or the fleet could not help in time) and its stored answer is shared
// with the fleet, or the fleet is told that none will come (Abandon), so
// members waiting for it go upstream themselves. The semantic layer stays
// local. With FleetCache nil nothing of this runs.
//
// Every request admitted gets exactly one answer: a follower whose leader's
// caller gave up (cancel, its own deadline) is promoted to leader; any
// other failure goes to every follower with its own request ID; at shutdown
// held requests are answered ErrShuttingDown. Timers are clock.AfterFunc
// callbacks that send generation-tagged messages through Env.Root.
//
// Not safe for concurrent use outside protoactor.
type Cache struct {
	*cacheState
}

// NewCacheProducer returns a Props producer whose instances share one
// durable state; the cache forwards to dispatcher.
func NewCacheProducer(spec CacheSpec, env *Env, dispatcher *actor.PID) actor.Producer {
	spec = spec.withDefaults()
	st := &cacheState{spec: spec, env: env, dispatcher: dispatcher, store: newCacheStore(spec.MaxEntries, spec.TTL),
		semantic: spec.Embedding.Provider != "",
		flights:  map[string]*flight{}, waiters: map[string]*cacheWaiter{}, calls: map[string]*leaderCall{}, embeds: map[string]*flight{}}
	return func() actor.Actor { return &Cache{st} }
}

// Receive handles one message.
func (c *Cache) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		c.self = ctx.Self()
	case *Submit:
		c.onSubmit(ctx, m)
	case *messages.Failure:
		c.onAnswer(ctx, m.RequestID, nil, m)
	case messages.Response:
		c.onAnswer(ctx, m.ResponseMeta().RequestID, m, nil)
	case messages.Request:
		c.onRequest(ctx, m)
	case *messages.Cancel:
		c.onCancel(ctx, m)
	case *messages.GetCacheStatus:
		ctx.Respond(c.status())
	case *cacheTimer:
		c.onTimer(ctx, m)
	case *cacheSweep:
		c.onSweep(m)
	case *replayDone:
		c.replays--
		c.maybeDrained()
	case *fleetAnswer:
		c.onFleetAnswer(ctx, m)
	case *Shutdown:
		c.shutdown = true
		c.drained = m.Drained
		c.maybeDrained()
	case *Abort:
		c.abort(ctx)
		close(m.Done)
	case *actor.Stopping:
		c.abort(ctx)
		if c.sweepTimer != nil {
			c.sweepTimer.Stop()
		}
	}
}

func (c *Cache) now() time.Time { return c.env.Clock.Now() }

// onRequest takes a bare request from an actor.
func (c *Cache) onRequest(ctx actor.Context, req messages.Request) {
	class, lk := classifyScoped(req, c.spec.CacheSampled, c.semantic, c.spec.TenantScope)
	sender := ctx.Sender()
	if class != cacheUse || sender == nil || !c.admissible(req) {
		if class == cacheBypass {
			c.bypassed++
		}
		ctx.RequestWithCustomSender(c.dispatcher, req, sender)
		return
	}
	w := &cacheWaiter{req: req, pid: sender, inline: true}
	if lk.stream {
		sys := ctx.ActorSystem()
		w.emit = func(ch *messages.StreamChunk) bool { sys.Root.Send(sender, ch); return true }
	}
	c.admit(ctx, w, lk)
}

// onSubmit takes a request from the facade (or a Submit from an actor).
func (c *Cache) onSubmit(ctx actor.Context, m *Submit) {
	class, lk := classifyScoped(m.Req, c.spec.CacheSampled, c.semantic, c.spec.TenantScope)
	if class != cacheUse || (m.Reply == nil && m.ReplyPID == nil) || !c.admissible(m.Req) {
		if class == cacheBypass {
			c.bypassed++
		}
		c.env.deliver(ctx, c.dispatcher, m)
		return
	}
	w := &cacheWaiter{req: m.Req, ctx: m.Ctx, reply: m.Reply, emit: m.Emit}
	if m.Reply == nil {
		w.pid = m.ReplyPID
	}
	c.admit(ctx, w, lk)
}

// admissible: the cache spends work only on requests for a configured
// provider with a valid priority; the rest are forwarded for the dispatcher
// to answer.
func (c *Cache) admissible(req messages.Request) bool {
	call := req.CallInfo()
	return !c.shutdown && call.Priority.Valid() && c.spec.Providers[call.Provider]
}

func (c *Cache) admit(ctx actor.Context, w *cacheWaiter, lk cacheLookup) {
	call := w.req.CallInfo()
	if call.RequestID == "" {
		call.RequestID = messages.NewRequestID()
	}
	w.id, w.call = call.RequestID, call
	if _, dup := c.waiters[w.id]; dup {
		c.deliver(ctx, w, &messages.Failure{RequestID: w.id, Err: &messages.RequestError{RequestID: w.id, Provider: call.Provider,
			Kind: messages.ErrInvalidRequest, Detail: "a request with this ID is already in progress"}})
		return
	}
	now := c.now()
	w.admitted = now
	w.tr = c.env.Tracer.waiter(w)
	if e, ok := c.store.get(lk.key, now); ok && (lk.optIn || !e.toolCalls) {
		c.hits++
		c.answerCached(ctx, w, lk, e.resp, e.chunks, 1, true, false, e.origin)
		return
	}
	_, deadline := requestDeadlines(c.env.Clock, call, w.ctx, now)
	if !deadline.IsZero() && !deadline.After(now) {
		c.forward(ctx, w) // the dispatcher expires it at once
		return
	}
	fkey := flightKey(lk)
	prio := call.Priority.Index()
	f := c.flights[fkey]
	displaced := false
	if f != nil && f.prio <= prio {
		f.waiters = append(f.waiters, w)
	} else {
		// A new flight; a more urgent request than the flight in progress
		// leads its own, and later identical requests join it.
		displaced = f != nil
		f = &flight{lk: lk, prio: prio, waiters: []*cacheWaiter{w}}
		c.flights[fkey] = f
		c.nflight++
	}
	w.flight = f
	c.waiters[w.id] = w
	if !deadline.IsZero() {
		c.timerSeq++
		w.timerGen = c.timerSeq
		msg := &cacheTimer{id: w.id, gen: w.timerGen}
		root, self := c.env.Root, c.self
		w.timer = c.env.Clock.AfterFunc(deadline.Sub(now), func() { root.Send(self, msg) })
	}
	if len(f.waiters) > 1 {
		return // a follower
	}
	if c.env.FleetCache != nil {
		if !displaced {
			c.askFleet(f)
			return // the flight waits for the fleet's answer
		}
		// The less urgent flight this one displaced asks (or asked) the
		// fleet for the key; this one goes upstream and shares its answer.
		f.fleetReports = true
	}
	c.start(ctx, f)
}

// start runs a flight past the exact layers: the semantic layer, then the
// upstream call.
func (c *Cache) start(ctx actor.Context, f *flight) {
	if c.semantic && f.lk.scope != "" {
		if c.store.hasScope(f.lk.scope) {
			c.lookup(ctx, f, f.waiters[0].call.Priority)
			return // the call waits for the search
		}
		// Nothing to find in an empty scope (a new conversation's history
		// is one): the call goes at once, and the embedding, at LOW
		// priority, only indexes its answer for the prompts that follow.
		c.lookup(ctx, f, messages.Low)
	}
	c.launch(ctx, f)
}

// askFleet asks the fleet for the flight's exact key; the answer comes
// back as a fleetAnswer message (the actor never waits on the fleet).
func (c *Cache) askFleet(f *flight) {
	f.fleetAsking = true
	root, self := c.env.Root, c.self
	c.env.FleetCache.Lookup(f.lk.key, func(entry []byte, ttl time.Duration) {
		root.Send(self, &fleetAnswer{f: f, entry: entry, ttl: ttl})
	})
}

// onFleetAnswer answers the flight's waiters from the fleet's entry (and
// keeps it in the local exact layer), or runs the flight on: semantic
// layer, upstream call, and the answer shared with the fleet.
func (c *Cache) onFleetAnswer(ctx actor.Context, m *fleetAnswer) {
	f := m.f
	if !f.fleetAsking {
		return
	}
	f.fleetAsking = false
	var e *cacheEntry
	if m.entry != nil {
		e = c.fromFleet(f.lk, m.entry, m.ttl)
	}
	if f.ended { // every waiter left meanwhile
		if e == nil {
			c.env.FleetCache.Abandon(f.lk.key)
		}
		return
	}
	if e != nil && (f.lk.optIn || !e.toolCalls) {
		c.answerFlight(ctx, f, e, 1, true)
		return
	}
	f.fleetReports = true
	c.start(ctx, f)
}

// fromFleet decodes an entry from the fleet and keeps it in the local
// exact layer for its remaining life (at most the TTL); nil when it does
// not decode.
func (c *Cache) fromFleet(lk cacheLookup, b []byte, ttl time.Duration) *cacheEntry {
	resp, chunks, err := decodeFleetEntry(b)
	if err != nil {
		c.env.Log.Warn("switchyard: cache entry from the fleet not used", "error", err)
		return nil
	}
	e := &cacheEntry{key: lk.key, resp: resp, chunks: chunks, toolCalls: hasToolCalls(resp)}
	c.store.putFor(e, "", nil, c.now(), min(ttl, c.spec.TTL))
	c.armSweep()
	return e
}

// toFleet shares a stored answer with the fleet.
func (c *Cache) toFleet(lc *leaderCall, e *cacheEntry) {
	b, ok := encodeFleetEntry(e.resp, e.chunks)
	if !ok {
		return // the flight's end abandons
	}
	c.env.FleetCache.Store(lc.lk.key, b, c.spec.TTL)
	if lc.flight != nil {
		lc.flight.fleetStored = true
	}
}

func flightKey(lk cacheLookup) string {
	if lk.optIn {
		return lk.key + "+"
	}
	return lk.key
}

// lookup asks the dispatcher for the embedding of the flight's prompt.
func (c *Cache) lookup(ctx actor.Context, f *flight, prio messages.Priority) {
	r := c.spec.Embedding
	id := messages.NewRequestID()
	f.embedID = id
	c.embeds[id] = f
	ctx.Send(c.dispatcher, &Submit{ReplyPID: c.self, Internal: true, trace: c.env.Tracer.lookupFor(f.waiters[0]), Req: &messages.EmbedRequest{
		Call:  messages.Call{RequestID: id, Provider: r.Provider, Priority: prio, Deadline: c.now().Add(c.spec.LookupTimeout)},
		Model: r.Model, Inputs: []string{f.lk.text}, Dimensions: r.Dimensions}})
}

// onEmbedded runs the semantic layer once the prompt's embedding arrived.
// A flight whose call already went (an empty scope, or a promotion) or
// ended only records the vector for its answer's entry.
func (c *Cache) onEmbedded(ctx actor.Context, f *flight, resp messages.Response) {
	f.embedID = ""
	var vec []float32
	if er, ok := resp.(*messages.EmbedResponse); ok && len(er.Vectors) == 1 {
		vec = unit(er.Vectors[0])
	}
	if vec == nil {
		c.embedErrors++
	}
	switch {
	case f.ended:
		if vec != nil {
			c.store.addVector(f.lk.key, f.lk.scope, vec)
		}
		return
	case f.call != nil:
		f.vec, f.call.vec = vec, vec
		return
	}
	f.vec = vec
	now := c.now()
	// An identical request of another flight (a less urgent one, which this
	// flight's creator did not join) may have stored the answer meanwhile.
	if e, ok := c.store.get(f.lk.key, now); ok && (f.lk.optIn || !e.toolCalls) {
		c.answerFlight(ctx, f, e, 1, true)
		return
	}
	if f.vec == nil {
		c.launch(ctx, f)
		return
	}
	e, sim, ok := c.store.search(f.lk.scope, f.vec, c.spec.Threshold, now)
	if !ok || (e.toolCalls && !f.lk.optIn) {
		c.launch(ctx, f)
		return
	}
	c.answerFlight(ctx, f, e, sim, false)
}

// answerFlight ends flight f and answers each of its waiters from stored
// entry e: an exact hit, or a semantic one of the given similarity.
func (c *Cache) answerFlight(ctx actor.Context, f *flight, e *cacheEntry, similarity float64, exact bool) {
	c.endFlight(f)
	for _, w := range f.waiters {
		c.release(w)
		if exact {
			c.hits++
		} else {
			c.semanticHits++
		}
		c.answerCached(ctx, w, f.lk, e.resp, e.chunks, similarity, exact, false, e.origin)
	}
	c.maybeDrained()
}

// launch sends the flight's most urgent waiter (the first of them) to the
// dispatcher as its leader.
func (c *Cache) launch(ctx actor.Context, f *flight) {
	w := f.waiters[0]
	for _, o := range f.waiters[1:] {
		if o.call.Priority.Index() < w.call.Priority.Index() {
			w = o
		}
	}
	f.prio = w.call.Priority.Index()
	lc := &leaderCall{id: w.id, leader: w, flight: f, lk: f.lk, vec: f.vec, fleet: f.fleetReports}
	emit := w.emit
	if f.lk.stream && emit != nil {
		lc.rec = &chunkRecorder{}
		emit = lc.rec.tee(emit)
	}
	f.call = lc
	c.calls[w.id] = lc
	c.misses++
	c.env.Tracer.leading(w)
	ctx.Send(c.dispatcher, &Submit{Req: w.req, Ctx: w.ctx, ReplyPID: c.self, Emit: emit, Internal: true, trace: w.tr})
}

// onAnswer handles the dispatcher's answer to an embedding or a leader's
// call.
func (c *Cache) onAnswer(ctx actor.Context, id string, resp messages.Response, fail *messages.Failure) {
	if f := c.embeds[id]; f != nil {
		delete(c.embeds, id)
		c.onEmbedded(ctx, f, resp)
		return
	}
	lc := c.calls[id]
	if lc == nil {
		return // a lookup abandoned by its callers, or answered at shutdown
	}
	delete(c.calls, id)
	w, f := lc.leader, lc.flight
	if resp != nil {
		c.maybeStore(lc, resp)
	}
	if f == nil { // the leader's caller gave up; the flight went on without it
		c.release(w)
		c.deliverAnswer(ctx, w, resp, fail)
		c.maybeDrained()
		return
	}
	f.call = nil
	if fail != nil && leaderOnly(fail.Err) {
		// The leader's own cancellation or deadline: the next waiter leads.
		c.removeWaiter(f, w)
		c.release(w)
		c.deliver(ctx, w, fail)
		if len(f.waiters) > 0 {
			c.launch(ctx, f)
		} else {
			c.endFlight(f)
		}
		c.maybeDrained()
		return
	}
	c.endFlight(f)
	for _, o := range f.waiters {
		c.release(o)
	}
	c.deliverAnswer(ctx, w, resp, fail)
	// Followers share a success, except an answer with tool calls nobody
	// opted into, and a stream whose chunks were not all recorded.
	shared := resp != nil && (f.lk.optIn || !hasToolCalls(resp)) && (!f.lk.stream || (lc.rec != nil && lc.rec.complete()))
	var chunks []*messages.StreamChunk
	if lc.rec != nil {
		chunks = lc.rec.recorded()
	}
	for _, o := range f.waiters {
		c.env.Tracer.follower(o, w)
		switch {
		case o == w:
		case fail != nil:
			c.deliver(ctx, o, failureFor(o.id, fail.Err))
		case !shared:
			c.forward(ctx, o) // each follower makes its own call
		default:
			c.coalesced++
			c.answerCached(ctx, o, f.lk, resp, chunks, 1, true, true, spanRef{})
		}
	}
	c.maybeDrained()
}

// leaderOnly: the failure is the leader caller's own (it cancelled, or its
// deadline passed), not an answer the followers would have got.
func leaderOnly(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, messages.ErrDeadline)
}

func hasToolCalls(resp messages.Response) bool {
	r, ok := resp.(*messages.ChatResponse)
	return ok && len(r.ToolCalls) > 0
}

// maybeStore keeps a complete success: for a stream, only when every chunk
// reached the caller (the dispatcher's success means the stream ended with
// its terminator); answers with tool calls only when opted in.
func (c *Cache) maybeStore(lc *leaderCall, resp messages.Response) {
	if (lc.lk.stream && (lc.rec == nil || !lc.rec.complete())) || (hasToolCalls(resp) && !lc.lk.optIn) {
		return
	}
	cp := copyResponse(resp)
	if cp == nil {
		return
	}
	e := &cacheEntry{key: lc.lk.key, resp: cp, toolCalls: hasToolCalls(resp), origin: c.env.Tracer.origin(lc.leader)}
	if lc.rec != nil {
		e.chunks = lc.rec.recorded()
	}
	c.store.put(e, lc.lk.scope, lc.vec, c.now())
	c.armSweep()
	if lc.fleet {
		c.toFleet(lc, e)
	}
}

// onCancel removes a held request, or forwards the Cancel to the dispatcher.
func (c *Cache) onCancel(ctx actor.Context, m *messages.Cancel) {
	w := c.waiters[m.RequestID]
	if w == nil || w.flight == nil {
		ctx.Send(c.dispatcher, m)
		return
	}
	c.drop(ctx, w, &messages.RequestError{RequestID: w.id, Provider: w.call.Provider, Kind: context.Canceled, Detail: "cancelled by the caller"}, m)
}

func (c *Cache) onTimer(ctx actor.Context, m *cacheTimer) {
	w := c.waiters[m.id]
	if w == nil || w.timerGen != m.gen || w.flight == nil || (w.flight.call != nil && w.flight.call.leader == w) {
		return // gone, or a leader: the dispatcher enforces its deadline
	}
	c.drop(ctx, w, &messages.RequestError{RequestID: w.id, Provider: w.call.Provider, Kind: messages.ErrDeadline,
		Cause: context.DeadlineExceeded, Detail: "deadline passed while waiting for an identical request"}, nil)
}

// drop takes w out of its flight because its caller gave up. A leader's
// call is detached (the dispatcher is told, and answers the leader) and the
// next waiter leads; anyone else is answered err at once. A lookup nobody
// waits for any more is cancelled.
func (c *Cache) drop(ctx actor.Context, w *cacheWaiter, err error, cancel *messages.Cancel) {
	f := w.flight
	c.removeWaiter(f, w)
	if f.call != nil && f.call.leader == w {
		f.call.flight, f.call = nil, nil
		w.flight = nil
		if cancel == nil {
			cancel = &messages.Cancel{RequestID: w.id}
		}
		ctx.Send(c.dispatcher, cancel)
		if len(f.waiters) > 0 {
			c.launch(ctx, f)
		} else {
			c.endFlight(f)
		}
		return
	}
	c.release(w)
	c.deliver(ctx, w, &messages.Failure{RequestID: w.id, Err: err})
	if len(f.waiters) == 0 {
		if f.embedID != "" {
			delete(c.embeds, f.embedID)
			ctx.Send(c.dispatcher, &messages.Cancel{RequestID: f.embedID})
		}
		c.endFlight(f)
	}
	c.maybeDrained()
}

func (c *Cache) removeWaiter(f *flight, w *cacheWaiter) {
	for i, o := range f.waiters {
		if o == w {
			f.waiters = append(f.waiters[:i], f.waiters[i+1:]...)
			return
		}
	}
}

// endFlight forgets f as the flight of its key. A flight that went
// upstream for the fleet and stored nothing tells the fleet, so the
// members waiting for it go upstream themselves.
func (c *Cache) endFlight(f *flight) {
	f.ended = true
	if k := flightKey(f.lk); c.flights[k] == f {
		delete(c.flights, k)
	}
	c.nflight--
	if f.fleetReports && !f.fleetStored {
		f.fleetReports = false
		c.env.FleetCache.Abandon(f.lk.key)
	}
}

// release forgets a waiter that is being answered.
func (c *Cache) release(w *cacheWaiter) {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.flight = nil
	delete(c.waiters, w.id)
}

// forward hands a held request to the dispatcher to be answered directly.
func (c *Cache) forward(ctx actor.Context, w *cacheWaiter) {
	ctx.Send(c.dispatcher, &Submit{Req: w.req, Ctx: w.ctx, Reply: w.reply, ReplyPID: w.pid, Emit: w.emit, trace: c.env.Tracer.forwarded(w)})
}

// answerCached answers w with a copy of resp (and a replay of chunks):
// cached, with its own request ID and the similarity. origin is the span of
// the request whose answer was stored (zero for a coalesced answer, or
// with tracing off).
func (c *Cache) answerCached(ctx actor.Context, w *cacheWaiter, lk cacheLookup, resp messages.Response, chunks []*messages.StreamChunk, sim float64, exact, coalesced bool, origin spanRef) {
	c.env.Tracer.cached(w, origin, sim, exact, coalesced)
	now := c.now()
	r := copyResponse(resp)
	m := r.ResponseMeta()
	m.RequestID, m.Cached, m.Similarity, m.Attempts, m.Queued, m.Latency = w.id, true, sim, 0, 0, now.Sub(w.admitted)
	c.env.Events.Publish(&messages.CacheHit{Time: now, RequestID: w.id, Provider: lk.provider, Model: lk.model,
		Operation: lk.operation, Exact: exact, Similarity: sim, Coalesced: coalesced})
	if len(c.lastHits) == cacheLastHits {
		c.lastHits = append(c.lastHits[:0], c.lastHits[1:]...)
	}
	c.lastHits = append(c.lastHits, messages.CacheHitInfo{RequestID: w.id, Provider: lk.provider, Model: lk.model,
		Similarity: sim, Exact: exact, Coalesced: coalesced, Time: now})
	if !lk.stream || w.emit == nil || len(chunks) == 0 {
		c.deliver(ctx, w, r)
		return
	}
	if w.inline {
		for _, ch := range chunks {
			cp := *ch
			cp.RequestID = w.id
			w.emit(&cp)
		}
		c.deliver(ctx, w, r)
		return
	}
	// The caller's emit may block on a slow reader: replay off the actor.
	c.replays++
	root, self, log, env := c.env.Root, c.self, c.env.Log, c.env
	c.env.Calls.Go(func() {
		var answer any = r
		for _, ch := range chunks {
			cp := *ch
			cp.RequestID = w.id
			if !w.emit(&cp) {
				kind, detail := messages.ErrShuttingDown, "aborted at shutdown"
				if w.ctx != nil && w.ctx.Err() != nil {
					kind, detail = context.Canceled, "the caller stopped reading the stream"
				}
				answer = &messages.Failure{RequestID: w.id, Err: &messages.RequestError{RequestID: w.id, Provider: w.call.Provider, Kind: kind, Detail: detail}}
				break
			}
		}
		env.audit(w.req, answer, w.admitted, 0)
		env.Tracer.waiterAnswered(w, answer)
		switch {
		case w.reply != nil:
			select {
			case w.reply <- answer:
			default:
				log.Error("switchyard: reply channel full; answer dropped")
			}
		case w.pid != nil:
			root.Send(w.pid, answer)
		}
		root.Send(self, &replayDone{})
	})
}

// deliverAnswer sends the dispatcher's answer on.
func (c *Cache) deliverAnswer(ctx actor.Context, w *cacheWaiter, resp messages.Response, fail *messages.Failure) {
	if fail != nil {
		c.deliver(ctx, w, fail)
		return
	}
	c.deliver(ctx, w, resp)
}

func (c *Cache) deliver(ctx actor.Context, w *cacheWaiter, msg any) {
	c.env.audit(w.req, msg, w.admitted, attemptsOf(msg))
	c.env.Tracer.waiterAnswered(w, msg)
	switch {
	case w.reply != nil:
		select {
		case w.reply <- msg:
		default:
			c.env.Log.Error("switchyard: reply channel full; answer dropped")
		}
	case w.pid != nil:
		ctx.Send(w.pid, msg)
	}
}

// failureFor is err as the answer to follower id: the error types that
// carry a request ID get the follower's.
func failureFor(id string, err error) *messages.Failure {
	return &messages.Failure{RequestID: id, Err: messages.ForRequest(err, id)}
}

// copyResponse returns a shallow copy of a cacheable answer (its own Meta;
// slices are shared and read-only), or nil for another type.
func copyResponse(r messages.Response) messages.Response {
	switch v := r.(type) {
	case *messages.ChatResponse:
		cp := *v
		return &cp
	case *messages.GenerateResponse:
		cp := *v
		return &cp
	case *messages.EmbedResponse:
		cp := *v
		return &cp
	case *messages.RerankResponse:
		cp := *v
		return &cp
	}
	return nil
}

func (c *Cache) armSweep() {
	if c.sweepTimer != nil || c.store.len() == 0 {
		return
	}
	c.sweepGen++
	msg := &cacheSweep{gen: c.sweepGen}
	root, self := c.env.Root, c.self
	c.sweepTimer = c.env.Clock.AfterFunc(c.spec.sweepEvery(), func() { root.Send(self, msg) })
}

func (c *Cache) onSweep(m *cacheSweep) {
	if m.gen != c.sweepGen {
		return
	}
	c.sweepTimer = nil
	c.store.sweep(c.now())
	c.armSweep()
}

// abort answers every held request ErrShuttingDown.
func (c *Cache) abort(ctx actor.Context) {
	c.shutdown = true
	for _, w := range c.waiters {
		if f := w.flight; f != nil && !f.ended {
			c.endFlight(f) // a late answer (the fleet's) finds it ended
		}
		c.release(w)
		c.deliver(ctx, w, &messages.Failure{RequestID: w.id, Err: &messages.RequestError{RequestID: w.id, Provider: w.call.Provider,
			Kind: messages.ErrShuttingDown, Detail: "aborted at shutdown"}})
	}
	clear(c.flights)
	clear(c.calls)
	clear(c.embeds)
	c.nflight = 0
	c.maybeDrained()
}

func (c *Cache) maybeDrained() {
	if c.drained == nil || len(c.waiters) > 0 || c.replays > 0 {
		return
	}
	close(c.drained)
	c.drained = nil
}

func (c *Cache) status() *messages.CacheStatus {
	followers := 0
	for _, w := range c.waiters {
		if w.flight != nil {
			followers++
		}
	}
	return &messages.CacheStatus{Time: c.now(), Entries: c.store.len(), Scopes: c.store.scopes(),
		MaxEntries: c.spec.MaxEntries, TTL: c.spec.TTL, Threshold: c.spec.Threshold, Semantic: c.semantic,
		Hits: c.hits, SemanticHits: c.semanticHits, Misses: c.misses, Coalesced: c.coalesced,
		Stores: c.store.stores, Evictions: c.store.evictions, Expired: c.store.expired, Bypassed: c.bypassed,
		InFlight: c.nflight, Followers: followers - c.nflight, EmbedErrors: c.embedErrors,
		LastHits: append([]messages.CacheHitInfo(nil), c.lastHits...)}
}

// chunkRecorder keeps the chunks of a leader's stream as they reach its
// caller. The tee runs on the call's goroutine and the actor reads after
// the dispatcher's answer, so it locks.
type chunkRecorder struct {
	mu     sync.Mutex
	chunks []*messages.StreamChunk
	broken bool
}

// tee returns an emit func that delivers to emit and records a private copy
// of every chunk the caller took; a refused chunk marks the recording
// broken (such a stream is never stored).
func (r *chunkRecorder) tee(emit func(*messages.StreamChunk) bool) func(*messages.StreamChunk) bool {
	return func(ch *messages.StreamChunk) bool {
		cp := *ch
		ok := emit(ch)
		r.mu.Lock()
		if ok {
			r.chunks = append(r.chunks, &cp)
		} else {
			r.broken = true
		}
		r.mu.Unlock()
		return ok
	}
}

func (r *chunkRecorder) complete() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.broken
}

// recorded returns the chunks so far (read-only).
func (r *chunkRecorder) recorded() []*messages.StreamChunk {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.chunks[:len(r.chunks):len(r.chunks)]
}
