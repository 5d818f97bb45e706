package switchyard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

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
		if err != nil {
			t.Fatal(err)
		}
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
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("embed body: %v", err)
		}
		out = append(out, body.Inputs)
	}
	return out
}

// checkOwnVector asserts a result holds the vector of its own input.
func checkOwnVector(t *testing.T, r embedResult) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("%q: %v", r.text, r.err)
	}
	if r.resp.RequestID != r.id {
		t.Errorf("%q: answer has request ID %q, want its own %q", r.text, r.resp.RequestID, r.id)
	}
	want := sim.TEIEmbedding(r.text, 8, true)
	if len(r.resp.Vectors) != 1 || !slices.Equal(r.resp.Vectors[0], want) {
		t.Errorf("%q: got vectors %v, want [%v]", r.text, r.resp.Vectors, want)
	}
}

func TestBatchFlushesOnSizeAndMapsResultsToCallers(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 4, Delay: time.Second}}, RetryConfig{})
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
		if r.resp.BatchSize != 4 || r.resp.BatchID == "" {
			t.Errorf("%q: batch %q of %d, want a batch of 4", r.text, r.resp.BatchID, r.resp.BatchSize)
		}
		batches[r.resp.BatchID] = append(batches[r.resp.BatchID], r.text)
	}
	calls := inputsPerCall(t, srv)
	if len(calls) != 3 || len(batches) != 3 {
		t.Fatalf("%d upstream calls in %d batches for 12 inputs, want 3 (the window holds 4)", len(calls), len(batches))
	}
	for _, in := range calls {
		if len(in) != 4 {
			t.Errorf("a call carried %d inputs, want 4", len(in))
		}
	}
	// The X-Request-ID of each call is the batch ID its members report.
	for _, r := range srv.Requests() {
		if _, ok := batches[r.Header.Get("X-Request-ID")]; !ok {
			t.Errorf("call with X-Request-ID %q matches no batch", r.Header.Get("X-Request-ID"))
		}
	}
	ws := windowHolds(t, h, 0)
	if ws.Batches != 3 || ws.Batched != 12 || ws.FlushFull != 3 || ws.FlushDelay != 0 || ws.Fill() != 4 {
		t.Errorf("window status %+v, want 3 full flushes of 4", ws)
	}
}

func TestBatchFlushesWhenItsDelayExpires(t *testing.T) {
	const delay = 3 * time.Millisecond
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: delay}}, RetryConfig{})
	var chans []<-chan embedResult
	for _, text := range []string{"alpha", "beta", "gamma"} {
		_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
		chans = append(chans, ch)
		windowHolds(t, h, len(chans))
	}
	ws := windowHolds(t, h, 3)
	if ws.Inputs != 3 || ws.MaxInputs != 32 || ws.Delay != delay {
		t.Errorf("window %+v, want 3 inputs, max 32, delay %v", ws, delay)
	}
	h.clk.Advance(delay - time.Nanosecond)
	time.Sleep(20 * time.Millisecond)
	if n := srv.Calls(); n != 0 {
		t.Fatalf("%d calls before the window's delay passed", n)
	}
	h.clk.Advance(time.Nanosecond)
	for _, ch := range chans {
		r := <-ch
		checkOwnVector(t, r)
		if r.resp.BatchSize != 3 {
			t.Errorf("%q in a batch of %d, want 3", r.text, r.resp.BatchSize)
		}
		if r.resp.Queued < delay {
			t.Errorf("%q queued %v, want at least the window's %v", r.text, r.resp.Queued, delay)
		}
	}
	if calls := inputsPerCall(t, srv); len(calls) != 1 || !slices.Equal(calls[0], []string{"alpha", "beta", "gamma"}) {
		t.Errorf("calls %v, want one with alpha, beta, gamma in order", calls)
	}
	if ws := windowHolds(t, h, 0); ws.FlushDelay != 1 {
		t.Errorf("window %+v, want one flush on delay", ws)
	}
}

