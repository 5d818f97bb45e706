package switchyard_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// A simulated Anthropic endpoint stands in for api.anthropic.com here; in a
// daemon, leave Endpoints empty and set ANTHROPIC_API_KEY.
func newExample() (*switchyard.Switchyard, *sim.Server) {
	srv := sim.Start(sim.Anthropic())
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{
			Name: "claude", Kind: "anthropic",
			Endpoints: []switchyard.EndpointConfig{{BaseURL: srv.URL, Keys: []switchyard.KeyConfig{
				{Label: "prod-1", Secret: "sk-ant-example-000000000001"},
				{Label: "prod-2", Secret: "sk-ant-example-000000000002"},
			}}},
		}},
	})
	if err != nil {
		panic(err)
	}
	return sy, srv
}

func Example() {
	sy, srv := newExample()
	defer srv.Close()
	defer sy.Close(context.Background())

	resp, err := sy.Chat(context.Background(), &messages.ChatRequest{
		Model:    "claude-sonnet-4-5",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "hello"}},
	}, switchyard.WithProvider("claude"), switchyard.WithPriority(switchyard.High))
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println(resp.Content)
	fmt.Println("attempts:", resp.Attempts, "key:", resp.Key)
	// Output:
	// You said: hello
	// attempts: 1 key: prod-1
}

func ExampleSwitchyard_ChatStream() {
	sy, srv := newExample()
	defer srv.Close()
	defer sy.Close(context.Background())

	st, err := sy.ChatStream(context.Background(), &messages.ChatRequest{
		Call:     messages.Call{Provider: "claude"},
		Model:    "claude-sonnet-4-5",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "stream please"}},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	text := ""
	for st.Next() {
		text += st.Chunk().Text
	}
	if st.Err() != nil {
		fmt.Println("error:", st.Err())
		return
	}
	fmt.Println(text)
	fmt.Println(st.Response().(*messages.ChatResponse).Usage.OutputTokens > 0)
	// Output:
	// You said: stream please
	// true
}

// Errors are typed: a full queue, an open circuit, an exhausted retry
// budget each match a sentinel and carry what a caller needs to act.
func ExampleSwitchyard_Chat_errors() {
	sy, srv := newExample()
	defer srv.Close()
	defer sy.Close(context.Background())

	srv.Inject(sim.Fault{Status: 400})
	_, err := sy.Chat(context.Background(), &messages.ChatRequest{
		Call: messages.Call{Provider: "claude"}, Model: "claude-sonnet-4-5",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "hi"}},
	})
	var ue *switchyard.UpstreamError
	if errors.As(err, &ue) {
		fmt.Println(ue.Status, ue.Class, ue.Retryable(), ue.Attempts)
	}
	_, err = sy.Chat(context.Background(), &messages.ChatRequest{Call: messages.Call{Provider: "nobody"}})
	fmt.Println(errors.Is(err, switchyard.ErrUnknownProvider))
	// Output:
	// 400 invalid false 1
	// true
}

// asker is an actor of the host program that asks Switchyard for a
// completion and receives the answer as a message.
type asker struct {
	dispatcher *actor.PID
	done       chan string
}

func (a *asker) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(a.dispatcher, &messages.ChatRequest{
			Call:     messages.Call{Provider: "claude", Priority: messages.Low},
			Model:    "claude-sonnet-4-5",
			Messages: []messages.Message{{Role: messages.RoleUser, Content: "from an actor"}},
		})
	case *messages.ChatResponse:
		a.done <- m.Content
	case *messages.Failure:
		a.done <- "error: " + m.Err.Error()
	}
}

func Example_actor() {
	sy, srv := newExample()
	defer srv.Close()
	defer sy.Close(context.Background())

	done := make(chan string, 1)
	root := sy.ActorSystem().Root
	pid := root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &asker{dispatcher: sy.Dispatcher(), done: done}
	}))
	defer root.Stop(pid)
	select {
	case s := <-done:
		fmt.Println(s)
	case <-time.After(5 * time.Second):
		fmt.Println("timeout")
	}
	// Output:
	// You said: from an actor
}
