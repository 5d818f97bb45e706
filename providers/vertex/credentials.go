package vertex

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/switchyard-ai/switchyard/providers"
)

// ScopeCloudPlatform is the OAuth 2 scope Vertex AI requests need, and the
// default of GoogleCredentials.Scopes.
const ScopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// GoogleCredentials says where Google OAuth 2 access tokens come from: a
// service account key or another Google credentials file (its contents in
// JSON, or its path in File), or Application Default Credentials
// (UseDefault). Exactly one of JSON, File and UseDefault must be set.
// It is plain data, safe to copy.
type GoogleCredentials struct {
	// JSON is the contents of a credentials file: a service account key
	// (type "service_account"), gcloud's user credentials
	// ("authorized_user"), or a workload identity federation or
	// impersonation file ("external_account",
	// "external_account_authorized_user", "impersonated_service_account").
	JSON []byte
	// File is the path of such a file.
	File string
	// UseDefault finds Application Default Credentials: the file named by
	// GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known file, or the
	// metadata server of the Google Cloud machine the process runs on.
	UseDefault bool
	// Scopes are the OAuth 2 scopes to ask for (default
	// ScopeCloudPlatform).
	Scopes []string
	// TokenURL, when set, replaces the file's token_uri (a token endpoint
	// reached through a proxy, a test's). It applies to service_account and
	// authorized_user credentials only.
	TokenURL string
	// HTTP makes the token requests (nil: http.DefaultClient). The metadata
	// server is reached with its own client.
	HTTP *http.Client
}

// Credential file types.
const (
	typeServiceAccount       = "service_account"
	typeAuthorizedUser       = "authorized_user"
	typeExternalAccount      = "external_account"
	typeExternalAuthorized   = "external_account_authorized_user"
	typeImpersonatedAccount  = "impersonated_service_account"
	maxCredentialsFileLength = 1 << 20
)

