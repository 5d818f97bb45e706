package sim

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// GoogleOAuth simulates Google's OAuth 2.0 token endpoint for service
// accounts (RFC 7523 JWT-bearer grant, as golang.org/x/oauth2/jwt and
// cloud.google.com/go/auth send it) and checks the access tokens it issued
// on the requests of Google API simulators (Check):
//
//   - POST {URL}/token with an application/x-www-form-urlencoded body
//     grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWS>;
//     other paths answer 404, other methods 405;
//   - the assertion is a compact JWS with header {"alg":"RS256","typ":"JWT",
//     "kid":<private_key_id>} and claims iss (the service account's
//     client_email), scope (space-separated), aud (the token URL), iat and
//     exp (Unix seconds), optional sub; its RS256 signature must verify with
//     the public key registered for kid (without kid: any key of iss), and
//     the key must belong to iss;
//   - iat and exp must be sane: exp after iat, at most an hour after it, iat
//     not more than five minutes ahead of the assertion clock and exp not
//     behind it (GoogleOAuthOptions.AssertionClock);
//   - refusals are 400 {"error": …, "error_description": …} as Google
//     writes them: unsupported_grant_type, invalid_request (no assertion),
//     invalid_grant ("Invalid JWT Signature.", "Invalid JWT: Failed
//     audience check. …", "Invalid JWT: Token must be a short-lived token
//     (60 minutes) and in a reasonable timeframe. …", "Invalid grant:
//     account not found", an unparsable assertion), invalid_scope (no
//     scope);
//   - a granted assertion is answered {"access_token": "ya29.c.…",
//     "expires_in": <TokenTTL in seconds>, "token_type": "Bearer"}; the
//     token is valid for TokenTTL by GoogleOAuthOptions.Clock, or until
//     Expire.
//
// It is safe for concurrent use.
type GoogleOAuth struct {
	// URL is the server's base URL, http://127.0.0.1:port; the token
	// endpoint is URL + "/token".
	URL string

	srv      *httptest.Server
	ttl      time.Duration
	clk      clock.Clock
	jwtClk   clock.Clock
	tokenURL string

	mu     sync.Mutex
	keys   map[string]googleKey   // by private_key_id
	tokens map[string]googleToken // by access token
	issued int
}

// GoogleOAuthOptions configure StartGoogleOAuth.
type GoogleOAuthOptions struct {
	// TokenTTL is how long an access token stays valid (default 1h, as
	// Google's); expires_in is it in whole seconds.
	TokenTTL time.Duration
	// Clock judges the access tokens' expiry; nil is the wall clock. A test
	// may share a manual clock with the client's providers.TokenAuth.
	Clock clock.Clock
	// AssertionClock judges the assertions' iat and exp; nil is the wall
	// clock, which client libraries sign with (golang.org/x/oauth2 sets iat
	// from time.Now), so tokens can run on a manual Clock while real
	// clients still get them.
	AssertionClock clock.Clock
}

type googleKey struct {
	email string
	pub   *rsa.PublicKey
}

type googleToken struct {
	client string
	expiry time.Time // by clk
}

// Google's token endpoint constants.
const (
	// GoogleJWTBearerGrant is the grant_type of a service account's token
	// request.
	GoogleJWTBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// googleMaxAssertionLife is the longest exp - iat Google accepts.
	googleMaxAssertionLife = time.Hour
	// googleClockSkew is how far ahead an iat may be.
	googleClockSkew = 5 * time.Minute

	googleBadSignature = "Invalid JWT Signature."
	googleBadTime      = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim."

	// GoogleMissingCredentials and GoogleInvalidCredentials are the
	// messages of the 401 UNAUTHENTICATED answers of Google APIs to a
	// request without an access token and with an invalid or expired one.
	GoogleMissingCredentials = "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	GoogleInvalidCredentials = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
	// GoogleAPIKeyRefused is the message of the 401 UNAUTHENTICATED answer
	// of a Google API that takes only OAuth 2 credentials to a request with
	// an API key.
	GoogleAPIKeyRefused = "API keys are not supported by this API. Expected OAuth2 access token or other authentication credentials that assert a principal. See https://cloud.google.com/docs/authentication"
)

// StartGoogleOAuth runs a token endpoint on a loopback port.
func StartGoogleOAuth(o GoogleOAuthOptions) *GoogleOAuth {
	g := &GoogleOAuth{ttl: o.TokenTTL, clk: o.Clock, jwtClk: o.AssertionClock,
		keys: map[string]googleKey{}, tokens: map[string]googleToken{}}
	if g.ttl <= 0 {
		g.ttl = time.Hour
	}
	if g.clk == nil {
		g.clk = clock.Real
	}
	if g.jwtClk == nil {
		g.jwtClk = clock.Real
	}
	g.srv = httptest.NewServer(http.HandlerFunc(g.handle))
	g.URL = g.srv.URL
	g.tokenURL = g.URL + "/token"
	return g
}

