package azure_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/azure"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"
)

// testKey is a fake Azure key; tests assert it never shows up in errors.
const testKey = "azure-test-key-0123456789abcdefSECRET"

// dated is the stable dated API version of testdata/inference.json.
const dated = azure.StableAPIVersion

var pngBytes = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01")

var weatherTool = messages.Tool{Name: "get_weather", Description: "Current weather for a city",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

func startSim(t testing.TB, b *sim.AzureBackend, opts ...sim.Option) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.Azure()
	}
	return providertest.StartSim(t, b, opts...)
}

func newCall(baseURL string, req messages.Request) *providers.Call {
	return providertest.NewCall(azure.Kind, baseURL, testKey, req)
}

func run(t *testing.T, a *azure.Adapter, call *providers.Call) *providertest.Run {
	t.Helper()
	return providertest.DoRun(t, a, call, testKey)
}

func user(text string) []messages.Message {
	return []messages.Message{{Role: messages.RoleUser, Content: text}}
}

func lastRecord(t *testing.T, srv *sim.Server) sim.Record {
	t.Helper()
	recs := srv.Requests()
	require.NotEmpty(t, recs, "no request reached the simulator")
	return recs[len(recs)-1]
}

func TestKindAndDescriptor(t *testing.T) {
	d := azure.Descriptor
	assert.Equal(t, "azure_openai", d.Kind)
	assert.Equal(t, "azure_openai", azure.New(providers.AdapterOptions{}).Kind())
	assert.Equal(t, "azure_openai", d.New(providers.AdapterOptions{APIVersion: dated}).Kind())
	assert.Empty(t, d.BaseURL, "Azure has no public default endpoint")
	assert.NotEmpty(t, d.BaseURLHint)
	assert.Equal(t, "AZURE_OPENAI_API_KEY", d.KeyEnv)
	assert.True(t, d.Accepts(providers.CredentialAPIKey))
	assert.True(t, d.Accepts(providers.CredentialBearerToken))
	assert.False(t, d.Accepts(providers.CredentialGoogle))
}

// TestOperationsByVersion: the v1 API serves chat, embeddings and the
// Responses API; a dated version chat, embeddings and completions.
func TestOperationsByVersion(t *testing.T) {
	probes := []messages.Request{
		&messages.ChatRequest{Model: "m", Messages: user("hi")},
		&messages.EmbedRequest{Model: "m", Inputs: []string{"a"}},
		&messages.ResponsesRequest{Model: "m", Input: user("hi")},
		&messages.GenerateRequest{Model: "m", Prompt: "p"},
		&messages.ModelsRequest{},
		&messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "resp_1"},
	}
	for _, tc := range []struct {
		version string
		served  []string
	}{
		{"", []string{"chat", "embed", "responses"}},
		{"v1", []string{"chat", "embed", "responses"}},
		{"preview", []string{"chat", "embed", "responses"}},
		{dated, []string{"chat", "embed", "generate"}},
		{"2025-04-01-preview", []string{"chat", "embed", "generate"}},
	} {
		t.Run("version="+tc.version, func(t *testing.T) {
			a := azure.New(providers.AdapterOptions{APIVersion: tc.version})
			var served []string
			for _, req := range probes {
				err := a.Check(req)
				if errors.Is(err, messages.ErrUnsupported) {
					continue
				}
				require.NoError(t, err, "%s", req.Operation())
				served = append(served, req.Operation())
			}
			assert.Equal(t, tc.served, served)
		})
	}
}

