package openai

import "github.com/switchyard-ai/switchyard/providers"

// DefaultBaseURL is OpenAI's public endpoint, API version included; the
// adapter appends PathChat and the other paths to it.
const DefaultBaseURL = "https://api.openai.com/v1"

// EnvKey is the environment variable OpenAI keys are read from by default.
const EnvKey = "OPENAI_API_KEY"

// Descriptor describes the "openai" kind: the plain OpenAI API through New.
// It is plain data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    "openai",
	Service: "OpenAI",
	Operations: "chat + stream, tools, images (`Chat`, `ChatStream`); embeddings (`Embed`); " +
		"Responses API + stream (`Responses`, `ResponsesStream`); completions + stream (`Generate`, `GenerateStream`); " +
		"models (`ListModels`); stored responses (`RetrieveResponse`, `RetrieveResponseStream`, `CancelResponse`, " +
		"`DeleteResponse`, `ListResponseInputItems`), input tokens (`CountResponsesInputTokens`); conversations " +
		"(`CreateConversation`, `RetrieveConversation`, `UpdateConversation`, `DeleteConversation`, " +
		"`AddConversationItems`, `ListConversationItems`, `RetrieveConversationItem`, `DeleteConversationItem`)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:     DefaultBaseURL,
	KeyEnv:      EnvKey,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
