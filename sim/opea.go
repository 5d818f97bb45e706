package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
)

// OPEABackend simulates the OPEA services Switchyard talks to, all on one
// port (a real deployment runs each on its own): the ChatQnA megaservice
// (POST /v1/chatqna, port 8888), the LLM text-generation microservice (POST
// /v1/chat/completions, 9000), the embedding microservice (POST
// /v1/embeddings, 6000), the reranking microservice (POST /v1/reranking,
// 8000), and GET /v1/health_check, which every OPEA service serves. The
// adapter's base URL is Server.URL.
//
// It checks requests the way the real services do. The microservices are
// FastAPI routes with pydantic request models (GenAIComps api_protocol.py):
// a body that fails the model gets 422 {"detail":[{"type","loc","msg"}]}, a
// non-JSON content type or body too; unknown fields are ignored, as pydantic
// ignores them. Requests the model accepts but the service behind it fails
// on (an empty embedding input, token-id inputs, plain-string rerank
// documents, a sampling value the LLM backend rejects) get OPEA's plain-text
// 500 "Internal Server Error". The ChatQnA megaservice parses its body
// itself (ChatCompletionRequest.parse_obj and handle_message), so every
// malformed ChatQnA request, bad JSON included, is a plain-text 500: roles
// other than system, user and assistant, a message without role or content,
// image parts, wrongly typed fields, no user text. Every rejection counts
// as Server.InvalidCalls. Unknown paths are 404 and wrong methods 405, with
// FastAPI's {"detail": …}.
//
// Auth: like OPEA, none by default: a request without Authorization is
// accepted under the key "anonymous" (OPEAAnonymous); a bearer token is used
// as the key. With RequireKey (OPEA's JWT_AUTH mode) a request without a
// bearer token is answered 401 {"detail":"Invalid authentication scheme or
// Missing Token"}. WithKeys restricts the accepted keys as usual.
//
// Answers are deterministic. ChatQnA and the LLM answer "echo: " and the
// last user text; the LLM calls the tool tool_choice names (arguments
// {"query": <last user text>}) and, after a tool result, answers "The tool
// returned: …". ChatQnA streams by default ("stream" missing means true) as
// "data: b'…'" Python bytes literals, one per word with its trailing
// whitespace (repr escapes: \n, \', \\, \xNN for non-ASCII bytes), then
// "data: [DONE]"; ByteTokens splits the answer's bytes instead, so a
// multi-byte character straddles two literals; StreamFormat OPEAStreamJSON
// passes OpenAI chat.completion.chunk JSON through instead, as ChatQnA does
// when the LLM is its last node. Embeddings are OpenAIEmbedding of each input
// with newlines replaced by spaces (OPEA's TEI integration does that), of
// EmbeddingDimensions values whatever "dimensions" asks (TEI ignores it).
// Rerank scores are the sigmoid of 8f-4, f the share of the query's distinct
// words found in the document (OPEARerankScore).
//
// Usage: the LLM microservice reports OpenAI usage (sim.Words of the prompt
// texts and the answer; in streams only with stream_options.include_usage).
// ChatQnA reports none (its plain answer carries zeros, its streams
// nothing), and neither do embeddings and reranking. For ChatQnA the
// simulator still records, with Server.AddUsage, the estimate the adapter
// makes: sim.Words of every message text sent, and of the answer (recorded
// just before the final write, only for answers that complete), so token
// counters can be compared. Embeddings and reranking record nothing.
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type OPEABackend struct {
	// EmbeddingDimensions is the length of embedding vectors (default 8).
	EmbeddingDimensions int
	// StreamFormat is how ChatQnA streams: OPEAStreamBytes (default) or
	// OPEAStreamJSON.
	StreamFormat string
	// ByteTokens, when positive, makes ChatQnA stream the answer's UTF-8
	// bytes in literals of ByteTokens bytes each (bytes format only).
	ByteTokens int
	// RequireKey rejects requests without a bearer token (JWT_AUTH).
	RequireKey bool

	seq atomic.Int64
}

// ChatQnA stream formats.
const (
	OPEAStreamBytes = "bytes"
	OPEAStreamJSON  = "json"
)

// OPEAAnonymous is the key of requests that carry no Authorization header.
const OPEAAnonymous = "anonymous"

// OPEA returns a simulator of OPEA's services with default settings.
func OPEA() *OPEABackend { return &OPEABackend{} }

// Name returns "opea".
func (*OPEABackend) Name() string { return "opea" }

// Key returns the bearer token of r, OPEAAnonymous when r has no
// Authorization header (unless RequireKey), and "" (rejected) for another
// scheme or an empty token.
func (b *OPEABackend) Key(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		if b.RequireKey {
			return ""
		}
		return OPEAAnonymous
	}
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return ""
	}
	return strings.TrimSpace(h[7:])
}

// opeaVErr is one FastAPI/pydantic validation error.
type opeaVErr struct {
	Type string `json:"type"`
	Loc  []any  `json:"loc"`
	Msg  string `json:"msg"`
}

