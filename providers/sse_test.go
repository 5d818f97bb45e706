package providers

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type sseWant struct {
	Event, Data, ID string
}

// readAllSSE reads every event of r; it fails the test if the reader yields
// more events than the input could hold (a loop that does not advance).
func readAllSSE(t testing.TB, r io.Reader, maxEvents int) ([]sseWant, error) {
	t.Helper()
	sr := NewSSEReader(r)
	var out []sseWant
	for {
		ev, err := sr.Next()
		if err != nil {
			return out, err
		}
		out = append(out, sseWant{Event: ev.Event, Data: string(ev.Data), ID: ev.ID})
		require.LessOrEqual(t, len(out), maxEvents, "reader returned %d events from input that can hold at most %d", len(out), maxEvents)
	}
}

func TestSSEReader(t *testing.T) {
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name string
		in   string
		want []sseWant
	}{
		{"lf", "event: a\ndata: x\n\n", []sseWant{{"a", "x", ""}}},
		{"crlf", "event: a\r\ndata: x\r\n\r\nevent: b\r\ndata: y\r\n\r\n", []sseWant{{"a", "x", ""}, {"b", "y", ""}}},
		{"cr", "event: a\rdata: x\r\rdata: y\r\r", []sseWant{{"a", "x", ""}, {"", "y", ""}}},
		{"mixed endings", "data: a\r\n\ndata: b\r\rdata: c\n\r\n", []sseWant{{"", "a", ""}, {"", "b", ""}, {"", "c", ""}}},
		{"no space", "data:x\n\n", []sseWant{{"", "x", ""}}},
		{"only one space stripped", "data:  x \n\n", []sseWant{{"", " x ", ""}}},
		{"colon in value", "data: {\"a\":\"b:c\"}\n\n", []sseWant{{"", `{"a":"b:c"}`, ""}}},
		{"multi-line data", "data: a\ndata: b\ndata:\ndata: c\n\n", []sseWant{{"", "a\nb\n\nc", ""}}},
		{"comments", ": hello\ndata: a\n: another\n\n:only a comment\n\n", []sseWant{{"", "a", ""}}},
		{"event and id", "id: 7\nevent: message_stop\ndata: {}\n\n", []sseWant{{"message_stop", "{}", "7"}}},
		{"event name reset by empty event", "event: a\n\ndata: b\n\n", []sseWant{{"", "b", ""}}},
		{"field without colon", "data\n\n", []sseWant{{"", "", ""}}},
		{"unknown fields ignored", "retry: 100\nfoo: bar\ndata: a\n\n", []sseWant{{"", "a", ""}}},
		{"leading blank lines", "\n\n\r\ndata: a\n\n\n\n", []sseWant{{"", "a", ""}}},
		{"unterminated event dropped", "data: a\n\ndata: b", []sseWant{{"", "a", ""}}},
		{"unterminated after newline dropped", "data: a\n\nevent: x\ndata: b\n", []sseWant{{"", "a", ""}}},
		{"empty input", "", nil},
		{"long line", "data: " + long + "\n\n", []sseWant{{"", long, ""}}},
		{"trailing spaces kept", "data: {\"type\":\"message_stop\"       }\n\n", []sseWant{{"", `{"type":"message_stop"       }`, ""}}},
	}
	for _, tt := range tests {
		for _, mode := range []string{"whole", "byte at a time"} {
			// The split function rescans the buffered line on every read,
			// which is quadratic for a long line fed one byte at a time.
			if len(tt.in) > 64<<10 && mode != "whole" {
				continue
			}
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				var r io.Reader = strings.NewReader(tt.in)
				if mode != "whole" {
					r = iotest.OneByteReader(r)
				}
				got, err := readAllSSE(t, r, len(tt.in)+1)
				require.ErrorIs(t, err, io.EOF, "end error = %v, want io.EOF", err)
				require.Len(t, tt.want, len(got), "got %d events %q, want %d %q", len(got), got, len(tt.want), tt.want)
				for i := range got {
					assert.True(t, got[i] == tt.want[i], "event %d = %+.80v, want %+.80v", i, got[i], tt.want[i])
				}
			})
		}
	}
}

