package switchyard

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// Key affinity against the OpenAI simulator with organisations: keys a1
// and a2 belong to organisation A (one group), b to organisation B. A
// stored object is visible only to its organisation's keys; another
// organisation's key gets 404, as from the real service.

const (
	orgA = "org-a/proj-1"
	orgB = "org-b/proj-1"
)

// startOrgs runs an OpenAI simulator that knows the test keys'
// organisations.
func startOrgs(t *testing.T) *sim.Server {
	t.Helper()
	srv := sim.Start(sim.OpenAI(), sim.WithOrganisations(map[string]string{secretA: orgA, secretB: orgA, secretC: orgB}))
	t.Cleanup(srv.Close)
	return srv
}

// orgConfig is one round-robin OpenAI provider with the three keys, grouped
// by organisation, and the affinity given.
func orgConfig(srv *sim.Server, aff AffinityConfig) Config {
	return Config{
		Providers: []ProviderConfig{{Name: "openai", Kind: "openai", KeyStrategy: "round-robin", Affinity: aff,
			Endpoints: []EndpointConfig{{Name: "primary", BaseURL: srv.URL + "/v1", Keys: []KeyConfig{
				{Label: "a1", Secret: secretA, Group: orgA},
				{Label: "a2", Secret: secretB, Group: orgA},
				{Label: "b", Secret: secretC, Group: orgB},
			}}}}},
		Retry: RetryConfig{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond},
	}
}

// groupOf is the organisation of a key label.
func groupOf(label string) string {
	if label == "b" {
		return orgB
	}
	return orgA
}

// is404 reports an upstream 404: the object is not visible to the key.
func is404(err error) bool {
	var ue *messages.UpstreamError
	return errors.As(err, &ue) && ue.Status == 404
}

func convReq(id string) *messages.ConversationRequest {
	return &messages.ConversationRequest{ConversationID: id}
}

// followUps runs five follow-ups on each conversation (five kinds, the
// conversations in parallel, each one's in order) and returns how many
// were answered 404, and the other failures.
func followUps(t *testing.T, sy *Switchyard, convs map[string]string) (notFound int, others []error) {
	t.Helper()
	answered := 0
	defer func() { assert.Equal(t, 5*len(convs), answered, "follow-ups answered") }()
	ctx := t.Context()
	var mu sync.Mutex
	var wg sync.WaitGroup
	note := func(conv string, resp messages.Response, err error) {
		mu.Lock()
		defer mu.Unlock()
		answered++
		switch {
		case is404(err):
			notFound++
		case err != nil:
			others = append(others, err)
		default:
			if got := groupOf(resp.ResponseMeta().Key); got != convs[conv] {
				others = append(others, fmt.Errorf("%s of %s served by key %s of %s", conv, convs[conv], resp.ResponseMeta().Key, got))
			}
		}
	}
	for conv := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r1, err := sy.RetrieveConversation(ctx, convReq(conv))
			note(conv, r1, err)
			r2, err := sy.AddConversationItems(ctx, &messages.ConversationRequest{ConversationID: conv,
				Items: []messages.Message{{Role: messages.RoleUser, Content: "more"}}})
			note(conv, r2, err)
			r3, err := sy.Responses(ctx, &messages.ResponsesRequest{Model: "gpt-test", Conversation: conv,
				Input: []messages.Message{{Role: messages.RoleUser, Content: "go on"}}})
			note(conv, r3, err)
			r4, err := sy.ListConversationItems(ctx, &messages.ConversationRequest{ConversationID: conv, Page: messages.Page{Limit: 10}})
			note(conv, r4, err)
			r5, err := sy.UpdateConversation(ctx, &messages.ConversationRequest{ConversationID: conv, Metadata: map[string]string{"topic": "t"}})
			note(conv, r5, err)
		}()
	}
	wg.Wait()
	return notFound, others
}

// createConversations creates n conversations by round-robin and returns
// each one's organisation (the group of the key that created it).
func createConversations(t *testing.T, sy *Switchyard, n int) map[string]string {
	t.Helper()
	convs := map[string]string{}
	for i := range n {
		c, err := sy.CreateConversation(t.Context(), &messages.ConversationRequest{Metadata: map[string]string{"n": fmt.Sprint(i)}})
		require.NoError(t, err)
		require.NotEmpty(t, c.ID)
		convs[c.ID] = groupOf(c.Key)
	}
	groups := map[string]int{}
	for _, g := range convs {
		groups[g]++
	}
	require.Len(t, groups, 2, "round-robin created conversations in both organisations")
	return convs
}

