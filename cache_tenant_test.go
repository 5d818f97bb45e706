package switchyard

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

// Two tenants asking the same temperature-0 question get two upstream
// calls and never each other's answer, in the exact and the semantic layer;
// within a tenant, and without tenants, the cache behaves as before.
func TestCacheTenantsNeverShareAnswers(t *testing.T) {
	r := newCacheRig(t, CacheConfig{Embedding: wideRoute}, false)
	const q = "what is our refund policy"
	acme := r.ask(det(q), WithTenant("acme"), WithPrincipal("alice"))
	r.wantChatCalls(1)
	globex := r.ask(det(q), WithTenant("globex"), WithPrincipal("bob"))
	r.wantChatCalls(2)
	require.False(t, globex.Cached, "tenant globex was answered from acme's entry")
	assert.NotEqual(t, acme.ID, globex.ID, "each tenant has its own upstream answer")

	// The semantic layer is scoped too: the same words as a text part
	// (another exact key, similarity 1) do not cross tenants.
	r.indexed(2)
	asPart := det("")
	asPart.Messages[0].Parts = []messages.Part{{Type: messages.PartText, Text: q}}
	other := r.ask(asPart, WithTenant("initech"))
	require.False(t, other.Cached, "a third tenant got a semantic hit from another tenant (similarity %v)", other.Similarity)
	r.wantChatCalls(3)

	// Within a tenant, principals share (the default scope is the tenant).
	again := r.ask(det(q), WithTenant("acme"), WithPrincipal("carol"))
	wantCached(t, &again.Meta, 1)
	assert.Equal(t, acme.ID, again.ID)
	semantic := r.ask(asPart, WithTenant("globex"))
	wantCached(t, &semantic.Meta, 1)
	assert.Equal(t, globex.ID, semantic.ID, "the semantic hit comes from the same tenant's entry")
	r.wantChatCalls(3)

	// Without a tenant, requests share only with each other, as before.
	none1 := r.ask(det(q))
	require.False(t, none1.Cached)
	none2 := r.ask(det(q))
	wantCached(t, &none2.Meta, 1)
	r.wantChatCalls(4)
}

func TestCacheTenantScopes(t *testing.T) {
	for _, tc := range []struct {
		scope string
		// calls after: acme/alice, acme/bob, globex/alice
		want [3]int
	}{
		{"", [3]int{1, 1, 2}},
		{"tenant", [3]int{1, 1, 2}},
		{"principal", [3]int{1, 2, 3}},
		{"shared", [3]int{1, 1, 1}},
	} {
		t.Run("scope="+tc.scope, func(t *testing.T) {
			r := newCacheRig(t, CacheConfig{TenantScope: tc.scope}, false)
			const q = "same question"
			for i, who := range []struct{ tenant, principal string }{{"acme", "alice"}, {"acme", "bob"}, {"globex", "alice"}} {
				r.ask(det(q), WithTenant(who.tenant), WithPrincipal(who.principal))
				r.wantChatCalls(tc.want[i])
			}
		})
	}
	_, err := New(Config{Providers: []ProviderConfig{{Kind: "openai", Endpoints: []EndpointConfig{{BaseURL: "http://127.0.0.1:1", Keys: []KeyConfig{{Secret: "k"}}}}}},
		Cache: CacheConfig{Enabled: true, TenantScope: "team"}})
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "cache.tenant_scope", ce.Field)
}

// The tenant and principal never reach the upstream.
func TestTenantAndPrincipalAreNotSentUpstream(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	r.ask(det("hello"), WithTenant("tenant-canary-7781"), WithPrincipal("principal-canary-9923"))
	recs := r.chat.Requests()
	require.Len(t, recs, 1)
	for _, s := range []string{"tenant-canary-7781", "principal-canary-9923"} {
		assert.NotContains(t, string(recs[0].Body), s)
		for k, v := range recs[0].Header {
			assert.NotContains(t, v, s, "header %s", k)
		}
	}
}
