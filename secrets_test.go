package switchyard

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/minio/minio-go/v7"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/s3/s3test"
	"github.com/switchyard-ai/switchyard/redact"
	"github.com/switchyard-ai/switchyard/sim"
)

// Canary secrets of five shapes: an OpenAI-style key, a Groq key, a Hugging
// Face token, a plain string such as a vLLM --api-key value (with characters
// that URL and JSON escaping change), and an S3 access/secret pair.
const (
	canSK    = "sk-canary-SKSHAPE-4f9a2c7e1b3d5a6c8e0f"
	canGSK   = "gsk_canaryGSKSHAPE7e1b3d5a6c8e0f4f9a2c"
	canHF    = "hf_canaryHFSHAPEb3d5a6c8e0f4f9a2c7e1"
	canPlain = "vllm-canary&plain<key>/+=9c8e0f"
	canS3Acc = "AKIACANARYS3ACCESS7Q2X"
	canS3Sec = "wJalrCANARYs3SECRET/K7MDENG+bPxRfiCYzq9"
)

var canaries = []string{canSK, canGSK, canHF, canPlain, canS3Acc, canS3Sec}

// canaryForms are the ways a canary can be written out: raw (which covers
// "Bearer <v>"), URL query and path escaped, JSON escaped, Go quoted,
// base64 of itself, and the base64 characters that encode it inside any
// longer base64 text (HTTP basic "user:<v>") at each of the three
// alignments.
func canaryForms() []string {
	var forms []string
	for _, c := range canaries {
		j, _ := json.Marshal(c)
		forms = append(forms, c, url.QueryEscape(c), url.PathEscape(c), string(j[1:len(j)-1]), strconv.Quote(c)[1:len(strconv.Quote(c))-1],
			base64.StdEncoding.EncodeToString([]byte(c)))
		for k := range 3 {
			n := (len(c) - k) / 3 * 3
			forms = append(forms, base64.RawStdEncoding.EncodeToString([]byte(c[k:k+n])), base64.RawURLEncoding.EncodeToString([]byte(c[k:k+n])))
		}
	}
	return forms
}

// assertNoCanary fails for every canary form found in text.
func assertNoCanary(t *testing.T, what, text string) {
	t.Helper()
	for _, f := range canaryForms() {
		if i := strings.Index(text, f); i >= 0 {
			// Show the leak in context, not the whole (possibly long) text.
			lo, hi := max(0, i-60), min(len(text), i+len(f)+60)
			assert.Fail(t, "canary leaked", "%s leaks canary form %q: …%s…", what, f, text[lo:hi])
		}
	}
}

// hostile is an upstream that echoes every secret back, in front of the
// real simulators: an http.RoundTripper given to Config.HTTPClient. The
// scenario comes from the request ID (sent as X-Request-ID on every request,
// S3's included): "json400", "json429", "auth" answer an error whose every
// field holds the canaries (JSON, or S3's XML), "html502" an HTML page that
// holds them, "stream" forwards to the simulator and replaces its stream
// after the first text event by an error event holding them, "ok" forwards
// and only adds the headers. Every answer carries the canaries in its
// headers (x-request-id and friends).
type hostile struct {
	kinds map[string]string // host → backend kind
	next  http.RoundTripper
}

