package vertex

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"
)

const (
	email      = "switchyard@sim-project.iam.gserviceaccount.com"
	project    = "sim-project"
	region     = "us-central1"
	chatModel  = "gemini-2.5-flash"
	modelV3    = "gemini-3-pro-preview"
	basePath   = "/v1/projects/" + project + "/locations/" + region
	modelsPath = basePath + "/publishers/google/models/"
)

// rig is a token endpoint, a Vertex simulator and a key whose TokenAuth
// gets its tokens from the endpoint through GoogleTokenSource; the
// endpoint and the TokenAuth share a manual clock.
type rig struct {
	g      *sim.GoogleOAuth
	srv    *sim.Server
	clk    *clock.Manual
	auth   *providers.TokenAuth
	key    providers.Credential
	keyDoc []byte // the service account key file
	base   string

	mu     sync.Mutex
	tokens []string // every token issued, which no error may show
}

type rigOptions struct {
	ttl     time.Duration
	backend *sim.VertexGeminiBackend
	prefix  string // of the base URL (and the simulator's Prefix)
}

// idp is a token endpoint on a manual clock with a service account key:
// the part of a rig worth sharing between subtests (making a key takes a
// while).
type idp struct {
	g      *sim.GoogleOAuth
	clk    *clock.Manual
	keyDoc []byte // the service account key file
}

func newIDP(t *testing.T, ttl time.Duration) *idp {
	t.Helper()
	p := &idp{clk: clocktest.New(t)}
	p.g = sim.StartGoogleOAuth(sim.GoogleOAuthOptions{TokenTTL: ttl, Clock: p.clk})
	t.Cleanup(p.g.Close)
	p.keyDoc = p.g.ServiceAccount(email)
	return p
}

func newRig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	return newIDP(t, o.ttl).rig(t, o)
}

// rig starts a simulator with o's settings (its ttl is p's) and a key with
// a TokenAuth of its own over p's service account.
func (p *idp) rig(t *testing.T, o rigOptions) *rig {
	t.Helper()
	r := &rig{g: p.g, clk: p.clk, keyDoc: p.keyDoc}
	src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: r.keyDoc})
	require.NoError(t, err)
	r.auth = providers.NewTokenAuth(src, providers.TokenAuthOptions{Clock: r.clk, OnToken: func(tok string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.tokens = append(r.tokens, tok)
	}})
	r.key = providers.NewAuthCredential("sa", r.auth)
	b := o.backend
	if b == nil {
		b = &sim.VertexGeminiBackend{}
	}
	b.Auth, b.Prefix = r.g, o.prefix
	r.srv = sim.Start(b)
	t.Cleanup(r.srv.Close)
	r.base = r.srv.URL + o.prefix + basePath
	return r
}

// call is a first attempt of req with the rig's key.
func (r *rig) call(req messages.Request) *providers.Call {
	c := providertest.NewCall("vertex", r.base, "", req)
	c.Key = r.key
	return c
}

// do runs req and checks that no error shows a token or the private key.
func (r *rig) do(t *testing.T, req messages.Request) *providertest.Run {
	t.Helper()
	return r.doCall(t, r.call(req))
}

func (r *rig) doCall(t *testing.T, c *providers.Call) *providertest.Run {
	t.Helper()
	run := providertest.DoRun(t, New(), c, "-----BEGIN PRIVATE KEY-----")
	if run.Err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, tok := range r.tokens {
			for _, s := range []string{run.Err.Error(), fmt.Sprintf("%+v", run.Err), fmt.Sprintf("%#v", run.Err)} {
				require.NotContains(t, s, tok, "the error shows an access token")
			}
		}
	}
	return run
}

// lastRecord is the last request the simulator received.
func (r *rig) lastRecord(t *testing.T) sim.Record {
	t.Helper()
	recs := r.srv.Requests()
	require.NotEmpty(t, recs, "no request reached the simulator")
	return recs[len(recs)-1]
}

func (r *rig) lastBody(t *testing.T) map[string]any {
	t.Helper()
	return providertest.LastBodyNumbers(t, r.srv)
}

func user(text string) messages.Message {
	return messages.Message{Role: messages.RoleUser, Content: text}
}

func sameJSON(t *testing.T, got any, want string) {
	t.Helper()
	assert.JSONEq(t, want, providertest.JSONOf(t, got))
}

