package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
)

// TEIBackend simulates Hugging Face Text Embeddings Inference (the
// text-embeddings-router): POST /embed, /embed_sparse, /rerank and the
// OpenAI-compatible /v1/embeddings (also /embeddings), GET /info and /health,
// at the server root, so the adapter's base URL is Server.URL.
//
// It checks requests the way the router does. Before a handler runs, axum
// answers in plain text: 404 (empty) for an unknown route, 405 (empty) for a
// wrong method, 415 for a Content-Type that is not JSON, 413 for a body over
// PayloadLimit, 400 for a body that is not JSON and 422 "Failed to deserialize
// the JSON body into the target type: …" for a missing field or a field of the
// wrong type. The handlers then answer {"error","error_type"} with TEI's
// PascalCase error types and statuses: 400 Empty (no inputs), 413 Validation
// ("batch size N > maximum allowed batch size M", an input over
// MaxInputLength words without truncation, an empty input, too many
// dimensions, an unknown prompt name), 424 Backend (a route the model type
// does not serve), 429 Overloaded (more than MaxConcurrentRequests at once),
// 503 Unhealthy (/health after SetHealthy(false)). /v1/embeddings answers
// errors as {"message","code","error_type"}. All of these count as
// Server.InvalidCalls except 429 and 503.
//
// The simulator is stricter than the router in one way: a body field the
// route does not know is rejected with 422 (the router ignores it), so a
// misspelt field cannot pass unnoticed.
//
// Authentication is optional, as with the router's --api-key: with APIKey set,
// every route but /health needs "Authorization: Bearer <APIKey>" exactly, and
// gets a bare 401 otherwise. Without it any request is accepted; Key reports
// the bearer token, or "anonymous" when there is none (so sim.WithKeys,
// RejectKey and keyed faults still work).
//
// Answers are deterministic: TEIEmbedding, TEISparse and TEIRerankScore of
// each input (after truncation), so a test can tell which vector belongs to
// which input. Token counts are sim.Words of each input (plus the query for
// each reranked text); they are reported in x-compute-tokens (and usage on
// /v1/embeddings) and in Server.Usage. Answers carry TEI's x-compute-* and
// x-*-time headers.
//
// Compute cost: with CallCost or InputCost set, a valid /embed,
// /embed_sparse, /v1/embeddings or /rerank request is answered only after
// one forward pass over its inputs, which costs CallCost plus InputCost per
// input (embedding input or rerank text) and is spent holding one of
// Workers slots (default 1: one GPU running one batch at a time). Requests
// wait for a slot in turn; a request whose client goes away (or whose
// server closes) stops waiting, or computing, at once and frees its slot.
// So, as on a real TEI, many inputs in one call are served faster than the
// same inputs in many calls: the fixed cost is paid once. The wait for a
// slot is reported in x-queue-time, the pass in x-inference-time;
// Computing, Waiting, MaxComputing and ComputeTime observe the slots.
// Waiting requests count against MaxConcurrentRequests, as TEI's queued
// requests do. Without a cost (the default) requests never wait.
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type TEIBackend struct {
	// ModelID is the model /info and /v1/embeddings report (default
	// "BAAI/bge-base-en-v1.5").
	ModelID string
	// ModelType restricts the routes the way TEI's model type does:
	// "embedding" serves /embed and /v1/embeddings, "splade" /embed_sparse,
	// "reranker" /rerank; the others answer 424 Backend. Empty serves all.
	ModelType string
	// Dimensions is the length of dense vectors (default 8).
	Dimensions int
	// MaxClientBatchSize is the most inputs (or rerank texts) one request
	// may carry (default 32, TEI's --max-client-batch-size).
	MaxClientBatchSize int
	// MaxInputLength is the most words one input may have (default 512).
	MaxInputLength int
	// DisableAutoTruncate makes truncate default to false, so a long input
	// is rejected unless the request asks for truncation (TEI's
	// --auto-truncate defaults to true).
	DisableAutoTruncate bool
	// APIKey, when set, is required as a bearer token (TEI's --api-key).
	APIKey string
	// PayloadLimit is the largest body in bytes (default 2000000).
	PayloadLimit int
	// MaxConcurrentRequests is how many requests may run at once before
	// 429 Overloaded (default 512).
	MaxConcurrentRequests int
	// SparseVocabulary is the index range of sparse vectors (default 30522).
	SparseVocabulary int
	// CallCost is the fixed cost of one forward pass, spent once per valid
	// embedding or rerank request while it holds a worker slot (default 0:
	// none).
	CallCost time.Duration
	// InputCost is the extra cost of a forward pass per input (embedding
	// input or rerank text) (default 0: none).
	InputCost time.Duration
	// WordVectors makes dense vectors TEIWordEmbedding (texts that share
	// most words are similar, like a real model's paraphrases) instead of
	// TEIEmbedding (a hash: every different text is unrelated). The demo
	// uses it for its semantic cache.
	WordVectors bool
	// Workers is how many requests compute at once when a cost is set; the
	// others wait in turn (default 1, one GPU running one batch at a time).
	Workers int

	inflight  atomic.Int64
	unhealthy atomic.Bool

	slotsOnce    sync.Once
	slots        chan struct{} // a token per computing request, capacity Workers
	waiting      atomic.Int64
	computing    atomic.Int64
	maxComputing atomic.Int64
	computeTime  atomic.Int64 // nanoseconds of completed passes
}

