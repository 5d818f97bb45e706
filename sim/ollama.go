package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// OllamaBackend simulates Ollama's native API at the server root, so the
// adapter's base URL is Server.URL: POST /api/chat, /api/generate (both
// streamed as NDJSON unless "stream": false, as Ollama does), /api/embed and
// /api/show; GET /api/tags, /api/version and / ("Ollama is running").
//
// It checks bodies the way docs/openapi.yaml describes them: required fields
// (model; messages with role and content; input), field types, the role
// enum, tool definitions (type "function", name, parameters object), tool
// calls whose arguments are JSON objects, base64 images, options types,
// format, think and keep_alive shapes. Malformed requests get a 400 with
// Ollama's {"error": "…"} body and count as Server.InvalidCalls. Unknown
// models get Ollama's 404 ("model \"x\" not found, try pulling it first"); a
// model asked for something it cannot do (tools on llava, chat on an
// embedding model, images on a text model) gets Ollama's 400.
//
// Models: "llama3.2" (completion, tools), "llava" (completion, vision) and
// "embeddinggemma" (embedding); a ":latest" tag is optional.
//
// Answers are deterministic: "echo: " and the last user text (with "[n
// image(s)]" when it carried images), a get_weather-style tool call when the
// request has tools and the last user message mentions "weather", "The tool
// returned: …" after tool results, and sim.OpenAIEmbedding vectors for each
// input. prompt_eval_count and eval_count count sim.Words of the prompt and
// the answer; durations are derived from them (load 1 ms, prompt 0.1 ms and
// answer 1 ms per token). Usage is reported once per completed answer (for
// streams, only when the final "done" line is written).
//
// Ollama needs no key: a request without "Authorization: Bearer" is seen by
// Server as carrying OllamaAnonymousKey, which Server accepts unless WithKeys
// is given (an Ollama behind an authenticating proxy, or its cloud API).
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type OllamaBackend struct {
	// ChunkWords is how many words each streamed text line carries
	// (default 2).
	ChunkWords int
	// EmbeddingDimensions is the vector length when a request sets no
	// dimensions (default 8).
	EmbeddingDimensions int
	// Version is what /api/version reports (default "0.12.6").
	Version string
	// MaxPending, when positive, answers 503 "server busy" to requests that
	// arrive while MaxPending others are being served (OLLAMA_MAX_QUEUE).
	MaxPending int

	pending atomic.Int64
	seq     atomic.Int64
}

// Ollama returns a simulator of Ollama's native API with default settings.
func Ollama() *OllamaBackend { return &OllamaBackend{} }

// OllamaAnonymousKey is the key Server sees for an Ollama request that
// carries no bearer token.
const OllamaAnonymousKey = "anonymous"

// OllamaBusyMessage is Ollama's 503 answer when its queue is full.
const OllamaBusyMessage = "server busy, please try again.  maximum pending requests exceeded"

// Name returns "ollama".
func (*OllamaBackend) Name() string { return "ollama" }

// Key returns the bearer token, or OllamaAnonymousKey when there is none.
func (*OllamaBackend) Key(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return OllamaAnonymousKey
	}
	if !strings.HasPrefix(h, "Bearer ") {
		return ""
	}
	return strings.TrimSpace(h[len("Bearer "):])
}

