package sim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// TGIBackend simulates Hugging Face Text Generation Inference (the
// text-generation-router): POST /generate, /generate_stream and
// /v1/chat/completions (plain and streamed, tools, grammars), GET /info,
// /health and /v1/models, at the server root, so the adapter's base URL is
// Server.URL.
//
// It checks requests the way the router does. Before a handler runs, axum
// answers in plain text: 404 (empty) for an unknown route, 405 (empty) for a
// wrong method, 415 for a Content-Type that is not JSON, 400 for a body that
// is not JSON and 422 "Failed to deserialize the JSON body into the target
// type: …" for a missing field or a field of the wrong type. The router's
// validation then answers {"error","error_type"} with status 422 and type
// "validation" (`inputs` empty or over MaxInputTokens words, temperature,
// repetition_penalty or top_k not strictly positive, top_p or typical_p
// outside (0, 1), more than 4 stop sequences, best_of over 2 or without
// sampling, max_new_tokens 0 or over the MaxTotalTokens budget, top_n_tokens
// over 5, a malformed grammar), "template_error" (an unknown role, no
// messages) or "tool_error" (tool_choice naming no tool, tools together with
// response_format). On /generate_stream, and on a streamed chat once the
// request has been turned into a generation, validation and overload errors
// arrive as an SSE event after a 200, as the router sends them: data:{"error",
// "error_type"} (chat: data:{"error":{"message","http_status_code"}}). More
// than MaxConcurrentRequests requests at once are "overloaded" (429, or
// in-stream). All rejections but overload count as Server.InvalidCalls.
//
// The simulator is stricter than the router in one way: a body field the
// route does not know is rejected with 422 (the router ignores it), so a
// misspelt field, or an OpenAI-only one such as max_completion_tokens, cannot
// pass unnoticed.
//
// Authentication is optional, as with the router's --api-key: with APIKey set,
// the inference routes need "Authorization: Bearer <APIKey>" (compared
// without regard to case) and get a bare 401 otherwise; /info, /health and
// /v1/models stay open. Key reports the bearer token, or "anonymous".
//
// Answers are deterministic. /generate's text is "echo: " and the prompt's
// words (a JSON object for a json grammar); a chat answer is "echo: " and the
// last user text (with "[n image(s)]"), a tool call when the request has tools
// and tool_choice requires one or the last user message mentions "weather",
// and "The tool returned: …" after a tool result. Each word is one token
// (TGIToken), streamed one event per token with no space after "data:"; the
// answer stops at a stop sequence ("stop_sequence"), at max_new_tokens /
// max_tokens ("length"), or with an end-of-sequence token "</s>" that counts
// as a generated token ("eos_token"; chat reports "stop"). Prompt tokens are
// sim.Words of the prompt (of all message texts for chat). Usage is reported
// in x-prompt-tokens / x-generated-tokens, details and chat usage, and in
// Server.Usage once per completed answer (for streams only when the final
// event is sent).
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type TGIBackend struct {
	// ModelID is the model /info, /v1/models and chat answers report
	// (default "meta-llama/Llama-3.1-8B-Instruct").
	ModelID string
	// APIKey, when set, is required as a bearer token (TGI's --api-key).
	APIKey string
	// MaxInputTokens and MaxTotalTokens are the router's limits, in words
	// (defaults 1024 and 2048).
	MaxInputTokens, MaxTotalTokens int
	// MaxConcurrentRequests is how many generations may run at once before
	// "overloaded" (default 128).
	MaxConcurrentRequests int

	inflight  atomic.Int64
	unhealthy atomic.Bool
}

// TGI returns a simulator of Text Generation Inference with default
// settings.
func TGI() *TGIBackend { return &TGIBackend{} }

// SetHealthy makes /health answer 200 (true) or 503 (false).
func (b *TGIBackend) SetHealthy(ok bool) { b.unhealthy.Store(!ok) }

// Name returns "hf_tgi".
func (*TGIBackend) Name() string { return "hf_tgi" }

// Key returns the bearer token of the request, or "anonymous" without one.
func (*TGIBackend) Key(r *http.Request) string { return hfKey(r) }

func (b *TGIBackend) modelID() string   { return hfOr(b.ModelID, "meta-llama/Llama-3.1-8B-Instruct") }
func (b *TGIBackend) maxInput() int     { return hfOrInt(b.MaxInputTokens, 1024) }
func (b *TGIBackend) maxTotal() int     { return hfOrInt(b.MaxTotalTokens, 2048) }
func (b *TGIBackend) maxConc() int64    { return int64(hfOrInt(b.MaxConcurrentRequests, 128)) }
func (*TGIBackend) fingerprint() string { return "3.3.6-dev0-native" }

// tgiErrorType is the error_type TGI sends with a status.
func tgiErrorType(status int) string {
	switch status {
	case http.StatusUnprocessableEntity:
		return "validation"
	case http.StatusFailedDependency:
		return "generation"
	case http.StatusTooManyRequests:
		return "overloaded"
	case http.StatusServiceUnavailable:
		return "healthcheck"
	}
	return "incomplete_generation"
}