// TEI returns a simulator of Text Embeddings Inference with default settings.
func TEI() *TEIBackend { return &TEIBackend{} }

// Computing returns how many requests hold a worker slot now.
func (b *TEIBackend) Computing() int { return int(b.computing.Load()) }

// Waiting returns how many requests wait for a worker slot now.
func (b *TEIBackend) Waiting() int { return int(b.waiting.Load()) }

// MaxComputing returns the most requests that held a worker slot at once
// so far: at most Workers, and 0 while no cost is set.
func (b *TEIBackend) MaxComputing() int { return int(b.maxComputing.Load()) }

// ComputeTime returns the compute cost of every forward pass completed so
// far (CallCost plus InputCost per input, each), a measure of the simulated
// GPU's busy time that does not depend on the wall clock. Passes whose
// client went away are not counted.
func (b *TEIBackend) ComputeTime() time.Duration { return time.Duration(b.computeTime.Load()) }

// teiCompute spends the cost of one forward pass over n inputs holding a
// worker slot, waiting for the slot first. It returns how long the request
// waited, and false when ctx ended or closing was closed first (the slot,
// if taken, is freed).
func (b *TEIBackend) teiCompute(ctx context.Context, closing <-chan struct{}, n int) (time.Duration, bool) {
	cost := b.CallCost + time.Duration(n)*b.InputCost
	if cost <= 0 {
		return 0, true
	}
	b.slotsOnce.Do(func() { b.slots = make(chan struct{}, max(1, b.Workers)) })
	start := time.Now()
	b.waiting.Add(1)
	select {
	case b.slots <- struct{}{}:
		b.waiting.Add(-1)
	case <-ctx.Done():
		b.waiting.Add(-1)
		return time.Since(start), false
	case <-closing:
		b.waiting.Add(-1)
		return time.Since(start), false
	}
	defer func() { <-b.slots }()
	queued := time.Since(start)
	now := b.computing.Add(1)
	defer b.computing.Add(-1)
	for {
		m := b.maxComputing.Load()
		if now <= m || b.maxComputing.CompareAndSwap(m, now) {
			break
		}
	}
	t := time.NewTimer(cost)
	defer t.Stop()
	select {
	case <-t.C:
		b.computeTime.Add(int64(cost))
		return queued, true
	case <-ctx.Done():
		return queued, false
	case <-closing:
		return queued, false
	}
}

// SetHealthy makes /health answer 200 (true) or 503 Unhealthy (false).
func (b *TEIBackend) SetHealthy(ok bool) { b.unhealthy.Store(!ok) }

// Name returns "hf_tei".
func (*TEIBackend) Name() string { return "hf_tei" }

// Key returns the bearer token of the request, or "anonymous" without one.
func (*TEIBackend) Key(r *http.Request) string { return hfKey(r) }

func (b *TEIBackend) modelID() string   { return hfOr(b.ModelID, "BAAI/bge-base-en-v1.5") }
func (b *TEIBackend) dims() int         { return hfOrInt(b.Dimensions, 8) }
func (b *TEIBackend) maxBatch() int     { return hfOrInt(b.MaxClientBatchSize, 32) }
func (b *TEIBackend) maxInput() int     { return hfOrInt(b.MaxInputLength, 512) }
func (b *TEIBackend) payloadLimit() int { return hfOrInt(b.PayloadLimit, 2000000) }
func (b *TEIBackend) maxConcurrent() int64 {
	return int64(hfOrInt(b.MaxConcurrentRequests, 512))
}
func (b *TEIBackend) vocabulary() int { return hfOrInt(b.SparseVocabulary, 30522) }

