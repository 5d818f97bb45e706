package azure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/switchyard-ai/switchyard/providers"
)

// Defaults of EntraCredentials.
const (
	// DefaultScope is the scope of Azure OpenAI (Azure AI services) tokens.
	DefaultScope = "https://cognitiveservices.azure.com/.default"
	// DefaultAuthority is Microsoft Entra ID's global authority; the token
	// URL is DefaultAuthority + "/{tenant}/oauth2/v2.0/token".
	DefaultAuthority = "https://login.microsoftonline.com"
)

// EntraCredentials are a Microsoft Entra ID application's client
// credentials, for EntraTokenSource.
type EntraCredentials struct {
	// TenantID is the directory (tenant) ID or domain; required unless
	// TokenURL is set.
	TenantID string
	// ClientID is the application (client) ID; required.
	ClientID string
	// ClientSecret is the application's secret; required. It is sent only
	// to the token endpoint and never appears in errors.
	ClientSecret string
	// TokenURL is the token endpoint; empty means
	// https://login.microsoftonline.com/{TenantID}/oauth2/v2.0/token
	// (override it for a sovereign cloud or a proxy).
	TokenURL string
	// Scope is the scope asked for; empty means DefaultScope.
	Scope string
	// HTTP performs token requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// EntraTokenSource returns a providers.TokenSource that obtains Azure
// OpenAI bearer tokens from Microsoft Entra ID with the OAuth2 client
// credentials grant (client_secret sent in the form body, as MSAL does).
// Every Token call asks the token endpoint for a new token (wrap the source
// in providers.TokenAuth, which caches tokens and renews one the service
// refused); ExpiresIn is the token's remaining lifetime when it arrived.
//
// An answer of the token endpoint with a 4xx status other than 408 and 429
// (invalid_client, unauthorized_client, invalid_scope, an unknown tenant) is
// an error wrapping providers.ErrCredentialRefused; any other failure (the
// endpoint down, throttling, a malformed answer) is not. Errors carry the
// endpoint's error code and the first line of its description, never the
// client secret.
//
// The credentials are checked here: a missing TenantID (without TokenURL),
// ClientID or ClientSecret, or a TokenURL that is not an absolute http(s)
// URL, is an error naming the field. The source is safe for concurrent use.
func EntraTokenSource(c EntraCredentials) (providers.TokenSource, error) {
	switch {
	case strings.TrimSpace(c.ClientID) == "":
		return nil, errors.New("azure: EntraCredentials.ClientID is empty")
	case c.ClientSecret == "":
		return nil, errors.New("azure: EntraCredentials.ClientSecret is empty")
	case c.TokenURL == "" && strings.TrimSpace(c.TenantID) == "":
		return nil, errors.New("azure: EntraCredentials.TenantID is empty")
	}
	tokenURL := c.TokenURL
	if tokenURL == "" {
		tokenURL = DefaultAuthority + "/" + url.PathEscape(strings.TrimSpace(c.TenantID)) + "/oauth2/v2.0/token"
	} else if u, err := url.Parse(tokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("azure: EntraCredentials.TokenURL %q is not an absolute http(s) URL", tokenURL)
	}
	scope := c.Scope
	if scope == "" {
		scope = DefaultScope
	}
	return &entraSource{
		cfg: clientcredentials.Config{ClientID: strings.TrimSpace(c.ClientID), ClientSecret: c.ClientSecret, TokenURL: tokenURL,
			Scopes: []string{scope}, AuthStyle: oauth2.AuthStyleInParams},
		http: c.HTTP,
	}, nil
}

// entraSource is EntraTokenSource's source; its fields are read only.
type entraSource struct {
	cfg  clientcredentials.Config
	http *http.Client
}

// Token fetches a new token: clientcredentials.Config.Token builds a fresh
// token source each call, so nothing is cached here.
func (s *entraSource) Token(ctx context.Context) (providers.Token, error) {
	if s.http != nil {
		ctx = context.WithValue(ctx, oauth2.HTTPClient, s.http)
	}
	tok, err := s.cfg.Token(ctx)
	if err != nil {
		return providers.Token{}, s.fail(err)
	}
	return providers.Token{Value: tok.AccessToken, ExpiresIn: providers.TokenLifetime(tok.ExpiresIn, tok.Expiry)}, nil
}

// maxDescription bounds the token endpoint's error description in errors.
const maxDescription = 300

// fail turns a token fetch error into the source's error (see
// EntraTokenSource).
func (s *entraSource) fail(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		status := re.Response.StatusCode
		msg := fmt.Sprintf("azure: Entra ID token endpoint answered HTTP %d", status)
		if re.ErrorCode != "" {
			msg += " " + providers.ClipMessage(re.ErrorCode, 64)
		}
		if d, _, _ := strings.Cut(strings.TrimSpace(re.ErrorDescription), "\n"); d != "" {
			msg += ": " + providers.ClipMessage(strings.TrimSpace(d), maxDescription)
		}
		msg = s.scrub(msg)
		if status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests {
			return fmt.Errorf("%w: %s", providers.ErrCredentialRefused, msg)
		}
		return errors.New(msg)
	}
	if text := err.Error(); strings.Contains(text, s.cfg.ClientSecret) {
		return errors.New("azure: fetching an Entra ID token: " + s.scrub(text))
	}
	return fmt.Errorf("azure: fetching an Entra ID token: %w", err)
}

// scrub removes the client secret from text.
func (s *entraSource) scrub(text string) string {
	return strings.ReplaceAll(text, s.cfg.ClientSecret, "[redacted]")
}
