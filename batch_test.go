package switchyard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// teiBatching starts a TEI simulator and an instance on a manual clock whose
// "tei" provider batches with the given limits.
func teiBatching(t *testing.T, b BatchingConfig, retry RetryConfig) (*harness, *sim.Server) {
	t.Helper()
	return teiBatchingWith(t, sim.TEI(), b, retry)
}

func teiBatchingWith(t *testing.T, backend *sim.TEIBackend, b BatchingConfig, retry RetryConfig) (*harness, *sim.Server) {
	t.Helper()
	srv := sim.Start(backend)
	t.Cleanup(srv.Close)
	h := newHarness(t, Config{Retry: retry, Providers: []ProviderConfig{{Name: "tei", Kind: "hf_tei", Batching: b,
		Endpoints: []EndpointConfig{{Name: "primary", BaseURL: srv.URL}}}}}, true)
	checkDispatcher(t, h.sy)
	return h, srv
}

// embedResult is one caller's answer.
type embedResult struct {
	text string
	id   string
	resp *messages.EmbedResponse
	err  error
}

// embedAsync sends a one-input embedding and delivers its answer on the
// returned channel.
func embedAsync(ctx context.Context, h *harness, text string, prio messages.Priority, deadline time.Time) (string, <-chan embedResult) {
	id := messages.NewRequestID()
	ch := make(chan embedResult, 1)
	go func() {
		resp, err := h.sy.Embed(ctx, &messages.EmbedRequest{Call: messages.Call{Provider: "tei", RequestID: id, Priority: prio, Deadline: deadline},
			Model: "bge", Inputs: []string{text}})
		ch <- embedResult{text: text, id: id, resp: resp, err: err}
	}()
	return id, ch
}

// windowHolds waits until the window of model holds n requests.
func windowHolds(t *testing.T, h *harness, n int) messages.WindowStatus {
	t.Helper()
	var ws messages.WindowStatus
	eventually(t, fmt.Sprintf("%d requests in the window", n), func() bool {
		st, err := h.sy.QueueStatus(context.Background())
		require.NoError(t, err)
		for _, w := range st.Windows {
			if w.Provider == "tei" && w.Model == "bge" {
				ws = w
				return w.Members == n
			}
		}
		return n == 0
	})
	return ws
}

// inputsPerCall returns the inputs of every /embed call the simulator got.
func inputsPerCall(t *testing.T, srv *sim.Server) [][]string {
	t.Helper()
	var out [][]string
	for _, r := range srv.Requests() {
		if r.Path != "/embed" {
			continue
		}
		var body struct {
			Inputs []string `json:"inputs"`
		}
		require.NoError(t, json.Unmarshal(r.Body, &body), "embed body")
		out = append(out, body.Inputs)
	}
	return out
}

// checkOwnVector asserts a result holds the vector of its own input.
func checkOwnVector(t *testing.T, r embedResult) {
	t.Helper()
	require.NoError(t, r.err, "%q", r.text)
	assert.Equal(t, r.id, r.resp.RequestID, "%q: the answer has its own request ID", r.text)
	want := sim.TEIEmbedding(r.text, 8, true)
	assert.Equal(t, [][]float32{want}, r.resp.Vectors, "%q: its own vector", r.text)
}

func TestBatchFlushesOnSizeAndMapsResultsToCallers(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 4, Delay: time.Second}}, RetryConfig{})
	var wg sync.WaitGroup
	results := make(chan embedResult, 12)
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, ch := embedAsync(context.Background(), h, fmt.Sprintf("input number %d", i), messages.Normal, time.Time{})
			results <- <-ch
		}()
	}
	wg.Wait()
	close(results)
	batches := map[string][]string{}
	for r := range results {
		checkOwnVector(t, r)
		assert.Equal(t, 4, r.resp.BatchSize, "%q: batch size", r.text)
		assert.NotEmpty(t, r.resp.BatchID, "%q: batch ID", r.text)
		batches[r.resp.BatchID] = append(batches[r.resp.BatchID], r.text)
	}
	calls := inputsPerCall(t, srv)
	require.Len(t, calls, 3, "upstream calls for 12 inputs (the window holds 4)")
	require.Len(t, batches, 3, "batches for 12 inputs (the window holds 4)")
	for _, in := range calls {
		assert.Len(t, in, 4, "inputs of a call")
	}
	// The X-Request-ID of each call is the batch ID its members report.
	for _, r := range srv.Requests() {
		assert.Contains(t, batches, r.Header.Get("X-Request-ID"), "the call's X-Request-ID names a batch")
	}
	ws := windowHolds(t, h, 0)
	assert.Equal(t, uint64(3), ws.Batches, "window status %+v", ws)
	assert.Equal(t, uint64(12), ws.Batched, "window status %+v", ws)
	assert.Equal(t, uint64(3), ws.FlushFull, "window status %+v", ws)
	assert.Zero(t, ws.FlushDelay, "window status %+v", ws)
	assert.EqualValues(t, 4, ws.Fill(), "window status %+v", ws)
}