// teiErrorType is the ErrorType TEI sends with a status.
func teiErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "Empty"
	case http.StatusRequestEntityTooLarge:
		return "Validation"
	case http.StatusUnprocessableEntity:
		return "Tokenizer"
	case http.StatusTooManyRequests:
		return "Overloaded"
	case http.StatusServiceUnavailable:
		return "Unhealthy"
	}
	return "Backend"
}

// WriteError writes TEI's error answer for status: {"error","error_type"}
// with the PascalCase type TEI pairs with the status (400 Empty, 413
// Validation, 422 Tokenizer, 424 Backend, 429 Overloaded, 503 Unhealthy,
// others Backend); a bare status for 401, 403, 404 and 405, as the router
// sends them.
func (*TEIBackend) WriteError(w http.ResponseWriter, status int, message string) {
	hfWriteError(w, status, message, teiErrorType)
}

// teiRoutes maps each path to its method.
var teiRoutes = map[string]string{
	"/embed": http.MethodPost, "/embed_sparse": http.MethodPost, "/rerank": http.MethodPost,
	"/v1/embeddings": http.MethodPost, "/embeddings": http.MethodPost,
	"/info": http.MethodGet, "/health": http.MethodGet,
}

// Serve routes the request.
func (b *TEIBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, _ *Fault) {
	path := r.URL.Path
	method, ok := teiRoutes[path]
	if !ok {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfEmpty}, http.StatusNotFound, "")
		return
	}
	if r.Method != method {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfEmpty}, http.StatusMethodNotAllowed, "")
		return
	}
	if path == "/health" {
		if b.unhealthy.Load() {
			b.WriteError(w, http.StatusServiceUnavailable, "unhealthy")
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if b.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+b.APIKey {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if path == "/info" {
		b.serveInfo(w)
		return
	}
	compat := path == "/v1/embeddings" || path == "/embeddings"
	reject := func(status int, msg string) {
		kind := hfJSON
		if compat {
			kind = hfCompat
		}
		s.Invalid(&hfWriter{ResponseWriter: w, kind: kind}, status, msg)
	}
	if len(body) > b.payloadLimit() {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, http.StatusRequestEntityTooLarge, "Failed to buffer the request body: length limit exceeded")
		return
	}
	if status, msg := hfCheckContentType(r); status != 0 {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, status, msg)
		return
	}
	if n := b.inflight.Add(1); n > b.maxConcurrent() {
		b.inflight.Add(-1)
		status := http.StatusTooManyRequests
		if compat {
			hfWriteError(&hfWriter{ResponseWriter: w, kind: hfCompat}, status, "Model is overloaded", teiErrorType)
		} else {
			b.WriteError(w, status, "Model is overloaded")
		}
		return
	}
	defer b.inflight.Add(-1)
	start := time.Now()
	c := &teiCall{ctx: r.Context(), closing: s.Closing(), start: start}
	switch path {
	case "/embed":
		b.serveEmbed(s, w, body, c, reject)
	case "/embed_sparse":
		b.serveSparse(s, w, body, c, reject)
	case "/rerank":
		b.serveRerank(s, w, body, c, reject)
	default:
		b.serveOpenAI(s, w, body, c, reject)
	}
}

func (b *TEIBackend) serveInfo(w http.ResponseWriter) {
	var modelType any
	switch b.ModelType {
	case "reranker":
		modelType = map[string]any{"reranker": map[string]any{"id2label": map[string]string{"0": "LABEL_0"}, "label2id": map[string]int{"LABEL_0": 0}}}
	case "splade":
		modelType = map[string]any{"embedding": map[string]any{"pooling": "splade"}}
	default:
		modelType = map[string]any{"embedding": map[string]any{"pooling": "cls"}}
	}
	hfWriteJSON(w, http.StatusOK, map[string]any{
		"model_id": b.modelID(), "model_sha": "5c38ec7c405ec4b44b94cc5a9bb96e735b38267a", "model_dtype": "float32",
		"served_model_name": b.modelID(), "model_type": modelType,
		"max_concurrent_requests": b.maxConcurrent(), "max_input_length": b.maxInput(), "max_batch_tokens": 16384,
		"max_batch_requests": nil, "max_client_batch_size": b.maxBatch(), "auto_truncate": !b.DisableAutoTruncate,
		"tokenization_workers": 4, "version": "1.9.3", "sha": "0d124dc9773be6ac5a9a57d8439aba9bbbf33273", "docker_label": "sha-0d124dc",
	})
}

// serves reports whether the configured model type serves a route kind.
func (b *TEIBackend) serves(kind string) bool { return b.ModelType == "" || b.ModelType == kind }

