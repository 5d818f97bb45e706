package vertexanthropic

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/providers/vertex"
	"github.com/switchyard-ai/switchyard/sim"
)

const (
	project  = "sim-project"
	location = "us-east5"
	model    = "claude-sonnet-4@20250514"
	account  = "switchyard@sim-project.iam.gserviceaccount.com"
	base     = "/v1/projects/" + project + "/locations/" + location
)

// env is a token endpoint and a Claude on Vertex simulator.
type env struct {
	g   *sim.GoogleOAuth
	s   *sim.Server
	b   *sim.VertexAnthropicBackend
	key providers.Credential
	// auth is key's TokenAuth, over a service account's token source.
	auth *providers.TokenAuth
	// tokens collects every token issued, as the runtime's redactor would.
	tokens *tokenLog
}

type tokenLog struct{ v atomic.Value }

func (l *tokenLog) add(tok string) {
	old, _ := l.v.Load().([]string)
	l.v.Store(append(append([]string(nil), old...), tok))
}

func (l *tokenLog) all() []string { v, _ := l.v.Load().([]string); return v }

func start(t *testing.T, b *sim.VertexAnthropicBackend) env {
	t.Helper()
	g := sim.StartGoogleOAuth(sim.GoogleOAuthOptions{})
	t.Cleanup(g.Close)
	if b == nil {
		b = sim.VertexAnthropic(nil)
	}
	b.Auth = g
	s := providertest.StartSim(t, b)
	src, err := vertex.GoogleTokenSource(context.Background(), vertex.GoogleCredentials{JSON: g.ServiceAccount(account)})
	require.NoError(t, err)
	tokens := &tokenLog{}
	auth := providers.NewTokenAuth(src, providers.TokenAuthOptions{OnToken: tokens.add})
	return env{g: g, s: s, b: b, key: providers.NewAuthCredential("sa", auth), auth: auth, tokens: tokens}
}

func (e env) call(req messages.Request) *providers.Call {
	c := providertest.NewCall("claude-gcp", e.s.URL+base, "", req)
	c.Key = e.key
	return c
}

// run is one Do; no error may show a token issued.
func (e env) run(t *testing.T, call *providers.Call) *providertest.Run {
	t.Helper()
	r := providertest.DoRun(t, New(), call, "ya29.")
	if r.Err != nil {
		for _, tok := range e.tokens.all() {
			assert.NotContains(t, r.Err.Error(), tok)
		}
	}
	return r
}

func user(text string) messages.Message {
	return messages.Message{Role: messages.RoleUser, Content: text}
}

func chat(text string) *messages.ChatRequest {
	return &messages.ChatRequest{Model: model, Messages: []messages.Message{user(text)}}
}

var weatherTool = messages.Tool{Name: "get_weather", Description: "Get weather",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func bodyOf(t *testing.T, rec sim.Record) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(rec.Body, &m))
	return m
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestChat: a chat goes to :rawPredict with the body Anthropic's Vertex
// SDK sends (anthropic_version, no model) and a service account's token,
// and maps the answer.
func TestChat(t *testing.T) {
	e := start(t, nil)
	req := chat("Hello there")
	req.System, req.MaxTokens = "Be brief.", 64
	r := e.run(t, e.call(req))
	resp := r.Chat(t)
	assert.Equal(t, "You said: Hello there", resp.Content)
	assert.Equal(t, messages.FinishStop, resp.FinishReason)
	assert.Equal(t, model, resp.Model)
	in, out := e.s.Usage()
	assert.Equal(t, messages.Usage{InputTokens: in, OutputTokens: out}, resp.Usage)
	require.Equal(t, 0, e.s.InvalidCalls())

	rec := e.s.Requests()[0]
	assert.Equal(t, base+"/publishers/anthropic/models/"+model+":rawPredict", rec.Path)
	assert.Equal(t, account, rec.Key)
	assert.True(t, strings.HasPrefix(rec.Header.Get("Authorization"), "Bearer ya29."), "Authorization %q", rec.Header.Get("Authorization"))
	assert.Empty(t, rec.Header.Get("X-Api-Key"))
	body := bodyOf(t, rec)
	assert.ElementsMatch(t, []string{"anthropic_version", "max_tokens", "messages", "system"}, keys(body))
	assert.Equal(t, Version, body["anthropic_version"])
	assert.Equal(t, 1, e.g.Issued())
}

