package sim

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

const gTestEmail = "switchyard@sim-project.iam.gserviceaccount.com"

// gAccount is a service account key made by the simulator, parsed.
type gAccount struct {
	file googleServiceAccountKey
	key  *rsa.PrivateKey
}

func gNewAccount(t testing.TB, g *GoogleOAuth, email string) gAccount {
	t.Helper()
	var f googleServiceAccountKey
	require.NoError(t, json.Unmarshal(g.ServiceAccount(email), &f))
	block, _ := pem.Decode([]byte(f.PrivateKey))
	require.NotNil(t, block, "private_key is PEM")
	assert.Equal(t, "PRIVATE KEY", block.Type)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	require.NoError(t, err)
	return gAccount{file: f, key: k.(*rsa.PrivateKey)}
}

// gSign builds a compact RS256 JWS of header and claims signed with key.
func gSign(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	enc := func(v any) string {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	signed := enc(header) + "." + enc(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	require.NoError(t, err)
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// gAssertion is a valid assertion of a at now, as golang.org/x/oauth2 signs
// it (iat 10 s back, exp an hour after iat).
func gAssertion(t testing.TB, g *GoogleOAuth, a gAccount, now time.Time) (header, claims map[string]any) {
	t.Helper()
	iat := now.Add(-10 * time.Second)
	return map[string]any{"alg": "RS256", "typ": "JWT", "kid": a.file.PrivateKeyID},
		map[string]any{"iss": a.file.ClientEmail, "scope": "https://www.googleapis.com/auth/cloud-platform", "aud": g.URL + "/token",
			"iat": iat.Unix(), "exp": iat.Add(time.Hour).Unix()}
}

// gPost posts form to path of g and returns the status and JSON body.
func gPost(t *testing.T, g *GoogleOAuth, method, path, contentType, form string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, g.URL+path, strings.NewReader(form))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json"), "content type %q", resp.Header.Get("Content-Type"))
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m), "body %s", b)
	return resp.StatusCode, m
}

func gGrantForm(assertion string) string {
	return url.Values{"grant_type": {GoogleJWTBearerGrant}, "assertion": {assertion}}.Encode()
}

const gFormType = "application/x-www-form-urlencoded"

