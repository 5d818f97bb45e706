package switchyard

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// caller is a user actor that talks to the dispatcher with messages and
// forwards everything it receives to a channel.
type caller struct {
	dispatcher *actor.PID
	requests   []messages.Request
	got        chan any
}

// marker is sent to a caller by the test; its arrival on the channel means
// everything sent to the caller before it has arrived too.
type marker struct{}

func (c *caller) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		for _, r := range c.requests {
			ctx.Request(c.dispatcher, r)
		}
	case *messages.StreamChunk, *messages.Failure, messages.Response, *marker:
		c.got <- m
	}
}

func TestActorAPI(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
	checkDispatcher(t, h.sy)
	stream := openaiChat("stream this answer to an actor please")
	stream.Stream = true
	stream.RequestID = "actor-stream"
	plain := openaiChat("plain")
	plain.RequestID = "actor-plain"
	bad := openaiChat("bad")
	bad.Provider = "missing"
	bad.RequestID = "actor-bad"
	got := make(chan any, 100)
	pid := h.sy.ActorSystem().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &caller{dispatcher: h.sy.Dispatcher(), requests: []messages.Request{stream, plain, bad}, got: got}
	}))
	defer h.sy.ActorSystem().Root.Stop(pid)

	var chunks []*messages.StreamChunk
	terminal := map[string]any{}
	timeout := time.After(10 * time.Second)
	for len(terminal) < 3 {
		select {
		case m := <-got:
			switch v := m.(type) {
			case *messages.StreamChunk:
				require.NotContains(t, terminal, v.RequestID, "a chunk arrived after its request's terminal answer")
				chunks = append(chunks, v)
			case *messages.ChatResponse:
				terminal[v.RequestID] = v
			case *messages.Failure:
				terminal[v.RequestID] = v
			}
		case <-timeout:
			require.FailNow(t, "answers missing", "answers so far: %v", terminal)
		}
	}
	final, ok := terminal["actor-stream"].(*messages.ChatResponse)
	require.True(t, ok, "stream answer: %v", terminal["actor-stream"])
	require.GreaterOrEqual(t, len(chunks), 2, "stream chunks")
	var text string
	for i, c := range chunks {
		require.Equal(t, i, c.Seq, "chunk %d: %+v", i, c)
		require.Equal(t, "actor-stream", c.RequestID, "chunk %d: %+v", i, c)
		text += c.Text
	}
	require.Equal(t, final.Content, text, "the chunks add up to the final answer")
	r, ok := terminal["actor-plain"].(*messages.ChatResponse)
	require.True(t, ok, "plain: %v", terminal["actor-plain"])
	require.NotEmpty(t, r.Content)
	f, ok := terminal["actor-bad"].(*messages.Failure)
	require.True(t, ok, "bad provider: %v", terminal["actor-bad"])
	require.Error(t, f.Err)
}

// An actor cancels its own request with a Cancel message.
func TestActorCancel(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
	checkDispatcher(t, h.sy)
	oa.Hold()
	defer oa.Release()
	req := openaiChat("slow")
	req.RequestID = "to-cancel"
	got := make(chan any, 10)
	pid := h.sy.ActorSystem().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &caller{dispatcher: h.sy.Dispatcher(), requests: []messages.Request{req}, got: got}
	}))
	defer h.sy.ActorSystem().Root.Stop(pid)
	eventually(t, "the call to reach the upstream", func() bool { return oa.Calls() == 1 })
	h.sy.ActorSystem().Root.Send(h.sy.Dispatcher(), &messages.Cancel{RequestID: "to-cancel"})
	select {
	case m := <-got:
		f, ok := m.(*messages.Failure)
		require.True(t, ok, "got %#v", m)
		require.True(t, isCanceled(f.Err), "got %v", f.Err)
	case <-time.After(5 * time.Second):
		require.FailNow(t, "no answer to a cancelled request")
	}
	eventually(t, "the upstream call to be aborted", func() bool { return h.tree().Providers[0].Counters.InFlight == 0 })
}

// 200 actor streams, each cancelled while its chunks flow: nothing of a
// stream follows its terminal answer (the campaign found chunks after the
// Failure for a third of them).
func TestActorStreamsCancelledMidwayEndWithTheirAnswer(t *testing.T) {
	const n = 200
	oa := startOpenAI(t, sim.WithoutRecords())
	// Every stream stalls after its fourth chunk until the client goes away,
	// so the cancel sent at the first chunk lands mid-stream however loaded
	// the machine is (a plain 20 ms chunk delay let 121 of 200 finish first
	// in a CI run), while chunks still flow around it.
	oa.Inject(sim.Fault{ChunkDelay: 5 * time.Millisecond, StallAfter: 4, Times: -1})
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
	checkDispatcher(t, h.sy)
	var reqs []messages.Request
	for i := range n {
		r := openaiChat(fmt.Sprintf("stream number %d of a long answer with many many words to cut short", i))
		r.Stream = true
		r.RequestID = fmt.Sprintf("cancelled-%03d", i)
		reqs = append(reqs, r)
	}
	got := make(chan any, 100*n)
	sys := h.sy.ActorSystem()
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &caller{dispatcher: h.sy.Dispatcher(), requests: reqs, got: got}
	}))
	defer sys.Root.Stop(pid)

	// Cancel each stream as its first chunk arrives, and record the order
	// in which everything reaches the caller.
	var mu sync.Mutex
	after := map[string]int{} // chunks that followed the terminal answer
	answered := map[string]any{}
	record := func(m any) {
		mu.Lock()
		defer mu.Unlock()
		switch v := m.(type) {
		case *messages.StreamChunk:
			if _, done := answered[v.RequestID]; done {
				after[v.RequestID]++
			} else if v.Seq == 0 {
				sys.Root.Send(h.sy.Dispatcher(), &messages.Cancel{RequestID: v.RequestID})
			}
		case *messages.Failure:
			answered[v.RequestID] = v
		case messages.Response:
			answered[v.ResponseMeta().RequestID] = v
		}
	}
	timeout := time.After(30 * time.Second)
	for len(answered) < n {
		select {
		case m := <-got:
			record(m)
		case <-timeout:
			require.FailNow(t, "streams unanswered", "%d of %d answered", len(answered), n)
		}
	}
	for _, m := range quiesce(t, h, pid, got) {
		record(m)
	}
	cancelled := 0
	for _, a := range answered {
		if f, ok := a.(*messages.Failure); ok && isCanceled(f.Err) {
			cancelled++
		}
	}
	assert.Greater(t, cancelled, n/2, "most streams were cancelled midway")
	assert.Empty(t, after, "chunks after the terminal answer, per request")
}

func isCanceled(err error) bool { return err != nil && (errorsIs(err, context.Canceled)) }
