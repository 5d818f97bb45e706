package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// ---- request ----

type responsesBody struct {
	Model              string          `json:"model"`
	Instructions       string          `json:"instructions,omitempty"`
	Input              []any           `json:"input"`
	Tools              []responsesTool `json:"tools,omitempty"`
	ToolChoice         any             `json:"tool_choice,omitempty"`
	PreviousResponseID string          `json:"previous_response_id,omitempty"`
	Conversation       string          `json:"conversation,omitempty"`
	Store              *bool           `json:"store,omitempty"`
	Background         bool            `json:"background,omitempty"`
	MaxOutputTokens    int             `json:"max_output_tokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	Stream             bool            `json:"stream,omitempty"`
}

// responsesTool is a flat function tool. Strict is always sent: the Responses
// API defaults it to true, which rejects any schema that does not list every
// property as required with additionalProperties false.
type responsesTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

type inputMessage struct {
	Type    string `json:"type"`
	Role    string `json:"role"`
	Content any    `json:"content"`
}

type inputImage struct {
	Type     string `json:"type"`
	ImageURL string `json:"image_url"`
	Detail   string `json:"detail"`
}

type functionCallItem struct {
	Type      string `json:"type"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type functionCallOutput struct {
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	Output string `json:"output"`
}

// messageText joins a message's text: Content, or its text parts.
func messageText(m messages.Message) string {
	if len(m.Parts) == 0 {
		return m.Content
	}
	var b strings.Builder
	for _, p := range m.Parts {
		if p.Type == messages.PartText {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// responsesInput maps chat messages onto Responses API input items: messages
// with input_text/input_image parts (assistant turns as plain text, which the
// API accepts for every role), function_call items for an assistant's tool
// calls and function_call_output items for tool results.
func responsesInput(msgs []messages.Message) []any {
	items := make([]any, 0, len(msgs))
	for _, m := range msgs {
		switch m.Role {
		case messages.RoleTool:
			items = append(items, functionCallOutput{Type: "function_call_output", CallID: m.ToolCallID, Output: messageText(m)})
		case messages.RoleAssistant:
			if t := messageText(m); t != "" || len(m.ToolCalls) == 0 {
				items = append(items, inputMessage{Type: "message", Role: m.Role, Content: t})
			}
			for _, tc := range m.ToolCalls {
				items = append(items, functionCallItem{Type: "function_call", CallID: tc.ID, Name: tc.Name, Arguments: argumentsString(tc.Arguments)})
			}
		default:
			var parts []any
			if len(m.Parts) == 0 {
				parts = []any{textPart{Type: "input_text", Text: m.Content}}
			}
			for _, p := range m.Parts {
				switch p.Type {
				case messages.PartText:
					parts = append(parts, textPart{Type: "input_text", Text: p.Text})
				case messages.PartImage:
					parts = append(parts, inputImage{Type: "input_image", ImageURL: imageSource(p), Detail: "auto"})
				}
			}
			items = append(items, inputMessage{Type: "message", Role: m.Role, Content: parts})
		}
	}
	return items
}

var emptyParameters = json.RawMessage(`{"type":"object","properties":{}}`)

func (d *Dialect) buildResponsesBody(r *messages.ResponsesRequest) (any, error) {
	b := responsesBody{
		Model:              r.Model,
		Instructions:       r.Instructions,
		Input:              responsesInput(r.Input),
		PreviousResponseID: r.PreviousResponseID,
		Conversation:       r.Conversation,
		Store:              r.Store,
		Background:         r.Background,
		MaxOutputTokens:    r.MaxOutputTokens,
		Temperature:        r.Temperature,
		Stream:             r.Stream,
	}
	b.Tools, b.ToolChoice = responsesTools(r.Tools, r.ToolChoice)
	reserved := []string{"model", "input", "stream", "store", "background", "conversation", "previous_response_id"}
	if !r.Stream {
		reserved = append(reserved, "stream_options") // only allowed with stream
	}
	return d.finalBody(r, b, r.Extra, reserved...)
}

// ---- response ----

type wireResponse struct {
	ID           string `json:"id"`
	Model        string `json:"model"`
	Status       string `json:"status"`
	Store        *bool  `json:"store"`
	Background   bool   `json:"background"`
	Conversation *struct {
		ID string `json:"id"`
	} `json:"conversation"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Output []json.RawMessage `json:"output"`
	Usage  *struct {
		InputTokens        int `json:"input_tokens"`
		OutputTokens       int `json:"output_tokens"`
		InputTokensDetails *struct {
			CachedTokens     int `json:"cached_tokens"`
			CacheWriteTokens int `json:"cache_write_tokens"`
		} `json:"input_tokens_details"`
	} `json:"usage"`
}

// outputItem holds the fields of the output items the adapter reads: message
// and function_call. Other item types (reasoning, built-in tool calls) are
// skipped.
type outputItem struct {
	Type      string `json:"type"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
	Content   []struct {
		Type    string `json:"type"`
		Text    string `json:"text"`
		Refusal string `json:"refusal"`
	} `json:"content"`
}

func itemType(raw json.RawMessage) string {
	var t struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(raw, &t)
	return t.Type
}

// responsesResult turns a decoded Response into the answer, or the error of a
// failed one.
func responsesResult(call *providers.Call, w *wireResponse) (*messages.ResponsesResponse, error) {
	if w.Status == "failed" {
		if !providers.IsJSONNull(w.Error) {
			return nil, bodyError(call, w.Error)
		}
		return nil, inStreamError(call, "", "", "response failed")
	}
	out := &messages.ResponsesResponse{Meta: call.Meta(), ID: w.ID, Model: w.Model, Status: w.Status,
		Stored: w.Store == nil || *w.Store, Background: w.Background}
	if w.Conversation != nil {
		out.Conversation = w.Conversation.ID
	}
	if w.IncompleteDetails != nil {
		out.IncompleteReason = w.IncompleteDetails.Reason
	}
	var text strings.Builder
	for _, raw := range w.Output {
		switch itemType(raw) {
		case "message":
			var it outputItem
			if err := json.Unmarshal(raw, &it); err != nil {
				return nil, malformed(call, "decoding output message", err)
			}
			for _, c := range it.Content {
				if c.Type == "output_text" {
					text.WriteString(c.Text)
				}
			}
		case "function_call":
			var it outputItem
			if err := json.Unmarshal(raw, &it); err != nil {
				return nil, malformed(call, "decoding function call", err)
			}
			out.ToolCalls = append(out.ToolCalls, messages.ToolCall{ID: it.CallID, Name: it.Name, Arguments: toolArguments(it.Arguments)})
		}
	}
	out.OutputText = text.String()
	if u := w.Usage; u != nil {
		out.Usage = messages.Usage{InputTokens: u.InputTokens, OutputTokens: u.OutputTokens}
		if d := u.InputTokensDetails; d != nil {
			out.Usage.CacheReadTokens, out.Usage.CacheWriteTokens = d.CachedTokens, d.CacheWriteTokens
		}
	}
	call.Result.Usage = out.Usage
	return out, nil
}

// responsesTools maps tools and the tool choice to the Responses API's
// flat function tools (a tool without parameters gets an empty object
// schema); no tools means no choice either.
func responsesTools(tools []messages.Tool, choice string) ([]responsesTool, any) {
	if len(tools) == 0 {
		return nil, nil
	}
	out := make([]responsesTool, 0, len(tools))
	for _, t := range tools {
		params := t.Parameters
		if len(params) == 0 {
			params = emptyParameters
		}
		out = append(out, responsesTool{Type: "function", Name: t.Name, Description: t.Description, Parameters: params})
	}
	return out, toolChoice(choice, true)
}

// sendResponses performs ex and reads a Responses API answer: a JSON
// response, an event stream (pos tracks its sequence numbers, so a cut
// stream's error carries where to resume), or a JSON answer to a stream
// request replayed as one text chunk.
func sendResponses(ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange, stream bool, pos *streamPosition) (*messages.ResponsesResponse, error) {
	out, err := send(ctx, c, call, ex, stream,
		func(resp *http.Response) (*messages.ResponsesResponse, error) {
			return decodeResponses(ctx, c, call, resp)
		},
		func(em *providers.Emitter, out *messages.ResponsesResponse) error {
			if out.OutputText == "" {
				return nil
			}
			return em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: out.OutputText})
		},
		func(rd io.Reader, em *providers.Emitter) (*messages.ResponsesResponse, error) {
			return decodeResponsesStream(rd, call, em, pos)
		})
	if err != nil {
		return nil, pos.resumable(err)
	}
	return out, nil
}

func (d *Dialect) doResponses(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ResponsesRequest) (messages.Response, error) {
	body, err := d.buildResponsesBody(r)
	if err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
	}
	pos := &streamPosition{last: -1}
	out, err := sendResponses(ctx, c, call, d.exchange(call, OpResponses, body, r.Stream), r.Stream, pos)
	if err != nil {
		return nil, err
	}
	if r.Store != nil && !*r.Store {
		out.Stored = false // the request said so, whatever the answer omitted
	}
	return out, nil
}

func decodeResponses(ctx context.Context, c *providers.Client, call *providers.Call, resp *http.Response) (*messages.ResponsesResponse, error) {
	var w wireResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	return responsesResult(call, &w)
}

// ---- stream ----

type streamEvent struct {
	Type           string          `json:"type"`
	SequenceNumber *int            `json:"sequence_number"`
	OutputIndex    int             `json:"output_index"`
	Delta          json.RawMessage `json:"delta"`
	Item           json.RawMessage `json:"item"`
	Response       json.RawMessage `json:"response"`
}

// DecodeResponsesStream reads a Responses API event stream from r. It emits
// one chunk per event: a ChunkText for each response.output_text.delta (a
// ChunkEvent when the delta is empty), a ChunkToolCall when a function_call
// output item is added (ID and name, index = output_index) and for each
// response.function_call_arguments.delta, a ChunkUsage with the final usage
// (a ChunkEvent when the final response has none), and a ChunkEvent naming
// every other event; an error event and data without a type emit nothing.
// So chunks count as the events' sequence numbers do. It returns the answer
// built from the final response of response.completed or
// response.incomplete (falling back to the streamed text and calls when that
// response omits its output).
//
// It returns a *messages.UpstreamError for response.failed, for an error
// event (classified by its code) and for an event that is not valid JSON
// (ClassMalformed); io.ErrUnexpectedEOF when r ends before a terminal event;
// the Emitter's error when the caller went away. It never panics on malformed
// input. Not safe for concurrent use with the same call.
func DecodeResponsesStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.ResponsesResponse, error) {
	return decodeResponsesStream(r, call, em, &streamPosition{last: -1})
}

