package s3

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/minio/crc64nvme"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crc returns the base64 CRC-64/NVME of b, as S3 writes it.
func crc(b []byte) string {
	h := crc64nvme.New()
	_, _ = h.Write(b)
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// TestPutHash: a put computes the SHA-256 only when asked for it or given
// one to check; the CRC-64/NVME checks every put against versitygw either
// way.
func TestPutHash(t *testing.T) {
	e := newEnv(t)
	wrong := sha([]byte("something else"))
	shapes := []struct {
		name      string
		data      []byte
		multipart bool
	}{
		{"empty", nil, false},
		{"single", randomBytes(3000, 21), false},
		{"multipart", randomBytes(11<<20+5, 22), true}, // three 5 MiB parts
	}
	cases := []struct {
		name string
		ask  func(r *messages.PutObjectRequest, data []byte)
		// wantSHA reports whether the answer carries the SHA-256;
		// checked whether "sha256" is in Verified; fails the put.
		wantSHA, checked, fails bool
	}{
		{"no hash asked", func(*messages.PutObjectRequest, []byte) {}, false, false, false},
		{"HashSHA256", func(r *messages.PutObjectRequest, _ []byte) { r.HashSHA256 = true }, true, false, false},
		{"right SHA256", func(r *messages.PutObjectRequest, d []byte) { r.SHA256 = sha(d) }, true, true, false},
		{"right SHA256 and HashSHA256", func(r *messages.PutObjectRequest, d []byte) { r.SHA256, r.HashSHA256 = sha(d), true }, true, true, false},
		{"wrong SHA256", func(r *messages.PutObjectRequest, _ []byte) { r.SHA256 = wrong }, false, false, true},
	}
	for _, sh := range shapes {
		for _, tc := range cases {
			t.Run(sh.name+"/"+tc.name, func(t *testing.T) {
				key := "hash/" + sh.name + "/" + strings.ReplaceAll(tc.name, " ", "-")
				req := &messages.PutObjectRequest{Bucket: e.bucket, Object: key, Body: bytes.NewReader(sh.data), PartSize: 5 << 20}
				tc.ask(req, sh.data)
				resp, _, err := e.do(req)
				// After an empty put (minio-go's direct PutObject too),
				// versitygw writes a stray 400 on the idle connection; a
				// request sent on it would read that 400. The put's
				// answer has no body, so its connection is idle by now.
				e.tr.CloseIdleConnections()
				if tc.fails {
					wantIntegrity(t, "put", err, messages.CodeChecksumMismatch)
					require.False(t, e.exists(key), "an upload with the wrong SHA-256 is visible")
					ids := e.incomplete()
					require.LessOrEqual(t, len(ids), 0, "incomplete uploads left: %v", ids)
					return
				}
				require.NoError(t, err, "put")
				p := resp.(*messages.PutObjectResponse)
				wantSum := ""
				if tc.wantSHA {
					wantSum = sha(sh.data)
				}
				assert.Equal(t, wantSum, p.SHA256, "put answer %+v", p)
				assert.Equal(t, crc(sh.data), p.CRC64NVME, "put answer %+v", p)
				assert.Equal(t, int64(len(sh.data)), p.Size, "put answer %+v", p)
				assert.Equal(t, sh.multipart, p.Multipart, "put answer %+v", p)
				wantVerified := []string{"size", "crc64nvme"}
				if tc.checked {
					wantVerified = append(wantVerified, "sha256")
				}
				assert.Equal(t, wantVerified, p.Verified, "put answer %+v", p)
				require.True(t, e.exists(key), "the object is not visible")
			})
		}
	}
}
