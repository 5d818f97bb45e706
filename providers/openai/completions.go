package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// The legacy completions API (POST /completions), which OpenAI-compatible
// servers (vLLM, llama.cpp, TGI, OVMS) keep serving for plain prompts.

type completionBody struct {
	Model         string         `json:"model"`
	Prompt        string         `json:"prompt"`
	MaxTokens     int            `json:"max_tokens,omitempty"`
	Temperature   *float64       `json:"temperature,omitempty"`
	TopP          *float64       `json:"top_p,omitempty"`
	Stop          []string       `json:"stop,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

// completion is both the answer and a stream chunk of /completions.
type completion struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int     `json:"index"`
		Text         string  `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func checkGenerate(kind string, r *messages.GenerateRequest) error {
	ci := reqCtx{kind, &r.Call}
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if r.Prompt == "" {
		return invalid(ci, "prompt is required")
	}
	if err := checkRange(ci, "temperature", r.Temperature, 0, 2); err != nil {
		return err
	}
	if err := checkRange(ci, "top_p", r.TopP, 0, 1); err != nil {
		return err
	}
	if r.MaxTokens < 0 {
		return invalid(ci, "MaxTokens %d is negative", r.MaxTokens)
	}
	return nil
}

func (d *Dialect) buildCompletionBody(r *messages.GenerateRequest) (any, error) {
	b := completionBody{Model: r.Model, Prompt: r.Prompt, MaxTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, Stop: r.Stop}
	if r.Stream {
		b.Stream = true
		if !d.NoStreamOptions {
			b.StreamOptions = &streamOptions{IncludeUsage: true}
		}
	}
	return d.finalBody(r, b, r.Extra, "model", "prompt", "stream", "stream_options")
}

func (d *Dialect) doGenerate(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.GenerateRequest) (messages.Response, error) {
	body, err := d.buildCompletionBody(r)
	if err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
	}
	out, err := send(ctx, c, call, d.exchange(call, OpGenerate, body, r.Stream), r.Stream,
		func(resp *http.Response) (*messages.GenerateResponse, error) {
			var w completion
			if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
				return nil, err
			}
			return d.completionResult(call, &w)
		},
		func(em *providers.Emitter, out *messages.GenerateResponse) error {
			if out.Text != "" {
				if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: out.Text}); err != nil {
					return err
				}
			}
			u := out.Usage
			return em.Emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u})
		},
		func(rd io.Reader, em *providers.Emitter) (*messages.GenerateResponse, error) {
			return d.decodeCompletionStream(rd, call, em)
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// completionResult turns a decoded /completions answer into the response.
func (d *Dialect) completionResult(call *providers.Call, w *completion) (*messages.GenerateResponse, error) {
	if !providers.IsJSONNull(w.Error) {
		return nil, bodyError(call, w.Error)
	}
	if len(w.Choices) == 0 {
		return nil, malformed(call, "completion without choices", nil)
	}
	ch := w.Choices[0]
	for _, c := range w.Choices {
		if c.Index == 0 {
			ch = c
			break
		}
	}
	out := &messages.GenerateResponse{Meta: call.Meta(), Model: w.Model, Text: ch.Text, Usage: w.Usage.usage()}
	if ch.FinishReason != nil {
		out.RawFinishReason = *ch.FinishReason
		out.FinishReason = d.finish(out.RawFinishReason)
	}
	call.Result.Usage = out.Usage
	return out, nil
}

// DecodeCompletionStream reads a /completions event stream from r: it emits a
// ChunkText for each piece of the first choice's text and a ChunkUsage when
// usage arrives, and returns the aggregated response once it reads "data:
// [DONE]".
//
// It returns io.ErrUnexpectedEOF when r ends before [DONE] (ClassStreamCut
// through Client.Stream), a *messages.UpstreamError for a chunk carrying an
// "error" or for one that is not valid JSON (ClassMalformed), the Emitter's
// error when the caller went away, or r's read error. It never panics on
// malformed input, and records usage in call.Result.Usage as soon as it
// arrives. Not safe for concurrent use with the same call.
func DecodeCompletionStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.GenerateResponse, error) {
	return plain.decodeCompletionStream(r, call, em)
}

// DecodeCompletionStream is the package's DecodeCompletionStream in a's
// dialect (StreamChunk and Finish hooks).
func (a *Adapter) DecodeCompletionStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.GenerateResponse, error) {
	return a.dialect().decodeCompletionStream(r, call, em)
}

