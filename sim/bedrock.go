package sim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/uuid"

	"github.com/switchyard-ai/switchyard/clock"
)

// Bedrock's wire constants.
const (
	// BedrockVersion is the anthropic_version Bedrock's Claude bodies carry.
	BedrockVersion = "bedrock-2023-05-31"
	// BedrockService is Bedrock's SigV4 signing name.
	BedrockService = "bedrock"

	bedrockContentTypeStream = "application/vnd.amazon.eventstream"
	bedrockMalformedPrefix   = "Malformed input request: "
	bedrockMalformedSuffix   = ", please reformat your input and try again."
	bedrockBadModel          = "The provided model identifier is invalid."
)

// BedrockOptions configure the Bedrock simulator.
type BedrockOptions struct {
	// Region is the region requests must be signed for (default
	// "us-east-1").
	Region string
	// Clock judges signature dates; nil is the wall clock.
	Clock clock.Clock
	// Keys are the access keys SigV4 signatures are checked with.
	Keys []SigV4Key
	// APIKeys are the Bedrock API keys accepted as bearer tokens
	// (Authorization: Bearer); with none, no bearer token is accepted.
	APIKeys []string
}

// BedrockBackend simulates Claude on Amazon Bedrock's runtime API:
//
//   - POST /model/{modelId}/invoke, /model/{modelId}/invoke-with-response-stream
//     and /model/{modelId}/count-tokens only (404 UnknownOperationException
//     otherwise); the model ID is one path segment, so an ARN's ':' and '/'
//     must come escaped; it may hold letters, digits and . _ : / @ -
//     (400 "The provided model identifier is invalid." otherwise);
//   - requests are authenticated by AWS SigV4 (SigV4Verifier, service
//     "bedrock", BedrockOptions.Region and Keys) or by a Bedrock API key
//     (Authorization: Bearer, BedrockOptions.APIKeys), refused with 403 and
//     AWS's error types (MissingAuthenticationTokenException,
//     InvalidSignatureException, UnrecognizedClientException,
//     ExpiredTokenException, …);
//   - the body must be JSON (Content-Type application/json) with
//     anthropic_version "bedrock-2023-05-31", no model and no stream member
//     (the path says both), and optionally anthropic_beta, a list of
//     strings; unknown members are refused as Bedrock's schema check does
//     ("Malformed input request: #: extraneous key [model] is not
//     permitted, …"), everything else by the Anthropic simulator's checks,
//     whose messages Bedrock passes on, all as 400 ValidationException;
//   - count-tokens takes {"input":{"invokeModel":{"body":"<base64>"}}}
//     whose body is an invoke body, and answers {"inputTokens": n};
//   - errors are {"message": …} with x-amzn-ErrorType (the type and
//     Bedrock's namespace URI) by status: 400 ValidationException, 403
//     AccessDeniedException, 404 ResourceNotFoundException, 408
//     ModelTimeoutException, 424 ModelErrorException, 429
//     ThrottlingException, 500 InternalServerException, 503
//     ServiceUnavailableException; an x-amzn-ErrorType set by a fault's
//     Header picks another type (ModelNotReadyException,
//     ServiceQuotaExceededException, …) with that type's message. Every
//     answer carries x-amzn-RequestId.
//
// Answers are the Anthropic simulator's (Anthropic: same words, tools,
// usage, stop reasons, faults), without Anthropic's headers. A stream is
// application/vnd.amazon.eventstream: each Messages event becomes an
// event-stream message (:message-type event, :event-type chunk,
// :content-type application/json) with CRCs, whose payload is
// {"bytes":"<base64 of the event JSON>","p":"<padding>"}, and message_stop
// carries amazon-bedrock-invocationMetrics. A fault with Status 0 and a
// Body makes the stream end, after its first content block starts, with an
// exception message whose payload is Body and whose :exception-type is the
// fault's Header["x-amzn-ErrorType"] (default modelStreamErrorException).
//
// It is safe for concurrent use.
type BedrockBackend struct {
	anth *anthropicSim
	sig  *SigV4Verifier

	mu      sync.Mutex
	apiKeys map[string]bool
}

