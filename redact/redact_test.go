package redact

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
)

const (
	keySK    = "sk-proj-Zq8xW2vN4mK7pL1rT5yB9cD3"
	keyPlain = "plain key&with<odd>/chars+=?"
	keyAcc   = "AKIAREDACTTEST7Q2XZ"
	keySec   = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzq9aB0"
	keyShort = "k3y"
)

func testRedactor() *Redactor {
	return New(keySK, keyPlain, keyAcc+":"+keySec, keyShort, "")
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func jsonQuoted(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Every form a secret takes is removed, wherever it sits in the text.
func TestStringRemovesEveryForm(t *testing.T) {
	r := testRedactor()
	for _, tc := range []struct {
		name, in string
		gone     []string
	}{
		{"raw", "Incorrect API key provided: " + keySK + ".", []string{keySK}},
		{"bearer", "Authorization: Bearer " + keySK, []string{keySK}},
		{"query escaped", "GET /v1/models?key=" + url.QueryEscape(keyPlain), []string{url.QueryEscape(keyPlain)}},
		{"path escaped", "/keys/" + url.PathEscape(keyPlain) + "/x", []string{url.PathEscape(keyPlain)}},
		{"json escaped", `{"error":` + jsonQuoted("bad key "+keyPlain) + `}`, []string{jsonQuoted(keyPlain)[1 : len(jsonQuoted(keyPlain))-1]}},
		{"go quoted", strconv.Quote(keyPlain), []string{keyPlain, strconv.Quote(keyPlain)}},
		{"base64 of the key", "token " + b64(keySK), []string{b64(keySK), strings.TrimRight(b64(keySK), "=")}},
		{"base64 url alphabet", base64.RawURLEncoding.EncodeToString([]byte(keySec)), []string{base64.RawURLEncoding.EncodeToString([]byte(keySec))}},
		{"basic user:key", "Authorization: Basic " + b64("user:"+keySK), []string{b64("user:" + keySK)}},
		{"basic u:key", "Basic " + b64("u:"+keySK), []string{b64("u:" + keySK)}},
		{"basic :key", "Basic " + b64(":"+keySK), []string{b64(":" + keySK)}},
		{"basic access:secret", "Basic " + b64(keyAcc+":"+keySec), []string{b64(keyAcc + ":" + keySec)}},
		{"s3 access alone", "<AWSAccessKeyId>" + keyAcc + "</AWSAccessKeyId>", []string{keyAcc}},
		{"s3 secret alone", "secret=" + keySec, []string{keySec}},
		{"s3 secret query escaped", "x-amz?s=" + url.QueryEscape(keySec), []string{url.QueryEscape(keySec)}},
		{"short secret", "the key k3y leaked", []string{keyShort}},
		{"two secrets adjacent", keySK + keySec, []string{keySK, keySec}},
		{"clipped secret", "key " + keySK[:12] + clipMark, []string{keySK[:12]}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := r.String(tc.in)
			assert.Contains(t, out, Marker)
			for _, g := range tc.gone {
				assert.NotContains(t, out, g)
			}
			assert.True(t, r.Contains(tc.in))
			assert.False(t, r.Contains(out), "scrubbed text still holds a secret: %q", out)
		})
	}
}

// Text without secrets comes back as it is, without allocating.
func TestStringCleanIsUntouchedAndAllocationFree(t *testing.T) {
	r := testRedactor()
	for _, s := range []string{"", "HTTP 429: rate limited, try again in 2s", "sk-proj-other-key", "plain key", strings.Repeat("x", 4096) + clipMark} {
		assert.Equal(t, s, r.String(s))
		assert.False(t, r.Contains(s))
	}
	clean := "upstream said: model overloaded, request_id=req_0123456789"
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = r.String(clean) }))
	e := &messages.UpstreamError{Provider: "openai", Endpoint: "primary", Key: "k1", Status: 503, Message: "overloaded", UpstreamRequestID: "req_1"}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = r.UpstreamError(e) }))
	c := &messages.StreamChunk{RequestID: "r", Text: "hello", Type: messages.ChunkText}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = r.Chunk(c) }))
	var ev messages.Event = &messages.KeyCooldown{Provider: "p", Endpoint: "e", Key: "k", Reason: "429 rate limited"}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = r.Event(ev) }))
}

