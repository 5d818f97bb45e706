package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// The stream of :streamGenerateContent?alt=sse is a sequence of
// `data: <GenerateContentResponse>` events separated by "\r\n\r\n", with no
// event names and no terminator: it ends at EOF. The answer is complete once
// a chunk carried a finishReason (or the prompt was blocked); EOF before that
// is a cut. A failure after the 200 arrives as a google.rpc error object,
// either as an event's data or as bare JSON lines between events (go-genai
// handles both), and is classified by its status.

// block is one blank-line-delimited block of the stream: the data of its
// data: lines, and its other lines (a bare JSON error object).
type block struct {
	data    []byte
	hasData bool
	raw     []byte
}

// blockReader splits a stream into blocks. Lines end in \n or \r\n (a lone
// \r too); comment lines and the other SSE fields are ignored.
type blockReader struct {
	sc *bufio.Scanner
	b  block
}

func newBlockReader(r io.Reader) *blockReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), providers.MaxLineSize)
	sc.Split(scanLines)
	return &blockReader{sc: sc}
}

// next returns the next block; at the end of the stream it returns the
// unterminated last block (possibly empty) with io.EOF, or the read error. Returned slices are valid until the
// next call.
func (br *blockReader) next() (block, error) {
	br.b.data, br.b.raw, br.b.hasData = br.b.data[:0], br.b.raw[:0], false
	for br.sc.Scan() {
		line := br.sc.Bytes()
		if len(line) == 0 {
			if br.b.hasData || len(br.b.raw) > 0 {
				return br.b, nil
			}
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		switch {
		case line[0] == ':':
			continue
		case found && string(field) == "data":
			value = bytes.TrimPrefix(value, []byte(" "))
			if br.b.hasData {
				br.b.data = append(br.b.data, '\n')
			}
			br.b.data = append(br.b.data, value...)
			br.b.hasData = true
		case found && (string(field) == "event" || string(field) == "id" || string(field) == "retry"):
		default:
			br.b.raw = append(br.b.raw, line...)
			br.b.raw = append(br.b.raw, '\n')
		}
	}
	if err := br.sc.Err(); err != nil {
		return block{}, err
	}
	return br.b, io.EOF
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
			return 0, nil, nil // one more byte tells \r from \r\n
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// decodeStream reads a whole stream from r and returns the aggregated
// answer; emit (may be nil) receives the chunks as they are decoded, the
// final usage last. Errors: io.ErrUnexpectedEOF when the stream ends before a
// finishReason, a *messages.UpstreamError for an error object (classified by
// its status) or an undecodable chunk (ClassMalformed), the error emit
// returned, or the reader's error.
func decodeStream(r io.Reader, emit func(*messages.StreamChunk) error) (*messages.ChatResponse, error) {
	a := newAnswer(emit)
	if err := a.decodeStream(r); err != nil {
		return nil, err
	}
	return a.response(), nil
}

// decodeStream is the read function handed to providers.Client.Stream. After
// the finishing chunk it reads on to EOF for a trailing usage update; a read
// failure there does not undo a complete answer.
func (a *answer) decodeStream(r io.Reader) error {
	br := newBlockReader(r)
	for {
		b, err := br.next()
		if err != nil && !errors.Is(err, io.EOF) {
			if a.finished {
				return a.finishUsage()
			}
			return err
		}
		eof := err != nil
		if perr := a.handleBlock(b, eof); perr != nil {
			return perr
		}
		if eof {
			if !a.finished {
				return io.ErrUnexpectedEOF
			}
			return a.finishUsage()
		}
	}
}

// handleBlock handles one block. At EOF the block is unterminated: it counts only
// if it is complete JSON (an answer cut mid-event is a cut, not garbage).
func (a *answer) handleBlock(b block, eof bool) error {
	switch {
	case b.hasData:
		data := bytes.TrimSpace(b.data)
		if len(data) == 0 {
			return nil
		}
		if eof && !json.Valid(data) {
			return nil
		}
		var w wireResponse
		if err := json.Unmarshal(data, &w); err != nil {
			return malformed("decoding stream chunk", err)
		}
		return a.add(&w, data)
	case len(bytes.TrimSpace(b.raw)) > 0:
		raw := bytes.TrimSpace(b.raw)
		if eof && !json.Valid(raw) {
			return nil
		}
		return rawStreamError(raw)
	}
	return nil
}

// rawStreamError decodes a bare (not data:) block: a google.rpc error
// object, possibly wrapped in an array; anything else is ClassMalformed.
func rawStreamError(raw []byte) error {
	if e := parseStatus(raw); e != nil {
		return streamError(raw)
	}
	return malformed("stream block is neither a data: event nor an error object", nil)
}
