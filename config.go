package switchyard

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/providers"
)

// Config configures a Switchyard instance. The zero value of every optional
// field means its documented default. Load reads one from a YAML or JSON file.
type Config struct {
	// Providers to serve; at least one.
	Providers []ProviderConfig `yaml:"providers" json:"providers"`
	Queue     QueueConfig      `yaml:"queue" json:"queue"`
	Retry     RetryConfig      `yaml:"retry" json:"retry"`
	// Breaker is the default breaker policy; a provider may override it.
	Breaker  BreakerConfig  `yaml:"breaker" json:"breaker"`
	Timeouts TimeoutsConfig `yaml:"timeouts" json:"timeouts"`
	Cache    CacheConfig    `yaml:"cache" json:"cache"`
	// Audit turns on the audit log (off by default; see AuditConfig).
	Audit AuditConfig `yaml:"audit" json:"audit"`
	// Tracing turns on OpenTelemetry traces (off by default; see
	// TracingConfig).
	Tracing TracingConfig `yaml:"tracing" json:"tracing"`
	// Cluster turns on fleet mode: key budgets, endpoint health and the
	// exact cache shared with the other members of a proto.actor cluster
	// (off by default; see ClusterConfig).
	Cluster ClusterConfig `yaml:"cluster" json:"cluster"`

	// Logger receives Switchyard's and protoactor's logs. Nil discards them.
	Logger *slog.Logger `yaml:"-" json:"-"`
	// Clock drives every timer; nil is the wall clock. Tests pass a
	// *clock.Manual.
	Clock clock.Clock `yaml:"-" json:"-"`
	// HTTPClient carries upstream calls; nil builds one with a tuned
	// transport. Benchmarks pass an in-memory transport here.
	HTTPClient *http.Client `yaml:"-" json:"-"`
	// Getenv reads the environment for keys; nil is os.Getenv.
	Getenv func(string) string `yaml:"-" json:"-"`

	hooks hooksField
	// src is where Load read the config from, for errors that point there.
	src *configSource
}

// ProviderConfig is one provider instance.
type ProviderConfig struct {
	// Name is how requests address it (Call.Provider); defaults to Kind.
	Name string `yaml:"name" json:"name"`
	// Kind selects the backend and its wire protocol: "openai",
	// "anthropic", "gemini", "groq", "llvm" (vLLM or llama.cpp-server),
	// "ollama", "ovms", "hf_tgi", "hf_tei", "opea", "opea_llm" or "s3" (see
	// the README's backend table). With Adapter set it is only a label.
	Kind string `yaml:"kind" json:"kind"`
	// Endpoints in failover order; empty means the service's public endpoint.
	Endpoints []EndpointConfig `yaml:"endpoints" json:"endpoints"`
	// KeyStrategy: round-robin (default), least-loaded, weighted,
	// most-headroom.
	KeyStrategy string `yaml:"key_strategy" json:"key_strategy"`
	// Breaker overrides the instance's breaker policy field by field.
	Breaker *BreakerConfig `yaml:"breaker" json:"breaker"`
	// Batching configures the provider's batching windows (on by default
	// where the backend takes lists; see BatchingConfig).
	Batching BatchingConfig `yaml:"batching" json:"batching"`
	// Affinity configures key affinity for stored objects (on by default;
	// see AffinityConfig).
	Affinity AffinityConfig `yaml:"affinity" json:"affinity"`
	// APIVersion is azure_openai's api-version: a dated version such as
	// "2024-10-21" sends requests to /openai/deployments/{deployment}/…,
	// "v1" (the default) to the version-less /openai/v1/… routes.
	APIVersion string `yaml:"api_version" json:"api_version"`
	// Deployments maps a request's model to the azure_openai deployment
	// that serves it; a model not in the map is its own deployment name.
	Deployments map[string]string `yaml:"deployments" json:"deployments"`
	// Adapter plugs in a backend of your own: it replaces the adapter of
	// Kind (which then only names it; default Adapter.Kind()). Endpoints must
	// be given; keys are optional.
	Adapter providers.Adapter `yaml:"-" json:"-"`
}

