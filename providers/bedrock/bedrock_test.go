package bedrock

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
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

const region = "us-west-2"

var (
	testKey    = sim.SigV4Key{AccessKeyID: "AKIDADAPTERTEST", SecretAccessKey: "adapter-test-secret-0123456789"}
	testTemp   = sim.SigV4Key{AccessKeyID: "ASIAADAPTERTEST", SecretAccessKey: "adapter-temporary-secret-0123", SessionToken: "adapter-session-token-0123456789"}
	testAPIKey = "ABSKadapter-test-api-key-0123456789"
	// secrets must never show in an error.
	secrets = []string{testKey.SecretAccessKey, testTemp.SecretAccessKey, testTemp.SessionToken, testAPIKey}
)

// env is a Bedrock simulator on a manual clock.
type env struct {
	s   *sim.Server
	b   *sim.BedrockBackend
	clk *clock.Manual
}

func start(t *testing.T) env {
	t.Helper()
	clk := clocktest.New(t)
	b := sim.Bedrock(sim.BedrockOptions{Region: region, Clock: clk, Keys: []sim.SigV4Key{testKey, testTemp}, APIKeys: []string{testAPIKey}})
	s := providertest.StartSim(t, b)
	return env{s: s, b: b, clk: clk}
}

// signer is a SigV4 credential for key, signing at e's clock.
func (e env) signer(t *testing.T, key sim.SigV4Key) providers.Credential {
	t.Helper()
	auth, err := NewSigV4(context.Background(), AWSCredentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey,
		SessionToken: key.SessionToken, Region: region, Clock: e.clk})
	require.NoError(t, err)
	return providers.NewAuthCredential("aws-"+key.AccessKeyID, auth)
}

func (e env) call(t *testing.T, req messages.Request, key providers.Credential) *providers.Call {
	t.Helper()
	c := providertest.NewCall("claude-aws", e.s.URL, "", req)
	c.Key = key
	return c
}

// run is one Do, failing the test if an error shows a secret.
func run(t *testing.T, call *providers.Call) *providertest.Run {
	t.Helper()
	r := providertest.DoRun(t, New(), call, testKey.SecretAccessKey)
	if r.Err != nil {
		for _, s := range secrets {
			assert.NotContains(t, r.Err.Error(), s, "the error shows a secret")
		}
	}
	return r
}

func user(text string) messages.Message {
	return messages.Message{Role: messages.RoleUser, Content: text}
}

var weatherTool = messages.Tool{Name: "get_weather", Description: "Get weather",
	Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)}

const model = "anthropic.claude-3-5-haiku-20241022-v1:0"

func chat(text string) *messages.ChatRequest {
	return &messages.ChatRequest{Model: model, Messages: []messages.Message{user(text)}}
}

