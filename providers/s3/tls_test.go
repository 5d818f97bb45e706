package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// newTLSEnv is newBenchEnv against a versitygw server that serves HTTPS
// with a self-signed certificate: the calls and the direct minio-go client
// (Secure) share a transport that trusts it.
func newTLSEnv(t testing.TB) *env {
	t.Helper()
	srv := s3test.Start(t, s3test.Options{TLS: true})
	tr := srv.Transport()
	t.Cleanup(tr.CloseIdleConnections)
	e := &env{t: t, srv: srv, base: srv.URL, bucket: "models", tr: tr, client: &providers.Client{HTTP: &http.Client{Transport: tr}}, a: New()}
	var err error
	e.direct, err = minio.New(srv.Addr, &minio.Options{Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Region: DefaultRegion, Secure: true, Transport: tr, MaxRetries: 1})
	require.NoError(t, err)
	require.NoError(t, e.direct.MakeBucket(context.Background(), e.bucket, minio.MakeBucketOptions{}), "MakeBucket")
	return e
}

// seenRequest is what recordingTransport keeps of one request.
type seenRequest struct {
	method, scheme, partNumber, contentSHA256 string
	tls                                       bool // the answer came over a TLS connection
}

// recordingTransport records every request it forwards to base.
type recordingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []seenRequest
}

func (r *recordingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	s := seenRequest{method: req.Method, scheme: req.URL.Scheme, partNumber: req.URL.Query().Get("partNumber"),
		contentSHA256: req.Header.Get("X-Amz-Content-Sha256")}
	if err == nil {
		s.tls = resp.TLS != nil
	}
	r.mu.Lock()
	r.seen = append(r.seen, s)
	r.mu.Unlock()
	return resp, err
}

func (r *recordingTransport) requests() []seenRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seenRequest(nil), r.seen...)
}

// TestTLSPutGet puts an object through the adapter and reads it back, over
// HTTPS to a versitygw server with a self-signed certificate (and, as the
// control, over plain HTTP), checking the bytes, the checksums the adapter
// reports, that every request went over TLS, and how multipart parts were
// sent: UNSIGNED-PAYLOAD over HTTPS whatever Options.UnsignedPayload says,
// SigV4 streaming signatures on plain HTTP by default.
func TestTLSPutGet(t *testing.T) {
	const partSize = 5 << 20
	tests := []struct {
		name     string
		tls      bool
		unsigned bool
		size     int
		// wantPartSHA is the X-Amz-Content-Sha256 of every part; empty
		// for a single PUT (no parts).
		wantPartSHA string
	}{
		{name: "https multipart default", tls: true, size: 2*partSize + 12345, wantPartSHA: "UNSIGNED-PAYLOAD"},
		{name: "https multipart unsigned", tls: true, unsigned: true, size: 2*partSize + 12345, wantPartSHA: "UNSIGNED-PAYLOAD"},
		{name: "https single put", tls: true, size: 1<<20 + 7},
		{name: "http multipart default (control)", size: 2*partSize + 12345, wantPartSHA: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e *env
			if tt.tls {
				e = newTLSEnv(t)
			} else {
				e = newEnv(t)
			}
			rec := &recordingTransport{base: e.tr}
			e.client = &providers.Client{HTTP: &http.Client{Transport: rec}}
			if tt.unsigned {
				e.a = NewWithOptions(Options{UnsignedPayload: true})
			}
			u, err := url.Parse(e.srv.URL)
			require.NoError(t, err)
			wantScheme := map[bool]string{true: "https", false: "http"}[tt.tls]
			require.Equal(t, wantScheme, u.Scheme, "server URL %s", e.srv.URL)

			data := randomBytes(tt.size, uint64(i+1))
			put := mustDo[*messages.PutObjectResponse](e, &messages.PutObjectRequest{Bucket: e.bucket, Object: "obj",
				Body: bytes.NewReader(data), Size: int64(len(data)), PartSize: partSize, Concurrency: 2})
			assert.Equal(t, int64(len(data)), put.Size)
			assert.Equal(t, "", put.SHA256, "the put's SHA-256, not asked for")
			assert.Equal(t, crc(data), put.CRC64NVME, "the put's CRC-64/NVME")
			assert.Contains(t, put.Verified, "crc64nvme", "the server confirmed the full-object CRC-64/NVME")
			assert.Equal(t, tt.wantPartSHA != "", put.Multipart)

			var got bytes.Buffer
			get := mustDo[*messages.GetObjectResponse](e, &messages.GetObjectRequest{Bucket: e.bucket, Object: "obj", Writer: &got})
			require.Equal(t, len(data), got.Len())
			assert.True(t, bytes.Equal(data, got.Bytes()), "the object read back differs from what was written")
			assert.Equal(t, int64(len(data)), get.Bytes)
			assert.Equal(t, put.CRC64NVME, get.Object.CRC64NVME, "the get's CRC-64/NVME")
			assert.Contains(t, get.Verified, "crc64nvme")

			reqs := rec.requests()
			require.NotEmpty(t, reqs)
			parts := 0
			for _, r := range reqs {
				assert.Equal(t, wantScheme, r.scheme, "%s request", r.method)
				assert.Equal(t, tt.tls, r.tls, "%s request answered over TLS", r.method)
				if r.partNumber != "" {
					parts++
					assert.Equal(t, tt.wantPartSHA, r.contentSHA256, "part %s", r.partNumber)
				}
			}
			if tt.wantPartSHA == "" {
				assert.Zero(t, parts, "part uploads of a single put")
			} else {
				assert.Equal(t, 3, parts, "part uploads")
			}
		})
	}
}