func (d *Dialect) decodeCompletionStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.GenerateResponse, error) {
	sse := providers.NewSSEReader(r)
	out := &messages.GenerateResponse{}
	var text strings.Builder
	for {
		ev, err := sse.NextInStream()
		if err != nil {
			return nil, err
		}
		data := bytes.TrimSpace(ev.Data)
		if string(data) == "[DONE]" {
			break
		}
		if ev.Event == "error" {
			return nil, errorEvent(call, data)
		}
		if len(data) == 0 {
			continue
		}
		var ch completion
		if err := json.Unmarshal(data, &ch); err != nil {
			return nil, malformed(call, "decoding stream chunk", err)
		}
		usage, err := d.chunkUsage(call, data, ch.Error, ch.Usage.usagePtr())
		if err != nil {
			return nil, err
		}
		if out.Model == "" {
			out.Model = ch.Model
		}
		for _, c := range ch.Choices {
			if c.Index != 0 {
				continue
			}
			if c.Text != "" {
				text.WriteString(c.Text)
				if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: c.Text}); err != nil {
					return nil, err
				}
			}
			if c.FinishReason != nil && *c.FinishReason != "" {
				out.RawFinishReason = *c.FinishReason
			}
		}
		if usage != nil {
			if err := recordUsage(call, em, &out.Usage, *usage); err != nil {
				return nil, err
			}
		}
	}
	out.Text = text.String()
	out.FinishReason = d.finish(out.RawFinishReason)
	out.Meta = call.Meta()
	return out, nil
}

// ---- models ----

func (d *Dialect) doModels(ctx context.Context, c *providers.Client, call *providers.Call) (messages.Response, error) {
	resp, err := c.Send(ctx, call, d.exchange(call, OpModels, nil, false))
	if err != nil {
		return nil, err
	}
	var w struct {
		Data  []map[string]json.RawMessage `json:"data"`
		Error json.RawMessage              `json:"error"`
	}
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if !providers.IsJSONNull(w.Error) {
		return nil, bodyError(call, w.Error)
	}
	if w.Data == nil {
		return nil, malformed(call, "model list without data", nil)
	}
	out := &messages.ModelsResponse{Meta: call.Meta(), Models: make([]messages.ModelInfo, 0, len(w.Data))}
	for _, raw := range w.Data {
		m, ok := d.modelInfo(raw)
		if !ok {
			return nil, malformed(call, "model entry without an id", nil)
		}
		out.Models = append(out.Models, m)
	}
	return out, nil
}

// modelInfo maps one /models entry: id, owned_by, created, the context
// window from context_window (Groq) or max_model_len (vLLM), every other
// field except "object" into Details; then the dialect's Model hook.
func (d *Dialect) modelInfo(raw map[string]json.RawMessage) (messages.ModelInfo, bool) {
	var m messages.ModelInfo
	if json.Unmarshal(raw["id"], &m.ID) != nil || m.ID == "" {
		return m, false
	}
	_ = json.Unmarshal(raw["owned_by"], &m.OwnedBy)
	var created float64
	if json.Unmarshal(raw["created"], &created) == nil && created > 0 && created < 1e12 {
		m.Created = int64(created)
	}
	for _, k := range []string{"context_window", "max_model_len"} {
		var n float64
		if json.Unmarshal(raw[k], &n) == nil && n > 0 && n < 1e12 {
			m.ContextWindow = int(n)
			break
		}
	}
	for k, v := range raw {
		switch k {
		case "id", "object", "owned_by", "created":
			continue
		}
		var x any
		if json.Unmarshal(v, &x) != nil {
			continue
		}
		if m.Details == nil {
			m.Details = map[string]any{}
		}
		m.Details[k] = x
	}
	if d.Model != nil {
		d.Model(raw, &m)
	}
	return m, true
}

// chunkUsage checks a stream chunk (data, whose "error" member is errRaw)
// for an error, its own or one the dialect's StreamChunk hook finds, and
// returns the chunk's usage: the hook's when it reports one, else usage.
func (d *Dialect) chunkUsage(call *providers.Call, data []byte, errRaw json.RawMessage, usage *messages.Usage) (*messages.Usage, error) {
	if !providers.IsJSONNull(errRaw) {
		return nil, bodyError(call, errRaw)
	}
	if d.StreamChunk != nil {
		u, errObj := d.StreamChunk(data)
		if !providers.IsJSONNull(errObj) {
			return nil, bodyError(call, errObj)
		}
		if u != nil {
			usage = u
		}
	}
	return usage, nil
}
