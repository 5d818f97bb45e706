package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
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

// GeminiBackend simulates the Gemini Developer API (generativelanguage,
// v1beta) at the server root, so the adapter's base URL is Server.URL:
//
//   - routes POST /v1beta/{models|tunedModels}/{model}:{method} with the
//     methods generateContent, streamGenerateContent (?alt=sse gives
//     "data: …\r\n\r\n" events and EOF, without alt the JSON array form),
//     embedContent, batchEmbedContents and countTokens; other paths and
//     methods get 404 NOT_FOUND, a model of the wrong kind (an "embedding"
//     model for chat, another one for embeddings) 404 "… is not found for API
//     version v1beta, or is not supported for …";
//   - the key comes from x-goog-api-key (or ?key=); a JSON content type is
//     required; unknown query parameters are rejected;
//   - bodies are checked the way Google's proto3 JSON front end does: every
//     field name must exist (camelCase or snake_case: "Invalid JSON payload
//     received. Unknown name \"x\" at 'contents[0]': Cannot find field."),
//     scalar, enum, bytes and message types are checked ("Invalid value at
//     'generation_config.temperature' (TYPE_FLOAT), \"hot\""), then the
//     request itself: contents given, roles user or model, non-empty parts
//     with exactly one data field, supported MIME types, function calls only
//     in model turns after a user turn, function responses only in the user
//     turn right after the call turn with as many parts as calls and the
//     calls' names, valid and unique function names, parameters or
//     parametersJsonSchema (not both), required properties defined, tool
//     config names declared, sampling ranges, at most 5 stop sequences, and,
//     for gemini-3 models, the thought signature on the first function call
//     of each model step of the current turn;
//   - errors are google.rpc.Status bodies {"error":{"code","message",
//     "status","details"}}: 400 INVALID_ARGUMENT (with a BadRequest detail
//     for JSON payload errors), 401 UNAUTHENTICATED (ErrorInfo
//     API_KEY_INVALID; the real API answers an invalid key with 400 and the
//     same ErrorInfo), 403 PERMISSION_DENIED, 404 NOT_FOUND, 429
//     RESOURCE_EXHAUSTED with Help, QuotaFailure (a per-minute quota) and
//     RetryInfo (RetryDelay, default 2s) details, 500 INTERNAL, 503
//     UNAVAILABLE, 504 DEADLINE_EXCEEDED. GeminiRateLimitBody builds other
//     429 bodies (a per-day quota) for Fault.Body.
//
// Answers are deterministic: "You said: " and the text of the last user turn
// (with " [n media part(s)]" when it carried images or files), "The
// function returned: " and the responses after a function response turn; cut
// at a stop sequence (finishReason STOP) or after maxOutputTokens words
// (MAX_TOKENS). With function declarations and mode ANY, or mode AUTO (the
// default) and a last user text mentioning "weather", the answer is a
// function call to the first allowed function, one per place for "weather in
// Paris and Rome", arguments derived from the schema and the text. A last
// user text containing "#block-prompt" is blocked (no candidates,
// promptFeedback.blockReason SAFETY); "#unsafe-answer" ends the answer with
// finishReason SAFETY. Function calls carry no id; for gemini-3 models the
// first carries a thoughtSignature. Usage counts Words of the prompt
// (system, texts, calls, responses, declarations; 258 per media part) and of
// the answer; it is reported (Server.AddUsage) once per completed answer,
// just before its last event, and countTokens returns the same prompt count.
// Embeddings are GeminiEmbedding vectors and report no usage.
//
// Streams honour a fault's ChunkDelay, CutAfter and StallAfter. A fault with
// Status 0 and a Body makes a stream write Body as is after its first chunk
// (an in-stream error: bare JSON as the real API sends it, or a "data: …"
// event) and end there; such a fault does not affect other answers.
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type GeminiBackend struct {
	// EmbeddingDimensions is the vector length when a request sets no
	// outputDimensionality (default 8).
	EmbeddingDimensions int
	// ChunkWords is how many words each streamed text chunk carries
	// (default 3).
	ChunkWords int
	// RetryDelay is the RetryInfo.retryDelay of the 429 answers WriteError
	// writes (default 2s).
	RetryDelay time.Duration

	seq atomic.Int64
}

// Gemini returns a simulator of the Gemini Developer API with default
// settings.
func Gemini() *GeminiBackend { return &GeminiBackend{} }

// Quota IDs of the free tier, for GeminiRateLimitBody.
const (
	GeminiQuotaPerMinute = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
	GeminiQuotaPerDay    = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
)

// Name returns "gemini".
func (*GeminiBackend) Name() string { return "gemini" }

// Key reads x-goog-api-key, or the key query parameter.
func (*GeminiBackend) Key(r *http.Request) string {
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		return k
	}
	return r.URL.Query().Get("key")
}

func (b *GeminiBackend) retryDelay() time.Duration {
	if b.RetryDelay > 0 {
		return b.RetryDelay
	}
	return 2 * time.Second
}

// gemStatusName is the google.rpc code name the API uses for an HTTP status.
func gemStatusName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusPreconditionFailed:
		return "FAILED_PRECONDITION"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable, http.StatusBadGateway:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout, http.StatusRequestTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "INVALID_ARGUMENT"
}

