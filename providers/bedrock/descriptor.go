package bedrock

import "github.com/switchyard-ai/switchyard/providers"

// Descriptor describes the "anthropic_bedrock" kind: Claude through
// Bedrock's runtime API in the endpoint's region, with SigV4 signers or
// Bedrock API keys. It is plain data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    Kind,
	Service: "Claude on Amazon Bedrock",
	Operations: "InvokeModel + event-stream InvokeModelWithResponseStream, tools, images (`Chat`, `ChatStream`); " +
		"CountTokens (`CountTokens`)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:     DefaultBaseURL,
	KeyEnv:      EnvKey,
	Credentials: []providers.CredentialKind{providers.CredentialAWSSigV4, providers.CredentialAPIKey},
}
