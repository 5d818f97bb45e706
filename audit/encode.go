package audit

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// MarshalJSON returns the record's canonical encoding, the line a FileSink
// writes without its newline: the fields in the order of the Record type,
// named in snake_case ("latency_ms" for Latency), no spaces, Content omitted
// when nil, and Prev and Hash last, as they are (MarshalJSON does not compute
// them). Strings are escaped the way encoding/json escapes a Marshaler's
// output, so json.Marshal of a sealed record gives exactly its line, which a
// Sink can send on and a receiver can check with ParseLine. It never fails.
func (r Record) MarshalJSON() ([]byte, error) {
	return appendLine(nil, &r), nil
}

// hashField separates a line's body, which its hash covers, from the hash.
const hashField = `,"hash":"`

// appendLine appends r's canonical encoding to dst.
func appendLine(dst []byte, r *Record) []byte {
	dst = appendBody(dst, r)
	dst = append(dst, hashField[:len(hashField)-1]...)
	dst = appendString(dst, r.Hash)
	return append(dst, '}')
}

// appendBody appends the part of r's line that its hash covers: everything
// up to, not including, `,"hash":`.
func appendBody(dst []byte, r *Record) []byte {
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendUint(dst, r.Seq, 10)
	dst = append(dst, `,"time":"`...)
	dst = appendTime(dst, r.Time)
	dst = append(dst, `","request_id":`...)
	dst = appendString(dst, r.RequestID)
	dst = append(dst, `,"principal":`...)
	dst = appendString(dst, r.Principal)
	dst = append(dst, `,"tenant":`...)
	dst = appendString(dst, r.Tenant)
	dst = append(dst, `,"operation":`...)
	dst = appendString(dst, r.Operation)
	dst = append(dst, `,"provider":`...)
	dst = appendString(dst, r.Provider)
	dst = append(dst, `,"endpoint":`...)
	dst = appendString(dst, r.Endpoint)
	dst = append(dst, `,"key":`...)
	dst = appendString(dst, r.Key)
	dst = append(dst, `,"model":`...)
	dst = appendString(dst, r.Model)
	dst = append(dst, `,"priority":`...)
	dst = appendString(dst, r.Priority)
	dst = append(dst, `,"attempts":`...)
	dst = strconv.AppendInt(dst, int64(r.Attempts), 10)
	dst = append(dst, `,"outcome":`...)
	dst = appendString(dst, r.Outcome)
	dst = append(dst, `,"status":`...)
	dst = strconv.AppendInt(dst, int64(r.Status), 10)
	dst = append(dst, `,"error_class":`...)
	dst = appendString(dst, r.ErrorClass)
	dst = append(dst, `,"input_tokens":`...)
	dst = strconv.AppendInt(dst, int64(r.InputTokens), 10)
	dst = append(dst, `,"output_tokens":`...)
	dst = strconv.AppendInt(dst, int64(r.OutputTokens), 10)
	dst = append(dst, `,"latency_ms":`...)
	dst = appendMillis(dst, r.Latency)
	dst = append(dst, `,"cache_hit":`...)
	dst = appendString(dst, r.CacheHit)
	dst = append(dst, `,"batch_id":`...)
	dst = appendString(dst, r.BatchID)
	if r.Content != nil {
		dst = append(dst, `,"content":{"request":`...)
		dst = appendString(dst, r.Content.Request)
		dst = append(dst, `,"response":`...)
		dst = appendString(dst, r.Content.Response)
		dst = append(dst, '}')
	}
	dst = append(dst, `,"prev":`...)
	return appendString(dst, r.Prev)
}

// appendTime appends t in UTC as RFC 3339 with nanoseconds, trailing zeros
// dropped. A time outside the years 0–9999, which RFC 3339 cannot write, is
// written as the zero time.
func appendTime(dst []byte, t time.Time) []byte {
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		t = time.Time{}
	}
	return t.AppendFormat(dst, time.RFC3339Nano)
}

// appendMillis appends d as a decimal number of milliseconds: the whole
// milliseconds, then, if d is not a whole number of them, a point and up to
// six digits without trailing zeros. It is exact; parseMillis reverses it.
func appendMillis(dst []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		dst = append(dst, '-')
		u = -u
	}
	dst = strconv.AppendUint(dst, u/1e6, 10)
	frac := u % 1e6
	if frac == 0 {
		return dst
	}
	var digits [7]byte
	digits[0] = '.'
	for i := 6; i >= 1; i-- {
		digits[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 7
	for digits[n-1] == '0' {
		n--
	}
	return append(dst, digits[:n]...)
}

// appendString appends s as a JSON string: `"` and `\` escaped, newline,
// carriage return and tab as \n, \r, \t, other control characters and
// <, >, &, U+2028, U+2029 as \uXXXX (so encoding/json, which escapes those in
// a Marshaler's output, leaves the line as it is), every other valid
// character as it is, and each byte of invalid UTF-8 as U+FFFD (as
// encoding/json decodes it). So a line never holds a raw newline and always
// reads back to itself. It differs on purpose from encoding/json's output
// (and the OpenAI encoder's copy of it), which writes invalid UTF-8 as the
// escape \ufffd: a record must be in canonical form, re-encoding to the same
// bytes after ParseLine, and U+FFFD read back is written as itself.
func appendString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		b := s[i]
		if b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xf])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			start = i
			continue
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[c&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
