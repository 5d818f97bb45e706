package sim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// LLVMBackend simulates a vLLM OpenAI-compatible server (`vllm serve`), the
// "llvm" backend. The adapter's base URL is Server.URL, the server root. It
// serves
//
//	POST /v1/chat/completions, /v1/completions (plain and SSE), /v1/embeddings
//	GET  /v1/models
//	POST /tokenize, /detokenize
//	GET  /health, /version
//
// and checks requests the way vLLM does: Content-Type application/json (400
// "Unsupported Media Type"), JSON bodies, required fields and their types
// (pydantic validation: 400), messages, tools and tool_choice (with the
// OpenAI simulator's rules), sampling ranges (temperature >= 0, top_p in
// (0, 1], max_tokens >= 1, n >= 1), stream_options only with stream, the
// model name (404 NotFoundError), the model's task (a generate model does no
// embeddings and an embedding model no chat), and the context length (prompt
// plus max_tokens within max_model_len). Unknown fields are accepted and
// ignored, as vLLM does. Malformed requests get vLLM's error body
// {"error":{"message","type","param","code"}} (LegacyErrors: the flat
// {"object":"error",…} of older releases) and count as Server.InvalidCalls.
//
// With APIKey set, the /v1 routes want "Authorization: Bearer <APIKey>" and
// answer 401 {"error":"Unauthorized"} otherwise; /tokenize, /detokenize,
// /health and /version stay open, as in vLLM's AuthenticationMiddleware.
// Without it no key is needed. Key reports "none" for a request without a
// bearer token, so Server accepts it.
//
// Answers are deterministic, as in OpenAIBackend ("echo: " and the last user
// text or the prompt; tool calls; hash-seeded unit vectors, see
// OpenAIEmbedding). Tokens are sim.Words; /tokenize gives each word a
// hash-derived ID (plus BOS 1 when add_special_tokens) and /detokenize maps
// IDs it has seen back to words. Usage is reported once per completed answer.
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type LLVMBackend struct {
	// Models are the served models; nil means LLVMModels().
	Models []LLVMModel
	// APIKey, when set, is the key the server was started with (--api-key).
	APIKey string
	// LegacyErrors writes the flat error body of vLLM releases before the
	// {"error":{…}} wrapper.
	LegacyErrors bool
	// EmbeddingDimensions is the vector length (default 8); ChunkWords the
	// words per streamed text chunk (default 3).
	EmbeddingDimensions, ChunkWords int
	// Version is what /version reports (default "0.11.0").
	Version string

	answers OpenAIBackend
	seq     atomic.Int64

	mu    sync.Mutex
	vocab map[int]string
}

// LLVMModel is one served model.
type LLVMModel struct {
	ID string
	// Embed marks a pooling (embedding) model; others generate.
	Embed       bool
	MaxModelLen int
}

// LLVM returns a vLLM simulator with the default models and no API key.
func LLVM() *LLVMBackend { return &LLVMBackend{} }

// LLVMModels returns the default models: a generate model
// "meta-llama/Llama-3.1-8B-Instruct" (max_model_len 8192) and an embedding
// model "intfloat/e5-mistral-7b-instruct" (4096).
func LLVMModels() []LLVMModel {
	return []LLVMModel{
		{ID: "meta-llama/Llama-3.1-8B-Instruct", MaxModelLen: 8192},
		{ID: "intfloat/e5-mistral-7b-instruct", Embed: true, MaxModelLen: 4096},
	}
}

// Name returns "llvm".
func (*LLVMBackend) Name() string { return "llvm" }

// Key returns the bearer token, or "none" when the request carries none.
func (*LLVMBackend) Key(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "none"
	}
	scheme, param, _ := strings.Cut(h, " ")
	if !strings.EqualFold(scheme, "bearer") || param == "" {
		return "none"
	}
	return param
}

// llvmErr carries the type and param of an error through Server.Invalid.
type llvmErr struct {
	http.ResponseWriter
	typ, param string
}

