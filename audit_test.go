package switchyard

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/audit"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// memorySink keeps every record written, for tests. It is safe for
// concurrent use.
type memorySink struct {
	mu   sync.Mutex
	recs []audit.Record
	// block, when set, holds every Write until it is closed.
	block chan struct{}
}

func (m *memorySink) Write(ctx context.Context, recs []audit.Record) error {
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recs = append(m.recs, recs...)
	return nil
}

func (m *memorySink) Close() error { return nil }

func (m *memorySink) records() []audit.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]audit.Record(nil), m.recs...)
}

// byRequestID counts the records of each request ID.
func (m *memorySink) byRequestID() map[string]int {
	out := map[string]int{}
	for _, r := range m.records() {
		out[r.RequestID]++
	}
	return out
}

// waitWritten waits until the audit log has handed every record logged so
// far to its sink.
func waitWritten(t *testing.T, sy *Switchyard) messages.AuditStats {
	t.Helper()
	var st messages.Stats
	eventually(t, "audit records written", func() bool {
		var err error
		st, err = sy.Stats(context.Background())
		require.NoError(t, err)
		return st.Audit.Logged > 0 && st.Audit.Written+st.Audit.Dropped+st.Audit.Failed == st.Audit.Logged
	})
	return st.Audit
}

func TestAuditRecordsEveryAnswer(t *testing.T) {
	srv := startOpenAI(t)
	sink := &memorySink{}
	cfg := Config{Providers: []ProviderConfig{openaiProvider("openai", srv, KeyConfig{Label: "team-key", Secret: secretA})},
		Cache: CacheConfig{Enabled: true}, Audit: AuditConfig{Sink: sink}, Retry: RetryConfig{MaxAttempts: 1}}
	h := newHarness(t, cfg, false)
	ctx := context.Background()
	q := det("what is the audit policy")
	q.Provider = "openai"
	first, err := h.sy.Chat(ctx, q, WithRequestID("a-1"), WithPrincipal("alice"), WithTenant("acme"), WithPriority(High))
	require.NoError(t, err)
	q2 := det("what is the audit policy")
	q2.Provider = "openai"
	_, err = h.sy.Chat(ctx, q2, WithRequestID("a-2"), WithPrincipal("bob"), WithTenant("acme"))
	require.NoError(t, err)
	_, err = h.sy.Chat(ctx, &messages.ChatRequest{Model: "gpt-test"}, WithRequestID("a-3"), WithProvider("openai"))
	require.Error(t, err, "a request without messages is refused")
	_, err = h.sy.Chat(ctx, openaiChat("x"), WithRequestID("a-4"), WithProvider("nope"))
	require.Error(t, err)
	waitWritten(t, h.sy)

	recs := sink.records()
	require.Len(t, recs, 4, "one record per request: %+v", recs)
	got := map[string]audit.Record{}
	for _, r := range recs {
		got[r.RequestID] = r
	}
	a1 := got["a-1"]
	assert.Equal(t, "alice", a1.Principal)
	assert.Equal(t, "acme", a1.Tenant)
	assert.Equal(t, "chat", a1.Operation)
	assert.Equal(t, "openai", a1.Provider)
	assert.Equal(t, "primary", a1.Endpoint)
	assert.Equal(t, "team-key", a1.Key)
	assert.Equal(t, "gpt-test", a1.Model)
	assert.Equal(t, messages.High.String(), a1.Priority)
	assert.Equal(t, 1, a1.Attempts)
	assert.Equal(t, audit.OutcomeOK, a1.Outcome)
	assert.Equal(t, 200, a1.Status)
	assert.Equal(t, first.Usage.InputTokens, a1.InputTokens)
	assert.Equal(t, first.Usage.OutputTokens, a1.OutputTokens)
	assert.Positive(t, a1.InputTokens)
	assert.Empty(t, a1.CacheHit)
	assert.Nil(t, a1.Content, "no content unless opted in")

	a2 := got["a-2"]
	assert.Equal(t, audit.CacheExact, a2.CacheHit, "the second asker of the tenant is served from the cache")
	assert.Zero(t, a2.Attempts)
	assert.Equal(t, "bob", a2.Principal)

	a3 := got["a-3"]
	assert.Equal(t, audit.OutcomeRejected, a3.Outcome)
	assert.Equal(t, "invalid_request", a3.ErrorClass)
	a4 := got["a-4"]
	assert.Equal(t, audit.OutcomeRejected, a4.Outcome)
	assert.Equal(t, "unknown_provider", a4.ErrorClass)
}

