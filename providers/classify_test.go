package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
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
			if got != c.class || got.Retryable() != c.retryable || got.BreakerFailure() != c.breaker {
				t.Fatalf("status %d → %s (retryable %v, breaker %v), want %s (%v, %v)", c.status, got, got.Retryable(), got.BreakerFailure(), c.class, c.retryable, c.breaker)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
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
			if got := RetryAfter(h, now); got != c.want {
				t.Fatalf("RetryAfter = %v, want %v", got, c.want)
			}
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
		if got != want {
			t.Fatalf("x-should-retry %q → %s, want %s", v, got, want)
		}
	}
}

func TestRateLimitHeaders(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("x-ratelimit-limit-requests", "60")
	h.Set("x-ratelimit-remaining-requests", "59")
	h.Set("x-ratelimit-reset-requests", "1s")
	h.Set("x-ratelimit-limit-tokens", "150000")
	h.Set("x-ratelimit-remaining-tokens", "149984")
	h.Set("x-ratelimit-reset-tokens", "6m0s")
	rl := OpenAIRateLimit(h, now)
	if !rl.Known || rl.LimitRequests != 60 || rl.RemainingRequests != 59 || rl.RemainingTokens != 149984 ||
		!rl.ResetRequests.Equal(now.Add(time.Second)) || !rl.ResetTokens.Equal(now.Add(6*time.Minute)) {
		t.Fatalf("OpenAI rate limit = %+v", rl)
	}
	a := http.Header{}
	a.Set("anthropic-ratelimit-requests-limit", "50")
	a.Set("anthropic-ratelimit-requests-remaining", "0")
	a.Set("anthropic-ratelimit-requests-reset", "2026-11-26T12:00:30Z")
	ar := AnthropicRateLimit(a, now)
	if !ar.Known || ar.RemainingRequests != 0 || !ar.ResetRequests.Equal(now.Add(30*time.Second)) || ar.LimitTokens != -1 {
		t.Fatalf("Anthropic rate limit = %+v", ar)
	}
	if none := OpenAIRateLimit(http.Header{}, now); none.Known {
		t.Fatalf("no headers gave %+v", none)
	}
}

func TestCredentialNeverPrintsSecret(t *testing.T) {
	secret := "sk-live-abcdefghijklmnopqrstuvwxyz1234"
	c := NewCredential("prod-1", secret)
	var sb strings.Builder
	log := slog.New(slog.NewTextHandler(&sb, nil))
	log.Info("key", "cred", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s %q", c, c, c, c, c), sb.String(), c.String(), c.GoString()} {
		if strings.Contains(s, secret) || strings.Contains(s, secret[:10]) {
			t.Fatalf("secret printed: %q", s)
		}
	}
	if c.Hint() != "…1234" || Hint("short") != "" {
		t.Fatalf("hint = %q", c.Hint())
	}
	if c.Secret() != secret {
		t.Fatal("Secret() must return the key for the wire")
	}
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
	if err != nil {
		t.Fatalf("ok: %v", err)
	}
	var v struct{ OK bool }
	if err := c.DecodeJSON(ctx, call, resp, &v); err != nil || !v.OK {
		t.Fatalf("decode: %v %+v", err, v)
	}

	call = newCall()
	_, err = c.Send(ctx, call, &Exchange{Path: "/err", Auth: BearerAuth})
	var ue *messages.UpstreamError
	if !errors.As(err, &ue) || ue.Status != 503 || ue.Class != messages.ClassServer || ue.RetryAfter != 3*time.Second || ue.UpstreamRequestID != "up-1" || ue.Key != "k" {
		t.Fatalf("503: %#v", err)
	}
	if strings.Contains(ue.Error(), "s3cret") {
		t.Fatal("error text holds the secret")
	}

	call = newCall()
	_, err = c.Send(ctx, call, &Exchange{Path: "/slow", Auth: BearerAuth})
	if !errors.As(err, &ue) || ue.Class != messages.ClassTimeout {
		t.Fatalf("slow headers: %v", err)
	}

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	call = newCall()
	_, err = c.Send(cctx, call, &Exchange{Path: "/ok", Auth: BearerAuth})
	if !errors.As(err, &ue) || ue.Class != messages.ClassCancelled || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}

	call = newCall()
	call.BaseURL = "http://127.0.0.1:1"
	_, err = c.Send(ctx, call, &Exchange{Path: "/x?key=abc"})
	if !errors.As(err, &ue) || ue.Class != messages.ClassConnection {
		t.Fatalf("refused: %v", err)
	}
}
