package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/messages"
)

// webDemo is the demo running with --web in the background.
type webDemo struct {
	sims   []*simProvider
	out    *syncBuffer
	url    string
	cancel context.CancelFunc
	done   chan error
	client *http.Client
}

var webURLRE = regexp.MustCompile(`(?m)^web view: (http://\S+/)$`)

// startWebDemo runs the demo against its simulators with --web on a free
// port and returns once the page's address is printed. rate is per
// provider; the object store's server is left out (no versitygw).
func startWebDemo(t *testing.T, ctx context.Context, rate float64) *webDemo {
	t.Helper()
	runCtx, cancel := context.WithCancel(ctx)
	d := &webDemo{out: &syncBuffer{}, cancel: cancel, done: make(chan error, 1),
		client: &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}}
	printed := make(chan string, 1)
	w := &watchWriter{w: d.out, re: webURLRE, found: printed}
	opts := options{Web: "127.0.0.1:0", Plain: true, Interval: time.Second, Rate: rate, Seed: 11, Getenv: noEnv,
		Stdin:  strings.NewReader(""),
		FindS3: func() (string, error) { return "", errors.New("no versitygw in this test") },
		// Set before the address is printed.
		onSims: func(s []*simProvider) { d.sims = s }}
	go func() { d.done <- run(runCtx, opts, w) }()
	select {
	case d.url = <-printed:
	case err := <-d.done:
		cancel()
		require.FailNow(t, "the demo ended before it printed the web view's address", "%v\n%s", err, tail(d.out.String(), 40))
	case <-ctx.Done():
		cancel()
		require.FailNow(t, "no web view address printed", tail(d.out.String(), 40))
	}
	return d
}

// stop ends the demo, waits for it and checks that every request was
// answered.
func (d *webDemo) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		require.NoError(t, err, tail(d.out.String(), 40))
	case <-time.After(30 * time.Second):
		require.FailNow(t, "the demo did not stop", tail(d.out.String(), 40))
	}
	d.client.CloseIdleConnections()
	checkAnswered(t, d.out.String())
}

func (d *webDemo) get(t *testing.T, path string) (string, http.Header) {
	t.Helper()
	resp, err := d.client.Get(strings.TrimSuffix(d.url, "/") + path)
	require.NoError(t, err, path)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err, path)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
	return string(body), resp.Header
}

func (d *webDemo) snapshot(t *testing.T) webSnapshot {
	t.Helper()
	body, h := d.get(t, "/snapshot")
	assert.Equal(t, "application/json", h.Get("Content-Type"))
	var s webSnapshot
	require.NoError(t, json.Unmarshal([]byte(body), &s), body)
	return s
}

// watchWriter writes to w and sends the first match of re's group 1 in
// everything written so far on found.
type watchWriter struct {
	w     *syncBuffer
	re    *regexp.Regexp
	found chan<- string // buffered, one match
	sent  atomic.Bool
}

func (ww *watchWriter) Write(p []byte) (int, error) {
	n, err := ww.w.Write(p)
	if !ww.sent.Load() {
		if m := ww.re.FindStringSubmatch(ww.w.String()); m != nil && ww.sent.CompareAndSwap(false, true) {
			ww.found <- m[1]
		}
	}
	return n, err
}

// sseEvent is one server-sent event as read by readSSE.
type sseEvent struct {
	name, data string
}

// readSSE sends each event of r on events and closes it at the end of the
// stream.
func readSSE(r io.Reader, events chan<- sseEvent) {
	defer close(events)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 8<<20)
	var ev sseEvent
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if ev.name != "" || ev.data != "" {
				events <- ev
			}
			ev = sseEvent{}
		case strings.HasPrefix(line, "event: "):
			ev.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			ev.data += strings.TrimPrefix(line, "data: ")
		}
	}
}