// Bedrock returns a Bedrock simulator; start it with Start.
func Bedrock(o BedrockOptions) *BedrockBackend {
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	b := &BedrockBackend{anth: &anthropicSim{}, sig: NewSigV4Verifier(o.Region, BedrockService, o.Clock, o.Keys...), apiKeys: map[string]bool{}}
	for _, k := range o.APIKeys {
		b.apiKeys[k] = true
	}
	return b
}

// Signatures returns the SigV4 verifier, to add keys or expire session
// tokens.
func (b *BedrockBackend) Signatures() *SigV4Verifier { return b.sig }

// RevokeAPIKey stops accepting the Bedrock API key k.
func (b *BedrockBackend) RevokeAPIKey(k string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.apiKeys, k)
}

// Name returns "anthropic_bedrock".
func (*BedrockBackend) Name() string { return "anthropic_bedrock" }

// Key returns the bearer token, or the access key ID of a SigV4
// signature, unchecked (Server calls Verify instead).
func (*BedrockBackend) Key(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); ok {
		return tok
	}
	a, _ := parseSigV4Auth(auth)
	return a.accessKey
}

// Verify checks a Bedrock API key or a SigV4 signature.
func (b *BedrockBackend) Verify(r *http.Request, body []byte) (string, int, string) {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		b.mu.Lock()
		known := b.apiKeys[tok]
		b.mu.Unlock()
		if !known {
			return "", http.StatusForbidden, SigV4InvalidToken
		}
		return tok, 0, ""
	}
	key, refusal := b.sig.Verify(r, body)
	if refusal != nil {
		return "", refusal.Status, refusal.Message
	}
	return key, 0, ""
}

// bedrockErrorType is the error type Bedrock answers status with.
func bedrockErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "UnrecognizedClientException"
	case http.StatusForbidden:
		return "AccessDeniedException"
	case http.StatusNotFound:
		return "ResourceNotFoundException"
	case http.StatusRequestTimeout:
		return "ModelTimeoutException"
	case http.StatusFailedDependency:
		return "ModelErrorException"
	case http.StatusTooManyRequests:
		return "ThrottlingException"
	case http.StatusServiceUnavailable:
		return "ServiceUnavailableException"
	}
	if status >= 500 {
		return "InternalServerException"
	}
	return "ValidationException"
}

// bedrockMessages are the messages Bedrock answers each error type with
// when the simulator is given none of its own.
var bedrockMessages = map[string]string{
	"ThrottlingException":           "Too many requests, please wait before trying again.",
	"ServiceQuotaExceededException": "Too many tokens, please wait before trying again.",
	"ModelNotReadyException":        "Model is not ready to serve inference requests. The AWS SDK will automatically retry the operation up to 5 times.",
	"ModelTimeoutException":         "Model has timed out in processing the request. Try your request again.",
	"ModelErrorException":           "The system encountered an unexpected error during processing. Try your request again.",
	"ServiceUnavailableException":   "Bedrock is unable to process your request.",
	"InternalServerException":       "The server encountered an internal error while processing the request.",
	"AccessDeniedException":         "You don't have access to the model with the specified model ID.",
	"ResourceNotFoundException":     "Could not resolve the foundation model from the provided model identifier.",
	"UnrecognizedClientException":   SigV4InvalidToken,
	"ValidationException":           "Malformed input request, please reformat your input and try again.",
	"UnknownOperationException":     "Unknown operation",
}

