package main

import (
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/sim"
)

// backend is one kind of upstream the demo knows: how to simulate it, how to
// address it and what traffic to send it. Adding a backend to the demo is
// one entry in backends.
type backend struct {
	// kind is switchyard.ProviderConfig.Kind; name the provider's name.
	kind, name string
	// envKey holds a real key for --real.
	envKey string
	// start runs one simulator (one per endpoint); baseURL is the adapter's
	// base URL on it.
	start   func() *sim.Server
	baseURL func(*sim.Server) string
	// model is the chat model sent to the simulator, realModel the one sent
	// to the real service; embedModel is "" where embeddings are not served.
	model, realModel, embedModel string
	// ops is the traffic mix.
	ops []weighted
	// burstStatus is the 5xx the simulator answers during a burst.
	burstStatus int
	// strategy is the key strategy of the provider.
	strategy string
	// keyPrefix starts every fake key (Groq's simulator wants gsk_ keys).
	keyPrefix string
	// inferModel is the KServe model for "infer" traffic.
	inferModel string
	// selfHosted backends have no public endpoint: --real skips them (give
	// them a --config with their base URLs). The cloud hostings (Azure,
	// Bedrock, Vertex) are skipped too: they need a resource, a region or a
	// project, which a --config names.
	selfHosted bool
	// credential, for the cloud hostings whose keys are not API keys, turns
	// a fake key into the credential the simulator accepts (a SigV4 key it
	// learns, a service account of the demo's token endpoint), and
	// endpoint completes an endpoint (a region).
	credential func(srv *sim.Server, kc *switchyard.KeyConfig)
	endpoint   func(ec *switchyard.EndpointConfig)
}

// demoGoogle is the Google OAuth2 token endpoint simulator the Vertex
// simulators accept tokens of; startSims starts it, stopSims stops it.
var demoGoogle *sim.GoogleOAuth

// vertexBase is a Vertex simulator's base URL (project demo-project,
// us-central1).
func vertexBase(s *sim.Server) string {
	return s.URL + "/v1/projects/demo-project/locations/us-central1"
}

// googleKey makes a fake key a service account of demoGoogle.
func googleKey(_ *sim.Server, kc *switchyard.KeyConfig) {
	email := fmt.Sprintf("%s-%08x@demo-project.iam.gserviceaccount.com", kc.Label, crc32.ChecksumIEEE([]byte(kc.Secret)))
	kc.Google = &switchyard.GoogleConfig{CredentialsJSON: demoGoogle.ServiceAccount(email)}
	kc.Secret = ""
}

// bedrockKey makes a fake key an AWS access key the Bedrock simulator on
// srv accepts.
func bedrockKey(srv *sim.Server, kc *switchyard.KeyConfig) {
	id := "AKIADEMO" + strings.ToUpper(fmt.Sprintf("%012x", crc32.ChecksumIEEE([]byte(kc.Secret))))
	srv.Backend().(*sim.BedrockBackend).Signatures().AddKey(sim.SigV4Key{AccessKeyID: id, SecretAccessKey: kc.Secret})
	kc.AWS = &switchyard.AWSConfig{AccessKeyID: id, SecretAccessKey: kc.Secret}
	kc.Secret = ""
}

// weighted is an operation with its share of the traffic.
type weighted struct {
	op     string // chat, stream, embed, responses, count_tokens, generate, generate_stream, rerank, infer
	weight int
}

// simLatency is every simulator's base answer delay: enough that small
// per-key in-flight caps fill and queues build under the demo's rate.
const simLatency = 120 * time.Millisecond

