package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

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
	if m == nil {
		t.Fatalf("no 'every request answered' line in the output:\n%s", tail(out, 40))
	}
	if m[1] != m[2] {
		t.Fatalf("sent %s, answered %s", m[1], m[2])
	}
	n, _ := strconv.Atoi(m[1])
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

// verifyNoLeaks fails t if a goroutine not covered by ignore (captured at
// the test's start) is still running after up to 3 s. The wait matters:
// after a dead letter, protoactor's dead-letter throttle keeps a goroutine
// alive for its period (1 s here), longer than goleak.VerifyNone retries.
func verifyNoLeaks(t *testing.T, ignore goleak.Option) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err = goleak.Find(ignore); err == nil {
			return
		}
	}
	t.Error(err)
}

// The demo against its simulators: the plain view shows the tree of both
// providers with breaker states and key labels, the metrics endpoint serves
// the collector, no fake key is ever printed or exported in full, and every
// request is answered.
func TestRunPlainWithSimulators(t *testing.T) {
	defer verifyNoLeaks(t, goleak.IgnoreCurrent())

	var out syncBuffer
	scraped := make(chan string, 1)
	go func() {
		// Scrape the metrics endpoint once the header names it.
		re := regexp.MustCompile(`metrics (http://\S+/metrics)`)
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			if m := re.FindStringSubmatch(out.String()); m != nil {
				resp, err := http.Get(m[1])
				if err != nil {
					scraped <- "error: " + err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				scraped <- string(body)
				return
			}
		}
		scraped <- "error: no metrics URL in the output"
	}()
	opts := options{Duration: 3 * time.Second, Interval: 500 * time.Millisecond, Plain: true, Seed: 7,
		Metrics: "127.0.0.1:0", Getenv: noEnv, Stdin: strings.NewReader("")}
	if err := run(context.Background(), opts, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, tail(out.String(), 40))
	}
	s := out.String()

	for _, want := range []string{
		"anthropic (anthropic)", "openai (openai)",
		"breaker primary", "breaker secondary",
		"key pri-1", "key pri-2", "key pri-3", "key sec-1", "key sec-2",
		"queue     level", "HIGH", "NORMAL", "LOW",
		"batching  window", "tei/bge-base embed", "cache     ",
		"Summary · simulators",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The FAQ traffic repeats itself within seconds: the cache answers.
	if !regexp.MustCompile(`cache     \d+ entries · exact \d+ · semantic \d+`).MatchString(s) {
		t.Errorf("no cache line in the output")
	}
	if !regexp.MustCompile(`last hits: .*(exact|semantic) [01]\.\d{3}`).MatchString(s) {
		t.Errorf("no cache hit with its similarity in the output")
	}
	if !regexp.MustCompile(`breaker primary\s+(CLOSED|OPEN|HALF-OPEN)`).MatchString(s) {
		t.Errorf("no breaker state in the output")
	}
	// Hints (the last four characters) are shown; the fake keys never are.
	if !regexp.MustCompile(`key pri-1 …[0-9a-f]{4} `).MatchString(s) {
		t.Errorf("no key hint in the output")
	}
	if strings.Contains(s, "sk-demo") {
		t.Errorf("output contains a fake key:\n%s", s)
	}
	if n := checkAnswered(t, s); n < 20 {
		t.Errorf("only %d requests in 3s", n)
	}

	body := <-scraped
	if strings.HasPrefix(body, "error:") {
		t.Fatal(body)
	}
	for _, want := range []string{`switchyard_requests_total{endpoint="primary",key="pri-1",provider="anthropic"}`, `switchyard_breaker_state{endpoint="secondary",provider="openai"}`, "switchyard_queue_admitted_total",
		"switchyard_batch_calls_total", "switchyard_cache_lookups_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "sk-demo") {
		t.Errorf("metrics contain a fake key")
	}
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
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	opts := options{Duration: 1500 * time.Millisecond, Interval: 500 * time.Millisecond, Plain: true, Config: path, Rate: 10,
		Getenv: func(k string) string {
			if k == "DEMO_TEST_KEY" {
				return secret
			}
			return ""
		}, Stdin: strings.NewReader("")}
	if err := run(context.Background(), opts, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{"config " + path, "claude (anthropic)", "breaker local", "key cfg-1"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(s, "openai") {
		t.Errorf("simulators were started with --config")
	}
	if strings.Contains(s, secret) {
		t.Errorf("output contains the key")
	}
	n := checkAnswered(t, s)
	if n == 0 || srv.Calls() < n {
		t.Errorf("%d requests sent, the configured service saw %d", n, srv.Calls())
	}
}

// --real refuses to start without keys, and never with --config.
func TestRunRefusals(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), options{Real: true, Plain: true, Getenv: noEnv}, &out)
	if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY") || !strings.Contains(err.Error(), "ANTHROPIC_API_KEY") {
		t.Errorf("--real without keys: %v", err)
	}
	err = run(context.Background(), options{Real: true, Config: "x.yaml", Plain: true, Getenv: noEnv}, &out)
	if err == nil || !strings.Contains(err.Error(), "exclude") {
		t.Errorf("--real with --config: %v", err)
	}
	err = run(context.Background(), options{Config: filepath.Join(t.TempDir(), "missing.yaml"), Plain: true, Getenv: noEnv}, &out)
	if err == nil {
		t.Errorf("--config with a missing file succeeded")
	}
	if out.Len() != 0 {
		t.Errorf("refusals printed %q", out.String())
	}
}

// --real includes only the providers whose key is set.
func TestRealConfigFromEnvironment(t *testing.T) {
	cfg, err := realConfig(func(k string) string {
		if k == "OPENAI_API_KEY" {
			return "sk-test-0123456789abcdef"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 1 || cfg.Providers[0].Kind != "openai" {
		t.Fatalf("providers %+v, want openai alone", cfg.Providers)
	}
	if len(cfg.Providers[0].Endpoints) != 0 {
		t.Fatalf("endpoints %+v, want the public default", cfg.Providers[0].Endpoints)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--duration", "60s", "--plain", "--interval", "1s", "--metrics", ":9090", "--seed", "9", "--rate", "3"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.Duration != time.Minute || !o.Plain || o.Interval != time.Second || o.Metrics != ":9090" || o.Seed != 9 || o.Rate != 3 {
		t.Fatalf("parsed %+v", o)
	}
	if _, err := parseFlags([]string{"extra"}, io.Discard); err == nil {
		t.Fatal("a stray argument was accepted")
	}
}

// Every backend in the table is started and wired the same way.
func TestBackendTable(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range backends {
		if b.kind == "" || b.name == "" || b.envKey == "" || b.start == nil || b.baseURL == nil || b.model == "" || b.realModel == "" || len(b.ops) == 0 {
			t.Errorf("incomplete backend entry %+v", b)
		}
		if seen[b.name] {
			t.Errorf("duplicate backend %q", b.name)
		}
		seen[b.name] = true
		for _, o := range b.ops {
			if o.op == "embed" && b.embedModel == "" {
				t.Errorf("%s: embeddings in the mix without an embedding model", b.name)
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
		if !strings.Contains(full, want) {
			t.Errorf("full view lacks %q:\n%s", want, full)
		}
	}
	if strings.Contains(full, "ovms/idle") {
		t.Errorf("a window that never sent a call is shown:\n%s", full)
	}
	f.Compact = true
	compact := renderMain(f, pal)
	if !strings.Contains(compact, "batching  15 calls carried 45 requests · best tei/bge-base embed 4.0 per call") || strings.Contains(compact, "ollama/") {
		t.Errorf("compact view:\n%s", compact)
	}
}
