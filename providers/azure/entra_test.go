package azure_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/azure"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"
)

// The Entra ID application of the simulated tenant.
const (
	clientID     = "app-0001"
	clientSecret = "client-secret-0123456789SECRET"
)

// entraSim starts a simulator whose token endpoint knows the application,
// with tokens living an hour on the simulator's own manual clock.
func entraSim(t *testing.T) (*sim.Server, *sim.AzureBackend) {
	t.Helper()
	b := &sim.AzureBackend{Clients: map[string]string{clientID: clientSecret}, Clock: clocktest.New(t), TokenTTL: time.Hour}
	return startSim(t, b), b
}

func entraSource(t *testing.T, srv *sim.Server, b *sim.AzureBackend, secret string) providers.TokenSource {
	t.Helper()
	src, err := azure.EntraTokenSource(azure.EntraCredentials{TenantID: sim.AzureTenantID, ClientID: clientID, ClientSecret: secret,
		TokenURL: srv.URL + b.TokenPath()})
	require.NoError(t, err)
	return src
}

func TestEntraCredentialsValidation(t *testing.T) {
	ok := azure.EntraCredentials{TenantID: "t", ClientID: "c", ClientSecret: "s"}
	for _, tc := range []struct {
		name  string
		edit  func(*azure.EntraCredentials)
		field string
	}{
		{"no tenant", func(c *azure.EntraCredentials) { c.TenantID = " " }, "EntraCredentials.TenantID"},
		{"no client", func(c *azure.EntraCredentials) { c.ClientID = "" }, "EntraCredentials.ClientID"},
		{"no secret", func(c *azure.EntraCredentials) { c.ClientSecret = "" }, "EntraCredentials.ClientSecret"},
		{"relative token URL", func(c *azure.EntraCredentials) { c.TokenURL = "/token" }, "EntraCredentials.TokenURL"},
		{"token URL of another scheme", func(c *azure.EntraCredentials) { c.TokenURL = "ftp://login/token" }, "EntraCredentials.TokenURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.ClientSecret = "s3cret-value"
			tc.edit(&c)
			_, err := azure.EntraTokenSource(c)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.field)
			assert.NotContains(t, err.Error(), "s3cret-value")
		})
	}
	_, err := azure.EntraTokenSource(azure.EntraCredentials{ClientID: "c", ClientSecret: "s", TokenURL: "https://login.example/token"})
	assert.NoError(t, err, "TokenURL makes TenantID unnecessary")
}

// TestEntraTokenRequest checks the request the source sends: the default
// token URL of the tenant, the client credentials grant with the secret in
// the form, and the default scope.
func TestEntraTokenRequest(t *testing.T) {
	for _, tc := range []struct {
		name      string
		creds     azure.EntraCredentials
		wantURL   string
		wantScope string
	}{
		{"defaults", azure.EntraCredentials{TenantID: "contoso.onmicrosoft.com"},
			"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token", azure.DefaultScope},
		{"own token URL and scope", azure.EntraCredentials{TokenURL: "https://login.microsoftonline.us/t/oauth2/v2.0/token", Scope: "api://x/.default"},
			"https://login.microsoftonline.us/t/oauth2/v2.0/token", "api://x/.default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got *http.Request
			var form url.Values
			c := tc.creds
			c.ClientID, c.ClientSecret = clientID, clientSecret
			c.HTTP = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
				got = r
				b, _ := io.ReadAll(r.Body)
				form, _ = url.ParseQuery(string(b))
				return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}, Request: r,
					Body: io.NopCloser(strings.NewReader(`{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"tok-1"}`))}, nil
			})}
			src, err := azure.EntraTokenSource(c)
			require.NoError(t, err)
			tok, err := src.Token(context.Background())
			require.NoError(t, err)
			assert.Equal(t, "tok-1", tok.Value)
			require.NotNil(t, got)
			assert.Equal(t, tc.wantURL, got.URL.String())
			assert.Equal(t, http.MethodPost, got.Method)
			assert.Equal(t, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {clientSecret},
				"scope": {tc.wantScope}}, form)
			assert.Empty(t, got.Header.Get("Authorization"), "the secret travels in the form, not in Basic auth")
		})
	}
}

