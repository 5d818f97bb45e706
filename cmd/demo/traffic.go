package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
)

// target is one provider the traffic goes to.
type target struct {
	provider   string
	model      string
	embedModel string
	inferModel string
	ops        []weighted
	// maxTokens caps answers (kept small against real services).
	maxTokens int
}

// Per-request bounds. LOW requests carry a short deadline so that a backlog
// makes some of them expire in the queue; every request has a context
// timeout, so none can wait forever.
const (
	requestTimeout = 30 * time.Second
	lowDeadline    = 4 * time.Second
	maxOutstanding = 512
)

// traffic drives mixed-priority requests at a steady rate and counts every
// answer itself, independently of Switchyard's counters. With several
// instances (--nodes) it sends each request to the next one in turn.
type traffic struct {
	sys     []*switchyard.Switchyard
	targets []target
	rate    float64 // requests per second per provider

	mu    sync.Mutex
	rng   *rand.Rand
	tally map[string]*providerTally
	kinds map[string]int64 // failures by kind

	slots    chan struct{}
	gens     sync.WaitGroup
	requests sync.WaitGroup
	sent     atomic.Int64
	answered atomic.Int64
	skipped  atomic.Int64
	// next picks the instance of the next request (round-robin); perNode
	// counts the requests sent to each.
	next    atomic.Uint64
	perNode []atomic.Int64
}

// providerTally is what the traffic loop saw of one provider.
type providerTally struct {
	Sent, OK, Failed int64
}

func newTraffic(sys []*switchyard.Switchyard, targets []target, rate float64, seed uint64) *traffic {
	t := &traffic{sys: sys, targets: targets, rate: rate, rng: rand.New(rand.NewPCG(seed, seed^0x5eed)),
		tally: map[string]*providerTally{}, kinds: map[string]int64{}, slots: make(chan struct{}, maxOutstanding),
		perNode: make([]atomic.Int64, len(sys))}
	for _, tg := range targets {
		t.tally[tg.provider] = &providerTally{}
	}
	return t
}

