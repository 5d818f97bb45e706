package azure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// ErrContentFiltered is the cause of an error answer to a prompt that Azure
// OpenAI's content filter refused (HTTP 400, error code "content_filter"):
// the *messages.UpstreamError is ClassInvalid, its Code "content_filter",
// and errors.Is(err, ErrContentFiltered) holds. Retrying the same prompt,
// on any key or endpoint, gets the same answer. (An answer the filter cut
// short is not an error: its FinishReason is messages.FinishContentFilter.)
var ErrContentFiltered = errors.New("azure: content filtered")

// CodeContentFilter is Azure's error code for a prompt its content filter
// refused.
const CodeContentFilter = "content_filter"

// DecodeError refines e from an Azure OpenAI error answer: the OpenAI
// decoder (openai.DecodeError: type, code, message, class by status), then
// Azure's own. It is a providers.Exchange.DecodeError and is safe for
// concurrent use.
//
// It reads {"error":{"code","message","param","type","inner_error"}} (the
// spec's errorResponse and the v1 API's AzureErrorResponse), also with the
// older "innererror" and "content_filter_result" names and "status" member,
// and the {"error":{"code","message"}} of Azure's gateway. A content-filter
// refusal (code "content_filter", or an inner code
// "ResponsibleAIPolicyViolation") becomes ClassInvalid with Code
// "content_filter", the filtered categories appended to the message, and
// ErrContentFiltered as its cause. A body without a code takes the
// x-ms-error-code header's. A delay comes from x-ms-retry-after-ms when no
// retry-after-ms header gave one (azcore's order: retry-after-ms,
// x-ms-retry-after-ms, Retry-After), else, for a rate-limited answer without
// any, from the message ("Please retry after 6 seconds.").
func DecodeError(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	openai.DecodeError(status, h, body, e)
	refine(status, h, body, e)
}

// azureError is the part of an Azure error body refine reads.
type azureError struct {
	Error *struct {
		Code          json.RawMessage `json:"code"`
		InnerError    json.RawMessage `json:"inner_error"`
		OldInnerError json.RawMessage `json:"innererror"`
	} `json:"error"`
}

// innerError is the inner_error (innererror) object.
type innerError struct {
	Code string `json:"code"`
	// Results (content_filter_results) are the spec's name; Result
	// (content_filter_result) the one the service was seen to send.
	Results map[string]json.RawMessage `json:"content_filter_results"`
	Result  map[string]json.RawMessage `json:"content_filter_result"`
}

// refine is DecodeError's Azure part, the dialect's DecodeError hook (the
// OpenAI decoder has run).
func refine(status int, h http.Header, body []byte, e *messages.UpstreamError) {
	var w azureError
	_ = json.Unmarshal(body, &w)
	var inner innerError
	if w.Error != nil {
		if raw := w.Error.InnerError; !providers.IsJSONNull(raw) {
			_ = json.Unmarshal(raw, &inner)
		} else if raw := w.Error.OldInnerError; !providers.IsJSONNull(raw) {
			_ = json.Unmarshal(raw, &inner)
		}
	}
	if e.Code == "" {
		e.Code = strings.TrimSpace(h.Get("X-Ms-Error-Code"))
	}
	if e.Code == CodeContentFilter || inner.Code == "ResponsibleAIPolicyViolation" {
		e.Class = messages.ClassInvalid
		e.Code = CodeContentFilter
		if e.Cause == nil {
			e.Cause = ErrContentFiltered
		}
		results := inner.Results
		if len(results) == 0 {
			results = inner.Result
		}
		if f := filtered(results); f != "" {
			e.Message = strings.TrimSpace(e.Message + " (filtered: " + f + ")")
		}
	}
	if msRetryAfter(h.Get("Retry-After-Ms")) == 0 {
		if d := msRetryAfter(h.Get("X-Ms-Retry-After-Ms")); d > 0 {
			e.RetryAfter = d
		}
	}
	if e.RetryAfter == 0 && e.Class == messages.ClassRateLimited {
		e.RetryAfter = retryHint(e.Message)
	}
	providers.DefaultClass(e, status)
}

// msRetryAfter reads a delay in milliseconds, parsed and bounded as
// providers.RetryAfter parses retry-after-ms; 0 when v is not one.
func msRetryAfter(v string) time.Duration {
	if strings.TrimSpace(v) == "" {
		return 0
	}
	return providers.RetryAfter(http.Header{"Retry-After-Ms": {v}}, time.Time{})
}

var retryAfterRE = regexp.MustCompile(`(?i)retry after ([0-9]{1,6}) seconds?`)

// retryHint reads Azure's "Please retry after 6 seconds." from a
// rate-limit message.
func retryHint(msg string) time.Duration {
	m := retryAfterRE.FindStringSubmatch(msg)
	if m == nil {
		return 0
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n <= 0 || n > 24*3600 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// filtered lists, sorted, the content filter categories results marks as
// filtered, with their severity when it has one: "violence (medium),
// jailbreak". Entries of other shapes are skipped.
func filtered(results map[string]json.RawMessage) string {
	var out []string
	for name, raw := range results {
		var r struct {
			Filtered bool   `json:"filtered"`
			Severity string `json:"severity"`
		}
		if json.Unmarshal(raw, &r) != nil || !r.Filtered {
			continue
		}
		if len(name) > 64 {
			name = name[:64]
		}
		if r.Severity != "" && len(r.Severity) <= 32 {
			name = fmt.Sprintf("%s (%s)", name, r.Severity)
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}
