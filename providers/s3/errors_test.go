package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestErrorClasses maps each kind of failure to its class through a
// fault-injecting proxy in front of versitygw.
func TestErrorClasses(t *testing.T) {
	e := newEnv(t)
	proxy := e.proxied()
	e.shortTimeouts(300*time.Millisecond, 300*time.Millisecond)
	data := randomBytes(64<<10, 5)
	mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "obj", Body: bytes.NewReader(data)})
	big := randomBytes(11<<20, 6)
	get := func() messages.Request {
		return &messages.GetObjectRequest{Bucket: e.bucket, Object: "obj", Writer: io.Discard}
	}
	getFile := func() messages.Request {
		return &messages.GetObjectRequest{Bucket: e.bucket, Object: "obj", File: filepath.Join(t.TempDir(), "obj")}
	}
	multipart := func() messages.Request {
		return &messages.PutObjectRequest{Bucket: e.bucket, Object: "mp", Body: bytes.NewReader(big), PartSize: 5 << 20}
	}
	cases := []struct {
		name       string
		fault      s3test.Fault
		req        func() messages.Request
		class      messages.ErrorClass
		code       string
		retryable  bool
		retryAfter time.Duration
	}{
		{"500 InternalError", s3test.Fault{Method: "GET", Status: 500, Code: "InternalError", Message: "We encountered an internal error."}, get, messages.ClassServer, "InternalError", true, 0},
		{"503 SlowDown", s3test.Fault{Method: "GET", Status: 503, Code: "SlowDown", Message: "Please reduce your request rate.", Header: http.Header{"Retry-After": {"2"}}}, get, messages.ClassRateLimited, "SlowDown", true, 2 * time.Second},
		{"503 SlowDown without delay", s3test.Fault{Method: "GET", Status: 503, Code: "SlowDown"}, get, messages.ClassRateLimited, "SlowDown", true, 0},
		{"400 RequestTimeout", s3test.Fault{Method: "GET", Status: 400, Code: "RequestTimeout", Message: "Your socket connection to the server was not read from or written to within the timeout period."}, get, messages.ClassServer, "RequestTimeout", true, 0},
		{"403 AccessDenied", s3test.Fault{Method: "GET", Status: 403, Code: "AccessDenied", Message: "Access Denied."}, get, messages.ClassAuth, "AccessDenied", false, 0},
		{"403 RequestTimeTooSkewed", s3test.Fault{Method: "GET", Status: 403, Code: "RequestTimeTooSkewed"}, get, messages.ClassInvalid, "RequestTimeTooSkewed", false, 0},
		{"501 NotImplemented", s3test.Fault{Method: "GET", Status: 501, Code: "NotImplemented"}, get, messages.ClassInvalid, "NotImplemented", false, 0},
		{"502 without body code", s3test.Fault{Method: "GET", Status: 502, Body: "bad gateway"}, get, messages.ClassServer, "502 Bad Gateway", true, 0},
		{"complete: 200 with an Error body", s3test.Fault{Method: "POST", Query: "uploadId", Status: 200, Code: "InternalError", Message: "We encountered an internal error. Please try again."}, multipart, messages.ClassServer, "InternalError", true, 0},
		{"copy: 200 with an Error body", s3test.Fault{Method: "PUT", PathPrefix: "/models/copy", Status: 200, Code: "InternalError", Message: "copy failed late"},
			func() messages.Request {
				return &messages.CopyObjectRequest{SrcBucket: e.bucket, SrcObject: "obj", DstBucket: e.bucket, DstObject: "copy"}
			}, messages.ClassServer, "InternalError", true, 0},
		{"part upload 500", s3test.Fault{Method: "PUT", Query: "partNumber", Skip: 1, Status: 500, Code: "InternalError"}, multipart, messages.ClassServer, "InternalError", true, 0},
		{"connection cut mid-body", s3test.Fault{Method: "GET", CutResponseAfter: 1000}, getFile, messages.ClassConnection, "", true, 0},
		{"connection cut while sending", s3test.Fault{Method: "PUT", Query: "partNumber", CutRequestAfter: 1 << 20}, multipart, messages.ClassConnection, "", true, 0},
		{"no headers in time", s3test.Fault{Method: "GET", Delay: 2 * time.Second}, get, messages.ClassTimeout, "", true, 0},
		{"body stalls", s3test.Fault{Method: "GET", StallResponseAfter: 1000}, getFile, messages.ClassTimeout, "", true, 0},
		{"malformed list", s3test.Fault{Method: "GET", Query: "list-type", Status: 200, Body: "<ListBucketResult><Contents>"},
			func() messages.Request { return &messages.ListObjectsRequest{Bucket: e.bucket} }, messages.ClassMalformed, "", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy.Clear()
			proxy.Inject(tc.fault)
			_, call, err := e.do(tc.req())
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue, "got %v, want an *UpstreamError", err)
			require.Equal(t, tc.class, ue.Class, "got class %s code %q retryable %v retry-after %s (%v); want %s %q %v %s", ue.Class, ue.Code, ue.Retryable(), ue.RetryAfter, err, tc.class, tc.code, tc.retryable, tc.retryAfter)
			require.Equal(t, tc.code, ue.Code, "got class %s code %q retryable %v retry-after %s (%v); want %s %q %v %s", ue.Class, ue.Code, ue.Retryable(), ue.RetryAfter, err, tc.class, tc.code, tc.retryable, tc.retryAfter)
			require.Equal(t, tc.retryable, ue.Retryable(), "got class %s code %q retryable %v retry-after %s (%v); want %s %q %v %s", ue.Class, ue.Code, ue.Retryable(), ue.RetryAfter, err, tc.class, tc.code, tc.retryable, tc.retryAfter)
			require.Equal(t, tc.retryAfter, ue.RetryAfter, "got class %s code %q retryable %v retry-after %s (%v); want %s %q %v %s", ue.Class, ue.Code, ue.Retryable(), ue.RetryAfter, err, tc.class, tc.code, tc.retryable, tc.retryAfter)
			assert.Equal(t, call.RequestID, ue.RequestID, "error names request %q endpoint %q key %q", ue.RequestID, ue.Endpoint, ue.Key)
			assert.Equal(t, "primary", ue.Endpoint, "error names request %q endpoint %q key %q", ue.RequestID, ue.Endpoint, ue.Key)
			assert.Equal(t, "k1", ue.Key, "error names request %q endpoint %q key %q", ue.RequestID, ue.Endpoint, ue.Key)
			assert.False(t, strings.Contains(err.Error(), e.srv.SecretKey) || strings.Contains(err.Error(), e.srv.AccessKey), "error text leaks the credential: %v", err)
			if tc.fault.Status != 0 {
				assert.NotEqual(t, "", ue.UpstreamRequestID, "no upstream request ID captured")
			}
		})
	}
	proxy.Clear()
	assert.False(t, e.exists("mp"), "a failed multipart upload left a visible object")
	ids := e.incomplete()
	assert.LessOrEqual(t, len(ids), 0, "failed uploads left incomplete multipart uploads: %v", ids)
}

