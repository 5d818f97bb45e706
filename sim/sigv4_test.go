package sim

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// sigV4Vector is one case of AWS's SigV4 test suite (testdata/sigv4).
type sigV4Vector struct {
	name    string
	key     SigV4Key
	region  string
	service string
	at      time.Time
	method  string
	path    string
	query   string
	header  http.Header
	body    []byte
	// want are the expected canonical request, string to sign and
	// signature.
	canonical, stringToSign, signature string
}

// loadSigV4Vectors reads every case in testdata/sigv4.
func loadSigV4Vectors(t *testing.T) []sigV4Vector {
	t.Helper()
	dirs, err := os.ReadDir(filepath.Join("testdata", "sigv4"))
	require.NoError(t, err)
	var out []sigV4Vector
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		out = append(out, loadSigV4Vector(t, filepath.Join("testdata", "sigv4", d.Name())))
	}
	require.GreaterOrEqual(t, len(out), 15, "vectors found")
	return out
}

func loadSigV4Vector(t *testing.T, dir string) sigV4Vector {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		require.NoError(t, err)
		return string(b)
	}
	var ctx struct {
		Credentials struct {
			AccessKeyID     string `json:"access_key_id"`
			SecretAccessKey string `json:"secret_access_key"`
			Token           string `json:"token"`
		} `json:"credentials"`
		Region    string    `json:"region"`
		Service   string    `json:"service"`
		SignBody  bool      `json:"sign_body"`
		Timestamp time.Time `json:"timestamp"`
	}
	require.NoError(t, json.Unmarshal([]byte(read("context.json")), &ctx))
	v := sigV4Vector{name: filepath.Base(dir), region: ctx.Region, service: ctx.Service, at: ctx.Timestamp,
		key:       SigV4Key{AccessKeyID: ctx.Credentials.AccessKeyID, SecretAccessKey: ctx.Credentials.SecretAccessKey, SessionToken: ctx.Credentials.Token},
		canonical: read("header-canonical-request.txt"), stringToSign: read("header-string-to-sign.txt"),
		signature: strings.TrimSpace(read("header-signature.txt"))}
	v.method, v.path, v.query, v.header, v.body = parseSignedRequest(t, read("header-signed-request.txt"))
	if !ctx.SignBody {
		v.body = nil
	}
	return v
}