var weatherTool = messages.Tool{
	Name:        "get_weather",
	Description: "Get weather",
	Parameters:  json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}`),
}

func TestChat(t *testing.T) {
	r := newRig(t, rigOptions{})
	req := &messages.ChatRequest{Model: chatModel, System: "Be brief.", Messages: []messages.Message{user("Hello there")}, MaxTokens: 100}
	resp := r.do(t, req).Chat(t)
	assert.Equal(t, "You said: Hello there", resp.Content)
	assert.Equal(t, messages.FinishStop, resp.FinishReason)
	assert.Equal(t, chatModel, resp.Model)
	assert.Equal(t, messages.Usage{InputTokens: 4, OutputTokens: 4}, resp.Usage)
	assert.Equal(t, "sa", resp.Meta.Key)

	// The request as go-genai sends it on Vertex AI (api_client.go
	// createAPIURL, models.go generateContent): POST
	// {base}/publishers/google/models/{model}:generateContent, a bearer
	// token, no API key, the generateContent body.
	rec := r.lastRecord(t)
	assert.Equal(t, http.MethodPost, rec.Method)
	assert.Equal(t, modelsPath+chatModel+":generateContent", rec.Path)
	assert.Equal(t, "", rec.Query)
	assert.True(t, strings.HasPrefix(rec.Header.Get("Authorization"), "Bearer ya29."), "Authorization %q", rec.Header.Get("Authorization"))
	assert.Empty(t, rec.Header.Get("X-Goog-Api-Key"))
	assert.Equal(t, "application/json", rec.Header.Get("Content-Type"))
	assert.Equal(t, email, rec.Key, "the simulator authenticated the service account")
	body := r.lastBody(t)
	sameJSON(t, body, `{"contents":[{"parts":[{"text":"Hello there"}],"role":"user"}],"systemInstruction":{"parts":[{"text":"Be brief."}]},"generationConfig":{"maxOutputTokens":100}}`)
	assert.Equal(t, 1, r.g.Issued())

	// The resource name is accepted too, and the token is reused.
	req.Model = PublisherModels + chatModel
	r.do(t, req).Chat(t)
	assert.Equal(t, modelsPath+chatModel+":generateContent", r.lastRecord(t).Path)
	assert.Equal(t, 1, r.g.Issued(), "the cached token is reused")
	assert.Zero(t, r.srv.InvalidCalls())
}

func TestStream(t *testing.T) {
	r := newRig(t, rigOptions{backend: &sim.VertexGeminiBackend{Gemini: &sim.GeminiBackend{ChunkWords: 2}}})
	req := &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("stream these four words")}, Stream: true}
	run := r.do(t, req)
	resp := run.Chat(t)
	assert.Equal(t, "You said: stream these four words", resp.Content)
	providertest.CheckChatChunks(t, run.Chunks, run.Call.RequestID, resp)
	var texts []string
	for _, c := range run.Chunks {
		if c.Type == messages.ChunkText {
			texts = append(texts, c.Text)
		}
	}
	assert.Equal(t, []string{"You said:", " stream these", " four words"}, texts, "chunks in order")
	last := run.Chunks[len(run.Chunks)-1]
	require.Equal(t, messages.ChunkUsage, last.Type)
	assert.Equal(t, messages.Usage{InputTokens: 4, OutputTokens: 6}, *last.Usage)
	assert.Equal(t, messages.Usage{InputTokens: 4, OutputTokens: 6}, run.Call.Result.Usage)
	rec := r.lastRecord(t)
	assert.Equal(t, modelsPath+chatModel+":streamGenerateContent", rec.Path)
	assert.Equal(t, "alt=sse", rec.Query, "go-genai streams with ?alt=sse")
	assert.Equal(t, "text/event-stream", rec.Header.Get("Accept"))
}

func TestToolCalling(t *testing.T) {
	tests := []struct{ name, model string }{{"gemini 2.5", chatModel}, {"gemini 3 with thought signatures", modelV3}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, rigOptions{})
			conv := []messages.Message{user("weather in Oslo and Rome")}
			req := &messages.ChatRequest{Model: tt.model, Messages: conv, Tools: []messages.Tool{weatherTool}}
			first := r.do(t, req).Chat(t)
			require.Len(t, first.ToolCalls, 2)
			assert.Equal(t, messages.FinishToolCalls, first.FinishReason)
			assert.Equal(t, `{"city":"Oslo"}`, string(first.ToolCalls[0].Arguments))
			assert.Equal(t, `{"city":"Rome"}`, string(first.ToolCalls[1].Arguments))
			sameJSON(t, r.lastBody(t)["tools"], `[{"functionDeclarations":[{"name":"get_weather","description":"Get weather",`+
				`"parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}]}]`)

			req.Messages = append(conv, messages.Message{Role: messages.RoleAssistant, ToolCalls: first.ToolCalls},
				messages.Message{Role: messages.RoleTool, ToolCallID: first.ToolCalls[0].ID, Content: "5 degrees"},
				messages.Message{Role: messages.RoleTool, ToolCallID: first.ToolCalls[1].ID, Content: "12 degrees"})
			second := r.do(t, req).Chat(t)
			assert.Equal(t, `The function returned: {"output":"5 degrees"} {"output":"12 degrees"}`, second.Content)
			assert.Zero(t, r.srv.InvalidCalls(), "the simulator accepted the round trip (with its thought signatures)")
		})
	}
}