// opeaErrWriter carries how Serve wants a rejection written through
// Server.Invalid to WriteError.
type opeaErrWriter struct {
	http.ResponseWriter
	plain  bool
	detail []opeaVErr
}

// WriteError writes OPEA's error answers: a plain-text "Internal Server
// Error" for 500 (an unhandled exception), an nginx HTML page for 502, 503
// and 504, {"detail":[…]} for 422, and {"detail": message} otherwise (401
// says "Invalid authentication scheme or Missing Token", as OPEA's token
// validator does).
func (*OPEABackend) WriteError(w http.ResponseWriter, status int, message string) {
	var detail []opeaVErr
	plain := false
	if ew, ok := w.(*opeaErrWriter); ok {
		detail, plain = ew.detail, ew.plain
		w = ew.ResponseWriter
	}
	generic := message == "" || message == http.StatusText(status)
	switch {
	case plain || (status == http.StatusInternalServerError && generic):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte("Internal Server Error"))
		return
	case generic && (status == http.StatusBadGateway || status == http.StatusServiceUnavailable || status == http.StatusGatewayTimeout):
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		t := fmt.Sprintf("%d %s", status, http.StatusText(status))
		fmt.Fprintf(w, "<html>\r\n<head><title>%s</title></head>\r\n<body>\r\n<center><h1>%s</h1></center>\r\n<hr><center>nginx/1.27.4</center>\r\n</body>\r\n</html>\r\n", t, t)
		return
	}
	var body any
	switch {
	case status == http.StatusUnprocessableEntity:
		if detail == nil {
			detail = []opeaVErr{{Type: "value_error", Loc: []any{"body"}, Msg: message}}
		}
		body = map[string]any{"detail": detail}
	case status == http.StatusUnauthorized && (generic || message == "invalid API key"):
		body = map[string]any{"detail": "Invalid authentication scheme or Missing Token"}
	case status == http.StatusForbidden && generic:
		body = map[string]any{"detail": "User does not have required permissions."}
	default:
		if message == "" {
			message = http.StatusText(status)
		}
		body = map[string]any{"detail": message}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (b *OPEABackend) reject422(s *Server, w http.ResponseWriter, errs []opeaVErr) {
	s.Invalid(&opeaErrWriter{ResponseWriter: w, detail: errs}, http.StatusUnprocessableEntity, errs[0].Msg)
}

func (b *OPEABackend) reject500(s *Server, w http.ResponseWriter) {
	s.Invalid(&opeaErrWriter{ResponseWriter: w, plain: true}, http.StatusInternalServerError, "")
}

// Serve routes the OPEA services.
func (b *OPEABackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	path := r.URL.Path
	switch path {
	case "/v1/health_check":
		if r.Method != http.MethodGet {
			s.Invalid(w, http.StatusMethodNotAllowed, "Method Not Allowed")
			return
		}
		opeaWriteJSON(w, map[string]any{"Service Title": "opea_service@sim", "Service Description": "OPEA Microservice Infrastructure"})
		return
	case "/v1/chatqna", "/v1/chat/completions", "/v1/embeddings", "/v1/reranking":
	default:
		s.Invalid(w, http.StatusNotFound, "Not Found")
		return
	}
	if r.Method != http.MethodPost {
		s.Invalid(w, http.StatusMethodNotAllowed, "Method Not Allowed")
		return
	}
	if path == "/v1/chatqna" {
		b.serveChatQnA(s, w, r, body, f)
		return
	}
	req, errs := opeaParseBody(r, body)
	if errs != nil {
		b.reject422(s, w, errs)
		return
	}
	switch path {
	case "/v1/chat/completions":
		b.serveLLM(s, w, r, f, req)
	case "/v1/embeddings":
		b.serveEmbeddings(s, w, req)
	case "/v1/reranking":
		b.serveReranking(s, w, req)
	}
}

func opeaWriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// opeaParseBody reads a FastAPI JSON body the way FastAPI does: a JSON
// content type (or none) is parsed as JSON; the body model needs an
// object.
func opeaParseBody(r *http.Request, body []byte) (map[string]any, []opeaVErr) {
	notObject := []opeaVErr{{Type: "model_attributes_type", Loc: []any{"body"}, Msg: "Input should be a valid dictionary or object to extract fields from"}}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))) {
			return nil, notObject
		}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, []opeaVErr{{Type: "missing", Loc: []any{"body"}, Msg: "Field required"}}
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, []opeaVErr{{Type: "json_invalid", Loc: []any{"body", 0}, Msg: "JSON decode error"}}
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, notObject
	}
	return m, nil
}

// ---- pydantic-style field checks ----

type opeaKind int

const (
	opeaAny opeaKind = iota
	opeaStr
	opeaInt
	opeaNum
	opeaBool
	opeaObj
	opeaList
	opeaStop       // str | list[str]
	opeaToolChoice // "none" | {"type":"function","function":{"name":str}}
)

// opeaField is a field of a request model: its kind and whether null is
// allowed (Optional[...] in the model).
type opeaField struct {
	kind     opeaKind
	nullable bool
}

