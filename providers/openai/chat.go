package openai

import (
	"bytes"
	"context"
	"encoding/base64"
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

type chatBody struct {
	Model               string         `json:"model"`
	Messages            []chatMessage  `json:"messages"`
	Tools               []chatTool     `json:"tools,omitempty"`
	ToolChoice          any            `json:"tool_choice,omitempty"`
	Temperature         *float64       `json:"temperature,omitempty"`
	TopP                *float64       `json:"top_p,omitempty"`
	MaxCompletionTokens int            `json:"max_completion_tokens,omitempty"`
	MaxTokens           int            `json:"max_tokens,omitempty"`
	Stop                []string       `json:"stop,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *streamOptions `json:"stream_options,omitempty"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is a string, a []any of parts, or nil (JSON null) for an
	// assistant turn that only calls tools.
	Content    any            `json:"content"`
	ToolCalls  []chatToolCall `json:"tool_calls,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

type textPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type imageURLPart struct {
	Type     string   `json:"type"`
	ImageURL imageURL `json:"image_url"`
}

type imageURL struct {
	URL string `json:"url"`
}

type chatToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function chatFunction `json:"function"`
}

type chatFunction struct {
	Name      string  `json:"name"`
	Arguments argText `json:"arguments"`
}

// argText is a tool call's arguments: OpenAI sends a JSON-encoded string;
// some compatible servers (older TGI) send the object itself, which is kept
// as its JSON text. It marshals as a string.
type argText string

func (a *argText) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = argText(s)
		return nil
	}
	b = bytes.TrimSpace(b)
	if len(b) > 0 && (b[0] == '{' || b[0] == '[') {
		*a = argText(b)
		return nil
	}
	if string(b) == "null" {
		*a = ""
		return nil
	}
	return errors.New("tool call arguments are neither a string nor an object")
}

type chatTool struct {
	Type     string          `json:"type"`
	Function chatToolFuncDef `json:"function"`
}

type chatToolFuncDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

// imageSource returns the URL to send for an image part: ImageURL, or a data:
// URL built from Data and MediaType (sniffed when empty).
func imageSource(p messages.Part) string {
	if p.ImageURL != "" {
		return p.ImageURL
	}
	mt := p.MediaType
	if mt == "" {
		mt = http.DetectContentType(p.Data)
		if i := strings.IndexByte(mt, ';'); i >= 0 {
			mt = mt[:i]
		}
	}
	return "data:" + mt + ";base64," + base64.StdEncoding.EncodeToString(p.Data)
}

// chatContent maps a message's text or parts onto chat completion content.
func chatContent(m messages.Message) any {
	if len(m.Parts) == 0 {
		return m.Content
	}
	parts := make([]any, 0, len(m.Parts))
	for _, p := range m.Parts {
		switch p.Type {
		case messages.PartText:
			parts = append(parts, textPart{Type: "text", Text: p.Text})
		case messages.PartImage:
			parts = append(parts, imageURLPart{Type: "image_url", ImageURL: imageURL{URL: imageSource(p)}})
		}
	}
	return parts
}

func (d *Dialect) buildChatBody(r *messages.ChatRequest) (any, error) {
	b := chatBody{
		Model:       r.Model,
		Temperature: r.Temperature,
		TopP:        r.TopP,
		Stop:        r.Stop,
	}
	if d.MaxTokensField == "max_tokens" {
		b.MaxTokens = r.MaxTokens
	} else {
		b.MaxCompletionTokens = r.MaxTokens
	}
	b.Messages = make([]chatMessage, 0, len(r.Messages)+1)
	if r.System != "" {
		b.Messages = append(b.Messages, chatMessage{Role: messages.RoleSystem, Content: r.System})
	}
	for _, m := range r.Messages {
		cm := chatMessage{Role: m.Role, Content: chatContent(m)}
		switch m.Role {
		case messages.RoleAssistant:
			for _, tc := range m.ToolCalls {
				cm.ToolCalls = append(cm.ToolCalls, chatToolCall{ID: tc.ID, Type: "function",
					Function: chatFunction{Name: tc.Name, Arguments: argText(argumentsString(tc.Arguments))}})
			}
			if len(cm.ToolCalls) > 0 && len(m.Parts) == 0 && m.Content == "" {
				cm.Content = nil
			}
		case messages.RoleTool:
			// OpenAI has no error flag for tool results; IsError is carried
			// only by what the content says.
			cm.ToolCallID = m.ToolCallID
		}
		b.Messages = append(b.Messages, cm)
	}
	for _, t := range r.Tools {
		b.Tools = append(b.Tools, chatTool{Type: "function", Function: chatToolFuncDef{Name: t.Name, Description: t.Description, Parameters: t.Parameters}})
	}
	if len(r.Tools) > 0 {
		b.ToolChoice = toolChoice(r.ToolChoice, false)
	}
	if r.Stream {
		b.Stream = true
		if !d.NoStreamOptions {
			b.StreamOptions = &streamOptions{IncludeUsage: true}
		}
	}
	return d.finalBody(r, b, r.Extra, "model", "messages", "stream", "stream_options")
}

// ---- response ----

type chatCompletion struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Choices []chatChoice    `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type chatChoice struct {
	Index   int `json:"index"`
	Message struct {
		Content   *string        `json:"content"`
		Refusal   *string        `json:"refusal"`
		ToolCalls []chatToolCall `json:"tool_calls"`
	} `json:"message"`
	FinishReason *string `json:"finish_reason"`
}

type wireUsage struct {
	PromptTokens        int               `json:"prompt_tokens"`
	CompletionTokens    int               `json:"completion_tokens"`
	PromptTokensDetails *wireTokenDetails `json:"prompt_tokens_details"`
}

// wireTokenDetails is usage.prompt_tokens_details.
type wireTokenDetails struct {
	CachedTokens     int `json:"cached_tokens"`
	CacheWriteTokens int `json:"cache_write_tokens"`
}

// usagePtr returns the usage, nil when the chunk had none.
func (u *wireUsage) usagePtr() *messages.Usage {
	if u == nil {
		return nil
	}
	out := u.usage()
	return &out
}

// recordUsage stores u as the answer's and the call's usage and emits it.
func recordUsage(call *providers.Call, em *providers.Emitter, dst *messages.Usage, u messages.Usage) error {
	*dst = u
	call.Result.Usage = u
	return em.Emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u})
}