var (
	teiEmbedFields = hfFields{"inputs": hfInputs, "normalize": hfBool, "truncate": hfOptBool, "truncation_direction": hfTruncation,
		"prompt_name": hfOptString, "dimensions": hfOptUint}
	teiSparseFields = hfFields{"inputs": hfInputs, "truncate": hfOptBool, "truncation_direction": hfTruncation, "prompt_name": hfOptString}
	teiRerankFields = hfFields{"query": hfString, "texts": hfStrings, "truncate": hfOptBool, "truncation_direction": hfTruncation,
		"raw_scores": hfBool, "return_text": hfBool}
	teiOpenAIFields = hfFields{"input": hfInputs, "model": hfOptString, "user": hfOptString, "encoding_format": hfEncoding, "dimensions": hfOptUint}
)

// teiInputs is a request's inputs after validation.
type teiInputs struct {
	texts  []string // after prompt and truncation
	tokens int
	chars  int
}

// prepare checks and truncates inputs. It returns a status and message
// when TEI would reject them.
func (b *TEIBackend) prepare(req map[string]any, key string) (*teiInputs, int, string) {
	raw := hfInputList(req[key])
	if len(raw) == 0 {
		return nil, http.StatusBadRequest, "`inputs` cannot be empty"
	}
	if len(raw) > b.maxBatch() {
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("batch size %d > maximum allowed batch size %d", len(raw), b.maxBatch())
	}
	prefix := ""
	if p, ok := req["prompt_name"].(string); ok {
		switch p {
		case "query":
			prefix = "query: "
		case "passage":
			prefix = "passage: "
		default:
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("Input validation error: prompt name `%s` is not in the model's prompts (query, passage)", p)
		}
	}
	truncate := !b.DisableAutoTruncate
	if t, ok := req["truncate"].(bool); ok {
		truncate = t
	}
	left := strings.EqualFold(fmt.Sprint(req["truncation_direction"]), "left")
	out := &teiInputs{}
	for _, in := range raw {
		if in == "" {
			return nil, http.StatusRequestEntityTooLarge, "Input validation error: `inputs` cannot be empty"
		}
		text, n, ok := hfTruncate(prefix+in, b.maxInput(), truncate, left)
		if !ok {
			return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("Input validation error: `inputs` must have less than %d tokens. Given: %d", b.maxInput(), n)
		}
		out.texts = append(out.texts, text)
		out.tokens += Words(text)
		out.chars += len([]rune(in))
	}
	return out, 0, ""
}

// teiCall is what a handler needs of its request beyond the body: its
// context and the server's closing signal, when it started, and how long it
// waited for a worker slot.
type teiCall struct {
	ctx     context.Context
	closing <-chan struct{}
	start   time.Time
	queued  time.Duration
}

// compute spends the forward pass over n inputs (see teiCompute); false
// means the client went away and nothing is to be written.
func (b *TEIBackend) compute(c *teiCall, n int) bool {
	q, ok := b.teiCompute(c.ctx, c.closing, n)
	c.queued = q
	return ok
}

// teiHeaders sets TEI's timing and compute headers.
func teiHeaders(w http.ResponseWriter, c *teiCall, chars, tokens int) {
	el := time.Since(c.start)
	h := w.Header()
	h.Set("x-compute-type", "cpu")
	h.Set("x-compute-time", strconv.FormatFloat(el.Seconds(), 'f', -1, 64))
	h.Set("x-compute-characters", strconv.Itoa(chars))
	h.Set("x-compute-tokens", strconv.Itoa(tokens))
	h.Set("x-total-time", strconv.FormatInt(el.Milliseconds(), 10))
	h.Set("x-tokenization-time", "0")
	h.Set("x-queue-time", strconv.FormatInt(c.queued.Milliseconds(), 10))
	h.Set("x-inference-time", strconv.FormatInt((el-c.queued).Milliseconds(), 10))
}

func (b *TEIBackend) serveEmbed(s *Server, w http.ResponseWriter, body []byte, c *teiCall, reject func(int, string)) {
	req, status, msg := hfParse(body, "EmbedRequest", teiEmbedFields, "inputs")
	if status != 0 {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, status, msg)
		return
	}
	if !b.serves("embedding") {
		reject(http.StatusFailedDependency, "Backend error: Inference: model is not an embedding model")
		return
	}
	in, status, msg := b.prepare(req, "inputs")
	if status != 0 {
		reject(status, msg)
		return
	}
	dims, status, msg := b.dimensions(req)
	if status != 0 {
		reject(status, msg)
		return
	}
	normalize := true
	if n, ok := req["normalize"].(bool); ok {
		normalize = n
	}
	out := make([][]float32, len(in.texts))
	for i, t := range in.texts {
		out[i] = b.embedding(t, dims, normalize)
	}
	if !b.compute(c, len(in.texts)) {
		return
	}
	teiHeaders(w, c, in.chars, in.tokens)
	s.AddUsage(in.tokens, 0)
	hfWriteJSON(w, http.StatusOK, out)
}