// WriteError writes TGI's error answer for status: {"error","error_type"}
// with the type TGI pairs with the status (422 validation, 424 generation,
// 429 overloaded, 503 healthcheck, others incomplete_generation); a bare
// status for 401, 403, 404 and 405, as the router sends them.
func (*TGIBackend) WriteError(w http.ResponseWriter, status int, message string) {
	hfWriteError(w, status, message, tgiErrorType)
}

var tgiRoutes = map[string]string{
	"/generate": http.MethodPost, "/generate_stream": http.MethodPost, "/v1/chat/completions": http.MethodPost,
	"/info": http.MethodGet, "/health": http.MethodGet, "/v1/models": http.MethodGet,
}

// tgiReject is a validation failure: status, error_type and message.
type tgiReject struct {
	status int
	typ    string
	msg    string
}

func tgiValidation(format string, args ...any) *tgiReject {
	return &tgiReject{http.StatusUnprocessableEntity, "validation", "Input validation error: " + fmt.Sprintf(format, args...)}
}

// Serve routes the request.
func (b *TGIBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	path := r.URL.Path
	method, ok := tgiRoutes[path]
	if !ok {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfEmpty}, http.StatusNotFound, "")
		return
	}
	if r.Method != method {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfEmpty}, http.StatusMethodNotAllowed, "")
		return
	}
	switch path {
	case "/health":
		if b.unhealthy.Load() {
			b.WriteError(w, http.StatusServiceUnavailable, "unhealthy")
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	case "/info":
		b.serveInfo(w)
		return
	case "/v1/models":
		id := b.modelID()
		hfWriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{map[string]any{"id": id, "object": "model", "created": 0, "owned_by": id}}})
		return
	}
	if b.APIKey != "" && !strings.EqualFold(r.Header.Get("Authorization"), "Bearer "+b.APIKey) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if status, msg := hfCheckContentType(r); status != 0 {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, status, msg)
		return
	}
	w.Header().Set("x-compute-type", "1-nvidia-a10g")
	switch path {
	case "/generate", "/generate_stream":
		b.serveGenerate(s, w, r, body, f, path == "/generate_stream")
	default:
		b.serveChat(s, w, r, body, f)
	}
}

func (b *TGIBackend) serveInfo(w http.ResponseWriter) {
	hfWriteJSON(w, http.StatusOK, map[string]any{
		"model_id": b.modelID(), "model_sha": "0e9e39f249a16976918f6564b8830bc894c89659", "model_pipeline_tag": "text-generation",
		"max_concurrent_requests": b.maxConc(), "max_best_of": 2, "max_stop_sequences": 4, "max_input_tokens": b.maxInput(),
		"max_total_tokens": b.maxTotal(), "validation_workers": 2, "max_client_batch_size": 4, "router": "text-generation-router",
		"version": "3.3.6-dev0", "sha": "db931fcf42da018a3657580c64bf2720f167f9ab", "docker_label": "sha-db931fc",
	})
}

// admit takes a generation slot; it reports false when overloaded.
func (b *TGIBackend) admit() bool {
	if b.inflight.Add(1) > b.maxConc() {
		b.inflight.Add(-1)
		return false
	}
	return true
}

func (b *TGIBackend) release() { b.inflight.Add(-1) }

var tgiOverloaded = &tgiReject{http.StatusTooManyRequests, "overloaded", "Model is overloaded"}

// ---- generation parameters ----

var tgiParamFields = hfFields{
	"adapter_id": hfOptString, "best_of": hfOptUint, "decoder_input_details": hfBool, "details": hfBool, "do_sample": hfBool,
	"frequency_penalty": hfOptNumber, "grammar": hfOptObject, "max_new_tokens": hfOptUint, "repetition_penalty": hfOptNumber,
	"return_full_text": hfOptBool, "seed": hfOptUint, "stop": hfStrings, "temperature": hfOptNumber, "top_k": hfOptUint,
	"top_n_tokens": hfOptUint, "top_p": hfOptNumber, "truncate": hfOptUint, "typical_p": hfOptNumber, "watermark": hfBool,
}

// tgiParams are validated generation parameters.
type tgiParams struct {
	maxNew   int // 0: the server's default
	stop     []string
	details  bool
	prefill  bool
	fullText bool
	sampling bool
	seed     *uint64
	bestOf   int
	truncate int
	grammar  map[string]any
}