func opeaOpt(k opeaKind) opeaField { return opeaField{k, true} }
func opeaReq(k opeaKind) opeaField { return opeaField{k, false} }

// opeaChatFields are ChatCompletionRequest's fields besides messages.
var opeaChatFields = map[string]opeaField{
	"model": opeaOpt(opeaStr), "frequency_penalty": opeaOpt(opeaNum), "logit_bias": opeaOpt(opeaObj), "logprobs": opeaOpt(opeaBool),
	"top_logprobs": opeaOpt(opeaInt), "max_tokens": opeaOpt(opeaInt), "n": opeaOpt(opeaInt), "presence_penalty": opeaOpt(opeaNum),
	"response_format": opeaOpt(opeaObj), "seed": opeaOpt(opeaInt), "service_tier": opeaOpt(opeaStr), "stop": opeaOpt(opeaStop),
	"stream": opeaOpt(opeaBool), "stream_options": opeaOpt(opeaObj), "temperature": opeaOpt(opeaNum), "top_p": opeaOpt(opeaNum),
	"tools": opeaOpt(opeaList), "tool_choice": opeaOpt(opeaToolChoice), "parallel_tool_calls": opeaOpt(opeaBool), "user": opeaOpt(opeaStr),
	"best_of": opeaOpt(opeaInt), "suffix": opeaOpt(opeaStr), "repetition_penalty": opeaOpt(opeaNum), "top_k": opeaOpt(opeaInt),
	"typical_p": opeaOpt(opeaNum), "echo": opeaOpt(opeaBool), "add_generation_prompt": opeaOpt(opeaBool), "add_special_tokens": opeaOpt(opeaBool),
	"documents": opeaOpt(opeaList), "chat_template": opeaOpt(opeaStr), "chat_template_kwargs": opeaOpt(opeaObj),
	"input": opeaOpt(opeaAny), "encoding_format": opeaOpt(opeaStr), "dimensions": opeaOpt(opeaInt), "embedding": opeaReq(opeaAny),
	"search_type": opeaReq(opeaStr), "k": opeaReq(opeaInt), "distance_threshold": opeaOpt(opeaNum), "fetch_k": opeaReq(opeaInt),
	"lambda_mult": opeaReq(opeaNum), "score_threshold": opeaReq(opeaNum), "retrieved_docs": opeaReq(opeaList),
	"top_n": opeaReq(opeaInt), "reranked_docs": opeaReq(opeaList), "request_type": opeaReq(opeaStr),
}

var opeaKindErr = map[opeaKind][2]string{
	opeaStr:  {"string_type", "Input should be a valid string"},
	opeaInt:  {"int_type", "Input should be a valid integer"},
	opeaNum:  {"float_type", "Input should be a valid number"},
	opeaBool: {"bool_type", "Input should be a valid boolean"},
	opeaObj:  {"dict_type", "Input should be a valid dictionary"},
	opeaList: {"list_type", "Input should be a valid list"},
}

// opeaCheckKind checks one value against a field; loc is its location.
func opeaCheckKind(loc []any, v any, f opeaField) []opeaVErr {
	if v == nil {
		if f.nullable || f.kind == opeaAny {
			return nil
		}
		e := opeaKindErr[f.kind]
		return []opeaVErr{{Type: e[0], Loc: loc, Msg: e[1]}}
	}
	ok := true
	switch f.kind {
	case opeaStr:
		_, ok = v.(string)
	case opeaInt:
		x, isNum := v.(float64)
		if isNum && x != math.Trunc(x) {
			return []opeaVErr{{Type: "int_from_float", Loc: loc, Msg: "Input should be a valid integer, got a number with a fractional part"}}
		}
		ok = isNum
	case opeaNum:
		_, ok = v.(float64)
	case opeaBool:
		_, ok = v.(bool)
	case opeaObj:
		_, ok = v.(map[string]any)
	case opeaList:
		_, ok = v.([]any)
	case opeaStop:
		switch x := v.(type) {
		case string:
		case []any:
			for i, s := range x {
				if _, isStr := s.(string); !isStr {
					return []opeaVErr{{Type: "string_type", Loc: append(slices.Clone(loc), i), Msg: "Input should be a valid string"}}
				}
			}
		default:
			return []opeaVErr{{Type: "union_type", Loc: loc, Msg: "Input should be a valid string or a valid list"}}
		}
	case opeaToolChoice:
		if s, isStr := v.(string); isStr {
			if s != "none" {
				return []opeaVErr{{Type: "literal_error", Loc: loc, Msg: "Input should be 'none'"}}
			}
			return nil
		}
		o, isObj := v.(map[string]any)
		if !isObj {
			return []opeaVErr{{Type: "union_type", Loc: loc, Msg: "Input should be 'none' or a valid dictionary"}}
		}
		return opeaCheckNamed(loc, o)
	}
	if !ok {
		e := opeaKindErr[f.kind]
		return []opeaVErr{{Type: e[0], Loc: loc, Msg: e[1]}}
	}
	return nil
}

