package actors

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// The affinity table: what it remembers, for how long, and how much.
func TestAffinityTable(t *testing.T) {
	t0 := clocktest.New(t).Now()
	type step struct {
		op     string // record, lookup, forget
		object string
		ep     string
		key    string
		at     time.Duration // after t0
		found  bool          // lookup: whether it is remembered
	}
	tests := []struct {
		name  string
		max   int
		ttl   time.Duration
		steps []step
		len   int
	}{
		{name: "remembers endpoint and key", max: 10, ttl: time.Hour, steps: []step{
			{op: "record", object: "resp_1", ep: "primary", key: "a"},
			{op: "lookup", object: "resp_1", ep: "primary", key: "a", found: true},
			{op: "lookup", object: "resp_2"},
		}, len: 1},
		{name: "the latest answer wins", max: 10, ttl: time.Hour, steps: []step{
			{op: "record", object: "conv_1", ep: "primary", key: "a"},
			{op: "record", object: "conv_1", ep: "primary", key: "b", at: time.Minute},
			{op: "lookup", object: "conv_1", ep: "primary", key: "b", at: time.Minute, found: true},
		}, len: 1},
		{name: "expires ttl after the last record", max: 10, ttl: time.Hour, steps: []step{
			{op: "record", object: "resp_1", ep: "primary", key: "a"},
			{op: "lookup", object: "resp_1", ep: "primary", key: "a", at: time.Hour - time.Nanosecond, found: true},
			{op: "lookup", object: "resp_1", at: time.Hour},
		}, len: 0},
		{name: "a record renews the expiry, a lookup does not", max: 10, ttl: time.Hour, steps: []step{
			{op: "record", object: "resp_1", ep: "primary", key: "a"},
			{op: "lookup", object: "resp_1", ep: "primary", key: "a", at: 30 * time.Minute, found: true},
			{op: "record", object: "resp_2", ep: "primary", key: "a", at: 30 * time.Minute},
			{op: "record", object: "resp_2", ep: "primary", key: "a", at: 50 * time.Minute},
			{op: "lookup", object: "resp_1", at: 61 * time.Minute},
			{op: "lookup", object: "resp_2", ep: "primary", key: "a", at: 109 * time.Minute, found: true},
		}, len: 1},
		{name: "the least recently used goes first", max: 2, ttl: time.Hour, steps: []step{
			{op: "record", object: "o1", ep: "primary", key: "a"},
			{op: "record", object: "o2", ep: "primary", key: "b"},
			{op: "lookup", object: "o1", ep: "primary", key: "a", found: true},
			{op: "record", object: "o3", ep: "primary", key: "a"},
			{op: "lookup", object: "o2"},
			{op: "lookup", object: "o1", ep: "primary", key: "a", found: true},
			{op: "lookup", object: "o3", ep: "primary", key: "a", found: true},
		}, len: 2},
		{name: "a record drops expired entries at the least recently used end", max: 3, ttl: time.Hour, steps: []step{
			{op: "record", object: "old", ep: "primary", key: "a"},
			{op: "record", object: "live", ep: "primary", key: "a", at: 59 * time.Minute},
			{op: "record", object: "new", ep: "primary", key: "a", at: 61 * time.Minute},
			{op: "lookup", object: "live", ep: "primary", key: "a", at: 61 * time.Minute, found: true},
			{op: "lookup", object: "new", ep: "primary", key: "a", at: 61 * time.Minute, found: true},
		}, len: 2},
		{name: "forget", max: 10, ttl: time.Hour, steps: []step{
			{op: "record", object: "resp_1", ep: "primary", key: "a"},
			{op: "forget", object: "resp_1"},
			{op: "forget", object: "never"},
			{op: "lookup", object: "resp_1"},
		}, len: 0},
		{name: "an empty ID is not remembered", max: 10, ttl: time.Hour, steps: []step{
			{op: "record", object: "", ep: "primary", key: "a"},
			{op: "lookup", object: ""},
		}, len: 0},
		{name: "a size below one holds one", max: 0, ttl: time.Hour, steps: []step{
			{op: "record", object: "o1", ep: "primary", key: "a"},
			{op: "record", object: "o2", ep: "primary", key: "a"},
			{op: "lookup", object: "o1"},
			{op: "lookup", object: "o2", ep: "primary", key: "a", found: true},
		}, len: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tab := newAffinityTable(tc.max, tc.ttl)
			for i, s := range tc.steps {
				now := t0.Add(s.at)
				switch s.op {
				case "record":
					tab.record(s.object, s.ep, s.key, now)
				case "forget":
					tab.forget(s.object)
				case "lookup":
					e, ok := tab.lookup(s.object, now)
					require.Equal(t, s.found, ok, "step %d: lookup %s", i, s.object)
					if ok {
						assert.Equal(t, s.ep, e.endpoint, "step %d", i)
						assert.Equal(t, s.key, e.key, "step %d", i)
					}
				}
			}
			assert.Equal(t, tc.len, tab.len())
			assert.Equal(t, tab.len(), len(tab.items), "map and list agree")
		})
	}
}