func (u *wireUsage) usage() messages.Usage {
	if u == nil {
		return messages.Usage{}
	}
	out := messages.Usage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		out.CacheReadTokens, out.CacheWriteTokens = d.CachedTokens, d.CacheWriteTokens
	}
	return out
}

// finishChat fills the normalised finish reason; a refusal with no content
// becomes the content, finished by the content filter.
func (d *Dialect) finishChat(resp *messages.ChatResponse, raw, refusal string) {
	resp.RawFinishReason = raw
	resp.FinishReason = d.finish(raw)
	if resp.Content == "" && refusal != "" {
		resp.Content = refusal
		if resp.FinishReason == messages.FinishStop || resp.FinishReason == "" {
			resp.FinishReason = messages.FinishContentFilter
		}
	}
}

func (d *Dialect) doChat(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ChatRequest) (messages.Response, error) {
	var ex *providers.Exchange
	if raw, ok := d.appendChatBody(nil, r); ok {
		ex = d.exchange(call, OpChat, nil, r.Stream)
		ex.Method, ex.RawBody = http.MethodPost, raw
	} else {
		body, err := d.buildChatBody(r)
		if err != nil {
			return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
		}
		ex = d.exchange(call, OpChat, body, r.Stream)
	}
	out, err := send(ctx, c, call, ex, r.Stream,
		func(resp *http.Response) (*messages.ChatResponse, error) { return d.decodeChat(ctx, c, call, resp) },
		emitWhole,
		func(rd io.Reader, em *providers.Emitter) (*messages.ChatResponse, error) {
			return d.decodeChatStream(rd, call, em)
		})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func emitWhole(em *providers.Emitter, out *messages.ChatResponse) error {
	if out.Content != "" {
		if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: out.Content}); err != nil {
			return err
		}
	}
	for i, tc := range out.ToolCalls {
		if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: &messages.ToolCallDelta{Index: i, ID: tc.ID, Name: tc.Name, Arguments: string(tc.Arguments)}}); err != nil {
			return err
		}
	}
	u := out.Usage
	return em.Emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u})
}

func (d *Dialect) decodeChat(ctx context.Context, c *providers.Client, call *providers.Call, resp *http.Response) (*messages.ChatResponse, error) {
	var w chatAnswer
	if err := c.DecodeBody(ctx, call, resp, func(b []byte) error { return decodeChatAnswer(b, &w) }); err != nil {
		return nil, err
	}
	if !providers.IsJSONNull(w.Error) {
		return nil, bodyError(call, w.Error)
	}
	if w.Choices == 0 {
		return nil, malformed(call, "chat completion without choices", nil)
	}
	out := &messages.ChatResponse{Meta: call.Meta(), ID: w.ID, Model: w.Model, Usage: w.Usage.usage(), Content: w.Content}
	for _, tc := range w.ToolCalls {
		out.ToolCalls = append(out.ToolCalls, messages.ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: toolArguments(string(tc.Function.Arguments))})
	}
	d.finishChat(out, w.Finish, w.Refusal)
	call.Result.Usage = out.Usage
	return out, nil
}

// ---- stream ----

type chatChunk struct {
	ID      string          `json:"id"`
	Model   string          `json:"model"`
	Choices []chunkChoice   `json:"choices"`
	Usage   *wireUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type chunkChoice struct {
	Index int `json:"index"`
	Delta struct {
		Content   *string         `json:"content"`
		Refusal   *string         `json:"refusal"`
		ToolCalls []chunkToolCall `json:"tool_calls"`
	} `json:"delta"`
	FinishReason *string `json:"finish_reason"`
}

type chunkToolCall struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string  `json:"name"`
		Arguments argText `json:"arguments"`
	} `json:"function"`
}

