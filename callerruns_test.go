package switchyard

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// whereAdapter answers chats at once and records the goroutine each
// attempt ran on. With rateLimitFirst its first attempt is a key-level 429;
// with block every attempt reports on started and waits for its context to
// end.
type whereAdapter struct {
	mu             sync.Mutex
	ran            []string
	keys           []string
	rateLimitFirst bool
	block          bool
	started        chan struct{}
}

func (a *whereAdapter) Kind() string                 { return "where" }
func (a *whereAdapter) Check(messages.Request) error { return nil }
func (a *whereAdapter) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	a.mu.Lock()
	a.ran = append(a.ran, goroutineID())
	a.keys = append(a.keys, call.Key.Label())
	first := len(a.ran) == 1
	a.mu.Unlock()
	if a.block {
		a.started <- struct{}{}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if a.rateLimitFirst && first {
		return nil, call.Fail(messages.ClassRateLimited, http.StatusTooManyRequests, "slow down", nil)
	}
	return &messages.ChatResponse{Content: "ok"}, nil
}

func (a *whereAdapter) attempts() (goroutines, keys []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ran...), append([]string(nil), a.keys...)
}

func goroutineID() string {
	buf := make([]byte, 64)
	s := strings.TrimPrefix(string(buf[:runtime.Stack(buf, false)]), "goroutine ")
	return s[:strings.IndexByte(s, ' ')]
}

func newWhere(t *testing.T, a *whereAdapter, keys ...string) *Switchyard {
	t.Helper()
	var kc []KeyConfig
	for _, k := range keys {
		kc = append(kc, KeyConfig{Label: k, Secret: "sk-where-" + k + "-000000000000"})
	}
	sy, err := New(Config{Providers: []ProviderConfig{{Name: "where", Adapter: a,
		Endpoints: []EndpointConfig{{BaseURL: "http://where.invalid", Keys: kc}}}}})
	require.NoError(t, err)
	return sy
}

func whereChat() *messages.ChatRequest {
	return &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: messages.RoleUser, Content: "hi"}}}
}

// TestQuietCallsRunOnTheCallersGoroutine: with nothing else going on, a
// chat's attempt runs on the goroutine that called Chat (no call
// goroutine is woken and waited for), and it is answered as usual.
func TestQuietCallsRunOnTheCallersGoroutine(t *testing.T) {
	a := &whereAdapter{}
	sy := newWhere(t, a, "k1")
	defer sy.Close(context.Background())
	const calls = 20
	callers := make([]string, calls)
	for i := range calls {
		callers[i] = goroutineID()
		r, err := sy.Chat(context.Background(), whereChat())
		require.NoError(t, err)
		require.Equal(t, "ok", r.Content)
	}
	ran, _ := a.attempts()
	require.Len(t, ran, calls)
	here := 0
	for i := range ran {
		if ran[i] == callers[i] {
			here++
		}
	}
	// Every call but one disturbed by a background timer runs here.
	require.GreaterOrEqual(t, here, calls-5, "attempts on the caller's goroutine")
}

// TestCallerRunRetryGoesToACallGoroutine: a caller-run attempt refused
// with a key-level 429 is retried at once on the other key, on a call
// goroutine (the caller's goroutine is still finishing the first one),
// and the caller gets the retry's answer.
func TestCallerRunRetryGoesToACallGoroutine(t *testing.T) {
	a := &whereAdapter{rateLimitFirst: true}
	sy := newWhere(t, a, "k1", "k2")
	defer sy.Close(context.Background())
	caller := goroutineID()
	r, err := sy.Chat(context.Background(), whereChat())
	require.NoError(t, err)
	require.Equal(t, "ok", r.Content)
	ran, keys := a.attempts()
	require.Len(t, ran, 2)
	require.NotEqual(t, keys[0], keys[1], "the retry goes to the other key")
	require.NotEqual(t, caller, ran[1], "the retry runs on a call goroutine")
}

// TestCallerRunAttemptEndsWithTheCallersContext: a caller whose context
// is cancelled while its attempt runs on its own goroutine gets a
// cancellation, once, and nothing is left running.
func TestCallerRunAttemptEndsWithTheCallersContext(t *testing.T) {
	a := &whereAdapter{block: true, started: make(chan struct{}, 1)}
	sy := newWhere(t, a, "k1")
	defer sy.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := sy.Chat(ctx, whereChat())
		done <- err
	}()
	<-a.started
	cancel()
	err := <-done
	require.Error(t, err)
	require.True(t, errors.Is(err, context.Canceled), "got %v", err)
}

// TestStreamIsNeverCallerRun: ChatStream returns while its call is still
// running: the caller must be free to read the chunks.
func TestStreamIsNeverCallerRun(t *testing.T) {
	a := &whereAdapter{block: true, started: make(chan struct{}, 1)}
	sy := newWhere(t, a, "k1")
	defer sy.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	st, err := sy.ChatStream(ctx, whereChat()) // would not return if run here
	require.NoError(t, err)
	<-a.started
	ran, _ := a.attempts()
	require.NotEqual(t, goroutineID(), ran[0])
	cancel()
	for st.Next() {
	}
	require.Error(t, st.Err())
}

// TestCloseEndsACallerRunAttempt: Close with no time to wait cancels an
// attempt running on its caller's goroutine; the caller is answered and
// Close returns once the attempt has.
func TestCloseEndsACallerRunAttempt(t *testing.T) {
	a := &whereAdapter{block: true, started: make(chan struct{}, 1)}
	sy := newWhere(t, a, "k1")
	done := make(chan error, 1)
	go func() {
		_, err := sy.Chat(context.Background(), whereChat())
		done <- err
	}()
	<-a.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no time to drain: Close aborts at once
	require.ErrorIs(t, sy.Close(ctx), context.Canceled)
	err := <-done
	require.Error(t, err)
	require.True(t, errors.Is(err, messages.ErrShuttingDown) || errors.Is(err, context.Canceled), "got %v", err)
}