func TestCountTokens(t *testing.T) {
	r := newRig(t, rigOptions{})
	req := &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: chatModel, System: "Be brief.", Messages: []messages.Message{user("count these words")},
		Tools: []messages.Tool{weatherTool}, ToolChoice: "auto", Temperature: new(0.5)}}
	res := r.do(t, req)
	require.NoError(t, res.Err)
	ct, ok := res.Resp.(*messages.CountTokensResponse)
	require.True(t, ok, "response %T", res.Resp)
	// count these words (3) + Be brief. (2) + get_weather Get weather (3).
	assert.Equal(t, 8, ct.InputTokens)
	assert.Equal(t, modelsPath+chatModel+":countTokens", r.lastRecord(t).Path)
	body := r.lastBody(t)
	assert.ElementsMatch(t, []string{"contents", "systemInstruction", "tools"}, keys(body), "Vertex's flat CountTokensRequest: %v", body)

	// A bare conversation is {"contents": …}.
	req = &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("two words")}}}
	ct = r.do(t, req).Resp.(*messages.CountTokensResponse)
	assert.Equal(t, 2, ct.InputTokens)
	sameJSON(t, r.lastBody(t), `{"contents":[{"parts":[{"text":"two words"}],"role":"user"}]}`)
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestEmbed(t *testing.T) {
	tests := []struct {
		name     string
		req      messages.EmbedRequest
		requests int
		path     string
		bodies   []string // each request's body, in order
		tokens   int
	}{
		{
			name: "text embedding model: one predict for all inputs",
			req:  messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"one two", "three"}, TaskType: "retrieval_query", Dimensions: 4},
			path: "text-embedding-005:predict", requests: 1, tokens: 3,
			bodies: []string{`{"instances":[{"content":"one two","task_type":"RETRIEVAL_QUERY"},{"content":"three","task_type":"RETRIEVAL_QUERY"}],"parameters":{"outputDimensionality":4}}`},
		},
		{
			name: "gemini-embedding-001: one predict per input",
			req:  messages.EmbedRequest{Model: "gemini-embedding-001", Inputs: []string{"one two", "three"}, Truncate: new(false)},
			path: "gemini-embedding-001:predict", requests: 2, tokens: 3,
			bodies: []string{`{"instances":[{"content":"one two"}],"parameters":{"autoTruncate":false}}`, `{"instances":[{"content":"three"}],"parameters":{"autoTruncate":false}}`},
		},
		{
			name: "other gemini embedding model: one embedContent per input",
			req:  messages.EmbedRequest{Model: "gemini-embedding-2-preview", Inputs: []string{"one two", "three"}, TaskType: "SEMANTIC_SIMILARITY", Dimensions: 3},
			path: "gemini-embedding-2-preview:embedContent", requests: 2, tokens: 3,
			bodies: []string{
				`{"content":{"role":"user","parts":[{"text":"one two"}]},"embedContentConfig":{"taskType":"SEMANTIC_SIMILARITY","outputDimensionality":3}}`,
				`{"content":{"role":"user","parts":[{"text":"three"}]},"embedContentConfig":{"taskType":"SEMANTIC_SIMILARITY","outputDimensionality":3}}`,
			},
		},
		{
			name: "unspecified task type is none",
			req:  messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a"}, TaskType: "TASK_TYPE_UNSPECIFIED"},
			path: "text-embedding-005:predict", requests: 1, tokens: 1,
			bodies: []string{`{"instances":[{"content":"a"}]}`},
		},
	}
	p := newIDP(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.rig(t, rigOptions{backend: &sim.VertexGeminiBackend{Gemini: &sim.GeminiBackend{EmbeddingDimensions: 5}}})
			res := r.do(t, &tt.req)
			require.NoError(t, res.Err)
			er, ok := res.Resp.(*messages.EmbedResponse)
			require.True(t, ok, "response %T", res.Resp)
			require.Len(t, er.Vectors, len(tt.req.Inputs))
			dims := tt.req.Dimensions
			if dims == 0 {
				dims = 5
			}
			task := strings.ToUpper(tt.req.TaskType)
			if task == "TASK_TYPE_UNSPECIFIED" {
				task = ""
			}
			for i, in := range tt.req.Inputs {
				assert.Equal(t, sim.GeminiEmbedding(in, task, dims), er.Vectors[i], "vector %d", i)
			}
			assert.Equal(t, tt.tokens, er.Usage.InputTokens)
			assert.Equal(t, tt.req.Model, er.Model)
			assert.Equal(t, er.Usage, res.Call.Result.Usage)
			recs := r.srv.Requests()
			require.Len(t, recs, tt.requests)
			for i, rec := range recs {
				assert.Equal(t, modelsPath+tt.path, rec.Path)
				assert.JSONEq(t, tt.bodies[i], string(rec.Body))
			}
			assert.Zero(t, r.srv.InvalidCalls())
		})
	}
}

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		status int
		class  messages.ErrorClass
		typ    string
	}{
		{400, messages.ClassInvalid, "INVALID_ARGUMENT"},
		{403, messages.ClassAuth, "PERMISSION_DENIED"},
		{404, messages.ClassInvalid, "NOT_FOUND"},
		{429, messages.ClassRateLimited, "RESOURCE_EXHAUSTED"},
		{500, messages.ClassServer, "INTERNAL"},
		{503, messages.ClassServer, "UNAVAILABLE"},
	}
	reqs := []struct {
		name string
		req  messages.Request
	}{
		{"chat", &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}}},
		{"stream", &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}, Stream: true}},
		{"embed", &messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"hi"}}},
		{"count", &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}}}},
	}
	p := newIDP(t, 0)
	for _, rq := range reqs {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s %d", rq.name, tt.status), func(t *testing.T) {
				r := p.rig(t, rigOptions{})
				r.srv.Inject(sim.Fault{Status: tt.status})
				ue := r.do(t, rq.req).Upstream(t)
				assert.Equal(t, tt.class, ue.Class, "%v", ue)
				assert.Equal(t, tt.status, ue.Status)
				assert.Equal(t, tt.typ, ue.Type)
				assert.NotEmpty(t, ue.Message)
				assert.Equal(t, 1, r.srv.Calls(), "one request, no refresh")
			})
		}
	}
}

