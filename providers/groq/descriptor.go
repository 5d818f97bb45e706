package groq

import "github.com/switchyard-ai/switchyard/providers"

// Descriptor describes the "groq" kind: Groq's OpenAI-compatible API at
// DefaultBaseURL, built by New without a catalogue. It is plain data, safe
// for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    Kind,
	Service: "Groq (OpenAI-compatible)",
	Operations: "chat + stream, tools, images on vision models (`Chat`, `ChatStream`); " +
		"model catalogue (`ListModels`; `groq.WithCatalog` rejects what a model cannot serve before sending)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:     DefaultBaseURL,
	KeyEnv:      EnvKey,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
