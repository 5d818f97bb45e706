package actors

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
)

// Message-level tests of the cache actor: no HTTP, no dispatcher. A fake
// dispatcher records every message the cache sends it; the test answers a
// forwarded call the way the dispatcher does (a message to the Submit's
// ReplyPID) and reads what the cache answers on each caller's reply channel.

// fakeDispatcher stands in for the Dispatcher: it records what it receives
// (Submits, bare requests with their sender, Cancels) and answers a ping
// once everything sent to it before has been recorded.
type fakeDispatcher struct {
	got chan received
}

// received is one message the fake dispatcher got, with its sender.
type received struct {
	msg    any
	sender *actor.PID
}

func (f *fakeDispatcher) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *ping:
		ctx.Respond(true)
	case *Submit, messages.Request, *messages.Cancel:
		f.got <- received{msg: m, sender: ctx.Sender()}
	}
}

// cacheKit is one cache actor, exact layer only, forwarding to a fake
// dispatcher, on a manual clock.
type cacheKit struct {
	t     *testing.T
	clk   *clock.Manual
	sys   *actor.ActorSystem
	cache *actor.PID
	disp  *actor.PID
	got   chan received
}

func newCacheKit(t *testing.T) *cacheKit { return newCacheKitWith(t, nil) }

// newCacheKitWith is newCacheKit with env's fleet cache set to fleet (nil:
// none).
func newCacheKitWith(t *testing.T, fleet FleetCache) *cacheKit {
	t.Helper()
	leaks := goleak.IgnoreCurrent()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	k := &cacheKit{t: t, got: make(chan received, 100), clk: clocktest.New(t),
		sys: actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return log }))}
	env := &Env{Clock: k.clk, Events: NewEventBus(log), Log: log,
		Root: k.sys.Root, Calls: NewCallGroup(), FleetCache: fleet}
	k.disp = k.sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return &fakeDispatcher{got: k.got} }))
	k.cache = k.sys.Root.Spawn(actor.PropsFromProducer(NewCacheProducer(CacheSpec{Providers: map[string]bool{"p": true}}, env, k.disp)))
	t.Cleanup(func() {
		done := make(chan struct{})
		k.sys.Root.Send(k.cache, &Abort{Done: done})
		<-done
		require.NoError(t, k.sys.Root.StopFuture(k.cache).Wait())
		require.NoError(t, k.sys.Root.StopFuture(k.disp).Wait())
		k.sys.Shutdown()
		goleak.VerifyNone(t, leaks, goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
	})
	return k
}

// question is a cacheable (temperature 0) chat request with its own ID.
func question(id, text string) *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{Provider: "p", RequestID: id}, Model: "m", Temperature: f64(0),
		Messages: []messages.Message{{Role: messages.RoleUser, Content: text}}}
}

// submit sends req to the cache as the facade does and returns the reply
// channel.
func (k *cacheKit) submit(req messages.Request) chan any {
	reply := make(chan any, 4)
	k.sys.Root.Send(k.cache, &Submit{Req: req, Reply: reply})
	return reply
}

// status asks the cache for its status; the answer comes after the cache
// handled everything sent to it before.
func (k *cacheKit) status() *messages.CacheStatus {
	k.t.Helper()
	r, err := k.sys.Root.RequestFuture(k.cache, &messages.GetCacheStatus{}, 5*time.Second).Result()
	require.NoError(k.t, err, "cache status")
	return r.(*messages.CacheStatus)
}

// sent returns what the cache has sent the dispatcher so far: the cache is
// synchronised first (status), then the dispatcher (ping), so every message
// the cache sent before answering the status has been recorded.
func (k *cacheKit) sent() []received {
	k.t.Helper()
	k.status()
	_, err := k.sys.Root.RequestFuture(k.disp, &ping{}, 5*time.Second).Result()
	require.NoError(k.t, err, "dispatcher ping")
	var out []received
	for {
		select {
		case r := <-k.got:
			out = append(out, r)
		default:
			return out
		}
	}
}

// forwarded is the single Submit the cache sent the dispatcher.
func (k *cacheKit) forwarded() *Submit {
	k.t.Helper()
	got := k.sent()
	require.Len(k.t, got, 1, "messages to the dispatcher: %+v", got)
	sub, ok := got[0].msg.(*Submit)
	require.True(k.t, ok, "the cache sent %T, want a *Submit", got[0].msg)
	return sub
}

// answerOf reads the one answer on reply.
func answerOf(t *testing.T, reply chan any) any {
	t.Helper()
	select {
	case a := <-reply:
		return a
	case <-time.After(5 * time.Second):
		require.Fail(t, "no answer")
		return nil
	}
}

// An answer stored from the dispatcher's success serves an identical
// request at once: cached, with its own request ID, and nothing reaches
// the dispatcher.
func TestCacheMsgExactHitSkipsDispatcher(t *testing.T) {
	k := newCacheKit(t)
	first := k.submit(question("r1", "what is a breaker?"))
	sub := k.forwarded()
	require.Equal(t, "r1", sub.Req.CallInfo().RequestID, "the forwarded request")
	require.Equal(t, k.cache, sub.ReplyPID, "the dispatcher must answer the cache")
	k.sys.Root.Send(sub.ReplyPID, &messages.ChatResponse{Meta: messages.Meta{RequestID: "r1", Attempts: 1}, Content: "a fuse"})
	resp, ok := answerOf(t, first).(*messages.ChatResponse)
	require.True(t, ok, "the leader's answer")
	require.Equal(t, "a fuse", resp.Content)
	require.False(t, resp.Cached, "the dispatcher's own answer is not a cache hit")

	second := k.submit(question("r2", "what is a breaker?"))
	hit, ok := answerOf(t, second).(*messages.ChatResponse)
	require.True(t, ok, "the hit's answer")
	require.Equal(t, "a fuse", hit.Content)
	require.True(t, hit.Cached, "answer not marked cached")
	require.Equal(t, "r2", hit.RequestID, "a hit carries its own request ID")
	require.Equal(t, 0, hit.Attempts, "a hit made no attempt")
	require.Empty(t, k.sent(), "an exact hit reached the dispatcher")
	st := k.status()
	require.Equal(t, uint64(1), st.Hits, "hits")
	require.Equal(t, uint64(1), st.Misses, "misses")
	require.Len(t, second, 0, "a second answer to the hit")
}

