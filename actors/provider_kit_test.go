package actors

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// This file is a small test kit for the provider and breaker actors, after protoactor's and
// ergo's: the actor under test runs in its own actor system on a manual
// clock, its parent and the dispatcher are recorders, and the upstream is a
// fake adapter whose calls the test answers. Tests send protocol messages
// and assert what the actor sends, spawns and publishes; nothing uses HTTP.

// provKitWait bounds every wait of a provKit; a test that needs it has failed.
const provKitWait = 10 * time.Second

// upstreamStub hands each call to the test and returns what the test
// answers: a success, or an upstream error of a class. Safe for concurrent
// use.
type upstreamStub struct{ calls chan *stubCall }

// stubCall is one call the test must answer (or whose context ends).
type stubCall struct {
	call   *providers.Call
	answer chan messages.ErrorClass
}

func (a *upstreamStub) Kind() string                 { return "fake" }
func (a *upstreamStub) Check(messages.Request) error { return nil }

func (a *upstreamStub) Do(ctx context.Context, call *providers.Call) (messages.Response, error) {
	fc := &stubCall{call: call, answer: make(chan messages.ErrorClass, 1)}
	select {
	case a.calls <- fc:
	case <-ctx.Done():
		return nil, providers.ContextError(ctx, call, ctx.Err(), messages.ClassInternal, "")
	}
	select {
	case class := <-fc.answer:
		if class == messages.ClassUnknown {
			return &messages.ChatResponse{Content: "ok"}, nil
		}
		return nil, call.Fail(class, 503, "injected "+class.String(), nil)
	case <-ctx.Done():
		return nil, providers.ContextError(ctx, call, ctx.Err(), messages.ClassInternal, "")
	}
}

// succeed and fail answer the call.
func (fc *stubCall) succeed()                       { fc.answer <- messages.ClassUnknown }
func (fc *stubCall) fail(class messages.ErrorClass) { fc.answer <- class }

// provRecorder is an actor that hands every user message it gets to out.
type provRecorder struct{ out chan any }

func (r *provRecorder) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case actor.SystemMessage, actor.AutoReceiveMessage:
		return
	}
	r.out <- ctx.Message()
}

// restartChild asks a provKit parent to restart its child, as a supervisor
// does after a crash.
type restartChild struct{}

// provParent spawns the actor under test as its child "p", reports what the
// child sends it to out, and restarts it on request. When it supervises
// (failures != nil) it reports each failure of its child and leaves it
// suspended until restartChild; otherwise it restarts it at once.
type provParent struct {
	props    *actor.Props
	out      chan any
	failures chan any
	child    *actor.PID
}

func (p *provParent) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started:
		pid, err := ctx.SpawnNamed(p.props, "p")
		if err != nil {
			panic(err)
		}
		p.child = pid
	case *restartChild:
		ctx.(actor.Supervisor).RestartChildren(p.child)
	case actor.SystemMessage, actor.AutoReceiveMessage:
	default:
		p.out <- ctx.Message()
	}
}

func (p *provParent) HandleFailure(_ *actor.ActorSystem, sup actor.Supervisor, child *actor.PID, _ *actor.RestartStatistics, reason, _ interface{}) {
	if p.failures == nil {
		sup.RestartChildren(child)
		return
	}
	p.failures <- reason
}

// provKit is one actor under test with its surroundings.
type provKit struct {
	t      *testing.T
	sys    *actor.ActorSystem
	clk    *clock.Manual
	env    *Env
	log    *eventLog
	ctx    context.Context // every dispatch's context; cancelled at cleanup
	calls  chan *stubCall  // calls the fake upstream received
	fromP  chan any        // what the actor under test sent its parent
	fails  chan any        // its failures, when the parent supervises
	disp   chan any        // what it sent the dispatcher
	held   []any           // messages to the dispatcher passed over by a wait
	dispID *actor.PID
	parent *actor.PID
	child  *actor.PID
	nextID int
}

// newProvKit starts an actor system on a manual clock with a dispatcher
// provRecorder; start spawns the actor under test. Cleanup stops everything
// and checks that no goroutine is left.
func newProvKit(t *testing.T) *provKit {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return discard }))
	k := &provKit{t: t, sys: sys, clk: newBreakerTestClock(t), calls: make(chan *stubCall, 64),
		fromP: make(chan any, 1024), fails: make(chan any, 16), disp: make(chan any, 1<<14)}
	bus := NewEventBus(nil)
	k.log = newEventLog(bus)
	k.env = &Env{Clock: k.clk, Events: bus, Log: discard, Root: sys.Root, Calls: NewCallGroup()}
	ctx, cancel := context.WithCancel(context.Background())
	k.ctx = ctx
	rec := &provRecorder{out: k.disp}
	k.dispID = sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return rec }))
	t.Cleanup(func() {
		cancel()
		if k.parent != nil {
			require.NoError(t, sys.Root.PoisonFuture(k.parent).Wait())
		}
		require.NoError(t, sys.Root.PoisonFuture(k.dispID).Wait())
		k.env.Calls.Wait()
		sys.Shutdown()
		goleak.VerifyNone(t, ignore,
			// protoactor's dead-letter throttle: ends by itself a second
			// after the last dead letter (a late message to a stopped actor).
			goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
	})
	return k
}

// start spawns props as the child "p" of a provKit parent named "t"; with
// supervise the parent reports the child's failures instead of restarting it.
func (k *provKit) start(props *actor.Props, supervise bool) {
	k.t.Helper()
	parent := &provParent{props: props, out: k.fromP}
	if supervise {
		parent.failures = k.fails
	}
	pid, err := k.sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor { return parent }), "t")
	require.NoError(k.t, err)
	k.parent = pid
	k.child = k.sys.NewLocalPID("t/p")
}

