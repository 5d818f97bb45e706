package opea

import "github.com/switchyard-ai/switchyard/providers"

// OPEA services each run on their own port, so the package serves two
// kinds: Descriptor ("opea") sends chat to the ChatQnA megaservice,
// LLMDescriptor ("opea_llm") to the OpenAI-style LLM microservice. Both
// adapters report Kind() "opea". Neither kind has a default base URL, and a
// token is optional. Both are plain data, safe for concurrent use.
var (
	// Descriptor describes the "opea" kind: New() (chat to ChatQnA).
	Descriptor = providers.Descriptor{
		Kind:    Kind,
		Service: "OPEA ChatQnA megaservice (and the embedding and reranking microservices)",
		Operations: "`/v1/chatqna` + stream, tokens as `b'…'` literals decoded (`Chat`, `ChatStream`); " +
			"`/v1/embeddings` (`Embed`); `/v1/reranking` (`Rerank`); health (`Info`)",
		New:         func(providers.AdapterOptions) providers.Adapter { return New() },
		BaseURLHint: "self-hosted, e.g. `http://localhost:8888`",
		KeyEnv:      EnvKey,
		KeyOptional: true,
		Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
	}
	// LLMDescriptor describes the "opea_llm" kind: New(Options{Chat:
	// ChatLLM}) (chat to the LLM microservice).
	LLMDescriptor = providers.Descriptor{
		Kind:    "opea_llm",
		Service: "OPEA's OpenAI-style LLM microservice",
		Operations: "`/v1/chat/completions` + stream, tools (`Chat`, `ChatStream`); like `opea`, the embedding " +
			"and reranking microservices (`Embed`, `Rerank`) and health (`Info`)",
		New:         func(providers.AdapterOptions) providers.Adapter { return New(Options{Chat: ChatLLM}) },
		BaseURLHint: "self-hosted, e.g. `http://localhost:9000`",
		KeyEnv:      EnvKey,
		KeyOptional: true,
		Credentials: []providers.CredentialKind{providers.CredentialAPIKey},
	}
)
