// Package redact removes configured secrets, by value, from every string the
// runtime lets out: error messages and fields, upstream request IDs, events,
// stream chunks and log records.
//
// A Redactor is built once from the set of every configured secret (the API
// key of every key of every endpoint, S3 access and secret keys, credentials
// in endpoint headers). It replaces each secret, and each form the secret
// takes on the wire or in an encoded echo of it, with Marker:
//
//   - the raw value (which also covers "Bearer <v>", "api_key:<v>", …);
//   - its URL query and path escapes (url.QueryEscape, url.PathEscape);
//   - its JSON-escaped forms, with and without HTML escaping, and its Go
//     quoted forms (strconv.Quote, strconv.QuoteToASCII), without quotes;
//   - its base64 forms (standard and URL alphabets, padded and not), and
//     the part of any base64 text that encodes the secret wherever it sits
//     in the encoded data (HTTP basic "user:<v>", "<access>:<secret>"): for
//     each of the three alignments, the characters that encode whole
//     three-byte groups of the secret;
//   - for a secret with a colon (an S3 "ACCESS:SECRET" pair, a
//     "user:password"), each side on its own, with all of the above forms;
//   - a secret cut short at the end of a string clipped with "…" (as
//     providers.ClipMessage clips): a tail of at least 4 bytes that begins a
//     form of a secret.
//
// Length rule. Every non-empty secret is redacted, however short: a short
// secret must not leak either. The price of a short secret (under 8 bytes) is
// that the same characters are also removed where they occur by chance, so
// configure real keys. The marker itself is never searched again: a secret
// that occurs inside "[REDACTED]" is not made safe by redaction.
//
// Credentials that change while the runtime runs (refreshing bearer tokens,
// credentials a provider chain fetches) are added with Track as they are
// issued; the last few values of each credential stay redacted.
//
// A Redactor is safe for concurrent use; a nil *Redactor redacts nothing. When a string holds no secret, every method
// returns its input as it is, without allocating.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/switchyard-ai/switchyard/messages"
)

// Marker replaces every secret.
const Marker = "[REDACTED]"

// clipMark is how providers.ClipMessage marks a cut string.
const clipMark = "…"

// minCut is the shortest tail of a clipped string taken for a cut secret.
const minCut = 4

// Redactor removes a set of secrets from strings, errors, events, stream
// chunks and responses. Build it with New; add credentials issued later with
// Track. It is safe for concurrent use; a nil *Redactor returns everything
// unchanged.
type Redactor struct {
	t atomic.Pointer[table]

	mu      sync.Mutex
	static  []string
	dynamic map[string][]string
}

// TrackedPerOwner is how many of the latest values Track keeps redacting
// for one owner: the current token, and those before it that may still
// be echoed by a slow upstream or sit in a log line being written.
const TrackedPerOwner = 4

// table is an immutable matcher for one set of secrets.
type table struct {
	// forms are every form of every secret, longest first, without
	// duplicates.
	forms []string
	// detect is the subset of forms that contain no other form: a string
	// holds a form exactly when it holds one of these. Those of two bytes
	// or more are indexed by their first two bytes (seen marks the pairs
	// that begin one), so Contains reads each byte of a string once; the
	// one-byte ones are searched for directly.
	detect []string
	seen   [1 << 16 / 64]uint64
	byPair map[uint16][]string
	short  []string
	rep    *strings.Replacer
}

// New returns a Redactor for secrets. Empty secrets are ignored; duplicates
// are harmless.
func New(secrets ...string) *Redactor {
	r := &Redactor{static: append([]string(nil), secrets...)}
	r.t.Store(newTable(secrets))
	return r
}