// TestWrongCredentials: the server refuses the key; the error is ClassAuth,
// names the endpoint and the key's label, and never the secret.
func TestWrongCredentials(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ name, secret, code string }{
		{"unknown access key", "nobody-0000:" + e.srv.SecretKey, "XAdminUserNotFound"},
		{"wrong secret", e.srv.AccessKey + ":wrong-secret-XYZZY-1234567890", "SignatureDoesNotMatch"},
		{"not a pair", "just-one-token-without-colon", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []messages.Request{
				&messages.GetObjectRequest{Bucket: e.bucket, Object: "k", Writer: io.Discard},
				&messages.PutObjectRequest{Bucket: e.bucket, Object: "k", Body: strings.NewReader("data")},
				&messages.ListObjectsRequest{Bucket: e.bucket},
			} {
				_, _, err := e.doWith(context.Background(), req, tc.secret)
				var ue *messages.UpstreamError
				require.ErrorAs(t, err, &ue, "%s: %v, want ClassAuth %s", req.Operation(), err, tc.code)
				require.Equal(t, messages.ClassAuth, ue.Class, "%s: %v, want ClassAuth %s", req.Operation(), err, tc.code)
				require.Equal(t, tc.code, ue.Code, "%s: %v, want ClassAuth %s", req.Operation(), err, tc.code)
				msg := err.Error()
				assert.Contains(t, msg, "primary", "error %q does not name the endpoint and key", msg)
				assert.Contains(t, msg, "k1", "error %q does not name the endpoint and key", msg)
				for _, secret := range strings.Split(tc.secret, ":") {
					assert.NotContains(t, msg, secret, "error %q leaks the secret", msg)
				}
			}
		})
	}
	assert.False(t, e.exists("k"), "a put with wrong credentials stored an object")
}