// A nil or empty Redactor redacts nothing and never panics.
func TestNilAndEmptyRedactor(t *testing.T) {
	for _, r := range []*Redactor{nil, New(), New("")} {
		assert.Equal(t, keySK, r.String(keySK))
		assert.False(t, r.Contains(keySK))
		err := errors.New(keySK)
		assert.Same(t, err, r.Error(err))
		assert.Nil(t, r.Error(nil))
		assert.Nil(t, r.UpstreamError(nil))
		assert.Nil(t, r.Chunk(nil))
		assert.Nil(t, r.Event(nil))
		r.Response(nil)
	}
}

// leakIn fails if any secret of the test redactor appears in s.
func leakIn(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range []string{keySK, keyPlain, keyAcc, keySec, jsonQuoted(keyPlain)[1 : len(jsonQuoted(keyPlain))-1]} {
		assert.NotContains(t, s, k, "%s leaks", what)
	}
}

// Typed errors come back as scrubbed copies of the same type: every string
// field is clean, errors.Is and errors.As work, the original is unchanged.
func TestErrorScrubsTypedErrorsAndKeepsIsAs(t *testing.T) {
	r := testRedactor()
	tru := true
	ue := &messages.UpstreamError{RequestID: "req-1", UpstreamRequestID: keySK, Provider: "openai", Endpoint: "primary", Key: "k1",
		Status: 401, Type: "invalid " + keyPlain, Code: keySec, Message: "Incorrect API key provided: " + keySK, Class: messages.ClassAuth,
		RetryAfter: time.Second, ShouldRetry: &tru, Attempts: 2,
		Cause: &messages.ObjectError{Code: "InvalidAccessKeyId", Bucket: "b", Key: "o", Message: "key " + keyAcc}}
	re := &messages.RequestError{RequestID: "req-1", Provider: "openai", Kind: messages.ErrDeadline, Detail: "detail " + keySK,
		Cause: fmt.Errorf("wrapped %s: %w", keySec, context.DeadlineExceeded), Last: ue}
	for _, tc := range []struct {
		name string
		err  error
	}{{"upstream", ue}, {"request", re}} {
		t.Run(tc.name, func(t *testing.T) {
			before := fmt.Sprintf("%#v", tc.err)
			out := r.Error(tc.err)
			require.NotNil(t, out)
			j, err := json.Marshal(out)
			require.NoError(t, err)
			for _, s := range []string{out.Error(), fmt.Sprintf("%v", out), fmt.Sprintf("%+v", out), fmt.Sprintf("%#v", out), string(j)} {
				leakIn(t, "error text", s)
			}
			assert.Equal(t, before, fmt.Sprintf("%#v", tc.err), "the original was modified")
			var gotUE *messages.UpstreamError
			require.ErrorAs(t, out, &gotUE)
			leakIn(t, "UpstreamError fields", strings.Join([]string{gotUE.RequestID, gotUE.UpstreamRequestID, gotUE.Type, gotUE.Code, gotUE.Message}, " "))
			assert.Equal(t, 401, gotUE.Status)
			assert.Equal(t, messages.ClassAuth, gotUE.Class)
			assert.Equal(t, time.Second, gotUE.RetryAfter)
			assert.Same(t, &tru, gotUE.ShouldRetry)
			assert.Equal(t, 2, gotUE.Attempts)
			assert.ErrorIs(t, out, messages.ErrUpstream)
			var oe *messages.ObjectError
			require.ErrorAs(t, out, &oe)
			leakIn(t, "ObjectError", oe.Message)
			assert.Equal(t, "InvalidAccessKeyId", oe.Code)
		})
	}
	out := r.Error(re)
	var gotRE *messages.RequestError
	require.ErrorAs(t, out, &gotRE)
	leakIn(t, "RequestError.Detail", gotRE.Detail)
	assert.ErrorIs(t, out, messages.ErrDeadline)
	assert.ErrorIs(t, out, context.DeadlineExceeded, "an opaque cause still matches what it wrapped")
	leakIn(t, "RequestError.Cause", gotRE.Cause.Error())
}

