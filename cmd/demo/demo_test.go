package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// syncBuffer is a bytes.Buffer safe for a writer and a concurrent reader.
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

var answeredRE = regexp.MustCompile(`(?m)^every request answered: (\d+) sent, (\d+) answered$`)

// checkAnswered asserts the summary line and returns the count.
func checkAnswered(t *testing.T, out string) int {
	t.Helper()
	m := answeredRE.FindStringSubmatch(out)
	require.NotNil(t, m, "no 'every request answered' line in the output:\n%s", tail(out, 40))
	require.Equal(t, m[1], m[2], "sent, answered")
	n, err := strconv.Atoi(m[1])
	require.NoError(t, err)
	return n
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func noEnv(string) string { return "" }

// verifyNoLeaks fails t if a goroutine not covered by ignore (usually
// goleak.IgnoreCurrent() captured at the test's start) is still running
// after up to 10 s. The wait matters: after a dead letter, protoactor's
// dead-letter throttle keeps a goroutine alive for its period (1 s here),
// longer than goleak.VerifyNone retries.
func verifyNoLeaks(t *testing.T, ignore ...goleak.Option) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = goleak.Find(ignore...); err == nil {
			return
		}
	}
	assert.NoError(t, err, "goroutines left running")
}

// The demo against its simulators: the plain view shows the tree of both
// providers with breaker states and key labels, the metrics endpoint serves
// the collector, no fake key is ever printed or exported in full, and every
// request is answered.
func TestRunPlainWithSimulators(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())

	var out syncBuffer
	scraped := make(chan string, 1)
	ran := make(chan struct{})
	go func() {
		// Scrape the metrics endpoint once the header names it, until it
		// answers 200 or the demo has ended: on a loaded machine a scrape
		// may outlast the collector's snapshot timeout (an HTTP 500).
		re := regexp.MustCompile(`metrics (http://\S+/metrics)`)
		last := "error: no metrics URL in the output"
		for {
			select {
			case <-ran:
				scraped <- last
				return
			case <-time.After(50 * time.Millisecond):
			}
			m := re.FindStringSubmatch(out.String())
			if m == nil {
				continue
			}
			resp, err := http.Get(m[1])
			if err != nil {
				last = "error: " + err.Error()
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				scraped <- string(body)
				return
			}
			last = fmt.Sprintf("error: HTTP %d: %s", resp.StatusCode, body)
		}
	}()
	// The demo runs until the output shows a cache hit (FAQ traffic repeats
	// itself within seconds, but on a loaded machine it takes longer), at
	// least 3 s and at most 60 s.
	ctx := runUntil(t, &out, 3*time.Second, regexp.MustCompile(`last hits: .*(exact|semantic) [01]\.\d{3}`))
	opts := options{Interval: 500 * time.Millisecond, Plain: true, Seed: 7,
		Metrics: "127.0.0.1:0", Getenv: noEnv, Stdin: strings.NewReader("")}
	err := run(ctx, opts, &out)
	close(ran)
	require.NoError(t, err, tail(out.String(), 40))
	s := out.String()

	for _, want := range []string{
		"anthropic (anthropic)", "openai (openai)",
		"breaker primary", "breaker secondary",
		"key pri-1", "key pri-2", "key pri-3", "key sec-1", "key sec-2",
		"queue     level", "HIGH", "NORMAL", "LOW",
		"batching  window", "tei/bge-base embed", "cache     ",
		"Summary · simulators",
	} {
		assert.Contains(t, s, want)
	}
	// The FAQ traffic repeats itself within seconds: the cache answers.
	assert.Regexp(t, `cache     \d+ entries · exact \d+ · semantic \d+`, s, "no cache line in the output")
	assert.Regexp(t, `last hits: .*(exact|semantic) [01]\.\d{3}`, s, "no cache hit with its similarity in the output")
	assert.Regexp(t, `breaker primary\s+(CLOSED|OPEN|HALF-OPEN)`, s, "no breaker state in the output")
	// Hints (the last four characters) are shown; the fake keys never are.
	assert.Regexp(t, `key pri-1 …[0-9a-f]{4} `, s, "no key hint in the output")
	assert.NotContains(t, s, "sk-demo", "output contains a fake key")
	assert.GreaterOrEqual(t, checkAnswered(t, s), 20, "requests in 3s or more")

	body := <-scraped
	require.False(t, strings.HasPrefix(body, "error:"), body)
	for _, want := range []string{`switchyard_requests_total{endpoint="primary",key="pri-1",provider="anthropic"}`, `switchyard_breaker_state{endpoint="secondary",provider="openai"}`, "switchyard_queue_admitted_total",
		"switchyard_batch_calls_total", "switchyard_cache_lookups_total"} {
		assert.Contains(t, body, want, "metrics")
	}
	assert.NotContains(t, body, "sk-demo", "metrics contain a fake key")
}

