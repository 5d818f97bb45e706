package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
)

// Defaults of Client.
const (
	DefaultHeaderTimeout = 60 * time.Second
	DefaultIdleTimeout   = 60 * time.Second
	DefaultMaxBody       = 64 << 20
	maxErrorBody         = 64 << 10
)

// Client is the HTTP machinery every adapter shares: it builds the request
// (JSON body, X-Request-ID, auth, endpoint headers), bounds the wait for
// response headers, classifies error answers, and captures the upstream
// request ID and rate-limit headers. It is safe for concurrent use.
type Client struct {
	// HTTP performs requests; nil means http.DefaultClient.
	HTTP *http.Client
	// HeaderTimeout bounds the wait for response headers (default 60 s).
	HeaderTimeout time.Duration
	// IdleTimeout bounds the gap between stream reads (default 60 s).
	IdleTimeout time.Duration
	// MaxBody caps a non-stream response body (default 64 MiB).
	MaxBody int64
	// Clock reads the time against which Retry-After dates and rate-limit
	// resets become delays; nil is the wall clock. The runtime passes
	// Config.Clock, the clock its backoff and cooldown timers run on, so no
	// computation mixes two clocks. The header and idle timeouts are
	// transport watchdogs, like net/http's dial and TLS timeouts: they bound
	// waits on a real socket and run on the wall clock.
	Clock clock.Clock
}

func (c *Client) clock() clock.Clock {
	if c.Clock != nil {
		return c.Clock
	}
	return clock.Real
}

// Exchange describes one HTTP request an adapter wants made.
type Exchange struct {
	Method string
	// Path is appended to the endpoint's base URL.
	Path  string
	Query url.Values
	// Body is marshalled as JSON unless it is nil; RawBody is sent as is.
	Body        any
	RawBody     []byte
	ContentType string
	Accept      string
	Auth        Authorizer
	Header      http.Header
	// DecodeError refines e (Type, Code, Message, Class, RetryAfter) from an
	// error answer's body. Nil leaves the status-based classification.
	DecodeError func(status int, h http.Header, body []byte, e *messages.UpstreamError)
	// RateLimit reads rate-limit headers; nil reads none.
	RateLimit func(h http.Header, now time.Time) messages.RateLimit
	// CredentialRefused reports whether an answer refuses the credential
	// itself (an expired token or session) so that a Refresher key is
	// refreshed and the request sent once more; nil means a 401 does.
	// Bedrock, for one, refuses an expired AWS session with a 403.
	CredentialRefused func(status int, h http.Header) bool
}

func (ex *Exchange) refusesCredential(resp *http.Response) bool {
	if ex.CredentialRefused != nil {
		return ex.CredentialRefused(resp.StatusCode, resp.Header)
	}
	return resp.StatusCode == http.StatusUnauthorized
}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) headerTimeout() time.Duration {
	if c.HeaderTimeout > 0 {
		return c.HeaderTimeout
	}
	return DefaultHeaderTimeout
}

// IdleTimeoutOrDefault returns the configured stream idle timeout.
func (c *Client) IdleTimeoutOrDefault() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return DefaultIdleTimeout
}

// Fail builds an UpstreamError for call with the given class.
func (call *Call) Fail(class messages.ErrorClass, status int, msg string, cause error) *messages.UpstreamError {
	return &messages.UpstreamError{
		RequestID:         call.RequestID,
		UpstreamRequestID: call.Result.UpstreamRequestID,
		Provider:          call.Provider,
		Endpoint:          call.Endpoint,
		Key:               call.Key.Label(),
		Status:            status,
		Class:             class,
		Message:           msg,
		Cause:             cause,
	}
}