// Track adds secret, a credential issued to owner (a key's label) while the
// runtime runs, such as a refreshed bearer token. The owner's last
// TrackedPerOwner values stay redacted; older ones are dropped, so a
// long-running process does not accumulate every token it ever held. An
// empty secret, or one already tracked for owner, changes nothing. It is
// safe to call from any goroutine; a nil Redactor ignores it.
func (r *Redactor) Track(owner, secret string) {
	if r == nil || secret == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dynamic == nil {
		r.dynamic = map[string][]string{}
	}
	vals := r.dynamic[owner]
	for _, v := range vals {
		if v == secret {
			return
		}
	}
	vals = append(vals, secret)
	if len(vals) > TrackedPerOwner {
		vals = vals[len(vals)-TrackedPerOwner:]
	}
	r.dynamic[owner] = vals
	all := append([]string(nil), r.static...)
	for _, vs := range r.dynamic {
		all = append(all, vs...)
	}
	r.t.Store(newTable(all))
}

func (r *Redactor) table() *table {
	if r == nil {
		return nil
	}
	return r.t.Load()
}

func newTable(secrets []string) *table {
	set := map[string]bool{}
	for _, s := range secrets {
		addForms(set, s)
		if access, secret, ok := strings.Cut(s, ":"); ok {
			addForms(set, access)
			addForms(set, secret)
		}
	}
	r := &table{}
	for f := range set {
		r.forms = append(r.forms, f)
	}
	// Longest first: at any position the longest form wins, so a padded
	// base64 form is removed whole rather than leaving its padding.
	sort.Slice(r.forms, func(i, j int) bool {
		if len(r.forms[i]) != len(r.forms[j]) {
			return len(r.forms[i]) > len(r.forms[j])
		}
		return r.forms[i] < r.forms[j]
	})
	pairs := make([]string, 0, 2*len(r.forms))
	for i, f := range r.forms {
		pairs = append(pairs, f, Marker)
		redundant := false
		for _, g := range r.forms[i+1:] {
			if strings.Contains(f, g) {
				redundant = true
				break
			}
		}
		if !redundant {
			r.detect = append(r.detect, f)
		}
	}
	if len(pairs) > 0 {
		r.rep = strings.NewReplacer(pairs...)
	}
	r.byPair = map[uint16][]string{}
	for _, f := range r.detect {
		if len(f) < 2 {
			r.short = append(r.short, f)
			continue
		}
		k := pairOf(f)
		r.seen[k/64] |= 1 << (k % 64)
		r.byPair[k] = append(r.byPair[k], f)
	}
	return r
}

func pairOf(s string) uint16 { return uint16(s[0])<<8 | uint16(s[1]) }

// addForms adds v and the forms derived from it to set.
func addForms(set map[string]bool, v string) {
	if v == "" {
		return
	}
	add := func(f string) {
		if f != "" {
			set[f] = true
		}
	}
	add(v)
	add(url.QueryEscape(v))
	add(url.PathEscape(v))
	add(jsonInner(v, true))
	add(jsonInner(v, false))
	add(quoteInner(strconv.Quote(v)))
	add(quoteInner(strconv.QuoteToASCII(v)))
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
		add(enc.EncodeToString([]byte(v)))
		raw := enc.WithPadding(base64.NoPadding)
		add(raw.EncodeToString([]byte(v)))
		// The encoding of v inside longer data depends on where v starts
		// modulo 3; from its first byte at a group boundary on, each whole
		// group of v encodes to the same four characters.
		for k := 0; k < 3 && len(v)-k >= 3; k++ {
			n := (len(v) - k) / 3 * 3
			add(raw.EncodeToString([]byte(v[k : k+n])))
		}
	}
}

// jsonInner is v as a JSON string, without the quotes.
func jsonInner(v string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if enc.Encode(v) != nil {
		return ""
	}
	return quoteInner(strings.TrimSuffix(b.String(), "\n"))
}

func quoteInner(q string) string {
	if len(q) < 2 {
		return ""
	}
	return q[1 : len(q)-1]
}

func (r *Redactor) empty() bool { return r.table().empty() }

