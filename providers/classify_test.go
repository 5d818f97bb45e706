package providers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

func TestClassifyStatus(t *testing.T) {
	cases := []struct {
		status    int
		class     messages.ErrorClass
		retryable bool
		breaker   bool
	}{
		{400, messages.ClassInvalid, false, false},
		{401, messages.ClassAuth, false, false},
		{403, messages.ClassAuth, false, false},
		{404, messages.ClassInvalid, false, false},
		{408, messages.ClassServer, true, true},
		{409, messages.ClassServer, true, true},
		{413, messages.ClassInvalid, false, false},
		{422, messages.ClassInvalid, false, false},
		{429, messages.ClassRateLimited, true, false},
		{500, messages.ClassServer, true, true},
		{502, messages.ClassServer, true, true},
		{503, messages.ClassServer, true, true},
		{504, messages.ClassServer, true, true},
		{529, messages.ClassServer, true, true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			got := ClassifyStatus(c.status)
			require.Equal(t, c.class, got, "status %d → %s (retryable %v, breaker %v), want %s (%v, %v)", c.status, got, got.Retryable(), got.BreakerFailure(), c.class, c.retryable, c.breaker)
			require.Equal(t, c.retryable, got.Retryable(), "status %d → %s (retryable %v, breaker %v), want %s (%v, %v)", c.status, got, got.Retryable(), got.BreakerFailure(), c.class, c.retryable, c.breaker)
			require.Equal(t, c.breaker, got.BreakerFailure(), "status %d → %s (retryable %v, breaker %v), want %s (%v, %v)", c.status, got, got.Retryable(), got.BreakerFailure(), c.class, c.retryable, c.breaker)
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := clocktest.Epoch()
	cases := []struct {
		name string
		h    map[string]string
		want time.Duration
	}{
		{"none", nil, 0},
		{"seconds", map[string]string{"Retry-After": "2"}, 2 * time.Second},
		{"fractional seconds", map[string]string{"Retry-After": "1.5"}, 1500 * time.Millisecond},
		{"milliseconds first", map[string]string{"Retry-After-Ms": "250", "Retry-After": "9"}, 250 * time.Millisecond},
		{"http date", map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, 90 * time.Second},
		{"date in the past", map[string]string{"Retry-After": now.Add(-time.Hour).Format(http.TimeFormat)}, 0},
		{"garbage", map[string]string{"Retry-After": "soon"}, 0},
		{"negative", map[string]string{"Retry-After": "-3"}, 0},
		{"huge is capped", map[string]string{"Retry-After": "1e12"}, maxRetryAfter},
		{"bad ms falls back to seconds", map[string]string{"Retry-After-Ms": "x", "Retry-After": "3"}, 3 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := http.Header{}
			for k, v := range c.h {
				h.Set(k, v)
			}
			require.Equal(t, c.want, RetryAfter(h, now), "RetryAfter")
		})
	}
}

func TestShouldRetry(t *testing.T) {
	for v, want := range map[string]string{"true": "true", "false": "false", "TRUE": "true", "": "nil", "maybe": "nil"} {
		h := http.Header{}
		if v != "" {
			h.Set("X-Should-Retry", v)
		}
		got := "nil"
		if b := ShouldRetry(h); b != nil {
			got = fmt.Sprint(*b)
		}
		require.Equal(t, want, got, "x-should-retry %q → %s, want %s", v, got, want)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	now := clocktest.Epoch()
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "60")
	h.Set("x-ratelimit-remaining-requests", "59")
	h.Set("x-ratelimit-reset-requests", "1s")
	h.Set("x-ratelimit-limit-tokens", "150000")
	h.Set("x-ratelimit-remaining-tokens", "149984")
	h.Set("x-ratelimit-reset-tokens", "6m0s")
	rl := OpenAIRateLimit(h, now)
	require.True(t, rl.Known, "OpenAI rate limit = %+v", rl)
	require.Equal(t, int64(60), rl.LimitRequests, "OpenAI rate limit = %+v", rl)
	require.Equal(t, int64(59), rl.RemainingRequests, "OpenAI rate limit = %+v", rl)
	require.Equal(t, int64(149984), rl.RemainingTokens, "OpenAI rate limit = %+v", rl)
	require.True(t, rl.ResetRequests.Equal(now.Add(time.Second)), "OpenAI rate limit = %+v", rl)
	require.True(t, rl.ResetTokens.Equal(now.Add(6*time.Minute)), "OpenAI rate limit = %+v", rl)
	a := http.Header{}
	a.Set("anthropic-ratelimit-requests-limit", "50")
	a.Set("anthropic-ratelimit-requests-remaining", "0")
	a.Set("anthropic-ratelimit-requests-reset", now.Add(30*time.Second).Format(time.RFC3339))
	ar := AnthropicRateLimit(a, now)
	require.True(t, ar.Known, "Anthropic rate limit = %+v", ar)
	require.Equal(t, int64(0), ar.RemainingRequests, "Anthropic rate limit = %+v", ar)
	require.True(t, ar.ResetRequests.Equal(now.Add(30*time.Second)), "Anthropic rate limit = %+v", ar)
	require.Equal(t, int64(-1), ar.LimitTokens, "Anthropic rate limit = %+v", ar)
	none := OpenAIRateLimit(http.Header{}, now)
	require.False(t, none.Known, "no headers gave %+v", none)
}

func TestCredentialNeverPrintsSecret(t *testing.T) {
	secret := "sk-live-abcdefghijklmnopqrstuvwxyz1234"
	c := NewCredential("prod-1", secret)
	var sb strings.Builder
	log := slog.New(slog.NewTextHandler(&sb, nil))
	log.Info("key", "cred", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c), sb.String(), c.String(), c.GoString()} {
		require.NotContains(t, s, secret, "secret printed")
		require.NotContains(t, s, secret[:10], "secret printed")
	}
	require.Equal(t, "…1234", c.Hint(), "hint")
	require.Equal(t, "", Hint("short"), "hint")
	require.Equal(t, secret, c.Secret(), "Secret() must return the key for the wire")
}

