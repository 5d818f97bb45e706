package switchyard

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// callBound bounds every call of the bad-input tests: a call must return
// within it (plus callGrace), answered or failed, never hang.
const (
	callBound = 10 * time.Second
	callGrace = 5 * time.Second
)

// facadeCall is one facade method applied to an input.
type facadeCall func(ctx context.Context, sy *Switchyard) (any, error)

// stream drains a stream so that a call through a *Stream method is judged
// by its final answer.
func drain(st *Stream, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	for st.Next() {
	}
	return st.Response(), st.Err()
}

type methodCase struct {
	name string
	call func(ctx context.Context, sy *Switchyard, zero bool) (any, error)
}

// methods lists every facade method that takes a request. zero selects the
// zero-value request; otherwise the request is a typed nil.
func methods() []methodCase {
	m := func(name string, f func(ctx context.Context, sy *Switchyard, zero bool) (any, error)) methodCase {
		return methodCase{name, f}
	}
	return []methodCase{
		m("Do", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			if zero {
				return sy.Do(ctx, &messages.ChatRequest{})
			}
			return sy.Do(ctx, nil)
		}),
		m("Chat", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Chat(ctx, pick(zero, &messages.ChatRequest{}))
		}),
		m("ChatStream", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return drain(sy.ChatStream(ctx, pick(zero, &messages.ChatRequest{})))
		}),
		m("Embed", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Embed(ctx, pick(zero, &messages.EmbedRequest{}))
		}),
		m("Responses", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Responses(ctx, pick(zero, &messages.ResponsesRequest{}))
		}),
		m("ResponsesStream", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return drain(sy.ResponsesStream(ctx, pick(zero, &messages.ResponsesRequest{})))
		}),
		m("CountTokens", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.CountTokens(ctx, pick(zero, &messages.CountTokensRequest{}))
		}),
		m("Generate", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Generate(ctx, pick(zero, &messages.GenerateRequest{}))
		}),
		m("GenerateStream", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return drain(sy.GenerateStream(ctx, pick(zero, &messages.GenerateRequest{})))
		}),
		m("Rerank", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Rerank(ctx, pick(zero, &messages.RerankRequest{}))
		}),
		m("Infer", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Infer(ctx, pick(zero, &messages.InferRequest{}))
		}),
		m("ListModels", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.ListModels(ctx, pick(zero, &messages.ModelsRequest{}))
		}),
		m("Info", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Info(ctx, pick(zero, &messages.InfoRequest{}))
		}),
		m("Tokenize", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Tokenize(ctx, pick(zero, &messages.TokenizeRequest{}))
		}),
		m("PutObject", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.PutObject(ctx, pick(zero, &messages.PutObjectRequest{}))
		}),
		m("PutObjectStream", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return drain(sy.PutObjectStream(ctx, pick(zero, &messages.PutObjectRequest{})))
		}),
		m("GetObject", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.GetObject(ctx, pick(zero, &messages.GetObjectRequest{}))
		}),
		m("GetObjectStream", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return drain(sy.GetObjectStream(ctx, pick(zero, &messages.GetObjectRequest{})))
		}),
		m("StatObject", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.StatObject(ctx, pick(zero, &messages.StatObjectRequest{}))
		}),
		m("ListObjects", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.ListObjects(ctx, pick(zero, &messages.ListObjectsRequest{}))
		}),
		m("DeleteObjects", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.DeleteObjects(ctx, pick(zero, &messages.DeleteObjectsRequest{}))
		}),
		m("CopyObject", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.CopyObject(ctx, pick(zero, &messages.CopyObjectRequest{}))
		}),
		m("Presign", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.Presign(ctx, pick(zero, &messages.PresignRequest{}))
		}),
		m("BucketExists", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.BucketExists(ctx, pick(zero, &messages.BucketExistsRequest{}))
		}),
		m("MakeBucket", func(ctx context.Context, sy *Switchyard, zero bool) (any, error) {
			return sy.MakeBucket(ctx, pick(zero, &messages.MakeBucketRequest{}))
		}),
	}
}

// pick returns the zero-value request, or a typed nil of its type.
func pick[T any](zero bool, z *T) *T {
	if zero {
		return z
	}
	return nil
}