// EndpointConfig is one upstream base URL with its keys.
type EndpointConfig struct {
	// Name labels the endpoint in stats and events; defaults to the host.
	Name string `yaml:"name" json:"name"`
	// BaseURL, e.g. https://api.openai.com/v1 or https://api.anthropic.com.
	BaseURL string `yaml:"base_url" json:"base_url"`
	// Headers are sent on every request to this endpoint.
	Headers map[string]string `yaml:"headers" json:"headers"`
	// Keys for this endpoint. When empty, keys come from the environment:
	// the variable KeysFromEnv names, then KeysFromEnv_1 … _N (stopping at
	// the first gap). KeysFromEnv defaults to the kind's variable:
	// OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, GROQ_API_KEY,
	// VLLM_API_KEY (llvm), OLLAMA_API_KEY, OVMS_API_KEY, HF_TOKEN (hf_tgi
	// and hf_tei), OPEA_API_KEY (opea and opea_llm). For s3 it is a prefix:
	// keys are pairs from S3_ACCESS_KEY and S3_SECRET_KEY (and their _1 … _N
	// variants), and a provider without endpoints gets one per S3_ENDPOINT,
	// S3_ENDPOINT_1 … _N. Self-hosted kinds run without a key when none is
	// found.
	Keys        []KeyConfig `yaml:"keys" json:"keys"`
	KeysFromEnv string      `yaml:"keys_from_env" json:"keys_from_env"`
	// Region is the cloud region of a hosted kind: it fills {region} in
	// the kind's default base URL (anthropic_bedrock, anthropic_vertex,
	// gemini_vertex) and is the AWS region SigV4 signs for (default: the
	// one a bedrock-runtime.REGION.amazonaws.com base URL names).
	Region string `yaml:"region" json:"region"`
	// Project is the Google Cloud project of the Vertex kinds; it fills
	// {project} in their default base URL.
	Project string `yaml:"project" json:"project"`
}

// KeyConfig is one API key. Secret is never logged; in files prefer
// SecretEnv.
type KeyConfig struct {
	// Label names the key in stats, events and errors; defaults to key-N.
	Label     string `yaml:"label" json:"label"`
	Secret    string `yaml:"secret" json:"secret"`
	SecretEnv string `yaml:"secret_env" json:"secret_env"`
	// Weight for the weighted strategy (default 1).
	Weight int `yaml:"weight" json:"weight"`
	// MaxInFlight, RPM and TPM cap the key (0: no cap).
	MaxInFlight int `yaml:"max_in_flight" json:"max_in_flight"`
	RPM         int `yaml:"rpm" json:"rpm"`
	TPM         int `yaml:"tpm" json:"tpm"`
	// Group names the organisation and project the key belongs to, e.g.
	// "org-abc/proj-1": keys of one group of an endpoint see the same stored
	// responses and conversations, so any of them may serve a follow-up
	// (see AffinityConfig). Empty: the key is a group of its own.
	Group string `yaml:"group" json:"group"`

	// A key holds one credential: Secret (or SecretEnv), or one of the
	// following, for the kinds that take it (see the README's backend
	// table). Several keys of an endpoint may hold credentials of
	// different forms; they multiplex like API keys.
	//
	// TokenSource (set in code) supplies refreshing bearer tokens from the
	// host's own identity library: an Entra ID token for azure_openai, a
	// Google token for the Vertex kinds. Tokens are cached, replaced 5
	// minutes before they expire (half-way for shorter ones) and once more
	// on a 401, and redacted from every output like keys.
	TokenSource providers.TokenSource `yaml:"-" json:"-"`
	// Entra: a Microsoft Entra ID application's client credentials
	// (azure_openai).
	Entra *EntraConfig `yaml:"entra" json:"entra"`
	// Google: a service account key or application default credentials
	// (anthropic_vertex, gemini_vertex). An endpoint of these kinds with no
	// keys uses application default credentials.
	Google *GoogleConfig `yaml:"google" json:"google"`
	// AWS: SigV4 signing with static keys or the standard chain
	// (anthropic_bedrock). An endpoint of this kind with no keys, and no
	// $AWS_BEARER_TOKEN_BEDROCK, uses the standard chain.
	AWS *AWSConfig `yaml:"aws" json:"aws"`

	noSecret bool
}