// WriteError writes Ollama's {"error": "…"} for status; a generic 503 says
// OllamaBusyMessage, a generic 401 "unauthorized".
func (*OllamaBackend) WriteError(w http.ResponseWriter, status int, message string) {
	generic := message == "" || message == http.StatusText(status)
	switch {
	case status == http.StatusServiceUnavailable && generic:
		message = OllamaBusyMessage
	case status == http.StatusUnauthorized && (generic || message == "invalid API key"):
		message = "unauthorized"
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": message})
}

// ---- models ----

type ollamaModel struct {
	name, family, params, quant string
	size                        int64
	caps                        []string
	ctx                         int
}

var ollamaModels = []ollamaModel{
	{name: "llama3.2", family: "llama", params: "3.2B", quant: "Q4_K_M", size: 2019393189, caps: []string{"completion", "tools"}, ctx: 131072},
	{name: "llava", family: "llama", params: "7B", quant: "Q4_0", size: 4733363377, caps: []string{"completion", "vision"}, ctx: 32768},
	{name: "embeddinggemma", family: "gemma3", params: "307.58M", quant: "BF16", size: 621875417, caps: []string{"embedding"}, ctx: 2048},
}

// ollamaFind returns the model a request names ("x" or "x:latest").
func ollamaFind(name string) *ollamaModel {
	base := strings.TrimSuffix(name, ":latest")
	for i := range ollamaModels {
		if ollamaModels[i].name == base {
			return &ollamaModels[i]
		}
	}
	return nil
}

func (m *ollamaModel) can(capability string) bool { return slices.Contains(m.caps, capability) }

func (m *ollamaModel) digest() string {
	return fmt.Sprintf("%064x", []byte(m.name))[:64]
}

func (m *ollamaModel) details() map[string]any {
	return map[string]any{"parent_model": "", "format": "gguf", "family": m.family, "families": []string{m.family},
		"parameter_size": m.params, "quantization_level": m.quant}
}

// ---- requests ----

// ollamaErr is a request the simulator rejects.
type ollamaErr struct {
	status int
	msg    string
}

func ollamaBad(format string, args ...any) *ollamaErr {
	return &ollamaErr{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

func (e *ollamaErr) send(s *Server, w http.ResponseWriter) {
	if e.status == http.StatusBadRequest {
		s.Invalid(w, e.status, e.msg)
		return
	}
	s.backend.WriteError(w, e.status, e.msg)
}

// Serve routes Ollama's native API.
func (b *OllamaBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	if b.MaxPending > 0 {
		n := b.pending.Add(1)
		defer b.pending.Add(-1)
		if n > int64(b.MaxPending) {
			b.WriteError(w, http.StatusServiceUnavailable, OllamaBusyMessage)
			return
		}
	}
	path := r.URL.Path
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch path {
	case "/", "/api/version", "/api/tags":
		if !get {
			s.Invalid(w, http.StatusMethodNotAllowed, "405 method not allowed")
			return
		}
		switch path {
		case "/":
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, "Ollama is running")
		case "/api/version":
			v := b.Version
			if v == "" {
				v = "0.12.6"
			}
			ollamaWriteJSON(w, map[string]string{"version": v})
		default:
			b.serveTags(w)
		}
		return
	case "/api/chat", "/api/generate", "/api/embed", "/api/show":
	default:
		s.Invalid(w, http.StatusNotFound, "404 page not found")
		return
	}
	if r.Method != http.MethodPost {
		s.Invalid(w, http.StatusMethodNotAllowed, "405 method not allowed")
		return
	}
	req, e := ollamaParseBody(body, path)
	if e != nil {
		e.send(s, w)
		return
	}
	switch path {
	case "/api/chat":
		e = b.serveChat(s, w, r, f, req)
	case "/api/generate":
		e = b.serveGenerate(s, w, r, f, req)
	case "/api/embed":
		e = b.serveEmbed(s, w, req)
	default:
		e = b.serveShow(w, req)
	}
	if e != nil {
		e.send(s, w)
	}
}

func ollamaWriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

var ollamaGoTypes = map[string]string{"/api/chat": "api.ChatRequest", "/api/generate": "api.GenerateRequest", "/api/embed": "api.EmbedRequest", "/api/show": "api.ShowRequest"}

// ollamaParseBody decodes a POST body as Ollama's Gin handlers do.
func ollamaParseBody(body []byte, path string) (map[string]any, *ollamaErr) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, ollamaBad("missing request body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, ollamaBad("%s", err.Error())
	}
	if dec.More() {
		return nil, ollamaBad("invalid character after top-level value")
	}
	req, ok := v.(map[string]any)
	if !ok {
		return nil, ollamaBad("json: cannot unmarshal %s into Go value of type %s", ollamaJSONKind(v), ollamaGoTypes[path])
	}
	return req, nil
}

func ollamaJSONKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	}
	return "object"
}

