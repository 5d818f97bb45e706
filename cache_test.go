package switchyard

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cacheRig is an instance with the cache on: provider "chat" (an OpenAI
// simulator) and provider "emb" (another one, for embeddings), so each
// simulator's call count is one kind of call.
type cacheRig struct {
	*harness
	chat, emb *sim.Server
}

const embedModel = "text-embedding-3-small"

// semanticRoute embeds prompts with "emb" as 3-dimensional vectors: the
// simulator's vectors are hash-seeded, so in 3 dimensions different prompts
// have cosines spread over [-1, 1], and the tests can pick prompts above and
// below a threshold.
var semanticRoute = EmbeddingRoute{Provider: "emb", Model: embedModel, Dimensions: 3}

// wideRoute embeds prompts as 64-dimensional vectors: different prompts are
// practically orthogonal, so only a prompt's own text is similar to it.
var wideRoute = EmbeddingRoute{Provider: "emb", Model: embedModel, Dimensions: 64}

func newCacheRig(t *testing.T, cc CacheConfig, manual bool) *cacheRig {
	t.Helper()
	chat, emb := startOpenAI(t), startOpenAI(t)
	cc.Enabled = true
	cfg := Config{Providers: []ProviderConfig{openaiProvider("chat", chat), openaiProvider("emb", emb)}, Cache: cc,
		Retry: RetryConfig{MaxAttempts: 1}}
	return &cacheRig{harness: newHarness(t, cfg, manual), chat: chat, emb: emb}
}

// det is a deterministic (temperature 0) chat request for "chat".
func det(text string) *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{Provider: "chat"}, Model: "gpt-test", Temperature: new(0.0),
		Messages: []messages.Message{{Role: messages.RoleUser, Content: text}}}
}

func (r *cacheRig) status() *messages.CacheStatus {
	r.t.Helper()
	st, err := r.sy.CacheStatus(context.Background())
	require.NoError(r.t, err, "CacheStatus")
	return st
}

func (r *cacheRig) ask(req *messages.ChatRequest, opts ...CallOption) *messages.ChatResponse {
	r.t.Helper()
	resp, err := r.sy.Chat(context.Background(), req, opts...)
	require.NoError(r.t, err, "Chat")
	return resp
}

func (r *cacheRig) wantChatCalls(n int) {
	r.t.Helper()
	require.Equal(r.t, n, r.chat.Calls(), "upstream chat calls")
}

// indexed waits until the semantic layer holds vectors in n scopes (a
// prompt's embedding may arrive after its answer was stored).
func (r *cacheRig) indexed(n int) {
	r.t.Helper()
	eventually(r.t, fmt.Sprintf("vectors in %d scopes", n), func() bool { return r.status().Scopes == n })
}

func wantCached(t *testing.T, m *messages.Meta, sim float64) {
	t.Helper()
	require.True(t, m.Cached, "meta %+v: want a cached answer with similarity %v", m, sim)
	require.False(t, math.Abs(m.Similarity-sim) > 1e-4, "meta %+v: want a cached answer with similarity %v", m, sim)
	require.Equal(t, 0, m.Attempts, "meta %+v: want a cached answer with similarity %v", m, sim)
	require.NotEqual(t, "", m.RequestID, "meta %+v: want a cached answer with similarity %v", m, sim)
}

func cacheHits(h *harness) []*messages.CacheHit {
	var out []*messages.CacheHit
	for _, e := range h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.CacheHit); return ok }) {
		out = append(out, e.(*messages.CacheHit))
	}
	return out
}

func TestCacheExactHit(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	first := r.ask(det("hello cache"))
	require.False(t, first.Cached, "first answer %+v", first.Meta)
	require.Equal(t, 1, first.Attempts, "first answer %+v", first.Meta)
	second := r.ask(det("hello cache"), WithPriority(High), WithKey("a"))
	r.wantChatCalls(1)
	wantCached(t, &second.Meta, 1)
	require.Equal(t, first.Content, second.Content, "cached answer %q (%s) vs first %q (%s)", second.Content, second.RequestID, first.Content, first.RequestID)
	require.NotEqual(t, first.RequestID, second.RequestID, "cached answer %q (%s) vs first %q (%s)", second.Content, second.RequestID, first.Content, first.RequestID)
	require.Equal(t, first.ID, second.ID, "cached answer %q (%s) vs first %q (%s)", second.Content, second.RequestID, first.Content, first.RequestID)
	require.False(t, first.Cached, "the hit changed the first caller's response")
	require.Equal(t, float64(0), first.Similarity, "the hit changed the first caller's response")
	// Another question, and embeddings, are cached by their own keys.
	require.False(t, r.ask(det("hello again")).Cached, "another question was a hit")
	r.wantChatCalls(2)
	emb := &messages.EmbedRequest{Call: messages.Call{Provider: "emb"}, Model: embedModel, Inputs: []string{"x", "y"}}
	e1, err := r.sy.Embed(context.Background(), emb)
	require.NoError(t, err)
	emb2 := *emb
	emb2.RequestID = ""
	e2, err := r.sy.Embed(context.Background(), &emb2)
	require.NoError(t, err)
	require.Equal(t, 1, r.emb.Calls(), "embed: calls %d, second %+v", r.emb.Calls(), e2.Meta)
	require.True(t, e2.Cached, "embed: calls %d, second %+v", r.emb.Calls(), e2.Meta)
	require.Len(t, e2.Vectors, 2, "embed: calls %d, second %+v", r.emb.Calls(), e2.Meta)
	require.Equal(t, e1.Vectors[1][0], e2.Vectors[1][0], "embed: calls %d, second %+v", r.emb.Calls(), e2.Meta)
	st := r.status()
	require.Equal(t, uint64(2), st.Hits, "status %+v", st)
	require.Equal(t, uint64(3), st.Misses, "status %+v", st)
	require.Equal(t, uint64(3), st.Stores, "status %+v", st)
	require.Equal(t, 3, st.Entries, "status %+v", st)
	require.Equal(t, uint64(0), st.SemanticHits, "status %+v", st)
	require.Equal(t, 0, st.InFlight, "status %+v", st)
	require.Len(t, st.LastHits, 2, "last hits")
	require.Equal(t, second.RequestID, st.LastHits[0].RequestID, "last hits")
	require.True(t, st.LastHits[0].Exact, "last hits")
	hits := cacheHits(r.harness)
	require.Len(t, hits, 2, "hit events")
	require.Equal(t, second.RequestID, hits[0].RequestID, "hit events")
	require.True(t, hits[0].Exact, "hit events")
	require.Equal(t, float64(1), hits[0].Similarity, "hit events")
	require.Equal(t, "gpt-test", hits[0].Model, "hit events")
}

