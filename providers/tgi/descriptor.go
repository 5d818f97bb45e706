package tgi

import "github.com/switchyard-ai/switchyard/providers"

// EnvKey is the environment variable a Hugging Face token is read from by
// default, as Hugging Face's clients do.
const EnvKey = "HF_TOKEN"

// Descriptor describes the "hf_tgi" kind: a self-hosted Text Generation
// Inference server or an Inference Endpoint, which has no default base URL
// and may run without a token. It is plain data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    Kind,
	Service: "Hugging Face Text Generation Inference (also Inference Endpoints)",
	Operations: "`/generate` + `/generate_stream` (`Generate`, `GenerateStream`); `/v1/chat/completions` + stream, " +
		"tools, grammar (`Chat`, `ChatStream`); `/v1/models` (`ListModels`); `/info`, `/health` (`Info`)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURLHint: "self-hosted, e.g. `http://localhost:8080`",
	KeyEnv:      EnvKey,
	KeyOptional: true,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