func TestAuditUpstreamFailureRecord(t *testing.T) {
	srv := startOpenAI(t)
	sink := &memorySink{}
	cfg := Config{Providers: []ProviderConfig{openaiProvider("openai", srv)}, Audit: AuditConfig{Sink: sink},
		Retry: RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond}}
	h := newHarness(t, cfg, false)
	srv.Inject(sim.Fault{Status: 500, Times: 2})
	_, err := h.sy.Chat(context.Background(), openaiChat("fail please"), WithRequestID("f-1"))
	require.Error(t, err)
	waitWritten(t, h.sy)
	recs := sink.records()
	require.Len(t, recs, 1)
	r := recs[0]
	assert.Equal(t, audit.OutcomeError, r.Outcome)
	assert.Equal(t, 500, r.Status)
	assert.Equal(t, messages.ClassServer.String(), r.ErrorClass)
	assert.Equal(t, 2, r.Attempts)
	assert.Equal(t, "a", r.Key)
}

// The file holds one verifiable chain, no secret and, by default, no
// content; with content opted in, prompts are there but secrets still are
// not.
func TestAuditFileHasNoSecretsAndVerifies(t *testing.T) {
	const promptCanary = "prompt-canary-Zx81 mentions " + secretA
	for _, content := range []bool{false, true} {
		t.Run(map[bool]string{false: "default", true: "content opted in"}[content], func(t *testing.T) {
			srv := startOpenAI(t)
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			cfg := Config{Providers: []ProviderConfig{openaiProvider("openai", srv)}, Audit: AuditConfig{Path: path, Content: content}}
			sy, err := New(cfg)
			require.NoError(t, err)
			for i := range 5 {
				_, err := sy.Chat(context.Background(), openaiChat(promptCanary), WithRequestID("c-"+string(rune('a'+i))), WithTenant("t1"))
				require.NoError(t, err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, sy.Close(ctx))

			rep, err := audit.Verify(path)
			require.NoError(t, err)
			assert.Equal(t, 5, rep.Records)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			assertNoCanary(t, "audit file", string(b))
			assert.NotContains(t, string(b), secretA)
			if content {
				assert.Contains(t, string(b), "prompt-canary-Zx81", "content is recorded when opted in")
			} else {
				assert.NotContains(t, string(b), "prompt-canary-Zx81", "no prompt text by default")
			}
			for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
				var m map[string]any
				require.NoError(t, json.Unmarshal([]byte(line), &m), "every line is JSON")
				assert.Equal(t, "t1", m["tenant"])
			}
		})
	}
}

// A sink that never returns holds no request: records wait in the buffer,
// then are dropped, counted and announced.
func TestAuditSlowSinkNeverBlocksRequests(t *testing.T) {
	srv := startOpenAI(t)
	sink := &memorySink{block: make(chan struct{})}
	cfg := Config{Providers: []ProviderConfig{openaiProvider("openai", srv)}, Audit: AuditConfig{Sink: sink, Buffer: 4}}
	h := newHarness(t, cfg, false)
	const n = 40
	for i := range n {
		_, err := h.sy.Chat(context.Background(), openaiChat("hello"), WithRequestID("s-"+strings.Repeat("x", i%3)+string(rune('A'+i))))
		require.NoError(t, err, "request %d answered while the audit sink is stuck", i)
	}
	st, err := h.sy.Stats(context.Background())
	require.NoError(t, err)
	assert.EqualValues(t, n, st.Audit.Logged)
	assert.Positive(t, st.Audit.Dropped, "a full buffer drops records")
	eventually(t, "an AuditDropped event", func() bool {
		return len(h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.AuditDropped); return ok })) > 0
	})
	close(sink.block)
	st = messages.Stats{Audit: waitWritten(t, h.sy)}
	assert.EqualValues(t, n, st.Audit.Written+st.Audit.Dropped)
}