// bounded runs call with a context bounded by callBound and fails the test
// if it panics or does not return within callBound + callGrace.
func bounded(t *testing.T, sy *Switchyard, call facadeCall) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callBound)
	defer cancel()
	type result struct {
		v     any
		err   error
		panic any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			r.panic = recover()
			done <- r
		}()
		r.v, r.err = call(ctx, sy)
	}()
	select {
	case r := <-done:
		require.Nil(t, r.panic, "the call panicked")
		return r.v, r.err
	case <-time.After(callBound + callGrace):
		require.FailNow(t, "the call hung past its context's deadline")
		return nil, nil
	}
}

// requireTyped fails unless err is one of Switchyard's typed errors (not
// ErrInternal, which would mean the runtime failed on the input).
func requireTyped(t *testing.T, err error) {
	t.Helper()
	var (
		re *messages.RequestError
		ue *messages.UpstreamError
		qf *messages.QueueFullError
		co *messages.CircuitOpenError
		rl *messages.RateLimitedError
		ce *ConfigError
	)
	typed := errors.As(err, &re) || errors.As(err, &ue) || errors.As(err, &qf) || errors.As(err, &co) || errors.As(err, &rl) || errors.As(err, &ce)
	require.True(t, typed, "want a typed error, got %T: %v", err, err)
	assert.NotErrorIs(t, err, ErrInternal, "bad input is the caller's error, not an internal one")
}

// badInputHarness is one instance with one OpenAI-compatible provider on a
// simulator, so a request that names no provider goes to it.
func badInputHarness(t *testing.T) (*harness, *sim.Server) {
	t.Helper()
	srv := sim.Start(sim.OpenAI())
	t.Cleanup(srv.Close)
	h := newHarness(t, Config{Providers: []ProviderConfig{{Name: "openai", Kind: "openai",
		Endpoints: []EndpointConfig{{Name: "primary", BaseURL: srv.URL + "/v1", Keys: []KeyConfig{{Label: "a", Secret: secretA}}}}}}}, false)
	return h, srv
}

// TestBadInputEveryFacadeMethod: every facade method, given a nil request
// (typed nil), a zero-value request or a nil context, returns a typed error
// or an answer; never a panic or a hang.
func TestBadInputEveryFacadeMethod(t *testing.T) {
	h, _ := badInputHarness(t)
	for _, m := range methods() {
		t.Run(m.name+"/nil request", func(t *testing.T) {
			_, err := bounded(t, h.sy, func(ctx context.Context, sy *Switchyard) (any, error) { return m.call(ctx, sy, false) })
			require.ErrorIs(t, err, ErrInvalidRequest)
			var re *RequestError
			require.ErrorAs(t, err, &re)
			assert.Contains(t, re.Detail, "nil request")
		})
		t.Run(m.name+"/zero value", func(t *testing.T) {
			_, err := bounded(t, h.sy, func(ctx context.Context, sy *Switchyard) (any, error) { return m.call(ctx, sy, true) })
			if err != nil {
				requireTyped(t, err)
			}
		})
		t.Run(m.name+"/nil context", func(t *testing.T) {
			_, err := bounded(t, h.sy, func(_ context.Context, sy *Switchyard) (any, error) { return m.call(nilContext(), sy, true) })
			require.ErrorIs(t, err, ErrInvalidRequest)
			assert.Contains(t, err.Error(), "nil context")
		})
	}
	t.Run("PresignGet with nothing", func(t *testing.T) {
		_, err := bounded(t, h.sy, func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.PresignGet(ctx, "", "", "", -time.Second)
		})
		requireTyped(t, err)
	})
	t.Run("nil call option", func(t *testing.T) {
		resp, err := bounded(t, h.sy, func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Chat(ctx, &messages.ChatRequest{Model: "gpt-4o-mini", Messages: []messages.Message{{Role: messages.RoleUser, Content: "hi"}}}, nil)
		})
		require.NoError(t, err)
		assert.NotEmpty(t, resp.(*messages.ChatResponse).Content)
	})
	for _, c := range []struct {
		name string
		call func(ctx context.Context, sy *Switchyard) error
	}{
		{"Tree", func(ctx context.Context, sy *Switchyard) error { _, err := sy.Tree(ctx); return err }},
		{"Stats", func(ctx context.Context, sy *Switchyard) error { _, err := sy.Stats(ctx); return err }},
		{"QueueStatus", func(ctx context.Context, sy *Switchyard) error { _, err := sy.QueueStatus(ctx); return err }},
		{"SetQueueCapacity", func(ctx context.Context, sy *Switchyard) error { return sy.SetQueueCapacity(ctx, High, 10) }},
	} {
		t.Run(c.name+"/nil context", func(t *testing.T) {
			_, err := bounded(t, h.sy, func(_ context.Context, sy *Switchyard) (any, error) { return nil, c.call(nilContext(), sy) })
			require.ErrorIs(t, err, ErrInvalidRequest)
		})
	}
	for _, c := range []struct {
		name string
		p    messages.Priority
		n    int
	}{{"invalid priority", messages.Priority(99), 10}, {"zero capacity", High, 0}, {"negative capacity", Low, -5}} {
		t.Run("SetQueueCapacity/"+c.name, func(t *testing.T) {
			_, err := bounded(t, h.sy, func(ctx context.Context, sy *Switchyard) (any, error) { return nil, sy.SetQueueCapacity(ctx, c.p, c.n) })
			var ce *ConfigError
			require.ErrorAs(t, err, &ce)
		})
	}
}

