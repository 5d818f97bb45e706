package etcdmember

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/switchyard-ai/switchyard/internal/etcdtest"
)

// startEtcd runs the test etcd server (see etcdtest.Start) and returns its
// client URL.
func startEtcd(t *testing.T) string {
	t.Helper()
	url, _ := etcdtest.Start(t, filepath.Join("..", ".."))
	return url
}

// runEtcd is startEtcd that also returns a function stopping the server
// before the test ends.
func runEtcd(t *testing.T) (string, func()) {
	t.Helper()
	return etcdtest.Start(t, filepath.Join("..", ".."))
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string { return etcdtest.FreeAddr(t) }

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
