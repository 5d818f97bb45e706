package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Response wire types: a GenerateContentResponse, also each chunk of a
// stream.
type (
	wireResponse struct {
		Candidates     []wireCandidate     `json:"candidates"`
		PromptFeedback *wirePromptFeedback `json:"promptFeedback"`
		UsageMetadata  *wireUsage          `json:"usageMetadata"`
		ModelVersion   string              `json:"modelVersion"`
		ResponseID     string              `json:"responseId"`
		// Error is set when a body or stream chunk is a google.rpc error
		// after all.
		Error json.RawMessage `json:"error"`
	}
	wireCandidate struct {
		Content      *wireRespContent `json:"content"`
		FinishReason string           `json:"finishReason"`
		Index        int              `json:"index"`
	}
	wireRespContent struct {
		Role  string         `json:"role"`
		Parts []wireRespPart `json:"parts"`
	}
	wireRespPart struct {
		Text             *string           `json:"text"`
		Thought          bool              `json:"thought"`
		ThoughtSignature string            `json:"thoughtSignature"`
		FunctionCall     *wireFunctionCall `json:"functionCall"`
	}
	wirePromptFeedback struct {
		BlockReason string `json:"blockReason"`
	}
	// wireUsage is usageMetadata. promptTokenCount already includes
	// cachedContentTokenCount.
	wireUsage struct {
		PromptTokenCount        int `json:"promptTokenCount"`
		CandidatesTokenCount    int `json:"candidatesTokenCount"`
		CachedContentTokenCount int `json:"cachedContentTokenCount"`
		ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount"`
		ThoughtsTokenCount      int `json:"thoughtsTokenCount"`
		TotalTokenCount         int `json:"totalTokenCount"`
	}
)

// usage converts usageMetadata: input is the prompt (cached tokens included)
// plus tool-use prompt tokens, output the candidates plus thinking tokens
// (billed as output).
func (u *wireUsage) usage() messages.Usage {
	if u == nil {
		return messages.Usage{}
	}
	nn := func(v int) int { return max(v, 0) }
	return messages.Usage{
		InputTokens:     nn(u.PromptTokenCount) + nn(u.ToolUsePromptTokenCount),
		OutputTokens:    nn(u.CandidatesTokenCount) + nn(u.ThoughtsTokenCount),
		CacheReadTokens: nn(u.CachedContentTokenCount),
	}
}

// finishReason normalises a candidate's finishReason. A STOP with function
// calls is tool_calls (Gemini has no finish reason of its own for them).
func finishReason(raw string, toolCalls bool) string {
	switch raw {
	case "":
		return ""
	case "STOP":
		if toolCalls {
			return messages.FinishToolCalls
		}
		return messages.FinishStop
	case "MAX_TOKENS":
		return messages.FinishLength
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return messages.FinishContentFilter
	}
	return messages.FinishOther
}

// answer aggregates one answer from a whole response or from stream chunks,
// emitting chunks as it goes. It is not safe for concurrent use.
type answer struct {
	emit     func(*messages.StreamChunk) error
	id       string
	model    string
	text     strings.Builder
	calls    []messages.ToolCall
	finish   string
	block    string
	usage    *wireUsage
	finished bool // a finishReason or a blockReason was seen
}

func newAnswer(emit func(*messages.StreamChunk) error) *answer {
	if emit == nil {
		emit = func(*messages.StreamChunk) error { return nil }
	}
	return &answer{emit: emit}
}

// add takes one response or chunk. An error chunk is a *UpstreamError
// (classified by its status), an unusable one ClassMalformed.
func (a *answer) add(w *wireResponse, raw []byte) error {
	if len(bytes.TrimSpace(w.Error)) > 0 && string(bytes.TrimSpace(w.Error)) != "null" {
		return streamError(raw)
	}
	if w.ResponseID != "" {
		a.id = w.ResponseID
	}
	if w.ModelVersion != "" {
		a.model = w.ModelVersion
	}
	if w.UsageMetadata != nil {
		u := *w.UsageMetadata
		a.usage = &u
	}
	if w.PromptFeedback != nil && w.PromptFeedback.BlockReason != "" {
		a.block = w.PromptFeedback.BlockReason
		a.finished = true
	}
	for ci := range w.Candidates {
		c := &w.Candidates[ci]
		if c.Index != 0 {
			continue // only one candidate is asked for
		}
		if c.Content != nil {
			for pi := range c.Content.Parts {
				if err := a.part(&c.Content.Parts[pi]); err != nil {
					return err
				}
			}
		}
		if c.FinishReason != "" {
			a.finish = c.FinishReason
			a.finished = true
		}
	}
	return nil
}

func (a *answer) part(p *wireRespPart) error {
	switch {
	case p.FunctionCall != nil:
		fc := p.FunctionCall
		if fc.Name == "" {
			return malformed("functionCall without a name", nil)
		}
		args, ok := respArgs(fc.Args)
		if !ok {
			return malformed("functionCall "+fc.Name+": args is not a JSON object", nil)
		}
		idx := len(a.calls)
		tc := messages.ToolCall{ID: toolCallID(a.id, fc.Name, string(args), idx, fc.ID, p.ThoughtSignature), Name: fc.Name, Arguments: args}
		a.calls = append(a.calls, tc)
		d := &messages.ToolCallDelta{Index: idx, ID: tc.ID, Name: tc.Name, Arguments: string(args)}
		return a.emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: d})
	case p.Text != nil && !p.Thought:
		if *p.Text == "" {
			return nil
		}
		a.text.WriteString(*p.Text)
		return a.emit(&messages.StreamChunk{Type: messages.ChunkText, Text: *p.Text})
	}
	return nil // thought summaries, executable code, inline data, …
}

