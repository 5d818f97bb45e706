package vertex

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"
)

// editKey returns the key file doc with its fields changed (nil deletes).
func editKey(t *testing.T, doc []byte, fields map[string]any) []byte {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(doc, &m))
	for k, v := range fields {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	require.NoError(t, err)
	return b
}

// privateKeyBody is the base64 body of doc's private key, which no error
// may show.
func privateKeyBody(t *testing.T, doc []byte) string {
	t.Helper()
	var f struct {
		PrivateKey string `json:"private_key"`
	}
	require.NoError(t, json.Unmarshal(doc, &f))
	lines := strings.Split(f.PrivateKey, "\n")
	require.Greater(t, len(lines), 3)
	return lines[1]
}

func TestGoogleTokenSourceFetchesEachTime(t *testing.T) {
	p := newIDP(t, 20*time.Minute)
	src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: p.keyDoc})
	require.NoError(t, err)
	t1, err := src.Token(context.Background())
	require.NoError(t, err)
	t2, err := src.Token(context.Background())
	require.NoError(t, err)
	assert.NotEqual(t, t1.Value, t2.Value, "each call fetches a new token")
	assert.Equal(t, 2, p.g.Issued())
	for _, tok := range []providers.Token{t1, t2} {
		assert.True(t, strings.HasPrefix(tok.Value, "ya29."), "token %q", tok.Value)
		assert.LessOrEqual(t, tok.ExpiresIn, 20*time.Minute)
		assert.Greater(t, tok.ExpiresIn, 19*time.Minute, "what remains of the token's lifetime")
	}
	// The token is good at the simulator.
	req := httptest.NewRequest(http.MethodPost, "/", nil)
	req.Header.Set("Authorization", "Bearer "+t2.Value)
	client, _, _ := p.g.Check(req)
	assert.Equal(t, email, client)
}

func TestGoogleTokenSourceFileAndDefault(t *testing.T) {
	p := newIDP(t, 0)
	path := filepath.Join(t.TempDir(), "sa.json")
	require.NoError(t, os.WriteFile(path, p.keyDoc, 0o600))
	tests := []struct {
		name string
		c    GoogleCredentials
	}{
		{"File", GoogleCredentials{File: path}},
		{"UseDefault with GOOGLE_APPLICATION_CREDENTIALS", GoogleCredentials{UseDefault: true}},
		{"explicit scope", GoogleCredentials{JSON: p.keyDoc, Scopes: []string{"https://www.googleapis.com/auth/generative-language"}}},
	}
	t.Setenv(EnvCredentials, path)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := p.g.Issued()
			src, err := GoogleTokenSource(context.Background(), tt.c)
			require.NoError(t, err)
			tok, err := src.Token(context.Background())
			require.NoError(t, err)
			assert.NotEmpty(t, tok.Value)
			assert.Equal(t, before+1, p.g.Issued())
		})
	}
}

// TestGoogleTokenSourceTokenURL: TokenURL replaces the file's token_uri
// (and is the assertion's audience).
func TestGoogleTokenSourceTokenURL(t *testing.T) {
	p := newIDP(t, 0)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL + "/token"
	dead.Close()
	doc := editKey(t, p.keyDoc, map[string]any{"token_uri": deadURL})

	src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: doc, TokenURL: p.g.URL + "/token"})
	require.NoError(t, err)
	_, err = src.Token(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, p.g.Issued())

	src, err = GoogleTokenSource(context.Background(), GoogleCredentials{JSON: doc})
	require.NoError(t, err)
	_, err = src.Token(context.Background())
	require.Error(t, err, "the file's token_uri is down")
	assert.NotErrorIs(t, err, providers.ErrCredentialRefused, "a token endpoint that is down refuses nothing")
}