// AffinityConfig is a provider's key affinity. A stored response or
// conversation belongs to the organisation and project of the key that
// created it; another organisation's key gets 404 for it. So the runtime
// remembers which endpoint and key created each stored object an answer
// reports (response, conversation and item IDs) and sends every request
// that names one (previous_response_id, conversation, a retrieve, cancel,
// delete, …) to that endpoint and to that key or another key of its Group,
// whatever the key strategy. A request pinned with WithKey or WithEndpoint
// keeps its own pin; an object the runtime did not see created (another
// process made it) goes by strategy as usual. A follow-up whose keys are
// all disabled fails with *messages.AffinityError (ErrAffinityUnavailable),
// never silently going to another organisation; one whose keys are all
// cooling down waits for them within its deadline, or fails the same way at
// once when Wait is false.
type AffinityConfig struct {
	// Disabled turns key affinity off: follow-ups go by strategy.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// MaxEntries bounds the objects remembered (default 100,000); the least
	// recently used is forgotten first.
	MaxEntries int `yaml:"max_entries" json:"max_entries"`
	// TTL is how long an object is remembered after the last answer that
	// reported it (default 30 days, the service's retention of stored
	// responses).
	TTL time.Duration `yaml:"ttl" json:"ttl"`
	// Wait lets a follow-up whose keys are all cooling down wait, within
	// its deadline, until one may be tried again (default true); false
	// fails it at once.
	Wait *bool `yaml:"wait" json:"wait"`
}

func (a *AffinityConfig) validate(f string) error {
	switch {
	case a.MaxEntries < 0:
		return &ConfigError{Field: f + ".max_entries", Reason: "must not be negative"}
	case a.TTL < 0:
		return &ConfigError{Field: f + ".ttl", Reason: "must not be negative"}
	}
	return nil
}

// runtime turns the config into the dispatcher's.
func (a *AffinityConfig) runtime() actors.AffinityConfig {
	return actors.AffinityConfig{Disabled: a.Disabled, MaxEntries: a.MaxEntries, TTL: a.TTL, NoWait: a.Wait != nil && !*a.Wait}
}

// QueueConfig sizes the dispatcher's priority levels.
type QueueConfig struct {
	// Capacity per level (default 1024 each).
	High   int `yaml:"high" json:"high"`
	Normal int `yaml:"normal" json:"normal"`
	Low    int `yaml:"low" json:"low"`
	// AgingAfter lets LOW requests waiting this long compete with NORMAL ones
	// by age (default 10 s; negative disables).
	AgingAfter time.Duration `yaml:"aging_after" json:"aging_after"`
	// ShedLow lets a HIGH request evict the newest LOW one when HIGH is full.
	ShedLow bool `yaml:"shed_low" json:"shed_low"`
}

// RetryConfig is the retry policy.
type RetryConfig struct {
	// MaxAttempts counts the first attempt (default 3).
	MaxAttempts int `yaml:"max_attempts" json:"max_attempts"`
	// BaseDelay and MaxDelay bound the exponential backoff (500 ms, 8 s).
	BaseDelay time.Duration `yaml:"base_delay" json:"base_delay"`
	MaxDelay  time.Duration `yaml:"max_delay" json:"max_delay"`
	// Budget: 10 tokens/s plus 0.2 per request, burst 100; a negative
	// BudgetRatio disables the budget.
	BudgetRatio     float64 `yaml:"budget_ratio" json:"budget_ratio"`
	BudgetPerSecond float64 `yaml:"budget_per_second" json:"budget_per_second"`
	BudgetBurst     float64 `yaml:"budget_burst" json:"budget_burst"`
}