// The demo does not wait for the object store: without the versitygw
// binary the tree (with its s3 branch) shows at once and the upload line
// says what it waits for; the traffic runs and is answered.
func TestRunWithoutTheObjectStoreServer(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())

	var out syncBuffer
	looked := make(chan struct{}, 1)
	// The demo runs until the tree (with its s3 branch) and the upload line
	// have shown, at least 1.5 s and at most 60 s.
	ctx := runUntil(t, &out, 1500*time.Millisecond, regexp.MustCompile(`s3 \(s3\)`), regexp.MustCompile(`uploads   waiting for versitygw`),
		regexp.MustCompile(`anthropic \(anthropic\)`))
	opts := options{Interval: 500 * time.Millisecond, Plain: true, Seed: 3,
		Getenv: noEnv, Stdin: strings.NewReader(""),
		FindS3: func() (string, error) {
			select {
			case looked <- struct{}{}:
			default:
			}
			return "", errors.New("no versitygw yet")
		}}
	require.NoError(t, run(ctx, opts, &out), tail(out.String(), 40))
	s := out.String()
	assert.Contains(t, s, "s3 (s3)", "the s3 branch is in the tree from the start")
	assert.Contains(t, s, "uploads   waiting for versitygw")
	assert.Contains(t, s, "anthropic (anthropic)")
	assert.Positive(t, checkAnswered(t, s))
	select {
	case <-looked:
	default:
		assert.Fail(t, "the demo never looked for the binary")
	}
}

// The gateway answers 503 until its server is set, then forwards with the
// Host header the client signed.
func TestObjectStoreGateway(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())

	hosts := make(chan string, 1)
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- r.Host
		_, _ = io.WriteString(w, "stored")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan struct{})
	go func() { defer close(served); _ = backend.Serve(ln) }()
	defer func() { _ = backend.Close(); <-served }()

	g, err := newGateway()
	require.NoError(t, err)
	defer g.close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	resp, err := hc.Get(g.url + "/models")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.Contains(t, string(body), "<Code>ServiceUnavailable</Code>")

	g.setTarget("http://" + ln.Addr().String())
	resp, err = hc.Get(g.url + "/models")
	require.NoError(t, err)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "stored", string(body))
	assert.Equal(t, strings.TrimPrefix(g.url, "http://"), <-hosts, "the Host header the client signed reaches the server")
}

// --config talks to the services the file names (here a simulator on
// loopback, standing in for a real service) and starts no simulators.
func TestRunWithConfigFile(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())

	const secret = "sk-ant-config-0123456789abcdef"
	srv := sim.Start(sim.Anthropic(), sim.WithKeys(secret))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "switchyard.yaml")
	cfg := fmt.Sprintf("providers:\n  - name: claude\n    kind: anthropic\n    endpoints:\n      - name: local\n        base_url: %s\n        keys:\n          - label: cfg-1\n            secret_env: DEMO_TEST_KEY\n", srv.URL)
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o600))
	var out bytes.Buffer
	opts := options{Duration: 1500 * time.Millisecond, Interval: 500 * time.Millisecond, Plain: true, Config: path, Rate: 10,
		Getenv: func(k string) string {
			if k == "DEMO_TEST_KEY" {
				return secret
			}
			return ""
		}, Stdin: strings.NewReader("")}
	require.NoError(t, run(context.Background(), opts, &out), out.String())
	s := out.String()
	for _, want := range []string{"config " + path, "claude (anthropic)", "breaker local", "key cfg-1"} {
		assert.Contains(t, s, want)
	}
	assert.NotContains(t, s, "openai", "simulators were started with --config")
	assert.NotContains(t, s, secret, "output contains the key")
	n := checkAnswered(t, s)
	assert.Positive(t, n)
	assert.GreaterOrEqual(t, srv.Calls(), n, "requests sent vs. seen by the configured service")
}

// --real refuses to start without keys, and never with --config.
func TestRunRefusals(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), options{Real: true, Plain: true, Getenv: noEnv}, &out)
	require.Error(t, err, "--real without keys")
	assert.Contains(t, err.Error(), "OPENAI_API_KEY")
	assert.Contains(t, err.Error(), "ANTHROPIC_API_KEY")
	err = run(context.Background(), options{Real: true, Config: "x.yaml", Plain: true, Getenv: noEnv}, &out)
	require.Error(t, err, "--real with --config")
	assert.Contains(t, err.Error(), "exclude")
	err = run(context.Background(), options{Config: filepath.Join(t.TempDir(), "missing.yaml"), Plain: true, Getenv: noEnv}, &out)
	assert.Error(t, err, "--config with a missing file")
	err = run(context.Background(), options{Nodes: maxNodes + 1, Plain: true, Getenv: noEnv}, &out)
	require.Error(t, err, "--nodes above the bound")
	assert.Contains(t, err.Error(), "--nodes")
	assert.Zero(t, out.Len(), "refusals printed %q", out.String())
}