// ollamaKind is the JSON type a field must have.
type ollamaKind int

const (
	olString ollamaKind = iota
	olNumber
	olInteger
	olBool
	olObject
	olArray
	olStringOrNumber
)

var ollamaKindGo = map[ollamaKind]string{olString: "string", olNumber: "float32", olInteger: "int", olBool: "bool", olObject: "map[string]interface {}", olArray: "[]interface {}", olStringOrNumber: "api.Duration"}

// ollamaCheck checks that v has kind k; field names it for the error, as Go's
// decoder does ("ChatRequest.messages.content").
func ollamaCheck(field string, v any, k ollamaKind) *ollamaErr {
	ok := false
	switch k {
	case olString:
		_, ok = v.(string)
	case olNumber:
		_, ok = v.(json.Number)
	case olInteger:
		if n, isNum := v.(json.Number); isNum {
			_, err := n.Int64()
			ok = err == nil
		}
	case olBool:
		_, ok = v.(bool)
	case olObject:
		_, ok = v.(map[string]any)
	case olArray:
		_, ok = v.([]any)
	case olStringOrNumber:
		switch v.(type) {
		case string, json.Number:
			ok = true
		}
	}
	if ok {
		return nil
	}
	return ollamaBad("json: cannot unmarshal %s into Go struct field %s of type %s", ollamaJSONKind(v), field, ollamaKindGo[k])
}

// ollamaFields checks the types of the fields present in o.
func ollamaFields(o map[string]any, prefix string, kinds map[string]ollamaKind) *ollamaErr {
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, ok := o[k]
		if !ok || v == nil {
			continue
		}
		if e := ollamaCheck(prefix+"."+k, v, kinds[k]); e != nil {
			return e
		}
	}
	return nil
}

var ollamaOptionKinds = map[string]ollamaKind{
	"seed": olInteger, "temperature": olNumber, "top_k": olInteger, "top_p": olNumber, "min_p": olNumber,
	"num_ctx": olInteger, "num_predict": olInteger, "num_keep": olInteger, "typical_p": olNumber, "repeat_last_n": olInteger,
	"repeat_penalty": olNumber, "presence_penalty": olNumber, "frequency_penalty": olNumber, "num_batch": olInteger,
	"num_gpu": olInteger, "main_gpu": olInteger, "use_mmap": olBool, "num_thread": olInteger,
}

// ollamaOptions checks the options object and returns num_predict (0 if
// unset).
func ollamaOptions(req map[string]any, prefix string) (int, *ollamaErr) {
	v, ok := req["options"]
	if !ok || v == nil {
		return 0, nil
	}
	if e := ollamaCheck(prefix+".options", v, olObject); e != nil {
		return 0, e
	}
	o := v.(map[string]any)
	if e := ollamaFields(o, prefix+".options", ollamaOptionKinds); e != nil {
		return 0, e
	}
	if stop, ok := o["stop"]; ok && stop != nil {
		switch st := stop.(type) {
		case string:
		case []any:
			for _, x := range st {
				if _, ok := x.(string); !ok {
					return 0, ollamaBad("option \"stop\" must be of type array of strings")
				}
			}
		default:
			return 0, ollamaBad("option \"stop\" must be a string or an array of strings")
		}
	}
	n := 0
	if np, ok := o["num_predict"].(json.Number); ok {
		i, _ := np.Int64()
		n = int(i)
	}
	return n, nil
}

// ollamaCommon checks the fields chat and generate share: think, keep_alive,
// format, logprobs.
func ollamaCommon(req map[string]any, prefix string, formatEnum bool) *ollamaErr {
	if t, ok := req["think"]; ok && t != nil {
		switch tv := t.(type) {
		case bool:
		case string:
			if !slices.Contains([]string{"high", "medium", "low", "max"}, tv) {
				return ollamaBad("invalid think value: %q (must be \"high\", \"medium\", \"low\", \"max\", true, or false)", tv)
			}
		default:
			return ollamaBad("json: cannot unmarshal %s into Go struct field %s.think of type api.ThinkValue", ollamaJSONKind(t), prefix)
		}
	}
	if f, ok := req["format"]; ok && f != nil {
		switch fv := f.(type) {
		case string:
			if formatEnum && fv != "json" && fv != "" {
				return ollamaBad("invalid format: %q; expected \"json\" or a valid JSON Schema", fv)
			}
		case map[string]any:
		default:
			return ollamaBad("invalid format: expected \"json\" or a valid JSON Schema")
		}
	}
	return nil
}