// TestTLSServerRefusesPlainHTTP checks that a server with Options.TLS
// really serves TLS with its own certificate: a plain-HTTP call to its
// port fails, a client that does not trust the certificate fails, and the
// certificate presented is the fresh one for 127.0.0.1.
func TestTLSServerRefusesPlainHTTP(t *testing.T) {
	e := newTLSEnv(t)
	ctx := context.Background()

	// The adapter, given http:// for the same address.
	e.base = "http://" + e.srv.Addr
	_, _, err := e.do(&messages.BucketExistsRequest{Bucket: e.bucket})
	require.Error(t, err, "a plain-HTTP call to the TLS port")
	e.base = e.srv.URL
	ok := mustDo[*messages.BucketResponse](e, &messages.BucketExistsRequest{Bucket: e.bucket})
	assert.True(t, ok.Exists, "the same call over HTTPS")

	// A raw plain-HTTP request gets no answer (the server drops it).
	plain := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(plain.CloseIdleConnections)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.srv.Addr+"/", nil)
	require.NoError(t, err)
	resp, err := plain.RoundTrip(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	require.Error(t, err, "plain HTTP to the TLS port")

	// A client that trusts only the system roots refuses the certificate.
	untrusting := &http.Transport{DisableKeepAlives: true}
	t.Cleanup(untrusting.CloseIdleConnections)
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/", nil)
	require.NoError(t, err)
	resp, err = untrusting.RoundTrip(req)
	if err == nil {
		_ = resp.Body.Close()
	}
	var verr *tls.CertificateVerificationError
	require.ErrorAs(t, err, &verr, "a client without the server's certificate")

	// The certificate presented is the server's, for 127.0.0.1, and
	// verifies against CertPool (validity window included).
	conn, err := tls.Dial("tcp", e.srv.Addr, &tls.Config{RootCAs: e.srv.CertPool(), MinVersion: tls.VersionTLS12})
	require.NoError(t, err)
	state := conn.ConnectionState()
	require.NoError(t, conn.Close())
	require.Len(t, state.PeerCertificates, 1)
	cert := state.PeerCertificates[0]
	assert.True(t, cert.Equal(e.srv.Certificate()), "the presented certificate is Server.Certificate")
	require.Len(t, cert.IPAddresses, 1)
	assert.True(t, cert.IPAddresses[0].Equal(net.IPv4(127, 0, 0, 1)), "IP SAN %v", cert.IPAddresses)
	assert.NoError(t, cert.VerifyHostname("127.0.0.1"))
}
