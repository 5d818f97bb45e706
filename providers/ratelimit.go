package providers

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// OpenAIRateLimit reads x-ratelimit-{limit,remaining,reset}-{requests,tokens},
// whose resets are Go-style durations ("6m0s", "12ms", "7.66s"). OpenAI, Groq
// and the OpenAI-compatible servers use them.
func OpenAIRateLimit(h http.Header, now time.Time) messages.RateLimit {
	var rl messages.RateLimit
	rl.LimitRequests, rl.Known = headerInt(h, "X-Ratelimit-Limit-Requests", rl.Known)
	rl.RemainingRequests, rl.Known = headerInt(h, "X-Ratelimit-Remaining-Requests", rl.Known)
	rl.LimitTokens, rl.Known = headerInt(h, "X-Ratelimit-Limit-Tokens", rl.Known)
	rl.RemainingTokens, rl.Known = headerInt(h, "X-Ratelimit-Remaining-Tokens", rl.Known)
	rl.ResetRequests = resetDuration(h.Get("X-Ratelimit-Reset-Requests"), now)
	rl.ResetTokens = resetDuration(h.Get("X-Ratelimit-Reset-Tokens"), now)
	if !rl.Known {
		rl.LimitRequests, rl.RemainingRequests, rl.LimitTokens, rl.RemainingTokens = -1, -1, -1, -1
	}
	return rl
}

// AnthropicRateLimit reads anthropic-ratelimit-{requests,tokens}-{limit,
// remaining,reset}, whose resets are RFC 3339 times.
func AnthropicRateLimit(h http.Header, _ time.Time) messages.RateLimit {
	var rl messages.RateLimit
	rl.LimitRequests, rl.Known = headerInt(h, "Anthropic-Ratelimit-Requests-Limit", rl.Known)
	rl.RemainingRequests, rl.Known = headerInt(h, "Anthropic-Ratelimit-Requests-Remaining", rl.Known)
	rl.LimitTokens, rl.Known = headerInt(h, "Anthropic-Ratelimit-Tokens-Limit", rl.Known)
	rl.RemainingTokens, rl.Known = headerInt(h, "Anthropic-Ratelimit-Tokens-Remaining", rl.Known)
	rl.ResetRequests, _ = time.Parse(time.RFC3339, strings.TrimSpace(h.Get("Anthropic-Ratelimit-Requests-Reset")))
	rl.ResetTokens, _ = time.Parse(time.RFC3339, strings.TrimSpace(h.Get("Anthropic-Ratelimit-Tokens-Reset")))
	if !rl.Known {
		rl.LimitRequests, rl.RemainingRequests, rl.LimitTokens, rl.RemainingTokens = -1, -1, -1, -1
	}
	return rl
}

// headerInt parses an integer header; a missing or bad value is -1.
func headerInt(h http.Header, name string, known bool) (int64, bool) {
	v := strings.TrimSpace(h.Get(name))
	if v == "" {
		return -1, known
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return -1, known
	}
	return n, true
}

func resetDuration(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(d)
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 && s < 1e9 {
		return now.Add(time.Duration(s * float64(time.Second)))
	}
	return time.Time{}
}
