package switchyard

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(withSimulators{m},
		// protoactor's dead-letter throttle timer: a goroutine that ends by
		// itself one throttle window (1 s) after the last dead letter, such as
		// a timer message reaching an actor stopped at Close.
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"),
	)
}

// withSimulators runs the tests with the shared simulators the backend
// tables need (googleSim), stopped before goleak looks.
type withSimulators struct{ m *testing.M }

func (w withSimulators) Run() int {
	googleSim = sim.StartGoogleOAuth(sim.GoogleOAuthOptions{})
	defer googleSim.Close()
	return w.m.Run()
}

// Test secrets: long enough to have a hint, distinctive enough to grep for.
const (
	secretA = "sk-test-ALPHA-0123456789abcdefALPH"
	secretB = "sk-test-BRAVO-0123456789abcdefBRAV"
	secretC = "sk-test-CHARLIE-0123456789abcdefCH"
)

// harness is one Switchyard instance against simulators, with everything
// it logged and published captured.
type harness struct {
	t      *testing.T
	sy     *Switchyard
	clk    *clock.Manual
	logs   *syncBuffer
	mu     sync.Mutex
	events []messages.Event
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startAnthropic runs an Anthropic simulator for the test.
func startAnthropic(t *testing.T, opts ...sim.Option) *sim.Server {
	t.Helper()
	s := sim.Start(sim.Anthropic(), opts...)
	t.Cleanup(s.Close)
	return s
}

// anthropicProvider is a provider config for one simulator endpoint.
func anthropicProvider(name string, srv *sim.Server, keys ...KeyConfig) ProviderConfig {
	if len(keys) == 0 {
		keys = []KeyConfig{{Label: "a", Secret: secretA}}
	}
	return ProviderConfig{Name: name, Kind: "anthropic", Endpoints: []EndpointConfig{{Name: "primary", BaseURL: srv.URL, Keys: keys}}}
}

// newHarness starts an instance; manual selects a manual clock.
func newHarness(t *testing.T, cfg Config, manual bool) *harness {
	t.Helper()
	h := &harness{t: t, logs: &syncBuffer{}}
	cfg.Logger = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if manual {
		h.clk = newTestClock(t)
		cfg.Clock = h.clk
	}
	sy, err := New(cfg)
	require.NoError(t, err, "New")
	h.sy = sy
	sy.Subscribe(func(e messages.Event) {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, sy.Close(ctx), "Close")
	})
	return h
}

func (h *harness) eventsOf(match func(messages.Event) bool) []messages.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []messages.Event
	for _, e := range h.events {
		if match(e) {
			out = append(out, e)
		}
	}
	return out
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.Fail(t, "timed out", "waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// advanceTo moves the manual clock to the next timer at or after min from now.
func (h *harness) waitTimer(after time.Duration) time.Time {
	h.t.Helper()
	var at time.Time
	eventually(h.t, fmt.Sprintf("a timer %v ahead", after), func() bool {
		d, ok := h.clk.NextDeadline()
		at = d
		return ok && !d.Before(h.clk.Now().Add(after))
	})
	return at
}

func chatReq(provider, text string) *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{Provider: provider}, Model: "claude-test",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: text}}, MaxTokens: 64}
}

func (h *harness) tree() messages.Tree {
	h.t.Helper()
	tr, err := h.sy.Tree(context.Background())
	require.NoError(h.t, err, "Tree")
	return tr
}