// WriteError writes Bedrock's error answer: {"message": …} with
// x-amzn-ErrorType and x-amzn-RequestId. The type is the one a
// refused signature's message names, else one already set on w (a fault's
// Header), else the status's; a message that is only the status text
// becomes the type's own.
func (b *BedrockBackend) WriteError(w http.ResponseWriter, status int, message string) {
	typ := sigV4ErrorType(message)
	if typ == "" {
		typ, _, _ = strings.Cut(w.Header().Get("X-Amzn-ErrorType"), ":")
	}
	if typ == "" {
		typ = bedrockErrorType(status)
	}
	if message == "" || message == http.StatusText(status) {
		if m := bedrockMessages[typ]; m != "" {
			message = m
		}
	}
	ns := "com.amazon.bedrock"
	if sigV4ErrorType(message) != "" || typ == "UnrecognizedClientException" {
		ns = "com.amazon.coral.service"
	}
	w.Header().Set("X-Amzn-ErrorType", typ+":http://internal.amazon.com/coral/"+ns+"/")
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
}

// bedrockModelID is what the simulator accepts as a model ID: foundation
// model and inference profile IDs, and ARNs.
var bedrockModelID = regexp.MustCompile(`^[a-zA-Z0-9._:/@-]+$`)

// Serve routes, checks and answers a request.
func (b *BedrockBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	model, op, ok := bedrockRoute(r.URL.EscapedPath())
	if !ok || r.Method != http.MethodPost {
		w.Header().Set("X-Amzn-ErrorType", "UnknownOperationException")
		s.Invalid(w, http.StatusNotFound, "")
		return
	}
	if len(model) > 2048 || !bedrockModelID.MatchString(model) {
		s.Invalid(w, http.StatusBadRequest, bedrockBadModel)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.Invalid(w, http.StatusBadRequest, "The provided Content-Type is not supported: use application/json.")
		return
	}
	if op == "count-tokens" {
		b.countTokens(s, w, r, body, model)
		return
	}
	stream := op == "invoke-with-response-stream"
	anthBody, bad := bedrockInvokeBody(body, model, stream)
	if bad != "" {
		s.Invalid(w, http.StatusBadRequest, bad)
		return
	}
	hw := newHostedWriter(w, b.setHeaders)
	if stream {
		typ := "modelStreamErrorException"
		if v := faultHeader(f, "X-Amzn-ErrorType"); v != "" {
			typ = v
		}
		hw.frame = (&bedrockFramer{exception: typ, start: time.Now()}).frame
	}
	b.anth.Serve(s, hw, anthRequest(r, "/v1/messages", anthBody), anthBody, f)
	hw.finish()
}

// faultHeader returns the value f's Header gives name, compared
// case-insensitively; "" for none or a nil f.
func faultHeader(f *Fault, name string) string {
	if f == nil {
		return ""
	}
	for k, v := range f.Header {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// setHeaders turns the Anthropic simulator's answer headers into
// Bedrock's.
func (b *BedrockBackend) setHeaders(h http.Header, sse bool) {
	if h.Get("X-Amzn-Requestid") == "" {
		h.Set("X-Amzn-Requestid", uuid.NewString())
	}
	if sse {
		h.Set("Content-Type", bedrockContentTypeStream)
		h.Set("X-Amzn-Bedrock-Content-Type", "application/json")
		h.Del("Cache-Control")
	}
}

// bedrockRoute splits /model/{modelId}/{operation} (the path as sent, so
// the model ID is one escaped segment).
func bedrockRoute(path string) (model, op string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/model/")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 2 || parts[0] == "" {
		return "", "", false
	}
	switch parts[1] {
	case "invoke", "invoke-with-response-stream", "count-tokens":
	default:
		return "", "", false
	}
	model, err := url.PathUnescape(parts[0])
	if err != nil {
		return "", "", false
	}
	return model, parts[1], true
}

// bedrockMalformed is Bedrock's schema-check message.
func bedrockMalformed(detail string) string {
	return bedrockMalformedPrefix + detail + bedrockMalformedSuffix
}

// bedrockInvokeBody checks an invoke body as Bedrock does and returns the
// Messages API body it stands for (the model from the path, stream as the
// operation says, Bedrock's members dropped), or the 400 message.
func bedrockInvokeBody(body []byte, model string, stream bool) ([]byte, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, bedrockMalformed("#: expected type: JSONObject")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, bedrockMalformed("#: unexpected data after the JSON object")
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "anthropic_version" || k == "anthropic_beta" {
			continue
		}
		if k == "model" || k == "stream" || !anthTopLevel[false][k] {
			return nil, bedrockMalformed("#: extraneous key [" + k + "] is not permitted")
		}
	}
	switch v, present := m["anthropic_version"]; {
	case !present:
		return nil, bedrockMalformed("#: required key [anthropic_version] not found")
	case v != BedrockVersion:
		return nil, bedrockMalformed(fmt.Sprintf("#/anthropic_version: %v is not a valid enum value", v))
	}
	if v, present := m["anthropic_beta"]; present {
		list, isList := v.([]any)
		if !isList {
			return nil, bedrockMalformed("#/anthropic_beta: expected type: JSONArray")
		}
		for i, x := range list {
			if _, isStr := x.(string); !isStr {
				return nil, bedrockMalformed(fmt.Sprintf("#/anthropic_beta/%d: expected type: String", i))
			}
		}
	}
	delete(m, "anthropic_version")
	delete(m, "anthropic_beta")
	m["model"] = model
	if stream {
		m["stream"] = true
	}
	out, _ := json.Marshal(m)
	if _, bad := anthParse(out, false); bad != "" {
		return nil, string(bad)
	}
	return out, ""
}