func TestClientSend(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			select {
			case <-block:
			case <-r.Context().Done():
			}
		case "/err":
			w.Header().Set("Retry-After", "3")
			w.Header().Set("X-Request-Id", "up-1")
			w.WriteHeader(503)
			_, _ = w.Write([]byte(`{"error":"busy"}`))
		default:
			if r.Header.Get("Authorization") != "Bearer s3cret-value-xyz" || r.Header.Get("X-Request-Id") != "rid-1" {
				w.WriteHeader(400)
				return
			}
			_, _ = w.Write([]byte(`{"ok":true}`))
		}
	}))
	defer srv.Close()
	defer close(block)
	c := &Client{HeaderTimeout: 100 * time.Millisecond}
	newCall := func() *Call {
		return &Call{RequestID: "rid-1", Provider: "p", Endpoint: "e", BaseURL: srv.URL, Key: NewCredential("k", "s3cret-value-xyz")}
	}
	ctx := context.Background()

	call := newCall()
	resp, err := c.Send(ctx, call, &Exchange{Path: "/ok", Body: map[string]any{"a": 1}, Auth: BearerAuth})
	require.NoError(t, err, "ok")
	var v struct{ OK bool }
	require.NoError(t, c.DecodeJSON(ctx, call, resp, &v), "decode")
	require.True(t, v.OK, "decode: %+v", v)

	call = newCall()
	_, err = c.Send(ctx, call, &Exchange{Path: "/err", Auth: BearerAuth})
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "503")
	require.Equal(t, 503, ue.Status, "503")
	require.Equal(t, messages.ClassServer, ue.Class, "503")
	require.Equal(t, 3*time.Second, ue.RetryAfter, "503")
	require.Equal(t, "up-1", ue.UpstreamRequestID, "503")
	require.Equal(t, "k", ue.Key, "503")
	require.NotContains(t, ue.Error(), "s3cret", "error text holds the secret")

	call = newCall()
	_, err = c.Send(ctx, call, &Exchange{Path: "/slow", Auth: BearerAuth})
	require.ErrorAs(t, err, &ue, "slow headers")
	require.Equal(t, messages.ClassTimeout, ue.Class, "slow headers")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	call = newCall()
	_, err = c.Send(cctx, call, &Exchange{Path: "/ok", Auth: BearerAuth})
	require.ErrorAs(t, err, &ue, "cancelled")
	require.Equal(t, messages.ClassCancelled, ue.Class, "cancelled")
	require.ErrorIs(t, err, context.Canceled, "cancelled")

	call = newCall()
	call.BaseURL = "http://127.0.0.1:1"
	_, err = c.Send(ctx, call, &Exchange{Path: "/x?key=abc"})
	require.ErrorAs(t, err, &ue, "refused")
	require.Equal(t, messages.ClassConnection, ue.Class, "refused")
}