// Send performs ex for call. On a 2xx answer it returns the response, whose
// body the caller must close; otherwise a *messages.UpstreamError (the body is
// read and closed). The context given to the request stays alive until the
// body is closed.
//
// The key goes on the request as ex.Auth puts a fixed secret, or, for a key
// with an Authenticator, by its Authorize after every other header is set.
// When such a key's credential is a Refresher and the upstream answers 401
// (or what ex.CredentialRefused names), Send refreshes it and sends the
// request once more; the answer to that
// second try is the attempt's answer. A failure to obtain the credential is
// ClassAuth when its issuer refused it (ErrCredentialRefused), otherwise
// ClassConnection.
func (c *Client) Send(ctx context.Context, call *Call, ex *Exchange) (*http.Response, error) {
	var payload []byte
	switch {
	case ex.RawBody != nil:
		payload = ex.RawBody
	case ex.Body != nil:
		b, err := json.Marshal(ex.Body)
		if err != nil {
			return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
		}
		payload = b
	}
	auth := call.Key.Authenticator()
	resp, req, err := c.send(ctx, call, ex, payload, auth)
	if err == nil && ex.refusesCredential(resp) {
		if r, ok := auth.(Refresher); ok && r.Refresh(req) {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
			_ = resp.Body.Close()
			resp, _, err = c.send(ctx, call, ex, payload, auth)
		}
	}
	if err != nil {
		return nil, err
	}
	call.Result.Status = resp.StatusCode
	call.Result.UpstreamRequestID = UpstreamRequestID(resp.Header)
	now := c.clock().Now()
	if ex.RateLimit != nil {
		call.Result.RateLimit = ex.RateLimit(resp.Header, now)
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp, nil
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	e := call.Fail(ClassifyStatus(resp.StatusCode), resp.StatusCode, "", nil)
	e.RetryAfter = RetryAfter(resp.Header, now)
	e.ShouldRetry = ShouldRetry(resp.Header)
	if ex.DecodeError != nil {
		ex.DecodeError(resp.StatusCode, resp.Header, b, e)
	}
	if e.Message == "" {
		e.Message = http.StatusText(resp.StatusCode)
	}
	return nil, e
}

// send builds, authorises and sends one HTTP request for ex and returns the
// response with any status (its body closes the request's context) and the
// request as sent.
func (c *Client) send(ctx context.Context, call *Call, ex *Exchange, payload []byte, auth Authenticator) (*http.Response, *http.Request, error) {
	var body io.Reader
	if payload != nil || ex.RawBody != nil || ex.Body != nil {
		body = bytes.NewReader(payload)
	}
	u := strings.TrimRight(call.BaseURL, "/") + ex.Path
	if len(ex.Query) > 0 {
		u += "?" + ex.Query.Encode()
	}
	method := ex.Method
	if method == "" {
		method = http.MethodPost
	}
	// The header timeout needs a context to cancel. The attempt's own
	// (call.CancelAttempt) serves when the runtime made one, which saves a
	// derived context, its entry in the parent's children and two Done
	// channels per request; closing the body then cancels nothing.
	reqCtx, cancel, release := ctx, call.CancelAttempt, func() {}
	if cancel == nil {
		reqCtx, cancel = context.WithCancel(ctx)
		release = cancel
	}
	req, err := http.NewRequestWithContext(reqCtx, method, u, body)
	if err != nil {
		release()
		return nil, nil, call.Fail(messages.ClassInvalid, 0, "building request", err)
	}
	h := req.Header
	// The usual headers share one backing array (each value its own
	// capacity-1 slice of it, so appending to one never touches another):
	// one allocation instead of one per header. Their names are canonical.
	vals := make([]string, 0, 4)
	set := func(k, v string) {
		vals = append(vals, v)
		n := len(vals)
		h[k] = vals[n-1 : n : n]
	}
	if body != nil {
		ct := ex.ContentType
		if ct == "" {
			ct = "application/json"
		}
		set("Content-Type", ct)
	}
	accept := ex.Accept
	if accept == "" {
		accept = "application/json"
	}
	set("Accept", accept)
	set("User-Agent", "switchyard/0.1")
	if call.RequestID != "" {
		set("X-Request-Id", call.RequestID)
	}
	if tc, ok := ctx.Value(traceContextKey{}).(traceContext); ok {
		h.Set("Traceparent", tc.parent)
		if tc.state != "" {
			h.Set("Tracestate", tc.state)
		}
	}
	for k, v := range call.Headers {
		h.Set(k, v)
	}
	for k, vs := range ex.Header {
		h[http.CanonicalHeaderKey(k)] = vs
	}
	st := &inflight{cancel: cancel, release: release}
	timer := time.AfterFunc(c.headerTimeout(), st.expire)
	switch {
	case auth != nil:
		if err := auth.Authorize(reqCtx, req, payload); err != nil {
			timer.Stop()
			release()
			return nil, nil, c.credentialError(ctx, call, err, st.timedOut.Load())
		}
	case ex.Auth != nil:
		ex.Auth(h, call.Key.Secret())
	}
	resp, err := c.roundTrip(req)
	stopped := timer.Stop()
	if err != nil {
		release()
		return nil, nil, c.transportError(ctx, call, err, st.timedOut.Load())
	}
	if !stopped {
		// The timeout fired as the headers came: it cancels (or has
		// cancelled) the context the body would be read under, so the
		// answer is the timeout, never a read failing as "cancelled".
		_ = resp.Body.Close()
		release()
		return nil, nil, c.transportError(ctx, call, context.DeadlineExceeded, true)
	}
	st.ReadCloser = resp.Body
	resp.Body = st
	return resp, req, nil
}

// inflight is one request's state in send: what the header timeout
// cancels, whether it fired, and, once the answer came, its body, which
// releases the request's own context (if send derived one) when closed.
// One allocation for them all.
type inflight struct {
	io.ReadCloser
	cancel, release context.CancelFunc
	timedOut        atomic.Bool
}

// expire is the header timeout's action.
func (st *inflight) expire() {
	st.timedOut.Store(true)
	st.cancel()
}

// Close closes the body and releases the request's own context.
func (st *inflight) Close() error {
	err := st.ReadCloser.Close()
	st.release()
	return err
}

// traceContextKey is the context key of the W3C trace context Send puts on
// its requests.
type traceContextKey struct{}

type traceContext struct{ parent, state string }

// WithTraceContext returns ctx carrying a W3C trace context: Send puts
// traceparent (and tracestate, when not empty) on every request it makes
// under the returned context, the 401 refresh's second try included, before
// the endpoint's configured headers (which may override them). The runtime
// sets it per attempt when tracing propagates upstream, so a server that
// traces (TGI, vLLM, Ollama behind a tracing proxy) joins the trace. An
// empty traceparent returns ctx itself.
func WithTraceContext(ctx context.Context, traceparent, tracestate string) context.Context {
	if traceparent == "" {
		return ctx
	}
	return context.WithValue(ctx, traceContextKey{}, traceContext{parent: traceparent, state: tracestate})
}

// credentialError classifies a failure to obtain the key's credential.
func (c *Client) credentialError(ctx context.Context, call *Call, err error, headerTimeout bool) error {
	switch {
	case headerTimeout: // first: it may have cancelled ctx itself (Call.CancelAttempt)
		return call.Fail(messages.ClassTimeout, 0, fmt.Sprintf("no credential within %s", c.headerTimeout()), err)
	case ctx.Err() != nil:
		return ContextError(ctx, call, err, messages.ClassConnection, "")
	case errors.Is(err, ErrCredentialRefused):
		return call.Fail(messages.ClassAuth, 0, "credential refused by its issuer", err)
	default:
		return call.Fail(messages.ClassConnection, 0, "obtaining a credential", err)
	}
}

// transportError classifies a failure to get response headers.
func (c *Client) transportError(ctx context.Context, call *Call, err error, headerTimeout bool) error {
	switch {
	case headerTimeout:
		return call.Fail(messages.ClassTimeout, 0, fmt.Sprintf("no response headers within %s", c.headerTimeout()), err)
	case ctx.Err() != nil:
		return ContextError(ctx, call, err, messages.ClassConnection, "")
	default:
		return call.Fail(messages.ClassConnection, 0, "", scrubURLError(err))
	}
}

// scrubURLError keeps the operation and cause of a *url.Error but drops the
// query string of its URL, where some APIs accept keys.
func scrubURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		u := ue.URL
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return &url.Error{Op: ue.Op, URL: u, Err: ue.Err}
	}
	return err
}