func TestBatchHighPriorityFlushesAtOnce(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: time.Second}}, RetryConfig{})
	_, a := embedAsync(context.Background(), h, "normal one", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	_, b := embedAsync(context.Background(), h, "low one", messages.Low, time.Time{})
	windowHolds(t, h, 2)
	_, c := embedAsync(context.Background(), h, "urgent", messages.High, time.Time{})
	for _, ch := range []<-chan embedResult{a, b, c} {
		r := <-ch
		checkOwnVector(t, r)
		if r.resp.BatchSize != 3 {
			t.Errorf("%q in a batch of %d, want 3", r.text, r.resp.BatchSize)
		}
	}
	if n := srv.Calls(); n != 1 {
		t.Errorf("%d calls, want 1", n)
	}
	if ws := windowHolds(t, h, 0); ws.FlushHigh != 1 {
		t.Errorf("window %+v, want one flush by a HIGH request", ws)
	}
}

func TestBatchMemberCancelledInsideTheWindowLeavesIt(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: 5 * time.Millisecond}}, RetryConfig{})
	_, a := embedAsync(context.Background(), h, "stays one", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	ctx, cancel := context.WithCancel(context.Background())
	_, gone := embedAsync(ctx, h, "leaves", messages.Normal, time.Time{})
	windowHolds(t, h, 2)
	_, b := embedAsync(context.Background(), h, "stays two", messages.Normal, time.Time{})
	windowHolds(t, h, 3)
	cancel()
	if r := <-gone; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled member answered %v, want context.Canceled", r.err)
	}
	if ws := windowHolds(t, h, 2); ws.Inputs != 2 {
		t.Errorf("window holds %d inputs after the cancel, want 2", ws.Inputs)
	}
	h.clk.Advance(5 * time.Millisecond)
	for _, ch := range []<-chan embedResult{a, b} {
		checkOwnVector(t, <-ch)
	}
	if calls := inputsPerCall(t, srv); len(calls) != 1 || !slices.Equal(calls[0], []string{"stays one", "stays two"}) {
		t.Errorf("calls %v, want one with the two members that stayed", calls)
	}
}

func TestBatchFailureIsRetriedOrFailedPerMember(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 3, Delay: time.Second}},
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
	if !errors.As(r.err, &ue) || ue.Status != 503 || ue.RequestID != r.id {
		t.Fatalf("hurried member answered %v, want its own 503 (request ID %s)", r.err, r.id)
	}
	at := h.waitTimer(800 * time.Millisecond)
	h.clk.Set(at)
	for _, ch := range []<-chan embedResult{a, b} {
		r := <-ch
		checkOwnVector(t, r)
		if r.resp.Attempts != 2 || r.resp.BatchSize != 2 {
			t.Errorf("%q: %d attempts in a batch of %d, want 2 attempts, batch of 2", r.text, r.resp.Attempts, r.resp.BatchSize)
		}
	}
	calls := inputsPerCall(t, srv)
	if len(calls) != 2 || len(calls[0]) != 3 || !slices.Equal(calls[1], []string{"patient a", "patient b"}) {
		t.Errorf("calls %v, want the failed batch of 3, then the two patient members retried together", calls)
	}
}

func TestBatchErrorReachesEveryMemberWithItsOwnID(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 3, Delay: time.Second}}, RetryConfig{})
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
		if !errors.As(r.err, &ue) || ue.Status != 424 || ue.RequestID != r.id {
			t.Errorf("%q: %v, want a 424 with its own request ID %s", r.text, r.err, r.id)
		}
	}
	if srv.Calls() != 1 {
		t.Errorf("%d calls, want 1 (424 is not retried)", srv.Calls())
	}
}

func TestBatchRerankSameQueryShareACall(t *testing.T) {
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 5, Delay: time.Second}}, RetryConfig{})
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
		if o.err != nil {
			t.Fatal(o.err)
		}
		if len(o.resp.Results) != 2 {
			t.Fatalf("request %d: %d results, want TopN 2", i, len(o.resp.Results))
		}
		for j, res := range o.resp.Results {
			want := sim.TEIRerankScore("circuit breaker", docs[i][res.Index], false)
			if float32(res.Score) != want {
				t.Errorf("request %d result %d: index %d scored %v, want %v (its own document)", i, j, res.Index, res.Score, want)
			}
			if j > 0 && res.Score > o.resp.Results[j-1].Score {
				t.Errorf("request %d: results not in descending score", i)
			}
		}
		if o.resp.BatchSize != 2 {
			t.Errorf("request %d: batch of %d, want 2", i, o.resp.BatchSize)
		}
	}
	if srv.Calls() != 1 {
		t.Errorf("%d calls, want 1", srv.Calls())
	}
}

