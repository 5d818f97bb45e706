package providers

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// Authenticator is a credential that is not a fixed secret: a refreshing
// bearer token (TokenAuth) or a request signer (AWS SigV4). Client.Send calls
// Authorize on every request, after every other header is set and instead of
// the adapter's Exchange.Auth, so a signature covers the final request.
// Implementations are safe for concurrent use.
type Authenticator interface {
	// Authorize puts the credential on req, whose body is body (nil for
	// none). An error means no credential could be had (the token endpoint
	// refused or is down); the request is not sent.
	Authorize(ctx context.Context, req *http.Request, body []byte) error
}

// Refresher is an Authenticator whose credential can be renewed after the
// upstream refused it with a 401. Client.Send calls Refresh with the refused
// request and, when it reports true, authorises and sends the request once
// more; a second 401 is the key's failure as usual (the key is judged bad).
type Refresher interface {
	// Refresh drops the credential req carried, if it is still the current
	// one, so that the next Authorize obtains a new one. It reports whether
	// a retry can carry a different credential.
	Refresh(req *http.Request) bool
}

// Token is a bearer token and how long it stays valid from the moment it
// was issued. ExpiresIn ≤ 0 means the issuer gave no lifetime.
type Token struct {
	Value     string
	ExpiresIn time.Duration
}

// TokenSource issues bearer tokens (an OAuth2 token endpoint, Entra ID,
// Google's metadata server, a host's own identity library). Each call
// should return a fresh token: TokenAuth does the caching. Implementations
// are safe for concurrent use.
type TokenSource interface {
	Token(ctx context.Context) (Token, error)
}

// TokenLifetime is how long an OAuth2 token stays valid: the token
// endpoint's expires_in (seconds; golang.org/x/oauth2 keeps it in
// Token.ExpiresIn), which reads no clock, or else the time left until
// expiry, an absolute time the library computed from the wall clock at
// receipt; 0 when the endpoint gave neither. An already expired token gets
// a nanosecond, so it is not taken for one issued without a lifetime.
func TokenLifetime(expiresIn int64, expiry time.Time) time.Duration {
	switch {
	case expiresIn > 0:
		return time.Duration(expiresIn) * time.Second
	case expiry.IsZero():
		return 0
	}
	return max(time.Until(expiry), time.Nanosecond)
}

// TokenSourceFunc adapts a function to TokenSource.
type TokenSourceFunc func(ctx context.Context) (Token, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context) (Token, error) { return f(ctx) }

// Defaults of TokenAuth.
const (
	// DefaultRefreshEarly is how long before its expiry a token is replaced.
	// A token whose whole lifetime is under twice this is replaced at half
	// its lifetime.
	DefaultRefreshEarly = 5 * time.Minute
	// DefaultTokenLifetime is assumed for a token issued without one.
	DefaultTokenLifetime = 10 * time.Minute
)

// ErrNoToken is the cause of a failure to obtain a bearer token.
var ErrNoToken = errors.New("no bearer token")

// ErrCredentialRefused marks a token source's error as the identity
// provider refusing the credential itself (OAuth2 invalid_grant or
// invalid_client, an unknown service account): Client.Send then fails the
// attempt as ClassAuth, which disables the key. Any other failure to get a
// token (the token endpoint down or slow) is ClassConnection, retried on
// another key.
var ErrCredentialRefused = errors.New("credential refused by its issuer")

// TokenAuth is an Authenticator that sends "Authorization: Bearer <token>"
// with a token from Source, cached until DefaultRefreshEarly before it
// expires (by Clock), fetched by one caller at a time while the others wait
// for it, and dropped on Refresh. OnToken, when set, sees every token issued
// (the runtime registers each with its redactor). Build it with
// NewTokenAuth; it is safe for concurrent use.
type TokenAuth struct {
	src     TokenSource
	clk     clock.Clock
	onToken func(string)
	header  string
	prefix  string

	mu       sync.Mutex
	tok      string
	refresh  time.Time // when tok is replaced
	fetching chan struct{}
	fetchErr error
	issued   int
}

