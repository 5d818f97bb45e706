package vertexanthropic

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/anthropic"
	"github.com/switchyard-ai/switchyard/providers/gemini"
)

// decodeError refines e from an error answer of Vertex AI: Anthropic's
// error body ({"type":"error","error":{"type","message"}}), which Vertex
// passes on when the model refuses a request, is read as the Messages API
// reads it (anthropic.DecodeError: overloaded_error is ClassServer, …);
// anything else as a google.rpc.Status body, alone or in an array
// (gemini.DecodeError: RESOURCE_EXHAUSTED is ClassRateLimited,
// UNAUTHENTICATED and PERMISSION_DENIED ClassAuth, INVALID_ARGUMENT
// ClassInvalid, UNAVAILABLE and INTERNAL ClassServer, …). It never panics,
// whatever the body; h may be nil.
func decodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	if isAnthropicError(body) {
		anthropic.DecodeError(status, h, body, e)
		return
	}
	gemini.DecodeError(status, h, body, e)
	if e.Message == "" {
		if _, text := providers.ErrorObject(body, 1024); text != "" {
			e.Message = text
		}
	}
}

// isAnthropicError reports whether body is Anthropic's error envelope:
// "type": "error", or an "error" object whose "type" is a string and that
// has no google.rpc "status".
func isAnthropicError(body []byte) bool {
	var top map[string]json.RawMessage
	if json.Unmarshal(bytes.TrimSpace(body), &top) != nil {
		return false
	}
	if providers.JSONText(top["type"]) == "error" {
		return true
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(top["error"], &inner) != nil {
		return false
	}
	_, hasStatus := inner["status"]
	return providers.JSONText(inner["type"]) != "" && !hasStatus
}
