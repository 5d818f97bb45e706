package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Request wire types. Each part carries exactly one data field, as the API
// requires (the others are omitted).
type (
	wireContent struct {
		Role  string     `json:"role,omitempty"`
		Parts []wirePart `json:"parts"`
	}
	wirePart struct {
		Text             string                `json:"text,omitempty"`
		InlineData       *wireBlob             `json:"inlineData,omitempty"`
		FileData         *wireFileData         `json:"fileData,omitempty"`
		FunctionCall     *wireFunctionCall     `json:"functionCall,omitempty"`
		FunctionResponse *wireFunctionResponse `json:"functionResponse,omitempty"`
		Thought          bool                  `json:"thought,omitempty"`
		ThoughtSignature string                `json:"thoughtSignature,omitempty"`
	}
	wireBlob struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	}
	wireFileData struct {
		MimeType string `json:"mimeType,omitempty"`
		FileURI  string `json:"fileUri"`
	}
	wireFunctionCall struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args,omitempty"`
	}
	wireFunctionResponse struct {
		ID       string          `json:"id,omitempty"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	}
	wireTool struct {
		FunctionDeclarations []wireFunctionDecl `json:"functionDeclarations"`
	}
	// wireFunctionDecl puts the tool's JSON Schema in parametersJsonSchema,
	// which takes JSON Schema as is; "parameters" only takes Google's
	// OpenAPI subset and rejects additionalProperties, $ref, oneOf, ….
	wireFunctionDecl struct {
		Name                 string          `json:"name"`
		Description          string          `json:"description,omitempty"`
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
	}
	wireToolConfig struct {
		FunctionCallingConfig wireFunctionCallingConfig `json:"functionCallingConfig"`
	}
	wireFunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	}
)

// Roles on the wire.
const (
	roleUser  = "user"
	roleModel = "model"
)

// functionName is what the API accepts as a function name: a letter or
// underscore, then letters, digits, underscores, dots, colons or dashes, 64
// characters at most.
var functionName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)

// inlineTypes are the media types the API takes inline or by URI besides
// audio/* and video/*.
var inlineTypes = map[string]bool{
	"image/png": true, "image/jpeg": true, "image/webp": true, "image/heic": true, "image/heif": true,
	"application/pdf": true, "text/plain": true,
}

// extensionTypes guesses the media type of a URL without one.
var extensionTypes = map[string]string{
	".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp",
	".heic": "image/heic", ".heif": "image/heif", ".pdf": "application/pdf", ".txt": "text/plain",
	".mp3": "audio/mp3", ".wav": "audio/wav", ".mp4": "video/mp4",
}

func supportedType(mt string) bool {
	return inlineTypes[mt] || strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/")
}

// buildGenerate checks req and maps it onto a generateContent body. Extra is
// copied first, so every field the adapter sets itself wins; an Extra
// "generationConfig" object is merged with the adapter's sampling fields.
// Errors are *RequestError matching messages.ErrInvalidRequest.
func buildGenerate(req *messages.ChatRequest) (resource string, body map[string]any, err error) {
	return buildGenerateOn(nil, req)
}

// buildGenerateOn is buildGenerate with hosting h's model names (nil: the
// Developer API's).
func buildGenerateOn(h *Hosting, req *messages.ChatRequest) (resource string, body map[string]any, err error) {
	if err := providers.CheckRequest(h.kind(), req); err != nil {
		return "", nil, err
	}
	resource, err = h.resource(req, req.Model)
	if err != nil {
		return "", nil, err
	}
	switch {
	case len(req.Messages) == 0:
		return "", nil, requestError(req, messages.ErrInvalidRequest, "at least one message is required")
	case req.MaxTokens < 0:
		return "", nil, requestError(req, messages.ErrInvalidRequest, "max_tokens must not be negative")
	case req.Temperature != nil && !(*req.Temperature >= 0 && *req.Temperature <= maxTemperature):
		return "", nil, requestError(req, messages.ErrInvalidRequest, "temperature must be within 0 and 2")
	case req.TopP != nil && !(*req.TopP >= 0 && *req.TopP <= 1):
		return "", nil, requestError(req, messages.ErrInvalidRequest, "top_p must be within 0 and 1")
	case len(req.Stop) > maxStopSequences:
		return "", nil, requestError(req, messages.ErrInvalidRequest, "at most %d stop sequences are allowed, got %d", maxStopSequences, len(req.Stop))
	}
	for i, s := range req.Stop {
		if s == "" {
			return "", nil, requestError(req, messages.ErrInvalidRequest, "stop[%d] is empty", i)
		}
	}
	b := &contentBuilder{req: req, calls: map[string]string{}}
	if err := b.build(); err != nil {
		return "", nil, err
	}
	if len(b.contents) == 0 {
		return "", nil, requestError(req, messages.ErrInvalidRequest, "at least one user or assistant message is required")
	}
	if err := b.checkTurns(); err != nil {
		return "", nil, err
	}
	tools, names, err := buildTools(req)
	if err != nil {
		return "", nil, err
	}
	toolConfig, err := buildToolConfig(req, names)
	if err != nil {
		return "", nil, err
	}

	body = make(map[string]any, len(req.Extra)+6)
	maps.Copy(body, req.Extra)
	body["contents"] = b.contents
	if len(b.system) > 0 {
		body["systemInstruction"] = wireContent{Parts: b.system}
	}
	if len(tools) > 0 {
		body["tools"] = []wireTool{{FunctionDeclarations: tools}}
	}
	if toolConfig != nil {
		body["toolConfig"] = toolConfig
	}
	extraGC, hasGC := req.Extra["generationConfig"]
	gc, isObject := toMap(extraGC)
	if req.Temperature != nil {
		gc["temperature"] = *req.Temperature
	}
	if req.TopP != nil {
		gc["topP"] = *req.TopP
	}
	if req.MaxTokens > 0 {
		gc["maxOutputTokens"] = req.MaxTokens
	}
	if len(req.Stop) > 0 {
		gc["stopSequences"] = req.Stop
	}
	switch {
	case len(gc) > 0:
		body["generationConfig"] = gc
	case hasGC && !isObject && extraGC != nil:
		// Not an object: left as given, for the service to judge.
	default:
		delete(body, "generationConfig")
	}
	return resource, body, nil
}

// buildGenerateBody is buildGenerate without the resource.
func buildGenerateBody(req *messages.ChatRequest) (map[string]any, error) {
	_, body, err := buildGenerate(req)
	return body, err
}

// toMap copies an object-valued Extra entry into a fresh map (an empty one
// when v is absent or not an object).
func toMap(v any) (map[string]any, bool) {
	out := map[string]any{}
	switch m := v.(type) {
	case nil:
		return out, false
	case map[string]any:
		maps.Copy(out, m)
		return out, true
	}
	b, err := json.Marshal(v)
	if err != nil || json.Unmarshal(b, &out) != nil {
		return map[string]any{}, false
	}
	return out, true
}

// contentBuilder turns the conversation into contents and the system
// instruction. System-role messages join the system instruction (they do not
// break a run of tool results); consecutive tool results share one user
// content, as the API wants the responses to parallel calls together.
type contentBuilder struct {
	req      *messages.ChatRequest
	contents []wireContent
	system   []wirePart
	calls    map[string]string // ToolCall.ID → function name, from assistant turns so far
	lastTool bool
}

func (b *contentBuilder) build() error {
	req := b.req
	if req.System != "" {
		b.system = append(b.system, wirePart{Text: req.System})
	}
	for i := range req.Messages {
		m := &req.Messages[i]
		isTool := false
		switch m.Role {
		case messages.RoleSystem:
			if err := b.systemMessage(i, m); err != nil {
				return err
			}
			continue
		case messages.RoleUser:
			parts, err := b.parts(i, m)
			if err != nil {
				return err
			}
			if len(parts) == 0 {
				return requestError(req, messages.ErrInvalidRequest, "messages[%d] has no content", i)
			}
			b.contents = append(b.contents, wireContent{Role: roleUser, Parts: parts})
		case messages.RoleAssistant:
			parts, err := b.assistant(i, m)
			if err != nil {
				return err
			}
			b.contents = append(b.contents, wireContent{Role: roleModel, Parts: parts})
		case messages.RoleTool:
			p, err := b.toolResult(i, m)
			if err != nil {
				return err
			}
			isTool = true
			if b.lastTool {
				last := &b.contents[len(b.contents)-1]
				last.Parts = append(last.Parts, p)
			} else {
				b.contents = append(b.contents, wireContent{Role: roleUser, Parts: []wirePart{p}})
			}
		default:
			return requestError(req, messages.ErrInvalidRequest, "messages[%d]: unknown role %q", i, m.Role)
		}
		b.lastTool = isTool
	}
	return nil
}

// checkTurns applies the API's function calling turn order: a model turn
// with function calls follows a user turn (text or function responses), and
// the function responses come in the next turn, one per call.
func (b *contentBuilder) checkTurns() error {
	count := func(c wireContent) (calls, responses int) {
		for _, p := range c.Parts {
			if p.FunctionCall != nil {
				calls++
			}
			if p.FunctionResponse != nil {
				responses++
			}
		}
		return calls, responses
	}
	for i, c := range b.contents {
		calls, responses := count(c)
		if calls > 0 && (i == 0 || b.contents[i-1].Role != roleUser) {
			return requestError(b.req, messages.ErrInvalidRequest, "an assistant turn with tool calls must follow a user turn or tool results")
		}
		if responses == 0 {
			continue
		}
		prev := 0
		if i > 0 {
			prev, _ = count(b.contents[i-1])
		}
		if prev != responses {
			return requestError(b.req, messages.ErrInvalidRequest, "tool results must directly follow the assistant turn that made the calls, one result per call (%d calls, %d results)", prev, responses)
		}
	}
	return nil
}

func (b *contentBuilder) systemMessage(i int, m *messages.Message) error {
	if len(m.Parts) == 0 {
		if m.Content != "" {
			b.system = append(b.system, wirePart{Text: m.Content})
		}
		return nil
	}
	for j, p := range m.Parts {
		if p.Type != messages.PartText {
			return requestError(b.req, messages.ErrInvalidRequest, "messages[%d].parts[%d]: a system message holds text only", i, j)
		}
		if p.Text != "" {
			b.system = append(b.system, wirePart{Text: p.Text})
		}
	}
	return nil
}

// parts maps a message's text and images; Content is used when it has no
// Parts.
func (b *contentBuilder) parts(i int, m *messages.Message) ([]wirePart, error) {
	if len(m.Parts) == 0 {
		if m.Content == "" {
			return nil, nil
		}
		return []wirePart{{Text: m.Content}}, nil
	}
	out := make([]wirePart, 0, len(m.Parts))
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Type {
		case messages.PartText:
			if p.Text != "" {
				out = append(out, wirePart{Text: p.Text})
			}
		case messages.PartImage:
			wp, err := mediaPart(p)
			if err != nil {
				return nil, requestError(b.req, messages.ErrInvalidRequest, "messages[%d].parts[%d]: %s", i, j, err.Error())
			}
			out = append(out, wp)
		default:
			return nil, requestError(b.req, messages.ErrInvalidRequest, "messages[%d].parts[%d]: unknown part type %q", i, j, p.Type)
		}
	}
	return out, nil
}

// assistant maps a model turn: its text (or parts), then one functionCall
// part per tool call, with the thought signature its ID carries.
func (b *contentBuilder) assistant(i int, m *messages.Message) ([]wirePart, error) {
	parts, err := b.parts(i, m)
	if err != nil {
		return nil, err
	}
	for j, tc := range m.ToolCalls {
		if tc.ID == "" || tc.Name == "" {
			return nil, requestError(b.req, messages.ErrInvalidRequest, "messages[%d].tool_calls[%d]: id and name are required", i, j)
		}
		args, ok := toolArgs(tc.Arguments)
		if !ok {
			return nil, requestError(b.req, messages.ErrInvalidRequest, "messages[%d].tool_calls[%d] (%s): arguments must be a JSON object", i, j, tc.Name)
		}
		id, sig := parseToolCallID(tc.ID)
		parts = append(parts, wirePart{FunctionCall: &wireFunctionCall{ID: id, Name: tc.Name, Args: args}, ThoughtSignature: sig})
		b.calls[tc.ID] = tc.Name
	}
	if len(parts) == 0 {
		return nil, requestError(b.req, messages.ErrInvalidRequest, "messages[%d] has neither content nor tool calls", i)
	}
	return parts, nil
}

// toolResult maps a tool-role message onto a functionResponse part named
// after the call it answers.
func (b *contentBuilder) toolResult(i int, m *messages.Message) (wirePart, error) {
	if m.ToolCallID == "" {
		return wirePart{}, requestError(b.req, messages.ErrInvalidRequest, "messages[%d]: a tool message needs the tool call ID it answers", i)
	}
	name, ok := b.calls[m.ToolCallID]
	if !ok {
		return wirePart{}, requestError(b.req, messages.ErrInvalidRequest, "messages[%d]: tool call ID %q answers no tool call of an earlier assistant message", i, m.ToolCallID)
	}
	text := m.Content
	if len(m.Parts) > 0 {
		var texts []string
		for j, p := range m.Parts {
			if p.Type != messages.PartText {
				return wirePart{}, requestError(b.req, messages.ErrInvalidRequest, "messages[%d].parts[%d]: a tool result holds text only", i, j)
			}
			texts = append(texts, p.Text)
		}
		text = strings.Join(texts, "")
	}
	id, _ := parseToolCallID(m.ToolCallID)
	return wirePart{FunctionResponse: &wireFunctionResponse{ID: id, Name: name, Response: toolResponse(text, m.IsError)}}, nil
}

// toolResponse is the functionResponse.response object: a JSON object result
// as is, anything else as {"output": …}; an error as {"error": …}. JSON
// values keep their type, other text becomes a string.
func toolResponse(text string, isError bool) json.RawMessage {
	trimmed := bytes.TrimSpace([]byte(text))
	var value any = text
	if len(trimmed) > 0 && json.Valid(trimmed) {
		if !isError && trimmed[0] == '{' {
			return json.RawMessage(trimmed)
		}
		value = json.RawMessage(trimmed)
	}
	if !isError && text == "" {
		return json.RawMessage("{}")
	}
	key := "output"
	if isError {
		key = "error"
	}
	out, _ := json.Marshal(map[string]any{key: value})
	return out
}

// toolArgs returns call arguments as a JSON object: empty means {}, and a
// JSON string holding an object (OpenAI style) is unwrapped.
func toolArgs(args json.RawMessage) (json.RawMessage, bool) {
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

type detailError string

func (e detailError) Error() string { return string(e) }

// mediaPart maps an image part: bytes (media type given, else sniffed) and
// data: URLs go inline; http(s) and gs URLs become fileData, with the media
// type given or guessed from the extension.
func mediaPart(p *messages.Part) (wirePart, error) {
	if len(p.Data) > 0 {
		mt := mediaType(p.MediaType)
		if mt == "" {
			mt = mediaType(http.DetectContentType(p.Data))
		}
		if !supportedType(mt) {
			return wirePart{}, detailError("media type " + quote(mt) + " is not one Gemini accepts (image/png, image/jpeg, image/webp, image/heic, image/heif, application/pdf, audio/*, video/*)")
		}
		return wirePart{InlineData: &wireBlob{MimeType: mt, Data: base64.StdEncoding.EncodeToString(p.Data)}}, nil
	}
	u := strings.TrimSpace(p.ImageURL)
	if u == "" {
		return wirePart{}, detailError("image part has neither data nor a URL")
	}
	if rest, ok := strings.CutPrefix(u, "data:"); ok {
		meta, data, ok := strings.Cut(rest, ",")
		mt, isB64 := strings.CutSuffix(meta, ";base64")
		mt = mediaType(mt)
		raw, err := decodeBase64(data)
		if !ok || !isB64 || err != nil || len(raw) == 0 || !supportedType(mt) {
			return wirePart{}, detailError("data URL must be base64 data of a media type Gemini accepts")
		}
		return wirePart{InlineData: &wireBlob{MimeType: mt, Data: base64.StdEncoding.EncodeToString(raw)}}, nil
	}
	pu, err := url.Parse(u)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http" && pu.Scheme != "gs") || pu.Host == "" {
		return wirePart{}, detailError("image URL must be an http(s) or gs URL, or a data: URL")
	}
	mt := mediaType(p.MediaType)
	if mt == "" {
		mt = extensionTypes[strings.ToLower(path.Ext(pu.Path))]
	}
	if mt == "" {
		return wirePart{}, detailError("the media type of image URL " + quote(u) + " is unknown: set MediaType")
	}
	if !supportedType(mt) {
		return wirePart{}, detailError("media type " + quote(mt) + " is not one Gemini accepts")
	}
	return wirePart{FileData: &wireFileData{MimeType: mt, FileURI: u}}, nil
}

// mediaType normalises a media type, dropping parameters.
func mediaType(s string) string {
	s, _, _ = strings.Cut(s, ";")
	return strings.ToLower(strings.TrimSpace(s))
}

// decodeBase64 accepts standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func quote(s string) string { return `"` + s + `"` }

// buildTools maps the tools onto function declarations and returns their
// names.
func buildTools(req *messages.ChatRequest) ([]wireFunctionDecl, map[string]bool, error) {
	names := map[string]bool{}
	var out []wireFunctionDecl
	for i, t := range req.Tools {
		if !functionName.MatchString(t.Name) {
			return nil, nil, requestError(req, messages.ErrInvalidRequest, "tools[%d]: name %q must start with a letter or underscore and hold at most %d letters, digits, underscores, dots, colons or dashes", i, t.Name, maxFunctionNameSize)
		}
		if names[t.Name] {
			return nil, nil, requestError(req, messages.ErrInvalidRequest, "tools[%d]: duplicate tool name %q", i, t.Name)
		}
		names[t.Name] = true
		d := wireFunctionDecl{Name: t.Name, Description: t.Description}
		if p := bytes.TrimSpace(t.Parameters); len(p) > 0 && string(p) != "null" {
			if !providers.IsJSONObject(p) {
				return nil, nil, requestError(req, messages.ErrInvalidRequest, "tools[%d] (%s): parameters must be a JSON object", i, t.Name)
			}
			d.ParametersJSONSchema = p
		}
		out = append(out, d)
	}
	return out, names, nil
}

// buildToolConfig maps the tool choice: "" → the API's default (no
// toolConfig), "auto" → AUTO, "none" → NONE, "required" (or "any") → ANY,
// a tool's name → ANY limited to that function.
func buildToolConfig(req *messages.ChatRequest, names map[string]bool) (*wireToolConfig, error) {
	c := req.ToolChoice
	if c == "" {
		return nil, nil
	}
	if len(names) == 0 {
		if c == "auto" || c == "none" {
			return nil, nil
		}
		return nil, requestError(req, messages.ErrInvalidRequest, "tool_choice %q needs tools", c)
	}
	cfg := &wireToolConfig{}
	switch c {
	case "auto":
		cfg.FunctionCallingConfig.Mode = "AUTO"
	case "none":
		cfg.FunctionCallingConfig.Mode = "NONE"
	case "required", "any":
		cfg.FunctionCallingConfig.Mode = "ANY"
	default:
		if !names[c] {
			return nil, requestError(req, messages.ErrInvalidRequest, "tool_choice %q names no tool of the request", c)
		}
		cfg.FunctionCallingConfig = wireFunctionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{c}}
	}
	return cfg, nil
}

// buildCountTokensOn maps a count_tokens request for hosting h (nil: the
// Developer API): {"contents": …} for a bare conversation, or
// {"generateContentRequest": …} (with the model) when a system instruction,
// tools or a tool config must be counted too; with h.FlatCountTokens the
// generateContent body's contents, systemInstruction and tools at the top
// level. Sampling parameters and Extra do not take part.
func buildCountTokensOn(h *Hosting, r *messages.CountTokensRequest) (resource string, body map[string]any, err error) {
	chat := r.Chat
	chat.Call = r.Call
	chat.Extra, chat.Stream = nil, false
	resource, gen, err := buildGenerateOn(h, &chat)
	if err != nil {
		return "", nil, err
	}
	delete(gen, "generationConfig")
	if h != nil && h.FlatCountTokens {
		delete(gen, "toolConfig")
		return resource, gen, nil
	}
	if len(gen) == 1 {
		return resource, map[string]any{"contents": gen["contents"]}, nil
	}
	gen["model"] = resource
	return resource, map[string]any{"generateContentRequest": gen}, nil
}
