package tgi

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// generateBody is the body of POST /generate and /generate_stream.
type generateBody struct {
	Inputs           string         `json:"inputs"`
	Parameters       map[string]any `json:"parameters"`
	AddSpecialTokens *bool          `json:"add_special_tokens,omitempty"`
}

// buildGenerateBody maps a GenerateRequest onto TGI's body. Extra goes into
// "parameters" (e.g. "grammar", "top_k", "seed", "adapter_id",
// "repetition_penalty"), except "add_special_tokens", which TGI reads at the
// top level; the adapter's own parameters win: "details" is always true (the
// adapter reads usage and the finish reason from it), "max_new_tokens" is
// MaxTokens when set, "temperature" Temperature when above 0 (0 means greedy
// decoding, TGI's default, and TGI refuses a temperature of 0), "top_p" TopP
// when below 1 (1 means no nucleus sampling, and TGI accepts only (0, 1)),
// "stop" Stop when set. Model is not sent: TGI serves one model (choose a
// LoRA adapter with Extra["adapter_id"]).
func buildGenerateBody(r *messages.GenerateRequest) generateBody {
	params := make(map[string]any, len(r.Extra)+5)
	maps.Copy(params, r.Extra)
	body := generateBody{Inputs: r.Prompt, Parameters: params}
	if v, ok := params["add_special_tokens"].(bool); ok {
		body.AddSpecialTokens = &v
	}
	delete(params, "add_special_tokens")
	params["details"] = true
	if r.MaxTokens > 0 {
		params["max_new_tokens"] = r.MaxTokens
	}
	if r.Temperature != nil && *r.Temperature > 0 {
		params["temperature"] = *r.Temperature
	} else if r.Temperature != nil {
		delete(params, "temperature")
	}
	if r.TopP != nil && *r.TopP < 1 {
		params["top_p"] = *r.TopP
	} else if r.TopP != nil {
		delete(params, "top_p")
	}
	if len(r.Stop) > 0 {
		params["stop"] = r.Stop
	}
	return body
}

func checkGenerate(r *messages.GenerateRequest) error {
	ci := &r.Call
	if r.Prompt == "" {
		return invalid(ci, "a prompt is required (TGI rejects empty inputs)")
	}
	if r.MaxTokens < 0 {
		return invalid(ci, "MaxTokens %d is negative", r.MaxTokens)
	}
	if t := r.Temperature; t != nil && (math.IsNaN(*t) || math.IsInf(*t, 0) || *t < 0) {
		return invalid(ci, "temperature %v must be 0 (greedy) or positive", *t)
	}
	if p := r.TopP; p != nil && (math.IsNaN(*p) || *p <= 0 || *p > 1) {
		return invalid(ci, "top_p %v is outside (0, 1]", *p)
	}
	if len(r.Stop) > MaxStopSequences {
		return invalid(ci, "%d stop sequences: TGI accepts up to %d", len(r.Stop), MaxStopSequences)
	}
	if len(r.Extra) > 0 {
		if _, err := json.Marshal(r.Extra); err != nil {
			return invalid(ci, "Extra cannot be encoded as JSON: %v", err)
		}
		if v, ok := r.Extra["add_special_tokens"]; ok {
			if _, isBool := v.(bool); !isBool {
				return invalid(ci, "Extra add_special_tokens must be a bool")
			}
		}
	}
	return nil
}

// generateResponse is TGI's GenerateResponse.
type generateResponse struct {
	GeneratedText *string `json:"generated_text"`
	Details       *struct {
		FinishReason    string            `json:"finish_reason"`
		GeneratedTokens *int              `json:"generated_tokens"`
		Prefill         []json.RawMessage `json:"prefill"`
	} `json:"details"`
}

func doGenerate(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.GenerateRequest) (messages.Response, error) {
	path := PathGenerate
	if r.Stream {
		path = PathGenerateStream
	}
	resp, err := c.Send(ctx, call, exchange(path, buildGenerateBody(r), r.Stream))
	if err != nil {
		return nil, err
	}
	if r.Stream {
		em := providers.NewEmitter(call)
		var out *messages.GenerateResponse
		err := c.Stream(ctx, call, resp, func(rd io.Reader) error {
			var err error
			out, err = DecodeGenerateStream(rd, call, em)
			return err
		})
		if err != nil {
			return nil, err
		}
		out.Model = r.Model
		return out, nil
	}
	var w generateResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if w.GeneratedText == nil {
		return nil, call.Fail(messages.ClassMalformed, resp.StatusCode, "generate answer without generated_text", nil)
	}
	out := &messages.GenerateResponse{Meta: call.Meta(), Model: r.Model, Text: *w.GeneratedText}
	out.Usage.InputTokens = headerInt(resp.Header, "X-Prompt-Tokens")
	out.Usage.OutputTokens = headerInt(resp.Header, "X-Generated-Tokens")
	if d := w.Details; d != nil {
		out.RawFinishReason = d.FinishReason
		if d.GeneratedTokens != nil {
			out.Usage.OutputTokens = *d.GeneratedTokens
		}
		if out.Usage.InputTokens == 0 && len(d.Prefill) > 0 {
			out.Usage.InputTokens = len(d.Prefill)
		}
	}
	out.FinishReason = normFinish(out.RawFinishReason)
	call.Result.Usage = out.Usage
	return out, nil
}

// headerInt reads a non-negative integer header, 0 when absent or bad.
func headerInt(h http.Header, name string) int {
	n, err := strconv.Atoi(strings.TrimSpace(h.Get(name)))
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// normFinish maps TGI's finish reasons (and the OpenAI ones its chat route
// sends) onto messages.Finish*: eos_token, stop_sequence and stop are
// FinishStop, length is FinishLength, tool_calls FinishToolCalls; anything
// else is FinishOther, and "" stays "".
func normFinish(raw string) string {
	switch raw {
	case "":
		return ""
	case "eos_token", "stop_sequence", "stop":
		return messages.FinishStop
	case "length":
		return messages.FinishLength
	case "tool_calls":
		return messages.FinishToolCalls
	case "content_filter":
		return messages.FinishContentFilter
	}
	return messages.FinishOther
}
