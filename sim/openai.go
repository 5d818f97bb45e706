package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// OpenAIBackend simulates the OpenAI API (chat completions, embeddings, the
// Responses API, the legacy completions API and the model list) under /v1, so the adapter's base URL is
// Server.URL+"/v1". It checks requests as strictly as the real service:
// method, path, "Authorization: Bearer", Content-Type, unknown body fields,
// field types and ranges, message roles and content shapes, tool-call
// pairing, image data URLs, embedding inputs, Responses API items, tools and
// previous_response_id; completions refuse chat and embedding models (404,
// as the service does) and default max_tokens to 16, as it does. Malformed requests get a 400 with OpenAI's error body
// and count as Server.InvalidCalls.
//
// Answers are deterministic: "echo: " and the last user text (with "[n
// image(s)]" when it carried images), a tool call when the request has tools
// and tool_choice requires one or the last user message mentions "weather",
// "The tool returned: …" after tool results, and hash-seeded unit vectors for
// embeddings. Usage counts sim.Words of the prompt and the answer and is
// reported once per completed answer (for streams, only when the stream
// finished). Answers carry x-ratelimit-* headers from a per-key minute window.
//
// It keeps what the stateful APIs store, per organisation (Organisations,
// WithOrganisations): stored responses (retrieve, delete, input items,
// cancel of a background response, streaming a background stream again
// after a sequence number) and conversations with their items. A key sees
// only its organisation's objects; another organisation's are answered 404
// with OpenAI's error body, like unknown ones. A background response
// created without a stream is "queued", then "in_progress", then finished
// as it is retrieved (BackgroundPolls). Lists are paged (limit 1..100,
// default 20; order asc or desc, default desc; after an item ID).
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type OpenAIBackend struct {
	// EmbeddingDimensions is the vector length when a request sets no
	// dimensions (default 8).
	EmbeddingDimensions int
	// ChunkWords is how many words each streamed text chunk carries
	// (default 3).
	ChunkWords int
	// RequestLimit and TokenLimit are the per-key, per-minute budgets the
	// x-ratelimit-* headers report (defaults 10000 requests, 1000000 tokens).
	RequestLimit, TokenLimit int
	// EnforceRateLimit answers 429 rate_limit_exceeded, with Retry-After,
	// once a key has spent its minute's budget. Off by default: the headers
	// only report.
	EnforceRateLimit bool
	// ReverseEmbeddings lists embedding data in reverse index order. The
	// real service keeps input order, but clients must sort by index.
	ReverseEmbeddings bool

	// Organisations maps an API key to its organisation and project (any
	// string, e.g. "org-a/proj-1"). Stored responses, conversations and
	// their items belong to the organisation of the key that created them;
	// a key of another organisation gets 404 for them, as from the real
	// service. A key not in the map is its own organisation. Nil: every key
	// is its own organisation. Set it before Start (or use
	// WithOrganisations); it is read, never written, while serving.
	Organisations map[string]string
	// BackgroundPolls is how many retrieves a background response created
	// without a stream takes to finish: it is "queued" when created,
	// "in_progress" from the first retrieve and "completed" at the
	// BackgroundPolls-th (default 2; 1 completes it at the first retrieve).
	// Negative: it stays in progress until cancelled.
	BackgroundPolls int

	seq atomic.Int64

	mu      sync.Mutex
	windows map[string]*oaiRateWindow
	store   oaiStore
}

// OpenAI returns a simulator of the OpenAI API with default settings.
func OpenAI() *OpenAIBackend { return &OpenAIBackend{} }

// WithOrganisations groups the OpenAI simulator's keys into organisations:
// orgs maps a key to its organisation and project (e.g. "org-a/proj-1");
// a key not in the map is its own organisation. Objects stored with one
// organisation's key are invisible (404) to every other organisation. It
// sets OpenAIBackend.Organisations (a copy of orgs) and does nothing for
// other backends.
func WithOrganisations(orgs map[string]string) Option {
	return func(s *Server) {
		if b, ok := s.backend.(*OpenAIBackend); ok {
			b.Organisations = maps.Clone(orgs)
		}
	}
}

// Organisation returns the organisation key belongs to: its entry in
// Organisations, else the key itself.
func (b *OpenAIBackend) Organisation(key string) string {
	if org, ok := b.Organisations[key]; ok {
		return org
	}
	return key
}

// Bounds of what the simulator stores; the oldest objects are forgotten
// first, like respOrder always did.
const (
	oaiMaxStoredResponses = 4096
	oaiMaxConversations   = 4096
	oaiMaxConvItems       = 4096
)

type oaiRateWindow struct {
	start          time.Time
	requests, toks int
}

// Name returns "openai".
func (*OpenAIBackend) Name() string { return "openai" }

// Key returns the key of an "Authorization: Bearer <key>" header, "" if the
// header is missing or uses another scheme.
func (*OpenAIBackend) Key(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if !strings.HasPrefix(h, "Bearer ") {
		return ""
	}
	return strings.TrimSpace(h[len("Bearer "):])
}

// oaiParamWriter carries the offending parameter from a validator through
// Server.Invalid to WriteError.
type oaiParamWriter struct {
	http.ResponseWriter
	param string
	code  string
}

// WriteError writes OpenAI's error body {"error":{"message","type","param",
// "code"}} for status: 429 type "requests" code "rate_limit_exceeded", 401
// code "invalid_api_key", 5xx type "server_error" (503 code
// "server_is_overloaded"), other 4xx type "invalid_request_error".
func (*OpenAIBackend) WriteError(w http.ResponseWriter, status int, message string) {
	typ, code := "invalid_request_error", ""
	var param string
	if pw, ok := w.(*oaiParamWriter); ok {
		param, code = pw.param, pw.code
		w = pw.ResponseWriter
	}
	generic := message == "" || message == http.StatusText(status)
	switch {
	case status == http.StatusUnauthorized:
		code = "invalid_api_key"
		if generic || message == "invalid API key" {
			message = "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys."
		}
	case status == http.StatusTooManyRequests:
		typ = "requests"
		if code == "" {
			code = "rate_limit_exceeded"
		}
		if generic {
			message = "Rate limit reached for requests"
		}
	case status == http.StatusServiceUnavailable:
		typ, code = "server_error", "server_is_overloaded"
		if generic {
			message = "The server is overloaded or not ready yet."
		}
	case status >= 500:
		typ = "server_error"
		if generic {
			message = "The server had an error while processing your request. Sorry about that!"
		}
	}
	e := map[string]any{"message": message, "type": typ, "param": nil, "code": nil}
	if param != "" {
		e["param"] = param
	}
	if code != "" {
		e["code"] = code
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// oaiErr is a request the simulator rejects.
type oaiErr struct {
	status int
	param  string
	code   string
	msg    string
}

func oaiBad(param, format string, args ...any) *oaiErr {
	return &oaiErr{status: http.StatusBadRequest, param: param, msg: fmt.Sprintf(format, args...)}
}

func (b *OpenAIBackend) reject(s *Server, w http.ResponseWriter, e *oaiErr) {
	s.Invalid(&oaiParamWriter{ResponseWriter: w, param: e.param, code: e.code}, e.status, e.msg)
}

// Serve routes /v1/chat/completions, /v1/completions, /v1/embeddings,
// /v1/responses (POST), /v1/models (GET), and the stateful routes: a
// stored response's lifecycle (/v1/responses/{id}, …/cancel,
// …/input_items, /v1/responses/input_tokens) and the Conversations API
// (/v1/conversations…).
func (b *OpenAIBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	if w.Header().Get("X-Request-Id") == "" {
		w.Header().Set("X-Request-Id", fmt.Sprintf("req_sim%08d", b.seq.Add(1)))
	}
	w.Header().Set("Openai-Version", "2020-10-01")
	path := r.URL.Path
	if oaiStatefulRoute(path) {
		b.serveStateful(s, w, r, body, f)
		return
	}
	switch path {
	case "/v1/models":
		if r.Method != http.MethodGet {
			b.reject(s, w, &oaiErr{status: http.StatusMethodNotAllowed, msg: fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, path)})
			return
		}
		b.serveModels(w)
		return
	case "/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses":
	default:
		b.reject(s, w, &oaiErr{status: http.StatusNotFound, msg: fmt.Sprintf("Invalid URL (%s %s)", r.Method, path)})
		return
	}
	if r.Method != http.MethodPost {
		b.reject(s, w, &oaiErr{status: http.StatusMethodNotAllowed, msg: fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, path)})
		return
	}
	req, e := oaiJSONBody(r, body)
	if e != nil {
		b.reject(s, w, e)
		return
	}
	key := b.Key(r)
	switch path {
	case "/v1/chat/completions":
		b.serveChat(s, w, r, f, key, req)
	case "/v1/completions":
		b.serveCompletions(s, w, r, f, key, req)
	case "/v1/embeddings":
		b.serveEmbeddings(s, w, key, req)
	case "/v1/responses":
		b.serveResponses(s, w, r, f, key, req)
	}
}

func (b *OpenAIBackend) serveModels(w http.ResponseWriter) {
	var data []any
	for _, id := range []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "gpt-3.5-turbo-instruct", "text-embedding-3-small", "text-embedding-3-large"} {
		data = append(data, map[string]any{"id": id, "object": "model", "created": 1715367049, "owned_by": "system"})
	}
	oaiWriteJSON(w, map[string]any{"object": "list", "data": data})
}

func oaiWriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// ---- rate limits ----

// admit charges one request and tokens to key's minute window, sets the
// x-ratelimit-* headers, and reports whether the key was within budget.
func (b *OpenAIBackend) admit(w http.ResponseWriter, key string, tokens int) bool {
	reqLimit, tokLimit := b.RequestLimit, b.TokenLimit
	if reqLimit <= 0 {
		reqLimit = 10000
	}
	if tokLimit <= 0 {
		tokLimit = 1000000
	}
	now := time.Now()
	b.mu.Lock()
	if b.windows == nil {
		b.windows = map[string]*oaiRateWindow{}
	}
	win := b.windows[key]
	if win == nil || now.Sub(win.start) >= time.Minute {
		win = &oaiRateWindow{start: now}
		b.windows[key] = win
	}
	over := win.requests >= reqLimit || win.toks+tokens > tokLimit
	if !over || !b.EnforceRateLimit {
		win.requests++
		win.toks += tokens
	}
	remReq, remTok := max(reqLimit-win.requests, 0), max(tokLimit-win.toks, 0)
	reset := (time.Minute - now.Sub(win.start)).Round(time.Millisecond)
	b.mu.Unlock()
	return setRateLimitHeaders(w.Header(), reqLimit, tokLimit, remReq, remTok, reset, reset, over && b.EnforceRateLimit, reset)
}

func (b *OpenAIBackend) rateLimited(w http.ResponseWriter) {
	b.WriteError(w, http.StatusTooManyRequests, "Rate limit reached for requests on this key. Please try again later.")
}

// ---- JSON checks ----

// oaiKind describes a decoded JSON value the way OpenAI's messages do.
func oaiKind(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case float64:
		if x == math.Trunc(x) {
			return "an integer"
		}
		return "a decimal"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return "an unknown type"
}

type oaiFieldKind int

const (
	oaiFieldAny oaiFieldKind = iota
	oaiFieldString
	oaiFieldNumber
	oaiFieldInteger
	oaiFieldBool
	oaiFieldObject
	oaiFieldArray
)

var oaiKindNames = map[oaiFieldKind]string{oaiFieldString: "a string", oaiFieldNumber: "a decimal", oaiFieldInteger: "an integer", oaiFieldBool: "a boolean", oaiFieldObject: "an object", oaiFieldArray: "an array"}

func oaiWrongType(param string, want string, v any) *oaiErr {
	return oaiBad(param, "Invalid type for '%s': expected %s, but got %s instead.", param, want, oaiKind(v))
}

// oaiCheckKind checks v against k; null passes (it means "default").
func oaiCheckKind(param string, v any, k oaiFieldKind) *oaiErr {
	if v == nil || k == oaiFieldAny {
		return nil
	}
	ok := false
	switch k {
	case oaiFieldString:
		_, ok = v.(string)
	case oaiFieldNumber:
		_, ok = v.(float64)
	case oaiFieldInteger:
		f, isNum := v.(float64)
		ok = isNum && f == math.Trunc(f) && !math.IsInf(f, 0)
	case oaiFieldBool:
		_, ok = v.(bool)
	case oaiFieldObject:
		_, ok = v.(map[string]any)
	case oaiFieldArray:
		_, ok = v.([]any)
	}
	if !ok {
		return oaiWrongType(param, oaiKindNames[k], v)
	}
	return nil
}

// oaiCheckFields rejects unknown fields of a request body and fields of the
// wrong JSON type.
func oaiCheckFields(req map[string]any, fields map[string]oaiFieldKind) *oaiErr {
	keys := make([]string, 0, len(req))
	for k := range req {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fk, ok := fields[k]
		if !ok {
			return oaiBad(k, "Unrecognized request argument supplied: %s", k)
		}
		if e := oaiCheckKind(k, req[k], fk); e != nil {
			return e
		}
	}
	return nil
}