func (b *TEIBackend) dimensions(req map[string]any) (int, int, string) {
	dims := b.dims()
	if d, ok := req["dimensions"].(json.Number); ok {
		n, _ := strconv.Atoi(d.String())
		if n == 0 || n > dims {
			return 0, http.StatusRequestEntityTooLarge, fmt.Sprintf("Input validation error: `dimensions` must be between 1 and %d. Given: %d", dims, n)
		}
		dims = n
	}
	return dims, 0, ""
}

func (b *TEIBackend) serveSparse(s *Server, w http.ResponseWriter, body []byte, c *teiCall, reject func(int, string)) {
	req, status, msg := hfParse(body, "EmbedSparseRequest", teiSparseFields, "inputs")
	if status != 0 {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, status, msg)
		return
	}
	if !b.serves("splade") {
		reject(http.StatusFailedDependency, "Backend error: Inference: `embed_sparse` is only available for SPLADE models")
		return
	}
	in, status, msg := b.prepare(req, "inputs")
	if status != 0 {
		reject(status, msg)
		return
	}
	out := make([][]TEISparseValue, len(in.texts))
	for i, t := range in.texts {
		out[i] = TEISparse(t, b.vocabulary())
	}
	if !b.compute(c, len(in.texts)) {
		return
	}
	teiHeaders(w, c, in.chars, in.tokens)
	s.AddUsage(in.tokens, 0)
	hfWriteJSON(w, http.StatusOK, out)
}

func (b *TEIBackend) serveRerank(s *Server, w http.ResponseWriter, body []byte, c *teiCall, reject func(int, string)) {
	req, status, msg := hfParse(body, "RerankRequest", teiRerankFields, "query", "texts")
	if status != 0 {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, status, msg)
		return
	}
	texts := hfInputList(req["texts"])
	if len(texts) == 0 {
		reject(http.StatusBadRequest, "`texts` cannot be empty")
		return
	}
	if !b.serves("reranker") {
		reject(http.StatusFailedDependency, "Backend error: Inference: model is not a re-ranker model")
		return
	}
	if len(texts) > b.maxBatch() {
		reject(http.StatusRequestEntityTooLarge, fmt.Sprintf("batch size %d > maximum allowed batch size %d", len(texts), b.maxBatch()))
		return
	}
	query := req["query"].(string)
	truncate := !b.DisableAutoTruncate
	if t, ok := req["truncate"].(bool); ok {
		truncate = t
	}
	raw, _ := req["raw_scores"].(bool)
	withText, _ := req["return_text"].(bool)
	type rank struct {
		Index int     `json:"index"`
		Text  *string `json:"text,omitempty"`
		Score float32 `json:"score"`
	}
	ranks := make([]rank, len(texts))
	tokens, chars := 0, 0
	for i, t := range texts {
		n := Words(query) + Words(t)
		if n > b.maxInput() && !truncate {
			reject(http.StatusRequestEntityTooLarge, fmt.Sprintf("Input validation error: `inputs` must have less than %d tokens. Given: %d", b.maxInput(), n))
			return
		}
		tokens += min(n, b.maxInput())
		chars += len([]rune(query)) + len([]rune(t))
		ranks[i] = rank{Index: i, Score: TEIRerankScore(query, t, raw)}
		if withText {
			ranks[i].Text = &texts[i]
		}
	}
	sort.SliceStable(ranks, func(i, j int) bool { return ranks[i].Score > ranks[j].Score })
	if !b.compute(c, len(texts)) {
		return
	}
	teiHeaders(w, c, chars, tokens)
	s.AddUsage(tokens, 0)
	hfWriteJSON(w, http.StatusOK, ranks)
}