// ContextError converts an error seen while reading a body into an
// UpstreamError, preferring the caller's cancellation or deadline.
func ContextError(ctx context.Context, call *Call, err error, class messages.ErrorClass, msg string) *messages.UpstreamError {
	var ue *messages.UpstreamError
	if errors.As(err, &ue) {
		return ue
	}
	// The request's context ends only by the caller's hand: a cancel, the
	// caller's deadline or the request's own (Call.Deadline, WithTimeout).
	// Neither is the upstream's failure, so both are ClassCancelled and
	// never count against an endpoint's breaker; the dispatcher answers
	// ErrDeadline for an expired one.
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return call.Fail(messages.ClassCancelled, call.Result.Status, "cancelled", context.Canceled)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return call.Fail(messages.ClassCancelled, call.Result.Status, "deadline exceeded", context.DeadlineExceeded)
	}
	return call.Fail(class, call.Result.Status, msg, err)
}

// DecodeJSON reads a 2xx body into v. A body that is not valid JSON for v is a
// ClassMalformed error; the body is closed.
func (c *Client) DecodeJSON(ctx context.Context, call *Call, resp *http.Response, v any) error {
	return c.DecodeBody(ctx, call, resp, func(b []byte) error { return json.Unmarshal(b, v) })
}

// DecodeBody reads a 2xx body (at most MaxBody bytes) and passes it to
// decode, which must not keep b nor anything that shares its memory once it
// returns: b is a pooled buffer, reused by the next call (encoding/json's
// Unmarshal copies what it keeps, so it qualifies). A read failure is
// converted by ContextError (ClassConnection), a body over MaxBody and an
// error from decode are ClassMalformed; the body is closed. It is safe for
// concurrent use.
func (c *Client) DecodeBody(ctx context.Context, call *Call, resp *http.Response, decode func(b []byte) error) error {
	defer resp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = DefaultMaxBody
	}
	buf := getBodyBuffer()
	defer putBodyBuffer(buf)
	b, err := readBody(resp, *buf, limit)
	*buf = b[:0]
	if err != nil {
		return ContextError(ctx, call, err, messages.ClassConnection, "reading response body")
	}
	if int64(len(b)) > limit {
		return call.Fail(messages.ClassMalformed, resp.StatusCode, fmt.Sprintf("response body over %d bytes", limit), nil)
	}
	if err := decode(b); err != nil {
		return call.Fail(messages.ClassMalformed, resp.StatusCode, "decoding response body", err)
	}
	return nil
}

