package bedrock

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/sim"
)

// TestNewSigV4Refuses: credentials that cannot sign are refused, naming the
// field and never the secret.
func TestNewSigV4Refuses(t *testing.T) {
	provider := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) { return aws.Credentials{}, nil })
	tests := []struct {
		name  string
		c     AWSCredentials
		field string
	}{
		{"nothing", AWSCredentials{Region: region}, "none given"},
		{"secret without access key", AWSCredentials{SecretAccessKey: testKey.SecretAccessKey, Region: region}, "access_key_id"},
		{"access key without secret", AWSCredentials{AccessKeyID: testKey.AccessKeyID, Region: region}, "secret_access_key"},
		{"session token alone", AWSCredentials{SessionToken: testTemp.SessionToken, Region: region}, "access_key_id"},
		{"keys and a provider", AWSCredentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey, Provider: provider, Region: region}, "one of"},
		{"provider and the chain", AWSCredentials{Provider: provider, Profile: "p", Region: region}, "one of"},
		{"no region", AWSCredentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey}, "region"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := NewSigV4(context.Background(), tt.c)
			require.Error(t, err)
			assert.Nil(t, a)
			assert.Contains(t, err.Error(), tt.field)
			for _, s := range secrets {
				assert.NotContains(t, err.Error(), s)
			}
		})
	}
}

// rotating is a provider of temporary keys that issues new ones on every
// call.
type rotating struct {
	mu    sync.Mutex
	calls int
	fail  error
	v     *sim.BedrockBackend
}

func (p *rotating) Retrieve(context.Context) (aws.Credentials, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return aws.Credentials{}, p.fail
	}
	p.calls++
	k := sim.SigV4Key{AccessKeyID: fmt.Sprintf("ASIAROTATING%04d", p.calls), SecretAccessKey: fmt.Sprintf("rotating-secret-%04d", p.calls),
		SessionToken: fmt.Sprintf("rotating-token-%04d", p.calls)}
	p.v.Signatures().AddKey(k)
	return aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken, Source: "test"}, nil
}

func (p *rotating) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// TestSigV4RefreshFetchesNewKeys: keys from a provider are cached; when the
// session expires, Bedrock's 403 ExpiredTokenException makes Client.Send
// refresh the signer and sign the call again with fresh keys, so the call
// succeeds; a refusal of keys already replaced drops nothing. Every secret
// and token obtained goes to OnSecret once.
func TestSigV4RefreshFetchesNewKeys(t *testing.T) {
	e := start(t)
	p := &rotating{v: e.b}
	var mu sync.Mutex
	var announced []string
	auth, err := NewSigV4(context.Background(), AWSCredentials{Provider: p, Region: region, Clock: e.clk,
		OnSecret: func(s string) { mu.Lock(); announced = append(announced, s); mu.Unlock() }})
	require.NoError(t, err)
	key := providers.NewAuthCredential("rotating", auth)

	run(t, e.call(t, chat("one"), key)).Chat(t)
	run(t, e.call(t, chat("two"), key)).Chat(t)
	assert.Equal(t, 1, p.count(), "keys are cached")

	first := e.s.Requests()[1]
	e.b.Signatures().ExpireSessionToken(first.Header.Get("X-Amz-Security-Token"))
	run(t, e.call(t, chat("three"), key)).Chat(t)
	assert.Equal(t, 2, p.count(), "the expired session was renewed within the call")
	reqs := e.s.Requests()
	require.Len(t, reqs, 4, "the refused try and the one signed with new keys")
	assert.Equal(t, "rotating-token-0001", reqs[2].Header.Get("X-Amz-Security-Token"))
	assert.Equal(t, "rotating-token-0002", reqs[3].Header.Get("X-Amz-Security-Token"))

	refused := &http.Request{Header: first.Header.Clone()}
	r, ok := auth.(providers.Refresher)
	require.True(t, ok, "the signer is a Refresher")
	assert.True(t, r.Refresh(refused), "a stale refusal still allows a retry")
	run(t, e.call(t, chat("four"), key)).Chat(t)
	assert.Equal(t, 2, p.count(), "a refusal of replaced keys drops nothing")

	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, []string{"rotating-secret-0001", "rotating-token-0001", "rotating-secret-0002", "rotating-token-0002"}, announced)
}