func (b *TEIBackend) serveOpenAI(s *Server, w http.ResponseWriter, body []byte, c *teiCall, reject func(int, string)) {
	req, status, msg := hfParse(body, "OpenAICompatRequest", teiOpenAIFields, "input")
	if status != 0 {
		s.Invalid(&hfWriter{ResponseWriter: w, kind: hfText}, status, msg)
		return
	}
	format := "float"
	if f, ok := req["encoding_format"].(string); ok {
		format = f
	}
	if !b.serves("embedding") {
		reject(http.StatusFailedDependency, "Backend error: Inference: model is not an embedding model")
		return
	}
	in, status, msg := b.prepare(map[string]any{"inputs": req["input"]}, "inputs")
	if status != 0 {
		reject(status, msg)
		return
	}
	dims, status, msg := b.dimensions(req)
	if status != 0 {
		reject(status, msg)
		return
	}
	data := make([]any, len(in.texts))
	for i, t := range in.texts {
		vec := b.embedding(t, dims, true)
		var emb any = vec
		if format == "base64" {
			buf := make([]byte, 4*len(vec))
			for j, x := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(x))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "embedding": emb, "index": i}
	}
	if !b.compute(c, len(in.texts)) {
		return
	}
	teiHeaders(w, c, in.chars, in.tokens)
	s.AddUsage(in.tokens, 0)
	hfWriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data, "model": b.modelID(),
		"usage": map[string]any{"prompt_tokens": in.tokens, "total_tokens": in.tokens}})
}

// embedding is the dense vector the backend answers for text.
func (b *TEIBackend) embedding(text string, dims int, normalize bool) []float32 {
	if b.WordVectors {
		return TEIWordEmbedding(text, dims)
	}
	return TEIEmbedding(text, dims, normalize)
}

// TEIWordEmbedding is the simulator's word-based embedding of text: the sum
// of one OpenAIEmbedding per distinct word (lower-cased, punctuation
// dropped), scaled to unit length. Texts with the same words are identical
// (cosine 1); two texts sharing k of their n and m distinct words have a
// cosine near k/sqrt(n·m) when dims is large.
func TEIWordEmbedding(text string, dims int) []float32 {
	sum := make([]float64, dims)
	seen := map[string]bool{}
	for _, w := range hfWordList(text) {
		if seen[w] {
			continue
		}
		seen[w] = true
		for i, x := range OpenAIEmbedding(w, dims) {
			sum[i] += float64(x)
		}
	}
	var norm float64
	for _, x := range sum {
		norm += x * x
	}
	out := make([]float32, dims)
	if norm == 0 {
		out[0] = 1
		return out
	}
	norm = math.Sqrt(norm)
	for i, x := range sum {
		out[i] = float32(x / norm)
	}
	return out
}

// TEIEmbedding is the simulator's dense embedding of text: OpenAIEmbedding's
// unit vector of dims values, scaled by 1.5 + (number of runes mod 4) when
// normalize is false, so unnormalised vectors are visibly not unit length.
func TEIEmbedding(text string, dims int, normalize bool) []float32 {
	v := OpenAIEmbedding(text, dims)
	if !normalize {
		scale := 1.5 + float32(len([]rune(text))%4)
		for i := range v {
			v[i] *= scale
		}
	}
	return v
}

// TEISparseValue is one entry of a sparse vector on the wire.
type TEISparseValue struct {
	Index int     `json:"index"`
	Value float32 `json:"value"`
}

