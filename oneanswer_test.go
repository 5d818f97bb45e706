package switchyard

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// A key actor that panics on a call is restarted by its breaker, and the call
// is not lost: one that had not started is retried, one that had finished is
// answered with its result.
func TestKeyPanicLosesNothing(t *testing.T) {
	srv := startAnthropic(t)
	var firstExec, firstResult sync.Map
	hooks := &actors.Hooks{
		KeyPanic: func(id string) bool {
			_, seen := firstExec.LoadOrStore(id, true)
			return strings.HasPrefix(id, "exec-") && !seen
		},
		KeyPanicOnResult: func(id string) bool {
			_, seen := firstResult.LoadOrStore(id, true)
			return strings.HasPrefix(id, "result-") && !seen
		},
	}
	cfg := Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}, Retry: RetryConfig{BaseDelay: time.Millisecond}}
	cfg.hooks = hooks
	h := newHarness(t, cfg, false)
	checkDispatcher(t, h.sy)
	resp, err := h.sy.Chat(context.Background(), chatReq("p", "x"), WithRequestID("exec-1"))
	require.NoError(t, err, "panic before the call")
	require.Equal(t, 2, resp.Attempts, "panic before the call")
	resp, err = h.sy.Chat(context.Background(), chatReq("p", "y"), WithRequestID("result-1"))
	require.NoError(t, err, "panic on the result")
	require.Equal(t, 1, resp.Attempts, "panic on the result")
	require.NotEmpty(t, resp.Content, "panic on the result")
	require.Equal(t, 2, srv.Calls(), "the first call must not reach the upstream, the second once")
	// The answer can overtake the restart's event (the breaker answers the
	// request while handling the failure, then publishes): wait for both.
	restarts := func() int {
		return len(h.eventsOf(func(e messages.Event) bool {
			r, ok := e.(*messages.ActorRestarted)
			return ok && strings.Contains(r.Actor, "key-a")
		}))
	}
	eventually(t, "two key restarts", func() bool { return restarts() >= 2 })
	require.Equal(t, 2, restarts(), "key restarts observed")
	// The restarted key still works.
	_, err = h.sy.Chat(context.Background(), chatReq("p", "z"))
	require.NoError(t, err)
}

// checkDispatcher turns on the dispatcher's invariant check for the rest of
// the test (actors.CheckInvariants): its bookkeeping is verified after every
// message it handles, and a violation fails the test.
func checkDispatcher(t *testing.T, sy *Switchyard) {
	t.Helper()
	var mu sync.Mutex
	var violation error
	_, err := sy.sys.Root.RequestFuture(sy.Dispatcher(), &actors.CheckInvariants{Report: func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if violation == nil {
			violation = err
		}
	}}, 5*time.Second).Result()
	require.NoError(t, err)
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		assert.NoError(t, violation, "dispatcher invariant")
	})
}

// quiesce waits until nothing runs or waits anywhere in the tree (no call
// in flight at any provider; the dispatcher holds no request) and then
// until every message the dispatcher sent before has reached caller: it
// sends caller a marker and reads got up to it, returning what came before.
func quiesce(t *testing.T, h *harness, caller *actor.PID, got chan any) []any {
	t.Helper()
	eventually(t, "a quiet tree", func() bool {
		for _, p := range h.tree().Providers {
			if p.Counters.InFlight != 0 {
				return false
			}
		}
		q, err := h.sy.QueueStatus(context.Background())
		require.NoError(t, err)
		return q.InFlight+q.Backoff+q.Parked+q.Levels[0].Depth+q.Levels[1].Depth+q.Levels[2].Depth == 0
	})
	m := &marker{}
	h.sy.ActorSystem().Root.Send(caller, m)
	var before []any
	timeout := time.After(10 * time.Second)
	for {
		select {
		case v := <-got:
			if v == m {
				return before
			}
			before = append(before, v)
		case <-timeout:
			require.FailNow(t, "the marker never came back")
		}
	}
}

