package actors

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

func f64(v float64) *float64 { return &v }
func bptr(v bool) *bool      { return &v }

func baseChat() *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{Provider: "p"}, Model: "m", System: "be brief",
		Messages: []messages.Message{
			{Role: messages.RoleUser, Content: "hi"},
			{Role: messages.RoleAssistant, Content: "hello", ToolCalls: []messages.ToolCall{{ID: "c1", Name: "t", Arguments: json.RawMessage(`{"a":1}`)}}},
			{Role: messages.RoleTool, ToolCallID: "c1", Content: "42"},
			{Role: messages.RoleUser, Content: "what is a circuit breaker?"},
		},
		Tools:      []messages.Tool{{Name: "t", Description: "a tool", Parameters: json.RawMessage(`{"type":"object"}`)}},
		ToolChoice: "auto", Temperature: f64(0), TopP: f64(0.9), MaxTokens: 64, Stop: []string{"END"},
		Extra: map[string]any{"seed": 7, "user": "u"}}
}

func chatKey(t *testing.T, r *messages.ChatRequest) cacheLookup {
	t.Helper()
	class, lk := classifyForCache(r, false, true)
	require.Equal(t, cacheUse, class, "request not cacheable")
	return lk
}

// Requests that differ in any one field that reaches the upstream (or in
// the provider or pinned endpoint) get different keys; the routing fields
// do not change the key.
func TestCacheKeyCanonical(t *testing.T) {
	base := chatKey(t, baseChat())
	again := chatKey(t, baseChat())
	require.Equal(t, base.key, again.key, "identical requests got different keys")
	require.Equal(t, base.scope, again.scope, "identical requests got different keys")
	require.Len(t, base.key, 32, "key is %d bytes, want a SHA-256 digest", len(base.key))
	differ := map[string]func(r *messages.ChatRequest){
		"provider":      func(r *messages.ChatRequest) { r.Provider = "q" },
		"endpoint pin":  func(r *messages.ChatRequest) { r.Endpoint = "eu" },
		"model":         func(r *messages.ChatRequest) { r.Model = "m2" },
		"system":        func(r *messages.ChatRequest) { r.System = "be long" },
		"system moved":  func(r *messages.ChatRequest) { r.System = ""; r.Messages[0].Content = "be briefhi" },
		"role":          func(r *messages.ChatRequest) { r.Messages[0].Role = messages.RoleAssistant },
		"model|system":  func(r *messages.ChatRequest) { r.Model = "mb"; r.System = "e brief" },
		"role|content":  func(r *messages.ChatRequest) { r.Messages[0].Role = "use"; r.Messages[0].Content = "rhi" },
		"stop list":     func(r *messages.ChatRequest) { r.Stop = []string{"EN", "D"} },
		"content":       func(r *messages.ChatRequest) { r.Messages[0].Content = "hi!" },
		"content split": func(r *messages.ChatRequest) { r.Messages[0].Content = "h"; r.Messages[1].Content = "ihello" },
		"part text": func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartText, Text: "hi"}}
		},
		"part image": func(r *messages.ChatRequest) {
			r.Messages[0].Parts = []messages.Part{{Type: messages.PartImage, Data: []byte{1}}}
		},
		"tool call id":       func(r *messages.ChatRequest) { r.Messages[1].ToolCalls[0].ID = "c2" },
		"tool call args":     func(r *messages.ChatRequest) { r.Messages[1].ToolCalls[0].Arguments = json.RawMessage(`{"a":2}`) },
		"tool call name":     func(r *messages.ChatRequest) { r.Messages[1].ToolCalls[0].Name = "u" },
		"tool result id":     func(r *messages.ChatRequest) { r.Messages[2].ToolCallID = "c9" },
		"tool result error":  func(r *messages.ChatRequest) { r.Messages[2].IsError = true },
		"message dropped":    func(r *messages.ChatRequest) { r.Messages = r.Messages[1:] },
		"tool name":          func(r *messages.ChatRequest) { r.Tools[0].Name = "t2" },
		"tool description":   func(r *messages.ChatRequest) { r.Tools[0].Description = "another" },
		"tool parameters":    func(r *messages.ChatRequest) { r.Tools[0].Parameters = json.RawMessage(`{"type":"string"}`) },
		"no tools":           func(r *messages.ChatRequest) { r.Tools = nil },
		"tool choice":        func(r *messages.ChatRequest) { r.ToolChoice = "required" },
		"temperature":        func(r *messages.ChatRequest) { r.Temperature = f64(0.5); r.CacheSampled = true },
		"top_p":              func(r *messages.ChatRequest) { r.TopP = f64(1) },
		"top_p unset":        func(r *messages.ChatRequest) { r.TopP = nil },
		"max tokens":         func(r *messages.ChatRequest) { r.MaxTokens = 65 },
		"stop":               func(r *messages.ChatRequest) { r.Stop = []string{"ENDS"} },
		"extra value":        func(r *messages.ChatRequest) { r.Extra["seed"] = 8 },
		"extra key":          func(r *messages.ChatRequest) { r.Extra["seed2"] = 7 },
		"extra unset":        func(r *messages.ChatRequest) { r.Extra = nil },
		"stream":             func(r *messages.ChatRequest) { r.Stream = true },
		"last question":      func(r *messages.ChatRequest) { r.Messages[3].Content = "what is a fuse?" },
		"empty vs no stop":   func(r *messages.ChatRequest) { r.Stop = []string{""} },
		"assistant prefixed": func(r *messages.ChatRequest) { r.Messages[1].Content = "" },
	}
	seen := map[string]string{base.key: "base"}
	for name, mutate := range differ {
		r := baseChat()
		mutate(r)
		lk := chatKey(t, r)
		other, dup := seen[lk.key]
		assert.False(t, dup, "%s: same key as %s", name, other)
		seen[lk.key] = name
	}
	same := map[string]func(r *messages.ChatRequest){
		"request id":    func(r *messages.ChatRequest) { r.RequestID = "x" },
		"priority":      func(r *messages.ChatRequest) { r.Priority = messages.High },
		"deadline":      func(r *messages.ChatRequest) { r.Deadline = time.Now() },
		"key pin":       func(r *messages.ChatRequest) { r.Key = "k2" },
		"opt-in":        func(r *messages.ChatRequest) { r.CacheSampled = true },
		"negative zero": func(r *messages.ChatRequest) { r.Temperature = f64(math.Copysign(0, -1)) },
		"extra order": func(r *messages.ChatRequest) {
			r.Extra = map[string]any{"user": "u", "seed": 7}
		},
	}
	for name, mutate := range same {
		r := baseChat()
		mutate(r)
		assert.Equal(t, base.key, chatKey(t, r).key, "%s changed the key", name)
	}
}