// ollamaImages checks a list of base64 images and returns how many it holds.
func ollamaImages(v any, field string) (int, *ollamaErr) {
	if v == nil {
		return 0, nil
	}
	list, ok := v.([]any)
	if !ok {
		return 0, ollamaCheck(field, v, olArray)
	}
	for _, im := range list {
		s, ok := im.(string)
		if !ok {
			return 0, ollamaBad("json: cannot unmarshal %s into Go struct field %s of type api.ImageData", ollamaJSONKind(im), field)
		}
		if _, err := base64.StdEncoding.DecodeString(s); err != nil || s == "" {
			return 0, ollamaBad("illegal base64 data at input byte 0")
		}
	}
	return len(list), nil
}

// ---- chat ----

var ollamaChatFields = map[string]ollamaKind{
	"model": olString, "messages": olArray, "tools": olArray, "stream": olBool, "keep_alive": olStringOrNumber,
	"logprobs": olBool, "top_logprobs": olInteger, "truncate": olBool, "shift": olBool,
}

var ollamaMessageFields = map[string]ollamaKind{
	"role": olString, "content": olString, "thinking": olString, "images": olArray, "tool_calls": olArray,
	"tool_name": olString, "tool_call_id": olString,
}

type ollamaChatReq struct {
	name      string
	msgs      []oaiMsg
	images    int
	tools     []oaiTool
	stream    bool
	maxTokens int
}

func ollamaStream(req map[string]any) bool {
	s, ok := req["stream"].(bool)
	return !ok || s // Ollama streams unless told otherwise
}