// TestChatPaths: the model ID is escaped into one path segment exactly as
// Anthropic's SDK does (the cases of anthropic-sdk-go/bedrock's
// TestBedrockURLEncoding).
func TestChatPaths(t *testing.T) {
	tests := []struct {
		model  string
		stream bool
		want   string
	}{
		{"claude-3-sonnet", false, "/model/claude-3-sonnet/invoke"},
		{"claude-3-sonnet", true, "/model/claude-3-sonnet/invoke-with-response-stream"},
		{"arn:aws:bedrock:us-east-1:947123456126:application-inference-profile/xv9example4b", false,
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A947123456126%3Aapplication-inference-profile%2Fxv9example4b/invoke"},
		{"arn:aws:bedrock:us-east-1:947123456126:application-inference-profile/xv9example4b", true,
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A947123456126%3Aapplication-inference-profile%2Fxv9example4b/invoke-with-response-stream"},
		{"arn:aws:bedrock:us-east-1:123456789012:foundation-model/anthropic.claude-3-sonnet-20240229-v1:0", false,
			"/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Afoundation-model%2Fanthropic.claude-3-sonnet-20240229-v1%3A0/invoke"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ChatPath(tt.model, tt.stream), "%s stream=%v", tt.model, tt.stream)
	}
}

// TestChat: a chat with each kind of key reaches the simulator with the
// body Anthropic's Bedrock SDK sends (anthropic_version, no model, no
// stream), signed or with the API key as a bearer token, and maps the
// answer; ARN model IDs travel escaped.
func TestChat(t *testing.T) {
	arn := "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/abc123"
	tests := []struct {
		name   string
		model  string
		key    func(e env) providers.Credential
		header map[string]string // request headers expected ("" absent)
	}{
		{name: "SigV4", model: model, key: func(e env) providers.Credential { return e.signer(t, testKey) },
			header: map[string]string{"X-Amz-Security-Token": "", "X-Api-Key": "", "X-Amz-Content-Sha256": ""}},
		{name: "SigV4 temporary keys", model: model, key: func(e env) providers.Credential { return e.signer(t, testTemp) },
			header: map[string]string{"X-Amz-Security-Token": testTemp.SessionToken}},
		{name: "API key", model: model, key: func(env) providers.Credential { return providers.NewCredential("api", testAPIKey) },
			header: map[string]string{"Authorization": "Bearer " + testAPIKey, "X-Amz-Date": "", "X-Api-Key": ""}},
		{name: "inference profile ARN", model: arn, key: func(e env) providers.Credential { return e.signer(t, testKey) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			req := chat("Hello there")
			req.Model, req.System, req.MaxTokens = tt.model, "Be brief.", 64
			r := run(t, e.call(t, req, tt.key(e)))
			resp := r.Chat(t)
			assert.Equal(t, "You said: Hello there", resp.Content)
			assert.Equal(t, messages.FinishStop, resp.FinishReason)
			assert.Equal(t, tt.model, resp.Model)
			in, out := e.s.Usage()
			assert.Equal(t, messages.Usage{InputTokens: in, OutputTokens: out}, resp.Usage)
			assert.Equal(t, resp.Usage, r.Call.Result.Usage)
			require.Equal(t, 0, e.s.InvalidCalls())

			rec := e.s.Requests()[0]
			assert.Equal(t, "/model/"+tt.model+"/invoke", rec.Path)
			for k, v := range tt.header {
				assert.Equal(t, v, rec.Header.Get(k), "header %s", k)
			}
			assert.Equal(t, "application/json", rec.Header.Get("Content-Type"))
			assert.Equal(t, "2023-06-01", rec.Header.Get("Anthropic-Version"), "sent as Anthropic's SDK sends it")
			var body map[string]any
			require.NoError(t, json.Unmarshal(rec.Body, &body))
			keys := make([]string, 0, len(body))
			for k := range body {
				keys = append(keys, k)
			}
			assert.ElementsMatch(t, []string{"anthropic_version", "max_tokens", "messages", "system"}, keys)
			assert.Equal(t, Version, body["anthropic_version"])
			// The upstream request ID is Bedrock's, not the simulator's
			// echo of X-Request-Id.
			assert.Equal(t, r.Call.Result.UpstreamRequestID, resp.UpstreamRequestID)
			assert.Len(t, resp.UpstreamRequestID, 36, "x-amzn-RequestId %q", resp.UpstreamRequestID)
		})
	}
}

// TestStream: a streamed chat reads the event-stream frames in order, text
// and a tool call, with the usage last, and sends no stream member.
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
			e := start(t)
			tt.req.Stream = true
			r := run(t, e.call(t, tt.req, e.signer(t, testKey)))
			resp := r.Chat(t)
			providertest.CheckChatChunks(t, r.Chunks, r.Call.RequestID, resp)
			assert.Equal(t, tt.content, resp.Content)
			assert.Equal(t, tt.finish, resp.FinishReason)
			texts := 0
			for _, c := range r.Chunks {
				if c.Type == messages.ChunkText {
					texts++
				}
			}
			assert.GreaterOrEqual(t, texts, 2, "the text came in pieces")
			if tt.args != "" {
				require.Len(t, resp.ToolCalls, 1)
				assert.Equal(t, "get_weather", resp.ToolCalls[0].Name)
				assert.JSONEq(t, tt.args, string(resp.ToolCalls[0].Arguments))
			}
			in, out := e.s.Usage()
			assert.Equal(t, messages.Usage{InputTokens: in, OutputTokens: out}, resp.Usage)
			assert.NotZero(t, in)
			rec := e.s.Requests()[0]
			assert.Equal(t, "/model/"+model+"/invoke-with-response-stream", rec.Path)
			assert.NotContains(t, string(rec.Body), `"stream"`)
			assert.Len(t, resp.UpstreamRequestID, 36)
		})
	}
}