func (t *table) empty() bool { return t == nil || len(t.detect) == 0 }

// Contains reports whether s holds a secret in any of its forms, or ends in
// a secret cut short by clipping. It does not allocate.
func (r *Redactor) Contains(s string) bool { return r.table().contains(s) }

func (r *table) contains(s string) bool {
	if r.empty() {
		return false
	}
	for _, f := range r.short {
		if strings.Contains(s, f) {
			return true
		}
	}
	for i := 0; i+1 < len(s); i++ {
		k := pairOf(s[i:])
		if r.seen[k/64]&(1<<(k%64)) == 0 {
			continue
		}
		for _, f := range r.byPair[k] {
			if strings.HasPrefix(s[i:], f) {
				return true
			}
		}
	}
	if body, ok := strings.CutSuffix(s, clipMark); ok {
		return r.cutTail(body) > 0
	}
	return false
}

// cutTail returns the length of the longest tail of body, at least minCut
// bytes, that is a proper prefix of a form; 0 if none.
func (r *table) cutTail(body string) int {
	best := 0
	for _, f := range r.forms {
		for n := min(len(f)-1, len(body)); n >= minCut && n > best; n-- {
			if strings.HasSuffix(body, f[:n]) {
				best = n
				break
			}
		}
	}
	return best
}

// String returns s with every secret replaced by Marker; s itself when it
// holds none.
func (r *Redactor) String(s string) string {
	t := r.table()
	if !t.contains(s) {
		return s
	}
	return t.replace(s)
}

func (r *table) replace(s string) string {
	out := r.rep.Replace(s)
	if body, ok := strings.CutSuffix(out, clipMark); ok {
		if n := r.cutTail(body); n > 0 {
			out = body[:len(body)-n] + Marker + clipMark
		}
	}
	return out
}

// anyOf reports whether one of ss holds a secret.
func (r *Redactor) anyOf(ss ...string) bool {
	for _, s := range ss {
		if r.Contains(s) {
			return true
		}
	}
	return false
}

// Error returns err with every secret removed from its text and fields.
//
// The typed errors of package messages (*UpstreamError, *RequestError,
// *ObjectError, *QueueFullError, *CircuitOpenError, *RateLimitedError) and
// *url.Error come back as copies of the same type with every string field
// and cause scrubbed, so errors.Is and errors.As work as on the original.
// Any other error whose text or Go syntax (%#v) holds a secret is replaced
// by an opaque error with the scrubbed text that matches with errors.Is
// whatever the original matched (context.Canceled, io.EOF, sentinels) but
// does not unwrap to it, since the original still holds the secret. An error
// that holds no secret is returned as it is.
func (r *Redactor) Error(err error) error {
	out, _ := r.scrubError(err)
	return out
}

// UpstreamError returns e with every secret removed from its string fields
// (IDs, names, Type, Code, Message) and its cause; e itself when it holds
// none. The copy keeps every other field.
func (r *Redactor) UpstreamError(e *messages.UpstreamError) *messages.UpstreamError {
	out, _ := r.upstream(e)
	return out
}