// nilContext hides a nil context from vet.
func nilContext() context.Context { return nil }

// TestBadInputHostileRequests: huge, malformed and absurd requests get a
// typed error, or are sent as given and answered.
func TestBadInputHostileRequests(t *testing.T) {
	h, srv := badInputHarness(t)
	nan, inf := math.NaN(), math.Inf(1)
	huge := strings.Repeat("a", 10<<20)
	badUTF8 := "caf\xc3\x28 \xff\xfe"
	tools := make([]messages.Tool, 10000)
	for i := range tools {
		tools[i] = messages.Tool{Name: fmt.Sprintf("tool_%d", i), Parameters: []byte(`{"type":"object"}`)}
	}
	chat := func(edit func(*messages.ChatRequest)) func() *messages.ChatRequest {
		return func() *messages.ChatRequest {
			r := &messages.ChatRequest{Model: "gpt-4o-mini", Messages: []messages.Message{{Role: messages.RoleUser, Content: "hi"}}}
			edit(r)
			return r
		}
	}
	cases := []struct {
		name string
		call facadeCall
		// faithful, when set, checks what the upstream received after a
		// successful send.
		faithful func(t *testing.T, body string)
	}{
		{name: "10 MB message", call: chatCall(chat(func(r *messages.ChatRequest) { r.Messages[0].Content = huge })),
			faithful: func(t *testing.T, body string) { assert.Contains(t, body, huge) }},
		{name: "10 MB message streamed", call: chatStreamCall(chat(func(r *messages.ChatRequest) { r.Messages[0].Content = huge }))},
		{name: "invalid UTF-8", call: chatCall(chat(func(r *messages.ChatRequest) { r.Messages[0].Content = badUTF8 }))},
		{name: "invalid UTF-8 in the system prompt", call: chatCall(chat(func(r *messages.ChatRequest) { r.System = badUTF8 }))},
		{name: "NaN temperature", call: chatCall(chat(func(r *messages.ChatRequest) { r.Temperature = &nan }))},
		{name: "+Inf top_p", call: chatCall(chat(func(r *messages.ChatRequest) { r.TopP = &inf }))},
		{name: "negative max tokens", call: chatCall(chat(func(r *messages.ChatRequest) { r.MaxTokens = -1 }))},
		{name: "10,000 tools", call: chatCall(chat(func(r *messages.ChatRequest) { r.Tools = tools }))},
		{name: "unencodable Extra", call: chatCall(chat(func(r *messages.ChatRequest) { r.Extra = map[string]any{"f": func() {}} }))},
		{name: "invalid priority", call: chatCall(chat(func(r *messages.ChatRequest) { r.Priority = messages.Priority(42) }))},
		{name: "deadline in the past", call: chatCall(chat(func(r *messages.ChatRequest) { r.Deadline = time.Unix(1, 0) }))},
		{name: "negative timeout", call: chatCall(chat(func(r *messages.ChatRequest) { r.Timeout = -time.Hour }))},
		{name: "unknown key pin", call: chatCall(chat(func(r *messages.ChatRequest) { r.Key = "nobody" }))},
		{name: "unknown provider", call: chatCall(chat(func(r *messages.ChatRequest) { r.Provider = "\x00nobody" }))},
		{name: "empty messages", call: chatCall(chat(func(r *messages.ChatRequest) { r.Messages = nil }))},
		{name: "nil message slice entry fields", call: chatCall(chat(func(r *messages.ChatRequest) { r.Messages = []messages.Message{{}} }))},
		{name: "Generate NaN temperature", call: func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Generate(ctx, &messages.GenerateRequest{Model: "gpt-3.5-turbo-instruct", Prompt: "hi", Temperature: &nan})
		}},
		{name: "Generate negative max tokens", call: func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Generate(ctx, &messages.GenerateRequest{Model: "gpt-3.5-turbo-instruct", Prompt: "hi", MaxTokens: -7})
		}},
		{name: "Embed 10 MB input", call: func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Embed(ctx, &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{huge}})
		}},
		{name: "Embed invalid UTF-8", call: func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Embed(ctx, &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{badUTF8}})
		}},
		{name: "Embed negative dimensions", call: func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Embed(ctx, &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"x"}, Dimensions: -3})
		}},
		{name: "Responses NaN temperature", call: func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Responses(ctx, &messages.ResponsesRequest{Model: "gpt-4o-mini", Input: []messages.Message{{Role: messages.RoleUser, Content: "hi"}}, Temperature: &nan})
		}},
		{name: "Responses negative max output tokens", call: func(ctx context.Context, sy *Switchyard) (any, error) {
			return sy.Responses(ctx, &messages.ResponsesRequest{Model: "gpt-4o-mini", Input: []messages.Message{{Role: messages.RoleUser, Content: "hi"}}, MaxOutputTokens: -1})
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(srv.Requests())
			resp, err := bounded(t, h.sy, c.call)
			if err != nil {
				requireTyped(t, err)
				return
			}
			require.NotNil(t, resp, "no error, so an answer")
			if c.faithful != nil {
				reqs := srv.Requests()
				require.Greater(t, len(reqs), before, "the upstream saw the request")
				c.faithful(t, string(reqs[len(reqs)-1].Body))
			}
		})
	}
}