// An AccessDeniedException 403 is not a credential a renewal can cure: the
// call fails as ClassAuth after one try.
func TestAccessDeniedIsNotRefreshed(t *testing.T) {
	e := start(t)
	p := &rotating{v: e.b}
	auth, err := NewSigV4(context.Background(), AWSCredentials{Provider: p, Region: region, Clock: e.clk})
	require.NoError(t, err)
	e.s.Inject(sim.Fault{Status: 403})
	ue := run(t, e.call(t, chat("denied"), providers.NewAuthCredential("rotating", auth))).Upstream(t)
	assert.Equal(t, "AccessDeniedException", ue.Type)
	assert.Equal(t, messages.ClassAuth, ue.Class)
	assert.Equal(t, 1, p.count())
	assert.Len(t, e.s.Requests(), 1)
}

// TestSigV4StaticKeysDoNotRefresh: static keys cannot change, so Refresh
// reports that a retry would not help.
func TestSigV4StaticKeysDoNotRefresh(t *testing.T) {
	auth, err := NewSigV4(context.Background(), AWSCredentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey, Region: region})
	require.NoError(t, err)
	assert.False(t, auth.(providers.Refresher).Refresh(&http.Request{Header: http.Header{}}))
}

// TestSigV4ProviderFailure: a provider that cannot give keys fails the
// attempt before sending, as a connection-class failure (another key may
// work), without secrets in the error.
func TestSigV4ProviderFailure(t *testing.T) {
	e := start(t)
	p := &rotating{v: e.b, fail: errors.New("sts: connection refused")}
	auth, err := NewSigV4(context.Background(), AWSCredentials{Provider: p, Region: region})
	require.NoError(t, err)
	ue := run(t, e.call(t, chat("x"), providers.NewAuthCredential("broken", auth))).Upstream(t)
	assert.Equal(t, messages.ClassConnection, ue.Class)
	require.Error(t, ue.Cause)
	assert.Contains(t, ue.Cause.Error(), "connection refused")
	assert.Zero(t, e.s.Calls(), "nothing sent")
}

// TestSigV4DefaultChain: the standard chain finds keys in the environment
// and in a shared credentials file's profile, and its region when none is
// given.
func TestSigV4DefaultChain(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		files   map[string]string // AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE contents
		c       AWSCredentials
		wantKey string
	}{
		{name: "environment", env: map[string]string{"AWS_ACCESS_KEY_ID": testKey.AccessKeyID, "AWS_SECRET_ACCESS_KEY": testKey.SecretAccessKey, "AWS_REGION": region},
			c: AWSCredentials{UseDefaultChain: true}, wantKey: testKey.AccessKeyID},
		{name: "profile", files: map[string]string{
			"credentials": "[sim]\naws_access_key_id = " + testTemp.AccessKeyID + "\naws_secret_access_key = " + testTemp.SecretAccessKey + "\naws_session_token = " + testTemp.SessionToken + "\n",
			"config":      "[profile sim]\nregion = " + region + "\n"},
			c: AWSCredentials{Profile: "sim"}, wantKey: testTemp.AccessKeyID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK"} {
				t.Setenv(k, "")
			}
			t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
			t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
			t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
			for name, content := range tt.files {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			e := start(t)
			c := tt.c
			c.Clock = e.clk
			auth, err := NewSigV4(context.Background(), c)
			require.NoError(t, err)
			run(t, e.call(t, chat("hi"), providers.NewAuthCredential("chain", auth))).Chat(t)
			assert.Equal(t, tt.wantKey, e.s.Requests()[0].Key)
			assert.True(t, strings.Contains(e.s.Requests()[0].Header.Get("Authorization"), "/"+region+"/bedrock/aws4_request"))
		})
	}
}

// TestSigV4AnnouncesStaticSecrets: static keys' secret and session token
// go to OnSecret when the signer is built, once.
func TestSigV4AnnouncesStaticSecrets(t *testing.T) {
	e := start(t)
	var got []string
	auth, err := NewSigV4(context.Background(), AWSCredentials{AccessKeyID: testTemp.AccessKeyID, SecretAccessKey: testTemp.SecretAccessKey,
		SessionToken: testTemp.SessionToken, Region: region, Clock: e.clk, OnSecret: func(s string) { got = append(got, s) }})
	require.NoError(t, err)
	assert.Equal(t, []string{testTemp.SecretAccessKey, testTemp.SessionToken}, got)
	run(t, e.call(t, chat("hi"), providers.NewAuthCredential("temp", auth))).Chat(t)
	assert.Len(t, got, 2, "announced once")
}
