package actors

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"sync"

	"github.com/switchyard-ai/switchyard/messages"
)

// cacheKeyVersion separates the hashes of this encoding from any later one.
const cacheKeyVersion = "switchyard-cache-key/v1"

// cacheClass says how the cache treats a request.
type cacheClass uint8

const (
	// cachePass: not a cacheable operation; forwarded untouched.
	cachePass cacheClass = iota
	// cacheBypass: a cacheable operation kept out of the cache by its caller
	// (Call.NoCache), by sampling without the opt-in, or by a field that
	// has no canonical encoding (an Extra value JSON cannot encode).
	cacheBypass
	// cacheUse: looked up, coalesced and stored.
	cacheUse
)

// cacheLookup is what the cache knows of a cacheable request.
type cacheLookup struct {
	// key is the exact key: the SHA-256 digest of the request's canonical
	// encoding (32 bytes as a string).
	key string
	// scope is the semantic scope's digest and text the prompt text to
	// embed; scope is empty when the request has no semantic layer
	// (embeddings, rerankings, a last message that is not plain user text).
	scope, text string
	// stream: the answer is a stream (its entry keeps the chunks).
	stream bool
	// optIn: the caller (or the configuration) accepts answers that may vary
	// (sampling) and answers carrying tool calls.
	optIn     bool
	tenancy   TenantScope
	provider  string
	model     string
	operation string
}

// classifyForCache decides whether and how req is cached.
//
// Cacheable operations: chat and generate (exact and semantic layers),
// embed and rerank (exact layer). A chat or generate request is sampled,
// and so not cached unless optIn, when its Temperature is above 0 or unset:
// an unset temperature is the provider's default, which is above 0 for
// every chat service (OpenAI 1, Anthropic 1, Gemini 1, Ollama 0.8, …), so
// its answers vary from call to call.
//
// The exact key is SHA-256 over a length-prefixed canonical encoding (see
// keyWriter) of: the encoding version, the operation, Call.Provider and
// Call.Endpoint, and every field of the request that reaches the upstream —
// for chat: model, system prompt, every message (role, content, parts with
// their image bytes or URL, tool calls with IDs and arguments, tool call ID,
// error flag), tools, tool choice, temperature, top_p, max tokens, stop
// sequences, Extra (canonical JSON, keys sorted) and the Stream flag. The
// routing fields RequestID, Priority, Deadline and Key are left out (they do
// not change the answer), and so are NoCache and CacheSampled. Endpoint is
// kept: a caller who pins an endpoint asks for that deployment's answer
// (endpoints of one provider may run different builds of a model, e.g. a
// canary), so pinned and unpinned requests never share entries.
//
// The semantic scope hashes the same fields as the key except the last
// message, which must be a plain-text user turn: only that final question
// is compared by similarity, so two requests share an answer only when
// provider, endpoint, model, system prompt, tools, tool choice, sampling
// parameters, Extra, the Stream flag and the whole earlier conversation are
// equal. For generate the scope is everything but the prompt.
func classifyForCache(req messages.Request, optInAll, semantic bool) (cacheClass, cacheLookup) {
	return classifyScoped(req, optInAll, semantic, TenantScopeTenant)
}

// TenantScope says which of a request's Tenant and Principal separate
// cache entries: both the exact key and the semantic scope hash them, so
// no answer stored for one scope serves another.
type TenantScope string

// The tenant scopes.
const (
	// TenantScopeTenant (the default, also for ""): requests of different
	// tenants never share an answer; the principals of one tenant do. A
	// request without a tenant shares only with others without one, as
	// when no tenants are used.
	TenantScopeTenant TenantScope = "tenant"
	// TenantScopePrincipal: only requests of the same tenant and principal
	// share answers.
	TenantScopePrincipal TenantScope = "principal"
	// TenantScopeShared: tenants share answers (an explicit choice, for
	// tenants that see the same data).
	TenantScopeShared TenantScope = "shared"
)