func TestGoogleTokenSourceInvalid(t *testing.T) {
	p := newIDP(t, 0)
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	require.NoError(t, err)
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER}))
	junkPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}))
	user := `{"type":"authorized_user","client_id":"id","client_secret":"s3cr3t","refresh_token":"1//r"}`
	tests := []struct {
		name string
		c    GoogleCredentials
		want string
	}{
		{"nothing", GoogleCredentials{}, "set exactly one of JSON, File and UseDefault"},
		{"JSON and File", GoogleCredentials{JSON: p.keyDoc, File: "sa.json"}, "set exactly one of JSON, File and UseDefault"},
		{"not JSON", GoogleCredentials{JSON: []byte("type: service_account")}, "not JSON"},
		{"not an object", GoogleCredentials{JSON: []byte(`["service_account"]`)}, "not a JSON object"},
		{"no type", GoogleCredentials{JSON: []byte(`{}`)}, `"type" is missing`},
		{"unknown type", GoogleCredentials{JSON: []byte(`{"type":"api_key"}`)}, `"type" "api_key" is not supported`},
		{"no client_email", GoogleCredentials{JSON: editKey(t, p.keyDoc, map[string]any{"client_email": nil})}, `"client_email" is missing`},
		{"no private_key", GoogleCredentials{JSON: editKey(t, p.keyDoc, map[string]any{"private_key": nil})}, `"private_key" is missing`},
		{"private_key not PEM", GoogleCredentials{JSON: editKey(t, p.keyDoc, map[string]any{"private_key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"})}, `"private_key" is not PEM-encoded`},
		{"private_key not RSA", GoogleCredentials{JSON: editKey(t, p.keyDoc, map[string]any{"private_key": ecPEM})}, `"private_key" is not an RSA key`},
		{"private_key garbage", GoogleCredentials{JSON: editKey(t, p.keyDoc, map[string]any{"private_key": junkPEM})}, `"private_key" is not a PKCS #8 or PKCS #1 RSA private key`},
		{"private_key a number", GoogleCredentials{JSON: editKey(t, p.keyDoc, map[string]any{"private_key": 42})}, `"private_key" is not a string`},
		{"token_uri not http", GoogleCredentials{JSON: editKey(t, p.keyDoc, map[string]any{"token_uri": "ftp://oauth2.example/token"})}, `token_uri "ftp://oauth2.example/token" is not an http(s) URL`},
		{"TokenURL relative", GoogleCredentials{JSON: p.keyDoc, TokenURL: "/token"}, `TokenURL "/token" is not an http(s) URL`},
		{"authorized_user without refresh_token", GoogleCredentials{JSON: []byte(strings.Replace(user, `"refresh_token":"1//r"`, `"x":1`, 1))}, `"refresh_token" is missing`},
		{"authorized_user without client_secret", GoogleCredentials{JSON: []byte(strings.Replace(user, `"client_secret":"s3cr3t"`, `"x":1`, 1))}, `"client_secret" is missing`},
		{"TokenURL on external_account", GoogleCredentials{JSON: []byte(`{"type":"external_account","audience":"//iam"}`), TokenURL: "https://sts.example/token"}, "TokenURL does not apply to external_account credentials"},
		{"missing file", GoogleCredentials{File: filepath.Join(t.TempDir(), "none.json")}, "google credentials: File:"},
	}
	secret := privateKeyBody(t, p.keyDoc)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := GoogleTokenSource(context.Background(), tt.c)
			require.Error(t, err)
			assert.Nil(t, src)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error(), secret, "the error shows the private key")
			assert.NotContains(t, err.Error(), "s3cr3t", "the error shows the client secret")
		})
	}
	assert.Zero(t, p.g.Issued())
}

// TestGoogleTokenSourceRefused: the token endpoint refusing the key is
// providers.ErrCredentialRefused, which fails the attempt as ClassAuth
// before anything is sent to Vertex.
func TestGoogleTokenSourceRefused(t *testing.T) {
	p := newIDP(t, 0)
	other := sim.StartGoogleOAuth(sim.GoogleOAuthOptions{})
	defer other.Close()
	tests := []struct {
		name  string
		doc   []byte
		descr string
	}{
		// A key made elsewhere for an account the endpoint does not know.
		{"unknown account", editKey(t, other.ServiceAccount("ghost@sim-project.iam.gserviceaccount.com"), map[string]any{"token_uri": p.g.URL + "/token"}), "Invalid grant: account not found"},
		// A key the endpoint does not know (deleted) for a known account.
		{"unknown key", editKey(t, other.ServiceAccount(email), map[string]any{"token_uri": p.g.URL + "/token"}), "Invalid JWT Signature."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: tt.doc})
			require.NoError(t, err)
			_, err = src.Token(context.Background())
			require.ErrorIs(t, err, providers.ErrCredentialRefused)
			assert.Contains(t, err.Error(), "400 invalid_grant: "+tt.descr)
			assert.NotContains(t, err.Error(), privateKeyBody(t, tt.doc))

			r := p.rig(t, rigOptions{})
			c := r.call(&messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}})
			c.Key = providers.NewAuthCredential("ghost", providers.NewTokenAuth(src, providers.TokenAuthOptions{Clock: r.clk}))
			ue := r.doCall(t, c).Upstream(t)
			assert.Equal(t, messages.ClassAuth, ue.Class, "%v", ue)
			assert.ErrorIs(t, ue, providers.ErrCredentialRefused)
			assert.Zero(t, r.srv.Calls(), "nothing is sent without a token")
		})
	}
	assert.Zero(t, p.g.Issued())
}