// The scope leaves out only the last user turn; the prompt text is that turn.
func TestCacheScope(t *testing.T) {
	base := chatKey(t, baseChat())
	require.Equal(t, "what is a circuit breaker?", base.text, "scope %q text %q", base.scope, base.text)
	require.NotEqual(t, "", base.scope, "scope %q text %q", base.scope, base.text)
	require.NotEqual(t, base.key, base.scope, "scope %q text %q", base.scope, base.text)
	r := baseChat()
	r.Messages[3].Content = "what's a circuit breaker"
	lk := chatKey(t, r)
	require.Equal(t, base.scope, lk.scope, "another last question must keep the scope and change the key")
	require.NotEqual(t, base.key, lk.key, "another last question must keep the scope and change the key")
	for name, mutate := range map[string]func(r *messages.ChatRequest){
		"history":     func(r *messages.ChatRequest) { r.Messages[0].Content = "hey" },
		"model":       func(r *messages.ChatRequest) { r.Model = "m2" },
		"system":      func(r *messages.ChatRequest) { r.System = "" },
		"tools":       func(r *messages.ChatRequest) { r.Tools = nil },
		"temperature": func(r *messages.ChatRequest) { r.Temperature = f64(1); r.CacheSampled = true },
		"provider":    func(r *messages.ChatRequest) { r.Provider = "q" },
		"stream":      func(r *messages.ChatRequest) { r.Stream = true },
		"extra":       func(r *messages.ChatRequest) { r.Extra = nil },
	} {
		r := baseChat()
		mutate(r)
		assert.NotEqual(t, base.scope, chatKey(t, r).scope, "%s: same scope", name)
	}
	// Text-only parts are prompt text; an image or a tool result is not.
	r = baseChat()
	r.Messages[3] = messages.Message{Role: messages.RoleUser, Parts: []messages.Part{{Type: messages.PartText, Text: "a"}, {Type: messages.PartText, Text: "b"}}}
	lk = chatKey(t, r)
	require.Equal(t, "a\nb", lk.text, "text parts")
	require.Equal(t, base.scope, lk.scope, "text parts")
	r.Messages[3].Parts = append(r.Messages[3].Parts, messages.Part{Type: messages.PartImage, ImageURL: "http://x/i.png"})
	require.Equal(t, "", chatKey(t, r).scope, "a prompt with an image has no semantic layer")
	r = baseChat()
	r.Messages = r.Messages[:3]
	require.Equal(t, "", chatKey(t, r).scope, "a conversation ending in a tool result has no semantic layer")
	_, lk = classifyForCache(baseChat(), false, false)
	require.Equal(t, "", lk.scope, "no scope without a semantic layer")
	g := &messages.GenerateRequest{Call: messages.Call{Provider: "p"}, Model: "m", Prompt: "once", Temperature: f64(0)}
	_, a := classifyForCache(g, false, true)
	g.Prompt = "twice"
	_, b := classifyForCache(g, false, true)
	require.NotEqual(t, "", a.scope, "generate: the prompt is the semantic part")
	require.Equal(t, b.scope, a.scope, "generate: the prompt is the semantic part")
	require.NotEqual(t, b.key, a.key, "generate: the prompt is the semantic part")
	require.Equal(t, "twice", b.text, "generate: the prompt is the semantic part")
}