// oaiCheckProps rejects unknown properties of a nested object.
func oaiCheckProps(o map[string]any, param string, allowed ...string) *oaiErr {
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return oaiBad(param, "Additional properties are not allowed ('%s' was unexpected) - '%s'", k, param)
		}
	}
	return nil
}

func oaiCheckRange(req map[string]any, key string, lo, hi float64) *oaiErr {
	f, ok := req[key].(float64)
	if !ok {
		return nil
	}
	if f < lo {
		return oaiBad(key, "Invalid '%s': decimal below minimum value. Expected a value >= %g, but got %g instead.", key, lo, f)
	}
	if f > hi {
		return oaiBad(key, "Invalid '%s': decimal above maximum value. Expected a value <= %g, but got %g instead.", key, hi, f)
	}
	return nil
}

func oaiCheckMinInt(req map[string]any, key string, lo int) (int, *oaiErr) {
	f, ok := req[key].(float64)
	if !ok {
		return 0, nil
	}
	if f < float64(lo) {
		return 0, oaiBad(key, "Invalid '%s': integer below minimum value. Expected a value >= %d, but got %d instead.", key, lo, int64(f))
	}
	if f > 1<<31 {
		return 1 << 31, nil
	}
	return int(f), nil
}

// oaiCheckChoices reads n, the number of choices: 1 to 128 (0: not given).
func oaiCheckChoices(req map[string]any) (int, *oaiErr) {
	n, e := oaiCheckMinInt(req, "n", 1)
	if e == nil && n > 128 {
		return 0, oaiBad("n", "Invalid 'n': integer above maximum value. Expected a value <= 128, but got %d instead.", n)
	}
	return n, e
}

func oaiRequireModel(req map[string]any) (string, *oaiErr) {
	v, ok := req["model"]
	if !ok || v == nil {
		return "", oaiBad("", "you must provide a model parameter")
	}
	m, ok := v.(string)
	if !ok {
		return "", oaiWrongType("model", "a string", v)
	}
	if m == "" {
		return "", oaiBad("model", "Invalid 'model': empty string. Expected a string with minimum length 1, but got an empty string instead.")
	}
	return m, nil
}

var oaiToolNameRE = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)

// oaiCheckImageURL accepts http(s) URLs and base64 data: URLs of PNG, JPEG, GIF
// or WebP images whose bytes are what they claim.
func oaiCheckImageURL(param, u string) *oaiErr {
	if strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://") {
		return nil
	}
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return &oaiErr{status: http.StatusBadRequest, param: param, code: "invalid_image_url",
			msg: fmt.Sprintf("Invalid '%s'. Expected a valid URL, but got a value with an invalid format.", param)}
	}
	mt, data, ok := strings.Cut(rest, ";base64,")
	allowed := []string{"image/png", "image/jpeg", "image/gif", "image/webp"}
	if !ok || !slices.Contains(allowed, mt) {
		return &oaiErr{status: http.StatusBadRequest, param: param, code: "invalid_image_format",
			msg: fmt.Sprintf("Invalid '%s'. Expected a base64-encoded data URL with an image MIME type (e.g. 'data:image/png;base64,aW1nIGJ5dGVzIGhlcmU='), but got unsupported MIME type '%s'.", param, mt)}
	}
	raw, err := base64.StdEncoding.DecodeString(data)
	if err != nil || http.DetectContentType(raw) != mt {
		return &oaiErr{status: http.StatusBadRequest, param: param, code: "invalid_image_format",
			msg: "You uploaded an unsupported image. Please make sure your image is below 20 MB in size and is of one the following formats: ['png', 'jpeg', 'gif', 'webp']."}
	}
	return nil
}

// ---- the conversation, as the simulator understands it ----

type oaiMsg struct {
	role       string
	text       string
	images     int
	toolCalls  []string // call IDs an assistant turn made
	toolCallID string   // for tool results
}

type oaiTool struct {
	name   string
	params map[string]any
}

type oaiCall struct {
	id, name, args string
}

type oaiAnswer struct {
	text     string
	calls    []oaiCall
	finish   string // stop, length, tool_calls
	in, out  int
	truncate bool
}

// answer computes the deterministic reply to a conversation.
func (b *OpenAIBackend) answer(prefix string, msgs []oaiMsg, tools []oaiTool, choice string, maxTokens int) oaiAnswer {
	a := oaiAnswer{in: oaiPromptWords(prefix, msgs), finish: "stop"}
	var last *oaiMsg
	if len(msgs) > 0 {
		last = &msgs[len(msgs)-1]
	}
	var lastUser *oaiMsg
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].role == "user" {
			lastUser = &msgs[i]
			break
		}
	}
	switch {
	case last != nil && last.role == "tool":
		var outs []string
		for i := len(msgs) - 1; i >= 0 && msgs[i].role == "tool"; i-- {
			outs = append([]string{msgs[i].text}, outs...)
		}
		a.text = "The tool returned: " + strings.Join(outs, "; ")
	case last != nil && last.role == "user" && len(tools) > 0 && choice != "none" &&
		(choice == "required" || (choice != "auto" && choice != "") || oaiMentions(last.text, "weather")):
		t := tools[0]
		for _, tt := range tools {
			if tt.name == choice || (choice == "" || choice == "auto" || choice == "required") && strings.Contains(strings.ToLower(tt.name), "weather") {
				t = tt
				break
			}
		}
		c := oaiCall{id: fmt.Sprintf("call_sim%06d", b.seq.Add(1)), name: t.name, args: oaiToolArgs(t.params, last.text)}
		a.calls = []oaiCall{c}
		a.finish = "tool_calls"
		a.out = 1 + Words(strings.NewReplacer(",", " ", ":", " ").Replace(c.args))
		return a
	case lastUser != nil:
		a.text = "echo: " + lastUser.text
		if lastUser.images == 1 {
			a.text += " [1 image]"
		} else if lastUser.images > 1 {
			a.text += fmt.Sprintf(" [%d images]", lastUser.images)
		}
	default:
		a.text = "Hello from the Switchyard simulator."
	}
	if maxTokens > 0 && Words(a.text) > maxTokens {
		a.text = strings.Join(strings.Fields(a.text)[:maxTokens], " ")
		a.finish = "length"
		a.truncate = true
	}
	a.out = Words(a.text)
	return a
}

// oaiPromptWords counts the prompt's tokens: the words of prefix (the
// instructions) and of every turn.
func oaiPromptWords(prefix string, msgs []oaiMsg) int {
	var prompt strings.Builder
	prompt.WriteString(prefix)
	for _, m := range msgs {
		prompt.WriteString("\n")
		prompt.WriteString(m.text)
	}
	return Words(prompt.String())
}

func oaiMentions(text, word string) bool {
	return strings.Contains(strings.ToLower(text), word)
}

// oaiToolArgs fills a tool's parameters from the user's text: string properties
// get the last capitalised word (else the last word), numbers 1, booleans
// true, enums their first value.
func oaiToolArgs(params map[string]any, text string) string {
	props, _ := params["properties"].(map[string]any)
	args := map[string]any{}
	word := ""
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		if word == "" || unicode.IsUpper([]rune(f)[0]) {
			word = f
		}
	}
	if word == "" {
		word = "unknown"
	}
	for name, p := range props {
		ps, _ := p.(map[string]any)
		if enum, ok := ps["enum"].([]any); ok && len(enum) > 0 {
			args[name] = enum[0]
			continue
		}
		switch ps["type"] {
		case "string":
			args[name] = word
		case "integer", "number":
			args[name] = 1
		case "boolean":
			args[name] = true
		case "array":
			args[name] = []any{}
		case "object":
			args[name] = map[string]any{}
		}
	}
	out, _ := json.Marshal(args)
	return string(out)
}

// oaiPieces splits text into chunks of n words whose concatenation is text.
func oaiPieces(text string, n int) []string {
	if n <= 0 {
		n = 3
	}
	words := strings.SplitAfter(text, " ")
	var out []string
	for i := 0; i < len(words); i += n {
		out = append(out, strings.Join(words[i:min(i+n, len(words))], ""))
	}
	return out
}

// oaiRunePieces splits s into chunks of at most n runes.
func oaiRunePieces(s string, n int) []string {
	r := []rune(s)
	var out []string
	for i := 0; i < len(r); i += n {
		out = append(out, string(r[i:min(i+n, len(r))]))
	}
	return out
}

// oaiCountingSSE counts the events sent so that a backend can report usage just
// before the terminal event, exactly when that event will be written (no cut
// or stall due at it). Counting before the write means a client that has read
// the terminator always sees the usage counted.
type oaiCountingSSE struct {
	*SSE
	f *Fault
	n int
}

func (c *oaiCountingSSE) Send(event, data string) {
	c.SSE.Send(event, data)
	c.n++
}

func (c *oaiCountingSSE) delivers() bool {
	if c.f == nil {
		return true
	}
	return !(c.f.CutAfter > 0 && c.n >= c.f.CutAfter) && !(c.f.StallAfter > 0 && c.n >= c.f.StallAfter)
}

// ---- chat completions ----

var oaiChatFields = map[string]oaiFieldKind{
	"model": oaiFieldString, "messages": oaiFieldArray, "audio": oaiFieldObject, "frequency_penalty": oaiFieldNumber, "function_call": oaiFieldAny,
	"functions": oaiFieldArray, "logit_bias": oaiFieldObject, "logprobs": oaiFieldBool, "max_completion_tokens": oaiFieldInteger, "max_tokens": oaiFieldInteger,
	"metadata": oaiFieldObject, "modalities": oaiFieldArray, "moderation": oaiFieldAny, "n": oaiFieldInteger, "parallel_tool_calls": oaiFieldBool,
	"prediction": oaiFieldObject, "presence_penalty": oaiFieldNumber, "prompt_cache_key": oaiFieldString, "prompt_cache_options": oaiFieldObject,
	"prompt_cache_retention": oaiFieldString, "reasoning_effort": oaiFieldString, "response_format": oaiFieldObject, "safety_identifier": oaiFieldString,
	"seed": oaiFieldInteger, "service_tier": oaiFieldString, "stop": oaiFieldAny, "store": oaiFieldBool, "stream": oaiFieldBool, "stream_options": oaiFieldObject,
	"temperature": oaiFieldNumber, "tool_choice": oaiFieldAny, "tools": oaiFieldArray, "top_logprobs": oaiFieldInteger, "top_p": oaiFieldNumber,
	"user": oaiFieldString, "verbosity": oaiFieldString, "web_search_options": oaiFieldObject,
}

type oaiChatReq struct {
	model        string
	msgs         []oaiMsg
	tools        []oaiTool
	choice       string
	n            int
	maxTokens    int
	stream       bool
	includeUsage bool
}

// oaiTextContent reads string-or-array content parts; allowed lists the part
// types accepted.
func oaiTextContent(param string, v any, required bool, allowed ...string) (string, int, *oaiErr) {
	switch c := v.(type) {
	case nil:
		if required {
			return "", 0, oaiBad(param, "Missing required parameter: '%s'.", param)
		}
		return "", 0, nil
	case string:
		return c, 0, nil
	case []any:
		if len(c) == 0 {
			return "", 0, oaiBad(param, "Invalid '%s': empty array. Expected an array with minimum length 1, but got an empty array instead.", param)
		}
		var b strings.Builder
		images := 0
		for j, p := range c {
			pp := fmt.Sprintf("%s[%d]", param, j)
			po, ok := p.(map[string]any)
			if !ok {
				return "", 0, oaiWrongType(pp, "an object", p)
			}
			typ, _ := po["type"].(string)
			if !slices.Contains(allowed, typ) {
				return "", 0, oaiBad(pp+".type", "Invalid value: '%v'. Supported values are: '%s'.", po["type"], strings.Join(allowed, "', '"))
			}
			switch typ {
			case "text", "input_text", "output_text":
				t, ok := po["text"].(string)
				if !ok {
					return "", 0, oaiBad(pp+".text", "Missing required parameter: '%s.text'.", pp)
				}
				if b.Len() > 0 {
					b.WriteString(" ")
				}
				b.WriteString(t)
			case "refusal":
				if _, ok := po["refusal"].(string); !ok {
					return "", 0, oaiBad(pp+".refusal", "Missing required parameter: '%s.refusal'.", pp)
				}
			case "image_url":
				iu, ok := po["image_url"].(map[string]any)
				if !ok {
					return "", 0, oaiBad(pp+".image_url", "Missing required parameter: '%s.image_url'.", pp)
				}
				if e := oaiCheckProps(iu, pp+".image_url", "url", "detail"); e != nil {
					return "", 0, e
				}
				u, ok := iu["url"].(string)
				if !ok {
					return "", 0, oaiBad(pp+".image_url.url", "Missing required parameter: '%s.image_url.url'.", pp)
				}
				if d, ok := iu["detail"]; ok && d != "auto" && d != "low" && d != "high" {
					return "", 0, oaiBad(pp+".image_url.detail", "Invalid value: '%v'. Supported values are: 'auto', 'low', and 'high'.", d)
				}
				if e := oaiCheckImageURL(pp+".image_url.url", u); e != nil {
					return "", 0, e
				}
				images++
			case "input_image":
				u, hasURL := po["image_url"].(string)
				_, hasFile := po["file_id"].(string)
				if !hasURL && !hasFile {
					return "", 0, oaiBad(pp, "Invalid '%s': one of 'image_url' or 'file_id' must be provided.", pp)
				}
				if d, ok := po["detail"]; ok && d != "auto" && d != "low" && d != "high" {
					return "", 0, oaiBad(pp+".detail", "Invalid value: '%v'. Supported values are: 'auto', 'low', and 'high'.", d)
				}
				if hasURL {
					if e := oaiCheckImageURL(pp+".image_url", u); e != nil {
						return "", 0, e
					}
				}
				images++
			case "input_audio":
				ia, _ := po["input_audio"].(map[string]any)
				if _, ok := ia["data"].(string); !ok {
					return "", 0, oaiBad(pp+".input_audio.data", "Missing required parameter: '%s.input_audio.data'.", pp)
				}
			}
		}
		return b.String(), images, nil
	}
	return "", 0, oaiWrongType(param, "a string or an array of objects", v)
}

