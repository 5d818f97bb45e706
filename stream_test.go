package switchyard

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
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
			require.NoError(t, err)
			text, chunks := collect(t, st)
			require.NoError(t, st.Err(), "stream error")
			resp := st.Response().(*messages.ChatResponse)
			require.GreaterOrEqual(t, len(chunks), 3, "%d chunks %q, final %q", len(chunks), text, resp.Content)
			require.NotEqual(t, "", text, "%d chunks %q, final %q", len(chunks), text, resp.Content)
			require.Equal(t, resp.Content, text, "%d chunks %q, final %q", len(chunks), text, resp.Content)
			for i, ch := range chunks {
				require.Equal(t, i, ch.Seq, "chunk %d has seq %d id %q", i, ch.Seq, ch.RequestID)
				require.Equal(t, resp.RequestID, ch.RequestID, "chunk %d has seq %d id %q", i, ch.Seq, ch.RequestID)
			}
			require.NotEqual(t, 0, resp.Usage.InputTokens, "no usage: %+v", resp.Usage)
			require.NotEqual(t, 0, resp.Usage.OutputTokens, "no usage: %+v", resp.Usage)
		})
	}
}

func TestStreamCutIsAnError(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}, Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond}}, false)
	oa.Inject(sim.Fault{CutAfter: 3})
	st, err := h.sy.ChatStream(context.Background(), openaiChat("a fairly long answer please with many words in it"))
	require.NoError(t, err)
	_, chunks := collect(t, st)
	var ue *messages.UpstreamError
	require.ErrorAs(t, st.Err(), &ue, "want a stream-cut error")
	require.Equal(t, messages.ClassStreamCut, ue.Class, "want a stream-cut error")
	require.NotEqual(t, 0, len(chunks), "chunks %d, calls %d: a stream that reached the caller must not be retried", len(chunks), oa.Calls())
	require.Equal(t, 1, oa.Calls(), "chunks %d, calls %d: a stream that reached the caller must not be retried", len(chunks), oa.Calls())
}

func TestStreamCutBeforeFirstChunkIsRetried(t *testing.T) {
	an := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("anthropic", an)}, Retry: RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond}}, false)
	an.Inject(sim.Fault{CutAfter: 1}) // message_start only: no chunk reached the caller
	st, err := h.sy.ChatStream(context.Background(), chatReq("anthropic", "hello there"))
	require.NoError(t, err)
	text, _ := collect(t, st)
	require.NoError(t, st.Err(), "err %v text %q calls %d: want a clean retry", st.Err(), text, an.Calls())
	require.NotEqual(t, "", text, "err %v text %q calls %d: want a clean retry", st.Err(), text, an.Calls())
	require.Equal(t, 2, an.Calls(), "err %v text %q calls %d: want a clean retry", st.Err(), text, an.Calls())
}

func TestStalledStreamHitsIdleTimeout(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)},
		Timeouts: TimeoutsConfig{StreamIdle: 150 * time.Millisecond}, Retry: RetryConfig{MaxAttempts: 1}}, false)
	oa.Inject(sim.Fault{StallAfter: 2})
	st, err := h.sy.ChatStream(context.Background(), openaiChat("a long answer please with many words"))
	require.NoError(t, err)
	collect(t, st)
	var ue *messages.UpstreamError
	require.ErrorAs(t, st.Err(), &ue, "want an idle timeout")
	require.Equal(t, messages.ClassTimeout, ue.Class, "want an idle timeout")
}

func TestSlowHeadersHitHeaderTimeout(t *testing.T) {
	an := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("anthropic", an)},
		Timeouts: TimeoutsConfig{Header: 100 * time.Millisecond}, Retry: RetryConfig{MaxAttempts: 2, BaseDelay: time.Millisecond}}, false)
	an.Inject(sim.Fault{HeaderDelay: time.Second})
	resp, err := h.sy.Chat(context.Background(), chatReq("anthropic", "hi"))
	require.NoError(t, err, "want success on the second attempt after a header timeout, got %v %+v", err, resp)
	require.Equal(t, 2, resp.Attempts, "want success on the second attempt after a header timeout, got %v %+v", err, resp)
}

func TestStreamCloseCancelsUpstream(t *testing.T) {
	oa := startOpenAI(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa)}}, false)
	oa.Inject(sim.Fault{ChunkDelay: 50 * time.Millisecond})
	st, err := h.sy.ChatStream(context.Background(), openaiChat("a long answer please with many many words in it"))
	require.NoError(t, err)
	require.True(t, st.Next(), "no first chunk: %v", st.Err())
	st.Close()
	require.ErrorIs(t, st.Err(), context.Canceled, "closed stream error")
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
	require.NoError(t, err)
	text, _ := collect(t, st)
	resp, ok := st.Response().(*messages.ResponsesResponse)
	require.NoError(t, st.Err(), "err %v, text %q, resp %+v", st.Err(), text, resp)
	require.True(t, ok, "err %v, text %q, resp %+v", st.Err(), text, resp)
	require.Equal(t, text, resp.OutputText, "err %v, text %q, resp %+v", st.Err(), text, resp)
	require.NotEqual(t, "", text, "err %v, text %q, resp %+v", st.Err(), text, resp)
	require.NotEqual(t, 0, resp.Usage.OutputTokens, "err %v, text %q, resp %+v", st.Err(), text, resp)
	plain, err := h.sy.Responses(context.Background(), &messages.ResponsesRequest{Call: messages.Call{Provider: "openai"}, Model: "gpt-test",
		Input: []messages.Message{{Role: messages.RoleUser, Content: "again"}}})
	require.NoError(t, err, "plain responses: %v %+v", err, plain)
	require.NotEqual(t, "", plain.OutputText, "plain responses: %v %+v", err, plain)
	require.Equal(t, "completed", plain.Status, "plain responses: %v %+v", err, plain)
}

func TestEmbedAndCountTokens(t *testing.T) {
	oa, an := startOpenAI(t), startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{openaiProvider("openai", oa), anthropicProvider("anthropic", an)}}, false)
	e, err := h.sy.Embed(context.Background(), &messages.EmbedRequest{Call: messages.Call{Provider: "openai"}, Model: "text-embedding-test", Inputs: []string{"one", "two", "three"}})
	require.NoError(t, err, "embed: %v %+v", err, e)
	require.Len(t, e.Vectors, 3, "embed: %v %+v", err, e)
	require.NotEqual(t, 0, len(e.Vectors[0]), "embed: %v %+v", err, e)
	c, err := h.sy.CountTokens(context.Background(), &messages.CountTokensRequest{Call: messages.Call{Provider: "anthropic"}, Chat: *chatReq("anthropic", "count me please")})
	require.NoError(t, err, "count tokens: %v %+v", err, c)
	require.NotEqual(t, 0, c.InputTokens, "count tokens: %v %+v", err, c)
	_, err = h.sy.Embed(context.Background(), &messages.EmbedRequest{Call: messages.Call{Provider: "anthropic"}, Model: "x", Inputs: []string{"a"}})
	require.ErrorIs(t, err, ErrUnsupported, "embeddings on anthropic")
	_, err = h.sy.Chat(context.Background(), chatReq("nope", "x"))
	require.ErrorIs(t, err, ErrUnknownProvider, "unknown provider")
}
