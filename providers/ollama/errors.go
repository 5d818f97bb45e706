package ollama

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// maxMessage caps an error message taken from a body that is not JSON (an
// HTML page from a proxy, Gin's "404 page not found").
const maxMessage = 512

// DecodeError refines e from an Ollama error answer. It is a
// providers.Exchange.DecodeError and is safe for concurrent use.
//
// Ollama answers {"error": "message"}; proxies in front of it may answer
// {"error": {"message": …, "type": …, "code": …}} or plain text, which are
// read too. The class stays the status-based one: 400 and 404 (model not
// found) are ClassInvalid, 401/403 ClassAuth, 429 (Ollama's cloud)
// ClassRateLimited with the Retry-After the answer gave, 500 and 502
// ClassServer, and 503 — Ollama's "server busy, please try again.  maximum
// pending requests exceeded" — ClassServer, so it is retried. A class is
// always set: a status that is neither 2xx nor an error is ClassServer.
func DecodeError(status int, _ http.Header, body []byte, e *messages.UpstreamError) {
	typ, code, msg := parseError(body)
	providers.SetErrorDetails(e, typ, code, msg)
	providers.DefaultClass(e, status)
}

// parseError extracts type, code and message from an error body. It never
// fails; a body that is not JSON gives its text (trimmed, capped) as the
// message.
func parseError(body []byte) (typ, code, msg string) {
	top, text := providers.ErrorObject(body, maxMessage)
	if top == nil {
		return "", "", text
	}
	typ, code, msg = providers.ErrorFields(top)
	return typ, code, clip(msg)
}

// errorValue reads the value of an "error" field: a string, or an object
// with message, type and code.
func errorValue(raw json.RawMessage) (typ, code, msg string) {
	typ, code, msg = providers.ErrorValue(raw)
	return typ, code, clip(msg)
}

// clip trims s and caps it at maxMessage bytes without splitting a rune.
func clip(s string) string {
	return providers.ClipMessage(strings.TrimSpace(s), maxMessage)
}

// streamError turns the "error" of an object inside a 2xx answer (a stream
// line) into an UpstreamError. The status is already 200, so the message
// decides the class: a model that lacks a capability or a request Ollama
// found invalid is ClassInvalid; anything else (the runner crashed, ran out
// of memory, was unloaded) is ClassServer and retryable.
func streamError(call *providers.Call, raw json.RawMessage) *messages.UpstreamError {
	typ, code, msg := errorValue(raw)
	if msg == "" {
		msg = clip(string(raw))
		if msg == "" || msg == `""` {
			msg = "upstream reported an error"
		}
	}
	e := call.Fail(classifyMessage(msg), call.Result.Status, msg, nil)
	e.Type, e.Code = typ, code
	return e
}

// classifyMessage sorts an error reported with status 200 by its text.
func classifyMessage(msg string) messages.ErrorClass {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "does not support"), strings.Contains(m, "not found, try pulling"),
		strings.Contains(m, "exceeds the context"), strings.Contains(m, "input length exceeds"):
		return messages.ClassInvalid
	}
	return messages.ClassServer
}

func malformed(call *providers.Call, msg string, err error) *messages.UpstreamError {
	return call.Fail(messages.ClassMalformed, call.Result.Status, msg, err)
}