func tgiNum(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

func tgiUint(v any) (int, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	u, err := strconv.ParseUint(n.String(), 10, 32)
	return int(u), err == nil
}

// validate applies the router's validation (validation.rs) to parameters.
func (b *TGIBackend) validate(p map[string]any, inputTokens int, stream bool) (*tgiParams, *tgiReject) {
	out := &tgiParams{details: true}
	if v, ok := p["details"].(bool); ok {
		out.details = v
	}
	out.prefill, _ = p["decoder_input_details"].(bool)
	out.fullText, _ = p["return_full_text"].(bool)
	out.sampling, _ = p["do_sample"].(bool)
	if t, ok := tgiNum(p["temperature"]); ok {
		if t <= 0 {
			return nil, tgiValidation("`temperature` must be strictly positive")
		}
		out.sampling = out.sampling || t != 1
	}
	if v, ok := tgiNum(p["repetition_penalty"]); ok && v <= 0 {
		return nil, tgiValidation("`repetition_penalty` must be strictly positive")
	}
	if v, ok := tgiNum(p["frequency_penalty"]); ok && (v < -2 || v > 2) {
		return nil, tgiValidation("`frequency_penalty` must be >= -2.0 and <= 2.0")
	}
	if v, ok := tgiNum(p["top_p"]); ok {
		if v <= 0 || v >= 1 {
			return nil, tgiValidation("`top_p` must be > 0.0 and < 1.0")
		}
		out.sampling = true
	}
	if v, ok := tgiNum(p["typical_p"]); ok {
		if v <= 0 || v >= 1 {
			return nil, tgiValidation("`typical_p` must be > 0.0 and < 1.0")
		}
		out.sampling = true
	}
	if v, ok := tgiUint(p["top_k"]); ok {
		if v == 0 {
			return nil, tgiValidation("`top_k` must be strictly positive")
		}
		out.sampling = true
	}
	if v, ok := tgiUint(p["top_n_tokens"]); ok && v > 5 {
		return nil, tgiValidation("`top_n_tokens` must be >= 0 and <= 5. Given: %d", v)
	}
	if v, ok := tgiUint(p["seed"]); ok {
		u := uint64(v)
		out.seed = &u
	}
	out.bestOf = 1
	if v, ok := tgiUint(p["best_of"]); ok {
		switch {
		case v == 0 || v > 2:
			return nil, tgiValidation("`best_of` must be > 0 and <= 2. Given: %d", v)
		case v > 1 && !out.sampling:
			return nil, tgiValidation("you must use sampling when `best_of` is > 1")
		case v > 1 && out.seed != nil:
			return nil, tgiValidation("`seed` must not be set when `best_of` > 1")
		}
		out.bestOf = v
	}
	if stream && out.bestOf != 1 {
		return nil, tgiValidation("`best_of` != 1 is not allowed for this endpoint")
	}
	if stream && out.prefill {
		return nil, tgiValidation("`decoder_input_details` == true is not supported when streaming tokens")
	}
	if stops, ok := p["stop"].([]any); ok {
		if len(stops) > 4 {
			return nil, tgiValidation("`stop` supports up to 4 stop sequences. Given: %d", len(stops))
		}
		for _, s := range stops {
			out.stop = append(out.stop, s.(string))
		}
	}
	if v, ok := tgiUint(p["truncate"]); ok {
		out.truncate = v
	}
	if out.truncate > 0 && inputTokens > out.truncate {
		inputTokens = out.truncate
	}
	if inputTokens > b.maxInput() {
		return nil, tgiValidation("`inputs` must have less than %d tokens. Given: %d", b.maxInput(), inputTokens)
	}
	if v, ok := tgiUint(p["max_new_tokens"]); ok {
		if v == 0 {
			return nil, tgiValidation("`max_new_tokens` must be strictly positive")
		}
		if inputTokens+v > b.maxTotal() {
			return nil, tgiValidation("`inputs` tokens + `max_new_tokens` must be <= %d. Given: %d `inputs` tokens and %d `max_new_tokens`", b.maxTotal(), inputTokens, v)
		}
		out.maxNew = v
	} else {
		out.maxNew = max(1, min(100, b.maxTotal()-inputTokens))
	}
	if g, ok := p["grammar"].(map[string]any); ok {
		if e := tgiCheckGrammar(g); e != nil {
			return nil, e
		}
		out.grammar = g
	}
	return out, nil
}

// tgiCheckGrammar checks a GrammarType: {"type":"json"|"json_object",
// "value":<schema>}, {"type":"regex","value":"…"} or
// {"type":"json_schema","value":{"schema":…}}.
func tgiCheckGrammar(g map[string]any) *tgiReject {
	bad := func(msg string) *tgiReject {
		return &tgiReject{http.StatusUnprocessableEntity, "validation", "Input validation error: grammar is not valid: " + msg}
	}
	if _, ok := g["value"]; !ok {
		return bad("missing field `value`")
	}
	switch g["type"] {
	case "json", "json_object":
		if _, ok := g["value"].(map[string]any); !ok {
			return bad("a json grammar's value must be a JSON Schema object")
		}
	case "regex":
		if _, ok := g["value"].(string); !ok {
			return bad("a regex grammar's value must be a string")
		}
	case "json_schema":
		v, ok := g["value"].(map[string]any)
		if !ok {
			return bad("a json_schema grammar's value must be an object")
		}
		if _, ok := v["schema"].(map[string]any); !ok {
			return bad("a json_schema grammar needs a `schema` object")
		}
	default:
		return bad(fmt.Sprintf("unknown variant `%v`, expected one of `json`, `json_object`, `regex`, `json_schema`", g["type"]))
	}
	return nil
}

// ---- generation ----

// TGIToken is one simulated token: a word (with its leading space after the
// first) or the end-of-sequence token "</s>".
type TGIToken struct {
	ID      int      `json:"id"`
	Text    string   `json:"text"`
	Logprob *float64 `json:"logprob"`
	Special bool     `json:"special"`
}

// tgiGeneration is one simulated generation.
type tgiGeneration struct {
	tokens []TGIToken // generated tokens, the EOS token last when eos
	text   string     // generated_text (special tokens excluded)
	finish string     // length, eos_token or stop_sequence
	input  int        // prompt tokens
}

func tgiTokenID(text string) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(text))
	return int(h.Sum32()%32000) + 3
}

