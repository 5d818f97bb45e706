package gemini

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Detail types of a google.rpc.Status the adapter reads.
const (
	TypeRetryInfo    = "type.googleapis.com/google.rpc.RetryInfo"
	TypeQuotaFailure = "type.googleapis.com/google.rpc.QuotaFailure"
	TypeErrorInfo    = "type.googleapis.com/google.rpc.ErrorInfo"

	// maxMessage caps the error message kept from a body.
	maxMessage = 1024
	// maxRetryDelay caps a server-directed delay.
	maxRetryDelay = 24 * time.Hour
)

// rpcStatus is the google.rpc.Status inside {"error": …}.
type rpcStatus struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details"`
}

// rpcDetail holds the fields of the detail types the adapter reads:
// RetryInfo (retryDelay), QuotaFailure (violations), ErrorInfo (reason).
type rpcDetail struct {
	Type       string          `json:"@type"`
	RetryDelay json.RawMessage `json:"retryDelay"`
	Reason     string          `json:"reason"`
	Violations []struct {
		QuotaID    string          `json:"quotaId"`
		QuotaValue json.RawMessage `json:"quotaValue"`
	} `json:"violations"`
}

// parseStatus finds the google.rpc.Status of an error body: {"error": {…}},
// the same wrapped in an array (the JSON-array stream form), or
// {"error": "text"}. It returns nil when body holds none.
func parseStatus(body []byte) *rpcStatus {
	type envelope struct {
		Error json.RawMessage `json:"error"`
	}
	body = bytes.TrimSpace(body)
	var envs []envelope
	if len(body) > 0 && body[0] == '[' {
		if json.Unmarshal(body, &envs) != nil {
			return nil
		}
	} else {
		var env envelope
		if json.Unmarshal(body, &env) != nil {
			return nil
		}
		envs = []envelope{env}
	}
	for _, env := range envs {
		raw := bytes.TrimSpace(env.Error)
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var st rpcStatus
		if json.Unmarshal(raw, &st) == nil {
			return &st
		}
		var msg string
		if json.Unmarshal(raw, &msg) == nil {
			return &rpcStatus{Message: msg}
		}
	}
	return nil
}

// decodeError refines e from an error answer. Type is the google.rpc status
// (RESOURCE_EXHAUSTED, INVALID_ARGUMENT, …), Code the ErrorInfo reason or, for
// a quota error, the first violated quotaId, Message the body's message. The
// class comes from the status: RESOURCE_EXHAUSTED is ClassRateLimited unless
// a QuotaFailure violation is a daily quota (quotaId containing "PerDay") or
// a zero limit, which is ClassQuota; INVALID_ARGUMENT, FAILED_PRECONDITION,
// NOT_FOUND, OUT_OF_RANGE and UNIMPLEMENTED are ClassInvalid, except an
// invalid or blocked API key (ErrorInfo reason API_KEY_*), which like
// PERMISSION_DENIED and UNAUTHENTICATED is ClassAuth; INTERNAL, UNAVAILABLE,
// DEADLINE_EXCEEDED, ABORTED, UNKNOWN, CANCELLED and DATA_LOSS are
// ClassServer. Without a known status the HTTP status decides. A RetryInfo
// retryDelay ("29.7s") sets RetryAfter (over any Retry-After header); a
// RESOURCE_EXHAUSTED without one falls back to "Please retry in 29.7s." in
// the message. It never panics, whatever the body; h may be nil.
func decodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	_ = h
	if e.Class == messages.ClassUnknown && status != 0 {
		e.Class = providers.ClassifyStatus(status)
	}
	st := parseStatus(body)
	if st == nil {
		return
	}
	e.Type = strings.TrimSpace(st.Status)
	e.Message = clip(scrubKey(st.Message, ""))
	if c := classForStatus(e.Type); c != messages.ClassUnknown {
		e.Class = c
	} else if e.Class == messages.ClassUnknown && st.Code >= 400 && st.Code < 600 {
		e.Class = providers.ClassifyStatus(st.Code)
	}
	var (
		reason, quotaID string
		daily           bool
		delay           time.Duration
		hasDelay        bool
	)
	for _, raw := range st.Details {
		var d rpcDetail
		if json.Unmarshal(raw, &d) != nil {
			continue
		}
		switch d.Type {
		case TypeRetryInfo:
			if v, ok := parseDelay(d.RetryDelay); ok {
				delay, hasDelay = v, true
			}
		case TypeErrorInfo:
			if reason == "" {
				reason = d.Reason
			}
		case TypeQuotaFailure:
			for _, v := range d.Violations {
				if quotaID == "" {
					quotaID = v.QuotaID
				}
				if strings.Contains(strings.ToLower(v.QuotaID), "perday") || strings.Trim(string(bytes.TrimSpace(v.QuotaValue)), `"`) == "0" {
					daily = true
				}
			}
		}
	}
	e.Code = reason
	if e.Code == "" && e.Type == "RESOURCE_EXHAUSTED" {
		e.Code = quotaID
	}
	if authReason(reason) || strings.Contains(st.Message, "API key not valid") || strings.Contains(st.Message, "API key expired") {
		e.Class = messages.ClassAuth
	}
	if e.Class == messages.ClassRateLimited && daily {
		e.Class = messages.ClassQuota
	}
	switch {
	case hasDelay:
		e.RetryAfter = delay
	case e.RetryAfter == 0 && e.Type == "RESOURCE_EXHAUSTED":
		e.RetryAfter = delayInMessage(st.Message)
	}
}

