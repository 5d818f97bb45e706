package ollama

import (
	"context"
	"io"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

type generateBody struct {
	Model   string         `json:"model"`
	Prompt  string         `json:"prompt"`
	Options map[string]any `json:"options,omitempty"`
	// Stream is always sent: Ollama streams when it is missing.
	Stream bool `json:"stream"`
}

func buildGenerateBody(r *messages.GenerateRequest) (any, error) {
	b := generateBody{Model: r.Model, Prompt: r.Prompt, Stream: r.Stream, Options: options(r.Temperature, r.TopP, r.MaxTokens, r.Stop)}
	return withExtra(b, r.Extra, "model", "prompt", "stream")
}

func checkGenerate(r *messages.GenerateRequest) error {
	ci := &r.Call
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if r.Prompt == "" {
		// An empty prompt only loads the model into memory.
		return invalid(ci, "prompt is required")
	}
	if err := checkSampling(ci, r.Temperature, r.TopP, r.MaxTokens); err != nil {
		return err
	}
	return checkExtra(ci, r.Extra)
}

func doGenerate(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.GenerateRequest) (messages.Response, error) {
	body, err := buildGenerateBody(r)
	if err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
	}
	resp, err := c.Send(ctx, call, exchange(PathGenerate, body, r.Stream))
	if err != nil {
		return nil, err
	}
	if !r.Stream {
		agg, err := decodeWhole(ctx, c, call, resp, false)
		if err != nil {
			return nil, err
		}
		out, _ := agg.generated()
		return out, nil
	}
	em := providers.NewEmitter(call)
	var out *messages.GenerateResponse
	err = c.Stream(ctx, call, resp, func(rd io.Reader) error {
		var err error
		out, _, err = DecodeGenerateStream(rd, call, em)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
