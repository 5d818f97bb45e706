package vertexanthropic

import "github.com/switchyard-ai/switchyard/providers"

// Descriptor describes the "anthropic_vertex" kind: Claude on Google
// Vertex AI at the regional endpoint of the endpoint's region and project,
// with Google OAuth 2 credentials (a service account key file named by
// GOOGLE_APPLICATION_CREDENTIALS, or application default credentials) or
// another bearer token source. It is plain data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:       Kind,
	Service:    "Claude on Google Vertex AI",
	Operations: "rawPredict + SSE streamRawPredict, tools, images (`Chat`, `ChatStream`); count-tokens (`CountTokens`)",
	New:        func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:    DefaultBaseURL,
	// No key variable: an endpoint without keys uses Google's application
	// default credentials, which read EnvCredentials themselves.
	Credentials: []providers.CredentialKind{providers.CredentialGoogle, providers.CredentialBearerToken},
}