func TestBatchingOffForOneModel(t *testing.T) {
	off := false
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{Delay: time.Second},
		Models: map[string]ModelBatching{"bge": {Enabled: &off}}}, RetryConfig{})
	for _, text := range []string{"one", "two", "three"} {
		_, ch := embedAsync(context.Background(), h, text, messages.Normal, time.Time{})
		r := <-ch
		checkOwnVector(t, r)
		if r.resp.BatchID != "" {
			t.Errorf("%q reports batch %q with batching off", text, r.resp.BatchID)
		}
	}
	if srv.Calls() != 3 {
		t.Errorf("%d calls, want 3", srv.Calls())
	}
}

func TestBatchingConfigNamesTheField(t *testing.T) {
	cases := []struct {
		b     BatchingConfig
		field string
	}{
		{BatchingConfig{BatchLimits: BatchLimits{MaxInputs: -1}}, "providers[0].batching.max_inputs"},
		{BatchingConfig{BatchLimits: BatchLimits{Delay: 2 * time.Second}}, "providers[0].batching.delay"},
		{BatchingConfig{Models: map[string]ModelBatching{"m": {BatchLimits: BatchLimits{MaxTokens: -5}}}}, `providers[0].batching.models["m"].max_tokens`},
	}
	for _, c := range cases {
		cfg := Config{Providers: []ProviderConfig{{Kind: "hf_tei", Batching: c.b, Endpoints: []EndpointConfig{{BaseURL: "http://localhost:1"}}}}}
		_, err := New(cfg)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != c.field {
			t.Errorf("%+v: %v, want a ConfigError for %s", c.b, err, c.field)
		}
	}
}

func TestBatchRefusedForOneInputFailsOnlyThatRequest(t *testing.T) {
	h, srv := teiBatchingWith(t, &sim.TEIBackend{MaxInputLength: 4, DisableAutoTruncate: true},
		BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 4, Delay: time.Second}}, RetryConfig{})
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
		if !errors.As(r.err, &ue) || ue.Status != 413 || ue.RequestID != r.id {
			t.Errorf("the too-long input answered %v, want its own 413", r.err)
		}
	}
	ws := windowHolds(t, h, 0)
	if ws.Splits == 0 || ws.MaxInputs != 4 {
		t.Errorf("window %+v: want splits, and MaxInputs kept at 4 (the refusal was about one input, not the size)", ws)
	}
	// 4 → 2+2 → the bad half split into 1+1: five calls.
	if n := srv.Calls(); n != 5 {
		t.Errorf("%d calls, want 5 (bisection)", n)
	}
}

