package switchyard

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

func startOpenAI(t *testing.T, opts ...sim.Option) *sim.Server {
	t.Helper()
	s := sim.Start(sim.OpenAI(), opts...)
	t.Cleanup(s.Close)
	return s
}

func openaiProvider(name string, srv *sim.Server, keys ...KeyConfig) ProviderConfig {
	if len(keys) == 0 {
		keys = []KeyConfig{{Label: "a", Secret: secretA}}
	}
	return ProviderConfig{Name: name, Kind: "openai", Endpoints: []EndpointConfig{{Name: "primary", BaseURL: srv.URL + "/v1", Keys: keys}}}
}

func openaiChat(text string) *messages.ChatRequest {
	return &messages.ChatRequest{Call: messages.Call{Provider: "openai"}, Model: "gpt-test",
		Messages: []messages.Message{{Role: messages.RoleUser, Content: text}}}
}

func collect(t *testing.T, st *Stream) (text string, chunks []*messages.StreamChunk) {
	t.Helper()
	var b strings.Builder
	for st.Next() {
		c := st.Chunk()
		chunks = append(chunks, c)
		b.WriteString(c.Text)
	}
	return b.String(), chunks
}

func TestStreamsArriveInOrderWithUsage(t *testing.T) {
	oa, an := startOpenAI(t), startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa), anthropicProvider("anthropic", an)}}, false)
	for _, c := range []struct {
		name string
		req  *messages.ChatRequest
	}{
		{"openai", openaiChat("tell me a story about seven small foxes")},
		{"anthropic", chatReq("anthropic", "tell me a story about seven small foxes")},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := h.sy.ChatStream(context.Background(), c.req)
			if err != nil {
				t.Fatal(err)
			}
			text, chunks := collect(t, st)
			if st.Err() != nil {
				t.Fatalf("stream error: %v", st.Err())
			}
			resp := st.Response().(*messages.ChatResponse)
			if len(chunks) < 3 || text == "" || text != resp.Content {
				t.Fatalf("%d chunks %q, final %q", len(chunks), text, resp.Content)
			}
			for i, ch := range chunks {
				if ch.Seq != i || ch.RequestID != resp.RequestID {
					t.Fatalf("chunk %d has seq %d id %q", i, ch.Seq, ch.RequestID)
				}
			}
			if resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 {
				t.Fatalf("no usage: %+v", resp.Usage)
			}
		})
	}
}

func TestStreamCutIsAnError(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}, Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond}}, false)
	oa.Inject(sim.Fault{CutAfter: 3})
	st, err := h.sy.ChatStream(context.Background(), openaiChat("a fairly long answer please with many words in it"))
	if err != nil {
		t.Fatal(err)
	}
	_, chunks := collect(t, st)
	var ue *messages.UpstreamError
	if !errors.As(st.Err(), &ue) || ue.Class != messages.ClassStreamCut {
		t.Fatalf("want a stream-cut error, got %v", st.Err())
	}
	if len(chunks) == 0 || oa.Calls() != 1 {
		t.Fatalf("chunks %d, calls %d: a stream that reached the caller must not be retried", len(chunks), oa.Calls())
	}
}

func TestStreamCutBeforeFirstChunkIsRetried(t *testing.T) {
	an := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("anthropic", an)}, Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond}}, false)
	an.Inject(sim.Fault{CutAfter: 1}) // message_start only: no chunk reached the caller
	st, err := h.sy.ChatStream(context.Background(), chatReq("anthropic", "hello there"))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := collect(t, st)
	if st.Err() != nil || text == "" || an.Calls() != 2 {
		t.Fatalf("err %v text %q calls %d: want a clean retry", st.Err(), text, an.Calls())
	}
}

