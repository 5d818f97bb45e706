package switchyard

import (
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		{"NaN failure rate", func(c *Config) { c.Breaker.FailureRate = math.NaN() }, "breaker.failure_rate"},
		{"NaN provider failure rate", func(c *Config) { c.Providers[0].Breaker = &BreakerConfig{FailureRate: math.NaN()} }, "providers[0].breaker.failure_rate"},
		{"NaN budget ratio", func(c *Config) { c.Retry.BudgetRatio = math.NaN() }, "retry.budget_ratio"},
		{"+Inf budget ratio", func(c *Config) { c.Retry.BudgetRatio = math.Inf(1) }, "retry.budget_ratio"},
		{"-Inf budget per second", func(c *Config) { c.Retry.BudgetPerSecond = math.Inf(-1) }, "retry.budget_per_second"},
		{"NaN budget burst", func(c *Config) { c.Retry.BudgetBurst = math.NaN() }, "retry.budget_burst"},
		{"NaN cache threshold", func(c *Config) { c.Cache.Threshold = math.NaN() }, "cache.threshold"},
		{"+Inf cache threshold", func(c *Config) { c.Cache.Threshold = math.Inf(1) }, "cache.threshold"},
		{"provider breaker", func(c *Config) { c.Providers[0].Breaker = &BreakerConfig{HalfOpenProbes: -2} }, "providers[0].breaker.half_open_probes"},
		{"max below cooldown", func(c *Config) { c.Breaker.Cooldown, c.Breaker.MaxCooldown = time.Minute, time.Second }, "breaker.max_cooldown"},
		{"base delay over max", func(c *Config) { c.Retry.BaseDelay, c.Retry.MaxDelay = time.Minute, time.Second }, "retry.base_delay"},
		{"negative header timeout", func(c *Config) { c.Timeouts.Header = -time.Second }, "timeouts.header"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := ok()
			c.edit(&cfg)
			sy, err := New(cfg)
			if sy != nil {
				t.Cleanup(func() { _ = sy.Close(t.Context()) })
			}
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, c.field, ce.Field)
			assert.NotContains(t, err.Error(), secretA, "config error shows the secret")
		})
	}
}

func TestKeysFromEnvironment(t *testing.T) {
	env := map[string]string{"OPENAI_API_KEY": "k0", "OPENAI_API_KEY_1": "k1", "OPENAI_API_KEY_2": "k2", "OPENAI_API_KEY_4": "gap"}
	cfg := Config{Providers: []ProviderConfig{{Kind: "openai"}}, Getenv: func(k string) string { return env[k] }}
	require.NoError(t, cfg.validate())
	ep := cfg.Providers[0].Endpoints[0]
	assert.Equal(t, "https://api.openai.com/v1", ep.BaseURL)
	assert.Equal(t, "api.openai.com", ep.Name)
	assert.Equal(t, "openai", cfg.Providers[0].Name)
	var got []string
	for _, k := range ep.Keys {
		got = append(got, k.Label+"="+k.Secret)
	}
	assert.Equal(t, []string{"env=k0", "env-1=k1", "env-2=k2"}, got)

	empty := Config{Providers: []ProviderConfig{{Kind: "anthropic"}}, Getenv: func(string) string { return "" }}
	err := empty.validate()
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "providers[0].endpoints[0].keys", ce.Field)
	assert.Contains(t, err.Error(), "ANTHROPIC_API_KEY")
}

// TestKeyVariablesOfEveryKind pins the variable each kind reads its keys
// from, as ProviderConfig's and the README's documentation say.
func TestKeyVariablesOfEveryKind(t *testing.T) {
	want := map[string]string{
		"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY", "gemini": "GEMINI_API_KEY", "groq": "GROQ_API_KEY",
		"llvm": "VLLM_API_KEY", "ollama": "OLLAMA_API_KEY", "ovms": "OVMS_API_KEY", "hf_tgi": "HF_TOKEN", "hf_tei": "HF_TOKEN",
		"opea": "OPEA_API_KEY", "opea_llm": "OPEA_API_KEY", "azure_openai": "AZURE_OPENAI_API_KEY",
		"anthropic_bedrock": "AWS_BEARER_TOKEN_BEDROCK",
	}
	for kind, variable := range want {
		t.Run(kind, func(t *testing.T) {
			env := map[string]string{variable: "secret-from-" + variable}
			cfg := Config{Providers: []ProviderConfig{{Kind: kind, Endpoints: []EndpointConfig{{BaseURL: "http://127.0.0.1:1"}}}},
				Getenv: func(k string) string { return env[k] }}
			require.NoError(t, cfg.validate())
			keys := cfg.Providers[0].Endpoints[0].Keys
			require.Len(t, keys, 1)
			assert.Equal(t, "secret-from-"+variable, keys[0].Secret)
		})
	}
	assert.Len(t, want, len(kinds)-3, "every kind but s3 (pairs, see TestS3KeyPairsAndEndpointsFromEnvironment) and the Vertex kinds (application default credentials, see TestDefaultCredentialsOfHostedKinds) is listed")
}

