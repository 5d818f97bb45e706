package ollama

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// ---- request ----

type chatBody struct {
	Model    string         `json:"model"`
	Messages []chatMessage  `json:"messages"`
	Tools    []chatTool     `json:"tools,omitempty"`
	Options  map[string]any `json:"options,omitempty"`
	// Stream is always sent: Ollama streams when it is missing.
	Stream bool `json:"stream"`
}

type chatMessage struct {
	Role string `json:"role"`
	// Content is always sent (the spec requires it), "" for an assistant
	// turn that only calls tools.
	Content    string         `json:"content"`
	Images     []string       `json:"images,omitempty"`
	ToolCalls  []wireToolCall `json:"tool_calls,omitempty"`
	ToolName   string         `json:"tool_name,omitempty"`
	ToolCallID string         `json:"tool_call_id,omitempty"`
}

// wireToolCall is a tool call as Ollama sends and accepts it: arguments are
// a JSON object, not a string.
type wireToolCall struct {
	ID       string       `json:"id,omitempty"`
	Function wireFunction `json:"function"`
}

type wireFunction struct {
	Index     *int            `json:"index,omitempty"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

type chatTool struct {
	Type     string      `json:"type"`
	Function chatToolDef `json:"function"`
}

type chatToolDef struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
}

// emptySchema is sent for a tool without parameters: Ollama's spec requires
// the field.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// options maps the sampling fields onto Ollama's Modelfile options.
func options(temperature, topP *float64, maxTokens int, stop []string) map[string]any {
	o := map[string]any{}
	if temperature != nil {
		o["temperature"] = *temperature
	}
	if topP != nil {
		o["top_p"] = *topP
	}
	if maxTokens > 0 {
		o["num_predict"] = maxTokens
	}
	if len(stop) > 0 {
		o["stop"] = stop
	}
	if len(o) == 0 {
		return nil
	}
	return o
}

// imageData returns the base64 payload Ollama wants for an image part:
// Data encoded, or the payload of a base64 data: URL.
func imageData(p messages.Part) (string, bool) {
	if len(p.Data) > 0 {
		return base64.StdEncoding.EncodeToString(p.Data), true
	}
	rest, ok := strings.CutPrefix(p.ImageURL, "data:")
	if !ok {
		return "", false
	}
	meta, payload, ok := strings.Cut(rest, ",")
	if !ok || !strings.HasSuffix(meta, ";base64") {
		return "", false
	}
	if _, err := base64.StdEncoding.DecodeString(payload); err != nil {
		return "", false
	}
	return payload, true
}

// content joins a message's text parts (with newlines) and collects its
// images.
func content(m messages.Message) (string, []string) {
	if len(m.Parts) == 0 {
		return m.Content, nil
	}
	var texts, images []string
	for _, p := range m.Parts {
		switch p.Type {
		case messages.PartText:
			texts = append(texts, p.Text)
		case messages.PartImage:
			if d, ok := imageData(p); ok {
				images = append(images, d)
			}
		}
	}
	return strings.Join(texts, "\n"), images
}

// objectArgs returns a tool call's arguments as the JSON object Ollama wants.
func objectArgs(a json.RawMessage) json.RawMessage {
	if len(bytes.TrimSpace(a)) == 0 {
		return json.RawMessage("{}")
	}
	return a
}

func buildChatBody(r *messages.ChatRequest) (any, error) {
	b := chatBody{Model: r.Model, Stream: r.Stream, Options: options(r.Temperature, r.TopP, r.MaxTokens, r.Stop)}
	b.Messages = make([]chatMessage, 0, len(r.Messages)+1)
	if r.System != "" {
		b.Messages = append(b.Messages, chatMessage{Role: messages.RoleSystem, Content: r.System})
	}
	names := map[string]string{} // tool call ID → tool name
	for _, m := range r.Messages {
		text, images := content(m)
		cm := chatMessage{Role: m.Role, Content: text, Images: images}
		switch m.Role {
		case messages.RoleAssistant:
			for _, tc := range m.ToolCalls {
				cm.ToolCalls = append(cm.ToolCalls, wireToolCall{ID: tc.ID, Function: wireFunction{Name: tc.Name, Arguments: objectArgs(tc.Arguments)}})
				if tc.ID != "" {
					names[tc.ID] = tc.Name
				}
			}
		case messages.RoleTool:
			// Ollama matches a result to its call by tool_name; it has no
			// error flag, so IsError is carried by the content alone.
			cm.ToolName = names[m.ToolCallID]
			cm.ToolCallID = m.ToolCallID
		}
		b.Messages = append(b.Messages, cm)
	}
	if r.ToolChoice != "none" {
		for _, t := range r.Tools {
			params := t.Parameters
			if len(bytes.TrimSpace(params)) == 0 {
				params = emptySchema
			}
			b.Tools = append(b.Tools, chatTool{Type: "function", Function: chatToolDef{Name: t.Name, Description: t.Description, Parameters: params}})
		}
	}
	return withExtra(b, r.Extra, "model", "messages", "stream", "tools")
}

// ---- validation ----

func checkFloat(ci *messages.Call, name string, v *float64) error {
	if v != nil && (math.IsNaN(*v) || math.IsInf(*v, 0) || *v < 0) {
		return invalid(ci, "%s %v must be a finite number ≥ 0", name, *v)
	}
	return nil
}

func checkSampling(ci *messages.Call, temperature, topP *float64, maxTokens int) error {
	if err := checkFloat(ci, "temperature", temperature); err != nil {
		return err
	}
	if err := checkFloat(ci, "top_p", topP); err != nil {
		return err
	}
	if topP != nil && *topP > 1 {
		return invalid(ci, "top_p %v is above 1", *topP)
	}
	if maxTokens < 0 {
		return invalid(ci, "MaxTokens %d is negative", maxTokens)
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	return json.Unmarshal(raw, &m) == nil && m != nil
}

func checkChat(r *messages.ChatRequest) error {
	ci := &r.Call
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if len(r.Messages) == 0 {
		return invalid(ci, "at least one message is required")
	}
	for i, m := range r.Messages {
		switch m.Role {
		case messages.RoleSystem, messages.RoleUser, messages.RoleAssistant, messages.RoleTool:
		default:
			return invalid(ci, "message %d: unknown role %q (Ollama knows system, user, assistant and tool)", i, m.Role)
		}
		for j, p := range m.Parts {
			switch p.Type {
			case messages.PartText:
			case messages.PartImage:
				if len(p.Data) == 0 && p.ImageURL == "" {
					return invalid(ci, "message %d part %d: an image needs Data or a data: URL", i, j)
				}
				if len(p.Data) == 0 && !strings.HasPrefix(p.ImageURL, "data:") {
					return unsupported(ci, "message %d part %d: Ollama takes inline images only, not URLs", i, j)
				}
				if _, ok := imageData(p); !ok {
					return invalid(ci, "message %d part %d: the data: URL is not base64", i, j)
				}
			default:
				return invalid(ci, "message %d part %d: unsupported part type %q", i, j, p.Type)
			}
		}
		if len(m.ToolCalls) > 0 && m.Role != messages.RoleAssistant {
			return invalid(ci, "message %d: only assistant messages carry tool calls", i)
		}
		for j, tc := range m.ToolCalls {
			if tc.Name == "" {
				return invalid(ci, "message %d tool call %d: Name is required", i, j)
			}
			if len(bytes.TrimSpace(tc.Arguments)) > 0 && !isObject(tc.Arguments) {
				return invalid(ci, "message %d tool call %d: Ollama takes arguments as a JSON object", i, j)
			}
		}
	}
	for i, t := range r.Tools {
		if t.Name == "" {
			return invalid(ci, "tool %d: name is required", i)
		}
		if len(bytes.TrimSpace(t.Parameters)) > 0 && !isObject(t.Parameters) {
			return invalid(ci, "tool %q: parameters must be a JSON Schema object", t.Name)
		}
	}
	switch r.ToolChoice {
	case "", "auto", "none":
	default:
		return unsupported(ci, "tool_choice %q: Ollama lets the model choose (only auto and none)", r.ToolChoice)
	}
	if err := checkSampling(ci, r.Temperature, r.TopP, r.MaxTokens); err != nil {
		return err
	}
	return checkExtra(ci, r.Extra)
}

// ---- response ----

func doChat(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ChatRequest) (messages.Response, error) {
	body, err := buildChatBody(r)
	if err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
	}
	resp, err := c.Send(ctx, call, exchange(PathChat, body, r.Stream))
	if err != nil {
		return nil, err
	}
	if !r.Stream {
		agg, err := decodeWhole(ctx, c, call, resp, true)
		if err != nil {
			return nil, err
		}
		out, _ := agg.chat()
		return out, nil
	}
	em := providers.NewEmitter(call)
	var out *messages.ChatResponse
	err = c.Stream(ctx, call, resp, func(rd io.Reader) error {
		var err error
		out, _, err = DecodeChatStream(rd, call, em)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// decodeWhole reads a non-streamed chat or generate answer: one object that
// must say "done": true.
func decodeWhole(ctx context.Context, c *providers.Client, call *providers.Call, resp *http.Response, chat bool) (*aggregator, error) {
	var line streamLine
	if err := c.DecodeJSON(ctx, call, resp, &line); err != nil {
		return nil, err
	}
	agg := newAggregator(call, nil, chat)
	if err := agg.feed(&line); err != nil {
		return nil, err
	}
	if !agg.done {
		return nil, malformed(call, "answer without \"done\": true", nil)
	}
	return agg, nil
}
