package opea

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseBytesLiteral(t *testing.T) {
	tests := []struct {
		in   string
		want string
		err  string // "" ok, "not" ErrNotBytesLiteral, else a substring of the BytesLiteralError
	}{
		// What Python's repr() writes.
		{in: `b''`, want: ""},
		{in: `b' Deep'`, want: " Deep"},
		{in: `b'\n'`, want: "\n"},
		{in: `b"it's"`, want: "it's"},
		{in: `b'it\'s "q"'`, want: `it's "q"`},
		{in: `b'back\\slash'`, want: `back\slash`},
		{in: `b'caf\xc3\xa9'`, want: "café"},
		{in: `b'\xe6\x97\xa5\xe6\x9c\xac'`, want: "日本"},
		{in: `b'\xf0\x9f\x98\x80'`, want: "😀"},
		{in: `b'\t\r\x00\x7f\xff'`, want: "\t\r\x00\x7f\xff"},
		{in: `b'</s>'`, want: "</s>"},
		// The rest of Python's bytes-literal syntax.
		{in: `B'x'`, want: "x"},
		{in: `b'\a\b\f\v'`, want: "\a\b\f\v"},
		{in: `b'\101\0\7\777'`, want: "A\x00\x07\xff"},
		{in: `b'\1012'`, want: "A2"},
		{in: `b'\q\N'`, want: `\q\N`}, // unknown escapes keep the backslash
		{in: `b'\XAB'`, want: `\XAB`},
		{in: "b'line\\\ncontinued'", want: "linecontinued"},
		{in: "b'''a'b\"c\nd'''", want: "a'b\"c\nd"},
		{in: `b"""x"y"""`, want: `x"y`},
		{in: `rb'\n\x41'`, want: `\n\x41`},
		{in: `Rb"a\"b"`, want: `a\"b`},
		{in: `bR'\\'`, want: `\\`},
		{in: `b'\xAb'`, want: "\xab"},
		// Malformed literals.
		{in: `b'`, err: "missing closing quote"},
		{in: `b'abc`, err: "missing closing quote"},
		{in: `b'abc\'`, err: "missing closing quote"},
		{in: `b'a'b`, err: "after the closing quote"},
		{in: "b'a' \t", want: "a"},
		{in: `b'\x4'`, err: `\x escape`},
		{in: `b'\xZZ'`, err: `\x escape`},
		{in: `b'\x'`, err: `\x escape`},
		{in: "b'caf\xc3\xa9'", err: "ASCII"},
		{in: "b'a\nb'", err: "newline"},
		{in: "rb'a\\\nb'", want: "a\\\nb"},
		{in: `b'''abc''`, err: "missing closing quote"},
		{in: `b'''a''''`, err: "after the closing quote"},
		// Not bytes literals at all.
		{in: ``, err: "not"},
		{in: `'abc'`, err: "not"},
		{in: `"abc"`, err: "not"},
		{in: `u'abc'`, err: "not"},
		{in: `bb'abc'`, err: "not"},
		{in: `rr'abc'`, err: "not"},
		{in: `brb'x'`, err: "not"},
		{in: `b`, err: "not"},
		{in: `hello`, err: "not"},
		{in: `{"choices":[]}`, err: "not"},
	}
	for _, tt := range tests {
		got, err := ParseBytesLiteral([]byte(tt.in))
		switch {
		case tt.err == "not":
			assert.ErrorIs(t, err, ErrNotBytesLiteral, "ParseBytesLiteral(%q) = %q, %v; want ErrNotBytesLiteral", tt.in, got, err)
		case tt.err != "":
			var le *BytesLiteralError
			assert.False(t, !errors.As(err, &le) || !strings.Contains(le.Error(), tt.err), "ParseBytesLiteral(%q) = %q, %v; want an error about %q", tt.in, got, err, tt.err)
		default:
			if assert.NoError(t, err, "ParseBytesLiteral(%q)", tt.in) {
				assert.Equal(t, tt.want, string(got), "ParseBytesLiteral(%q)", tt.in)
			}
		}
	}
}

