package openai

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// quotaCodes are 429 codes that mean the account, not the moment, is the
// problem: retrying does not help.
var quotaCodes = map[string]bool{
	"insufficient_quota":         true,
	"billing_hard_limit_reached": true,
	"billing_not_active":         true,
}

// DecodeError refines e from an OpenAI error answer. It is a
// providers.Exchange.DecodeError and is safe for concurrent use.
//
// It reads {"error":{"message","type","param","code"}} (code may be a string,
// a number or null), also the {"error":"text"} and top-level
// {"message","type","code"} forms of OpenAI-compatible servers. A 429 whose
// code or type is insufficient_quota (or a billing code) becomes ClassQuota;
// otherwise the status-based class stays. A class is always set: a status that
// is neither 2xx nor an error (1xx, 3xx) is ClassServer. When a rate-limited
// answer carries no Retry-After header, the delay is read from the message
// ("Please try again in 6.5s."). Anything that looks like an API key ("sk-…")
// in the message is redacted.
func DecodeError(status int, _ http.Header, body []byte, e *messages.UpstreamError) {
	typ, code, msg := parseErrorBody(body)
	providers.SetErrorDetails(e, typ, code, redact(msg))
	if e.Class == messages.ClassUnknown {
		e.Class = providers.ClassifyStatus(status)
	}
	if status == http.StatusTooManyRequests && (quotaCodes[code] || quotaCodes[typ]) {
		e.Class = messages.ClassQuota
	}
	if e.Class == messages.ClassUnknown {
		e.Class = messages.ClassServer
	}
	if e.RetryAfter == 0 && e.Class == messages.ClassRateLimited {
		e.RetryAfter = retryHint(msg)
	}
}

// parseErrorBody extracts type, code and message from the error shapes OpenAI
// and OpenAI-compatible servers send. It never fails; unknown shapes give "".
func parseErrorBody(body []byte) (typ, code, msg string) {
	var top map[string]json.RawMessage
	if json.Unmarshal(body, &top) != nil {
		return "", "", ""
	}
	return providers.ErrorFields(top)
}

var keyLike = regexp.MustCompile(`sk-[A-Za-z0-9_\-*.]{3,}`)

// redact hides anything shaped like an OpenAI key in an upstream message
// (OpenAI's 401 quotes a masked key back).
func redact(msg string) string {
	if !strings.Contains(msg, "sk-") {
		return msg
	}
	return keyLike.ReplaceAllString(msg, "sk-[redacted]")
}

var tryAgainRE = regexp.MustCompile(`(?i)try again in ((?:[0-9]+(?:\.[0-9]+)?(?:ms|h|m|s))+)`)

// retryHint reads "Please try again in 1m2.5s." from a rate-limit message.
func retryHint(msg string) time.Duration {
	m := tryAgainRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	d, err := time.ParseDuration(m[1])
	if err != nil || d <= 0 || d > 24*time.Hour {
		return 0
	}
	return d
}

// classifyCode sorts an error reported inside a 2xx answer (a stream error
// event, a failed response) by its type and code. Unknown errors are
// ClassServer: the upstream failed mid-answer.
func classifyCode(typ, code string) messages.ErrorClass {
	switch {
	case quotaCodes[code] || quotaCodes[typ]:
		return messages.ClassQuota
	case code == "rate_limit_exceeded" || typ == "rate_limit_exceeded" || typ == "requests" || typ == "tokens":
		return messages.ClassRateLimited
	case code == "invalid_api_key" || typ == "authentication_error" || typ == "permission_error":
		return messages.ClassAuth
	case typ == "invalid_request_error" || code == "invalid_prompt" || code == "context_length_exceeded" ||
		code == "invalid_request_error" || code == "invalid_value":
		return messages.ClassInvalid
	case typ == "BadRequestError" || typ == "NotFoundError" || typ == "UnprocessableEntityError" || typ == "Bad Request":
		// vLLM's error types, sent inside streams as well.
		return messages.ClassInvalid
	}
	// A numeric code is an HTTP status (vLLM, llama.cpp).
	if n, err := strconv.Atoi(code); err == nil && n >= 400 && n < 600 {
		return providers.ClassifyStatus(n)
	}
	return messages.ClassServer
}

// bodyError turns the value of an "error" field found in a 2xx answer (an
// object or a string) into an UpstreamError.
func bodyError(call *providers.Call, raw json.RawMessage) *messages.UpstreamError {
	typ, code, msg := providers.ErrorValue(raw)
	return inStreamError(call, typ, code, msg)
}

func inStreamError(call *providers.Call, typ, code, msg string) *messages.UpstreamError {
	if msg == "" {
		msg = "upstream reported an error"
	}
	e := call.Fail(classifyCode(typ, code), call.Result.Status, redact(msg), nil)
	e.Type, e.Code = typ, code
	if e.Class == messages.ClassRateLimited {
		e.RetryAfter = retryHint(msg)
	}
	return e
}

func malformed(call *providers.Call, msg string, err error) *messages.UpstreamError {
	return call.Fail(messages.ClassMalformed, call.Result.Status, msg, err)
}