// TestURLForms runs each operation in each URL form against the simulator
// (which refuses a wrong path, version or deployment) and checks the path,
// query, key header and body model the official SDKs send: openai-go's
// azure.WithEndpoint sends POST /openai/deployments/{model}/{route} with
// ?api-version= and an "Api-Key" header (openai-go/azure/azure_test.go,
// TestAzureJSONRoutesPreserveValidBodyAndRewritePath); the v1 form is
// {endpoint}/openai/v1/{route} with the deployment as the model (the v1
// spec's servers, the lifecycle page's curl examples). Unlike the SDKs,
// which replace the base URL's path, a gateway's prefix is kept.
func TestURLForms(t *testing.T) {
	deployments := map[string]string{"gpt-4o": "chat", "text-embedding-3-small": "embed"}
	tests := []struct {
		name      string
		version   string
		prefix    string // the simulator's PathPrefix, appended to the base URL
		baseTail  string // appended to the base URL after the prefix
		req       messages.Request
		wantPath  string
		wantQuery url.Values
		wantModel any // the body's model
	}{
		{name: "v1 chat", req: &messages.ChatRequest{Model: "gpt-4o", Messages: user("hi")},
			wantPath: "/openai/v1/chat/completions", wantQuery: url.Values{}, wantModel: "chat"},
		{name: "v1 named chat", version: "v1", req: &messages.ChatRequest{Model: "gpt-4o-mini", Messages: user("hi")},
			wantPath: "/openai/v1/chat/completions", wantQuery: url.Values{}, wantModel: "gpt-4o-mini"},
		{name: "v1 preview embeddings", version: "preview", req: &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"a"}},
			wantPath: "/openai/v1/embeddings", wantQuery: url.Values{"api-version": {"preview"}}, wantModel: "embed"},
		{name: "v1 responses", req: &messages.ResponsesRequest{Model: "gpt-4o", Input: user("hi")},
			wantPath: "/openai/v1/responses", wantQuery: url.Values{}, wantModel: "chat"},
		{name: "v1 base URL ending in /openai/v1", baseTail: "/openai/v1/", req: &messages.ChatRequest{Model: "chat", Messages: user("hi")},
			wantPath: "/openai/v1/chat/completions", wantQuery: url.Values{}, wantModel: "chat"},
		{name: "v1 behind a gateway prefix", prefix: "/corp/azure", req: &messages.ChatRequest{Model: "gpt-4o", Messages: user("hi")},
			wantPath: "/corp/azure/openai/v1/chat/completions", wantQuery: url.Values{}, wantModel: "chat"},
		{name: "deployment chat", version: dated, req: &messages.ChatRequest{Model: "gpt-4o", Messages: user("hi")},
			wantPath: "/openai/deployments/chat/chat/completions", wantQuery: url.Values{"api-version": {dated}}, wantModel: "chat"},
		{name: "deployment of an unmapped model", version: dated, req: &messages.ChatRequest{Model: "gpt-4o-mini", Messages: user("hi")},
			wantPath: "/openai/deployments/gpt-4o-mini/chat/completions", wantQuery: url.Values{"api-version": {dated}}, wantModel: "gpt-4o-mini"},
		{name: "deployment embeddings", version: dated, req: &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"a", "b"}},
			wantPath: "/openai/deployments/embed/embeddings", wantQuery: url.Values{"api-version": {dated}}, wantModel: "embed"},
		{name: "deployment completions", version: "2025-04-01-preview", req: &messages.GenerateRequest{Model: "instruct", Prompt: "say"},
			wantPath: "/openai/deployments/instruct/completions", wantQuery: url.Values{"api-version": {"2025-04-01-preview"}}, wantModel: "instruct"},
		{name: "deployment base URL ending in /openai", version: dated, baseTail: "/openai", req: &messages.ChatRequest{Model: "chat", Messages: user("hi")},
			wantPath: "/openai/deployments/chat/chat/completions", wantQuery: url.Values{"api-version": {dated}}, wantModel: "chat"},
		{name: "deployment behind a gateway prefix", version: dated, prefix: "/corp/azure",
			req:      &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"a"}},
			wantPath: "/corp/azure/openai/deployments/embed/embeddings", wantQuery: url.Values{"api-version": {dated}}, wantModel: "embed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, &sim.AzureBackend{PathPrefix: tt.prefix})
			a := azure.New(providers.AdapterOptions{APIVersion: tt.version, Deployments: deployments})
			r := run(t, a, newCall(srv.URL+tt.prefix+tt.baseTail, tt.req))
			require.NoError(t, r.Err)
			rec := lastRecord(t, srv)
			assert.Equal(t, http.MethodPost, rec.Method)
			assert.Equal(t, tt.wantPath, rec.Path)
			q, err := url.ParseQuery(rec.Query)
			require.NoError(t, err)
			assert.Equal(t, tt.wantQuery, q)
			assert.Equal(t, []string{testKey}, rec.Header.Values("Api-Key"), "the key travels in api-key")
			assert.Empty(t, rec.Header.Get("Authorization"), "no bearer header with an API key")
			assert.Equal(t, "application/json", rec.Header.Get("Content-Type"))
			var body map[string]any
			require.NoError(t, json.Unmarshal(rec.Body, &body))
			assert.Equal(t, tt.wantModel, body["model"])
			assert.Zero(t, srv.InvalidCalls())
		})
	}
}

