package messages

// GenerateRequest is a plain-prompt completion: TGI /generate and
// /generate_stream, Ollama /api/generate, vLLM and OVMS /v1|v3/completions.
type GenerateRequest struct {
	Call
	Model       string
	Prompt      string
	MaxTokens   int
	Temperature *float64
	TopP        *float64
	Stop        []string
	// Stream asks for a streamed answer: ChunkText chunks, then the
	// aggregated *GenerateResponse.
	Stream bool
	// Extra holds backend-specific fields (e.g. TGI "grammar", Ollama
	// "options"), merged into the body; the adapter's own fields win.
	Extra map[string]any
}

// Operation returns "generate".
func (*GenerateRequest) Operation() string { return "generate" }

// Streaming reports whether the caller asked for a stream.
func (r *GenerateRequest) Streaming() bool { return r.Stream }

// GenerateResponse is a finished completion.
type GenerateResponse struct {
	Meta
	Model           string
	Text            string
	FinishReason    string
	RawFinishReason string
	Usage           Usage
}

// RerankRequest scores documents against a query: TEI /rerank, OVMS
// /v3/rerank, OPEA reranking.
type RerankRequest struct {
	Call
	Model     string
	Query     string
	Documents []string
	// TopN keeps the best N results; 0 keeps all.
	TopN int
	// ReturnDocuments asks for the document text in each result.
	ReturnDocuments bool
}

// Operation returns "rerank".
func (*RerankRequest) Operation() string { return "rerank" }

// RerankResult is one scored document; Index points into the request's
// Documents.
type RerankResult struct {
	Index    int
	Score    float64
	Document string
}

// RerankResponse holds results ordered by descending score.
type RerankResponse struct {
	Meta
	Model   string
	Results []RerankResult
	Usage   Usage
}

// Tensor is one named input or output of a KServe v2 (Open Inference
// Protocol) inference. Data is a flat slice in row-major order whose Go type
// matches Datatype: []bool (BOOL), []int32 (INT8, INT16, INT32, UINT8,
// UINT16), []int64 (INT64, UINT32, UINT64), []float32 (FP16, FP32), []float64
// (FP64) or []string (BYTES).
type Tensor struct {
	Name     string
	Datatype string
	Shape    []int64
	Data     any
	// Parameters are the tensor's optional parameters.
	Parameters map[string]any
}

// InferRequest runs a model on tensors: KServe v2
// /v2/models/{Model}[/versions/{Version}]/infer.
type InferRequest struct {
	Call
	Model   string
	Version string
	// ID is the optional inference request id echoed by the server.
	ID     string
	Inputs []Tensor
	// Outputs names the outputs wanted; empty means all.
	Outputs    []string
	Parameters map[string]any
}

// Operation returns "infer".
func (*InferRequest) Operation() string { return "infer" }

// InferResponse carries the output tensors.
type InferResponse struct {
	Meta
	Model   string
	Version string
	ID      string
	Outputs []Tensor
}

// ModelsRequest lists the models an endpoint serves (OpenAI-style /models,
// Ollama /api/tags, Groq's catalogue).
type ModelsRequest struct {
	Call
}

// Operation returns "models".
func (*ModelsRequest) Operation() string { return "models" }

// ModelInfo describes one model.
type ModelInfo struct {
	ID      string
	OwnedBy string
	// Created is a Unix time, 0 if unknown.
	Created int64
	// ContextWindow in tokens, 0 if unknown.
	ContextWindow int
	// Capabilities the backend reports, e.g. "chat", "tools", "vision",
	// "embeddings".
	Capabilities []string
	// Details holds backend-specific fields (size, family, quantization…).
	Details map[string]any
}

// ModelsResponse lists models.
type ModelsResponse struct {
	Meta
	Models []ModelInfo
}

// InfoRequest asks an endpoint about itself. What names the question:
// "info" (TGI/TEI /info, OVMS model metadata), "health" (/health, KServe
// ready), "version" (Ollama /api/version), "show" (Ollama /api/show of
// Model), "ready" (KServe server or model readiness).
type InfoRequest struct {
	Call
	What  string
	Model string
}

// Operation returns "info".
func (*InfoRequest) Operation() string { return "info" }

// InfoResponse is the endpoint's answer. Healthy is true for a 2xx health or
// readiness answer; Body is the raw JSON answer, if any.
type InfoResponse struct {
	Meta
	Healthy bool
	Version string
	Body    []byte
}

// TokenizeRequest turns text into token IDs, or (Detokenize) IDs into text:
// vLLM and llama.cpp /tokenize and /detokenize.
type TokenizeRequest struct {
	Call
	Model      string
	Text       string
	Tokens     []int
	Detokenize bool
}

// Operation returns "tokenize".
func (*TokenizeRequest) Operation() string { return "tokenize" }

// TokenizeResponse carries the tokens or the text.
type TokenizeResponse struct {
	Meta
	Tokens []int
	Text   string
	// Count is the number of tokens; MaxModelLen the model's context length
	// when the server reports it.
	Count       int
	MaxModelLen int
}