// TestToolRoundTrip: a tool call answered with its result gets the final
// answer; the simulator checks the pairing.
func TestToolRoundTrip(t *testing.T) {
	e := start(t)
	key := e.signer(t, testKey)
	conv := []messages.Message{user("What's the weather in Paris?")}
	first := run(t, e.call(t, &messages.ChatRequest{Model: model, Messages: conv, Tools: []messages.Tool{weatherTool}}, key)).Chat(t)
	require.Len(t, first.ToolCalls, 1)
	assert.Equal(t, messages.FinishToolCalls, first.FinishReason)
	assert.JSONEq(t, `{"city":"Paris"}`, string(first.ToolCalls[0].Arguments))
	conv = append(conv, messages.Message{Role: messages.RoleAssistant, Content: first.Content, ToolCalls: first.ToolCalls},
		messages.Message{Role: messages.RoleTool, ToolCallID: first.ToolCalls[0].ID, Content: "18 degrees"})
	second := run(t, e.call(t, &messages.ChatRequest{Model: model, Messages: conv, Tools: []messages.Tool{weatherTool}}, key)).Chat(t)
	assert.Equal(t, "The tool returned: 18 degrees", second.Content)
	assert.Equal(t, 0, e.s.InvalidCalls())
}

// TestBetaHeaderMovesIntoBody: an endpoint's anthropic-beta header becomes
// the body's anthropic_beta list, as Anthropic's SDK does for Bedrock, and
// the signature (which never saw the header) still verifies.
func TestBetaHeaderMovesIntoBody(t *testing.T) {
	e := start(t)
	call := e.call(t, chat("hi"), e.signer(t, testKey))
	call.Headers = map[string]string{"Anthropic-Beta": "token-efficient-tools-2025-02-19, interleaved-thinking-2025-05-14"}
	run(t, call).Chat(t)
	rec := e.s.Requests()[0]
	assert.Empty(t, rec.Header.Values("Anthropic-Beta"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body, &body))
	assert.Equal(t, []any{"token-efficient-tools-2025-02-19", "interleaved-thinking-2025-05-14"}, body["anthropic_beta"])
}

// TestErrors: each Bedrock error is classed: throttling and quotas rate
// limited, model and service failures retryable, validation invalid,
// refused credentials auth; the upstream request ID is Bedrock's.
func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		setup     func(e env)
		key       func(e env) providers.Credential
		req       *messages.ChatRequest
		status    int
		class     messages.ErrorClass
		typ       string
		msg       string
		retryable bool
	}{
		{name: "throttled", setup: func(e env) { e.s.Inject(sim.Fault{Status: 429}) },
			status: 429, class: messages.ClassRateLimited, typ: "ThrottlingException", msg: "Too many requests", retryable: true},
		{name: "service quota", setup: func(e env) {
			e.s.Inject(sim.Fault{Status: 400, Header: map[string]string{"X-Amzn-ErrorType": "ServiceQuotaExceededException"}})
		}, status: 400, class: messages.ClassRateLimited, typ: "ServiceQuotaExceededException", msg: "Too many tokens", retryable: true},
		{name: "model not ready", setup: func(e env) {
			e.s.Inject(sim.Fault{Status: 429, Header: map[string]string{"X-Amzn-ErrorType": "ModelNotReadyException"}})
		}, status: 429, class: messages.ClassServer, typ: "ModelNotReadyException", msg: "not ready", retryable: true},
		{name: "model timeout", setup: func(e env) { e.s.Inject(sim.Fault{Status: 408}) },
			status: 408, class: messages.ClassTimeout, typ: "ModelTimeoutException", msg: "timed out", retryable: true},
		{name: "service unavailable", setup: func(e env) { e.s.Inject(sim.Fault{Status: 503}) },
			status: 503, class: messages.ClassServer, typ: "ServiceUnavailableException", retryable: true},
		{name: "internal error", setup: func(e env) { e.s.Inject(sim.Fault{Status: 500}) },
			status: 500, class: messages.ClassServer, typ: "InternalServerException", retryable: true},
		{name: "validation", req: &messages.ChatRequest{Model: model, Messages: []messages.Message{user("x")}, Temperature: ptr(1.5)},
			status: 400, class: messages.ClassInvalid, typ: "ValidationException", msg: "temperature: Input should be less than or equal to 1"},
		{name: "access denied", setup: func(e env) { e.s.Inject(sim.Fault{Status: 403}) },
			status: 403, class: messages.ClassAuth, typ: "AccessDeniedException", msg: "don't have access"},
		{name: "wrong secret", key: func(e env) providers.Credential {
			return e.signer(t, sim.SigV4Key{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: "wrong-secret-0123456789"})
		}, status: 403, class: messages.ClassAuth, typ: "InvalidSignatureException", msg: "signature we calculated does not match"},
		{name: "unknown access key", key: func(e env) providers.Credential {
			return e.signer(t, sim.SigV4Key{AccessKeyID: "AKIDUNKNOWN", SecretAccessKey: "unknown-secret-0123456789"})
		}, status: 403, class: messages.ClassAuth, typ: "UnrecognizedClientException", msg: "security token included in the request is invalid"},
		{name: "expired session", setup: func(e env) { e.b.Signatures().ExpireSessionToken(testTemp.SessionToken) },
			key:    func(e env) providers.Credential { return e.signer(t, testTemp) },
			status: 403, class: messages.ClassAuth, typ: "ExpiredTokenException", msg: "expired"},
		{name: "revoked API key", setup: func(e env) { e.b.RevokeAPIKey(testAPIKey) },
			key:    func(env) providers.Credential { return providers.NewCredential("api", testAPIKey) },
			status: 403, class: messages.ClassAuth, typ: "UnrecognizedClientException"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			if tt.setup != nil {
				tt.setup(e)
			}
			key := e.signer(t, testKey)
			if tt.key != nil {
				key = tt.key(e)
			}
			req := tt.req
			if req == nil {
				req = chat("hi")
			}
			r := run(t, e.call(t, req, key))
			ue := r.Upstream(t)
			assert.Equal(t, tt.status, ue.Status, "error %v", ue)
			assert.Equal(t, tt.class, ue.Class, "error %v", ue)
			assert.Equal(t, tt.typ, ue.Type, "error %v", ue)
			assert.Contains(t, ue.Message, tt.msg)
			assert.NotEmpty(t, ue.Message)
			assert.Equal(t, tt.retryable, ue.Retryable(), "retryable")
			assert.Len(t, ue.UpstreamRequestID, 36, "x-amzn-RequestId %q", ue.UpstreamRequestID)
			assert.Equal(t, ue.UpstreamRequestID, r.Call.Result.UpstreamRequestID)
		})
	}
}

