// Package s3test runs real S3 servers for tests: versitygw (Apache-2.0,
// github.com/versity/versitygw) with its posix backend on loopback, a random
// free port and a temporary directory, plus a fault-injecting reverse proxy
// that can sit in front of one.
//
// The versitygw binary comes from $VERSITYGW (which `make test` sets) or, when
// that is unset, from bin/versitygw under the module root. A missing binary
// fails the test with a message to run `make tools`; tests never skip.
// Launch runs a server outside tests (the demo). Unix only (process groups).
package s3test

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Test credentials of every server Start runs, unless Options say otherwise.
const (
	AccessKey = "switchyard-test-access"
	SecretKey = "switchyard-test-SECRET-0123456789abcdef"
	// Region is the region string versitygw signs with by default.
	Region = "us-east-1"
)

// Options tune Start.
type Options struct {
	// AccessKey and SecretKey of the root account (defaults above).
	AccessKey, SecretKey string
	// Dir is the posix root; empty means a fresh t.TempDir().
	Dir string
	// TLS serves HTTPS with a fresh self-signed certificate for 127.0.0.1
	// (written under Dir); Server.URL is then "https://...", and
	// Server.CertPool and Server.Transport give a client that trusts it.
	// Default false: plain HTTP.
	TLS bool
}

// Server is one running versitygw process.
type Server struct {
	// URL is the base URL to give the adapter, "http://127.0.0.1:PORT"
	// ("https://..." with Options.TLS).
	URL string
	// Addr is "127.0.0.1:PORT".
	Addr string
	// Dir is the posix root directory: buckets are its subdirectories.
	Dir string
	// AccessKey and SecretKey are the root credentials.
	AccessKey, SecretKey string

	bin     string
	ownsDir bool
	tls     *serverTLS // nil: plain HTTP

	mu      sync.Mutex
	cmd     *exec.Cmd
	waitErr chan error
	out     *lockedBuffer
}

// Credential returns the server's credentials in the form the s3 adapter
// expects as a key's secret: "ACCESS_KEY:SECRET_KEY".
func (s *Server) Credential() string { return s.AccessKey + ":" + s.SecretKey }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// BinaryPath finds the versitygw binary: $VERSITYGW, else bin/versitygw
// under the module root (found from the working directory).
func BinaryPath() (string, error) {
	if p := os.Getenv("VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("$VERSITYGW=%s: %w (run `make tools` to build it)", p, err)
		}
		return p, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", fmt.Errorf("%w; set $VERSITYGW or run `make tools`", err)
	}
	p := filepath.Join(root, "bin", "versitygw")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no versitygw at %s: run `make tools` (or set $VERSITYGW) to build the S3 server the tests need", p)
	}
	return p, nil
}

// Binary returns the versitygw binary's path, failing t when there is none.
func Binary(t testing.TB) string {
	t.Helper()
	p, err := BinaryPath()
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	return p
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Start runs a versitygw server for the test and stops it (kill and wait) in
// t.Cleanup. It fails the test if the server does not answer within 15 s.
func Start(t testing.TB, opts ...Options) *Server {
	t.Helper()
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	s, err := Launch(Binary(t), o)
	if err != nil {
		t.Fatalf("s3test: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("s3test: %v", err)
		}
	})
	return s
}

// Launch runs a versitygw server outside a test (the demo uses it): on
// loopback, a free port, Options' credentials (defaults above) and Dir (a
// new temporary directory, removed by Stop, when empty). Stop it when done.
func Launch(bin string, o Options) (*Server, error) {
	if o.AccessKey == "" {
		o.AccessKey = AccessKey
	}
	if o.SecretKey == "" {
		o.SecretKey = SecretKey
	}
	s := &Server{Dir: o.Dir, AccessKey: o.AccessKey, SecretKey: o.SecretKey, bin: bin}
	if s.Dir == "" {
		d, err := os.MkdirTemp("", "versitygw-*")
		if err != nil {
			return nil, err
		}
		s.Dir, s.ownsDir = d, true
	}
	if o.TLS {
		if err := s.setupTLS(); err != nil {
			if s.ownsDir {
				_ = os.RemoveAll(s.Dir)
			}
			return nil, err
		}
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		addr, err := freeAddr()
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		s.Addr, s.URL = addr, s.scheme()+"://"+addr
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
	}
	return nil, fmt.Errorf("starting versitygw: %w", lastErr)
}

// Restart starts the server again on the same address and directory after
// Stop.
func (s *Server) Restart() error {
	var err error
	for try := 0; try < 20; try++ {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond) // the port may linger briefly
	}
	return fmt.Errorf("restarting versitygw on %s: %w", s.Addr, err)
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr, nil
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return fmt.Errorf("already running")
	}
	out := &lockedBuffer{}
	args := append([]string{"--port", s.Addr, "--quiet", "--keep-alive"}, s.tlsArgs()...)
	cmd := exec.Command(s.bin, append(args, "posix", s.Dir)...)
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so a stray child cannot outlive Stop.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	waitErr := make(chan error, 1)
	go func() { waitErr <- cmd.Wait() }()
	deadline := time.Now().Add(15 * time.Second)
	tr := &http.Transport{DisableKeepAlives: true, TLSClientConfig: s.clientTLSConfig()}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: time.Second}
	for {
		select {
		case err := <-waitErr:
			return fmt.Errorf("versitygw exited: %v; output:\n%s", err, out.String())
		default:
		}
		resp, err := hc.Get(s.URL + "/")
		if err == nil {
			_ = resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-waitErr
			return fmt.Errorf("no answer on %s within 15s; output:\n%s", s.Addr, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.cmd, s.waitErr, s.out = cmd, waitErr, out
	return nil
}

// Stop kills the server and waits for it to exit. It is safe to call more
// than once, and Restart may follow; a directory Launch created is removed
// when the server is stopped for good (Close).
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	select {
	case <-s.waitErr:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("versitygw pid %d did not exit after SIGKILL", pid)
	}
	s.cmd = nil
	return nil
}

// Close stops the server and removes the directory Launch created.
func (s *Server) Close() error {
	err := s.Stop()
	if s.ownsDir {
		_ = os.RemoveAll(s.Dir)
	}
	return err
}

// Running reports whether the server process is up.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cmd != nil
}

// Output returns what the server printed so far (for failure messages).
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}
