//go:build linux

package s3

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/require"
)

// BenchmarkAdapterPutInterleaved alternates a put through the adapter
// (default options: signed parts, and "unsigned": Options.UnsignedPayload) with the same put by
// minio-go called directly (file source, 8 MiB parts, 4 in flight; who goes
// first rotates every round), so all see the same load on a shared
// machine. It reports each side's median MB/s, the median of the per-round
// ratios to direct (ratio-%, with its range), and the median
// CPU time one put costs this process (client-cpu-ms) and the versitygw
// process (server-cpu-ms): on a machine whose cores are busy with other
// work the CPU times are the steadier comparison. 64 MiB by default,
// 256 MiB with SWITCHYARD_S3_LARGE=1.
//
//	go test -run '^$' -bench AdapterPutInterleaved -benchtime 15x ./providers/s3/
func BenchmarkAdapterPutInterleaved(b *testing.B) {
	e := newBenchEnv(b)
	src, size := benchSource(b)
	interleavedPuts(b, e, src, size)
}

// benchSource writes the benchmarks' source file: 64 MiB, or 256 MiB with
// SWITCHYARD_S3_LARGE=1.
func benchSource(b *testing.B) (path string, size int64) {
	size = int64(64 << 20)
	if os.Getenv("SWITCHYARD_S3_LARGE") == "1" {
		size = 256 << 20
	}
	path = filepath.Join(b.TempDir(), "src")
	f, err := os.Create(path)
	require.NoError(b, err)
	_, err = io.Copy(f, newStreamReader(size, 1))
	require.NoError(b, err)
	require.NoError(b, f.Close())
	return path, size
}

// interleavedPuts compares, round after round, a put of src by minio-go
// called directly with the same put through the adapter with default
// options and with Options.UnsignedPayload (8 MiB parts, 4 in flight).
func interleavedPuts(b *testing.B, e *env, src string, size int64) {
	ctx := context.Background()
	adapterPut := func(a *Adapter, key string) func(int) error {
		return func(int) error {
			_, err := a.Do(ctx, e.call(&messages.PutObjectRequest{Bucket: e.bucket, Object: key, File: src,
				PartSize: 8 << 20, Concurrency: 4}, e.srv.Credential()))
			return err
		}
	}
	runInterleaved(b, serverPID(b, e.srv.Addr), size, []*benchSide{
		{name: "direct", do: func(int) error {
			_, err := e.direct.FPutObject(ctx, e.bucket, "bench-direct", src, minio.PutObjectOptions{PartSize: 8 << 20, NumThreads: 4})
			return err
		}},
		{name: "adapter", do: adapterPut(New(), "bench-adapter")},
		{name: "unsigned", do: adapterPut(NewWithOptions(Options{UnsignedPayload: true}), "bench-unsigned")},
	})
}

// benchSide is one way of making the transfer runInterleaved compares, and
// what it measured.
type benchSide struct {
	name                 string
	do                   func(round int) error
	wall, client, srvCPU []float64
}

// runInterleaved runs every side once per round (who goes first rotates,
// so all see the same load on a shared machine), measuring wall time and
// the CPU time of this process and of the server process, and reports per
// side the median MB/s and CPU ms, and the median, min and max of the
// per-round ratios to sides[0]. It reads the wall clock: benchmark only.
func runInterleaved(b *testing.B, server int, size int64, sides []*benchSide) {
	b.SetBytes(int64(len(sides)) * size)
	for i := 0; i < b.N; i++ {
		for j := range sides {
			s := sides[(i+j)%len(sides)]
			c0, s0, t0 := selfCPU(b), procCPU(b, server), time.Now()
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

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serverPID finds the versitygw process listening on addr (its command
// line carries "--port addr").
func serverPID(b *testing.B, addr string) int {
	procs, err := os.ReadDir("/proc")
	require.NoError(b, err)
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
	b.Fatalf("no versitygw process for %s in /proc", addr)
	return 0
}

// procCPU is process pid's user and system CPU time so far, from
// /proc/pid/stat (clock ticks of 1/100 s).
func procCPU(b *testing.B, pid int) time.Duration {
	st, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	require.NoError(b, err)
	// Fields after the command name (which may hold spaces): state is
	// field 3, utime 14, stime 15.
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ut, err := strconv.ParseInt(f[11], 10, 64)
	require.NoError(b, err)
	stime, err := strconv.ParseInt(f[12], 10, 64)
	require.NoError(b, err)
	return time.Duration(ut+stime) * 10 * time.Millisecond
}
