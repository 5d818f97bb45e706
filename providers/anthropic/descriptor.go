package anthropic

import "github.com/switchyard-ai/switchyard/providers"

// EnvKey is the environment variable Anthropic keys are read from by
// default, as Anthropic's SDKs do.
const EnvKey = "ANTHROPIC_API_KEY"

// Descriptor describes the "anthropic" kind: the Messages API at
// DefaultBaseURL with x-api-key keys. It is plain data, safe for concurrent
// use.
var Descriptor = providers.Descriptor{
	Kind:        "anthropic",
	Service:     "Anthropic Messages API",
	Operations:  "chat + SSE stream, tools, images (`Chat`, `ChatStream`); count tokens (`CountTokens`)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:     DefaultBaseURL,
	KeyEnv:      EnvKey,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