func TestStalledStreamHitsIdleTimeout(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)},
		Timeouts: TimeoutsConfig{StreamIdle: 150 * time.Millisecond}, Retry: RetryConfig{MaxAttempts: 1}}, false)
	oa.Inject(sim.Fault{StallAfter: 2})
	st, err := h.sy.ChatStream(context.Background(), openaiChat("a long answer please with many words"))
	if err != nil {
		t.Fatal(err)
	}
	collect(t, st)
	var ue *messages.UpstreamError
	if !errors.As(st.Err(), &ue) || ue.Class != messages.ClassTimeout {
		t.Fatalf("want an idle timeout, got %v", st.Err())
	}
}

func TestSlowHeadersHitHeaderTimeout(t *testing.T) {
	an := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("anthropic", an)},
		Timeouts: TimeoutsConfig{Header: 100 * time.Millisecond}, Retry: RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond}}, false)
	an.Inject(sim.Fault{HeaderDelay: time.Second})
	resp, err := h.sy.Chat(context.Background(), chatReq("anthropic", "hi"))
	if err != nil || resp.Attempts != 2 {
		t.Fatalf("want success on the second attempt after a header timeout, got %v %+v", err, resp)
	}
}

func TestStreamCloseCancelsUpstream(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
	oa.Inject(sim.Fault{ChunkDelay: 50 * time.Millisecond})
	st, err := h.sy.ChatStream(context.Background(), openaiChat("a long answer please with many many words in it"))
	if err != nil {
		t.Fatal(err)
	}
	if !st.Next() {
		t.Fatalf("no first chunk: %v", st.Err())
	}
	st.Close()
	if !errors.Is(st.Err(), context.Canceled) {
		t.Fatalf("closed stream error %v", st.Err())
	}
	eventually(t, "the call to end", func() bool {
		q, _ := h.sy.QueueStatus(context.Background())
		return q.InFlight == 0 && h.tree().Providers[0].Counters.InFlight == 0
	})
}

func TestResponsesAPIStream(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
	req := &messages.ResponsesRequest{Call: messages.Call{Provider: "openai"}, Model: "gpt-test",
		Input: []messages.Message{{Role: messages.RoleUser, Content: "say something nice"}}}
	st, err := h.sy.ResponsesStream(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	text, _ := collect(t, st)
	resp, ok := st.Response().(*messages.ResponsesResponse)
	if st.Err() != nil || !ok || resp.OutputText != text || text == "" || resp.Usage.OutputTokens == 0 {
		t.Fatalf("err %v, text %q, resp %+v", st.Err(), text, resp)
	}
	plain, err := h.sy.Responses(context.Background(), &messages.ResponsesRequest{Call: messages.Call{Provider: "openai"}, Model: "gpt-test",
		Input: []messages.Message{{Role: messages.RoleUser, Content: "again"}}})
	if err != nil || plain.OutputText == "" || plain.Status != "completed" {
		t.Fatalf("plain responses: %v %+v", err, plain)
	}
}

func TestEmbedAndCountTokens(t *testing.T) {
	oa, an := startOpenAI(t), startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa), anthropicProvider("anthropic", an)}}, false)
	e, err := h.sy.Embed(context.Background(), &messages.EmbedRequest{Call: messages.Call{Provider: "openai"}, Model: "text-embedding-test", Inputs: []string{"one", "two", "three"}})
	if err != nil || len(e.Vectors) != 3 || len(e.Vectors[0]) == 0 {
		t.Fatalf("embed: %v %+v", err, e)
	}
	c, err := h.sy.CountTokens(context.Background(), &messages.CountTokensRequest{Call: messages.Call{Provider: "anthropic"}, Chat: *chatReq("anthropic", "count me please")})
	if err != nil || c.InputTokens == 0 {
		t.Fatalf("count tokens: %v %+v", err, c)
	}
	if _, err := h.sy.Embed(context.Background(), &messages.EmbedRequest{Call: messages.Call{Provider: "anthropic"}, Model: "x", Inputs: []string{"a"}}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("embeddings on anthropic: %v", err)
	}
	if _, err := h.sy.Chat(context.Background(), chatReq("nope", "x")); !errors.Is(err, ErrUnknownProvider) {
		t.Fatalf("unknown provider: %v", err)
	}
}