// respArgs returns functionCall.args: an object compacted, absent or null
// as {}.
func respArgs(in json.RawMessage) (json.RawMessage, bool) {
	in = bytes.TrimSpace(in)
	if len(in) == 0 || string(in) == "null" {
		return json.RawMessage("{}"), true
	}
	if !providers.IsJSONObject(in) {
		return nil, false
	}
	var b bytes.Buffer
	if json.Compact(&b, in) != nil {
		return nil, false
	}
	return json.RawMessage(b.Bytes()), true
}

// finishUsage emits the final usage chunk.
func (a *answer) finishUsage() error {
	u := a.usage.usage()
	return a.emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u})
}

// response returns the aggregated answer. A blocked prompt is a response
// with BlockReason set, FinishReason content_filter and no content.
func (a *answer) response() *messages.ChatResponse {
	out := &messages.ChatResponse{ID: a.id, Model: a.model, Content: a.text.String(), ToolCalls: a.calls, Usage: a.usage.usage()}
	out.RawFinishReason = a.finish
	out.FinishReason = finishReason(a.finish, len(a.calls) > 0)
	if a.block != "" {
		out.BlockReason = a.block
		if out.FinishReason == "" {
			out.FinishReason = messages.FinishContentFilter
		}
	}
	return out
}

func malformed(msg string, cause error) *messages.UpstreamError {
	return &messages.UpstreamError{Class: messages.ClassMalformed, Message: msg, Cause: cause}
}

// decodeResponse decodes a whole generateContent answer: one response
// object, or the JSON array streamGenerateContent sends without alt=sse.
func decodeResponse(body []byte, emit func(*messages.StreamChunk) error) (*messages.ChatResponse, error) {
	a := newAnswer(emit)
	body = bytes.TrimSpace(body)
	var raws []json.RawMessage
	if len(body) > 0 && body[0] == '[' {
		if err := json.Unmarshal(body, &raws); err != nil {
			return nil, malformed("decoding response array", err)
		}
	} else {
		raws = []json.RawMessage{body}
	}
	for i, raw := range raws {
		var w wireResponse
		if err := json.Unmarshal(raw, &w); err != nil {
			return nil, malformed("decoding response "+strconv.Itoa(i), err)
		}
		if err := a.add(&w, raw); err != nil {
			return nil, err
		}
	}
	if !a.finished && len(a.calls) == 0 && a.text.Len() == 0 {
		return nil, malformed("response has no candidates and no promptFeedback.blockReason", nil)
	}
	if err := a.finishUsage(); err != nil {
		return nil, err
	}
	return a.response(), nil
}

func (ad *Adapter) chat(ctx context.Context, call *providers.Call, req *messages.ChatRequest) (messages.Response, error) {
	resource, body, err := buildGenerateOn(ad.host, req)
	if err != nil {
		return nil, call.Refuse(err)
	}
	method := MethodGenerate
	if req.Stream {
		method = MethodStream
	}
	c := call.HTTPClient()
	resp, err := c.Send(ctx, call, exchange(ad.host, call, resource, method, body, req.Stream))
	if err != nil {
		return nil, err
	}
	if req.Stream && !providers.IsJSONContent(resp.Header) {
		return ad.stream(ctx, call, c, resp, resource)
	}
	var raw json.RawMessage
	if err := c.DecodeJSON(ctx, call, resp, &raw); err != nil {
		return nil, err
	}
	var emit func(*messages.StreamChunk) error
	if req.Stream {
		// The server answered a stream request with JSON; pass it on as
		// chunks so the caller still sees a stream.
		emit = providers.NewEmitter(call).Emit
	}
	out, err := decodeResponse(raw, emit)
	if err != nil {
		return nil, answerError(ctx, call, err, resp.StatusCode)
	}
	call.Result.Usage = out.Usage
	out.Meta = call.Meta()
	if out.Model == "" {
		out.Model = ad.host.modelID(resource)
	}
	return out, nil
}

// answerError completes a decoding failure: an UpstreamError gets the call's
// identity, the caller going away becomes ClassCancelled.
func answerError(ctx context.Context, call *providers.Call, err error, status int) error {
	var ue *messages.UpstreamError
	if errors.As(err, &ue) {
		if ue.Class == messages.ClassUnknown {
			ue.Class = messages.ClassServer
		}
		fillError(call, ue, status)
		return ue
	}
	if errors.Is(err, providers.ErrCallerGone()) {
		return call.Fail(messages.ClassCancelled, status, "caller went away", context.Canceled)
	}
	return providers.ContextError(ctx, call, err, messages.ClassMalformed, "decoding response")
}

// stream reads an SSE answer, emitting chunks as they arrive.
func (ad *Adapter) stream(ctx context.Context, call *providers.Call, c *providers.Client, resp *http.Response, resource string) (messages.Response, error) {
	em := providers.NewEmitter(call)
	a := newAnswer(em.Emit)
	err := c.Stream(ctx, call, resp, a.decodeStream)
	call.Result.Usage = a.usage.usage()
	if err != nil {
		var ue *messages.UpstreamError
		if errors.As(err, &ue) {
			fillError(call, ue, resp.StatusCode)
		}
		return nil, err
	}
	out := a.response()
	out.Meta = call.Meta()
	if out.Model == "" {
		out.Model = ad.host.modelID(resource)
	}
	return out, nil
}