var backends = []backend{
	{
		kind: "anthropic", name: "anthropic", envKey: "ANTHROPIC_API_KEY",
		start: func() *sim.Server {
			return sim.Start(sim.Anthropic(), sim.WithLatency(simLatency), sim.WithoutRecords())
		},
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "claude-sim", realModel: "claude-haiku-4-5",
		ops:         []weighted{{"chat", 35}, {"stream", 30}, {"faq_stream", 20}, {"count_tokens", 15}},
		burstStatus: 529, strategy: "least-loaded",
	},
	{
		kind: "openai", name: "openai", envKey: "OPENAI_API_KEY",
		start:   func() *sim.Server { return sim.Start(sim.OpenAI(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL + "/v1" },
		model:   "gpt-4o-mini", realModel: "gpt-4o-mini", embedModel: "text-embedding-3-small",
		ops:         []weighted{{"chat", 25}, {"stream", 20}, {"faq", 25}, {"embed", 15}, {"responses", 15}},
		burstStatus: http.StatusServiceUnavailable, strategy: "round-robin",
	},
	{
		kind: "groq", name: "groq", envKey: "GROQ_API_KEY", keyPrefix: "gsk_",
		start:   func() *sim.Server { return sim.Start(sim.Groq(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "llama-3.3-70b-versatile", realModel: "llama-3.3-70b-versatile",
		ops:         []weighted{{"chat", 50}, {"stream", 50}},
		burstStatus: 498, strategy: "most-headroom",
	},
	{
		kind: "gemini", name: "gemini", envKey: "GEMINI_API_KEY",
		start: func() *sim.Server {
			return sim.Start(&sim.GeminiBackend{RetryDelay: 2 * time.Second}, sim.WithLatency(simLatency), sim.WithoutRecords())
		},
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "gemini-2.5-flash", realModel: "gemini-2.5-flash", embedModel: "gemini-embedding-001",
		ops:         []weighted{{"chat", 35}, {"stream", 35}, {"embed", 15}, {"count_tokens", 15}},
		burstStatus: http.StatusServiceUnavailable, strategy: "round-robin",
	},
	{
		kind: "llvm", name: "llvm", envKey: "VLLM_API_KEY", selfHosted: true,
		start:   func() *sim.Server { return sim.Start(sim.LLVM(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "meta-llama/Llama-3.1-8B-Instruct", realModel: "meta-llama/Llama-3.1-8B-Instruct", embedModel: "intfloat/e5-mistral-7b-instruct",
		ops:         []weighted{{"chat", 30}, {"stream", 30}, {"generate", 20}, {"embed", 20}},
		burstStatus: http.StatusServiceUnavailable, strategy: "least-loaded",
	},
	{
		kind: "ollama", name: "ollama", envKey: "OLLAMA_API_KEY", selfHosted: true,
		start:   func() *sim.Server { return sim.Start(sim.Ollama(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "llama3.2", realModel: "llama3.2", embedModel: "embeddinggemma",
		ops:         []weighted{{"chat", 30}, {"stream", 30}, {"generate_stream", 20}, {"embed", 20}},
		burstStatus: http.StatusServiceUnavailable, strategy: "round-robin",
	},
	{
		kind: "ovms", name: "ovms", envKey: "OVMS_API_KEY", selfHosted: true,
		start:   func() *sim.Server { return sim.Start(sim.OVMS(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "llama3", realModel: "llama3", embedModel: "bge-small", inferModel: "resnet",
		ops:         []weighted{{"infer", 40}, {"chat", 20}, {"stream", 20}, {"embed", 20}},
		burstStatus: http.StatusServiceUnavailable, strategy: "least-loaded",
	},
	{
		kind: "hf_tgi", name: "tgi", envKey: "HF_TOKEN", selfHosted: true,
		start:   func() *sim.Server { return sim.Start(sim.TGI(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "tgi", realModel: "tgi",
		ops:         []weighted{{"generate_stream", 35}, {"generate", 25}, {"chat", 20}, {"stream", 20}},
		burstStatus: http.StatusServiceUnavailable, strategy: "least-loaded",
	},
	{
		kind: "hf_tei", name: "tei", envKey: "HF_TOKEN", selfHosted: true,
		start: func() *sim.Server {
			return sim.Start(&sim.TEIBackend{WordVectors: true, Dimensions: 384}, sim.WithLatency(simLatency), sim.WithoutRecords())
		},
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "bge-base", realModel: "bge-base", embedModel: "bge-base",
		ops:         []weighted{{"embed_burst", 50}, {"embed", 20}, {"rerank", 30}},
		burstStatus: http.StatusServiceUnavailable, strategy: "round-robin",
	},
	{
		kind: "opea", name: "opea", envKey: "OPEA_API_KEY", selfHosted: true,
		start:   func() *sim.Server { return sim.Start(sim.OPEA(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "chatqna", realModel: "chatqna",
		ops:         []weighted{{"stream", 60}, {"chat", 40}},
		burstStatus: http.StatusBadGateway, strategy: "round-robin",
	},
	{
		kind: "azure_openai", name: "azure", envKey: "AZURE_OPENAI_API_KEY", selfHosted: true,
		start:   func() *sim.Server { return sim.Start(sim.Azure(), sim.WithLatency(simLatency), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "gpt-4o", realModel: "gpt-4o", embedModel: "text-embedding-3-small",
		ops:         []weighted{{"chat", 40}, {"stream", 30}, {"embed", 30}},
		burstStatus: http.StatusServiceUnavailable, strategy: "least-loaded",
	},
	{
		kind: "anthropic_bedrock", name: "bedrock", envKey: "AWS_BEARER_TOKEN_BEDROCK", selfHosted: true,
		start: func() *sim.Server {
			return sim.Start(sim.Bedrock(sim.BedrockOptions{}), sim.WithLatency(simLatency), sim.WithoutRecords())
		},
		baseURL: func(s *sim.Server) string { return s.URL },
		model:   "anthropic.claude-sonnet-4-5-v1:0", realModel: "anthropic.claude-sonnet-4-5-v1:0",
		ops:         []weighted{{"chat", 40}, {"stream", 40}, {"count_tokens", 20}},
		burstStatus: http.StatusServiceUnavailable, strategy: "round-robin",
		credential: bedrockKey,
		endpoint:   func(ec *switchyard.EndpointConfig) { ec.Region = "us-east-1" },
	},
	{
		kind: "anthropic_vertex", name: "claude-vertex", selfHosted: true,
		start: func() *sim.Server {
			return sim.Start(sim.VertexAnthropic(demoGoogle), sim.WithLatency(simLatency), sim.WithoutRecords())
		},
		baseURL: vertexBase,
		model:   "claude-sonnet-4-5@20250929", realModel: "claude-sonnet-4-5@20250929",
		ops:         []weighted{{"chat", 50}, {"stream", 50}},
		burstStatus: http.StatusServiceUnavailable, strategy: "round-robin",
		credential: googleKey,
	},
	{
		kind: "gemini_vertex", name: "gemini-vertex", selfHosted: true,
		start: func() *sim.Server {
			return sim.Start(sim.VertexGemini(demoGoogle), sim.WithLatency(simLatency), sim.WithoutRecords())
		},
		baseURL: vertexBase,
		model:   "gemini-2.5-flash", realModel: "gemini-2.5-flash", embedModel: "text-embedding-005",
		ops:         []weighted{{"chat", 35}, {"stream", 35}, {"embed", 30}},
		burstStatus: http.StatusServiceUnavailable, strategy: "round-robin",
		credential: googleKey,
	},
}

// backendOf returns the table entry of a kind.
func backendOf(kind string) (backend, bool) {
	for _, b := range backends {
		if b.kind == kind {
			return b, true
		}
	}
	return backend{}, false
}

// simKey is one fake key of a simulated endpoint.
type simKey struct {
	label, secret string
}

// simEndpoint is one simulator standing in for one endpoint.
type simEndpoint struct {
	name string
	srv  *sim.Server
	keys []simKey
}

// simProvider is one simulated provider: a primary and a secondary endpoint.
type simProvider struct {
	b   backend
	eps []*simEndpoint
}

// Endpoint layout of every simulated provider.
var simLayout = []struct {
	name, prefix string
	keys         int
}{{"primary", "pri", 3}, {"secondary", "sec", 2}}

// keyMaxInFlight is small so that in-flight caps bind and queues build.
const keyMaxInFlight = 3

// startSims starts two simulators per backend with fake keys drawn from rng.
func startSims(rng *rand.Rand) []*simProvider {
	demoGoogle = sim.StartGoogleOAuth(sim.GoogleOAuthOptions{})
	var out []*simProvider
	for _, b := range backends {
		p := &simProvider{b: b}
		for _, l := range simLayout {
			ep := &simEndpoint{name: l.name, srv: b.start()}
			for i := 1; i <= l.keys; i++ {
				ep.keys = append(ep.keys, simKey{
					label:  fmt.Sprintf("%s-%d", l.prefix, i),
					secret: fmt.Sprintf("%ssk-demo-%s-%s-%d-%012x", b.keyPrefix, b.name, l.name, i, rng.Uint64()&(1<<48-1)),
				})
			}
			p.eps = append(p.eps, ep)
		}
		out = append(out, p)
	}
	return out
}

// stopSims closes every simulator.
func stopSims(provs []*simProvider) {
	for _, p := range provs {
		for _, ep := range p.eps {
			ep.srv.Close()
		}
	}
	if demoGoogle != nil {
		demoGoogle.Close()
	}
}

// simConfig is the Switchyard configuration for the simulators: small
// per-key caps, small queues, short breaker cooldowns and retry delays, so
// that a viewer sees queues fill and breakers open and recover within
// seconds.
func simConfig(provs []*simProvider) switchyard.Config {
	cfg := switchyard.Config{
		Queue:    switchyard.QueueConfig{High: 32, Normal: 64, Low: 16, AgingAfter: 5 * time.Second},
		Retry:    switchyard.RetryConfig{MaxAttempts: 4, BaseDelay: 200 * time.Millisecond, MaxDelay: 3 * time.Second},
		Breaker:  switchyard.BreakerConfig{ConsecutiveFailures: 5, Cooldown: 3 * time.Second, MaxCooldown: 20 * time.Second},
		Timeouts: switchyard.TimeoutsConfig{Header: 10 * time.Second, StreamIdle: 5 * time.Second},
		// The cache's semantic layer embeds prompts through the TEI
		// simulator (word vectors: rewordings are similar).
		Cache: switchyard.CacheConfig{Enabled: true, TTL: time.Minute,
			Embedding: switchyard.EmbeddingRoute{Provider: "tei", Model: "bge-base"}},
	}
	for _, p := range provs {
		pc := switchyard.ProviderConfig{Name: p.b.name, Kind: p.b.kind, KeyStrategy: p.b.strategy}
		for _, ep := range p.eps {
			ec := switchyard.EndpointConfig{Name: ep.name, BaseURL: p.b.baseURL(ep.srv)}
			if p.b.endpoint != nil {
				p.b.endpoint(&ec)
			}
			for _, k := range ep.keys {
				kc := switchyard.KeyConfig{Label: k.label, Secret: k.secret, MaxInFlight: keyMaxInFlight}
				if p.b.credential != nil {
					p.b.credential(ep.srv, &kc)
				}
				ec.Keys = append(ec.Keys, kc)
			}
			pc.Endpoints = append(pc.Endpoints, ec)
		}
		cfg.Providers = append(cfg.Providers, pc)
	}
	return cfg
}

// realConfig configures every backend whose key is in the environment,
// against its public endpoint (the keys are read by switchyard.New).
func realConfig(getenv func(string) string) (switchyard.Config, error) {
	cfg := switchyard.Config{Getenv: getenv}
	var names []string
	for _, b := range backends {
		if b.selfHosted {
			continue
		}
		names = append(names, b.envKey)
		if getenv(b.envKey) == "" && getenv(b.envKey+"_1") == "" {
			continue
		}
		cfg.Providers = append(cfg.Providers, switchyard.ProviderConfig{Name: b.name, Kind: b.kind, KeyStrategy: b.strategy})
	}
	if len(cfg.Providers) == 0 {
		return cfg, fmt.Errorf("--real needs an API key in the environment (%s); none is set", joinOr(names))
	}
	return cfg, nil
}

func joinOr(s []string) string {
	switch len(s) {
	case 0:
		return ""
	case 1:
		return s[0]
	}
	out := ""
	for i, v := range s {
		switch {
		case i == 0:
		case i == len(s)-1:
			out += " or "
		default:
			out += ", "
		}
		out += v
	}
	return out
}