// TestExpiredTokenRefreshed: a token the endpoint expired early is refused
// with 401; Client.Send refreshes it once and the retry succeeds.
func TestExpiredTokenRefreshed(t *testing.T) {
	r := newRig(t, rigOptions{})
	req := &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}}
	r.do(t, req).Chat(t)
	r.g.Expire()
	resp := r.do(t, req).Chat(t)
	assert.Equal(t, "You said: hi", resp.Content)
	assert.Equal(t, 2, r.g.Issued(), "one new token")
	recs := r.srv.Requests()
	require.Len(t, recs, 3)
	assert.Empty(t, recs[1].Key, "the expired token was refused")
	assert.Equal(t, email, recs[2].Key)
	assert.NotEqual(t, recs[1].Header.Get("Authorization"), recs[2].Header.Get("Authorization"), "the retry carries the new token")
}

// TestKeyJudgedBad: when the retry with a fresh token is refused too, the
// key's failure is ClassAuth.
func TestKeyJudgedBad(t *testing.T) {
	r := newRig(t, rigOptions{})
	r.srv.RejectKey(email, http.StatusUnauthorized)
	ue := r.do(t, &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}}).Upstream(t)
	assert.Equal(t, messages.ClassAuth, ue.Class)
	assert.Equal(t, 401, ue.Status)
	assert.Equal(t, "UNAUTHENTICATED", ue.Type)
	assert.Equal(t, "ACCESS_TOKEN_EXPIRED", ue.Code)
	assert.Equal(t, 2, r.srv.Calls(), "sent, refreshed once, sent again")
	assert.Equal(t, 2, r.g.Issued())
}