// embedAll returns the "emb" simulator's vectors for texts, through the
// same route the cache uses.
func (r *cacheRig) embedAll(texts []string) [][]float32 {
	r.t.Helper()
	resp, err := r.sy.Embed(context.Background(), &messages.EmbedRequest{Call: messages.Call{Provider: "emb"}, Model: embedModel,
		Inputs: texts, Dimensions: semanticRoute.Dimensions}, NoCache())
	require.NoError(r.t, err)
	return resp.Vectors
}

func cosine(a, b []float32) float64 {
	var d, na, nb float64
	for i := range a {
		d += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return d / math.Sqrt(na*nb)
}

// similarPrompts finds, among variants of base, one whose embedding's
// cosine with base's is in [nearMin, 1) and one in [farMin, farMax).
func (r *cacheRig) similarPrompts(base string, nearMin, farMin, farMax float64) (near, far string, nearCos, farCos float64) {
	r.t.Helper()
	texts := []string{base}
	for i := 0; i < 400; i++ {
		texts = append(texts, fmt.Sprintf("%s (variant %d)", base, i))
	}
	vecs := r.embedAll(texts)
	for i := 1; i < len(texts); i++ {
		c := cosine(vecs[0], vecs[i])
		switch {
		case near == "" && c >= nearMin && c < 0.9999:
			near, nearCos = texts[i], c
		case far == "" && c >= farMin && c < farMax:
			far, farCos = texts[i], c
		}
	}
	require.NotEqual(r.t, "", near, "no variant of %q in the cosine ranges (near %q, far %q)", base, near, far)
	require.NotEqual(r.t, "", far, "no variant of %q in the cosine ranges (near %q, far %q)", base, near, far)
	return near, far, nearCos, farCos
}

// A prompt whose embedding is at least Threshold similar to a stored one in
// the same scope is answered from it, with its similarity; one below is not.
func TestCacheSemanticThreshold(t *testing.T) {
	r := newCacheRig(t, CacheConfig{Embedding: semanticRoute}, false)
	base := "what does a circuit breaker do"
	near, far, nearCos, farCos := r.similarPrompts(base, 0.97, 0.85, 0.93)
	embCalls := r.emb.Calls()

	first := r.ask(det(base))
	require.False(t, first.Cached, "first %+v %q", first.Meta, first.Content)
	require.Equal(t, "echo: "+base, first.Content, "first %+v %q", first.Meta, first.Content)
	r.indexed(1)
	hit := r.ask(det(near))
	r.wantChatCalls(1)
	wantCached(t, &hit.Meta, nearCos)
	require.Equal(t, first.Content, hit.Content, "semantic hit content %q, want the stored %q", hit.Content, first.Content)
	miss := r.ask(det(far))
	r.wantChatCalls(2)
	require.False(t, miss.Cached, "cosine %.3f < 0.95 was served from the cache: %+v", farCos, miss.Meta)
	require.Equal(t, "echo: "+far, miss.Content, "cosine %.3f < 0.95 was served from the cache: %+v", farCos, miss.Meta)
	got := r.emb.Calls() - embCalls
	require.Equal(t, 3, got, "%d embedding calls for three lookups", got)
	// A semantic hit stores nothing under the near prompt's own key: asked
	// again, it is another semantic hit (another embedding) at the same
	// similarity, never an "exact" one.
	again := r.ask(det(near))
	wantCached(t, &again.Meta, nearCos)
	require.Equal(t, 4, r.emb.Calls()-embCalls, "%d embedding calls for four lookups", r.emb.Calls()-embCalls)
	st := r.status()
	require.Equal(t, uint64(2), st.SemanticHits, "status %+v", st)
	require.Equal(t, uint64(0), st.Hits, "status %+v", st)
	require.Equal(t, uint64(2), st.Misses, "status %+v", st)
	require.Equal(t, 2, st.Entries, "status %+v", st)
	require.Equal(t, uint64(0), st.EmbedErrors, "status %+v", st)
	require.Equal(t, 1, st.Scopes, "status %+v", st)
	require.True(t, st.Semantic, "status %+v", st)
	hits := cacheHits(r.harness)
	require.Len(t, hits, 2, "hit events")
	require.False(t, hits[0].Exact, "hit events")
	require.False(t, math.Abs(hits[0].Similarity-nearCos) > 1e-4, "hit events")

	// With a lower threshold the far prompt's cosine is enough.
	low := newCacheRig(t, CacheConfig{Embedding: semanticRoute, Threshold: 0.8}, false)
	low.ask(det(base))
	low.indexed(1)
	resp := low.ask(det(far))
	low.wantChatCalls(1)
	wantCached(t, &resp.Meta, farCos)
}

// The semantic layer never answers across scopes: the same final question
// with another model, system prompt, tools, temperature, history, stream
// flag or provider is a miss, even at cosine 1.
func TestCacheNoHitAcrossScopes(t *testing.T) {
	r := newCacheRig(t, CacheConfig{Embedding: wideRoute}, false)
	const q = "how do retries with backoff work"
	r.ask(det(q))
	r.indexed(1)
	variants := map[string]func(*messages.ChatRequest) []CallOption{
		"model":  func(c *messages.ChatRequest) []CallOption { c.Model = "gpt-other"; return nil },
		"system": func(c *messages.ChatRequest) []CallOption { c.System = "answer in French"; return nil },
		"tools": func(c *messages.ChatRequest) []CallOption {
			c.Tools = []messages.Tool{{Name: "lookup", Parameters: json.RawMessage(`{"type":"object"}`)}}
			return nil
		},
		"temperature": func(c *messages.ChatRequest) []CallOption {
			c.Temperature = new(0.5)
			return []CallOption{CacheSampled()}
		},
		"max tokens": func(c *messages.ChatRequest) []CallOption { c.MaxTokens = 50; return nil },
		"history": func(c *messages.ChatRequest) []CallOption {
			c.Messages = append([]messages.Message{{Role: messages.RoleUser, Content: "hi"}, {Role: messages.RoleAssistant, Content: "hello"}}, c.Messages...)
			return nil
		},
	}
	calls := 1
	for name, mutate := range variants {
		req := det(q)
		opts := mutate(req)
		resp := r.ask(req, opts...)
		calls++
		require.False(t, resp.Cached, "%s: served across scopes (similarity %v)", name, resp.Similarity)
		r.wantChatCalls(calls)
	}
	// A stream of the same question is another scope too.
	st, err := r.sy.ChatStream(context.Background(), det(q))
	require.NoError(t, err)
	collect(t, st)
	require.NoError(t, st.Err(), "stream: %v %+v", st.Err(), st.Response())
	require.False(t, st.Response().ResponseMeta().Cached, "stream: %v %+v", st.Err(), st.Response())
	calls++
	r.wantChatCalls(calls)
	r.indexed(len(variants) + 2)
	// Control: the same question in the same scope, sent as a text part
	// (another exact key), is a semantic hit at similarity 1.
	req := det("")
	req.Messages[0].Parts = []messages.Part{{Type: messages.PartText, Text: q}}
	resp := r.ask(req)
	r.wantChatCalls(calls)
	wantCached(t, &resp.Meta, 1)
	s := r.status()
	require.Equal(t, uint64(1), s.SemanticHits, "status %+v", s)
	require.Equal(t, uint64(0), s.EmbedErrors, "status %+v", s)
}

// Sampled requests (temperature above 0 or unset) are not cached unless the
// call or the configuration opts in; NoCache bypasses the cache.
func TestCacheSamplingAndBypass(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	twice := func(name string, req func() *messages.ChatRequest, wantCalls int, opts ...CallOption) {
		t.Helper()
		before := r.chat.Calls()
		r.ask(req(), opts...)
		second := r.ask(req(), opts...)
		got := r.chat.Calls() - before
		require.Equal(t, wantCalls, got, "%s: %d upstream calls for two identical requests, want %d", name, got, wantCalls)
		require.Equal(t, wantCalls == 1, second.Cached, "%s: second answer cached=%v", name, second.Cached)
	}
	unset := func() *messages.ChatRequest { c := det("unset temperature"); c.Temperature = nil; return c }
	warm := func() *messages.ChatRequest { c := det("warm temperature"); c.Temperature = new(0.7); return c }
	twice("temperature unset", unset, 2)
	twice("temperature 0.7", warm, 2)
	twice("temperature 0.7 opted in", warm, 1, CacheSampled())
	twice("temperature 0", func() *messages.ChatRequest { return det("cold") }, 1)
	twice("temperature 0, NoCache", func() *messages.ChatRequest { return det("cold") }, 2, NoCache())
	st := r.status()
	require.Equal(t, uint64(6), st.Bypassed, "status %+v", st)
	require.Equal(t, uint64(2), st.Stores, "status %+v", st)
	all := newCacheRig(t, CacheConfig{CacheSampled: true}, false)
	all.ask(unset())
	require.True(t, all.ask(unset()).Cached, "Config.Cache.CacheSampled should cache a request with the default temperature")
	require.Equal(t, 1, all.chat.Calls(), "Config.Cache.CacheSampled should cache a request with the default temperature")
}

// An answer with tool calls is stored and shared only with requests that
// opted in.
func TestCacheToolCallAnswers(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	req := func() *messages.ChatRequest {
		c := det("what is the weather in Paris")
		c.Tools = []messages.Tool{{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}}
		return c
	}
	a, b := r.ask(req()), r.ask(req())
	require.Len(t, a.ToolCalls, 1, "without the opt-in a tool call was served from the cache: %+v %+v", a.ToolCalls, b.Meta)
	require.False(t, b.Cached, "without the opt-in a tool call was served from the cache: %+v %+v", a.ToolCalls, b.Meta)
	require.NotEqual(t, b.ToolCalls[0].ID, a.ToolCalls[0].ID, "without the opt-in a tool call was served from the cache: %+v %+v", a.ToolCalls, b.Meta)
	r.wantChatCalls(2)
	c, d := r.ask(req(), CacheSampled()), r.ask(req(), CacheSampled())
	r.wantChatCalls(3)
	require.True(t, d.Cached, "opted in: %+v", d.Meta)
	require.Equal(t, c.ToolCalls[0].ID, d.ToolCalls[0].ID, "opted in: %+v", d.Meta)
	// The opted-in entry is not given to a request that did not opt in.
	require.False(t, r.ask(req()).Cached, "a stored tool call was given to a request without the opt-in")
	r.wantChatCalls(4)
}

func TestCacheTTL(t *testing.T) {
	r := newCacheRig(t, CacheConfig{TTL: time.Minute}, true)
	r.ask(det("short lived"))
	r.clk.Advance(59 * time.Second)
	require.True(t, r.ask(det("short lived")).Cached, "expired before its TTL")
	r.clk.Advance(time.Second)
	require.False(t, r.ask(det("short lived")).Cached, "served at its TTL")
	r.wantChatCalls(2)
	st := r.status()
	require.Equal(t, uint64(1), st.Expired, "status %+v", st)
	require.Equal(t, 1, st.Entries, "status %+v", st)
	// The sweep drops expired entries nobody asks for.
	r.clk.Advance(61 * time.Second)
	eventually(t, "the sweep", func() bool { st := r.status(); return st.Entries == 0 && st.Expired == 2 })
	st = r.status()
	require.Equal(t, uint64(0), st.Evictions, "expiry counted as eviction: %+v", st)
}

func TestCacheEviction(t *testing.T) {
	r := newCacheRig(t, CacheConfig{MaxEntries: 2, Embedding: wideRoute}, false)
	for _, q := range []string{"alpha question", "bravo question", "charlie question"} {
		r.ask(det(q))
		r.indexed(1)
	}
	st := r.status()
	require.Equal(t, uint64(1), st.Evictions, "status %+v", st)
	require.Equal(t, 2, st.Entries, "status %+v", st)
	require.False(t, r.ask(det("alpha question")).Cached, "the least recently used entry was not evicted (or its vector survived it)")
	require.True(t, r.ask(det("charlie question")).Cached, "a recent entry was evicted")
	r.wantChatCalls(4)
}

// A cached stream replays as a stream: the same chunks in order, then the
// terminal answer marked cached.
func TestCacheStreamReplay(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	const q = "tell me a story about seven small foxes in the snow"
	st1, err := r.sy.ChatStream(context.Background(), det(q))
	require.NoError(t, err)
	text1, chunks1 := collect(t, st1)
	require.NoError(t, st1.Err(), "first stream: %v, %d chunks", st1.Err(), len(chunks1))
	require.GreaterOrEqual(t, len(chunks1), 3, "first stream: %v, %d chunks", st1.Err(), len(chunks1))
	st2, err := r.sy.ChatStream(context.Background(), det(q))
	require.NoError(t, err)
	text2, chunks2 := collect(t, st2)
	require.NoError(t, st2.Err(), "replay: %v, %q vs %q", st2.Err(), text2, text1)
	require.Equal(t, text1, text2, "replay: %v, %q vs %q", st2.Err(), text2, text1)
	require.Len(t, chunks1, len(chunks2), "replay: %v, %q vs %q", st2.Err(), text2, text1)
	for i, c := range chunks2 {
		require.Equal(t, i, c.Seq, "replayed chunk %d: %+v (original %+v)", i, c, chunks1[i])
		require.Equal(t, st2.RequestID(), c.RequestID, "replayed chunk %d: %+v (original %+v)", i, c, chunks1[i])
		require.Equal(t, chunks1[i].Type, c.Type, "replayed chunk %d: %+v (original %+v)", i, c, chunks1[i])
		require.Equal(t, chunks1[i].Text, c.Text, "replayed chunk %d: %+v (original %+v)", i, c, chunks1[i])
	}
	final := st2.Response().(*messages.ChatResponse)
	wantCached(t, &final.Meta, 1)
	require.Equal(t, text1, final.Content, "final %+v", final)
	require.Equal(t, st2.RequestID(), final.RequestID, "final %+v", final)
	r.wantChatCalls(1)
	// A non-stream request is another key: a stream entry cannot answer it.
	require.False(t, r.ask(det(q)).Cached, "a stream entry answered a plain request")
	r.wantChatCalls(2)
}

// Failures and cut streams are never stored.
func TestCacheStoresOnlyCompleteSuccesses(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	r.chat.Inject(sim.Fault{Status: 500})
	_, err := r.sy.Chat(context.Background(), det("fails once"))
	require.Error(t, err, "the injected 500 did not fail the call")
	require.False(t, r.ask(det("fails once")).Cached, "served after a failure")
	r.wantChatCalls(2)

	const q = "a fairly long answer please with many words in it"
	r.chat.Inject(sim.Fault{CutAfter: 3})
	st, err := r.sy.ChatStream(context.Background(), det(q))
	require.NoError(t, err)
	_, cut := collect(t, st)
	var ue *messages.UpstreamError
	require.ErrorAs(t, st.Err(), &ue, "want a cut stream, got %v after %d chunks", st.Err(), len(cut))
	require.Equal(t, messages.ClassStreamCut, ue.Class, "want a cut stream, got %v after %d chunks", st.Err(), len(cut))
	require.NotEqual(t, 0, len(cut), "want a cut stream, got %v after %d chunks", st.Err(), len(cut))
	st, err = r.sy.ChatStream(context.Background(), det(q))
	require.NoError(t, err)
	text, _ := collect(t, st)
	require.NoError(t, st.Err(), "after a cut: %v %q", st.Err(), text)
	require.False(t, st.Response().ResponseMeta().Cached, "after a cut: %v %q", st.Err(), text)
	require.True(t, strings.HasPrefix(text, "echo:"), "after a cut: %v %q", st.Err(), text)
	r.wantChatCalls(4)
	s := r.status()
	require.Equal(t, uint64(2), s.Stores, "status %+v: a failure or a cut stream was stored", s)
	require.Equal(t, 2, s.Entries, "status %+v: a failure or a cut stream was stored", s)
}

type chatResult struct {
	resp *messages.ChatResponse
	err  error
}

// Identical concurrent requests make one upstream call; every caller gets
// the answer with its own request ID.
func TestCacheSingleFlight(t *testing.T) {
	const n = 5
	r := newCacheRig(t, CacheConfig{}, false)
	r.chat.Hold()
	out := make(chan chatResult, n)
	for i := 0; i < n; i++ {
		go func() {
			resp, err := r.sy.Chat(context.Background(), det("everyone asks this"))
			out <- chatResult{resp, err}
		}()
	}
	eventually(t, "one leader and its followers", func() bool {
		st := r.status()
		return st.InFlight == 1 && st.Followers == n-1
	})
	r.chat.Release()
	ids, cached := map[string]bool{}, 0
	for i := 0; i < n; i++ {
		res := <-out
		require.NoError(t, res.err)
		ids[res.resp.RequestID] = true
		if res.resp.Cached {
			cached++
			wantCached(t, &res.resp.Meta, 1)
		}
		require.Equal(t, "echo: everyone asks this", res.resp.Content, "content")
	}
	r.wantChatCalls(1)
	require.Len(t, ids, n, "%d distinct request IDs, %d cached", len(ids), cached)
	require.Equal(t, n-1, cached, "%d distinct request IDs, %d cached", len(ids), cached)
	st := r.status()
	require.Equal(t, uint64(n-1), st.Coalesced, "status %+v", st)
	require.Equal(t, 0, st.InFlight, "status %+v", st)
	require.Equal(t, 0, st.Followers, "status %+v", st)

	// Streams too: the followers get the leader's chunks replayed.
	r.chat.Hold()
	type streamed struct {
		text string
		err  error
		resp messages.Response
	}
	sout := make(chan streamed, 3)
	for i := 0; i < 3; i++ {
		go func() {
			st, err := r.sy.ChatStream(context.Background(), det("a streamed answer for three"))
			if err != nil {
				sout <- streamed{err: err}
				return
			}
			text, _ := collect(t, st)
			sout <- streamed{text, st.Err(), st.Response()}
		}()
	}
	eventually(t, "three streams in one flight", func() bool { st := r.status(); return st.InFlight == 1 && st.Followers == 2 })
	r.chat.Release()
	for i := 0; i < 3; i++ {
		s := <-sout
		require.NoError(t, s.err, "stream %d: %v %q", i, s.err, s.text)
		require.Equal(t, "echo: a streamed answer for three", s.text, "stream %d: %v %q", i, s.err, s.text)
	}
	r.wantChatCalls(2)
}

// When the leader's caller gives up, the next follower leads (one more
// upstream call) instead of failing; a follower that gives up leaves alone.
func TestCacheLeaderCancelPromotesFollower(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	r.chat.Hold()
	lctx, lcancel := context.WithCancel(context.Background())
	defer lcancel()
	leader := make(chan error, 1)
	go func() { _, err := r.sy.Chat(lctx, det("promote me")); leader <- err }()
	eventually(t, "the leader's call", func() bool { return r.chat.Calls() == 1 })
	out := make(chan chatResult, 2)
	for i := 0; i < 2; i++ {
		go func() { resp, err := r.sy.Chat(context.Background(), det("promote me")); out <- chatResult{resp, err} }()
	}
	fctx, fcancel := context.WithCancel(context.Background())
	quitter := make(chan error, 1)
	go func() { _, err := r.sy.Chat(fctx, det("promote me")); quitter <- err }()
	eventually(t, "three followers", func() bool { return r.status().Followers == 3 })
	fcancel()
	require.ErrorIs(t, <-quitter, context.Canceled, "cancelled follower")
	st := r.status()
	require.Equal(t, 2, st.Followers, "a follower's cancel disturbed the flight: %+v", st)
	require.Equal(t, 1, r.chat.Calls(), "a follower's cancel disturbed the flight: %+v", st)
	lcancel()
	require.ErrorIs(t, <-leader, context.Canceled, "cancelled leader")
	eventually(t, "the promoted follower's call", func() bool { return r.chat.Calls() == 2 })
	r.chat.Release()
	cached := 0
	for i := 0; i < 2; i++ {
		res := <-out
		require.NoError(t, res.err, "follower failed with its leader")
		if res.resp.Cached {
			cached++
		}
	}
	require.Equal(t, 1, cached, "%d of the two remaining followers cached, want 1 (the other led)", cached)
	st = r.status()
	require.Equal(t, uint64(2), st.Misses, "status %+v", st)
	require.Equal(t, uint64(1), st.Coalesced, "status %+v", st)
	require.Equal(t, 0, st.InFlight, "status %+v", st)
	require.Equal(t, 0, st.Followers, "status %+v", st)
}

// A failure that is not the leader caller's own reaches every follower,
// each with its own request ID.
func TestCacheFailureReachesFollowers(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	r.chat.Hold()
	r.chat.Inject(sim.Fault{Status: 400})
	out := make(chan chatResult, 3)
	ids := []string{"f-1", "f-2", "f-3"}
	for _, id := range ids {
		go func() {
			resp, err := r.sy.Chat(context.Background(), det("a bad request"), WithRequestID(id))
			out <- chatResult{resp, err}
		}()
	}
	eventually(t, "a flight of three", func() bool { return r.status().Followers == 2 })
	r.chat.Release()
	seen := map[string]bool{}
	for range ids {
		res := <-out
		var ue *messages.UpstreamError
		require.ErrorAs(t, res.err, &ue, "want the upstream's 400")
		require.Equal(t, 400, ue.Status, "want the upstream's 400")
		seen[ue.RequestID] = true
	}
	require.Len(t, seen, 3, "request IDs in errors %v, calls %d", seen, r.chat.Calls())
	require.Equal(t, 1, r.chat.Calls(), "request IDs in errors %v, calls %d", seen, r.chat.Calls())
}

// Close with held requests answers every one of them: a held call's leader
// and followers, and a request waiting for its prompt's embedding.
func TestCacheShutdownAnswersHeld(t *testing.T) {
	r := newCacheRig(t, CacheConfig{Embedding: wideRoute}, false)
	r.ask(det("warm up the scope")) // so lookups in it wait for their embedding
	r.indexed(1)
	r.chat.Hold()
	defer r.chat.Release()
	held := make(chan error, 4)
	ask := func(q string) {
		go func() { _, err := r.sy.Chat(context.Background(), det(q)); held <- err }()
	}
	ask("a held question")
	eventually(t, "the held chat call", func() bool { return r.chat.Calls() == 2 })
	ask("a held question")
	ask("a held question")
	eventually(t, "two followers", func() bool { return r.status().Followers == 2 })
	r.emb.Hold()
	defer r.emb.Release()
	ask("a question waiting for its embedding")
	eventually(t, "a lookup", func() bool { return r.status().InFlight == 2 && r.emb.Calls() == 3 })
	require.Equal(t, 2, r.chat.Calls(), "the lookup should wait for its embedding")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, r.sy.Close(ctx), context.DeadlineExceeded, "Close")
	for i := 0; i < 4; i++ {
		select {
		case err := <-held:
			require.ErrorIs(t, err, ErrShuttingDown, "held request")
		case <-time.After(5 * time.Second):
			require.Fail(t, "held requests unanswered", "%d of 4 held requests answered", i)
		}
	}
}