// With affinity, 100 follow-ups on 20 conversations under round-robin all
// reach a key of the conversation's organisation: no 404. Without it,
// round-robin sends some to the other organisation, which answers 404.
func TestAffinityFollowUpsStayInTheirOrganisation(t *testing.T) {
	for _, tc := range []struct {
		name     string
		disabled bool
	}{{"affinity", false}, {"no affinity", true}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startOrgs(t)
			h := newHarness(t, orgConfig(srv, AffinityConfig{Disabled: tc.disabled}), false)
			convs := createConversations(t, h.sy, 20)
			notFound, others := followUps(t, h.sy, convs)
			t.Logf("%d of 100 follow-ups answered 404", notFound)
			if tc.disabled {
				assert.Positive(t, notFound, "without affinity round-robin sends follow-ups to the other organisation")
				return
			}
			assert.Zero(t, notFound, "404s from the simulator")
			assert.Empty(t, others)
		})
	}
}

// A grouped follow-up may be served by either key of its group, and by no
// other.
func TestAffinityGroupServesFollowUps(t *testing.T) {
	srv := startOrgs(t)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	c, err := h.sy.CreateConversation(t.Context(), &messages.ConversationRequest{}, WithKey("a1"))
	require.NoError(t, err)
	served := map[string]int{}
	for range 10 {
		r, err := h.sy.RetrieveConversation(t.Context(), convReq(c.ID))
		require.NoError(t, err)
		served[r.Key]++
	}
	assert.Zero(t, served["b"])
	assert.Positive(t, served["a1"])
	assert.Positive(t, served["a2"])
}

// A follow-up whose only key is disabled fails with ErrAffinityUnavailable;
// it never goes to the other organisation's keys.
func TestAffinityDisabledKeyFails(t *testing.T) {
	srv := startOrgs(t)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	c, err := h.sy.CreateConversation(t.Context(), &messages.ConversationRequest{}, WithKey("b"))
	require.NoError(t, err)
	srv.RejectKey(secretC, 401)
	before := len(srv.Requests())

	_, err = h.sy.RetrieveConversation(t.Context(), convReq(c.ID))
	require.ErrorIs(t, err, messages.ErrAffinityUnavailable)
	var ae *messages.AffinityError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, c.ID, ae.Object)
	assert.Equal(t, "primary", ae.Endpoint)
	assert.Equal(t, []string{"b"}, ae.Keys)
	assert.NotContains(t, err.Error(), secretC)
	for _, r := range srv.Requests()[before:] {
		assert.Equal(t, secretC, r.Key, "a follow-up went to another organisation's key: %s %s", r.Method, r.Path)
	}

	// Requests that name no stored object still go to the other keys.
	_, err = h.sy.CreateConversation(t.Context(), &messages.ConversationRequest{})
	require.NoError(t, err)
}

// A follow-up whose key cools down after a 429 waits for the Retry-After
// and then succeeds on that key; with Wait false it fails at once.
func TestAffinityCoolingKey(t *testing.T) {
	t.Run("waits", func(t *testing.T) {
		srv := startOrgs(t)
		h := newHarness(t, orgConfig(srv, AffinityConfig{}), true)
		c, err := h.sy.CreateConversation(t.Context(), &messages.ConversationRequest{}, WithKey("b"))
		require.NoError(t, err)
		srv.Inject(sim.Fault{Status: 429, Key: secretC, Header: map[string]string{"Retry-After": "2"}})

		type result struct {
			r   *messages.ConversationResponse
			err error
		}
		done := make(chan result, 1)
		go func() {
			r, err := h.sy.RetrieveConversation(t.Context(), convReq(c.ID))
			done <- result{r, err}
		}()
		eventually(t, "the follow-up parked", func() bool {
			st, err := h.sy.QueueStatus(t.Context())
			return err == nil && st.Parked == 1
		})
		wake, ok := h.clk.NextDeadline()
		require.True(t, ok, "the parked follow-up has a wake timer")
		assert.Equal(t, h.clk.Now().Add(2*time.Second), wake, "it wakes when its key's Retry-After ends")
		select {
		case res := <-done:
			require.FailNow(t, "answered before the cooldown ended", "%v", res.err)
		default:
		}
		h.clk.Advance(2 * time.Second)
		var res result
		select {
		case res = <-done:
		case <-time.After(10 * time.Second):
			require.FailNow(t, "the parked follow-up did not wake after the Retry-After")
		}
		require.NoError(t, res.err)
		assert.Equal(t, "b", res.r.Key)
		assert.Equal(t, c.ID, res.r.ID)
		assert.Equal(t, 2, res.r.Attempts)
	})
	t.Run("fails at once", func(t *testing.T) {
		srv := startOrgs(t)
		wait := false
		h := newHarness(t, orgConfig(srv, AffinityConfig{Wait: &wait}), true)
		c, err := h.sy.CreateConversation(t.Context(), &messages.ConversationRequest{}, WithKey("b"))
		require.NoError(t, err)
		srv.Inject(sim.Fault{Status: 429, Key: secretC, Header: map[string]string{"Retry-After": "2"}})
		cooling := h.clk.Now().Add(2 * time.Second)

		_, err = h.sy.RetrieveConversation(t.Context(), convReq(c.ID))
		require.ErrorIs(t, err, messages.ErrAffinityUnavailable)
		assert.ErrorIs(t, err, messages.ErrRateLimited)
		var ae *messages.AffinityError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, cooling, ae.CoolingUntil)
		assert.Equal(t, []string{"b"}, ae.Keys)

		// While b cools, a follow-up fails without a call.
		calls := srv.Calls()
		_, err = h.sy.RetrieveConversation(t.Context(), convReq(c.ID))
		require.ErrorIs(t, err, messages.ErrAffinityUnavailable)
		assert.Equal(t, calls, srv.Calls())

		h.clk.Advance(2 * time.Second)
		r, err := h.sy.RetrieveConversation(t.Context(), convReq(c.ID))
		require.NoError(t, err)
		assert.Equal(t, "b", r.Key)
	})
}

