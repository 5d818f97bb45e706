package bedrock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/providers"
)

// DefaultService is the SigV4 signing name of Bedrock's runtime API.
const DefaultService = "bedrock"

// AWSCredentials says where an AWS Signature Version 4 signer gets its keys
// and what it signs for. Exactly one source is used: static keys
// (AccessKeyID and SecretAccessKey, with SessionToken for temporary ones),
// Provider, or the standard AWS chain (UseDefaultChain or Profile: the
// environment, the shared config and credentials files, SSO, web identity,
// the container and instance metadata endpoints, as
// github.com/aws/aws-sdk-go-v2/config.LoadDefaultConfig finds them).
type AWSCredentials struct {
	// AccessKeyID and SecretAccessKey are static keys; SessionToken goes
	// with temporary ones (X-Amz-Security-Token).
	AccessKeyID, SecretAccessKey, SessionToken string
	// Provider supplies keys (an assumed role, a host's own provider).
	Provider aws.CredentialsProvider
	// UseDefaultChain takes keys from the standard AWS chain.
	UseDefaultChain bool
	// Profile names the shared-config profile of the standard chain; it
	// implies UseDefaultChain.
	Profile string
	// Region is the signing region, e.g. "us-east-1". Required, except
	// with the standard chain, whose configured region (AWS_REGION, the
	// profile's region) it then defaults to.
	Region string
	// Service is the signing name; empty means DefaultService, "bedrock".
	Service string
	// Clock gives the signing time; nil is the wall clock.
	Clock clock.Clock
	// OnSecret, when set, is called with every secret access key and
	// session token obtained, before its first use (static keys: by
	// NewSigV4), once each (the runtime registers each with its redactor).
	OnSecret func(secret string)
}