// A graceful Close lets the held call finish and answers its followers.
func TestCacheCloseGraceful(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	r.chat.Hold()
	out := make(chan chatResult, 2)
	for i := 0; i < 2; i++ {
		go func() { resp, err := r.sy.Chat(context.Background(), det("finish me")); out <- chatResult{resp, err} }()
	}
	eventually(t, "a flight of two", func() bool { return r.status().Followers == 1 && r.chat.Calls() == 1 })
	closed := make(chan error, 1)
	go func() { closed <- r.sy.Close(context.Background()) }()
	eventually(t, "Close to begin", func() bool {
		r.sy.mu.RLock()
		defer r.sy.mu.RUnlock()
		return r.sy.closed
	})
	_, err := r.sy.Chat(context.Background(), det("late"))
	require.ErrorIs(t, err, ErrShuttingDown, "a request during Close")
	r.chat.Release()
	for i := 0; i < 2; i++ {
		require.NoError(t, (<-out).err, "held request")
	}
	require.NoError(t, <-closed, "Close")
}

// cacheCaller is an actor that asks the cache and forwards what it gets.
type cacheCaller struct {
	cache *actor.PID
	reqs  []messages.Request
	got   chan any
}

func (c *cacheCaller) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		for _, r := range c.reqs {
			ctx.Request(c.cache, r)
		}
	case *messages.StreamChunk, *messages.Failure, messages.Response:
		c.got <- m
	}
}