func ptr(f float64) *float64 { return &f }

// TestStaleSignature: a request signed more than five minutes off the
// service's clock is refused as expired (a host clock gone wrong).
func TestStaleSignature(t *testing.T) {
	e := start(t)
	auth, err := NewSigV4(context.Background(), AWSCredentials{AccessKeyID: testKey.AccessKeyID, SecretAccessKey: testKey.SecretAccessKey,
		Region: region, Clock: clock.NewManual(e.clk.Now().Add(-6 * time.Minute))})
	require.NoError(t, err)
	ue := run(t, e.call(t, chat("hi"), providers.NewAuthCredential("late", auth))).Upstream(t)
	assert.Equal(t, messages.ClassAuth, ue.Class)
	assert.Equal(t, "InvalidSignatureException", ue.Type)
	assert.True(t, strings.HasPrefix(ue.Message, "Signature expired: "), "message %q", ue.Message)
}

// TestStreamFailures: exceptions inside the stream are typed errors, a cut
// stream is ClassStreamCut, a stalled one ClassTimeout.
func TestStreamFailures(t *testing.T) {
	tests := []struct {
		name      string
		fault     sim.Fault
		idle      time.Duration
		class     messages.ErrorClass
		typ, msg  string
		retryable bool
	}{
		{name: "throttled mid-stream", fault: sim.Fault{Body: `{"message":"Too many tokens, please wait before trying again."}`, Header: map[string]string{"X-Amzn-ErrorType": "throttlingException"}},
			class: messages.ClassRateLimited, typ: "ThrottlingException", msg: "Too many tokens, please wait before trying again.", retryable: true},
		{name: "model stream error", fault: sim.Fault{Body: `{"message":"Overloaded","originalStatusCode":529,"originalMessage":"Overloaded"}`},
			class: messages.ClassServer, typ: "ModelStreamErrorException", msg: "Overloaded", retryable: true},
		{name: "validation mid-stream", fault: sim.Fault{Body: `{"message":"prompt is too long"}`, Header: map[string]string{"X-Amzn-ErrorType": "validationException"}},
			class: messages.ClassInvalid, typ: "ValidationException", msg: "prompt is too long"},
		{name: "model timeout mid-stream", fault: sim.Fault{Body: `{"message":"Model has timed out"}`, Header: map[string]string{"X-Amzn-ErrorType": "modelTimeoutException"}},
			class: messages.ClassTimeout, typ: "ModelTimeoutException", msg: "Model has timed out", retryable: true},
		{name: "cut", fault: sim.Fault{CutAfter: 3}, class: messages.ClassStreamCut, retryable: true},
		{name: "stalled", fault: sim.Fault{StallAfter: 2}, idle: 200 * time.Millisecond, class: messages.ClassTimeout, retryable: true},
		{name: "JSON instead of frames", fault: sim.Fault{Malformed: true}, class: messages.ClassMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := start(t)
			e.s.Inject(tt.fault)
			req := chat("a long enough answer to cut")
			req.Stream = true
			call := e.call(t, req, e.signer(t, testKey))
			if tt.idle > 0 {
				call.Client.IdleTimeout = tt.idle
			}
			ue := run(t, call).Upstream(t)
			assert.Equal(t, tt.class, ue.Class, "error %v", ue)
			assert.Equal(t, tt.retryable, ue.Retryable(), "error %v", ue)
			if tt.typ != "" {
				assert.Equal(t, tt.typ, ue.Type)
				assert.Equal(t, tt.msg, ue.Message)
				assert.Equal(t, http.StatusOK, ue.Status)
			}
			if tt.class != messages.ClassMalformed {
				assert.Len(t, ue.UpstreamRequestID, 36, "x-amzn-RequestId %q", ue.UpstreamRequestID)
			}
		})
	}
}