func TestErrorOtherTypes(t *testing.T) {
	r := testRedactor()
	t.Run("url error", func(t *testing.T) {
		in := &url.Error{Op: "Post", URL: "https://api.example/v1?key=" + url.QueryEscape(keyPlain), Err: io.ErrUnexpectedEOF}
		out := r.Error(in)
		var ue *url.Error
		require.ErrorAs(t, out, &ue)
		leakIn(t, "url", ue.URL)
		assert.NotContains(t, ue.URL, url.QueryEscape(keyPlain))
		assert.ErrorIs(t, out, io.ErrUnexpectedEOF)
	})
	t.Run("plain error with the key", func(t *testing.T) {
		out := r.Error(fmt.Errorf("dial %s: %w", keySK, io.EOF))
		leakIn(t, "opaque", out.Error()+fmt.Sprintf("%#v", out))
		assert.ErrorIs(t, out, io.EOF)
	})
	t.Run("clean errors are kept", func(t *testing.T) {
		for _, err := range []error{io.EOF, context.Canceled, &messages.QueueFullError{RequestID: "r"},
			&messages.UpstreamError{Message: "fine", Cause: io.EOF}} {
			assert.Same(t, err, r.Error(err))
		}
	})
	t.Run("typed nil", func(t *testing.T) {
		var ue *messages.UpstreamError
		var err error = ue
		assert.Equal(t, err, r.Error(err))
	})
	t.Run("queue circuit rate", func(t *testing.T) {
		for _, err := range []error{&messages.QueueFullError{RequestID: keySK}, &messages.CircuitOpenError{RequestID: "r", Provider: keySK},
			&messages.RateLimitedError{RequestID: "r", Provider: keySK}} {
			out := r.Error(err)
			leakIn(t, "error", fmt.Sprintf("%v %#v", out, out))
			assert.IsType(t, err, out)
		}
	})
}

func TestEventChunkResponse(t *testing.T) {
	r := testRedactor()
	ev := &messages.BreakerStateChanged{Provider: "p", Endpoint: "e", To: messages.Open, Reason: "5 consecutive failures: " + keySK, Trips: 2}
	out := r.Event(ev)
	got, ok := out.(*messages.BreakerStateChanged)
	require.True(t, ok)
	leakIn(t, "event", fmt.Sprintf("%#v", got))
	assert.Equal(t, 2, got.Trips)
	assert.Equal(t, messages.Open, got.To)
	assert.Contains(t, ev.Reason, keySK, "the original event is not modified")
	_, _, attrs := out.Log()
	leakIn(t, "event log", fmt.Sprint(attrs...))

	c := &messages.StreamChunk{RequestID: "r", Seq: 3, Type: messages.ChunkText, Text: "echo " + keySK,
		ToolCall: &messages.ToolCallDelta{Arguments: keySec}, Progress: &messages.ObjectProgress{Object: keyAcc}}
	cc := r.Chunk(c)
	leakIn(t, "chunk", cc.Text+cc.ToolCall.Arguments+cc.Progress.Object)
	assert.Equal(t, 3, cc.Seq)
	assert.Contains(t, c.Text, keySK, "the original chunk is not modified")

	resp := &messages.ChatResponse{Meta: messages.Meta{RequestID: "r", UpstreamRequestID: keySK, Attempts: 1}}
	r.Response(resp)
	leakIn(t, "meta", resp.UpstreamRequestID)
	assert.Equal(t, Marker, resp.UpstreamRequestID)
	assert.Equal(t, 1, resp.Attempts)
}

func TestHandlerScrubsRecords(t *testing.T) {
	r := testRedactor()
	var buf bytes.Buffer
	log := Logger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), r)
	log = log.With("with", "attr "+keySK).WithGroup("g")
	log.Debug("message "+keyPlain, "s", keySec, "err", fmt.Errorf("x %s", keyAcc),
		slog.Group("inner", "v", keySK), "any", struct{ K string }{keySK}, "n", 42)
	log.Info("clean line", "k", "v")
	text := buf.String()
	leakIn(t, "log", text)
	assert.Contains(t, text, Marker)
	assert.Contains(t, text, `"n":42`)
	assert.Contains(t, text, `"msg":"clean line"`)
	assert.Nil(t, Logger(nil, r))
	plain := slog.New(slog.DiscardHandler)
	assert.Same(t, plain, Logger(plain, New()))
}

func TestCredentialHeader(t *testing.T) {
	for name, want := range map[string]bool{"Authorization": true, "x-api-key": true, "X-Goog-Api-Key": true, "api-token": true,
		"Cookie": true, "Proxy-Authorization": true, "OpenAI-Organization": false, "Content-Type": false, "X-Request-ID": false} {
		assert.Equal(t, want, CredentialHeader(name), name)
	}
}