// Actors use Cache() like Dispatcher(): a stream's chunks and its answer
// come back as messages, a cached one replayed the same way; requests the
// cache does not handle are forwarded.
func TestCacheActorAPI(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, false)
	require.NotNil(t, r.sy.Cache(), "no cache PID")
	mk := func(id string) *messages.ChatRequest {
		c := det("stream this to an actor please")
		c.Stream, c.RequestID = true, id
		return c
	}
	run := func(reqs ...messages.Request) (map[string][]string, map[string]any) {
		got := make(chan any, 100)
		pid := r.sy.ActorSystem().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &cacheCaller{cache: r.sy.Cache(), reqs: reqs, got: got}
		}))
		defer r.sy.ActorSystem().Root.Stop(pid)
		chunks, final := map[string][]string{}, map[string]any{}
		timeout := time.After(10 * time.Second)
		for len(final) < len(reqs) {
			select {
			case m := <-got:
				switch v := m.(type) {
				case *messages.StreamChunk:
					require.True(t, final[v.RequestID] == nil, "a chunk after its terminal answer")
					require.Len(t, chunks[v.RequestID], v.Seq, "chunk out of order: %+v", v)
					chunks[v.RequestID] = append(chunks[v.RequestID], v.Text)
				case *messages.Failure:
					final[v.RequestID] = v
				case messages.Response:
					final[v.ResponseMeta().RequestID] = v
				}
			case <-timeout:
				require.Fail(t, "answers missing", "answers so far %v", final)
			}
		}
		return chunks, final
	}
	chunks1, final := run(mk("actor-1"))
	first, ok := final["actor-1"].(*messages.ChatResponse)
	require.True(t, ok, "first: %+v", final["actor-1"])
	require.False(t, first.Cached, "first: %+v", final["actor-1"])
	require.GreaterOrEqual(t, len(chunks1["actor-1"]), 2, "first: %+v", final["actor-1"])
	models := &messages.ModelsRequest{Call: messages.Call{Provider: "chat", RequestID: "actor-models"}}
	chunks, final := run(mk("actor-2"), models)
	second, ok := final["actor-2"].(*messages.ChatResponse)
	require.True(t, ok, "replay to an actor: %+v %v", final["actor-2"], chunks)
	require.True(t, second.Cached, "replay to an actor: %+v %v", final["actor-2"], chunks)
	require.Equal(t, strings.Join(chunks1["actor-1"], ""), strings.Join(chunks["actor-2"], ""), "replay to an actor: %+v %v", final["actor-2"], chunks)
	require.Equal(t, first.Content, second.Content, "replay to an actor: %+v %v", final["actor-2"], chunks)
	_, ok = final["actor-models"].(*messages.ModelsResponse)
	require.True(t, ok, "a forwarded request: %+v", final["actor-models"])
	r.wantChatCalls(2) // one chat call, one models call
}