// learn records what a successful answer created, under the meta's
// endpoint and key, and forgets what a deletion removed; resolve pins a
// request that names a remembered object, unless the caller pinned it.
func TestAffinityLearnAndResolve(t *testing.T) {
	now := clocktest.New(t).Now()
	tab := newAffinityTable(100, time.Hour)
	meta := messages.Meta{Endpoint: "primary", Key: "a"}

	tab.learn(&messages.ConversationRequest{Action: messages.ConversationCreate}, &messages.ConversationResponse{Meta: meta, ID: "conv_1"}, now)
	tab.learn(&messages.ResponsesRequest{}, &messages.ResponsesResponse{Meta: meta, ID: "resp_1", Stored: true}, now)
	tab.learn(&messages.ResponsesRequest{}, &messages.ResponsesResponse{Meta: meta, ID: "resp_unstored"}, now)
	tab.learn(&messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: "conv_1"},
		&messages.ItemList{Meta: meta, Items: []messages.Item{{ID: "item_1"}, {ID: ""}, {ID: "item_2"}}}, now)
	tab.learn(&messages.ChatRequest{}, &messages.ChatResponse{Meta: meta}, now)
	tab.learn(&messages.ConversationRequest{Action: messages.ConversationCreate}, &messages.ConversationResponse{ID: "conv_nometa"}, now)
	assert.Equal(t, 4, tab.len(), "conv_1, resp_1, item_1, item_2")

	pin := tab.resolve(&messages.ResponsesRequest{PreviousResponseID: "resp_1"}, now, false)
	require.NotNil(t, pin)
	assert.Equal(t, affinityPin{object: "resp_1", endpoint: "primary", key: "a"}, *pin)
	pin = tab.resolve(&messages.ResponsesRequest{PreviousResponseID: "resp_elsewhere", Conversation: "conv_1"}, now, true)
	require.NotNil(t, pin, "the first remembered object pins")
	assert.Equal(t, affinityPin{object: "conv_1", endpoint: "primary", key: "a", noWait: true}, *pin)
	assert.NotNil(t, tab.resolve(&messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Conversation: "conv_1"}}, now, false))
	assert.NotNil(t, tab.resolve(&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "resp_1"}, now, false))
	assert.Nil(t, tab.resolve(&messages.ResponseObjectRequest{ResponseID: "resp_unstored"}, now, false), "an unstored response is not remembered")
	assert.Nil(t, tab.resolve(&messages.ResponsesRequest{PreviousResponseID: "resp_elsewhere"}, now, false), "an unknown object goes as usual")
	assert.Nil(t, tab.resolve(&messages.ChatRequest{}, now, false), "a request that names no stored object")
	assert.Nil(t, tab.resolve(&messages.ConversationRequest{Call: messages.Call{Key: "b"}, ConversationID: "conv_1"}, now, false), "the caller's key pin wins")
	assert.Nil(t, tab.resolve(&messages.ConversationRequest{Call: messages.Call{Endpoint: "secondary"}, ConversationID: "conv_1"}, now, false), "the caller's endpoint pin wins")

	// Deletions forget; a deleted item leaves its conversation remembered.
	tab.learn(&messages.ConversationRequest{Action: messages.ConversationDeleteItem, ConversationID: "conv_1", ItemID: "item_1"},
		&messages.ConversationResponse{Meta: meta, ID: "conv_1"}, now)
	_, ok := tab.lookup("item_1", now)
	assert.False(t, ok)
	tab.learn(&messages.ResponseObjectRequest{Action: messages.ResponseDelete, ResponseID: "resp_1"}, &messages.DeletedResponse{Meta: meta, ID: "resp_1", Deleted: true}, now)
	_, ok = tab.lookup("resp_1", now)
	assert.False(t, ok)
	tab.learn(&messages.ConversationRequest{Action: messages.ConversationDelete, ConversationID: "conv_1"}, &messages.DeletedResponse{Meta: meta, ID: "conv_1", Deleted: true}, now)
	_, ok = tab.lookup("conv_1", now)
	assert.False(t, ok)
	assert.Equal(t, 1, tab.len(), "item_2 is left")
}

