package ovms

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// maxMessage caps an error message taken from a body that is not JSON.
const maxMessage = 512

// DecodeError refines e from an OVMS error answer to a /v2 (KServe) or
// /v3/rerank request. It is a providers.Exchange.DecodeError and is safe for
// concurrent use.
//
// OVMS answers {"error": "<status text>"} on every REST path; a body that is
// not JSON is kept as text (trimmed, capped). The class stays the
// status-based one: 400 (validation), 404 (model or version missing) and 412
// (JSON invalid, reshape error) are ClassInvalid; 401 (a /v3 key refused)
// ClassAuth; 500 (inference failed) and 503 (server not ready, model version
// not loaded yet) ClassServer, retried. A class is always set: a status that
// is neither 2xx nor an error is ClassServer.
func DecodeError(status int, _ http.Header, body []byte, e *messages.UpstreamError) {
	providers.SetErrorDetails(e, "", "", errorMessage(body))
	providers.DefaultClass(e, status)
}

// errorMessage reads {"error": "…"} (or {"error": {"message": …}}, or
// {"message": …}); it never fails.
func errorMessage(body []byte) string {
	top, text := providers.ErrorObject(body, maxMessage)
	if top == nil {
		return text
	}
	raw := top["error"]
	if providers.IsJSONNull(raw) {
		raw = top["message"]
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return clip(s)
	}
	var inner struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &inner) == nil {
		return clip(inner.Message)
	}
	return ""
}

// clip trims s and caps it at maxMessage bytes without splitting a rune.
func clip(s string) string {
	return providers.ClipMessage(strings.TrimSpace(s), maxMessage)
}