type toolBuilder struct {
	id, name string
	args     strings.Builder
}

// DecodeChatStream reads an OpenAI chat completion event stream from r: it
// emits a ChunkText for each piece of content, a ChunkToolCall for each tool
// call fragment and a ChunkUsage for the usage chunk (through em, which may
// have no Emit function), and returns the aggregated response once it reads
// "data: [DONE]". Tool call fragments are concatenated by index; only the
// first choice is aggregated.
//
// It returns io.ErrUnexpectedEOF when r ends before [DONE] (so Client.Stream
// classifies it as ClassStreamCut), a *messages.UpstreamError for an event
// carrying an "error" (classified by its type and code) or for a chunk that
// is not valid JSON (ClassMalformed), the Emitter's error when the caller went
// away, or r's read error. It never panics on malformed input. It records
// usage in call.Result.Usage as soon as it arrives. Not safe for concurrent
// use with the same call.
func DecodeChatStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.ChatResponse, error) {
	return plain.decodeChatStream(r, call, em)
}

// DecodeChatStream is the package's DecodeChatStream in a's dialect: usage
// and errors found by its StreamChunk hook count, and finish reasons are
// normalised by its Finish hook.
func (a *Adapter) DecodeChatStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.ChatResponse, error) {
	return a.dialect().decodeChatStream(r, call, em)
}

func (d *Dialect) decodeChatStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.ChatResponse, error) {
	sse := providers.NewSSEReader(r)
	var (
		out      = &messages.ChatResponse{}
		text     strings.Builder
		refusal  strings.Builder
		finish   string
		tools    = map[int]*toolBuilder{}
		toolSeen []int
	)
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
			if e := errorEvent(call, data); e != nil {
				return nil, e
			}
		}
		if len(data) == 0 {
			continue
		}
		var ch chatChunk
		if err := json.Unmarshal(data, &ch); err != nil {
			return nil, malformed(call, "decoding stream chunk", err)
		}
		usage, err := d.chunkUsage(call, data, ch.Error, ch.Usage.usagePtr())
		if err != nil {
			return nil, err
		}
		if out.ID == "" {
			out.ID = ch.ID
		}
		if out.Model == "" {
			out.Model = ch.Model
		}
		for _, c := range ch.Choices {
			if c.Index != 0 {
				continue
			}
			if c.Delta.Content != nil && *c.Delta.Content != "" {
				text.WriteString(*c.Delta.Content)
				if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: *c.Delta.Content}); err != nil {
					return nil, err
				}
			}
			if c.Delta.Refusal != nil {
				refusal.WriteString(*c.Delta.Refusal)
			}
			for _, tc := range c.Delta.ToolCalls {
				tb := tools[tc.Index]
				if tb == nil {
					tb = &toolBuilder{}
					tools[tc.Index] = tb
					toolSeen = append(toolSeen, tc.Index)
				}
				if tc.ID != "" && tb.id == "" {
					tb.id = tc.ID
				}
				if tc.Function.Name != "" && tb.name == "" {
					tb.name = tc.Function.Name
				}
				tb.args.WriteString(string(tc.Function.Arguments))
				td := &messages.ToolCallDelta{Index: tc.Index, ID: tc.ID, Name: tc.Function.Name, Arguments: string(tc.Function.Arguments)}
				if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: td}); err != nil {
					return nil, err
				}
			}
			if c.FinishReason != nil && *c.FinishReason != "" {
				finish = *c.FinishReason
			}
		}
		if usage != nil {
			if err := recordUsage(call, em, &out.Usage, *usage); err != nil {
				return nil, err
			}
		}
	}
	out.Content = text.String()
	slices.Sort(toolSeen)
	for _, i := range toolSeen {
		tb := tools[i]
		out.ToolCalls = append(out.ToolCalls, messages.ToolCall{ID: tb.id, Name: tb.name, Arguments: toolArguments(tb.args.String())})
	}
	d.finishChat(out, finish, refusal.String())
	out.Meta = call.Meta()
	return out, nil
}

// errorEvent decodes the data of an "event: error" SSE event: an
// {"error":{...}} wrapper or the error object itself.
func errorEvent(call *providers.Call, data []byte) *messages.UpstreamError {
	var top map[string]json.RawMessage
	if json.Unmarshal(data, &top) != nil {
		return inStreamError(call, "", "", strings.TrimSpace(string(data)))
	}
	if raw, ok := top["error"]; ok && !providers.IsJSONNull(raw) {
		return bodyError(call, raw)
	}
	typ := providers.JSONText(top["type"])
	if typ == "error" { // the Responses API's event type, not an error type
		typ = ""
	}
	return inStreamError(call, typ, providers.JSONText(top["code"]), providers.JSONText(top["message"]))
}
