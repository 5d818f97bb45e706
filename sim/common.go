package sim

import (
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Pieces the simulators share: where two backends do the same thing (OpenAI
// and Groq's x-ratelimit-* headers, Anthropic and Gemini's forced tool
// arguments), they call one helper here. All are pure functions, safe for
// concurrent use.

// setRateLimitHeaders writes the OpenAI-style x-ratelimit-* headers (Groq
// sends the same ones): the request and token limits, what remains of each,
// and when each resets. When reject is true it also sets Retry-After to
// wait, in whole seconds rounded up and at least 1, and returns false;
// otherwise it returns true.
func setRateLimitHeaders(h http.Header, reqLimit, tokLimit, remReq, remTok int, resetReq, resetTok time.Duration, reject bool, wait time.Duration) bool {
	h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(reqLimit))
	h.Set("X-Ratelimit-Limit-Tokens", strconv.Itoa(tokLimit))
	h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(remReq))
	h.Set("X-Ratelimit-Remaining-Tokens", strconv.Itoa(remTok))
	h.Set("X-Ratelimit-Reset-Requests", resetReq.String())
	h.Set("X-Ratelimit-Reset-Tokens", resetTok.String())
	if reject {
		h.Set("Retry-After", strconv.Itoa(max(int(math.Ceil(wait.Seconds())), 1)))
		return false
	}
	return true
}

// toolArgs fills a tool's JSON schema's required properties (all of them,
// sorted, when none is required) the way the simulators answer a forced
// tool call: strings get place, enums their first value, other types their
// zero value. foldType compares the type without regard to case (Google's
// schema subset writes "STRING").
func toolArgs(schema map[string]any, place string, foldType bool) map[string]any {
	props, _ := schema["properties"].(map[string]any)
	var names []string
	if req, ok := schema["required"].([]any); ok {
		for _, n := range req {
			if s, ok := n.(string); ok {
				names = append(names, s)
			}
		}
	}
	if len(names) == 0 {
		for n := range props {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	args := map[string]any{}
	for _, n := range names {
		p, _ := props[n].(map[string]any)
		if enum, ok := p["enum"].([]any); ok && len(enum) > 0 {
			args[n] = enum[0]
			continue
		}
		t, _ := p["type"].(string)
		if foldType {
			t = strings.ToLower(t)
		}
		switch t {
		case "integer", "number":
			args[n] = 0
		case "boolean":
			args[n] = false
		case "array":
			args[n] = []any{}
		case "object":
			args[n] = map[string]any{}
		default:
			args[n] = place
		}
	}
	return args
}
