package ovms

import "github.com/switchyard-ai/switchyard/providers"

// Descriptor describes the "ovms" kind: a self-hosted OpenVINO Model Server,
// which has no default base URL and may run without a key. It is plain data,
// safe for concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    "ovms",
	Service: "OpenVINO Model Server",
	Operations: "KServe v2 infer with typed tensors (`Infer`), server/model ready and metadata (`Info`); " +
		"`/v3/chat/completions` + stream (`Chat`, `ChatStream`), `/v3/completions` + stream (`Generate`, " +
		"`GenerateStream`), `/v3/embeddings` (`Embed`), `/v3/rerank` (`Rerank`), `/v3/models` (`ListModels`); " +
		"a base URL of the server root or of its `/v3` reaches the same routes",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURLHint: "self-hosted, e.g. `http://localhost:8000`",
	KeyEnv:      EnvKey,
	KeyOptional: true,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
