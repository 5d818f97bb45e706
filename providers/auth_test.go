package providers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// countingSource issues tok-1, tok-2, … each living ttl.
type countingSource struct {
	n   atomic.Int64
	ttl time.Duration
	err error
}

func (s *countingSource) Token(context.Context) (providers.Token, error) {
	if s.err != nil {
		return providers.Token{}, s.err
	}
	return providers.Token{Value: fmt.Sprintf("tok-%d", s.n.Add(1)), ExpiresIn: s.ttl}, nil
}

func bearerOf(t *testing.T, a providers.Authenticator) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "http://upstream.invalid/x", nil)
	require.NoError(t, err)
	require.NoError(t, a.Authorize(context.Background(), req, nil))
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer ")
}

func TestTokenAuthCachesAndRefreshesBeforeExpiry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ttl       time.Duration
		stillUsed time.Duration // the first token is still sent this long after issue
		replaced  time.Duration // and replaced by then
	}{
		{"hour token: 5 min early", time.Hour, 54 * time.Minute, 55 * time.Minute},
		{"short token: at half life", 4 * time.Minute, 119 * time.Second, 2 * time.Minute},
		{"no lifetime given: default", 0, providers.DefaultTokenLifetime - providers.DefaultRefreshEarly - time.Second, providers.DefaultTokenLifetime - providers.DefaultRefreshEarly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := clocktest.New(t)
			var seen []string
			src := &countingSource{ttl: tc.ttl}
			a := providers.NewTokenAuth(src, providers.TokenAuthOptions{Clock: clk, OnToken: func(s string) { seen = append(seen, s) }})
			start := clk.Now()
			assert.Equal(t, "tok-1", bearerOf(t, a))
			clk.Set(start.Add(tc.stillUsed))
			assert.Equal(t, "tok-1", bearerOf(t, a), "cached until it is due")
			clk.Set(start.Add(tc.replaced))
			assert.Equal(t, "tok-2", bearerOf(t, a), "replaced before it expires")
			assert.Equal(t, []string{"tok-1", "tok-2"}, seen, "OnToken sees every token before use")
			assert.Equal(t, 2, a.Issued())
		})
	}
}

func TestTokenAuthFetchesOnceForConcurrentCallers(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int64
	src := providers.TokenSourceFunc(func(ctx context.Context) (providers.Token, error) {
		calls.Add(1)
		<-release
		return providers.Token{Value: "shared", ExpiresIn: time.Hour}, nil
	})
	a := providers.NewTokenAuth(src, providers.TokenAuthOptions{Clock: clocktest.New(t)})
	var wg sync.WaitGroup
	got := make([]string, 16)
	for i := range got {
		wg.Add(1)
		go func() { defer wg.Done(); got[i] = bearerOf(t, a) }()
	}
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 10*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.EqualValues(t, 1, calls.Load(), "one fetch serves every waiting caller")
	for _, g := range got {
		assert.Equal(t, "shared", g)
	}
}

func TestTokenAuthRefreshDropsOnlyTheCurrentToken(t *testing.T) {
	src := &countingSource{ttl: time.Hour}
	a := providers.NewTokenAuth(src, providers.TokenAuthOptions{Clock: clocktest.New(t)})
	stale, err := http.NewRequest(http.MethodGet, "http://upstream.invalid/", nil)
	require.NoError(t, err)
	require.NoError(t, a.Authorize(context.Background(), stale, nil)) // tok-1
	assert.True(t, a.Refresh(stale))
	assert.Equal(t, "tok-2", bearerOf(t, a), "a refused current token is replaced")
	// A second request refused with tok-1 (sent before the refresh) must
	// not throw away tok-2.
	assert.True(t, a.Refresh(stale))
	assert.Equal(t, "tok-2", bearerOf(t, a))
}

func TestTokenAuthSourceFailures(t *testing.T) {
	boom := errors.New("token endpoint unreachable")
	for _, tc := range []struct {
		name string
		src  providers.TokenSource
		want []error
	}{
		{"error", &countingSource{err: boom}, []error{providers.ErrNoToken, boom}},
		{"refused", &countingSource{err: fmt.Errorf("%w: invalid_grant", providers.ErrCredentialRefused)}, []error{providers.ErrNoToken, providers.ErrCredentialRefused}},
		{"empty token", providers.TokenSourceFunc(func(context.Context) (providers.Token, error) { return providers.Token{}, nil }), []error{providers.ErrNoToken}},
		{"panic", providers.TokenSourceFunc(func(context.Context) (providers.Token, error) { panic("bad source") }), []error{providers.ErrNoToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := providers.NewTokenAuth(tc.src, providers.TokenAuthOptions{})
			req, err := http.NewRequest(http.MethodGet, "http://upstream.invalid/", nil)
			require.NoError(t, err)
			err = a.Authorize(context.Background(), req, nil)
			var te *providers.TokenError
			require.ErrorAs(t, err, &te)
			for _, w := range tc.want {
				assert.ErrorIs(t, err, w)
			}
			assert.Empty(t, req.Header.Get("Authorization"))
		})
	}
}

