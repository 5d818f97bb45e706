package llvm

import "github.com/switchyard-ai/switchyard/providers"

// Adapter implements providers.Batcher through the OpenAI dialect it embeds
// (openai.Adapter.BatchLimits): an EmbedRequest may be merged with others,
// since /v1/embeddings takes a list of inputs on both vLLM and llama.cpp's
// server, and is answered one vector per input with its index. Chat,
// completions, models, tokenize and info requests take no list: false.
//
// Limits: none (MaxInputs and MaxTokens 0), so only the dispatcher's window
// size bounds a merged call. Neither server documents a limit on the list:
// vLLM's OpenAI server accepts any number of inputs and schedules them as
// separate sequences under its own --max-num-seqs and
// --max-num-batched-tokens; llama.cpp's server spreads them over its slots.
// Their limits are per input (vLLM's max_model_len, llama.cpp's
// --ubatch-size for embedding models), which merging does not change.
var _ providers.Batcher = (*Adapter)(nil)