// readBody appends resp's body to b, reading at most limit+1 bytes (so the
// caller can tell an oversized body), with room for a Content-Length that
// the server announced.
func readBody(resp *http.Response, b []byte, limit int64) ([]byte, error) {
	max := limit + 1
	if n := resp.ContentLength; n > 0 && n < max && int64(cap(b)) < n+1 {
		b = make([]byte, 0, n+1) // +1: the read that sees io.EOF
	}
	for int64(len(b)) < max {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		room := b[len(b):cap(b)]
		if int64(len(room)) > max-int64(len(b)) {
			room = room[:max-int64(len(b))]
		}
		n, err := resp.Body.Read(room)
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
	return b, nil
}

// bodyBuffers holds the buffers DecodeBody reads into; buffers that grew
// past maxPooledBody are left to the collector.
var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

const maxPooledBody = 256 << 10

func getBodyBuffer() *[]byte { return bodyBuffers.Get().(*[]byte) }

func putBodyBuffer(b *[]byte) {
	if cap(*b) <= maxPooledBody {
		*b = (*b)[:0]
		bodyBuffers.Put(b)
	}
}

// upstreamIDHeaders are the headers UpstreamRequestID reads, in order.
var upstreamIDHeaders = []string{"Request-Id", "X-Request-Id", "X-Amz-Request-Id", "X-Amzn-Requestid", "Apim-Request-Id", "X-Goog-Request-Id", "Cf-Ray"}

// UpstreamRequestID returns the upstream's own request ID from the headers
// services use for it (x-request-id, request-id, x-amz-request-id, Bedrock's
// x-amzn-requestid, Azure's apim-request-id, …).
func UpstreamRequestID(h http.Header) string {
	for _, k := range upstreamIDHeaders { // canonical names: no Get needed
		if vs := h[k]; len(vs) > 0 && vs[0] != "" {
			return vs[0]
		}
	}
	return ""
}
