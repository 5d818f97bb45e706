package switchyard

import (
	"sort"

	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/anthropic"
	"github.com/switchyard-ai/switchyard/providers/gemini"
	"github.com/switchyard-ai/switchyard/providers/groq"
	"github.com/switchyard-ai/switchyard/providers/llvm"
	"github.com/switchyard-ai/switchyard/providers/ollama"
	"github.com/switchyard-ai/switchyard/providers/opea"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/ovms"
	"github.com/switchyard-ai/switchyard/providers/s3"
	"github.com/switchyard-ai/switchyard/providers/tei"
	"github.com/switchyard-ai/switchyard/providers/tgi"
)

// kind is one wire protocol this build speaks.
type kind struct {
	adapter func() providers.Adapter
	// baseURL is the public endpoint used when a provider lists none; empty
	// for self-hosted servers, which must be given one.
	baseURL string
	// envKey is the environment variable keys are read from by default.
	envKey string
	// keyOptional: self-hosted servers may run without authentication.
	keyOptional bool
	// keyPair: keys are ACCESS:SECRET pairs read from <envKey>_ACCESS_KEY
	// and <envKey>_SECRET_KEY (and their _1…_N variants); endpoints may
	// come from <envKey>_ENDPOINT (and _1…_N).
	keyPair bool
}

// kinds maps ProviderConfig.Kind to its protocol.
var kinds = map[string]kind{
	"openai":    {adapter: func() providers.Adapter { return openai.New() }, baseURL: "https://api.openai.com/v1", envKey: "OPENAI_API_KEY"},
	"anthropic": {adapter: func() providers.Adapter { return anthropic.New() }, baseURL: "https://api.anthropic.com", envKey: "ANTHROPIC_API_KEY"},
	"gemini":    {adapter: func() providers.Adapter { return gemini.New() }, baseURL: gemini.DefaultBaseURL, envKey: gemini.EnvKey},
	"groq":      {adapter: func() providers.Adapter { return groq.New() }, baseURL: groq.DefaultBaseURL, envKey: "GROQ_API_KEY"},
	"llvm":      {adapter: func() providers.Adapter { return llvm.New() }, envKey: "VLLM_API_KEY", keyOptional: true},
	"ollama":    {adapter: func() providers.Adapter { return ollama.New() }, baseURL: ollama.DefaultBaseURL, envKey: "OLLAMA_API_KEY", keyOptional: true},
	"ovms":      {adapter: func() providers.Adapter { return ovms.New() }, envKey: "OVMS_API_KEY", keyOptional: true},
	"hf_tgi":    {adapter: func() providers.Adapter { return tgi.New() }, envKey: "HF_TOKEN", keyOptional: true},
	"hf_tei":    {adapter: func() providers.Adapter { return tei.New() }, envKey: "HF_TOKEN", keyOptional: true},
	// S3-compatible object storage (model files); keys are access/secret
	// pairs, endpoints from S3_ENDPOINT when none is configured.
	"s3": {adapter: func() providers.Adapter { return s3.New() }, envKey: "S3", keyPair: true},
	// OPEA services each run on their own port: "opea" is the ChatQnA
	// megaservice (and the embedding and reranking microservices), "opea_llm"
	// the OpenAI-style LLM microservice.
	"opea":     {adapter: func() providers.Adapter { return opea.New() }, envKey: "OPEA_API_KEY", keyOptional: true},
	"opea_llm": {adapter: func() providers.Adapter { return opea.New(opea.Options{Chat: opea.ChatLLM}) }, envKey: "OPEA_API_KEY", keyOptional: true},
}

func kindNames() []string {
	var names []string
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
