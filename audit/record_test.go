package audit

import (
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

func TestRecordRoundTrip(t *testing.T) {
	epoch := clocktest.Epoch()
	tests := []struct {
		name string
		edit func(*Record)
		want func(*Record) // the record as it reads back, if not as written
	}{
		{name: "all fields", edit: func(r *Record) {
			r.ErrorClass, r.BatchID = "rate_limited", "batch_123"
		}},
		{name: "zero record", edit: func(r *Record) { *r = Record{} }},
		{name: "content", edit: func(r *Record) {
			r.Content = &Content{Request: `{"messages":[{"role":"user","content":"hi \"there\"\n"}]}`, Response: "héllo ✓ \u2028 <b>&</b>"}
		}},
		{name: "empty content", edit: func(r *Record) { r.Content = &Content{} }},
		{name: "control characters", edit: func(r *Record) { r.Model = "a\x00b\x1fc\td\re\\f\x7f" }},
		{name: "invalid UTF-8 reads back as U+FFFD", edit: func(r *Record) { r.Tenant = "t\xffe\xc3" }, want: func(r *Record) { r.Tenant = "t\uFFFDe\uFFFD" }},
		{name: "time in another zone reads back in UTC", edit: func(r *Record) { r.Time = epoch.In(time.FixedZone("x", 5*3600+1800)) }, want: func(r *Record) { r.Time = epoch }},
		{name: "time beyond year 9999 is written as zero", edit: func(r *Record) { r.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, want: func(r *Record) { r.Time = time.Time{} }},
		{name: "negative latency", edit: func(r *Record) { r.Latency = -1500 * time.Microsecond }},
		{name: "smallest latency", edit: func(r *Record) { r.Latency = math.MinInt64 }},
		{name: "largest latency", edit: func(r *Record) { r.Latency = math.MaxInt64 }},
		{name: "one nanosecond", edit: func(r *Record) { r.Latency = 1 }},
		{name: "negative counts", edit: func(r *Record) {
			r.Attempts, r.Status, r.InputTokens, r.OutputTokens = -1, -2, math.MinInt64, math.MaxInt64
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := sample(7)
			tt.edit(&r)
			var c chain
			line := c.seal(nil, &r)
			got, err := ParseLine(line)
			require.NoError(t, err)
			want := r
			want.Time = r.Time.UTC()
			if tt.want != nil {
				tt.want(&want)
			}
			assert.Equal(t, want, got)

			// MarshalJSON gives the same line; UnmarshalJSON reads it.
			data, err := json.Marshal(r)
			require.NoError(t, err)
			assert.Equal(t, string(line), string(data))
			var back Record
			require.NoError(t, json.Unmarshal(data, &back))
			assert.Equal(t, want, back)
		})
	}
}

func TestEncodingFieldOrder(t *testing.T) {
	r := sample(1)
	r.Content = &Content{Request: "q", Response: "a"}
	var c chain
	line := string(c.seal(nil, &r))
	keys := regexp.MustCompile(`"([a-z_]+)":`).FindAllStringSubmatch(line, -1)
	var names []string
	for _, k := range keys {
		names = append(names, k[1])
	}
	assert.Equal(t, []string{"seq", "time", "request_id", "principal", "tenant", "operation", "provider", "endpoint",
		"key", "model", "priority", "attempts", "outcome", "status", "error_class", "input_tokens", "output_tokens",
		"latency_ms", "cache_hit", "batch_id", "content", "request", "response", "prev", "hash"}, names)
	assert.NotContains(t, line, " ")
	assert.Contains(t, line, `"time":"`+r.Time.UTC().Format(time.RFC3339Nano)+`"`)
}

func TestLatencyEncoding(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0"},
		{1, "0.000001"},
		{time.Millisecond, "1"},
		{1500 * time.Microsecond, "1.5"},
		{12*time.Second + 345678901, "12345.678901"},
		{-time.Millisecond - 10, "-1.00001"},
		{math.MaxInt64, "9223372036854.775807"},
		{math.MinInt64, "-9223372036854.775808"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, string(appendMillis(nil, tt.d)))
			d, err := parseMillis(tt.want)
			require.NoError(t, err)
			assert.Equal(t, tt.d, d)
		})
	}
	for _, bad := range []string{"", "-", ".5", "1.", "1.0000001", "1e3", "+1", "9223372036854.775808", "-9223372036854.775809", "99999999999999999999999", "1.x"} {
		_, err := parseMillis(bad)
		assert.Error(t, err, bad)
	}
}