// Close stops the server.
func (g *GoogleOAuth) Close() {
	g.srv.CloseClientConnections()
	g.srv.Close()
}

// Issued counts the access tokens issued so far.
func (g *GoogleOAuth) Issued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.issued
}

// Expire makes every access token issued so far invalid at once (as if
// their hour had passed); tokens issued later are valid as usual.
func (g *GoogleOAuth) Expire() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for t, rec := range g.tokens {
		rec.expiry = time.Time{}
		g.tokens[t] = rec
	}
}

// googleServiceAccountKey is a service account key file as the Cloud
// console downloads it.
type googleServiceAccountKey struct {
	Type                    string `json:"type"`
	ProjectID               string `json:"project_id"`
	PrivateKeyID            string `json:"private_key_id"`
	PrivateKey              string `json:"private_key"`
	ClientEmail             string `json:"client_email"`
	ClientID                string `json:"client_id"`
	AuthURI                 string `json:"auth_uri"`
	TokenURI                string `json:"token_uri"`
	AuthProviderX509CertURL string `json:"auth_provider_x509_cert_url"`
	ClientX509CertURL       string `json:"client_x509_cert_url"`
	UniverseDomain          string `json:"universe_domain"`
}

// ServiceAccount creates a key for the service account email (e.g.
// "switchyard@my-project.iam.gserviceaccount.com"): it generates an RSA
// key (1024 bits, the least crypto/rsa accepts: a simulator's keys need to
// be quick to make, not strong; Google's are 2048), registers its public
// half under a new private_key_id, and
// returns the key file (type service_account, client_email,
// private_key_id, private_key as PKCS #8 PEM, token_uri = URL + "/token").
// Several keys may be made for one account.
func (g *GoogleOAuth) ServiceAccount(email string) []byte {
	key, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic("sim: generating an RSA key: " + err.Error())
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic("sim: encoding an RSA key: " + err.Error())
	}
	kid := googleRandomHex(20)
	project := "sim-project"
	if _, domain, ok := strings.Cut(email, "@"); ok {
		if p, _, ok := strings.Cut(domain, ".iam.gserviceaccount.com"); ok && p != "" {
			project = p
		}
	}
	clientID, _ := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(21), nil))
	g.mu.Lock()
	g.keys[kid] = googleKey{email: email, pub: &key.PublicKey}
	g.mu.Unlock()
	b, _ := json.MarshalIndent(googleServiceAccountKey{
		Type:                    "service_account",
		ProjectID:               project,
		PrivateKeyID:            kid,
		PrivateKey:              string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		ClientEmail:             email,
		ClientID:                fmt.Sprintf("1%020s", clientID.String()),
		AuthURI:                 "https://accounts.google.com/o/oauth2/auth",
		TokenURI:                g.tokenURL,
		AuthProviderX509CertURL: "https://www.googleapis.com/oauth2/v1/certs",
		ClientX509CertURL:       "https://www.googleapis.com/robot/v1/metadata/x509/" + url.PathEscape(email),
		UniverseDomain:          "googleapis.com",
	}, "", "  ")
	return append(b, '\n')
}

func googleRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Check validates the access token of a Google API request
// ("Authorization: Bearer <token>", the scheme in any case). It returns
// the service account the token was issued to, or "" with 401 and
// GoogleMissingCredentials (no token) or GoogleInvalidCredentials (a token
// it did not issue, or one expired by Clock or Expire).
func (g *GoogleOAuth) Check(r *http.Request) (client string, status int, message string) {
	scheme, tok, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return "", http.StatusUnauthorized, GoogleMissingCredentials
	}
	g.mu.Lock()
	rec, ok := g.tokens[tok]
	g.mu.Unlock()
	if !ok || !g.clk.Now().Before(rec.expiry) {
		return "", http.StatusUnauthorized, GoogleInvalidCredentials
	}
	return rec.client, 0, ""
}

// googleAuthStatus is the google.rpc.Status a Google API answers a request
// refused by Check with (message is Check's): 401 UNAUTHENTICATED with an
// ErrorInfo whose reason is CREDENTIALS_MISSING (no token, or an API key)
// or, for a token that is invalid or expired (the simulator does not tell
// them apart), ACCESS_TOKEN_EXPIRED; service names the API, e.g.
// "aiplatform.googleapis.com". Another message (Server's for a revoked key)
// counts as an invalid token.
func googleAuthStatus(message, service string) map[string]any {
	reason := "ACCESS_TOKEN_EXPIRED"
	switch message {
	case GoogleMissingCredentials, GoogleAPIKeyRefused:
		reason = "CREDENTIALS_MISSING"
	default:
		message = GoogleInvalidCredentials
	}
	return map[string]any{"code": http.StatusUnauthorized, "message": message, "status": "UNAUTHENTICATED", "details": []any{
		map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
			"metadata": map[string]any{"service": service}},
	}}
}