func TestBatchFlushesWhenItsDelayExpires(t *testing.T) {
	const delay = 3 * time.Millisecond
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, Delay: delay}}, RetryConfig{})
	var chans []<-chan embedResult
	for _, text := range []string{"alpha", "beta", "gamma"} {
		_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
		chans = append(chans, ch)
		windowHolds(t, h, len(chans))
	}
	ws := windowHolds(t, h, 3)
	assert.Equal(t, 3, ws.Inputs, "window %+v", ws)
	assert.Equal(t, 32, ws.MaxInputs, "window %+v", ws)
	assert.Equal(t, delay, ws.Delay, "window %+v", ws)
	flushAt, ok := h.clk.NextDeadline()
	require.True(t, ok, "the window's delay is a timer")
	h.clk.Set(flushAt.Add(-time.Nanosecond))
	// One nanosecond early the window's timer is still pending, so it has
	// not fired, and the window (asked after the clock moved) still holds
	// all three: nothing was sent.
	next, ok := h.clk.NextDeadline()
	require.True(t, ok)
	require.Equal(t, flushAt, next, "the window's timer is pending")
	ws = windowHolds(t, h, 3)
	require.Zero(t, ws.Batches, "no batch before the window's delay passed")
	require.Zero(t, srv.Calls(), "calls before the window's delay passed")
	h.clk.Set(flushAt)
	for _, ch := range chans {
		r := <-ch
		checkOwnVector(t, r)
		assert.Equal(t, 3, r.resp.BatchSize, "%q: batch size", r.text)
		assert.GreaterOrEqual(t, r.resp.Queued, delay, "%q queued at least the window's delay", r.text)
	}
	assert.Equal(t, [][]string{{"alpha", "beta", "gamma"}}, inputsPerCall(t, srv), "one call, in order")
	ws = windowHolds(t, h, 0)
	assert.Equal(t, uint64(1), ws.FlushDelay, "window %+v: one flush on delay", ws)
}

func TestBatchHighPriorityFlushesAtOnce(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, Delay: time.Second}}, RetryConfig{})
	_, a := embedAsync(context.Background(), h, "normal one", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	_, b := embedAsync(context.Background(), h, "low one", messages.Low, time.Time{})
	windowHolds(t, h, 2)
	_, c := embedAsync(context.Background(), h, "urgent", messages.High, time.Time{})
	for _, ch := range []<-chan embedResult{a, b, c} {
		r := <-ch
		checkOwnVector(t, r)
		assert.Equal(t, 3, r.resp.BatchSize, "%q: batch size", r.text)
	}
	assert.Equal(t, 1, srv.Calls())
	ws := windowHolds(t, h, 0)
	assert.Equal(t, uint64(1), ws.FlushHigh, "window %+v: one flush by a HIGH request", ws)
}

func TestBatchMemberCancelledInsideTheWindowLeavesIt(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, Delay: 5 * time.Millisecond}}, RetryConfig{})
	_, a := embedAsync(context.Background(), h, "stays one", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	ctx, cancel := context.WithCancel(context.Background())
	_, gone := embedAsync(ctx, h, "leaves", messages.Normal, time.Time{})
	windowHolds(t, h, 2)
	_, b := embedAsync(context.Background(), h, "stays two", messages.Normal, time.Time{})
	windowHolds(t, h, 3)
	cancel()
	require.ErrorIs(t, (<-gone).err, context.Canceled, "the cancelled member")
	ws := windowHolds(t, h, 2)
	assert.Equal(t, 2, ws.Inputs, "inputs in the window after the cancel")
	h.clk.Advance(5 * time.Millisecond)
	for _, ch := range []<-chan embedResult{a, b} {
		checkOwnVector(t, <-ch)
	}
	assert.Equal(t, [][]string{{"stays one", "stays two"}}, inputsPerCall(t, srv), "one call with the two members that stayed")
}

