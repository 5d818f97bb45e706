package providers

import (
	"bufio"
	"bytes"
	"io"
)

// NDJSONReader splits newline-delimited JSON (Ollama's native streams) into
// lines, skipping blank ones. It is not safe for concurrent use.
type NDJSONReader struct {
	sc *bufio.Scanner
}

// NewNDJSONReader reads lines from r.
func NewNDJSONReader(r io.Reader) *NDJSONReader {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), MaxLineSize)
	return &NDJSONReader{sc: sc}
}

// Next returns the next non-blank line (valid until the next call), io.EOF at
// the end, or the read error.
func (n *NDJSONReader) Next() ([]byte, error) {
	for n.sc.Scan() {
		line := bytes.TrimSpace(n.sc.Bytes())
		if len(line) > 0 {
			return line, nil
		}
	}
	if err := n.sc.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}
