package anthropic

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Error codes and types with a class of their own.
const (
	// SpendLimitCode is error.details.error_code of a 429 that reports the
	// organisation's monthly spend cap: a quota, not a rate limit.
	SpendLimitCode = "enforced_spend_limit_reached"
	// maxMessage caps the error message kept from a body.
	maxMessage = 1024
)

// errorEnvelope is Anthropic's error body:
// {"type":"error","error":{"type":..,"message":..,"details":{..}},"request_id":..}.
type errorEnvelope struct {
	Type      string          `json:"type"`
	Error     json.RawMessage `json:"error"`
	RequestID string          `json:"request_id"`
}

type errorObject struct {
	Type    string          `json:"type"`
	Message string          `json:"message"`
	Details json.RawMessage `json:"details"`
}

type errorDetails struct {
	ErrorCode string `json:"error_code"`
}

// decodeError refines e from an error answer: Anthropic's request-id (header,
// then body), error.type as Type, error.details.error_code as Code, the
// message, and the class (a spend-limit 429 or a billing_error is ClassQuota,
// an overloaded_error ClassServer; a class the status left unknown comes from
// error.type). It never panics, whatever the body; h may be nil.
func decodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	if rid := strings.TrimSpace(h.Get(headerRequestID)); rid != "" {
		e.UpstreamRequestID = rid
	}
	var env errorEnvelope
	if json.Unmarshal(bytes.TrimSpace(body), &env) == nil {
		if env.RequestID != "" && h.Get(headerRequestID) == "" {
			e.UpstreamRequestID = env.RequestID
		}
		var obj errorObject
		if json.Unmarshal(env.Error, &obj) == nil {
			e.Type = obj.Type
			e.Message = clip(obj.Message)
			var d errorDetails
			if json.Unmarshal(obj.Details, &d) == nil {
				e.Code = d.ErrorCode
			}
		} else {
			var msg string
			if json.Unmarshal(env.Error, &msg) == nil {
				e.Message = clip(msg)
			}
		}
	}
	if e.Message == "" {
		e.Message = e.Type
	}
	if e.Class == messages.ClassUnknown && status != 0 {
		e.Class = providers.ClassifyStatus(status)
	}
	switch {
	case e.Code == SpendLimitCode || e.Type == "billing_error":
		e.Class = messages.ClassQuota
	case e.Type == "overloaded_error" || status == 529:
		e.Class = messages.ClassServer
	case e.Class == messages.ClassUnknown:
		e.Class = classForType(e.Type)
	}
}

// classForType maps an error.type to a class; unknown types are ClassUnknown.
func classForType(t string) messages.ErrorClass {
	switch t {
	case "invalid_request_error", "not_found_error", "request_too_large":
		return messages.ClassInvalid
	case "authentication_error", "permission_error":
		return messages.ClassAuth
	case "billing_error":
		return messages.ClassQuota
	case "rate_limit_error":
		return messages.ClassRateLimited
	case "api_error", "overloaded_error", "timeout_error", "conflict_error":
		return messages.ClassServer
	}
	return messages.ClassUnknown
}

// streamError decodes the data of an in-stream `event: error`. Its class
// comes from error.type (overloaded_error and api_error are ClassServer, so
// retryable); an unknown or missing type is ClassServer too, since the
// request itself was accepted.
func streamError(data []byte) *messages.UpstreamError {
	e := &messages.UpstreamError{}
	decodeError(0, nil, data, e)
	if e.Class == messages.ClassUnknown {
		e.Class = messages.ClassServer
	}
	if e.Message == "" {
		e.Message = "error event in stream"
	}
	return e
}

// clip bounds a message, cutting at a rune boundary.
func clip(s string) string { return providers.ClipMessage(s, maxMessage) }
