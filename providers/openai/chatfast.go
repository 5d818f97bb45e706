package openai

import (
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// chatAnswer is what decodeChat keeps of a chat completion: its ID and
// model, the chosen choice (the first of index 0, else the first) and the
// usage. Both decoders below produce it.
type chatAnswer struct {
	ID, Model                string
	Content, Refusal, Finish string
	ToolCalls                []chatToolCall
	Usage                    wireUsage
	// Error is the body's non-null "error" member (the slow decoder only).
	Error json.RawMessage
	// Choices is how many choices the body had.
	Choices int
}

// fromCompletion flattens what encoding/json decoded.
func (a *chatAnswer) fromCompletion(w *chatCompletion) {
	*a = chatAnswer{ID: w.ID, Model: w.Model, Choices: len(w.Choices)}
	if w.Usage != nil {
		a.Usage = *w.Usage
	}
	a.Error = w.Error
	if len(w.Choices) == 0 {
		return
	}
	ch := w.Choices[0]
	for _, c := range w.Choices {
		if c.Index == 0 {
			ch = c
			break
		}
	}
	if ch.Message.Content != nil {
		a.Content = *ch.Message.Content
	}
	if ch.Message.Refusal != nil {
		a.Refusal = *ch.Message.Refusal
	}
	if ch.FinishReason != nil {
		a.Finish = *ch.FinishReason
	}
	a.ToolCalls = ch.Message.ToolCalls
}

// decodeChatAnswer decodes a chat completion body: fastChat for the usual
// answer, encoding/json into chatCompletion for everything else (and for
// every malformed body, so errors are encoding/json's).
func decodeChatAnswer(b []byte, a *chatAnswer) error {
	if fastChat(b, a) {
		return nil
	}
	var w chatCompletion
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	a.fromCompletion(&w)
	return nil
}

// fastChat decodes the common shape of a chat completion (no tool calls,
// no error member) without reflection, copying only the strings it keeps,
// and reports whether it could. It never guesses: it gives up (false) on
// anything where encoding/json's result could differ from a plain reading
// — invalid JSON, a key that differs from a known one only in case or is
// escaped, a repeated known key, a null or mistyped known member, a number
// that is not a plain integer, tool calls, a non-null "error", no choices —
// and the caller then decodes the body with encoding/json. The
// differential fuzz target FuzzFastChat holds it to that.
func fastChat(b []byte, a *chatAnswer) bool {
	p := fastParser{b: b}
	*a = chatAnswer{}
	var (
		seen                uint8
		first, zero         fastChoice
		haveFirst, haveZero bool
	)
	ok := p.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return p.once(&seen, 1) && p.str(&a.ID)
		case "model":
			return p.once(&seen, 2) && p.str(&a.Model)
		case "choices":
			if !p.once(&seen, 4) {
				return false
			}
			return p.array(func() bool {
				var c fastChoice
				if !p.choice(&c) {
					return false
				}
				a.Choices++
				if !haveFirst {
					first, haveFirst = c, true
				}
				if c.index == 0 && !haveZero {
					zero, haveZero = c, true
				}
				return true
			})
		case "usage":
			return p.once(&seen, 8) && p.usage(&a.Usage)
		case "error":
			return p.once(&seen, 16) && p.null()
		}
		return p.other(key, "id", "model", "choices", "usage", "error")
	})
	if !ok || !p.end() || a.Choices == 0 {
		return false
	}
	ch := first
	if haveZero {
		ch = zero
	}
	a.Content, a.Refusal, a.Finish = ch.content, ch.refusal, ch.finish
	return true
}

type fastChoice struct {
	index                    int64
	content, refusal, finish string
}

func (p *fastParser) choice(c *fastChoice) bool {
	var seen uint8
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "index":
			return p.once(&seen, 1) && p.int(&c.index)
		case "message":
			return p.once(&seen, 2) && p.message(c)
		case "finish_reason":
			return p.once(&seen, 4) && p.strOrNull(&c.finish)
		}
		return p.other(key, "index", "message", "finish_reason")
	})
}

