package switchyard

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/azure"
)

// EntraConfig authenticates a key with a Microsoft Entra ID application
// (client credentials grant) instead of an API key, for azure_openai. The
// runtime fetches a bearer token for Scope, refreshes it before it expires
// and once more when the service answers 401.
type EntraConfig struct {
	TenantID string `yaml:"tenant_id" json:"tenant_id"`
	ClientID string `yaml:"client_id" json:"client_id"`
	// ClientSecret, or the variable ClientSecretEnv names, is the
	// application's secret; it is redacted like every key.
	ClientSecret    string `yaml:"client_secret" json:"client_secret"`
	ClientSecretEnv string `yaml:"client_secret_env" json:"client_secret_env"`
	// TokenURL overrides https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token
	// (a sovereign cloud, a proxy).
	TokenURL string `yaml:"token_url" json:"token_url"`
	// Scope defaults to https://cognitiveservices.azure.com/.default.
	Scope string `yaml:"scope" json:"scope"`
}

// GoogleConfig authenticates a key with Google OAuth2 tokens, for
// anthropic_vertex and gemini_vertex: a service account key (CredentialsFile
// or CredentialsJSON) or, with ApplicationDefault, Google's application
// default credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's user
// credentials, the metadata server). Tokens are refreshed before they
// expire and once more when the service answers 401.
type GoogleConfig struct {
	CredentialsFile string `yaml:"credentials_file" json:"credentials_file"`
	// CredentialsJSON is the key file's contents (code only; redacted).
	CredentialsJSON    []byte `yaml:"-" json:"-"`
	ApplicationDefault bool   `yaml:"application_default" json:"application_default"`
	// Scopes default to https://www.googleapis.com/auth/cloud-platform.
	Scopes []string `yaml:"scopes" json:"scopes"`
	// TokenURL overrides the key file's token_uri.
	TokenURL string `yaml:"token_url" json:"token_url"`
}

// AWSConfig signs every request of a key with AWS Signature Version 4, for
// anthropic_bedrock: static keys (AccessKeyID with SecretAccessKey or
// SecretAccessKeyEnv, optionally a SessionToken), or with DefaultChain the
// standard AWS chain (environment, shared config and credentials files with
// Profile, SSO, web identity, container and instance roles), refreshed as
// the chain's credentials expire. The region is the endpoint's Region, or
// the one its base URL names (bedrock-runtime.{region}.amazonaws.com).
type AWSConfig struct {
	AccessKeyID        string `yaml:"access_key_id" json:"access_key_id"`
	SecretAccessKey    string `yaml:"secret_access_key" json:"secret_access_key"`
	SecretAccessKeyEnv string `yaml:"secret_access_key_env" json:"secret_access_key_env"`
	SessionToken       string `yaml:"session_token" json:"session_token"`
	SessionTokenEnv    string `yaml:"session_token_env" json:"session_token_env"`
	DefaultChain       bool   `yaml:"default_chain" json:"default_chain"`
	Profile            string `yaml:"profile" json:"profile"`
}

// credentialKind reports which credential kc holds, and how many forms it
// sets (more than one is a configuration error).
func (kc *KeyConfig) credentialKind() (providers.CredentialKind, int) {
	var kinds []providers.CredentialKind
	if kc.Secret != "" || kc.SecretEnv != "" {
		kinds = append(kinds, providers.CredentialAPIKey)
	}
	if kc.TokenSource != nil || kc.Entra != nil {
		kinds = append(kinds, providers.CredentialBearerToken)
	}
	if kc.Google != nil {
		kinds = append(kinds, providers.CredentialGoogle)
	}
	if kc.AWS != nil {
		kinds = append(kinds, providers.CredentialAWSSigV4)
	}
	if len(kinds) == 0 {
		return "", 0
	}
	return kinds[0], len(kinds)
}