// TestDeploymentNamesAreEscaped: a deployment is one path segment.
func TestDeploymentNamesAreEscaped(t *testing.T) {
	var gotPath string
	a := azure.New(providers.AdapterOptions{APIVersion: dated, Deployments: map[string]string{"m": "team a/b"}})
	call := newCall("http://azure.invalid", &messages.ChatRequest{Model: "m", Messages: user("hi")})
	call.Client.HTTP = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		gotPath = r.URL.EscapedPath()
		return nil, errors.New("not sent")
	})}
	r := run(t, a, call)
	require.Error(t, r.Err)
	assert.Equal(t, "/openai/deployments/team%20a%2Fb/chat/completions", gotPath)
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRefusedBeforeSending(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  providers.AdapterOptions
		req   messages.Request
		field string
	}{
		{"malformed api version", providers.AdapterOptions{APIVersion: "latest"}, &messages.ChatRequest{Model: "chat", Messages: user("hi")}, "api_version"},
		{"deployment dot-dot", providers.AdapterOptions{Deployments: map[string]string{"m": ".."}}, &messages.ChatRequest{Model: "m", Messages: user("hi")}, "deployment"},
		{"no model", providers.AdapterOptions{}, &messages.ChatRequest{Messages: user("hi")}, "model"},
		{"empty embedding input", providers.AdapterOptions{APIVersion: dated}, &messages.EmbedRequest{Model: "embed", Inputs: []string{""}}, "input 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startSim(t, nil)
			providertest.RefusedBeforeSending(t, azure.New(tc.opts), srv, newCall(srv.URL, tc.req), tc.field)
		})
	}
}

func TestChat(t *testing.T) {
	for _, version := range []string{"", dated} {
		t.Run("version="+version, func(t *testing.T) {
			srv := startSim(t, nil)
			call := newCall(srv.URL, &messages.ChatRequest{Model: "gpt-4o", System: "Be brief.", MaxTokens: 50, Messages: user("hello there")})
			call.RequestID = "" // no X-Request-ID: the upstream ID is Azure's apim-request-id
			ct := &providertest.CaptureTransport{}
			call.Client.HTTP = &http.Client{Transport: ct}
			cr := run(t, azure.New(providers.AdapterOptions{APIVersion: version}), call).Chat(t)
			assert.Equal(t, "echo: hello there", cr.Content)
			assert.Equal(t, messages.FinishStop, cr.FinishReason)
			assert.Equal(t, "gpt-4o", cr.Model)
			assert.True(t, strings.HasPrefix(cr.ID, "chatcmpl-"), cr.ID)
			in, out := srv.Usage()
			assert.Equal(t, messages.Usage{InputTokens: in, OutputTokens: out}, cr.Usage)
			assert.Equal(t, cr.Usage, call.Result.Usage)

			resps := ct.Responses()
			require.Len(t, resps, 1)
			apim := resps[0].Header.Get("Apim-Request-Id")
			require.NotEmpty(t, apim)
			assert.Equal(t, apim, call.Result.UpstreamRequestID, "apim-request-id is the upstream request ID")
			assert.Equal(t, apim, cr.Meta.UpstreamRequestID)
			assert.True(t, call.Result.RateLimit.Known, "x-ratelimit-remaining-* read")
			assert.Positive(t, call.Result.RateLimit.RemainingRequests)
			assert.Positive(t, call.Result.RateLimit.RemainingTokens)

			body := providertest.LastBody(t, srv)
			assert.Equal(t, 50.0, body["max_completion_tokens"])
			assert.Equal(t, "system", body["messages"].([]any)[0].(map[string]any)["role"])
		})
	}
}