func TestCacheClassify(t *testing.T) {
	chat := func(mut func(*messages.ChatRequest)) messages.Request {
		r := baseChat()
		mut(r)
		return r
	}
	cases := []struct {
		name  string
		req   messages.Request
		optIn bool
		want  cacheClass
	}{
		{"temperature 0", chat(func(*messages.ChatRequest) {}), false, cacheUse},
		{"temperature unset", chat(func(r *messages.ChatRequest) { r.Temperature = nil }), false, cacheBypass},
		{"temperature 0.7", chat(func(r *messages.ChatRequest) { r.Temperature = f64(0.7) }), false, cacheBypass},
		{"temperature 0.7 opted in", chat(func(r *messages.ChatRequest) { r.Temperature = f64(0.7); r.CacheSampled = true }), false, cacheUse},
		{"temperature unset, config opt-in", chat(func(r *messages.ChatRequest) { r.Temperature = nil }), true, cacheUse},
		{"no cache", chat(func(r *messages.ChatRequest) { r.NoCache = true }), true, cacheBypass},
		{"extra not encodable", chat(func(r *messages.ChatRequest) { r.Extra["f"] = func() {} }), false, cacheBypass},
		{"generate unset", &messages.GenerateRequest{Prompt: "x"}, false, cacheBypass},
		{"generate 0", &messages.GenerateRequest{Prompt: "x", Temperature: f64(0)}, false, cacheUse},
		{"embed", &messages.EmbedRequest{Inputs: []string{"a"}}, false, cacheUse},
		{"embed no cache", &messages.EmbedRequest{Call: messages.Call{NoCache: true}, Inputs: []string{"a"}}, false, cacheBypass},
		{"rerank", &messages.RerankRequest{Query: "q", Documents: []string{"a"}}, false, cacheUse},
		{"responses", &messages.ResponsesRequest{}, false, cachePass},
		{"models", &messages.ModelsRequest{}, false, cachePass},
		{"count tokens", &messages.CountTokensRequest{}, false, cachePass},
	}
	for _, c := range cases {
		got, _ := classifyForCache(c.req, c.optIn, true)
		assert.Equal(t, c.want, got, "%s: class %v, want %v", c.name, got, c.want)
	}
	// Embed and rerank keys cover their fields.
	e1 := &messages.EmbedRequest{Model: "m", Inputs: []string{"ab", "c"}}
	e2 := &messages.EmbedRequest{Model: "m", Inputs: []string{"a", "bc"}}
	e3 := &messages.EmbedRequest{Model: "m", Inputs: []string{"ab", "c"}, Normalize: bptr(false)}
	e4 := &messages.EmbedRequest{Model: "m", Inputs: []string{"ab", "c"}, Dimensions: 3}
	r1 := &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"a"}}
	r2 := &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"a"}, TopN: 1}
	keys := map[string]bool{}
	for _, r := range []messages.Request{e1, e2, e3, e4, r1, r2} {
		_, lk := classifyForCache(r, false, true)
		require.False(t, keys[lk.key], "%T %+v: duplicate key or a semantic scope", r, r)
		require.Equal(t, "", lk.scope, "%T %+v: duplicate key or a semantic scope", r, r)
		keys[lk.key] = true
	}
}

func entryFor(key string) *cacheEntry {
	return &cacheEntry{key: key, resp: &messages.ChatResponse{Content: key}}
}