// validateCredential checks the credential of key kf of a provider of kind
// d (nil for a plugged-in adapter, which accepts any) and resolves its
// environment variables.
func (kc *KeyConfig) validateCredential(kf string, d *providers.Descriptor, getenv func(string) string) error {
	ck, n := kc.credentialKind()
	if n > 1 {
		return &ConfigError{Field: kf, Reason: "set exactly one of secret/secret_env, entra, google, aws (or TokenSource in code)"}
	}
	if ck == providers.CredentialAPIKey && d != nil && d.KeyPair {
		ck = providers.CredentialAccessKeyPair
	}
	if n == 1 && d != nil && !d.Accepts(ck) {
		return &ConfigError{Field: kf, Reason: fmt.Sprintf("kind %q does not take %s credentials (it takes %s)", d.Kind, ck, credentialList(d))}
	}
	switch {
	case kc.Entra != nil:
		e := kc.Entra
		if e.ClientSecret == "" && e.ClientSecretEnv != "" {
			if e.ClientSecret = getenv(e.ClientSecretEnv); e.ClientSecret == "" {
				return &ConfigError{Field: kf + ".entra.client_secret_env", Reason: fmt.Sprintf("$%s is empty", e.ClientSecretEnv)}
			}
		}
		for _, f := range []struct{ name, val string }{{"tenant_id", e.TenantID}, {"client_id", e.ClientID}, {"client_secret", e.ClientSecret}} {
			if f.val == "" {
				return &ConfigError{Field: kf + ".entra." + f.name, Reason: "empty"}
			}
		}
	case kc.Google != nil:
		g := kc.Google
		set := 0
		for _, b := range []bool{g.CredentialsFile != "", len(g.CredentialsJSON) > 0, g.ApplicationDefault} {
			if b {
				set++
			}
		}
		if set != 1 {
			return &ConfigError{Field: kf + ".google", Reason: "set exactly one of credentials_file, CredentialsJSON, application_default"}
		}
		if g.CredentialsFile != "" {
			b, err := os.ReadFile(g.CredentialsFile)
			if err != nil {
				return &ConfigError{Field: kf + ".google.credentials_file", Reason: "cannot read it: " + err.Error()}
			}
			g.CredentialsJSON = b
		}
	case kc.AWS != nil:
		a := kc.AWS
		if a.SecretAccessKey == "" && a.SecretAccessKeyEnv != "" {
			if a.SecretAccessKey = getenv(a.SecretAccessKeyEnv); a.SecretAccessKey == "" {
				return &ConfigError{Field: kf + ".aws.secret_access_key_env", Reason: fmt.Sprintf("$%s is empty", a.SecretAccessKeyEnv)}
			}
		}
		if a.SessionToken == "" && a.SessionTokenEnv != "" {
			if a.SessionToken = getenv(a.SessionTokenEnv); a.SessionToken == "" {
				return &ConfigError{Field: kf + ".aws.session_token_env", Reason: fmt.Sprintf("$%s is empty", a.SessionTokenEnv)}
			}
		}
		static := a.AccessKeyID != "" || a.SecretAccessKey != ""
		switch {
		case static && a.DefaultChain:
			return &ConfigError{Field: kf + ".aws", Reason: "set either access_key_id/secret_access_key or default_chain"}
		case !static && !a.DefaultChain:
			return &ConfigError{Field: kf + ".aws", Reason: "set access_key_id and secret_access_key, or default_chain"}
		case static && a.AccessKeyID == "":
			return &ConfigError{Field: kf + ".aws.access_key_id", Reason: "empty"}
		case static && a.SecretAccessKey == "":
			return &ConfigError{Field: kf + ".aws.secret_access_key", Reason: "empty (set secret_access_key or secret_access_key_env)"}
		}
	}
	return nil
}

func credentialList(d *providers.Descriptor) string {
	if len(d.Credentials) == 0 {
		return string(providers.CredentialAPIKey)
	}
	var s []string
	for _, c := range d.Credentials {
		s = append(s, string(c))
	}
	return strings.Join(s, ", ")
}