func (p *fastParser) message(c *fastChoice) bool {
	var seen uint8
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "content":
			return p.once(&seen, 1) && p.strOrNull(&c.content)
		case "refusal":
			return p.once(&seen, 2) && p.strOrNull(&c.refusal)
		case "tool_calls":
			return p.once(&seen, 4) && p.emptyArrayOrNull()
		}
		return p.other(key, "content", "refusal", "tool_calls")
	})
}

func (p *fastParser) usage(u *wireUsage) bool {
	var seen uint8
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "prompt_tokens":
			var v int64
			ok := p.once(&seen, 1) && p.int(&v)
			u.PromptTokens = int(v)
			return ok
		case "completion_tokens":
			var v int64
			ok := p.once(&seen, 2) && p.int(&v)
			u.CompletionTokens = int(v)
			return ok
		case "prompt_tokens_details":
			if !p.once(&seen, 4) {
				return false
			}
			// A pointer in wireUsage: allocated only when there is
			// something to keep.
			var cached, write int64
			var dseen uint8
			ok := p.object(func(key []byte) bool {
				switch string(key) {
				case "cached_tokens":
					return p.once(&dseen, 1) && p.int(&cached)
				case "cache_write_tokens":
					return p.once(&dseen, 2) && p.int(&write)
				}
				return p.other(key, "cached_tokens", "cache_write_tokens")
			})
			if ok && (cached != 0 || write != 0) {
				u.PromptTokensDetails = &wireTokenDetails{int(cached), int(write)}
			}
			return ok
		}
		return p.other(key, "prompt_tokens", "completion_tokens", "prompt_tokens_details")
	})
}

// fastParser reads JSON from b; every method returns false on anything it
// does not accept, and the parse is then abandoned.
type fastParser struct {
	b     []byte
	i     int
	depth int
}

