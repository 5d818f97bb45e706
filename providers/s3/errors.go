package s3

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Error classes of S3 error codes; codes not listed fall back to the HTTP
// status (providers.ClassifyStatus, with 404 as not found).
var codeClass = map[string]messages.ErrorClass{
	// The key is wrong or lacks permission: the runtime disables it.
	"AccessDenied":          messages.ClassAuth,
	"InvalidAccessKeyId":    messages.ClassAuth,
	"SignatureDoesNotMatch": messages.ClassAuth,
	"InvalidToken":          messages.ClassAuth,
	"ExpiredToken":          messages.ClassAuth,
	"TokenRefreshRequired":  messages.ClassAuth,
	"AccountProblem":        messages.ClassAuth,
	"AllAccessDisabled":     messages.ClassAuth,
	"InvalidSecurity":       messages.ClassAuth,
	"NotSignedUp":           messages.ClassAuth,
	// versitygw answers an unknown access key with 404 XAdminUserNotFound.
	"XAdminUserNotFound": messages.ClassAuth,

	// Throttling (aws-sdk-go-v2's throttle codes): retry after a delay.
	"SlowDown":                               messages.ClassRateLimited,
	"Throttling":                             messages.ClassRateLimited,
	"ThrottlingException":                    messages.ClassRateLimited,
	"ThrottledException":                     messages.ClassRateLimited,
	"RequestThrottledException":              messages.ClassRateLimited,
	"TooManyRequestsException":               messages.ClassRateLimited,
	"ProvisionedThroughputExceededException": messages.ClassRateLimited,
	"RequestLimitExceeded":                   messages.ClassRateLimited,
	"BandwidthLimitExceeded":                 messages.ClassRateLimited,
	"LimitExceededException":                 messages.ClassRateLimited,
	"RequestThrottled":                       messages.ClassRateLimited,
	"PriorRequestNotComplete":                messages.ClassRateLimited,
	"TransactionInProgressException":         messages.ClassRateLimited,
	"EC2ThrottledException":                  messages.ClassRateLimited,

	// Server trouble: retry.
	"InternalError":             messages.ClassServer,
	"ServiceUnavailable":        messages.ClassServer,
	"RequestTimeout":            messages.ClassServer,
	"RequestTimeoutException":   messages.ClassServer,
	"OperationAborted":          messages.ClassServer,
	"IncompleteBody":            messages.ClassServer,
	"BadDigest":                 messages.ClassServer,
	"XAmzContentSHA256Mismatch": messages.ClassServer,
	// Not the key's fault, and not worth retrying.
	"RequestTimeTooSkewed":         messages.ClassInvalid,
	"AuthorizationHeaderMalformed": messages.ClassInvalid,
	"NotImplemented":               messages.ClassInvalid,
	"PermanentRedirect":            messages.ClassInvalid,
	"NoSuchKey":                    messages.ClassInvalid,
	"NoSuchBucket":                 messages.ClassInvalid,
	"NoSuchUpload":                 messages.ClassInvalid,
	"NoSuchVersion":                messages.ClassInvalid,
	"NotFound":                     messages.ClassInvalid,
	"PreconditionFailed":           messages.ClassInvalid,
	"InvalidRange":                 messages.ClassInvalid,
	"BucketAlreadyExists":          messages.ClassInvalid,
	"BucketAlreadyOwnedByYou":      messages.ClassInvalid,
	"BucketNotEmpty":               messages.ClassInvalid,
	"EntityTooSmall":               messages.ClassInvalid,
	"EntityTooLarge":               messages.ClassInvalid,
	"InvalidArgument":              messages.ClassInvalid,
	"InvalidBucketName":            messages.ClassInvalid,
	"InvalidPart":                  messages.ClassInvalid,
	"InvalidPartOrder":             messages.ClassInvalid,
	"MalformedXML":                 messages.ClassInvalid,
}