// countTokens answers CountTokens for an invoke body.
func (b *BedrockBackend) countTokens(s *Server, w http.ResponseWriter, r *http.Request, body []byte, model string) {
	var in struct {
		Input *struct {
			InvokeModel *struct {
				Body *string `json:"body"`
			} `json:"invokeModel"`
			Converse json.RawMessage `json:"converse"`
		} `json:"input"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil || in.Input == nil {
		s.Invalid(w, http.StatusBadRequest, "1 validation error detected: Value null at 'input' failed to satisfy constraint: Member must not be null")
		return
	}
	if in.Input.InvokeModel == nil || in.Input.InvokeModel.Body == nil {
		s.Invalid(w, http.StatusBadRequest, "The simulator counts invokeModel input only: input.invokeModel.body is required")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(*in.Input.InvokeModel.Body)
	if err != nil {
		s.Invalid(w, http.StatusBadRequest, "input.invokeModel.body: invalid base64")
		return
	}
	anthBody, bad := bedrockInvokeBody(raw, model, false)
	if bad != "" {
		s.Invalid(w, http.StatusBadRequest, bad)
		return
	}
	req, _ := anthParse(anthBody, false)
	w.Header().Set("X-Amzn-Requestid", uuid.NewString())
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"inputTokens": anthPromptWords(req)})
}

// anthRequest is the request the Anthropic simulator is handed to answer
// for a hosted one: POST path with body, Anthropic's headers.
func anthRequest(r *http.Request, path string, body []byte) *http.Request {
	ar := httptest.NewRequestWithContext(r.Context(), http.MethodPost, path, bytes.NewReader(body))
	ar.Header.Set("X-Api-Key", "hosted")
	ar.Header.Set("Anthropic-Version", "2023-06-01")
	ar.Header.Set("Content-Type", "application/json")
	return ar
}

// hostedWriter is the ResponseWriter the hosted Claude simulators (Bedrock,
// Vertex AI) hand to the Anthropic simulator: it drops Anthropic's own
// headers (request-id, anthropic-*), lets the cloud set its own (headers,
// told whether the answer is an event stream) and, when frame is set,
// turns each server-sent event into the bytes the cloud sends instead.
type hostedWriter struct {
	w       http.ResponseWriter
	h       http.Header
	headers func(h http.Header, sse bool)
	frame   func(event, data string) []byte
	status  int
	sse     bool
	pending []byte
}

func newHostedWriter(w http.ResponseWriter, headers func(http.Header, bool)) *hostedWriter {
	return &hostedWriter{w: w, h: http.Header{}, headers: headers}
}

// Header returns the headers the Anthropic simulator writes.
func (hw *hostedWriter) Header() http.Header { return hw.h }

// WriteHeader copies the cloud's headers and writes the status.
func (hw *hostedWriter) WriteHeader(status int) {
	if hw.status != 0 {
		return
	}
	hw.status = status
	dst := hw.w.Header()
	for k, vs := range hw.h {
		if k == "Request-Id" || strings.HasPrefix(k, "Anthropic-") {
			continue
		}
		dst[k] = vs
	}
	hw.sse = status == http.StatusOK && strings.HasPrefix(dst.Get("Content-Type"), "text/event-stream")
	hw.headers(dst, hw.sse && hw.frame != nil)
	hw.w.WriteHeader(status)
}

// Write passes body bytes on, or frames each complete event.
func (hw *hostedWriter) Write(p []byte) (int, error) {
	if hw.status == 0 {
		hw.WriteHeader(http.StatusOK)
	}
	if !hw.sse || hw.frame == nil {
		return hw.w.Write(p)
	}
	hw.pending = append(hw.pending, p...)
	for {
		i := bytes.Index(hw.pending, []byte("\n\n"))
		if i < 0 {
			break
		}
		var event, data string
		for _, line := range strings.Split(string(hw.pending[:i]), "\n") {
			if v, ok := strings.CutPrefix(line, "event: "); ok {
				event = v
			} else if v, ok := strings.CutPrefix(line, "data: "); ok {
				data = v
			}
		}
		hw.pending = hw.pending[i+2:]
		if _, err := hw.w.Write(hw.frame(event, data)); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush flushes the underlying writer.
func (hw *hostedWriter) Flush() {
	if fl, ok := hw.w.(http.Flusher); ok {
		fl.Flush()
	}
}

// finish writes the status of an answer that wrote no body.
func (hw *hostedWriter) finish() {
	if hw.status == 0 {
		hw.WriteHeader(http.StatusOK)
	}
}

// bedrockFramer turns one answer's Messages events into event-stream
// messages; it tracks the usage for message_stop's invocation metrics.
type bedrockFramer struct {
	exception string
	start     time.Time
	in, out   int
	n         int
}

// frame encodes one event: a chunk, or for an `error` event the
// exception message.
func (fr *bedrockFramer) frame(event, data string) []byte {
	var msg eventstream.Message
	if event == "error" {
		msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
		msg.Headers.Set(":exception-type", eventstream.StringValue(fr.exception))
		msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		msg.Payload = []byte(data)
	} else {
		payload := fr.metrics(data)
		fr.n++
		chunk, _ := json.Marshal(map[string]string{
			"bytes": base64.StdEncoding.EncodeToString(payload),
			"p":     "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[:1+fr.n*7%40],
		})
		msg.Headers.Set(":event-type", eventstream.StringValue("chunk"))
		msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		msg.Headers.Set(":message-type", eventstream.StringValue("event"))
		msg.Payload = chunk
	}
	var buf bytes.Buffer
	_ = eventstream.NewEncoder().Encode(&buf, msg)
	return buf.Bytes()
}

// metrics notes an event's usage and adds Bedrock's invocation metrics to
// message_stop.
func (fr *bedrockFramer) metrics(data string) []byte {
	var ev struct {
		Type    string `json:"type"`
		Message struct {
			Usage struct {
				InputTokens int `json:"input_tokens"`
			} `json:"usage"`
		} `json:"message"`
		Usage struct {
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if json.Unmarshal([]byte(data), &ev) != nil {
		return []byte(data)
	}
	switch ev.Type {
	case "message_start":
		fr.in = ev.Message.Usage.InputTokens
	case "message_delta":
		fr.out = ev.Usage.OutputTokens
	case "message_stop":
		ms := strconv.FormatInt(time.Since(fr.start).Milliseconds(), 10)
		b, _ := json.Marshal(map[string]any{"type": "message_stop", "amazon-bedrock-invocationMetrics": map[string]any{
			"inputTokenCount": fr.in, "outputTokenCount": fr.out, "invocationLatency": json.Number(ms), "firstByteLatency": json.Number(ms)}})
		return b
	}
	return []byte(data)
}