// opeaCheckNamed checks a ChatCompletionNamedToolChoiceParam.
func opeaCheckNamed(loc []any, o map[string]any) []opeaVErr {
	if t, has := o["type"]; has && t != "function" {
		return []opeaVErr{{Type: "literal_error", Loc: append(slices.Clone(loc), "type"), Msg: "Input should be 'function'"}}
	}
	fn, ok := o["function"].(map[string]any)
	if !ok {
		return []opeaVErr{{Type: "missing", Loc: append(slices.Clone(loc), "function"), Msg: "Field required"}}
	}
	if _, ok := fn["name"].(string); !ok {
		return []opeaVErr{{Type: "missing", Loc: append(slices.Clone(loc), "function", "name"), Msg: "Field required"}}
	}
	return nil
}

// opeaCheckChatRequest checks a body against ChatCompletionRequest.
func opeaCheckChatRequest(req map[string]any) []opeaVErr {
	var errs []opeaVErr
	msgs, has := req["messages"]
	if !has {
		errs = append(errs, opeaVErr{Type: "missing", Loc: []any{"body", "messages"}, Msg: "Field required"})
	} else {
		errs = append(errs, opeaCheckMessages(msgs)...)
	}
	keys := make([]string, 0, len(req))
	for k := range req {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		f, known := opeaChatFields[k]
		if !known {
			continue // pydantic ignores unknown fields
		}
		errs = append(errs, opeaCheckKind([]any{"body", k}, req[k], f)...)
	}
	if t, ok := req["tools"].([]any); ok {
		for i, tool := range t {
			o, isObj := tool.(map[string]any)
			loc := []any{"body", "tools", i}
			if !isObj {
				errs = append(errs, opeaVErr{Type: "model_type", Loc: loc, Msg: "Input should be a valid dictionary or instance of ChatCompletionToolsParam"})
				continue
			}
			if typ, has := o["type"]; has && typ != "function" {
				errs = append(errs, opeaVErr{Type: "literal_error", Loc: append(loc, "type"), Msg: "Input should be 'function'"})
			}
			fn, isObj := o["function"].(map[string]any)
			if !isObj {
				errs = append(errs, opeaVErr{Type: "missing", Loc: append(loc, "function"), Msg: "Field required"})
				continue
			}
			if _, ok := fn["name"].(string); !ok {
				errs = append(errs, opeaVErr{Type: "missing", Loc: append(loc, "function", "name"), Msg: "Field required"})
			}
			if d, has := fn["description"]; has && d != nil {
				if _, ok := d.(string); !ok {
					errs = append(errs, opeaVErr{Type: "string_type", Loc: append(loc, "function", "description"), Msg: "Input should be a valid string"})
				}
			}
			if p, has := fn["parameters"]; has && p != nil {
				if _, ok := p.(map[string]any); !ok {
					errs = append(errs, opeaVErr{Type: "dict_type", Loc: append(loc, "function", "parameters"), Msg: "Input should be a valid dictionary"})
				}
			}
		}
	}
	if so, ok := req["stream_options"].(map[string]any); ok {
		v, has := so["include_usage"]
		switch {
		case !has:
			errs = append(errs, opeaVErr{Type: "missing", Loc: []any{"body", "stream_options", "include_usage"}, Msg: "Field required"})
		case v != nil:
			if _, isBool := v.(bool); !isBool {
				errs = append(errs, opeaVErr{Type: "bool_type", Loc: []any{"body", "stream_options", "include_usage"}, Msg: "Input should be a valid boolean"})
			}
		}
	}
	if rf, ok := req["response_format"].(map[string]any); ok {
		if t := rf["type"]; t != "text" && t != "json_object" {
			errs = append(errs, opeaVErr{Type: "literal_error", Loc: []any{"body", "response_format", "type"}, Msg: "Input should be 'text' or 'json_object'"})
		}
	}
	if rt, ok := req["request_type"].(string); ok && rt != "chat" {
		errs = append(errs, opeaVErr{Type: "literal_error", Loc: []any{"body", "request_type"}, Msg: "Input should be 'chat'"})
	}
	return errs
}

// opeaCheckMessages checks "messages": a string, or a list of objects whose
// values are strings or lists of objects whose values are strings or
// objects of strings.
func opeaCheckMessages(v any) []opeaVErr {
	if _, ok := v.(string); ok {
		return nil
	}
	list, ok := v.([]any)
	if !ok {
		return []opeaVErr{{Type: "union_type", Loc: []any{"body", "messages"}, Msg: "Input should be a valid string or a valid list"}}
	}
	for i, m := range list {
		obj, ok := m.(map[string]any)
		loc := []any{"body", "messages", i}
		if !ok {
			return []opeaVErr{{Type: "dict_type", Loc: loc, Msg: "Input should be a valid dictionary"}}
		}
		for k, val := range obj {
			switch x := val.(type) {
			case string:
			case []any:
				for j, part := range x {
					po, ok := part.(map[string]any)
					if !ok {
						return []opeaVErr{{Type: "dict_type", Loc: append(loc, k, j), Msg: "Input should be a valid dictionary"}}
					}
					for pk, pv := range po {
						switch y := pv.(type) {
						case string:
						case map[string]any:
							for _, z := range y {
								if _, ok := z.(string); !ok {
									return []opeaVErr{{Type: "string_type", Loc: append(loc, k, j, pk), Msg: "Input should be a valid string"}}
								}
							}
						default:
							return []opeaVErr{{Type: "string_type", Loc: append(loc, k, j, pk), Msg: "Input should be a valid string"}}
						}
					}
				}
			default:
				return []opeaVErr{{Type: "string_type", Loc: append(loc, k), Msg: "Input should be a valid string"}}
			}
		}
	}
	return nil
}