func ollamaParseChat(req map[string]any) (*ollamaChatReq, *ollamaErr) {
	if e := ollamaFields(req, "ChatRequest", ollamaChatFields); e != nil {
		return nil, e
	}
	name, _ := req["model"].(string)
	if name == "" {
		return nil, ollamaBad("model is required")
	}
	if _, ok := req["messages"]; !ok {
		return nil, ollamaBad("messages is required")
	}
	if e := ollamaCommon(req, "ChatRequest", true); e != nil {
		return nil, e
	}
	maxTokens, e := ollamaOptions(req, "ChatRequest")
	if e != nil {
		return nil, e
	}
	cr := &ollamaChatReq{name: name, stream: ollamaStream(req), maxTokens: maxTokens}
	raw, _ := req["messages"].([]any)
	for i, mv := range raw {
		m, ok := mv.(map[string]any)
		if !ok {
			return nil, ollamaBad("json: cannot unmarshal %s into Go struct field ChatRequest.messages of type api.Message", ollamaJSONKind(mv))
		}
		if e := ollamaFields(m, "ChatRequest.messages", ollamaMessageFields); e != nil {
			return nil, e
		}
		role, _ := m["role"].(string)
		if !slices.Contains([]string{"system", "user", "assistant", "tool"}, role) {
			return nil, ollamaBad("messages[%d]: invalid role %q: must be one of system, user, assistant, tool", i, role)
		}
		if _, ok := m["content"]; !ok {
			return nil, ollamaBad("messages[%d]: content is required", i)
		}
		text, _ := m["content"].(string)
		n, e := ollamaImages(m["images"], "ChatRequest.messages.images")
		if e != nil {
			return nil, e
		}
		msg := oaiMsg{role: role, text: text, images: n}
		cr.images += n
		if tcs, ok := m["tool_calls"].([]any); ok {
			if role != "assistant" {
				return nil, ollamaBad("messages[%d]: only assistant messages may have tool_calls", i)
			}
			for _, tcv := range tcs {
				tc, ok := tcv.(map[string]any)
				if !ok {
					return nil, ollamaBad("json: cannot unmarshal %s into Go struct field Message.messages.tool_calls of type api.ToolCall", ollamaJSONKind(tcv))
				}
				fn, ok := tc["function"].(map[string]any)
				if !ok {
					return nil, ollamaBad("messages[%d]: tool call without a function", i)
				}
				if nm, _ := fn["name"].(string); nm == "" {
					return nil, ollamaBad("messages[%d]: tool call function name is required", i)
				}
				if a, ok := fn["arguments"]; ok && a != nil {
					if _, isObj := a.(map[string]any); !isObj {
						return nil, ollamaBad("json: cannot unmarshal %s into Go struct field ToolCallFunction.messages.tool_calls.function.arguments of type api.ToolCallFunctionArguments", ollamaJSONKind(a))
					}
				}
				if id, ok := tc["id"]; ok && id != nil {
					if _, isStr := id.(string); !isStr {
						return nil, ollamaBad("json: cannot unmarshal %s into Go struct field ToolCall.messages.tool_calls.id of type string", ollamaJSONKind(id))
					}
				}
			}
		}
		cr.msgs = append(cr.msgs, msg)
	}
	if tv, ok := req["tools"].([]any); ok {
		for i, t := range tv {
			to, ok := t.(map[string]any)
			if !ok {
				return nil, ollamaBad("json: cannot unmarshal %s into Go struct field ChatRequest.tools of type api.Tool", ollamaJSONKind(t))
			}
			if to["type"] != "function" {
				return nil, ollamaBad("tools[%d]: type must be \"function\"", i)
			}
			fn, ok := to["function"].(map[string]any)
			if !ok {
				return nil, ollamaBad("tools[%d]: function is required", i)
			}
			nm, _ := fn["name"].(string)
			if nm == "" {
				return nil, ollamaBad("tools[%d]: function name is required", i)
			}
			params, ok := fn["parameters"].(map[string]any)
			if !ok {
				return nil, ollamaBad("tools[%d]: function parameters must be an object", i)
			}
			if d, ok := fn["description"]; ok && d != nil {
				if _, isStr := d.(string); !isStr {
					return nil, ollamaBad("json: cannot unmarshal %s into Go struct field ToolFunction.tools.function.description of type string", ollamaJSONKind(d))
				}
			}
			cr.tools = append(cr.tools, oaiTool{name: nm, params: params})
		}
	}
	return cr, nil
}

// ollamaAnswer is the deterministic reply to a conversation.
type ollamaAnswer struct {
	text    string
	calls   []oaiCall
	reason  string
	in, out int
}

func (b *OllamaBackend) chatAnswer(cr *ollamaChatReq) ollamaAnswer {
	var prompt strings.Builder
	for _, m := range cr.msgs {
		prompt.WriteString("\n")
		prompt.WriteString(m.text)
	}
	a := ollamaAnswer{in: Words(prompt.String()), reason: "stop"}
	var last, lastUser *oaiMsg
	if len(cr.msgs) > 0 {
		last = &cr.msgs[len(cr.msgs)-1]
	}
	for i := len(cr.msgs) - 1; i >= 0; i-- {
		if cr.msgs[i].role == "user" {
			lastUser = &cr.msgs[i]
			break
		}
	}
	switch {
	case last != nil && last.role == "tool":
		var outs []string
		for i := len(cr.msgs) - 1; i >= 0 && cr.msgs[i].role == "tool"; i-- {
			outs = append([]string{cr.msgs[i].text}, outs...)
		}
		a.text = "The tool returned: " + strings.Join(outs, "; ")
	case last != nil && last.role == "user" && len(cr.tools) > 0 && strings.Contains(strings.ToLower(last.text), "weather"):
		t := cr.tools[0]
		for _, tt := range cr.tools {
			if strings.Contains(strings.ToLower(tt.name), "weather") {
				t = tt
				break
			}
		}
		c := oaiCall{id: fmt.Sprintf("call_%06d", b.seq.Add(1)), name: t.name, args: oaiToolArgs(t.params, last.text)}
		a.calls = []oaiCall{c}
		a.out = 1 + Words(strings.NewReplacer(",", " ", ":", " ").Replace(c.args))
		return a
	case lastUser != nil:
		a.text = ollamaEcho(lastUser.text, lastUser.images)
	default:
		a.text = "Hello from the Switchyard simulator."
	}
	a.truncate(cr.maxTokens)
	return a
}