// BreakerConfig is the circuit-breaker policy.
type BreakerConfig struct {
	// ConsecutiveFailures is the run of failures in a row that trips the
	// breaker (default 5), when the recent outcomes confirm it: at least
	// FailureRate of the latest 100 (within Window/10) failed too. A quiet
	// endpoint opens at the fifth failure; a busy healthy one does not open
	// because a few calls that timed out together failed together.
	ConsecutiveFailures int `yaml:"consecutive_failures" json:"consecutive_failures"`
	// FailureRate over Window with at least MinRequests trips it (0.5, 30 s,
	// 10).
	FailureRate float64       `yaml:"failure_rate" json:"failure_rate"`
	MinRequests int           `yaml:"min_requests" json:"min_requests"`
	Window      time.Duration `yaml:"window" json:"window"`
	// Cooldown doubles per trip up to MaxCooldown (30 s, 5 min) with
	// ±20 % jitter, never under the upstream's Retry-After.
	Cooldown    time.Duration `yaml:"cooldown" json:"cooldown"`
	MaxCooldown time.Duration `yaml:"max_cooldown" json:"max_cooldown"`
	// HalfOpenProbes admitted after the cooldown (default 1).
	HalfOpenProbes int `yaml:"half_open_probes" json:"half_open_probes"`
}

// TimeoutsConfig bounds waits on upstreams.
type TimeoutsConfig struct {
	// Header bounds the wait for response headers (default 60 s).
	Header time.Duration `yaml:"header" json:"header"`
	// StreamIdle bounds the gap between stream reads (default 60 s).
	StreamIdle time.Duration `yaml:"stream_idle" json:"stream_idle"`
}

// ConfigError names the invalid field, in the config file's terms (e.g.
// providers[0].endpoints[1].base_url), and, for a config read by Load, the
// file and line.
type ConfigError struct {
	// File is the path given to Load; empty for a Config built in Go (or
	// read by Parse).
	File string
	// Line is the field's line in File (1-based); 0 when unknown.
	Line   int
	Field  string
	Reason string
}

// Error reads "switchyard: config: FILE:LINE: FIELD: REASON", without the
// parts that are unknown.
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("switchyard: config: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// finite refuses NaN and ±Inf in a float field.
func finite(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return &ConfigError{Field: field, Reason: fmt.Sprintf("must be a finite number, not %v", v)}
	}
	return nil
}

// validate checks c and fills in its defaults; an error is a *ConfigError,
// located in the file when c came from Load.
func (c *Config) validate() error {
	return c.src.locate(c.validateFields())
}

