package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrMalformed means a line is not a record in canonical form: it does not
// parse, has unknown, missing or repeated fields, or says something in other
// bytes than the canonical encoding would.
var ErrMalformed = errors.New("malformed record")

// ErrAltered means a record's bytes do not match its own hash: the record
// was changed after it was written.
var ErrAltered = errors.New("record does not match its hash")

// ParseLine reads one line of a log (without its newline) and checks it
// against itself: it must be the canonical encoding of a record (see
// Record.MarshalJSON) whose Hash is the SHA-256 of the line up to `,"hash":`.
// The error wraps ErrMalformed or ErrAltered, and never quotes the line.
// ParseLine does not look at other records; Verify checks the chain.
// It is safe for concurrent use.
func ParseLine(line []byte) (Record, error) {
	const tail = 64 + len(`"}`)
	if len(line) < len(hashField)+tail || !bytes.HasSuffix(line, []byte(`"}`)) {
		return Record{}, fmt.Errorf("%w: no hash at the end", ErrMalformed)
	}
	split := len(line) - tail - len(hashField)
	if string(line[split:split+len(hashField)]) != hashField {
		return Record{}, fmt.Errorf("%w: no hash at the end", ErrMalformed)
	}
	for _, c := range line[split+len(hashField) : len(line)-2] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return Record{}, fmt.Errorf("%w: hash is not lowercase hex", ErrMalformed)
		}
	}
	var r Record
	if err := r.unmarshal(line); err != nil {
		return Record{}, err
	}
	if !bytes.Equal(appendLine(make([]byte, 0, len(line)), &r), line) {
		return Record{}, fmt.Errorf("%w: not in canonical form", ErrMalformed)
	}
	sum := sha256.Sum256(line[:split])
	if r.Hash != hex.EncodeToString(sum[:]) {
		return Record{}, ErrAltered
	}
	return r, nil
}

// UnmarshalJSON reads a record written by MarshalJSON. Unlike ParseLine it
// accepts any JSON that names known fields and checks no hash.
func (r *Record) UnmarshalJSON(data []byte) error {
	return r.unmarshal(data)
}

// wireRecord is a line's JSON as encoding/json reads it.
type wireRecord struct {
	Seq          uint64       `json:"seq"`
	Time         time.Time    `json:"time"`
	RequestID    string       `json:"request_id"`
	Principal    string       `json:"principal"`
	Tenant       string       `json:"tenant"`
	Operation    string       `json:"operation"`
	Provider     string       `json:"provider"`
	Endpoint     string       `json:"endpoint"`
	Key          string       `json:"key"`
	Model        string       `json:"model"`
	Priority     string       `json:"priority"`
	Attempts     int          `json:"attempts"`
	Outcome      string       `json:"outcome"`
	Status       int          `json:"status"`
	ErrorClass   string       `json:"error_class"`
	InputTokens  int          `json:"input_tokens"`
	OutputTokens int          `json:"output_tokens"`
	LatencyMS    json.Number  `json:"latency_ms"`
	CacheHit     string       `json:"cache_hit"`
	BatchID      string       `json:"batch_id"`
	Content      *wireContent `json:"content"`
	Prev         string       `json:"prev"`
	Hash         string       `json:"hash"`
}

type wireContent struct {
	Request  string `json:"request"`
	Response string `json:"response"`
}

// unmarshal decodes data into r. It ignores unknown fields; ParseLine
// refuses them by comparing the line with the record's canonical encoding.
func (r *Record) unmarshal(data []byte) error {
	var w wireRecord
	if err := json.Unmarshal(data, &w); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var latency time.Duration
	if w.LatencyMS != "" {
		var err error
		if latency, err = parseMillis(string(w.LatencyMS)); err != nil {
			return fmt.Errorf("%w: latency_ms: %v", ErrMalformed, err)
		}
	}
	*r = Record{
		Seq: w.Seq, Time: w.Time, RequestID: w.RequestID, Principal: w.Principal, Tenant: w.Tenant,
		Operation: w.Operation, Provider: w.Provider, Endpoint: w.Endpoint, Key: w.Key, Model: w.Model,
		Priority: w.Priority, Attempts: w.Attempts, Outcome: w.Outcome, Status: w.Status,
		ErrorClass: w.ErrorClass, InputTokens: w.InputTokens, OutputTokens: w.OutputTokens,
		Latency: latency, CacheHit: w.CacheHit, BatchID: w.BatchID, Prev: w.Prev, Hash: w.Hash,
	}
	if w.Content != nil {
		r.Content = &Content{Request: w.Content.Request, Response: w.Content.Response}
	}
	return nil
}

// parseMillis reads what appendMillis writes: [-]digits[.digits], at most
// six digits after the point, within the range of time.Duration.
func parseMillis(s string) (time.Duration, error) {
	neg := len(s) > 0 && s[0] == '-'
	if neg {
		s = s[1:]
	}
	whole, frac, dot := s, "", false
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			whole, frac, dot = s[:i], s[i+1:], true
			break
		}
	}
	if whole == "" || (dot && (frac == "" || len(frac) > 6)) {
		return 0, errors.New("not a decimal of milliseconds to the nanosecond")
	}
	var ms, ns uint64
	for _, c := range []byte(whole) {
		if c < '0' || c > '9' {
			return 0, errors.New("not a decimal of milliseconds to the nanosecond")
		}
		if ms > (math.MaxUint64-9)/10 {
			return 0, errors.New("out of range")
		}
		ms = ms*10 + uint64(c-'0')
	}
	for i := 0; i < 6; i++ {
		ns *= 10
		if i < len(frac) {
			c := frac[i]
			if c < '0' || c > '9' {
				return 0, errors.New("not a decimal of milliseconds to the nanosecond")
			}
			ns += uint64(c - '0')
		}
	}
	const limit = uint64(math.MaxInt64) + 1 // |math.MinInt64|
	if ms > limit/1e6 {
		return 0, errors.New("out of range")
	}
	u := ms*1e6 + ns
	if u > limit || (u == limit && !neg) {
		return 0, errors.New("out of range")
	}
	if neg {
		return time.Duration(-u), nil
	}
	return time.Duration(u), nil
}