func ollamaEcho(text string, images int) string {
	out := "echo: " + text
	if images == 1 {
		out += " [1 image]"
	} else if images > 1 {
		out += fmt.Sprintf(" [%d images]", images)
	}
	return out
}

// truncate cuts the answer at maxTokens words (done_reason "length").
func (a *ollamaAnswer) truncate(maxTokens int) {
	if maxTokens > 0 && Words(a.text) > maxTokens {
		a.text = strings.Join(strings.Fields(a.text)[:maxTokens], " ")
		a.reason = "length"
	}
	a.out = Words(a.text)
}

// final is the metrics of the last object of an answer.
func (a *ollamaAnswer) final(obj map[string]any) map[string]any {
	load := int64(time.Millisecond)
	prompt := int64(a.in) * int64(100*time.Microsecond)
	eval := int64(a.out) * int64(time.Millisecond)
	obj["done"] = true
	obj["done_reason"] = a.reason
	obj["total_duration"] = load + prompt + eval + int64(500*time.Microsecond)
	obj["load_duration"] = load
	obj["prompt_eval_count"] = a.in
	obj["prompt_eval_duration"] = prompt
	obj["eval_count"] = a.out
	obj["eval_duration"] = eval
	return obj
}

func ollamaNow() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func (b *OllamaBackend) serveChat(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, req map[string]any) *ollamaErr {
	cr, e := ollamaParseChat(req)
	if e != nil {
		return e
	}
	m := ollamaFind(cr.name)
	if m == nil {
		return &ollamaErr{status: http.StatusNotFound, msg: fmt.Sprintf("model %q not found, try pulling it first", cr.name)}
	}
	switch {
	case !m.can("completion"):
		return ollamaBad("%q does not support chat", cr.name)
	case len(cr.tools) > 0 && !m.can("tools"):
		return ollamaBad("registry.ollama.ai/library/%s:latest does not support tools", m.name)
	case cr.images > 0 && !m.can("vision"):
		return ollamaBad("this model is missing data required for image input")
	}
	a := b.chatAnswer(cr)
	var calls []map[string]any
	for i, c := range a.calls {
		var args map[string]any
		_ = json.Unmarshal([]byte(c.args), &args)
		calls = append(calls, map[string]any{"id": c.id, "function": map[string]any{"index": i, "name": c.name, "arguments": args}})
	}
	msg := func(content string, calls []map[string]any) map[string]any {
		mm := map[string]any{"role": "assistant", "content": content}
		if len(calls) > 0 {
			mm["tool_calls"] = calls
		}
		return mm
	}
	line := func(message map[string]any) map[string]any {
		return map[string]any{"model": cr.name, "created_at": ollamaNow(), "message": message, "done": false}
	}
	if !cr.stream {
		s.AddUsage(a.in, a.out)
		ollamaWriteJSON(w, a.final(line(msg(a.text, calls))))
		return nil
	}
	st := newOllamaNDJSON(s, w, r, f)
	if len(calls) > 0 {
		st.Send(line(msg("", calls)))
	} else {
		for _, p := range oaiPieces(a.text, b.chunkWords()) {
			st.Send(line(msg(p, nil)))
		}
	}
	if st.delivers() {
		s.AddUsage(a.in, a.out)
	}
	st.Send(a.final(line(msg("", nil))))
	return nil
}

func (b *OllamaBackend) chunkWords() int {
	if b.ChunkWords > 0 {
		return b.ChunkWords
	}
	return 2
}

// ---- generate ----