func TestAuditConfigValidation(t *testing.T) {
	base := func() Config {
		return Config{Providers: []ProviderConfig{{Kind: "openai", Endpoints: []EndpointConfig{{BaseURL: "http://127.0.0.1:1", Keys: []KeyConfig{{Secret: "k"}}}}}}}
	}
	for _, tc := range []struct {
		audit AuditConfig
		field string
	}{
		{AuditConfig{Path: "x", Sink: &memorySink{}}, "audit.path"},
		{AuditConfig{Path: "x", Fsync: "sometimes"}, "audit.fsync"},
		{AuditConfig{Path: "x", Fsync: "-1s"}, "audit.fsync"},
		{AuditConfig{Path: "x", Buffer: -1}, "audit.buffer"},
		{AuditConfig{Path: "x", MaxFiles: -1}, "audit.max_files"},
	} {
		cfg := base()
		cfg.Audit = tc.audit
		_, err := New(cfg)
		var ce *ConfigError
		require.ErrorAs(t, err, &ce, "%+v", tc.audit)
		assert.Equal(t, tc.field, ce.Field)
	}
}

// The audit file's head is published as AuditAnchor events, every
// AnchorEvery on the runtime's clock and once after Close; an anchor kept
// outside the log shows the newest records were removed, which the chain
// alone cannot.
func TestAuditAnchorsTheHead(t *testing.T) {
	srv := startOpenAI(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	clk := newTestClock(t)
	var mu sync.Mutex
	var anchors []*messages.AuditAnchor
	sy, err := New(Config{Providers: []ProviderConfig{openaiProvider("openai", srv)}, Clock: clk,
		Audit: AuditConfig{Path: path, Fsync: "never", AnchorEvery: time.Minute}})
	require.NoError(t, err)
	sy.Subscribe(func(e messages.Event) {
		if a, ok := e.(*messages.AuditAnchor); ok {
			mu.Lock()
			anchors = append(anchors, a)
			mu.Unlock()
		}
	})
	got := func() []*messages.AuditAnchor {
		mu.Lock()
		defer mu.Unlock()
		return append([]*messages.AuditAnchor(nil), anchors...)
	}
	for i := range 3 {
		_, err := sy.Chat(context.Background(), openaiChat("anchor me"), WithRequestID(fmt.Sprintf("anchor-%d", i)))
		require.NoError(t, err)
	}
	waitWritten(t, sy)
	clk.Advance(time.Minute)
	eventually(t, "a periodic anchor", func() bool { return len(got()) == 1 })
	first := got()[0]
	assert.EqualValues(t, 3, first.Seq)
	assert.Len(t, first.Hash, 64)
	assert.False(t, first.Final)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, sy.Close(ctx))
	all := got()
	require.NotEmpty(t, all)
	final := all[len(all)-1]
	assert.True(t, final.Final, "the last anchor comes after Close flushed the log")
	rep, err := audit.Verify(path)
	require.NoError(t, err)
	assert.Equal(t, final.Seq, rep.LastSeq)
	assert.Equal(t, final.Hash, rep.LastHash)

	// Remove the newest record: the file still verifies, but it no longer
	// reaches the anchor.
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(lines[:len(lines)-1], "")), 0o600))
	rep, err = audit.Verify(path)
	require.NoError(t, err, "the chain alone cannot see a removed last record")
	assert.Less(t, rep.LastSeq, final.Seq, "the anchor can")
}
