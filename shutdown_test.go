package switchyard

import (
	"context"
	"errors"
	"testing"
	"time"
)

// Close answers queued requests ErrShuttingDown at once, lets the in-flight
// call finish while its context allows, and refuses new requests.
func TestCloseDrainsGracefully(t *testing.T) {
	srv := startAnthropic(t)
	sy, err := New(Config{Providers: []ProviderConfig{anthropicProvider("p", srv, KeyConfig{Label: "a", Secret: secretA, MaxInFlight: 1})}})
	if err != nil {
		t.Fatal(err)
	}
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
		if err := <-queued; !errors.Is(err, ErrShuttingDown) {
			t.Fatalf("queued request: %v", err)
		}
	}
	if _, err := sy.Chat(context.Background(), chatReq("p", "late")); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("request after Close: %v", err)
	}
	srv.Release()
	if err := <-inflight; err != nil {
		t.Fatalf("the in-flight call should finish: %v", err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if srv.Calls() != 1 {
		t.Fatalf("calls %d: queued requests were sent during shutdown", srv.Calls())
	}
}

// When Close's context ends first, in-flight calls are aborted and answered.
func TestCloseAbortsAfterDeadline(t *testing.T) {
	srv := startAnthropic(t)
	sy, err := New(Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Hold()
	defer srv.Release()
	inflight := make(chan error, 1)
	go func() { _, err := sy.Chat(context.Background(), chatReq("p", "stuck")); inflight <- err }()
	eventually(t, "in flight", func() bool { return srv.Calls() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := sy.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: %v", err)
	}
	if err := <-inflight; !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("aborted call: %v", err)
	}
	if err := sy.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