// TestCountTokens: count_tokens is Bedrock's CountTokens with the invoke
// body base64 inside, and counts what the chat's usage reports.
func TestCountTokens(t *testing.T) {
	e := start(t)
	key := e.signer(t, testKey)
	c := *chat("How many tokens is this?")
	c.System, c.Tools, c.MaxTokens = "You are terse.", []messages.Tool{weatherTool}, 64
	r := run(t, e.call(t, &messages.CountTokensRequest{Chat: c}, key))
	require.NoError(t, r.Err)
	ct, ok := r.Resp.(*messages.CountTokensResponse)
	require.True(t, ok, "response %T", r.Resp)
	rec := e.s.Requests()[0]
	assert.Equal(t, "/model/"+model+"/count-tokens", rec.Path)
	var outer struct {
		Input struct {
			InvokeModel struct {
				Body string `json:"body"`
			} `json:"invokeModel"`
		} `json:"input"`
	}
	require.NoError(t, json.Unmarshal(rec.Body, &outer))
	inner, err := base64.StdEncoding.DecodeString(outer.Input.InvokeModel.Body)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(inner, &body))
	assert.Equal(t, Version, body["anthropic_version"])
	assert.NotContains(t, body, "model")
	assert.NotContains(t, body, "stream")
	assert.Contains(t, body, "max_tokens", "an invoke body")
	assert.Len(t, ct.UpstreamRequestID, 36)

	resp := run(t, e.call(t, &c, key)).Chat(t)
	assert.Equal(t, resp.Usage.InputTokens, ct.InputTokens)
	assert.NotZero(t, ct.InputTokens)

	e.s.Inject(sim.Fault{Status: 200, Body: `{"input_tokens":3}`})
	ue := run(t, e.call(t, &messages.CountTokensRequest{Chat: c}, key)).Upstream(t)
	assert.Equal(t, messages.ClassMalformed, ue.Class, "Anthropic's member is not Bedrock's")
}

// TestPrefixedBaseURL: a base URL with a path (a corporate gateway) keeps
// its prefix, and the signature covers the path as sent.
func TestPrefixedBaseURL(t *testing.T) {
	e := start(t)
	gw := httptest.NewServer(http.StripPrefix("/corp/aws", e.s.Handler()))
	defer gw.Close()
	for _, stream := range []bool{false, true} {
		req := chat("through the gateway")
		req.Stream = stream
		call := e.call(t, req, e.signer(t, testKey))
		call.BaseURL = gw.URL + "/corp/aws/"
		resp := run(t, call).Chat(t)
		assert.Equal(t, "You said: through the gateway", resp.Content)
	}
	assert.Equal(t, 0, e.s.InvalidCalls())
	assert.Len(t, e.s.Requests(), 2)
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
	require.ErrorIs(t, a.Check(&messages.ChatRequest{Messages: []messages.Message{user("x")}}), messages.ErrInvalidRequest)
}

func TestDescriptor(t *testing.T) {
	assert.Equal(t, Kind, Descriptor.Kind)
	assert.True(t, Descriptor.Accepts(providers.CredentialAWSSigV4))
	assert.True(t, Descriptor.Accepts(providers.CredentialAPIKey))
	assert.False(t, Descriptor.Accepts(providers.CredentialGoogle))
	assert.Equal(t, Kind, Descriptor.New(providers.AdapterOptions{}).Kind())
	assert.Contains(t, Descriptor.BaseURL, "{region}")
}
