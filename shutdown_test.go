package switchyard

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Close answers queued requests ErrShuttingDown at once, lets the in-flight
// call finish while its context allows, and refuses new requests.
func TestCloseDrainsGracefully(t *testing.T) {
	srv := startAnthropic(t)
	sy, err := New(Config{Providers: []ProviderConfig{anthropicProvider("p", srv, KeyConfig{Label: "a", Secret: secretA, MaxInFlight: 1})}})
	require.NoError(t, err)
	srv.Hold()
	inflight := make(chan error, 1)
	go func() { _, err := sy.Chat(context.Background(), chatReq("p", "in flight")); inflight <- err }()
	eventually(t, "in flight", func() bool { return srv.Calls() == 1 })
	queued := make(chan error, 5)
	for i := 0; i < 5; i++ {
		go func() { _, err := sy.Chat(context.Background(), chatReq("p", "queued")); queued <- err }()
	}
	eventually(t, "five queued", func() bool { q, _ := sy.QueueStatus(context.Background()); return q.Levels[1].Depth == 5 })
	closed := make(chan error, 1)
	go func() { closed <- sy.Close(context.Background()) }()
	for i := 0; i < 5; i++ {
		require.ErrorIs(t, <-queued, ErrShuttingDown, "queued request")
	}
	_, err = sy.Chat(context.Background(), chatReq("p", "late"))
	require.ErrorIs(t, err, ErrShuttingDown, "request after Close")
	srv.Release()
	require.NoError(t, <-inflight, "the in-flight call should finish")
	require.NoError(t, <-closed, "Close")
	require.Equal(t, 1, srv.Calls(), "calls %d: queued requests were sent during shutdown", srv.Calls())
}

// When Close's context ends first, in-flight calls are aborted and answered.
func TestCloseAbortsAfterDeadline(t *testing.T) {
	srv := startAnthropic(t)
	sy, err := New(Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}})
	require.NoError(t, err)
	srv.Hold()
	defer srv.Release()
	inflight := make(chan error, 1)
	go func() { _, err := sy.Chat(context.Background(), chatReq("p", "stuck")); inflight <- err }()
	eventually(t, "in flight", func() bool { return srv.Calls() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, sy.Close(ctx), context.DeadlineExceeded, "Close")
	require.ErrorIs(t, <-inflight, ErrShuttingDown, "aborted call")
	require.NoError(t, sy.Close(context.Background()), "second Close")
}