func TestBatchingConfigFromYAML(t *testing.T) {
	c, err := Parse([]byte(`
providers:
  - name: tei
    kind: hf_tei
    endpoints: [{base_url: "http://localhost:8080"}]
    batching: {max_inputs: 16, delay: 3ms, models: {bge-reranker: {enabled: false}, bge-large: {max_inputs: 8}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	p := c.Providers[0].Batching.policy()
	if p.Default.MaxInputs != 16 || p.Default.Delay != 3*time.Millisecond || p.Default.Disabled {
		t.Errorf("default %+v, want 16 inputs, 3ms, on", p.Default)
	}
	if m := p.Models["bge-reranker"]; !m.Disabled {
		t.Errorf("bge-reranker %+v, want off", m)
	}
	if m := p.Models["bge-large"]; m.MaxInputs != 8 || m.Delay != 3*time.Millisecond || m.Disabled {
		t.Errorf("bge-large %+v, want 8 inputs and the provider's 3ms", m)
	}
}

// TestBatchingUnderFaultsAnswersEveryRequestOnce sends single-input
// embeddings of every priority, some cancelled and some with deadlines,
// while the TEI simulator fails calls in every way it can; every request
// must be answered, successes with their own vector under their own ID, and
// nothing may be left in a window, a batch or the queue.
func TestBatchingUnderFaultsAnswersEveryRequestOnce(t *testing.T) {
	const n = 400
	srv := sim.Start(&sim.TEIBackend{MaxInputLength: 6, DisableAutoTruncate: true}, sim.WithoutRecords())
	t.Cleanup(srv.Close)
	h := newHarness(t, Config{
		Providers: []ProviderConfig{{Name: "tei", Kind: "hf_tei", Endpoints: []EndpointConfig{{BaseURL: srv.URL}},
			Batching: BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 8, Delay: time.Millisecond}}}},
		Retry:    RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond},
		Breaker:  BreakerConfig{ConsecutiveFailures: 6, Cooldown: 10 * time.Millisecond, MaxCooldown: 40 * time.Millisecond},
		Timeouts: TimeoutsConfig{Header: 200 * time.Millisecond},
	}, false)
	faults := []sim.Fault{{Status: 503}, {Status: 503, Times: 3}, {Status: 424}, {Status: 429, Header: map[string]string{"Retry-After": "0"}},
		{HeaderDelay: 300 * time.Millisecond}, {Malformed: true}}
	stop := make(chan struct{})
	var faultWG sync.WaitGroup
	faultWG.Add(1)
	go func() {
		defer faultWG.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
				srv.Inject(faults[i%len(faults)])
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
				t.Errorf("request %d (%s) never answered", i, id)
				return
			}
			kind := "ok"
			switch {
			case r.err != nil:
				kind = "error"
				if strings.Contains(r.err.Error(), "request_id=") && !strings.Contains(r.err.Error(), id) {
					t.Errorf("request %s answered an error naming another request: %v", id, r.err)
				}
			case r.resp.RequestID != id || len(r.resp.Vectors) != 1 || !slices.Equal(r.resp.Vectors[0], sim.TEIEmbedding(text, 8, true)):
				t.Errorf("request %d got someone else's answer: %+v", i, r.resp)
			case i%17 == 0:
				t.Errorf("the too-long input %d succeeded", i)
			}
			mu.Lock()
			outcomes[kind]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(stop)
	faultWG.Wait()
	if outcomes["ok"] == 0 || outcomes["error"] == 0 || outcomes["ok"]+outcomes["error"] != n {
		t.Errorf("outcomes %v, want %d answers, some of each", outcomes, n)
	}
	eventually(t, "an empty dispatcher", func() bool {
		st, err := h.sy.QueueStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
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
	h, srv := teiBatching(t, BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 2, Delay: time.Second}}, RetryConfig{})
	srv.Hold()
	defer srv.Release()
	ctx, cancel := context.WithCancel(context.Background())
	_, a := embedAsync(ctx, h, "first", messages.Normal, time.Time{})
	windowHolds(t, h, 1)
	_, b := embedAsync(ctx, h, "second", messages.Normal, time.Time{})
	eventually(t, "the batch's call upstream", func() bool { return srv.Calls() == 1 })
	cancel()
	for _, ch := range []<-chan embedResult{a, b} {
		if r := <-ch; !errors.Is(r.err, context.Canceled) {
			t.Errorf("%q: %v, want context.Canceled", r.text, r.err)
		}
	}
	// Nobody waits for the call any more: the dispatcher forgets it and the
	// HTTP call is cancelled while the server still holds it.
	eventually(t, "the abandoned call aborted", func() bool {
		st, err := h.sy.QueueStatus(context.Background())
		if err != nil {
			t.Fatal(err)
		}
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
					Endpoints: []EndpointConfig{{BaseURL: b.baseURL(srv), Keys: []KeyConfig{{Label: "k", Secret: b.secret}}}}}}}
			}
			batched := newHarness(t, provider(BatchingConfig{BatchLimits: BatchLimits{MaxInputs: 4, Delay: time.Second}}), true)
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
					if err != nil {
						t.Errorf("%q: %v", text, err)
						return
					}
					got[i] = r
				}()
			}
			wg.Wait()
			if t.Failed() {
				return
			}
			if n := srv.Calls(); n != 1 {
				t.Fatalf("%d upstream calls for four batched requests, want 1", n)
			}
			for i, text := range texts {
				want, err := embed(single, text)
				if err != nil {
					t.Fatalf("%q alone: %v", text, err)
				}
				if got[i].BatchSize != 4 || len(got[i].Vectors) != 1 || !slices.Equal(got[i].Vectors[0], want.Vectors[0]) {
					t.Errorf("%q: batched answer %v (batch of %d), alone %v", text, got[i].Vectors, got[i].BatchSize, want.Vectors)
				}
			}
		})
	}
	if len(models) > 0 {
		t.Errorf("backends not in httpBackends: %v", models)
	}
}
