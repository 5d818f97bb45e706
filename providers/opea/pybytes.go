package opea

import (
	"errors"
	"fmt"
)

// ErrNotBytesLiteral is returned by ParseBytesLiteral for text that does not
// start like a Python bytes literal (b'…', b"…", rb'…', triple-quoted, …).
var ErrNotBytesLiteral = errors.New("not a Python bytes literal")

// BytesLiteralError describes why text that starts like a Python bytes
// literal is not a valid one. Offset is the byte offset of the problem.
type BytesLiteralError struct {
	Offset int
	Reason string
}

func (e *BytesLiteralError) Error() string {
	return fmt.Sprintf("invalid Python bytes literal at offset %d: %s", e.Offset, e.Reason)
}

// literalStart reports where the body of a bytes literal starts in s: the
// prefix (b or B, with an optional r or R before or after it), then one of
// a single or double quote, or three of them. ok is false when s does not start like a
// bytes literal.
func literalStart(s []byte) (body int, quote []byte, raw, ok bool) {
	i := 0
	seenB := false
	for i < len(s) && i < 2 {
		switch s[i] {
		case 'b', 'B':
			if seenB {
				return 0, nil, false, false
			}
			seenB = true
		case 'r', 'R':
			if raw {
				return 0, nil, false, false
			}
			raw = true
		default:
			goto prefixDone
		}
		i++
	}
prefixDone:
	if !seenB || i >= len(s) || (s[i] != '\'' && s[i] != '"') {
		return 0, nil, false, false
	}
	q := s[i]
	if i+2 < len(s) && s[i+1] == q && s[i+2] == q {
		return i + 3, s[i : i+3], raw, true
	}
	return i + 1, s[i : i+1], raw, true
}

// ParseBytesLiteral decodes one Python bytes literal exactly as Python's
// parser does: a prefix of b or B (optionally with r or R, in either order),
// a quote (a single or double quote, or three of the same), the body and the
// same closing quote, with nothing but whitespace after it. Outside raw
// literals the escapes are \<newline> (dropped), \\, \', \", \a, \b, \f,
// \n, \r, \t, \v, \ooo (one to three octal digits, taken modulo 256 as
// CPython does) and \xhh (exactly two hex digits); any other backslash is
// kept with the character after it. The body may hold ASCII only, no NUL
// byte, and, in a single-quoted literal, no raw newline; a raw \r or \r\n
// in a triple-quoted one reads as \n (Python's universal newlines).
//
// It returns ErrNotBytesLiteral when s does not start like a bytes literal,
// and a *BytesLiteralError when it does but is malformed. It never panics
// and is safe for concurrent use.
func ParseBytesLiteral(s []byte) ([]byte, error) {
	start, quote, raw, ok := literalStart(s)
	if !ok {
		return nil, ErrNotBytesLiteral
	}
	out := make([]byte, 0, len(s)-start)
	triple := len(quote) == 3
	q := quote[0]
	i := start
	for {
		if i >= len(s) {
			return nil, &BytesLiteralError{Offset: len(s), Reason: "missing closing quote"}
		}
		c := s[i]
		switch {
		case c == q && (!triple || (i+2 < len(s) && s[i+1] == q && s[i+2] == q)):
			end := i + len(quote)
			for end < len(s) && (s[end] == ' ' || s[end] == '\t' || s[end] == '\f' || s[end] == '\n' || s[end] == '\r') {
				end++
			}
			if end != len(s) {
				return nil, &BytesLiteralError{Offset: end, Reason: "text after the closing quote"}
			}
			return out, nil
		case c >= 0x80:
			return nil, &BytesLiteralError{Offset: i, Reason: "bytes can only contain ASCII literal characters"}
		case c == 0:
			return nil, &BytesLiteralError{Offset: i, Reason: "source code cannot contain null bytes"}
		case (c == '\n' || c == '\r') && !triple:
			return nil, &BytesLiteralError{Offset: i, Reason: "unterminated bytes literal (newline in a single-quoted literal)"}
		case c == '\r':
			// Python reads source with universal newlines: a raw \r or
			// \r\n in a triple-quoted literal is a \n.
			out = append(out, '\n')
			i++
			if i < len(s) && s[i] == '\n' {
				i++
			}
			continue
		case c != '\\':
			out = append(out, c)
			i++
			continue
		}
		// A backslash.
		if i+1 >= len(s) {
			return nil, &BytesLiteralError{Offset: i, Reason: "missing closing quote (literal ends in a backslash)"}
		}
		e := s[i+1]
		switch {
		case e >= 0x80:
			return nil, &BytesLiteralError{Offset: i + 1, Reason: "bytes can only contain ASCII literal characters"}
		case e == 0:
			return nil, &BytesLiteralError{Offset: i + 1, Reason: "source code cannot contain null bytes"}
		}
		if raw {
			// A raw literal keeps the backslash; it only stops the next
			// character (a quote, a backslash, a newline) from ending the
			// literal.
			if e == '\r' {
				out = append(out, '\\', '\n')
				i += 2
				if i < len(s) && s[i] == '\n' {
					i++
				}
				continue
			}
			out = append(out, '\\', e)
			i += 2
			continue
		}
		n, b, ok, err := unescape(s, i)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, b)
		} else if n == 0 {
			// Unknown escape: Python keeps the backslash and the character.
			out = append(out, '\\', e)
			n = 2
		}
		i += n
	}
}