// googleRefusal is a token endpoint error answer.
type googleRefusal struct {
	status      int
	code, descr string
}

func googleGrantRefusal(descr string) *googleRefusal {
	return &googleRefusal{status: http.StatusBadRequest, code: "invalid_grant", descr: descr}
}

func (g *GoogleOAuth) handle(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/token" {
		googleWriteJSON(w, http.StatusNotFound, map[string]any{"error": "not_found", "error_description": "Not Found"})
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		googleWriteJSON(w, http.StatusMethodNotAllowed, map[string]any{"error": "invalid_request", "error_description": "Method Not Allowed"})
		return
	}
	client, ref := g.grant(r)
	if ref != nil {
		googleWriteJSON(w, ref.status, map[string]any{"error": ref.code, "error_description": ref.descr})
		return
	}
	raw := make([]byte, 48)
	_, _ = rand.Read(raw)
	tok := "ya29.c." + base64.RawURLEncoding.EncodeToString(raw)
	g.mu.Lock()
	g.tokens[tok] = googleToken{client: client, expiry: g.clk.Now().Add(g.ttl)}
	g.issued++
	g.mu.Unlock()
	googleWriteJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(g.ttl / time.Second), "token_type": "Bearer"})
}

// googleWriteJSON writes a token endpoint answer.
func googleWriteJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.MarshalIndent(v, "", "  ")
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-cache, no-store, max-age=0, must-revalidate")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// googleJWTHeader and googleJWTClaims are the parts of an assertion the endpoint reads.
type (
	googleJWTHeader struct {
		Alg string `json:"alg"`
		Typ string `json:"typ"`
		Kid string `json:"kid"`
	}
	googleJWTClaims struct {
		Iss   string   `json:"iss"`
		Scope string   `json:"scope"`
		Aud   string   `json:"aud"`
		Exp   *float64 `json:"exp"`
		Iat   *float64 `json:"iat"`
		Sub   string   `json:"sub"`
	}
)

// grant checks a token request and returns the service account to issue a
// token to, or the refusal.
func (g *GoogleOAuth) grant(r *http.Request) (string, *googleRefusal) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return "", &googleRefusal{http.StatusBadRequest, "invalid_request", "Invalid Content-Type: expected application/x-www-form-urlencoded"}
	}
	if err := r.ParseForm(); err != nil {
		return "", &googleRefusal{http.StatusBadRequest, "invalid_request", "Invalid request body"}
	}
	if gt := r.PostForm.Get("grant_type"); gt != GoogleJWTBearerGrant {
		return "", &googleRefusal{http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: " + gt}
	}
	assertion := r.PostForm.Get("assertion")
	if assertion == "" {
		return "", &googleRefusal{http.StatusBadRequest, "invalid_request", "Missing required parameter: assertion"}
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return "", googleGrantRefusal("Invalid JWT: the assertion is not a compact JWS (header.claims.signature).")
	}
	var h googleJWTHeader
	var c googleJWTClaims
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || googleSegment(parts[0], &h) != nil || googleSegment(parts[1], &c) != nil {
		return "", googleGrantRefusal("Invalid JWT: the assertion could not be decoded.")
	}
	if h.Alg != "RS256" {
		return "", googleGrantRefusal(googleBadSignature)
	}
	// The key: by kid, which must belong to iss; without kid, any of iss's.
	var cands []*rsa.PublicKey
	account := false
	g.mu.Lock()
	for kid, k := range g.keys {
		if k.email != c.Iss {
			continue
		}
		account = true
		if h.Kid == "" || h.Kid == kid {
			cands = append(cands, k.pub)
		}
	}
	g.mu.Unlock()
	if !account {
		return "", googleGrantRefusal("Invalid grant: account not found")
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	verified := false
	for _, pub := range cands {
		if rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], sig) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return "", googleGrantRefusal(googleBadSignature)
	}
	if c.Aud != g.tokenURL {
		return "", googleGrantRefusal("Invalid JWT: Failed audience check. The right audience is " + g.tokenURL)
	}
	if c.Iat == nil || c.Exp == nil {
		return "", googleGrantRefusal(googleBadTime)
	}
	now := g.jwtClk.Now()
	iat, exp := time.Unix(int64(*c.Iat), 0), time.Unix(int64(*c.Exp), 0)
	if !exp.After(iat) || exp.Sub(iat) > googleMaxAssertionLife || iat.After(now.Add(googleClockSkew)) || exp.Before(now) {
		return "", googleGrantRefusal(googleBadTime)
	}
	if strings.TrimSpace(c.Scope) == "" {
		return "", &googleRefusal{http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided."}
	}
	return c.Iss, nil
}

// googleSegment decodes one base64url JSON segment of a JWS into v.
func googleSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	return dec.Decode(v)
}