func (c *Config) validateFields() error {
	if len(c.Providers) == 0 {
		return &ConfigError{Field: "providers", Reason: "at least one provider is required"}
	}
	getenv := c.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	names := map[string]bool{}
	for i := range c.Providers {
		p := &c.Providers[i]
		f := fmt.Sprintf("providers[%d]", i)
		k, ok := kinds[p.Kind]
		if p.Adapter != nil {
			if p.Kind == "" {
				p.Kind = p.Adapter.Kind()
			}
			adapter := p.Adapter
			k, ok = providers.Descriptor{Kind: p.Kind, New: func(providers.AdapterOptions) providers.Adapter { return adapter }, KeyOptional: true}, true
		}
		if !ok {
			return &ConfigError{Field: f + ".kind", Reason: fmt.Sprintf("unknown kind %q (known: %s)", p.Kind, strings.Join(kindNames(), ", "))}
		}
		if p.Name == "" {
			p.Name = p.Kind
		}
		if names[p.Name] {
			return &ConfigError{Field: f + ".name", Reason: fmt.Sprintf("duplicate provider name %q", p.Name)}
		}
		names[p.Name] = true
		switch p.KeyStrategy {
		case "", "round-robin", "least-loaded", "weighted", "most-headroom":
		default:
			return &ConfigError{Field: f + ".key_strategy", Reason: fmt.Sprintf("unknown strategy %q (round-robin, least-loaded, weighted, most-headroom)", p.KeyStrategy)}
		}
		if p.Breaker != nil {
			if err := p.Breaker.validate(f + ".breaker"); err != nil {
				return err
			}
		}
		if err := p.Batching.validate(f + ".batching"); err != nil {
			return err
		}
		if err := p.Affinity.validate(f + ".affinity"); err != nil {
			return err
		}
		if err := p.validateHosting(f); err != nil {
			return err
		}
		if len(p.Endpoints) == 0 && k.KeyPair {
			p.Endpoints = pairEndpointsFromEnv(getenv, k.KeyEnv)
		}
		if len(p.Endpoints) == 0 {
			if k.BaseURL == "" {
				return &ConfigError{Field: f + ".endpoints", Reason: fmt.Sprintf("kind %q has no public endpoint (it is self-hosted or your own resource): give at least one endpoint with its base_url", p.Kind)}
			}
			p.Endpoints = []EndpointConfig{{}}
		}
		var desc *providers.Descriptor
		if p.Adapter == nil {
			desc = &k
		}
		epNames := map[string]bool{}
		for j := range p.Endpoints {
			e := &p.Endpoints[j]
			ef := fmt.Sprintf("%s.endpoints[%d]", f, j)
			if e.BaseURL == "" {
				e.BaseURL = k.BaseURL
			}
			if strings.ContainsAny(e.BaseURL, "{}") {
				var err error
				if e.BaseURL, err = expandBaseURL(e.BaseURL, e, ef); err != nil {
					return err
				}
			}
			u, err := url.Parse(e.BaseURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return &ConfigError{Field: ef + ".base_url", Reason: "must be an absolute http or https URL"}
			}
			if u.User != nil || u.RawQuery != "" {
				return &ConfigError{Field: ef + ".base_url", Reason: "must not carry credentials or a query; use keys"}
			}
			if e.Name == "" {
				e.Name = u.Host
			}
			if epNames[e.Name] {
				return &ConfigError{Field: ef + ".name", Reason: fmt.Sprintf("duplicate endpoint name %q", e.Name)}
			}
			epNames[e.Name] = true
			if len(e.Keys) == 0 {
				prefix := e.KeysFromEnv
				if prefix == "" {
					prefix = k.KeyEnv
				}
				switch {
				case prefix == "":
				case k.KeyPair:
					e.Keys = pairsFromEnv(getenv, prefix, "")
				default:
					e.Keys = keysFromEnv(getenv, prefix)
				}
				if len(e.Keys) == 0 {
					e.Keys = defaultChainKeys(desc)
				}
				if len(e.Keys) == 0 && k.KeyOptional {
					// A server without authentication: one key with no
					// secret, so the endpoint still has an actor to call it.
					e.Keys = []KeyConfig{{Label: "none", noSecret: true}}
				}
				if len(e.Keys) == 0 && k.KeyPair {
					return &ConfigError{Field: ef + ".keys", Reason: fmt.Sprintf("no keys configured and none in $%s_ACCESS_KEY/$%s_SECRET_KEY or their _1… variants", prefix, prefix)}
				}
				if len(e.Keys) == 0 {
					return &ConfigError{Field: ef + ".keys", Reason: fmt.Sprintf("no keys configured and none in $%s or $%s_1…", prefix, prefix)}
				}
			}
			labels := map[string]bool{}
			for n := range e.Keys {
				kc := &e.Keys[n]
				kf := fmt.Sprintf("%s.keys[%d]", ef, n)
				if kc.Secret == "" && kc.SecretEnv != "" {
					kc.Secret = getenv(kc.SecretEnv)
					if kc.Secret == "" {
						return &ConfigError{Field: kf + ".secret_env", Reason: fmt.Sprintf("$%s is empty", kc.SecretEnv)}
					}
				}
				if err := kc.validateCredential(kf, desc, getenv); err != nil {
					return err
				}
				cred, _ := kc.credentialKind()
				if cred == "" && !kc.noSecret {
					return &ConfigError{Field: kf + ".secret", Reason: "empty (set secret or secret_env, or a credential: entra, google, aws)"}
				}
				if cred == providers.CredentialAWSSigV4 {
					if e.Region = awsRegion(e, u.Host); e.Region == "" {
						return &ConfigError{Field: ef + ".region", Reason: "required for AWS SigV4 when the base URL does not name the region (bedrock-runtime.REGION.amazonaws.com)"}
					}
				}
				if k.KeyPair && cred == providers.CredentialAPIKey && !strings.Contains(kc.Secret, ":") {
					return &ConfigError{Field: kf + ".secret", Reason: "must be ACCESS_KEY:SECRET_KEY for " + p.Kind}
				}
				if strings.ContainsAny(kc.Secret, "\r\n") {
					return &ConfigError{Field: kf + ".secret", Reason: "contains a line break"}
				}
				if kc.Label == "" {
					kc.Label = "key-" + strconv.Itoa(n+1)
				}
				if strings.ContainsAny(kc.Label, "/$ ") {
					return &ConfigError{Field: kf + ".label", Reason: "must not contain '/', '$' or spaces"}
				}
				if strings.TrimSpace(kc.Group) != kc.Group || strings.ContainsAny(kc.Group, "\r\n") {
					return &ConfigError{Field: kf + ".group", Reason: "must not have leading or trailing spaces or line breaks"}
				}
				if labels[kc.Label] {
					return &ConfigError{Field: kf + ".label", Reason: fmt.Sprintf("duplicate key label %q", kc.Label)}
				}
				labels[kc.Label] = true
				for _, v := range []struct {
					name string
					val  int
				}{{"weight", kc.Weight}, {"max_in_flight", kc.MaxInFlight}, {"rpm", kc.RPM}, {"tpm", kc.TPM}} {
					if v.val < 0 {
						return &ConfigError{Field: kf + "." + v.name, Reason: "must not be negative"}
					}
				}
			}
		}
	}
	q := c.Queue
	for _, v := range []struct {
		name string
		val  int
	}{{"queue.high", q.High}, {"queue.normal", q.Normal}, {"queue.low", q.Low}, {"retry.max_attempts", c.Retry.MaxAttempts}} {
		if v.val < 0 {
			return &ConfigError{Field: v.name, Reason: "must not be negative"}
		}
	}
	for _, v := range []struct {
		name string
		val  float64
	}{{"retry.budget_ratio", c.Retry.BudgetRatio}, {"retry.budget_per_second", c.Retry.BudgetPerSecond}, {"retry.budget_burst", c.Retry.BudgetBurst}} {
		if err := finite(v.name, v.val); err != nil {
			return err
		}
	}
	if c.Retry.BaseDelay < 0 || c.Retry.MaxDelay < 0 {
		return &ConfigError{Field: "retry.base_delay", Reason: "must not be negative"}
	}
	if c.Retry.MaxDelay > 0 && c.Retry.BaseDelay > c.Retry.MaxDelay {
		return &ConfigError{Field: "retry.base_delay", Reason: "must not exceed retry.max_delay"}
	}
	if c.Timeouts.Header < 0 {
		return &ConfigError{Field: "timeouts.header", Reason: "must not be negative"}
	}
	if c.Timeouts.StreamIdle < 0 {
		return &ConfigError{Field: "timeouts.stream_idle", Reason: "must not be negative"}
	}
	if err := c.Cache.validate(c.Providers); err != nil {
		return err
	}
	if err := c.Audit.validate(); err != nil {
		return err
	}
	if err := c.Cluster.validate(); err != nil {
		return err
	}
	return c.Breaker.validate("breaker")
}