// maxSkipDepth bounds the nesting of skipped values (encoding/json allows
// 10000; deeper bodies go to it).
const maxSkipDepth = 256

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// end reports whether only whitespace is left.
func (p *fastParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

func (p *fastParser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *fastParser) lit(s string) bool {
	p.ws()
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// once marks bit in seen and reports whether it was clear: a known key
// seen twice makes encoding/json keep the last value (merging objects),
// which the fast reader leaves to it.
func (p *fastParser) once(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// object reads an object, calling member for each key with the reader on
// the member's value; member must consume the value.
func (p *fastParser) object(member func(key []byte) bool) bool {
	if p.peek() != '{' {
		return false
	}
	p.i++
	if p.peek() == '}' {
		p.i++
		return true
	}
	for {
		key, ok := p.rawKey()
		if !ok || p.peek() != ':' {
			return false
		}
		p.i++
		if !member(key) {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// array reads an array, calling elem with the reader on each element.
func (p *fastParser) array(elem func() bool) bool {
	if p.peek() != '[' {
		return false
	}
	p.i++
	if p.peek() == ']' {
		p.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch p.peek() {
		case ',':
			p.i++
		case ']':
			p.i++
			return true
		default:
			return false
		}
	}
}

// rawKey returns a key made of printable ASCII without escapes (anything
// else is left to encoding/json, which unescapes and folds keys).
func (p *fastParser) rawKey() ([]byte, bool) {
	if p.peek() != '"' {
		return nil, false
	}
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		c := p.b[j]
		switch {
		case c == '"':
			p.i = j + 1
			return p.b[start:j], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

// other skips the value of an unknown key, unless the key matches one of
// known case-insensitively (encoding/json would then decode it into that
// field).
func (p *fastParser) other(key []byte, known ...string) bool {
	for _, k := range known {
		if strings.EqualFold(string(key), k) {
			return false
		}
	}
	return p.skip()
}

func (p *fastParser) null() bool { return p.lit("null") }

func (p *fastParser) emptyArrayOrNull() bool {
	if p.peek() == 'n' {
		return p.null()
	}
	return p.lit("[") && p.lit("]")
}

// int reads an integer without fraction or exponent that fits an int64
// with room to spare (18 digits at most).
func (p *fastParser) int(v *int64) bool {
	p.ws()
	j, neg := p.i, false
	if j < len(p.b) && p.b[j] == '-' {
		neg = true
		j++
	}
	start := j
	var n int64
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		n = n*10 + int64(p.b[j]-'0')
		j++
	}
	digits := j - start
	if digits == 0 || digits > 18 || (digits > 1 && p.b[start] == '0') {
		return false
	}
	if j < len(p.b) {
		switch p.b[j] {
		case '.', 'e', 'E':
			return false
		}
	}
	if neg {
		n = -n
	}
	*v, p.i = n, j
	return true
}

func (p *fastParser) str(dst *string) bool {
	p.ws()
	s, ok := p.scanString(true)
	if ok {
		*dst = s
	}
	return ok
}

func (p *fastParser) strOrNull(dst *string) bool {
	if p.peek() == 'n' {
		if !p.null() {
			return false
		}
		*dst = ""
		return true
	}
	return p.str(dst)
}

// scanString reads the string at p.i and, when keep is set, returns its
// value decoded as encoding/json does (escapes, surrogate pairs, invalid
// UTF-8 and lone surrogates as U+FFFD).
func (p *fastParser) scanString(keep bool) (string, bool) {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return "", false
	}
	start := p.i + 1
	plain := true
	j := start
	for j < len(p.b) {
		c := p.b[j]
		switch {
		case c == '"':
			raw := p.b[start:j]
			p.i = j + 1
			if !keep {
				return "", true
			}
			if plain && utf8.Valid(raw) {
				return string(raw), true
			}
			return unquote(raw), true
		case c < 0x20:
			return "", false
		case c == '\\':
			plain = false
			if j+1 >= len(p.b) {
				return "", false
			}
			switch p.b[j+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				j += 2
			case 'u':
				if j+6 > len(p.b) || !isHex4(p.b[j+2:j+6]) {
					return "", false
				}
				j += 6
			default:
				return "", false
			}
		default:
			j++
		}
	}
	return "", false
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		default:
			c = c - 'A' + 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// unquote decodes the body of a string scanString validated, the way
// encoding/json's unquote does.
func unquote(s []byte) string {
	var out strings.Builder
	out.Grow(len(s) + utf8.UTFMax)
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '\\':
			switch e := s[i+1]; e {
			case 'u':
				r := hex4(s[i+2 : i+6])
				i += 6
				if utf16.IsSurrogate(r) {
					r2 := utf8.RuneError
					if i+6 <= len(s) && s[i] == '\\' && s[i+1] == 'u' {
						r2 = hex4(s[i+2 : i+6])
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						i += 6
						r = dec
					} else {
						r = utf8.RuneError
					}
				}
				out.WriteRune(r)
			default:
				out.WriteByte(unescape(e))
				i += 2
			}
		case c < utf8.RuneSelf:
			out.WriteByte(c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			i += size
			out.WriteRune(r)
		}
	}
	return out.String()
}

func unescape(e byte) byte {
	switch e {
	case 'b':
		return '\b'
	case 'f':
		return '\f'
	case 'n':
		return '\n'
	case 'r':
		return '\r'
	case 't':
		return '\t'
	}
	return e // '"', '\\', '/'
}

// skip validates and skips one value of any type.
func (p *fastParser) skip() bool {
	switch p.peek() {
	case '{':
		if p.depth++; p.depth > maxSkipDepth {
			return false
		}
		ok := p.object(func([]byte) bool { return p.skip() })
		p.depth--
		return ok
	case '[':
		if p.depth++; p.depth > maxSkipDepth {
			return false
		}
		ok := p.array(p.skip)
		p.depth--
		return ok
	case '"':
		_, ok := p.scanString(false)
		return ok
	case 't':
		return p.lit("true")
	case 'f':
		return p.lit("false")
	case 'n':
		return p.null()
	}
	return p.number()
}

// number skips a JSON number (RFC 8259 grammar).
func (p *fastParser) number() bool {
	j := p.i
	digits := func() int {
		k := j
		for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
			j++
		}
		return j - k
	}
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	switch {
	case j < len(p.b) && p.b[j] == '0':
		j++
	case digits() == 0:
		return false
	}
	if j < len(p.b) && p.b[j] == '.' {
		j++
		if digits() == 0 {
			return false
		}
	}
	if j < len(p.b) && (p.b[j] == 'e' || p.b[j] == 'E') {
		j++
		if j < len(p.b) && (p.b[j] == '+' || p.b[j] == '-') {
			j++
		}
		if digits() == 0 {
			return false
		}
	}
	p.i = j
	return true
}