// TEISparse is the simulator's sparse embedding of text: one entry per
// distinct word (lower-cased letters and digits), at the word's FNV-1a hash
// modulo vocabulary, valued 0.5 + 0.25 per occurrence (colliding words add
// up), ordered by index.
func TEISparse(text string, vocabulary int) []TEISparseValue {
	if vocabulary <= 0 {
		vocabulary = 30522
	}
	acc := map[int]float32{}
	seen := map[string]bool{}
	for _, w := range hfWordList(text) {
		h := fnv.New32a()
		_, _ = h.Write([]byte(w))
		i := int(h.Sum32() % uint32(vocabulary))
		if !seen[w] {
			acc[i] += 0.5
			seen[w] = true
		}
		acc[i] += 0.25
	}
	out := make([]TEISparseValue, 0, len(acc))
	for i, v := range acc {
		out = append(out, TEISparseValue{Index: i, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// TEIRerankScore is the simulator's relevance of text to query: the share f
// of the query's distinct words found in text, as the logit 8f-4 when raw,
// else its sigmoid (as TEI applies to a reranker's raw score).
func TEIRerankScore(query, text string, raw bool) float32 {
	q := map[string]bool{}
	for _, w := range hfWordList(query) {
		q[w] = true
	}
	found := map[string]bool{}
	for _, w := range hfWordList(text) {
		if q[w] {
			found[w] = true
		}
	}
	f := 0.0
	if len(q) > 0 {
		f = float64(len(found)) / float64(len(q))
	}
	logit := 8*f - 4
	if raw {
		return float32(logit)
	}
	return float32(1 / (1 + math.Exp(-logit)))
}

// ---- helpers shared by the TEI and TGI simulators (both are axum routers) ----

const hfAnonymous = "anonymous"

// hfKey returns the bearer token of r, or "anonymous" without one.
func hfKey(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		if k := strings.TrimSpace(h[7:]); k != "" {
			return k
		}
	}
	return hfAnonymous
}

func hfOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func hfOrInt(n, def int) int {
	if n <= 0 {
		return def
	}
	return n
}

// hfKind is the shape of an error answer.
type hfKind int

const (
	hfJSON   hfKind = iota // {"error","error_type"}
	hfText                 // plain text, as axum's extractors answer
	hfEmpty                // status only
	hfCompat               // TEI's /v1/embeddings: {"message","code","error_type"}
)

// hfWriter carries the error shape from a handler through Server.Invalid to
// WriteError.
type hfWriter struct {
	http.ResponseWriter
	kind    hfKind
	errType string
}

func hfWriteError(w http.ResponseWriter, status int, message string, typeOf func(int) string) {
	kind, typ := hfJSON, ""
	if hw, ok := w.(*hfWriter); ok {
		kind, typ = hw.kind, hw.errType
		w = hw.ResponseWriter
	}
	if typ == "" {
		typ = typeOf(status)
	}
	switch {
	case kind == hfEmpty || status == http.StatusUnauthorized || status == http.StatusForbidden ||
		status == http.StatusNotFound || status == http.StatusMethodNotAllowed:
		w.WriteHeader(status)
	case kind == hfText:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprint(w, message)
	case kind == hfCompat:
		hfWriteJSON(w, status, map[string]any{"message": message, "code": status, "error_type": typ})
	default:
		hfWriteJSON(w, status, map[string]any{"error": message, "error_type": typ})
	}
}

// hfWriteJSON writes v as serde_json does: no HTML escaping.
func hfWriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// hfCheckContentType is axum's Json extractor check.
func hfCheckContentType(r *http.Request) (int, string) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
		return http.StatusUnsupportedMediaType, "Expected request with `Content-Type: application/json`"
	}
	return 0, ""
}

// hfFieldKind is the JSON type a body field must have.
type hfFieldKind int

const (
	hfString     hfFieldKind = iota // a string
	hfOptString                     // a string or null
	hfBool                          // a boolean
	hfOptBool                       // a boolean or null
	hfOptUint                       // a non-negative integer or null
	hfOptNumber                     // a number or null
	hfStrings                       // an array of strings
	hfOptStrings                    // an array of strings, or null
	hfInputs                        // TEI Input: a string, a list of strings, token IDs, or lists of token IDs
	hfObject                        // an object (checked by the caller)
	hfOptObject                     // an object or null
	hfArray                         // an array (checked by the caller)
	hfOptArray                      // an array or null
	hfTruncation                    // TEI TruncationDirection: "Left" or "Right"
	hfEncoding                      // TEI EncodingFormat: "float" or "base64"
	hfAny                           // anything
)

type hfFields map[string]hfFieldKind

var hfExpect = map[hfFieldKind]string{
	hfString: "a string", hfOptString: "a string", hfBool: "a boolean", hfOptBool: "a boolean", hfOptUint: "usize",
	hfOptNumber: "f32", hfStrings: "a sequence", hfOptStrings: "a sequence", hfInputs: "a string, a list of strings or token ids",
	hfObject: "a map", hfOptObject: "a map", hfArray: "a sequence", hfOptArray: "a sequence",
	hfTruncation: "one of `Left`, `Right`", hfEncoding: "one of `float`, `base64`",
}

// hfDeserialize is axum's text for a body that does not fit the target type.
func hfDeserialize(detail string) string {
	return "Failed to deserialize the JSON body into the target type: " + detail
}

// hfParse decodes body as a JSON object the way axum's Json extractor does
// (numbers kept as json.Number) and checks its fields. It returns the object,
// or the status (400 syntax, 422 shape) and text axum would answer.
func hfParse(body []byte, target string, fields hfFields, required ...string) (map[string]any, int, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, http.StatusBadRequest, "Failed to parse the request body as JSON: " + err.Error()
	}
	if _, err := dec.Token(); err == nil {
		return nil, http.StatusBadRequest, fmt.Sprintf("Failed to parse the request body as JSON: trailing characters at line 1 column %d", dec.InputOffset())
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, http.StatusUnprocessableEntity, hfDeserialize(fmt.Sprintf("invalid type: %s, expected struct %s at line 1 column %d", hfDescribe(v), target, len(body)))
	}
	if msg := hfCheckFields(obj, "", fields, required...); msg != "" {
		return nil, http.StatusUnprocessableEntity, hfDeserialize(fmt.Sprintf("%s at line 1 column %d", msg, len(body)))
	}
	return obj, 0, ""
}