// TestInterruptedMultipart: a multipart upload that fails part-way, or is
// cancelled, leaves no visible object and no incomplete upload, also when
// the server refuses minio-go's own abort.
func TestInterruptedMultipart(t *testing.T) {
	e := newEnv(t)
	proxy := e.proxied()
	data := randomBytes(16<<20, 7)
	cases := []struct {
		name   string
		faults []s3test.Fault
		cancel bool
		class  messages.ErrorClass
	}{
		{"part fails", []s3test.Fault{{Method: "PUT", Query: "partNumber", Skip: 2, Status: 500, Code: "InternalError"}}, false, messages.ClassServer},
		{"abort refused once", []s3test.Fault{
			{Method: "PUT", Query: "partNumber", Skip: 2, Status: 500, Code: "InternalError"},
			{Method: "DELETE", Query: "uploadId", Times: 1, Status: 500, Code: "InternalError"},
		}, false, messages.ClassServer},
		{"connection cut in a part", []s3test.Fault{{Method: "PUT", Query: "partNumber", Skip: 1, CutRequestAfter: 2 << 20}}, false, messages.ClassConnection},
		{"complete fails", []s3test.Fault{{Method: "POST", Query: "uploadId", Status: 503, Code: "ServiceUnavailable"}}, false, messages.ClassServer},
		{"cancelled", nil, true, messages.ClassCancelled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			proxy.Clear()
			for _, f := range tc.faults {
				proxy.Inject(f)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req := &messages.PutObjectRequest{Bucket: e.bucket, Object: "big", Body: bytes.NewReader(data), PartSize: 5 << 20, Concurrency: 2}
			if tc.cancel {
				req.OnProgress = func(p messages.ObjectProgress) {
					if p.Done >= 8<<20 {
						cancel()
					}
				}
			}
			_, _, err := e.doWith(ctx, req, e.srv.Credential())
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue, "put: %v, want class %s", err, tc.class)
			require.Equal(t, tc.class, ue.Class, "put: %v, want class %s", err, tc.class)
			require.False(t, e.exists("big"), "the interrupted upload is visible")
			ids := e.incomplete()
			require.LessOrEqual(t, len(ids), 0, "incomplete uploads left: %v", ids)
			if tc.name == "abort refused once" {
				aborts := 0
				for _, r := range proxy.Requests() {
					if r.Method == "DELETE" && r.Query.Has("uploadId") {
						aborts++
					}
				}
				assert.GreaterOrEqual(t, aborts, 2, "saw %d aborts; minio-go's refused abort was not repeated", aborts)
			}
		})
	}
}

