package llvm

import "github.com/switchyard-ai/switchyard/providers"

// Descriptor describes the "llvm" kind: a self-hosted vLLM or
// llama.cpp-server, which has no default base URL and may run without a key.
// It is plain data, safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    Kind,
	Service: "a local optimized inference server: vLLM or llama.cpp-server",
	Operations: "`/v1/chat/completions` + stream (`Chat`, `ChatStream`), `/v1/completions` + stream " +
		"(`Generate`, `GenerateStream`), `/v1/embeddings` (`Embed`), `/v1/models` (`ListModels`), " +
		"`/tokenize`, `/detokenize` (`Tokenize`), `/health` (`Info`)",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURL:     DefaultBaseURL,
	BaseURLHint: "self-hosted, e.g. `http://localhost:8000`",
	KeyEnv:      EnvKey,
	KeyOptional: true,
	// The generated cell would lack the server flag the key is given with.
	KeysHint:    "`" + EnvKey + "` (`--api-key`), optional",
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
