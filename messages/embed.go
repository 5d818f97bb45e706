package messages

// EmbedRequest asks for one embedding vector per input.
type EmbedRequest struct {
	Call
	Model  string
	Inputs []string
	// Dimensions asks for shortened vectors where the model supports it;
	// 0 means the model's default.
	Dimensions int
	// Normalize and Truncate are TEI's options; nil means the server's
	// default.
	Normalize, Truncate *bool
	// Sparse asks for sparse vectors (TEI /embed_sparse) in
	// EmbedResponse.Sparse instead of Vectors.
	Sparse bool
	// TaskType is Gemini's embedding task type (e.g. RETRIEVAL_QUERY).
	TaskType string
}

// Operation returns "embed".
func (*EmbedRequest) Operation() string { return "embed" }

// EmbedResponse holds the vectors, in input order.
type EmbedResponse struct {
	Meta
	Model   string
	Vectors [][]float32
	// Sparse holds one sparse vector per input when the request asked for
	// them.
	Sparse [][]SparseValue
	Usage  Usage
}

// SparseValue is one non-zero entry of a sparse vector.
type SparseValue struct {
	Index int
	Value float32
}
