package switchyard

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/require"
)

// BenchmarkS3Throughput moves one object up and down through Switchyard
// (queue, provider, breaker and key actors, the s3 adapter with its SHA-256
// and CRC-64/NVME checks) and through minio-go called directly, against the
// same versitygw server, from and to files, in 8 MiB parts with 4 in
// flight on both sides. MB/s is the object size over the wall time; the
// target is Switchyard ≥ 90 % of direct. 64 MiB objects by default,
// 256 MiB with SWITCHYARD_S3_LARGE=1. peak-MiB is the growth of the Go heap
// in use during one transfer.
//
//	go test -run '^$' -bench S3Throughput -benchtime 5x -count 3 .
func BenchmarkS3Throughput(b *testing.B) {
	size := int64(64 << 20)
	if os.Getenv("SWITCHYARD_S3_LARGE") == "1" {
		size = 256 << 20
	}
	const partSize = 8 << 20
	srv := s3Server(b)
	direct := s3Direct(b, srv)
	dir := b.TempDir()
	src := filepath.Join(dir, "src.bin")
	f, err := os.Create(src)
	require.NoError(b, err)
	_, err = io.Copy(f, io.LimitReader(benchRand{}, size))
	require.NoError(b, err)
	_ = f.Close()
	sy, err := New(Config{Providers: []ProviderConfig{{Name: "store", Kind: "s3",
		Endpoints: []EndpointConfig{s3Endpoint("vgw", srv.URL, s3Key("k", srv))}}}})
	require.NoError(b, err)
	b.Cleanup(func() { _ = sy.Close(context.Background()) })
	ctx := context.Background()

	put := map[string]func(key string) error{
		"minio-direct": func(key string) error {
			_, err := direct.FPutObject(ctx, s3Bucket, key, src, minio.PutObjectOptions{PartSize: partSize, NumThreads: 4})
			return err
		},
		"switchyard": func(key string) error {
			_, err := sy.Do(ctx, &messages.PutObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: key,
				File: src, PartSize: partSize, Concurrency: 4})
			return err
		},
	}
	get := map[string]func(key, dst string) error{
		"minio-direct": func(key, dst string) error {
			return direct.FGetObject(ctx, s3Bucket, key, dst, minio.GetObjectOptions{})
		},
		"switchyard": func(key, dst string) error {
			_, err := sy.Do(ctx, &messages.GetObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: key, File: dst})
			return err
		},
	}
	for _, op := range []string{"put", "get"} {
		for _, via := range []string{"minio-direct", "switchyard"} {
			b.Run(fmt.Sprintf("%s/%dMiB/%s", op, size>>20, via), func(b *testing.B) {
				key := "bench/" + via
				if op == "get" {
					require.NoError(b, put[via](key))
				}
				b.SetBytes(size)
				var peak float64
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					dst := filepath.Join(dir, fmt.Sprint("dst-", i))
					mem := benchHeap()
					b.StartTimer()
					var err error
					if op == "put" {
						err = put[via](key)
					} else {
						err = get[via](key, dst)
					}
					b.StopTimer()
					peak = max(peak, mem.stop())
					require.NoError(b, err)
					_ = os.Remove(dst)
					b.StartTimer()
				}
				b.ReportMetric(peak/(1<<20), "peak-MiB")
			})
		}
	}
}

// benchRand is a cheap, non-compressible byte source.
type benchRand struct{}

func (benchRand) Read(p []byte) (int, error) {
	x := uint64(time.Now().UnixNano()) | 1
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
	return len(p), nil
}

// benchHeapSampler tracks the peak growth of the Go heap in use.
type benchHeapSampler struct {
	base, peak float64
	done       chan struct{}
	wg         sync.WaitGroup
}

func benchHeapInUse() float64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/unused:bytes"}}
	metrics.Read(s)
	return float64(s[0].Value.Uint64() + s[1].Value.Uint64())
}

func benchHeap() *benchHeapSampler {
	runtime.GC()
	h := &benchHeapSampler{base: benchHeapInUse(), done: make(chan struct{})}
	h.peak = h.base
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				h.peak = max(h.peak, benchHeapInUse())
			}
		}
	}()
	return h
}

func (h *benchHeapSampler) stop() float64 {
	close(h.done)
	h.wg.Wait()
	return max(h.peak, benchHeapInUse()) - h.base
}