func TestBatchFailureIsRetriedOrFailedPerMember(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 3, Delay: time.Second}},
		RetryConfig{MaxAttempts: 3, BaseDelay: time.Second, MaxDelay: time.Second})
	srv.Inject(sim.Fault{Status: 503})
	// The first member cannot wait for a retry one second later.
	short := h.clk.Now().Add(500 * time.Millisecond)
	_, hurried := embedAsync(context.Background(), h, "hurried", messages.Normal, short)
	windowHolds(t, h, 1)
	_, a := embedAsync(context.Background(), h, "patient a", messages.Normal, time.Time{})
	windowHolds(t, h, 2)
	_, b := embedAsync(context.Background(), h, "patient b", messages.Normal, time.Time{})
	r := <-hurried
	var ue *messages.UpstreamError
	require.ErrorAs(t, r.err, &ue, "the hurried member")
	require.Equal(t, 503, ue.Status)
	require.Equal(t, r.id, ue.RequestID, "its own request ID")
	at := h.waitTimer(800 * time.Millisecond)
	h.clk.Set(at)
	for _, ch := range []<-chan embedResult{a, b} {
		r := <-ch
		checkOwnVector(t, r)
		assert.Equal(t, 2, r.resp.Attempts, "%q: attempts", r.text)
		assert.Equal(t, 2, r.resp.BatchSize, "%q: batch size", r.text)
	}
	calls := inputsPerCall(t, srv)
	require.Len(t, calls, 2, "the failed batch, then the retry")
	assert.Len(t, calls[0], 3, "the failed batch of 3")
	assert.Equal(t, []string{"patient a", "patient b"}, calls[1], "the two patient members retried together")
}

func TestBatchErrorReachesEveryMemberWithItsOwnID(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 3, Delay: time.Second}}, RetryConfig{})
	srv.Inject(sim.Fault{Status: 424})
	var chans []<-chan embedResult
	for _, text := range []string{"x one", "x two", "x three"} {
		_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
		chans = append(chans, ch)
		if len(chans) < 3 {
			windowHolds(t, h, len(chans))
		}
	}
	for _, ch := range chans {
		r := <-ch
		var ue *messages.UpstreamError
		if assert.ErrorAs(t, r.err, &ue, "%q", r.text) {
			assert.Equal(t, 424, ue.Status, "%q", r.text)
			assert.Equal(t, r.id, ue.RequestID, "%q: its own request ID", r.text)
		}
	}
	assert.Equal(t, 1, srv.Calls(), "424 is not retried")
}

func TestBatchRerankSameQueryShareACall(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 5, Delay: time.Second}}, RetryConfig{})
	docs := [][]string{{"circuit breaker trips", "bread"}, {"open circuit", "breaker box", "half open circuit"}}
	type out struct {
		resp *messages.RerankResponse
		err  error
	}
	chans := make([]chan out, len(docs))
	for i, d := range docs {
		chans[i] = make(chan out, 1)
		go func() {
			r, err := h.sy.Rerank(context.Background(), &messages.RerankRequest{Call: messages.Call{Provider: "tei"}, Model: "bge",
				Query: "circuit breaker", Documents: d, TopN: 2})
			chans[i] <- out{r, err}
		}()
		if i == 0 {
			windowHolds(t, h, 1)
		}
	}
	for i, ch := range chans {
		o := <-ch
		require.NoError(t, o.err)
		require.Len(t, o.resp.Results, 2, "request %d: TopN 2", i)
		for j, res := range o.resp.Results {
			want := sim.TEIRerankScore("circuit breaker", docs[i][res.Index], false)
			assert.Equal(t, want, float32(res.Score), "request %d result %d: index %d scored as its own document", i, j, res.Index)
			if j > 0 {
				assert.LessOrEqual(t, res.Score, o.resp.Results[j-1].Score, "request %d: results in descending score", i)
			}
		}
		assert.Equal(t, 2, o.resp.BatchSize, "request %d: batch size", i)
	}
	assert.Equal(t, 1, srv.Calls())
}

