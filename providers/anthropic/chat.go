package anthropic

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

// wireResponse is a Message, the answer of POST /v1/messages (and the
// message of a stream's message_start event).
type wireResponse struct {
	ID         string        `json:"id"`
	Type       string        `json:"type"`
	Role       string        `json:"role"`
	Model      string        `json:"model"`
	Content    []wireContent `json:"content"`
	StopReason *string       `json:"stop_reason"`
	Usage      *wireUsage    `json:"usage"`
	// Error is set when a 2xx body is an error envelope after all.
	Error json.RawMessage `json:"error"`
}

// wireContent is one response content block. Only text and tool_use are
// mapped; thinking and server-tool blocks are skipped.
type wireContent struct {
	Type  string          `json:"type"`
	Text  string          `json:"text"`
	ID    string          `json:"id"`
	Name  string          `json:"name"`
	Input json.RawMessage `json:"input"`
}

// wireUsage is the usage object. Pointers tell absent fields apart, which
// matters for message_delta, where the counts are cumulative and any field
// may be omitted.
type wireUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// usageState accumulates usage: the latest value of each counter wins.
type usageState struct {
	input, output, cacheWrite, cacheRead int
}

func (s *usageState) merge(u *wireUsage) {
	if u == nil {
		return
	}
	set := func(dst *int, v *int) {
		if v != nil && *v >= 0 {
			*dst = *v
		}
	}
	set(&s.input, u.InputTokens)
	set(&s.output, u.OutputTokens)
	set(&s.cacheWrite, u.CacheCreationInputTokens)
	set(&s.cacheRead, u.CacheReadInputTokens)
}

// usage converts to the neutral form: input counts cache writes and reads.
func (s usageState) usage() messages.Usage {
	return messages.Usage{
		InputTokens:      s.input + s.cacheWrite + s.cacheRead,
		OutputTokens:     s.output,
		CacheReadTokens:  s.cacheRead,
		CacheWriteTokens: s.cacheWrite,
	}
}

// finishReason normalises a stop_reason.
func finishReason(raw string) string {
	switch raw {
	case "end_turn", "stop_sequence":
		return messages.FinishStop
	case "max_tokens":
		return messages.FinishLength
	case "tool_use":
		return messages.FinishToolCalls
	case "refusal":
		return messages.FinishContentFilter
	case "":
		return ""
	}
	return messages.FinishOther
}

func (a *Adapter) chat(ctx context.Context, call *providers.Call, req *messages.ChatRequest) (messages.Response, error) {
	body, err := buildChatBody(req)
	if err != nil {
		return nil, call.Refuse(err)
	}
	path := PathMessages
	if a.h != nil {
		a.h.hostBody(call, body, false)
		path = a.h.ChatPath(req.Model, req.Stream)
	}
	c := call.HTTPClient()
	resp, err := a.send(ctx, call, c, a.exchange(call, path, body))
	if err != nil {
		return nil, err
	}
	if req.Stream && !providers.IsJSONContent(resp.Header) {
		return a.stream(ctx, call, c, resp)
	}
	var w wireResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	out, uerr := w.toChat()
	if uerr != nil {
		fillError(call, uerr, resp.StatusCode)
		return nil, uerr
	}
	call.Result.Usage = out.Usage
	out.Meta = call.Meta()
	if req.Stream {
		// The server answered a stream request with one JSON message; pass
		// it on as chunks so the caller still sees a stream.
		em := providers.NewEmitter(call)
		if err := emitWhole(em.Emit, out); err != nil {
			return nil, call.Fail(messages.ClassCancelled, resp.StatusCode, "caller went away", context.Canceled)
		}
	}
	return out, nil
}