// groupedSpec is a provider with keys a1 and a2 in group org-a and b alone.
func (k *provKit) groupedSpec() ProviderSpec {
	spec := k.providerSpec()
	spec.Endpoints = []EndpointSpec{{Name: "primary", Keys: []KeySpec{
		{Cred: providers.NewCredential("a1", "sk-provKit-a1"), Group: "org-a"},
		{Cred: providers.NewCredential("b", "sk-provKit-b")},
		{Cred: providers.NewCredential("a2", "sk-provKit-a2"), Group: "org-a"},
	}}}
	return spec
}

// conversationFollowUp is a dispatch option: a request on conv_1 with an
// affinity pin to key.
func conversationFollowUp(key string, noWait bool) func(*dispatch) {
	return func(d *dispatch) {
		d.req = &messages.ConversationRequest{Call: messages.Call{Provider: "p"}, Action: messages.ConversationRetrieve, ConversationID: "conv_1"}
		d.affinity = &affinityPin{object: "conv_1", endpoint: "primary", key: key, noWait: noWait}
	}
}

// An affinity pin keeps a follow-up on its key's group, whatever the
// strategy: never key b, and both keys of org-a in turn.
func TestProviderAffinityStaysInTheGroup(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.groupedSpec())
	served := map[string]int{}
	for range 6 {
		id := k.dispatch(conversationFollowUp("a2", false))
		fc := k.expectCall()
		served[fc.call.Key.Label()]++
		fc.succeed()
		require.NoError(t, k.expectDone(id).err)
	}
	assert.Equal(t, map[string]int{"a1": 3, "a2": 3}, served)

	// An ungrouped key's object stays on that key.
	for range 2 {
		id := k.dispatch(conversationFollowUp("b", false))
		fc := k.expectCall()
		assert.Equal(t, "b", fc.call.Key.Label())
		fc.succeed()
		require.NoError(t, k.expectDone(id).err)
	}
	// A pin to a key the provider does not have is ignored.
	id := k.dispatch(func(d *dispatch) {
		d.affinity = &affinityPin{object: "conv_9", endpoint: "gone", key: "a1"}
	})
	fc := k.expectCall()
	fc.succeed()
	require.NoError(t, k.expectDone(id).err)
}

// A follow-up whose keys are all disabled is answered AffinityError at
// once, never sent with another organisation's key.
func TestProviderAffinityDisabledKeys(t *testing.T) {
	k := newProvKit(t)
	spec := k.groupedSpec()
	k.startProvider(spec)
	// Disable b: an authentication failure on a request pinned to it.
	id := k.dispatch(func(d *dispatch) { d.req.CallInfo().Key = "b" })
	fc := k.expectCall()
	fc.fail(messages.ClassAuth)
	k.expectDone(id)

	id = k.dispatch(conversationFollowUp("b", false))
	done := k.expectDone(id)
	var ae *messages.AffinityError
	require.ErrorAs(t, done.err, &ae)
	assert.ErrorIs(t, done.err, messages.ErrAffinityUnavailable)
	assert.NotErrorIs(t, done.err, messages.ErrRateLimited, "disabled, not cooling")
	assert.Equal(t, "conv_1", ae.Object)
	assert.Equal(t, "primary", ae.Endpoint)
	assert.Equal(t, []string{"b"}, ae.Keys)
	assert.Equal(t, id, ae.RequestID)
	assert.Zero(t, ae.CoolingUntil)
	assert.Empty(t, k.calls, "no call went upstream")

	// The other keys still serve requests without a pin.
	id = k.dispatch()
	fc = k.expectCall()
	assert.NotEqual(t, "b", fc.call.Key.Label())
	fc.succeed()
	require.NoError(t, k.expectDone(id).err)
}