func TestBatchingOffForOneModel(t *testing.T) {
	off := false
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: time.Second},
		Models: map[string]ModelBatching{"bge": {Enabled: &off}}}, RetryConfig{})
	for _, text := range []string{"one", "two", "three"} {
		_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
		r := <-ch
		checkOwnVector(t, r)
		assert.Empty(t, r.resp.BatchID, "%q reports a batch with batching off", text)
	}
	assert.Equal(t, 3, srv.Calls())
}

func TestBatchingConfigNamesTheField(t *testing.T) {
	cases := []struct {
		b     BatchingConfig
		field string
	}{
		{BatchingConfig{BatchLimits: BatchLimits{MaxInputs: -1}}, "providers[0].batching.max_inputs"},
		{BatchingConfig{BatchLimits: BatchLimits{Delay: 2 * time.Second}}, "providers[0].batching.delay"},
		{BatchingConfig{Models: map[string]ModelBatching{"m": {BatchLimits: BatchLimits{MaxTokens: -5}}}}, `providers[0].batching.models["m"].max_tokens`},
		{BatchingConfig{BatchLimits: BatchLimits{Mode: "sometimes"}}, "providers[0].batching.mode"},
		{BatchingConfig{Models: map[string]ModelBatching{"m": {BatchLimits: BatchLimits{Mode: "Fixed"}}}}, `providers[0].batching.models["m"].mode`},
	}
	for _, c := range cases {
		cfg := Config{Providers: []ProviderConfig{{Kind: "hf_tei", Batching: c.b, Endpoints: []EndpointConfig{{BaseURL: "http://localhost:1"}}}}}
		_, err := New(cfg)
		var ce *ConfigError
		if assert.ErrorAs(t, err, &ce, "%+v", c.b) {
			assert.Equal(t, c.field, ce.Field, "%+v", c.b)
		}
	}
}

func TestBatchRefusedForOneInputFailsOnlyThatRequest(t *testing.T) {
	h, srv := teiBatchingWith(t, &sim.TEIBackend{MaxInputLength: 4, DisableAutoTruncate: true},
		BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 4, Delay: time.Second}}, RetryConfig{})
	texts := []string{"short one", "short two", "this input has far too many words", "short four"}
	var chans []<-chan embedResult
	for i, text := range texts {
		_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
		chans = append(chans, ch)
		if i < len(texts)-1 {
			windowHolds(t, h, i+1)
		}
	}
	for i, ch := range chans {
		r := <-ch
		if i != 2 {
			checkOwnVector(t, r)
			continue
		}
		var ue *messages.UpstreamError
		if assert.ErrorAs(t, r.err, &ue, "the too-long input") {
			assert.Equal(t, 413, ue.Status, "the too-long input")
			assert.Equal(t, r.id, ue.RequestID, "the too-long input: its own request ID")
		}
	}
	ws := windowHolds(t, h, 0)
	assert.NotZero(t, ws.Splits, "window %+v: splits", ws)
	assert.Equal(t, 4, ws.MaxInputs, "window %+v: MaxInputs kept (the refusal was about one input, not the size)", ws)
	// 4 → 2+2 → the bad half split into 1+1: five calls.
	assert.Equal(t, 5, srv.Calls(), "bisection")
}

func TestBatchingConfigFromYAML(t *testing.T) {
	c, err := Parse([]byte(`
providers:
  - name: tei
    kind: hf_tei
    endpoints: [{base_url: "http://localhost:8080"}]
    batching: {mode: fixed, max_inputs: 16, delay: 3ms, models: {bge-reranker: {enabled: false}, bge-large: {max_inputs: 8}, bge-m3: {mode: adaptive}}}
`))
	require.NoError(t, err)
	p := c.Providers[0].Batching.policy()
	assert.Equal(t, 16, p.Default.MaxInputs, "default %+v", p.Default)
	assert.Equal(t, 3*time.Millisecond, p.Default.Delay, "default %+v", p.Default)
	assert.False(t, p.Default.Disabled, "default %+v", p.Default)
	assert.True(t, p.Models["bge-reranker"].Disabled, "bge-reranker %+v", p.Models["bge-reranker"])
	m := p.Models["bge-large"]
	assert.Equal(t, 8, m.MaxInputs, "bge-large %+v", m)
	assert.Equal(t, 3*time.Millisecond, m.Delay, "bge-large %+v: the provider's delay", m)
	assert.False(t, m.Disabled, "bge-large %+v", m)
	assert.Equal(t, actors.BatchFixed, p.Default.Mode, "default %+v", p.Default)
	assert.Equal(t, actors.BatchFixed, m.Mode, "bge-large %+v: the provider's mode", m)
	assert.Equal(t, actors.BatchAdaptive, p.Models["bge-m3"].Mode, "bge-m3 %+v: its own mode", p.Models["bge-m3"])
	assert.Equal(t, actors.BatchAdaptive, (&BatchingConfig{}).policy().Default.Mode, "the default mode")
}

