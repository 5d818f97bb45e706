package providers

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// MaxLineSize bounds one line of a stream (32 MiB, as openai-go does);
// Gemini chunks with inline images can be large.
const MaxLineSize = 32 << 20

// SSEEvent is one server-sent event.
type SSEEvent struct {
	// Event is the event: field, empty when the server sent none.
	Event string
	// Data is the data: lines joined with "\n".
	Data []byte
	ID   string
}

// SSEReader splits a text/event-stream into events. It follows the SSE rules:
// events end at a blank line, lines end in \n, \r\n or \r, at most one space
// after the colon is stripped (TGI sends none), several data: lines join with
// \n, comment lines (":") are ignored, and an unterminated event at EOF is
// dropped. It is not safe for concurrent use.
type SSEReader struct {
	sc    *bufio.Scanner
	data  []byte
	event string
	id    string
	first bool
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineSize)
	sc.Split((&lineSplitter{}).split)
	return &SSEReader{sc: sc, first: true}
}

// NextInStream is Next for a stream that must end with its own terminator
// (a [DONE] event, a final event): the end of the body, io.EOF, is
// reported as io.ErrUnexpectedEOF, which Client.Stream classifies as a cut
// stream. Other errors are returned as they are.
func (s *SSEReader) NextInStream() (SSEEvent, error) {
	ev, err := s.Next()
	if errors.Is(err, io.EOF) {
		return ev, io.ErrUnexpectedEOF
	}
	return ev, err
}

// Next returns the next event, io.EOF at the end of the stream, or the read
// error. The returned Data is valid until the next call.
func (s *SSEReader) Next() (SSEEvent, error) {
	s.data = s.data[:0]
	s.event, s.id = "", ""
	hasData := false
	for s.sc.Scan() {
		line := s.sc.Bytes()
		if s.first {
			s.first = false
			line = bytes.TrimPrefix(line, []byte("\xef\xbb\xbf")) // the spec strips a leading BOM
		}
		if len(line) == 0 {
			if hasData {
				return SSEEvent{Event: s.event, Data: s.data, ID: s.id}, nil
			}
			s.event = ""
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			if len(value) > 0 && value[0] == ' ' {
				value = value[1:]
			}
		}
		switch string(field) {
		case "data":
			if hasData {
				s.data = append(s.data, '\n')
			}
			s.data = append(s.data, value...)
			hasData = true
		case "event":
			s.event = string(value)
		case "id":
			s.id = string(value)
		}
	}
	if err := s.sc.Err(); err != nil {
		return SSEEvent{}, err
	}
	return SSEEvent{}, io.EOF
}

// lineSplitter splits on \n, \r\n or a lone \r. It remembers how far it
// has searched the pending line, so a long line arriving in small reads
// costs linear, not quadratic, time (bufio.Scanner keeps the token start
// fixed while it grows its buffer).
type lineSplitter struct{ scanned int }

func (l *lineSplitter) split(data []byte, atEOF bool) (advance int, token []byte, err error) {
	if l.scanned > len(data) {
		l.scanned = 0
	}
	i := bytes.IndexAny(data[l.scanned:], "\r\n")
	if i < 0 {
		if atEOF && len(data) > 0 {
			l.scanned = 0
			return len(data), data, nil
		}
		l.scanned = len(data)
		return 0, nil, nil
	}
	i += l.scanned
	if data[i] == '\n' {
		l.scanned = 0
		return i + 1, data[:i], nil
	}
	// A \r: a line end by itself, or the first half of \r\n.
	if i+1 < len(data) {
		l.scanned = 0
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	}
	if atEOF {
		l.scanned = 0
		return i + 1, data[:i], nil
	}
	l.scanned = i // need one more byte to tell \r from \r\n
	return 0, nil, nil
}
