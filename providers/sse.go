package providers

import (
	"bufio"
	"bytes"
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
}

// NewSSEReader reads events from r.
func NewSSEReader(r io.Reader) *SSEReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineSize)
	sc.Split(scanLines)
	return &SSEReader{sc: sc}
}

// Next returns the next event, io.EOF at the end of the stream, or the read
// error. The returned Data is valid until the next call.
func (s *SSEReader) Next() (SSEEvent, error) {
	s.data = s.data[:0]
	s.event, s.id = "", ""
	hasData := false
	for s.sc.Scan() {
		line := s.sc.Bytes()
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

// scanLines splits on \n, \r\n or a lone \r.
func scanLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	for i, b := range data {
		switch b {
		case '\n':
			return i + 1, data[:i], nil
		case '\r':
			if i+1 < len(data) {
				if data[i+1] == '\n' {
					return i + 2, data[:i], nil
				}
				return i + 1, data[:i], nil
			}
			if atEOF {
				return i + 1, data[:i], nil
			}
			return 0, nil, nil // need one more byte to tell \r from \r\n
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}