// streamPosition is how far a Responses API stream got: the response it
// streams (from its first events), whether that response runs in the
// background, and the last sequence number read.
type streamPosition struct {
	responseID string
	background bool
	last       int
}

// resumable wraps err, a stream's failure, in a *messages.StreamResume
// when the stream is of a background response (the only kind that can be
// streamed again) and err is a cut or a timeout.
func (p *streamPosition) resumable(err error) error {
	var ue *messages.UpstreamError
	if p.responseID == "" || !p.background || !errors.As(err, &ue) ||
		(ue.Class != messages.ClassStreamCut && ue.Class != messages.ClassTimeout) {
		return err
	}
	ue.Cause = &messages.StreamResume{ResponseID: p.responseID, LastSequence: p.last, Err: ue.Cause}
	return ue
}

func decodeResponsesStream(r io.Reader, call *providers.Call, em *providers.Emitter, pos *streamPosition) (*messages.ResponsesResponse, error) {
	sse := providers.NewSSEReader(r)
	var (
		text     strings.Builder
		tools    = map[int]*toolBuilder{}
		toolSeen []int
	)
	tool := func(i int) *toolBuilder {
		tb := tools[i]
		if tb == nil {
			tb = &toolBuilder{}
			tools[i] = tb
			toolSeen = append(toolSeen, i)
		}
		return tb
	}
	for {
		ev, err := sse.NextInStream()
		if err != nil {
			return nil, err
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 || string(data) == "[DONE]" {
			continue
		}
		var se streamEvent
		if err := json.Unmarshal(data, &se); err != nil {
			return nil, malformed(call, "decoding stream event", err)
		}
		typ := se.Type
		if typ == "" {
			typ = ev.Event
		}
		if se.SequenceNumber != nil {
			pos.last = *se.SequenceNumber
		}
		if typ == "response.created" || typ == "response.queued" || typ == "response.in_progress" {
			var head struct {
				ID         string `json:"id"`
				Background bool   `json:"background"`
			}
			if json.Unmarshal(se.Response, &head) == nil && head.ID != "" {
				pos.responseID, pos.background = head.ID, head.Background
			}
		}
		switch typ {
		case "response.output_text.delta":
			var d string
			if err := json.Unmarshal(se.Delta, &d); err != nil {
				return nil, malformed(call, "decoding text delta", err)
			}
			text.WriteString(d)
			ch := &messages.StreamChunk{Type: messages.ChunkText, Text: d}
			if d == "" {
				ch = &messages.StreamChunk{Type: messages.ChunkEvent, Event: typ}
			}
			if err := em.Emit(ch); err != nil {
				return nil, err
			}
		case "response.function_call_arguments.delta":
			var d string
			if err := json.Unmarshal(se.Delta, &d); err != nil {
				return nil, malformed(call, "decoding arguments delta", err)
			}
			tool(se.OutputIndex).args.WriteString(d)
			if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: &messages.ToolCallDelta{Index: se.OutputIndex, Arguments: d}}); err != nil {
				return nil, err
			}
		case "response.output_item.added":
			if itemType(se.Item) != "function_call" {
				if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkEvent, Event: typ}); err != nil {
					return nil, err
				}
				continue
			}
			var it outputItem
			if err := json.Unmarshal(se.Item, &it); err != nil {
				return nil, malformed(call, "decoding function call item", err)
			}
			tb := tool(se.OutputIndex)
			tb.id, tb.name = it.CallID, it.Name
			tb.args.WriteString(it.Arguments)
			d := &messages.ToolCallDelta{Index: se.OutputIndex, ID: it.CallID, Name: it.Name, Arguments: it.Arguments}
			if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: d}); err != nil {
				return nil, err
			}
		case "response.completed", "response.incomplete", "response.failed":
			var w wireResponse
			if providers.IsJSONNull(se.Response) {
				if typ == "response.failed" {
					return nil, inStreamError(call, "", "", "response failed")
				}
				return nil, malformed(call, typ+" without a response", nil)
			}
			if err := json.Unmarshal(se.Response, &w); err != nil {
				return nil, malformed(call, "decoding final response", err)
			}
			if typ == "response.failed" {
				w.Status = "failed"
			}
			out, err := responsesResult(call, &w)
			if err != nil {
				return nil, err
			}
			if len(w.Output) == 0 {
				out.OutputText = text.String()
				slices.Sort(toolSeen)
				for _, i := range toolSeen {
					tb := tools[i]
					out.ToolCalls = append(out.ToolCalls, messages.ToolCall{ID: tb.id, Name: tb.name, Arguments: toolArguments(tb.args.String())})
				}
			}
			ch := &messages.StreamChunk{Type: messages.ChunkEvent, Event: typ}
			if w.Usage != nil {
				u := out.Usage
				ch = &messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u}
			}
			if err := em.Emit(ch); err != nil {
				return nil, err
			}
			return out, nil
		case "error":
			return nil, errorEvent(call, data)
		default:
			if typ == "" {
				continue
			}
			if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkEvent, Event: typ}); err != nil {
				return nil, err
			}
		}
	}
}