// The web view's endpoints: the page and its files, /snapshot with the
// tree as the live view shows it (labels, never keys), and /events, which
// starts with the transitions so far and a snapshot, pushes snapshots, and
// ends when the demo stops while a client is still connected; nothing is
// left running.
func TestWebViewEndpoints(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := startWebDemo(t, ctx, 5)
	stopped := false
	defer func() {
		if !stopped {
			d.stop(t)
		}
	}()

	for _, tc := range []struct{ path, contentType, want string }{
		{"/", "text/html", `<script src="app.js"></script>`},
		{"/app.js", "text/javascript", "new EventSource('events')"},
		{"/style.css", "text/css", "--red"},
	} {
		body, h := d.get(t, tc.path)
		assert.Contains(t, h.Get("Content-Type"), tc.contentType, tc.path)
		assert.Contains(t, body, tc.want, tc.path)
	}

	s := d.snapshot(t)
	require.Empty(t, s.Error)
	names := map[string]webProvider{}
	for _, p := range s.Provs {
		names[p.Name] = p
	}
	require.Contains(t, names, "anthropic")
	require.Contains(t, names, "openai")
	require.Contains(t, names, "s3", "the object store's branch is in the tree without its server")
	a := names["anthropic"]
	require.Len(t, a.Endpoints, 2)
	assert.Equal(t, "primary", a.Endpoints[0].Name)
	assert.Contains(t, []string{"CLOSED", "OPEN", "HALF-OPEN"}, a.Endpoints[0].State)
	require.Len(t, a.Endpoints[0].Keys, 3)
	assert.Equal(t, "pri-1", a.Endpoints[0].Keys[0].Label)
	assert.Contains(t, []string{"active", "cooling", "disabled"}, a.Endpoints[0].Keys[0].State)
	require.Len(t, s.Queue.Levels, 3)
	assert.Equal(t, []string{"HIGH", "NORMAL", "LOW"}, []string{s.Queue.Levels[0].Priority, s.Queue.Levels[1].Priority, s.Queue.Levels[2].Priority})
	assert.NotNil(t, s.Cache, "the demo runs with the cache on")
	assert.Equal(t, "simulators", s.Source)

	// The event stream.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"events", nil)
	require.NoError(t, err)
	resp, err := d.client.Transport.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	events := make(chan sseEvent, 16)
	go readSSE(resp.Body, events)
	next := func() sseEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			require.True(t, ok, "the stream ended early")
			return ev
		case <-ctx.Done():
			require.FailNow(t, "no event on /events")
		}
		return sseEvent{}
	}
	var streamed strings.Builder
	ev := next()
	require.Equal(t, "history", ev.name, "the first event")
	var hist []webTransition
	require.NoError(t, json.Unmarshal([]byte(ev.data), &hist), ev.data)
	snaps := 0
	var first, last webSnapshot
	for snaps < 3 {
		ev := next()
		streamed.WriteString(ev.data)
		switch ev.name {
		case "snapshot":
			snaps++
			last = webSnapshot{}
			require.NoError(t, json.Unmarshal([]byte(ev.data), &last))
			if snaps == 1 {
				first = last
			}
		case "transition":
			var tr webTransition
			require.NoError(t, json.Unmarshal([]byte(ev.data), &tr), ev.data)
			assert.Contains(t, []string{"breaker", "restart"}, tr.Kind)
		default:
			assert.Fail(t, "unexpected event", ev.name)
		}
	}
	assert.Greater(t, last.Time, first.Time, "snapshots are pushed as time goes on")
	assert.NotContains(t, streamed.String(), "sk-demo", "a fake key in the event stream")

	// The demo stops while the stream is open: the stream ends.
	stopped = true
	d.stop(t)
	assert.Contains(t, d.out.String(), "· web view "+d.url+"\n", "the plain view's header names the page")
	for {
		select {
		case _, ok := <-events:
			if !ok {
				return
			}
		case <-ctx.Done():
			require.FailNow(t, "/events did not end when the demo stopped")
		}
	}
}

func TestPageURL(t *testing.T) {
	for _, tc := range []struct{ addr, want string }{
		{"127.0.0.1:8080", "http://127.0.0.1:8080/"},
		{"0.0.0.0:8080", "http://127.0.0.1:8080/"},
		{"[::]:9000", "http://127.0.0.1:9000/"},
		{"[::1]:9000", "http://[::1]:9000/"},
		{"localhost:80", "http://localhost:80/"},
	} {
		assert.Equal(t, tc.want, pageURL(fakeAddr(tc.addr)), tc.addr)
	}
}

type fakeAddr string

func (a fakeAddr) Network() string { return "tcp" }
func (a fakeAddr) String() string  { return string(a) }

var _ net.Addr = fakeAddr("")

func TestWithWebHint(t *testing.T) {
	for _, tc := range []struct{ hint, url, want string }{
		{"q to quit", "", "q to quit"},
		{"q to quit", "http://127.0.0.1:1/", "q to quit · web view http://127.0.0.1:1/"},
		{"", "http://127.0.0.1:1/", "web view http://127.0.0.1:1/"},
		{"", "", ""},
	} {
		assert.Equal(t, tc.want, withWebHint(tc.hint, tc.url), "%q %q", tc.hint, tc.url)
	}
}

func TestActorEndpoint(t *testing.T) {
	for _, tc := range []struct{ id, prov, ep string }{
		{"switchyard/providers/anthropic/breaker-primary", "anthropic", "primary"},
		{"switchyard/providers/openai/breaker-secondary/key-sec-1", "openai", "secondary"},
		{"switchyard/dispatcher", "", ""},
		{"breaker-lonely", "", ""},
	} {
		p, e := actorEndpoint(tc.id)
		assert.Equal(t, tc.prov, p, tc.id)
		assert.Equal(t, tc.ep, e, tc.id)
	}
}