// TestGoogleTokenSourceEndpointDown: a token endpoint answering 5xx is not
// a refusal: the attempt is ClassConnection (another key may work).
func TestGoogleTokenSourceEndpointDown(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"error":"temporarily_unavailable","error_description":"try later"}`)
	}))
	defer down.Close()
	p := newIDP(t, 0)
	src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: p.keyDoc, TokenURL: down.URL + "/token"})
	require.NoError(t, err)
	_, err = src.Token(context.Background())
	require.Error(t, err)
	assert.NotErrorIs(t, err, providers.ErrCredentialRefused)
	assert.Contains(t, err.Error(), "503 temporarily_unavailable: try later")

	r := p.rig(t, rigOptions{})
	c := r.call(&messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}})
	c.Key = providers.NewAuthCredential("sa", providers.NewTokenAuth(src, providers.TokenAuthOptions{Clock: r.clk}))
	ue := r.doCall(t, c).Upstream(t)
	assert.Equal(t, messages.ClassConnection, ue.Class, "%v", ue)
	assert.Zero(t, r.srv.Calls())
}

// TestGoogleTokenSourceAuthorizedUser: gcloud user credentials use the
// refresh-token grant, a new token per call; a refused refresh token is
// ErrCredentialRefused.
func TestGoogleTokenSourceAuthorizedUser(t *testing.T) {
	var mu sync.Mutex
	var forms []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		mu.Lock()
		forms = append(forms, r.PostForm)
		n := len(forms)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("refresh_token") != "1//good" {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "ya29.user-" + string(rune('a'+n)), "expires_in": 3599, "token_type": "Bearer"})
	}))
	defer srv.Close()
	doc := func(refresh string) []byte {
		return []byte(`{"type":"authorized_user","client_id":"123.apps.googleusercontent.com","client_secret":"s3cr3t","refresh_token":"` + refresh + `","token_uri":"` + srv.URL + `/token"}`)
	}
	src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: doc("1//good")})
	require.NoError(t, err)
	t1, err := src.Token(context.Background())
	require.NoError(t, err)
	t2, err := src.Token(context.Background())
	require.NoError(t, err)
	assert.NotEqual(t, t1.Value, t2.Value)
	assert.Greater(t, t1.ExpiresIn, 59*time.Minute)
	mu.Lock()
	require.Len(t, forms, 2, "one request per call")
	f := forms[0]
	mu.Unlock()
	assert.Equal(t, "refresh_token", f.Get("grant_type"))
	assert.Equal(t, "123.apps.googleusercontent.com", f.Get("client_id"))
	assert.Equal(t, "s3cr3t", f.Get("client_secret"))
	assert.Equal(t, "1//good", f.Get("refresh_token"))

	src, err = GoogleTokenSource(context.Background(), GoogleCredentials{JSON: doc("1//revoked")})
	require.NoError(t, err)
	_, err = src.Token(context.Background())
	require.ErrorIs(t, err, providers.ErrCredentialRefused)
	assert.Contains(t, err.Error(), "invalid_grant: Token has been expired or revoked.")
	assert.NotContains(t, err.Error(), "s3cr3t")
	assert.NotContains(t, err.Error(), "1//revoked")
}

// TestGoogleTokenSourceCancel: the caller's context ends a token request
// in flight (golang.org/x/oauth2's JWT flow does not pass it on itself).
func TestGoogleTokenSourceCancel(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(entered) })
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	p := newIDP(t, 0)
	src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: p.keyDoc, TokenURL: srv.URL + "/token"})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := src.Token(ctx)
		errc <- err
	}()
	<-entered
	cancel()
	err = <-errc
	require.Error(t, err)
	assert.Contains(t, err.Error(), "context canceled")
	assert.False(t, errors.Is(err, providers.ErrCredentialRefused))
}
