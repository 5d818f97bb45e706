//go:build linux

package s3

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/require"
)

// BenchmarkAdapterPutInterleavedTLS is BenchmarkAdapterPutInterleaved over
// HTTPS: versitygw serves TLS with a self-signed certificate, and the
// direct minio-go client (Secure) and the adapter's calls share one
// transport that trusts it. Sub-benchmark "put" alternates a put by
// minio-go called directly (FPutObject), through the adapter with default
// options, and through the adapter with Options.UnsignedPayload (file
// source, 8 MiB parts, 4 in flight; who goes first rotates every round);
// over HTTPS both adapter sides, like minio-go, send parts as
// UNSIGNED-PAYLOAD. Sub-benchmark "get" alternates minio-go's FGetObject
// with the adapter's get to a file. Reported per side: median MB/s (from
// the wall clock), median CPU ms of one transfer in this process (client)
// and in versitygw (server), and for the adapter sides the median, min and
// max of the per-round wall-time ratios direct/side in %. 64 MiB by
// default, 256 MiB with SWITCHYARD_S3_LARGE=1.
//
//	go test -run '^$' -bench AdapterPutInterleavedTLS -benchtime 9x ./providers/s3/
func BenchmarkAdapterPutInterleavedTLS(b *testing.B) {
	e := newTLSEnv(b)
	src, size := benchSource(b)
	b.Run("put", func(b *testing.B) { interleavedPuts(b, e, src, size) })
	b.Run("get", func(b *testing.B) {
		ctx := context.Background()
		_, err := e.direct.FPutObject(ctx, e.bucket, "bench-get", src, minio.PutObjectOptions{PartSize: 8 << 20, NumThreads: 4})
		require.NoError(b, err)
		dir := b.TempDir()
		dst := func(name string, i int) string { return filepath.Join(dir, name+"-"+strconv.Itoa(i)) }
		a := New()
		runInterleaved(b, serverPID(b, e.srv.Addr), size, []*benchSide{
			{name: "direct", do: func(i int) error {
				p := dst("direct", i)
				defer os.Remove(p)
				return e.direct.FGetObject(ctx, e.bucket, "bench-get", p, minio.GetObjectOptions{})
			}},
			{name: "adapter", do: func(i int) error {
				p := dst("adapter", i)
				defer os.Remove(p)
				_, err := a.Do(ctx, e.call(&messages.GetObjectRequest{Bucket: e.bucket, Object: "bench-get", File: p}, e.srv.Credential()))
				return err
			}},
		})
	})
}