// parseSignedRequest reads a test-suite request: the request line (whose
// target may hold spaces and raw UTF-8), header lines (a line starting
// with white space continues the previous value), a blank line and the
// body.
func parseSignedRequest(t *testing.T, raw string) (method, path, query string, h http.Header, body []byte) {
	t.Helper()
	head, rest, _ := strings.Cut(raw, "\n\n")
	lines := strings.Split(head, "\n")
	method, target, ok := strings.Cut(lines[0], " ")
	require.True(t, ok, "request line %q", lines[0])
	i := strings.LastIndex(target, " HTTP/")
	require.GreaterOrEqual(t, i, 0, "request line %q", lines[0])
	path, query, _ = strings.Cut(target[:i], "?")
	h = http.Header{}
	var last string
	for _, line := range lines[1:] {
		if line != "" && (line[0] == ' ' || line[0] == '\t') {
			vs := h[last]
			vs[len(vs)-1] += " " + strings.TrimSpace(line)
			continue
		}
		k, val, ok := strings.Cut(line, ":")
		require.True(t, ok, "header line %q", line)
		last = http.CanonicalHeaderKey(k)
		h.Add(last, val)
	}
	return method, path, query, h, []byte(strings.TrimRight(rest, "\n"))
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestSigV4Vectors checks the verifier's canonical request, string to sign
// and signature against AWS's test suite, and that it accepts each signed
// request at its signing time.
func TestSigV4Vectors(t *testing.T) {
	for _, v := range loadSigV4Vectors(t) {
		t.Run(v.name, func(t *testing.T) {
			a, bad := parseSigV4Auth(v.header.Get("Authorization"))
			require.Empty(t, bad)
			canonical := sigV4CanonicalRequest(v.method, v.path, v.query, v.header, a.signed, hexSHA256(v.body))
			require.Equal(t, v.canonical, canonical, "canonical request")
			scope := strings.Join([]string{a.date, v.region, v.service, "aws4_request"}, "/")
			sts := sigV4StringToSign(v.header.Get("X-Amz-Date"), scope, canonical)
			require.Equal(t, v.stringToSign, sts, "string to sign")
			require.Equal(t, v.signature, sigV4Signature(v.key.SecretAccessKey, a.date, v.region, v.service, sts), "signature")

			ver := NewSigV4Verifier(v.region, v.service, clock.NewManual(v.at), v.key)
			key, refusal := ver.verify(v.method, v.path, v.query, v.header, v.body)
			require.Nil(t, refusal, "refused: %+v", refusal)
			assert.Equal(t, v.key.AccessKeyID, key)
		})
	}
}

// TestSigV4VerifierRefuses shows each refusal on a signed test-suite
// request changed one way, with AWS's status, type and message.
func TestSigV4VerifierRefuses(t *testing.T) {
	base := loadSigV4Vector(t, filepath.Join("testdata", "sigv4", "post-x-www-form-urlencoded"))
	sts := loadSigV4Vector(t, filepath.Join("testdata", "sigv4", "get-vanilla-with-session-token"))
	tests := []struct {
		name    string
		vec     sigV4Vector
		key     func(k SigV4Key) SigV4Key
		edit    func(v *sigV4Vector)
		region  string
		service string
		skew    time.Duration
		expire  bool
		typ     string
		msg     string // prefix
	}{
		{name: "accepted as signed", vec: base},
		{name: "accepted within the skew", vec: base, skew: 4*time.Minute + 59*time.Second},
		{name: "accepted with its session token", vec: sts},
		{name: "wrong secret", vec: base, key: func(k SigV4Key) SigV4Key { k.SecretAccessKey += "x"; return k },
			typ: "InvalidSignatureException", msg: SigV4Mismatch},
		{name: "body changed", vec: base, edit: func(v *sigV4Vector) { v.body = []byte("Param1=value2") },
			typ: "InvalidSignatureException", msg: SigV4Mismatch},
		{name: "signed header changed", vec: base, edit: func(v *sigV4Vector) { v.header.Set("Content-Type", "text/plain") },
			typ: "InvalidSignatureException", msg: SigV4Mismatch},
		{name: "path changed", vec: base, edit: func(v *sigV4Vector) { v.path = "/other" },
			typ: "InvalidSignatureException", msg: SigV4Mismatch},
		{name: "stale date", vec: base, skew: 5*time.Minute + time.Second,
			typ: "InvalidSignatureException", msg: "Signature expired: "},
		{name: "date ahead", vec: base, skew: -5*time.Minute - time.Second,
			typ: "InvalidSignatureException", msg: "Signature not yet current: "},
		{name: "unknown access key", vec: base, key: func(k SigV4Key) SigV4Key { k.AccessKeyID = "AKIDOTHER"; return k },
			typ: "UnrecognizedClientException", msg: SigV4InvalidToken},
		{name: "session token missing", vec: base, key: func(k SigV4Key) SigV4Key { k.SessionToken = "tok"; return k },
			typ: "UnrecognizedClientException", msg: SigV4InvalidToken},
		{name: "session token expired", vec: sts, expire: true, typ: "ExpiredTokenException", msg: SigV4ExpiredToken},
		{name: "no Authorization", vec: base, edit: func(v *sigV4Vector) { v.header.Del("Authorization") },
			typ: "MissingAuthenticationTokenException", msg: SigV4MissingToken},
		{name: "no Signature", vec: base, edit: func(v *sigV4Vector) {
			v.header.Set("Authorization", strings.Split(v.header.Get("Authorization"), ", Signature=")[0])
		}, typ: "IncompleteSignatureException", msg: "Authorization header requires 'Signature' parameter."},
		{name: "another scheme", vec: base, edit: func(v *sigV4Vector) { v.header.Set("Authorization", "Basic dXNlcjpwYXNz") },
			typ: "IncompleteSignatureException", msg: "Authorization header requires 'Credential' parameter."},
		{name: "no X-Amz-Date", vec: base, edit: func(v *sigV4Vector) { v.header.Del("X-Amz-Date") },
			typ: "IncompleteSignatureException", msg: "Authorization header requires existence of either a 'X-Amz-Date'"},
		{name: "another region", vec: base, region: "eu-west-1", typ: "InvalidSignatureException", msg: "Credential should be scoped to a valid region."},
		{name: "another service", vec: base, service: "bedrock", typ: "InvalidSignatureException", msg: "Credential should be scoped to correct service: 'bedrock'."},
		{name: "host not signed", vec: base, edit: func(v *sigV4Vector) {
			v.header.Set("Authorization", strings.Replace(v.header.Get("Authorization"), "host;", "", 1))
		}, typ: "InvalidSignatureException", msg: "'Host' or ':authority' must be a 'SignedHeader'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.vec
			v.header = v.header.Clone()
			v.body = bytes.Clone(v.body)
			key := v.key
			if tt.key != nil {
				key = tt.key(key)
			}
			if tt.edit != nil {
				tt.edit(&v)
			}
			region, service := v.region, v.service
			if tt.region != "" {
				region = tt.region
			}
			if tt.service != "" {
				service = tt.service
			}
			ver := NewSigV4Verifier(region, service, clock.NewManual(v.at.Add(tt.skew)), key)
			if tt.expire {
				ver.ExpireSessionToken(key.SessionToken)
			}
			got, refusal := ver.verify(v.method, v.path, v.query, v.header, v.body)
			if tt.typ == "" {
				require.Nil(t, refusal, "refused: %+v", refusal)
				assert.Equal(t, key.AccessKeyID, got)
				return
			}
			require.NotNil(t, refusal, "accepted as %q", got)
			assert.Empty(t, got)
			assert.Equal(t, http.StatusForbidden, refusal.Status)
			assert.Equal(t, tt.typ, refusal.Type)
			assert.True(t, strings.HasPrefix(refusal.Message, tt.msg), "message %q, want it to start with %q", refusal.Message, tt.msg)
			assert.Equal(t, tt.typ, sigV4ErrorType(refusal.Message), "type named by the message")
			assert.NotContains(t, refusal.Message, key.SecretAccessKey)
		})
	}
}

