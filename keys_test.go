package switchyard

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
		_, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
		require.NoError(t, err)
	}
	assert.Equal(t, map[string]int{secretA: 10, secretB: 10, secretC: 10}, keyUse(srv), "round-robin use, want 10 each")
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
	// Calls counts a request as it arrives, Requests once its body is read
	// (in any order): find the third call by its text.
	eventually(t, "third call", func() bool { return len(srv.Requests()) == 3 })
	third := slices.IndexFunc(srv.Requests(), func(r sim.Record) bool { return bytes.Contains(r.Body, []byte("third")) })
	require.GreaterOrEqual(t, third, 0, "the third call's record")
	assert.Equal(t, "c", labelOf(srv.Requests()[third].Key), "least-loaded must send the third call to the idle key")
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
		require.NoError(t, err, "request %d", i)
		require.NotEqual(t, "a", resp.Key, "answer from the revoked key")
	}
	assert.Equal(t, 1, keyUse(srv)[secretA], "the revoked key is tried once")
	dis := h.eventsOf(func(e messages.Event) bool {
		d, ok := e.(*messages.KeyDisabled)
		return ok && d.Key == "a" && d.Status == 401
	})
	assert.Len(t, dis, 1, "KeyDisabled events")
	states := map[string]messages.KeyState{}
	for _, ep := range h.tree().Providers[0].Endpoints {
		for _, k := range ep.Keys {
			states[k.Label] = k.State
		}
	}
	assert.Equal(t, map[string]messages.KeyState{"a": messages.KeyStateDisabled, "b": messages.KeyStateActive, "c": messages.KeyStateActive}, states)
}

// A 429 cools only the key that got it, until the reset the upstream gave.
func TestRateLimitedKeyCoolsAlone(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv, threeKeys(0)...)}}, true)
	srv.Inject(sim.Fault{Status: 429, Key: secretA, Header: map[string]string{"Retry-After": "30"}})
	for i := 0; i < 9; i++ {
		resp, err := h.sy.Chat(context.Background(), chatReq("p", "x"))
		require.NoError(t, err, "request %d", i)
		require.NotEqual(t, "a", resp.Key, "the cooling key served a request")
	}
	use := keyUse(srv)
	assert.Equal(t, 1, use[secretA])
	assert.Equal(t, 9, use[secretB]+use[secretC])
	var cool *messages.KeyCooldown
	for _, e := range h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.KeyCooldown); return ok }) {
		cool = e.(*messages.KeyCooldown)
	}
	require.NotNil(t, cool, "no KeyCooldown event")
	assert.Equal(t, "a", cool.Key)
	assert.Equal(t, h.clk.Now().Add(30*time.Second), cool.Until)
	keys := h.tree().Providers[0].Endpoints[0].Keys
	require.Len(t, keys, 3)
	assert.Equal(t, []messages.KeyState{messages.KeyStateCooling, messages.KeyStateActive, messages.KeyStateActive},
		[]messages.KeyState{keys[0].State, keys[1].State, keys[2].State})
	h.clk.Advance(31 * time.Second)
	assert.Equal(t, messages.KeyStateActive, h.tree().Providers[0].Endpoints[0].Keys[0].State, "key still cooling after its reset")
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
	require.NotEmpty(t, errTexts, "the faults produced no errors to inspect")
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
	require.Contains(t, text, "key disabled", "expected the disabled key in the logs: the capture is not working")
	for _, s := range []string{secretA, secretB, secretC} {
		for _, frag := range []string{s, s[:16], s[8:24]} {
			// Not assert.NotContains: its message would print the text
			// and with it the leak.
			if strings.Contains(text, frag) {
				assert.Failf(t, "key material leaked", "fragment %q", frag)
			}
		}
	}
}
