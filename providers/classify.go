package providers

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// ClassifyStatus maps an HTTP status to the default error class: 401/403 auth,
// 429 rate limited, 408/409/5xx (529 included) server, other 4xx invalid.
// Adapters refine it from the body (quota 429s, in-stream errors).
func ClassifyStatus(status int) messages.ErrorClass {
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return messages.ClassAuth
	case status == http.StatusTooManyRequests:
		return messages.ClassRateLimited
	case status == http.StatusRequestTimeout || status == http.StatusConflict:
		return messages.ClassServer
	case status >= 500:
		return messages.ClassServer
	case status >= 400:
		return messages.ClassInvalid
	}
	return messages.ClassUnknown
}

// maxRetryAfter caps a server-directed delay we are willing to parse; larger
// values are kept as this cap so a broken header cannot park a key for years.
const maxRetryAfter = 24 * time.Hour

// RetryAfter reads the delay the server asked for: retry-after-ms (float
// milliseconds) first, then retry-after as float seconds or an HTTP date.
// It returns 0 when neither header is present or parseable.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 && !math.IsInf(ms, 0) {
			return clampDelay(time.Duration(ms * float64(time.Millisecond)))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 || math.IsNaN(s) || math.IsInf(s, 0) {
			return 0
		}
		return clampDelay(time.Duration(s * float64(time.Second)))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return clampDelay(d)
		}
	}
	return 0
}

func clampDelay(d time.Duration) time.Duration {
	if d > maxRetryAfter || d < 0 {
		return maxRetryAfter
	}
	return d
}

// ShouldRetry reads x-should-retry: true or false, nil when absent.
func ShouldRetry(h http.Header) *bool {
	switch strings.ToLower(strings.TrimSpace(h.Get("X-Should-Retry"))) {
	case "true":
		t := true
		return &t
	case "false":
		f := false
		return &f
	}
	return nil
}
