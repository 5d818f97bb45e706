package switchyard

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
)

// CacheConfig configures the response cache: an exact layer (the hash of
// the canonical request) and, with an Embedding route, a semantic layer
// (the prompt's embedding, compared by cosine similarity within a scope of
// provider, endpoint, model, system prompt, tools, sampling parameters and
// the earlier conversation). Off unless Enabled.
//
// Cached: chat and generate requests (both layers), embed and rerank
// requests (exact layer). Not cached: requests with NoCache, and sampled
// chat/generate requests — Temperature above 0, or unset, since an unset
// temperature is the provider's default, which is above 0 for chat
// services — unless CacheSampled (here, or per request with the
// CacheSampled call option). Answers with tool calls are stored and shared
// only with requests that opted in the same way. Failures and streams that
// did not complete are never stored; streams are stored with their chunks
// and replayed as streams.
type CacheConfig struct {
	Enabled bool `yaml:"enabled" json:"enabled"`
	// MaxEntries bounds the stored answers (default 10,000); the least
	// recently used goes first.
	MaxEntries int `yaml:"max_entries" json:"max_entries"`
	// TTL is how long an answer is served after it was stored (default 1h).
	TTL time.Duration `yaml:"ttl" json:"ttl"`
	// Threshold is the cosine similarity at or above which a stored answer
	// serves a similar prompt (default 0.95; at most 1).
	Threshold float64 `yaml:"threshold" json:"threshold"`
	// LookupTimeout bounds the embedding call of a semantic lookup (default
	// 1s); past it the request goes upstream as a miss.
	LookupTimeout time.Duration `yaml:"lookup_timeout" json:"lookup_timeout"`
	// Embedding is the route the semantic layer embeds prompts with, through
	// Switchyard's own queue; unset (no provider) keeps the exact layer only.
	Embedding EmbeddingRoute `yaml:"embedding" json:"embedding"`
	// CacheSampled opts every request in: sampled requests are cached and
	// answers with tool calls stored and shared.
	CacheSampled bool `yaml:"cache_sampled" json:"cache_sampled"`
	// TenantScope keeps tenants apart (WithTenant): "tenant" (default)
	// separates entries of both layers by tenant, so no tenant is ever
	// answered with an answer stored for another, while the principals of
	// one tenant share; "principal" separates by tenant and principal;
	// "shared" lets tenants share answers, an explicit choice for tenants
	// that may see each other's data. Requests without a tenant behave as
	// before tenants existed.
	TenantScope string `yaml:"tenant_scope" json:"tenant_scope"`
}

// EmbeddingRoute names a configured provider and an embedding model.
type EmbeddingRoute struct {
	Provider string `yaml:"provider" json:"provider"`
	Model    string `yaml:"model" json:"model"`
	// Dimensions asks for shortened vectors where the model supports it (0:
	// the model's default).
	Dimensions int `yaml:"dimensions" json:"dimensions"`
}

// validate checks the cache section against the (already validated)
// providers.
func (c *CacheConfig) validate(providers []ProviderConfig) error {
	switch {
	case c.MaxEntries < 0:
		return &ConfigError{Field: "cache.max_entries", Reason: "must not be negative"}
	case c.TTL < 0:
		return &ConfigError{Field: "cache.ttl", Reason: "must not be negative"}
	case c.LookupTimeout < 0:
		return &ConfigError{Field: "cache.lookup_timeout", Reason: "must not be negative"}
	case math.IsNaN(c.Threshold) || c.Threshold < 0 || c.Threshold > 1:
		return &ConfigError{Field: "cache.threshold", Reason: "must be in (0, 1] (0 means the default 0.95)"}
	case c.Embedding.Dimensions < 0:
		return &ConfigError{Field: "cache.embedding.dimensions", Reason: "must not be negative"}
	}
	switch actors.TenantScope(c.TenantScope) {
	case "", actors.TenantScopeTenant, actors.TenantScopePrincipal, actors.TenantScopeShared:
	default:
		return &ConfigError{Field: "cache.tenant_scope", Reason: fmt.Sprintf("unknown scope %q (tenant, principal, shared)", c.TenantScope)}
	}
	r := c.Embedding
	if r.Provider == "" {
		if r.Model != "" || r.Dimensions != 0 {
			return &ConfigError{Field: "cache.embedding.provider", Reason: "required when an embedding model or dimensions are set"}
		}
		return nil
	}
	for _, pc := range providers {
		if pc.Name != r.Provider {
			continue
		}
		probe := &messages.EmbedRequest{Call: messages.Call{Provider: pc.Name}, Model: r.Model, Inputs: []string{"probe"}, Dimensions: r.Dimensions}
		err := adapterOf(pc).Check(probe)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, messages.ErrUnsupported):
			return &ConfigError{Field: "cache.embedding.provider", Reason: fmt.Sprintf("provider %q (kind %s) cannot embed", r.Provider, pc.Kind)}
		default:
			return &ConfigError{Field: "cache.embedding.model", Reason: err.Error()}
		}
	}
	return &ConfigError{Field: "cache.embedding.provider", Reason: fmt.Sprintf("no provider named %q", r.Provider)}
}

// producer returns the supervisor's cache producer, nil when the cache is
// off.
func (c *CacheConfig) producer(env *actors.Env, handles map[string]actors.ProviderHandle) func(*actor.PID) actor.Producer {
	if !c.Enabled {
		return nil
	}
	spec := actors.CacheSpec{MaxEntries: c.MaxEntries, TTL: c.TTL, Threshold: c.Threshold, LookupTimeout: c.LookupTimeout, CacheSampled: c.CacheSampled,
		TenantScope: actors.TenantScope(c.TenantScope),
		Embedding:   actors.CacheEmbedding{Provider: c.Embedding.Provider, Model: c.Embedding.Model, Dimensions: c.Embedding.Dimensions},
		Providers:   map[string]bool{}}
	for name := range handles {
		spec.Providers[name] = true
	}
	return func(dispatcher *actor.PID) actor.Producer { return actors.NewCacheProducer(spec, env, dispatcher) }
}