// pyRepr is Python's repr() of bytes, written here independently of the
// simulator's copy so each checks the other.
func pyRepr(b []byte) string {
	q := byte('\'')
	if bytes.IndexByte(b, '\'') >= 0 && bytes.IndexByte(b, '"') < 0 {
		q = '"'
	}
	const hex = "0123456789abcdef"
	out := []byte{'b', q}
	for _, c := range b {
		switch c {
		case q, '\\':
			out = append(out, '\\', c)
		case '\t':
			out = append(out, '\\', 't')
		case '\n':
			out = append(out, '\\', 'n')
		case '\r':
			out = append(out, '\\', 'r')
		default:
			if c < 0x20 || c >= 0x7f {
				out = append(out, '\\', 'x', hex[c>>4], hex[c&15])
			} else {
				out = append(out, c)
			}
		}
	}
	return string(append(out, q))
}

func TestPyReprKnownAnswers(t *testing.T) {
	// Values checked against CPython's repr().
	for in, want := range map[string]string{
		"":           `b''`,
		" token":     `b' token'`,
		"it's":       `b"it's"`,
		`it's "q"`:   `b'it\'s "q"'`,
		`say "hi"`:   `b'say "hi"'`,
		"a\\b":       `b'a\\b'`,
		"café":       `b'caf\xc3\xa9'`,
		"\n\t\r\x00": `b'\n\t\r\x00'`,
		"\x7f\x80":   `b'\x7f\x80'`,
	} {
		got := pyRepr([]byte(in))
		assert.Equal(t, want, got, "pyRepr(%q) = %s, want %s", in, got, want)
		got = sim.OPEAPyRepr([]byte(in))
		assert.Equal(t, want, got, "sim.OPEAPyRepr(%q) = %s, want %s", in, got, want)
	}
}

func TestParseBytesLiteralRoundTrip(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	inputs := [][]byte{all, []byte("'"), []byte(`"`), []byte(`'"`), []byte(`\'`)}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		inputs = append(inputs, b)
	}
	for _, in := range inputs {
		for _, lit := range []string{pyRepr(in), sim.OPEAPyRepr(in)} {
			got, err := ParseBytesLiteral([]byte(lit))
			require.NoError(t, err, "ParseBytesLiteral(%s) = %q, %v; want %q", lit, got, err, in)
			require.True(t, bytes.Equal(got, in), "ParseBytesLiteral(%s) = %q, %v; want %q", lit, got, err, in)
			got, ok := decodeBytesToken([]byte(lit))
			require.True(t, ok, "decodeBytesToken(%s) = %q, %v; want %q", lit, got, ok, in)
			require.True(t, bytes.Equal(got, in), "decodeBytesToken(%s) = %q, %v; want %q", lit, got, ok, in)
		}
	}
}