func chatCall(mk func() *messages.ChatRequest) facadeCall {
	return func(ctx context.Context, sy *Switchyard) (any, error) { return sy.Chat(ctx, mk()) }
}

func chatStreamCall(mk func() *messages.ChatRequest) facadeCall {
	return func(ctx context.Context, sy *Switchyard) (any, error) { return drain(sy.ChatStream(ctx, mk())) }
}

// TestFacadeNeverWritesTheCallersRequest: the runtime works on its own copy:
// the caller's request keeps its fields, may be reused at once and from
// several goroutines, and may be changed while its stream runs (the race
// detector checks that the runtime does not read it meanwhile).
func TestFacadeNeverWritesTheCallersRequest(t *testing.T) {
	h, _ := badInputHarness(t)
	req := &messages.ChatRequest{Model: "gpt-4o-mini", Stream: true, Messages: []messages.Message{{Role: messages.RoleUser, Content: "reuse me"}}}

	resp, err := h.sy.Chat(t.Context(), req, WithPriority(High), WithRequestID("first-call"))
	require.NoError(t, err)
	assert.Equal(t, "first-call", resp.RequestID, "the caller learns the ID from the answer")
	assert.Empty(t, req.RequestID, "Chat wrote the request ID into the caller's struct")
	assert.Empty(t, req.Provider, "the default provider was written into the caller's struct")
	assert.Equal(t, messages.Normal, req.Priority, "a call option was written into the caller's struct")
	assert.True(t, req.Stream, "Chat changed the caller's Stream flag")

	// Reused by many goroutines at once: each call is its own request.
	const n = 8
	ids := make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			r, err := h.sy.Chat(t.Context(), req)
			if assert.NoError(t, err) {
				ids <- r.RequestID
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		assert.False(t, seen[id], "request ID %s answered twice", id)
		seen[id] = true
	}
	assert.Len(t, seen, n)

	// Changed while its stream runs.
	sreq := &messages.ChatRequest{Model: "gpt-4o-mini", Messages: []messages.Message{{Role: messages.RoleUser, Content: "stream me"}}}
	st, err := h.sy.ChatStream(t.Context(), sreq)
	require.NoError(t, err)
	sreq.Model, sreq.Stream, sreq.RequestID, sreq.Provider = "changed", false, "changed", "changed"
	sreq.Messages = nil
	for st.Next() {
	}
	require.NoError(t, st.Err())
	assert.NotEqual(t, "changed", st.RequestID())
	assert.Equal(t, st.RequestID(), st.Response().(*messages.ChatResponse).RequestID)
}