// NewSigV4 returns an Authenticator that signs each request with AWS
// Signature Version 4 (header auth, AWS4-HMAC-SHA256) through
// aws-sdk-go-v2's signer, with the hex SHA-256 of the exact body as the
// payload hash, as Anthropic's Bedrock SDK does. Keys come from c (see
// AWSCredentials) through an aws.CredentialsCache, which renews temporary
// keys before they expire. The Authenticator is also a
// providers.Refresher: Refresh drops the cached keys, so the next request
// signs with fresh ones (static keys cannot change: Refresh then reports
// false).
//
// Errors name the field at fault and never hold a secret. The
// Authenticator is safe for concurrent use.
func NewSigV4(ctx context.Context, c AWSCredentials) (providers.Authenticator, error) {
	static := c.AccessKeyID != "" || c.SecretAccessKey != "" || c.SessionToken != ""
	chain := c.UseDefaultChain || c.Profile != ""
	sources := 0
	for _, set := range []bool{static, c.Provider != nil, chain} {
		if set {
			sources++
		}
	}
	switch {
	case sources == 0:
		return nil, errors.New("aws credentials: none given: set access_key_id and secret_access_key, a provider, or use the default chain")
	case sources > 1:
		return nil, errors.New("aws credentials: give one of access_key_id/secret_access_key, a provider, or the default chain (use_default_chain, profile)")
	case static && c.AccessKeyID == "":
		return nil, errors.New("aws credentials: access_key_id is required with secret_access_key or session_token")
	case static && c.SecretAccessKey == "":
		return nil, errors.New("aws credentials: secret_access_key is required with access_key_id")
	}
	s := &sigV4{region: c.Region, service: c.Service, clk: c.Clock, onSecret: c.OnSecret, signer: v4.NewSigner(), seen: map[string]bool{}}
	if s.service == "" {
		s.service = DefaultService
	}
	if s.clk == nil {
		s.clk = clock.Real
	}
	var provider aws.CredentialsProvider
	switch {
	case static:
		provider = credentials.NewStaticCredentialsProvider(c.AccessKeyID, c.SecretAccessKey, c.SessionToken)
		s.static = true
		s.announce(c.SecretAccessKey, c.SessionToken)
	case c.Provider != nil:
		provider = c.Provider
	default:
		opts := []func(*config.LoadOptions) error{}
		if c.Profile != "" {
			opts = append(opts, config.WithSharedConfigProfile(c.Profile))
		}
		if c.Region != "" {
			opts = append(opts, config.WithRegion(c.Region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return nil, fmt.Errorf("aws credentials: loading the default chain (profile %q): %w", c.Profile, err)
		}
		if cfg.Credentials == nil {
			return nil, errors.New("aws credentials: the default chain found no credentials")
		}
		provider = cfg.Credentials
		if s.region == "" {
			s.region = cfg.Region
		}
	}
	if s.region == "" {
		return nil, errors.New("aws credentials: region is required")
	}
	if cache, ok := provider.(*aws.CredentialsCache); ok {
		s.cache = cache
	} else {
		s.cache = aws.NewCredentialsCache(provider)
	}
	return s, nil
}

// sigV4 is the Authenticator NewSigV4 returns.
type sigV4 struct {
	region, service string
	clk             clock.Clock
	onSecret        func(string)
	signer          *v4.Signer
	cache           *aws.CredentialsCache
	static          bool

	mu      sync.Mutex
	seen    map[string]bool // secrets already handed to onSecret
	current string          // access key ID and session token last signed with
}

var (
	_ providers.Authenticator = (*sigV4)(nil)
	_ providers.Refresher     = (*sigV4)(nil)
)

// Authorize signs req, whose body is body: X-Amz-Date, X-Amz-Security-Token
// for temporary keys, and Authorization. Headers without a value are
// dropped first, as they never reach the wire and so cannot be signed.
func (s *sigV4) Authorize(ctx context.Context, req *http.Request, body []byte) error {
	creds, err := s.cache.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("aws credentials: %w", err)
	}
	if !creds.HasKeys() {
		return errors.New("aws credentials: the provider returned no keys")
	}
	s.announce(creds.SecretAccessKey, creds.SessionToken)
	s.mu.Lock()
	s.current = identity(creds.AccessKeyID, creds.SessionToken)
	s.mu.Unlock()
	for k, vs := range req.Header {
		if len(vs) == 0 {
			delete(req.Header, k)
		}
	}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token"} {
		req.Header.Del(k)
	}
	sum := sha256.Sum256(body)
	if err := s.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), s.service, s.region, s.clk.Now()); err != nil {
		return fmt.Errorf("aws sigv4: signing the request: %w", err)
	}
	return nil
}

// announce hands secrets not seen before to onSecret.
func (s *sigV4) announce(secrets ...string) {
	if s.onSecret == nil {
		return
	}
	s.mu.Lock()
	var fresh []string
	for _, v := range secrets {
		if v != "" && !s.seen[v] {
			s.seen[v] = true
			fresh = append(fresh, v)
		}
	}
	s.mu.Unlock()
	for _, v := range fresh {
		s.onSecret(v)
	}
}

// Refresh drops the cached keys when req was signed with the latest ones,
// so the next Authorize obtains new ones, and reports whether new keys may
// differ (false for static keys).
func (s *sigV4) Refresh(req *http.Request) bool {
	if s.static {
		return false
	}
	sent := identity(accessKeyOf(req.Header.Get("Authorization")), req.Header.Get("X-Amz-Security-Token"))
	s.mu.Lock()
	stale := sent == s.current
	s.mu.Unlock()
	if stale {
		s.cache.Invalidate()
	}
	return true
}

// identity names a set of keys by their public parts.
func identity(accessKeyID, sessionToken string) string { return accessKeyID + "\x00" + sessionToken }

// accessKeyOf reads the access key ID from a SigV4 Authorization header.
func accessKeyOf(auth string) string {
	_, rest, ok := strings.Cut(auth, "Credential=")
	if !ok {
		return ""
	}
	id, _, _ := strings.Cut(rest, "/")
	return id
}
