package switchyard

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
// flight on both sides. Each iteration makes the transfer both ways, one
// after the other (who goes first alternates), so both see the same load
// on a shared machine. Reported: each side's median MB/s (object size over
// wall time), the median of the per-iteration ratios Switchyard/direct
// (ratio-%, with its range; the target is ≥ 95 % for puts, ≥ 100 % for
// gets), the median CPU time of one transfer in this process (client) and
// in the versitygw process (server), which on a busy machine compare more
// steadily than wall times, and peak-MiB, the largest growth of the Go heap
// in use during one transfer through Switchyard. 64 MiB objects by
// default, 256 MiB with SWITCHYARD_S3_LARGE=1.
//
//	go test -run '^$' -bench S3Throughput -benchtime 15x .
func BenchmarkS3Throughput(b *testing.B) {
	size := int64(64 << 20)
	if os.Getenv("SWITCHYARD_S3_LARGE") == "1" {
		size = 256 << 20
	}
	const partSize = 8 << 20
	srv := s3Server(b)
	server := benchServerPID(srv.Addr)
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
		"direct": func(key string) error {
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
		"direct": func(key, dst string) error {
			return direct.FGetObject(ctx, s3Bucket, key, dst, minio.GetObjectOptions{})
		},
		"switchyard": func(key, dst string) error {
			_, err := sy.Do(ctx, &messages.GetObjectRequest{Call: messages.Call{Provider: "store"}, Bucket: s3Bucket, Object: key, File: dst})
			return err
		},
	}
	vias := []string{"direct", "switchyard"}
	for _, op := range []string{"put", "get"} {
		b.Run(fmt.Sprintf("%s/%dMiB", op, size>>20), func(b *testing.B) {
			if op == "get" {
				for _, via := range vias {
					require.NoError(b, put[via]("bench/"+via))
				}
			}
			wall := map[string][]float64{}
			client := map[string][]float64{}
			serverCPU := map[string][]float64{}
			var peak float64
			b.SetBytes(2 * size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range vias {
					via := vias[(i+j)%2]
					b.StopTimer()
					dst := filepath.Join(dir, fmt.Sprint("dst-", via, i))
					var mem *benchHeapSampler
					if via == "switchyard" {
						mem = benchHeap()
					}
					c0, s0, t0 := benchSelfCPU(), benchProcCPU(server), time.Now()
					b.StartTimer()
					var err error
					if op == "put" {
						err = put[via]("bench/" + via)
					} else {
						err = get[via]("bench/"+via, dst)
					}
					b.StopTimer()
					t1, c1, s1 := time.Now(), benchSelfCPU(), benchProcCPU(server)
					if mem != nil {
						peak = max(peak, mem.stop())
					}
					require.NoError(b, err)
					wall[via] = append(wall[via], t1.Sub(t0).Seconds())
					client[via] = append(client[via], (c1-c0).Seconds()*1e3)
					serverCPU[via] = append(serverCPU[via], (s1-s0).Seconds()*1e3)
					_ = os.Remove(dst)
					b.StartTimer()
				}
			}
			b.StopTimer()
			ratios := make([]float64, b.N)
			for i := range ratios {
				ratios[i] = wall["direct"][i] / wall["switchyard"][i]
			}
			for _, via := range vias {
				b.ReportMetric(float64(size)/1e6/benchMedian(wall[via]), via+"-MB/s")
				b.ReportMetric(benchMedian(client[via]), via+"-client-cpu-ms")
				if server > 0 {
					b.ReportMetric(benchMedian(serverCPU[via]), via+"-server-cpu-ms")
				}
			}
			b.ReportMetric(100*benchMedian(ratios), "ratio-%")
			b.ReportMetric(100*slices.Min(ratios), "ratio-min-%")
			b.ReportMetric(100*slices.Max(ratios), "ratio-max-%")
			b.ReportMetric(peak/(1<<20), "peak-MiB")
		})
	}
}

func benchMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// benchSelfCPU is this process's user and system CPU time so far.
func benchSelfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchServerPID finds the versitygw process listening on addr (its
// command line carries "--port addr") in /proc; 0 where there is no /proc.
func benchServerPID(addr string) int {
	procs, _ := os.ReadDir("/proc")
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", p.Name(), "cmdline"))
		if err == nil && strings.Contains(string(cmd), "--port\x00"+addr+"\x00") {
			return pid
		}
	}
	return 0
}

// benchProcCPU is process pid's user and system CPU time so far, from
// /proc/pid/stat (clock ticks of 1/100 s); 0 when unknown.
func benchProcCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * 10 * time.Millisecond
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
