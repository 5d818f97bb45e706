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

// The README's Go snippets are copies of the bodies below (readme_test.go
// checks it): change them together.

// A simulated Anthropic endpoint stands in for api.anthropic.com here; in a
// daemon, leave Endpoints empty and set ANTHROPIC_API_KEY.
func newExample() (*switchyard.Switchyard, *sim.Server) {
	srv := sim.Start(sim.Anthropic())
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{
			Name: "anthropic", Kind: "anthropic",
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

// The README's first example: providers whose keys come from the
// environment, and one chat with its error checked. It talks to the real
// services, so it is compiled, not run; Example below runs the same calls
// against a simulator.
func Example_readme() {
	ctx := context.Background()
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{
			{Kind: "openai"},    // keys from OPENAI_API_KEY, OPENAI_API_KEY_1..N
			{Kind: "anthropic"}, // keys from ANTHROPIC_API_KEY, ANTHROPIC_API_KEY_1..N
		},
	})
	if err != nil {
		fmt.Println("error:", err) // an invalid field is named: providers[0].endpoints[1].base_url: …
		return
	}
	defer sy.Close(ctx) // queued requests get ErrShuttingDown, in-flight ones finish

	resp, err := sy.Chat(ctx, &messages.ChatRequest{
		Model:    "gpt-4o-mini",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "hello"}},
	}, switchyard.WithProvider("openai"), switchyard.WithPriority(switchyard.High))
	if err != nil {
		fmt.Println("error:", err) // typed: errors.Is(err, switchyard.ErrQueueFull), errors.As(err, &upstreamErr), …
		return
	}
	fmt.Println(resp.Content, resp.RequestID, resp.Attempts, resp.Key)
}

func Example() {
	sy, srv := newExample()
	defer srv.Close()
	defer sy.Close(context.Background())
	ctx := context.Background()

	resp, err := sy.Chat(ctx, &messages.ChatRequest{
		Model:    "claude-sonnet-4-5",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "hello"}},
	}, switchyard.WithProvider("anthropic"), switchyard.WithPriority(switchyard.High))
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
	ctx := context.Background()

	st, err := sy.ChatStream(ctx, &messages.ChatRequest{
		Model:    "claude-sonnet-4-5",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "tell me a story"}},
	}, switchyard.WithProvider("anthropic"))
	if err != nil {
		fmt.Println("error:", err) // a nil request or context, or a closed instance
		return
	}
	for chunk, err := range st.All() {
		if err != nil {
			fmt.Println("\nerror:", err) // e.g. the upstream cut the stream
			return
		}
		fmt.Print(chunk.Text)
	}
	fmt.Println()
	// Output:
	// You said: tell me a story
}

// Errors are typed: a full queue, an open circuit, an exhausted retry
// budget each match a sentinel and carry what a caller needs to act.
func ExampleSwitchyard_Chat_errors() {
	sy, srv := newExample()
	defer srv.Close()
	defer sy.Close(context.Background())

	srv.Inject(sim.Fault{Status: 400})
	_, err := sy.Chat(context.Background(), &messages.ChatRequest{
		Call: messages.Call{Provider: "anthropic"}, Model: "claude-sonnet-4-5",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "hi"}},
	})
	var ue *switchyard.UpstreamError
	if errors.As(err, &ue) {
		fmt.Println(ue.Status, ue.Class, ue.Retryable(), ue.Attempts)
	}
	_, err = sy.Chat(context.Background(), &messages.ChatRequest{Call: messages.Call{Provider: "nobody"}})
	fmt.Println(errors.Is(err, switchyard.ErrUnknownProvider))
	_, err = sy.Chat(context.Background(), nil)
	fmt.Println(errors.Is(err, switchyard.ErrInvalidRequest))
	// Output:
	// 400 invalid false 1
	// true
	// true
}

// myActor is an actor of the host program that asks Switchyard for a
// streamed completion and receives the answer as messages.
type myActor struct {
	frontDoor *actor.PID
	text      string
	done      chan string
}

func (a *myActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		ctx.Request(a.frontDoor, &messages.ChatRequest{
			Call:  messages.Call{Provider: "anthropic", Priority: messages.Low},
			Model: "claude-sonnet-4-5", Stream: true,
			Messages: []messages.Message{{Role: messages.RoleUser, Content: "from an actor"}},
		})
	case *messages.StreamChunk: // zero or more, in order
		a.text += m.Text
	case *messages.ChatResponse: // the terminal answer…
		a.done <- a.text
	case *messages.Failure: // …or this, exactly once
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
		return &myActor{frontDoor: sy.FrontDoor(), done: done}
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

// Batching per provider and model, and the cache's embedding route: a
// self-hosted TEI server embeds the prompts (New does not contact it).
func ExampleBatchingConfig() {
	off := false
	tei := switchyard.ProviderConfig{Name: "tei", Kind: "hf_tei",
		Endpoints: []switchyard.EndpointConfig{{BaseURL: "http://localhost:8080"}},
		Batching: switchyard.BatchingConfig{
			BatchLimits: switchyard.BatchLimits{MaxInputs: 64, Delay: 3 * time.Millisecond},
			Models:      map[string]switchyard.ModelBatching{"bge-reranker": {Enabled: &off}},
		}}
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{tei},
		Cache: switchyard.CacheConfig{Enabled: true, MaxEntries: 10000, TTL: time.Hour,
			Embedding: switchyard.EmbeddingRoute{Provider: "tei", Model: "bge-small-en-v1.5"}},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer sy.Close(context.Background())
	fmt.Println(sy.Cache() != nil, sy.FrontDoor() != nil)
	// Output:
	// true true
}

// Model files go through the same runtime (an S3-compatible store named
// "s3"); compiled, not run.
func ExampleSwitchyard_PutObjectStream() {
	sy, err := switchyard.New(switchyard.Config{Providers: []switchyard.ProviderConfig{{Kind: "s3"}}}) // S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	ctx := context.Background()
	defer sy.Close(ctx)

	st, err := sy.PutObjectStream(ctx, &messages.PutObjectRequest{
		Call:   messages.Call{Provider: "s3", Priority: messages.Low},
		Bucket: "models", Object: "llama/model.safetensors", File: "model.safetensors"})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	for st.Next() {
		if p := st.Chunk().Progress; p != nil { // bytes done of total, endpoint, attempt
			fmt.Printf("\r%d / %d", p.Done, p.Total)
		}
	}
	if err := st.Err(); err != nil { // nil only once size and checksum matched on the server
		fmt.Println("\nerror:", err)
	}
}
