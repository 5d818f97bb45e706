package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Anthropic returns a strict simulator of Anthropic's Messages API:
//
//   - POST /v1/messages and POST /v1/messages/count_tokens only (404 for other
//     paths, 405 for other methods);
//   - the key is read from x-api-key; anthropic-version (2023-06-01 or
//     2023-01-01) and a JSON content type are required;
//   - bodies are checked as the real API does: required model, max_tokens
//     (integer ≥ 0, /v1/messages only) and non-empty messages; unknown
//     top-level fields rejected ("Extra inputs are not permitted", which is
//     also how count_tokens rejects max_tokens and stream); roles user and
//     assistant only; content a non-empty string or known blocks; tool_use only
//     in assistant turns, tool_result only in user turns and only answering a
//     tool_use of the previous assistant turn (and every tool_use answered);
//     tools with a name and an object input_schema; tool_choice only with
//     tools; temperature and top_p within 0..1;
//   - errors use Anthropic's envelope {"type":"error","error":{"type",
//     "message"},"request_id"} with the error.type of the status (400
//     invalid_request_error, 401 authentication_error, 403 permission_error,
//     404 not_found_error, 429 rate_limit_error, 500 api_error, 529
//     overloaded_error, …) and a request-id header.
//
// Answers are deterministic: the reply is "You said: " and the last user text
// (or the last tool result), cut at a stop sequence (stop_reason
// stop_sequence) or at max_tokens words (max_tokens); when tools are given and
// tool_choice is not none, a tool_use answer is produced if the last user text
// mentions "weather" or tool_choice is any or tool. Usage counts Words of the
// prompt (system, message texts, tool inputs and definitions) and of the
// reply; it is reported with Server.AddUsage once per completed answer, and
// count_tokens returns the same input count. Responses carry request-id and
// the anthropic-ratelimit-* headers.
//
// Streams have the recorded shape (message_start, content_block_start, ping,
// content_block_delta…, content_block_stop, message_delta with usage,
// message_stop), written through NewSSE so a fault's ChunkDelay, CutAfter and
// StallAfter apply. A fault with Status 0 and a Body makes a stream send
// `event: error` with Body as its data after the first content_block_start
// and end there (in-stream error injection); such a fault does not affect
// non-stream answers.
//
// The returned Backend is safe for concurrent use.
func Anthropic() Backend { return &anthropicSim{} }

type anthropicSim struct {
	seq   atomic.Int64 // request, message and tool-use IDs
	calls atomic.Int64 // successful requests, for the rate-limit headers
}

// Name returns "anthropic".
func (*anthropicSim) Name() string { return "anthropic" }

// Key reads x-api-key.
func (*anthropicSim) Key(r *http.Request) string { return r.Header.Get("X-Api-Key") }

// anthropicErrorType is the error.type the real API uses for status.
func anthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusConflict:
		return "conflict_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

func (b *anthropicSim) requestID() string {
	return fmt.Sprintf("req_sim%018d", b.seq.Add(1))
}

// WriteError writes Anthropic's error envelope for status. An empty message
// becomes the one the real API sends for the status ("Overloaded" for 529).
func (b *anthropicSim) WriteError(w http.ResponseWriter, status int, message string) {
	if message == "" {
		message = http.StatusText(status)
	}
	if message == "" && status == 529 {
		message = "Overloaded"
	}
	if message == "" {
		message = "Error"
	}
	id := b.requestID()
	w.Header().Set("Request-Id", id)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"type":       "error",
		"error":      map[string]any{"type": anthropicErrorType(status), "message": message},
		"request_id": id,
	})
}

// anthTopLevel lists the body fields each endpoint accepts.
var anthTopLevel = map[bool]map[string]bool{
	false: setOf("model", "messages", "max_tokens", "system", "metadata", "stop_sequences", "stream", "temperature", "top_p", "top_k",
		"tools", "tool_choice", "thinking", "service_tier", "container", "mcp_servers", "context_management", "output_config", "inference_geo", "cache_control"),
	true: setOf("model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers", "context_management", "output_config", "cache_control"),
}