// TestStream: a streamed chat goes to :streamRawPredict with "stream":
// true kept, as the SDK sends it, and reads the server-sent events in
// order with the usage last.
func TestStream(t *testing.T) {
	tests := []struct {
		name    string
		req     *messages.ChatRequest
		content string
		finish  string
		args    string
	}{
		{name: "text", req: chat("please stream this answer"), content: "You said: please stream this answer", finish: messages.FinishStop},
		{name: "tool call", req: &messages.ChatRequest{Model: model, Messages: []messages.Message{user("What is the weather in Oslo?")}, Tools: []messages.Tool{weatherTool}},
			content: "I'll use the get_weather tool.", finish: messages.FinishToolCalls, args: `{"city":"Oslo"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, nil)
			tt.req.Stream = true
			r := e.run(t, e.call(tt.req))
			resp := r.Chat(t)
			providertest.CheckChatChunks(t, r.Chunks, r.Call.RequestID, resp)
			assert.Equal(t, tt.content, resp.Content)
			assert.Equal(t, tt.finish, resp.FinishReason)
			if tt.args != "" {
				require.Len(t, resp.ToolCalls, 1)
				assert.JSONEq(t, tt.args, string(resp.ToolCalls[0].Arguments))
			}
			in, out := e.s.Usage()
			assert.Equal(t, messages.Usage{InputTokens: in, OutputTokens: out}, resp.Usage)
			assert.NotZero(t, in)
			rec := e.s.Requests()[0]
			assert.Equal(t, base+"/publishers/anthropic/models/"+model+":streamRawPredict", rec.Path)
			body := bodyOf(t, rec)
			assert.Equal(t, true, body["stream"])
			assert.NotContains(t, body, "model")
		})
	}
}

// TestToolRoundTrip: a tool call answered with its result gets the final
// answer.
func TestToolRoundTrip(t *testing.T) {
	e := start(t, nil)
	conv := []messages.Message{user("What's the weather in Paris?")}
	first := e.run(t, e.call(&messages.ChatRequest{Model: model, Messages: conv, Tools: []messages.Tool{weatherTool}})).Chat(t)
	require.Len(t, first.ToolCalls, 1)
	conv = append(conv, messages.Message{Role: messages.RoleAssistant, Content: first.Content, ToolCalls: first.ToolCalls},
		messages.Message{Role: messages.RoleTool, ToolCallID: first.ToolCalls[0].ID, Content: "18 degrees"})
	second := e.run(t, e.call(&messages.ChatRequest{Model: model, Messages: conv, Tools: []messages.Tool{weatherTool}})).Chat(t)
	assert.Equal(t, "The tool returned: 18 degrees", second.Content)
	assert.Equal(t, 0, e.s.InvalidCalls())
}

// TestCountTokens: count_tokens goes to count-tokens:rawPredict with the
// model in the body, as the SDK sends it.
func TestCountTokens(t *testing.T) {
	e := start(t, nil)
	c := *chat("How many tokens is this?")
	c.System, c.Tools, c.MaxTokens, c.Temperature = "You are terse.", []messages.Tool{weatherTool}, 64, ptr(0.5)
	r := e.run(t, e.call(&messages.CountTokensRequest{Chat: c}))
	require.NoError(t, r.Err)
	ct := r.Resp.(*messages.CountTokensResponse)
	rec := e.s.Requests()[0]
	assert.Equal(t, base+PathCountTokens, rec.Path)
	body := bodyOf(t, rec)
	assert.ElementsMatch(t, []string{"anthropic_version", "model", "messages", "system", "tools"}, keys(body))
	assert.Equal(t, model, body["model"])
	resp := e.run(t, e.call(&c)).Chat(t)
	assert.Equal(t, resp.Usage.InputTokens, ct.InputTokens)
	assert.NotZero(t, ct.InputTokens)
}

func ptr(f float64) *float64 { return &f }

// TestErrors: Vertex AI's google.rpc errors and the Anthropic errors it
// passes on are both classed.
func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		backend   *sim.VertexAnthropicBackend
		fault     *sim.Fault
		req       *messages.ChatRequest
		status    int
		class     messages.ErrorClass
		typ       string
		msg       string
		retryable bool
	}{
		{name: "quota", fault: &sim.Fault{Status: 429}, status: 429, class: messages.ClassRateLimited, typ: "RESOURCE_EXHAUSTED", msg: "Resource exhausted", retryable: true},
		{name: "unavailable", fault: &sim.Fault{Status: 503}, status: 503, class: messages.ClassServer, typ: "UNAVAILABLE", retryable: true},
		{name: "internal", fault: &sim.Fault{Status: 500}, status: 500, class: messages.ClassServer, typ: "INTERNAL", retryable: true},
		{name: "Anthropic overloaded passed on", fault: &sim.Fault{Status: 529, Body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
			status: 529, class: messages.ClassServer, typ: "overloaded_error", msg: "Overloaded", retryable: true},
		{name: "Anthropic refusal", req: &messages.ChatRequest{Model: model, Messages: []messages.Message{user("x")}, Temperature: ptr(1.5)},
			status: 400, class: messages.ClassInvalid, typ: "invalid_request_error", msg: "temperature: Input should be less than or equal to 1"},
		{name: "another project", backend: &sim.VertexAnthropicBackend{Project: "other-project"},
			status: 403, class: messages.ClassAuth, typ: "PERMISSION_DENIED", msg: "aiplatform.endpoints.predict"},
		{name: "malformed model name", req: &messages.ChatRequest{Model: "claude x", Messages: []messages.Message{user("x")}},
			status: 400, class: messages.ClassInvalid, typ: "INVALID_ARGUMENT"},
		{name: "no such model", req: &messages.ChatRequest{Model: "claude/x", Messages: []messages.Message{user("x")}},
			status: 404, class: messages.ClassInvalid, typ: "NOT_FOUND"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, tt.backend)
			if tt.fault != nil {
				e.s.Inject(*tt.fault)
			}
			req := tt.req
			if req == nil {
				req = chat("hi")
			}
			ue := e.run(t, e.call(req)).Upstream(t)
			assert.Equal(t, tt.status, ue.Status, "error %v", ue)
			assert.Equal(t, tt.class, ue.Class, "error %v", ue)
			assert.Equal(t, tt.typ, ue.Type, "error %v", ue)
			assert.Contains(t, ue.Message, tt.msg)
			assert.NotEmpty(t, ue.Message)
			assert.Equal(t, tt.retryable, ue.Retryable())
		})
	}
}

// TestExpiredTokenRefreshedOnce: a token that expired early is refused
// with 401; the attempt fetches a new token and sends the request once
// more, which succeeds.
func TestExpiredTokenRefreshedOnce(t *testing.T) {
	e := start(t, nil)
	e.run(t, e.call(chat("first"))).Chat(t)
	e.g.Expire()
	resp := e.run(t, e.call(chat("second"))).Chat(t)
	assert.Equal(t, "You said: second", resp.Content)
	assert.Equal(t, 2, e.g.Issued(), "one new token")
	recs := e.s.Requests()
	require.Len(t, recs, 3, "the refused request and its retry")
	assert.Empty(t, recs[1].Key, "refused")
	assert.Equal(t, account, recs[2].Key)
	assert.NotEqual(t, recs[1].Header.Get("Authorization"), recs[2].Header.Get("Authorization"))
}

// TestKeyJudgedBadOnSecond401: a token source whose tokens are always
// refused gets one retry with a new token; the second 401 fails the
// attempt as ClassAuth, which disables the key.
func TestKeyJudgedBadOnSecond401(t *testing.T) {
	e := start(t, nil)
	var issued atomic.Int32
	src := providers.TokenSourceFunc(func(context.Context) (providers.Token, error) {
		issued.Add(1)
		return providers.Token{Value: "ya29.forged-token", ExpiresIn: time.Hour}, nil
	})
	call := e.call(chat("hi"))
	call.Key = providers.NewAuthCredential("forged", providers.NewTokenAuth(src, providers.TokenAuthOptions{}))
	ue := e.run(t, call).Upstream(t)
	assert.Equal(t, http.StatusUnauthorized, ue.Status)
	assert.Equal(t, messages.ClassAuth, ue.Class)
	assert.Equal(t, "UNAUTHENTICATED", ue.Type)
	assert.False(t, ue.Retryable())
	assert.NotContains(t, ue.Error(), "forged-token")
	assert.EqualValues(t, 2, issued.Load(), "one refresh")
	assert.Len(t, e.s.Requests(), 2, "sent twice, not more")
}

// TestFixedSecretRefused: a key holding a fixed secret is not a Vertex AI
// credential; the attempt fails as ClassAuth without sending.
func TestFixedSecretRefused(t *testing.T) {
	e := start(t, nil)
	call := e.call(chat("hi"))
	call.Key = providers.NewCredential("static", "AIzaNotAVertexCredential")
	ue := e.run(t, call).Upstream(t)
	assert.Equal(t, messages.ClassAuth, ue.Class)
	assert.Contains(t, ue.Message, Kind)
	assert.Zero(t, e.s.Calls())
}

// TestStreamFailures: an error event in the stream is typed, a cut stream
// is ClassStreamCut.
func TestStreamFailures(t *testing.T) {
	tests := []struct {
		name  string
		fault sim.Fault
		class messages.ErrorClass
		typ   string
	}{
		{"overloaded in stream", sim.Fault{Body: `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`}, messages.ClassServer, "overloaded_error"},
		{"cut", sim.Fault{CutAfter: 3}, messages.ClassStreamCut, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t, nil)
			e.s.Inject(tt.fault)
			req := chat("a long enough answer to cut")
			req.Stream = true
			ue := e.run(t, e.call(req)).Upstream(t)
			assert.Equal(t, tt.class, ue.Class)
			assert.Equal(t, tt.typ, ue.Type)
			assert.True(t, ue.Retryable())
		})
	}
}

// TestPrefixedBaseURL: a base URL behind a gateway's path prefix keeps it.
func TestPrefixedBaseURL(t *testing.T) {
	e := start(t, &sim.VertexAnthropicBackend{Prefix: "/corp/gw"})
	for _, stream := range []bool{false, true} {
		req := chat("through the gateway")
		req.Stream = stream
		call := e.call(req)
		call.BaseURL = e.s.URL + "/corp/gw" + base + "/"
		assert.Equal(t, "You said: through the gateway", e.run(t, call).Chat(t).Content)
	}
	c := e.call(&messages.CountTokensRequest{Chat: *chat("count")})
	c.BaseURL = e.s.URL + "/corp/gw" + base
	require.NoError(t, e.run(t, c).Err)
	assert.Equal(t, 0, e.s.InvalidCalls())
}

// TestCheck: chat and count_tokens are served, other operations not.
func TestCheck(t *testing.T) {
	a := New()
	assert.Equal(t, Kind, a.Kind())
	require.NoError(t, a.Check(chat("hi")))
	require.NoError(t, a.Check(&messages.CountTokensRequest{Chat: *chat("hi")}))
	err := a.Check(&messages.EmbedRequest{Model: "m", Inputs: []string{"x"}})
	require.ErrorIs(t, err, messages.ErrUnsupported)
	assert.Contains(t, err.Error(), Kind)
}

func TestChatPath(t *testing.T) {
	assert.Equal(t, "/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict", ChatPath(model, false))
	assert.Equal(t, "/publishers/anthropic/models/claude-3-5-haiku@20241022:streamRawPredict", ChatPath("claude-3-5-haiku@20241022", true))
	assert.Equal(t, "/publishers/anthropic/models/a%2Fb:rawPredict", ChatPath("a/b", false), "a model stays one segment")
}

func TestDescriptor(t *testing.T) {
	assert.Equal(t, Kind, Descriptor.Kind)
	assert.True(t, Descriptor.Accepts(providers.CredentialGoogle))
	assert.True(t, Descriptor.Accepts(providers.CredentialBearerToken))
	assert.False(t, Descriptor.Accepts(providers.CredentialAPIKey))
	assert.Equal(t, Kind, Descriptor.New(providers.AdapterOptions{}).Kind())
	assert.Contains(t, Descriptor.BaseURL, "{project}")
}
