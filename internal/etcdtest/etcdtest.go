// Package etcdtest starts the project's test etcd server (bin/etcd, built
// by make tools-etcd from etcd's embed package) for tests.
package etcdtest

import (
	"bufio"
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
)

// Start runs the etcd server on free loopback ports with its data in a
// temporary directory and returns its client URL and a function that
// stops it (SIGTERM) and waits for it to exit; Cleanup stops it too. The
// binary is $ETCD, or bin/etcd under root (the repository's root, relative
// to the test's directory). A missing binary fails the test.
func Start(t testing.TB, root string) (url string, stop func()) {
	t.Helper()
	bin := os.Getenv("ETCD")
	if bin == "" {
		var err error
		bin, err = filepath.Abs(filepath.Join(root, "bin", "etcd"))
		require.NoError(t, err)
	}
	_, err := os.Stat(bin)
	require.NoError(t, err, "the etcd server is missing: run make tools-etcd (or set ETCD)")
	dir := t.TempDir()
	cmd := exec.Command(bin, "-dir", filepath.Join(dir, "data"), "-client", "http://"+FreeAddr(t), "-peer", "http://"+FreeAddr(t))
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
	stop = func() {
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

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().String()
}
