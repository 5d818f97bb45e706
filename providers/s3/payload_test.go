package s3

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// partTransport records the x-amz-content-sha256 of every part upload and,
// when flip is set, inverts one byte of each part's body on the way out
// (after signing), as a faulty link or proxy would.
type partTransport struct {
	base http.RoundTripper
	flip bool

	mu     sync.Mutex
	hashes []string
}

func (p *partTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Has("partNumber") {
		p.mu.Lock()
		p.hashes = append(p.hashes, r.Header.Get("X-Amz-Content-Sha256"))
		p.mu.Unlock()
		if p.flip && r.Body != nil {
			r = r.Clone(r.Context())
			r.Body = &flipReader{ReadCloser: r.Body, at: 1 << 20}
		}
	}
	return p.base.RoundTrip(r)
}

func (p *partTransport) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.hashes...)
}

// flipReader inverts the byte at offset at (past any chunk header, inside
// the part's data).
type flipReader struct {
	io.ReadCloser
	at, off int64
}

func (f *flipReader) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if i := f.at - f.off; i >= 0 && i < int64(n) {
		p[i] ^= 0xff
	}
	f.off += int64(n)
	return n, err
}

// TestPartPayload: on plain HTTP multipart parts carry SigV4 streaming
// signatures by default and go as UNSIGNED-PAYLOAD, with their signed
// CRC-64/NVME, under Options.UnsignedPayload; either way, from a file (parts read in place) or a
// stream (parts buffered), the object arrives intact, and a part whose
// bytes were changed on the way is refused by the server, so no object and
// no upload is left.
func TestPartPayload(t *testing.T) {
	e := newEnv(t)
	data := randomBytes(12<<20, 21)
	file := writeFile(t, data)
	for _, tc := range []struct {
		name   string
		opts   Options
		source string
		want   string
	}{
		{"default (signed), file", Options{}, "file", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
		{"default (signed), stream", Options{}, "stream", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"},
		{"unsigned, file", Options{UnsignedPayload: true}, "file", "UNSIGNED-PAYLOAD"},
		{"unsigned, stream", Options{UnsignedPayload: true}, "stream", "UNSIGNED-PAYLOAD"},
	} {
		for _, flip := range []bool{false, true} {
			name := tc.name
			if flip {
				name += ", corrupted on the way"
			}
			t.Run(name, func(t *testing.T) {
				pt := &partTransport{base: e.tr, flip: flip}
				e.client = &providers.Client{HTTP: &http.Client{Transport: pt}}
				e.a = NewWithOptions(tc.opts)
				req := &messages.PutObjectRequest{Bucket: e.bucket, Object: "payload", PartSize: 5 << 20, Concurrency: 2}
				if tc.source == "file" {
					req.File = file
				} else {
					req.Body = onlyReader{bytes.NewReader(data)}
				}
				resp, _, err := e.do(req)
				hashes := pt.seen()
				require.NotEmpty(t, hashes, "no part upload seen")
				for i, h := range hashes {
					require.Equal(t, tc.want, h, "part request %d of %d", i, len(hashes))
				}
				if flip {
					var ue *messages.UpstreamError
					require.True(t, asUpstream(err, &ue), "put with a corrupted part: %v, want an *UpstreamError", err)
					assert.False(t, e.exists("payload"), "an upload with a corrupted part is visible")
					ids := e.incomplete()
					assert.LessOrEqual(t, len(ids), 0, "incomplete uploads left: %v", ids)
					return
				}
				require.NoError(t, err)
				p := resp.(*messages.PutObjectResponse)
				require.Len(t, hashes, 3, "parts: %+v", p)
				assert.Equal(t, "", p.SHA256, "put answer %+v: no SHA-256 was asked for", p)
				assert.Equal(t, crc(data), p.CRC64NVME, "put answer %+v", p)
				assert.Contains(t, p.Verified, "crc64nvme", "put answer %+v", p)
				o, err := e.direct.GetObject(context.Background(), e.bucket, "payload", minio.GetObjectOptions{})
				require.NoError(t, err)
				got, err := io.ReadAll(o)
				require.NoError(t, err)
				require.NoError(t, o.Close())
				require.Equal(t, sha(data), sha(got), "stored object differs from the source")
				_, err = e.direct.StatObject(context.Background(), e.bucket, "payload", minio.StatObjectOptions{})
				require.NoError(t, err)
				require.NoError(t, e.direct.RemoveObject(context.Background(), e.bucket, "payload", minio.RemoveObjectOptions{}))
			})
		}
	}
}
