package actors

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// fakeFleet is the shared exact cache of a fleet in one process, with the
// semantics of fleet.CacheClient and its shards: a miss leads the key's
// flight, identical lookups wait for the leader's Store (or Abandon).
// Each member is a fakeMember, the FleetCache of one cache actor.
type fakeFleet struct {
	mu      sync.Mutex
	entries map[string][]byte
	leaders map[string]*fakeMember
	waiting map[string][]func([]byte, time.Duration)
}

func newFakeFleet() *fakeFleet {
	return &fakeFleet{entries: map[string][]byte{}, leaders: map[string]*fakeMember{}, waiting: map[string][]func([]byte, time.Duration){}}
}

// fakeMember is one member's FleetCache. With hold set, lookups are held
// until release (a slow cluster).
type fakeMember struct {
	f    *fakeFleet
	name string
	hold bool

	lookups, stores, abandons []string
	held                      []func()
}

func (f *fakeFleet) member(name string) *fakeMember { return &fakeMember{f: f, name: name} }

func (m *fakeMember) Lookup(key string, done func([]byte, time.Duration)) {
	answer := func() {
		m.f.mu.Lock()
		defer m.f.mu.Unlock()
		switch e, ok := m.f.entries[key]; {
		case ok:
			go done(e, time.Minute)
		case m.f.leaders[key] != nil:
			m.f.waiting[key] = append(m.f.waiting[key], done)
		default:
			m.f.leaders[key] = m
			go done(nil, 0)
		}
	}
	m.f.mu.Lock()
	m.lookups = append(m.lookups, key)
	hold := m.hold
	if hold {
		m.held = append(m.held, answer)
	}
	m.f.mu.Unlock()
	if !hold {
		answer()
	}
}

// release answers the held lookups.
func (m *fakeMember) release() {
	m.f.mu.Lock()
	held := m.held
	m.held, m.hold = nil, false
	m.f.mu.Unlock()
	for _, a := range held {
		a()
	}
}

func (m *fakeMember) Store(key string, entry []byte, ttl time.Duration) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	m.stores = append(m.stores, key)
	m.f.entries[key] = entry
	delete(m.f.leaders, key)
	for _, w := range m.f.waiting[key] {
		go w(entry, ttl)
	}
	delete(m.f.waiting, key)
}

func (m *fakeMember) Abandon(key string) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	if m.f.leaders[key] != m {
		return
	}
	m.abandons = append(m.abandons, key)
	delete(m.f.leaders, key)
	for _, w := range m.f.waiting[key] {
		go w(nil, 0)
	}
	delete(m.f.waiting, key)
}

// counts returns the member's lookups, stores and abandons so far.
func (m *fakeMember) counts() (lookups, stores, abandons int) {
	m.f.mu.Lock()
	defer m.f.mu.Unlock()
	return len(m.lookups), len(m.stores), len(m.abandons)
}

// stored is the number of entries the fleet holds.
func (f *fakeFleet) stored() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.entries)
}

// waiters is the number of lookups waiting for key's leader.
func (f *fakeFleet) waiters(key string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiting[key])
}

func keyOf(t *testing.T, req messages.Request) string {
	t.Helper()
	class, lk := classifyScoped(req, false, false, TenantScopeTenant)
	require.Equal(t, cacheUse, class)
	return lk.key
}

// answerCall answers the one call the cache sent its dispatcher.
func (k *cacheKit) answerCall(id string, msg any) {
	k.t.Helper()
	sub := k.forwarded()
	require.Equal(k.t, id, sub.Req.CallInfo().RequestID, "the forwarded request")
	if sub.ReplyPID == nil { // a request the cache passed on untouched
		sub.Reply <- msg
		return
	}
	k.sys.Root.Send(sub.ReplyPID, msg)
}

