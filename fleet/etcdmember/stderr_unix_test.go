//go:build unix

package etcdmember

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// quietStderr redirects the process's standard error (file descriptor 2)
// to a file until the test ends, then restores it and fails the test if
// anything was written there: neither the provider nor the etcd client
// may log by themselves.
func quietStderr(t *testing.T) {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	require.NoError(t, err)
	saved, err := unix.Dup(2)
	require.NoError(t, err)
	require.NoError(t, unix.Dup2(int(f.Fd()), 2))
	t.Cleanup(func() {
		require.NoError(t, unix.Dup2(saved, 2))
		require.NoError(t, unix.Close(saved))
		got, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		require.NoError(t, f.Close())
		require.Empty(t, string(got), "written to stderr")
	})
}
