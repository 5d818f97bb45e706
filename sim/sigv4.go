package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// SigV4Key is an AWS access key a simulator accepts. SessionToken, when
// set, marks temporary keys: requests must carry it in
// X-Amz-Security-Token.
type SigV4Key struct {
	AccessKeyID, SecretAccessKey, SessionToken string
}

// SigV4Refusal is why a request's signature was refused: the HTTP status,
// the AWS error type and the message the service answers with.
type SigV4Refusal struct {
	Status        int
	Type, Message string
}

// Messages and error types of AWS's answers to refused signatures.
const (
	SigV4MissingToken    = "Missing Authentication Token"
	SigV4Mismatch        = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	SigV4InvalidToken    = "The security token included in the request is invalid."
	SigV4ExpiredToken    = "The security token included in the request is expired"
	sigV4Algorithm       = "AWS4-HMAC-SHA256"
	sigV4TimeFormat      = "20060102T150405Z"
	sigV4DateFormat      = "20060102"
	sigV4MaxSkew         = 5 * time.Minute
	sigV4Terminator      = "aws4_request"
	sigV4TypeSignature   = "InvalidSignatureException"
	sigV4TypeIncomplete  = "IncompleteSignatureException"
	sigV4TypeUnknownKey  = "UnrecognizedClientException"
	sigV4TypeExpired     = "ExpiredTokenException"
	sigV4TypeMissingAuth = "MissingAuthenticationTokenException"
)

// SigV4Verifier checks AWS Signature Version 4 header signatures
// (Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…) as AWS services do, recomputing them from the request
// with its own code (crypto/hmac and SHA-256, not AWS's signer): the
// canonical request (method; the path as sent, normalised and URI-encoded
// again, so an escaped %3A is signed as %253A; the query sorted; the signed
// headers lower-cased with trimmed values; the hex SHA-256 of the body),
// the string to sign (algorithm, X-Amz-Date, scope, hash of the canonical
// request) and the key derived from the secret, date, region and service.
//
// It refuses, each with AWS's status, type and message: no signature (403
// MissingAuthenticationTokenException), an incomplete one (403
// IncompleteSignatureException), an unknown access key or a session token
// that does not belong to it (403 UnrecognizedClientException), an expired
// session token (403 ExpiredTokenException), a date more than five
// minutes from Clock ("Signature expired" / "Signature not yet current"), a
// scope for another date, region or service, an unsigned host header, and
// a signature that does not match (403 InvalidSignatureException), e.g. a
// wrong secret or a body changed after signing.
//
// It is safe for concurrent use.
type SigV4Verifier struct {
	region, service string
	clk             clock.Clock

	mu      sync.Mutex
	keys    map[string]SigV4Key
	expired map[string]bool // session tokens
}

// NewSigV4Verifier returns a verifier for service in region whose clock
// judges request dates (nil is the wall clock), accepting keys.
func NewSigV4Verifier(region, service string, clk clock.Clock, keys ...SigV4Key) *SigV4Verifier {
	if clk == nil {
		clk = clock.Real
	}
	v := &SigV4Verifier{region: region, service: service, clk: clk, keys: map[string]SigV4Key{}, expired: map[string]bool{}}
	for _, k := range keys {
		v.AddKey(k)
	}
	return v
}

// AddKey accepts k (replacing a key with its access key ID).
func (v *SigV4Verifier) AddKey(k SigV4Key) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.keys[k.AccessKeyID] = k
}

// ExpireSessionToken makes requests with token fail as an expired session
// (403 ExpiredTokenException).
func (v *SigV4Verifier) ExpireSessionToken(token string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.expired[token] = true
}

// Verify checks r's signature over body and returns the access key ID it
// was signed with, or a refusal.
func (v *SigV4Verifier) Verify(r *http.Request, body []byte) (string, *SigV4Refusal) {
	path, query := r.URL.EscapedPath(), r.URL.RawQuery
	if r.RequestURI != "" && r.RequestURI != "*" && strings.HasPrefix(r.RequestURI, "/") {
		path, query, _ = strings.Cut(r.RequestURI, "?")
	}
	h := r.Header.Clone()
	h.Set("Host", r.Host)
	if h.Get("Content-Length") == "" && r.ContentLength > 0 {
		h.Set("Content-Length", strconv.FormatInt(r.ContentLength, 10))
	}
	return v.verify(r.Method, path, query, h, body)
}

// sigV4Auth is a parsed Authorization header.
type sigV4Auth struct {
	accessKey, date, region, service, terminator string
	signed                                       []string
	signature                                    string
}