// The same temperature-0 request on two members makes one upstream call:
// the first member leads; the second waits for the fleet, nothing reaching
// its dispatcher, and is answered with the first member's answer.
func TestCacheFleetTwoMembersOneUpstreamCall(t *testing.T) {
	fleet := newFakeFleet()
	ma, mb := fleet.member("a"), fleet.member("b")
	a, b := newCacheKitWith(t, ma), newCacheKitWith(t, mb)
	ra := a.submit(question("on-a", "what is a breaker?"))
	// Once the fleet said "lead", a's call goes out.
	require.Eventually(t, func() bool { return len(a.got) == 1 }, 5*time.Second, time.Millisecond, "a's call")
	rb := b.submit(question("on-b", "what is a breaker?"))
	key := keyOf(t, question("x", "what is a breaker?"))
	require.Eventually(t, func() bool { return fleet.waiters(key) == 1 }, 5*time.Second, time.Millisecond, "b waits for the fleet")
	require.Empty(t, b.sent(), "b called upstream")

	a.answerCall("on-a", &messages.ChatResponse{Meta: messages.Meta{RequestID: "on-a", Provider: "p", Attempts: 1}, Content: "a fuse",
		Usage: messages.Usage{InputTokens: 5, OutputTokens: 2}})
	got, ok := answerOf(t, ra).(*messages.ChatResponse)
	require.True(t, ok, "a's answer")
	assert.False(t, got.Cached, "a's answer is its call's")
	hit, ok := answerOf(t, rb).(*messages.ChatResponse)
	require.True(t, ok, "b's answer")
	assert.Equal(t, "a fuse", hit.Content)
	assert.True(t, hit.Cached, "b's answer is a cache hit")
	assert.Equal(t, "on-b", hit.RequestID, "b's answer carries its own request ID")
	assert.Equal(t, "p", hit.Provider, "the shared meta")
	assert.Equal(t, messages.Usage{InputTokens: 5, OutputTokens: 2}, hit.Usage, "the shared usage")
	require.Empty(t, b.sent(), "b called upstream")

	_, stores, abandons := ma.counts()
	assert.Equal(t, 1, stores, "a's stores")
	assert.Equal(t, 0, abandons, "a's abandons")
	// b kept the entry: its next identical request is a local hit.
	again := b.submit(question("on-b-2", "what is a breaker?"))
	assert.True(t, answerOf(t, again).(*messages.ChatResponse).Cached)
	lookups, _, _ := mb.counts()
	assert.Equal(t, 1, lookups, "b asked the fleet again for a local hit")
	assert.Equal(t, uint64(2), b.status().Hits, "b's hits")
}