// gemDuration formats a google.protobuf.Duration: "2s", "0.25s".
func gemDuration(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

// gemRateLimitStatus is the google.rpc.Status of a 429.
func gemRateLimitStatus(quotaID string, delay time.Duration) map[string]any {
	metric, limit := "generativelanguage.googleapis.com/generate_content_free_tier_requests", "10"
	if strings.Contains(quotaID, "PerDay") {
		limit = "250"
	}
	msg := "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: " +
		"https://ai.google.dev/gemini-api/docs/rate-limits. To monitor your current usage, head to: https://ai.dev/usage?tab=rate-limit. \n" +
		"* Quota exceeded for metric: " + metric + ", limit: " + limit
	details := []any{
		map[string]any{"@type": "type.googleapis.com/google.rpc.Help", "links": []any{map[string]any{
			"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}}},
		map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{
			"quotaMetric": metric, "quotaId": quotaID, "quotaDimensions": map[string]any{"location": "global", "model": "gemini-2.5-flash"}, "quotaValue": limit}}},
	}
	if delay > 0 {
		msg += "\nPlease retry in " + gemDuration(delay) + "."
		details = append(details, map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": gemDuration(delay)})
	}
	return map[string]any{"code": 429, "message": msg, "status": "RESOURCE_EXHAUSTED", "details": details}
}

// GeminiRateLimitBody returns a 429 RESOURCE_EXHAUSTED body as the real API
// writes it, violating quotaID (GeminiQuotaPerMinute, GeminiQuotaPerDay, …)
// and asking for delay in a RetryInfo detail (none when delay is 0), for
// Fault{Status: 429, Body: …}.
func GeminiRateLimitBody(quotaID string, delay time.Duration) string {
	b, _ := json.MarshalIndent(map[string]any{"error": gemRateLimitStatus(quotaID, delay)}, "", "  ")
	return string(b) + "\n"
}

// WriteError writes a google.rpc.Status body for status. The generic
// message Server passes (the status text, or its auth messages) is replaced
// by the one the real API sends for that status.
func (b *GeminiBackend) WriteError(w http.ResponseWriter, status int, message string) {
	generic := message == "" || message == http.StatusText(status)
	var st map[string]any
	switch {
	case status == http.StatusTooManyRequests:
		st = gemRateLimitStatus(GeminiQuotaPerMinute, b.retryDelay())
	case status == http.StatusUnauthorized:
		msg := "API key not valid. Please pass a valid API key."
		st = map[string]any{"code": status, "message": msg, "status": gemStatusName(status), "details": []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
				"metadata": map[string]any{"service": "generativelanguage.googleapis.com"}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": msg},
		}}
	case status == http.StatusForbidden:
		st = map[string]any{"code": status, "message": "Your API key was reported as leaked. Please use another API key.", "status": gemStatusName(status)}
	default:
		msg := message
		if generic {
			switch status {
			case http.StatusInternalServerError:
				msg = "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"
			case http.StatusServiceUnavailable:
				msg = "The model is overloaded. Please try again later."
			case http.StatusGatewayTimeout:
				msg = "Deadline expired before operation could complete."
			case http.StatusNotFound:
				msg = "Requested entity was not found."
			default:
				if msg == "" {
					msg = "Error"
				}
			}
		}
		st = map[string]any{"code": status, "message": msg, "status": gemStatusName(status)}
		if status == http.StatusBadRequest && strings.HasPrefix(msg, "Invalid JSON payload received.") {
			st["details"] = []any{map[string]any{"@type": "type.googleapis.com/google.rpc.BadRequest",
				"fieldViolations": []any{map[string]any{"description": msg}}}}
		}
	}
	gemWriteJSON(w, status, map[string]any{"error": st})
}

// gemWriteJSON writes v pretty-printed, as the API does.
func gemWriteJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.MarshalIndent(v, "", "  ")
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Server", "scaffolding on HTTPServer2")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// gemInvalid is a request error: a 400 unless status says otherwise.
type gemInvalid struct {
	status int
	msg    string
}

func gemBad(format string, args ...any) *gemInvalid {
	return &gemInvalid{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

var gemRoute = regexp.MustCompile(`^/v1beta/((?:models|tunedModels)/[A-Za-z0-9][A-Za-z0-9._-]*):([A-Za-z]+)$`)

// gemQueryParams are the system parameters the API binds besides the body.
var gemQueryParams = map[string]bool{"alt": true, "$alt": true, "key": true, "prettyPrint": true, "fields": true, "$fields": true}

// Serve checks and answers a request.
func (b *GeminiBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	m := gemRoute.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		s.Invalid(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	resource, method := m[1], m[2]
	switch method {
	case "generateContent", "streamGenerateContent", "embedContent", "batchEmbedContents", "countTokens":
	default:
		s.Invalid(w, http.StatusNotFound, "Method not found.")
		return
	}
	alt, ok := gemCheckQueryAndType(s, w, r)
	if !ok {
		return
	}
	raw, bad := gemDecode(body)
	if bad != nil {
		s.Invalid(w, bad.status, bad.msg)
		return
	}
	embedModel := strings.Contains(resource, "embedding")
	wrongKind := false
	switch method {
	case "generateContent", "streamGenerateContent":
		wrongKind = embedModel
	case "embedContent", "batchEmbedContents":
		wrongKind = !embedModel
	}
	if wrongKind {
		s.Invalid(w, http.StatusNotFound, resource+" is not found for API version v1beta, or is not supported for "+method+
			". Call ListModels to see the list of available models and their supported methods.")
		return
	}
	var err *gemInvalid
	switch method {
	case "generateContent", "streamGenerateContent":
		err = b.serveGenerate(s, w, r, f, resource, raw, method == "streamGenerateContent", alt == "sse")
	case "embedContent", "batchEmbedContents":
		err = b.serveEmbed(w, resource, raw, method == "batchEmbedContents")
	case "countTokens":
		err = b.serveCountTokens(w, resource, raw)
	}
	if err != nil {
		s.Invalid(w, err.status, err.msg)
	}
}

// gemDecode reads the body as one JSON object, numbers kept exact.
func gemDecode(body []byte) (map[string]any, *gemInvalid) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, gemBad("Invalid JSON payload received. Unexpected token.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, gemBad("Invalid JSON payload received. Unexpected token after the JSON object.")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, gemBad("Invalid JSON payload received. Expected an object.")
	}
	return m, nil
}

// ---- proto3 JSON checking ----

type gemKind uint8

const (
	gemString gemKind = iota
	gemFloat
	gemInt32
	gemInt64
	gemBoolean
	gemBytes
	gemEnum
	gemMessage
	gemStruct // google.protobuf.Struct: any JSON object
	gemValue  // google.protobuf.Value: any JSON
	gemMapOf  // map<string, message>
)

type gemField struct {
	kind gemKind
	rep  bool
	typ  string // message type (gemMessage, gemMapOf) or enum type (gemEnum)
}

const gemPkg = "google.ai.generativelanguage.v1beta."

var gemEnums = map[string][]string{
	"Type":                {"TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"},
	"FunctionCallingMode": {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"},
	"HarmCategory":        {"HARM_CATEGORY_UNSPECIFIED", "HARM_CATEGORY_DEROGATORY", "HARM_CATEGORY_TOXICITY", "HARM_CATEGORY_VIOLENCE", "HARM_CATEGORY_SEXUAL", "HARM_CATEGORY_MEDICAL", "HARM_CATEGORY_DANGEROUS", "HARM_CATEGORY_HARASSMENT", "HARM_CATEGORY_HATE_SPEECH", "HARM_CATEGORY_SEXUALLY_EXPLICIT", "HARM_CATEGORY_DANGEROUS_CONTENT", "HARM_CATEGORY_CIVIC_INTEGRITY"},
	"HarmBlockThreshold":  {"HARM_BLOCK_THRESHOLD_UNSPECIFIED", "BLOCK_LOW_AND_ABOVE", "BLOCK_MEDIUM_AND_ABOVE", "BLOCK_ONLY_HIGH", "BLOCK_NONE", "OFF"},
	"Modality":            {"MODALITY_UNSPECIFIED", "TEXT", "IMAGE", "AUDIO"},
	"MediaResolution":     {"MEDIA_RESOLUTION_UNSPECIFIED", "MEDIA_RESOLUTION_LOW", "MEDIA_RESOLUTION_MEDIUM", "MEDIA_RESOLUTION_HIGH"},
	"ThinkingLevel":       {"THINKING_LEVEL_UNSPECIFIED", "MINIMAL", "LOW", "MEDIUM", "HIGH"},
	"TaskType":            {"TASK_TYPE_UNSPECIFIED", "RETRIEVAL_QUERY", "RETRIEVAL_DOCUMENT", "SEMANTIC_SIMILARITY", "CLASSIFICATION", "CLUSTERING", "QUESTION_ANSWERING", "FACT_VERIFICATION", "CODE_RETRIEVAL_QUERY"},
	"Behavior":            {"UNSPECIFIED", "BLOCKING", "NON_BLOCKING"},
	"Scheduling":          {"SCHEDULING_UNSPECIFIED", "SILENT", "WHEN_IDLE", "INTERRUPT"},
	"Language":            {"LANGUAGE_UNSPECIFIED", "PYTHON"},
	"Outcome":             {"OUTCOME_UNSPECIFIED", "OUTCOME_OK", "OUTCOME_FAILED", "OUTCOME_DEADLINE_EXCEEDED"},
}

func gemF(kind gemKind) gemField              { return gemField{kind: kind} }
func gemM(typ string) gemField                { return gemField{kind: gemMessage, typ: typ} }
func gemE(typ string) gemField                { return gemField{kind: gemEnum, typ: typ} }
func gemRep(f gemField) gemField              { f.rep = true; return f }
func gemFields(kv ...any) map[string]gemField { return gemFieldMap(kv) }

func gemFieldMap(kv []any) map[string]gemField {
	m := make(map[string]gemField, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1].(gemField)
	}
	return m
}

// gemTypes lists the request messages and their fields by JSON name.
var gemTypes = map[string]map[string]gemField{
	"GenerateContentRequest": gemFields("model", gemF(gemString), "contents", gemRep(gemM("Content")), "systemInstruction", gemM("Content"),
		"tools", gemRep(gemM("Tool")), "toolConfig", gemM("ToolConfig"), "safetySettings", gemRep(gemM("SafetySetting")),
		"generationConfig", gemM("GenerationConfig"), "cachedContent", gemF(gemString)),
	"Content": gemFields("role", gemF(gemString), "parts", gemRep(gemM("Part"))),
	"Part": gemFields("text", gemF(gemString), "inlineData", gemM("Blob"), "fileData", gemM("FileData"), "functionCall", gemM("FunctionCall"),
		"functionResponse", gemM("FunctionResponse"), "executableCode", gemM("ExecutableCode"), "codeExecutionResult", gemM("CodeExecutionResult"),
		"thought", gemF(gemBoolean), "thoughtSignature", gemF(gemBytes), "videoMetadata", gemM("VideoMetadata"), "partMetadata", gemF(gemStruct),
		"mediaResolution", gemF(gemValue)),
	"Blob":         gemFields("mimeType", gemF(gemString), "data", gemF(gemBytes)),
	"FileData":     gemFields("mimeType", gemF(gemString), "fileUri", gemF(gemString)),
	"FunctionCall": gemFields("id", gemF(gemString), "name", gemF(gemString), "args", gemF(gemStruct)),
	"FunctionResponse": gemFields("id", gemF(gemString), "name", gemF(gemString), "response", gemF(gemStruct), "willContinue", gemF(gemBoolean),
		"scheduling", gemE("Scheduling"), "parts", gemRep(gemF(gemValue))),
	"ExecutableCode":      gemFields("language", gemE("Language"), "code", gemF(gemString)),
	"CodeExecutionResult": gemFields("outcome", gemE("Outcome"), "output", gemF(gemString)),
	"VideoMetadata":       gemFields("startOffset", gemF(gemString), "endOffset", gemF(gemString), "fps", gemF(gemFloat)),
	"Tool": gemFields("functionDeclarations", gemRep(gemM("FunctionDeclaration")), "googleSearchRetrieval", gemF(gemValue),
		"codeExecution", gemF(gemValue), "googleSearch", gemF(gemValue), "urlContext", gemF(gemValue), "fileSearch", gemF(gemValue),
		"googleMaps", gemF(gemValue), "computerUse", gemF(gemValue)),
	"FunctionDeclaration": gemFields("name", gemF(gemString), "description", gemF(gemString), "behavior", gemE("Behavior"),
		"parameters", gemM("Schema"), "parametersJsonSchema", gemF(gemValue), "response", gemM("Schema"), "responseJsonSchema", gemF(gemValue)),
	"Schema": gemFields("type", gemE("Type"), "format", gemF(gemString), "title", gemF(gemString), "description", gemF(gemString),
		"nullable", gemF(gemBoolean), "enum", gemRep(gemF(gemString)), "maxItems", gemF(gemInt64), "minItems", gemF(gemInt64),
		"properties", gemField{kind: gemMapOf, typ: "Schema"}, "required", gemRep(gemF(gemString)), "minProperties", gemF(gemInt64),
		"maxProperties", gemF(gemInt64), "minLength", gemF(gemInt64), "maxLength", gemF(gemInt64), "pattern", gemF(gemString),
		"example", gemF(gemValue), "anyOf", gemRep(gemM("Schema")), "propertyOrdering", gemRep(gemF(gemString)), "default", gemF(gemValue),
		"items", gemM("Schema"), "minimum", gemF(gemFloat), "maximum", gemF(gemFloat)),
	"ToolConfig":            gemFields("functionCallingConfig", gemM("FunctionCallingConfig"), "retrievalConfig", gemF(gemValue)),
	"FunctionCallingConfig": gemFields("mode", gemE("FunctionCallingMode"), "allowedFunctionNames", gemRep(gemF(gemString))),
	"SafetySetting":         gemFields("category", gemE("HarmCategory"), "threshold", gemE("HarmBlockThreshold")),
	"GenerationConfig": gemFields("stopSequences", gemRep(gemF(gemString)), "responseMimeType", gemF(gemString), "responseSchema", gemM("Schema"),
		"responseJsonSchema", gemF(gemValue), "responseModalities", gemRep(gemE("Modality")), "candidateCount", gemF(gemInt32),
		"maxOutputTokens", gemF(gemInt32), "temperature", gemF(gemFloat), "topP", gemF(gemFloat), "topK", gemF(gemInt32), "seed", gemF(gemInt32),
		"presencePenalty", gemF(gemFloat), "frequencyPenalty", gemF(gemFloat), "responseLogprobs", gemF(gemBoolean), "logprobs", gemF(gemInt32),
		"enableEnhancedCivicAnswers", gemF(gemBoolean), "speechConfig", gemF(gemValue), "thinkingConfig", gemM("ThinkingConfig"),
		"imageConfig", gemF(gemValue), "mediaResolution", gemE("MediaResolution")),
	"ThinkingConfig":            gemFields("includeThoughts", gemF(gemBoolean), "thinkingBudget", gemF(gemInt32), "thinkingLevel", gemE("ThinkingLevel")),
	"EmbedContentRequest":       gemFields("model", gemF(gemString), "content", gemM("Content"), "taskType", gemE("TaskType"), "title", gemF(gemString), "outputDimensionality", gemF(gemInt32)),
	"BatchEmbedContentsRequest": gemFields("requests", gemRep(gemM("EmbedContentRequest"))),
	"CountTokensRequest":        gemFields("contents", gemRep(gemM("Content")), "generateContentRequest", gemM("GenerateContentRequest")),
}

// gemCamel turns a proto field name into its JSON name; JSON names pass.
func gemCamel(s string) string {
	if !strings.Contains(s, "_") {
		return s
	}
	var b strings.Builder
	up := false
	for _, c := range s {
		if c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteRune(c)
	}
	return b.String()
}

// gemSnake turns a JSON name into the proto name used in error paths.
func gemSnake(s string) string {
	var b strings.Builder
	for _, c := range s {
		if c >= 'A' && c <= 'Z' {
			b.WriteByte('_')
			c += 'a' - 'A'
		}
		b.WriteRune(c)
	}
	return b.String()
}

func gemJoin(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func gemAt(path string) string {
	if path == "" {
		return ""
	}
	return " at '" + path + "'"
}

// gemShow renders a JSON value the way the front end quotes it.
func gemShow(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// gemCheck checks obj as a message of type typ and returns it with JSON
// field names, scalars converted (float64, int64, bool, []byte, canonical
// enum names), repeated fields as []any.
func gemCheck(obj map[string]any, typ, path string) (map[string]any, *gemInvalid) {
	fields := gemTypes[typ]
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]any, len(obj))
	for _, k := range keys {
		name := gemCamel(k)
		fd, ok := fields[name]
		if !ok {
			return nil, gemBad("Invalid JSON payload received. Unknown name %q%s: Cannot find field.", k, gemAt(path))
		}
		v := obj[k]
		if v == nil {
			continue
		}
		fpath := gemJoin(path, gemSnake(name))
		if _, isList := v.([]any); isList && !fd.rep {
			return nil, gemBad("Invalid JSON payload received. Unknown name %q%s: Proto field is not repeating, cannot start list.", k, gemAt(path))
		}
		if fd.rep {
			list, isList := v.([]any)
			if !isList {
				list = []any{v} // the front end takes a single value for a repeated field
			}
			conv := make([]any, 0, len(list))
			for i, x := range list {
				c, bad := gemScalar(x, fd, fmt.Sprintf("%s[%d]", fpath, i))
				if bad != nil {
					return nil, bad
				}
				conv = append(conv, c)
			}
			out[name] = conv
			continue
		}
		c, bad := gemScalar(v, fd, fpath)
		if bad != nil {
			return nil, bad
		}
		out[name] = c
	}
	return out, nil
}

// gemScalar checks and converts one (non-repeated) value.
func gemScalar(v any, fd gemField, path string) (any, *gemInvalid) {
	invalid := func(t string) *gemInvalid {
		return gemBad("Invalid value at '%s' (%s), %s", path, t, gemShow(v))
	}
	switch fd.kind {
	case gemString:
		s, ok := v.(string)
		if !ok {
			return nil, invalid("TYPE_STRING")
		}
		return s, nil
	case gemFloat:
		f, ok := gemNumber(v)
		if !ok {
			return nil, invalid("TYPE_FLOAT")
		}
		return f, nil
	case gemInt32, gemInt64:
		t := "TYPE_INT32"
		lim := float64(math.MaxInt32)
		if fd.kind == gemInt64 {
			t, lim = "TYPE_INT64", 9.2e18
		}
		f, ok := gemNumber(v)
		if !ok || f != math.Trunc(f) || math.Abs(f) > lim {
			return nil, invalid(t)
		}
		return int64(f), nil
	case gemBoolean:
		bv, ok := v.(bool)
		if !ok {
			return nil, invalid("TYPE_BOOL")
		}
		return bv, nil
	case gemBytes:
		s, ok := v.(string)
		if !ok {
			return nil, invalid("TYPE_BYTES")
		}
		raw, err := gemBase64(s)
		if err != nil {
			return nil, gemBad("Invalid value at '%s' (TYPE_BYTES), Base64 decoding failed for %q", path, s)
		}
		return raw, nil
	case gemEnum:
		names := gemEnums[fd.typ]
		switch e := v.(type) {
		case string:
			for _, n := range names {
				if strings.EqualFold(n, e) {
					return n, nil
				}
			}
		case json.Number:
			if i, err := strconv.Atoi(string(e)); err == nil && i >= 0 && i < len(names) {
				return names[i], nil
			}
		}
		return nil, invalid("type.googleapis.com/" + gemPkg + fd.typ)
	case gemMessage:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid("type.googleapis.com/" + gemPkg + fd.typ)
		}
		return gemCheck(m, fd.typ, path)
	case gemStruct:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid("type.googleapis.com/google.protobuf.Struct")
		}
		return m, nil
	case gemMapOf:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, invalid("type.googleapis.com/" + gemPkg + fd.typ)
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			xm, ok := x.(map[string]any)
			if !ok {
				return nil, gemBad("Invalid value at '%s[%s].value' (type.googleapis.com/%s%s), %s", path, k, gemPkg, fd.typ, gemShow(x))
			}
			c, bad := gemCheck(xm, fd.typ, path+"["+k+"].value")
			if bad != nil {
				return nil, bad
			}
			out[k] = c
		}
		return out, nil
	}
	return v, nil // gemValue
}

// gemNumber reads a JSON number or a numeric string, as proto3 JSON allows.
func gemNumber(v any) (float64, bool) {
	var s string
	switch n := v.(type) {
	case json.Number:
		s = string(n)
	case string:
		s = n
	default:
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// gemBase64 decodes standard or URL-safe base64, padded or not.
func gemBase64(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	if strings.ContainsAny(s, "-_") {
		return base64.RawURLEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// ---- request semantics ----

// gemPart is a checked part.
type gemPart struct {
	kind string // the data field set: text, inlineData, fileData, functionCall, functionResponse, …
	text string
	name string         // function call or response
	args map[string]any // call args or response object
	sig  []byte
}

type gemContent struct {
	role  string
	parts []gemPart
}

type gemFunc struct {
	name, desc string
	schema     map[string]any
}

// gemGen is a checked generateContent request.
type gemGen struct {
	model     string
	contents  []gemContent
	system    []string
	funcs     []gemFunc
	mode      string
	allowed   []string
	stop      []string
	maxTokens int
}

func gemStr(m map[string]any, k string) string {
	s, _ := m[k].(string)
	return s
}

func gemList(m map[string]any, k string) []any {
	l, _ := m[k].([]any)
	return l
}

func gemObj(m map[string]any, k string) map[string]any {
	o, _ := m[k].(map[string]any)
	return o
}

// gemMediaOK reports the media types the API accepts.
func gemMediaOK(mt string) bool {
	switch mt {
	case "image/png", "image/jpeg", "image/webp", "image/heic", "image/heif", "application/pdf", "text/plain":
		return true
	}
	return strings.HasPrefix(mt, "audio/") || strings.HasPrefix(mt, "video/")
}

var gemFuncName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$`)

// gemSigPrefix starts every thought signature the simulator hands out.
const gemSigPrefix = "gemsim-sig:"

// gemParseGen checks a GenerateContentRequest (already proto-checked) the
// way the service does; where names the message in error paths.
func gemParseGen(m map[string]any, resource, where string) (*gemGen, *gemInvalid) {
	g := &gemGen{model: resource}
	contents := gemList(m, "contents")
	if len(contents) == 0 {
		return nil, gemBad("* %s.contents: contents is not specified\n", where)
	}
	for i, x := range contents {
		c, bad := gemParseContent(x.(map[string]any), fmt.Sprintf("%s.contents[%d]", where, i), fmt.Sprintf("contents[%d]", i))
		if bad != nil {
			return nil, bad
		}
		g.contents = append(g.contents, c)
	}
	if bad := gemCheckTurns(g, where); bad != nil {
		return nil, bad
	}
	if si := gemObj(m, "systemInstruction"); si != nil {
		for j, x := range gemList(si, "parts") {
			p := x.(map[string]any)
			t := gemStr(p, "text")
			if t == "" || len(p) != 1 {
				return nil, gemBad("* %s.system_instruction.parts[%d]: system_instruction only supports text parts\n", where, j)
			}
			g.system = append(g.system, t)
		}
	}
	if bad := gemParseTools(m, g, where); bad != nil {
		return nil, bad
	}
	if bad := gemParseGenConfig(gemObj(m, "generationConfig"), g, where); bad != nil {
		return nil, bad
	}
	return g, nil
}

// gemPartData lists the members of Part's data oneof.
var gemPartData = []string{"codeExecutionResult", "executableCode", "fileData", "functionCall", "functionResponse", "inlineData", "text"}

func gemParseContent(m map[string]any, at, rel string) (gemContent, *gemInvalid) {
	c := gemContent{role: gemStr(m, "role")}
	switch c.role {
	case "", "user", "model":
	default:
		return c, gemBad("Please use a valid role: user, model.")
	}
	if c.role == "" {
		c.role = "user"
	}
	parts := gemList(m, "parts")
	if len(parts) == 0 {
		return c, gemBad("* %s.parts: contents.parts must not be empty.\n", at)
	}
	for j, x := range parts {
		pm := x.(map[string]any)
		pat, prel := fmt.Sprintf("%s.parts[%d]", at, j), fmt.Sprintf("%s.parts[%d]", rel, j)
		var set []string
		for _, k := range gemPartData {
			if v, ok := pm[k]; ok && v != "" {
				set = append(set, k)
			}
		}
		switch len(set) {
		case 0:
			return c, gemBad("* %s.data: required oneof field 'data' must have one initialized field\n", pat)
		case 1:
		default:
			return c, gemBad("Invalid value at '%s' (oneof), oneof field 'data' is already set. Cannot set '%s'", prel, set[1])
		}
		p := gemPart{kind: set[0]}
		p.sig, _ = pm["thoughtSignature"].([]byte)
		switch p.kind {
		case "text":
			p.text = gemStr(pm, "text")
		case "inlineData":
			blob := gemObj(pm, "inlineData")
			if mt := gemStr(blob, "mimeType"); !gemMediaOK(mt) {
				return c, gemBad("* %s.inline_data.mime_type: Unsupported MIME type: %s\n", pat, mt)
			}
			if d, _ := blob["data"].([]byte); len(d) == 0 {
				return c, gemBad("* %s.inline_data.data: data must not be empty\n", pat)
			}
		case "fileData":
			fd := gemObj(pm, "fileData")
			u, err := url.Parse(gemStr(fd, "fileUri"))
			if gemStr(fd, "fileUri") == "" || err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "gs") || u.Host == "" {
				return c, gemBad("* %s.file_data.file_uri: Invalid or unsupported file uri: %s\n", pat, gemStr(fd, "fileUri"))
			}
			if mt := gemStr(fd, "mimeType"); !gemMediaOK(mt) {
				return c, gemBad("* %s.file_data.mime_type: Unsupported MIME type: %s\n", pat, mt)
			}
		case "functionCall":
			fc := gemObj(pm, "functionCall")
			p.name, p.args = gemStr(fc, "name"), gemObj(fc, "args")
			if p.name == "" {
				return c, gemBad("* %s.function_call.name: name must not be empty\n", pat)
			}
			if c.role != "model" {
				return c, gemBad("* %s.function_call: function calls are only allowed in model turns\n", pat)
			}
		case "functionResponse":
			fr := gemObj(pm, "functionResponse")
			p.name, p.args = gemStr(fr, "name"), gemObj(fr, "response")
			if p.name == "" {
				return c, gemBad("* %s.function_response.name: name must not be empty\n", pat)
			}
			if c.role != "user" {
				return c, gemBad("* %s.function_response: function responses are only allowed in user turns\n", pat)
			}
		}
		c.parts = append(c.parts, p)
	}
	return c, nil
}

func gemCount(c gemContent, kind string) (names []string) {
	for _, p := range c.parts {
		if p.kind == kind {
			names = append(names, p.name)
		}
	}
	return names
}

// gemCheckTurns enforces the function calling turn order and, for gemini-3
// models, thought signatures in the current turn.
func gemCheckTurns(g *gemGen, where string) *gemInvalid {
	for i, c := range g.contents {
		calls, responses := gemCount(c, "functionCall"), gemCount(c, "functionResponse")
		if len(calls) > 0 && (i == 0 || g.contents[i-1].role != "user") {
			return gemBad("Please ensure that function call turn comes immediately after a user turn or after a function response turn.")
		}
		if len(responses) == 0 {
			continue
		}
		var prev []string
		if i > 0 {
			prev = gemCount(g.contents[i-1], "functionCall")
		}
		if len(prev) == 0 {
			return gemBad("Please ensure that function response turn comes immediately after a function call turn.")
		}
		if len(prev) != len(responses) {
			return gemBad("Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn.")
		}
		left := map[string]int{}
		for _, n := range prev {
			left[n]++
		}
		for j, n := range responses {
			if left[n] == 0 {
				return gemBad("* %s.contents[%d].parts[%d].function_response.name: %q answers no function call of the previous turn\n", where, i, j, n)
			}
			left[n]--
		}
	}
	if !strings.Contains(g.model, "gemini-3") {
		return nil
	}
	start := 0
	for i, c := range g.contents {
		if c.role == "user" && len(gemCount(c, "functionResponse")) < len(c.parts) {
			start = i + 1
		}
	}
	for i := start; i < len(g.contents); i++ {
		for j, p := range g.contents[i].parts {
			if p.kind != "functionCall" {
				continue
			}
			if len(p.sig) == 0 {
				return gemBad("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, "+
					"and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. "+
					"Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", p.name, i+1)
			}
			if !bytes.HasPrefix(p.sig, []byte(gemSigPrefix)) {
				return gemBad("* %s.contents[%d].parts[%d].thought_signature: Corrupted thought signature.\n", where, i, j)
			}
			break // only the first call of a step carries one
		}
	}
	return nil
}

func gemParseTools(m map[string]any, g *gemGen, where string) *gemInvalid {
	seen := map[string]bool{}
	for ti, x := range gemList(m, "tools") {
		for k, y := range gemList(x.(map[string]any), "functionDeclarations") {
			d := y.(map[string]any)
			at := fmt.Sprintf("%s.tools[%d].function_declarations[%d]", where, ti, k)
			name := gemStr(d, "name")
			if !gemFuncName.MatchString(name) {
				return gemBad("* %s.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), "+
					"underscores (_), dots (.), colons (:) or dashes (-), with a maximum length of 64.\n", at)
			}
			if seen[name] {
				return gemBad("* %s.name: Duplicate function declaration name: %s\n", at, name)
			}
			seen[name] = true
			fn := gemFunc{name: name, desc: gemStr(d, "description")}
			params, hasParams := d["parameters"].(map[string]any)
			js, hasJS := d["parametersJsonSchema"]
			switch {
			case hasParams && hasJS:
				return gemBad("* %s: parameters and parameters_json_schema are mutually exclusive\n", at)
			case hasParams:
				if t := gemStr(params, "type"); t != "" && t != "OBJECT" {
					return gemBad("* %s.parameters.type: must be OBJECT\n", at)
				}
				if bad := gemCheckSchema(params, at+".parameters"); bad != nil {
					return bad
				}
				fn.schema = params
			case hasJS:
				obj, isObj := js.(map[string]any)
				if !isObj {
					return gemBad("* %s.parameters_json_schema: must be a JSON object\n", at)
				}
				if t, has := obj["type"]; has && t != "object" {
					return gemBad("* %s.parameters_json_schema: the root schema must have type object\n", at)
				}
				fn.schema = obj
			}
			g.funcs = append(g.funcs, fn)
		}
	}
	fcc := gemObj(gemObj(m, "toolConfig"), "functionCallingConfig")
	if fcc == nil {
		return nil
	}
	at := where + ".tool_config.function_calling_config"
	g.mode = gemStr(fcc, "mode")
	if (g.mode == "ANY" || g.mode == "VALIDATED") && len(g.funcs) == 0 {
		return gemBad("* %s.mode: Function calling config is set without function_declarations.\n", at)
	}
	for k, x := range gemList(fcc, "allowedFunctionNames") {
		n := x.(string)
		if g.mode != "ANY" && g.mode != "VALIDATED" {
			return gemBad("* %s.allowed_function_names: allowed_function_names is only allowed when mode is ANY or VALIDATED\n", at)
		}
		if !seen[n] {
			return gemBad("* %s.allowed_function_names[%d]: function %q is not declared\n", at, k, n)
		}
		g.allowed = append(g.allowed, n)
	}
	return nil
}

// gemCheckSchema checks an OpenAPI-subset Schema: required properties must
// be defined, nested object schemas alike.
func gemCheckSchema(s map[string]any, at string) *gemInvalid {
	props := gemObj(s, "properties")
	for k, x := range gemList(s, "required") {
		if _, ok := props[x.(string)]; !ok {
			return gemBad("* %s.required[%d]: property is not defined\n", at, k)
		}
	}
	names := make([]string, 0, len(props))
	for n := range props {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if bad := gemCheckSchema(props[n].(map[string]any), at+".properties["+n+"].value"); bad != nil {
			return bad
		}
	}
	if items := gemObj(s, "items"); items != nil {
		return gemCheckSchema(items, at+".items")
	}
	return nil
}

func gemParseGenConfig(gc map[string]any, g *gemGen, where string) *gemInvalid {
	if gc == nil {
		return nil
	}
	at := where + ".generation_config"
	if t, ok := gc["temperature"].(float64); ok && (t < 0 || t > 2) {
		return gemBad("* %s.temperature: temperature must be in the range [0.0, 2.0]\n", at)
	}
	if p, ok := gc["topP"].(float64); ok && (p < 0 || p > 1) {
		return gemBad("* %s.top_p: top_p must be in the range [0.0, 1.0]\n", at)
	}
	if k, ok := gc["topK"].(int64); ok && k < 0 {
		return gemBad("* %s.top_k: top_k must be non-negative\n", at)
	}
	if n, ok := gc["candidateCount"].(int64); ok && (n < 0 || n > 8) {
		return gemBad("* %s.candidate_count: candidate_count must be in the range [1, 8]\n", at)
	}
	if n, ok := gc["maxOutputTokens"].(int64); ok {
		if n < 0 {
			return gemBad("* %s.max_output_tokens: max_output_tokens must be positive\n", at)
		}
		g.maxTokens = int(n)
	}
	stops := gemList(gc, "stopSequences")
	if len(stops) > 5 {
		return gemBad("* %s.stop_sequences: the number of stop_sequences must not exceed 5\n", at)
	}
	for k, x := range stops {
		if x.(string) == "" {
			return gemBad("* %s.stop_sequences[%d]: stop sequences must not be empty\n", at, k)
		}
		g.stop = append(g.stop, x.(string))
	}
	return nil
}

// ---- answers ----

// gemPromptWords counts the prompt: system, texts, calls, responses and
// declarations in Words, 258 per media part.
func gemPromptWords(g *gemGen) int {
	n := 0
	for _, s := range g.system {
		n += Words(s)
	}
	for _, c := range g.contents {
		for _, p := range c.parts {
			switch p.kind {
			case "text":
				n += Words(p.text)
			case "inlineData", "fileData":
				n += 258
			case "functionCall", "functionResponse":
				n += Words(p.name) + Words(gemShow(p.args))
			}
		}
	}
	for _, f := range g.funcs {
		n += Words(f.name) + Words(f.desc)
	}
	return n
}

type gemCall struct {
	name string
	args map[string]any
}

// gemAnswer is the deterministic answer to a request.
type gemAnswer struct {
	id      string
	text    string
	calls   []gemCall
	finish  string
	blocked bool
	in, out int
}

func (b *GeminiBackend) answer(g *gemGen) gemAnswer {
	n := b.seq.Add(1)
	a := gemAnswer{id: fmt.Sprintf("gemsim%010d", n), in: gemPromptWords(g), finish: "STOP"}
	var last *gemContent
	for i := len(g.contents) - 1; i >= 0; i-- {
		if g.contents[i].role == "user" {
			last = &g.contents[i]
			break
		}
	}
	var texts, results []string
	media := 0
	if last != nil {
		for _, p := range last.parts {
			switch p.kind {
			case "text":
				texts = append(texts, p.text)
			case "functionResponse":
				results = append(results, gemShow(p.args))
			case "inlineData", "fileData":
				media++
			}
		}
	}
	userText := strings.Join(texts, " ")
	isResult := len(texts) == 0 && len(results) > 0
	switch {
	case strings.Contains(userText, "#block-prompt"):
		a.blocked, a.finish = true, ""
		return a
	case b.wantsCall(g, userText, isResult):
		fn := g.funcs[0]
		if len(g.allowed) > 0 {
			for _, f := range g.funcs {
				if f.name == g.allowed[0] {
					fn = f
				}
			}
		}
		for _, place := range gemPlaces(userText) {
			args := gemToolArgs(fn.schema, place)
			a.calls = append(a.calls, gemCall{name: fn.name, args: args})
			a.out += Words(fn.name) + Words(gemShow(args))
		}
		return a
	case isResult:
		a.text = "The function returned: " + strings.Join(results, " ")
	default:
		a.text = "You said: " + userText
		if media > 0 {
			a.text += fmt.Sprintf(" [%d media part(s)]", media)
		}
	}
	if strings.Contains(userText, "#unsafe-answer") {
		a.text, a.finish = strings.Join(strings.Fields(a.text)[:2], " "), "SAFETY"
	}
	cut := -1
	for _, s := range g.stop {
		if i := strings.Index(a.text, s); i >= 0 && (cut < 0 || i < cut) {
			cut = i
		}
	}
	if cut >= 0 {
		a.text = a.text[:cut]
	}
	if words := strings.Fields(a.text); g.maxTokens > 0 && len(words) > g.maxTokens {
		a.text, a.finish = strings.Join(words[:g.maxTokens], " "), "MAX_TOKENS"
	}
	a.out = Words(a.text)
	return a
}

func (b *GeminiBackend) wantsCall(g *gemGen, text string, isResult bool) bool {
	if len(g.funcs) == 0 || g.mode == "NONE" {
		return false
	}
	if g.mode == "ANY" || g.mode == "VALIDATED" {
		return true
	}
	return !isResult && strings.Contains(strings.ToLower(text), "weather")
}

// gemPlaces finds the places after the last " in " of text, split on
// " and " (at most 3), or the whole text.
func gemPlaces(text string) []string {
	place := text
	if i := strings.LastIndex(strings.ToLower(text), " in "); i >= 0 {
		place = text[i+4:]
	}
	var out []string
	for _, p := range strings.Split(place, " and ") {
		p = strings.TrimSpace(strings.TrimRight(strings.TrimSpace(p), "?.!,;:"))
		if p != "" && len(out) < 3 {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = []string{"unknown"}
	}
	return out
}

// gemToolArgs fills the schema's required properties (all of them when
// none is required): strings get place, enums their first value, other
// types their zero value. The schema is JSON Schema or Google's subset.
func gemToolArgs(schema map[string]any, place string) map[string]any {
	return toolArgs(schema, place, true)
}

func gemUsage(in, out int) map[string]any {
	u := map[string]any{"promptTokenCount": in, "totalTokenCount": in + out,
		"promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": in}}}
	if out > 0 {
		u["candidatesTokenCount"] = out
	}
	return u
}

// gemModelVersion is the model name without its collection.
func gemModelVersion(resource string) string {
	_, name, _ := strings.Cut(resource, "/")
	return name
}

// gemCandidate is candidate 0 with parts and, if given, a finish reason.
func gemCandidate(parts []any, finish string) map[string]any {
	c := map[string]any{"content": map[string]any{"parts": parts, "role": "model"}, "index": 0}
	if finish != "" {
		c["finishReason"] = finish
		if finish == "SAFETY" {
			c["safetyRatings"] = []any{map[string]any{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true}}
		}
	}
	return c
}

// callParts are the function call parts of a, the first with a thought
// signature for gemini-3 models.
func (a *gemAnswer) callParts(resource string) []any {
	var parts []any
	for i, c := range a.calls {
		p := map[string]any{"functionCall": map[string]any{"name": c.name, "args": c.args}}
		if i == 0 && strings.Contains(resource, "gemini-3") {
			p["thoughtSignature"] = base64.StdEncoding.EncodeToString([]byte(gemSigPrefix + a.id + ":" + c.name))
		}
		parts = append(parts, p)
	}
	return parts
}

// chunks are the answer as stream chunks, the last one finishing it.
func (b *GeminiBackend) chunks(a *gemAnswer, resource string) []map[string]any {
	chunk := func(cands []any, usage map[string]any) map[string]any {
		c := map[string]any{"usageMetadata": usage, "modelVersion": gemModelVersion(resource), "responseId": a.id}
		if cands != nil {
			c["candidates"] = cands
		}
		return c
	}
	partial := gemUsage(a.in, 0)
	final := gemUsage(a.in, a.out)
	if a.blocked {
		c := chunk(nil, final)
		c["promptFeedback"] = gemPromptFeedback()
		return []map[string]any{c}
	}
	var out []map[string]any
	pieces := gemPieces(a.text, b.chunkWords())
	if len(a.calls) > 0 {
		for _, p := range pieces {
			out = append(out, chunk([]any{gemCandidate([]any{map[string]any{"text": p}}, "")}, partial))
		}
		return append(out, chunk([]any{gemCandidate(a.callParts(resource), a.finish)}, final))
	}
	if len(pieces) == 0 {
		pieces = []string{""}
	}
	for i, p := range pieces {
		if i == len(pieces)-1 {
			out = append(out, chunk([]any{gemCandidate([]any{map[string]any{"text": p}}, a.finish)}, final))
			break
		}
		out = append(out, chunk([]any{gemCandidate([]any{map[string]any{"text": p}}, "")}, partial))
	}
	return out
}

func gemPromptFeedback() map[string]any {
	return map[string]any{"blockReason": "SAFETY", "safetyRatings": []any{
		map[string]any{"category": "HARM_CATEGORY_SEXUALLY_EXPLICIT", "probability": "NEGLIGIBLE"},
		map[string]any{"category": "HARM_CATEGORY_HATE_SPEECH", "probability": "NEGLIGIBLE"},
		map[string]any{"category": "HARM_CATEGORY_HARASSMENT", "probability": "NEGLIGIBLE"},
		map[string]any{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"},
	}}
}

func (b *GeminiBackend) chunkWords() int {
	if b.ChunkWords > 0 {
		return b.ChunkWords
	}
	return 3
}

// gemPieces splits text into pieces of n words, each but the first with its
// leading space.
func gemPieces(text string, n int) []string {
	var out []string
	start, words := 0, 0
	for i := 1; i < len(text); i++ {
		if text[i] == ' ' && text[i-1] != ' ' {
			words++
			if words == n {
				out = append(out, text[start:i])
				start, words = i, 0
			}
		}
	}
	if start < len(text) {
		out = append(out, text[start:])
	}
	return out
}

func (b *GeminiBackend) serveGenerate(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, resource string, raw map[string]any, stream, sse bool) *gemInvalid {
	m, bad := gemCheck(raw, "GenerateContentRequest", "")
	if bad != nil {
		return bad
	}
	g, bad := gemParseGen(m, resource, "GenerateContentRequest")
	if bad != nil {
		return bad
	}
	a := b.answer(g)
	switch {
	case stream && sse:
		b.stream(s, w, r, f, &a, resource)
	case stream:
		// Without alt=sse the method streams one JSON array.
		s.AddUsage(a.in, a.out)
		var parts []string
		for _, c := range b.chunks(&a, resource) {
			js, _ := json.MarshalIndent(c, "", "  ")
			parts = append(parts, string(js))
		}
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		_, _ = io.WriteString(w, "["+strings.Join(parts, "\n,\r\n")+"]")
	default:
		resp := map[string]any{"usageMetadata": gemUsage(a.in, a.out), "modelVersion": gemModelVersion(resource), "responseId": a.id}
		switch {
		case a.blocked:
			resp["promptFeedback"] = gemPromptFeedback()
		case len(a.calls) > 0:
			resp["candidates"] = []any{gemCandidate(a.callParts(resource), a.finish)}
		default:
			resp["candidates"] = []any{gemCandidate([]any{map[string]any{"text": a.text}}, a.finish)}
		}
		s.AddUsage(a.in, a.out) // before writing, so a client that has the answer sees it counted
		gemWriteJSON(w, http.StatusOK, resp)
	}
	return nil
}

// gemSSE writes the API's event stream ("data: …\r\n\r\n") with a fault's
// ChunkDelay, CutAfter and StallAfter, as sim.SSE does.
type gemSSE struct {
	s *Server
	w http.ResponseWriter
	r *http.Request
	f *Fault
	n int
}

func newGemSSE(s *Server, w http.ResponseWriter, r *http.Request, f *Fault) *gemSSE {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Server", "scaffolding on HTTPServer2")
	w.WriteHeader(http.StatusOK)
	return &gemSSE{s: s, w: w, r: r, f: f}
}

// delivers reports whether the next event will be written (no cut or stall
// is due at it).
func (e *gemSSE) delivers() bool {
	return e.f == nil || !(e.f.CutAfter > 0 && e.n >= e.f.CutAfter) && !(e.f.StallAfter > 0 && e.n >= e.f.StallAfter)
}

func (e *gemSSE) send(data string) {
	if e.f != nil {
		if e.f.CutAfter > 0 && e.n >= e.f.CutAfter {
			panic(http.ErrAbortHandler)
		}
		if e.f.StallAfter > 0 && e.n >= e.f.StallAfter {
			select {
			case <-e.r.Context().Done():
			case <-e.s.Closing():
			}
			panic(http.ErrAbortHandler)
		}
		if e.f.ChunkDelay > 0 && e.n > 0 && !sleep(e.r, e.f.ChunkDelay) {
			panic(http.ErrAbortHandler)
		}
	}
	e.write("data: " + data + "\r\n\r\n")
	e.n++
}

func (e *gemSSE) write(s string) {
	_, _ = io.WriteString(e.w, s)
	if fl, ok := e.w.(http.Flusher); ok {
		fl.Flush()
	}
}

func (b *GeminiBackend) stream(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, a *gemAnswer, resource string) {
	e := newGemSSE(s, w, r, f)
	chunks := b.chunks(a, resource)
	inStreamError := f != nil && f.Status == 0 && f.Body != ""
	for i, c := range chunks {
		if inStreamError && (i > 0 || len(chunks) == 1) {
			body := f.Body
			if strings.HasPrefix(body, "data:") && !strings.HasSuffix(body, "\n\n") {
				body += "\r\n\r\n"
			}
			e.write(body)
			return
		}
		js, _ := json.Marshal(c)
		if i == len(chunks)-1 && e.delivers() {
			s.AddUsage(a.in, a.out)
		}
		e.send(string(js))
	}
}

// ---- embeddings and token counts ----

// GeminiEmbedding is the simulator's embedding of text for a task type: a
// unit vector of dims values seeded by both. Equal inputs give equal
// vectors.
func GeminiEmbedding(text, taskType string, dims int) []float32 {
	return OpenAIEmbedding("gemini\x00"+taskType+"\x00"+text, dims)
}

// gemEmbedText checks one EmbedContentRequest and returns its text, task
// type and dimensions.
func gemEmbedText(m map[string]any, resource, at string, batch bool) (text, task string, dims int, bad *gemInvalid) {
	model := gemStr(m, "model")
	switch {
	case batch && model == "":
		return "", "", 0, gemBad("* %s.model: model is required\n", at)
	case model != "" && model != resource:
		return "", "", 0, gemBad("* %s.model: model %q does not match the model in the URL (%s)\n", at, model, resource)
	}
	c := gemObj(m, "content")
	if c == nil {
		return "", "", 0, gemBad("* %s.content: content is not specified\n", at)
	}
	content, bad := gemParseContent(c, at+".content", "content")
	if bad != nil {
		return "", "", 0, bad
	}
	var texts []string
	for j, p := range content.parts {
		if p.kind != "text" {
			return "", "", 0, gemBad("* %s.content.parts[%d]: only text parts can be embedded\n", at, j)
		}
		texts = append(texts, p.text)
	}
	task = gemStr(m, "taskType")
	if gemStr(m, "title") != "" && task != "RETRIEVAL_DOCUMENT" {
		return "", "", 0, gemBad("* %s.title: title is only supported for the RETRIEVAL_DOCUMENT task type\n", at)
	}
	if d, ok := m["outputDimensionality"].(int64); ok {
		if d < 0 || d > 3072 {
			return "", "", 0, gemBad("* %s.output_dimensionality: output_dimensionality must be between 1 and 3072\n", at)
		}
		dims = int(d)
	}
	return strings.Join(texts, " "), task, dims, nil
}

func (b *GeminiBackend) embedding(text, task string, dims int) map[string]any {
	if dims == 0 {
		dims = b.EmbeddingDimensions
	}
	if dims <= 0 {
		dims = 8
	}
	return map[string]any{"values": GeminiEmbedding(text, task, dims)}
}

func (b *GeminiBackend) serveEmbed(w http.ResponseWriter, resource string, raw map[string]any, batch bool) *gemInvalid {
	if !batch {
		m, bad := gemCheck(raw, "EmbedContentRequest", "")
		if bad != nil {
			return bad
		}
		text, task, dims, bad := gemEmbedText(m, resource, "EmbedContentRequest", false)
		if bad != nil {
			return bad
		}
		gemWriteJSON(w, http.StatusOK, map[string]any{"embedding": b.embedding(text, task, dims)})
		return nil
	}
	m, bad := gemCheck(raw, "BatchEmbedContentsRequest", "")
	if bad != nil {
		return bad
	}
	reqs := gemList(m, "requests")
	switch {
	case len(reqs) == 0:
		return gemBad("* BatchEmbedContentsRequest.requests: at least one request is required\n")
	case len(reqs) > 100:
		return gemBad("* BatchEmbedContentsRequest.requests: at most 100 requests can be in one batch\n")
	}
	out := make([]any, len(reqs))
	for i, x := range reqs {
		text, task, dims, bad := gemEmbedText(x.(map[string]any), resource, fmt.Sprintf("BatchEmbedContentsRequest.requests[%d]", i), true)
		if bad != nil {
			return bad
		}
		out[i] = b.embedding(text, task, dims)
	}
	gemWriteJSON(w, http.StatusOK, map[string]any{"embeddings": out})
	return nil
}

func (b *GeminiBackend) serveCountTokens(w http.ResponseWriter, resource string, raw map[string]any) *gemInvalid {
	m, bad := gemCheck(raw, "CountTokensRequest", "")
	if bad != nil {
		return bad
	}
	var g *gemGen
	if gen := gemObj(m, "generateContentRequest"); gen != nil {
		const where = "CountTokensRequest.generate_content_request"
		switch model := gemStr(gen, "model"); {
		case model == "":
			return gemBad("* %s.model: model is required\n", where)
		case model != resource:
			return gemBad("* %s.model: model %q does not match the model in the URL (%s)\n", where, model, resource)
		}
		g, bad = gemParseGen(gen, resource, where)
	} else {
		g, bad = gemParseGen(map[string]any{"contents": m["contents"]}, resource, "CountTokensRequest")
	}
	if bad != nil {
		return bad
	}
	n := gemPromptWords(g)
	gemWriteJSON(w, http.StatusOK, map[string]any{"totalTokens": n, "promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": n}}})
	return nil
}

// gemCheckQueryAndType refuses, as Google's APIs do, a request with a query
// parameter the API does not bind, an alt other than json or sse, or a body
// that is not application/json; it reports whether the request passed.
func gemCheckQueryAndType(s *Server, w http.ResponseWriter, r *http.Request) (string, bool) {
	q := r.URL.Query()
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !gemQueryParams[k] {
			s.Invalid(w, http.StatusBadRequest, fmt.Sprintf("Invalid JSON payload received. Unknown name %q: Cannot bind query parameter. Field '%s' could not be found in request message.", k, k))
			return "", false
		}
	}
	alt := q.Get("alt")
	if alt == "" {
		alt = q.Get("$alt")
	}
	if alt != "" && alt != "json" && alt != "sse" {
		s.Invalid(w, http.StatusBadRequest, "Invalid value at 'alt' ("+alt+"): expected json or sse")
		return "", false
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.Invalid(w, http.StatusBadRequest, "Invalid JSON payload received. Unexpected Content-Type "+strconv.Quote(r.Header.Get("Content-Type"))+".")
		return "", false
	}
	return alt, true
}