func TestCacheConfigValidation(t *testing.T) {
	srv := startOpenAI(t)
	an := startAnthropic(t)
	providers := []ProviderConfig{openaiProvider("oa", srv), anthropicProvider("an", an)}
	for _, c := range []struct {
		cache CacheConfig
		field string
	}{
		{CacheConfig{Enabled: true, Threshold: 1.5}, "cache.threshold"},
		{CacheConfig{Enabled: true, Threshold: -0.1}, "cache.threshold"},
		{CacheConfig{Enabled: true, Threshold: math.NaN()}, "cache.threshold"},
		{CacheConfig{Enabled: true, TTL: -time.Second}, "cache.ttl"},
		{CacheConfig{Enabled: true, MaxEntries: -1}, "cache.max_entries"},
		{CacheConfig{Enabled: true, Embedding: EmbeddingRoute{Provider: "nope", Model: "m"}}, "cache.embedding.provider"},
		{CacheConfig{Enabled: true, Embedding: EmbeddingRoute{Provider: "an", Model: "m"}}, "cache.embedding.provider"},
		{CacheConfig{Enabled: true, Embedding: EmbeddingRoute{Model: "m"}}, "cache.embedding.provider"},
		{CacheConfig{Enabled: true, Embedding: EmbeddingRoute{Provider: "oa", Model: "m", Dimensions: -1}}, "cache.embedding.dimensions"},
	} {
		_, err := New(Config{Providers: providers, Cache: c.cache})
		var ce *ConfigError
		if assert.ErrorAs(t, err, &ce, "%+v: got %v, want an error naming %s", c.cache, err, c.field) {
			assert.Equal(t, c.field, ce.Field, "%+v: got %v, want an error naming %s", c.cache, err, c.field)
		}
	}
	sy, err := New(Config{Providers: providers, Cache: CacheConfig{Enabled: true, Threshold: 1, Embedding: EmbeddingRoute{Provider: "oa", Model: embedModel}}})
	require.NoError(t, err)
	require.NoError(t, sy.Close(context.Background()))
	cfg, err := Parse([]byte("providers: [{kind: openai}]\ncache: {enabled: true, ttl: 10m, max_entries: 5, threshold: 0.9, cache_sampled: true, embedding: {provider: openai, model: m, dimensions: 3}}\n"))
	require.NoError(t, err)
	want := CacheConfig{Enabled: true, TTL: 10 * time.Minute, MaxEntries: 5, Threshold: 0.9, CacheSampled: true,
		Embedding: EmbeddingRoute{Provider: "openai", Model: "m", Dimensions: 3}}
	require.True(t, cfg.Cache == want, "parsed")
	// Without the cache there is no cache actor and calls go to the dispatcher.
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("chat", srv)}}, false)
	require.Nil(t, h.sy.Cache(), "a cache PID without the cache")
	_, err = h.sy.CacheStatus(context.Background())
	require.Error(t, err, "CacheStatus without the cache")
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = h.sy.Chat(context.Background(), det("no cache here")) }()
	}
	wg.Wait()
	require.Equal(t, 2, srv.Calls(), "calls")
}

