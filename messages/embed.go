package messages

// EmbedRequest asks for one embedding vector per input.
type EmbedRequest struct {
	Call
	Model  string
	Inputs []string
	// Dimensions asks for shortened vectors where the model supports it;
	// 0 means the model's default.
	Dimensions int
}

// Operation returns "embed".
func (*EmbedRequest) Operation() string { return "embed" }

// EmbedResponse holds the vectors, in input order.
type EmbedResponse struct {
	Meta
	Model   string
	Vectors [][]float32
	Usage   Usage
}