func TestDecodeBytesTokenLenient(t *testing.T) {
	tests := []struct{ in, want string }{
		// OPEA's guardrail path writes "data: b'" + text + "'" unescaped.
		{"b'it's blocked'", "it's blocked"},
		{"b'café 日本'", "café 日本"},
		{`b'bad \xZZ escape'`, `bad \xZZ escape`},
		{`b'no closing quote`, "no closing quote"},
		{`b'ends in backslash\`, `ends in backslash\`},
		{`b'\xc3\xa9 and é'`, "é and é"},
		{`b"mixed ' and "quotes""`, `mixed ' and "quotes"`},
		{`b'`, ""},
		{`b'''`, ""},
	}
	for _, tt := range tests {
		got, ok := decodeBytesToken([]byte(tt.in))
		assert.False(t, !ok || string(got) != tt.want, "decodeBytesToken(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
	}
	for _, in := range []string{"hello", "'x'", `{"a":1}`, "[DONE]", ""} {
		_, ok := decodeBytesToken([]byte(in))
		assert.False(t, ok, "decodeBytesToken(%q) took it for a bytes literal", in)
	}
}

func TestUTF8Joiner(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string // what each add returns, then flush
	}{
		{"ascii", []string{"ab", "c"}, []string{"ab", "c", ""}},
		{"2-byte split", []string{"caf\xc3", "\xa9!"}, []string{"caf", "é!", ""}},
		{"3-byte split thrice", []string{"\xe6", "\x97", "\xa5"}, []string{"", "", "日", ""}},
		{"4-byte split", []string{"\xf0\x9f", "\x98\x80"}, []string{"", "😀", ""}},
		{"incomplete at end", []string{"ok\xe6\x97"}, []string{"ok", "\uFFFD"}},
		{"invalid byte", []string{"a\xffb"}, []string{"a\uFFFDb", ""}},
		{"stray continuation", []string{"\x80x"}, []string{"\uFFFDx", ""}},
		{"lead then ascii", []string{"\xe6", "x"}, []string{"", "\uFFFDx", ""}},
		{"empty chunks", []string{"", "\xc3", "", "\xa9"}, []string{"", "", "", "é", ""}},
	}
	for _, tt := range tests {
		var j utf8Joiner
		var got []string
		for _, c := range tt.chunks {
			got = append(got, j.add([]byte(c)))
		}
		got = append(got, j.flush())
		assert.Equal(t, strings.Join(tt.want, "|"), strings.Join(got, "|"), "%s: got %q, want %q", tt.name, got, tt.want)
	}
}

// FuzzParseBytesLiteral: the parser never panics; what it accepts survives a
// repr round trip; any bytes survive repr then parse; the lenient decoder
// never panics either.
func FuzzParseBytesLiteral(f *testing.F) {
	for _, s := range []string{`b''`, `b'\xc3\xa9'`, `b"it's"`, `rb'\n'`, `b'''x'''`, `b'\777'`, "b'a\\\nb'", `b'\x4'`, "b'é'", `b'`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ParseBytesLiteral(data)
		if err == nil {
			again, err := ParseBytesLiteral([]byte(pyRepr(got)))
			require.NoError(t, err, "round trip of %q: %q, %v", got, again, err)
			require.True(t, bytes.Equal(again, got), "round trip of %q: %q, %v", got, again, err)
		} else {
			var le *BytesLiteralError
			if !errors.Is(err, ErrNotBytesLiteral) {
				require.ErrorAs(t, err, &le, "unexpected error type")
			}
		}
		back, err := ParseBytesLiteral([]byte(pyRepr(data)))
		require.NoError(t, err, "repr round trip of %q: %q, %v", data, back, err)
		require.True(t, bytes.Equal(back, data), "repr round trip of %q: %q, %v", data, back, err)
		_, _ = decodeBytesToken(data)
	})
}

// FuzzUTF8Joiner: valid UTF-8 cut anywhere comes back whole; any bytes come
// out as valid UTF-8.
func FuzzUTF8Joiner(f *testing.F) {
	f.Add([]byte("café 日本 😀"), uint8(1))
	f.Add([]byte("\xff\xe6\x97"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		n := int(step%7) + 1
		var j utf8Joiner
		var out strings.Builder
		for p := data; len(p) > 0; {
			k := min(n, len(p))
			s := j.add(p[:k])
			require.True(t, utf8.ValidString(s), "invalid UTF-8 out: %q", s)
			out.WriteString(s)
			p = p[k:]
		}
		out.WriteString(j.flush())
		require.True(t, utf8.ValidString(out.String()), "invalid UTF-8 out: %q", out.String())
		if utf8.Valid(data) {
			require.Equal(t, string(data), out.String(), "joined %q as %q", data, out.String())
		}
	})
}

// TestParseBytesLiteralCPython compares the parser with CPython on the
// literals of testdata/opea/pybytes-cpython.txt (made by gen_pybytes.py
// there): random literals built from quotes, backslashes, escapes, octal and
// hex digits, newlines, NUL and non-ASCII, valid or not, and repr() of
// random bytes.
func TestParseBytesLiteralCPython(t *testing.T) {
	data, err := os.ReadFile("../../testdata/opea/pybytes-cpython.txt")
	require.NoError(t, err)
	n, valid := 0, 0
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		litHex, want, ok := strings.Cut(line, " ")
		lit, err := hex.DecodeString(litHex)
		require.True(t, ok, "line %d: %q", i+1, line)
		require.NoError(t, err, "line %d: %q", i+1, line)
		got, err := ParseBytesLiteral(lit)
		gotS := "ERR"
		if err == nil {
			gotS = hex.EncodeToString(got)
			if want != "ERR" {
				valid++
			}
		}
		assert.Equal(t, want, gotS, "line %d: ParseBytesLiteral(%q) = %s (%v), CPython says %s", i+1, lit, gotS, err, want)
		n++
	}
	require.GreaterOrEqual(t, n, 3000, "only %d cases, %d valid", n, valid)
	require.GreaterOrEqual(t, valid, 1000, "only %d cases, %d valid", n, valid)
}