// credentialsFile holds the fields of a credentials file that are checked
// before use.
type credentialsFile struct {
	Type         string `json:"type"`
	ClientEmail  string `json:"client_email"`
	PrivateKey   string `json:"private_key"`
	TokenURI     string `json:"token_uri"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	RefreshToken string `json:"refresh_token"`
}

// GoogleTokenSource returns a providers.TokenSource for c, to be wrapped in
// a providers.TokenAuth (which caches tokens, refreshes them early and after
// a 401). Each Token call fetches a new token from the token endpoint (a
// signed JWT-bearer grant for a service account, a refresh-token grant for
// user credentials, a new token from the metadata server); nothing is cached
// here. The token's ExpiresIn is what remains of its lifetime when it
// arrives.
//
// The credentials are read and checked now: a missing or unreadable file, a
// file that is not JSON, of an unknown type, or lacking a field its type
// needs (client_email, private_key as a PEM RSA key, client_id,
// client_secret, refresh_token) is an error naming the field. When the token
// endpoint refuses the credential (a 4xx answer such as invalid_grant), the
// Token error wraps providers.ErrCredentialRefused, so the key is disabled;
// other failures (network, 5xx) are plain errors. Errors never show key
// material.
//
// With UseDefault, a credentials file found by Application Default
// Credentials is handled as above; on the metadata server each Token call
// asks it for a token (the server caches tokens itself), without HTTP and
// without ctx's cancellation (golang.org/x/oauth2 does not pass it on).
//
// The source is safe for concurrent use.
func GoogleTokenSource(ctx context.Context, c GoogleCredentials) (providers.TokenSource, error) {
	set := 0
	for _, b := range []bool{len(c.JSON) > 0, c.File != "", c.UseDefault} {
		if b {
			set++
		}
	}
	if set != 1 {
		return nil, errors.New("google credentials: set exactly one of JSON, File and UseDefault")
	}
	scopes := c.Scopes
	if len(scopes) == 0 {
		scopes = []string{ScopeCloudPlatform}
	}
	data := c.JSON
	switch {
	case c.File != "":
		b, err := readCredentialsFile(c.File)
		if err != nil {
			return nil, err
		}
		data = b
	case c.UseDefault:
		creds, err := google.FindDefaultCredentialsWithParams(ctx, google.CredentialsParams{Scopes: scopes})
		if err != nil {
			return nil, fmt.Errorf("google credentials: UseDefault: %w", err)
		}
		if len(creds.JSON) == 0 {
			return metadataSource(scopes), nil
		}
		data = creds.JSON
	}
	return fileSource(data, scopes, c.TokenURL, c.HTTP)
}

// readCredentialsFile reads a credentials file of at most 1 MiB.
func readCredentialsFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("google credentials: File: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCredentialsFileLength+1))
	if err != nil {
		return nil, fmt.Errorf("google credentials: File: reading %s: %w", path, err)
	}
	if len(b) > maxCredentialsFileLength {
		return nil, fmt.Errorf("google credentials: File: %s is over %d bytes", path, maxCredentialsFileLength)
	}
	return b, nil
}

// fileSource checks a credentials file and returns its token source.
func fileSource(data []byte, scopes []string, tokenURL string, hc *http.Client) (providers.TokenSource, error) {
	var f credentialsFile
	if err := json.Unmarshal(data, &f); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			if te.Field == "" {
				return nil, errors.New("google credentials: not a JSON object")
			}
			return nil, fmt.Errorf("google credentials: %q is not a string", te.Field)
		}
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("google credentials: not JSON (syntax error at offset %d)", se.Offset)
		}
		return nil, errors.New("google credentials: not JSON")
	}
	if tokenURL != "" {
		if err := checkTokenURL("TokenURL", tokenURL); err != nil {
			return nil, err
		}
	}
	s := &fileTokenSource{http: hc}
	switch f.Type {
	case typeServiceAccount:
		if err := checkServiceAccount(&f); err != nil {
			return nil, err
		}
		cfg, err := google.JWTConfigFromJSON(data, scopes...)
		if err != nil {
			return nil, errors.New("google credentials: not a usable service account key")
		}
		if tokenURL != "" {
			cfg.TokenURL = tokenURL
		}
		s.jwt, s.who = cfg, "service account "+f.ClientEmail
	case typeAuthorizedUser:
		for _, fld := range [][2]string{{"client_id", f.ClientID}, {"client_secret", f.ClientSecret}, {"refresh_token", f.RefreshToken}} {
			if fld[1] == "" {
				return nil, fmt.Errorf("google credentials: %q is missing from the authorized_user file", fld[0])
			}
		}
		u := f.TokenURI
		if tokenURL != "" {
			u = tokenURL
		}
		if u == "" {
			u = google.Endpoint.TokenURL
		} else if err := checkTokenURL("token_uri", u); err != nil {
			return nil, err
		}
		s.user = &oauth2.Config{ClientID: f.ClientID, ClientSecret: f.ClientSecret, Scopes: scopes,
			Endpoint: oauth2.Endpoint{AuthURL: google.Endpoint.AuthURL, TokenURL: u, AuthStyle: oauth2.AuthStyleInParams}}
		s.refresh, s.who = f.RefreshToken, "user credentials of client "+f.ClientID
	case typeExternalAccount, typeExternalAuthorized, typeImpersonatedAccount:
		if tokenURL != "" {
			return nil, fmt.Errorf("google credentials: TokenURL does not apply to %s credentials", f.Type)
		}
		s.other, s.params, s.who = data, google.CredentialsParams{Scopes: scopes}, f.Type+" credentials"
	case "":
		return nil, errors.New(`google credentials: "type" is missing`)
	default:
		return nil, fmt.Errorf(`google credentials: "type" %q is not supported (want service_account, authorized_user, external_account, external_account_authorized_user or impersonated_service_account)`, providers.ClipMessage(f.Type, 64))
	}
	return s, nil
}

// checkServiceAccount checks the fields of a service account key that
// golang.org/x/oauth2 would only trip over when signing.
func checkServiceAccount(f *credentialsFile) error {
	if f.ClientEmail == "" {
		return errors.New(`google credentials: "client_email" is missing from the service account key`)
	}
	if f.PrivateKey == "" {
		return errors.New(`google credentials: "private_key" is missing from the service account key`)
	}
	block, _ := pem.Decode([]byte(f.PrivateKey))
	if block == nil {
		return errors.New(`google credentials: "private_key" is not PEM-encoded`)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if _, ok := k.(*rsa.PrivateKey); !ok {
			return errors.New(`google credentials: "private_key" is not an RSA key`)
		}
	} else if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
		return errors.New(`google credentials: "private_key" is not a PKCS #8 or PKCS #1 RSA private key`)
	}
	if f.TokenURI != "" {
		return checkTokenURL("token_uri", f.TokenURI)
	}
	return nil
}

