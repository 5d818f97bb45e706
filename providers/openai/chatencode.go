package openai

import (
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
)

// appendChatBody appends the chat completion body of r to dst, byte for
// byte what encoding/json makes of buildChatBody's chatBody, without
// reflection, and reports whether it could: it handles the common shape
// (text messages without parts or tool calls, no tools, no Extra, a dialect
// without a Body hook or Hosting) and declines anything else, which
// buildChatBody then encodes. FuzzAppendChatBody holds it to that.
func (d *Dialect) appendChatBody(dst []byte, r *messages.ChatRequest) ([]byte, bool) {
	if len(r.Extra) > 0 || d.Body != nil || d.Hosting != nil || len(r.Tools) > 0 {
		return dst, false
	}
	for _, m := range r.Messages {
		if len(m.Parts) > 0 || (m.Role == messages.RoleAssistant && len(m.ToolCalls) > 0) {
			return dst, false
		}
	}
	// One allocation: room for the fixed text, every string (escaping
	// rarely adds much; append grows the buffer if it does) and the
	// numbers.
	size := 160 + len(r.Model) + len(r.System)
	for _, m := range r.Messages {
		size += 48 + len(m.Role) + len(m.Content) + len(m.ToolCallID)
	}
	for _, s := range r.Stop {
		size += 8 + len(s)
	}
	b := slices.Grow(dst, size)
	b = append(b, `{"model":`...)
	b = appendString(b, r.Model)
	b = append(b, `,"messages":[`...)
	first := true
	message := func(role, content, toolCallID string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `{"role":`...)
		b = appendString(b, role)
		b = append(b, `,"content":`...)
		b = appendString(b, content)
		if toolCallID != "" {
			b = append(b, `,"tool_call_id":`...)
			b = appendString(b, toolCallID)
		}
		b = append(b, '}')
	}
	if r.System != "" {
		message(messages.RoleSystem, r.System, "")
	}
	for _, m := range r.Messages {
		id := ""
		if m.Role == messages.RoleTool {
			id = m.ToolCallID
		}
		message(m.Role, m.Content, id)
	}
	b = append(b, ']')
	var ok bool
	if r.Temperature != nil {
		b = append(b, `,"temperature":`...)
		if b, ok = appendFloat(b, *r.Temperature); !ok {
			return dst, false
		}
	}
	if r.TopP != nil {
		b = append(b, `,"top_p":`...)
		if b, ok = appendFloat(b, *r.TopP); !ok {
			return dst, false
		}
	}
	if r.MaxTokens != 0 {
		if d.MaxTokensField == "max_tokens" {
			b = append(b, `,"max_tokens":`...)
		} else {
			b = append(b, `,"max_completion_tokens":`...)
		}
		b = strconv.AppendInt(b, int64(r.MaxTokens), 10)
	}
	if len(r.Stop) > 0 {
		b = append(b, `,"stop":[`...)
		for i, s := range r.Stop {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	if r.Stream {
		b = append(b, `,"stream":true`...)
		if !d.NoStreamOptions {
			b = append(b, `,"stream_options":{"include_usage":true}`...)
		}
	}
	return append(b, '}'), true
}

// appendFloat formats f as encoding/json does; NaN and infinities, which
// it refuses, are declined.
func appendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string the way encoding/json does (with
// its default HTML escaping): <, > and & as \u003c, \u003e, \u0026, U+2028
// and U+2029 escaped, invalid UTF-8 as \ufffd.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
