package providers

// Descriptor describes one kind of backend: everything the runtime's
// configuration, the README's backend table, the demo and the tests need to
// know about it. Each adapter package exports its descriptors (a variable
// named Descriptor, or several for a package that serves several kinds), and
// the root package's kind table is the list of them, so adding a backend is
// one descriptor plus one line in that list.
//
// A Descriptor is plain data; it is safe for concurrent use once built.
type Descriptor struct {
	// Kind is ProviderConfig.Kind, e.g. "openai" or "anthropic_bedrock".
	Kind string
	// Service names the service in the README's table, e.g. "Anthropic
	// Messages API".
	Service string
	// Operations is the README's "operations (facade method)" cell: what the
	// kind serves, naming each facade method in backticks. A test checks the
	// methods named against the operations New's adapter serves.
	Operations string
	// New returns an adapter configured by o.
	New func(o AdapterOptions) Adapter
	// BaseURL is the public endpoint used when a provider lists none. It may
	// hold {region} and {project}, filled from EndpointConfig.Region and
	// .Project. Empty: every endpoint must give its base URL.
	BaseURL string
	// BaseURLHint is the README's base-URL cell when BaseURL is empty, e.g.
	// "self-hosted, e.g. `http://localhost:8080`".
	BaseURLHint string
	// KeyEnv is the environment variable API keys are read from by default
	// (for KeyPair kinds, the prefix of <KeyEnv>_ACCESS_KEY and
	// <KeyEnv>_SECRET_KEY).
	KeyEnv string
	// KeyOptional: the service may run without authentication (self-hosted).
	KeyOptional bool
	// KeyPair: keys are ACCESS:SECRET pairs and endpoints may come from
	// <KeyEnv>_ENDPOINT.
	KeyPair bool
	// KeysHint, when not empty, replaces the README's generated keys cell.
	KeysHint string
	// Credentials are the kinds of credential a key of this kind may hold;
	// empty means CredentialAPIKey only.
	Credentials []CredentialKind
}

// CredentialKind names a form of credential a key can hold.
type CredentialKind string

// The credential kinds.
const (
	// CredentialAPIKey is a fixed secret sent as the service wants it.
	CredentialAPIKey CredentialKind = "api_key"
	// CredentialAccessKeyPair is an ACCESS:SECRET pair the adapter signs
	// with (S3).
	CredentialAccessKeyPair CredentialKind = "access_key_pair"
	// CredentialBearerToken is a refreshing bearer token from a
	// TokenSource: Microsoft Entra ID (client credentials), any OAuth2
	// source the host supplies.
	CredentialBearerToken CredentialKind = "bearer_token"
	// CredentialGoogle is a Google OAuth2 token from a service account key
	// or application default credentials.
	CredentialGoogle CredentialKind = "google_oauth2"
	// CredentialAWSSigV4 signs every request with AWS Signature Version 4,
	// from static keys or the standard AWS credential chain.
	CredentialAWSSigV4 CredentialKind = "aws_sigv4"
)

// AdapterOptions configure an adapter built from a Descriptor; each kind
// reads the fields that apply to it and ignores the others.
type AdapterOptions struct {
	// APIVersion is the api-version query parameter (azure_openai).
	APIVersion string
	// Deployments maps a request's model to the deployment that serves it
	// (azure_openai); a model not in the map is its own deployment name.
	Deployments map[string]string
}

// Accepts reports whether d's keys may hold credentials of kind c.
func (d Descriptor) Accepts(c CredentialKind) bool {
	if len(d.Credentials) == 0 {
		return c == CredentialAPIKey
	}
	for _, k := range d.Credentials {
		if k == c {
			return true
		}
	}
	return false
}