// classifyScoped is classifyForCache with cache entries separated by scope.
func classifyScoped(req messages.Request, optInAll, semantic bool, scope TenantScope) (cacheClass, cacheLookup) {
	var lk cacheLookup
	lk.tenancy = scope
	switch r := req.(type) {
	case *messages.ChatRequest:
		if r == nil {
			return cachePass, lk
		}
		k, extra := lk.deterministic(&r.Call, r.Temperature, r.Extra, optInAll, "chat")
		if k == nil {
			return cacheBypass, lk
		}
		writeChatParams(k, r, extra, scope)
		// The scope is everything but the last message: it is hashed from
		// the same encoding, before the last message is added for the key.
		history, last := r.Messages, []messages.Message(nil)
		if n := len(r.Messages); n > 0 {
			history, last = r.Messages[:n-1], r.Messages[n-1:]
		}
		k.messages(history)
		if semantic {
			if text, ok := promptText(r.Messages); ok {
				lk.scope, lk.text = k.digest(), text
			}
		}
		k.messages(last)
		lk.key = k.sum()
		lk.stream, lk.provider, lk.model, lk.operation = r.Stream, r.Provider, r.Model, "chat"
	case *messages.GenerateRequest:
		if r == nil {
			return cachePass, lk
		}
		k, extra := lk.deterministic(&r.Call, r.Temperature, r.Extra, optInAll, "generate")
		if k == nil {
			return cacheBypass, lk
		}
		writeGenerateParams(k, r, extra, scope)
		if semantic && strings.TrimSpace(r.Prompt) != "" {
			lk.scope, lk.text = k.digest(), r.Prompt
		}
		k.str(r.Prompt)
		lk.key = k.sum()
		lk.stream, lk.provider, lk.model, lk.operation = r.Stream, r.Provider, r.Model, "generate"
	case *messages.EmbedRequest:
		if r == nil {
			return cachePass, lk
		}
		if r.NoCache {
			return cacheBypass, lk
		}
		k := newKeyWriter()
		k.str("embed")
		k.call(&r.Call, lk.tenancy)
		k.str(r.Model)
		k.strs(r.Inputs)
		k.int(r.Dimensions)
		k.optBool(r.Normalize)
		k.optBool(r.Truncate)
		k.bool(r.Sparse)
		k.str(r.TaskType)
		lk.key = k.sum()
		lk.optIn = optInAll || r.CacheSampled
		lk.provider, lk.model, lk.operation = r.Provider, r.Model, "embed"
	case *messages.RerankRequest:
		if r == nil {
			return cachePass, lk
		}
		if r.NoCache {
			return cacheBypass, lk
		}
		k := newKeyWriter()
		k.str("rerank")
		k.call(&r.Call, lk.tenancy)
		k.str(r.Model)
		k.str(r.Query)
		k.strs(r.Documents)
		k.int(r.TopN)
		k.bool(r.ReturnDocuments)
		lk.key = k.sum()
		lk.optIn = optInAll || r.CacheSampled
		lk.provider, lk.model, lk.operation = r.Provider, r.Model, "rerank"
	default:
		return cachePass, lk
	}
	return cacheUse, lk
}

// deterministic starts the key of a chat or generate request: a key writer
// holding the operation's name, and Extra canonically encoded; nil when the
// request bypasses the cache (NoCache, sampling without opting in, an Extra
// that cannot be encoded). It sets lk.optIn.
func (lk *cacheLookup) deterministic(call *messages.Call, temperature *float64, extra map[string]any, optInAll bool, op string) (*keyWriter, []byte) {
	lk.optIn = optInAll || call.CacheSampled
	if call.NoCache || (!lk.optIn && sampled(temperature)) {
		return nil, nil
	}
	ex, ok := canonicalExtra(extra)
	if !ok {
		return nil, nil
	}
	k := newKeyWriter()
	k.str(op)
	return k, ex
}

// sampled reports whether a temperature makes answers vary: unset (the
// provider's default, above 0 for chat services), above 0, or not a number.
func sampled(t *float64) bool { return t == nil || !(*t == 0) }

// canonicalExtra encodes Extra as JSON with sorted keys (encoding/json sorts
// map keys at every level); nil and empty maps encode alike. ok is false when
// a value cannot be encoded.
func canonicalExtra(extra map[string]any) ([]byte, bool) {
	if len(extra) == 0 {
		return nil, true
	}
	b, err := json.Marshal(extra)
	return b, err == nil
}

func writeChatParams(k *keyWriter, r *messages.ChatRequest, extra []byte, scope TenantScope) {
	k.call(&r.Call, scope)
	k.str(r.Model)
	k.str(r.System)
	k.uvarint(uint64(len(r.Tools)))
	for _, t := range r.Tools {
		k.str(t.Name)
		k.str(t.Description)
		k.bytes(t.Parameters)
	}
	k.str(r.ToolChoice)
	k.optFloat(r.Temperature)
	k.optFloat(r.TopP)
	k.int(r.MaxTokens)
	k.strs(r.Stop)
	k.bytes(extra)
	k.bool(r.Stream)
}

func writeGenerateParams(k *keyWriter, r *messages.GenerateRequest, extra []byte, scope TenantScope) {
	k.call(&r.Call, scope)
	k.str(r.Model)
	k.int(r.MaxTokens)
	k.optFloat(r.Temperature)
	k.optFloat(r.TopP)
	k.strs(r.Stop)
	k.bytes(extra)
	k.bool(r.Stream)
}