// tgiGenerate produces answer as tokens: word by word until a stop sequence
// appears in the text, maxNew tokens are out, or the answer ends (then an
// EOS token follows, if the budget allows).
func tgiGenerate(answer string, input, maxNew int, stop []string) tgiGeneration {
	g := tgiGeneration{input: input}
	words := strings.Fields(answer)
	var text strings.Builder
	for i, w := range words {
		if len(g.tokens) >= maxNew {
			g.finish = "length"
			break
		}
		if i > 0 {
			w = " " + w
		}
		lp := -0.1 * float64(i%5+1)
		g.tokens = append(g.tokens, TGIToken{ID: tgiTokenID(w), Text: w, Logprob: &lp})
		text.WriteString(w)
		for _, s := range stop {
			if s != "" && strings.Contains(text.String(), s) {
				g.finish = "stop_sequence"
			}
		}
		if g.finish != "" {
			break
		}
	}
	if g.finish == "" {
		if len(g.tokens) >= maxNew {
			g.finish = "length"
		} else {
			lp := -0.01
			g.tokens = append(g.tokens, TGIToken{ID: 2, Text: "</s>", Logprob: &lp, Special: true})
			g.finish = "eos_token"
		}
	}
	g.text = text.String()
	return g
}

// tgiGrammarAnswer is the answer a json grammar forces: an object with a
// string for each property of the schema ("text" without properties).
func tgiGrammarAnswer(g map[string]any, words string) string {
	schema, _ := g["value"].(map[string]any)
	if g["type"] == "json_schema" {
		schema, _ = schema["schema"].(map[string]any)
	}
	if g["type"] == "regex" {
		return words
	}
	props, _ := schema["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) == 0 {
		keys = []string{"text"}
	}
	obj := map[string]string{}
	for _, k := range keys {
		obj[k] = words
	}
	raw, _ := json.Marshal(obj)
	return string(raw)
}

// tgiSSE counts the events sent so a backend can report usage just before
// the final event, exactly when that event will be written.
type tgiSSE struct {
	*SSE
	f *Fault
	n int
}

func (t *tgiSSE) send(data string) {
	t.Send("", data)
	t.n++
}

func (t *tgiSSE) delivers() bool {
	return t.f == nil || !((t.f.CutAfter > 0 && t.n >= t.f.CutAfter) || (t.f.StallAfter > 0 && t.n >= t.f.StallAfter))
}

func newTGISSE(s *Server, w http.ResponseWriter, r *http.Request, f *Fault) *tgiSSE {
	w.Header().Set("X-Accel-Buffering", "no")
	sse := NewSSE(s, w, r, f)
	sse.NoSpace = true
	return &tgiSSE{SSE: sse, f: f}
}