// Many goroutines share one Redactor (run with -race).
func TestConcurrentUse(t *testing.T) {
	r := testRedactor()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				s := fmt.Sprintf("%d/%d %s %s", i, j, keySK, b64("u:"+keySec))
				out := r.String(s)
				if !assert.False(t, r.Contains(out), "leak in %q", out) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// FuzzString: whatever the secret and the text around its forms, no form
// survives (outside the markers), and text without a secret is unchanged.
func FuzzString(f *testing.F) {
	f.Add("sk-proj-abcdefgh12345678", "prefix ", " suffix", uint8(0))
	f.Add("AKIAX:wJalr/K7+=", "<Error>", "</Error>", uint8(3))
	f.Add("k", "", "", uint8(5))
	f.Add("p@ss wörd&<>", "Basic ", "", uint8(4))
	f.Fuzz(func(t *testing.T, secret, before, after string, form uint8) {
		if secret == "" || strings.ContainsAny(secret, "\x00") || strings.Contains(Marker, secret) {
			return // no secret to hide, or one the marker itself contains
		}
		r := New(secret)
		encoded := []string{
			secret, "Bearer " + secret, url.QueryEscape(secret), url.PathEscape(secret),
			jsonQuoted(secret), strconv.Quote(secret), b64(secret), b64("user:" + secret), b64("ab:" + secret),
			base64.RawURLEncoding.EncodeToString([]byte(":" + secret)),
		}
		inserted := encoded[int(form)%len(encoded)]
		in := before + inserted + after
		out := r.String(in)
		masked := strings.ReplaceAll(out, Marker, "\x00")
		assert.NotContains(t, masked, secret)
		if len(secret) >= 5 {
			// Long enough for every base64 alignment to hold whole groups
			// (shorter secrets are found raw and in their own encodings).
			assert.NotContains(t, masked, inserted)
			assert.NotEqual(t, in, out)
		}
		clean := strings.ReplaceAll(before, secret, "")
		if !r.Contains(clean) {
			assert.Equal(t, clean, r.String(clean))
		}
	})
}

func BenchmarkStringClean(b *testing.B) {
	secrets := []string{keySK, keyPlain, keyAcc + ":" + keySec}
	for i := range 17 {
		secrets = append(secrets, fmt.Sprintf("sk-bench-%02d-0123456789abcdefghij", i))
	}
	r := New(secrets...)
	for _, size := range []int{16, 1024} {
		s := strings.Repeat("the model answers a question ", size/29+1)[:size]
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = r.String(s)
			}
		})
	}
}

func TestTrackRedactsIssuedCredentialsAndForgetsOldOnes(t *testing.T) {
	r := New("static-secret-value-1")
	first := "ya29.token-number-0000"
	require.Equal(t, "Bearer "+first, r.String("Bearer "+first), "not tracked yet")
	r.Track("vertex-sa", first)
	assert.Equal(t, "Bearer "+Marker, r.String("Bearer "+first))
	assert.Equal(t, Marker, r.String(b64(first)), "encoded forms of a tracked token")
	assert.Equal(t, Marker, r.String("static-secret-value-1"), "static secrets stay")

	for i := 1; i <= TrackedPerOwner; i++ {
		r.Track("vertex-sa", fmt.Sprintf("ya29.token-number-%04d", i))
	}
	assert.False(t, r.Contains(first), "the oldest value is dropped after %d newer ones", TrackedPerOwner)
	for i := 1; i <= TrackedPerOwner; i++ {
		assert.True(t, r.Contains(fmt.Sprintf("ya29.token-number-%04d", i)))
	}
	r.Track("other", "another-owner-token-1")
	assert.True(t, r.Contains(fmt.Sprintf("ya29.token-number-%04d", TrackedPerOwner)), "owners are kept apart")

	var nilR *Redactor
	nilR.Track("x", "y") // a nil Redactor ignores it
	assert.Equal(t, "y", nilR.String("y"))
}

func TestTrackConcurrentWithReaders(t *testing.T) {
	r := New("static-secret-value-1")
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				tok := fmt.Sprintf("tok-%d-%04d-abcdef", g, i)
				r.Track(fmt.Sprint("owner", g), tok)
				assert.Equal(t, Marker, r.String(tok))
			}
		}()
	}
	wg.Wait()
}
