package sim

import (
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// GroqBackend simulates Groq's OpenAI-compatible API under /openai/v1, so the
// adapter's base URL is Server.URL (the adapter adds the prefix) or
// Server.URL+"/openai/v1". It serves POST /openai/v1/chat/completions and GET
// /openai/v1/models and /openai/v1/models/{model}, and checks requests the
// way Groq does:
//
//   - keys must be "Authorization: Bearer gsk_…" (401 invalid_api_key);
//   - the body is the OpenAI chat schema (messages, roles, content parts,
//     tool-call pairing, tools, tool_choice, ranges are checked with the
//     OpenAI simulator's rules) plus Groq's own fields (service_tier,
//     reasoning_format, reasoning_effort, include_reasoning, search_settings,
//     documents, …); any other field, stream_options included, is rejected
//     with Groq's "property 'x' is unsupported, did you mean 'y'?" (Groq's
//     params have no stream_options; its usage comes in x_groq.usage);
//   - n must be 1, logprobs/logit_bias/top_logprobs are unsupported, at most
//     4 stop sequences and 5 images;
//   - the model must be in the catalogue (404 model_not_found), do chat,
//     support tools when tools are sent and images when images are sent, and
//     max_completion_tokens may not exceed the model's.
//
// Answers follow Groq's shape: usage with queue/prompt/completion/total
// times, x_groq.id, service_tier; streams end with a chunk whose x_groq
// carries the usage, then "data: [DONE]". Streamed tool calls arrive whole,
// one chunk per call, as Groq sends them. Text is deterministic ("echo: " and
// the last user text; see OpenAIBackend), and a request with tools whose last
// user message says "malformed" gets Groq's 400 tool_use_failed with a
// failed_generation. Every answer carries x-ratelimit-* headers: requests per
// DAY, tokens per minute, both replenished continuously.
//
// Inject a Fault{Status: 498} for Groq's flex-tier capacity_exceeded, 499 for
// a cancellation on Groq's side.
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type GroqBackend struct {
	// Models is the catalogue; nil means GroqModels().
	Models []GroqModel
	// ChunkWords is how many words each streamed text chunk carries
	// (default 3).
	ChunkWords int
	// RequestsPerDay and TokensPerMinute are the per-key budgets the
	// x-ratelimit-* headers report (defaults 14400 and 1000000).
	RequestsPerDay, TokensPerMinute int
	// EnforceRateLimit answers 429 rate_limit_exceeded with Retry-After once
	// a key's budget is spent. Off by default: the headers only report.
	EnforceRateLimit bool

	answers OpenAIBackend // the shared deterministic answer logic
	seq     atomic.Int64

	mu      sync.Mutex
	windows map[string]*groqWindow
}

// GroqModel is one model of the simulated catalogue.
type GroqModel struct {
	ID, OwnedBy         string
	ContextWindow       int
	MaxCompletionTokens int
	Active              bool
	// Chat, Tools and Vision say what the model accepts.
	Chat, Tools, Vision bool
}

// Groq returns a Groq simulator with the default catalogue.
func Groq() *GroqBackend { return &GroqBackend{} }

// GroqModels returns the default catalogue: chat models with tools
// (llama-3.3-70b-versatile, llama-3.1-8b-instant, openai/gpt-oss-20b), a
// vision model (meta-llama/llama-4-scout-17b-16e-instruct), a guard model
// without tools (meta-llama/llama-guard-4-12b) and a speech-to-text model
// that does no chat (whisper-large-v3).
func GroqModels() []GroqModel {
	return []GroqModel{
		{ID: "llama-3.3-70b-versatile", OwnedBy: "Meta", ContextWindow: 131072, MaxCompletionTokens: 32768, Active: true, Chat: true, Tools: true},
		{ID: "llama-3.1-8b-instant", OwnedBy: "Meta", ContextWindow: 131072, MaxCompletionTokens: 131072, Active: true, Chat: true, Tools: true},
		{ID: "openai/gpt-oss-20b", OwnedBy: "OpenAI", ContextWindow: 131072, MaxCompletionTokens: 65536, Active: true, Chat: true, Tools: true},
		{ID: "meta-llama/llama-4-scout-17b-16e-instruct", OwnedBy: "Meta", ContextWindow: 131072, MaxCompletionTokens: 8192, Active: true, Chat: true, Tools: true, Vision: true},
		{ID: "meta-llama/llama-guard-4-12b", OwnedBy: "Meta", ContextWindow: 131072, MaxCompletionTokens: 1024, Active: true, Chat: true},
		{ID: "whisper-large-v3", OwnedBy: "OpenAI", ContextWindow: 448, MaxCompletionTokens: 448, Active: true},
	}
}

type groqWindow struct {
	at         time.Time
	reqs, toks float64 // used, decaying continuously
}

// Name returns "groq".
func (*GroqBackend) Name() string { return "groq" }

// Key returns the key of "Authorization: Bearer gsk_…", "" for a missing
// header, another scheme or a key that is not a Groq key.
func (*GroqBackend) Key(r *http.Request) string {
	h := r.Header.Get("Authorization")
	k, ok := strings.CutPrefix(h, "Bearer ")
	k = strings.TrimSpace(k)
	if !ok || !strings.HasPrefix(k, "gsk_") {
		return ""
	}
	return k
}

// groqErr carries a Groq error through Server.Invalid to WriteError.
type groqErr struct {
	http.ResponseWriter
	typ, code, param string
	extra            map[string]any
}

// WriteError writes Groq's {"error":{"message","type","code"}} for status:
// 401 invalid_api_key, 403 permission_denied, 404 unknown_url, 413
// request_too_large, 429 type "requests" code rate_limit_exceeded, 498
// capacity_exceeded, 499 request_cancelled, 5xx internal_server_error or
// service_unavailable, other 4xx invalid_request_error.
func (*GroqBackend) WriteError(w http.ResponseWriter, status int, message string) {
	typ, code, param := "invalid_request_error", "", ""
	var extra map[string]any
	if ge, ok := w.(*groqErr); ok {
		typ, code, param, extra = ge.typ, ge.code, ge.param, ge.extra
		w = ge.ResponseWriter
	}
	generic := message == "" || message == http.StatusText(status)
	set := func(c, m string) {
		if code == "" {
			code = c
		}
		if generic {
			message = m
		}
	}
	switch {
	case status == http.StatusUnauthorized:
		if message == "invalid API key" { // Server's wording for a missing or unknown key
			generic = true
		}
		set("invalid_api_key", "Invalid API Key")
	case status == http.StatusForbidden:
		set("permission_denied", "Permission denied. Please check your API key and organization settings.")
	case status == http.StatusNotFound:
		set("unknown_url", "Unknown request URL. Please check the URL for typos, or see the docs at https://console.groq.com/docs/")
	case status == http.StatusRequestEntityTooLarge:
		set("request_too_large", "Request Entity Too Large")
	case status == http.StatusTooManyRequests:
		if typ == "invalid_request_error" {
			typ = "requests"
		}
		set("rate_limit_exceeded", "Rate limit reached for requests. Please try again later.")
	case status == 498:
		typ = "capacity_exceeded"
		set("capacity_exceeded", "Flex tier capacity exceeded. This is a known issue and we are working on it. Please try again later.")
	case status == 499:
		set("request_cancelled", "Request cancelled")
	case status == http.StatusServiceUnavailable:
		typ = "server_error"
		set("service_unavailable", "Service Unavailable")
	case status >= 500:
		typ = "server_error"
		set("internal_server_error", "Internal Server Error")
	}
	e := map[string]any{"message": message, "type": typ}
	if code != "" {
		e["code"] = code
	}
	if param != "" {
		e["param"] = param
	}
	for k, v := range extra {
		e[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

func (b *GroqBackend) reject(s *Server, w http.ResponseWriter, status int, code, param, format string, args ...any) {
	s.Invalid(&groqErr{ResponseWriter: w, typ: "invalid_request_error", code: code, param: param}, status, fmt.Sprintf(format, args...))
}

// rejectOAI answers a violation found by the OpenAI simulator's checks in
// Groq's format.
func (b *GroqBackend) rejectOAI(s *Server, w http.ResponseWriter, e *oaiErr) {
	b.reject(s, w, e.status, e.code, e.param, "%s", e.msg)
}

func (b *GroqBackend) models() []GroqModel {
	if b.Models != nil {
		return b.Models
	}
	return GroqModels()
}

func (b *GroqBackend) model(id string) (GroqModel, bool) {
	for _, m := range b.models() {
		if m.ID == id {
			return m, true
		}
	}
	return GroqModel{}, false
}

func groqModelJSON(m GroqModel) map[string]any {
	return map[string]any{"id": m.ID, "object": "model", "created": 1733447754, "owned_by": m.OwnedBy, "active": m.Active,
		"context_window": m.ContextWindow, "public_apps": nil, "max_completion_tokens": m.MaxCompletionTokens}
}

const groqPrefix = "/openai/v1"

// Serve routes the Groq API.
func (b *GroqBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	if w.Header().Get("X-Request-Id") == "" {
		w.Header().Set("X-Request-Id", fmt.Sprintf("req_sim%08d", b.seq.Add(1)))
	}
	path := r.URL.Path
	key := b.Key(r)
	switch {
	case path == groqPrefix+"/models" || strings.HasPrefix(path, groqPrefix+"/models/"):
		if r.Method != http.MethodGet {
			b.reject(s, w, http.StatusMethodNotAllowed, "method_not_allowed", "", "Method %s not allowed for %s", r.Method, path)
			return
		}
		b.admit(w, key, 0)
		if id, ok := strings.CutPrefix(path, groqPrefix+"/models/"); ok {
			m, found := b.model(id)
			if !found {
				b.reject(s, w, http.StatusNotFound, "model_not_found", "", "The model `%s` does not exist or you do not have access to it.", id)
				return
			}
			oaiWriteJSON(w, groqModelJSON(m))
			return
		}
		var data []any
		for _, m := range b.models() {
			data = append(data, groqModelJSON(m))
		}
		oaiWriteJSON(w, map[string]any{"object": "list", "data": data})
		return
	case path == groqPrefix+"/chat/completions":
	default:
		b.reject(s, w, http.StatusNotFound, "unknown_url", "", "Unknown request URL: %s %s. Please check the URL for typos, or see the docs at https://console.groq.com/docs/", r.Method, path)
		return
	}
	if r.Method != http.MethodPost {
		b.reject(s, w, http.StatusMethodNotAllowed, "method_not_allowed", "", "Method %s not allowed for %s", r.Method, path)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		b.reject(s, w, http.StatusBadRequest, "", "", "Content-Type must be application/json, got %q", r.Header.Get("Content-Type"))
		return
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		b.reject(s, w, http.StatusBadRequest, "", "", "failed to decode JSON body: %v", err)
		return
	}
	req, ok := v.(map[string]any)
	if !ok {
		b.reject(s, w, http.StatusBadRequest, "", "", "request body must be a JSON object, got %s", oaiKind(v))
		return
	}
	b.serveChat(s, w, r, f, key, req)
}

// groqChatFields are the fields of Groq's chat completion request (groq-python
// completion_create_params) with their JSON kinds. stream_options is not
// among them.
var groqChatFields = map[string]oaiFieldKind{
	"messages": oaiFieldArray, "model": oaiFieldString, "citation_options": oaiFieldString, "compound_custom": oaiFieldObject,
	"disable_tool_validation": oaiFieldBool, "documents": oaiFieldArray, "exclude_domains": oaiFieldArray, "frequency_penalty": oaiFieldNumber,
	"function_call": oaiFieldAny, "functions": oaiFieldArray, "include_domains": oaiFieldArray, "include_reasoning": oaiFieldBool,
	"logit_bias": oaiFieldObject, "logprobs": oaiFieldBool, "max_completion_tokens": oaiFieldInteger, "max_tokens": oaiFieldInteger,
	"metadata": oaiFieldObject, "n": oaiFieldInteger, "parallel_tool_calls": oaiFieldBool, "presence_penalty": oaiFieldNumber,
	"reasoning_effort": oaiFieldString, "reasoning_format": oaiFieldString, "response_format": oaiFieldObject, "search_settings": oaiFieldObject,
	"seed": oaiFieldInteger, "service_tier": oaiFieldString, "stop": oaiFieldAny, "store": oaiFieldBool, "stream": oaiFieldBool,
	"temperature": oaiFieldNumber, "tool_choice": oaiFieldAny, "tools": oaiFieldArray, "top_logprobs": oaiFieldInteger, "top_p": oaiFieldNumber,
	"user": oaiFieldString,
}

// groqSuggest names the known field an unknown one most likely meant: the
// longest known field the unknown one starts with, or the one sharing the
// longest prefix (at least 3 characters).
func groqSuggest(k string) string {
	best, bestN := "", 2
	for f := range groqChatFields {
		n := 0
		for n < len(f) && n < len(k) && f[n] == k[n] {
			n++
		}
		if n > bestN || (n == bestN && best != "" && f < best) {
			best, bestN = f, n
		}
	}
	return best
}

type groqChat struct {
	model     GroqModel
	cr        *oaiChatReq
	maxTokens int
}

// parse checks a chat request; it returns the HTTP status, code, param and
// message of the first violation.
func (b *GroqBackend) parse(req map[string]any) (*groqChat, *oaiErr) {
	keys := make([]string, 0, len(req))
	for k := range req {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fk, ok := groqChatFields[k]
		if !ok {
			msg := fmt.Sprintf("property '%s' is unsupported", k)
			if s := groqSuggest(k); s != "" {
				msg += fmt.Sprintf(", did you mean '%s'?", s)
			}
			return nil, &oaiErr{status: http.StatusBadRequest, msg: msg}
		}
		if e := oaiCheckKind(k, req[k], fk); e != nil {
			return nil, e
		}
	}
	id, e := oaiRequireModel(req)
	if e != nil {
		return nil, e
	}
	m, ok := b.model(id)
	if !ok || !m.Active {
		return nil, &oaiErr{status: http.StatusNotFound, code: "model_not_found", msg: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", id)}
	}
	if !m.Chat {
		return nil, &oaiErr{status: http.StatusBadRequest, code: "model_not_supported", param: "model", msg: fmt.Sprintf("The model `%s` does not support chat completions", id)}
	}
	if n, ok := req["n"].(float64); ok && n != 1 {
		return nil, oaiBad("n", "'n' : number must be at most 1")
	}
	for _, k := range []string{"logprobs", "logit_bias", "top_logprobs"} {
		if v, ok := req[k]; ok && v != nil && v != false {
			return nil, oaiBad(k, "%s is not supported with this model", k)
		}
	}
	// Messages, tools, tool_choice, ranges and stop: the OpenAI rules, with
	// stream_options already refused above.
	common := make(map[string]any, len(req))
	for k, v := range req {
		if _, ok := oaiChatFields[k]; ok {
			common[k] = v
		}
	}
	cr, e := oaiParseChat(common)
	if e != nil {
		return nil, e
	}
	if stop, ok := req["stop"].([]any); ok && len(stop) > 4 {
		return nil, oaiBad("stop", "'stop' : maximum number of items is 4")
	}
	images := 0
	for _, msg := range cr.msgs {
		images += msg.images
	}
	if images > 0 && !m.Vision {
		return nil, oaiBad("messages", "messages[0].content must be a string")
	}
	if images > 5 {
		return nil, oaiBad("messages", "Too many images provided. This model supports up to 5 images")
	}
	if len(cr.tools) > 0 && !m.Tools {
		return nil, oaiBad("tools", "tools are not supported with model `%s`", id)
	}
	if len(cr.tools) > 128 {
		return nil, oaiBad("tools", "'tools' : maximum number of items is 128")
	}
	if cr.maxTokens > m.MaxCompletionTokens {
		return nil, oaiBad("max_completion_tokens", "`max_completion_tokens` must be less than or equal to `%d`, the maximum value for `max_completion_tokens` for this model", m.MaxCompletionTokens)
	}
	return &groqChat{model: m, cr: cr, maxTokens: cr.maxTokens}, nil
}

func groqUsage(in, out int) map[string]any {
	return map[string]any{
		"queue_time": 0.0125, "prompt_tokens": in, "prompt_time": 0.002 * float64(in), "completion_tokens": out,
		"completion_time": 0.004 * float64(out), "total_tokens": in + out, "total_time": 0.0125 + 0.002*float64(in) + 0.004*float64(out),
	}
}

func (b *GroqBackend) serveChat(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, key string, req map[string]any) {
	gc, e := b.parse(req)
	if e != nil {
		b.rejectOAI(s, w, e)
		return
	}
	cr := gc.cr
	a := b.answers.answer("", cr.msgs, cr.tools, cr.choice, gc.maxTokens)
	if !b.admit(w, key, a.in+a.out) {
		b.WriteError(w, http.StatusTooManyRequests, fmt.Sprintf("Rate limit reached for model `%s` in organization `org_sim` service tier `on_demand` on requests per day (RPD). Please try again in %ss.", gc.model.ID, w.Header().Get("Retry-After")))
		return
	}
	var lastUser string
	for i := len(cr.msgs) - 1; i >= 0; i-- {
		if cr.msgs[i].role == "user" {
			lastUser = cr.msgs[i].text
			break
		}
	}
	if len(a.calls) > 0 && oaiMentions(lastUser, "malformed") {
		c := a.calls[0]
		s.Invalid(&groqErr{ResponseWriter: w, typ: "invalid_request_error", code: "tool_use_failed",
			extra: map[string]any{"failed_generation": fmt.Sprintf("<function=%s>%s", c.name, strings.TrimSuffix(c.args, "}"))}},
			http.StatusBadRequest, "Failed to call a function. Please adjust your prompt. See 'failed_generation' for more details.")
		return
	}
	id := fmt.Sprintf("chatcmpl-sim%08d", b.seq.Add(1))
	xid := fmt.Sprintf("req_sim%08d", b.seq.Add(1))
	created := time.Now().Unix()
	var calls []oaiWireToolCall
	for _, c := range a.calls {
		calls = append(calls, oaiWireToolCall{ID: c.id, Type: "function", Function: oaiWireFunction{Name: c.name, Arguments: c.args}})
	}
	if !cr.stream {
		msg := map[string]any{"role": "assistant"}
		if len(calls) > 0 {
			msg["tool_calls"] = calls
		} else {
			msg["content"] = a.text
		}
		s.AddUsage(a.in, a.out)
		oaiWriteJSON(w, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": gc.model.ID,
			"choices":            []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": a.finish}},
			"usage":              groqUsage(a.in, a.out),
			"usage_breakdown":    nil,
			"system_fingerprint": "fp_sim", "x_groq": map[string]any{"id": xid}, "service_tier": "on_demand",
		})
		return
	}
	sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	chunk := func(delta map[string]any, finish any, xg map[string]any) {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": gc.model.ID,
			"system_fingerprint": "fp_sim", "choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}}
		if xg != nil {
			c["x_groq"] = xg
		}
		data, _ := json.Marshal(c)
		sse.Send("", string(data))
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil, map[string]any{"id": xid})
	if len(calls) > 0 {
		for i, c := range calls {
			idx := i
			c.Index = &idx
			chunk(map[string]any{"tool_calls": []oaiWireToolCall{c}}, nil, nil)
		}
	} else {
		for _, p := range oaiPieces(a.text, b.ChunkWords) {
			chunk(map[string]any{"content": p}, nil, nil)
		}
	}
	chunk(map[string]any{}, a.finish, map[string]any{"id": xid, "usage": groqUsage(a.in, a.out)})
	if sse.delivers() {
		s.AddUsage(a.in, a.out)
	}
	sse.Send("", "[DONE]")
}

// admit charges a request and tokens to key's budgets, which replenish
// continuously (requests over a day, tokens over a minute), sets the
// x-ratelimit-* headers, and reports whether the key was within budget
// (always true unless EnforceRateLimit).
func (b *GroqBackend) admit(w http.ResponseWriter, key string, tokens int) bool {
	reqLimit, tokLimit := b.RequestsPerDay, b.TokensPerMinute
	if reqLimit <= 0 {
		reqLimit = 14400
	}
	if tokLimit <= 0 {
		tokLimit = 1000000
	}
	perReq := 24 * time.Hour / time.Duration(reqLimit) // time to replenish one request
	perTok := float64(time.Minute) / float64(tokLimit) // nanoseconds to replenish one token
	now := time.Now()
	b.mu.Lock()
	if b.windows == nil {
		b.windows = map[string]*groqWindow{}
	}
	win := b.windows[key]
	if win == nil {
		win = &groqWindow{at: now}
		b.windows[key] = win
	}
	el := float64(now.Sub(win.at))
	win.reqs = math.Max(0, win.reqs-el/float64(perReq))
	win.toks = math.Max(0, win.toks-el/perTok)
	win.at = now
	over := win.reqs+1 > float64(reqLimit) || win.toks+float64(tokens) > float64(tokLimit)
	if !over || !b.EnforceRateLimit {
		win.reqs++
		win.toks += float64(tokens)
	}
	remReq := max(reqLimit-int(math.Ceil(win.reqs)), 0)
	remTok := max(tokLimit-int(math.Ceil(win.toks)), 0)
	resetReq := time.Duration(win.reqs * float64(perReq)).Round(10 * time.Millisecond)
	resetTok := time.Duration(win.toks * perTok).Round(10 * time.Millisecond)
	wait := time.Duration((win.reqs + 1 - float64(reqLimit)) * float64(perReq))
	if t := time.Duration((win.toks + float64(tokens) - float64(tokLimit)) * perTok); t > wait {
		wait = t
	}
	b.mu.Unlock()
	return setRateLimitHeaders(w.Header(), reqLimit, tokLimit, remReq, remTok, resetReq, resetTok, over && b.EnforceRateLimit, wait)
}