var ollamaGenerateFields = map[string]ollamaKind{
	"model": olString, "prompt": olString, "suffix": olString, "images": olArray, "system": olString, "template": olString,
	"stream": olBool, "raw": olBool, "keep_alive": olStringOrNumber, "logprobs": olBool, "top_logprobs": olInteger,
	"context": olArray, "truncate": olBool, "shift": olBool,
}

func (b *OllamaBackend) serveGenerate(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, req map[string]any) *ollamaErr {
	if e := ollamaFields(req, "GenerateRequest", ollamaGenerateFields); e != nil {
		return e
	}
	name, _ := req["model"].(string)
	if name == "" {
		return ollamaBad("model is required")
	}
	if e := ollamaCommon(req, "GenerateRequest", false); e != nil {
		return e
	}
	maxTokens, e := ollamaOptions(req, "GenerateRequest")
	if e != nil {
		return e
	}
	images, e := ollamaImages(req["images"], "GenerateRequest.images")
	if e != nil {
		return e
	}
	m := ollamaFind(name)
	if m == nil {
		return &ollamaErr{status: http.StatusNotFound, msg: fmt.Sprintf("model %q not found, try pulling it first", name)}
	}
	if !m.can("completion") {
		return ollamaBad("%q does not support generate", name)
	}
	if images > 0 && !m.can("vision") {
		return ollamaBad("this model is missing data required for image input")
	}
	prompt, _ := req["prompt"].(string)
	system, _ := req["system"].(string)
	a := ollamaAnswer{in: Words(system + "\n" + prompt), reason: "stop"}
	if prompt == "" && images == 0 {
		// An empty prompt loads the model and says so.
		a.reason = "load"
	} else {
		a.text = ollamaEcho(prompt, images)
		a.truncate(maxTokens)
	}
	line := func(text string) map[string]any {
		return map[string]any{"model": name, "created_at": ollamaNow(), "response": text, "done": false}
	}
	if !ollamaStream(req) || a.reason == "load" {
		s.AddUsage(a.in, a.out)
		ollamaWriteJSON(w, a.final(line(a.text)))
		return nil
	}
	st := newOllamaNDJSON(s, w, r, f)
	for _, p := range oaiPieces(a.text, b.chunkWords()) {
		st.Send(line(p))
	}
	if st.delivers() {
		s.AddUsage(a.in, a.out)
	}
	st.Send(a.final(line("")))
	return nil
}

// ---- embed ----

var ollamaEmbedFields = map[string]ollamaKind{"model": olString, "truncate": olBool, "dimensions": olInteger, "keep_alive": olString}

func (b *OllamaBackend) serveEmbed(s *Server, w http.ResponseWriter, req map[string]any) *ollamaErr {
	if e := ollamaFields(req, "EmbedRequest", ollamaEmbedFields); e != nil {
		return e
	}
	name, _ := req["model"].(string)
	if name == "" {
		return ollamaBad("model is required")
	}
	if _, e := ollamaOptions(req, "EmbedRequest"); e != nil {
		return e
	}
	var inputs []string
	switch in := req["input"].(type) {
	case string:
		inputs = []string{in}
	case []any:
		for _, x := range in {
			str, ok := x.(string)
			if !ok {
				return ollamaBad("invalid input type")
			}
			inputs = append(inputs, str)
		}
	case nil:
		return ollamaBad("input is required")
	default:
		return ollamaBad("invalid input type")
	}
	dims := b.EmbeddingDimensions
	if dims <= 0 {
		dims = 8
	}
	if d, ok := req["dimensions"].(json.Number); ok {
		n, _ := d.Int64()
		if n < 0 {
			return ollamaBad("dimensions must be a positive integer")
		}
		if n > 0 {
			dims = int(n)
		}
	}
	m := ollamaFind(name)
	if m == nil {
		return &ollamaErr{status: http.StatusNotFound, msg: fmt.Sprintf("model %q not found, try pulling it first", name)}
	}
	vecs := make([][]float32, len(inputs))
	in := 0
	for i, t := range inputs {
		vecs[i] = OpenAIEmbedding(t, dims)
		in += Words(t)
	}
	s.AddUsage(in, 0)
	ollamaWriteJSON(w, map[string]any{"model": name, "embeddings": vecs,
		"total_duration": int64(time.Millisecond) + int64(in)*int64(100*time.Microsecond), "load_duration": int64(time.Millisecond), "prompt_eval_count": in})
	return nil
}