// TestProactiveRefresh: with a short token lifetime TokenAuth replaces the
// token before it expires (by the shared manual clock), so no request is
// refused.
func TestProactiveRefresh(t *testing.T) {
	r := newRig(t, rigOptions{ttl: 2 * time.Minute})
	req := &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}}
	r.do(t, req).Chat(t)
	r.clk.Advance(30 * time.Second)
	r.do(t, req).Chat(t)
	assert.Equal(t, 1, r.g.Issued(), "fresh enough: reused")
	// TokenAuth replaces a 2-minute token at half its life; the endpoint
	// would still take the old one for another minute.
	r.clk.Advance(31 * time.Second)
	r.do(t, req).Chat(t)
	assert.Equal(t, 2, r.g.Issued(), "replaced before expiry")
	r.clk.Advance(61 * time.Second)
	r.do(t, req).Chat(t)
	assert.Equal(t, 3, r.g.Issued())
	assert.Equal(t, 4, r.srv.Calls(), "no request was refused and retried")
	for _, rec := range r.srv.Requests() {
		assert.Equal(t, email, rec.Key)
	}
}

// TestPrefixedBaseURL: a base URL behind a gateway keeps its path prefix.
func TestPrefixedBaseURL(t *testing.T) {
	r := newRig(t, rigOptions{prefix: "/gw/vertex"})
	r.do(t, &messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}}).Chat(t)
	assert.Equal(t, "/gw/vertex"+modelsPath+chatModel+":generateContent", r.lastRecord(t).Path)
	r.do(t, &messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"hi"}})
	assert.Equal(t, "/gw/vertex"+modelsPath+"text-embedding-005:predict", r.lastRecord(t).Path)
	assert.Zero(t, r.srv.InvalidCalls())
	// A trailing slash on the base URL changes nothing.
	c := r.call(&messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}})
	c.BaseURL += "/"
	r.doCall(t, c).Chat(t)
	assert.Equal(t, "/gw/vertex"+modelsPath+chatModel+":generateContent", r.lastRecord(t).Path)
}

// TestStaticBearerSecret: a key holding a fixed secret (an access token
// minted elsewhere) sends it as a bearer token, never as an API key.
func TestStaticBearerSecret(t *testing.T) {
	r := newRig(t, rigOptions{})
	src, err := GoogleTokenSource(context.Background(), GoogleCredentials{JSON: r.keyDoc})
	require.NoError(t, err)
	tok, err := src.Token(context.Background())
	require.NoError(t, err)
	for _, req := range []messages.Request{
		&messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}},
		&messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"hi"}},
	} {
		c := r.call(req)
		c.Key = providers.NewCredential("static", tok.Value)
		run := providertest.DoRun(t, New(), c, tok.Value)
		require.NoError(t, run.Err, "%T", req)
		rec := r.lastRecord(t)
		assert.Equal(t, "Bearer "+tok.Value, rec.Header.Get("Authorization"), "%T", req)
		assert.Empty(t, rec.Header.Get("X-Goog-Api-Key"), "%T", req)
		assert.Empty(t, rec.Query, "%T", req)
		assert.Equal(t, email, rec.Key, "%T", req)
	}
}