// TestBatchingUnderFaultsAnswersEveryRequestOnce sends single-input
// embeddings of every priority, some cancelled and some with deadlines,
// while the TEI simulator fails calls in every way it can; every request
// must be answered, successes with their own vector under their own ID, and
// nothing may be left in a window, a batch or the queue. It runs in both
// batching modes, with the dispatcher's invariants (each shape's pending
// calls among them) checked after every message.
func TestBatchingUnderFaultsAnswersEveryRequestOnce(t *testing.T) {
	for _, mode := range []BatchMode{BatchAdaptive, BatchFixed} {
		t.Run(string(mode), func(t *testing.T) { batchingUnderFaults(t, mode) })
	}
}

func batchingUnderFaults(t *testing.T, mode BatchMode) {
	const n = 400
	srv := sim.Start(&sim.TEIBackend{MaxInputLength: 6, DisableAutoTruncate: true}, sim.WithoutRecords())
	t.Cleanup(srv.Close)
	h := newHarness(t, Config{
		Providers: []ProviderConfig{{Name: "tei", Kind: "hf_tei", Endpoints: []EndpointConfig{{BaseURL: srv.URL}},
			Batching: BatchingConfig{BatchLimits: BatchLimits{Mode: mode, MaxInputs: 8, Delay: time.Millisecond}}}},
		Retry:    RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond},
		Breaker:  BreakerConfig{ConsecutiveFailures: 6, Cooldown: 10 * time.Millisecond, MaxCooldown: 40 * time.Millisecond},
		Timeouts: TimeoutsConfig{Header: 200 * time.Millisecond},
	}, false)
	checkDispatcher(t, h.sy)
	faults := []sim.Fault{{Status: 503}, {Status: 503, Times: 3}, {Status: 424}, {Status: 429, Header: map[string]string{"Retry-After": "0"}},
		{HeaderDelay: 300 * time.Millisecond}, {Malformed: true}}
	stop := make(chan struct{})
	var faultWG sync.WaitGroup
	faultWG.Add(1)
	go func() {
		defer faultWG.Done()
		// A bounded number of faults, at most one for every two calls the
		// server received: injected on a timer alone, they would pile up
		// whenever calls are few (a loaded machine, windows that batch
		// well) until every call failed and the breaker refused the rest.
		next := 0
		for i := 0; i < 60; {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			if calls := srv.Calls(); calls >= next {
				srv.Inject(faults[i%len(faults)])
				next = calls + 2
				i++
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	outcomes := map[string]int{}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			text := fmt.Sprintf("input %d", i)
			if i%17 == 0 {
				text = "an input with far too many words for this server"
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var deadline time.Time
			switch i % 10 {
			case 3:
				go func() {
					time.Sleep(time.Duration(i%7) * time.Millisecond)
					cancel()
				}()
			case 5:
				deadline = time.Now().Add(time.Duration(i%20) * time.Millisecond)
			}
			time.Sleep(time.Duration(i%13) * time.Millisecond)
			id, ch := embedAsync(ctx, h, text, []messages.Priority{messages.High, messages.Normal, messages.Low}[i%3], deadline)
			var r embedResult
			select {
			case r = <-ch:
			case <-time.After(30 * time.Second):
				assert.Fail(t, "a request was never answered", "request %d (%s)", i, id)
				return
			}
			kind := "ok"
			switch {
			case r.err != nil:
				kind = "error"
				if strings.Contains(r.err.Error(), "request_id=") {
					assert.Contains(t, r.err.Error(), id, "request %s answered an error naming another request", id)
				}
			case r.resp.RequestID != id || len(r.resp.Vectors) != 1 || !slices.Equal(r.resp.Vectors[0], sim.TEIEmbedding(text, 8, true)):
				assert.Fail(t, "someone else's answer", "request %d got %+v", i, r.resp)
			case i%17 == 0:
				assert.Fail(t, "the too-long input succeeded", "request %d", i)
			}
			mu.Lock()
			outcomes[kind]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	faultWG.Wait()
	assert.Equal(t, n, outcomes["ok"]+outcomes["error"], "answers %v", outcomes)
	assert.NotZero(t, outcomes["ok"], "answers %v: some succeed", outcomes)
	assert.NotZero(t, outcomes["error"], "answers %v: some fail", outcomes)
	eventually(t, "an empty dispatcher", func() bool {
		st, err := h.sy.QueueStatus(context.Background())
		require.NoError(t, err)
		held := st.InFlight + st.Backoff
		for _, l := range st.Levels {
			held += l.Depth
		}
		for _, w := range st.Windows {
			held += w.Members
		}
		return held == 0
	})
}

func TestBatchWhoseMembersAllLeaveIsAborted(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 2, Delay: time.Second}}, RetryConfig{})
	srv.Hold()
	defer srv.Release()
	ctx, cancel := context.WithCancel(context.Background())
	_, a := embedAsync(ctx, h, "first", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	_, b := embedAsync(ctx, h, "second", messages.Normal, time.Time{})
	eventually(t, "the batch's call upstream", func() bool { return srv.Calls() == 1 })
	cancel()
	for _, ch := range []<-chan embedResult{a, b} {
		r := <-ch
		assert.ErrorIs(t, r.err, context.Canceled, "%q", r.text)
	}
	// Nobody waits for the call any more: the dispatcher forgets it and the
	// HTTP call is cancelled while the server still holds it.
	eventually(t, "the abandoned call aborted", func() bool {
		st, err := h.sy.QueueStatus(context.Background())
		require.NoError(t, err)
		k := h.tree().Providers[0].Endpoints[0].Keys[0]
		return st.InFlight == 0 && k.Counters.InFlight == 0
	})
}

// TestBatchingThroughEveryListBackend merges four single-input embeddings
// into one call on every backend whose API takes a list, through the tree,
// and checks each caller's vector against the same input embedded on its
// own by an instance with batching off.
func TestBatchingThroughEveryListBackend(t *testing.T) {
	models := map[string]string{"openai": "text-embedding-3-small", "llvm": "intfloat/e5-mistral-7b-instruct",
		"ollama": "embeddinggemma", "hf_tei": "bge", "gemini": "gemini-embedding-001", "ovms": "bge-small", "opea": "BAAI/bge-base-en-v1.5"}
	for _, b := range httpBackends {
		model, ok := models[b.kind]
		if !ok {
			continue
		}
		delete(models, b.kind)
		t.Run(b.kind, func(t *testing.T) {
			srv := b.start()
			t.Cleanup(srv.Close)
			provider := func(batching BatchingConfig) Config {
				return Config{Providers: []ProviderConfig{{Name: "p", Kind: b.kind, Batching: batching,
					Endpoints: []EndpointConfig{b.endpointOf("", srv, b.key("k", b.secret, 0))}}}}
			}
			batched := newHarness(t, provider(BatchingConfig{BatchLimits: BatchLimits{Mode: BatchFixed, MaxInputs: 4, Delay: time.Second}}), true)
			single := newHarness(t, provider(BatchingConfig{Disabled: true}), false)
			embed := func(h *harness, text string) (*messages.EmbedResponse, error) {
				return h.sy.Embed(context.Background(), &messages.EmbedRequest{Call: messages.Call{Provider: "p"}, Model: model, Inputs: []string{text}})
			}
			texts := []string{"alpha one", "beta two", "gamma three", "delta four"}
			got := make([]*messages.EmbedResponse, len(texts))
			var wg sync.WaitGroup
			for i, text := range texts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, err := embed(batched, text)
					assert.NoError(t, err, "%q", text)
					got[i] = r
				}()
			}
			wg.Wait()
			for i := range got {
				require.NotNil(t, got[i], "%q answered", texts[i])
			}
			require.Equal(t, 1, srv.Calls(), "upstream calls for four batched requests")
			for i, text := range texts {
				want, err := embed(single, text)
				require.NoError(t, err, "%q alone", text)
				assert.Equal(t, 4, got[i].BatchSize, "%q: batch size", text)
				assert.Equal(t, want.Vectors, got[i].Vectors, "%q: the batched answer is the answer alone", text)
			}
		})
	}
	assert.Empty(t, models, "backends not in httpBackends")
}