// classForStatus maps a google.rpc status name to a class; unknown names
// are ClassUnknown.
func classForStatus(s string) messages.ErrorClass {
	switch s {
	case "RESOURCE_EXHAUSTED":
		return messages.ClassRateLimited
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE", "UNIMPLEMENTED", "ALREADY_EXISTS":
		return messages.ClassInvalid
	case "UNAUTHENTICATED", "PERMISSION_DENIED":
		return messages.ClassAuth
	case "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "ABORTED", "UNKNOWN", "CANCELLED", "DATA_LOSS":
		return messages.ClassServer
	}
	return messages.ClassUnknown
}

// authReason reports an ErrorInfo reason that means the key itself is bad:
// invalid, expired or blocked keys, suspended consumers.
func authReason(r string) bool {
	return strings.HasPrefix(r, "API_KEY_") || r == "CONSUMER_SUSPENDED" || r == "CONSUMER_INVALID" || r == "ACCESS_TOKEN_EXPIRED"
}

// parseDelay reads a google.protobuf.Duration in its JSON form ("29s",
// "0.5s", "29.720584s") or, leniently, as {"seconds": …, "nanos": …}.
func parseDelay(raw json.RawMessage) (time.Duration, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		v, ok := strings.CutSuffix(strings.TrimSpace(s), "s")
		if !ok {
			return 0, false
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		return secondsDelay(f)
	}
	var obj struct {
		Seconds json.Number `json:"seconds"`
		Nanos   json.Number `json:"nanos"`
	}
	if json.Unmarshal(raw, &obj) != nil {
		return 0, false
	}
	sec, err1 := strconv.ParseFloat(orZero(obj.Seconds), 64)
	ns, err2 := strconv.ParseFloat(orZero(obj.Nanos), 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return secondsDelay(sec + ns/1e9)
}

func orZero(n json.Number) string {
	if n == "" {
		return "0"
	}
	return string(n)
}

// secondsDelay converts seconds to a delay, capped at a day; negative or
// non-finite values are not delays.
func secondsDelay(s float64) (time.Duration, bool) {
	if math.IsNaN(s) || math.IsInf(s, 0) || s < 0 {
		return 0, false
	}
	if s >= maxRetryDelay.Seconds() {
		return maxRetryDelay, true
	}
	return time.Duration(s * float64(time.Second)), true
}

var retryInMessage = regexp.MustCompile(`(?i)retry in ([0-9]+(?:\.[0-9]+)?)\s*(ms|s)\b`)

// delayInMessage reads "Please retry in 29.72s." (or "…in 500ms") from a
// quota message.
func delayInMessage(msg string) time.Duration {
	m := retryInMessage.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0
	}
	if strings.EqualFold(m[2], "ms") {
		f /= 1000
	}
	d, _ := secondsDelay(f)
	return d
}

// streamError decodes an error object received after the 200 (a data:
// event or a bare block). Its class comes from its status; a missing or
// unknown one is ClassServer, since the request itself was accepted.
func streamError(data []byte) *messages.UpstreamError {
	e := &messages.UpstreamError{}
	decodeError(0, nil, data, e)
	if e.Class == messages.ClassUnknown {
		e.Class = messages.ClassServer
	}
	if e.Message == "" {
		e.Message = "error object in stream"
	}
	return e
}

// clip bounds a message, cutting at a rune boundary.
func clip(s string) string { return providers.ClipMessage(s, maxMessage) }

// googleKey matches a Google API key ("AIza" and 35 more characters).
var googleKey = regexp.MustCompile(`AIza[0-9A-Za-z_\-]{20,}`)

// scrubKey removes key material from an upstream message: the call's own
// secret (when long enough to be unambiguous) and anything shaped like a
// Google API key (403 answers quote "Consumer 'api_key:AIza…'").
func scrubKey(msg, secret string) string {
	if len(secret) >= 8 && strings.Contains(msg, secret) {
		msg = strings.ReplaceAll(msg, secret, "[redacted]")
	}
	if strings.Contains(msg, "AIza") {
		msg = googleKey.ReplaceAllString(msg, "AIza[redacted]")
	}
	return msg
}