// The store evicts the least recently used entry at MaxEntries and takes its
// vector out of its scope's index; expiry follows the given clock.
func TestCacheStore(t *testing.T) {
	now := clocktest.Epoch()
	s := newCacheStore(2, time.Minute)
	s.put(entryFor("a"), "s1", unit([]float32{1, 0, 0}), now)
	s.put(entryFor("b"), "s1", unit([]float32{0, 1, 0}), now)
	require.Equal(t, 1, s.scopes(), "scopes")
	require.Equal(t, 2, s.indexes["s1"].Len(), "scopes")
	_, ok := s.get("a", now) // a is now the most recently used
	require.True(t, ok, "a missing")
	s.put(entryFor("c"), "s2", unit([]float32{0, 0, 1}), now)
	_, ok = s.get("b", now)
	require.False(t, ok, "b should have been evicted")
	require.Equal(t, uint64(1), s.evictions, "evictions")
	require.Equal(t, 2, s.len(), "entries")
	require.Equal(t, 1, s.indexes["s1"].Len(), "the evicted entry's vector is still indexed")
	_, _, ok = s.search("s1", unit([]float32{0, 1, 0}), 0.95, now)
	require.False(t, ok, "the evicted entry was found by similarity")
	e, sim, ok := s.search("s1", unit([]float32{1, 0.1, 0}), 0.95, now)
	require.True(t, ok, "search: %v %v", ok, sim)
	require.Equal(t, "a", e.key, "search: %v %v", ok, sim)
	require.False(t, sim < 0.99, "search: %v %v", ok, sim)
	_, _, ok = s.search("s2", unit([]float32{1, 0.1, 0}), 0.95, now)
	require.False(t, ok, "a hit across scopes")
	// Replacing an entry is not an eviction and keeps one vector.
	s.put(entryFor("a"), "s1", unit([]float32{1, 0, 0}), now)
	require.Equal(t, uint64(1), s.evictions, "replace: evictions %d len %d", s.evictions, s.len())
	require.Equal(t, 2, s.len(), "replace: evictions %d len %d", s.evictions, s.len())
	require.Equal(t, 1, s.indexes["s1"].Len(), "replace: evictions %d len %d", s.evictions, s.len())
	// Expiry: served until the TTL, gone at it.
	later := now.Add(time.Minute - time.Nanosecond)
	_, ok = s.get("a", later)
	require.True(t, ok, "expired early")
	_, _, ok = s.search("s1", unit([]float32{1, 0, 0}), 0.95, now.Add(time.Minute))
	require.False(t, ok, "an expired entry was found by similarity (expired")
	require.Equal(t, uint64(1), s.expired, "an expired entry was found by similarity (expired")
	require.Equal(t, 1, s.scopes(), "the emptied scope s1 should be gone: %d scopes", s.scopes())
	n := s.sweep(now.Add(time.Minute))
	require.Equal(t, 1, n, "sweep removed %d, left %d entries, %d scopes", n, s.len(), s.scopes())
	require.Equal(t, 0, s.len(), "sweep removed %d, left %d entries, %d scopes", n, s.len(), s.scopes())
	require.Equal(t, 0, s.scopes(), "sweep removed %d, left %d entries, %d scopes", n, s.len(), s.scopes())
	require.Equal(t, uint64(2), s.expired, "sweep removed %d, left %d entries, %d scopes", n, s.len(), s.scopes())
	require.Equal(t, uint64(1), s.evictions, "expiry counted as eviction")
}

func TestChunkRecorder(t *testing.T) {
	var got []*messages.StreamChunk
	ok := true
	r := &chunkRecorder{}
	emit := r.tee(func(c *messages.StreamChunk) bool { got = append(got, c); return ok })
	c := &messages.StreamChunk{Seq: 0, Text: "a"}
	emit(c)
	c.Text = "mutated by the caller"
	emit(&messages.StreamChunk{Seq: 1, Text: "b"})
	rec := r.recorded()
	require.Len(t, rec, 2, "recorded")
	require.Equal(t, "a", rec[0].Text, "recorded")
	require.True(t, r.complete(), "recorded")
	require.Len(t, got, 2, "recorded")
	ok = false
	emit(&messages.StreamChunk{Seq: 2, Text: "c"})
	require.False(t, r.complete(), "a refused chunk must mark the recording incomplete")
	require.Len(t, r.recorded(), 2, "a refused chunk must mark the recording incomplete")
}

// BenchmarkCacheKey measures the exact key and semantic scope of a typical
// chat request: the work the cache actor adds to every cacheable request.
func BenchmarkCacheKey(b *testing.B) {
	r := baseChat()
	b.ReportAllocs()
	for b.Loop() {
		class, _ := classifyForCache(r, false, true)
		require.Equal(b, cacheUse, class)
	}
}