// An entry expires TTL after the last answer that reported its object:
// the follow-ups of a conversation not seen for the TTL go by round-robin
// again (and meet the other organisation's 404), while one seen within
// the TTL keeps its key.
func TestAffinityExpires(t *testing.T) {
	srv := startOrgs(t)
	const ttl = time.Hour
	h := newHarness(t, orgConfig(srv, AffinityConfig{TTL: ttl}), true)
	ctx := t.Context()
	kept, err := h.sy.CreateConversation(ctx, &messages.ConversationRequest{}, WithKey("b"))
	require.NoError(t, err)
	expired, err := h.sy.CreateConversation(ctx, &messages.ConversationRequest{}, WithKey("b"))
	require.NoError(t, err)

	h.clk.Advance(ttl - time.Second)
	for range 3 {
		r, err := h.sy.RetrieveConversation(ctx, convReq(kept.ID))
		require.NoError(t, err, "within the TTL")
		assert.Equal(t, "b", r.Key)
	}
	h.clk.Advance(time.Second)
	for range 3 {
		r, err := h.sy.RetrieveConversation(ctx, convReq(kept.ID))
		require.NoError(t, err, "renewed by the answers above")
		assert.Equal(t, "b", r.Key)
	}
	notFound := 0
	for range 3 {
		_, err := h.sy.RetrieveConversation(ctx, convReq(expired.ID))
		if is404(err) {
			notFound++
		} else {
			require.NoError(t, err)
		}
	}
	assert.Positive(t, notFound, "after the TTL the entry is gone: round-robin reaches organisation A's keys")
}

// Stateful calls are never answered from the cache, even with every
// request opted in: each retrieve reaches the upstream.
func TestAffinityRetrieveNeverCached(t *testing.T) {
	srv := startOrgs(t)
	cfg := orgConfig(srv, AffinityConfig{})
	cfg.Cache = CacheConfig{Enabled: true, CacheSampled: true}
	h := newHarness(t, cfg, false)
	ctx := t.Context()
	zero := 0.0
	created, err := h.sy.Responses(ctx, &messages.ResponsesRequest{Model: "gpt-test", Temperature: &zero,
		Input: []messages.Message{{Role: messages.RoleUser, Content: "hello"}}})
	require.NoError(t, err)
	require.NotEmpty(t, created.ID)
	calls := srv.Calls()
	for range 3 {
		r, err := h.sy.RetrieveResponse(ctx, &messages.ResponseObjectRequest{ResponseID: created.ID})
		require.NoError(t, err)
		assert.False(t, r.Cached)
		assert.Equal(t, created.ID, r.ID)
		assert.Equal(t, groupOf(created.Key), groupOf(r.Key), "the retrieve reached the response's organisation")
	}
	assert.Equal(t, calls+3, srv.Calls(), "every retrieve reached the upstream")
	st, err := h.sy.CacheStatus(ctx)
	require.NoError(t, err)
	assert.Zero(t, st.Hits)
}