// A follow-up whose keys all cool down is bounced with the time the first
// comes back, so the dispatcher parks it until then; with noWait, or a
// deadline before that time, it is answered AffinityError at once.
func TestProviderAffinityCoolingKeys(t *testing.T) {
	k := newProvKit(t)
	k.startProvider(k.groupedSpec())
	// A 429 on b cools it for a second (no Retry-After).
	id := k.dispatch(func(d *dispatch) { d.req.CallInfo().Key = "b" })
	k.expectCall().fail(messages.ClassRateLimited)
	k.expectDone(id)
	until := k.clk.Now().Add(time.Second)

	id = k.dispatch(conversationFollowUp("b", false))
	done := k.expectDone(id)
	require.True(t, done.bounced, "a waiting follow-up is bounced (parked by the dispatcher)")
	assert.Equal(t, until, done.notBefore)

	id = k.dispatch(conversationFollowUp("b", true))
	done = k.expectDone(id)
	var ae *messages.AffinityError
	require.ErrorAs(t, done.err, &ae, "noWait fails at once")
	assert.ErrorIs(t, done.err, messages.ErrRateLimited)
	assert.Equal(t, until, ae.CoolingUntil)

	id = k.dispatch(conversationFollowUp("b", false), func(d *dispatch) { d.deadline = until.Add(-time.Millisecond) })
	done = k.expectDone(id)
	require.ErrorAs(t, done.err, &ae, "a deadline before the keys come back fails at once")
	assert.Equal(t, until, ae.CoolingUntil)

	k.clk.Advance(time.Second)
	id = k.dispatch(conversationFollowUp("b", false))
	fc := k.expectCall()
	assert.Equal(t, "b", fc.call.Key.Label())
	fc.succeed()
	require.NoError(t, k.expectDone(id).err)
	assert.Empty(t, k.calls)
}

