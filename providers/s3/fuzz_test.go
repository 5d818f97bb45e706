package s3

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"

	"github.com/stretchr/testify/require"
)

// FuzzParseContentRange: never panics; what it accepts is consistent.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes 5-5/*", "bytes 0-0/1", "bytes -1-2/3", "bytes 9-1/10", "bytes 0-9/5", "", "bytes ", "bytes 1-/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		start, end, total, ok := parseContentRange(s)
		if !ok {
			return
		}
		require.GreaterOrEqual(t, start, int64(0), "%q parsed to %d-%d/%d", s, start, end, total)
		require.GreaterOrEqual(t, end, start, "%q parsed to %d-%d/%d", s, start, end, total)
		require.False(t, total != -1 && total <= end, "%q parsed to %d-%d/%d", s, start, end, total)
	})
}

// FuzzParseCredential: never panics; a pair is split at the first colon and
// nothing is lost.
func FuzzParseCredential(f *testing.F) {
	for _, s := range []string{"AK:SK", "", ":", "AK:", ":SK", "AK:S:K", "noseparator"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, k, ok := ParseCredential(s)
		if !ok {
			return
		}
		if s == "" {
			require.Equal(t, "", a, "empty secret gave")
			require.Equal(t, "", k, "empty secret gave")
			return
		}
		require.NotEqual(t, "", a, "%q split into %q %q", s, a, k)
		require.NotEqual(t, "", k, "%q split into %q %q", s, a, k)
		require.Equal(t, s, a+":"+k, "%q split into %q %q", s, a, k)
		require.NotContains(t, a, ":", "%q split into %q %q", s, a, k)
	})
}

// FuzzClassify: any S3 error answer (code, status, message) or transport
// error becomes an *UpstreamError with a known class, never a panic, and
// its text never carries the secret.
func FuzzClassify(f *testing.F) {
	f.Add("SlowDown", 503, "Please reduce your request rate.", "", false)
	f.Add("NoSuchKey", 404, "The specified key does not exist.", "k", false)
	f.Add("", 0, "", "", true)
	f.Add("AccessDenied", 403, "denied", "", false)
	f.Add("WeirdCode", 299, "", "", false)
	const secret = "AKIDFUZZ:fuzz-secret-0123456789"
	f.Fuzz(func(t *testing.T, code string, status int, msg, key string, transport bool) {
		call := &providers.Call{RequestID: "r", Provider: "s3", Endpoint: "e", Key: providers.NewCredential("k", secret)}
		c := &callClient{call: call, tr: newCallTransport(context.Background(), call)}
		var err error
		if transport {
			err = fmt.Errorf("dial: %w", io.ErrUnexpectedEOF)
		} else {
			err = minio.ErrorResponse{Code: code, StatusCode: status, Message: msg, Key: key}
		}
		ue := c.classify(context.Background(), err, "bucket", key)
		require.NotNil(t, ue, "classify(%v) = %+v", err, ue)
		require.Less(t, int(ue.Class), messages.NumErrorClasses, "classify(%v) = %+v", err, ue)
		require.NotContains(t, ue.Error(), "fuzz-secret", "error text leaks the secret")
		_, known := codeClass[code]
		if !transport && !known && status == http.StatusNotFound {
			require.NotEqual(t, messages.ClassAuth, ue.Class, "a 404 with code %q disabled the key", code)
		}
		if !transport && (code == "NoSuchKey" || code == "NoSuchBucket") {
			require.ErrorIs(t, ue, messages.ErrNotFound, "%s is not ErrNotFound", code)
		}
	})
}