func TestTransitionOf(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name string
		ev   messages.Event
		ok   bool
		want webTransition
	}{
		{"breaker opened", &messages.BreakerStateChanged{Time: now, Provider: "openai", Endpoint: "primary", From: messages.Closed, To: messages.Open,
			Reason: "5 consecutive failures", ReopenAt: now.Add(3 * time.Second), Trips: 1}, true,
			webTransition{Time: now.UnixMilli(), Kind: "breaker", Provider: "openai", Endpoint: "primary", From: "CLOSED", To: "OPEN",
				ReopenAt: now.Add(3 * time.Second).UnixMilli(), Reason: "5 consecutive failures"}},
		{"half-open", &messages.BreakerStateChanged{Time: now, Provider: "openai", Endpoint: "primary", From: messages.Open, To: messages.HalfOpen}, true,
			webTransition{Time: now.UnixMilli(), Kind: "breaker", Provider: "openai", Endpoint: "primary", From: "OPEN", To: "HALF-OPEN"}},
		{"restart", &messages.ActorRestarted{Time: now, Actor: "switchyard/providers/openai/breaker-primary", Reason: "cooldown over"}, true,
			webTransition{Time: now.UnixMilli(), Kind: "restart", Provider: "openai", Endpoint: "primary",
				Actor: "switchyard/providers/openai/breaker-primary", Reason: "cooldown over"}},
		{"key cooldown", &messages.KeyCooldown{Time: now, Provider: "openai", Endpoint: "primary", Key: "pri-1"}, false, webTransition{}},
	} {
		got, ok := transitionOf(tc.ev)
		assert.Equal(t, tc.ok, ok, tc.name)
		assert.Equal(t, tc.want, got, tc.name)
	}
}

// A snapshot carries labels, never a key, its hint or a base URL.
func TestSnapshotCarriesNoSecret(t *testing.T) {
	const secret = "sk-canary-0123456789abcdef"
	now := time.Now()
	f := frame{Now: now, Started: now.Add(-time.Minute), Source: "simulators", Opened: map[string]int{"p/e": 1},
		Tree: messages.Tree{Time: now, Providers: []messages.ProviderNode{{Name: "p", Kind: "openai", Endpoints: []messages.EndpointNode{{
			Name: "e", BaseURL: "https://user:" + secret + "@example.invalid/v1", State: messages.Open, ReopenAt: now.Add(2 * time.Second),
			Counters: messages.Counters{LastError: "bad key " + secret},
			Keys: []messages.KeyNode{{Label: "k1", Hint: "…" + secret[len(secret)-4:], State: messages.KeyStateCooling, CoolingUntil: now.Add(time.Second),
				Counters: messages.Counters{LastError: "401 for " + secret}}},
		}}}}}}
	data, err := json.Marshal(snapshotOf(f))
	require.NoError(t, err)
	s := string(data)
	for _, leak := range []string{secret, secret[len(secret)-4:], "example.invalid"} {
		assert.NotContains(t, s, leak)
	}
	var back webSnapshot
	require.NoError(t, json.Unmarshal(data, &back))
	require.Len(t, back.Provs, 1)
	e := back.Provs[0].Endpoints[0]
	assert.Equal(t, "OPEN", e.State)
	assert.InDelta(t, 2000, e.ReopenInMs, 1)
	assert.Equal(t, 1, e.Trips)
	assert.Equal(t, "k1", e.Keys[0].Label)
	assert.InDelta(t, 1000, e.Keys[0].CoolingMs, 1)
}

// The hub gives a client that joins every transition so far, then each new
// one; it drops a client that falls too far behind instead of blocking.
func TestWebHub(t *testing.T) {
	h := newWebHub()
	h.event(&messages.BreakerStateChanged{Time: time.Now(), Provider: "p", Endpoint: "e", To: messages.Open})
	h.event(&messages.KeyCooldown{Time: time.Now(), Provider: "p", Endpoint: "e", Key: "k"}) // not a transition
	assert.False(t, h.listening())

	c, hist := h.join()
	assert.True(t, h.listening())
	var got []webTransition
	require.NoError(t, json.Unmarshal(hist, &got))
	require.Len(t, got, 1)
	assert.Equal(t, "OPEN", got[0].To)

	h.event(&messages.ActorRestarted{Time: time.Now(), Actor: "x/p/breaker-e"})
	m := <-c.ch
	assert.Equal(t, "transition", m.event)
	assert.Contains(t, string(m.data), `"kind":"restart"`)

	for range webBacklog + 1 {
		h.publishSnapshot([]byte(`{}`))
	}
	select {
	case <-c.kicked:
	default:
		assert.Fail(t, "a client that fell behind was kept")
	}
	assert.False(t, h.listening())
	h.leave(c) // after a kick: harmless

	for i := range webHistory + 10 {
		h.event(&messages.BreakerStateChanged{Time: time.UnixMilli(int64(i)), Provider: "p", Endpoint: "e", To: messages.Closed})
	}
	_, hist = h.join()
	got = nil
	require.NoError(t, json.Unmarshal(hist, &got))
	assert.Len(t, got, webHistory, "history is bounded")
	assert.Equal(t, int64(webHistory+9), got[len(got)-1].Time, "the newest are kept")
}

func TestParseWebFlag(t *testing.T) {
	o, err := parseFlags([]string{"--web", "127.0.0.1:8080"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8080", o.Web)
	o, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Empty(t, o.Web, "off by default")
}