// The dispatcher learns from a successful answer and pins the follow-ups
// that name what it created; a bounced follow-up is parked until the time
// its provider gave, and a deletion forgets the object.
func TestDispatcherAffinityPinsFollowUps(t *testing.T) {
	k := newKit(t, QueueConfig{}, RetryConfig{BaseDelay: time.Second, MaxDelay: time.Second}, oneProvider)
	k.send("p", &capacity{provider: "p", seq: 1, mode: capUnlimited, free: unlimitedThreshold})
	create := &messages.ConversationRequest{Call: messages.Call{RequestID: "create", Provider: "p"}, Action: messages.ConversationCreate}
	ch := k.submit(create)
	d := k.next("p")
	assert.Nil(t, d.affinity, "a create names nothing stored")
	k.send("p", &attemptDone{provider: "p", id: "create", attempt: 1,
		resp: &messages.ConversationResponse{Meta: messages.Meta{Provider: "p", Endpoint: "primary", Key: "a"}, ID: "conv_1"}})
	answer(t, ch)

	follow := func(id string) *messages.ResponsesRequest {
		return &messages.ResponsesRequest{Call: messages.Call{RequestID: id, Provider: "p"}, Model: "m", Conversation: "conv_1"}
	}
	ch = k.submit(follow("f1"))
	d = k.next("p")
	require.NotNil(t, d.affinity)
	assert.Equal(t, affinityPin{object: "conv_1", endpoint: "primary", key: "a"}, *d.affinity)

	// Its keys cool until 3 s from now: parked, woken then.
	at := k.clk.Now().Add(3 * time.Second)
	k.send("p", &attemptDone{provider: "p", id: "f1", attempt: 1, bounced: true, notBefore: at})
	require.Equal(t, 1, k.status().Parked)
	wake, ok := k.clk.NextDeadline()
	require.True(t, ok)
	assert.Equal(t, at, wake)
	k.quiet("p")
	k.clk.Set(at)
	d = k.next("p")
	assert.Equal(t, "f1", d.id)
	assert.NotNil(t, d.affinity)
	k.send("p", &attemptDone{provider: "p", id: "f1", attempt: 1,
		resp: &messages.ResponsesResponse{Meta: messages.Meta{Provider: "p", Endpoint: "primary", Key: "a"}, ID: "resp_1", Stored: true}})
	answer(t, ch)

	// Deleting the conversation forgets it: the next follow-up goes as usual.
	ch = k.submit(&messages.ConversationRequest{Call: messages.Call{RequestID: "del", Provider: "p"}, Action: messages.ConversationDelete, ConversationID: "conv_1"})
	d = k.next("p")
	require.NotNil(t, d.affinity)
	k.send("p", &attemptDone{provider: "p", id: "del", attempt: 1,
		resp: &messages.DeletedResponse{Meta: messages.Meta{Provider: "p", Endpoint: "primary", Key: "a"}, ID: "conv_1", Deleted: true}})
	answer(t, ch)
	ch = k.submit(follow("f2"))
	d = k.next("p")
	assert.Nil(t, d.affinity, "a deleted object is forgotten")
	k.send("p", &attemptDone{provider: "p", id: "f2", attempt: 1, resp: &messages.ResponsesResponse{}})
	answer(t, ch)

	// The response the follow-up stored is remembered.
	ch = k.submit(&messages.ResponseObjectRequest{Call: messages.Call{RequestID: "get", Provider: "p"}, Action: messages.ResponseRetrieve, ResponseID: "resp_1"})
	d = k.next("p")
	require.NotNil(t, d.affinity)
	assert.Equal(t, "resp_1", d.affinity.object)
	k.send("p", &attemptDone{provider: "p", id: "get", attempt: 1, resp: &messages.ResponsesResponse{}})
	answer(t, ch)
}

// With affinity disabled the dispatcher keeps no table, so it pins
// nothing; enabled, the table has the configured (or default) size.
func TestDispatcherAffinityConfig(t *testing.T) {
	env := &Env{Clock: newBreakerTestClock(t)}
	build := func(a AffinityConfig) *provQueue {
		cfg := DispatcherConfig{Providers: map[string]ProviderHandle{"p": {Adapter: fakeAdapter{}, Counters: &Counters{}, Affinity: a}}}
		d, ok := NewDispatcherProducer(cfg, env)().(*Dispatcher)
		require.True(t, ok)
		return d.provs["p"]
	}
	assert.Nil(t, build(AffinityConfig{Disabled: true}).affinity)
	tab := build(AffinityConfig{}).affinity
	require.NotNil(t, tab)
	assert.Equal(t, DefaultAffinityMaxEntries, tab.max)
	assert.Equal(t, DefaultAffinityTTL, tab.ttl)
	assert.Equal(t, 30*24*time.Hour, tab.ttl)
	tab = build(AffinityConfig{MaxEntries: 7, TTL: time.Minute}).affinity
	require.NotNil(t, tab)
	assert.Equal(t, 7, tab.max)
	assert.Equal(t, time.Minute, tab.ttl)
}

// Stateful requests are neither cached nor batched: the cache passes them
// on untouched and no batching window takes them.
func TestStatefulRequestsBypassCacheAndBatching(t *testing.T) {
	reqs := []messages.Request{
		&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "resp_1"},
		&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "resp_1", Stream: true},
		&messages.ResponseObjectRequest{Action: messages.ResponseInputItems, ResponseID: "resp_1"},
		&messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Model: "m", Conversation: "conv_1"}},
		&messages.ConversationRequest{Action: messages.ConversationRetrieve, ConversationID: "conv_1"},
		&messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: "conv_1"},
	}
	for _, req := range reqs {
		for _, optIn := range []bool{false, true} {
			class, _ := classifyForCache(req, optIn, true)
			assert.Equal(t, cachePass, class, "%s (opt-in %v)", req.Operation(), optIn)
		}
		_, ok := shapeOf(req)
		assert.False(t, ok, "%s has a batch shape", req.Operation())
	}
}