func setOf(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

var (
	anthToolName    = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,128}$`)
	anthServerTool  = regexp.MustCompile(`^[a-z_]+_[0-9]{8}$`)
	anthImageTypes  = setOf("image/jpeg", "image/png", "image/gif", "image/webp")
	anthUserBlocks  = setOf("text", "image", "document", "search_result", "tool_result")
	anthAsstBlocks  = setOf("text", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result")
	anthAllBlocks   = setOf("text", "image", "document", "search_result", "tool_result", "tool_use", "thinking", "redacted_thinking", "server_tool_use", "web_search_tool_result")
	anthChoiceTypes = setOf("auto", "any", "none", "tool")
)

// anthBlock is a checked content block.
type anthBlock struct {
	typ       string
	text      string // text, or a tool_result's text
	id, name  string // tool_use
	input     json.RawMessage
	toolUseID string // tool_result
}

// anthTurn is a run of same-role messages, as the API merges them.
type anthTurn struct {
	role   string
	index  int // of its first message
	blocks []anthBlock
}

type anthTool struct {
	name, description string
	schema            map[string]any
}

// anthReq is a checked request.
type anthReq struct {
	model      string
	maxTokens  int
	system     string
	turns      []anthTurn
	tools      []anthTool
	choice     string
	choiceName string
	stop       []string
	stream     bool
}

// anthInvalid is a 400 with the API's message.
type anthInvalid string

// Serve checks and answers a request.
func (b *anthropicSim) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	count := false
	switch r.URL.Path {
	case "/v1/messages":
	case "/v1/messages/count_tokens":
		count = true
	default:
		s.Invalid(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		s.Invalid(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	switch v := r.Header.Get("Anthropic-Version"); v {
	case "2023-06-01", "2023-01-01":
	case "":
		s.Invalid(w, http.StatusBadRequest, "anthropic-version: header is required")
		return
	default:
		s.Invalid(w, http.StatusBadRequest, "anthropic-version: invalid version "+strconv.Quote(v))
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.Invalid(w, http.StatusBadRequest, "content-type: must be application/json")
		return
	}
	req, bad := anthParse(body, count)
	if bad != "" {
		s.Invalid(w, http.StatusBadRequest, string(bad))
		return
	}
	b.setHeaders(w, req)
	if count {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"input_tokens": anthPromptWords(req)})
		return
	}
	ans := b.answer(req)
	if req.stream {
		b.stream(s, w, r, f, req, ans)
		return
	}
	content := []any{}
	if ans.text != "" {
		content = append(content, map[string]any{"type": "text", "text": ans.text})
	}
	if ans.tool != nil {
		content = append(content, map[string]any{"type": "tool_use", "id": ans.tool.id, "name": ans.tool.name, "input": ans.tool.input})
	}
	s.AddUsage(ans.in, ans.out) // before writing, so a client that has the answer sees it counted
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": ans.id, "type": "message", "role": "assistant", "model": req.model,
		"content": content, "stop_reason": ans.stopReason, "stop_sequence": ans.stopSequence,
		"usage": anthUsage(ans.in, ans.out, true),
	})
}

func anthUsage(in, out int, full bool) map[string]any {
	u := map[string]any{"input_tokens": in, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": out}
	if full {
		u["cache_creation"] = map[string]any{"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0}
		u["service_tier"] = "standard"
	}
	return u
}

// setHeaders writes request-id and the rate-limit headers of a success.
func (b *anthropicSim) setHeaders(w http.ResponseWriter, req *anthReq) {
	n := b.calls.Add(1)
	h := w.Header()
	h.Set("Request-Id", b.requestID())
	h.Set("Anthropic-Organization-Id", "00000000-0000-4000-8000-00000000a1b2")
	reset := time.Now().UTC().Add(time.Minute).Truncate(time.Second).Format(time.RFC3339)
	in := anthPromptWords(req)
	set := func(kind string, limit, used int64) {
		h.Set("Anthropic-Ratelimit-"+kind+"-Limit", strconv.FormatInt(limit, 10))
		h.Set("Anthropic-Ratelimit-"+kind+"-Remaining", strconv.FormatInt(max(limit-used, 0), 10))
		h.Set("Anthropic-Ratelimit-"+kind+"-Reset", reset)
	}
	set("Requests", 4000, n%4000)
	set("Tokens", 280000, int64(in)%280000)
	set("Input-Tokens", 200000, int64(in)%200000)
	set("Output-Tokens", 80000, 0)
}

// anthAnswer is the deterministic answer to a request.
type anthAnswer struct {
	id           string
	text         string
	tool         *anthToolUse
	stopReason   string
	stopSequence any
	in, out      int
}

type anthToolUse struct {
	id, name string
	input    map[string]any
}

func (b *anthropicSim) answer(req *anthReq) anthAnswer {
	n := b.seq.Add(1)
	a := anthAnswer{id: fmt.Sprintf("msg_sim%018d", n), in: anthPromptWords(req), stopReason: "end_turn"}
	last, isResult := anthLastUserText(req)
	if tool := anthPickTool(req, last, isResult); tool != nil {
		a.text = "I'll use the " + tool.name + " tool."
		a.tool = &anthToolUse{id: fmt.Sprintf("toolu_sim%018d", n), name: tool.name, input: anthToolInput(tool.schema, last)}
		a.stopReason = "tool_use"
		in, _ := json.Marshal(a.tool.input)
		a.out = Words(a.text) + Words(string(in))
		return a
	}
	if isResult {
		a.text = "The tool returned: " + last
	} else {
		a.text = "You said: " + last
	}
	cut := -1
	for _, s := range req.stop {
		if i := strings.Index(a.text, s); s != "" && i >= 0 && (cut < 0 || i < cut) {
			cut, a.stopSequence = i, s
		}
	}
	if cut >= 0 {
		a.text, a.stopReason = a.text[:cut], "stop_sequence"
	}
	if words := strings.Fields(a.text); len(words) > req.maxTokens {
		a.text, a.stopReason, a.stopSequence = strings.Join(words[:req.maxTokens], " "), "max_tokens", nil
	}
	a.out = Words(a.text)
	return a
}

// anthLastUserText is the text of the last user turn, or the text of its tool
// results when it has no text (isResult).
func anthLastUserText(req *anthReq) (text string, isResult bool) {
	for i := len(req.turns) - 1; i >= 0; i-- {
		t := req.turns[i]
		if t.role != "user" {
			continue
		}
		var texts, results []string
		for _, bl := range t.blocks {
			switch bl.typ {
			case "text":
				texts = append(texts, bl.text)
			case "tool_result":
				results = append(results, bl.text)
			}
		}
		if len(texts) > 0 {
			return strings.Join(texts, " "), false
		}
		return strings.Join(results, " "), len(results) > 0
	}
	return "", false
}

func anthPickTool(req *anthReq, last string, isResult bool) *anthTool {
	if len(req.tools) == 0 || req.choice == "none" {
		return nil
	}
	forced := req.choice == "any" || req.choice == "tool"
	if !forced && (isResult || !strings.Contains(strings.ToLower(last), "weather")) {
		return nil
	}
	if req.choice == "tool" {
		for i := range req.tools {
			if req.tools[i].name == req.choiceName {
				return &req.tools[i]
			}
		}
	}
	return &req.tools[0]
}

// anthToolInput fills the schema's required properties (all of them when none
// is required) with values derived from text: strings get the place named
// after the last " in " (or the whole text), enums their first value.
func anthToolInput(schema map[string]any, text string) map[string]any {
	place := text
	if i := strings.LastIndex(strings.ToLower(text), " in "); i >= 0 {
		place = text[i+4:]
	}
	place = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(place), "?.!,;:"))
	if place == "" {
		place = "unknown"
	}
	return toolArgs(schema, place, false)
}

// anthPromptWords counts the prompt: system, message texts, tool inputs and
// results, and the tool definitions.
func anthPromptWords(req *anthReq) int {
	n := Words(req.system)
	for _, t := range req.turns {
		for _, bl := range t.blocks {
			n += Words(bl.text)
			if bl.typ == "tool_use" {
				n += Words(bl.name) + Words(string(bl.input))
			}
		}
	}
	for _, t := range req.tools {
		n += Words(t.name) + Words(t.description)
	}
	return n
}

// anthPad mimics the real streams, which pad some data lines with spaces
// before the closing brace.
func anthPad(data string, n int) string {
	if n%3 != 0 || !strings.HasSuffix(data, "}") {
		return data
	}
	return data[:len(data)-1] + strings.Repeat(" ", 1+n%7) + "}"
}

func anthJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func (b *anthropicSim) stream(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, req *anthReq, ans anthAnswer) {
	e := NewSSE(s, w, r, f)
	n := 0
	send := func(event string, v any) {
		e.Send(event, anthPad(anthJSON(v), n))
		n++
	}
	send("message_start", map[string]any{"type": "message_start", "message": map[string]any{
		"id": ans.id, "type": "message", "role": "assistant", "model": req.model, "content": []any{},
		"stop_reason": nil, "stop_sequence": nil, "usage": anthUsage(ans.in, 1, true)}})
	index := 0
	if ans.text != "" || (f != nil && f.Status == 0 && f.Body != "") {
		send("content_block_start", map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
		if f != nil && f.Status == 0 && f.Body != "" {
			e.Send("error", f.Body)
			return
		}
		send("ping", map[string]any{"type": "ping"})
		for _, piece := range anthPieces(ans.text) {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": piece}})
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": 0})
		index++
	}
	if ans.tool != nil {
		send("content_block_start", map[string]any{"type": "content_block_start", "index": index, "content_block": map[string]any{
			"type": "tool_use", "id": ans.tool.id, "name": ans.tool.name, "input": map[string]any{}}})
		in := anthJSON(ans.tool.input)
		parts := []string{""}
		for len(in) > 0 {
			k := min(len(in), 7)
			parts = append(parts, in[:k])
			in = in[k:]
		}
		for _, p := range parts {
			send("content_block_delta", map[string]any{"type": "content_block_delta", "index": index, "delta": map[string]any{"type": "input_json_delta", "partial_json": p}})
		}
		send("content_block_stop", map[string]any{"type": "content_block_stop", "index": index})
	}
	send("message_delta", map[string]any{"type": "message_delta",
		"delta": map[string]any{"stop_reason": ans.stopReason, "stop_sequence": ans.stopSequence},
		"usage": anthUsage(ans.in, ans.out, false)})
	// Count the answer once it is sure to complete (before the client can see
	// message_stop): when the fault lets the last event through.
	if f == nil || (f.CutAfter <= 0 || n < f.CutAfter) && (f.StallAfter <= 0 || n < f.StallAfter) {
		s.AddUsage(ans.in, ans.out)
	}
	send("message_stop", map[string]any{"type": "message_stop"})
}

// anthPieces splits text into word-sized deltas, each but the first with its
// leading space, as the real streams do.
func anthPieces(text string) []string {
	var out []string
	start := 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' {
			out = append(out, text[start:i])
			start = i
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

// anthParse checks a body the way the real API does and returns the request
// or the 400 message.
func anthParse(body []byte, count bool) (*anthReq, anthInvalid) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, "There was an error parsing the body of your request: the body must be a JSON object"
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "There was an error parsing the body of your request: unexpected data after the JSON object"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !anthTopLevel[count][k] {
			return nil, anthInvalid(k + ": Extra inputs are not permitted")
		}
	}
	req := &anthReq{}
	var ok bool
	if req.model, ok = m["model"].(string); !ok || req.model == "" {
		if _, present := m["model"]; !present {
			return nil, "model: Field required"
		}
		return nil, "model: Input should be a valid string"
	}
	if !count {
		v, present := m["max_tokens"]
		if !present {
			return nil, "max_tokens: Field required"
		}
		n, isInt := anthInt(v)
		if !isInt {
			return nil, "max_tokens: Input should be a valid integer"
		}
		if n < 0 {
			return nil, "max_tokens: Input should be greater than or equal to 0"
		}
		req.maxTokens = n
	}
	for _, name := range []string{"temperature", "top_p"} {
		if v, present := m[name]; present {
			num, isNum := v.(json.Number)
			f, err := num.Float64()
			if !isNum || err != nil {
				return nil, anthInvalid(name + ": Input should be a valid number")
			}
			if f < 0 {
				return nil, anthInvalid(name + ": Input should be greater than or equal to 0")
			}
			if f > 1 {
				return nil, anthInvalid(name + ": Input should be less than or equal to 1")
			}
		}
	}
	if v, present := m["top_k"]; present {
		if n, isInt := anthInt(v); !isInt || n < 0 {
			return nil, "top_k: Input should be a valid non-negative integer"
		}
	}
	if v, present := m["stream"]; present {
		if req.stream, ok = v.(bool); !ok {
			return nil, "stream: Input should be a valid boolean"
		}
	}
	if v, present := m["stop_sequences"]; present {
		list, isList := v.([]any)
		if !isList {
			return nil, "stop_sequences: Input should be a valid list"
		}
		for i, x := range list {
			s, isStr := x.(string)
			if !isStr {
				return nil, anthInvalid(fmt.Sprintf("stop_sequences.%d: Input should be a valid string", i))
			}
			if strings.TrimSpace(s) == "" {
				return nil, "stop_sequences: each stop sequence must contain non-whitespace"
			}
			req.stop = append(req.stop, s)
		}
	}
	if v, present := m["metadata"]; present {
		if _, isObj := v.(map[string]any); !isObj {
			return nil, "metadata: Input should be a valid dictionary"
		}
	}
	if bad := anthParseSystem(m, req); bad != "" {
		return nil, bad
	}
	if bad := anthParseTools(m, req); bad != "" {
		return nil, bad
	}
	if bad := anthParseMessages(m, req); bad != "" {
		return nil, bad
	}
	return req, ""
}

// anthInt reports whether v is an integral JSON number.
func anthInt(v any) (int, bool) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(string(num), 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}

func anthParseSystem(m map[string]any, req *anthReq) anthInvalid {
	v, present := m["system"]
	if !present {
		return ""
	}
	switch s := v.(type) {
	case string:
		req.system = s
	case []any:
		var texts []string
		for i, x := range s {
			bl, _ := x.(map[string]any)
			if bl["type"] != "text" {
				return anthInvalid(fmt.Sprintf("system.%d.type: Input should be 'text'", i))
			}
			t, isStr := bl["text"].(string)
			if !isStr || t == "" {
				return anthInvalid(fmt.Sprintf("system.%d.text: text content blocks must be non-empty", i))
			}
			texts = append(texts, t)
		}
		req.system = strings.Join(texts, "\n")
	default:
		return "system: Input should be a valid string or a list of text blocks"
	}
	return ""
}

func anthParseTools(m map[string]any, req *anthReq) anthInvalid {
	if v, present := m["tools"]; present {
		list, isList := v.([]any)
		if !isList {
			return "tools: Input should be a valid list"
		}
		seen := map[string]bool{}
		for i, x := range list {
			t, isObj := x.(map[string]any)
			if !isObj {
				return anthInvalid(fmt.Sprintf("tools.%d: Input should be a valid dictionary", i))
			}
			if typ, has := t["type"]; has && typ != "custom" {
				ts, _ := typ.(string)
				if !anthServerTool.MatchString(ts) {
					return anthInvalid(fmt.Sprintf("tools.%d: Input tag '%v' found using 'type' does not match any of the expected tags", i, typ))
				}
				if name, _ := t["name"].(string); name != "" {
					seen[name] = true
				}
				continue // a versioned server tool (web_search_20250305, bash_20250124, …): not simulated beyond this
			}
			name, isStr := t["name"].(string)
			if _, has := t["name"]; !has {
				return anthInvalid(fmt.Sprintf("tools.%d.custom.name: Field required", i))
			}
			if !isStr || !anthToolName.MatchString(name) {
				return anthInvalid(fmt.Sprintf("tools.%d.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'", i))
			}
			if seen[name] {
				return "tools: Tool names must be unique."
			}
			seen[name] = true
			sv, has := t["input_schema"]
			if !has {
				return anthInvalid(fmt.Sprintf("tools.%d.custom.input_schema: Field required", i))
			}
			schema, isObj := sv.(map[string]any)
			if !isObj || schema["type"] != "object" {
				return anthInvalid(fmt.Sprintf("tools.%d.custom.input_schema.type: Input should be 'object'", i))
			}
			desc, _ := t["description"].(string)
			if d, has := t["description"]; has {
				if _, isStr := d.(string); !isStr {
					return anthInvalid(fmt.Sprintf("tools.%d.custom.description: Input should be a valid string", i))
				}
			}
			req.tools = append(req.tools, anthTool{name: name, description: desc, schema: schema})
		}
	}
	v, present := m["tool_choice"]
	if !present {
		return ""
	}
	tc, isObj := v.(map[string]any)
	if !isObj {
		return "tool_choice: Input should be a valid dictionary"
	}
	typ, _ := tc["type"].(string)
	if !anthChoiceTypes[typ] {
		return anthInvalid(fmt.Sprintf("tool_choice: Input tag '%v' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", tc["type"]))
	}
	if _, has := m["tools"]; !has && typ != "none" {
		return "tool_choice: tool_choice may only be specified while providing tools."
	}
	req.choice = typ
	if typ == "tool" {
		name, _ := tc["name"].(string)
		if name == "" {
			return "tool_choice.tool.name: Field required"
		}
		found := false
		for _, t := range req.tools {
			found = found || t.name == name
		}
		if !found {
			return anthInvalid("tool_choice.tool.name: Tool '" + name + "' not found in provided tools")
		}
		req.choiceName = name
	}
	return ""
}

func anthParseMessages(m map[string]any, req *anthReq) anthInvalid {
	v, present := m["messages"]
	if !present {
		return "messages: Field required"
	}
	list, isList := v.([]any)
	if !isList {
		return "messages: Input should be a valid list"
	}
	if len(list) == 0 {
		return "messages: at least one message is required"
	}
	for i, x := range list {
		msg, isObj := x.(map[string]any)
		if !isObj {
			return anthInvalid(fmt.Sprintf("messages.%d: Input should be a valid dictionary", i))
		}
		for k := range msg {
			if k != "role" && k != "content" {
				return anthInvalid(fmt.Sprintf("messages.%d.%s: Extra inputs are not permitted", i, k))
			}
		}
		role, _ := msg["role"].(string)
		switch role {
		case "user", "assistant":
		case "system":
			return `messages: Unexpected role "system". The Messages API accepts a top-level ` + "`system`" + ` parameter, not "system" as an input message role.`
		default:
			if _, has := msg["role"]; !has {
				return anthInvalid(fmt.Sprintf("messages.%d.role: Field required", i))
			}
			return anthInvalid(fmt.Sprintf("messages.%d.role: Input should be 'user' or 'assistant'", i))
		}
		final := i == len(list)-1 && role == "assistant"
		blocks, bad := anthParseContent(msg, i, role, final)
		if bad != "" {
			return bad
		}
		if n := len(req.turns); n > 0 && req.turns[n-1].role == role {
			req.turns[n-1].blocks = append(req.turns[n-1].blocks, blocks...)
		} else {
			req.turns = append(req.turns, anthTurn{role: role, index: i, blocks: blocks})
		}
	}
	return anthCheckToolPairs(req)
}

func anthParseContent(msg map[string]any, i int, role string, final bool) ([]anthBlock, anthInvalid) {
	empty := anthInvalid(fmt.Sprintf("messages.%d: all messages must have non-empty content except for the optional final assistant message", i))
	switch c := msg["content"].(type) {
	case string:
		if c == "" && !final {
			return nil, empty
		}
		return []anthBlock{{typ: "text", text: c}}, ""
	case []any:
		if len(c) == 0 && !final {
			return nil, empty
		}
		out := make([]anthBlock, 0, len(c))
		for j, x := range c {
			bl, bad := anthParseBlock(x, fmt.Sprintf("messages.%d.content.%d", i, j), role)
			if bad != "" {
				return nil, bad
			}
			out = append(out, bl)
		}
		return out, ""
	case nil:
		if _, has := msg["content"]; !has {
			return nil, anthInvalid(fmt.Sprintf("messages.%d.content: Field required", i))
		}
	}
	return nil, anthInvalid(fmt.Sprintf("messages.%d.content: Input should be a valid string or a list of content blocks", i))
}

func anthParseBlock(x any, at, role string) (anthBlock, anthInvalid) {
	m, isObj := x.(map[string]any)
	if !isObj {
		return anthBlock{}, anthInvalid(at + ": Input should be a valid dictionary")
	}
	typ, _ := m["type"].(string)
	if !anthAllBlocks[typ] {
		return anthBlock{}, anthInvalid(fmt.Sprintf("%s: Input tag '%v' found using 'type' does not match any of the expected tags", at, m["type"]))
	}
	if role == "user" && !anthUserBlocks[typ] || role == "assistant" && !anthAsstBlocks[typ] {
		return anthBlock{}, anthInvalid(fmt.Sprintf("%s: %s blocks are not allowed in %s messages", at, typ, role))
	}
	bl := anthBlock{typ: typ}
	switch typ {
	case "text":
		t, isStr := m["text"].(string)
		if !isStr {
			return bl, anthInvalid(at + ".text: Field required")
		}
		if t == "" {
			return bl, "messages: text content blocks must be non-empty"
		}
		bl.text = t
	case "image":
		if bad := anthCheckImage(m, at); bad != "" {
			return bl, bad
		}
	case "tool_use":
		bl.id, _ = m["id"].(string)
		bl.name, _ = m["name"].(string)
		if bl.id == "" {
			return bl, anthInvalid(at + ".id: Field required")
		}
		if bl.name == "" {
			return bl, anthInvalid(at + ".name: Field required")
		}
		in, isObj := m["input"].(map[string]any)
		if !isObj {
			return bl, anthInvalid(at + ".input: Input should be a valid dictionary")
		}
		bl.input, _ = json.Marshal(in)
	case "tool_result":
		bl.toolUseID, _ = m["tool_use_id"].(string)
		if bl.toolUseID == "" {
			return bl, anthInvalid(at + ".tool_use_id: Field required")
		}
		if v, has := m["is_error"]; has {
			if _, isBool := v.(bool); !isBool {
				return bl, anthInvalid(at + ".is_error: Input should be a valid boolean")
			}
		}
		switch c := m["content"].(type) {
		case nil:
		case string:
			bl.text = c
		case []any:
			var texts []string
			for k, y := range c {
				inner, bad := anthParseBlock(y, fmt.Sprintf("%s.content.%d", at, k), "user")
				if bad != "" {
					return bl, bad
				}
				if inner.typ != "text" && inner.typ != "image" && inner.typ != "document" && inner.typ != "search_result" {
					return bl, anthInvalid(fmt.Sprintf("%s.content.%d: %s blocks are not allowed in a tool_result", at, k, inner.typ))
				}
				if inner.text != "" {
					texts = append(texts, inner.text)
				}
			}
			bl.text = strings.Join(texts, " ")
		default:
			return bl, anthInvalid(at + ".content: Input should be a valid string or a list of content blocks")
		}
	}
	return bl, ""
}

func anthCheckImage(m map[string]any, at string) anthInvalid {
	src, isObj := m["source"].(map[string]any)
	if !isObj {
		return anthInvalid(at + ".source: Field required")
	}
	switch src["type"] {
	case "base64":
		mt, _ := src["media_type"].(string)
		if !anthImageTypes[mt] {
			return anthInvalid(at + ".source.base64.media_type: Input should be 'image/jpeg', 'image/png', 'image/gif' or 'image/webp'")
		}
		data, _ := src["data"].(string)
		raw, err := base64.StdEncoding.DecodeString(data)
		if data == "" || err != nil {
			return anthInvalid(at + ".source.base64.data: invalid base64 data")
		}
		if got := http.DetectContentType(raw); anthImageTypes[got] && got != mt {
			return anthInvalid(fmt.Sprintf("%s.source.base64.data: Image does not match the provided media type %s", at, mt))
		}
	case "url":
		u, _ := src["url"].(string)
		p, err := url.Parse(u)
		if u == "" || err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
			return anthInvalid(at + ".source.url.url: Input should be a valid URL")
		}
	default:
		return anthInvalid(fmt.Sprintf("%s.source: Input tag '%v' found using 'type' does not match any of the expected tags: 'base64', 'url'", at, src["type"]))
	}
	return ""
}

// anthCheckToolPairs enforces the tool_use/tool_result pairing between
// consecutive turns.
func anthCheckToolPairs(req *anthReq) anthInvalid {
	for k, t := range req.turns {
		var results []string
		for _, bl := range t.blocks {
			if bl.typ == "tool_result" {
				results = append(results, bl.toolUseID)
			}
		}
		uses := map[string]bool{}
		var useOrder []string
		if k > 0 && req.turns[k-1].role == "assistant" {
			for _, bl := range req.turns[k-1].blocks {
				if bl.typ == "tool_use" {
					uses[bl.id] = true
					useOrder = append(useOrder, bl.id)
				}
			}
		}
		if t.role == "user" && len(results) > 0 {
			if len(uses) == 0 {
				return anthInvalid(fmt.Sprintf("messages.%d.content.0: tool_result block(s) provided when previous message does not contain any tool_use blocks", t.index))
			}
			for _, id := range results {
				if !uses[id] {
					return anthInvalid(fmt.Sprintf("messages.%d.content.0: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", t.index, id))
				}
			}
		}
		if t.role == "user" && len(useOrder) > 0 {
			answered := map[string]bool{}
			for _, id := range results {
				answered[id] = true
			}
			var missing []string
			for _, id := range useOrder {
				if !answered[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return anthInvalid(fmt.Sprintf("messages.%d: `tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", req.turns[k-1].index, strings.Join(missing, ", ")))
			}
		}
	}
	return ""
}