func TestLoadConfigFile(t *testing.T) {
	path := writeConfig(t, "switchyard.yaml", `
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
`)
	cfg, err := Load(path)
	require.NoError(t, err)
	cfg.Getenv = func(k string) string { return map[string]string{"TEST_SECRET": secretB}[k] }
	require.NoError(t, cfg.validate())
	k := cfg.Providers[0].Endpoints[0].Keys[0]
	assert.Equal(t, secretB, k.Secret)
	assert.Equal(t, 8, k.MaxInFlight)
	assert.Equal(t, 50, k.RPM)
	assert.Equal(t, 5*time.Second, cfg.Queue.AgingAfter)
	assert.Equal(t, 250*time.Millisecond, cfg.Retry.BaseDelay)
	assert.Equal(t, 2, cfg.Breaker.HalfOpenProbes)
	assert.Equal(t, 30*time.Second, cfg.Timeouts.Header)
}

// TestConfigFileErrorsNameFileLineAndField: every problem in a config file
// is a *ConfigError with the file, the line and the field in the file's own
// terms, never a Go type name.
func TestConfigFileErrorsNameFileLineAndField(t *testing.T) {
	cases := []struct {
		name, file, text string
		line             int
		field            string
		reason           string
	}{
		{"bare number duration", "a.yaml", "providers:\n  - kind: openai\n    breaker:\n      cooldown: 30\n", 4,
			"providers[0].breaker.cooldown", `a duration needs a unit: write "30s"`},
		{"bare number duration at the top", "a.yaml", "providers: [{kind: openai}]\nqueue:\n  aging_after: 10\n", 3,
			"queue.aging_after", "needs a unit"},
		{"duration without a known unit", "a.yaml", "providers: [{kind: openai}]\nretry: {base_delay: 5 seconds}\n", 2,
			"retry.base_delay", "is not a duration"},
		{"empty file", "empty.yaml", "", 1, "providers", "the file is empty"},
		{"only comments", "empty.yaml", "# nothing yet\n", 1, "providers", "the file is empty"},
		{"typo", "typo.yaml", "providers:\n  - kind: openai\n    endpionts: []\n", 3,
			"providers[0].endpionts", "unknown field (did you mean endpoints?)"},
		{"typo at the top", "typo.yaml", "provders: []\n", 1, "provders", "did you mean providers?"},
		{"string for a number", "a.yaml", "providers: [{kind: openai}]\nqueue: {high: \"ten\"}\n", 2, "queue.high", "must be a whole number"},
		{"fraction for a whole number", "a.yaml", "providers: [{kind: openai}]\nretry: {max_attempts: 2.5}\n", 2, "retry.max_attempts", "must be a whole number"},
		{"word for a bool", "a.yaml", "providers: [{kind: openai}]\nqueue: {shed_low: yes}\n", 2, "queue.shed_low", "must be true or false"},
		{"mapping for a list", "a.yaml", "providers:\n  kind: openai\n", 2, "providers", "must be a list"},
		{"list at the top", "a.yaml", "- kind: openai\n", 1, "config", "must be a mapping of fields"},
		{"syntax", "bad.yaml", "providers:\n  - kind: openai\n    name: [x\n", -1, "config", "not valid YAML or JSON"},
		{"field given twice", "a.yaml", "providers: [{kind: openai}]\nqueue: {high: 1, high: 2}\n", 2, "queue.high", ""},
		{"JSON duration as a number", "c.json", "{\n\t\"providers\": [{\"kind\": \"openai\"}],\n\t\"breaker\": {\"cooldown\": 30000000000}\n}\n", 3,
			"breaker.cooldown", "needs a unit"},
		{"JSON typo", "c.json", "{\n  \"providers\": [\n    {\"kind\": \"openai\", \"key_stratgy\": \"weighted\"}\n  ]\n}\n", 3,
			"providers[0].key_stratgy", "did you mean key_strategy?"},
		{"JSON syntax", "c.json", "{\n  \"providers\": [\n    {\"kind\": \"openai\",}\n  ]\n", -1, "config", "not valid YAML or JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := writeConfig(t, c.file, c.text)
			_, err := Load(path)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, path, ce.File)
			if c.line < 0 {
				assert.Positive(t, ce.Line, "a syntax error has the line the parser reports")
			} else {
				assert.Equal(t, c.line, ce.Line, "line")
			}
			assert.Equal(t, c.field, ce.Field)
			assert.Contains(t, ce.Reason, c.reason)
			msg := err.Error()
			assert.Contains(t, msg, path)
			for _, goName := range []string{"time.Duration", "switchyard.", "!!int", "!!str", "!!seq", "!!map", "int64", "float64", "struct"} {
				assert.NotContains(t, msg, goName, "the error speaks Go, not Switchyard")
			}
		})
	}
}