// TestRetrySafety: a put whose source was partly consumed may be retried
// only if it can be re-read; a get into a writer only if nothing was
// written.
func TestRetrySafety(t *testing.T) {
	e := newEnv(t)
	proxy := e.proxied()
	data := randomBytes(12<<20, 8)
	mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "src", Body: bytes.NewReader(data)})
	proxy.Inject(s3test.Fault{Method: "PUT", Query: "partNumber", Skip: 1, Status: 500, Code: "InternalError"})
	for _, tc := range []struct {
		name      string
		body      io.Reader
		file      bool
		retryable bool
	}{
		{"seekable body", bytes.NewReader(data), false, true},
		{"file", nil, true, true},
		{"plain reader", onlyReader{bytes.NewReader(data)}, false, false},
	} {
		req := &messages.PutObjectRequest{Bucket: e.bucket, Object: "dst", Body: tc.body, PartSize: 5 << 20}
		if tc.file {
			req.File = writeFile(t, data)
		}
		_, _, err := e.do(req)
		var ue *messages.UpstreamError
		if assert.ErrorAs(t, err, &ue, tc.name) {
			assert.Equal(t, messages.ClassServer, ue.Class, "%s: %v", tc.name, err)
			assert.Equal(t, tc.retryable, ue.Retryable(), "%s: %v retryable", tc.name, err)
		}
	}
	// Even if the runtime tried again (it retries an auth failure on
	// another key regardless), the adapter refuses to send the rest of a
	// consumed stream as the object.
	plain := &messages.PutObjectRequest{Bucket: e.bucket, Object: "dst", Body: onlyReader{bytes.NewReader(data)}, PartSize: 5 << 20}
	_, _, err := e.do(plain)
	require.Error(t, err, "the faulted put succeeded")
	proxy.Clear()
	_, _, err = e.do(plain)
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "second attempt with a consumed stream")
	require.Equal(t, messages.ClassInvalid, ue.Class, "second attempt with a consumed stream")
	require.False(t, ue.Retryable(), "second attempt with a consumed stream")
	require.Equal(t, "InvalidSource", ue.Code, "second attempt with a consumed stream")
	require.False(t, e.exists("dst"), "a consumed stream was uploaded as an object")
	// A seekable body is rewound: a second attempt uploads it whole.
	body := bytes.NewReader(data)
	_, _ = body.Seek(12345, io.SeekStart)
	p := mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "dst", Body: body, PartSize: 5 << 20})
	assert.Equal(t, crc(data), p.CRC64NVME, "rewound body uploaded CRC-64/NVME")
	assert.Contains(t, p.Verified, "crc64nvme", "rewound body: the server confirmed the CRC-64/NVME")

	proxy.Inject(s3test.Fault{Method: "GET", CutResponseAfter: 3 << 20})
	_, _, err = e.do(&messages.GetObjectRequest{Bucket: e.bucket, Object: "src", Writer: io.Discard})
	assert.False(t, !errors.As(err, &ue) || ue.Class != messages.ClassConnection || ue.Retryable(), "get into a writer cut after bytes were written: %v, want ClassConnection not retryable", err)
	_, _, err = e.do(&messages.GetObjectRequest{Bucket: e.bucket, Object: "src", File: filepath.Join(t.TempDir(), "f")})
	assert.False(t, !errors.As(err, &ue) || ue.Class != messages.ClassConnection || !ue.Retryable(), "get into a file cut: %v, want ClassConnection retryable", err)
}

// TestOrphanAbortedLater: when the endpoint cannot be reached to abort a
// failed multipart upload, the next call that reaches it aborts it.
func TestOrphanAbortedLater(t *testing.T) {
	e := newEnv(t)
	proxy := e.proxied()
	data := randomBytes(11<<20, 21)
	// Part 2 fails, and then the endpoint "goes away" for aborts and lists.
	proxy.Inject(s3test.Fault{Method: "PUT", Query: "partNumber", Skip: 1, Times: 1, Status: 500, Code: "InternalError"})
	proxy.Inject(s3test.Fault{Method: "DELETE", Query: "uploadId", CutRequestAfter: 1})
	proxy.Inject(s3test.Fault{Method: "GET", Query: "uploads", CutRequestAfter: 1})
	_, call, err := e.do(&messages.PutObjectRequest{Bucket: e.bucket, Object: "orphan", Body: bytes.NewReader(data), PartSize: 5 << 20, Concurrency: 1})
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "put")
	require.Equal(t, messages.ClassServer, ue.Class, "put")
	ids := e.incomplete()
	require.Len(t, ids, 1, "incomplete uploads %v, want the one that could not be aborted", ids)
	owner := "http://" + strings.TrimPrefix(call.BaseURL, "http://") + "\x00" + e.srv.AccessKey
	n := e.a.orphans.pending(owner)
	require.Equal(t, 1, n, "%d orphans remembered", n)
	// Still unreachable: a failed call keeps it.
	proxy.Clear()
	proxy.Inject(s3test.Fault{CutRequestAfter: 1})
	_, _, err = e.do(&messages.StatObjectRequest{Bucket: e.bucket, Object: "x"})
	require.Error(t, err, "stat through a dead proxy succeeded")
	n = e.a.orphans.pending(owner)
	require.Equal(t, 1, n, "%d orphans after a call that could not reach the endpoint", n)
	// Back: any call aborts it on the way out, even one answered 404.
	proxy.Clear()
	_, _, err = e.do(&messages.StatObjectRequest{Bucket: e.bucket, Object: "x"})
	require.ErrorIs(t, err, messages.ErrNotFound, "stat")
	require.Len(t, e.incomplete(), 0, "incomplete uploads left")
	n = e.a.orphans.pending(owner)
	require.Equal(t, 0, n, "%d orphans left", n)
}
