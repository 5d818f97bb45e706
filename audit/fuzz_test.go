package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// FuzzParseLine feeds the line parser Verify uses anything: it must not
// panic, must fail with ErrMalformed or ErrAltered, and what it accepts must
// be exactly the canonical line of the record it returns.
func FuzzParseLine(f *testing.F) {
	_, lines := sealed(4)
	for _, l := range lines {
		f.Add(bytes.TrimSuffix(l, []byte("\n")))
	}
	r := sample(2)
	r.Content = &Content{Request: "a <b> \"c\" \u2028 \x01", Response: "é"}
	var c chain
	f.Add(c.seal(nil, &r))
	f.Add([]byte(`{"seq":1}`))
	f.Add([]byte(""))
	f.Add([]byte(`{"seq":1,"hash":"` + sha256hex("") + `"}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := ParseLine(line)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed) || errors.Is(err, ErrAltered), "unexpected error kind: %v", err)
			return
		}
		require.Equal(t, string(line), string(appendLine(nil, &r)))
		require.Equal(t, r.Hash, sha256hex(string(line[:bytes.LastIndex(line, []byte(hashField))])))
	})
}

// FuzzSealParse builds records from arbitrary values: whatever the runtime
// puts in a record, the line a FileSink writes must verify and read back.
func FuzzSealParse(f *testing.F) {
	f.Add("req-1", "alice", "gpt-4o", "ok", "hello", int64(1500000), int64(0), 200, true)
	f.Add("\xff\x00\n", "\u2028<>&\"\\", "", "", "", int64(-1), int64(1)<<62, -1, false)
	f.Fuzz(func(t *testing.T, id, principal, model, outcome, prompt string, latency, nanos int64, status int, content bool) {
		r := Record{
			Time: time.Unix(0, nanos), RequestID: id, Principal: principal, Model: model, Outcome: outcome,
			Status: status, Latency: time.Duration(latency), InputTokens: len(prompt),
		}
		if content {
			r.Content = &Content{Request: prompt, Response: id}
		}
		var c chain
		c.hash = sha256hex(model)
		line := c.seal(nil, &r)
		require.NotContains(t, string(line), "\n")
		got, err := ParseLine(line)
		require.NoError(t, err)
		require.Equal(t, r.Seq, got.Seq)
		require.Equal(t, r.Hash, got.Hash)
		require.Equal(t, r.Latency, got.Latency)
		require.True(t, json.Valid(line))
		data, err := json.Marshal(r)
		require.NoError(t, err)
		require.Equal(t, string(line), string(data), "json.Marshal gives the canonical line")
	})
}