// tgiJSON encodes v as serde_json does: no HTML escaping, no newline.
func tgiJSON(v any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// tgiStreamEvent is a /generate_stream StreamResponse, fields in TGI's order.
type tgiStreamEvent struct {
	Index         int      `json:"index"`
	Token         TGIToken `json:"token"`
	GeneratedText *string  `json:"generated_text"`
	Details       any      `json:"details"`
}

// tgiChunk is a chat.completion.chunk, fields in TGI's order.
type tgiChunk struct {
	Object            string `json:"object"`
	ID                string `json:"id"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []any  `json:"choices"`
	Usage             any    `json:"usage"`
}

type tgiChunkChoice struct {
	Index        int `json:"index"`
	Delta        any `json:"delta"`
	Logprobs     any `json:"logprobs"`
	FinishReason any `json:"finish_reason"`
}

// tgiDelta is a text delta, fields in TGI's order.
type tgiDelta struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// tgiToolDelta is a tool call delta.
type tgiToolDelta struct {
	Role      string `json:"role"`
	ToolCalls []any  `json:"tool_calls"`
}

// ---- /generate and /generate_stream ----

var tgiGenerateFields = hfFields{"inputs": hfString, "parameters": hfObject, "add_special_tokens": hfBool}

func (b *TGIBackend) serveGenerate(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault, stream bool) {
	start := time.Now()
	req, status, msg := hfParse(body, "GenerateRequest", tgiGenerateFields, "inputs")
	params, _ := req["parameters"].(map[string]any)
	if status == 0 && params != nil {
		if m := hfCheckFields(params, "parameters.", tgiParamFields); m != "" {
			status, msg = http.StatusUnprocessableEntity, hfDeserialize(fmt.Sprintf("%s at line 1 column %d", m, len(body)))
		}
	}
	if status != 0 {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, status, msg)
		return
	}
	prompt := req["inputs"].(string)
	w.Header().Set("x-compute-characters", strconv.Itoa(len([]rune(prompt))))
	var rej *tgiReject
	var p *tgiParams
	input := Words(prompt)
	if prompt == "" {
		rej = tgiValidation("`inputs` cannot be empty")
	} else {
		p, rej = b.validate(params, input, stream)
	}
	if rej == nil && !b.admit() {
		rej = tgiOverloaded
	} else if rej == nil {
		defer b.release()
	}
	if rej != nil {
		if rej != tgiOverloaded {
			// Counted like Server.Invalid, which cannot write the
			// in-stream form of the answer.
			s.invalid.Add(1)
		}
		if stream {
			newTGISSE(s, w, r, f).send(tgiJSON(map[string]any{"error": rej.msg, "error_type": rej.typ}))
			return
		}
		hfWriteJSON(w, rej.status, map[string]any{"error": rej.msg, "error_type": rej.typ})
		return
	}
	if p.truncate > 0 && input > p.truncate {
		input = p.truncate
	}
	answer := "echo: " + strings.Join(strings.Fields(prompt), " ")
	if p.grammar != nil {
		answer = tgiGrammarAnswer(p.grammar, strings.Join(strings.Fields(prompt), " "))
	}
	g := tgiGenerate(answer, input, p.maxNew, p.stop)
	text := g.text
	if p.fullText {
		text = prompt + text
	}
	var seed any
	if p.sampling {
		seed = uint64(42)
		if p.seed != nil {
			seed = *p.seed
		}
	}
	if !stream {
		var details any
		if p.details || p.prefill {
			prefill := []any{}
			if p.prefill {
				prefill = append(prefill, map[string]any{"id": 1, "text": "<s>", "logprob": nil})
				for _, wd := range strings.Fields(prompt) {
					prefill = append(prefill, map[string]any{"id": tgiTokenID(wd), "text": wd, "logprob": -1.0})
				}
			}
			d := map[string]any{"finish_reason": g.finish, "generated_tokens": len(g.tokens), "seed": seed, "prefill": prefill, "tokens": g.tokens}
			if p.bestOf > 1 {
				d["best_of_sequences"] = []any{map[string]any{"generated_text": text, "finish_reason": g.finish, "generated_tokens": len(g.tokens),
					"seed": seed, "prefill": prefill, "tokens": g.tokens}}
			}
			details = d
		}
		el := time.Since(start)
		h := w.Header()
		h.Set("x-compute-time", strconv.FormatFloat(el.Seconds(), 'f', -1, 64))
		h.Set("x-total-time", strconv.FormatInt(el.Milliseconds(), 10))
		h.Set("x-validation-time", "0")
		h.Set("x-queue-time", "0")
		h.Set("x-inference-time", strconv.FormatInt(el.Milliseconds(), 10))
		h.Set("x-time-per-token", "0")
		h.Set("x-prompt-tokens", strconv.Itoa(input))
		h.Set("x-generated-tokens", strconv.Itoa(len(g.tokens)))
		s.AddUsage(input, len(g.tokens))
		hfWriteJSON(w, http.StatusOK, map[string]any{"generated_text": text, "details": details})
		return
	}
	sse := newTGISSE(s, w, r, f)
	for i, tok := range g.tokens {
		ev := tgiStreamEvent{Index: i + 1, Token: tok}
		if i == len(g.tokens)-1 {
			ev.GeneratedText = &text
			if p.details {
				ev.Details = map[string]any{"finish_reason": g.finish, "generated_tokens": len(g.tokens), "input_length": input, "seed": seed}
			}
			if sse.delivers() {
				s.AddUsage(input, len(g.tokens))
			}
		}
		sse.send(tgiJSON(ev))
	}
}

// ---- /v1/chat/completions ----

var tgiChatFields = hfFields{
	"messages": hfArray, "model": hfOptString, "max_tokens": hfOptUint, "temperature": hfOptNumber, "top_p": hfOptNumber,
	"seed": hfOptUint, "stop": hfOptStrings, "n": hfOptUint, "frequency_penalty": hfOptNumber, "presence_penalty": hfOptNumber,
	"logit_bias": hfOptArray, "logprobs": hfOptBool, "top_logprobs": hfOptUint, "stream": hfBool, "stream_options": hfOptObject,
	"response_format": hfOptObject, "tools": hfOptArray, "tool_choice": hfAny, "tool_prompt": hfOptString,
}

type tgiTool struct {
	name   string
	params map[string]any
}

type tgiChatReq struct {
	model        string
	prompt       int    // prompt tokens
	lastUser     string // text of the last user message, with image note
	toolResult   *string
	tools        []tgiTool
	choice       string // "", auto, none, required or a tool name
	stream       bool
	includeUsage bool
	params       map[string]any // generation parameters mapped from the chat fields
}

func tgiTemplate(format string, args ...any) *tgiReject {
	return &tgiReject{http.StatusUnprocessableEntity, "template_error", "Template error: " + fmt.Sprintf(format, args...)}
}

func tgiToolError(format string, args ...any) *tgiReject {
	return &tgiReject{http.StatusUnprocessableEntity, "tool_error", "Tool error: " + fmt.Sprintf(format, args...)}
}

// parseChat checks a chat request the way serde and the router's template
// step do. A *tgiReject with status 0 is a deserialisation failure (plain
// text 422).
func (b *TGIBackend) parseChat(body []byte) (*tgiChatReq, *tgiReject) {
	req, status, msg := hfParse(body, "ChatRequest", tgiChatFields, "messages")
	if status != 0 {
		return nil, &tgiReject{status: status, msg: msg}
	}
	deser := func(format string, args ...any) *tgiReject {
		return &tgiReject{status: http.StatusUnprocessableEntity,
			msg: hfDeserialize(fmt.Sprintf(format, args...) + fmt.Sprintf(" at line 1 column %d", len(body)))}
	}
	cr := &tgiChatReq{model: "tgi", choice: "auto", params: map[string]any{}}
	if m, ok := req["model"].(string); ok {
		cr.model = m
	}
	cr.stream, _ = req["stream"].(bool)
	if so, ok := req["stream_options"].(map[string]any); ok {
		if m := hfCheckFields(so, "stream_options.", hfFields{"include_usage": hfBool}); m != "" {
			return nil, deser("%s", m)
		}
		cr.includeUsage, _ = so["include_usage"].(bool)
	}
	// Tools.
	if tools, ok := req["tools"].([]any); ok {
		for i, t := range tools {
			tm, ok := t.(map[string]any)
			if !ok {
				return nil, deser("tools[%d]: invalid type: %s, expected struct Tool", i, hfDescribe(t))
			}
			if m := hfCheckFields(tm, fmt.Sprintf("tools[%d].", i), hfFields{"type": hfString, "function": hfObject}, "type", "function"); m != "" {
				return nil, deser("%s", m)
			}
			fn := tm["function"].(map[string]any)
			if m := hfCheckFields(fn, fmt.Sprintf("tools[%d].function.", i), hfFields{"name": hfString, "description": hfOptString, "arguments": hfAny, "parameters": hfAny}, "name"); m != "" {
				return nil, deser("%s", m)
			}
			args, hasArgs := fn["arguments"]
			if !hasArgs {
				args, hasArgs = fn["parameters"]
			}
			if !hasArgs {
				return nil, deser("tools[%d].function: missing field `arguments`", i)
			}
			params, _ := args.(map[string]any)
			cr.tools = append(cr.tools, tgiTool{name: fn["name"].(string), params: params})
		}
	}
	switch c := req["tool_choice"].(type) {
	case nil:
	case string:
		if c != "auto" && c != "none" && c != "required" {
			return nil, deser("tool_choice: unknown variant `%s`, expected one of `auto`, `none`, `required`", c)
		}
		cr.choice = c
	case map[string]any:
		fn, ok := c["function"].(map[string]any)
		name, _ := fn["name"].(string)
		if !ok || name == "" {
			return nil, deser("tool_choice: data did not match any variant of untagged enum ToolChoice")
		}
		cr.choice = name
	default:
		return nil, deser("tool_choice: data did not match any variant of untagged enum ToolChoice")
	}
	if rf, ok := req["response_format"].(map[string]any); ok {
		if len(cr.tools) > 0 {
			return nil, tgiToolError("Grammar and tools are mutually exclusive")
		}
		if e := tgiCheckGrammar(rf); e != nil {
			return nil, e
		}
		cr.params["grammar"] = rf
	}
	if cr.choice != "auto" && cr.choice != "none" && cr.choice != "required" {
		found := false
		for _, t := range cr.tools {
			found = found || t.name == cr.choice
		}
		if !found {
			return nil, tgiToolError("Tool with name %s not found", cr.choice)
		}
	}
	if cr.choice == "required" && len(cr.tools) == 0 {
		return nil, tgiToolError("tool_choice is required but no tools were given")
	}
	// Messages.
	msgs := req["messages"].([]any)
	if len(msgs) == 0 {
		return nil, tgiTemplate("messages must not be empty")
	}
	pending := map[string]bool{}
	for i, m := range msgs {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil, deser("messages[%d]: invalid type: %s, expected struct Message", i, hfDescribe(m))
		}
		path := fmt.Sprintf("messages[%d].", i)
		if mmsg := hfCheckFields(mm, path, hfFields{"role": hfString, "content": hfAny, "tool_calls": hfOptArray, "tool_call_id": hfOptString, "name": hfOptString}, "role"); mmsg != "" {
			return nil, deser("%s", mmsg)
		}
		role := mm["role"].(string)
		text, images, hasContent, e := tgiContent(mm["content"])
		if e != "" {
			return nil, deser("%scontent: %s", path, e)
		}
		calls, _ := mm["tool_calls"].([]any)
		if !hasContent && len(calls) == 0 {
			return nil, deser("%sdata did not match any variant of untagged enum MessageBody", path)
		}
		switch role {
		case "system", "user":
		case "assistant":
			for j, c := range calls {
				cm, ok := c.(map[string]any)
				if !ok {
					return nil, deser("%stool_calls[%d]: invalid type, expected struct ToolCall", path, j)
				}
				if m := hfCheckFields(cm, fmt.Sprintf("%stool_calls[%d].", path, j), hfFields{"id": hfString, "type": hfString, "function": hfObject}, "id", "type", "function"); m != "" {
					return nil, deser("%s", m)
				}
				fn := cm["function"].(map[string]any)
				if m := hfCheckFields(fn, fmt.Sprintf("%stool_calls[%d].function.", path, j), hfFields{"name": hfString, "arguments": hfAny, "description": hfOptString}, "name", "arguments"); m != "" {
					return nil, deser("%s", m)
				}
				pending[cm["id"].(string)] = true
			}
		case "tool":
			id, _ := mm["tool_call_id"].(string)
			if id == "" || !pending[id] {
				return nil, tgiTemplate("tool message %d answers no tool call of an earlier assistant message (tool_call_id %q)", i, id)
			}
			t := text
			cr.toolResult = &t
		default:
			return nil, tgiTemplate("unsupported role '%s'", role)
		}
		if role == "user" {
			cr.lastUser = text
			if images > 0 {
				cr.lastUser += fmt.Sprintf(" [%d image%s]", images, map[bool]string{true: "s"}[images > 1])
			}
			cr.toolResult = nil
		}
		cr.prompt += Words(text) + images
	}
	// Generation parameters, as TGI maps them.
	if v, ok := tgiUint(req["max_tokens"]); ok {
		cr.params["max_new_tokens"] = json.Number(strconv.Itoa(v))
	}
	if t, ok := tgiNum(req["temperature"]); ok && t != 0 {
		cr.params["temperature"] = req["temperature"]
	}
	for _, k := range []string{"top_p", "frequency_penalty", "seed", "stop"} {
		if v, ok := req[k]; ok && v != nil {
			cr.params[k] = v
		}
	}
	return cr, nil
}

// tgiContent reads a message's content: a string or an array of text and
// image_url chunks. It returns the text, the image count, whether there was
// content, and a deserialisation error.
func tgiContent(v any) (string, int, bool, string) {
	switch c := v.(type) {
	case nil:
		return "", 0, false, ""
	case string:
		return c, 0, true, ""
	case []any:
		var parts []string
		images := 0
		for i, p := range c {
			pm, ok := p.(map[string]any)
			if !ok {
				return "", 0, false, fmt.Sprintf("[%d]: invalid type: %s, expected internally tagged enum MessageChunk", i, hfDescribe(p))
			}
			switch pm["type"] {
			case "text":
				if m := hfCheckFields(pm, "", hfFields{"type": hfString, "text": hfString}, "text"); m != "" {
					return "", 0, false, fmt.Sprintf("[%d]: %s", i, m)
				}
				parts = append(parts, pm["text"].(string))
			case "image_url":
				if m := hfCheckFields(pm, "", hfFields{"type": hfString, "image_url": hfObject}, "image_url"); m != "" {
					return "", 0, false, fmt.Sprintf("[%d]: %s", i, m)
				}
				u, _ := pm["image_url"].(map[string]any)["url"].(string)
				if u == "" {
					return "", 0, false, fmt.Sprintf("[%d].image_url: missing field `url`", i)
				}
				images++
			default:
				return "", 0, false, fmt.Sprintf("[%d]: unknown variant `%v`, expected `text` or `image_url`", i, pm["type"])
			}
		}
		return strings.Join(parts, " "), images, true, ""
	}
	return "", 0, false, fmt.Sprintf("invalid type: %s, expected a string or an array of chunks", hfDescribe(v))
}

// tgiToolArgs builds a call's arguments from the tool's schema: each
// property gets the last capitalised word of the user text (or "unknown"),
// as `{"city": "Paris"}`: a space after each colon and comma, so that the
// arguments stream as several tokens.
func tgiToolArgs(t tgiTool, text string) string {
	val := "unknown"
	for _, w := range strings.Fields(text) {
		w = strings.Trim(w, "?!.,;:\"'")
		if w != "" && strings.ToUpper(w[:1]) == w[:1] && strings.ToLower(w[:1]) != w[:1] {
			val = w
		}
	}
	props, _ := t.params["properties"].(map[string]any)
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		kk, _ := json.Marshal(k)
		vv, _ := json.Marshal(val)
		parts = append(parts, string(kk)+": "+string(vv))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func (b *TGIBackend) serveChat(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	cr, rej := b.parseChat(body)
	if rej != nil {
		kind := hfJSON
		if rej.typ == "" {
			kind = hfText
		}
		s.Invalid(&hfWriter{ResponseWriter: w, kind: kind, errType: rej.typ}, rej.status, rej.msg)
		return
	}
	// The chat becomes a generation; its parameters are validated as such.
	p, rej := b.validate(cr.params, cr.prompt, cr.stream)
	if rej == nil && !b.admit() {
		rej = tgiOverloaded
	} else if rej == nil {
		defer b.release()
	}
	if rej != nil {
		if rej != tgiOverloaded {
			s.invalid.Add(1)
		}
		if cr.stream {
			sse := newTGISSE(s, w, r, f)
			type chatError struct {
				Message string `json:"message"`
				Status  int    `json:"http_status_code"`
			}
			sse.send(tgiJSON(map[string]any{"error": chatError{rej.msg, rej.status}}))
			sse.send("[DONE]")
			return
		}
		hfWriteJSON(w, rej.status, map[string]any{"error": rej.msg, "error_type": rej.typ})
		return
	}
	// What the model says.
	var call *tgiTool
	answer := "echo: " + cr.lastUser
	switch {
	case cr.toolResult != nil:
		answer = "The tool returned: " + *cr.toolResult
	case len(cr.tools) > 0 && cr.choice != "none":
		for i, t := range cr.tools {
			if t.name == cr.choice || (cr.choice == "required" && i == 0) ||
				(cr.choice == "auto" && i == 0 && strings.Contains(strings.ToLower(cr.lastUser), "weather")) {
				call = &cr.tools[i]
				break
			}
		}
	}
	if p.grammar != nil {
		answer = tgiGrammarAnswer(p.grammar, cr.lastUser)
	}
	var args string
	if call != nil {
		args = tgiToolArgs(*call, cr.lastUser)
		answer = args
	}
	g := tgiGenerate(answer, cr.prompt, p.maxNew, p.stop)
	finish := map[string]string{"eos_token": "stop", "length": "length", "stop_sequence": "stop_sequence"}[g.finish]
	usage := map[string]any{"prompt_tokens": cr.prompt, "completion_tokens": len(g.tokens), "total_tokens": cr.prompt + len(g.tokens)}
	created := time.Now().Unix()
	if !cr.stream {
		msg := map[string]any{"role": "assistant", "content": g.text}
		if call != nil {
			msg = map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": "0", "type": "function",
				"function": map[string]any{"description": nil, "name": call.name, "arguments": g.text}}}}
		}
		s.AddUsage(cr.prompt, len(g.tokens))
		hfWriteJSON(w, http.StatusOK, map[string]any{"object": "chat.completion", "id": "", "created": created, "model": b.modelID(),
			"system_fingerprint": b.fingerprint(),
			"choices":            []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": finish}}, "usage": usage})
		return
	}
	sse := newTGISSE(s, w, r, f)
	chunk := func(delta any, finish any, usage any) {
		choices := []any{}
		if delta != nil {
			choices = append(choices, tgiChunkChoice{Delta: delta, FinishReason: finish})
		}
		sse.send(tgiJSON(tgiChunk{Object: "chat.completion.chunk", Created: created, Model: b.modelID(),
			SystemFingerprint: b.fingerprint(), Choices: choices, Usage: usage}))
	}
	toolDelta := func(name any, args string) tgiToolDelta {
		return tgiToolDelta{Role: "assistant", ToolCalls: []any{map[string]any{"index": 0, "id": "0", "type": "function",
			"function": map[string]any{"name": name, "arguments": args}}}}
	}
	if call != nil {
		chunk(toolDelta(call.name, ""), nil, nil)
	}
	for i, tok := range g.tokens {
		last := i == len(g.tokens)-1
		var fin any
		if last {
			fin = finish
		}
		text := tok.Text
		if tok.Special {
			text = ""
		}
		if call != nil && text != "" {
			chunk(toolDelta(nil, text), fin, nil)
		} else {
			chunk(tgiDelta{Role: "assistant", Content: text}, fin, nil)
		}
	}
	if cr.includeUsage {
		chunk(nil, nil, usage)
	}
	if sse.delivers() {
		s.AddUsage(cr.prompt, len(g.tokens))
	}
	sse.send("[DONE]")
}