// hfCheckFields checks obj's fields against fields; path prefixes field names
// in the message ("parameters."). It returns "" when they fit.
func hfCheckFields(obj map[string]any, path string, fields hfFields, required ...string) string {
	names := make([]string, 0, len(obj))
	for k := range obj {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		kind, ok := fields[k]
		if !ok {
			known := make([]string, 0, len(fields))
			for f := range fields {
				known = append(known, "`"+f+"`")
			}
			sort.Strings(known)
			return fmt.Sprintf("%sunknown field `%s`, expected one of %s", path, k, strings.Join(known, ", "))
		}
		if !hfFits(obj[k], kind) {
			return fmt.Sprintf("%s%s: invalid type: %s, expected %s", path, k, hfDescribe(obj[k]), hfExpect[kind])
		}
	}
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			return fmt.Sprintf("%smissing field `%s`", path, k)
		}
	}
	return ""
}

func hfFits(v any, kind hfFieldKind) bool {
	if v == nil {
		switch kind {
		case hfOptString, hfOptBool, hfOptUint, hfOptNumber, hfOptStrings, hfOptObject, hfOptArray, hfAny:
			return true
		}
		return false
	}
	switch kind {
	case hfString, hfOptString:
		_, ok := v.(string)
		return ok
	case hfBool, hfOptBool:
		_, ok := v.(bool)
		return ok
	case hfOptUint:
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		_, err := strconv.ParseUint(n.String(), 10, 32)
		return err == nil
	case hfOptNumber:
		_, ok := v.(json.Number)
		return ok
	case hfStrings, hfOptStrings:
		arr, ok := v.([]any)
		if !ok {
			return false
		}
		for _, e := range arr {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return true
	case hfInputs:
		return hfInputList(v) != nil || hfIsEmptyList(v)
	case hfObject, hfOptObject:
		_, ok := v.(map[string]any)
		return ok
	case hfArray, hfOptArray:
		_, ok := v.([]any)
		return ok
	case hfTruncation:
		return slices.Contains([]any{"Left", "Right", "left", "right"}, v)
	case hfEncoding:
		return v == "float" || v == "base64"
	}
	return true
}

func hfIsEmptyList(v any) bool {
	arr, ok := v.([]any)
	return ok && len(arr) == 0
}

// hfInputList reads TEI's Input: a string, a list of strings, a list of
// token IDs (one input) or a list of lists of token IDs. Token inputs become
// the text "ids:<json>". It returns nil for anything else or an empty list.
func hfInputList(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		if len(x) == 0 {
			return nil
		}
		var out []string
		switch x[0].(type) {
		case string:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					return nil
				}
				out = append(out, s)
			}
		case json.Number:
			if !hfIDs(x) {
				return nil
			}
			raw, _ := json.Marshal(x)
			out = append(out, "ids:"+string(raw))
		case []any:
			for _, e := range x {
				ids, ok := e.([]any)
				if !ok || len(ids) == 0 || !hfIDs(ids) {
					return nil
				}
				raw, _ := json.Marshal(ids)
				out = append(out, "ids:"+string(raw))
			}
		default:
			return nil
		}
		return out
	}
	return nil
}

func hfIDs(arr []any) bool {
	for _, e := range arr {
		n, ok := e.(json.Number)
		if !ok {
			return false
		}
		if _, err := strconv.ParseUint(n.String(), 10, 32); err != nil {
			return false
		}
	}
	return true
}

// hfDescribe names a JSON value the way serde's errors do.
func hfDescribe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("boolean `%v`", x)
	case json.Number:
		if _, err := strconv.ParseInt(x.String(), 10, 64); err == nil {
			return fmt.Sprintf("integer `%s`", x)
		}
		return fmt.Sprintf("floating point `%s`", x)
	case string:
		return fmt.Sprintf("string %q", x)
	case []any:
		return "sequence"
	case map[string]any:
		return "map"
	}
	return "value"
}

// hfWordList splits text into lower-cased runs of letters and digits.
func hfWordList(text string) []string {
	return strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// hfTruncate applies a word limit: it returns the text (its first or last
// limit words when truncating), the word count before truncation, and false
// when the text is too long and may not be truncated.
func hfTruncate(text string, limit int, truncate, left bool) (string, int, bool) {
	n := Words(text)
	if n <= limit {
		return text, n, true
	}
	if !truncate {
		return "", n, false
	}
	words := strings.Fields(text)
	if left {
		words = words[len(words)-limit:]
	} else {
		words = words[:limit]
	}
	return strings.Join(words, " "), n, true
}