// WriteError writes vLLM's error body for status: 401 {"error":
// "Unauthorized"}; 404 NotFoundError; other 4xx BadRequestError; 5xx
// InternalServerError (503 ServiceUnavailableError); FastAPI's {"detail"}
// for unknown routes and methods.
func (b *LLVMBackend) WriteError(w http.ResponseWriter, status int, message string) {
	if d, ok := w.(*llvmDetail); ok {
		d.detail(status, message)
		return
	}
	typ, param := "", ""
	if le, ok := w.(*llvmErr); ok {
		typ, param, w = le.typ, le.param, le.ResponseWriter
	}
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error":"Unauthorized"}`))
		return
	}
	if typ == "" {
		switch {
		case status == http.StatusNotFound:
			typ = "NotFoundError"
		case status == http.StatusServiceUnavailable:
			typ = "ServiceUnavailableError"
		case status >= 500:
			typ = "InternalServerError"
		default:
			typ = "BadRequestError"
		}
	}
	if message == "" {
		message = http.StatusText(status)
	}
	var p any
	if param != "" {
		p = param
	}
	var body any
	if b.LegacyErrors {
		body = map[string]any{"object": "error", "message": message, "type": typ, "param": p, "code": status}
	} else {
		body = map[string]any{"error": map[string]any{"message": message, "type": typ, "param": p, "code": status}}
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// reject answers a request vLLM's serving layer refuses.
func (b *LLVMBackend) reject(s *Server, w http.ResponseWriter, status int, param, format string, args ...any) {
	typ := ""
	if status == http.StatusBadRequest {
		typ = "BadRequestError"
	}
	s.Invalid(&llvmErr{ResponseWriter: w, typ: typ, param: param}, status, fmt.Sprintf(format, args...))
}

// invalid answers a request that fails pydantic validation: vLLM's
// validation handler reports "N validation error(s)" with type "Bad Request"
// (BadRequestError in legacy releases).
func (b *LLVMBackend) invalid(s *Server, w http.ResponseWriter, param, msg string) {
	typ := "Bad Request"
	if b.LegacyErrors {
		typ = "BadRequestError"
	}
	s.Invalid(&llvmErr{ResponseWriter: w, typ: typ, param: param}, http.StatusBadRequest, "1 validation error:\n  "+msg)
}

func (b *LLVMBackend) oaiReject(s *Server, w http.ResponseWriter, e *oaiErr) {
	b.invalid(s, w, "body."+e.param, e.msg)
}

func (b *LLVMBackend) models() []LLVMModel {
	if b.Models != nil {
		return b.Models
	}
	return LLVMModels()
}

func (b *LLVMBackend) model(id string) (LLVMModel, bool) {
	for _, m := range b.models() {
		if m.ID == id {
			return m, true
		}
	}
	return LLVMModel{}, false
}

// Serve routes the vLLM API.
func (b *LLVMBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	path := r.URL.Path
	route := map[string]string{
		"/v1/chat/completions": http.MethodPost, "/v1/completions": http.MethodPost, "/v1/embeddings": http.MethodPost,
		"/v1/models": http.MethodGet, "/tokenize": http.MethodPost, "/detokenize": http.MethodPost,
		"/health": http.MethodGet, "/version": http.MethodGet,
	}
	method, ok := route[path]
	if strings.HasPrefix(path, "/v1") && b.APIKey != "" && b.Key(r) != b.APIKey {
		// The authentication middleware runs before routing.
		b.WriteError(w, http.StatusUnauthorized, "")
		return
	}
	if !ok {
		s.Invalid(&llvmDetail{w}, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != method {
		s.Invalid(&llvmDetail{w}, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	switch path {
	case "/health":
		w.WriteHeader(http.StatusOK)
		return
	case "/version":
		v := b.Version
		if v == "" {
			v = "0.11.0"
		}
		oaiWriteJSON(w, map[string]any{"version": v})
		return
	case "/v1/models":
		var data []any
		for _, m := range b.models() {
			data = append(data, map[string]any{"id": m.ID, "object": "model", "created": 1735689600, "owned_by": "vllm", "root": m.ID,
				"parent": nil, "max_model_len": m.MaxModelLen, "permission": []any{map[string]any{"id": "modelperm-sim", "object": "model_permission",
					"created": 1735689600, "allow_create_engine": false, "allow_sampling": true, "allow_logprobs": true, "allow_search_indices": false,
					"allow_view": true, "allow_fine_tuning": false, "organization": "*", "group": nil, "is_blocking": false}}})
		}
		oaiWriteJSON(w, map[string]any{"object": "list", "data": data})
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		b.invalid(s, w, "", "Unsupported Media Type: Only 'application/json' is allowed")
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		b.invalid(s, w, "body", fmt.Sprintf("{'type': 'json_invalid', 'loc': ('body', 0), 'msg': 'JSON decode error', 'ctx': {'error': '%v'}}", err))
		return
	}
	req, ok := v.(map[string]any)
	if !ok {
		b.invalid(s, w, "body", fmt.Sprintf("{'type': 'model_attributes_type', 'loc': ('body',), 'msg': 'Input should be a valid dictionary or object to extract fields from', 'input': %s}", oaiKind(v)))
		return
	}
	switch path {
	case "/tokenize":
		b.serveTokenize(s, w, req)
	case "/detokenize":
		b.serveDetokenize(s, w, req)
	case "/v1/embeddings":
		b.serveEmbeddings(s, w, req)
	default:
		b.serveGenerate(s, w, r, f, path == "/v1/chat/completions", req)
	}
}

// llvmDetail writes FastAPI's own {"detail": …} for unknown routes and
// methods.
type llvmDetail struct{ http.ResponseWriter }

func (d *llvmDetail) detail(status int, msg string) {
	d.Header().Set("Content-Type", "application/json")
	d.ResponseWriter.WriteHeader(status)
	_ = json.NewEncoder(d.ResponseWriter).Encode(map[string]any{"detail": msg})
}

// llvmFieldKinds are the JSON kinds of the request fields the simulator
// knows; anything else is accepted and ignored.
var llvmFieldKinds = map[string]oaiFieldKind{
	"model": oaiFieldString, "messages": oaiFieldArray, "prompt": oaiFieldAny, "max_tokens": oaiFieldInteger, "max_completion_tokens": oaiFieldInteger,
	"temperature": oaiFieldNumber, "top_p": oaiFieldNumber, "top_k": oaiFieldInteger, "min_p": oaiFieldNumber, "n": oaiFieldInteger,
	"stream": oaiFieldBool, "stream_options": oaiFieldObject, "stop": oaiFieldAny, "seed": oaiFieldInteger, "tools": oaiFieldArray,
	"tool_choice": oaiFieldAny, "logprobs": oaiFieldAny, "echo": oaiFieldBool, "presence_penalty": oaiFieldNumber,
	"frequency_penalty": oaiFieldNumber, "repetition_penalty": oaiFieldNumber, "input": oaiFieldAny, "encoding_format": oaiFieldString,
	"dimensions": oaiFieldInteger, "add_special_tokens": oaiFieldBool, "tokens": oaiFieldArray, "user": oaiFieldString,
}

// checkKinds type-checks the known fields present in req.
func (b *LLVMBackend) checkKinds(req map[string]any) *oaiErr {
	keys := make([]string, 0, len(req))
	for k := range req {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if fk, ok := llvmFieldKinds[k]; ok {
			if e := oaiCheckKind(k, req[k], fk); e != nil {
				return e
			}
		}
	}
	return nil
}

// requireModel finds the request's model: absent means the first served
// model of the right kind, as vLLM serves its only model by default.
func (b *LLVMBackend) requireModel(s *Server, w http.ResponseWriter, req map[string]any, embed bool) (LLVMModel, bool) {
	id, _ := req["model"].(string)
	if id == "" {
		for _, m := range b.models() {
			if m.Embed == embed {
				return m, true
			}
		}
		id = "(default)"
	}
	m, ok := b.model(id)
	if !ok {
		b.reject(s, w, http.StatusNotFound, "", "The model `%s` does not exist.", id)
		return m, false
	}
	if m.Embed != embed {
		api := "Chat Completions API"
		if embed {
			api = "Embeddings API"
		}
		b.reject(s, w, http.StatusBadRequest, "", "The model `%s` does not support %s", id, api)
		return m, false
	}
	return m, true
}

func (b *LLVMBackend) serveGenerate(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, chat bool, req map[string]any) {
	if e := b.checkKinds(req); e != nil {
		b.oaiReject(s, w, e)
		return
	}
	var (
		msgs   []oaiMsg
		tools  []oaiTool
		choice string
		prompt string
		e      *oaiErr
	)
	if chat {
		if msgs, e = oaiParseMessages(req["messages"]); e == nil {
			if tools, e = oaiParseChatTools(req["tools"]); e == nil {
				choice, e = oaiParseToolChoice(req["tool_choice"], tools, false)
			}
		}
	} else {
		switch p := req["prompt"].(type) {
		case string:
			prompt = p
		case nil:
			e = &oaiErr{param: "prompt", msg: "{'type': 'missing', 'loc': ('body', 'prompt'), 'msg': 'Field required'}"}
		default:
			e = &oaiErr{param: "prompt", msg: "{'type': 'string_type', 'loc': ('body', 'prompt'), 'msg': 'Input should be a valid string'}"}
		}
	}
	if e != nil {
		b.oaiReject(s, w, e)
		return
	}
	if t, ok := req["temperature"].(float64); ok && t < 0 {
		b.reject(s, w, http.StatusBadRequest, "temperature", "temperature must be non-negative, got %g.", t)
		return
	}
	if p, ok := req["top_p"].(float64); ok && (p <= 0 || p > 1) {
		b.reject(s, w, http.StatusBadRequest, "top_p", "top_p must be in (0, 1], got %g.", p)
		return
	}
	n := 1
	if nv, ok := req["n"].(float64); ok {
		if nv < 1 {
			b.reject(s, w, http.StatusBadRequest, "n", "n must be at least 1, got %d.", int(nv))
			return
		}
		n = int(nv)
	}
	maxTokens := 0
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		if mv, ok := req[k].(float64); ok {
			if mv < 1 {
				b.reject(s, w, http.StatusBadRequest, k, "max_tokens must be at least 1, got %d.", int(mv))
				return
			}
			maxTokens = int(mv)
		}
	}
	stream, _ := req["stream"].(bool)
	includeUsage := false
	if so, ok := req["stream_options"].(map[string]any); ok {
		if !stream {
			b.invalid(s, w, "body", "Value error, Stream options can only be defined when `stream=True`.")
			return
		}
		includeUsage, _ = so["include_usage"].(bool)
	}
	m, ok := b.requireModel(s, w, req, false)
	if !ok {
		return
	}
	var a oaiAnswer
	if chat {
		a = b.answers.answer("", msgs, tools, choice, maxTokens)
	} else {
		if maxTokens == 0 {
			maxTokens = 16 // vLLM's default for completions
		}
		a = oaiAnswer{in: Words(prompt), text: "echo: " + prompt, finish: "stop"}
		if Words(a.text) > maxTokens {
			a.text = strings.Join(strings.Fields(a.text)[:maxTokens], " ")
			a.finish = "length"
		}
		a.out = Words(a.text)
	}
	if want := a.in + max(maxTokens, 1); want > m.MaxModelLen {
		b.reject(s, w, http.StatusBadRequest, "", "This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			m.MaxModelLen, want, a.in, max(maxTokens, 1))
		return
	}
	out := a.out * n
	created := time.Now().Unix()
	id := fmt.Sprintf("cmpl-sim%08d", b.seq.Add(1))
	object := "text_completion"
	if chat {
		id = fmt.Sprintf("chatcmpl-sim%08d", b.seq.Add(1))
		object = "chat.completion"
	}
	usage := map[string]any{"prompt_tokens": a.in, "total_tokens": a.in + out, "completion_tokens": out, "prompt_tokens_details": nil}
	if !stream {
		choices := make([]any, n)
		for i := range choices {
			c := map[string]any{"index": i, "logprobs": nil, "finish_reason": a.finish, "stop_reason": nil}
			if chat {
				msg := map[string]any{"role": "assistant", "content": a.text, "refusal": nil, "annotations": nil, "audio": nil, "function_call": nil, "tool_calls": []any{}, "reasoning_content": nil}
				if len(a.calls) > 0 {
					msg["content"] = nil
					var calls []oaiWireToolCall
					for _, c := range a.calls {
						calls = append(calls, oaiWireToolCall{ID: c.id, Type: "function", Function: oaiWireFunction{Name: c.name, Arguments: c.args}})
					}
					msg["tool_calls"] = calls
				}
				c["message"] = msg
			} else {
				c["text"] = a.text
				c["prompt_logprobs"] = nil
			}
			choices[i] = c
		}
		s.AddUsage(a.in, out)
		oaiWriteJSON(w, map[string]any{"id": id, "object": object, "created": created, "model": m.ID, "choices": choices,
			"usage": usage, "prompt_logprobs": nil, "kv_transfer_params": nil})
		return
	}
	sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	send := func(choices []any, u any) {
		c := map[string]any{"id": id, "object": object + ".chunk", "created": created, "model": m.ID, "choices": choices}
		if !chat {
			c["object"] = object
		}
		if u != nil {
			c["usage"] = u
		}
		data, _ := json.Marshal(c)
		sse.Send("", string(data))
	}
	piece := func(i int, text string, finish any) []any {
		c := map[string]any{"index": i, "logprobs": nil, "finish_reason": finish}
		if chat {
			c["delta"] = map[string]any{"content": text}
		} else {
			c["text"] = text
			c["stop_reason"] = nil
		}
		return []any{c}
	}
	for i := 0; i < n; i++ {
		if chat {
			send([]any{map[string]any{"index": i, "delta": map[string]any{"role": "assistant", "content": ""}, "logprobs": nil, "finish_reason": nil}}, nil)
		}
		if chat && len(a.calls) > 0 {
			for j, c := range a.calls {
				idx := j
				send([]any{map[string]any{"index": i, "delta": map[string]any{"tool_calls": []oaiWireToolCall{{Index: &idx, ID: c.id, Type: "function", Function: oaiWireFunction{Name: c.name}}}}, "logprobs": nil, "finish_reason": nil}}, nil)
				for _, p := range oaiRunePieces(c.args, 8) {
					send([]any{map[string]any{"index": i, "delta": map[string]any{"tool_calls": []oaiWireToolCall{{Index: &idx, Function: oaiWireFunction{Arguments: p}}}}, "logprobs": nil, "finish_reason": nil}}, nil)
				}
			}
		} else {
			for _, p := range oaiPieces(a.text, b.ChunkWords) {
				send(piece(i, p, nil), nil)
			}
		}
		send(piece(i, "", a.finish), nil)
	}
	if includeUsage {
		send([]any{}, usage)
	}
	if sse.delivers() {
		s.AddUsage(a.in, out)
	}
	sse.Send("", "[DONE]")
}

func (b *LLVMBackend) serveEmbeddings(s *Server, w http.ResponseWriter, req map[string]any) {
	if e := b.checkKinds(req); e != nil {
		b.oaiReject(s, w, e)
		return
	}
	var inputs []string
	switch in := req["input"].(type) {
	case string:
		inputs = []string{in}
	case []any:
		for i, x := range in {
			sv, ok := x.(string)
			if !ok {
				b.invalid(s, w, fmt.Sprintf("body.input.%d", i), fmt.Sprintf("{'type': 'string_type', 'loc': ('body', 'input', %d), 'msg': 'Input should be a valid string'}", i))
				return
			}
			inputs = append(inputs, sv)
		}
		if len(inputs) == 0 {
			b.reject(s, w, http.StatusBadRequest, "input", "Input cannot be empty")
			return
		}
	case nil:
		b.invalid(s, w, "body.input", "{'type': 'missing', 'loc': ('body', 'input'), 'msg': 'Field required'}")
		return
	default:
		b.invalid(s, w, "body.input", "{'type': 'string_type', 'loc': ('body', 'input'), 'msg': 'Input should be a valid string'}")
		return
	}
	if f, ok := req["encoding_format"].(string); ok && f != "float" && f != "base64" {
		b.invalid(s, w, "body.encoding_format", fmt.Sprintf("{'type': 'literal_error', 'loc': ('body', 'encoding_format'), 'msg': \"Input should be 'float' or 'base64'\", 'input': '%s'}", f))
		return
	}
	m, ok := b.requireModel(s, w, req, true)
	if !ok {
		return
	}
	if _, ok := req["dimensions"]; ok {
		b.reject(s, w, http.StatusBadRequest, "dimensions", "Model \"%s\" does not support matryoshka representation, changing output dimensions will lead to poor results.", m.ID)
		return
	}
	dims := b.EmbeddingDimensions
	if dims <= 0 {
		dims = 8
	}
	tokens := 0
	data := make([]any, len(inputs))
	for i, in := range inputs {
		n := Words(in) + 1
		if n > m.MaxModelLen {
			b.reject(s, w, http.StatusBadRequest, "", "This model's maximum context length is %d tokens. However, you requested %d tokens in the input for embedding generation. Please reduce the length of the input.", m.MaxModelLen, n)
			return
		}
		tokens += n
		data[i] = map[string]any{"index": i, "object": "embedding", "embedding": OpenAIEmbedding(in, dims)}
	}
	s.AddUsage(tokens, 0)
	oaiWriteJSON(w, map[string]any{"id": fmt.Sprintf("embd-sim%08d", b.seq.Add(1)), "object": "list", "created": time.Now().Unix(), "model": m.ID,
		"data": data, "usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens, "completion_tokens": 0, "prompt_tokens_details": nil}})
}

// LLVMToken is the simulator's token ID of a word: 1000 plus its FNV-1a
// hash modulo 31000 (BOS is 1).
func LLVMToken(word string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(word))
	return 1000 + int(h.Sum32()%31000)
}

func (b *LLVMBackend) serveTokenize(s *Server, w http.ResponseWriter, req map[string]any) {
	if e := b.checkKinds(req); e != nil {
		b.oaiReject(s, w, e)
		return
	}
	prompt, ok := req["prompt"].(string)
	if !ok {
		if _, chat := req["messages"]; !chat {
			b.invalid(s, w, "body.prompt", "{'type': 'missing', 'loc': ('body', 'TokenizeCompletionRequest', 'prompt'), 'msg': 'Field required'}")
			return
		}
		b.reject(s, w, http.StatusBadRequest, "messages", "the simulator tokenizes prompts only")
		return
	}
	m := b.models()[0]
	if id, _ := req["model"].(string); id != "" {
		var found bool
		if m, found = b.model(id); !found {
			b.reject(s, w, http.StatusNotFound, "", "The model `%s` does not exist.", id)
			return
		}
	}
	var tokens []int
	if special, ok := req["add_special_tokens"].(bool); !ok || special {
		tokens = append(tokens, 1)
	}
	b.mu.Lock()
	if b.vocab == nil {
		b.vocab = map[int]string{}
	}
	for _, word := range strings.Fields(prompt) {
		t := LLVMToken(word)
		b.vocab[t] = word
		tokens = append(tokens, t)
	}
	b.mu.Unlock()
	if len(tokens) > m.MaxModelLen {
		b.reject(s, w, http.StatusBadRequest, "max_model_len", "This model's maximum context length is %d tokens. However, your request has %d input tokens. Please reduce the length of the input messages.", m.MaxModelLen, len(tokens))
		return
	}
	if tokens == nil {
		tokens = []int{}
	}
	oaiWriteJSON(w, map[string]any{"count": len(tokens), "max_model_len": m.MaxModelLen, "tokens": tokens, "token_strs": nil})
}

func (b *LLVMBackend) serveDetokenize(s *Server, w http.ResponseWriter, req map[string]any) {
	if e := b.checkKinds(req); e != nil {
		b.oaiReject(s, w, e)
		return
	}
	raw, ok := req["tokens"].([]any)
	if !ok {
		b.invalid(s, w, "body.tokens", "{'type': 'missing', 'loc': ('body', 'tokens'), 'msg': 'Field required'}")
		return
	}
	var words []string
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, x := range raw {
		f, ok := x.(float64)
		if !ok || f != float64(int(f)) {
			b.invalid(s, w, fmt.Sprintf("body.tokens.%d", i), fmt.Sprintf("{'type': 'int_type', 'loc': ('body', 'tokens', %d), 'msg': 'Input should be a valid integer'}", i))
			return
		}
		t := int(f)
		switch {
		case t < 0 || t >= 32000:
			b.invalid(s, w, "body.tokens", fmt.Sprintf("Token id %d is out of vocabulary", t))
			return
		case t == 1:
			words = append(words, "<s>")
		case b.vocab[t] != "":
			words = append(words, b.vocab[t])
		default:
			words = append(words, "<unk>")
		}
	}
	oaiWriteJSON(w, map[string]any{"prompt": strings.Join(words, " ")})
}