// Many requests, random faults, random cancellations and deadlines, panics
// in key actors, facade and actor callers: every request gets exactly one
// terminal answer, nothing hangs, and Close leaves no goroutine behind
// (TestMain runs goleak).
func TestEveryRequestAnsweredExactlyOnce(t *testing.T) {
	const n = 600
	rng := rand.New(rand.NewPCG(1, 2))
	oa1, oa2, an1, an2 := startOpenAI(t, sim.WithoutRecords()), startOpenAI(t, sim.WithoutRecords()), startAnthropic(t, sim.WithoutRecords()), startAnthropic(t, sim.WithoutRecords())
	var panics atomic.Int64
	hooks := &actors.Hooks{
		KeyPanic:         func(id string) bool { return strings.HasSuffix(id, "7") && panics.Add(1) > 0 },
		KeyPanicOnResult: func(id string) bool { return strings.HasSuffix(id, "3") && panics.Add(1) > 0 },
	}
	two := func(url string) []EndpointConfig {
		return []EndpointConfig{
			{Name: "e1", BaseURL: url, Keys: []KeyConfig{{Label: "k1", Secret: secretA, MaxInFlight: 4}, {Label: "k2", Secret: secretB, MaxInFlight: 4}}},
		}
	}
	oaEps := append(two(oa1.URL+"/v1"), EndpointConfig{Name: "e2", BaseURL: oa2.URL + "/v1", Keys: []KeyConfig{{Label: "k3", Secret: secretC, MaxInFlight: 4}}})
	anEps := append(two(an1.URL), EndpointConfig{Name: "e2", BaseURL: an2.URL, Keys: []KeyConfig{{Label: "k3", Secret: secretC, MaxInFlight: 4}}})
	auditSink := &memorySink{}
	cfg := Config{
		Providers: []ProviderConfig{{Name: "openai", Kind: "openai", Endpoints: oaEps, KeyStrategy: "least-loaded"}, {Name: "anthropic", Kind: "anthropic", Endpoints: anEps}},
		Queue:     QueueConfig{High: 120, Normal: 120, Low: 120, AgingAfter: 50 * time.Millisecond, ShedLow: true},
		Retry:     RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond},
		Breaker:   BreakerConfig{ConsecutiveFailures: 4, Cooldown: 20 * time.Millisecond, MaxCooldown: 80 * time.Millisecond},
		Timeouts:  TimeoutsConfig{Header: 300 * time.Millisecond, StreamIdle: 100 * time.Millisecond},
		// Every answer is audited exactly once too.
		Audit: AuditConfig{Sink: auditSink},
	}
	cfg.hooks = hooks
	h := newHarness(t, cfg, false)
	checkDispatcher(t, h.sy)

	servers := []*sim.Server{oa1, oa2, an1, an2}
	faults := []sim.Fault{
		{Status: 500}, {Status: 503, Times: 3}, {Status: 429, Header: map[string]string{"Retry-After-Ms": "3"}},
		{Status: 529}, {Status: 400}, {Malformed: true}, {CutAfter: 2}, {StallAfter: 1}, {HeaderDelay: 400 * time.Millisecond},
		{ChunkDelay: 5 * time.Millisecond}, {Status: 401, Key: secretB, Times: 1},
	}
	stopFaults := make(chan struct{})
	var faultWG sync.WaitGroup
	faultWG.Add(1)
	go func() {
		defer faultWG.Done()
		r := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stopFaults:
				return
			case <-time.After(2 * time.Millisecond):
				servers[r.IntN(len(servers))].Inject(faults[r.IntN(len(faults))])
			}
		}
	}()

	// Half the traffic comes from an actor, half through the facade.
	actorAnswers := make(chan any, 4*n)
	type plan struct {
		req      messages.Request
		cancelIn time.Duration
	}
	var plans []plan
	for i := 0; i < n; i++ {
		var req messages.Request
		prio := []messages.Priority{messages.High, messages.Normal, messages.Low}[rng.IntN(3)]
		id := fmt.Sprintf("r-%04d", i)
		call := messages.Call{RequestID: id, Priority: prio}
		if rng.IntN(10) == 0 {
			call.Deadline = time.Now().Add(time.Duration(rng.IntN(200)) * time.Millisecond)
		}
		switch rng.IntN(4) {
		case 0:
			c := openaiChat(fmt.Sprintf("question %d with a few words", i))
			c.Call, c.Stream = call, rng.IntN(2) == 0
			c.Provider = "openai"
			req = c
		case 1:
			c := chatReq("anthropic", fmt.Sprintf("question %d with a few words", i))
			c.Call, c.Stream = call, rng.IntN(2) == 0
			c.Provider = "anthropic"
			req = c
		case 2:
			call.Provider = "openai"
			req = &messages.EmbedRequest{Call: call, Model: "emb", Inputs: []string{"a b", "c d"}}
		default:
			call.Provider = "anthropic"
			req = &messages.CountTokensRequest{Call: call, Chat: *chatReq("anthropic", "count")}
		}
		var cancelIn time.Duration
		if rng.IntN(5) == 0 {
			cancelIn = time.Duration(rng.IntN(30)) * time.Millisecond
		}
		plans = append(plans, plan{req, cancelIn})
	}

	var facadeAnswers sync.Map
	var wg sync.WaitGroup
	var actorIDs []string
	sys := h.sy.ActorSystem()
	var actorReqs []messages.Request
	for i, p := range plans {
		if i%2 == 0 {
			actorReqs = append(actorReqs, p.req)
			actorIDs = append(actorIDs, p.req.CallInfo().RequestID)
			if p.cancelIn > 0 {
				id := p.req.CallInfo().RequestID
				time.AfterFunc(p.cancelIn+20*time.Millisecond, func() { sys.Root.Send(h.sy.Dispatcher(), &messages.Cancel{RequestID: id}) })
			}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			if p.cancelIn > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, p.cancelIn)
				defer cancel()
			}
			id := p.req.CallInfo().RequestID
			var err error
			if cr, ok := p.req.(*messages.ChatRequest); ok && cr.Stream {
				st, serr := h.sy.ChatStream(ctx, cr)
				err = serr
				if serr == nil {
					for st.Next() {
					}
					err = st.Err()
				}
			} else {
				_, err = h.sy.Do(ctx, p.req)
			}
			_, dup := facadeAnswers.LoadOrStore(id, err)
			assert.False(t, dup, "request %s answered twice", id)
		}()
	}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &caller{dispatcher: h.sy.Dispatcher(), requests: actorReqs, got: actorAnswers}
	}))

	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		require.FailNow(t, "facade callers hung")
	}
	terminal := map[string]int{}
	deadline := time.After(30 * time.Second)
	for len(terminal) < len(actorIDs) {
		select {
		case m := <-actorAnswers:
			switch v := m.(type) {
			case *messages.Failure:
				terminal[v.RequestID]++
			case messages.Response:
				terminal[v.ResponseMeta().RequestID]++
			}
		case <-deadline:
			q, _ := h.sy.QueueStatus(context.Background())
			tr, _ := h.sy.Tree(context.Background())
			var missing []string
			for _, id := range actorIDs {
				if terminal[id] == 0 {
					missing = append(missing, id)
				}
			}
			require.FailNow(t, "actor callers hung", "%d of %d answered; missing %v\nqueue %+v\ntree %s", len(terminal), len(actorIDs), missing, q, describeTree(tr))
		}
	}
	close(stopFaults)
	faultWG.Wait()
	// A duplicate would come from work still running: wait until nothing
	// runs and every answer sent has arrived, then count again.
	for _, m := range quiesce(t, h, pid, actorAnswers) {
		switch v := m.(type) {
		case *messages.Failure:
			terminal[v.RequestID]++
		case messages.Response:
			terminal[v.ResponseMeta().RequestID]++
		}
	}
	for _, id := range actorIDs {
		require.Equal(t, 1, terminal[id], "actor request %s: terminal answers", id)
	}
	sys.Root.Stop(pid)
	var ok, failed int
	kinds := map[string]int{}
	facadeAnswers.Range(func(_, v any) bool {
		if v == nil {
			ok++
		} else {
			failed++
			kinds[errKind(v.(error))]++
		}
		return true
	})
	require.Equal(t, n-len(actorIDs), ok+failed, "facade answers")
	audited := waitWritten(t, h.sy)
	require.Zero(t, audited.Dropped+audited.Failed, "audit records lost: %+v", audited)
	perID := auditSink.byRequestID()
	require.Len(t, perID, n, "audit records name every request once")
	for _, p := range plans {
		id := p.req.CallInfo().RequestID
		require.Equal(t, 1, perID[id], "audit records of %s", id)
	}
	require.NotContains(t, h.logs.String(), "answer dropped", "the dispatcher tried to answer a request twice")
	q, err := h.sy.QueueStatus(context.Background())
	require.NoError(t, err)
	require.Zero(t, q.InFlight+q.Backoff+q.Parked+q.Levels[0].Depth+q.Levels[1].Depth+q.Levels[2].Depth, "state left after every answer: %+v", q)
	require.NotZero(t, panics.Load(), "the run exercised too little: no panic")
	require.NotZero(t, ok, "the run exercised too little: no success")
	require.NotZero(t, failed, "the run exercised too little: no failure")
	t.Logf("facade: %d ok, %d failed %v; %d panics injected", ok, failed, kinds, panics.Load())
}

func errKind(err error) string {
	for _, k := range []error{context.Canceled, ErrDeadline, ErrCircuitOpen, ErrQueueFull, ErrRateLimited, ErrNoUsableKey, ErrRetryBudget, ErrUpstream, ErrShuttingDown} {
		if errors.Is(err, k) {
			return strings.TrimPrefix(k.Error(), "switchyard: ")
		}
	}
	return err.Error()
}

func describeTree(tr messages.Tree) string {
	var b strings.Builder
	for _, p := range tr.Providers {
		fmt.Fprintf(&b, "\n%s queued %v inflight %d", p.Name, p.Queued, p.Counters.InFlight)
		for _, e := range p.Endpoints {
			fmt.Fprintf(&b, "\n  %s %s trips %d restarts %d inc %d inflight %d", e.Name, e.State, e.Trips, e.Restarts, e.Incarnations, e.Counters.InFlight)
			for _, k := range e.Keys {
				fmt.Fprintf(&b, "\n    %s %s inflight %d until %v", k.Label, k.State, k.Counters.InFlight, k.CoolingUntil)
			}
		}
	}
	return b.String()
}