// kitProvider is the provider spec the provider tests start from: one
// endpoint "primary" with keys "a" and "b", a breaker that trips on three
// failures and probes once, the fake adapter, the test cooldown.
func (k *provKit) providerSpec() ProviderSpec {
	return ProviderSpec{Name: "p", Adapter: &upstreamStub{calls: k.calls}, Strategy: RoundRobin,
		Endpoints: []EndpointSpec{{Name: "primary", Keys: []KeySpec{
			{Cred: providers.NewCredential("a", "sk-provKit-a")}, {Cred: providers.NewCredential("b", "sk-provKit-b")}}}},
		Breaker:  BreakerConfig{ConsecutiveFailures: 3, FailureRate: 0.5, MinRequests: 10, Window: 30 * time.Second, HalfOpenProbes: 1},
		Cooldown: testCooldown}
}

// startProvider starts a provider of spec and waits for its ProviderReady.
func (k *provKit) startProvider(spec ProviderSpec) {
	k.t.Helper()
	k.start(actor.PropsFromProducer(NewProviderProducer(spec, k.env, &Counters{}, k.dispID)), false)
	k.expectReady()
}

// expectReady waits for the provider's ProviderReady.
func (k *provKit) expectReady() {
	k.t.Helper()
	for {
		select {
		case m := <-k.fromP:
			if r, ok := m.(*ProviderReady); ok {
				require.Equal(k.t, "p", r.Name)
				return
			}
		case <-time.After(provKitWait):
			require.Fail(k.t, "timed out", "no ProviderReady")
		}
	}
}

// dispatch sends the provider one attempt of a new chat request and
// returns its ID; opts change the dispatch before it is sent.
func (k *provKit) dispatch(opts ...func(*dispatch)) string {
	k.nextID++
	id := fmt.Sprintf("r%d", k.nextID)
	d := &dispatch{id: id, attempt: 1, ctx: k.ctx,
		req: &messages.ChatRequest{Call: messages.Call{Provider: "p"}, Model: "m", Messages: []messages.Message{{Role: messages.RoleUser, Content: "hi"}}}}
	for _, o := range opts {
		o(d)
	}
	k.sys.Root.Send(k.child, d)
	return id
}

// expectCall waits for the fake upstream's next call.
func (k *provKit) expectCall() *stubCall {
	k.t.Helper()
	select {
	case fc := <-k.calls:
		return fc
	case <-time.After(provKitWait):
		require.Fail(k.t, "timed out", "no call reached the upstream")
		return nil
	}
}

// nextToDispatcher returns the first message the provider sent the
// dispatcher that satisfies match, in the order sent; messages passed over
// are kept for later waits.
func (k *provKit) nextToDispatcher(what string, match func(any) bool) any {
	k.t.Helper()
	for i, m := range k.held {
		if match(m) {
			k.held = append(k.held[:i:i], k.held[i+1:]...)
			return m
		}
	}
	deadline := time.After(provKitWait)
	for {
		select {
		case m := <-k.disp:
			if match(m) {
				return m
			}
			k.held = append(k.held, m)
		case <-deadline:
			require.Fail(k.t, "timed out", "the provider never sent the dispatcher %s (%d calls waiting upstream; transitions %q)", what, len(k.calls), path(k.log.transitions()))
			return nil
		}
	}
}

// expectFromParent waits for a message the actor under test sent its
// parent (or, for a breaker, its provider: the kit parent stands in for
// both) that satisfies match; messages passed over are dropped.
func (k *provKit) expectFromParent(what string, match func(any) bool) any {
	k.t.Helper()
	deadline := time.After(provKitWait)
	for {
		select {
		case m := <-k.fromP:
			if match(m) {
				return m
			}
		case <-deadline:
			require.Fail(k.t, "timed out", "the actor never sent its parent %s", what)
			return nil
		}
	}
}

// expectFailure waits for a failure the actor under test escalated.
func (k *provKit) expectFailure() any {
	k.t.Helper()
	select {
	case r := <-k.fails:
		return r
	case <-time.After(provKitWait):
		require.Fail(k.t, "timed out", "the actor escalated no failure")
		return nil
	}
}

// expectDone waits for the provider's report of request id.
func (k *provKit) expectDone(id string) *attemptDone {
	k.t.Helper()
	return k.nextToDispatcher("attemptDone for "+id, func(m any) bool {
		d, ok := m.(*attemptDone)
		return ok && d.id == id
	}).(*attemptDone)
}

// expectCapacity waits for a capacity report that satisfies ok.
func (k *provKit) expectCapacity(what string, ok func(*capacity) bool) *capacity {
	k.t.Helper()
	return k.nextToDispatcher("a capacity report: "+what, func(m any) bool {
		c, is := m.(*capacity)
		return is && ok(c)
	}).(*capacity)
}

// node asks the provider for its snapshot.
func (k *provKit) node() *messages.ProviderNode {
	k.t.Helper()
	res, err := k.sys.Root.RequestFuture(k.child, GetNode(), provKitWait).Result()
	require.NoError(k.t, err)
	return res.(*messages.ProviderNode)
}

// eventually polls cond until it holds or provKitWait passes.
func (k *provKit) eventually(what string, cond func() bool) {
	k.t.Helper()
	require.Eventually(k.t, cond, provKitWait, time.Millisecond, "waiting for %s", what)
}

// waitTransitions waits until the breaker events read want (see path).
func (k *provKit) waitTransitions(want string) {
	k.t.Helper()
	k.eventually("transitions "+want, func() bool { return path(k.log.transitions()) == want })
}

// exists reports whether an actor with this ID is alive.
func (k *provKit) exists(id string) bool {
	_, ok := k.sys.ProcessRegistry.GetLocal(id)
	return ok
}
