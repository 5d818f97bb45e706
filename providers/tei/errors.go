package tei

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// maxMessage bounds an error message taken from a body that is not JSON.
const maxMessage = 512

// DecodeError refines e from a TEI error answer. It is a
// providers.Exchange.DecodeError and is safe for concurrent use.
//
// It reads the native {"error":"…","error_type":"…"}, the OpenAI-compatible
// route's {"message":"…","code":413,"error_type":"…"} (older servers call
// the type "type"), and plain text (axum's own 413/415/422 answers). The
// error type, compared without regard to case (the OpenAPI examples use
// lower case, the wire PascalCase), decides the class:
//
//   - Overloaded (429): ClassRateLimited, retried after Retry-After if sent;
//   - Validation (413), Tokenizer (422), Empty (400): ClassInvalid;
//   - Backend (424, or 500 for a NaN score): ClassServer with ShouldRetry
//     false: the server failed on this input, so the endpoint's breaker
//     counts it, but the same input would most likely fail again;
//   - Unhealthy (503): ClassServer, retryable.
//
// Without a known type the status decides (providers.ClassifyStatus). A class
// is always set: a status that is neither 2xx nor an error is ClassServer.
func DecodeError(status int, _ http.Header, body []byte, e *messages.UpstreamError) {
	typ, msg := parseErrorBody(body)
	providers.SetErrorDetails(e, typ, "", msg)
	providers.DefaultClass(e, status)
	if c, ok := classifyType(typ); ok {
		e.Class = c
		if strings.EqualFold(typ, "Backend") {
			f := false
			e.ShouldRetry = &f
		}
	}
}

// classifyType maps TEI's error type to a class.
func classifyType(typ string) (messages.ErrorClass, bool) {
	switch strings.ToLower(typ) {
	case "overloaded":
		return messages.ClassRateLimited, true
	case "validation", "tokenizer", "empty":
		return messages.ClassInvalid, true
	case "backend", "unhealthy":
		return messages.ClassServer, true
	}
	return messages.ClassUnknown, false
}

// parseErrorBody extracts the type and message of an error answer. It never
// fails; a body that is not a JSON object gives its text as the message.
func parseErrorBody(body []byte) (typ, msg string) {
	top, text := providers.ErrorObject(body, maxMessage)
	if top == nil {
		return "", text
	}
	msg = providers.JSONText(top["error"])
	if msg == "" {
		msg = providers.JSONText(top["message"])
	}
	typ = providers.JSONText(top["error_type"])
	if typ == "" {
		typ = providers.JSONText(top["type"])
	}
	return typ, msg
}

func clip(s string) string { return providers.ClipMessage(s, maxMessage) }

var batchLimitRE = regexp.MustCompile(`maximum allowed batch size (\d+)`)

// splitSize reports whether e is a refusal of a batch as too large that
// smaller batches would avoid, and the batch size to use for n inputs: the
// server's limit when the message names it, otherwise half.
//
// TEI answers 413 both for a batch over --max-client-batch-size ("batch size
// N > maximum allowed batch size M", type Validation) and for a body over
// --payload-limit (axum's plain "length limit exceeded"); every other
// Validation error (an input too long, a bad prompt name) is also 413, and
// splitting would not help it.
func splitSize(e *messages.UpstreamError, n int) (int, bool) {
	if e.Status != http.StatusRequestEntityTooLarge || n < 2 {
		return 0, false
	}
	msg := strings.ToLower(e.Message)
	switch {
	case strings.Contains(msg, "batch size"):
		if m := batchLimitRE.FindStringSubmatch(msg); m != nil {
			if limit, err := strconv.Atoi(m[1]); err == nil && limit > 0 && limit < n {
				return limit, true
			}
		}
	case e.Type == "" || strings.Contains(msg, "length limit") || strings.Contains(msg, "payload"):
	default:
		return 0, false
	}
	return (n + 1) / 2, true
}
