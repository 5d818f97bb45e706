package groq

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
)

// Groq's own statuses.
const (
	// StatusCapacityExceeded (498): the flex tier has no capacity right now.
	StatusCapacityExceeded = 498
	// StatusRequestCancelled (499): Groq cancelled the request.
	StatusRequestCancelled = 499
)

// MaxFailedGeneration is how much of a tool_use_failed answer's
// failed_generation is kept in the error message, in runes.
const MaxFailedGeneration = 200

var groqKeyLike = regexp.MustCompile(`gsk_[A-Za-z0-9_\-*.]{3,}`)

// DecodeError refines an error answer after openai.DecodeError has read its
// {"error":{"message","type","code"}}: 498 capacity_exceeded and 499 become
// ClassServer (retryable); tool_use_failed keeps its failed_generation,
// truncated to MaxFailedGeneration runes, in the message; anything shaped
// like a Groq key ("gsk_…") is redacted from the message. It never panics
// and is safe for concurrent use.
func DecodeError(status int, _ http.Header, body []byte, e *messages.UpstreamError) {
	switch status {
	case StatusCapacityExceeded, StatusRequestCancelled:
		e.Class = messages.ClassServer
	}
	if e.Code == "capacity_exceeded" && e.Class == messages.ClassInvalid {
		e.Class = messages.ClassServer
	}
	if e.Code == "tool_use_failed" {
		if fg := failedGeneration(body); fg != "" {
			e.Message = strings.TrimSpace(e.Message + " (failed_generation: " + truncate(fg, MaxFailedGeneration) + ")")
		}
	}
	if strings.Contains(e.Message, "gsk_") {
		e.Message = groqKeyLike.ReplaceAllString(e.Message, "gsk_[redacted]")
	}
	if e.Message == "" {
		switch status {
		case StatusCapacityExceeded:
			e.Message = "flex tier capacity exceeded"
		case StatusRequestCancelled:
			e.Message = "request cancelled by Groq"
		}
	}
}

// failedGeneration reads error.failed_generation (a string; other JSON is
// kept as its text).
func failedGeneration(body []byte) string {
	var w struct {
		Error struct {
			FailedGeneration json.RawMessage `json:"failed_generation"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &w) != nil {
		return ""
	}
	raw := bytes.TrimSpace(w.Error.FailedGeneration)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// truncate cuts s to n runes, marking the cut with "…".
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// DecodeStreamChunk is the dialect's StreamChunk hook: it reads Groq's
// x_groq object of a stream chunk's JSON and returns x_groq.usage (the
// stream's usage, on the last chunk) and x_groq.error (a string saying why
// Groq stopped the stream early), each nil when absent. It never panics on
// malformed input, and is safe for concurrent use.
func DecodeStreamChunk(data []byte) (*messages.Usage, json.RawMessage) {
	var ch struct {
		XGroq *struct {
			Usage *struct {
				PromptTokens        int `json:"prompt_tokens"`
				CompletionTokens    int `json:"completion_tokens"`
				PromptTokensDetails *struct {
					CachedTokens int `json:"cached_tokens"`
				} `json:"prompt_tokens_details"`
			} `json:"usage"`
			Error json.RawMessage `json:"error"`
		} `json:"x_groq"`
	}
	if json.Unmarshal(data, &ch) != nil || ch.XGroq == nil {
		return nil, nil
	}
	var u *messages.Usage
	if w := ch.XGroq.Usage; w != nil {
		u = &messages.Usage{InputTokens: w.PromptTokens, OutputTokens: w.CompletionTokens}
		if d := w.PromptTokensDetails; d != nil {
			u.CacheReadTokens = d.CachedTokens
		}
	}
	var errObj json.RawMessage
	if raw := bytes.TrimSpace(ch.XGroq.Error); len(raw) > 0 && string(raw) != "null" && string(raw) != `""` {
		errObj = raw
	}
	return u, errObj
}