// TestContentOnlyWhenOptedIn is the canary: a request whose prompt holds a
// secret-looking text leaves no trace of it in its record unless Content is
// set, which the runtime does only when content logging is configured.
func TestContentOnlyWhenOptedIn(t *testing.T) {
	const prompt = "my password is sk-live-51HcanaryCANARYcanary"
	const answer = "noted: sk-live-51HcanaryCANARYcanary"
	type request struct{ id, principal, model, prompt string }
	build := func(req request, logContent bool) Record { // what the runtime does
		r := sample(0)
		r.RequestID, r.Principal, r.Model = req.id, req.principal, req.model
		if logContent {
			r.Content = &Content{Request: req.prompt, Response: answer}
		}
		return r
	}
	req := request{id: "req-1", principal: "alice", model: "gpt-4o", prompt: prompt}
	tests := []struct {
		name       string
		logContent bool
	}{
		{"content off", false},
		{"content on", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := build(req, tt.logContent)
			var c chain
			line := string(c.seal(nil, &r))
			if tt.logContent {
				assert.Contains(t, line, `"content":{"request":"`+prompt+`","response":"`+answer+`"}`)
				return
			}
			assert.NotContains(t, line, "content")
			assert.NotContains(t, line, "canary")
			assert.NotContains(t, strings.ToLower(line), "sk-live")
		})
	}
}

func TestParseLineRejects(t *testing.T) {
	r := sample(3)
	var c chain
	good := string(c.seal(nil, &r))
	_, err := ParseLine([]byte(good))
	require.NoError(t, err)
	// reseal hashes an edited body afresh, so only its form is wrong.
	reseal := func(body string) string { return body + hashField + sha256hex(body) + `"}` }
	body := good[:strings.Index(good, hashField)]
	tests := []struct {
		name string
		line string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"not JSON", "hello", ErrMalformed},
		{"no hash", body + "}", ErrMalformed},
		{"uppercase hash", body + hashField + strings.ToUpper(r.Hash) + `"}`, ErrMalformed},
		{"short hash", body + hashField + r.Hash[:63] + `"}`, ErrMalformed},
		{"value changed", strings.Replace(good, `"model":"gpt-4o-mini"`, `"model":"gpt-4o-maxi"`, 1), ErrAltered},
		{"hash changed", body + hashField + sha256hex("x") + `"}`, ErrAltered},
		{"unknown field", reseal(strings.Replace(body, `"seq":`, `"extra":1,"seq":`, 1)), ErrMalformed},
		{"repeated field", reseal(strings.Replace(body, `"model":"gpt-4o-mini"`, `"model":"gpt-4o-mini","model":"other"`, 1)), ErrMalformed},
		{"escaped letter", reseal(strings.Replace(body, `"model":"gpt`, `"model":"\u0067pt`, 1)), ErrMalformed},
		{"space", reseal(strings.Replace(body, `"seq":`, `"seq": `, 1)), ErrMalformed},
		{"field in capitals", reseal(strings.Replace(body, `"model":`, `"Model":`, 1)), ErrMalformed},
		{"missing field", reseal(strings.Replace(body, `"priority":"normal",`, ``, 1)), ErrMalformed},
		{"null content", reseal(strings.Replace(body, `,"prev":`, `,"content":null,"prev":`, 1)), ErrMalformed},
		{"time with offset", reseal(strings.Replace(body, `Z"`, `+00:00"`, 1)), ErrMalformed},
		{"latency with exponent", reseal(strings.Replace(body, `"latency_ms":4.5`, `"latency_ms":4.5e0`, 1)), ErrMalformed},
		{"latency as string", reseal(strings.Replace(body, `"latency_ms":4.5`, `"latency_ms":"4.5"`, 1)), ErrMalformed},
		{"seq with sign", reseal(strings.Replace(body, `"seq":1`, `"seq":-1`, 1)), ErrMalformed},
		{"trailing data", good + "{}", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotEqual(t, good, tt.line, "the case must change the line")
			_, err := ParseLine([]byte(tt.line))
			require.ErrorIs(t, err, tt.want)
			assert.NotContains(t, err.Error(), "gpt-4o", "errors never quote the record")
		})
	}
}