// classifyCode returns the class for an S3 error code and HTTP status.
func classifyCode(code string, status int) messages.ErrorClass {
	if c, ok := codeClass[code]; ok {
		return c
	}
	switch {
	case status == http.StatusNotFound:
		return messages.ClassInvalid
	case status == http.StatusNotImplemented:
		return messages.ClassInvalid
	case status == 0:
		// minio-go's own validation errors carry no status.
		return messages.ClassInvalid
	case status >= 300 && status < 400:
		return messages.ClassInvalid
	}
	switch c := providers.ClassifyStatus(status); c {
	case messages.ClassUnknown:
		return messages.ClassServer // a 2xx that is an error: a 200 with an <Error> body
	default:
		return c
	}
}

// classify turns what minio-go (or the adapter) returned into an
// *UpstreamError for c's call. bucket and key name what it was about.
func (c *callClient) classify(ctx context.Context, err error, bucket, key string) *messages.UpstreamError {
	call := c.call
	var ue *messages.UpstreamError
	if errors.As(err, &ue) {
		return ue
	}
	c.sync()
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return call.Fail(messages.ClassCancelled, 0, "cancelled", context.Canceled)
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return call.Fail(messages.ClassTimeout, 0, "deadline exceeded", context.DeadlineExceeded)
	}
	var er minio.ErrorResponse
	if errors.As(err, &er) && (er.Code != "" || er.StatusCode != 0) {
		if er.RequestID != "" {
			call.Result.UpstreamRequestID = er.RequestID
		}
		status := er.StatusCode
		if status == 0 && call.Result.Status >= 400 {
			status = call.Result.Status
		}
		class := classifyCode(er.Code, status)
		msg := er.Message
		if msg == "" {
			msg = er.Error()
		}
		if er.Code == "" && status == http.StatusNotFound {
			er.Code = "NotFound"
		}
		e := call.Fail(class, status, msg, &messages.ObjectError{Code: er.Code, Bucket: firstNonEmpty(er.BucketName, bucket), Key: firstNonEmpty(er.Key, key), Message: msg})
		e.Code = er.Code
		if class == messages.ClassRateLimited {
			e.RetryAfter = c.tr.retryAfterSeen()
		}
		return e
	}
	if reason := c.tr.stallReason(); reason != "" {
		return call.Fail(messages.ClassTimeout, call.Result.Status, reason, scrub(err))
	}
	var se *xml.SyntaxError
	switch {
	case errors.As(err, &se):
		return call.Fail(messages.ClassMalformed, call.Result.Status, "decoding the answer", err)
	case isConnectionError(err):
		return call.Fail(messages.ClassConnection, 0, "", scrub(err))
	}
	return call.Fail(messages.ClassUnknown, call.Result.Status, "", scrub(err))
}

// isConnectionError reports transport failures: refused, reset, closed,
// unexpected EOF, DNS.
func isConnectionError(err error) bool {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "connection reset") || strings.Contains(s, "connection refused") ||
		strings.Contains(s, "Connection closed by foreign host") || strings.Contains(s, "broken pipe") ||
		strings.Contains(s, "is offline")
}

// scrub drops the query of a *url.Error's URL: presigned and signed URLs
// carry the access key ID and signature there.
func scrub(err error) error {
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

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// objectFail builds an error the adapter found itself (integrity, a short
// source) with an *ObjectError cause.
func (c *callClient) objectFail(class messages.ErrorClass, code, bucket, key, msg string) *messages.UpstreamError {
	c.sync()
	e := c.call.Fail(class, 0, msg, &messages.ObjectError{Code: code, Bucket: bucket, Key: key, Message: msg})
	e.Code = code
	return e
}

// noRetry marks e as not retryable (its source or destination was consumed).
func noRetry(e *messages.UpstreamError) *messages.UpstreamError {
	f := false
	e.ShouldRetry = &f
	return e
}
