package switchyard

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
	"github.com/switchyard-ai/switchyard/sim"
)

func oneKey(kind string, ec EndpointConfig) Config {
	return Config{Providers: []ProviderConfig{{Kind: kind, Endpoints: []EndpointConfig{ec}}}, Getenv: func(string) string { return "" }}
}

// Invalid credentials are refused at New with the field that is wrong.
func TestCredentialConfigErrors(t *testing.T) {
	saFile := filepath.Join(t.TempDir(), "missing.json")
	for _, tc := range []struct {
		name  string
		cfg   Config
		field string
	}{
		{"two forms", oneKey("azure_openai", EndpointConfig{BaseURL: "https://r.openai.azure.com", Keys: []KeyConfig{{Secret: "k", Entra: &EntraConfig{TenantID: "t", ClientID: "c", ClientSecret: "s"}}}}),
			"providers[0].endpoints[0].keys[0]"},
		{"kind does not take it", oneKey("openai", EndpointConfig{BaseURL: "https://api.openai.com/v1", Keys: []KeyConfig{{AWS: &AWSConfig{DefaultChain: true}}}}),
			"providers[0].endpoints[0].keys[0]"},
		{"entra without tenant", oneKey("azure_openai", EndpointConfig{BaseURL: "https://r.openai.azure.com", Keys: []KeyConfig{{Entra: &EntraConfig{ClientID: "c", ClientSecret: "s"}}}}),
			"providers[0].endpoints[0].keys[0].entra.tenant_id"},
		{"entra secret env empty", oneKey("azure_openai", EndpointConfig{BaseURL: "https://r.openai.azure.com", Keys: []KeyConfig{{Entra: &EntraConfig{TenantID: "t", ClientID: "c", ClientSecretEnv: "NOPE"}}}}),
			"providers[0].endpoints[0].keys[0].entra.client_secret_env"},
		{"google two sources", oneKey("gemini_vertex", EndpointConfig{Region: "us-central1", Project: "p-123456", Keys: []KeyConfig{{Google: &GoogleConfig{ApplicationDefault: true, CredentialsJSON: []byte("{}")}}}}),
			"providers[0].endpoints[0].keys[0].google"},
		{"google file missing", oneKey("gemini_vertex", EndpointConfig{Region: "us-central1", Project: "p-123456", Keys: []KeyConfig{{Google: &GoogleConfig{CredentialsFile: saFile}}}}),
			"providers[0].endpoints[0].keys[0].google.credentials_file"},
		{"aws half a key", oneKey("anthropic_bedrock", EndpointConfig{Region: "us-east-1", Keys: []KeyConfig{{AWS: &AWSConfig{AccessKeyID: "AKIAEXAMPLE"}}}}),
			"providers[0].endpoints[0].keys[0].aws.secret_access_key"},
		{"aws keys and chain", oneKey("anthropic_bedrock", EndpointConfig{Region: "us-east-1", Keys: []KeyConfig{{AWS: &AWSConfig{AccessKeyID: "A", SecretAccessKey: "S", DefaultChain: true}}}}),
			"providers[0].endpoints[0].keys[0].aws"},
		{"aws without a region", oneKey("anthropic_bedrock", EndpointConfig{BaseURL: "https://gateway.example.com/bedrock", Keys: []KeyConfig{{AWS: &AWSConfig{AccessKeyID: "A", SecretAccessKey: "S"}}}}),
			"providers[0].endpoints[0].region"},
		{"vertex without a project", oneKey("gemini_vertex", EndpointConfig{Region: "us-central1"}), "providers[0].endpoints[0].project"},
		{"bedrock without a region", oneKey("anthropic_bedrock", EndpointConfig{}), "providers[0].endpoints[0].region"},
		{"azure needs its resource", Config{Providers: []ProviderConfig{{Kind: "azure_openai"}}}, "providers[0].endpoints"},
		{"azure api version", Config{Providers: []ProviderConfig{{Kind: "azure_openai", APIVersion: "2024/10/21",
			Endpoints: []EndpointConfig{{BaseURL: "https://r.openai.azure.com", Keys: []KeyConfig{{Secret: "k"}}}}}}}, "providers[0].api_version"},
		{"api version elsewhere", Config{Providers: []ProviderConfig{{Kind: "openai", APIVersion: "v1",
			Endpoints: []EndpointConfig{{BaseURL: "https://api.openai.com/v1", Keys: []KeyConfig{{Secret: "k"}}}}}}}, "providers[0].api_version"},
		{"deployments elsewhere", Config{Providers: []ProviderConfig{{Kind: "openai", Deployments: map[string]string{"a": "b"},
			Endpoints: []EndpointConfig{{BaseURL: "https://api.openai.com/v1", Keys: []KeyConfig{{Secret: "k"}}}}}}}, "providers[0].deployments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
			assert.Equal(t, tc.field, ce.Field, "%v", err)
		})
	}
}

