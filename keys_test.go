package switchyard

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

func threeKeys(max int) []KeyConfig {
	return []KeyConfig{
		{Label: "a", Secret: secretA, MaxInFlight: max},
		{Label: "b", Secret: secretB, MaxInFlight: max},
		{Label: "c", Secret: secretC, MaxInFlight: max},
	}
}

func keyUse(srv *sim.Server) map[string]int {
	use := map[string]int{}
	for _, r := range srv.Requests() {
		use[r.Key]++
	}
	return use
}

func TestRoundRobinSpreadsEvenly(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, threeKeys(0)...)}}, false)
	for i := 0; i < 30; i++ {
		if _, err := h.sy.Chat(context.Background(), chatReq("p", "x")); err != nil {
			t.Fatal(err)
		}
	}
	use := keyUse(srv)
	if use[secretA] != 10 || use[secretB] != 10 || use[secretC] != 10 {
		t.Fatalf("round-robin use: a=%d b=%d c=%d, want 10 each", use[secretA], use[secretB], use[secretC])
	}
}

func TestLeastLoadedFollowsInFlight(t *testing.T) {
	srv := startAnthropic(t)
	cfg := Config{Providers: []ProviderConfig{anthropicProvider("p", srv, threeKeys(0)...)}}
	cfg.Providers[0].KeyStrategy = "least-loaded"
	h := newHarness(t, cfg, false)
	ctx := context.Background()
	// Two calls pinned to a and b stay in flight; the next unpinned ones
	// must go to c, then spread.
	srv.Hold()
	var wg sync.WaitGroup
	for _, k := range []string{"a", "b"} {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = h.sy.Chat(ctx, chatReq("p", "held"), WithKey(k)) }()
	}
	eventually(t, "two held calls", func() bool { return srv.Calls() == 2 })
	wg.Add(1)
	go func() { defer wg.Done(); _, _ = h.sy.Chat(ctx, chatReq("p", "third")) }()
	eventually(t, "third call", func() bool { return srv.Calls() == 3 })
	if r := srv.Requests()[2]; r.Key != secretC {
		t.Fatalf("least-loaded sent the third call to %s, want c (the idle key)", labelOf(r.Key))
	}
	srv.Release()
	wg.Wait()
}

func labelOf(secret string) string {
	switch secret {
	case secretA:
		return "a"
	case secretB:
		return "b"
	case secretC:
		return "c"
	}
	return "?"
}

// A revoked key is disabled and its request succeeds on another key without
// the caller seeing an error.
func TestUnauthorizedKeyIsDisabledAndRequestRerouted(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, threeKeys(0)...)}}, false)
	srv.RejectKey(secretA, 401)
	for i := 0; i < 6; i++ {
		resp, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.Key == "a" {
			t.Fatal("answer from the revoked key")
		}
	}
	if use := keyUse(srv); use[secretA] != 1 {
		t.Fatalf("revoked key tried %d times, want once", use[secretA])
	}
	dis := h.eventsOf(func(e messages.Event) bool {
		d, ok := e.(*messages.KeyDisabled)
		return ok && d.Key == "a" && d.Status == 401
	})
	if len(dis) != 1 {
		t.Fatalf("KeyDisabled events: %d", len(dis))
	}
	for _, ep := range h.tree().Providers[0].Endpoints {
		for _, k := range ep.Keys {
			if want := map[string]messages.KeyState{"a": messages.KeyStateDisabled, "b": messages.KeyStateActive, "c": messages.KeyStateActive}[k.Label]; k.State != want {
				t.Fatalf("key %s state %s, want %s", k.Label, k.State, want)
			}
		}
	}
}

// A 429 cools only the key that got it, until the reset the upstream gave.
func TestRateLimitedKeyCoolsAlone(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, threeKeys(0)...)}}, true)
	srv.Inject(sim.Fault{Status: 429, Key: secretA, Header: map[string]string{"Retry-After": "30"}})
	for i := 0; i < 9; i++ {
		resp, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.Key == "a" {
			t.Fatal("the cooling key served a request")
		}
	}
	use := keyUse(srv)
	if use[secretA] != 1 || use[secretB]+use[secretC] != 9 {
		t.Fatalf("use a=%d b=%d c=%d", use[secretA], use[secretB], use[secretC])
	}
	var cool *messages.KeyCooldown
	for _, e := range h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.KeyCooldown); return ok }) {
		cool = e.(*messages.KeyCooldown)
	}
	if cool == nil || cool.Key != "a" || !cool.Until.Equal(h.clk.Now().Add(30*time.Second)) {
		t.Fatalf("cooldown event %+v", cool)
	}
	keys := h.tree().Providers[0].Endpoints[0].Keys
	if keys[0].State != messages.KeyStateCooling || keys[1].State != messages.KeyStateActive || keys[2].State != messages.KeyStateActive {
		t.Fatalf("key states %s %s %s", keys[0].State, keys[1].State, keys[2].State)
	}
	h.clk.Advance(31 * time.Second)
	if h.tree().Providers[0].Endpoints[0].Keys[0].State != messages.KeyStateActive {
		t.Fatal("key still cooling after its reset")
	}
}

// Keys never appear in logs, events, errors or snapshots, whatever happens.
func TestSecretsNeverLeak(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, threeKeys(1)...)},
		Retry:   RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond},
		Breaker: BreakerConfig{ConsecutiveFailures: 3, Cooldown: 10 * time.Millisecond}}, false)
	srv.RejectKey(secretC, 403)
	srv.Inject(sim.Fault{Status: 429, Key: secretA, Header: map[string]string{"Retry-After-Ms": "5"}})
	srv.Inject(sim.Fault{Status: 500, Times: 4})
	srv.Inject(sim.Fault{Malformed: true})
	var errTexts []string
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := h.sy.Chat(ctx, chatReq("p", "x"), WithPriority([]messages.Priority{messages.High, messages.Normal, messages.Low}[i%3]))
		cancel()
		if err != nil {
			errTexts = append(errTexts, err.Error(), fmt.Sprintf("%+v %#v", err, err))
		}
		time.Sleep(2 * time.Millisecond)
	}
	if len(errTexts) == 0 {
		t.Fatal("the faults produced no errors to inspect")
	}
	tree := h.tree()
	var all strings.Builder
	all.WriteString(h.logs.String())
	all.WriteString(strings.Join(errTexts, "\n"))
	fmt.Fprintf(&all, "%+v %#v", tree, tree)
	for _, e := range h.eventsOf(func(messages.Event) bool { return true }) {
		fmt.Fprintf(&all, "%+v %#v\n", e, e)
		_, msg, attrs := e.Log()
		fmt.Fprintln(&all, msg, attrs)
	}
	text := all.String()
	if !strings.Contains(text, "key disabled") {
		t.Fatal("expected the disabled key in the logs: the capture is not working")
	}
	for _, s := range []string{secretA, secretB, secretC} {
		for _, frag := range []string{s, s[:16], s[8:24]} {
			if strings.Contains(text, frag) {
				t.Fatalf("key material %q leaked", frag)
			}
		}
	}
}