// TokenAuthOptions configures NewTokenAuth.
type TokenAuthOptions struct {
	// Clock judges expiry; nil is the wall clock.
	Clock clock.Clock
	// OnToken is called with every token issued, before it is used.
	OnToken func(token string)
	// Header carries the token (default "Authorization", as "Bearer <t>");
	// another header gets the bare token.
	Header string
}

// NewTokenAuth returns a TokenAuth for src.
func NewTokenAuth(src TokenSource, o TokenAuthOptions) *TokenAuth {
	a := &TokenAuth{src: src, clk: o.Clock, onToken: o.OnToken, header: o.Header}
	if a.clk == nil {
		a.clk = clock.Real
	}
	if a.header == "" || strings.EqualFold(a.header, "Authorization") {
		a.header, a.prefix = "Authorization", "Bearer "
	}
	return a
}

// Issued reports how many tokens the source has issued so far.
func (a *TokenAuth) Issued() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.issued
}

// Authorize sets the bearer header, fetching a token when there is none or
// the current one is due for replacement.
func (a *TokenAuth) Authorize(ctx context.Context, req *http.Request, _ []byte) error {
	tok, err := a.token(ctx)
	if err != nil {
		return err
	}
	req.Header.Set(a.header, a.prefix+tok)
	return nil
}

// Refresh drops the token req carried when it is the current one.
func (a *TokenAuth) Refresh(req *http.Request) bool {
	sent := strings.TrimPrefix(req.Header.Get(a.header), a.prefix)
	a.mu.Lock()
	defer a.mu.Unlock()
	if sent != "" && sent == a.tok {
		a.tok = ""
	}
	return true
}

func (a *TokenAuth) token(ctx context.Context) (string, error) {
	for {
		a.mu.Lock()
		if a.tok != "" && a.clk.Now().Before(a.refresh) {
			tok := a.tok
			a.mu.Unlock()
			return tok, nil
		}
		if wait := a.fetching; wait != nil {
			a.mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
				return "", ctx.Err()
			}
			a.mu.Lock()
			err := a.fetchErr
			a.mu.Unlock()
			if err != nil {
				return "", err
			}
			continue
		}
		done := make(chan struct{})
		a.fetching = done
		a.mu.Unlock()

		t, err := a.fetch(ctx)

		a.mu.Lock()
		a.fetching, a.fetchErr = nil, err
		if err == nil {
			now := a.clk.Now()
			life := t.ExpiresIn
			if life <= 0 {
				life = DefaultTokenLifetime
			}
			early := DefaultRefreshEarly
			if life < 2*early {
				early = life / 2
			}
			a.tok, a.refresh = t.Value, now.Add(life-early)
			a.issued++
		}
		a.mu.Unlock()
		close(done)
		if err != nil {
			return "", err
		}
		return t.Value, nil
	}
}

func (a *TokenAuth) fetch(ctx context.Context) (t Token, err error) {
	defer func() {
		if p := recover(); p != nil {
			t, err = Token{}, &TokenError{Err: errors.New("token source panicked")}
		}
	}()
	t, err = a.src.Token(ctx)
	if err == nil && t.Value == "" {
		err = errors.New("token source returned an empty token")
	}
	if err != nil {
		return Token{}, &TokenError{Err: err}
	}
	if a.onToken != nil {
		a.onToken(t.Value)
	}
	return t, nil
}

// TokenError is a failure to obtain a credential (a bearer token, a
// signer's keys). It matches ErrNoToken with errors.Is and unwraps to the
// source's error.
type TokenError struct{ Err error }

func (e *TokenError) Error() string { return "obtaining a credential: " + e.Err.Error() }

// Unwrap returns the source's error.
func (e *TokenError) Unwrap() []error { return []error{ErrNoToken, e.Err} }