// checkTokenURL checks that u, the value of field, is an absolute http(s)
// URL.
func checkTokenURL(field, u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == "" {
		return fmt.Errorf("google credentials: %s %q is not an http(s) URL", field, u)
	}
	return nil
}

// fileTokenSource fetches a new token on every call from the credentials
// of a file: one of jwt (service account), user (refresh token) or other
// (any other type, through google.CredentialsFromJSONWithParams).
type fileTokenSource struct {
	http    *http.Client
	who     string // names the credential in errors
	jwt     *jwt.Config
	user    *oauth2.Config
	refresh string
	other   []byte
	params  google.CredentialsParams
}

// Token fetches a new token. Every source built here is new, so it holds no
// cached token and asks the endpoint.
func (s *fileTokenSource) Token(ctx context.Context) (providers.Token, error) {
	ctx = withHTTPClient(ctx, s.http)
	var src oauth2.TokenSource
	switch {
	case s.jwt != nil:
		src = s.jwt.TokenSource(ctx)
	case s.user != nil:
		src = s.user.TokenSource(ctx, &oauth2.Token{RefreshToken: s.refresh})
	default:
		creds, err := google.CredentialsFromJSONWithParams(ctx, s.other, s.params)
		if err != nil {
			return providers.Token{}, fmt.Errorf("google credentials: %s: %w", s.who, err)
		}
		src = creds.TokenSource
	}
	return convertToken(src.Token())
}

// convertToken converts an oauth2 token or classifies the failure.
func convertToken(t *oauth2.Token, err error) (providers.Token, error) {
	if err != nil {
		return providers.Token{}, tokenError(err)
	}
	if t == nil || t.AccessToken == "" {
		return providers.Token{}, errors.New("google token endpoint answered without an access_token")
	}
	return providers.Token{Value: t.AccessToken, ExpiresIn: providers.TokenLifetime(t.ExpiresIn, t.Expiry)}, nil
}

// tokenError wraps an answer of the token endpoint with a 4xx status as
// providers.ErrCredentialRefused, with the OAuth 2 error code and
// description it gave; other errors pass through.
func tokenError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response == nil {
		return err
	}
	status := re.Response.StatusCode
	code, descr := re.ErrorCode, re.ErrorDescription
	if code == "" {
		// The JWT flow does not parse the body; Google's is
		// {"error": …, "error_description": …}.
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(re.Body, &body) == nil {
			code, descr = body.Error, body.Description
		}
	}
	msg := fmt.Sprintf("google token endpoint answered %d", status)
	if code != "" {
		msg += " " + code
	}
	if descr != "" {
		msg += ": " + providers.ClipMessage(descr, 512)
	}
	if status >= 400 && status < 500 {
		return fmt.Errorf("%w: %s", providers.ErrCredentialRefused, msg)
	}
	return errors.New(msg)
}

// metadataSource asks the metadata server for a token on each call.
func metadataSource(scopes []string) providers.TokenSource {
	return providers.TokenSourceFunc(func(context.Context) (providers.Token, error) {
		return convertToken(google.ComputeTokenSource("", scopes...).Token())
	})
}

// withHTTPClient returns ctx carrying the client golang.org/x/oauth2 makes
// its token requests with: hc (nil: http.DefaultClient) with a transport
// that also ends a request when ctx ends (the JWT flow sends its request
// without ctx).
func withHTTPClient(ctx context.Context, hc *http.Client) context.Context {
	if hc == nil {
		hc = http.DefaultClient
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	bound := &http.Client{Transport: &ctxTransport{ctx: ctx, rt: rt}, CheckRedirect: hc.CheckRedirect, Jar: hc.Jar, Timeout: hc.Timeout}
	return context.WithValue(ctx, oauth2.HTTPClient, bound)
}

// ctxTransport sends each request with a context that ends when either
// the request's own or ctx ends.
type ctxTransport struct {
	ctx context.Context
	rt  http.RoundTripper
}

func (t *ctxTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	stop := context.AfterFunc(t.ctx, cancel)
	done := func() { stop(); cancel() }
	resp, err := t.rt.RoundTrip(req.WithContext(ctx))
	if err != nil {
		done()
		return nil, err
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, done: done}
	return resp, nil
}

// doneBody calls done once the body is closed.
type doneBody struct {
	io.ReadCloser
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.done()
	return err
}