// The exactly-one-answer test with the cache in front, over every HTTP
// backend: many identical requests at once (single flights with streams,
// failures, cancellations, deadlines and key-actor panics), a semantic
// layer whose embeddings fail now and then, random faults.
func TestCacheAnswersExactlyOnce(t *testing.T) {
	const perBackend, distinct = 60, 5
	rng := rand.New(rand.NewPCG(11, 12))
	var servers []*sim.Server
	auditSink := &memorySink{}
	cfg := Config{Cache: CacheConfig{Enabled: true, Embedding: EmbeddingRoute{Provider: "openai", Model: embedModel}},
		Audit: AuditConfig{Sink: auditSink}}
	for _, b := range httpBackends {
		srv := b.start()
		t.Cleanup(srv.Close)
		servers = append(servers, srv)
		cfg.Providers = append(cfg.Providers, ProviderConfig{Name: b.kind, Kind: b.kind, Endpoints: []EndpointConfig{
			b.endpointOf("e1", srv, b.key("k1", b.secret, 3), b.key("k2", b.secret+"x", 3))}})
	}
	var panics atomic.Int64
	cfg.hooks = &actors.Hooks{
		KeyPanic:         func(id string) bool { return strings.HasSuffix(id, "-13") && panics.Add(1) > 0 },
		KeyPanicOnResult: func(id string) bool { return strings.HasSuffix(id, "-29") && panics.Add(1) > 0 },
	}
	cfg.Retry = RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	cfg.Breaker = BreakerConfig{ConsecutiveFailures: 4, Cooldown: 20 * time.Millisecond, MaxCooldown: 60 * time.Millisecond}
	cfg.Timeouts = TimeoutsConfig{Header: 300 * time.Millisecond, StreamIdle: 100 * time.Millisecond}
	h := newHarness(t, cfg, false)

	faults := []sim.Fault{{Status: 500}, {Status: 503, Times: 2}, {Status: 400}, {Malformed: true}, {CutAfter: 2},
		{StallAfter: 1}, {HeaderDelay: 50 * time.Millisecond}, {ChunkDelay: 3 * time.Millisecond}}
	stop := make(chan struct{})
	var fw sync.WaitGroup
	fw.Add(1)
	go func() {
		defer fw.Done()
		r := rand.New(rand.NewPCG(13, 14))
		for {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
				servers[r.IntN(len(servers))].Inject(faults[r.IntN(len(faults))])
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	answers := map[string]int{}
	n := 0
	for _, b := range httpBackends {
		for i := 0; i < perBackend; i++ {
			req := b.requests(b.kind, i%distinct)
			switch r := req.(type) {
			case *messages.ChatRequest:
				r.Temperature = new(0.0)
			case *messages.GenerateRequest:
				r.Temperature = new(0.0)
			}
			call := req.CallInfo()
			call.RequestID = fmt.Sprintf("%s-%d", b.kind, i)
			call.Priority = messages.PriorityAt(rng.IntN(3))
			if rng.IntN(8) == 0 {
				call.Deadline = time.Now().Add(time.Duration(rng.IntN(100)) * time.Millisecond)
			}
			var cancelIn time.Duration
			if rng.IntN(6) == 0 {
				cancelIn = time.Duration(1+rng.IntN(20)) * time.Millisecond
			}
			startIn := time.Duration(rng.IntN(40)) * time.Millisecond
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(startIn)
				callOnce(h.sy, req, cancelIn)
				mu.Lock()
				answers[call.RequestID]++
				mu.Unlock()
			}()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cs, _ := h.sy.CacheStatus(context.Background())
		q, _ := h.sy.QueueStatus(context.Background())
		require.Fail(t, "callers hung", "%d of %d answered\ncache %+v\nqueue %+v", len(answers), n, cs, q)
	}
	close(stop)
	fw.Wait()
	for id, c := range answers {
		require.Equal(t, 1, c, "%s answered %d times", id, c)
	}
	require.Len(t, answers, n, "%d of %d answered", len(answers), n)
	require.NotContains(t, h.logs.String(), "answer dropped", "a request was answered twice")
	// The audit log names each request once: hits, followers and leaders
	// alike, and none of the cache's own embedding calls.
	audited := waitWritten(t, h.sy)
	require.Zero(t, audited.Dropped+audited.Failed, "audit records lost: %+v", audited)
	perID := auditSink.byRequestID()
	require.Len(t, perID, n, "audit records")
	for id := range answers {
		require.Equal(t, 1, perID[id], "audit records of %s", id)
	}
	cs, err := h.sy.CacheStatus(context.Background())
	require.NoError(t, err, "cache left requests behind: %+v %v", cs, err)
	require.Equal(t, 0, cs.InFlight, "cache left requests behind: %+v %v", cs, err)
	require.Equal(t, 0, cs.Followers, "cache left requests behind: %+v %v", cs, err)
	require.NotEqual(t, uint64(0), cs.Hits+cs.Coalesced, "the cache was not exercised: %+v", cs)
	require.NotEqual(t, uint64(0), cs.Stores, "the cache was not exercised: %+v", cs)
	// Embeddings that only index stored answers may still run.
	eventually(t, "an empty queue", func() bool {
		q, err := h.sy.QueueStatus(context.Background())
		return err == nil && q.InFlight == 0 && q.Backoff == 0
	})
}

// BenchmarkCacheExactHit is one Chat answered from the exact layer, through
// the facade and the cache actor.
func BenchmarkCacheExactHit(b *testing.B) {
	srv := sim.Start(sim.OpenAI(), sim.WithoutRecords())
	defer srv.Close()
	sy, err := New(Config{Providers: []ProviderConfig{{Name: "chat", Kind: "openai", Endpoints: []EndpointConfig{{BaseURL: srv.URL + "/v1",
		Keys: []KeyConfig{{Label: "a", Secret: secretA}}}}}}, Cache: CacheConfig{Enabled: true}})
	require.NoError(b, err)
	defer sy.Close(context.Background())
	_, err = sy.Chat(context.Background(), det("a benchmark question"))
	require.NoError(b, err)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := sy.Chat(context.Background(), det("a benchmark question"))
			require.NoError(b, err, "%v %+v", err, resp)
			require.True(b, resp.Cached, "%v %+v", err, resp)
		}
	})
	require.Equal(b, 1, srv.Calls(), "calls")
}

