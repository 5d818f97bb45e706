package gemini

import "github.com/switchyard-ai/switchyard/providers"

// Descriptor describes the "gemini" kind: the Gemini Developer API at
// DefaultBaseURL with API keys from EnvKey. It is plain data, safe for
// concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    "gemini",
	Service: "Gemini Developer API",
	Operations: "generateContent + SSE stream, images, function calling (`Chat`, `ChatStream`); " +
		"embedContent / batchEmbedContents (`Embed`); countTokens (`CountTokens`)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:     DefaultBaseURL,
	KeyEnv:      EnvKey,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