// promptText returns the text of the last message when it is a user turn of
// plain text (content, or text-only parts), the part of a chat the semantic
// layer compares.
func promptText(msgs []messages.Message) (string, bool) {
	if len(msgs) == 0 {
		return "", false
	}
	m := msgs[len(msgs)-1]
	if m.Role != messages.RoleUser || len(m.ToolCalls) > 0 || m.ToolCallID != "" || m.IsError {
		return "", false
	}
	text := m.Content
	if len(m.Parts) > 0 {
		var b strings.Builder
		for i, p := range m.Parts {
			if p.Type != messages.PartText {
				return "", false
			}
			if i > 0 {
				b.WriteByte('\n')
			}
			b.WriteString(p.Text)
		}
		text = b.String()
	}
	if strings.TrimSpace(text) == "" {
		return "", false
	}
	return text, true
}

// keyWriter builds a canonical encoding and hashes it with SHA-256. Every
// variable-length field is length-prefixed (uvarint) and every optional one
// carries a presence byte, so no two different field sequences encode to
// the same bytes; the field order is fixed per operation.
type keyWriter struct{ b []byte }

// keyBufs recycles encoding buffers (the cache actor hashes every cacheable
// request); buffers grown past 64 KiB (inline images) are not kept.
var keyBufs = sync.Pool{New: func() any { return &keyWriter{b: make([]byte, 0, 2048)} }}

func newKeyWriter() *keyWriter {
	k := keyBufs.Get().(*keyWriter)
	k.b = k.b[:0]
	k.str(cacheKeyVersion)
	return k
}

// digest returns the digest of what k holds so far; k stays usable.
func (k *keyWriter) digest() string {
	d := sha256.Sum256(k.b)
	return string(d[:])
}

// sum returns the digest and releases k.
func (k *keyWriter) sum() string {
	d := k.digest()
	if cap(k.b) <= 64<<10 {
		keyBufs.Put(k)
	}
	return d
}

func (k *keyWriter) uvarint(n uint64) { k.b = binary.AppendUvarint(k.b, n) }

func (k *keyWriter) int(n int) { k.b = binary.AppendVarint(k.b, int64(n)) }

func (k *keyWriter) str(s string) {
	k.uvarint(uint64(len(s)))
	k.b = append(k.b, s...)
}

func (k *keyWriter) bytes(b []byte) {
	k.uvarint(uint64(len(b)))
	k.b = append(k.b, b...)
}

func (k *keyWriter) strs(ss []string) {
	k.uvarint(uint64(len(ss)))
	for _, s := range ss {
		k.str(s)
	}
}

func (k *keyWriter) bool(b bool) {
	if b {
		k.b = append(k.b, 1)
	} else {
		k.b = append(k.b, 0)
	}
}

func (k *keyWriter) optBool(b *bool) {
	k.bool(b != nil)
	if b != nil {
		k.bool(*b)
	}
}

func (k *keyWriter) optFloat(f *float64) {
	k.bool(f != nil)
	if f != nil {
		v := *f
		if v == 0 {
			v = 0 // -0 and +0 send the same number
		}
		k.b = binary.LittleEndian.AppendUint64(k.b, math.Float64bits(v))
	}
}

// call writes the Call fields that select who answers: the provider and a
// pinned endpoint.
// call writes the routing fields that separate answers: provider,
// endpoint, and the tenant (and principal) as the scope asks.
func (k *keyWriter) call(c *messages.Call, scope TenantScope) {
	k.str(c.Provider)
	k.str(c.Endpoint)
	switch scope {
	case TenantScopeShared:
	case TenantScopePrincipal:
		k.str(c.Tenant)
		k.str(c.Principal)
	default:
		k.str(c.Tenant)
	}
}

func (k *keyWriter) messages(msgs []messages.Message) {
	k.uvarint(uint64(len(msgs)))
	for _, m := range msgs {
		k.str(m.Role)
		k.str(m.Content)
		k.uvarint(uint64(len(m.Parts)))
		for _, p := range m.Parts {
			k.str(string(p.Type))
			k.str(p.Text)
			k.str(p.ImageURL)
			k.str(p.MediaType)
			k.bytes(p.Data)
		}
		k.uvarint(uint64(len(m.ToolCalls)))
		for _, tc := range m.ToolCalls {
			k.str(tc.ID)
			k.str(tc.Name)
			k.bytes(tc.Arguments)
		}
		k.str(m.ToolCallID)
		k.bool(m.IsError)
	}
}