// TestEntraTokenSourceFetchesEachTime: every Token call gets a new token
// from the endpoint (TokenAuth does the caching), with its lifetime.
func TestEntraTokenSourceFetchesEachTime(t *testing.T) {
	srv, b := entraSim(t)
	src := entraSource(t, srv, b, clientSecret)
	seen := map[string]bool{}
	for i := 1; i <= 3; i++ {
		tok, err := src.Token(context.Background())
		require.NoError(t, err)
		assert.False(t, seen[tok.Value], "token %d is new", i)
		seen[tok.Value] = true
		assert.Equal(t, i, b.TokensIssued())
		// Lifetime: the endpoint's expires_in (an hour), less the moments
		// since oauth2 read the answer (it dates expiries on the wall
		// clock); far from DefaultTokenLifetime, the lifetime of a token
		// without one.
		assert.LessOrEqual(t, tok.ExpiresIn, time.Hour)
		assert.Greater(t, tok.ExpiresIn, 30*time.Minute)
	}
}

// TestEntraTokenErrors: the token endpoint's refusals wrap
// ErrCredentialRefused, other failures do not, and no error shows the
// secret.
func TestEntraTokenErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		secret  string
		scope   string
		client  string
		tenant  string
		fault   *sim.Fault
		refused bool
		has     string
	}{
		{name: "wrong secret", secret: "wrong-secret-value", refused: true, has: "HTTP 401 invalid_client: AADSTS7000215"},
		{name: "unknown client", client: "app-9999", refused: true, has: "HTTP 400 unauthorized_client: AADSTS700016"},
		{name: "unknown tenant", tenant: "other-tenant", refused: true, has: "HTTP 400 invalid_request: AADSTS90002"},
		{name: "invalid scope", scope: "https://cognitiveservices.azure.com/chat", refused: true, has: "HTTP 400 invalid_scope: AADSTS1002012"},
		{name: "endpoint failing", fault: &sim.Fault{Status: 503, Path: "/token"}, has: "HTTP 503"},
		{name: "endpoint throttling", fault: &sim.Fault{Status: 429, Path: "/token"}, has: "HTTP 429"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, b := entraSim(t)
			if tc.fault != nil {
				srv.Inject(*tc.fault)
			}
			c := azure.EntraCredentials{TenantID: sim.AzureTenantID, ClientID: clientID, ClientSecret: clientSecret, Scope: tc.scope}
			if tc.secret != "" {
				c.ClientSecret = tc.secret
			}
			if tc.client != "" {
				c.ClientID = tc.client
			}
			tenant := b.TenantID
			if tc.tenant != "" {
				tenant = tc.tenant
			}
			if tenant == "" {
				tenant = sim.AzureTenantID
			}
			c.TokenURL = srv.URL + "/" + tenant + "/oauth2/v2.0/token"
			src, err := azure.EntraTokenSource(c)
			require.NoError(t, err)
			_, err = src.Token(context.Background())
			require.Error(t, err)
			assert.Equal(t, tc.refused, errors.Is(err, providers.ErrCredentialRefused), "%v", err)
			assert.Contains(t, err.Error(), tc.has)
			assert.NotContains(t, err.Error(), c.ClientSecret)
			assert.NotContains(t, fmt.Sprintf("%+v", err), c.ClientSecret)
			assert.Zero(t, b.TokensIssued())
		})
	}
}

// TestEntraSecretNeverInErrors: a token endpoint that quotes the secret
// back (in its description or a transport error) does not get it into the
// error.
func TestEntraSecretNeverInErrors(t *testing.T) {
	quoting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = fmt.Fprintf(w, `{"error":"invalid_client","error_description":"secret %s is wrong"}`, r.PostForm.Get("client_secret"))
	}))
	defer quoting.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	for _, tokenURL := range []string{quoting.URL + "/token", dead.URL + "/token?secret=" + clientSecret} {
		src, err := azure.EntraTokenSource(azure.EntraCredentials{ClientID: clientID, ClientSecret: clientSecret, TokenURL: tokenURL})
		require.NoError(t, err)
		_, err = src.Token(context.Background())
		require.Error(t, err)
		assert.NotContains(t, err.Error(), clientSecret)
	}
}

// bearerCall is a chat call whose key is an Entra ID application, through
// a TokenAuth judging expiry on its own clock.
func bearerCall(t *testing.T, srv *sim.Server, b *sim.AzureBackend) (*providers.Call, *providers.TokenAuth) {
	t.Helper()
	auth := providers.NewTokenAuth(entraSource(t, srv, b, clientSecret), providers.TokenAuthOptions{Clock: clocktest.New(t)})
	call := newCall(srv.URL, &messages.ChatRequest{Model: "gpt-4o", Messages: user("hi")})
	call.Key = providers.NewAuthCredential("entra-app", auth)
	return call, auth
}