// A semantic lookup whose embedding call does not come back within
// LookupTimeout lets its request go upstream as a miss.
func TestCacheSlowEmbeddingRouteIsAMiss(t *testing.T) {
	r := newCacheRig(t, CacheConfig{Embedding: wideRoute, LookupTimeout: 100 * time.Millisecond}, false)
	r.ask(det("what does a circuit breaker do"))
	r.indexed(1)
	r.emb.Hold()
	defer r.emb.Release()
	done := make(chan *messages.ChatResponse, 1)
	go func() {
		resp, err := r.sy.Chat(context.Background(), det("how long does a breaker stay open"))
		assert.NoError(t, err)
		done <- resp
	}()
	select {
	case resp := <-done:
		if resp != nil {
			require.False(t, resp.Cached, "answered from the cache: %+v", resp.Meta)
		}
	case <-time.After(10 * time.Second):
		require.Fail(t, "a held embedding route held the caller")
	}
	r.wantChatCalls(2)
	st := r.status()
	assert.Equal(t, uint64(1), st.EmbedErrors, "status %+v, want one embedding error", st)
}

// A follower waiting for an identical request's answer is bounded by its
// own WithTimeout, measured on the runtime's clock from its arrival at the
// cache: it gets ErrDeadline while the leader still waits.
func TestCacheFollowerHonoursWithTimeout(t *testing.T) {
	r := newCacheRig(t, CacheConfig{}, true)
	r.chat.Hold()
	defer r.chat.Release()
	leader := make(chan chatResult, 1)
	go func() {
		resp, err := r.sy.Chat(context.Background(), det("slow question"))
		leader <- chatResult{resp, err}
	}()
	eventually(t, "the leader in flight", func() bool { return r.status().InFlight == 1 })
	follower := make(chan chatResult, 1)
	go func() {
		resp, err := r.sy.Chat(context.Background(), det("slow question"), WithTimeout(5*time.Second))
		follower <- chatResult{resp, err}
	}()
	eventually(t, "the follower waiting", func() bool { return r.status().Followers == 1 })
	at := r.waitTimer(5 * time.Second)
	r.clk.Set(at)
	res := <-follower
	require.ErrorIs(t, res.err, ErrDeadline)
	require.ErrorIs(t, res.err, context.DeadlineExceeded)
	require.Empty(t, leader, "the leader still waits for the upstream")
}