// scrubError is Error, also reporting whether anything changed (errors
// cannot always be compared with ==).
func (r *Redactor) scrubError(err error) (error, bool) {
	if r.empty() || err == nil {
		return err, false
	}
	switch e := err.(type) {
	case *messages.UpstreamError:
		if e == nil {
			return err, false
		}
		out, changed := r.upstream(e)
		return out, changed
	case *messages.RequestError:
		if e == nil {
			return err, false
		}
		return r.requestError(e)
	case *messages.ObjectError:
		if e == nil || !r.anyOf(e.Code, e.Bucket, e.Key, e.Message) {
			return err, false
		}
		return &messages.ObjectError{Code: r.String(e.Code), Bucket: r.String(e.Bucket), Key: r.String(e.Key), Message: r.String(e.Message)}, true
	case *messages.QueueFullError:
		if e == nil || !r.Contains(e.RequestID) {
			return err, false
		}
		cp := *e
		cp.RequestID = r.String(cp.RequestID)
		return &cp, true
	case *messages.CircuitOpenError:
		if e == nil || !r.anyOf(e.RequestID, e.Provider, e.Endpoint) {
			return err, false
		}
		cp := *e
		cp.RequestID, cp.Provider, cp.Endpoint = r.String(cp.RequestID), r.String(cp.Provider), r.String(cp.Endpoint)
		return &cp, true
	case *messages.RateLimitedError:
		if e == nil || !r.anyOf(e.RequestID, e.Provider) {
			return err, false
		}
		cp := *e
		cp.RequestID, cp.Provider = r.String(cp.RequestID), r.String(cp.Provider)
		return &cp, true
	case *url.Error:
		if e == nil {
			return err, false
		}
		inner, changed := r.scrubError(e.Err)
		if !changed && !r.anyOf(e.Op, e.URL) {
			return err, false
		}
		return &url.Error{Op: r.String(e.Op), URL: r.String(e.URL), Err: inner}, true
	}
	if !r.Contains(err.Error()) && !r.Contains(fmt.Sprintf("%#v", err)) {
		return err, false
	}
	return &redactedError{msg: r.String(err.Error()), orig: err}, true
}

func (r *Redactor) upstream(e *messages.UpstreamError) (*messages.UpstreamError, bool) {
	if r.empty() || e == nil {
		return e, false
	}
	cause, changed := r.scrubError(e.Cause)
	if !changed && !r.anyOf(e.RequestID, e.UpstreamRequestID, e.Provider, e.Endpoint, e.Key, e.Type, e.Code, e.Message) {
		return e, false
	}
	cp := *e
	cp.RequestID = r.String(e.RequestID)
	cp.UpstreamRequestID = r.String(e.UpstreamRequestID)
	cp.Provider = r.String(e.Provider)
	cp.Endpoint = r.String(e.Endpoint)
	cp.Key = r.String(e.Key)
	cp.Type = r.String(e.Type)
	cp.Code = r.String(e.Code)
	cp.Message = r.String(e.Message)
	cp.Cause = cause
	return &cp, true
}

func (r *Redactor) requestError(e *messages.RequestError) (error, bool) {
	cause, causeChanged := r.scrubError(e.Cause)
	last, lastChanged := r.upstream(e.Last)
	if !causeChanged && !lastChanged && !r.anyOf(e.RequestID, e.Provider, e.Detail) {
		return e, false
	}
	cp := *e
	cp.RequestID = r.String(e.RequestID)
	cp.Provider = r.String(e.Provider)
	cp.Detail = r.String(e.Detail)
	cp.Cause = cause
	cp.Last = last
	return &cp, true
}

// redactedError stands for an error of a type this package cannot copy
// whose text held a secret.
type redactedError struct {
	msg  string
	orig error
}

func (e *redactedError) Error() string { return e.msg }

// Is reports whether the original error matches target.
func (e *redactedError) Is(target error) bool { return errors.Is(e.orig, target) }

// GoString keeps %#v to the scrubbed text.
func (e *redactedError) GoString() string { return "redact.Error(" + strconv.Quote(e.msg) + ")" }

// Response removes secrets from resp's Meta (request IDs, upstream request
// ID, names), in place: call it on a response no one else holds yet. A nil
// response is left alone.
func (r *Redactor) Response(resp messages.Response) {
	if r.empty() || resp == nil {
		return
	}
	m := resp.ResponseMeta()
	if m == nil || !r.anyOf(m.RequestID, m.UpstreamRequestID, m.Provider, m.Endpoint, m.Key, m.BatchID) {
		return
	}
	m.RequestID = r.String(m.RequestID)
	m.UpstreamRequestID = r.String(m.UpstreamRequestID)
	m.Provider = r.String(m.Provider)
	m.Endpoint = r.String(m.Endpoint)
	m.Key = r.String(m.Key)
	m.BatchID = r.String(m.BatchID)
}

