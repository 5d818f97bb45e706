package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Content blocks of a request, one type per block kind so that each carries
// exactly the keys the API expects.
type (
	textBlock struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	imageBlock struct {
		Type   string      `json:"type"`
		Source imageSource `json:"source"`
	}
	imageSource struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type,omitempty"`
		Data      string `json:"data,omitempty"`
		URL       string `json:"url,omitempty"`
	}
	toolUseBlock struct {
		Type  string          `json:"type"`
		ID    string          `json:"id"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
	}
	toolResultBlock struct {
		Type      string `json:"type"`
		ToolUseID string `json:"tool_use_id"`
		Content   any    `json:"content,omitempty"`
		IsError   bool   `json:"is_error,omitempty"`
	}
	wireMessage struct {
		Role string `json:"role"`
		// Content is a string or a []any of blocks.
		Content any `json:"content"`
	}
	wireTool struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		InputSchema json.RawMessage `json:"input_schema"`
	}
	wireToolChoice struct {
		Type string `json:"type"`
		Name string `json:"name,omitempty"`
	}
)

// imageMediaTypes are the image types the API accepts inline.
var imageMediaTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// emptySchema is the input_schema of a tool declared without parameters.
var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

// countTokensDrop are the chat body fields count_tokens does not accept.
var countTokensDrop = []string{"max_tokens", "stream", "temperature", "top_p", "top_k", "stop_sequences", "metadata", "service_tier"}

// buildChatBody maps req onto a /v1/messages body. Extra is copied first, so
// every field the adapter sets itself wins. Errors are *RequestError matching
// messages.ErrInvalidRequest: providers.CheckRequest's (text that is not
// UTF-8, NaN or infinite temperature or top_p, an Extra that cannot be
// encoded), stop sequences of whitespace only (the API answers 400), and
// the conversation's.
func buildChatBody(req *messages.ChatRequest) (map[string]any, error) {
	if err := providers.CheckRequest("anthropic", req); err != nil {
		return nil, err
	}
	if err := providers.CheckStopSequences("anthropic", req, "stop", req.Stop); err != nil {
		return nil, err
	}
	if req.Model == "" {
		return nil, requestError(req, messages.ErrInvalidRequest, "model is required")
	}
	if len(req.Messages) == 0 {
		return nil, requestError(req, messages.ErrInvalidRequest, "at least one message is required")
	}
	if req.MaxTokens < 0 {
		return nil, requestError(req, messages.ErrInvalidRequest, "max_tokens must not be negative")
	}
	system, msgs, err := buildMessages(req)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, requestError(req, messages.ErrInvalidRequest, "at least one user or assistant message is required")
	}
	body := make(map[string]any, len(req.Extra)+10)
	for k, v := range req.Extra {
		body[k] = v
	}
	body["model"] = req.Model
	maxTokens := req.MaxTokens
	if maxTokens == 0 {
		maxTokens = DefaultMaxTokens
	}
	body["max_tokens"] = maxTokens
	body["messages"] = msgs
	if req.System != "" {
		system = append([]string{req.System}, system...)
	}
	if len(system) > 0 {
		body["system"] = strings.Join(system, "\n\n")
	}
	if len(req.Tools) > 0 {
		tools := make([]wireTool, 0, len(req.Tools))
		for i, t := range req.Tools {
			if t.Name == "" {
				return nil, requestError(req, messages.ErrInvalidRequest, "tools[%d] has no name", i)
			}
			schema := emptySchema
			if len(bytes.TrimSpace(t.Parameters)) > 0 {
				if !providers.IsJSONObject(t.Parameters) {
					return nil, requestError(req, messages.ErrInvalidRequest, "tools[%d] (%s): parameters must be a JSON object", i, t.Name)
				}
				schema = t.Parameters
			}
			tools = append(tools, wireTool{Name: t.Name, Description: t.Description, InputSchema: schema})
		}
		body["tools"] = tools
	}
	if tc := toolChoice(req.ToolChoice); tc != nil {
		body["tool_choice"] = tc
	}
	if req.Temperature != nil {
		body["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		body["top_p"] = *req.TopP
	}
	if len(req.Stop) > 0 {
		body["stop_sequences"] = req.Stop
	}
	if req.Stream {
		body["stream"] = true
	}
	return body, nil
}

// buildCountTokensBody is the chat body without the fields count_tokens
// rejects (max_tokens, stream and the sampling parameters).
func buildCountTokensBody(req *messages.CountTokensRequest) (map[string]any, error) {
	chat := req.Chat
	chat.Call = req.Call
	body, err := buildChatBody(&chat)
	if err != nil {
		return nil, err
	}
	for _, k := range countTokensDrop {
		delete(body, k)
	}
	return body, nil
}

// toolChoice maps the neutral choice: "" → provider default (omitted),
// "auto"/"any"/"none", "required" → any, anything else names a tool.
func toolChoice(c string) *wireToolChoice {
	switch c {
	case "":
		return nil
	case "auto", "any", "none":
		return &wireToolChoice{Type: c}
	case "required":
		return &wireToolChoice{Type: "any"}
	}
	return &wireToolChoice{Type: "tool", Name: c}
}

// buildMessages turns the conversation into Messages API turns. System-role
// messages are returned separately (they go into the top-level system field);
// tool-role messages become tool_result blocks in a user turn, consecutive
// ones sharing one turn.
func buildMessages(req *messages.ChatRequest) (system []string, out []wireMessage, err error) {
	lastTool := false
	for i := range req.Messages {
		m := &req.Messages[i]
		isTool := false
		switch m.Role {
		case messages.RoleSystem:
			text, err := systemText(req, i, m)
			if err != nil {
				return nil, nil, err
			}
			if text != "" {
				system = append(system, text)
			}
			continue // a system message does not break a run of tool results
		case messages.RoleUser:
			c, err := userContent(req, i, m)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, wireMessage{Role: messages.RoleUser, Content: c})
		case messages.RoleAssistant:
			c, err := assistantContent(req, i, m)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, wireMessage{Role: messages.RoleAssistant, Content: c})
		case messages.RoleTool:
			b, err := toolResult(req, i, m)
			if err != nil {
				return nil, nil, err
			}
			isTool = true
			if lastTool {
				prev := &out[len(out)-1]
				prev.Content = append(prev.Content.([]any), b)
			} else {
				out = append(out, wireMessage{Role: messages.RoleUser, Content: []any{b}})
			}
		default:
			return nil, nil, requestError(req, messages.ErrInvalidRequest, "messages[%d]: unknown role %q", i, m.Role)
		}
		lastTool = isTool
	}
	return system, out, nil
}

func systemText(req *messages.ChatRequest, i int, m *messages.Message) (string, error) {
	if len(m.Parts) == 0 {
		return m.Content, nil
	}
	var texts []string
	for j, p := range m.Parts {
		if p.Type != messages.PartText {
			return "", requestError(req, messages.ErrInvalidRequest, "messages[%d].parts[%d]: a system message holds text only", i, j)
		}
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// userContent is the text as a string, or blocks when the message has parts.
func userContent(req *messages.ChatRequest, i int, m *messages.Message) (any, error) {
	if len(m.Parts) == 0 {
		return m.Content, nil
	}
	return partBlocks(req, i, m.Parts)
}

func partBlocks(req *messages.ChatRequest, i int, parts []messages.Part) ([]any, error) {
	blocks := make([]any, 0, len(parts))
	for j := range parts {
		p := &parts[j]
		switch p.Type {
		case messages.PartText:
			if p.Text != "" {
				blocks = append(blocks, textBlock{Type: "text", Text: p.Text})
			}
		case messages.PartImage:
			src, err := imageSourceOf(p)
			if err != nil {
				return nil, requestError(req, messages.ErrInvalidRequest, "messages[%d].parts[%d]: %s", i, j, err.Error())
			}
			blocks = append(blocks, imageBlock{Type: "image", Source: src})
		default:
			return nil, requestError(req, messages.ErrInvalidRequest, "messages[%d].parts[%d]: unknown part type %q", i, j, p.Type)
		}
	}
	return blocks, nil
}

type detailError string

func (e detailError) Error() string { return string(e) }

// imageSourceOf maps an image part: inline bytes (media type given or
// sniffed) and data: URLs become base64 sources, other URLs url sources.
func imageSourceOf(p *messages.Part) (imageSource, error) {
	if len(p.Data) > 0 {
		mt := strings.ToLower(strings.TrimSpace(p.MediaType))
		if mt == "" {
			mt = http.DetectContentType(p.Data)
		}
		if !imageMediaTypes[mt] {
			return imageSource{}, detailError("image media type " + quoteOrEmpty(mt) + " is not one of image/jpeg, image/png, image/gif, image/webp")
		}
		return imageSource{Type: "base64", MediaType: mt, Data: base64.StdEncoding.EncodeToString(p.Data)}, nil
	}
	u := strings.TrimSpace(p.ImageURL)
	if u == "" {
		return imageSource{}, detailError("image part has neither data nor a URL")
	}
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		mt = strings.ToLower(mt)
		if !ok || !isB64 || !imageMediaTypes[mt] {
			return imageSource{}, detailError("data URL must be a base64 image/jpeg, image/png, image/gif or image/webp")
		}
		return imageSource{Type: "base64", MediaType: mt, Data: data}, nil
	}
	return imageSource{Type: "url", URL: u}, nil
}

func quoteOrEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return `"` + s + `"`
}

// assistantContent is a plain string unless the turn has parts or tool
// calls; then its text comes first and a tool_use block per call follows.
func assistantContent(req *messages.ChatRequest, i int, m *messages.Message) (any, error) {
	if len(m.Parts) == 0 && len(m.ToolCalls) == 0 {
		return m.Content, nil
	}
	var blocks []any
	if len(m.Parts) > 0 {
		bs, err := partBlocks(req, i, m.Parts)
		if err != nil {
			return nil, err
		}
		blocks = bs
	} else if m.Content != "" {
		blocks = append(blocks, textBlock{Type: "text", Text: m.Content})
	}
	for j, tc := range m.ToolCalls {
		if tc.ID == "" || tc.Name == "" {
			return nil, requestError(req, messages.ErrInvalidRequest, "messages[%d].tool_calls[%d]: id and name are required", i, j)
		}
		input, ok := toolInput(tc.Arguments)
		if !ok {
			return nil, requestError(req, messages.ErrInvalidRequest, "messages[%d].tool_calls[%d] (%s): arguments must be a JSON object", i, j, tc.Name)
		}
		blocks = append(blocks, toolUseBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: input})
	}
	return blocks, nil
}

// toolInput returns the arguments as a JSON object: empty means {}, and a JSON
// string holding an object (OpenAI style) is unwrapped.
func toolInput(args json.RawMessage) (json.RawMessage, bool) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 || string(args) == "null" {
		return json.RawMessage("{}"), true
	}
	if providers.IsJSONObject(args) {
		return args, true
	}
	var s string
	if json.Unmarshal(args, &s) == nil {
		inner := bytes.TrimSpace([]byte(s))
		if len(inner) == 0 {
			return json.RawMessage("{}"), true
		}
		if providers.IsJSONObject(inner) {
			return inner, true
		}
	}
	return nil, false
}

// toolResult maps a tool-role message onto a tool_result block.
func toolResult(req *messages.ChatRequest, i int, m *messages.Message) (toolResultBlock, error) {
	if m.ToolCallID == "" {
		return toolResultBlock{}, requestError(req, messages.ErrInvalidRequest, "messages[%d]: a tool message needs the tool call ID it answers", i)
	}
	b := toolResultBlock{Type: "tool_result", ToolUseID: m.ToolCallID, IsError: m.IsError}
	switch {
	case len(m.Parts) > 0:
		bs, err := partBlocks(req, i, m.Parts)
		if err != nil {
			return toolResultBlock{}, err
		}
		if len(bs) > 0 {
			b.Content = bs
		}
	case m.Content != "":
		b.Content = m.Content
	}
	return b, nil
}
