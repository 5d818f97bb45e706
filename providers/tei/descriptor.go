package tei

import "github.com/switchyard-ai/switchyard/providers"

// EnvKey is the environment variable a Hugging Face token is read from by
// default, as Hugging Face's clients do.
const EnvKey = "HF_TOKEN"

// Descriptor describes the "hf_tei" kind: a self-hosted Text Embeddings
// Inference server, built by New (dense embeddings to /embed), which has no
// default base URL and may run without a token. It is plain data, safe for
// concurrent use.
var Descriptor = providers.Descriptor{
	Kind:    Kind,
	Service: "Hugging Face Text Embeddings Inference",
	Operations: "`/embed` (normalize, truncate), `/embed_sparse` (`EmbedRequest.Sparse`) (`Embed`); " +
		"`/rerank` (`Rerank`); `/info`, `/health` (`Info`); a 413 batch is split",
	New:         func(providers.AdapterOptions) providers.Adapter { return New() },
	BaseURLHint: "self-hosted",
	KeyEnv:      EnvKey,
	KeyOptional: true,
	Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
}
