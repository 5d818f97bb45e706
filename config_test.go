package switchyard

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigErrorsNameTheField(t *testing.T) {
	ok := func() Config {
		return Config{Providers: []ProviderConfig{{Kind: "openai", Endpoints: []EndpointConfig{{BaseURL: "https://api.openai.com/v1", Keys: []KeyConfig{{Secret: secretA}}}}}}}
	}
	cases := []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"no providers", func(c *Config) { c.Providers = nil }, "providers"},
		{"unknown kind", func(c *Config) { c.Providers[0].Kind = "skynet" }, "providers[0].kind"},
		{"duplicate names", func(c *Config) { c.Providers = append(c.Providers, c.Providers[0]) }, "providers[1].name"},
		{"bad strategy", func(c *Config) { c.Providers[0].KeyStrategy = "random" }, "providers[0].key_strategy"},
		{"relative url", func(c *Config) { c.Providers[0].Endpoints[0].BaseURL = "api.openai.com" }, "providers[0].endpoints[0].base_url"},
		{"url with credentials", func(c *Config) { c.Providers[0].Endpoints[0].BaseURL = "https://u:p@host/v1" }, "providers[0].endpoints[0].base_url"},
		{"empty secret", func(c *Config) { c.Providers[0].Endpoints[0].Keys[0].Secret = "" }, "providers[0].endpoints[0].keys[0].secret"},
		{"missing secret env", func(c *Config) {
			c.Providers[0].Endpoints[0].Keys[0] = KeyConfig{SecretEnv: "SWITCHYARD_TEST_UNSET_VARIABLE"}
		}, "providers[0].endpoints[0].keys[0].secret_env"},
		{"duplicate labels", func(c *Config) {
			c.Providers[0].Endpoints[0].Keys = []KeyConfig{{Label: "x", Secret: "a"}, {Label: "x", Secret: "b"}}
		}, "providers[0].endpoints[0].keys[1].label"},
		{"negative max in flight", func(c *Config) { c.Providers[0].Endpoints[0].Keys[0].MaxInFlight = -1 }, "providers[0].endpoints[0].keys[0].max_in_flight"},
		{"negative queue", func(c *Config) { c.Queue.Low = -1 }, "queue.low"},
		{"failure rate", func(c *Config) { c.Breaker.FailureRate = 1.5 }, "breaker.failure_rate"},
		{"provider breaker", func(c *Config) { c.Providers[0].Breaker = &BreakerConfig{HalfOpenProbes: -2} }, "providers[0].breaker.half_open_probes"},
		{"max below cooldown", func(c *Config) { c.Breaker.Cooldown, c.Breaker.MaxCooldown = time.Minute, time.Second }, "breaker.max_cooldown"},
		{"base delay over max", func(c *Config) { c.Retry.BaseDelay, c.Retry.MaxDelay = time.Minute, time.Second }, "retry.base_delay"},
		{"negative header timeout", func(c *Config) { c.Timeouts.Header = -time.Second }, "timeouts.header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok()
			c.edit(&cfg)
			_, err := New(cfg)
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field {
				t.Fatalf("got %v, want an error naming %s", err, c.field)
			}
			if strings.Contains(err.Error(), secretA) {
				t.Fatal("config error shows the secret")
			}
		})
	}
}

func TestKeysFromEnvironment(t *testing.T) {
	env := map[string]string{"OPENAI_API_KEY": "k0", "OPENAI_API_KEY_1": "k1", "OPENAI_API_KEY_2": "k2", "OPENAI_API_KEY_4": "gap"}
	cfg := Config{Providers: []ProviderConfig{{Kind: "openai"}}, Getenv: func(k string) string { return env[k] }}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	ep := cfg.Providers[0].Endpoints[0]
	if ep.BaseURL != "https://api.openai.com/v1" || ep.Name != "api.openai.com" || cfg.Providers[0].Name != "openai" {
		t.Fatalf("defaults: %+v", ep)
	}
	var got []string
	for _, k := range ep.Keys {
		got = append(got, k.Label+"="+k.Secret)
	}
	if strings.Join(got, ",") != "env=k0,env-1=k1,env-2=k2" {
		t.Fatalf("keys %v", got)
	}
	empty := Config{Providers: []ProviderConfig{{Kind: "anthropic"}}, Getenv: func(string) string { return "" }}
	var ce *ConfigError
	if err := empty.validate(); !errors.As(err, &ce) || ce.Field != "providers[0].endpoints[0].keys" || !strings.Contains(err.Error(), "ANTHROPIC_API_KEY") {
		t.Fatalf("no keys: %v", err)
	}
}

func TestLoadConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "switchyard.yaml")
	yaml := `
providers:
  - name: main
    kind: anthropic
    key_strategy: least-loaded
    endpoints:
      - name: primary
        base_url: https://api.anthropic.com
        keys:
          - {label: prod-1, secret_env: TEST_SECRET, max_in_flight: 8, rpm: 50}
queue: {high: 10, normal: 20, low: 30, aging_after: 5s}
retry: {max_attempts: 4, base_delay: 250ms}
breaker: {consecutive_failures: 3, cooldown: 20s, half_open_probes: 2}
timeouts: {header: 30s}
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Getenv = func(k string) string { return map[string]string{"TEST_SECRET": secretB}[k] }
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	k := cfg.Providers[0].Endpoints[0].Keys[0]
	if k.Secret != secretB || k.MaxInFlight != 8 || k.RPM != 50 || cfg.Queue.AgingAfter != 5*time.Second ||
		cfg.Retry.BaseDelay != 250*time.Millisecond || cfg.Breaker.HalfOpenProbes != 2 || cfg.Timeouts.Header != 30*time.Second {
		t.Fatalf("loaded %+v", cfg)
	}
	json := `{"providers":[{"kind":"openai","endpoints":[{"base_url":"http://localhost:1/v1","keys":[{"secret":"x"}]}]}]}`
	if _, err := Parse([]byte(json)); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	if _, err := Parse([]byte("providers:\n  - kind: openai\n    endpionts: []\n")); err == nil || !strings.Contains(err.Error(), "endpionts") {
		t.Fatalf("a misspelt field must be an error naming it: %v", err)
	}
}

func TestS3KeyPairsAndEndpointsFromEnvironment(t *testing.T) {
	env := map[string]string{
		"S3_ENDPOINT": "http://127.0.0.1:9000", "S3_ACCESS_KEY": "AK0", "S3_SECRET_KEY": "SK0",
		"S3_ENDPOINT_1": "http://127.0.0.1:9001", "S3_ACCESS_KEY_1": "AK1", "S3_SECRET_KEY_1": "SK1",
	}
	cfg := Config{Providers: []ProviderConfig{{Kind: "s3"}}, Getenv: func(k string) string { return env[k] }}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	eps := cfg.Providers[0].Endpoints
	if len(eps) != 2 || eps[0].BaseURL != "http://127.0.0.1:9000" || eps[1].Name != "endpoint-1" {
		t.Fatalf("endpoints %+v", eps)
	}
	if k := eps[0].Keys; len(k) != 2 || k[0].Secret != "AK0:SK0" || k[1].Secret != "AK1:SK1" {
		t.Fatalf("first endpoint keys %+v", k)
	}
	if k := eps[1].Keys; len(k) != 1 || k[0].Secret != "AK1:SK1" || k[0].Label != "env-1" {
		t.Fatalf("second endpoint keys %+v", k)
	}
	bad := Config{Providers: []ProviderConfig{{Kind: "s3", Endpoints: []EndpointConfig{{BaseURL: "http://127.0.0.1:9000", Keys: []KeyConfig{{Secret: "no-colon"}}}}}}}
	var ce *ConfigError
	if err := bad.validate(); !errors.As(err, &ce) || ce.Field != "providers[0].endpoints[0].keys[0].secret" || strings.Contains(err.Error(), "no-colon") {
		t.Fatalf("a secret without ACCESS:SECRET: %v", err)
	}
	none := Config{Providers: []ProviderConfig{{Kind: "s3"}}, Getenv: func(string) string { return "" }}
	if err := none.validate(); !errors.As(err, &ce) || ce.Field != "providers[0].endpoints" {
		t.Fatalf("no endpoint: %v", err)
	}
}