// start launches one generator per target; they stop when ctx ends.
func (t *traffic) start(ctx context.Context) {
	if t.rate <= 0 {
		return
	}
	every := time.Duration(float64(time.Second) / t.rate)
	for i, tg := range t.targets {
		t.gens.Add(1)
		go func() {
			defer t.gens.Done()
			// Stagger the generators so their ticks interleave.
			if !sleepCtx(ctx, every*time.Duration(i)/time.Duration(len(t.targets))) {
				return
			}
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				t.launch(tg)
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
}

// stopped waits for the generators to return (after their ctx ended).
func (t *traffic) stopped() { t.gens.Wait() }

// wait waits up to d for every request sent to be answered and reports
// whether they all were.
func (t *traffic) wait(d time.Duration) bool {
	done := make(chan struct{})
	go func() {
		t.requests.Wait()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// launch sends one request in its own goroutine, unless too many are
// outstanding already.
func (t *traffic) launch(tg target) {
	select {
	case t.slots <- struct{}{}:
	default:
		t.skipped.Add(1)
		return
	}
	t.mu.Lock()
	op := pick(t.rng, tg.ops)
	prio := messages.Normal
	switch r := t.rng.IntN(10); {
	case r < 2:
		prio = messages.High
	case r >= 7:
		prio = messages.Low
	}
	n := t.rng.IntN(1000)
	t.tally[tg.provider].Sent++
	t.mu.Unlock()
	node := int((t.next.Add(1) - 1) % uint64(len(t.sys)))
	t.perNode[node].Add(1)
	t.sent.Add(1)
	t.requests.Add(1)
	go func() {
		defer func() { <-t.slots }()
		defer t.requests.Done()
		err := t.do(t.sys[node], tg, op, prio, n)
		t.record(tg.provider, err)
		t.answered.Add(1)
	}()
}

func pick(rng *rand.Rand, ops []weighted) string {
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	if total <= 0 {
		return "chat"
	}
	r := rng.IntN(total)
	for _, o := range ops {
		if r < o.weight {
			return o.op
		}
		r -= o.weight
	}
	return ops[len(ops)-1].op
}

var prompts = []string{
	"summarise the switchyard design in one line",
	"name three colours of a sunset",
	"say hello to the operators on call",
	"what is a circuit breaker for",
	"count from one to five",
	"explain backpressure briefly",
}

// embedBurst is how many single-input embeddings an embed_burst sends at
// once.
const embedBurst = 8

// faqs are the questions the faq traffic repeats. Each has twelve or more
// distinct words, so a variant with one word more stays above the cache's
// 0.95 cosine threshold with the demo's word-vector embeddings.
var faqs = []string{
	"how do i reset the circuit breaker on the payment service after an outage",
	"what is the recommended retry policy for rate limited requests to the embedding service",
	"which priority should nightly batch jobs use when they share the queue with interactive users",
	"why does the dispatcher hold low priority requests back while high priority ones are waiting",
}

// faqPrompt returns the nth question: verbatim (an exact hit once stored),
// reworded in case and punctuation (a semantic hit at similarity 1), or
// with one word more (a semantic hit a little under 1).
func faqPrompt(n int) string {
	q := faqs[n%len(faqs)]
	switch (n / len(faqs)) % 3 {
	case 1:
		return strings.ToUpper(q[:1]) + q[1:] + "?"
	case 2:
		return q + " today"
	}
	return q
}

// do performs one request on sy and returns its error.
func (t *traffic) do(sy *switchyard.Switchyard, tg target, op string, prio messages.Priority, n int) error {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	opts := []switchyard.CallOption{switchyard.WithPriority(prio)}
	if prio == messages.Low {
		opts = append(opts, switchyard.WithTimeout(lowDeadline))
	}
	call := messages.Call{Provider: tg.provider}
	text := fmt.Sprintf("%s (request %d)", prompts[n%len(prompts)], n)
	chat := func() *messages.ChatRequest {
		return &messages.ChatRequest{Call: call, Model: tg.model, MaxTokens: tg.maxTokens,
			Messages: []messages.Message{{Role: messages.RoleUser, Content: text}}}
	}
	switch op {
	case "stream":
		st, err := sy.ChatStream(ctx, chat(), opts...)
		if err != nil {
			return err
		}
		for st.Next() {
		}
		return st.Err()
	case "faq", "faq_stream":
		// Deterministic (temperature 0) questions that come back verbatim,
		// reworded or with a word more: the cache answers them.
		zero := 0.0
		req := &messages.ChatRequest{Call: call, Model: tg.model, MaxTokens: tg.maxTokens, Temperature: &zero,
			Messages: []messages.Message{{Role: messages.RoleUser, Content: faqPrompt(n)}}}
		if op == "faq" {
			_, err := sy.Chat(ctx, req, opts...)
			return err
		}
		st, err := sy.ChatStream(ctx, req, opts...)
		if err != nil {
			return err
		}
		for st.Next() {
		}
		return st.Err()
	case "embed_burst":
		// Single-input requests arriving together: the batching window
		// sends them as one call.
		errs := make(chan error, embedBurst)
		for i := range embedBurst {
			go func() {
				// Fresh texts, past the cache, so each reaches the window.
				text := fmt.Sprintf("%s (burst %d.%d)", prompts[(n+i)%len(prompts)], n, i)
				_, err := sy.Embed(ctx, &messages.EmbedRequest{Call: call, Model: tg.embedModel, Inputs: []string{text}},
					append(opts, switchyard.NoCache())...)
				errs <- err
			}()
		}
		var first error
		for range embedBurst {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	case "embed":
		_, err := sy.Embed(ctx, &messages.EmbedRequest{Call: call, Model: tg.embedModel, Inputs: []string{text, prompts[(n+1)%len(prompts)]}}, opts...)
		return err
	case "responses":
		_, err := sy.Responses(ctx, &messages.ResponsesRequest{Call: call, Model: tg.model, MaxOutputTokens: max(tg.maxTokens, 16),
			Input: []messages.Message{{Role: messages.RoleUser, Content: text}}}, opts...)
		return err
	case "count_tokens":
		_, err := sy.CountTokens(ctx, &messages.CountTokensRequest{Call: call, Chat: *chat()}, opts...)
		return err
	case "generate":
		_, err := sy.Generate(ctx, &messages.GenerateRequest{Call: call, Model: tg.model, Prompt: text, MaxTokens: tg.maxTokens}, opts...)
		return err
	case "generate_stream":
		st, err := sy.GenerateStream(ctx, &messages.GenerateRequest{Call: call, Model: tg.model, Prompt: text, MaxTokens: tg.maxTokens}, opts...)
		if err != nil {
			return err
		}
		for st.Next() {
		}
		return st.Err()
	case "rerank":
		_, err := sy.Rerank(ctx, &messages.RerankRequest{Call: call, Model: tg.embedModel, Query: text, Documents: prompts[:4], TopN: 2}, opts...)
		return err
	case "infer":
		_, err := sy.Infer(ctx, &messages.InferRequest{Call: call, Model: tg.inferModel, Inputs: []messages.Tensor{{
			Name: "input", Datatype: "FP32", Shape: []int64{1, 4}, Data: []float32{float32(n % 5), 1, 2, 3}}}}, opts...)
		return err
	default:
		_, err := sy.Chat(ctx, chat(), opts...)
		return err
	}
}

// errorKind names an answer's failure for the tallies.
func errorKind(err error) string {
	var ue *messages.UpstreamError
	switch {
	case errors.Is(err, messages.ErrQueueFull):
		return "queue_full"
	case errors.Is(err, messages.ErrCircuitOpen):
		return "circuit_open"
	case errors.Is(err, messages.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, messages.ErrNoUsableKey):
		return "no_usable_key"
	case errors.Is(err, messages.ErrShuttingDown):
		return "shutting_down"
	case errors.Is(err, messages.ErrRetryBudget):
		return "retry_budget"
	case errors.Is(err, messages.ErrDeadline), errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	case errors.As(err, &ue):
		return "upstream_" + ue.Class.String()
	case errors.Is(err, messages.ErrUpstream):
		return "upstream"
	case errors.Is(err, messages.ErrInvalidRequest):
		return "invalid"
	case errors.Is(err, messages.ErrUnsupported):
		return "unsupported"
	}
	return "other"
}

func (t *traffic) record(provider string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pt := t.tally[provider]
	if err == nil {
		pt.OK++
		return
	}
	pt.Failed++
	t.kinds[errorKind(err)]++
}

// trafficTotals is a copy of the traffic's counts.
type trafficTotals struct {
	Sent, Answered, Skipped int64
	OK, Failed              int64
	PerProvider             map[string]providerTally
	// PerNode counts the requests sent to each instance.
	PerNode []int64
	// Kinds lists failures by kind, most frequent first.
	Kinds []kindCount
}

type kindCount struct {
	Kind  string
	Count int64
}

func (t *traffic) totals() trafficTotals {
	// An answer is tallied before it is counted as answered, and answered
	// is read first, so a snapshot never shows OK+Failed < Answered.
	tt := trafficTotals{Answered: t.answered.Load(), Sent: t.sent.Load(), Skipped: t.skipped.Load(), PerProvider: map[string]providerTally{}}
	for i := range t.perNode {
		tt.PerNode = append(tt.PerNode, t.perNode[i].Load())
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for name, pt := range t.tally {
		tt.PerProvider[name] = *pt
		tt.OK += pt.OK
		tt.Failed += pt.Failed
	}
	for k, n := range t.kinds {
		tt.Kinds = append(tt.Kinds, kindCount{k, n})
	}
	sort.Slice(tt.Kinds, func(i, j int) bool {
		if tt.Kinds[i].Count != tt.Kinds[j].Count {
			return tt.Kinds[i].Count > tt.Kinds[j].Count
		}
		return tt.Kinds[i].Kind < tt.Kinds[j].Kind
	})
	return tt
}

// sleepCtx waits d or until ctx ends; it reports whether d elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