func (b *BreakerConfig) validate(f string) error {
	if err := finite(f+".failure_rate", b.FailureRate); err != nil {
		return err
	}
	switch {
	case b.ConsecutiveFailures < 0:
		return &ConfigError{Field: f + ".consecutive_failures", Reason: "must not be negative"}
	case b.FailureRate < 0 || b.FailureRate > 1:
		return &ConfigError{Field: f + ".failure_rate", Reason: "must be between 0 and 1"}
	case b.MinRequests < 0:
		return &ConfigError{Field: f + ".min_requests", Reason: "must not be negative"}
	case b.Window < 0:
		return &ConfigError{Field: f + ".window", Reason: "must not be negative"}
	case b.Cooldown < 0:
		return &ConfigError{Field: f + ".cooldown", Reason: "must not be negative"}
	case b.MaxCooldown < 0 || (b.MaxCooldown > 0 && b.MaxCooldown < b.Cooldown):
		return &ConfigError{Field: f + ".max_cooldown", Reason: "must not be negative or below cooldown"}
	case b.HalfOpenProbes < 0:
		return &ConfigError{Field: f + ".half_open_probes", Reason: "must not be negative"}
	}
	return nil
}

// keysFromEnv reads PREFIX and PREFIX_1 … PREFIX_N (stopping at the first
// gap after _1).
func keysFromEnv(getenv func(string) string, prefix string) []KeyConfig {
	return envSeries(func(sfx string) (KeyConfig, bool) {
		v := getenv(prefix + sfx)
		return KeyConfig{Label: envLabel(sfx), Secret: v}, v != ""
	})
}

