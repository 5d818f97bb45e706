package sim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

var (
	bedrockTestKey     = SigV4Key{AccessKeyID: "AKIDBEDROCKSIM", SecretAccessKey: "bedrock-sim-secret-0123456789"}
	bedrockTestTempKey = SigV4Key{AccessKeyID: "ASIABEDROCKSIM", SecretAccessKey: "bedrock-sim-temp-secret", SessionToken: "bedrock-sim-session"}
	bedrockTestAPIKey  = "ABSKbedrock-sim-api-key-0123456789"
)

// bedrockSim starts a Bedrock simulator in us-west-2 on a manual clock.
func bedrockSim(t *testing.T) (*Server, *BedrockBackend, *clock.Manual) {
	t.Helper()
	clk := clocktest.New(t)
	b := Bedrock(BedrockOptions{Region: "us-west-2", Clock: clk, Keys: []SigV4Key{bedrockTestKey, bedrockTestTempKey}, APIKeys: []string{bedrockTestAPIKey}})
	s := Start(b)
	t.Cleanup(s.Close)
	return s, b, clk
}

// bedrockCall is a raw request to the simulator.
type bedrockCall struct {
	method, path, body string
	header             map[string]string
	key                *SigV4Key // nil: bedrockTestKey; zero AccessKeyID: unsigned
	bearer             string
	signAt             time.Duration // signing time relative to the simulator's clock
	afterSign          func(r *http.Request)
}

type bedrockAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (c bedrockCall) do(t *testing.T, s *Server, clk *clock.Manual) bedrockAnswer {
	t.Helper()
	method := c.method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequest(method, s.URL+c.path, strings.NewReader(c.body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range c.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	key := bedrockTestKey
	if c.key != nil {
		key = *c.key
	}
	switch {
	case c.bearer != "":
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	case key.AccessKeyID != "":
		creds := aws.Credentials{AccessKeyID: key.AccessKeyID, SecretAccessKey: key.SecretAccessKey, SessionToken: key.SessionToken}
		require.NoError(t, v4.NewSigner().SignHTTP(context.Background(), creds, req, hexSHA256([]byte(c.body)), "bedrock", "us-west-2", clk.Now().Add(c.signAt)))
	}
	if c.afterSign != nil {
		c.afterSign(req)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return bedrockAnswer{resp.StatusCode, resp.Header, b}
}

const bedrockOK = `{"anthropic_version":"bedrock-2023-05-31","max_tokens":50,"messages":[{"role":"user","content":"hello there"}]}`

// TestBedrockSimIsStrict: the simulator refuses what Bedrock refuses, with
// Bedrock's status, x-amzn-ErrorType and {"message"} body.
func TestBedrockSimIsStrict(t *testing.T) {
	arn := "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/abc123"
	invoke := "/model/anthropic.claude-3-5-haiku-20241022-v1%3A0/invoke"
	with := func(edit string) string { return strings.Replace(bedrockOK, `"max_tokens":50`, edit, 1) }
	countBody := func(inner string) string {
		return `{"input":{"invokeModel":{"body":"` + base64.StdEncoding.EncodeToString([]byte(inner)) + `"}}}`
	}
	tests := []struct {
		name    string
		call    bedrockCall
		status  int
		typ     string
		msg     string // substring
		invalid bool   // counted as a malformed request
	}{
		{name: "invoke", call: bedrockCall{path: invoke, body: bedrockOK}, status: 200},
		{name: "inference profile ARN, escaped", call: bedrockCall{path: "/model/" + strings.NewReplacer(":", "%3A", "/", "%2F").Replace(arn) + "/invoke", body: bedrockOK}, status: 200},
		{name: "count-tokens", call: bedrockCall{path: "/model/m.x/count-tokens", body: countBody(bedrockOK)}, status: 200},
		{name: "bearer API key", call: bedrockCall{path: invoke, body: bedrockOK, bearer: bedrockTestAPIKey}, status: 200},
		{name: "temporary keys", call: bedrockCall{path: invoke, body: bedrockOK, key: &bedrockTestTempKey}, status: 200},
		{name: "ARN with a raw slash", call: bedrockCall{path: "/model/" + strings.ReplaceAll(arn, ":", "%3A") + "/invoke", body: bedrockOK},
			status: 404, typ: "UnknownOperationException", invalid: true},
		{name: "unknown operation", call: bedrockCall{path: "/model/m.x/converse-typo", body: bedrockOK}, status: 404, typ: "UnknownOperationException", invalid: true},
		{name: "Anthropic's path", call: bedrockCall{path: "/v1/messages", body: bedrockOK}, status: 404, typ: "UnknownOperationException", invalid: true},
		{name: "GET", call: bedrockCall{method: "GET", path: invoke}, status: 404, typ: "UnknownOperationException", invalid: true},
		{name: "bad model ID", call: bedrockCall{path: "/model/bad+model/invoke", body: bedrockOK}, status: 400, typ: "ValidationException", msg: bedrockBadModel, invalid: true},
		{name: "not JSON content", call: bedrockCall{path: invoke, body: bedrockOK, header: map[string]string{"Content-Type": "text/plain"}},
			status: 400, typ: "ValidationException", msg: "Content-Type", invalid: true},
		{name: "not JSON", call: bedrockCall{path: invoke, body: `{"anthropic_version":`}, status: 400, typ: "ValidationException", msg: "Malformed input request: #: expected type: JSONObject", invalid: true},
		{name: "model in the body", call: bedrockCall{path: invoke, body: with(`"max_tokens":50,"model":"m"`)},
			status: 400, typ: "ValidationException", msg: "Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again.", invalid: true},
		{name: "stream in the body", call: bedrockCall{path: "/model/m.x/invoke-with-response-stream", body: with(`"max_tokens":50,"stream":true`)},
			status: 400, typ: "ValidationException", msg: "extraneous key [stream]", invalid: true},
		{name: "unknown member", call: bedrockCall{path: invoke, body: with(`"max_tokens":50,"n":2`)}, status: 400, typ: "ValidationException", msg: "extraneous key [n]", invalid: true},
		{name: "no anthropic_version", call: bedrockCall{path: invoke, body: `{"max_tokens":5,"messages":[{"role":"user","content":"x"}]}`},
			status: 400, typ: "ValidationException", msg: "required key [anthropic_version] not found", invalid: true},
		{name: "Vertex's anthropic_version", call: bedrockCall{path: invoke, body: strings.Replace(bedrockOK, "bedrock-2023-05-31", "vertex-2023-10-16", 1)},
			status: 400, typ: "ValidationException", msg: "#/anthropic_version: vertex-2023-10-16 is not a valid enum value", invalid: true},
		{name: "anthropic_beta not a list", call: bedrockCall{path: invoke, body: with(`"max_tokens":50,"anthropic_beta":"x"`)},
			status: 400, typ: "ValidationException", msg: "#/anthropic_beta: expected type: JSONArray", invalid: true},
		{name: "anthropic_beta list accepted", call: bedrockCall{path: invoke, body: with(`"max_tokens":50,"anthropic_beta":["token-efficient-tools-2025-02-19"]`)}, status: 200},
		{name: "Anthropic's own checks", call: bedrockCall{path: invoke, body: with(`"max_tokens":50,"temperature":2`)},
			status: 400, typ: "ValidationException", msg: "temperature: Input should be less than or equal to 1", invalid: true},
		{name: "no max_tokens", call: bedrockCall{path: invoke, body: `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"x"}]}`},
			status: 400, typ: "ValidationException", msg: "max_tokens: Field required", invalid: true},
		{name: "count-tokens without input", call: bedrockCall{path: "/model/m.x/count-tokens", body: `{}`}, status: 400, typ: "ValidationException", msg: "'input'", invalid: true},
		{name: "count-tokens body not base64", call: bedrockCall{path: "/model/m.x/count-tokens", body: `{"input":{"invokeModel":{"body":"***"}}}`},
			status: 400, typ: "ValidationException", msg: "base64", invalid: true},
		{name: "count-tokens of a body with a model", call: bedrockCall{path: "/model/m.x/count-tokens", body: countBody(with(`"max_tokens":50,"model":"m"`))},
			status: 400, typ: "ValidationException", msg: "extraneous key [model]", invalid: true},
		{name: "unsigned", call: bedrockCall{path: invoke, body: bedrockOK, key: &SigV4Key{}}, status: 403, typ: "MissingAuthenticationTokenException", msg: SigV4MissingToken},
		{name: "wrong secret", call: bedrockCall{path: invoke, body: bedrockOK, key: &SigV4Key{AccessKeyID: bedrockTestKey.AccessKeyID, SecretAccessKey: "wrong"}},
			status: 403, typ: "InvalidSignatureException", msg: SigV4Mismatch},
		{name: "body changed after signing", call: bedrockCall{path: invoke, body: bedrockOK, afterSign: func(r *http.Request) {
			b := strings.Replace(bedrockOK, "hello", "HELLO", 1)
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(b)), int64(len(b))
		}}, status: 403, typ: "InvalidSignatureException", msg: SigV4Mismatch},
		{name: "stale signature", call: bedrockCall{path: invoke, body: bedrockOK, signAt: -6 * time.Minute}, status: 403, typ: "InvalidSignatureException", msg: "Signature expired"},
		{name: "unknown access key", call: bedrockCall{path: invoke, body: bedrockOK, key: &SigV4Key{AccessKeyID: "AKIDNOBODY", SecretAccessKey: "x"}},
			status: 403, typ: "UnrecognizedClientException", msg: SigV4InvalidToken},
		{name: "unknown API key", call: bedrockCall{path: invoke, body: bedrockOK, bearer: "ABSKnot-a-key"}, status: 403, typ: "UnrecognizedClientException", msg: SigV4InvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, clk := bedrockSim(t)
			a := tt.call.do(t, s, clk)
			require.Equal(t, tt.status, a.status, "body %s", a.body)
			assert.NotEmpty(t, a.header.Get("X-Amzn-Requestid"), "x-amzn-RequestId")
			if tt.status == 200 {
				assert.Equal(t, 0, s.InvalidCalls(), "counted as invalid")
				return
			}
			typ, ns, _ := strings.Cut(a.header.Get("X-Amzn-ErrorType"), ":")
			assert.Equal(t, tt.typ, typ, "x-amzn-ErrorType %q", a.header.Get("X-Amzn-ErrorType"))
			assert.True(t, strings.HasPrefix(ns, "http://internal.amazon.com/coral/"), "x-amzn-ErrorType %q", a.header.Get("X-Amzn-ErrorType"))
			var body map[string]string
			require.NoError(t, json.Unmarshal(a.body, &body), "body %s", a.body)
			assert.Len(t, body, 1, "body %s", a.body)
			assert.NotEmpty(t, body["message"], "body %s", a.body)
			assert.Contains(t, body["message"], tt.msg)
			want := 0
			if tt.invalid {
				want = 1
			}
			assert.Equal(t, want, s.InvalidCalls(), "InvalidCalls")
		})
	}
}

// TestBedrockSimExpiredSessionToken: a session the verifier expired is
// refused with ExpiredTokenException, as Bedrock answers an expired STS
// session.
func TestBedrockSimExpiredSessionToken(t *testing.T) {
	s, b, clk := bedrockSim(t)
	call := bedrockCall{path: "/model/m.x/invoke", body: bedrockOK, key: &bedrockTestTempKey}
	require.Equal(t, 200, call.do(t, s, clk).status)
	b.Signatures().ExpireSessionToken(bedrockTestTempKey.SessionToken)
	a := call.do(t, s, clk)
	require.Equal(t, 403, a.status, "body %s", a.body)
	assert.True(t, strings.HasPrefix(a.header.Get("X-Amzn-ErrorType"), "ExpiredTokenException:"), "type %q", a.header.Get("X-Amzn-ErrorType"))
	assert.JSONEq(t, `{"message":"`+SigV4ExpiredToken+`"}`, string(a.body))
}

// TestBedrockSimErrorTypes: injected faults answer with Bedrock's type for
// their status, or the type the fault's header names, and that type's
// message.
func TestBedrockSimErrorTypes(t *testing.T) {
	tests := []struct {
		status int
		header string
		typ    string
		msg    string
	}{
		{429, "", "ThrottlingException", "Too many requests, please wait before trying again."},
		{429, "ModelNotReadyException", "ModelNotReadyException", "Model is not ready"},
		{400, "ServiceQuotaExceededException", "ServiceQuotaExceededException", "Too many tokens"},
		{408, "", "ModelTimeoutException", "Model has timed out"},
		{424, "", "ModelErrorException", "unexpected error"},
		{500, "", "InternalServerException", "internal error"},
		{503, "", "ServiceUnavailableException", "Bedrock is unable to process your request."},
		{403, "", "AccessDeniedException", "You don't have access"},
		{404, "", "ResourceNotFoundException", "Could not resolve the foundation model"},
	}
	for _, tt := range tests {
		t.Run(tt.typ, func(t *testing.T) {
			s, _, clk := bedrockSim(t)
			f := Fault{Status: tt.status}
			if tt.header != "" {
				f.Header = map[string]string{"X-Amzn-ErrorType": tt.header}
			}
			s.Inject(f)
			a := bedrockCall{path: "/model/m.x/invoke", body: bedrockOK}.do(t, s, clk)
			require.Equal(t, tt.status, a.status)
			assert.True(t, strings.HasPrefix(a.header.Get("X-Amzn-ErrorType"), tt.typ+":"), "type %q", a.header.Get("X-Amzn-ErrorType"))
			var body map[string]string
			require.NoError(t, json.Unmarshal(a.body, &body), "body %s", a.body)
			assert.Contains(t, body["message"], tt.msg)
			assert.NotEmpty(t, a.header.Get("X-Amzn-Requestid"))
		})
	}
}

// bedrockFrames decodes an event-stream body with AWS's decoder (which
// checks both CRCs) into its messages.
func bedrockFrames(t *testing.T, body []byte) []eventstream.Message {
	t.Helper()
	r := bytes.NewReader(body)
	dec := eventstream.NewDecoder()
	var out []eventstream.Message
	for r.Len() > 0 {
		m, err := dec.Decode(r, nil)
		require.NoError(t, err, "frame %d", len(out))
		out = append(out, m.Clone())
	}
	return out
}

func frameHeader(m eventstream.Message, name string) string {
	if v := m.Headers.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// TestBedrockSimStream: invoke-with-response-stream answers event-stream
// frames with valid CRCs, each chunk a base64 Messages event in the
// Anthropic simulator's order, message_stop with Bedrock's invocation
// metrics; an in-stream fault ends the stream with an exception frame.
func TestBedrockSimStream(t *testing.T) {
	s, _, clk := bedrockSim(t)
	body := `{"anthropic_version":"bedrock-2023-05-31","max_tokens":100,"tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}],` +
		`"messages":[{"role":"user","content":"weather in Lima"}]}`
	a := bedrockCall{path: "/model/m.x/invoke-with-response-stream", body: body}.do(t, s, clk)
	require.Equal(t, 200, a.status, "body %s", a.body)
	assert.Equal(t, "application/vnd.amazon.eventstream", a.header.Get("Content-Type"))
	assert.Equal(t, "application/json", a.header.Get("X-Amzn-Bedrock-Content-Type"))
	assert.NotEmpty(t, a.header.Get("X-Amzn-Requestid"))
	assert.Empty(t, a.header.Get("Request-Id"), "Anthropic's request-id leaked")
	assert.Empty(t, a.header.Get("Anthropic-Ratelimit-Requests-Limit"), "Anthropic's rate-limit headers leaked")
	var names []string
	var last map[string]any
	for _, m := range bedrockFrames(t, a.body) {
		require.Equal(t, "event", frameHeader(m, ":message-type"))
		require.Equal(t, "chunk", frameHeader(m, ":event-type"))
		require.Equal(t, "application/json", frameHeader(m, ":content-type"))
		var chunk struct {
			Bytes string `json:"bytes"`
			P     string `json:"p"`
		}
		require.NoError(t, json.Unmarshal(m.Payload, &chunk))
		assert.NotEmpty(t, chunk.P, "padding")
		data, err := base64.StdEncoding.DecodeString(chunk.Bytes)
		require.NoError(t, err)
		var ev map[string]any
		require.NoError(t, json.Unmarshal(data, &ev), "event %s", data)
		if n, _ := ev["type"].(string); len(names) == 0 || names[len(names)-1] != n {
			names = append(names, n)
		}
		last = ev
	}
	assert.Equal(t, "message_start content_block_start ping content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop",
		strings.Join(names, " "))
	metrics, _ := last["amazon-bedrock-invocationMetrics"].(map[string]any)
	require.NotNil(t, metrics, "message_stop %v", last)
	in, out := s.Usage()
	assert.EqualValues(t, in, metrics["inputTokenCount"])
	assert.EqualValues(t, out, metrics["outputTokenCount"])
	assert.NotZero(t, in)

	s.Inject(Fault{Body: `{"message":"Too many tokens, please wait before trying again."}`, Header: map[string]string{"x-amzn-ErrorType": "throttlingException"}})
	a = bedrockCall{path: "/model/m.x/invoke-with-response-stream", body: bedrockOK}.do(t, s, clk)
	require.Equal(t, 200, a.status)
	frames := bedrockFrames(t, a.body)
	require.Len(t, frames, 3, "message_start, content_block_start, exception")
	ex := frames[2]
	assert.Equal(t, "exception", frameHeader(ex, ":message-type"))
	assert.Equal(t, "throttlingException", frameHeader(ex, ":exception-type"))
	assert.JSONEq(t, `{"message":"Too many tokens, please wait before trying again."}`, string(ex.Payload))
}

// TestBedrockSimAnswers: invoke answers the Anthropic simulator's message
// and count-tokens the same input count.
func TestBedrockSimAnswers(t *testing.T) {
	s, _, clk := bedrockSim(t)
	a := bedrockCall{path: "/model/m.x/invoke", body: bedrockOK}.do(t, s, clk)
	require.Equal(t, 200, a.status, "body %s", a.body)
	assert.Equal(t, "application/json", a.header.Get("Content-Type"))
	var msg struct {
		Type, Model string
		Content     []struct{ Type, Text string }
		Usage       struct {
			InputTokens int `json:"input_tokens"`
		}
	}
	require.NoError(t, json.Unmarshal(a.body, &msg))
	assert.Equal(t, "message", msg.Type)
	assert.Equal(t, "m.x", msg.Model)
	require.Len(t, msg.Content, 1)
	assert.Equal(t, "You said: hello there", msg.Content[0].Text)

	c := bedrockCall{path: "/model/m.x/count-tokens", body: `{"input":{"invokeModel":{"body":"` + base64.StdEncoding.EncodeToString([]byte(bedrockOK)) + `"}}}`}.do(t, s, clk)
	require.Equal(t, 200, c.status, "body %s", c.body)
	var count map[string]int
	require.NoError(t, json.Unmarshal(c.body, &count))
	assert.Equal(t, map[string]int{"inputTokens": msg.Usage.InputTokens}, count)
	assert.NotEmpty(t, c.header.Get("X-Amzn-Requestid"))
}
