package ollama

import "github.com/switchyard-ai/switchyard/providers"

// Descriptor describes the "ollama" kind: a local Ollama at DefaultBaseURL
// unless endpoints say otherwise; a key is optional (Ollama's cloud or a
// proxy wants one). It is plain data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    kind,
	Service: "Ollama",
	Operations: "`/api/chat` + NDJSON stream, tools, images (`Chat`, `ChatStream`); `/api/generate` + stream " +
		"(`Generate`, `GenerateStream`); `/api/embed` (`Embed`); `/api/tags` (`ListModels`); `/api/show`, " +
		"`/api/version`, health and readiness probed on `/api/version` (`Info`)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:     DefaultBaseURL,
	KeyEnv:      EnvKey,
	KeyOptional: true,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