func TestCheckRefuses(t *testing.T) {
	hi := []messages.Message{user("hi")}
	tests := []struct {
		name  string
		req   messages.Request
		field string
	}{
		{"no model", &messages.ChatRequest{Messages: hi}, "model is required"},
		{"Developer API model name", &messages.ChatRequest{Model: "models/" + chatModel, Messages: hi}, "is not a Google model on Vertex AI"},
		{"tuned model", &messages.ChatRequest{Model: "tunedModels/mine", Messages: hi}, "is not a Google model on Vertex AI"},
		{"other publisher", &messages.ChatRequest{Model: "publishers/anthropic/models/claude", Messages: hi}, "is not a Google model on Vertex AI"},
		{"model with a query", &messages.ChatRequest{Model: "gemini?x=1", Messages: hi}, "is not a Google model on Vertex AI"},
		{"no messages", &messages.ChatRequest{Model: chatModel}, "at least one message"},
		{"count tokens model", &messages.CountTokensRequest{Chat: messages.ChatRequest{Model: "a/b/c", Messages: hi}}, "is not a Google model"},
		{"embed no inputs", &messages.EmbedRequest{Model: "text-embedding-005"}, "at least one input"},
		{"embed too many", &messages.EmbedRequest{Model: "text-embedding-005", Inputs: strings.Split(strings.Repeat("a,", 250)+"a", ",")}, "at most 250 inputs"},
		{"embed empty input", &messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a", " "}}, "inputs[1] is empty"},
		{"embed task type", &messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a"}, TaskType: "summarize"}, "unknown task type"},
		{"embed dimensions", &messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a"}, Dimensions: -1}, "dimensions must not be negative"},
		{"embed model", &messages.EmbedRequest{Model: "models/text-embedding-005", Inputs: []string{"a"}}, "is not a Google model on Vertex AI"},
	}
	p := newIDP(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.rig(t, rigOptions{})
			providertest.RefusedBeforeSending(t, New(), r.srv, r.call(tt.req), tt.field)
			assert.Zero(t, r.g.Issued(), "no token is fetched for a refused request")
		})
	}
}

func TestUnsupported(t *testing.T) {
	a := New()
	tests := []messages.Request{
		&messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a"}, Sparse: true},
		&messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a"}, Normalize: new(true)},
		&messages.RerankRequest{Model: "x", Query: "q", Documents: []string{"d"}},
	}
	for _, req := range tests {
		err := a.Check(req)
		assert.ErrorIs(t, err, messages.ErrUnsupported, "%T", req)
	}
	assert.ErrorIs(t, a.Check((*messages.EmbedRequest)(nil)), messages.ErrInvalidRequest)
	_, err := a.Do(context.Background(), &providers.Call{Request: (*messages.EmbedRequest)(nil)})
	assert.ErrorIs(t, err, messages.ErrInvalidRequest)
	assert.Equal(t, "gemini_vertex", a.Kind())
}

func TestDescriptor(t *testing.T) {
	d := Descriptor
	assert.Equal(t, "gemini_vertex", d.Kind)
	assert.Equal(t, "https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}", d.BaseURL)
	assert.Empty(t, d.KeyEnv, "no key variable: application default credentials read GOOGLE_APPLICATION_CREDENTIALS")
	assert.True(t, d.Accepts(providers.CredentialGoogle))
	assert.True(t, d.Accepts(providers.CredentialBearerToken))
	assert.False(t, d.Accepts(providers.CredentialAPIKey), "Vertex takes no API keys")
	a := d.New(providers.AdapterOptions{})
	assert.Equal(t, Kind, a.Kind())
	for _, m := range []string{"`Chat`", "`ChatStream`", "`Embed`", "`CountTokens`"} {
		assert.Contains(t, d.Operations, m)
	}
	// The operations named are served.
	for _, req := range []messages.Request{
		&messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}},
		&messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a"}},
		&messages.CountTokensRequest{Chat: messages.ChatRequest{Model: chatModel, Messages: []messages.Message{user("hi")}}},
	} {
		assert.NoError(t, a.Check(req), "%T", req)
	}
}

// TestMalformedEmbeddings: answers that do not fit are ClassMalformed, an
// error object in a 200 is classified by its status.
func TestMalformedEmbeddings(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		class messages.ErrorClass
	}{
		{"not JSON", `{"predictions":`, messages.ClassMalformed},
		{"too few predictions", `{"predictions":[]}`, messages.ClassMalformed},
		{"no values", `{"predictions":[{"embeddings":{}}]}`, messages.ClassMalformed},
		{"values not numbers", `{"predictions":[{"embeddings":{"values":["a"]}}]}`, messages.ClassMalformed},
		{"error object", `{"error":{"code":429,"message":"Resource exhausted.","status":"RESOURCE_EXHAUSTED"}}`, messages.ClassRateLimited},
	}
	p := newIDP(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := p.rig(t, rigOptions{})
			r.srv.Inject(sim.Fault{Status: 200, Body: tt.body})
			ue := r.do(t, &messages.EmbedRequest{Model: "text-embedding-005", Inputs: []string{"a"}}).Upstream(t)
			assert.Equal(t, tt.class, ue.Class, "%v", ue)
			assert.Equal(t, 200, ue.Status)
		})
	}
}