// toChat converts a decoded Message. A body that is not a message (an error
// envelope, or no id and no content) is an UpstreamError.
func (w *wireResponse) toChat() (*messages.ChatResponse, *messages.UpstreamError) {
	if w.Type == "error" || len(bytes.TrimSpace(w.Error)) > 0 && string(bytes.TrimSpace(w.Error)) != "null" {
		e := &messages.UpstreamError{}
		env, _ := json.Marshal(map[string]json.RawMessage{"type": json.RawMessage(`"error"`), "error": w.Error})
		decodeError(0, nil, env, e)
		if e.Class == messages.ClassUnknown {
			e.Class = messages.ClassServer
		}
		return nil, e
	}
	if (w.Type != "" && w.Type != "message") || (w.ID == "" && w.Content == nil) {
		return nil, &messages.UpstreamError{Class: messages.ClassMalformed, Message: "response body is not a message"}
	}
	out := &messages.ChatResponse{ID: w.ID, Model: w.Model}
	var text strings.Builder
	for i, c := range w.Content {
		switch c.Type {
		case "text":
			text.WriteString(c.Text)
		case "tool_use":
			args, ok := toolArgs(c.Input)
			if !ok || c.Name == "" || c.ID == "" {
				return nil, &messages.UpstreamError{Class: messages.ClassMalformed, Message: "content[" + strconv.Itoa(i) + "]: tool_use block without an id, a name or an object input"}
			}
			out.ToolCalls = append(out.ToolCalls, messages.ToolCall{ID: c.ID, Name: c.Name, Arguments: args})
		}
	}
	out.Content = text.String()
	if w.StopReason != nil {
		out.RawFinishReason = *w.StopReason
		out.FinishReason = finishReason(*w.StopReason)
	}
	var u usageState
	u.merge(w.Usage)
	out.Usage = u.usage()
	return out, nil
}

// toolArgs returns a tool_use input as arguments: an object as is, absent or
// null as {}.
func toolArgs(in json.RawMessage) (json.RawMessage, bool) {
	in = bytes.TrimSpace(in)
	if len(in) == 0 || string(in) == "null" {
		return json.RawMessage("{}"), true
	}
	if !providers.IsJSONObject(in) {
		return nil, false
	}
	return append(json.RawMessage(nil), in...), true
}

// emitWhole sends a complete answer as chunks: its text, one chunk per tool
// call, then the usage.
func emitWhole(emit func(*messages.StreamChunk) error, r *messages.ChatResponse) error {
	if r.Content != "" {
		if err := emit(&messages.StreamChunk{Type: messages.ChunkText, Text: r.Content}); err != nil {
			return err
		}
	}
	for i, tc := range r.ToolCalls {
		d := &messages.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: string(tc.Arguments)}
		if err := emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: d}); err != nil {
			return err
		}
	}
	u := r.Usage
	return emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u})
}

// fillError completes an UpstreamError built without the call (decoded from
// a body or a stream) with the call's identity.
func fillError(call *providers.Call, e *messages.UpstreamError, status int) {
	e.RequestID = call.RequestID
	if e.UpstreamRequestID == "" {
		e.UpstreamRequestID = call.Result.UpstreamRequestID
	}
	e.Provider, e.Endpoint, e.Key = call.Provider, call.Endpoint, call.Key.Label()
	if e.Status == 0 {
		e.Status = status
	}
}

// stream reads an event stream answer, emitting chunks as they arrive.
func (a *Adapter) stream(ctx context.Context, call *providers.Call, c *providers.Client, resp *http.Response) (messages.Response, error) {
	em := providers.NewEmitter(call)
	d := newStreamDecoder(em.Emit)
	if a.h != nil && a.h.Events != nil {
		d.events = a.h.Events
	}
	err := c.Stream(ctx, call, resp, d.decode)
	call.Result.Usage = d.usage.usage()
	if err != nil {
		var ue *messages.UpstreamError
		if errors.As(err, &ue) {
			fillError(call, ue, resp.StatusCode)
		}
		return nil, err
	}
	out := d.response()
	out.Meta = call.Meta()
	return out, nil
}