// {region} and {project} are filled from the endpoint; a SigV4 key's
// region is the endpoint's or the one the host names.
func TestHostedBaseURLs(t *testing.T) {
	for _, tc := range []struct {
		kind       string
		ec         EndpointConfig
		wantURL    string
		wantRegion string
	}{
		{"anthropic_bedrock", EndpointConfig{Region: "eu-west-1", Keys: []KeyConfig{{AWS: &AWSConfig{AccessKeyID: "A", SecretAccessKey: "S"}}}},
			"https://bedrock-runtime.eu-west-1.amazonaws.com", "eu-west-1"},
		{"anthropic_bedrock", EndpointConfig{BaseURL: "https://bedrock-runtime.us-west-2.amazonaws.com", Keys: []KeyConfig{{AWS: &AWSConfig{AccessKeyID: "A", SecretAccessKey: "S"}}}},
			"https://bedrock-runtime.us-west-2.amazonaws.com", "us-west-2"},
		{"anthropic_bedrock", EndpointConfig{BaseURL: "https://gw.example.com/aws", Region: "ap-south-1", Keys: []KeyConfig{{AWS: &AWSConfig{AccessKeyID: "A", SecretAccessKey: "S"}}}},
			"https://gw.example.com/aws", "ap-south-1"},
		{"gemini_vertex", EndpointConfig{Region: "europe-west4", Project: "my-proj-1", Keys: []KeyConfig{{TokenSource: staticTokens{}}}},
			"https://europe-west4-aiplatform.googleapis.com/v1/projects/my-proj-1/locations/europe-west4", "europe-west4"},
	} {
		t.Run(tc.wantURL, func(t *testing.T) {
			cfg := oneKey(tc.kind, tc.ec)
			require.NoError(t, cfg.validate())
			ec := cfg.Providers[0].Endpoints[0]
			assert.Equal(t, tc.wantURL, ec.BaseURL)
			assert.Equal(t, tc.wantRegion, ec.Region)
		})
	}
}

// An endpoint of a Google kind with no keys uses application default
// credentials; a Bedrock endpoint the AWS chain, unless
// $AWS_BEARER_TOKEN_BEDROCK holds a Bedrock API key.
func TestDefaultCredentialsOfHostedKinds(t *testing.T) {
	for _, tc := range []struct {
		kind string
		env  map[string]string
		ec   EndpointConfig
		want func(t *testing.T, kc KeyConfig)
	}{
		{"gemini_vertex", nil, EndpointConfig{Region: "us-central1", Project: "p-123456"}, func(t *testing.T, kc KeyConfig) {
			require.NotNil(t, kc.Google)
			assert.True(t, kc.Google.ApplicationDefault)
		}},
		{"anthropic_vertex", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "/etc/sa.json"}, EndpointConfig{Region: "us-east5", Project: "p-123456"},
			func(t *testing.T, kc KeyConfig) {
				require.NotNil(t, kc.Google, "the variable names a file for ADC, it is not a key")
				assert.Empty(t, kc.Secret)
			}},
		{"anthropic_bedrock", nil, EndpointConfig{Region: "us-east-1"}, func(t *testing.T, kc KeyConfig) {
			require.NotNil(t, kc.AWS)
			assert.True(t, kc.AWS.DefaultChain)
		}},
		{"anthropic_bedrock", map[string]string{"AWS_BEARER_TOKEN_BEDROCK": "bedrock-api-key-123456"}, EndpointConfig{Region: "us-east-1"}, func(t *testing.T, kc KeyConfig) {
			assert.Nil(t, kc.AWS)
			assert.Equal(t, "bedrock-api-key-123456", kc.Secret)
		}},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			cfg := oneKey(tc.kind, tc.ec)
			cfg.Getenv = func(k string) string { return tc.env[k] }
			require.NoError(t, cfg.validate())
			keys := cfg.Providers[0].Endpoints[0].Keys
			require.Len(t, keys, 1)
			tc.want(t, keys[0])
		})
	}
}

// staticTokens issues the same token, for configuration tests.
type staticTokens struct{}

func (staticTokens) Token(context.Context) (providers.Token, error) {
	return providers.Token{Value: "static-token-for-config-tests", ExpiresIn: time.Hour}, nil
}

// A service account key file's private key and an Entra client secret are
// redacted from the start; tokens as they are issued.
func TestCredentialSecretsAreRedacted(t *testing.T) {
	sa := googleSim.ServiceAccount("redact@sim-project.iam.gserviceaccount.com")
	path := filepath.Join(t.TempDir(), "sa.json")
	require.NoError(t, os.WriteFile(path, sa, 0o600))
	kc := KeyConfig{Google: &GoogleConfig{CredentialsFile: path}}
	require.NoError(t, kc.validateCredential("k", nil, func(string) string { return "" }))
	red := redact.New(kc.credentialSecrets()...)
	scrubbed := red.String(string(sa))
	assert.NotContains(t, scrubbed, "PRIVATE KEY-----\\nMII", "the private key, as the file holds it, is redacted")
	assert.Contains(t, string(sa), "PRIVATE KEY-----\\nMII", "control: the file holds it")
	assert.Contains(t, scrubbed, "redact@sim-project.iam.gserviceaccount.com", "the account's name is not a secret")
	entra := KeyConfig{Entra: &EntraConfig{TenantID: "t", ClientID: "c", ClientSecret: "entra-client-secret-value"}}
	assert.Contains(t, entra.credentialSecrets(), "entra-client-secret-value")
}

// Application default credentials are looked up at the first request, not
// in New: New never probes a metadata server; a machine without them
// fails the key's requests as a refused credential.
func TestApplicationDefaultCredentialsAreLazy(t *testing.T) {
	srv := sim.Start(sim.VertexGemini(googleSim), sim.WithoutRecords())
	t.Cleanup(srv.Close)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "none.json"))
	cfg := Config{Providers: []ProviderConfig{{Kind: "gemini_vertex", Endpoints: []EndpointConfig{{BaseURL: vertexBaseURL(srv)}}}},
		Retry: RetryConfig{MaxAttempts: 1}}
	h := newHarness(t, cfg, false)
	_, err := h.sy.Chat(context.Background(), chatOf("gemini-2.5-flash", false)("gemini_vertex", 0))
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, messages.ClassAuth, ue.Class, "%v", err)
	assert.Equal(t, "adc", ue.Key)
	assert.Zero(t, srv.Calls(), "nothing is sent without a credential")
}
