package s3

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/require"
)

// BenchmarkAdapter compares one adapter attempt (no runtime) with minio-go
// called directly, file to object and back, 8 MiB parts, 4 in flight. The
// end-to-end comparison through the whole runtime is the root package's
// BenchmarkS3Throughput.
func BenchmarkAdapter(b *testing.B) {
	size := int64(64 << 20)
	if os.Getenv("SWITCHYARD_S3_LARGE") == "1" {
		size = 256 << 20
	}
	e := newBenchEnv(b)
	src := filepath.Join(b.TempDir(), "src")
	f, _ := os.Create(src)
	_, err := io.Copy(f, newStreamReader(size, 1))
	require.NoError(b, err)
	_ = f.Close()
	ctx := context.Background()
	for _, op := range []string{"put", "get"} {
		for _, via := range []string{"minio-direct", "adapter", "adapter-buffered"} {
			if op == "get" && via == "adapter-buffered" {
				continue
			}
			b.Run(fmt.Sprintf("%s/%s", op, via), func(b *testing.B) {
				key := "bench-" + via
				if op == "get" {
					_, err := e.direct.FPutObject(ctx, e.bucket, key, src, minio.PutObjectOptions{PartSize: 8 << 20, NumThreads: 4})
					require.NoError(b, err)
				}
				dst := filepath.Join(b.TempDir(), "dst")
				b.SetBytes(size)
				for i := 0; i < b.N; i++ {
					var err error
					switch {
					case op == "put" && via == "minio-direct":
						_, err = e.direct.FPutObject(ctx, e.bucket, key, src, minio.PutObjectOptions{PartSize: 8 << 20, NumThreads: 4})
					case op == "put" && via == "adapter-buffered":
						fh, ferr := os.Open(src)
						require.NoError(b, ferr)
						_, err = e.a.Do(ctx, e.call(&messages.PutObjectRequest{Bucket: e.bucket, Object: key, Body: onlyReader{fh}, Size: size, PartSize: 8 << 20, Concurrency: 4}, e.srv.Credential()))
						_ = fh.Close()
					case op == "put":
						_, err = e.a.Do(ctx, e.call(&messages.PutObjectRequest{Bucket: e.bucket, Object: key, File: src, PartSize: 8 << 20, Concurrency: 4}, e.srv.Credential()))
					case via == "minio-direct":
						err = e.direct.FGetObject(ctx, e.bucket, key, dst, minio.GetObjectOptions{})
					default:
						_, err = e.a.Do(ctx, e.call(&messages.GetObjectRequest{Bucket: e.bucket, Object: key, File: dst}, e.srv.Credential()))
					}
					require.NoError(b, err)
				}
			})
		}
	}
}