// opeaMsg is a message reduced to what the simulators use.
type opeaMsg struct {
	role, text string
	images     int
}

// opeaMessages reads a checked "messages" value: a string is one user
// message; list content joins its text parts with "\n".
func opeaMessages(v any) []opeaMsg {
	if s, ok := v.(string); ok {
		return []opeaMsg{{role: "user", text: s}}
	}
	list, _ := v.([]any)
	out := make([]opeaMsg, 0, len(list))
	for _, m := range list {
		obj, _ := m.(map[string]any)
		om := opeaMsg{}
		om.role, _ = obj["role"].(string)
		switch c := obj["content"].(type) {
		case string:
			om.text = c
		case []any:
			var texts []string
			for _, p := range c {
				po, _ := p.(map[string]any)
				switch po["type"] {
				case "text":
					t, _ := po["text"].(string)
					texts = append(texts, t)
				case "image_url":
					om.images++
				}
			}
			om.text = strings.Join(texts, "\n")
		}
		out = append(out, om)
	}
	return out
}

// opeaPromptWords is the usage estimate of a prompt: Words of every text.
func opeaPromptWords(msgs []opeaMsg) int {
	n := 0
	for _, m := range msgs {
		n += Words(m.text)
	}
	return n
}

// opeaLastUser returns the text of the last user message.
func opeaLastUser(msgs []opeaMsg) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].role == "user" {
			return msgs[i].text
		}
	}
	return ""
}

// ---- ChatQnA megaservice ----

// opeaQnAQuestion does what ChatQnA's handle_message does with "messages"
// and reports whether it would fail: every message needs a role among
// system, user and assistant and a content (a KeyError or ValueError
// otherwise); list content needs "type" on every part and "text" on text
// parts, and an image makes the prompt a tuple the pipeline cannot embed.
// The question is the last user message's text (handle_message keeps one
// message per role); an empty prompt fails at the embedding service.
func opeaQnAQuestion(v any) (string, bool) {
	if s, ok := v.(string); ok {
		return s, strings.TrimSpace(s) != ""
	}
	list, _ := v.([]any)
	var system, user, assistant string
	for _, m := range list {
		obj, _ := m.(map[string]any)
		role, ok := obj["role"].(string)
		if !ok {
			return "", false
		}
		content, has := obj["content"]
		if !has {
			return "", false
		}
		switch role {
		case "system":
			s, ok := content.(string)
			if !ok {
				return "", false
			}
			system = s
		case "assistant":
			s, ok := content.(string)
			if !ok {
				return "", false
			}
			assistant = s
		case "user":
			switch c := content.(type) {
			case string:
				user = c
			case []any:
				var texts []string
				for _, p := range c {
					po, _ := p.(map[string]any)
					typ, ok := po["type"].(string)
					if !ok {
						return "", false
					}
					switch typ {
					case "text":
						t, ok := po["text"].(string)
						if !ok {
							return "", false
						}
						texts = append(texts, t)
					case "image_url":
						return "", false
					}
				}
				user = strings.Join(texts, "\n")
			default:
				return "", false
			}
		default:
			return "", false
		}
	}
	if strings.TrimSpace(system+user+assistant) == "" || strings.TrimSpace(user) == "" {
		return "", false
	}
	return user, true
}

