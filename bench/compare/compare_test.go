package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestEveryPathAnswers builds every path against the mock and makes
// sequential and concurrent calls on each: each must get the mock's
// answer (the paths check its content) and complete requests.
func TestEveryPathAnswers(t *testing.T) {
	m, err := startMock()
	require.NoError(t, err)
	defer m.Close()
	paths, err := build([]string{"direct", "openai-go", "facade", "actor"}, m.URL)
	require.NoError(t, err)
	defer func() {
		for _, p := range paths {
			p.close()
		}
	}()
	lat, err := sequential(paths, 3)
	require.NoError(t, err)
	for _, p := range paths {
		require.Len(t, lat[p.name()], 3, "latencies of %s", p.name())
		stop := make(chan struct{})
		close(stop)
		// A closed stop still lets no caller start: zero requests, no error.
		n, err := p.run(4, stop)
		require.NoError(t, err, p.name())
		require.Zero(t, n, p.name())
		s, err := throughput(p, 4, 50*time.Millisecond)
		require.NoError(t, err, p.name())
		require.Positive(t, s.rps, p.name())
		require.Positive(t, s.allocs, p.name())
	}
	require.Positive(t, m.requests.Load())
}

func TestBuildRefusesAnUnknownPath(t *testing.T) {
	_, err := build([]string{"nope"}, "http://127.0.0.1:1")
	require.ErrorContains(t, err, `unknown path "nope"`)
}
