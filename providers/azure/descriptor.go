package azure

import "github.com/switchyard-ai/switchyard/providers"

// EnvKey is the environment variable Azure OpenAI keys are read from by
// default.
const EnvKey = "AZURE_OPENAI_API_KEY"

// Descriptor describes the "azure_openai" kind: Azure OpenAI through New,
// at the resource's own base URL (there is no public default). Keys are API
// keys or bearer tokens (Microsoft Entra ID, EntraTokenSource). It is plain
// data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    Kind,
	Service: "Azure OpenAI",
	Operations: "chat + stream, tools, images (`Chat`, `ChatStream`); embeddings (`Embed`); " +
		"Responses API + stream (`Responses`, `ResponsesStream`) with the v1 API (the default `api_version`); " +
		"with a dated `api_version` completions + stream (Generate) instead of the Responses API",
	New:         func(o providers.AdapterOptions) providers.Adapter { return New(o) },
	BaseURLHint: "your resource, e.g. `https://NAME.openai.azure.com`",
	KeyEnv:      EnvKey,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey, providers.CredentialBearerToken},
}