func (b *OPEABackend) serveChatQnA(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		b.reject500(s, w)
		return
	}
	req, ok := v.(map[string]any)
	if !ok || opeaCheckChatRequest(req) != nil {
		b.reject500(s, w)
		return
	}
	question, ok := opeaQnAQuestion(req["messages"])
	if !ok {
		b.reject500(s, w)
		return
	}
	stream := true
	if st, ok := req["stream"].(bool); ok {
		stream = st
	}
	answer := "echo: " + question
	in, out := opeaPromptWords(opeaMessages(req["messages"])), Words(answer)
	if !stream {
		s.AddUsage(in, out)
		opeaWriteJSON(w, map[string]any{
			"id": fmt.Sprintf("chatcmpl-sim%06d", b.seq.Add(1)), "object": "chat.completion", "created": time.Now().Unix(), "model": "chatqna",
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": answer}, "finish_reason": "stop", "metadata": nil}},
			"usage":   map[string]any{"prompt_tokens": 0, "total_tokens": 0, "completion_tokens": 0},
		})
		return
	}
	sse := &opeaCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	if b.StreamFormat == OPEAStreamJSON {
		id, created := fmt.Sprintf("chatcmpl-sim%06d", b.seq.Add(1)), time.Now().Unix()
		model, _ := req["model"].(string)
		if model == "" {
			model = "Intel/neural-chat-7b-v3-3"
		}
		for _, tok := range opeaTokens(answer) {
			sse.Send("", opeaChunkJSON(id, created, model, map[string]any{"content": tok, "role": nil, "function_call": nil, "refusal": nil, "tool_calls": nil}, nil, nil))
		}
		sse.Send("", opeaChunkJSON(id, created, model, map[string]any{"content": nil, "role": nil, "function_call": nil, "refusal": nil, "tool_calls": nil}, "stop", nil))
	} else {
		var toks [][]byte
		if b.ByteTokens > 0 {
			for p := []byte(answer); len(p) > 0; {
				n := min(b.ByteTokens, len(p))
				toks = append(toks, p[:n])
				p = p[n:]
			}
		} else {
			for _, t := range opeaTokens(answer) {
				toks = append(toks, []byte(t))
			}
		}
		for _, t := range toks {
			sse.Send("", OPEAPyRepr(t))
		}
	}
	if sse.delivers() {
		s.AddUsage(in, out)
	}
	sse.Send("", "[DONE]")
}

// opeaCountingSSE counts the events sent so usage is recorded just before
// the terminal event, exactly when that event will be written.
type opeaCountingSSE struct {
	*SSE
	f *Fault
	n int
}

func (c *opeaCountingSSE) Send(event, data string) {
	c.SSE.Send(event, data)
	c.n++
}

func (c *opeaCountingSSE) delivers() bool {
	if c.f == nil {
		return true
	}
	return !(c.f.CutAfter > 0 && c.n >= c.f.CutAfter) && !(c.f.StallAfter > 0 && c.n >= c.f.StallAfter)
}