// ---- show and tags ----

func (b *OllamaBackend) serveShow(w http.ResponseWriter, req map[string]any) *ollamaErr {
	if e := ollamaFields(req, "ShowRequest", map[string]ollamaKind{"model": olString, "name": olString, "verbose": olBool}); e != nil {
		return e
	}
	name, _ := req["model"].(string)
	if name == "" {
		name, _ = req["name"].(string) // the deprecated spelling
	}
	if name == "" {
		return ollamaBad("model is required")
	}
	m := ollamaFind(name)
	if m == nil {
		return &ollamaErr{status: http.StatusNotFound, msg: fmt.Sprintf("model '%s' not found", name)}
	}
	ollamaWriteJSON(w, map[string]any{
		"license":      "Simulated model licence",
		"modelfile":    "FROM " + m.name,
		"parameters":   "temperature 0.7\nnum_ctx 2048",
		"template":     "{{ .Prompt }}",
		"details":      m.details(),
		"capabilities": m.caps,
		"modified_at":  "2025-10-03T23:34:03.409490317-07:00",
		"model_info": map[string]any{
			"general.architecture":             m.family,
			"general.parameter_count":          m.size / 2,
			m.family + ".context_length":       m.ctx,
			m.family + ".embedding_length":     4096,
			"tokenizer.ggml.model":             "gpt2",
			"general.quantization_version":     2,
			m.family + ".attention.head_count": 32,
		},
	})
	return nil
}

func (b *OllamaBackend) serveTags(w http.ResponseWriter) {
	models := make([]any, 0, len(ollamaModels))
	for _, m := range ollamaModels {
		models = append(models, map[string]any{"name": m.name + ":latest", "model": m.name + ":latest",
			"modified_at": "2025-10-03T23:34:03.409490317-07:00", "size": m.size, "digest": m.digest(), "details": m.details()})
	}
	ollamaWriteJSON(w, map[string]any{"models": models})
}

// ---- NDJSON ----

// ollamaNDJSON writes an application/x-ndjson stream and applies a fault's
// stream misbehaviour exactly as SSE does: ChunkDelay between lines,
// CutAfter n lines (the handler aborts, closing the connection mid-stream),
// StallAfter n lines (no more bytes until the client or server goes away).
type ollamaNDJSON struct {
	s *Server
	w http.ResponseWriter
	r *http.Request
	f *Fault
	n int
}

func newOllamaNDJSON(s *Server, w http.ResponseWriter, r *http.Request, f *Fault) *ollamaNDJSON {
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	return &ollamaNDJSON{s: s, w: w, r: r, f: f}
}

// delivers reports whether the next Send will be written (no cut or stall
// due at it), so usage can be counted just before a final line that arrives.
func (st *ollamaNDJSON) delivers() bool {
	if st.f == nil {
		return true
	}
	return !(st.f.CutAfter > 0 && st.n >= st.f.CutAfter) && !(st.f.StallAfter > 0 && st.n >= st.f.StallAfter)
}

// Send writes v as one line.
func (st *ollamaNDJSON) Send(v any) {
	if f := st.f; f != nil {
		if f.CutAfter > 0 && st.n >= f.CutAfter {
			panic(http.ErrAbortHandler)
		}
		if f.StallAfter > 0 && st.n >= f.StallAfter {
			select {
			case <-st.r.Context().Done():
			case <-st.s.Closing():
			}
			panic(http.ErrAbortHandler)
		}
		if f.ChunkDelay > 0 && st.n > 0 && !sleep(st.r, f.ChunkDelay) {
			panic(http.ErrAbortHandler)
		}
	}
	b, _ := json.Marshal(v)
	b = append(b, '\n')
	_, _ = st.w.Write(b)
	if fl, ok := st.w.(http.Flusher); ok {
		fl.Flush()
	}
	st.n++
}
