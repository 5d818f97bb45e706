package providers

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
)

// This file holds the steps that the backends' DecodeError functions share:
// reading JSON error bodies without failing, copying what they said into an
// UpstreamError, bounding messages and defaulting the class. Each backend
// keeps its own mapping from error types to classes. Every function here is
// pure and safe for concurrent use.

// JSONText renders a JSON string or number as text; anything else (an
// object, an array, a boolean, null, invalid JSON, nothing) is "".
func JSONText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// IsJSONNull reports whether raw is empty (a missing member) or JSON null.
func IsJSONNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// ErrorValue reads the value of an "error" member: a string gives the
// message; an object gives its "type", "code" and "message" (each through
// JSONText). Any other value gives "" for all three. It never fails.
func ErrorValue(raw json.RawMessage) (typ, code, msg string) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return "", "", s
	}
	var inner map[string]json.RawMessage
	if json.Unmarshal(raw, &inner) == nil {
		return JSONText(inner["type"]), JSONText(inner["code"]), JSONText(inner["message"])
	}
	return "", "", ""
}

// ErrorFields reads the OpenAI-style error shapes from a decoded JSON
// object: a non-null "error" member (see ErrorValue), else the object's own
// top-level "type", "code" and "message". It never fails.
func ErrorFields(top map[string]json.RawMessage) (typ, code, msg string) {
	if raw, ok := top["error"]; ok && !IsJSONNull(raw) {
		return ErrorValue(raw)
	}
	return JSONText(top["type"]), JSONText(top["code"]), JSONText(top["message"])
}

// ErrorObject reads an error answer's body as a JSON object. A body that is
// not one gives a nil map and, when it is plain text (not broken JSON, not an
// HTML page, valid UTF-8), that text trimmed and bounded by ClipMessage to
// max bytes; otherwise "". It never fails.
func ErrorObject(body []byte, max int) (top map[string]json.RawMessage, text string) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, ""
	}
	if json.Unmarshal(body, &top) == nil {
		return top, ""
	}
	if body[0] == '{' || body[0] == '[' || body[0] == '<' || !utf8.Valid(body) {
		return nil, ""
	}
	return nil, ClipMessage(string(body), max)
}

// ClipMessage bounds s to max bytes, cutting without splitting a rune and
// marking the cut with "…". A string of at most max bytes is returned as it
// is. For valid UTF-8 the cut falls on the last rune boundary at or before
// max; for invalid UTF-8 the kept prefix is shortened until it is valid.
func ClipMessage(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}

// SetErrorDetails copies the non-empty typ, code and msg into e's Type, Code
// and Message; empty values leave e's fields as they are.
func SetErrorDetails(e *messages.UpstreamError, typ, code, msg string) {
	if typ != "" {
		e.Type = typ
	}
	if code != "" {
		e.Code = code
	}
	if msg != "" {
		e.Message = msg
	}
}

// DefaultClass makes sure e has a class: when it has none, the one
// ClassifyStatus gives for status, and when that is none either (a status
// that is neither 2xx nor an error), ClassServer. A class already set is
// kept.
func DefaultClass(e *messages.UpstreamError, status int) {
	if e.Class == messages.ClassUnknown {
		e.Class = ClassifyStatus(status)
	}
	if e.Class == messages.ClassUnknown {
		e.Class = messages.ClassServer
	}
}