func inferenceRecords(srv *sim.Server) []sim.Record {
	var out []sim.Record
	for _, r := range srv.Requests() {
		if strings.HasPrefix(r.Path, "/openai/") {
			out = append(out, r)
		}
	}
	return out
}

func TestEntraBearerAuth(t *testing.T) {
	for _, version := range []string{"", dated} {
		t.Run("version="+version, func(t *testing.T) {
			srv, b := entraSim(t)
			a := azure.New(providers.AdapterOptions{APIVersion: version})
			call, auth := bearerCall(t, srv, b)
			cr := run(t, a, call).Chat(t)
			assert.Equal(t, "echo: hi", cr.Content)
			call2, _ := bearerCall(t, srv, b)
			call2.Key = call.Key
			run(t, a, call2).Chat(t)
			assert.Equal(t, 1, auth.Issued(), "the token is cached between calls")
			assert.Equal(t, 1, b.TokensIssued())
			recs := inferenceRecords(srv)
			require.Len(t, recs, 2)
			for _, rec := range recs {
				assert.True(t, strings.HasPrefix(rec.Header.Get("Authorization"), "Bearer sim-entra-"), "bearer token sent")
				assert.Empty(t, rec.Header.Values("Api-Key"), "no api-key with a token")
				assert.Equal(t, clientID, rec.Key, "the simulator saw the application")
			}
		})
	}
}

// TestEntraExpiredTokenRefreshedOnce: the service refuses a token that
// expired (by its clock) while the client still holds it; the client
// fetches a new one and the request succeeds on the second try.
func TestEntraExpiredTokenRefreshedOnce(t *testing.T) {
	srv, b := entraSim(t)
	a := azure.New(providers.AdapterOptions{})
	call, auth := bearerCall(t, srv, b)
	run(t, a, call).Chat(t)
	require.Equal(t, 1, b.TokensIssued())

	b.Clock.(*clock.Manual).Advance(2 * time.Hour) // the service's clock only
	call2, _ := bearerCall(t, srv, b)
	call2.Key = call.Key
	cr := run(t, a, call2).Chat(t)
	assert.Equal(t, "echo: hi", cr.Content)
	assert.Equal(t, 2, auth.Issued(), "one refresh")
	assert.Equal(t, 2, b.TokensIssued())
	recs := inferenceRecords(srv)
	require.Len(t, recs, 3, "first call, refused retry, successful retry")
	assert.NotEqual(t, recs[1].Header.Get("Authorization"), recs[2].Header.Get("Authorization"), "the retry carries the new token")
	assert.Equal(t, 200, call2.Result.Status)
}

// TestEntraSecond401IsAuth: when the new token is refused too (the
// application lacks the role), the second 401 is the attempt's answer, as
// ClassAuth.
func TestEntraSecond401IsAuth(t *testing.T) {
	srv, b := entraSim(t)
	b.DenyClient(clientID, true)
	call, auth := bearerCall(t, srv, b)
	ue := run(t, azure.New(providers.AdapterOptions{}), call).Upstream(t)
	assert.Equal(t, messages.ClassAuth, ue.Class)
	assert.Equal(t, http.StatusUnauthorized, ue.Status)
	assert.Equal(t, "PermissionDenied", ue.Code)
	assert.Equal(t, 2, auth.Issued(), "refreshed once, not more")
	assert.Len(t, inferenceRecords(srv), 2)
}

// TestEntraRefusedCredentialIsAuth: an application the token endpoint
// refuses fails the attempt as ClassAuth before anything reaches the
// service, and the error does not show the secret.
func TestEntraRefusedCredentialIsAuth(t *testing.T) {
	srv, b := entraSim(t)
	auth := providers.NewTokenAuth(entraSource(t, srv, b, "wrong-secret-0123456789"), providers.TokenAuthOptions{Clock: clocktest.New(t)})
	call := newCall(srv.URL, &messages.ChatRequest{Model: "gpt-4o", Messages: user("hi")})
	call.Key = providers.NewAuthCredential("entra-app", auth)
	r := providertest.DoRun(t, azure.New(providers.AdapterOptions{}), call, "wrong-secret-0123456789")
	ue := r.Upstream(t)
	assert.Equal(t, messages.ClassAuth, ue.Class)
	assert.ErrorIs(t, ue, providers.ErrCredentialRefused)
	assert.Empty(t, inferenceRecords(srv), "nothing reached the service")
}