// parseSigV4Auth reads "AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…,
// Signature=…"; the message names what is missing.
func parseSigV4Auth(auth string) (sigV4Auth, string) {
	rest, ok := strings.CutPrefix(auth, sigV4Algorithm+" ")
	if !ok {
		return sigV4Auth{}, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=" + strings.SplitN(auth, " ", 2)[0]
	}
	params := map[string]string{}
	for _, p := range strings.Split(rest, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		params[k] = val
	}
	var missing []string
	for _, k := range []string{"Credential", "Signature", "SignedHeaders"} {
		if params[k] == "" {
			missing = append(missing, "Authorization header requires '"+k+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return sigV4Auth{}, strings.Join(missing, " ")
	}
	scope := strings.Split(params["Credential"], "/")
	if len(scope) != 5 {
		return sigV4Auth{}, "Authorization header requires a 'Credential' parameter of the form <access key ID>/<date>/<region>/<service>/aws4_request."
	}
	a := sigV4Auth{accessKey: scope[0], date: scope[1], region: scope[2], service: scope[3], terminator: scope[4],
		signed: strings.Split(params["SignedHeaders"], ";"), signature: params["Signature"]}
	return a, ""
}

// verify checks a request given as its parts: path and query exactly as
// sent, h with its Host.
func (v *SigV4Verifier) verify(method, path, query string, h http.Header, body []byte) (string, *SigV4Refusal) {
	refuse := func(typ, msg string) (string, *SigV4Refusal) {
		return "", &SigV4Refusal{Status: http.StatusForbidden, Type: typ, Message: msg}
	}
	auth := h.Get("Authorization")
	if auth == "" {
		return refuse(sigV4TypeMissingAuth, SigV4MissingToken)
	}
	a, bad := parseSigV4Auth(auth)
	if bad != "" {
		return refuse(sigV4TypeIncomplete, bad)
	}
	v.mu.Lock()
	key, known := v.keys[a.accessKey]
	expired := v.expired[h.Get("X-Amz-Security-Token")]
	v.mu.Unlock()
	token := h.Get("X-Amz-Security-Token")
	switch {
	case !known || token != key.SessionToken:
		return refuse(sigV4TypeUnknownKey, SigV4InvalidToken)
	case token != "" && expired:
		return refuse(sigV4TypeExpired, SigV4ExpiredToken)
	}
	stamp := h.Get("X-Amz-Date")
	if stamp == "" {
		return refuse(sigV4TypeIncomplete, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization="+auth[:len(sigV4Algorithm)])
	}
	at, err := time.Parse(sigV4TimeFormat, stamp)
	if err != nil {
		return refuse(sigV4TypeIncomplete, "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"")
	}
	now := v.clk.Now().UTC()
	switch {
	case at.Before(now.Add(-sigV4MaxSkew)):
		return refuse(sigV4TypeSignature, fmt.Sprintf("Signature expired: %s is now earlier than %s (%s - 5 min.)",
			stamp, now.Add(-sigV4MaxSkew).Format(sigV4TimeFormat), now.Format(sigV4TimeFormat)))
	case at.After(now.Add(sigV4MaxSkew)):
		return refuse(sigV4TypeSignature, fmt.Sprintf("Signature not yet current: %s is still later than %s (%s + 5 min.)",
			stamp, now.Add(sigV4MaxSkew).Format(sigV4TimeFormat), now.Format(sigV4TimeFormat)))
	case a.date != at.Format(sigV4DateFormat):
		return refuse(sigV4TypeSignature, fmt.Sprintf("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			a.date, at.Format(sigV4DateFormat), stamp))
	case a.region != v.region:
		return refuse(sigV4TypeSignature, "Credential should be scoped to a valid region. ")
	case a.service != v.service:
		return refuse(sigV4TypeSignature, "Credential should be scoped to correct service: '"+v.service+"'. ")
	case a.terminator != sigV4Terminator:
		return refuse(sigV4TypeSignature, "Credential should be scoped with a valid terminator: 'aws4_request', not '"+a.terminator+"'. ")
	}
	hasHost := false
	for _, s := range a.signed {
		hasHost = hasHost || s == "host"
	}
	if !hasHost {
		return refuse(sigV4TypeSignature, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}
	sum := sha256.Sum256(body)
	canonical := sigV4CanonicalRequest(method, path, query, h, a.signed, hex.EncodeToString(sum[:]))
	scope := strings.Join([]string{a.date, a.region, a.service, sigV4Terminator}, "/")
	want := sigV4Signature(key.SecretAccessKey, a.date, a.region, a.service, sigV4StringToSign(stamp, scope, canonical))
	if !hmac.Equal([]byte(want), []byte(a.signature)) {
		return refuse(sigV4TypeSignature, SigV4Mismatch)
	}
	return a.accessKey, nil
}

// sigV4CanonicalRequest builds the canonical request: method, canonical
// URI, canonical query, the signed headers' lines, the signed header
// names, the payload hash, one per line.
func sigV4CanonicalRequest(method, path, query string, h http.Header, signed []string, payloadHash string) string {
	var b strings.Builder
	b.WriteString(method + "\n")
	b.WriteString(sigV4CanonicalURI(path) + "\n")
	b.WriteString(sigV4CanonicalQuery(query) + "\n")
	for _, name := range signed {
		vals := h.Values(name)
		trimmed := make([]string, len(vals))
		for i, val := range vals {
			trimmed[i] = strings.Join(strings.Fields(val), " ")
		}
		b.WriteString(name + ":" + strings.Join(trimmed, ",") + "\n")
	}
	b.WriteString("\n" + strings.Join(signed, ";") + "\n")
	b.WriteString(payloadHash)
	return b.String()
}

// sigV4CanonicalURI normalises path (RFC 3986 dot segments removed, empty
// segments collapsed, a trailing slash kept) and URI-encodes it byte by
// byte, keeping only unreserved characters and '/': the path is taken as
// sent, so its escapes are escaped again.
func sigV4CanonicalURI(path string) string {
	if path == "" {
		return "/"
	}
	segs := strings.Split(path, "/")
	var out []string
	for _, s := range segs {
		switch s {
		case "", ".":
		case "..":
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		default:
			out = append(out, s)
		}
	}
	norm := "/" + strings.Join(out, "/")
	if last := segs[len(segs)-1]; (last == "" || last == "." || last == "..") && norm != "/" {
		norm += "/"
	}
	return sigV4Encode(norm, true)
}

// sigV4CanonicalQuery decodes the query's parameters and encodes each name
// and value again, sorted by name and then value.
func sigV4CanonicalQuery(query string) string {
	if query == "" {
		return ""
	}
	var pairs [][2]string
	for _, p := range strings.Split(query, "&") {
		if p == "" {
			continue
		}
		k, val, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(val); err == nil {
			val = dv
		}
		pairs = append(pairs, [2]string{sigV4Encode(k, false), sigV4Encode(val, false)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i][0] != pairs[j][0] {
			return pairs[i][0] < pairs[j][0]
		}
		return pairs[i][1] < pairs[j][1]
	})
	out := make([]string, len(pairs))
	for i, p := range pairs {
		out[i] = p[0] + "=" + p[1]
	}
	return strings.Join(out, "&")
}

// sigV4Encode percent-encodes every byte of s but the unreserved
// characters (A-Z a-z 0-9 - . _ ~) and, when keepSlash, '/'.
func sigV4Encode(s string, keepSlash bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '~':
			b.WriteByte(c)
		case c == '/' && keepSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// sigV4StringToSign is the algorithm, the request time, the scope and the
// hex SHA-256 of the canonical request, one per line.
func sigV4StringToSign(stamp, scope, canonical string) string {
	sum := sha256.Sum256([]byte(canonical))
	return sigV4Algorithm + "\n" + stamp + "\n" + scope + "\n" + hex.EncodeToString(sum[:])
}

// sigV4Signature derives the signing key (HMAC chain of "AWS4"+secret over
// date, region, service and "aws4_request") and signs stringToSign.
func sigV4Signature(secret, date, region, service, stringToSign string) string {
	mac := func(key []byte, data string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(data))
		return m.Sum(nil)
	}
	k := mac([]byte("AWS4"+secret), date)
	k = mac(k, region)
	k = mac(k, service)
	k = mac(k, sigV4Terminator)
	return hex.EncodeToString(mac(k, stringToSign))
}

// sigV4ErrorType is the AWS error type of a refusal message this file
// writes ("" for another message).
func sigV4ErrorType(msg string) string {
	switch {
	case msg == SigV4MissingToken:
		return sigV4TypeMissingAuth
	case msg == SigV4InvalidToken:
		return sigV4TypeUnknownKey
	case msg == SigV4ExpiredToken:
		return sigV4TypeExpired
	case strings.HasPrefix(msg, "Authorization header requires"), strings.HasPrefix(msg, "X-Amz-Date must be"):
		return sigV4TypeIncomplete
	case msg == SigV4Mismatch, strings.HasPrefix(msg, "Signature expired"), strings.HasPrefix(msg, "Signature not yet current"),
		strings.HasPrefix(msg, "Date in Credential scope"), strings.HasPrefix(msg, "Credential should be scoped"),
		strings.HasPrefix(msg, "'Host' or ':authority'"):
		return sigV4TypeSignature
	}
	return ""
}
