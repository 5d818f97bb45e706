package etcdmember

import (
	"bufio"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// startEtcd runs bin/etcd (make tools-etcd; $ETCD overrides the path) on
// free loopback ports with its data in a temporary directory, and returns
// its client URL. It stops the server (SIGTERM) in Cleanup. A missing
// binary fails the test.
func startEtcd(t *testing.T) string {
	t.Helper()
	url, _ := runEtcd(t)
	return url
}

// runEtcd is startEtcd that also returns a function stopping the server
// before the test ends; it waits until the process has exited.
func runEtcd(t *testing.T) (string, func()) {
	t.Helper()
	bin := os.Getenv("ETCD")
	if bin == "" {
		var err error
		bin, err = filepath.Abs(filepath.Join("..", "..", "bin", "etcd"))
		require.NoError(t, err)
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "the etcd server is missing: run make tools-etcd (or set ETCD)")
	dir := t.TempDir()
	client := "http://" + freeAddr(t)
	cmd := exec.Command(bin, "-dir", filepath.Join(dir, "data"), "-client", client, "-peer", "http://"+freeAddr(t))
	errFile, err := os.Create(filepath.Join(dir, "etcd.stderr"))
	require.NoError(t, err)
	cmd.Stderr = errFile
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "ready "); ok {
				ready <- u
			}
		}
		_ = cmd.Wait()
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(15 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
			_ = errFile.Close()
		})
	}
	t.Cleanup(stop)
	select {
	case u := <-ready:
		return u, stop
	case <-done:
		stderr, _ := os.ReadFile(errFile.Name())
		require.FailNowf(t, "etcd exited", "stderr: %s", stderr)
	case <-time.After(60 * time.Second):
		require.FailNow(t, "etcd not ready within 60 s")
	}
	return "", nil
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}

// testClient is the test's own etcd client, closed in Cleanup.
func testClient(t *testing.T, url string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{url}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// callCtx is a context for one etcd call from a test.
func callCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