// Identical requests in flight together make one call; when it succeeds,
// the leader gets the dispatcher's answer and the follower a copy with its
// own request ID.
func TestCacheMsgSingleFlight(t *testing.T) {
	k := newCacheKit(t)
	leader := k.submit(question("lead", "same question"))
	follower := k.submit(question("follow", "same question"))
	sub := k.forwarded()
	require.Equal(t, "lead", sub.Req.CallInfo().RequestID, "the first request leads")
	st := k.status()
	require.Equal(t, 1, st.Followers, "followers waiting: %+v", st)

	k.sys.Root.Send(sub.ReplyPID, &messages.ChatResponse{Meta: messages.Meta{RequestID: "lead", Attempts: 1}, Content: "one answer"})
	a, ok := answerOf(t, leader).(*messages.ChatResponse)
	require.True(t, ok, "the leader's answer")
	require.Equal(t, "lead", a.RequestID)
	require.False(t, a.Cached, "the leader's answer is the call's")
	b, ok := answerOf(t, follower).(*messages.ChatResponse)
	require.True(t, ok, "the follower's answer")
	require.Equal(t, "follow", b.RequestID, "the follower's answer carries its own request ID")
	require.Equal(t, "one answer", b.Content)
	require.True(t, b.Cached, "the follower's answer is a shared one")

	require.Empty(t, k.sent(), "the follower made a call of its own")
	st = k.status()
	require.Equal(t, uint64(1), st.Coalesced, "coalesced")
	require.Equal(t, 0, st.InFlight, "flights left: %+v", st)
	require.Equal(t, 0, st.Followers, "followers left: %+v", st)
	require.Len(t, leader, 0, "a second answer to the leader")
	require.Len(t, follower, 0, "a second answer to the follower")
}

// A NoCache request goes to the dispatcher untouched: the same Submit, or,
// sent bare by an actor, the same request with its sender kept; the cache
// neither answers it nor counts it as a miss.
func TestCacheMsgNoCacheForwardedUntouched(t *testing.T) {
	k := newCacheKit(t)
	req := question("nc", "do not cache me")
	req.NoCache = true
	reply := make(chan any, 1)
	m := &Submit{Req: req, Reply: reply}
	k.sys.Root.Send(k.cache, m)
	got := k.sent()
	require.Len(t, got, 1, "messages to the dispatcher")
	require.Same(t, m, got[0].msg, "the Submit was not forwarded as it came")
	require.Len(t, reply, 0, "the cache answered a NoCache request")

	// An actor's bare request: forwarded with its sender, so the
	// dispatcher answers the actor directly.
	bare := question("nc-bare", "do not cache me")
	bare.NoCache = true
	asker := k.sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
	defer func() { assert.NoError(t, k.sys.Root.StopFuture(asker).Wait()) }()
	k.sys.Root.RequestWithCustomSender(k.cache, bare, asker)
	got = k.sent()
	require.Len(t, got, 1, "messages to the dispatcher")
	require.Same(t, bare, got[0].msg, "the bare request was not forwarded as it came")
	require.Equal(t, asker, got[0].sender, "the forwarded request lost its sender")

	st := k.status()
	require.Equal(t, uint64(2), st.Bypassed, "bypassed")
	require.Equal(t, uint64(0), st.Misses, "misses")
	require.Equal(t, 0, st.Entries, "entries")
}

// When the leader's call fails, every follower is answered once, with the
// failure re-addressed to its own request ID; no follower makes a call of
// its own and nothing is stored.
func TestCacheMsgLeaderFailureAnswersEveryFollowerOnce(t *testing.T) {
	k := newCacheKit(t)
	ids := []string{"f0", "f1", "f2"}
	replies := map[string]chan any{}
	for _, id := range ids {
		replies[id] = k.submit(question(id, "a failing question"))
	}
	sub := k.forwarded()
	require.Equal(t, "f0", sub.Req.CallInfo().RequestID, "the first request leads")
	upstream := &messages.UpstreamError{RequestID: "f0", Provider: "p", Status: 500, Class: messages.ClassServer, Message: "boom", Attempts: 3}
	k.sys.Root.Send(sub.ReplyPID, &messages.Failure{RequestID: "f0", Err: upstream})

	for _, id := range ids {
		f, ok := answerOf(t, replies[id]).(*messages.Failure)
		require.True(t, ok, "%s: want a *messages.Failure", id)
		require.Equal(t, id, f.RequestID, "the failure's request ID")
		var ue *messages.UpstreamError
		require.ErrorAs(t, f.Err, &ue, "%s", id)
		require.Equal(t, id, ue.RequestID, "%s: the error names another request", id)
		require.Equal(t, 500, ue.Status, "%s", id)
	}
	require.Empty(t, k.sent(), "a follower was forwarded after the leader failed")
	st := k.status()
	require.Equal(t, 0, st.Entries, "a failure was stored")
	require.Equal(t, 0, st.InFlight, "flights left: %+v", st)
	require.Equal(t, 0, st.Followers, "followers left: %+v", st)
	for _, id := range ids {
		require.Len(t, replies[id], 0, "%s answered twice", id)
	}
}