// opeaTokens splits text into words, each with the whitespace after it;
// the tokens concatenate to text.
func opeaTokens(s string) []string {
	var out []string
	start, inSpace := 0, false
	for i, c := range s {
		sp := c == ' ' || c == '\n' || c == '\t'
		if !sp && inSpace {
			out = append(out, s[start:i])
			start = i
		}
		inSpace = sp
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// OPEAPyRepr is Python's repr() of a bytes object, the form ChatQnA streams
// tokens in ("data: " + repr(token.encode("utf-8"))): b'…' (b"…" when the
// bytes contain ' but no "), with \\, the quote, \t, \n and \r escaped and
// every other byte below 0x20 or from 0x7f up as \xNN.
func OPEAPyRepr(b []byte) string {
	quote := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		quote = '"'
	}
	var sb strings.Builder
	sb.Grow(len(b) + 3)
	sb.WriteByte('b')
	sb.WriteByte(quote)
	for _, c := range b {
		switch {
		case c == quote || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\t':
			sb.WriteString(`\t`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c == '\r':
			sb.WriteString(`\r`)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&sb, `\x%02x`, c)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte(quote)
	return sb.String()
}

// opeaChunkJSON is an OpenAI ChatCompletionChunk as the openai SDK's
// model_dump_json writes it (every field, nulls included).
func opeaChunkJSON(id string, created int64, model string, delta map[string]any, finish any, usage any) string {
	var choices []any
	if delta != nil {
		choices = []any{map[string]any{"delta": delta, "finish_reason": finish, "index": 0, "logprobs": nil}}
	} else {
		choices = []any{}
	}
	c := map[string]any{"id": id, "choices": choices, "created": created, "model": model, "object": "chat.completion.chunk",
		"service_tier": nil, "system_fingerprint": nil, "usage": usage}
	data, _ := json.Marshal(c)
	return string(data)
}

// ---- LLM text-generation microservice ----

func (b *OPEABackend) serveLLM(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, req map[string]any) {
	if errs := opeaCheckChatRequest(req); errs != nil {
		b.reject422(s, w, errs)
		return
	}
	// What the LLM backend (vLLM, TGI) rejects, the microservice turns into
	// an unhandled exception: a plain 500.
	if t, ok := req["temperature"].(float64); ok && (t < 0 || t > 2) {
		b.reject500(s, w)
		return
	}
	if p, ok := req["top_p"].(float64); ok && (p <= 0 || p > 1) {
		b.reject500(s, w)
		return
	}
	if m, ok := req["max_tokens"].(float64); ok && m < 1 {
		b.reject500(s, w)
		return
	}
	msgs := opeaMessages(req["messages"])
	if len(msgs) == 0 {
		b.reject500(s, w)
		return
	}
	model, _ := req["model"].(string)
	if model == "" {
		model = "Intel/neural-chat-7b-v3-3"
	}
	var callName string
	if tc, ok := req["tool_choice"].(map[string]any); ok {
		fn, _ := tc["function"].(map[string]any)
		callName, _ = fn["name"].(string)
		found := false
		tools, _ := req["tools"].([]any)
		for _, t := range tools {
			to, _ := t.(map[string]any)
			tf, _ := to["function"].(map[string]any)
			if tf["name"] == callName {
				found = true
			}
		}
		if !found {
			b.reject500(s, w)
			return
		}
	}
	n := b.seq.Add(1)
	id, created := fmt.Sprintf("chatcmpl-sim%06d", n), time.Now().Unix()
	var text, args, callID string
	last := msgs[len(msgs)-1]
	switch {
	case last.role == "tool":
		text = "The tool returned: " + last.text
	case callName != "":
		a, _ := json.Marshal(map[string]string{"query": opeaLastUser(msgs)})
		args, callID = string(a), fmt.Sprintf("call_sim%06d", n)
	default:
		text = "echo: " + opeaLastUser(msgs)
		if last.images > 0 {
			text += fmt.Sprintf(" [%d image(s)]", last.images)
		}
	}
	in, out := opeaPromptWords(msgs), Words(text)
	if callID != "" {
		out = max(Words(args), 1)
	}
	usage := map[string]any{"completion_tokens": out, "prompt_tokens": in, "total_tokens": in + out, "completion_tokens_details": nil, "prompt_tokens_details": nil}
	finish := "stop"
	var toolCalls any
	if callID != "" {
		finish = "tool_calls"
		toolCalls = []any{map[string]any{"id": callID, "type": "function", "function": map[string]any{"name": callName, "arguments": args}}}
	}
	stream, _ := req["stream"].(bool)
	if !stream {
		var content any = text
		if callID != "" {
			content = nil
		}
		s.AddUsage(in, out)
		opeaWriteJSON(w, map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": model, "service_tier": nil, "system_fingerprint": nil,
			"choices": []any{map[string]any{"index": 0, "finish_reason": finish, "logprobs": nil, "stop_reason": nil,
				"message": map[string]any{"role": "assistant", "content": content, "refusal": nil, "annotations": nil, "audio": nil, "function_call": nil, "tool_calls": toolCalls}}},
			"usage": usage, "prompt_logprobs": nil,
		})
		return
	}
	includeUsage := false
	if so, ok := req["stream_options"].(map[string]any); ok {
		includeUsage, _ = so["include_usage"].(bool)
	}
	sse := &opeaCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	delta := func(extra map[string]any) map[string]any {
		d := map[string]any{"content": nil, "role": nil, "function_call": nil, "refusal": nil, "tool_calls": nil}
		for k, v := range extra {
			d[k] = v
		}
		return d
	}
	sse.Send("", opeaChunkJSON(id, created, model, delta(map[string]any{"role": "assistant", "content": ""}), nil, nil))
	if callID != "" {
		sse.Send("", opeaChunkJSON(id, created, model, delta(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": callID, "type": "function",
			"function": map[string]any{"name": callName, "arguments": ""}}}}), nil, nil))
		for _, p := range opeaPieces(args, 8) {
			sse.Send("", opeaChunkJSON(id, created, model, delta(map[string]any{"tool_calls": []any{map[string]any{"index": 0, "id": nil, "type": nil,
				"function": map[string]any{"name": nil, "arguments": p}}}}), nil, nil))
		}
	} else {
		for _, tok := range opeaTokens(text) {
			sse.Send("", opeaChunkJSON(id, created, model, delta(map[string]any{"content": tok}), nil, nil))
		}
	}
	sse.Send("", opeaChunkJSON(id, created, model, delta(nil), finish, nil))
	if includeUsage {
		if sse.delivers() {
			s.AddUsage(in, out)
		}
		sse.Send("", opeaChunkJSON(id, created, model, nil, nil, usage))
	}
	sse.Send("", "[DONE]")
}

// opeaPieces cuts s into pieces of at most n runes.
func opeaPieces(s string, n int) []string {
	var out []string
	r := []rune(s)
	for len(r) > 0 {
		k := min(n, len(r))
		out = append(out, string(r[:k]))
		r = r[k:]
	}
	return out
}

// ---- embedding microservice ----