// gToken gets an access token for a from g, signing at the wall clock's
// now, as real clients do.
func gToken(t *testing.T, g *GoogleOAuth, a gAccount) string {
	t.Helper()
	h, c := gAssertion(t, g, a, time.Now())
	status, body := gPost(t, g, http.MethodPost, "/token", gFormType, gGrantForm(gSign(t, a.key, h, c)))
	require.Equal(t, http.StatusOK, status, "token endpoint answered %v", body)
	tok, _ := body["access_token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

// gRequest is a request to a Google API with the Authorization header
// auth (none when empty).
func gRequest(auth string) *http.Request {
	r, _ := http.NewRequest(http.MethodPost, "http://sim/", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func gBearer(tok string) *http.Request { return gRequest("Bearer " + tok) }

// TestGoogleOAuthGrant shows the token endpoint grants a proper JWT-bearer
// request and refuses every malformed or dishonest one as Google does.
func TestGoogleOAuthGrant(t *testing.T) {
	clk := clocktest.New(t)
	g := StartGoogleOAuth(GoogleOAuthOptions{TokenTTL: 30 * time.Minute, AssertionClock: clk})
	defer g.Close()
	a := gNewAccount(t, g, gTestEmail)
	other := gNewAccount(t, g, "other@sim-project.iam.gserviceaccount.com")
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := clk.Now()

	type edit func(h, c map[string]any)
	tests := []struct {
		name    string
		edit    edit
		key     *rsa.PrivateKey // signer; nil: a's
		raw     string          // the assertion as is, when set
		form    string          // the whole form, when set
		ctype   string
		status  int
		errCode string
		descr   string
	}{
		{name: "valid", status: 200},
		{name: "valid without kid", edit: func(h, _ map[string]any) { delete(h, "kid") }, status: 200},
		{name: "valid with sub", edit: func(_, c map[string]any) { c["sub"] = "user@example.com" }, status: 200},
		{name: "signed by another key", key: stranger, status: 400, errCode: "invalid_grant", descr: "Invalid JWT Signature."},
		{name: "unknown kid", edit: func(h, _ map[string]any) { h["kid"] = "0123456789abcdef0123456789abcdef01234567" }, status: 400, errCode: "invalid_grant", descr: "Invalid JWT Signature."},
		{name: "another account's key", edit: func(h, _ map[string]any) { h["kid"] = other.file.PrivateKeyID }, key: other.key, status: 400, errCode: "invalid_grant", descr: "Invalid JWT Signature."},
		{name: "unknown account", edit: func(_, c map[string]any) { c["iss"] = "nobody@sim-project.iam.gserviceaccount.com" }, status: 400, errCode: "invalid_grant", descr: "Invalid grant: account not found"},
		{name: "alg none", edit: func(h, _ map[string]any) { h["alg"] = "none" }, status: 400, errCode: "invalid_grant", descr: "Invalid JWT Signature."},
		{name: "wrong audience", edit: func(_, c map[string]any) { c["aud"] = "https://oauth2.googleapis.com/token" }, status: 400, errCode: "invalid_grant", descr: "Invalid JWT: Failed audience check. The right audience is " + g.URL + "/token"},
		{name: "expired assertion", edit: func(_, c map[string]any) {
			c["iat"], c["exp"] = now.Add(-2*time.Hour).Unix(), now.Add(-time.Hour).Unix()
		}, status: 400, errCode: "invalid_grant", descr: googleBadTime},
		{name: "lifetime over an hour", edit: func(_, c map[string]any) { c["exp"] = now.Add(2 * time.Hour).Unix() }, status: 400, errCode: "invalid_grant", descr: googleBadTime},
		{name: "issued in the future", edit: func(_, c map[string]any) {
			c["iat"], c["exp"] = now.Add(10*time.Minute).Unix(), now.Add(40*time.Minute).Unix()
		}, status: 400, errCode: "invalid_grant", descr: googleBadTime},
		{name: "exp before iat", edit: func(_, c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() }, status: 400, errCode: "invalid_grant", descr: googleBadTime},
		{name: "no exp", edit: func(_, c map[string]any) { delete(c, "exp") }, status: 400, errCode: "invalid_grant", descr: googleBadTime},
		{name: "no scope", edit: func(_, c map[string]any) { delete(c, "scope") }, status: 400, errCode: "invalid_scope", descr: "Invalid OAuth scope or ID token audience provided."},
		{name: "not a JWS", raw: "not-a-jwt", status: 400, errCode: "invalid_grant", descr: "Invalid JWT: the assertion is not a compact JWS"},
		{name: "claims not JSON", raw: "eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.c2ln", status: 400, errCode: "invalid_grant", descr: "Invalid JWT: the assertion could not be decoded."},
		{name: "wrong grant type", form: "grant_type=client_credentials&assertion=x", status: 400, errCode: "unsupported_grant_type", descr: "Invalid grant_type: client_credentials"},
		{name: "no assertion", form: "grant_type=" + url.QueryEscape(GoogleJWTBearerGrant), status: 400, errCode: "invalid_request", descr: "Missing required parameter: assertion"},
		{name: "JSON body", ctype: "application/json", status: 400, errCode: "invalid_request", descr: "Invalid Content-Type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.Issued()
			h, c := gAssertion(t, g, a, now)
			if tt.edit != nil {
				tt.edit(h, c)
			}
			key := tt.key
			if key == nil {
				key = a.key
			}
			assertion := tt.raw
			if assertion == "" {
				assertion = gSign(t, key, h, c)
			}
			form := tt.form
			if form == "" {
				form = gGrantForm(assertion)
			}
			ctype := tt.ctype
			if ctype == "" {
				ctype = gFormType
			}
			status, body := gPost(t, g, http.MethodPost, "/token", ctype, form)
			require.Equal(t, tt.status, status, "body %v", body)
			if tt.status != 200 {
				assert.Equal(t, tt.errCode, body["error"], "body %v", body)
				assert.Contains(t, body["error_description"], tt.descr, "body %v", body)
				assert.Nil(t, body["access_token"])
				assert.Equal(t, before, g.Issued(), "no token is issued")
				return
			}
			assert.Equal(t, "Bearer", body["token_type"])
			assert.Equal(t, float64(1800), body["expires_in"])
			tok, _ := body["access_token"].(string)
			require.True(t, strings.HasPrefix(tok, "ya29."), "token %q", tok)
			assert.Equal(t, before+1, g.Issued())
			client, st, msg := g.Check(gBearer(tok))
			assert.Equal(t, a.file.ClientEmail, client, "%d %s", st, msg)
		})
	}

	// Other paths and methods.
	status, body := gPost(t, g, http.MethodGet, "/token", "", "")
	assert.Equal(t, http.StatusMethodNotAllowed, status, "GET: %v", body)
	status, body = gPost(t, g, http.MethodPost, "/oauth2/v4/token", gFormType, "")
	assert.Equal(t, http.StatusNotFound, status, "other path: %v", body)
}

// TestGoogleOAuthServiceAccount checks the key file's fields.
func TestGoogleOAuthServiceAccount(t *testing.T) {
	g := StartGoogleOAuth(GoogleOAuthOptions{})
	defer g.Close()
	a := gNewAccount(t, g, gTestEmail)
	assert.Equal(t, "service_account", a.file.Type)
	assert.Equal(t, gTestEmail, a.file.ClientEmail)
	assert.Equal(t, "sim-project", a.file.ProjectID)
	assert.Len(t, a.file.PrivateKeyID, 40)
	assert.Equal(t, g.URL+"/token", a.file.TokenURI)
	assert.Equal(t, 1024, a.key.N.BitLen(), "a simulator key: quick to make")
	b := gNewAccount(t, g, gTestEmail)
	assert.NotEqual(t, a.file.PrivateKeyID, b.file.PrivateKeyID, "each key has its own ID")
	// Both keys of the account are good.
	gToken(t, g, a)
	gToken(t, g, b)
	assert.Equal(t, 2, g.Issued())
}

// TestGoogleOAuthCheck shows Check accepts the tokens issued, until they
// expire by the clock or by Expire, and refuses everything else.
func TestGoogleOAuthCheck(t *testing.T) {
	clk := clocktest.New(t)
	g := StartGoogleOAuth(GoogleOAuthOptions{TokenTTL: time.Hour, Clock: clk})
	defer g.Close()
	a := gNewAccount(t, g, gTestEmail)
	tok := gToken(t, g, a)

	tests := []struct {
		name   string
		req    *http.Request
		client string
		msg    string
	}{
		{"issued token", gBearer(tok), gTestEmail, ""},
		{"scheme in lower case", gRequest("bearer " + tok), gTestEmail, ""},
		{"no header", gRequest(""), "", GoogleMissingCredentials},
		{"basic auth", gRequest("Basic " + tok), "", GoogleMissingCredentials},
		{"empty bearer", gBearer(""), "", GoogleMissingCredentials},
		{"unknown token", gBearer("ya29.c.forged"), "", GoogleInvalidCredentials},
	}
	for _, tt := range tests {
		client, status, msg := g.Check(tt.req)
		assert.Equal(t, tt.client, client, tt.name)
		assert.Equal(t, tt.msg, msg, tt.name)
		if tt.client == "" {
			assert.Equal(t, http.StatusUnauthorized, status, tt.name)
		}
	}

	// Expiry by the clock.
	clk.Advance(59 * time.Minute)
	client, _, _ := g.Check(gBearer(tok))
	assert.Equal(t, gTestEmail, client, "valid within its hour")
	clk.Advance(time.Minute)
	client, status, msg := g.Check(gBearer(tok))
	assert.Equal(t, "", client)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, GoogleInvalidCredentials, msg)

	// Expire ends every token at once; new ones are good.
	tok1, tok2 := gToken(t, g, a), gToken(t, g, a)
	g.Expire()
	for _, tk := range []string{tok1, tok2} {
		client, status, _ := g.Check(gBearer(tk))
		assert.Equal(t, "", client)
		assert.Equal(t, http.StatusUnauthorized, status)
	}
	tok3 := gToken(t, g, a)
	client, _, _ = g.Check(gBearer(tok3))
	assert.Equal(t, gTestEmail, client)
	assert.Equal(t, 4, g.Issued())
}

// TestGoogleAuthStatus checks the 401 bodies built from Check's messages.
func TestGoogleAuthStatus(t *testing.T) {
	tests := []struct{ message, want, reason string }{
		{GoogleMissingCredentials, GoogleMissingCredentials, "CREDENTIALS_MISSING"},
		{GoogleAPIKeyRefused, GoogleAPIKeyRefused, "CREDENTIALS_MISSING"},
		{GoogleInvalidCredentials, GoogleInvalidCredentials, "ACCESS_TOKEN_EXPIRED"},
		{"this key has been revoked", GoogleInvalidCredentials, "ACCESS_TOKEN_EXPIRED"},
	}
	for _, tt := range tests {
		st := googleAuthStatus(tt.message, "aiplatform.googleapis.com")
		assert.Equal(t, 401, st["code"])
		assert.Equal(t, "UNAUTHENTICATED", st["status"])
		assert.Equal(t, tt.want, st["message"])
		d := st["details"].([]any)[0].(map[string]any)
		assert.Equal(t, tt.reason, d["reason"], tt.message)
	}
}

// FuzzGoogleOAuthAssertion feeds arbitrary assertions to the token
// endpoint: it never panics and answers 200 with a token or 400 with an
// OAuth 2 error, whatever the input.
func FuzzGoogleOAuthAssertion(f *testing.F) {
	g := StartGoogleOAuth(GoogleOAuthOptions{})
	defer g.Close()
	a := gNewAccount(f, g, gTestEmail)
	h, c := gAssertion(f, g, a, time.Now())
	valid := gSign(f, a.key, h, c)
	f.Add(valid)
	f.Add(valid[:len(valid)-4])
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("..")
	f.Add("a.b.c.d")
	f.Fuzz(func(t *testing.T, assertion string) {
		req := httptest.NewRequest(http.MethodPost, "/token", strings.NewReader(gGrantForm(assertion)))
		req.Header.Set("Content-Type", gFormType)
		w := httptest.NewRecorder()
		g.handle(w, req)
		var body map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatalf("answer %d is not JSON: %q", w.Code, w.Body.String())
		}
		switch {
		case w.Code == http.StatusOK && body["access_token"] != nil:
		case w.Code == http.StatusBadRequest && body["error"] != nil && body["error_description"] != nil:
		default:
			t.Fatalf("answer %d %v", w.Code, body)
		}
	})
}