// tokenUpstream accepts only the tokens in valid and counts what it saw.
type tokenUpstream struct {
	mu    sync.Mutex
	valid map[string]bool
	seen  []string
}

func (u *tokenUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	u.mu.Lock()
	u.seen = append(u.seen, tok)
	ok := u.valid[tok]
	u.mu.Unlock()
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"error":{"message":"token expired"}}`))
		return
	}
	_, _ = w.Write([]byte(`{}`))
}

func (u *tokenUpstream) tokens() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

func sendWith(t *testing.T, url string, key providers.Credential) error {
	t.Helper()
	c := &providers.Client{}
	call := &providers.Call{RequestID: "r1", Provider: "p", Endpoint: "e", BaseURL: url, Key: key}
	resp, err := c.Send(context.Background(), call, &providers.Exchange{Path: "/x", Body: map[string]int{"a": 1}, Auth: providers.HeaderAuth("api-key")})
	if err == nil {
		_ = resp.Body.Close()
	}
	return err
}

func TestSendRefreshesOnceOn401(t *testing.T) {
	t.Run("expired token refreshed and retried", func(t *testing.T) {
		up := &tokenUpstream{valid: map[string]bool{"tok-2": true}}
		srv := httptest.NewServer(up)
		defer srv.Close()
		auth := providers.NewTokenAuth(&countingSource{ttl: time.Hour}, providers.TokenAuthOptions{})
		require.NoError(t, sendWith(t, srv.URL, providers.NewAuthCredential("entra", auth)))
		assert.Equal(t, []string{"tok-1", "tok-2"}, up.tokens())
	})
	t.Run("second 401 is the key's failure", func(t *testing.T) {
		up := &tokenUpstream{valid: map[string]bool{}}
		srv := httptest.NewServer(up)
		defer srv.Close()
		auth := providers.NewTokenAuth(&countingSource{ttl: time.Hour}, providers.TokenAuthOptions{})
		err := sendWith(t, srv.URL, providers.NewAuthCredential("entra", auth))
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, messages.ClassAuth, ue.Class)
		assert.Equal(t, http.StatusUnauthorized, ue.Status)
		assert.Equal(t, []string{"tok-1", "tok-2"}, up.tokens(), "exactly one retry")
	})
	t.Run("a fixed secret is not retried", func(t *testing.T) {
		var n atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			assert.Equal(t, "static-key-123", r.Header.Get("Api-Key"), "Exchange.Auth places a fixed secret")
			w.WriteHeader(http.StatusUnauthorized)
		}))
		defer srv.Close()
		err := sendWith(t, srv.URL, providers.NewCredential("k", "static-key-123"))
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue)
		assert.Equal(t, messages.ClassAuth, ue.Class)
		assert.EqualValues(t, 1, n.Load())
	})
}

func TestSendClassifiesCredentialFailures(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { n.Add(1) }))
	defer srv.Close()
	for _, tc := range []struct {
		name string
		err  error
		want messages.ErrorClass
	}{
		{"issuer refused the credential", fmt.Errorf("%w: invalid_client", providers.ErrCredentialRefused), messages.ClassAuth},
		{"token endpoint down", errors.New("dial tcp: connection refused"), messages.ClassConnection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := providers.NewTokenAuth(&countingSource{err: tc.err}, providers.TokenAuthOptions{})
			err := sendWith(t, srv.URL, providers.NewAuthCredential("entra", auth))
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tc.want, ue.Class)
			assert.Equal(t, "entra", ue.Key)
		})
	}
	assert.Zero(t, n.Load(), "nothing is sent without a credential")
}

// signer is an Authenticator that signs the exact body it is given.
type signer struct{}

func (signer) Authorize(_ context.Context, req *http.Request, body []byte) error {
	req.Header.Set("X-Signature", fmt.Sprintf("%s %s %d", req.Method, req.URL.Path, len(body)))
	return nil
}

func TestSendAuthorizesTheFinalRequest(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	require.NoError(t, sendWith(t, srv.URL+"/prefix", providers.NewAuthCredential("sigv4", signer{})))
	assert.Equal(t, "POST /prefix/x 7", got.Get("X-Signature"), `the signer sees the full path and the body {"a":1}`)
	assert.Empty(t, got.Get("Api-Key"), "an Authenticator replaces the adapter's key header")
}

func TestTokenLifetime(t *testing.T) {
	assert.Equal(t, 3599*time.Second, providers.TokenLifetime(3599, time.Time{}), "expires_in wins: no clock read")
	assert.Equal(t, time.Hour, providers.TokenLifetime(3600, time.Now().Add(time.Minute)), "expires_in over a computed expiry")
	assert.Zero(t, providers.TokenLifetime(0, time.Time{}), "neither given")
	d := providers.TokenLifetime(0, time.Now().Add(10*time.Minute))
	assert.True(t, d > 9*time.Minute && d <= 10*time.Minute, "from the expiry: %v", d)
	assert.Equal(t, time.Nanosecond, providers.TokenLifetime(0, time.Now().Add(-time.Minute)), "an expired token still has a lifetime")
}
