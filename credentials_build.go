package switchyard

import (
	"context"
	"net/http"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
)

type credentialEnv struct {
	clock clock.Clock
	red   *redact.Redactor
	http  *http.Client
}

func (kc *KeyConfig) credential(ctx context.Context, kf string, ec *EndpointConfig, env credentialEnv) (providers.Credential, error) {
	if kc.TokenSource != nil {
		return providers.NewAuthCredential(kc.Label, providers.NewTokenAuth(kc.TokenSource, providers.TokenAuthOptions{Clock: env.clock, OnToken: func(s string) { env.red.Track(kf, s) }})), nil
	}
	return providers.NewCredential(kc.Label, kc.Secret), nil
}
