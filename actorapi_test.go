package switchyard

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/messages"
)

// caller is a user actor that talks to the dispatcher with messages and
// forwards everything it receives to a channel.
type caller struct {
	dispatcher *actor.PID
	requests   []messages.Request
	got        chan any
}

func (c *caller) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		for _, r := range c.requests {
			ctx.Request(c.dispatcher, r)
		}
	case *messages.StreamChunk, *messages.Failure, messages.Response:
		c.got <- m
	}
}

func TestActorAPI(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
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
				if _, done := terminal[v.RequestID]; done {
					t.Fatal("a chunk arrived after its request's terminal answer")
				}
				chunks = append(chunks, v)
			case *messages.ChatResponse:
				terminal[v.RequestID] = v
			case *messages.Failure:
				terminal[v.RequestID] = v
			}
		case <-timeout:
			t.Fatalf("answers so far: %v", terminal)
		}
	}
	final, ok := terminal["actor-stream"].(*messages.ChatResponse)
	if !ok || len(chunks) < 2 {
		t.Fatalf("stream: %d chunks, final %v", len(chunks), terminal["actor-stream"])
	}
	var text string
	for i, c := range chunks {
		if c.Seq != i || c.RequestID != "actor-stream" {
			t.Fatalf("chunk %d: %+v", i, c)
		}
		text += c.Text
	}
	if text != final.Content {
		t.Fatalf("chunks %q, final %q", text, final.Content)
	}
	if r, ok := terminal["actor-plain"].(*messages.ChatResponse); !ok || r.Content == "" {
		t.Fatalf("plain: %v", terminal["actor-plain"])
	}
	if f, ok := terminal["actor-bad"].(*messages.Failure); !ok || f.Err == nil {
		t.Fatalf("bad provider: %v", terminal["actor-bad"])
	}
}

// An actor cancels its own request with a Cancel message.
func TestActorCancel(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
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
		if !ok || !isCanceled(f.Err) {
			t.Fatalf("got %#v", m)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no answer to a cancelled request")
	}
	eventually(t, "the upstream call to be aborted", func() bool { return h.tree().Providers[0].Counters.InFlight == 0 })
}

func isCanceled(err error) bool { return err != nil && (errorsIs(err, context.Canceled)) }