func TestSSEReaderErrors(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		r       io.Reader
		wantErr error
		events  int
	}{
		{"read error after an event", io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom)), boom, 1},
		{"unexpected EOF passed on", io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(io.ErrUnexpectedEOF)), io.ErrUnexpectedEOF, 1},
		{"line over MaxLineSize", strings.NewReader("data: " + strings.Repeat("y", MaxLineSize) + "\n\n"), bufio.ErrTooLong, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readAllSSE(t, tt.r, 10)
			require.ErrorIs(t, err, tt.wantErr, "error")
			require.Len(t, got, tt.events, "got %d events before the error, want %d", len(got), tt.events)
		})
	}
}

// TestSSEReaderDataReuse checks that Data is only valid until the next call:
// callers must copy, and the reader must not corrupt the event it returns
// before they do.
func TestSSEReaderDataReuse(t *testing.T) {
	sr := NewSSEReader(strings.NewReader("data: first\n\ndata: second\n\n"))
	ev, err := sr.Next()
	require.NoError(t, err, "first = %q, %v", ev.Data, err)
	require.Equal(t, "first", string(ev.Data), "first = %q, %v", ev.Data, err)
	ev, err = sr.Next()
	require.NoError(t, err, "second = %q, %v", ev.Data, err)
	require.Equal(t, "second", string(ev.Data), "second = %q, %v", ev.Data, err)
}

var sseEndings = []string{"\n", "\r\n", "\r"}

func FuzzSSEReader(f *testing.F) {
	f.Add([]byte("event: a\ndata: x\n\n"), "hello\nworld", uint8(0))
	f.Add([]byte("data:x\r\n\r\n: c\r\ndata: y\r\n"), " leading space", uint8(1))
	f.Add([]byte("\r\r\rdata\rid: 1\r\r"), "", uint8(2))
	f.Add([]byte("event: message_stop\ndata: {\"type\":\"message_stop\"   }\n\n"), "{\"a\":1}\n\n{}", uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, payload string, ending uint8) {
		// Arbitrary input: never panics, terminates, and every event is
		// backed by at least one line of input.
		lines := strings.Count(string(raw), "\n") + strings.Count(string(raw), "\r") + 1
		_, err := readAllSSE(t, strings.NewReader(string(raw)), lines)
		require.Error(t, err, "reader ended without an error")

		// Well-formed input: the payload's lines round-trip as one event's
		// data, between two other events, with every line ending style.
		if strings.ContainsRune(payload, '\r') {
			return // \r ends a line in SSE; such a payload is not representable
		}
		eol := sseEndings[int(ending)%len(sseEndings)]
		var b strings.Builder
		b.WriteString("event: first" + eol + "data: 1" + eol + eol)
		b.WriteString("event: payload" + eol + "id: p" + eol)
		for _, l := range strings.Split(payload, "\n") {
			b.WriteString("data: " + l + eol)
		}
		b.WriteString(eol + ": comment" + eol + "data: last" + eol + eol)
		got, err := readAllSSE(t, strings.NewReader(b.String()), 3)
		require.ErrorIs(t, err, io.EOF, "end error = %v, want io.EOF", err)
		want := []sseWant{{"first", "1", ""}, {"payload", payload, "p"}, {"", "last", ""}}
		require.Len(t, want, len(got), "got %d events %q, want %q", len(got), got, want)
		for i := range want {
			require.True(t, got[i] == want[i], "event %d = %q, want %q", i, got[i], want[i])
		}
	})
}

// A long line arriving in small reads is split in linear time: an 8 MiB
// data line read 16 KiB at a time scans each byte about once. (The count of
// bytes looked at is what is checked, not the time.)
func TestSSELongLineLinearScan(t *testing.T) {
	line := "data: " + strings.Repeat("x", 8<<20) + "\n\n"
	var l lineSplitter
	scanned := 0
	buf := []byte(line)
	start, end := 0, 0
	for start < len(buf) {
		end = min(end+16<<10, len(buf))
		before := l.scanned
		adv, tok, err := l.split(buf[start:end], end == len(buf))
		require.NoError(t, err)
		if adv == 0 {
			scanned += l.scanned - before
			continue
		}
		scanned += adv
		_ = tok
		start += adv
		end = start
	}
	require.LessOrEqual(t, scanned, 2*len(buf), "scanned %d bytes for a %d-byte stream: not linear", scanned, len(buf))
}