// TestDefaultProvider: with one provider a request that names none goes to
// it; with several the error lists them and says how to choose.
func TestDefaultProvider(t *testing.T) {
	a := startAnthropic(t)
	b := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("alpha", a), anthropicProvider("bravo", b)}}, false)
	req := &messages.ChatRequest{Model: "claude-test", MaxTokens: 16, Messages: []messages.Message{{Role: messages.RoleUser, Content: "who?"}}}
	_, err := h.sy.Chat(t.Context(), req)
	require.ErrorIs(t, err, ErrUnknownProvider)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.NotEmpty(t, re.RequestID)
	for _, want := range []string{`"alpha"`, `"bravo"`, "WithProvider"} {
		assert.Contains(t, err.Error(), want)
	}
	resp, err := h.sy.Chat(t.Context(), req, WithProvider("bravo"))
	require.NoError(t, err)
	assert.Equal(t, "bravo", resp.Provider)

	one := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("only", a)}}, false)
	resp, err = one.sy.Chat(t.Context(), req)
	require.NoError(t, err)
	assert.Equal(t, "only", resp.Provider)
}

// TestSnapshotsAfterClose: after Close every snapshot and control method
// says ErrShuttingDown, not a protoactor dead letter.
func TestSnapshotsAfterClose(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			srv := sim.Start(sim.OpenAI())
			t.Cleanup(srv.Close)
			cfg := Config{Providers: []ProviderConfig{{Name: "openai", Kind: "openai",
				Endpoints: []EndpointConfig{{BaseURL: srv.URL + "/v1", Keys: []KeyConfig{{Secret: secretA}}}}}},
				Cache: CacheConfig{Enabled: cache}}
			sy, err := New(cfg)
			require.NoError(t, err)
			require.NoError(t, sy.Close(t.Context()))
			ctx := t.Context()
			_, err = sy.Tree(ctx)
			assertShuttingDown(t, err, "Tree")
			_, err = sy.Stats(ctx)
			assertShuttingDown(t, err, "Stats")
			_, err = sy.QueueStatus(ctx)
			assertShuttingDown(t, err, "QueueStatus")
			assertShuttingDown(t, sy.SetQueueCapacity(ctx, High, 5), "SetQueueCapacity")
			_, err = sy.CacheStatus(ctx)
			if cache {
				assertShuttingDown(t, err, "CacheStatus")
			} else {
				require.ErrorIs(t, err, ErrUnsupported, "CacheStatus with the cache off")
			}
			_, err = sy.Chat(ctx, &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: messages.RoleUser, Content: "late"}}})
			assertShuttingDown(t, err, "Chat")
		})
	}
}

func assertShuttingDown(t *testing.T, err error, what string) {
	t.Helper()
	require.ErrorIs(t, err, ErrShuttingDown, what)
	var re *RequestError
	require.ErrorAs(t, err, &re, what)
	assert.NotContains(t, err.Error(), "dead letter", what)
}

// TestCacheStatusWithTheCacheOff is a typed error.
func TestCacheStatusWithTheCacheOff(t *testing.T) {
	h, _ := badInputHarness(t)
	_, err := h.sy.CacheStatus(t.Context())
	require.ErrorIs(t, err, ErrUnsupported)
	var re *RequestError
	require.ErrorAs(t, err, &re)
	assert.Nil(t, h.sy.Cache(), "Cache() is nil with the cache off")
	assert.NotNil(t, h.sy.FrontDoor(), "FrontDoor() is always valid")
}

// TestSnapshotTimeoutOnTheRuntimeClock: a snapshot waits until the
// context's deadline measured on the runtime's clock.
func TestSnapshotTimeoutOnTheRuntimeClock(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("claude", srv)}}, true)
	ctx, cancel := clock.WithTimeout(h.clk, t.Context(), 3*time.Second)
	defer cancel()
	assert.Equal(t, 3*time.Second, h.sy.timeoutOf(ctx))
	assert.Equal(t, snapshotTimeout, h.sy.timeoutOf(t.Context()))
	_, err := h.sy.Tree(ctx)
	require.NoError(t, err)
}

// frontDoorUser is an actor of the host that sends one message to the
// front door, with ctx.Request (withSender) or ctx.Send, and passes on
// what it gets back.
type frontDoorUser struct {
	door       *actor.PID
	msg        any
	withSender bool
	got        chan any
}

func (a *frontDoorUser) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		if a.withSender {
			ctx.Request(a.door, a.msg)
		} else {
			ctx.Send(a.door, a.msg)
		}
	case *messages.StreamChunk:
	case *messages.Failure, messages.Response:
		a.got <- m
	}
}