// unescape decodes the escape starting at s[i] (a backslash): it returns
// how many bytes it spans and the byte it stands for (ok), or n > 0 with
// !ok for a line continuation, or n == 0 for an unknown escape, or an error
// for a malformed \x escape.
func unescape(s []byte, i int) (n int, b byte, ok bool, err error) {
	e := s[i+1]
	switch e {
	case '\n':
		return 2, 0, false, nil
	case '\r':
		if i+2 < len(s) && s[i+2] == '\n' {
			return 3, 0, false, nil
		}
		return 2, 0, false, nil
	case '\\', '\'', '"':
		return 2, e, true, nil
	case 'a':
		return 2, '\a', true, nil
	case 'b':
		return 2, '\b', true, nil
	case 'f':
		return 2, '\f', true, nil
	case 'n':
		return 2, '\n', true, nil
	case 'r':
		return 2, '\r', true, nil
	case 't':
		return 2, '\t', true, nil
	case 'v':
		return 2, '\v', true, nil
	case 'x':
		if i+3 < len(s) {
			if h, okH := hexVal(s[i+2]); okH {
				if l, okL := hexVal(s[i+3]); okL {
					return 4, h<<4 | l, true, nil
				}
			}
		}
		return 0, 0, false, &BytesLiteralError{Offset: i, Reason: `invalid \x escape (two hex digits expected)`}
	}
	if e >= '0' && e <= '7' {
		v := int(e - '0')
		n := 2
		for n < 4 && i+n < len(s) && s[i+n] >= '0' && s[i+n] <= '7' {
			v = v*8 + int(s[i+n]-'0')
			n++
		}
		return n, byte(v), true, nil
	}
	return 0, 0, false, nil
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeBytesToken decodes the data of one ChatQnA stream event that looks
// like a Python bytes literal. A valid literal is decoded exactly
// (ParseBytesLiteral). A malformed one is decoded leniently, the way OPEA's
// own clients strip it: the prefix and opening quote are dropped, and the
// closing quote if the data ends in it; valid escapes are decoded, anything
// else (raw non-ASCII bytes, unescaped quotes, a bad \x escape, a trailing
// backslash) is kept as it is. OPEA writes such tokens itself: its
// orchestrator's guardrail path sends "data: b'" + text + "'" without
// escaping the text. ok is false when data does not start like a bytes
// literal at all.
func decodeBytesToken(data []byte) (out []byte, ok bool) {
	start, quote, raw, isLit := literalStart(data)
	if !isLit {
		return nil, false
	}
	if b, err := ParseBytesLiteral(data); err == nil {
		return b, true
	}
	body := data[start:]
	if len(body) >= len(quote) && string(body[len(body)-len(quote):]) == string(quote) {
		body = body[:len(body)-len(quote)]
	}
	out = make([]byte, 0, len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' || raw || i+1 >= len(body) {
			out = append(out, c)
			i++
			continue
		}
		n, b, okB, err := unescape(body, i)
		switch {
		case err != nil || n == 0:
			out = append(out, c)
			i++
		case okB:
			out = append(out, b)
			i += n
		default: // line continuation
			i += n
		}
	}
	return out, true
}