// statefulMethods calls each stateful facade method with req (nil, or a
// zero value when zero is set).
func statefulMethods() []methodCase {
	resp := func(zero bool) *messages.ResponseObjectRequest { return pick(zero, &messages.ResponseObjectRequest{}) }
	conv := func(zero bool) *messages.ConversationRequest { return pick(zero, &messages.ConversationRequest{}) }
	m := func(name string, f func(ctx context.Context, sy *Switchyard, zero bool) (any, error)) methodCase {
		return methodCase{name, f}
	}
	return []methodCase{
		m("RetrieveResponse", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.RetrieveResponse(ctx, resp(z))
		}),
		m("RetrieveResponseStream", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return drain(sy.RetrieveResponseStream(ctx, resp(z)))
		}),
		m("CancelResponse", func(ctx context.Context, sy *Switchyard, z bool) (any, error) { return sy.CancelResponse(ctx, resp(z)) }),
		m("DeleteResponse", func(ctx context.Context, sy *Switchyard, z bool) (any, error) { return sy.DeleteResponse(ctx, resp(z)) }),
		m("ListResponseInputItems", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.ListResponseInputItems(ctx, resp(z))
		}),
		m("CountResponsesInputTokens", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.CountResponsesInputTokens(ctx, pick(z, &messages.ResponsesInputTokensRequest{}))
		}),
		m("CreateConversation", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.CreateConversation(ctx, conv(z))
		}),
		m("RetrieveConversation", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.RetrieveConversation(ctx, conv(z))
		}),
		m("UpdateConversation", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.UpdateConversation(ctx, conv(z))
		}),
		m("DeleteConversation", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.DeleteConversation(ctx, conv(z))
		}),
		m("AddConversationItems", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.AddConversationItems(ctx, conv(z))
		}),
		m("ListConversationItems", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.ListConversationItems(ctx, conv(z))
		}),
		m("RetrieveConversationItem", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.RetrieveConversationItem(ctx, conv(z))
		}),
		m("DeleteConversationItem", func(ctx context.Context, sy *Switchyard, z bool) (any, error) {
			return sy.DeleteConversationItem(ctx, conv(z))
		}),
	}
}

// Every stateful facade method refuses a nil request or a nil context with
// ErrInvalidRequest, and answers a zero-value request with a typed error or
// an answer; never a panic or a hang.
func TestStatefulFacadeBadInput(t *testing.T) {
	srv := startOrgs(t)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	for _, m := range statefulMethods() {
		t.Run(m.name+"/nil request", func(t *testing.T) {
			_, err := bounded(t, h.sy, func(ctx context.Context, sy *Switchyard) (any, error) { return m.call(ctx, sy, false) })
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.Contains(t, err.Error(), "nil request")
		})
		t.Run(m.name+"/nil context", func(t *testing.T) {
			_, err := bounded(t, h.sy, func(_ context.Context, sy *Switchyard) (any, error) { return m.call(nilContext(), sy, true) })
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.Contains(t, err.Error(), "nil context")
		})
		t.Run(m.name+"/zero value", func(t *testing.T) {
			_, err := bounded(t, h.sy, func(ctx context.Context, sy *Switchyard) (any, error) { return m.call(ctx, sy, true) })
			if err != nil {
				requireTyped(t, err)
			}
		})
	}
}

// The facade works on its own copy: the caller's request keeps its Action
// and fields; each method sets the action it names.
func TestStatefulFacadeCopies(t *testing.T) {
	srv := startOrgs(t)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	req := &messages.ConversationRequest{Action: messages.ConversationDelete, Metadata: map[string]string{"k": "v"}}
	c, err := h.sy.CreateConversation(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, messages.ConversationDelete, req.Action, "the caller's request is not written")
	assert.Empty(t, req.RequestID)
	assert.Equal(t, map[string]string{"k": "v"}, c.Metadata)

	d, err := h.sy.DeleteConversation(t.Context(), convReq(c.ID))
	require.NoError(t, err)
	assert.True(t, d.Deleted)
	_, err = h.sy.RetrieveConversation(t.Context(), convReq(c.ID))
	assert.True(t, is404(err), "deleted: %v", err)
}