func askFrontDoor(t *testing.T, sy *Switchyard, msg any, withSender bool) chan any {
	t.Helper()
	got := make(chan any, 1)
	root := sy.ActorSystem().Root
	pid := root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &frontDoorUser{door: sy.FrontDoor(), msg: msg, withSender: withSender, got: got}
	}))
	t.Cleanup(func() { _ = root.StopFuture(pid).Wait() })
	return got
}

func answerOf(t *testing.T, got chan any) any {
	t.Helper()
	select {
	case a := <-got:
		return a
	case <-time.After(10 * time.Second):
		require.FailNow(t, "no answer from the front door")
		return nil
	}
}

// TestFrontDoor: actors reach the runtime through one PID with or without
// the cache; an unanswerable request is dropped loudly; a nil request is
// refused; the sender's request is not written to.
func TestFrontDoor(t *testing.T) {
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			srv := startAnthropic(t)
			h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("claude", srv)}, Cache: CacheConfig{Enabled: cache}}, false)
			require.NotNil(t, h.sy.FrontDoor())

			zero := 0.0
			req := &messages.ChatRequest{Model: "claude-test", MaxTokens: 16, Temperature: &zero,
				Messages: []messages.Message{{Role: messages.RoleUser, Content: "via the front door"}}}
			for i := range 2 {
				a := answerOf(t, askFrontDoor(t, h.sy, req, true))
				resp, ok := a.(*messages.ChatResponse)
				require.True(t, ok, "got %#v", a)
				assert.Equal(t, "claude", resp.Provider, "the only provider is the default")
				assert.Equal(t, cache && i == 1, resp.Cached, "the second identical request is a cache hit when the cache is on")
			}
			assert.Empty(t, req.RequestID, "the front door wrote into the sender's request")
			assert.Empty(t, req.Provider, "the front door wrote into the sender's request")

			a := answerOf(t, askFrontDoor(t, h.sy, (*messages.ChatRequest)(nil), true))
			f, ok := a.(*messages.Failure)
			require.True(t, ok, "got %#v", a)
			require.ErrorIs(t, f.Err, ErrInvalidRequest)

			dropped := func(id string) func() bool {
				return func() bool {
					return len(h.eventsOf(func(e messages.Event) bool {
						d, ok := e.(*messages.RequestDropped)
						return ok && d.RequestID == id
					})) > 0
				}
			}
			// ctx.Send from an actor: no reply address.
			noReply := &messages.ChatRequest{Call: messages.Call{RequestID: "no-reply-actor"}, Model: "claude-test", MaxTokens: 16,
				Messages: []messages.Message{{Role: messages.RoleUser, Content: "nobody listens"}}}
			askFrontDoor(t, h.sy, noReply, false)
			eventually(t, "a RequestDropped event", dropped("no-reply-actor"))
			// Send from outside any actor.
			outside := *noReply
			outside.RequestID = "no-reply-root"
			h.sy.ActorSystem().Root.Send(h.sy.FrontDoor(), &outside)
			eventually(t, "a RequestDropped event", dropped("no-reply-root"))
			// Straight to the dispatcher (or the cache, which passes it on):
			// dropped loudly too.
			direct := *noReply
			direct.RequestID = "no-reply-dispatcher"
			h.sy.ActorSystem().Root.Send(h.sy.Dispatcher(), &direct)
			eventually(t, "a RequestDropped event", dropped("no-reply-dispatcher"))
			logs := h.logs.String()
			assert.Contains(t, logs, "level=WARN msg=\"request dropped\" request_id=no-reply-actor")
			assert.Contains(t, logs, "request_id=no-reply-root")
			assert.Contains(t, logs, "ctx.Request")
		})
	}
}

// TestFrontDoorListsProvidersForActors: an actor's request without a
// provider, with several configured, is answered with the names.
func TestFrontDoorListsProvidersForActors(t *testing.T) {
	a, b := startAnthropic(t), startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("alpha", a), anthropicProvider("bravo", b)}}, false)
	ans := answerOf(t, askFrontDoor(t, h.sy, &messages.ChatRequest{Model: "claude-test", MaxTokens: 16,
		Messages: []messages.Message{{Role: messages.RoleUser, Content: "x"}}}, true))
	f, ok := ans.(*messages.Failure)
	require.True(t, ok, "got %#v", ans)
	require.ErrorIs(t, f.Err, ErrUnknownProvider)
	assert.Contains(t, f.Err.Error(), `"alpha", "bravo"`)
}
