//go:build linux

package s3

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

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
	size := int64(64 << 20)
	if os.Getenv("SWITCHYARD_S3_LARGE") == "1" {
		size = 256 << 20
	}
	e := newTLSEnv(b)
	server := serverPID(b, e.srv.Addr)
	dir := b.TempDir()
	src := filepath.Join(dir, "src")
	f, err := os.Create(src)
	require.NoError(b, err)
	_, err = io.Copy(f, newStreamReader(size, 1))
	require.NoError(b, err)
	require.NoError(b, f.Close())
	ctx := context.Background()
	putOpts := minio.PutObjectOptions{PartSize: 8 << 20, NumThreads: 4}
	adapterPut := func(a *Adapter, key string) func(int) error {
		return func(int) error {
			_, err := a.Do(ctx, e.call(&messages.PutObjectRequest{Bucket: e.bucket, Object: key, File: src,
				PartSize: 8 << 20, Concurrency: 4}, e.srv.Credential()))
			return err
		}
	}
	dst := func(name string, i int) string { return filepath.Join(dir, name+"-"+strconv.Itoa(i)) }

	b.Run("put", func(b *testing.B) {
		runInterleaved(b, server, size, []*benchSide{
			{name: "direct", do: func(int) error {
				_, err := e.direct.FPutObject(ctx, e.bucket, "bench-direct", src, putOpts)
				return err
			}},
			{name: "adapter", do: adapterPut(New(), "bench-adapter")},
			{name: "unsigned", do: adapterPut(NewWithOptions(Options{UnsignedPayload: true}), "bench-unsigned")},
		})
	})
	b.Run("get", func(b *testing.B) {
		_, err := e.direct.FPutObject(ctx, e.bucket, "bench-get", src, putOpts)
		require.NoError(b, err)
		a := New()
		runInterleaved(b, server, size, []*benchSide{
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

// benchSide is one way of making the transfer runInterleaved compares, and
// what it measured.
type benchSide struct {
	name                 string
	do                   func(round int) error
	wall, client, srvCPU []float64
}

// runInterleaved runs every side once per round (who goes first rotates),
// measuring wall time and the CPU time of this process and of the server
// process, and reports the metrics of BenchmarkAdapterPutInterleaved, with
// sides[0] the reference for the ratios.
func runInterleaved(b *testing.B, server int, size int64, sides []*benchSide) {
	b.SetBytes(int64(len(sides)) * size)
	for i := 0; i < b.N; i++ {
		for j := range sides {
			s := sides[(i+j)%len(sides)]
			c0, s0, t0 := selfCPU(b), procCPU(b, server), time.Now() // wall clock: benchmark only
			require.NoError(b, s.do(i), s.name)
			t1, c1, s1 := time.Now(), selfCPU(b), procCPU(b, server)
			s.wall = append(s.wall, t1.Sub(t0).Seconds())
			s.client = append(s.client, (c1-c0).Seconds()*1e3)
			s.srvCPU = append(s.srvCPU, (s1-s0).Seconds()*1e3)
		}
	}
	for _, s := range sides {
		b.ReportMetric(float64(size)/1e6/median(s.wall), s.name+"-MB/s")
		b.ReportMetric(median(s.client), s.name+"-client-cpu-ms")
		b.ReportMetric(median(s.srvCPU), s.name+"-server-cpu-ms")
		if s == sides[0] {
			continue
		}
		ratios := make([]float64, b.N)
		for i := range ratios {
			ratios[i] = sides[0].wall[i] / s.wall[i]
		}
		b.ReportMetric(100*median(ratios), s.name+"-ratio-%")
		b.ReportMetric(100*slices.Min(ratios), s.name+"-ratio-min-%")
		b.ReportMetric(100*slices.Max(ratios), s.name+"-ratio-max-%")
	}
}
