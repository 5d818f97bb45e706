package switchyard

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/azure"
	"github.com/switchyard-ai/switchyard/providers/bedrock"
	"github.com/switchyard-ai/switchyard/providers/vertex"
	"github.com/switchyard-ai/switchyard/redact"
)

// credentialEnv is what building credentials needs from the runtime.
type credentialEnv struct {
	clock clock.Clock
	red   *redact.Redactor
	http  *http.Client
}

// credential builds the providers.Credential of key kc of endpoint ec.
// Issued tokens and credentials fetched from a chain are tracked by the
// redactor under the key's label.
func (kc *KeyConfig) credential(ctx context.Context, kf string, ec *EndpointConfig, env credentialEnv) (providers.Credential, error) {
	track := func(secret string) { env.red.Track(kf, secret) }
	tokenAuth := func(src providers.TokenSource) providers.Credential {
		return providers.NewAuthCredential(kc.Label, providers.NewTokenAuth(src, providers.TokenAuthOptions{Clock: env.clock, OnToken: track}))
	}
	switch {
	case kc.TokenSource != nil:
		return tokenAuth(kc.TokenSource), nil
	case kc.Entra != nil:
		e := kc.Entra
		src, err := azure.EntraTokenSource(azure.EntraCredentials{TenantID: e.TenantID, ClientID: e.ClientID, ClientSecret: e.ClientSecret,
			TokenURL: e.TokenURL, Scope: e.Scope, HTTP: env.http})
		if err != nil {
			return providers.Credential{}, &ConfigError{Field: kf + ".entra", Reason: env.red.String(err.Error())}
		}
		return tokenAuth(src), nil
	case kc.Google != nil:
		g := kc.Google
		gc := vertex.GoogleCredentials{JSON: g.CredentialsJSON, UseDefault: g.ApplicationDefault, Scopes: g.Scopes, TokenURL: g.TokenURL, HTTP: env.http}
		if g.ApplicationDefault {
			// Finding application default credentials may probe the
			// metadata server: done at the first token, not in New.
			return tokenAuth(&lazyTokenSource{open: func(ctx context.Context) (providers.TokenSource, error) {
				return vertex.GoogleTokenSource(ctx, gc)
			}}), nil
		}
		src, err := vertex.GoogleTokenSource(ctx, gc)
		if err != nil {
			return providers.Credential{}, &ConfigError{Field: kf + ".google", Reason: env.red.String(err.Error())}
		}
		return tokenAuth(src), nil
	case kc.AWS != nil:
		a := kc.AWS
		signer, err := bedrock.NewSigV4(ctx, bedrock.AWSCredentials{AccessKeyID: a.AccessKeyID, SecretAccessKey: a.SecretAccessKey,
			SessionToken: a.SessionToken, UseDefaultChain: a.DefaultChain, Profile: a.Profile, Region: ec.Region,
			Clock: env.clock, OnSecret: track})
		if err != nil {
			return providers.Credential{}, &ConfigError{Field: kf + ".aws", Reason: env.red.String(err.Error())}
		}
		return providers.NewAuthCredential(kc.Label, signer), nil
	}
	return providers.NewCredential(kc.Label, kc.Secret), nil
}

// lazyTokenSource opens its token source at the first Token call; a failure
// to open it (no application default credentials on this machine) refuses
// the credential, and the next call tries again. It is safe for concurrent
// use.
type lazyTokenSource struct {
	open func(ctx context.Context) (providers.TokenSource, error)

	mu  sync.Mutex
	src providers.TokenSource
}

// Token opens the source if needed and asks it for a token.
func (l *lazyTokenSource) Token(ctx context.Context) (providers.Token, error) {
	l.mu.Lock()
	src := l.src
	if src == nil {
		var err error
		if src, err = l.open(ctx); err != nil {
			l.mu.Unlock()
			return providers.Token{}, fmt.Errorf("%w: %w", providers.ErrCredentialRefused, err)
		}
		l.src = src
	}
	l.mu.Unlock()
	return src.Token(ctx)
}