// envSeries collects read(""), then read("_1"), read("_2") … until the first
// numbered suffix that reads nothing.
func envSeries[T any](read func(suffix string) (T, bool)) []T {
	var out []T
	if v, ok := read(""); ok {
		out = append(out, v)
	}
	for i := 1; ; i++ {
		v, ok := read("_" + strconv.Itoa(i))
		if !ok {
			return out
		}
		out = append(out, v)
	}
}

// envLabel is the label of a key read with suffix: "env", "env-1", ….
func envLabel(suffix string) string { return "env" + strings.ReplaceAll(suffix, "_", "-") }

// merged returns the provider's breaker policy: its override, field by
// field, over the instance default.
func (b BreakerConfig) merged(o *BreakerConfig) BreakerConfig {
	if o == nil {
		return b
	}
	if o.ConsecutiveFailures != 0 {
		b.ConsecutiveFailures = o.ConsecutiveFailures
	}
	if o.FailureRate != 0 {
		b.FailureRate = o.FailureRate
	}
	if o.MinRequests != 0 {
		b.MinRequests = o.MinRequests
	}
	if o.Window != 0 {
		b.Window = o.Window
	}
	if o.Cooldown != 0 {
		b.Cooldown = o.Cooldown
	}
	if o.MaxCooldown != 0 {
		b.MaxCooldown = o.MaxCooldown
	}
	if o.HalfOpenProbes != 0 {
		b.HalfOpenProbes = o.HalfOpenProbes
	}
	return b
}

// withDefaults fills zero breaker fields.
func (b BreakerConfig) withDefaults() BreakerConfig {
	if b.ConsecutiveFailures == 0 {
		b.ConsecutiveFailures = 5
	}
	if b.FailureRate == 0 {
		b.FailureRate = 0.5
	}
	if b.MinRequests == 0 {
		b.MinRequests = 10
	}
	if b.Window == 0 {
		b.Window = 30 * time.Second
	}
	if b.HalfOpenProbes == 0 {
		b.HalfOpenProbes = 1
	}
	return b
}

// pairsFromEnv reads access/secret pairs: PREFIX_ACCESS_KEY with
// PREFIX_SECRET_KEY, and the _1 … _N variants. A suffix selects that pair
// alone when it is set.
func pairsFromEnv(getenv func(string) string, prefix, suffix string) []KeyConfig {
	pair := func(sfx string) (KeyConfig, bool) {
		a, s := getenv(prefix+"_ACCESS_KEY"+sfx), getenv(prefix+"_SECRET_KEY"+sfx)
		return KeyConfig{Label: envLabel(sfx), Secret: a + ":" + s}, a != "" && s != ""
	}
	if suffix != "" {
		if k, ok := pair(suffix); ok {
			return []KeyConfig{k}
		}
	}
	return envSeries(pair)
}

// pairEndpointsFromEnv builds one endpoint per PREFIX_ENDPOINT and
// PREFIX_ENDPOINT_1 … _N, each with the key pair of the same suffix (or the
// unsuffixed pairs).
func pairEndpointsFromEnv(getenv func(string) string, prefix string) []EndpointConfig {
	return envSeries(func(sfx string) (EndpointConfig, bool) {
		u := getenv(prefix + "_ENDPOINT" + sfx)
		ep := EndpointConfig{BaseURL: u, Keys: pairsFromEnv(getenv, prefix, sfx)}
		if sfx != "" {
			ep.Name = "endpoint" + strings.ReplaceAll(sfx, "_", "-")
		}
		return ep, u != ""
	})
}