// oaiParseMessages validates chat completion messages.
func oaiParseMessages(v any) ([]oaiMsg, *oaiErr) {
	arr, ok := v.([]any)
	if v == nil {
		return nil, oaiBad("messages", "Missing required parameter: 'messages'.")
	}
	if !ok {
		return nil, oaiWrongType("messages", "an array of objects", v)
	}
	if len(arr) == 0 {
		return nil, oaiBad("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	msgs := make([]oaiMsg, 0, len(arr))
	pending := map[string]int{} // tool call ID → index of the assistant message awaiting its result
	for i, raw := range arr {
		p := fmt.Sprintf("messages[%d]", i)
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, oaiWrongType(p, "an object", raw)
		}
		rv, ok := m["role"]
		if !ok {
			return nil, oaiBad(p+".role", "Missing required parameter: '%s.role'.", p)
		}
		role, _ := rv.(string)
		sm := oaiMsg{role: role}
		var e *oaiErr
		if role != "tool" && len(pending) > 0 {
			return nil, oaiUnanswered(pending)
		}
		switch role {
		case "system", "developer":
			if e = oaiCheckProps(m, p, "role", "content", "name"); e == nil {
				sm.text, _, e = oaiTextContent(p+".content", m["content"], true, "text")
			}
		case "user":
			if e = oaiCheckProps(m, p, "role", "content", "name"); e == nil {
				sm.text, sm.images, e = oaiTextContent(p+".content", m["content"], true, "text", "image_url", "input_audio", "file")
			}
		case "assistant":
			if e = oaiCheckProps(m, p, "role", "content", "name", "refusal", "tool_calls", "audio", "function_call"); e != nil {
				break
			}
			calls, hasCalls := m["tool_calls"]
			sm.text, _, e = oaiTextContent(p+".content", m["content"], !hasCalls || calls == nil, "text", "refusal")
			if e != nil || calls == nil {
				break
			}
			var ids []string
			ids, e = oaiParseToolCalls(p+".tool_calls", calls)
			sm.toolCalls = ids
			for _, id := range ids {
				pending[id] = i
			}
		case "tool":
			if e = oaiCheckProps(m, p, "role", "content", "tool_call_id"); e != nil {
				break
			}
			id, ok := m["tool_call_id"].(string)
			if !ok {
				e = oaiBad(p+".tool_call_id", "Missing required parameter: '%s.tool_call_id'.", p)
				break
			}
			if _, ok := pending[id]; !ok {
				e = oaiBad(p+".role", "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.")
				break
			}
			delete(pending, id)
			sm.toolCallID = id
			sm.text, _, e = oaiTextContent(p+".content", m["content"], true, "text")
		default:
			e = oaiBad(p+".role", "Invalid value: '%v'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", rv)
		}
		if e != nil {
			return nil, e
		}
		msgs = append(msgs, sm)
	}
	if len(pending) > 0 {
		return nil, oaiUnanswered(pending)
	}
	return msgs, nil
}

func oaiUnanswered(pending map[string]int) *oaiErr {
	ids := make([]string, 0, len(pending))
	at := math.MaxInt
	for id, i := range pending {
		ids = append(ids, id)
		at = min(at, i)
	}
	slices.Sort(ids)
	return oaiBad(fmt.Sprintf("messages.[%d].role", at), "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: %s", strings.Join(ids, ", "))
}

func oaiParseToolCalls(param string, v any) ([]string, *oaiErr) {
	arr, ok := v.([]any)
	if !ok {
		return nil, oaiWrongType(param, "an array of objects", v)
	}
	var ids []string
	for j, raw := range arr {
		p := fmt.Sprintf("%s[%d]", param, j)
		tc, ok := raw.(map[string]any)
		if !ok {
			return nil, oaiWrongType(p, "an object", raw)
		}
		if e := oaiCheckProps(tc, p, "id", "type", "function"); e != nil {
			return nil, e
		}
		id, ok := tc["id"].(string)
		if !ok || id == "" {
			return nil, oaiBad(p+".id", "Missing required parameter: '%s.id'.", p)
		}
		if tc["type"] != "function" {
			return nil, oaiBad(p+".type", "Invalid value: '%v'. Supported values are: 'function'.", tc["type"])
		}
		fn, ok := tc["function"].(map[string]any)
		if !ok {
			return nil, oaiBad(p+".function", "Missing required parameter: '%s.function'.", p)
		}
		if _, ok := fn["name"].(string); !ok {
			return nil, oaiBad(p+".function.name", "Missing required parameter: '%s.function.name'.", p)
		}
		args, has := fn["arguments"]
		if !has {
			return nil, oaiBad(p+".function.arguments", "Missing required parameter: '%s.function.arguments'.", p)
		}
		if _, ok := args.(string); !ok {
			return nil, oaiWrongType(p+".function.arguments", "a string", args)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// oaiParseFunctionParams checks a tool's parameters: a JSON Schema object.
func oaiParseFunctionParams(param string, v any) (map[string]any, *oaiErr) {
	if v == nil {
		return nil, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, oaiWrongType(param, "an object", v)
	}
	if t, ok := m["type"]; ok && t != "object" {
		return nil, &oaiErr{status: http.StatusBadRequest, param: param, code: "invalid_function_parameters",
			msg: fmt.Sprintf("Invalid schema for function: schema must be a JSON Schema of 'type: \"object\"', got 'type: \"%v\"'.", t)}
	}
	return m, nil
}

func oaiParseChatTools(v any) ([]oaiTool, *oaiErr) {
	if v == nil {
		return nil, nil
	}
	arr := v.([]any)
	if len(arr) == 0 {
		return nil, oaiBad("tools", "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}
	var tools []oaiTool
	for i, raw := range arr {
		p := fmt.Sprintf("tools[%d]", i)
		t, ok := raw.(map[string]any)
		if !ok {
			return nil, oaiWrongType(p, "an object", raw)
		}
		if e := oaiCheckProps(t, p, "type", "function", "custom"); e != nil {
			return nil, e
		}
		switch t["type"] {
		case "function":
		case "custom":
			continue
		default:
			return nil, oaiBad(p+".type", "Invalid value: '%v'. Supported values are: 'function' and 'custom'.", t["type"])
		}
		fn, ok := t["function"].(map[string]any)
		if !ok {
			return nil, oaiBad(p+".function", "Missing required parameter: '%s.function'.", p)
		}
		if e := oaiCheckProps(fn, p+".function", "name", "description", "parameters", "strict"); e != nil {
			return nil, e
		}
		name, _ := fn["name"].(string)
		if !oaiToolNameRE.MatchString(name) {
			return nil, oaiBad(p+".function.name", "Invalid '%s.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", p)
		}
		if d, ok := fn["description"]; ok && d != nil {
			if _, ok := d.(string); !ok {
				return nil, oaiWrongType(p+".function.description", "a string", d)
			}
		}
		params, e := oaiParseFunctionParams(p+".function.parameters", fn["parameters"])
		if e != nil {
			return nil, e
		}
		tools = append(tools, oaiTool{name: name, params: params})
	}
	return tools, nil
}

// oaiParseToolChoice reads "none", "auto", "required" or a named function, in
// the nested (chat) or flat (Responses) object form.
func oaiParseToolChoice(v any, tools []oaiTool, flat bool) (string, *oaiErr) {
	if v == nil {
		return "", nil
	}
	if len(tools) == 0 && !flat {
		return "", oaiBad("tool_choice", "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.")
	}
	switch c := v.(type) {
	case string:
		if c != "none" && c != "auto" && c != "required" {
			return "", oaiBad("tool_choice", "Invalid value: '%s'. Supported values are: 'none', 'auto', and 'required'.", c)
		}
		return c, nil
	case map[string]any:
		var name string
		if flat {
			if c["type"] != "function" {
				return "auto", nil // a hosted tool choice; the simulator answers in text
			}
			name, _ = c["name"].(string)
		} else {
			if c["type"] != "function" {
				return "", oaiBad("tool_choice.type", "Invalid value: '%v'. Supported values are: 'function'.", c["type"])
			}
			fn, _ := c["function"].(map[string]any)
			name, _ = fn["name"].(string)
		}
		if name == "" {
			return "", oaiBad("tool_choice", "Missing required parameter: 'tool_choice.name'.")
		}
		for _, t := range tools {
			if t.name == name {
				return name, nil
			}
		}
		return "", oaiBad("tool_choice", "Tool choice 'function' was specified with name '%s', but no tool with that name was provided.", name)
	}
	return "", oaiWrongType("tool_choice", "a string or an object", v)
}

func oaiCheckStream(req map[string]any) (stream, includeUsage bool, e *oaiErr) {
	stream, _ = req["stream"].(bool)
	so, has := req["stream_options"].(map[string]any)
	if !has {
		return stream, false, nil
	}
	if !stream {
		return false, false, oaiBad("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	}
	if e := oaiCheckProps(so, "stream_options", "include_usage", "include_obfuscation"); e != nil {
		return false, false, e
	}
	if v, ok := so["include_usage"]; ok {
		if e := oaiCheckKind("stream_options.include_usage", v, oaiFieldBool); e != nil {
			return false, false, e
		}
		includeUsage, _ = v.(bool)
	}
	return stream, includeUsage, nil
}

func oaiParseChat(req map[string]any) (*oaiChatReq, *oaiErr) {
	if e := oaiCheckFields(req, oaiChatFields); e != nil {
		return nil, e
	}
	cr := &oaiChatReq{n: 1}
	var e *oaiErr
	if cr.model, e = oaiRequireModel(req); e != nil {
		return nil, e
	}
	if cr.msgs, e = oaiParseMessages(req["messages"]); e != nil {
		return nil, e
	}
	if e = oaiCheckRange(req, "temperature", 0, 2); e != nil {
		return nil, e
	}
	if e = oaiCheckRange(req, "top_p", 0, 1); e != nil {
		return nil, e
	}
	if e = oaiCheckRange(req, "presence_penalty", -2, 2); e != nil {
		return nil, e
	}
	if e = oaiCheckRange(req, "frequency_penalty", -2, 2); e != nil {
		return nil, e
	}
	if n, e := oaiCheckChoices(req); e != nil {
		return nil, e
	} else if n > 0 {
		cr.n = n
	}
	if req["max_tokens"] != nil && req["max_completion_tokens"] != nil {
		return nil, oaiBad("max_tokens", "max_tokens and max_completion_tokens cannot both be set. Use max_completion_tokens.")
	}
	for _, k := range []string{"max_tokens", "max_completion_tokens"} {
		n, e := oaiCheckMinInt(req, k, 1)
		if e != nil {
			return nil, e
		}
		if n > 0 {
			cr.maxTokens = n
		}
	}
	switch s := req["stop"].(type) {
	case nil, string:
	case []any:
		if len(s) > 4 {
			return nil, oaiBad("stop", "Invalid 'stop': array too long. Expected an array with maximum length 4, but got an array with length %d instead.", len(s))
		}
		for i, x := range s {
			if _, ok := x.(string); !ok {
				return nil, oaiWrongType(fmt.Sprintf("stop[%d]", i), "a string", x)
			}
		}
	default:
		return nil, oaiWrongType("stop", "a string or an array of strings", s)
	}
	if rf, ok := req["response_format"].(map[string]any); ok {
		if t := rf["type"]; t != "text" && t != "json_object" && t != "json_schema" {
			return nil, oaiBad("response_format.type", "Invalid value: '%v'. Supported values are: 'text', 'json_object', and 'json_schema'.", t)
		}
	}
	if cr.tools, e = oaiParseChatTools(req["tools"]); e != nil {
		return nil, e
	}
	if cr.choice, e = oaiParseToolChoice(req["tool_choice"], cr.tools, false); e != nil {
		return nil, e
	}
	if cr.stream, cr.includeUsage, e = oaiCheckStream(req); e != nil {
		return nil, e
	}
	return cr, nil
}

type oaiWireToolCall struct {
	Index    *int            `json:"index,omitempty"`
	ID       string          `json:"id,omitempty"`
	Type     string          `json:"type,omitempty"`
	Function oaiWireFunction `json:"function"`
}

type oaiWireFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

func oaiChatUsage(in, out int) map[string]any {
	return map[string]any{
		"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out,
		"prompt_tokens_details":     map[string]any{"cached_tokens": 0, "audio_tokens": 0},
		"completion_tokens_details": map[string]any{"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
	}
}

func (b *OpenAIBackend) serveChat(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, key string, req map[string]any) {
	cr, e := oaiParseChat(req)
	if e != nil {
		b.reject(s, w, e)
		return
	}
	a := b.answer("", cr.msgs, cr.tools, cr.choice, cr.maxTokens)
	out := a.out * cr.n
	if !b.admit(w, key, a.in+out) {
		b.rateLimited(w)
		return
	}
	id := fmt.Sprintf("chatcmpl-sim%08d", b.seq.Add(1))
	created := time.Now().Unix()
	if !cr.stream {
		var calls []oaiWireToolCall
		for _, c := range a.calls {
			calls = append(calls, oaiWireToolCall{ID: c.id, Type: "function", Function: oaiWireFunction{Name: c.name, Arguments: c.args}})
		}
		var content any
		if len(a.calls) == 0 {
			content = a.text
		}
		choices := make([]any, cr.n)
		for i := range choices {
			msg := map[string]any{"role": "assistant", "content": content, "refusal": nil, "annotations": []any{}}
			if len(calls) > 0 {
				msg["tool_calls"] = calls
			}
			choices[i] = map[string]any{"index": i, "message": msg, "logprobs": nil, "finish_reason": a.finish}
		}
		s.AddUsage(a.in, out)
		oaiWriteJSON(w, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": cr.model,
			"choices": choices, "usage": oaiChatUsage(a.in, out), "service_tier": "default", "system_fingerprint": "fp_sim",
		})
		return
	}
	sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	chunk := func(choices []any, usage any) {
		c := map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": cr.model,
			"service_tier": "default", "system_fingerprint": "fp_sim", "choices": choices}
		if cr.includeUsage {
			c["usage"] = usage
		}
		data, _ := json.Marshal(c)
		sse.Send("", string(data))
	}
	choice := func(i int, delta map[string]any, finish any) []any {
		return []any{map[string]any{"index": i, "delta": delta, "logprobs": nil, "finish_reason": finish}}
	}
	for i := 0; i < cr.n; i++ {
		if len(a.calls) > 0 {
			chunk(choice(i, map[string]any{"role": "assistant", "content": nil, "refusal": nil}, nil), nil)
			for j, c := range a.calls {
				idx := j
				chunk(choice(i, map[string]any{"tool_calls": []oaiWireToolCall{{Index: &idx, ID: c.id, Type: "function", Function: oaiWireFunction{Name: c.name}}}}, nil), nil)
				for _, p := range oaiRunePieces(c.args, 8) {
					chunk(choice(i, map[string]any{"tool_calls": []oaiWireToolCall{{Index: &idx, Function: oaiWireFunction{Arguments: p}}}}, nil), nil)
				}
			}
		} else {
			chunk(choice(i, map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil), nil)
			for _, p := range oaiPieces(a.text, b.ChunkWords) {
				chunk(choice(i, map[string]any{"content": p}, nil), nil)
			}
		}
		chunk(choice(i, map[string]any{}, a.finish), nil)
	}
	if cr.includeUsage {
		chunk([]any{}, oaiChatUsage(a.in, out))
	}
	if sse.delivers() {
		s.AddUsage(a.in, out)
	}
	sse.Send("", "[DONE]")
}

// ---- completions (legacy) ----

var oaiCompletionFields = map[string]oaiFieldKind{
	"model": oaiFieldString, "prompt": oaiFieldAny, "best_of": oaiFieldInteger, "echo": oaiFieldBool, "frequency_penalty": oaiFieldNumber,
	"logit_bias": oaiFieldObject, "logprobs": oaiFieldInteger, "max_tokens": oaiFieldInteger, "n": oaiFieldInteger, "presence_penalty": oaiFieldNumber,
	"seed": oaiFieldInteger, "stop": oaiFieldAny, "stream": oaiFieldBool, "stream_options": oaiFieldObject, "suffix": oaiFieldString,
	"temperature": oaiFieldNumber, "top_p": oaiFieldNumber, "user": oaiFieldString,
}

// oaiChatOnlyModels are the simulator's models that /v1/completions refuses.
var oaiChatOnlyModels = []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small", "text-embedding-3-large"}

// oaiCompletionDefaultMaxTokens is the API's max_tokens when a completion
// request sets none.
const oaiCompletionDefaultMaxTokens = 16

type oaiCompletionReq struct {
	model        string
	prompts      []string
	n            int
	maxTokens    int
	echo         bool
	stream       bool
	includeUsage bool
}

// oaiParseCompletionPrompt accepts a string, an array of strings, an array
// of token IDs or an array of token ID arrays, as CreateCompletionRequest
// does; null or a missing prompt is "<|endoftext|>".
func oaiParseCompletionPrompt(v any) ([]string, *oaiErr) {
	invalidPrompt := oaiBad("prompt", "Invalid type for 'prompt': expected a string, an array of strings, an array of integers or an array of arrays of integers.")
	switch x := v.(type) {
	case nil:
		return []string{"<|endoftext|>"}, nil
	case string:
		return []string{x}, nil
	case []any:
		if len(x) == 0 {
			return []string{""}, nil
		}
		var out []string
		switch x[0].(type) {
		case string:
			for _, it := range x {
				sv, ok := it.(string)
				if !ok {
					return nil, invalidPrompt
				}
				out = append(out, sv)
			}
		case float64:
			for _, it := range x {
				if it == nil || oaiCheckKind("prompt", it, oaiFieldInteger) != nil {
					return nil, invalidPrompt
				}
			}
			raw, _ := json.Marshal(x)
			out = append(out, string(raw))
		case []any:
			for _, it := range x {
				arr, ok := it.([]any)
				if !ok || len(arr) == 0 {
					return nil, invalidPrompt
				}
				for _, t := range arr {
					if t == nil || oaiCheckKind("prompt", t, oaiFieldInteger) != nil {
						return nil, invalidPrompt
					}
				}
				raw, _ := json.Marshal(arr)
				out = append(out, string(raw))
			}
		default:
			return nil, invalidPrompt
		}
		return out, nil
	}
	return nil, invalidPrompt
}

func oaiParseCompletion(req map[string]any) (*oaiCompletionReq, *oaiErr) {
	if e := oaiCheckFields(req, oaiCompletionFields); e != nil {
		return nil, e
	}
	cr := &oaiCompletionReq{n: 1, maxTokens: oaiCompletionDefaultMaxTokens}
	var e *oaiErr
	if cr.model, e = oaiRequireModel(req); e != nil {
		return nil, e
	}
	if slices.Contains(oaiChatOnlyModels, cr.model) {
		return nil, &oaiErr{status: http.StatusNotFound, param: "model",
			msg: "This is a chat model and not supported in the v1/completions endpoint. Did you mean to use v1/chat/completions?"}
	}
	if cr.prompts, e = oaiParseCompletionPrompt(req["prompt"]); e != nil {
		return nil, e
	}
	for _, rg := range []struct {
		key    string
		lo, hi float64
	}{{"temperature", 0, 2}, {"top_p", 0, 1}, {"presence_penalty", -2, 2}, {"frequency_penalty", -2, 2}} {
		if e = oaiCheckRange(req, rg.key, rg.lo, rg.hi); e != nil {
			return nil, e
		}
	}
	if n, e := oaiCheckChoices(req); e != nil {
		return nil, e
	} else if n > 0 {
		cr.n = n
	}
	if _, has := req["max_tokens"].(float64); has {
		if cr.maxTokens, e = oaiCheckMinInt(req, "max_tokens", 0); e != nil {
			return nil, e
		}
	}
	if lp, e := oaiCheckMinInt(req, "logprobs", 0); e != nil {
		return nil, e
	} else if lp > 5 {
		return nil, oaiBad("logprobs", "Invalid 'logprobs': integer above maximum value. Expected a value <= 5, but got %d instead.", lp)
	}
	if bo, e := oaiCheckMinInt(req, "best_of", 0); e != nil {
		return nil, e
	} else if bo > 20 {
		return nil, oaiBad("best_of", "Invalid 'best_of': integer above maximum value. Expected a value <= 20, but got %d instead.", bo)
	}
	switch st := req["stop"].(type) {
	case nil, string:
	case []any:
		if len(st) == 0 || len(st) > 4 {
			return nil, oaiBad("stop", "Invalid 'stop': expected an array with between 1 and 4 items, but got an array with length %d instead.", len(st))
		}
		for i, x := range st {
			if _, ok := x.(string); !ok {
				return nil, oaiWrongType(fmt.Sprintf("stop[%d]", i), "a string", x)
			}
		}
	default:
		return nil, oaiWrongType("stop", "a string or an array of strings", st)
	}
	cr.echo, _ = req["echo"].(bool)
	if cr.stream, cr.includeUsage, e = oaiCheckStream(req); e != nil {
		return nil, e
	}
	if bo, _ := req["best_of"].(float64); cr.stream && bo > 1 {
		return nil, oaiBad("best_of", "best_of cannot be used with stream.")
	}
	return cr, nil
}

// serveCompletions answers /v1/completions: for each prompt and each of n
// choices, "echo: " and the prompt's words (after the prompt itself when
// echo is set), cut at max_tokens words (finish "length").
func (b *OpenAIBackend) serveCompletions(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, key string, req map[string]any) {
	cr, e := oaiParseCompletion(req)
	if e != nil {
		b.reject(s, w, e)
		return
	}
	type choice struct{ text, finish string }
	var choices []choice
	in, out := 0, 0
	for _, p := range cr.prompts {
		in += Words(p)
		text, finish := "echo: "+p, "stop"
		if words := strings.Fields(text); len(words) > cr.maxTokens {
			text, finish = strings.Join(words[:cr.maxTokens], " "), "length"
		}
		out += Words(text) * cr.n
		if cr.echo {
			text = p + text
		}
		for range cr.n {
			choices = append(choices, choice{text, finish})
		}
	}
	if !b.admit(w, key, in+out) {
		b.rateLimited(w)
		return
	}
	id := fmt.Sprintf("cmpl-sim%08d", b.seq.Add(1))
	created := time.Now().Unix()
	usage := map[string]any{"prompt_tokens": in, "completion_tokens": out, "total_tokens": in + out}
	object := func(chs []any, usage any) map[string]any {
		o := map[string]any{"id": id, "object": "text_completion", "created": created, "model": cr.model,
			"system_fingerprint": "fp_sim", "choices": chs}
		if usage != nil {
			o["usage"] = usage
		}
		return o
	}
	if !cr.stream {
		chs := make([]any, len(choices))
		for i, c := range choices {
			chs[i] = map[string]any{"text": c.text, "index": i, "logprobs": nil, "finish_reason": c.finish}
		}
		s.AddUsage(in, out)
		oaiWriteJSON(w, object(chs, usage))
		return
	}
	sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	send := func(chs []any, usage any) {
		o := object(chs, nil)
		if cr.includeUsage {
			o["usage"] = usage
		}
		data, _ := json.Marshal(o)
		sse.Send("", string(data))
	}
	for i, c := range choices {
		for _, p := range oaiPieces(c.text, b.ChunkWords) {
			send([]any{map[string]any{"text": p, "index": i, "logprobs": nil, "finish_reason": nil}}, nil)
		}
		send([]any{map[string]any{"text": "", "index": i, "logprobs": nil, "finish_reason": c.finish}}, nil)
	}
	if cr.includeUsage {
		send([]any{}, usage)
	}
	if sse.delivers() {
		s.AddUsage(in, out)
	}
	sse.Send("", "[DONE]")
}

// ---- embeddings ----

var oaiEmbedFields = map[string]oaiFieldKind{"model": oaiFieldString, "input": oaiFieldAny, "encoding_format": oaiFieldString, "dimensions": oaiFieldInteger, "user": oaiFieldString}

func (b *OpenAIBackend) serveEmbeddings(s *Server, w http.ResponseWriter, key string, req map[string]any) {
	if e := oaiCheckFields(req, oaiEmbedFields); e != nil {
		b.reject(s, w, e)
		return
	}
	model, e := oaiRequireModel(req)
	if e != nil {
		b.reject(s, w, e)
		return
	}
	inputs, tokens, e := oaiParseEmbedInput(req["input"])
	if e != nil {
		b.reject(s, w, e)
		return
	}
	format := "float"
	if f, ok := req["encoding_format"].(string); ok {
		if f != "float" && f != "base64" {
			b.reject(s, w, oaiBad("encoding_format", "Invalid value: '%s'. Supported values are: 'float' and 'base64'.", f))
			return
		}
		format = f
	}
	dims, e := oaiCheckMinInt(req, "dimensions", 1)
	if e != nil {
		b.reject(s, w, e)
		return
	}
	if dims > 3072 {
		b.reject(s, w, oaiBad("dimensions", "Invalid 'dimensions': integer above maximum value. Expected a value <= 3072, but got %d instead.", dims))
		return
	}
	if dims == 0 {
		dims = b.EmbeddingDimensions
		if dims <= 0 {
			dims = 8
		}
	}
	if !b.admit(w, key, tokens) {
		b.rateLimited(w)
		return
	}
	data := make([]any, len(inputs))
	for i, in := range inputs {
		vec := OpenAIEmbedding(in, dims)
		var emb any = vec
		if format == "base64" {
			buf := make([]byte, 4*len(vec))
			for j, x := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	if b.ReverseEmbeddings {
		slices.Reverse(data)
	}
	s.AddUsage(tokens, 0)
	oaiWriteJSON(w, map[string]any{"object": "list", "data": data, "model": model,
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens}})
}

// oaiParseEmbedInput accepts a non-empty string, an array of 1..2048 non-empty
// strings, an array of token IDs or an array of token ID arrays. It returns
// each input as a string (token arrays as their JSON) and the token count.
func oaiParseEmbedInput(v any) ([]string, int, *oaiErr) {
	invalidInput := oaiBad("input", "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.")
	switch x := v.(type) {
	case nil:
		return nil, 0, oaiBad("input", "Missing required parameter: 'input'.")
	case string:
		if x == "" {
			return nil, 0, invalidInput
		}
		return []string{x}, Words(x), nil
	case []any:
		if len(x) == 0 || len(x) > 2048 {
			return nil, 0, invalidInput
		}
		var out []string
		tokens := 0
		switch x[0].(type) {
		case string:
			for _, it := range x {
				sv, ok := it.(string)
				if !ok || sv == "" {
					return nil, 0, invalidInput
				}
				out = append(out, sv)
				tokens += Words(sv)
			}
		case float64:
			for _, it := range x {
				if oaiCheckKind("input", it, oaiFieldInteger) != nil || it == nil {
					return nil, 0, invalidInput
				}
			}
			raw, _ := json.Marshal(x)
			return []string{string(raw)}, len(x), nil
		case []any:
			for _, it := range x {
				arr, ok := it.([]any)
				if !ok || len(arr) == 0 {
					return nil, 0, invalidInput
				}
				for _, t := range arr {
					if oaiCheckKind("input", t, oaiFieldInteger) != nil || t == nil {
						return nil, 0, invalidInput
					}
				}
				raw, _ := json.Marshal(arr)
				out = append(out, string(raw))
				tokens += len(arr)
			}
		default:
			return nil, 0, invalidInput
		}
		return out, tokens, nil
	}
	return nil, 0, invalidInput
}

// OpenAIEmbedding is the simulator's embedding of text: dims values from a
// generator seeded with text's FNV-1a hash, scaled to unit length. Equal
// texts give equal vectors.
func OpenAIEmbedding(text string, dims int) []float32 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(text))
	seed := h.Sum64()
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	v := make([]float64, dims)
	var norm float64
	for i := range v {
		v[i] = rng.NormFloat64()
		norm += v[i] * v[i]
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for i := range v {
		if norm > 0 {
			out[i] = float32(v[i] / norm)
		}
	}
	return out
}

// ---- Responses API ----

var oaiResponsesFields = map[string]oaiFieldKind{
	"model": oaiFieldString, "input": oaiFieldAny, "background": oaiFieldBool, "context_management": oaiFieldAny, "conversation": oaiFieldAny,
	"include": oaiFieldArray, "instructions": oaiFieldAny, "max_output_tokens": oaiFieldInteger, "max_tool_calls": oaiFieldInteger,
	"metadata": oaiFieldObject, "moderation": oaiFieldAny, "parallel_tool_calls": oaiFieldBool, "previous_response_id": oaiFieldString,
	"prompt": oaiFieldObject, "prompt_cache_key": oaiFieldString, "prompt_cache_options": oaiFieldObject, "prompt_cache_retention": oaiFieldString,
	"reasoning": oaiFieldObject, "safety_identifier": oaiFieldString, "service_tier": oaiFieldString, "store": oaiFieldBool, "stream": oaiFieldBool,
	"stream_options": oaiFieldObject, "temperature": oaiFieldNumber, "text": oaiFieldObject, "tool_choice": oaiFieldAny, "tools": oaiFieldArray,
	"top_logprobs": oaiFieldInteger, "top_p": oaiFieldNumber, "truncation": oaiFieldString, "user": oaiFieldString,
}

var oaiHostedTools = []string{"web_search", "web_search_preview", "web_search_2025_08_26", "web_search_preview_2025_03_11", "file_search",
	"code_interpreter", "image_generation", "mcp", "computer_use_preview", "computer", "local_shell", "shell", "apply_patch", "custom"}

type oaiRespReq struct {
	model, instructions, previous string
	conversation                  string // the conversation the response continues
	msgs                          []oaiMsg
	rawInput                      any
	tools                         []oaiTool
	rawTools                      []any
	choice                        string
	rawChoice                     any
	maxOutput                     int
	temperature, topP             float64
	stream                        bool
	store, background             bool
}

func (b *OpenAIBackend) parseResponses(org string, req map[string]any) (*oaiRespReq, *oaiErr) {
	if e := oaiCheckFields(req, oaiResponsesFields); e != nil {
		return nil, e
	}
	rr := &oaiRespReq{temperature: 1, topP: 1, store: true}
	var e *oaiErr
	if rr.model, e = oaiRequireModel(req); e != nil {
		return nil, e
	}
	switch ins := req["instructions"].(type) {
	case nil:
	case string:
		rr.instructions = ins
	default:
		return nil, oaiWrongType("instructions", "a string", ins)
	}
	if e = oaiCheckRange(req, "temperature", 0, 2); e != nil {
		return nil, e
	}
	if e = oaiCheckRange(req, "top_p", 0, 1); e != nil {
		return nil, e
	}
	if t, ok := req["temperature"].(float64); ok {
		rr.temperature = t
	}
	if t, ok := req["top_p"].(float64); ok {
		rr.topP = t
	}
	if rr.maxOutput, e = oaiCheckMinInt(req, "max_output_tokens", 16); e != nil {
		return nil, e
	}
	if st, ok := req["store"].(bool); ok {
		rr.store = st
	}
	rr.background, _ = req["background"].(bool)
	if rr.background && !rr.store {
		return nil, oaiBad("background", "Background mode requires 'store' to be true: background responses are stored.")
	}
	ctx, e := b.parseContext(org, req)
	if e != nil {
		return nil, e
	}
	rr.previous, rr.conversation = ctx.previous, ctx.conversation
	rr.msgs = ctx.history
	msgs, e := oaiParseInputNamed("input", req["input"], ctx.calls, true)
	if e != nil {
		return nil, e
	}
	rr.msgs = append(rr.msgs, msgs...)
	rr.rawInput = req["input"]
	if rr.tools, e = oaiParseResponsesTools(req["tools"]); e != nil {
		return nil, e
	}
	rr.rawTools, _ = req["tools"].([]any)
	if rr.choice, e = oaiParseToolChoice(req["tool_choice"], rr.tools, true); e != nil {
		return nil, e
	}
	rr.rawChoice = req["tool_choice"]
	if rr.stream, _, e = oaiCheckStream(req); e != nil {
		return nil, e
	}
	return rr, nil
}

// oaiContext is what a Responses API request continues: a previous
// response (its function calls may be answered) or a conversation (its
// items come before the input).
type oaiContext struct {
	previous, conversation string
	calls                  []string
	history                []oaiMsg
}

// parseContext reads previous_response_id and conversation, which must
// name objects of org's: an unknown previous response is a 400
// previous_response_not_found, an unknown conversation a 404, as from the
// real service; the two are mutually exclusive.
func (b *OpenAIBackend) parseContext(org string, req map[string]any) (oaiContext, *oaiErr) {
	var c oaiContext
	prev, hasPrev := req["previous_response_id"].(string)
	conv, e := oaiConversationParam(req["conversation"])
	if e != nil {
		return c, e
	}
	if hasPrev && conv != "" {
		return c, oaiBad("conversation", "Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if hasPrev {
		sr := b.store.response(org, prev)
		if sr == nil {
			return c, &oaiErr{status: http.StatusBadRequest, param: "previous_response_id", code: "previous_response_not_found",
				msg: fmt.Sprintf("Previous response with id '%s' not found.", prev)}
		}
		c.previous, c.calls = prev, slices.Clone(sr.calls)
	}
	if conv != "" {
		cv := b.store.conversation(org, conv)
		if cv == nil {
			return c, oaiConversationNotFound(conv)
		}
		c.conversation = conv
		for _, it := range cv.items {
			m, ok := oaiItemMsg(it)
			if !ok {
				continue
			}
			c.history = append(c.history, m)
			c.calls = append(c.calls, m.toolCalls...)
		}
	}
	return c, nil
}

// oaiConversationParam reads a request's conversation: an ID, or an object
// {"id": …}.
func oaiConversationParam(v any) (string, *oaiErr) {
	switch c := v.(type) {
	case nil:
		return "", nil
	case string:
		if c == "" {
			return "", oaiBad("conversation", "Invalid 'conversation': empty string. Expected a string with minimum length 1, but got an empty string instead.")
		}
		return c, nil
	case map[string]any:
		if e := oaiCheckProps(c, "conversation", "id"); e != nil {
			return "", e
		}
		id, ok := c["id"].(string)
		if !ok || id == "" {
			return "", oaiBad("conversation.id", "Missing required parameter: 'conversation.id'.")
		}
		return id, nil
	}
	return "", oaiWrongType("conversation", "a string or an object", v)
}

// oaiParseInputNamed validates input items of the request field name
// ("input", or a conversation's "items"): a string or an array of items.
// known lists the function call IDs a function_call_output may answer;
// checkCalls false accepts outputs of any call (conversation items).
func oaiParseInputNamed(name string, v any, known []string, checkCalls bool) ([]oaiMsg, *oaiErr) {
	switch x := v.(type) {
	case nil:
		return nil, oaiBad(name, "Missing required parameter: '%s'.", name)
	case string:
		return []oaiMsg{{role: "user", text: x}}, nil
	case []any:
		if len(x) == 0 {
			return nil, oaiBad(name, "Invalid '%s': empty array. Expected an array with minimum length 1, but got an empty array instead.", name)
		}
	default:
		return nil, oaiWrongType(name, "a string or an array of objects", v)
	}
	items := v.([]any)
	calls := slices.Clone(known)
	var msgs []oaiMsg
	for i, raw := range items {
		p := fmt.Sprintf("%s[%d]", name, i)
		it, ok := raw.(map[string]any)
		if !ok {
			return nil, oaiWrongType(p, "an object", raw)
		}
		typ, _ := it["type"].(string)
		if _, has := it["type"]; !has {
			typ = "message"
		}
		switch typ {
		case "message":
			if e := oaiCheckProps(it, p, "type", "role", "content", "id", "status", "phase"); e != nil {
				return nil, e
			}
			role, _ := it["role"].(string)
			var allowed []string
			switch role {
			case "user", "system", "developer":
				allowed = []string{"input_text", "input_image", "input_file"}
			case "assistant":
				allowed = []string{"output_text", "refusal"}
			default:
				return nil, oaiBad(p+".role", "Invalid value: '%v'. Supported values are: 'assistant', 'system', 'developer', and 'user'.", it["role"])
			}
			text, images, e := oaiTextContent(p+".content", it["content"], true, allowed...)
			if e != nil {
				return nil, e
			}
			msgs = append(msgs, oaiMsg{role: role, text: text, images: images})
		case "function_call":
			if e := oaiCheckProps(it, p, "type", "id", "call_id", "name", "arguments", "status", "namespace"); e != nil {
				return nil, e
			}
			for _, k := range []string{"call_id", "name", "arguments"} {
				if _, ok := it[k].(string); !ok {
					return nil, oaiBad(p+"."+k, "Missing required parameter: '%s.%s'.", p, k)
				}
			}
			id := it["call_id"].(string)
			calls = append(calls, id)
			msgs = append(msgs, oaiMsg{role: "assistant", toolCalls: []string{id}})
		case "function_call_output":
			if e := oaiCheckProps(it, p, "type", "id", "call_id", "output", "status", "name", "namespace"); e != nil {
				return nil, e
			}
			id, ok := it["call_id"].(string)
			if !ok || id == "" {
				return nil, oaiBad(p+".call_id", "Missing required parameter: '%s.call_id'.", p)
			}
			if checkCalls && !slices.Contains(calls, id) {
				return nil, oaiBad(name, "No tool call found for function call output with call_id %s.", id)
			}
			var text string
			switch o := it["output"].(type) {
			case string:
				text = o
			case []any:
				var e *oaiErr
				if text, _, e = oaiTextContent(p+".output", o, true, "input_text", "input_image", "input_file"); e != nil {
					return nil, e
				}
			default:
				return nil, oaiBad(p+".output", "Missing required parameter: '%s.output'.", p)
			}
			msgs = append(msgs, oaiMsg{role: "tool", text: text, toolCallID: id})
		case "item_reference":
			if _, ok := it["id"].(string); !ok {
				return nil, oaiBad(p+".id", "Missing required parameter: '%s.id'.", p)
			}
		case "reasoning", "web_search_call", "file_search_call", "computer_call", "computer_call_output",
			"image_generation_call", "code_interpreter_call", "local_shell_call", "local_shell_call_output",
			"mcp_list_tools", "mcp_approval_request", "mcp_approval_response", "mcp_call", "custom_tool_call",
			"custom_tool_call_output", "compaction":
		default:
			return nil, oaiBad(p+".type", "Invalid value: '%v'. Supported values are: 'message', 'function_call', 'function_call_output', 'item_reference', and the built-in tool item types.", it["type"])
		}
	}
	return msgs, nil
}

func oaiParseResponsesTools(v any) ([]oaiTool, *oaiErr) {
	if v == nil {
		return nil, nil
	}
	var tools []oaiTool
	for i, raw := range v.([]any) {
		p := fmt.Sprintf("tools[%d]", i)
		t, ok := raw.(map[string]any)
		if !ok {
			return nil, oaiWrongType(p, "an object", raw)
		}
		typ, _ := t["type"].(string)
		if typ != "function" {
			if !slices.Contains(oaiHostedTools, typ) {
				return nil, oaiBad(p+".type", "Invalid value: '%v'. Supported values are: 'function', 'file_search', 'web_search', 'computer_use_preview', 'mcp', 'code_interpreter', 'image_generation', 'local_shell', and 'custom'.", t["type"])
			}
			continue
		}
		if e := oaiCheckProps(t, p, "type", "name", "description", "parameters", "strict", "output_schema", "defer_loading", "allowed_callers"); e != nil {
			return nil, e
		}
		name, _ := t["name"].(string)
		if name == "" {
			return nil, oaiBad(p+".name", "Missing required parameter: '%s.name'.", p)
		}
		if !oaiToolNameRE.MatchString(name) {
			return nil, oaiBad(p+".name", "Invalid '%s.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.", p)
		}
		params, e := oaiParseFunctionParams(p+".parameters", t["parameters"])
		if e != nil {
			return nil, e
		}
		strict := true // the Responses API's default
		if s, ok := t["strict"].(bool); ok {
			strict = s
		}
		if strict && params != nil {
			if e := oaiCheckStrictSchema(p+".parameters", name, params); e != nil {
				return nil, e
			}
		}
		tools = append(tools, oaiTool{name: name, params: params})
	}
	return tools, nil
}

// oaiCheckStrictSchema applies strict mode's top-level rules: additionalProperties
// false and every property required.
func oaiCheckStrictSchema(param, name string, params map[string]any) *oaiErr {
	fail := func(msg string) *oaiErr {
		return &oaiErr{status: http.StatusBadRequest, param: param, code: "invalid_function_parameters",
			msg: fmt.Sprintf("Invalid schema for function '%s': In context=(), %s", name, msg)}
	}
	if params["additionalProperties"] != false {
		return fail("'additionalProperties' is required to be supplied and to be false.")
	}
	props, _ := params["properties"].(map[string]any)
	req, _ := params["required"].([]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !slices.Contains(req, any(k)) {
			return fail(fmt.Sprintf("'required' is required to be supplied and to be an array including every key in properties. Missing '%s'.", k))
		}
	}
	return nil
}

func (b *OpenAIBackend) serveResponses(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, key string, req map[string]any) {
	org := b.Organisation(key)
	rr, e := b.parseResponses(org, req)
	if e != nil {
		b.reject(s, w, e)
		return
	}
	a := b.answer(rr.instructions, rr.msgs, rr.tools, rr.choice, rr.maxOutput)
	if !b.admit(w, key, a.in+a.out) {
		b.rateLimited(w)
		return
	}
	n := b.seq.Add(1)
	id := fmt.Sprintf("resp_sim%08d", n)
	created := time.Now().Unix()

	// Output items, complete.
	var items []map[string]any
	var callIDs []string
	if len(a.calls) > 0 {
		for j, c := range a.calls {
			items = append(items, map[string]any{"id": fmt.Sprintf("fc_sim%08d_%d", n, j), "type": "function_call", "status": "completed",
				"arguments": c.args, "call_id": c.id, "name": c.name})
			callIDs = append(callIDs, c.id)
		}
	} else {
		items = append(items, map[string]any{"id": fmt.Sprintf("msg_sim%08d", n), "type": "message", "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "text": a.text, "annotations": []any{}, "logprobs": []any{}}}})
	}
	status := "completed"
	var incomplete any
	if a.truncate {
		status = "incomplete"
		incomplete = map[string]any{"reason": "max_output_tokens"}
		items[0]["status"] = "incomplete"
	}
	response := func(st string, output []map[string]any, usage any, inc any) map[string]any {
		out := make([]any, len(output))
		for i, it := range output {
			out[i] = it
		}
		resp := map[string]any{
			"id": id, "object": "response", "created_at": created, "status": st, "background": rr.background,
			"error": nil, "incomplete_details": inc, "instructions": oaiNilIfEmpty(rr.instructions),
			"max_output_tokens": oaiNilIfZero(rr.maxOutput), "max_tool_calls": nil, "model": rr.model, "output": out,
			"parallel_tool_calls": true, "previous_response_id": oaiNilIfEmpty(rr.previous),
			"reasoning": map[string]any{"effort": nil, "summary": nil}, "service_tier": "default", "store": rr.store,
			"temperature": rr.temperature, "text": map[string]any{"format": map[string]any{"type": "text"}, "verbosity": "medium"},
			"tool_choice": oaiToolChoiceEcho(rr.rawChoice), "tools": oaiToolsEcho(rr.rawTools), "top_logprobs": 0, "top_p": rr.topP,
			"truncation": "disabled", "metadata": map[string]any{},
		}
		if rr.conversation != "" {
			resp["conversation"] = map[string]any{"id": rr.conversation}
		}
		if usage != nil {
			resp["usage"] = usage
		}
		if st == "completed" {
			resp["completed_at"] = time.Now().Unix()
		}
		return resp
	}
	usage := map[string]any{
		"input_tokens": a.in, "input_tokens_details": map[string]any{"cached_tokens": 0, "cache_write_tokens": 0},
		"output_tokens": a.out, "output_tokens_details": map[string]any{"reasoning_tokens": 0}, "total_tokens": a.in + a.out,
	}
	final := response(status, items, usage, incomplete)

	// The stream's events, numbered from 0; a background stream keeps them
	// so that it can be streamed again from any sequence number.
	var events []oaiEvent
	if rr.stream {
		add := func(typ string, fields map[string]any) {
			fields["type"] = typ
			fields["sequence_number"] = len(events)
			data, _ := json.Marshal(fields)
			events = append(events, oaiEvent{typ: typ, data: data})
		}
		first := "in_progress"
		if rr.background {
			first = "queued"
		}
		add("response.created", map[string]any{"response": response(first, nil, nil, nil)})
		add("response.in_progress", map[string]any{"response": response("in_progress", nil, nil, nil)})
		for oi, it := range items {
			itemID := it["id"].(string)
			if it["type"] == "function_call" {
				added := map[string]any{"id": itemID, "type": "function_call", "status": "in_progress", "arguments": "", "call_id": it["call_id"], "name": it["name"]}
				add("response.output_item.added", map[string]any{"output_index": oi, "item": added})
				args := it["arguments"].(string)
				for _, p := range oaiRunePieces(args, 8) {
					add("response.function_call_arguments.delta", map[string]any{"item_id": itemID, "output_index": oi, "delta": p})
				}
				add("response.function_call_arguments.done", map[string]any{"item_id": itemID, "output_index": oi, "name": it["name"], "arguments": args})
				add("response.output_item.done", map[string]any{"output_index": oi, "item": it})
				continue
			}
			added := map[string]any{"id": itemID, "type": "message", "status": "in_progress", "role": "assistant", "content": []any{}}
			add("response.output_item.added", map[string]any{"output_index": oi, "item": added})
			add("response.content_part.added", map[string]any{"item_id": itemID, "output_index": oi, "content_index": 0,
				"part": map[string]any{"type": "output_text", "text": "", "annotations": []any{}, "logprobs": []any{}}})
			for _, p := range oaiPieces(a.text, b.ChunkWords) {
				add("response.output_text.delta", map[string]any{"item_id": itemID, "output_index": oi, "content_index": 0, "delta": p, "logprobs": []any{}})
			}
			add("response.output_text.done", map[string]any{"item_id": itemID, "output_index": oi, "content_index": 0, "text": a.text, "logprobs": []any{}})
			add("response.content_part.done", map[string]any{"item_id": itemID, "output_index": oi, "content_index": 0,
				"part": map[string]any{"type": "output_text", "text": a.text, "annotations": []any{}, "logprobs": []any{}}})
			add("response.output_item.done", map[string]any{"output_index": oi, "item": it})
		}
		add("response."+status, map[string]any{"response": final})
	}

	pending := rr.background && !rr.stream
	if rr.store {
		sr := &oaiStoredResponse{org: org, calls: callIDs, final: final, input: b.itemResources(rr.rawInput),
			background: rr.background, status: status, in: a.in, out: a.out}
		if pending {
			sr.status = "queued"
		}
		if rr.background && rr.stream {
			sr.events = events
		}
		b.mu.Lock()
		b.store.addResponse(id, sr)
		if cv := b.store.conversation(org, rr.conversation); cv != nil {
			cv.add(sr.input...)
			cv.add(items...)
		}
		b.mu.Unlock()
	}
	if pending {
		oaiWriteJSON(w, oaiPendingResponse(final, "queued"))
		return
	}
	if !rr.stream {
		s.AddUsage(a.in, a.out)
		oaiWriteJSON(w, final)
		return
	}
	sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	for i, ev := range events {
		if i == len(events)-1 && sse.delivers() {
			s.AddUsage(a.in, a.out)
		}
		sse.Send(ev.typ, string(ev.data))
	}
}

func oaiNilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func oaiNilIfZero(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func oaiToolChoiceEcho(v any) any {
	if v == nil {
		return "auto"
	}
	return v
}

// oaiToolsEcho echoes the request's tools with strict filled in, as the API
// does.
func oaiToolsEcho(tools []any) []any {
	out := make([]any, 0, len(tools))
	for _, t := range tools {
		m, ok := t.(map[string]any)
		if !ok {
			continue
		}
		c := make(map[string]any, len(m)+1)
		for k, v := range m {
			c[k] = v
		}
		if c["type"] == "function" {
			if _, ok := c["strict"]; !ok {
				c["strict"] = true
			}
			if _, ok := c["description"]; !ok {
				c["description"] = nil
			}
			if _, ok := c["parameters"]; !ok {
				c["parameters"] = nil
			}
		}
		out = append(out, c)
	}
	return out
}

// ---- stored responses and conversations ----

// oaiStore is what the simulator keeps of the stateful APIs, each object
// tagged with the organisation of the key that created it. It is guarded
// by OpenAIBackend.mu and bounded: past oaiMaxStoredResponses responses or
// oaiMaxConversations conversations the oldest are forgotten, and a
// conversation keeps its last oaiMaxConvItems items.
type oaiStore struct {
	responses map[string]*oaiStoredResponse
	respOrder []string
	convs     map[string]*oaiConv
	convOrder []string
}

// oaiStoredResponse is a stored response.
type oaiStoredResponse struct {
	org   string
	calls []string         // call IDs of its function calls, for previous_response_id
	final map[string]any   // the finished response object
	input []map[string]any // its input items, with IDs
	// events are the stream of a background response created with a
	// stream, which alone can be streamed again.
	events     []oaiEvent
	background bool
	status     string // queued, in_progress, completed, incomplete, cancelled
	polls      int    // retrieves of a pending background response
	in, out    int    // usage, reported when a background response completes
}

// oaiEvent is one Responses API stream event, its JSON carrying its
// sequence_number.
type oaiEvent struct {
	typ  string
	data []byte
}

// oaiConv is a stored conversation.
type oaiConv struct {
	org      string
	id       string
	created  int64
	metadata map[string]any
	items    []map[string]any
}

func (c *oaiConv) add(items ...map[string]any) {
	c.items = append(c.items, items...)
	if over := len(c.items) - oaiMaxConvItems; over > 0 {
		c.items = slices.Delete(c.items, 0, over)
	}
}

func (c *oaiConv) object() map[string]any {
	return map[string]any{"id": c.id, "object": "conversation", "created_at": c.created, "metadata": maps.Clone(c.metadata)}
}

// response returns the stored response id if it belongs to org, else nil.
func (st *oaiStore) response(org, id string) *oaiStoredResponse {
	if sr := st.responses[id]; sr != nil && sr.org == org {
		return sr
	}
	return nil
}

// conversation returns the conversation id if it belongs to org, else nil.
func (st *oaiStore) conversation(org, id string) *oaiConv {
	if c := st.convs[id]; c != nil && c.org == org {
		return c
	}
	return nil
}

func (st *oaiStore) addResponse(id string, sr *oaiStoredResponse) {
	if st.responses == nil {
		st.responses = map[string]*oaiStoredResponse{}
	}
	st.responses[id] = sr
	st.respOrder = append(st.respOrder, id)
	if len(st.respOrder) > oaiMaxStoredResponses {
		delete(st.responses, st.respOrder[0])
		st.respOrder = st.respOrder[1:]
	}
}

func (st *oaiStore) addConversation(c *oaiConv) {
	if st.convs == nil {
		st.convs = map[string]*oaiConv{}
	}
	st.convs[c.id] = c
	st.convOrder = append(st.convOrder, c.id)
	if len(st.convOrder) > oaiMaxConversations {
		delete(st.convs, st.convOrder[0])
		st.convOrder = st.convOrder[1:]
	}
}

// oaiPendingResponse is final as it looks before it finished (status
// queued, in_progress or cancelled): no output, usage or completion time.
func oaiPendingResponse(final map[string]any, status string) map[string]any {
	out := maps.Clone(final)
	out["status"] = status
	out["output"] = []any{}
	out["incomplete_details"] = nil
	delete(out, "usage")
	delete(out, "completed_at")
	return out
}

// current returns the response as a retrieve sees it now.
func (sr *oaiStoredResponse) current() map[string]any {
	switch sr.status {
	case "queued", "in_progress", "cancelled":
		return oaiPendingResponse(sr.final, sr.status)
	}
	return sr.final
}

// itemResources returns input items as the API lists them: each with an ID
// and a status, messages with content parts (a string input is one user
// message). Item references and items of other types are left out.
func (b *OpenAIBackend) itemResources(input any) []map[string]any {
	var raw []any
	switch x := input.(type) {
	case string:
		raw = []any{map[string]any{"type": "message", "role": "user", "content": x}}
	case []any:
		raw = x
	}
	var out []map[string]any
	for _, r := range raw {
		it, _ := r.(map[string]any)
		typ, _ := it["type"].(string)
		if _, has := it["type"]; !has {
			typ = "message"
		}
		id, _ := it["id"].(string)
		newID := func(prefix string) string {
			if id != "" {
				return id
			}
			return fmt.Sprintf("%s_sim%08d", prefix, b.seq.Add(1))
		}
		switch typ {
		case "message":
			role, _ := it["role"].(string)
			partType := "input_text"
			if role == "assistant" {
				partType = "output_text"
			}
			var parts []any
			switch c := it["content"].(type) {
			case string:
				parts = []any{map[string]any{"type": partType, "text": c}}
			case []any:
				parts = c
			}
			content := []any{}
			for _, p := range parts {
				pm, _ := p.(map[string]any)
				pc := maps.Clone(pm)
				if pc["type"] == "output_text" {
					if _, ok := pc["annotations"]; !ok {
						pc["annotations"] = []any{}
					}
					if _, ok := pc["logprobs"]; !ok {
						pc["logprobs"] = []any{}
					}
				}
				content = append(content, pc)
			}
			out = append(out, map[string]any{"id": newID("msg"), "type": "message", "role": role, "status": "completed", "content": content})
		case "function_call":
			out = append(out, map[string]any{"id": newID("fc"), "type": typ, "status": "completed",
				"call_id": it["call_id"], "name": it["name"], "arguments": it["arguments"]})
		case "function_call_output":
			out = append(out, map[string]any{"id": newID("fco"), "type": typ, "status": "completed",
				"call_id": it["call_id"], "output": it["output"]})
		}
	}
	return out
}

// oaiItemMsg reads a stored item as a turn of the conversation.
func oaiItemMsg(it map[string]any) (oaiMsg, bool) {
	switch it["type"] {
	case "message":
		role, _ := it["role"].(string)
		var text []string
		parts, _ := it["content"].([]any)
		images := 0
		for _, p := range parts {
			pm, _ := p.(map[string]any)
			if t, ok := pm["text"].(string); ok {
				text = append(text, t)
			}
			if pm["type"] == "input_image" {
				images++
			}
		}
		return oaiMsg{role: role, text: strings.Join(text, " "), images: images}, true
	case "function_call":
		id, _ := it["call_id"].(string)
		return oaiMsg{role: "assistant", toolCalls: []string{id}}, true
	case "function_call_output":
		id, _ := it["call_id"].(string)
		text, _ := it["output"].(string)
		return oaiMsg{role: "tool", text: text, toolCallID: id}, true
	}
	return oaiMsg{}, false
}

func oaiResponseNotFound(id string) *oaiErr {
	return &oaiErr{status: http.StatusNotFound, msg: fmt.Sprintf("Response with id '%s' not found.", id)}
}

func oaiConversationNotFound(id string) *oaiErr {
	return &oaiErr{status: http.StatusNotFound, msg: fmt.Sprintf("Conversation with id '%s' not found.", id)}
}

func oaiItemNotFound(id string) *oaiErr {
	return &oaiErr{status: http.StatusNotFound, msg: fmt.Sprintf("Item with id '%s' not found.", id)}
}

// oaiStatefulRoute reports whether path belongs to the stateful APIs:
// /v1/responses/…, /v1/conversations and /v1/conversations/….
func oaiStatefulRoute(path string) bool {
	return strings.HasPrefix(path, "/v1/responses/") || path == "/v1/conversations" || strings.HasPrefix(path, "/v1/conversations/")
}

// serveStateful answers the routes of the stored-response lifecycle and
// of the Conversations API. Objects are looked up in the organisation of
// the request's key; another organisation's object is a 404.
func (b *OpenAIBackend) serveStateful(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	path := r.URL.Path
	notFound := func() {
		b.reject(s, w, &oaiErr{status: http.StatusNotFound, msg: fmt.Sprintf("Invalid URL (%s %s)", r.Method, path)})
	}
	segs := strings.Split(strings.TrimPrefix(r.URL.EscapedPath(), "/v1/"), "/")
	for i, seg := range segs {
		u, err := url.PathUnescape(seg)
		if err != nil || u == "" {
			notFound()
			return
		}
		segs[i] = u
	}
	key := b.Key(r)
	org := b.Organisation(key)
	// allow checks the method; the route's handler runs only when it
	// returns true.
	allow := func(methods ...string) bool {
		if !slices.Contains(methods, r.Method) {
			b.reject(s, w, &oaiErr{status: http.StatusMethodNotAllowed, msg: fmt.Sprintf("Invalid method for URL (%s %s)", r.Method, path)})
			return false
		}
		if !b.admit(w, key, 0) {
			b.rateLimited(w)
			return false
		}
		return true
	}
	// jsonBody parses a POST body; an empty one is {} when optional.
	jsonBody := func(optional bool) (map[string]any, bool) {
		if optional && len(bytes.TrimSpace(body)) == 0 {
			return map[string]any{}, true
		}
		req, e := oaiJSONBody(r, body)
		if e != nil {
			b.reject(s, w, e)
			return nil, false
		}
		return req, true
	}
	var e *oaiErr
	switch {
	case segs[0] == "responses" && len(segs) == 2 && segs[1] == "input_tokens":
		if !allow(http.MethodPost) {
			return
		}
		if req, ok := jsonBody(true); ok {
			e = b.serveInputTokens(w, org, req)
		}
	case segs[0] == "responses" && len(segs) == 2:
		if !allow(http.MethodGet, http.MethodDelete) {
			return
		}
		if r.Method == http.MethodDelete {
			e = b.deleteResponse(w, org, segs[1])
		} else {
			e = b.retrieveResponse(s, w, r, f, org, segs[1])
		}
	case segs[0] == "responses" && len(segs) == 3 && segs[2] == "cancel":
		if allow(http.MethodPost) {
			e = b.cancelResponse(w, org, segs[1])
		}
	case segs[0] == "responses" && len(segs) == 3 && segs[2] == "input_items":
		if allow(http.MethodGet) {
			e = b.listInputItems(w, r, org, segs[1])
		}
	case segs[0] == "conversations" && len(segs) == 1:
		if !allow(http.MethodPost) {
			return
		}
		if req, ok := jsonBody(true); ok {
			e = b.createConversation(w, org, req)
		}
	case segs[0] == "conversations" && len(segs) == 2:
		if !allow(http.MethodGet, http.MethodPost, http.MethodDelete) {
			return
		}
		switch r.Method {
		case http.MethodGet:
			e = b.withConversation(org, segs[1], func(c *oaiConv) *oaiErr { oaiWriteJSON(w, c.object()); return nil })
		case http.MethodDelete:
			e = b.deleteConversation(w, org, segs[1])
		default:
			if req, ok := jsonBody(false); ok {
				e = b.updateConversation(w, org, segs[1], req)
			}
		}
	case segs[0] == "conversations" && len(segs) == 3 && segs[2] == "items":
		if !allow(http.MethodGet, http.MethodPost) {
			return
		}
		if r.Method == http.MethodGet {
			e = b.listConversationItems(w, r, org, segs[1])
		} else if req, ok := jsonBody(false); ok {
			e = b.addConversationItems(w, r, org, segs[1], req)
		}
	case segs[0] == "conversations" && len(segs) == 4 && segs[2] == "items":
		if !allow(http.MethodGet, http.MethodDelete) {
			return
		}
		e = b.conversationItem(w, r, org, segs[1], segs[3])
	default:
		notFound()
		return
	}
	if e != nil {
		b.reject(s, w, e)
	}
}

// oaiJSONBody checks a POST's Content-Type and parses its JSON object.
func oaiJSONBody(r *http.Request, body []byte) (map[string]any, *oaiErr) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, oaiBad("", "Invalid Content-Type header (%q), expected application/json.", r.Header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, oaiBad("", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
	}
	req, ok := v.(map[string]any)
	if !ok {
		return nil, oaiBad("", "Invalid type for request body: expected an object, but got %s instead.", oaiKind(v))
	}
	return req, nil
}

// oaiCheckQuery rejects query parameters other than allowed.
func oaiCheckQuery(q url.Values, allowed ...string) *oaiErr {
	keys := slices.Sorted(maps.Keys(q))
	for _, k := range keys {
		if !slices.Contains(allowed, strings.TrimSuffix(k, "[]")) {
			return oaiBad(k, "Unrecognized request argument supplied: %s", k)
		}
	}
	return nil
}

// oaiQueryBool reads a boolean query parameter ("true" or "false").
func oaiQueryBool(q url.Values, name string) (bool, *oaiErr) {
	if !q.Has(name) {
		return false, nil
	}
	switch q.Get(name) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, oaiBad(name, "Invalid value for '%s': expected a boolean, but got '%s' instead.", name, q.Get(name))
}

// oaiPage answers a page of items (limit 1..100, default 20; order asc or
// desc, default desc; after: the ID of the item to start after) as a list
// object. An empty page has empty first and last IDs (the spec's
// ConversationItemList and ResponseItemList require strings).
func oaiPage(w http.ResponseWriter, r *http.Request, items []map[string]any) *oaiErr {
	q := r.URL.Query()
	if e := oaiCheckQuery(q, "limit", "order", "after", "include"); e != nil {
		return e
	}
	limit := 20
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		switch {
		case err != nil:
			return oaiBad("limit", "Invalid type for 'limit': expected an integer, but got a string instead.")
		case n < 1:
			return oaiBad("limit", "Invalid 'limit': integer below minimum value. Expected a value >= 1, but got %d instead.", n)
		case n > 100:
			return oaiBad("limit", "Invalid 'limit': integer above maximum value. Expected a value <= 100, but got %d instead.", n)
		}
		limit = n
	}
	order := "desc"
	if q.Has("order") {
		order = q.Get("order")
		if order != "asc" && order != "desc" {
			return oaiBad("order", "Invalid value: '%s'. Supported values are: 'asc' and 'desc'.", order)
		}
	}
	list := slices.Clone(items)
	if order == "desc" {
		slices.Reverse(list)
	}
	if q.Has("after") {
		after := q.Get("after")
		i := slices.IndexFunc(list, func(it map[string]any) bool { return it["id"] == after })
		if i < 0 {
			return oaiBad("after", "Invalid 'after': no item with id '%s'.", after)
		}
		list = list[i+1:]
	}
	more := len(list) > limit
	if more {
		list = list[:limit]
	}
	data := make([]any, len(list))
	first, last := any(""), any("")
	for i, it := range list {
		data[i] = it
	}
	if len(list) > 0 {
		first, last = list[0]["id"], list[len(list)-1]["id"]
	}
	oaiWriteJSON(w, map[string]any{"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more})
	return nil
}

// ---- the stored-response lifecycle ----

// retrieveResponse answers GET /v1/responses/{id}: the response now (a
// pending background response moves on one step per retrieve, see
// BackgroundPolls), or with stream=true its events after starting_after.
func (b *OpenAIBackend) retrieveResponse(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, org, id string) *oaiErr {
	q := r.URL.Query()
	if e := oaiCheckQuery(q, "include", "stream", "starting_after", "include_obfuscation"); e != nil {
		return e
	}
	stream, e := oaiQueryBool(q, "stream")
	if e != nil {
		return e
	}
	if _, e := oaiQueryBool(q, "include_obfuscation"); e != nil {
		return e
	}
	after := -1
	if q.Has("starting_after") {
		n, err := strconv.Atoi(q.Get("starting_after"))
		if err != nil {
			return oaiBad("starting_after", "Invalid type for 'starting_after': expected an integer, but got a string instead.")
		}
		if n < 0 {
			return oaiBad("starting_after", "Invalid 'starting_after': integer below minimum value. Expected a value >= 0, but got %d instead.", n)
		}
		if !stream {
			return oaiBad("starting_after", "'starting_after' is only allowed when 'stream' is true.")
		}
		after = n
	}
	b.mu.Lock()
	sr := b.store.response(org, id)
	if sr == nil {
		b.mu.Unlock()
		return oaiResponseNotFound(id)
	}
	if stream {
		events := sr.events
		in, out := sr.in, sr.out
		b.mu.Unlock()
		if len(events) == 0 {
			return oaiBad("stream", "Response '%s' cannot be streamed: only a response created with background=true and stream=true can be streamed again.", id)
		}
		sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
		for i := max(after+1, 0); i < len(events); i++ {
			if i == len(events)-1 && sse.delivers() {
				s.AddUsage(in, out)
			}
			sse.Send(events[i].typ, string(events[i].data))
		}
		return nil
	}
	completed := false
	if sr.status == "queued" || sr.status == "in_progress" {
		sr.polls++
		need := b.BackgroundPolls
		if need == 0 {
			need = 2
		}
		switch {
		case need > 0 && sr.polls >= need:
			sr.status, _ = sr.final["status"].(string)
			completed = true
		default:
			sr.status = "in_progress"
		}
	}
	obj := sr.current()
	in, out := sr.in, sr.out
	b.mu.Unlock()
	if completed {
		s.AddUsage(in, out)
	}
	oaiWriteJSON(w, obj)
	return nil
}

// deleteResponse answers DELETE /v1/responses/{id}.
func (b *OpenAIBackend) deleteResponse(w http.ResponseWriter, org, id string) *oaiErr {
	b.mu.Lock()
	sr := b.store.response(org, id)
	if sr != nil {
		delete(b.store.responses, id)
	}
	b.mu.Unlock()
	if sr == nil {
		return oaiResponseNotFound(id)
	}
	oaiWriteJSON(w, map[string]any{"id": id, "object": "response.deleted", "deleted": true})
	return nil
}

// cancelResponse answers POST /v1/responses/{id}/cancel: a queued or
// in-progress background response becomes cancelled (cancelling it again
// answers it again); any other response is a 400.
func (b *OpenAIBackend) cancelResponse(w http.ResponseWriter, org, id string) *oaiErr {
	b.mu.Lock()
	defer b.mu.Unlock()
	sr := b.store.response(org, id)
	switch {
	case sr == nil:
		return oaiResponseNotFound(id)
	case !sr.background:
		return oaiBad("", "Only responses created with background=true can be cancelled.")
	case sr.status == "queued" || sr.status == "in_progress" || sr.status == "cancelled":
		sr.status = "cancelled"
	default:
		return oaiBad("", "Cannot cancel a response with status '%s'.", sr.status)
	}
	oaiWriteJSON(w, sr.current())
	return nil
}

// listInputItems answers GET /v1/responses/{id}/input_items.
func (b *OpenAIBackend) listInputItems(w http.ResponseWriter, r *http.Request, org, id string) *oaiErr {
	b.mu.Lock()
	sr := b.store.response(org, id)
	var items []map[string]any
	if sr != nil {
		items = slices.Clone(sr.input)
	}
	b.mu.Unlock()
	if sr == nil {
		return oaiResponseNotFound(id)
	}
	return oaiPage(w, r, items)
}

var oaiInputTokensFields = map[string]oaiFieldKind{
	"model": oaiFieldString, "input": oaiFieldAny, "previous_response_id": oaiFieldString, "tools": oaiFieldArray, "text": oaiFieldObject,
	"reasoning": oaiFieldObject, "truncation": oaiFieldString, "instructions": oaiFieldString, "personality": oaiFieldAny,
	"conversation": oaiFieldAny, "tool_choice": oaiFieldAny, "parallel_tool_calls": oaiFieldBool,
}

// serveInputTokens answers POST /v1/responses/input_tokens with the words
// of the instructions, the context (previous response or conversation)
// and the input, as a response to the same request would count them.
func (b *OpenAIBackend) serveInputTokens(w http.ResponseWriter, org string, req map[string]any) *oaiErr {
	if e := oaiCheckFields(req, oaiInputTokensFields); e != nil {
		return e
	}
	if tr, ok := req["truncation"].(string); ok && tr != "auto" && tr != "disabled" {
		return oaiBad("truncation", "Invalid value: '%s'. Supported values are: 'auto' and 'disabled'.", tr)
	}
	ctx, e := b.parseContext(org, req)
	if e != nil {
		return e
	}
	msgs := ctx.history
	if req["input"] != nil {
		in, e := oaiParseInputNamed("input", req["input"], ctx.calls, true)
		if e != nil {
			return e
		}
		msgs = append(msgs, in...)
	}
	tools, e := oaiParseResponsesTools(req["tools"])
	if e != nil {
		return e
	}
	if _, e := oaiParseToolChoice(req["tool_choice"], tools, true); e != nil {
		return e
	}
	instructions, _ := req["instructions"].(string)
	oaiWriteJSON(w, map[string]any{"object": "response.input_tokens", "input_tokens": oaiPromptWords(instructions, msgs)})
	return nil
}

// ---- conversations ----

// oaiCheckMetadata checks metadata: an object of at most 16 string values,
// keys up to 64 characters, values up to 512.
func oaiCheckMetadata(v any) (map[string]any, *oaiErr) {
	if v == nil {
		return map[string]any{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, oaiWrongType("metadata", "an object", v)
	}
	if len(m) > 16 {
		return nil, oaiBad("metadata", "Invalid 'metadata': too many properties. Expected an object with at most 16 properties, but got an object with %d properties instead.", len(m))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if n := len([]rune(k)); n > 64 {
			return nil, oaiBad("metadata", "Invalid 'metadata': string too long. Expected a string with maximum length 64, but got a string with length %d instead.", n)
		}
		val, ok := m[k].(string)
		if !ok {
			return nil, oaiWrongType("metadata."+k, "a string", m[k])
		}
		if n := len([]rune(val)); n > 512 {
			return nil, oaiBad("metadata."+k, "Invalid 'metadata.%s': string too long. Expected a string with maximum length 512, but got a string with length %d instead.", k, n)
		}
	}
	return maps.Clone(m), nil
}

// oaiCheckItems validates the items of a conversation request: an array of
// 1 (0 when optional) to 20 input items.
func (b *OpenAIBackend) oaiCheckItems(v any, optional bool) ([]map[string]any, *oaiErr) {
	if v == nil && optional {
		return nil, nil
	}
	arr, ok := v.([]any)
	if v != nil && !ok {
		return nil, oaiWrongType("items", "an array", v)
	}
	if len(arr) > 20 {
		return nil, oaiBad("items", "Invalid 'items': array too long. Expected an array with maximum length 20, but got an array with length %d instead.", len(arr))
	}
	if len(arr) == 0 && optional {
		return nil, nil
	}
	if _, e := oaiParseInputNamed("items", v, nil, false); e != nil {
		return nil, e
	}
	return b.itemResources(arr), nil
}

// createConversation answers POST /v1/conversations.
func (b *OpenAIBackend) createConversation(w http.ResponseWriter, org string, req map[string]any) *oaiErr {
	if e := oaiCheckFields(req, map[string]oaiFieldKind{"metadata": oaiFieldAny, "items": oaiFieldAny}); e != nil {
		return e
	}
	md, e := oaiCheckMetadata(req["metadata"])
	if e != nil {
		return e
	}
	items, e := b.oaiCheckItems(req["items"], true)
	if e != nil {
		return e
	}
	c := &oaiConv{org: org, id: fmt.Sprintf("conv_sim%08d", b.seq.Add(1)), created: time.Now().Unix(), metadata: md}
	c.add(items...)
	b.mu.Lock()
	b.store.addConversation(c)
	obj := c.object()
	b.mu.Unlock()
	oaiWriteJSON(w, obj)
	return nil
}

// withConversation runs fn on org's conversation id under the lock, or
// answers 404.
func (b *OpenAIBackend) withConversation(org, id string, fn func(*oaiConv) *oaiErr) *oaiErr {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.store.conversation(org, id)
	if c == nil {
		return oaiConversationNotFound(id)
	}
	return fn(c)
}

// updateConversation answers POST /v1/conversations/{id}: metadata is
// required and replaces the conversation's.
func (b *OpenAIBackend) updateConversation(w http.ResponseWriter, org, id string, req map[string]any) *oaiErr {
	if e := oaiCheckFields(req, map[string]oaiFieldKind{"metadata": oaiFieldAny}); e != nil {
		return e
	}
	if _, ok := req["metadata"]; !ok {
		return oaiBad("metadata", "Missing required parameter: 'metadata'.")
	}
	md, e := oaiCheckMetadata(req["metadata"])
	if e != nil {
		return e
	}
	return b.withConversation(org, id, func(c *oaiConv) *oaiErr {
		c.metadata = md
		oaiWriteJSON(w, c.object())
		return nil
	})
}

// deleteConversation answers DELETE /v1/conversations/{id}.
func (b *OpenAIBackend) deleteConversation(w http.ResponseWriter, org, id string) *oaiErr {
	return b.withConversation(org, id, func(c *oaiConv) *oaiErr {
		delete(b.store.convs, id)
		oaiWriteJSON(w, map[string]any{"id": id, "object": "conversation.deleted", "deleted": true})
		return nil
	})
}

// addConversationItems answers POST /v1/conversations/{id}/items with the
// items added.
func (b *OpenAIBackend) addConversationItems(w http.ResponseWriter, r *http.Request, org, id string, req map[string]any) *oaiErr {
	if e := oaiCheckQuery(r.URL.Query(), "include"); e != nil {
		return e
	}
	if e := oaiCheckFields(req, map[string]oaiFieldKind{"items": oaiFieldAny}); e != nil {
		return e
	}
	if _, ok := req["items"]; !ok {
		return oaiBad("items", "Missing required parameter: 'items'.")
	}
	items, e := b.oaiCheckItems(req["items"], false)
	if e != nil {
		return e
	}
	return b.withConversation(org, id, func(c *oaiConv) *oaiErr {
		c.add(items...)
		data := make([]any, len(items))
		for i, it := range items {
			data[i] = it
		}
		first, last := any(""), any("")
		if len(items) > 0 {
			first, last = items[0]["id"], items[len(items)-1]["id"]
		}
		oaiWriteJSON(w, map[string]any{"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": false})
		return nil
	})
}

// listConversationItems answers GET /v1/conversations/{id}/items.
func (b *OpenAIBackend) listConversationItems(w http.ResponseWriter, r *http.Request, org, id string) *oaiErr {
	var items []map[string]any
	if e := b.withConversation(org, id, func(c *oaiConv) *oaiErr { items = slices.Clone(c.items); return nil }); e != nil {
		return e
	}
	return oaiPage(w, r, items)
}

// conversationItem answers GET (the item) and DELETE (the conversation
// after) of /v1/conversations/{id}/items/{item}.
func (b *OpenAIBackend) conversationItem(w http.ResponseWriter, r *http.Request, org, id, itemID string) *oaiErr {
	if r.Method == http.MethodGet {
		if e := oaiCheckQuery(r.URL.Query(), "include"); e != nil {
			return e
		}
	}
	return b.withConversation(org, id, func(c *oaiConv) *oaiErr {
		i := slices.IndexFunc(c.items, func(it map[string]any) bool { return it["id"] == itemID })
		if i < 0 {
			return oaiItemNotFound(itemID)
		}
		if r.Method == http.MethodGet {
			oaiWriteJSON(w, c.items[i])
			return nil
		}
		c.items = slices.Delete(c.items, i, i+1)
		oaiWriteJSON(w, c.object())
		return nil
	})
}
