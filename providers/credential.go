package providers

import (
	"fmt"
	"log/slog"
)

// Credential is an API key with its label. Its String, GoString, Format and
// LogValue methods never reveal the secret, so a Credential can be logged or
// wrapped in an error safely; only Secret() returns it, for the one place that
// puts it on the wire.
//
// A Credential holds either a fixed secret (an API key) or an Authenticator
// (a refreshing bearer token, a request signer) that Client.Send applies to
// each request.
type Credential struct {
	label  string
	secret string
	auth   Authenticator
}

// NewCredential pairs a label with a secret.
func NewCredential(label, secret string) Credential { return Credential{label: label, secret: secret} }

// NewAuthCredential pairs a label with an Authenticator.
func NewAuthCredential(label string, auth Authenticator) Credential {
	return Credential{label: label, auth: auth}
}

// Authenticator returns the credential's Authenticator, nil for a fixed
// secret.
func (c Credential) Authenticator() Authenticator { return c.auth }

// Label returns the key's label.
func (c Credential) Label() string { return c.label }

// Secret returns the key material. Call it only to authorise a request.
func (c Credential) Secret() string { return c.secret }

// Hint returns "…" and the last four characters of the secret, or "" for a
// short or empty secret.
func (c Credential) Hint() string { return Hint(c.secret) }

// Hint returns "…" plus the last four characters of secret when it is long
// enough (at least 12 characters) that they do not give it away.
func Hint(secret string) string {
	if len(secret) < 12 {
		return ""
	}
	return "…" + secret[len(secret)-4:]
}

// String returns the label.
func (c Credential) String() string { return c.label }

// GoString returns the label, for %#v.
func (c Credential) GoString() string { return "Credential(" + c.label + ")" }

// Format prints the label for every verb.
func (c Credential) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(c.label)) }

// LogValue logs the label.
func (c Credential) LogValue() slog.Value { return slog.StringValue(c.label) }