func TestChatStreamInOrderWithUsage(t *testing.T) {
	for _, version := range []string{"", dated, "2024-06-01"} {
		t.Run("version="+version, func(t *testing.T) {
			srv := startSim(t, nil)
			call := newCall(srv.URL, &messages.ChatRequest{Model: "gpt-4o", Stream: true, MaxTokens: 40,
				Messages: user("one two three four five six seven")})
			r := run(t, azure.New(providers.AdapterOptions{APIVersion: version}), call)
			cr := r.Chat(t)
			assert.Equal(t, "echo: one two three four five six seven", cr.Content)
			assert.Equal(t, messages.FinishStop, cr.FinishReason)
			body := providertest.LastBody(t, srv)
			if version == "2024-06-01" {
				// Versions before 2024-09-01 know neither field (the
				// simulator refuses them as the service does), so the
				// stream carries no usage.
				assert.NotContains(t, body, "stream_options")
				assert.NotContains(t, body, "max_completion_tokens")
				assert.Equal(t, 40.0, body["max_tokens"])
				var text strings.Builder
				for i, c := range r.Chunks {
					assert.Equal(t, i, c.Seq)
					require.Equal(t, messages.ChunkText, c.Type)
					text.WriteString(c.Text)
				}
				assert.Equal(t, cr.Content, text.String())
				assert.Greater(t, len(r.Chunks), 2, "the answer arrived in pieces")
				assert.Zero(t, cr.Usage)
				return
			}
			providertest.CheckChatChunks(t, r.Chunks, call.RequestID, cr)
			assert.Greater(t, len(r.Chunks), 3, "the answer arrived in pieces")
			in, out := srv.Usage()
			assert.Equal(t, messages.Usage{InputTokens: in, OutputTokens: out}, cr.Usage)
			assert.Equal(t, map[string]any{"include_usage": true}, body["stream_options"])
			assert.Equal(t, 40.0, body["max_completion_tokens"])
		})
	}
}

func TestToolCalling(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run("stream="+map[bool]string{false: "false", true: "true"}[stream], func(t *testing.T) {
			srv := startSim(t, nil)
			a := azure.New(providers.AdapterOptions{APIVersion: dated})
			req := &messages.ChatRequest{Model: "gpt-4o", Stream: stream, Tools: []messages.Tool{weatherTool}, ToolChoice: "auto",
				Messages: user("What is the weather in Paris?")}
			r := run(t, a, newCall(srv.URL, req))
			cr := r.Chat(t)
			require.Equal(t, messages.FinishToolCalls, cr.FinishReason)
			require.Len(t, cr.ToolCalls, 1)
			tc := cr.ToolCalls[0]
			assert.Equal(t, "get_weather", tc.Name)
			assert.JSONEq(t, `{"city":"Paris"}`, string(tc.Arguments))
			if stream {
				providertest.CheckChatChunks(t, r.Chunks, "rid-chat", cr)
			}

			next := &messages.ChatRequest{Model: "gpt-4o", Stream: stream, Tools: []messages.Tool{weatherTool}, Messages: []messages.Message{
				{Role: messages.RoleUser, Content: "What is the weather in Paris?"},
				{Role: messages.RoleAssistant, ToolCalls: cr.ToolCalls},
				{Role: messages.RoleTool, ToolCallID: tc.ID, Content: "sunny"},
			}}
			cr2 := run(t, a, newCall(srv.URL, next)).Chat(t)
			assert.Equal(t, "The tool returned: sunny", cr2.Content)
			assert.Zero(t, srv.InvalidCalls())
		})
	}
}

func TestImages(t *testing.T) {
	srv := startSim(t, nil)
	req := &messages.ChatRequest{Model: "gpt-4o", Messages: []messages.Message{{Role: messages.RoleUser, Parts: []messages.Part{
		{Type: messages.PartText, Text: "What is in these?"},
		{Type: messages.PartImage, ImageURL: "https://example.com/cat.png"},
		{Type: messages.PartImage, Data: pngBytes, MediaType: "image/png"},
	}}}}
	cr := run(t, azure.New(providers.AdapterOptions{}), newCall(srv.URL, req)).Chat(t)
	assert.Equal(t, "echo: What is in these? [2 images]", cr.Content)
	parts := providertest.LastBody(t, srv)["messages"].([]any)[0].(map[string]any)["content"].([]any)
	require.Len(t, parts, 3)
	assert.Equal(t, "image_url", parts[2].(map[string]any)["type"])
	assert.True(t, strings.HasPrefix(parts[2].(map[string]any)["image_url"].(map[string]any)["url"].(string), "data:image/png;base64,"))
}