// TestLoadJSON: a JSON config file loads: tab-indented, with "\/" escapes.
func TestLoadJSON(t *testing.T) {
	path := writeConfig(t, "switchyard.json", "{\n\t\"providers\": [\n\t\t{\"kind\": \"openai\", \"endpoints\": [{\"base_url\": \"http:\\/\\/localhost:1\\/v1\", \"keys\": [{\"secret\": \"x\\\\/y\"}]}]}\n\t],\n\t\"queue\": {\"aging_after\": \"5s\", \"shed_low\": true},\n\t\"breaker\": {\"failure_rate\": 0.25}\n}\n")
	cfg, err := Load(path)
	require.NoError(t, err)
	require.Len(t, cfg.Providers, 1)
	assert.Equal(t, "http://localhost:1/v1", cfg.Providers[0].Endpoints[0].BaseURL)
	assert.Equal(t, `x\/y`, cfg.Providers[0].Endpoints[0].Keys[0].Secret, "an escaped backslash before a slash stays")
	assert.Equal(t, 5*time.Second, cfg.Queue.AgingAfter)
	assert.True(t, cfg.Queue.ShedLow)
	assert.InDelta(t, 0.25, cfg.Breaker.FailureRate, 1e-9)
}

// TestLoadedConfigValidationNamesTheLine: a field a loaded file got wrong
// is reported by New with the file and the line it is on.
func TestLoadedConfigValidationNamesTheLine(t *testing.T) {
	path := writeConfig(t, "switchyard.yaml", `providers:
  - name: openai
    kind: openai
    endpoints:
      - base_url: https://api.openai.com/v1
        keys: [{secret: x}]
breaker:
  failure_rate: .nan
`)
	cfg, err := Load(path)
	require.NoError(t, err)
	_, err = New(cfg)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "breaker.failure_rate", ce.Field)
	assert.Equal(t, path, ce.File)
	assert.Equal(t, 8, ce.Line)
	assert.Contains(t, err.Error(), path+":8: breaker.failure_rate: must be a finite number")

	path = writeConfig(t, "cache.yaml", `providers:
  - {name: openai, kind: openai, endpoints: [{base_url: "https://api.openai.com/v1", keys: [{secret: x}]}]}
cache:
  enabled: true
  embedding:
    provider: tei
`)
	cfg, err = Load(path)
	require.NoError(t, err)
	_, err = New(cfg)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "cache.embedding.provider", ce.Field)
	assert.Equal(t, 6, ce.Line)
}

func TestS3KeyPairsAndEndpointsFromEnvironment(t *testing.T) {
	env := map[string]string{
		"S3_ENDPOINT": "http://127.0.0.1:9000", "S3_ACCESS_KEY": "AK0", "S3_SECRET_KEY": "SK0",
		"S3_ENDPOINT_1": "http://127.0.0.1:9001", "S3_ACCESS_KEY_1": "AK1", "S3_SECRET_KEY_1": "SK1",
	}
	cfg := Config{Providers: []ProviderConfig{{Kind: "s3"}}, Getenv: func(k string) string { return env[k] }}
	require.NoError(t, cfg.validate())
	eps := cfg.Providers[0].Endpoints
	require.Len(t, eps, 2)
	assert.Equal(t, "http://127.0.0.1:9000", eps[0].BaseURL)
	assert.Equal(t, "endpoint-1", eps[1].Name)
	if k := eps[0].Keys; assert.Len(t, k, 2) {
		assert.Equal(t, "AK0:SK0", k[0].Secret)
		assert.Equal(t, "AK1:SK1", k[1].Secret)
	}
	if k := eps[1].Keys; assert.Len(t, k, 1) {
		assert.Equal(t, "AK1:SK1", k[0].Secret)
		assert.Equal(t, "env-1", k[0].Label)
	}
	bad := Config{Providers: []ProviderConfig{{Kind: "s3", Endpoints: []EndpointConfig{{BaseURL: "http://127.0.0.1:9000", Keys: []KeyConfig{{Secret: "no-colon"}}}}}}}
	err := bad.validate()
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, "providers[0].endpoints[0].keys[0].secret", ce.Field)
	assert.NotContains(t, err.Error(), "no-colon")
	none := Config{Providers: []ProviderConfig{{Kind: "s3"}}, Getenv: func(string) string { return "" }}
	require.ErrorAs(t, none.validate(), &ce)
	assert.Equal(t, "providers[0].endpoints", ce.Field)
}

// writeConfig writes a config file into the test's directory.
func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}