// --real includes only the providers whose key is set.
func TestRealConfigFromEnvironment(t *testing.T) {
	cfg, err := realConfig(func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "sk-test-0123456789abcdef"
		}
		return ""
	})
	require.NoError(t, err)
	require.Len(t, cfg.Providers, 1, "openai alone")
	assert.Equal(t, "openai", cfg.Providers[0].Kind)
	assert.Empty(t, cfg.Providers[0].Endpoints, "the public default")
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--duration", "60s", "--plain", "--interval", "1s", "--metrics", ":9090", "--seed", "9", "--rate", "3", "--nodes", "3"}, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, time.Minute, o.Duration)
	assert.True(t, o.Plain)
	assert.Equal(t, time.Second, o.Interval)
	assert.Equal(t, ":9090", o.Metrics)
	assert.Equal(t, uint64(9), o.Seed)
	assert.InDelta(t, 3.0, o.Rate, 0)
	assert.Equal(t, 3, o.Nodes)
	o, err = parseFlags(nil, io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 1, o.Nodes, "a single instance by default")
	_, err = parseFlags([]string{"extra"}, io.Discard)
	assert.Error(t, err, "a stray argument was accepted")
}

// Every backend in the table is started and wired the same way.
func TestBackendTable(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range backends {
		complete := b.kind != "" && b.name != "" && (b.envKey != "" || b.credential != nil) && b.start != nil && b.baseURL != nil && b.model != "" && b.realModel != "" && len(b.ops) > 0
		assert.True(t, complete, "incomplete backend entry %+v", b)
		assert.False(t, seen[b.name], "duplicate backend %q", b.name)
		seen[b.name] = true
		for _, o := range b.ops {
			if o.op == "embed" {
				assert.NotEmpty(t, b.embedModel, "%s: embeddings in the mix without an embedding model", b.name)
			}
		}
	}
}

func TestRenderBatchingAndCache(t *testing.T) {
	ws := []messages.WindowStatus{
		{Provider: "tei", Model: "bge-base", Operation: "embed", Batches: 10, Batched: 40, LargestBatch: 8, MaxInputs: 32, Inputs: 3, FlushDelay: 9, FlushHigh: 1},
		{Provider: "ollama", Model: "embeddinggemma", Operation: "embed", Batches: 5, Batched: 5, MaxInputs: 32},
		{Provider: "ovms", Model: "idle", Operation: "embed", MaxInputs: 32},
	}
	cs := &messages.CacheStatus{Entries: 12, Hits: 7, SemanticHits: 2, Coalesced: 1, Misses: 12, Threshold: 0.95,
		LastHits: []messages.CacheHitInfo{{Provider: "openai", Similarity: 1, Exact: true}, {Provider: "openai", Similarity: 0.9612}}}
	pal := palette{breaker: func(_ messages.BreakerState, s string) string { return s }, key: func(_ messages.KeyState, s string) string { return s },
		event: func(_ eventKind, s string) string { return s }, title: same, dim: same, bad: same}
	f := frame{Now: time.Now(), Started: time.Now(), Tree: messages.Tree{Queue: messages.QueueStatus{Windows: ws}, Cache: cs}}
	full := renderMain(f, pal)
	for _, want := range []string{"tei/bge-base embed", "4.0", "0/9/1/0", "3/32", "ollama/embeddinggemma embed",
		"cache     12 entries · exact 7 · semantic 2 · shared 1 · misses 12", "last hits: openai semantic 0.961 · openai exact 1.000"} {
		assert.Contains(t, full, want, "full view")
	}
	assert.NotContains(t, full, "ovms/idle", "a window that never sent a call is shown")
	f.Compact = true
	compact := renderMain(f, pal)
	assert.Contains(t, compact, "batching  15 calls carried 45 requests · best tei/bge-base embed 4.0 per call", "compact view")
	assert.NotContains(t, compact, "ollama/", "compact view")
}

// runUntil returns a context for run that ends once out has matched every
// one of res and at least min has passed, or after 60 s: the demo's output
// is the event the test waits on, not a fixed duration, so a loaded machine
// only makes the run longer.
func runUntil(t *testing.T, out *syncBuffer, min time.Duration, res ...*regexp.Regexp) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	go func() {
		started := time.Now()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if time.Since(started) < min {
				continue
			}
			all := true
			for _, re := range res {
				if !re.MatchString(out.String()) {
					all = false
					break
				}
			}
			if all {
				cancel()
				return
			}
		}
	}()
	return ctx
}