func (b *OPEABackend) serveEmbeddings(s *Server, w http.ResponseWriter, req map[string]any) {
	var errs []opeaVErr
	input, has := req["input"]
	if !has {
		errs = append(errs, opeaVErr{Type: "missing", Loc: []any{"body", "input"}, Msg: "Field required"})
	}
	for k, f := range map[string]opeaField{"model": opeaOpt(opeaStr), "encoding_format": opeaOpt(opeaStr), "dimensions": opeaOpt(opeaInt), "user": opeaOpt(opeaStr)} {
		if v, has := req[k]; has {
			errs = append(errs, opeaCheckKind([]any{"body", k}, v, f)...)
		}
	}
	if ef, ok := req["encoding_format"].(string); ok && ef != "float" && ef != "base64" {
		errs = append(errs, opeaVErr{Type: "string_pattern_mismatch", Loc: []any{"body", "encoding_format"}, Msg: "String should match pattern '^(float|base64)$'"})
	}
	// input: str | list[int] | list[list[int]] | list[str]
	var texts []string
	tokenIDs := false
	switch x := input.(type) {
	case nil:
	case string:
		texts = []string{x}
	case []any:
		for i, it := range x {
			switch y := it.(type) {
			case string:
				texts = append(texts, y)
			case float64, []any:
				tokenIDs = true
			default:
				errs = append(errs, opeaVErr{Type: "union_type", Loc: []any{"body", "input", i}, Msg: "Input should be a valid string, integer or list"})
			}
		}
		if tokenIDs && len(texts) > 0 {
			errs = append(errs, opeaVErr{Type: "union_type", Loc: []any{"body", "input"}, Msg: "Input should be a list of strings or a list of token ids"})
		}
	default:
		errs = append(errs, opeaVErr{Type: "union_type", Loc: []any{"body", "input"}, Msg: "Input should be a valid string or a valid list"})
	}
	if errs != nil {
		b.reject422(s, w, errs)
		return
	}
	// The TEI integration accepts strings only, and TEI rejects empty ones;
	// both end as an unhandled exception.
	if tokenIDs || len(texts) == 0 || slices.Contains(texts, "") {
		b.reject500(s, w)
		return
	}
	dims := b.EmbeddingDimensions
	if dims <= 0 {
		dims = 8
	}
	data := make([]any, len(texts))
	for i, t := range texts {
		data[i] = map[string]any{"index": i, "object": "embedding", "embedding": OpenAIEmbedding(strings.ReplaceAll(t, "\n", " "), dims)}
	}
	opeaWriteJSON(w, map[string]any{"object": "list", "model": nil, "data": data, "usage": nil})
}

// ---- reranking microservice ----

func (b *OPEABackend) serveReranking(s *Server, w http.ResponseWriter, req map[string]any) {
	var errs []opeaVErr
	query, ok := req["input"].(string)
	if _, has := req["input"]; !has {
		errs = append(errs, opeaVErr{Type: "missing", Loc: []any{"body", "input"}, Msg: "Field required"})
	} else if !ok {
		errs = append(errs, opeaVErr{Type: "string_type", Loc: []any{"body", "input"}, Msg: "Input should be a valid string"})
	}
	docs, ok := req["retrieved_docs"].([]any)
	if _, has := req["retrieved_docs"]; !has {
		errs = append(errs, opeaVErr{Type: "missing", Loc: []any{"body", "retrieved_docs"}, Msg: "Field required"})
	} else if !ok {
		errs = append(errs, opeaVErr{Type: "list_type", Loc: []any{"body", "retrieved_docs"}, Msg: "Input should be a valid list"})
	}
	if v, has := req["top_n"]; has {
		errs = append(errs, opeaCheckKind([]any{"body", "top_n"}, v, opeaReq(opeaInt))...)
	}
	var texts []string
	plain := false
	for i, d := range docs {
		switch x := d.(type) {
		case string:
			plain = true
		case map[string]any:
			t, isStr := x["text"].(string)
			if !isStr {
				errs = append(errs, opeaVErr{Type: "missing", Loc: []any{"body", "retrieved_docs", i, "text"}, Msg: "Field required"})
			}
			texts = append(texts, t)
		default:
			errs = append(errs, opeaVErr{Type: "model_type", Loc: []any{"body", "retrieved_docs", i}, Msg: "Input should be a valid dictionary or instance of RetrievalResponseData"})
		}
	}
	if errs != nil {
		b.reject422(s, w, errs)
		return
	}
	if plain {
		// The TEI integration reads doc.text: plain strings fail.
		b.reject500(s, w)
		return
	}
	topN := 1
	if v, ok := req["top_n"].(float64); ok {
		topN = int(v)
	}
	type scored struct {
		text  string
		score float64
	}
	res := make([]scored, len(texts))
	for i, t := range texts {
		res[i] = scored{t, OPEARerankScore(query, t)}
	}
	slices.SortStableFunc(res, func(a, b scored) int {
		switch {
		case a.score > b.score:
			return -1
		case a.score < b.score:
			return 1
		}
		return 0
	})
	if topN >= 0 && topN < len(res) {
		res = res[:topN]
	}
	out := make([]any, len(res))
	for i, r := range res {
		out[i] = map[string]any{"text": r.text, "score": r.score}
	}
	opeaWriteJSON(w, map[string]any{"reranked_docs": out})
}

// OPEARerankScore is the simulator's relevance of doc to query: the sigmoid
// of 8f-4, f the share of the query's distinct words (lower-cased letters
// and digits) found in doc, rounded to 6 decimals.
func OPEARerankScore(query, doc string) float64 {
	q := opeaWordSet(query)
	d := opeaWordSet(doc)
	found := 0
	for w := range q {
		if d[w] {
			found++
		}
	}
	f := 0.0
	if len(q) > 0 {
		f = float64(found) / float64(len(q))
	}
	v := 1 / (1 + math.Exp(-(8*f - 4)))
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 6, 64), 64)
	return r
}

func opeaWordSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		out[w] = true
	}
	return out
}