// An actor sends the stateful request types themselves to the front door
// and gets the answers as messages; affinity applies to them too.
func TestAffinityActorMessages(t *testing.T) {
	srv := startOrgs(t)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	c, err := h.sy.CreateConversation(t.Context(), &messages.ConversationRequest{}, WithKey("b"))
	require.NoError(t, err)
	var reqs []messages.Request
	for i := range 6 {
		reqs = append(reqs, &messages.ConversationRequest{Call: messages.Call{RequestID: fmt.Sprintf("actor-%d", i)},
			Action: messages.ConversationRetrieve, ConversationID: c.ID})
	}
	got := make(chan any, 100)
	pid := h.sy.ActorSystem().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &caller{dispatcher: h.sy.FrontDoor(), requests: reqs, got: got}
	}))
	defer h.sy.ActorSystem().Root.Stop(pid)
	for range reqs {
		select {
		case m := <-got:
			r, ok := m.(*messages.ConversationResponse)
			require.True(t, ok, "answer %T: %v", m, m)
			assert.Equal(t, c.ID, r.ID)
			assert.Equal(t, "b", r.Key, "an actor's follow-up stays on the conversation's key")
		case <-time.After(10 * time.Second):
			require.FailNow(t, "answers missing")
		}
	}
}

// The affinity and group fields load from a file, and bad values are
// refused naming the field.
func TestAffinityConfigFields(t *testing.T) {
	cfg, err := Parse([]byte(`
providers:
  - kind: openai
    affinity:
      max_entries: 500
      ttl: 24h
      wait: false
    endpoints:
      - base_url: https://api.openai.com/v1
        keys:
          - {label: a1, secret: sk-one, group: org-abc/proj-1}
          - {label: b, secret: sk-two}
`))
	require.NoError(t, err)
	p := cfg.Providers[0]
	assert.Equal(t, 500, p.Affinity.MaxEntries)
	assert.Equal(t, 24*time.Hour, p.Affinity.TTL)
	require.NotNil(t, p.Affinity.Wait)
	assert.False(t, *p.Affinity.Wait)
	assert.False(t, p.Affinity.Disabled)
	assert.Equal(t, "org-abc/proj-1", p.Endpoints[0].Keys[0].Group)
	assert.Empty(t, p.Endpoints[0].Keys[1].Group)
	rt := p.Affinity.runtime()
	assert.True(t, rt.NoWait)
	assert.Equal(t, 500, rt.MaxEntries)
	assert.False(t, (&AffinityConfig{}).runtime().NoWait, "waiting is the default")

	for _, tc := range []struct {
		name  string
		edit  func(*ProviderConfig)
		field string
	}{
		{"negative max_entries", func(p *ProviderConfig) { p.Affinity.MaxEntries = -1 }, "providers[0].affinity.max_entries"},
		{"negative ttl", func(p *ProviderConfig) { p.Affinity.TTL = -time.Second }, "providers[0].affinity.ttl"},
		{"group with a line break", func(p *ProviderConfig) { p.Endpoints[0].Keys[0].Group = "org\nx" }, "providers[0].endpoints[0].keys[0].group"},
		{"group with spaces around", func(p *ProviderConfig) { p.Endpoints[0].Keys[0].Group = " org" }, "providers[0].endpoints[0].keys[0].group"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Config{Providers: []ProviderConfig{{Kind: "openai", Endpoints: []EndpointConfig{{BaseURL: "https://api.openai.com/v1",
				Keys: []KeyConfig{{Secret: "sk-one"}}}}}}}
			tc.edit(&c.Providers[0])
			_, err := New(c)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
	_, err = Parse([]byte("providers:\n  - kind: openai\n    affinity:\n      ttl: 30\n"))
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "providers[0].affinity.ttl", ce.Field)
}

// A resumed stream of a stored response goes to the key that created it.
func TestAffinityRetrieveResponseStream(t *testing.T) {
	srv := startOrgs(t)
	h := newHarness(t, orgConfig(srv, AffinityConfig{}), false)
	first, err := h.sy.ResponsesStream(t.Context(), &messages.ResponsesRequest{Model: "gpt-test", Background: true,
		Input: []messages.Message{{Role: messages.RoleUser, Content: "tell me a story"}}}, WithKey("b"))
	require.NoError(t, err)
	for first.Next() {
	}
	require.NoError(t, first.Err())
	created, ok := first.Response().(*messages.ResponsesResponse)
	require.True(t, ok, "%T", first.Response())
	require.NotEmpty(t, created.ID)
	for range 3 {
		st, err := h.sy.RetrieveResponseStream(t.Context(), &messages.ResponseObjectRequest{ResponseID: created.ID})
		require.NoError(t, err)
		chunks := 0
		for st.Next() {
			chunks++
		}
		require.NoError(t, st.Err())
		r, ok := st.Response().(*messages.ResponsesResponse)
		require.True(t, ok, "%T", st.Response())
		assert.Equal(t, created.ID, r.ID)
		assert.Equal(t, "b", r.Key)
		assert.Positive(t, chunks)
	}
}
