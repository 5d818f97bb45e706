package tgi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// maxMessage bounds an error message taken from a body that is not JSON.
const maxMessage = 512

// DecodeError refines e from a TGI error answer. It is a
// providers.Exchange.DecodeError and is safe for concurrent use.
//
// It reads {"error":"…","error_type":"…"}, the chat route's
// {"error":{"message":"…","http_status_code":422}}, an OpenAI-style
// {"error":{"message","type","code"}} or {"message":…}, and plain text
// (axum's own 400/415/422 answers, a proxy's page). The error type decides
// the class:
//
//   - validation, template_error, missing_template_variable, tool_error
//     (422): ClassInvalid, not retried;
//   - overloaded (429, more than --max-concurrent-requests in flight):
//     ClassRateLimited, retried after Retry-After if sent;
//   - generation (424, the model failed while generating): ClassServer with
//     ShouldRetry false: the endpoint's breaker counts it, but the same
//     request would most likely fail the same way;
//   - incomplete_generation, incomplete_generation_stream,
//     stream_serialization_error (500) and healthcheck (503): ClassServer,
//     retryable.
//
// Without a known type the status decides (providers.ClassifyStatus, with
// 424 not retried either). A class is always set: a status that is neither
// 2xx nor an error is ClassServer.
func DecodeError(status int, _ http.Header, body []byte, e *messages.UpstreamError) {
	typ, msg, code := parseErrorBody(body)
	providers.SetErrorDetails(e, typ, "", msg)
	providers.DefaultClass(e, status)
	if code == 0 {
		code = status
	}
	classify(e, typ, code)
}

// classify sets e's class from TGI's error type, or, for an unknown type,
// from status when it is an error status. 424 is never retried.
func classify(e *messages.UpstreamError, typ string, status int) {
	switch strings.ToLower(typ) {
	case "validation", "template_error", "missing_template_variable", "tool_error":
		e.Class = messages.ClassInvalid
	case "overloaded":
		e.Class = messages.ClassRateLimited
	case "generation":
		e.Class = messages.ClassServer
		status = http.StatusFailedDependency
	case "incomplete_generation", "incomplete_generation_stream", "stream_serialization_error", "healthcheck", "unhealthy":
		e.Class = messages.ClassServer
	default:
		if status >= 400 {
			e.Class = providers.ClassifyStatus(status)
		}
	}
	if status == http.StatusFailedDependency && e.Class == messages.ClassServer {
		f := false
		e.ShouldRetry = &f
	}
}

// parseErrorBody extracts the type, message and (chat route) status of an
// error answer. It never fails; a body that is not a JSON object gives its
// text as the message.
func parseErrorBody(body []byte) (typ, msg string, status int) {
	top, text := providers.ErrorObject(body, maxMessage)
	if top == nil {
		return "", text, 0
	}
	typ = providers.JSONText(top["error_type"])
	if raw, ok := top["error"]; ok && !providers.IsJSONNull(raw) {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return typ, s, 0
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) == nil {
			if typ == "" {
				typ = providers.JSONText(inner["error_type"])
			}
			if typ == "" {
				typ = providers.JSONText(inner["type"])
			}
			var code float64
			if json.Unmarshal(inner["http_status_code"], &code) == nil && code >= 100 && code < 600 {
				status = int(code)
			}
			return typ, providers.JSONText(inner["message"]), status
		}
		return typ, "", 0
	}
	return typ, providers.JSONText(top["message"]), 0
}

// streamError turns the error of a 2xx answer's stream event into an
// UpstreamError, classified by its type (or its http_status_code); an error
// without either is ClassServer: the server failed mid-answer.
func streamError(call *providers.Call, raw json.RawMessage, errType string) *messages.UpstreamError {
	body, _ := json.Marshal(map[string]any{"error": raw, "error_type": errType})
	typ, msg, code := parseErrorBody(body)
	if msg == "" {
		msg = "upstream reported an error in the stream"
	}
	e := call.Fail(messages.ClassServer, call.Result.Status, msg, nil)
	e.Type = typ
	classify(e, typ, code)
	if e.Class == messages.ClassUnknown {
		e.Class = messages.ClassServer
	}
	return e
}

func clip(s string) string { return providers.ClipMessage(s, maxMessage) }