// An entry in the fleet answers at once without an upstream call; a
// failure, a sampled request and an answer that may not be shared are
// never stored in the fleet.
func TestCacheFleetLeadStoresOnlyWhatTheCacheStores(t *testing.T) {
	tests := []struct {
		name       string
		req        *messages.ChatRequest
		answer     func(id string) any
		lookups    int
		stores     int
		abandons   int
		wantCached bool
	}{
		{name: "a success is stored", req: question("r", "q"), lookups: 1, stores: 1,
			answer: func(id string) any { return &messages.ChatResponse{Meta: messages.Meta{RequestID: id}, Content: "ok"} }},
		{name: "a failure is abandoned", req: question("r", "q"), lookups: 1, abandons: 1,
			answer: func(id string) any {
				return &messages.Failure{RequestID: id, Err: &messages.UpstreamError{RequestID: id, Status: 500, Class: messages.ClassServer}}
			}},
		{name: "tool calls without opting in are abandoned", req: question("r", "q"), lookups: 1, abandons: 1,
			answer: func(id string) any {
				return &messages.ChatResponse{Meta: messages.Meta{RequestID: id}, ToolCalls: []messages.ToolCall{{ID: "c", Name: "f"}}}
			}},
		{name: "a sampled request never asks the fleet", req: func() *messages.ChatRequest {
			r := question("r", "q")
			r.Temperature = nil
			return r
		}(), answer: func(id string) any { return &messages.ChatResponse{Meta: messages.Meta{RequestID: id}, Content: "ok"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newFakeFleet().member("a")
			k := newCacheKitWith(t, m)
			reply := k.submit(tt.req)
			require.Eventually(t, func() bool { return len(k.got) == 1 }, 5*time.Second, time.Millisecond, "the call")
			k.answerCall("r", tt.answer("r"))
			answerOf(t, reply)
			k.status()
			lookups, stores, abandons := m.counts()
			assert.Equal(t, tt.lookups, lookups, "lookups")
			assert.Equal(t, tt.stores, stores, "stores")
			assert.Equal(t, tt.abandons, abandons, "abandons")
		})
	}
}

// A fleet entry answers without an upstream call; one that does not decode
// is a miss.
func TestCacheFleetHit(t *testing.T) {
	good, ok := encodeFleetEntry(&messages.ChatResponse{Meta: messages.Meta{Provider: "p"}, Content: "from the fleet"}, nil)
	require.True(t, ok)
	for _, tc := range []struct {
		name  string
		entry []byte
		hit   bool
	}{
		{name: "an entry answers", entry: good, hit: true},
		{name: "an entry that does not decode is a miss", entry: []byte(`{"v":99}`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fleet := newFakeFleet()
			fleet.entries[keyOf(t, question("x", "q"))] = tc.entry
			k := newCacheKitWith(t, fleet.member("a"))
			reply := k.submit(question("r", "q"))
			if !tc.hit {
				require.Eventually(t, func() bool { return len(k.got) == 1 }, 5*time.Second, time.Millisecond, "the call")
				k.answerCall("r", &messages.ChatResponse{Meta: messages.Meta{RequestID: "r"}, Content: "upstream"})
				assert.Equal(t, "upstream", answerOf(t, reply).(*messages.ChatResponse).Content)
				return
			}
			resp, ok := answerOf(t, reply).(*messages.ChatResponse)
			require.True(t, ok)
			assert.Equal(t, "from the fleet", resp.Content)
			assert.True(t, resp.Cached)
			assert.Equal(t, 1.0, resp.Similarity)
			require.Empty(t, k.sent(), "a fleet hit went upstream")
			assert.Equal(t, 1, k.status().Entries, "the local exact layer keeps the entry")
		})
	}
}

// Tenants never see each other's entries on another member: the tenant is
// part of the fleet's key as of the local one.
func TestCacheFleetTenantsIsolatedAcrossMembers(t *testing.T) {
	fleet := newFakeFleet()
	a, b := newCacheKitWith(t, fleet.member("a")), newCacheKitWith(t, fleet.member("b"))
	ask := func(id, tenant string) *messages.ChatRequest {
		r := question(id, "our secret plan?")
		r.Tenant = tenant
		return r
	}
	ra := a.submit(ask("t1-a", "t1"))
	require.Eventually(t, func() bool { return len(a.got) == 1 }, 5*time.Second, time.Millisecond, "a's call")
	a.answerCall("t1-a", &messages.ChatResponse{Meta: messages.Meta{RequestID: "t1-a"}, Content: "t1's plan"})
	answerOf(t, ra)
	require.Equal(t, 1, fleet.stored(), "t1's entry in the fleet")

	other := b.submit(ask("t2-b", "t2"))
	require.Eventually(t, func() bool { return len(b.got) == 1 }, 5*time.Second, time.Millisecond, "t2 goes upstream")
	b.answerCall("t2-b", &messages.ChatResponse{Meta: messages.Meta{RequestID: "t2-b"}, Content: "t2's plan"})
	assert.Equal(t, "t2's plan", answerOf(t, other).(*messages.ChatResponse).Content, "t2 got t1's answer")

	same := b.submit(ask("t1-b", "t1"))
	resp := answerOf(t, same).(*messages.ChatResponse)
	assert.Equal(t, "t1's plan", resp.Content, "t1 on another member")
	assert.True(t, resp.Cached)
	require.Empty(t, b.sent())
}

// The cache never waits on the fleet: a request whose deadline passes
// while the fleet is slow is answered ErrDeadline, and a lead that arrives
// after everyone left is abandoned at once.
func TestCacheFleetSlowFleetNeverHolds(t *testing.T) {
	fleet := newFakeFleet()
	m := fleet.member("a")
	m.hold = true
	k := newCacheKitWith(t, m)
	req := question("r", "q")
	req.Deadline = k.clk.Now().Add(time.Second)
	reply := k.submit(req)
	require.Equal(t, 1, k.status().InFlight, "the flight waits for the fleet")
	k.clk.Advance(time.Second)
	f, ok := answerOf(t, reply).(*messages.Failure)
	require.True(t, ok, "want a failure")
	assert.True(t, errors.Is(f.Err, messages.ErrDeadline), "%v", f.Err)
	assert.Empty(t, k.sent(), "nothing went upstream")

	m.release() // the fleet answers "lead" now; nobody waits any more
	require.Eventually(t, func() bool { _, _, ab := m.counts(); return ab == 1 }, 5*time.Second, time.Millisecond, "abandoned")
	st := k.status()
	assert.Equal(t, 0, st.InFlight, "flights left")
}

// A leader whose call fails releases the other members' waiters: they go
// upstream themselves, and a caller that cancels while its cache waits for
// the fleet is answered at once.
func TestCacheFleetLeaderFailureReleasesOtherMembers(t *testing.T) {
	fleet := newFakeFleet()
	a, b := newCacheKitWith(t, fleet.member("a")), newCacheKitWith(t, fleet.member("b"))
	ra := a.submit(question("on-a", "q"))
	require.Eventually(t, func() bool { return len(a.got) == 1 }, 5*time.Second, time.Millisecond, "a's call")
	rb := b.submit(question("on-b", "q"))
	rc := b.submit(question("on-b-cancelled", "q"))
	key := keyOf(t, question("x", "q"))
	require.Eventually(t, func() bool { return fleet.waiters(key) == 1 }, 5*time.Second, time.Millisecond, "b waits for the fleet")
	b.sys.Root.Send(b.cache, &messages.Cancel{RequestID: "on-b-cancelled"})
	f, ok := answerOf(t, rc).(*messages.Failure)
	require.True(t, ok)
	assert.True(t, errors.Is(f.Err, context.Canceled), "%v", f.Err)

	a.answerCall("on-a", &messages.Failure{RequestID: "on-a", Err: &messages.UpstreamError{RequestID: "on-a", Status: 500, Class: messages.ClassServer}})
	_, ok = answerOf(t, ra).(*messages.Failure)
	require.True(t, ok)
	require.Eventually(t, func() bool { return len(b.got) == 1 }, 5*time.Second, time.Millisecond, "b goes upstream itself")
	b.answerCall("on-b", &messages.ChatResponse{Meta: messages.Meta{RequestID: "on-b"}, Content: "b's own"})
	assert.Equal(t, "b's own", answerOf(t, rb).(*messages.ChatResponse).Content)
}