// Chunk returns c with secrets removed from its text, event name, tool call
// and progress fields; c itself when it holds none (c is never modified).
func (r *Redactor) Chunk(c *messages.StreamChunk) *messages.StreamChunk {
	if r.empty() || c == nil {
		return c
	}
	tc, p := c.ToolCall, c.Progress
	dirty := r.anyOf(c.RequestID, c.Text, c.Event, string(c.Type)) ||
		(tc != nil && r.anyOf(tc.ID, tc.Name, tc.Arguments)) ||
		(p != nil && r.anyOf(p.Operation, p.Bucket, p.Object, p.Endpoint))
	if !dirty {
		return c
	}
	cp := *c
	cp.RequestID = r.String(c.RequestID)
	cp.Text = r.String(c.Text)
	cp.Event = r.String(c.Event)
	cp.Type = messages.ChunkType(r.String(string(c.Type)))
	if tc != nil {
		t := *tc
		t.ID, t.Name, t.Arguments = r.String(tc.ID), r.String(tc.Name), r.String(tc.Arguments)
		cp.ToolCall = &t
	}
	if p != nil {
		q := *p
		q.Operation, q.Bucket, q.Object, q.Endpoint = r.String(p.Operation), r.String(p.Bucket), r.String(p.Object), r.String(p.Endpoint)
		cp.Progress = &q
	}
	return &cp
}

// Event returns e with secrets removed from the exported string and error
// fields of the struct it points to (and of structs nested in it by value);
// e itself when they hold none. Every event type of package messages is a
// pointer to such a struct; an event of any other shape is returned as it
// is. e is never modified.
func (r *Redactor) Event(e messages.Event) messages.Event {
	if r.empty() || e == nil {
		return e
	}
	v := reflect.ValueOf(e)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return e
	}
	if !r.scrubStruct(v.Elem(), false) {
		return e // no copy for a clean event
	}
	cp := reflect.New(v.Elem().Type())
	cp.Elem().Set(v.Elem())
	r.scrubStruct(cp.Elem(), true)
	out, ok := cp.Interface().(messages.Event)
	if !ok {
		return e
	}
	return out
}

var errorType = reflect.TypeFor[error]()

// scrubStruct walks the exported string and error fields of struct v (and
// of structs nested in it by value) and reports whether any holds a
// secret. With fix it scrubs them in place (v must be settable, a copy);
// without, it stops at the first one and changes nothing.
func (r *Redactor) scrubStruct(v reflect.Value, fix bool) (dirty bool) {
	t := v.Type()
	for i := range v.NumField() {
		if !t.Field(i).IsExported() {
			continue
		}
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.String:
			if !r.Contains(f.String()) {
				continue
			}
			if fix {
				f.SetString(r.String(f.String()))
			}
		case f.Kind() == reflect.Struct:
			if !r.scrubStruct(f, fix) {
				continue
			}
		case f.Type() == errorType && !f.IsNil():
			out, changed := r.scrubError(f.Interface().(error))
			if !changed {
				continue
			}
			if fix {
				f.Set(reflect.ValueOf(&out).Elem())
			}
		default:
			continue
		}
		if !fix {
			return true
		}
		dirty = true
	}
	return dirty
}

// CredentialHeader reports whether an endpoint header of this name carries
// a credential, so that its value belongs in the secret set: Authorization,
// Proxy-Authorization, Cookie, and any name containing "key", "token",
// "secret", "password" or "auth" (case-insensitive).
func CredentialHeader(name string) bool {
	n := strings.ToLower(name)
	switch n {
	case "authorization", "proxy-authorization", "cookie":
		return true
	}
	for _, w := range []string{"key", "token", "secret", "password", "auth"} {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}