func (h *hostile) RoundTrip(req *http.Request) (*http.Response, error) {
	id := req.Header.Get("X-Request-Id")
	scenario, _, _ := strings.Cut(strings.TrimPrefix(id, "sec-"), "-")
	kind := h.kinds[req.URL.Host]
	auth := req.Header.Get("Authorization") + " " + req.Header.Get("X-Api-Key") + " " + req.Header.Get("X-Goog-Api-Key") + " " + req.URL.Query().Get("key")
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		_ = req.Body.Close()
	}
	switch scenario {
	case "json400":
		return h.answer(req, kind, 400, auth), nil
	case "json429":
		return h.answer(req, kind, 429, auth), nil
	case "auth":
		return h.answer(req, kind, 401, auth), nil
	case "html502":
		body := "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1><p>key " +
			echo(auth) + "</p></body></html>"
		return h.respond(req, 502, "text/html; charset=utf-8", body), nil
	}
	out := req.Clone(req.Context())
	if req.GetBody != nil {
		out.Body, _ = req.GetBody()
	}
	resp, err := h.next.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	hostileHeaders(resp.Header, auth)
	if scenario == "stream" && resp.StatusCode == 200 {
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return nil, err
		}
		resp.Body = io.NopCloser(strings.NewReader(streamWithError(kind, string(b), auth)))
		resp.ContentLength = -1
		resp.Header.Del("Content-Length")
	}
	return resp, nil
}

// echo is an upstream message quoting every canary back, in its raw, basic
// and URL-encoded forms, and the credentials the request carried.
func echo(auth string) string {
	return "Incorrect API key provided: " + strings.Join(canaries, ", ") + "; basic " +
		base64.StdEncoding.EncodeToString([]byte("user:"+canS3Sec)) + " query key=" + url.QueryEscape(canPlain) + " sent " + strings.TrimSpace(auth)
}

func hostileHeaders(h http.Header, auth string) {
	h.Set("Request-Id", canSK)
	h.Set("X-Request-Id", canGSK)
	h.Set("X-Amz-Request-Id", canS3Acc)
	h.Set("X-Amz-Id-2", canS3Sec)
	h.Set("X-Goog-Request-Id", canHF)
	h.Set("Cf-Ray", canPlain)
	h.Set("X-Amzn-Requestid", canS3Acc)
	h.Set("Apim-Request-Id", canGSK)
	h.Set("Www-Authenticate", `Bearer realm="api", error="invalid_token", error_description="`+canSK+`"`)
	h.Set("X-Echo-Authorization", strings.TrimSpace(auth))
}

func (h *hostile) respond(req *http.Request, status int, ctype, body string) *http.Response {
	resp := &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}
	resp.Header.Set("Content-Type", ctype)
	hostileHeaders(resp.Header, req.Header.Get("Authorization"))
	if status == 429 {
		resp.Header.Set("Retry-After", "1")
	}
	return resp
}