// TestEmbeddingsBatched: embeddings are merged like OpenAI's (the adapter
// is a providers.Batcher with OpenAI's limits), and a merged request's
// inputs travel as one list whose vectors come back in input order.
func TestEmbeddingsBatched(t *testing.T) {
	for _, version := range []string{"", dated} {
		t.Run("version="+version, func(t *testing.T) {
			srv := startSim(t, nil)
			a := azure.New(providers.AdapterOptions{APIVersion: version})
			req := &messages.EmbedRequest{Model: "text-embedding-3-small", Inputs: []string{"alpha", "beta gamma", "delta"}, Dimensions: 4}
			lim, ok := a.BatchLimits(req)
			require.True(t, ok, "embeddings may be merged")
			assert.Equal(t, providers.BatchLimits{MaxInputs: openai.MaxEmbedInputs, MaxTokens: openai.BatchEmbedTokens}, lim)
			_, ok = a.BatchLimits(&messages.ChatRequest{Model: "gpt-4o", Messages: user("hi")})
			assert.False(t, ok, "chat takes no list")

			r := run(t, a, newCall(srv.URL, req))
			require.NoError(t, r.Err)
			er := r.Resp.(*messages.EmbedResponse)
			require.Len(t, er.Vectors, 3)
			for i, in := range req.Inputs {
				assert.Equal(t, sim.OpenAIEmbedding(in, 4), er.Vectors[i], "vector %d is its input's", i)
			}
			assert.Positive(t, er.Usage.InputTokens)
			body := providertest.LastBody(t, srv)
			assert.Equal(t, []any{"alpha", "beta gamma", "delta"}, body["input"])
			assert.Equal(t, "float", body["encoding_format"])
			assert.Equal(t, 4.0, body["dimensions"])
		})
	}
}

func TestResponsesV1(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole", true: "stream"}[stream], func(t *testing.T) {
			srv := startSim(t, nil)
			a := azure.New(providers.AdapterOptions{Deployments: map[string]string{"gpt-4o": "chat"}})
			r := run(t, a, newCall(srv.URL, &messages.ResponsesRequest{Model: "gpt-4o", Stream: stream, Input: user("hi there")}))
			require.NoError(t, r.Err)
			rr := r.Resp.(*messages.ResponsesResponse)
			assert.Equal(t, "echo: hi there", rr.OutputText)
			assert.Equal(t, "gpt-4o", rr.Model, "the service answers the deployment's model")
			if stream {
				assert.NotEmpty(t, r.Chunks)
			}
			assert.Equal(t, "/openai/v1/responses", lastRecord(t, srv).Path)
			assert.Zero(t, srv.InvalidCalls())
		})
	}
	t.Run("dated version", func(t *testing.T) {
		err := azure.New(providers.AdapterOptions{APIVersion: dated}).Check(&messages.ResponsesRequest{Model: "chat", Input: user("hi")})
		assert.ErrorIs(t, err, messages.ErrUnsupported)
	})
}

func TestCompletionsDated(t *testing.T) {
	srv := startSim(t, nil)
	a := azure.New(providers.AdapterOptions{APIVersion: dated})
	for _, stream := range []bool{false, true} {
		r := run(t, a, newCall(srv.URL, &messages.GenerateRequest{Model: "instruct", Prompt: "say hi", Stream: stream}))
		require.NoError(t, r.Err)
		gr := r.Resp.(*messages.GenerateResponse)
		assert.Equal(t, "echo: say hi", gr.Text)
	}
	err := azure.New(providers.AdapterOptions{}).Check(&messages.GenerateRequest{Model: "instruct", Prompt: "p"})
	assert.ErrorIs(t, err, messages.ErrUnsupported, "the v1 API has no completions")
}