// TestSigV4VerifierAcceptsAWSSigner: requests signed by aws-sdk-go-v2's
// signer, sent over HTTP, verify, with escaped path segments signed twice
// encoded (a Bedrock ARN's %3A as %253A) and temporary keys.
func TestSigV4VerifierAcceptsAWSSigner(t *testing.T) {
	clk := clocktest.New(t)
	keys := []SigV4Key{
		{AccessKeyID: "AKIDSIMTEST", SecretAccessKey: "sim/secret+key/0123456789"},
		{AccessKeyID: "ASIASIMTEST", SecretAccessKey: "sim-temporary-secret", SessionToken: "sim-session-token-1"},
	}
	ver := NewSigV4Verifier("eu-central-1", "bedrock", clk, keys...)
	type result struct {
		key     string
		refusal *SigV4Refusal
	}
	got := make(chan result, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var buf bytes.Buffer
		_, _ = buf.ReadFrom(r.Body)
		k, refusal := ver.Verify(r, buf.Bytes())
		got <- result{k, refusal}
	}))
	defer srv.Close()
	paths := []string{
		"/model/anthropic.claude-3-haiku-20240307-v1%3A0/invoke",
		"/model/arn%3Aaws%3Abedrock%3Aeu-central-1%3A123456789012%3Aapplication-inference-profile%2Fabc123/invoke-with-response-stream",
		"/gateway/prefix/model/m/invoke?trace=1&a=b%20c",
	}
	for _, k := range keys {
		for _, p := range paths {
			body := []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5}`)
			req, err := http.NewRequest(http.MethodPost, srv.URL+p, bytes.NewReader(body))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-Id", "rid-1")
			creds := aws.Credentials{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey, SessionToken: k.SessionToken}
			require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hexSHA256(body), "bedrock", "eu-central-1", clk.Now()))
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			_ = resp.Body.Close()
			r := <-got
			require.Nil(t, r.refusal, "%s %s refused: %+v", k.AccessKeyID, p, r.refusal)
			assert.Equal(t, k.AccessKeyID, r.key)
		}
	}
}