// answer is an error answer in the backend's format with a canary in every
// field.
func (h *hostile) answer(req *http.Request, kind string, status int, auth string) *http.Response {
	msg := echo(auth)
	switch wireFormat(kind) {
	case "s3":
		code := canS3Sec
		switch status {
		case 401:
			status, code = 403, "SignatureDoesNotMatch"
		case 429:
			status, code = 503, "SlowDown"
		}
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>` + code + `</Code><Message>` + xmlEscape(msg) + `</Message>` +
			`<Resource>/models</Resource><RequestId>` + canS3Acc + `</RequestId><HostId>` + xmlEscape(canS3Sec) + `</HostId>` +
			`<BucketName>models</BucketName><AWSAccessKeyId>` + canS3Acc + `</AWSAccessKeyId><StringToSign>AWS4-HMAC-SHA256 ` +
			canS3Acc + `/` + xmlEscape(canS3Sec) + `</StringToSign></Error>`
		return h.respond(req, status, "application/xml", body)
	case "gemini":
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": status, "message": msg, "status": canHF,
			"details": []any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": canS3Sec, "domain": canPlain,
				"metadata": map[string]string{"key": canSK}}}}})
		return h.respond(req, status, "application/json", string(b))
	}
	b, _ := json.Marshal(map[string]any{
		"type":       "error",
		"error":      map[string]any{"message": msg, "type": canHF, "code": canS3Sec, "param": canPlain},
		"error_type": canGSK, "message": msg, "detail": msg,
	})
	return h.respond(req, status, "application/json", string(b))
}

var xmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;")

func xmlEscape(s string) string { return xmlEscaper.Replace(s) }

// streamWithError keeps the simulator's stream up to its first event that
// carries text (with a canary put into that text), then sends an error event
// in the backend's format with a canary in every field, and ends.
func streamWithError(kind, body, auth string) string {
	kind = wireFormat(kind)
	if kind == "anthropic_bedrock" {
		return bedrockStreamWithError(auth)
	}
	sep := "\n\n"
	if kind == "ollama" {
		sep = "\n"
	}
	events := strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), sep)
	var kept []string
	for i, ev := range events {
		if i == 6 {
			break
		}
		injected := false
		for _, m := range []string{`"content":"`, `"text":"`} {
			if j := strings.Index(ev, m); j >= 0 {
				ev = ev[:j+len(m)] + canSK + " " + ev[j+len(m):]
				injected = true
				break
			}
		}
		kept = append(kept, ev)
		if injected {
			break
		}
	}
	if len(kept) == 6 {
		kept = kept[:1]
	}
	msg := echo(auth)
	js := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	var errEv string
	switch kind {
	case "anthropic":
		errEv = "event: error\ndata: " + js(map[string]any{"type": "error", "error": map[string]any{"type": canHF, "message": msg}})
	case "gemini":
		errEv = "data: " + js(map[string]any{"error": map[string]any{"code": 500, "message": msg, "status": canHF,
			"details": []any{map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": canS3Sec}}}})
	case "ollama":
		errEv = js(map[string]any{"error": msg})
	case "hf_tgi":
		errEv = "data:" + js(map[string]any{"error": msg, "error_type": canHF})
	default:
		errEv = "data: " + js(map[string]any{"error": map[string]any{"message": msg, "type": canHF, "code": canS3Sec, "param": canPlain}})
	}
	return strings.Join(kept, sep) + sep + errEv + sep
}

// wireFormat is the backend whose error and stream formats kind uses: the
// Vertex hostings pass on Anthropic's and Gemini's.
func wireFormat(kind string) string {
	switch kind {
	case "anthropic_vertex":
		return "anthropic"
	case "gemini_vertex":
		return "gemini"
	}
	return kind
}

// bedrockStreamWithError is a Bedrock event stream of one chunk whose text
// holds a canary, then an exception message with a canary in its type and
// every field of its payload.
func bedrockStreamWithError(auth string) string {
	var b bytes.Buffer
	enc := eventstream.NewEncoder()
	chunk := func(ev map[string]any) {
		inner, _ := json.Marshal(ev)
		payload, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString(inner)})
		var m eventstream.Message
		m.Headers.Set(":message-type", eventstream.StringValue("event"))
		m.Headers.Set(":event-type", eventstream.StringValue("chunk"))
		m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
		m.Payload = payload
		_ = enc.Encode(&b, m)
	}
	chunk(map[string]any{"type": "message_start", "message": map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
		"content": []any{}, "usage": map[string]int{"input_tokens": 1, "output_tokens": 0}}})
	chunk(map[string]any{"type": "content_block_start", "index": 0, "content_block": map[string]any{"type": "text", "text": ""}})
	chunk(map[string]any{"type": "content_block_delta", "index": 0, "delta": map[string]any{"type": "text_delta", "text": canSK + " hello"}})
	payload, _ := json.Marshal(map[string]string{"message": echo(auth), "type": canHF, "code": canS3Sec})
	var m eventstream.Message
	m.Headers.Set(":message-type", eventstream.StringValue("exception"))
	m.Headers.Set(":exception-type", eventstream.StringValue(canGSK))
	m.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	m.Payload = payload
	_ = enc.Encode(&b, m)
	return b.String()
}

// secretBackend is one of the eleven backends as the secrets test drives it.
type secretBackend struct {
	kind    string
	baseURL string
	// plain is a request that succeeds against the simulator; stream a
	// streaming one (nil: the backend does not stream).
	plain, stream func(name string) messages.Request
	// okKey is the label of a key the simulator accepts.
	okKey string
}

func chatFor(model string, stream bool) func(string) messages.Request {
	return func(name string) messages.Request { return chatOf(model, stream)(name, 0) }
}

// secretKeys are the five canary keys of a provider; S3 keys are pairs, the
// "s3" one valid at the test's versitygw.
func secretKeys(kind string) []KeyConfig {
	switch kind {
	case "s3":
		return []KeyConfig{{Label: "s3", Secret: canS3Acc + ":" + canS3Sec}, {Label: "sk", Secret: "AKIASKSHAPE00000001:" + canSK},
			{Label: "gsk", Secret: "AKIAGSKSHAPE0000002:" + canGSK}, {Label: "hf", Secret: "AKIAHFSHAPE00000003:" + canHF},
			{Label: "plain", Secret: "AKIAPLAINSHAPE00004:" + canPlain}}
	case "anthropic_bedrock":
		// SigV4 keys whose secret keys are canaries (the simulator knows
		// them), and a Bedrock API key.
		keys := []KeyConfig{{Label: "plain", Secret: canPlain}}
		for _, k := range bedrockCanaryKeys() {
			keys = append(keys, KeyConfig{Label: k.label, AWS: &AWSConfig{AccessKeyID: k.key.AccessKeyID, SecretAccessKey: k.key.SecretAccessKey}})
		}
		return keys
	case "anthropic_vertex", "gemini_vertex":
		// Token sources that issue canaries (redacted as they are issued,
		// refused by the simulator), and a service account of googleSim.
		keys := []KeyConfig{{Label: "sa", Google: &GoogleConfig{CredentialsJSON: secretsServiceAccount()}}}
		for _, c := range []struct{ label, token string }{{"sk", canSK}, {"gsk", canGSK}, {"hf", canHF}, {"plain", canPlain}, {"s3", canS3Sec}} {
			keys = append(keys, KeyConfig{Label: c.label, TokenSource: canaryTokens(c.token)})
		}
		return keys
	}
	return []KeyConfig{{Label: "sk", Secret: canSK}, {Label: "gsk", Secret: canGSK}, {Label: "hf", Secret: canHF},
		{Label: "plain", Secret: canPlain}, {Label: "s3", Secret: canS3Sec}}
}

type bedrockCanaryKey struct {
	label string
	key   sim.SigV4Key
}

// bedrockCanaryKeys are AWS access keys whose secret keys are canaries.
func bedrockCanaryKeys() []bedrockCanaryKey {
	return []bedrockCanaryKey{{"sk", sim.SigV4Key{AccessKeyID: "AKIACANARYSKSHAPE001", SecretAccessKey: canSK}},
		{"gsk", sim.SigV4Key{AccessKeyID: "AKIACANARYGSKSHAPE02", SecretAccessKey: canGSK}},
		{"hf", sim.SigV4Key{AccessKeyID: "AKIACANARYHFSHAPE003", SecretAccessKey: canHF}},
		{"s3", sim.SigV4Key{AccessKeyID: "AKIACANARYS3SHAPE004", SecretAccessKey: canS3Sec}}}
}

var secretsSA = sync.OnceValue(func() []byte { return googleSim.ServiceAccount("secrets@sim-project.iam.gserviceaccount.com") })

// secretsServiceAccount is the service account the Vertex keys labelled
// "sa" use.
func secretsServiceAccount() []byte { return secretsSA() }

// canaryTokens is a token source that issues tok.
type canaryTokens string

func (c canaryTokens) Token(context.Context) (providers.Token, error) {
	return providers.Token{Value: string(c), ExpiresIn: time.Hour}, nil
}

// TestSecretsNeverEscape: on every backend, an upstream that echoes the
// caller's secrets in every error field, in its headers, in an HTML 5xx page
// and in a stream error event; nothing Switchyard lets out (errors in every
// format, responses, stream chunks, events, Tree, Stats, logs at debug
// level, /metrics) holds any form of any canary.
func TestSecretsNeverEscape(t *testing.T) {
	start := func(b sim.Backend) *sim.Server {
		s := sim.Start(b, sim.WithoutRecords())
		t.Cleanup(s.Close)
		return s
	}
	openai, anth, groq, llvm := start(sim.OpenAI()), start(sim.Anthropic()), start(sim.Groq()), start(sim.LLVM())
	oll, ovms, tgi, tei := start(sim.Ollama()), start(sim.OVMS()), start(sim.TGI()), start(sim.TEI())
	gem, opea, opeaLLM := start(&sim.GeminiBackend{}), start(sim.OPEA()), start(sim.OPEA())
	azure := start(sim.Azure())
	var awsKeys []sim.SigV4Key
	for _, k := range bedrockCanaryKeys() {
		awsKeys = append(awsKeys, k.key)
	}
	bedrock := start(sim.Bedrock(sim.BedrockOptions{Keys: awsKeys, APIKeys: []string{canPlain}}))
	claudeVertex, geminiVertex := start(sim.VertexAnthropic(googleSim)), start(sim.VertexGemini(googleSim))
	vgw := s3test.Start(t, s3test.Options{AccessKey: canS3Acc, SecretKey: canS3Sec})
	require.NoError(t, s3Direct(t, vgw).MakeBucket(context.Background(), "models", minio.MakeBucketOptions{}))

	backends := []secretBackend{
		{kind: "openai", baseURL: openai.URL + "/v1", plain: chatFor("gpt-test", false), stream: chatFor("gpt-test", true)},
		{kind: "anthropic", baseURL: anth.URL, plain: chatFor("claude-test", false), stream: chatFor("claude-test", true)},
		{kind: "gemini", baseURL: gem.URL, plain: chatFor("gemini-2.5-flash", false), stream: chatFor("gemini-2.5-flash", true)},
		{kind: "groq", baseURL: groq.URL, plain: chatFor("llama-3.3-70b-versatile", false), stream: chatFor("llama-3.3-70b-versatile", true), okKey: "gsk"},
		{kind: "llvm", baseURL: llvm.URL, plain: func(n string) messages.Request {
			return &messages.GenerateRequest{Call: messages.Call{Provider: n}, Model: "meta-llama/Llama-3.1-8B-Instruct", Prompt: "once", MaxTokens: 8}
		}, stream: chatFor("meta-llama/Llama-3.1-8B-Instruct", true)},
		{kind: "ollama", baseURL: oll.URL, plain: chatFor("llama3.2", false), stream: chatFor("llama3.2", true)},
		{kind: "ovms", baseURL: ovms.URL, plain: func(n string) messages.Request {
			return &messages.InferRequest{Call: messages.Call{Provider: n}, Model: "resnet",
				Inputs: []messages.Tensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 4}, Data: []float32{1, 2, 3, 4}}}}
		}, stream: chatFor("llama3", true)},
		{kind: "hf_tgi", baseURL: tgi.URL, plain: func(n string) messages.Request {
			return &messages.GenerateRequest{Call: messages.Call{Provider: n}, Prompt: "tell me", MaxTokens: 8}
		}, stream: func(n string) messages.Request {
			return &messages.GenerateRequest{Call: messages.Call{Provider: n}, Prompt: "tell me", MaxTokens: 8, Stream: true}
		}},
		{kind: "hf_tei", baseURL: tei.URL, plain: func(n string) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "bge", Inputs: []string{"one"}}
		}},
		{kind: "opea", baseURL: opea.URL, plain: chatFor("", false), stream: chatFor("", true)},
		{kind: "opea_llm", baseURL: opeaLLM.URL, plain: chatFor("Intel/neural-chat-7b-v3-3", false), stream: chatFor("Intel/neural-chat-7b-v3-3", true)},
		{kind: "azure_openai", baseURL: azure.URL, plain: chatFor("gpt-4o", false), stream: chatFor("gpt-4o", true)},
		{kind: "anthropic_bedrock", baseURL: bedrock.URL, plain: chatFor("anthropic.claude-sonnet-4-5-v1:0", false),
			stream: chatFor("anthropic.claude-sonnet-4-5-v1:0", true)},
		{kind: "anthropic_vertex", baseURL: vertexBaseURL(claudeVertex), plain: chatFor("claude-sonnet-4-5@20250929", false),
			stream: chatFor("claude-sonnet-4-5@20250929", true), okKey: "sa"},
		{kind: "gemini_vertex", baseURL: vertexBaseURL(geminiVertex), plain: chatFor("gemini-2.5-flash", false),
			stream: chatFor("gemini-2.5-flash", true), okKey: "sa"},
		{kind: "s3", baseURL: "http://" + vgw.Addr, plain: func(n string) messages.Request {
			return &messages.ListObjectsRequest{Call: messages.Call{Provider: n}, Bucket: "models"}
		}, okKey: "s3"},
	}

	tr := &hostile{kinds: map[string]string{}, next: http.DefaultTransport.(*http.Transport).Clone()}
	t.Cleanup(tr.next.(*http.Transport).CloseIdleConnections)
	cfg := Config{HTTPClient: &http.Client{Transport: tr}, Retry: RetryConfig{MaxAttempts: 1}, Breaker: BreakerConfig{ConsecutiveFailures: 100}}
	for _, b := range backends {
		u, err := url.Parse(b.baseURL)
		require.NoError(t, err)
		tr.kinds[u.Host] = b.kind
		cfg.Providers = append(cfg.Providers, ProviderConfig{Name: b.kind, Kind: b.kind,
			Endpoints: []EndpointConfig{{Name: "primary", BaseURL: b.baseURL, Keys: secretKeys(b.kind), Region: "us-east-1"}}})
	}
	h := newHarness(t, cfg, false)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var (
		mu       sync.Mutex
		captured []string
	)
	keep := func(format string, args ...any) {
		mu.Lock()
		captured = append(captured, fmt.Sprintf(format, args...))
		mu.Unlock()
	}
	keepErr := func(err error) {
		j, jerr := json.Marshal(err)
		keep("%v\n%+v\n%#v\n%s %v", err, err, err, j, jerr)
	}

	for _, b := range backends {
		okKey, authKey := "sk", "s3"
		if b.okKey != "" {
			okKey = b.okKey
		}
		if b.kind == "s3" {
			authKey = "sk"
		}
		t.Run(b.kind, func(t *testing.T) {
			fail := func(scenario, key string, req messages.Request) error {
				_, err := h.sy.Do(ctx, req, WithRequestID("sec-"+scenario+"-"+b.kind), WithKey(key))
				require.Error(t, err, scenario)
				keepErr(err)
				var ue *messages.UpstreamError
				require.ErrorAs(t, err, &ue, scenario)
				assert.Equal(t, redact.Marker, ue.UpstreamRequestID, "%s: the echoed request ID was scrubbed", scenario)
				return err
			}
			err := fail("json400", "hf", b.plain(b.kind))
			assert.Contains(t, err.Error(), redact.Marker, "the echoed message reached the error, scrubbed")
			fail("html502", "gsk", b.plain(b.kind))

			if b.stream != nil {
				st, err := h.sy.stream(ctx, b.stream(b.kind), []CallOption{WithRequestID("sec-stream-" + b.kind), WithKey(okKey)})
				require.NoError(t, err)
				for st.Next() {
					keep("%#v %s", st.Chunk(), st.Chunk().Text)
				}
				require.Error(t, st.Err(), "the stream ends with the upstream's error event")
				keepErr(st.Err())
				assert.Contains(t, st.Err().Error(), redact.Marker, "the error event's message reached the error, scrubbed")
			}

			resp, err := h.sy.Do(ctx, b.plain(b.kind), WithRequestID("sec-ok-"+b.kind), WithKey(okKey))
			require.NoError(t, err)
			j, _ := json.Marshal(resp)
			keep("%#v %s", resp, j)
			assert.Equal(t, redact.Marker, resp.ResponseMeta().UpstreamRequestID)

			fail("json429", "plain", b.plain(b.kind))
			fail("auth", authKey, b.plain(b.kind))
		})
	}

	tree := h.tree()
	stats, err := h.sy.Stats(ctx)
	require.NoError(t, err)
	qs, err := h.sy.QueueStatus(ctx)
	require.NoError(t, err)
	for _, v := range []any{tree, stats, qs} {
		j, err := json.Marshal(v)
		require.NoError(t, err)
		keep("%#v\n%+v\n%s", v, v, j)
	}
	lastErrors := 0
	for _, p := range tree.Providers {
		for _, ep := range p.Endpoints {
			for _, k := range ep.Keys {
				if k.Counters.LastError != "" {
					lastErrors++
				}
			}
		}
	}
	assert.Positive(t, lastErrors, "the snapshots hold the upstreams' errors")
	for _, e := range h.eventsOf(func(messages.Event) bool { return true }) {
		j, _ := json.Marshal(e)
		keep("%#v %s", e, j)
	}
	assert.NotEmpty(t, h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.KeyDisabled); return ok }))

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(h.sy.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		require.NoError(t, enc.Encode(f))
	}
	require.Contains(t, text.String(), "switchyard_failures_total")
	keep("%s", text.String())

	logs := h.logs.String()
	require.NotEmpty(t, logs)
	keep("%s", logs)

	mu.Lock()
	defer mu.Unlock()
	for i, c := range captured {
		assertNoCanary(t, fmt.Sprintf("capture %d", i), c)
	}
}

// TestSubscribersAreIsolated: Subscribe(nil) is refused, and a subscriber
// that panics on every event is recovered, logged without the secret and
// counted; the request whose outcome fired the event is still answered, and
// Close returns nil.
func TestSubscribersAreIsolated(t *testing.T) {
	srv := startAnthropic(t)
	h := newHarness(t, Config{Providers: []ProviderConfig{anthropicProvider("p", srv)}, Retry: RetryConfig{MaxAttempts: 1}}, false)

	unsubscribe := h.sy.Subscribe(nil)
	require.NotNil(t, unsubscribe)
	unsubscribe()
	h.sy.Subscribe(func(messages.Event) { panic("subscriber bug holding " + secretA) })

	// A 429 makes the provider publish KeyCooldown while it accounts for
	// the attempt's outcome.
	srv.Inject(sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "1"}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := h.sy.Chat(ctx, chatReq("p", "hello"))
	require.Error(t, err)
	var ue *messages.UpstreamError
	require.ErrorAs(t, err, &ue, "the request is answered with the upstream's 429, not lost: %v", err)
	assert.Equal(t, 429, ue.Status)

	panics := h.sy.env.Events.SubscriberPanics()
	assert.Positive(t, panics)
	assert.NotEmpty(t, h.eventsOf(func(e messages.Event) bool { _, ok := e.(*messages.KeyCooldown); return ok }),
		"the other subscribers still get the event")

	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(h.sy.Collector()))
	fams, err := reg.Gather()
	require.NoError(t, err)
	assert.GreaterOrEqual(t, collectorSample(t, fams, "switchyard_event_subscriber_panics_total", nil), float64(panics))

	logs := h.logs.String()
	assert.Contains(t, logs, "event subscriber refused")
	assert.Contains(t, logs, "event subscriber panicked")
	assert.NotContains(t, logs, secretA)

	closeCtx, closeCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer closeCancel()
	require.NoError(t, h.sy.Close(closeCtx))
}