// credentialSecrets are the fixed secrets of kc the redactor must know from
// the start (tokens and chain credentials are tracked as they are issued).
func (kc *KeyConfig) credentialSecrets() []string {
	out := []string{kc.Secret}
	if e := kc.Entra; e != nil {
		out = append(out, e.ClientSecret)
	}
	if g := kc.Google; g != nil && len(g.CredentialsJSON) > 0 {
		out = append(out, googleKeySecrets(g.CredentialsJSON)...)
	}
	if a := kc.AWS; a != nil {
		out = append(out, a.SecretAccessKey, a.SessionToken)
	}
	return out
}

// googleKeySecrets returns the secrets in a Google credentials file: a
// service account's private key, an authorized user's client secret and
// refresh token.
func googleKeySecrets(b []byte) []string {
	var f struct {
		PrivateKey   string `json:"private_key"`
		ClientSecret string `json:"client_secret"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(b, &f) != nil {
		return []string{string(b)}
	}
	return []string{f.PrivateKey, f.ClientSecret, f.RefreshToken}
}

// expandBaseURL fills {region} and {project} in raw from e, naming the
// missing field of endpoint ef when raw needs it.
func expandBaseURL(raw string, e *EndpointConfig, ef string) (string, error) {
	for _, p := range []struct{ placeholder, field, val string }{{"{region}", "region", e.Region}, {"{project}", "project", e.Project}} {
		if !strings.Contains(raw, p.placeholder) {
			continue
		}
		if p.val == "" || strings.ContainsAny(p.val, "/?#{} ") {
			return "", &ConfigError{Field: ef + "." + p.field, Reason: fmt.Sprintf("required to build the base URL %s (or give base_url)", raw)}
		}
		raw = strings.ReplaceAll(raw, p.placeholder, p.val)
	}
	return raw, nil
}

// awsRegion is the region of endpoint e for SigV4: its Region, else the one
// a bedrock-runtime.{region}.amazonaws.com host names.
func awsRegion(e *EndpointConfig, host string) string {
	if e.Region != "" {
		return e.Region
	}
	if rest, ok := strings.CutPrefix(host, "bedrock-runtime."); ok {
		if region, _, ok := strings.Cut(rest, "."); ok && strings.Contains(rest, "amazonaws.com") {
			return region
		}
	}
	return ""
}

// defaultChainKeys is the key an endpoint of kind d gets when none is
// configured or found in the environment: application default credentials
// for the Google kinds, the standard AWS chain for SigV4 kinds; none for
// the others (and for a plugged-in adapter, d nil).
func defaultChainKeys(d *providers.Descriptor) []KeyConfig {
	switch {
	case d == nil:
		return nil
	case d.Accepts(providers.CredentialGoogle):
		return []KeyConfig{{Label: "adc", Google: &GoogleConfig{ApplicationDefault: true}}}
	case d.Accepts(providers.CredentialAWSSigV4):
		return []KeyConfig{{Label: "aws-chain", AWS: &AWSConfig{DefaultChain: true}}}
	}
	return nil
}

// validateHosting checks the fields only a cloud hosting reads:
// api_version and deployments belong to azure_openai.
func (p *ProviderConfig) validateHosting(f string) error {
	if p.Adapter != nil || p.Kind == azure.Kind {
		if p.Kind == azure.Kind {
			if err := azure.ValidAPIVersion(p.APIVersion); err != nil {
				return &ConfigError{Field: f + ".api_version", Reason: err.Error() + " (v1, preview, or a date such as 2024-10-21)"}
			}
		}
		for model, dep := range p.Deployments {
			if model == "" || dep == "" {
				return &ConfigError{Field: f + ".deployments", Reason: "model and deployment names must not be empty"}
			}
		}
		return nil
	}
	if p.APIVersion != "" {
		return &ConfigError{Field: f + ".api_version", Reason: "only azure_openai takes an api_version"}
	}
	if len(p.Deployments) > 0 {
		return &ConfigError{Field: f + ".deployments", Reason: "only azure_openai maps models to deployments"}
	}
	return nil
}
