package switchyard

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// httpBackend is one HTTP backend as the cross-backend tests drive it.
type httpBackend struct {
	kind    string
	start   func() *sim.Server
	baseURL func(*sim.Server) string
	secret  string
	// requests returns a request for the provider named name; i varies it.
	requests func(name string, i int) messages.Request
	// credential, for kinds whose keys are not API keys, turns the test's
	// secret into the key's credential (a signer's keys, a service
	// account); the simulator accepts the credentials of secret and of
	// secret+"x".
	credential func(kc *KeyConfig)
	// endpoint, when set, completes an endpoint's configuration (a region).
	endpoint func(ec *EndpointConfig)
}

// key is a key of b with label and secret (MaxInFlight n), as b's kind
// takes it.
func (b httpBackend) key(label, secret string, n int) KeyConfig {
	kc := KeyConfig{Label: label, Secret: secret, MaxInFlight: n}
	if b.credential != nil {
		b.credential(&kc)
	}
	return kc
}

// endpointOf is an endpoint of b on srv with keys.
func (b httpBackend) endpointOf(name string, srv *sim.Server, keys ...KeyConfig) EndpointConfig {
	ec := EndpointConfig{Name: name, BaseURL: b.baseURL(srv), Keys: keys}
	if b.endpoint != nil {
		b.endpoint(&ec)
	}
	return ec
}

func userMsg(text string) []messages.Message {
	return []messages.Message{{Role: messages.RoleUser, Content: text}}
}

func chatOf(model string, stream bool) func(name string, i int) *messages.ChatRequest {
	return func(name string, i int) *messages.ChatRequest {
		return &messages.ChatRequest{Call: messages.Call{Provider: name}, Model: model, MaxTokens: 64, Stream: stream,
			Messages: userMsg(fmt.Sprintf("question %d for the backend", i))}
	}
}

// mix picks one of several request makers by i.
func mix(makers ...func(name string, i int) messages.Request) func(string, int) messages.Request {
	return func(name string, i int) messages.Request { return makers[i%len(makers)](name, i) }
}

func asReq[T messages.Request](f func(string, int) T) func(string, int) messages.Request {
	return func(n string, i int) messages.Request { return f(n, i) }
}

var httpBackends = []httpBackend{
	{kind: "openai", start: func() *sim.Server { return sim.Start(sim.OpenAI(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL + "/v1" }, secret: secretA,
		requests: mix(asReq(chatOf("gpt-test", false)), asReq(chatOf("gpt-test", true)), func(n string, i int) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "text-embedding-3-small", Inputs: []string{"a", "b"}}
		})},
	{kind: "anthropic", start: func() *sim.Server { return sim.Start(sim.Anthropic(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretA,
		requests: mix(asReq(chatOf("claude-test", false)), asReq(chatOf("claude-test", true)), func(n string, i int) messages.Request {
			return &messages.CountTokensRequest{Call: messages.Call{Provider: n}, Chat: *chatOf("claude-test", false)(n, i)}
		})},
	{kind: "groq", start: func() *sim.Server { return sim.Start(sim.Groq(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: "gsk_test0123456789abcdefghijkl",
		requests: mix(asReq(chatOf("llama-3.3-70b-versatile", false)), asReq(chatOf("llama-3.3-70b-versatile", true)))},
	{kind: "llvm", start: func() *sim.Server { return sim.Start(sim.LLVM(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretB,
		requests: mix(asReq(chatOf("meta-llama/Llama-3.1-8B-Instruct", true)), func(n string, i int) messages.Request {
			return &messages.GenerateRequest{Call: messages.Call{Provider: n}, Model: "meta-llama/Llama-3.1-8B-Instruct", Prompt: "once upon a time", MaxTokens: 16}
		}, func(n string, i int) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "intfloat/e5-mistral-7b-instruct", Inputs: []string{"x", "y"}}
		})},
	{kind: "ollama", start: func() *sim.Server { return sim.Start(sim.Ollama(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretC,
		requests: mix(asReq(chatOf("llama3.2", false)), asReq(chatOf("llama3.2", true)), func(n string, i int) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "embeddinggemma", Inputs: []string{"p", "q"}}
		})},
	{kind: "ovms", start: func() *sim.Server { return sim.Start(sim.OVMS(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretA,
		requests: mix(func(n string, i int) messages.Request {
			return &messages.InferRequest{Call: messages.Call{Provider: n}, Model: "resnet",
				Inputs: []messages.Tensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 4}, Data: []float32{1, 2, 3, float32(i % 7)}}}}
		}, asReq(chatOf("llama3", true)))},
	{kind: "hf_tgi", start: func() *sim.Server { return sim.Start(sim.TGI(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretC,
		requests: mix(asReq(chatOf("tgi", true)), func(n string, i int) messages.Request {
			return &messages.GenerateRequest{Call: messages.Call{Provider: n}, Prompt: "tell me a story", MaxTokens: 12, Stream: i%2 == 0}
		})},
	{kind: "hf_tei", start: func() *sim.Server { return sim.Start(sim.TEI(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretA,
		requests: mix(func(n string, i int) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "bge", Inputs: []string{"one", "two", "three"}}
		}, func(n string, i int) messages.Request {
			return &messages.RerankRequest{Call: messages.Call{Provider: n}, Model: "bge", Query: "circuit breaker", Documents: []string{"a breaker trips", "bread", "circuits"}, TopN: 2}
		})},
	{kind: "gemini", start: func() *sim.Server {
		return sim.Start(&sim.GeminiBackend{RetryDelay: 10 * time.Millisecond}, sim.WithoutRecords())
	},
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretB,
		requests: mix(asReq(chatOf("gemini-2.5-flash", false)), asReq(chatOf("gemini-2.5-flash", true)), func(n string, i int) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "gemini-embedding-001", Inputs: []string{"u", "v"}}
		})},
	{kind: "opea", start: func() *sim.Server { return sim.Start(sim.OPEA(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretB,
		requests: mix(asReq(chatOf("", true)), asReq(chatOf("", false)))},
	{kind: "azure_openai", start: func() *sim.Server { return sim.Start(sim.Azure(), sim.WithoutRecords()) },
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretC,
		requests: mix(asReq(chatOf("gpt-4o", false)), asReq(chatOf("gpt-4o", true)), func(n string, i int) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "text-embedding-3-small", Inputs: []string{"g", "h"}}
		})},
	{kind: "anthropic_bedrock", start: func() *sim.Server {
		return sim.Start(sim.Bedrock(sim.BedrockOptions{Keys: []sim.SigV4Key{awsKeyOf(secretA), awsKeyOf(secretA + "x")}}), sim.WithoutRecords())
	},
		baseURL: func(s *sim.Server) string { return s.URL }, secret: secretA,
		credential: func(kc *KeyConfig) {
			k := awsKeyOf(kc.Secret)
			kc.Secret, kc.AWS = "", &AWSConfig{AccessKeyID: k.AccessKeyID, SecretAccessKey: k.SecretAccessKey}
		},
		endpoint: func(ec *EndpointConfig) { ec.Region = "us-east-1" },
		requests: mix(asReq(chatOf("anthropic.claude-sonnet-4-5-v1:0", false)), asReq(chatOf("anthropic.claude-sonnet-4-5-v1:0", true)), func(n string, i int) messages.Request {
			return &messages.CountTokensRequest{Call: messages.Call{Provider: n}, Chat: *chatOf("anthropic.claude-sonnet-4-5-v1:0", false)(n, i)}
		})},
	{kind: "anthropic_vertex", start: func() *sim.Server { return sim.Start(sim.VertexAnthropic(googleSim), sim.WithoutRecords()) },
		baseURL: vertexBaseURL, secret: secretB, credential: googleCredential,
		requests: mix(asReq(chatOf("claude-sonnet-4-5@20250929", false)), asReq(chatOf("claude-sonnet-4-5@20250929", true)), func(n string, i int) messages.Request {
			return &messages.CountTokensRequest{Call: messages.Call{Provider: n}, Chat: *chatOf("claude-sonnet-4-5@20250929", false)(n, i)}
		})},
	{kind: "gemini_vertex", start: func() *sim.Server { return sim.Start(sim.VertexGemini(googleSim), sim.WithoutRecords()) },
		baseURL: vertexBaseURL, secret: secretC, credential: googleCredential,
		requests: mix(asReq(chatOf("gemini-2.5-flash", false)), asReq(chatOf("gemini-2.5-flash", true)), func(n string, i int) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: n}, Model: "text-embedding-005", Inputs: []string{"m", "n"}}
		})},
}

// googleSim is the Google OAuth2 token endpoint the Vertex simulators
// accept tokens of; TestMain starts and stops it.
var googleSim *sim.GoogleOAuth

// vertexBaseURL is a Vertex simulator's base URL for project sim-project
// in us-central1.
func vertexBaseURL(s *sim.Server) string {
	return s.URL + "/v1/projects/sim-project/locations/us-central1"
}

var (
	serviceAccountsMu sync.Mutex
	serviceAccounts   = map[string][]byte{}
)

// googleCredential turns a test secret into a service account of
// googleSim (one per secret, made once: RSA keys take a while).
func googleCredential(kc *KeyConfig) {
	serviceAccountsMu.Lock()
	defer serviceAccountsMu.Unlock()
	key, ok := serviceAccounts[kc.Secret]
	if !ok {
		key = googleSim.ServiceAccount(fmt.Sprintf("sa-%d@sim-project.iam.gserviceaccount.com", len(serviceAccounts)+1))
		serviceAccounts[kc.Secret] = key
	}
	kc.Secret, kc.Google = "", &GoogleConfig{CredentialsJSON: key}
}

// awsKeyOf is the AWS access key a test secret stands for.
func awsKeyOf(secret string) sim.SigV4Key {
	id := strings.ToUpper(strings.NewReplacer("-", "", "_", "").Replace(secret))
	return sim.SigV4Key{AccessKeyID: "AKIA" + id[len(id)-16:], SecretAccessKey: secret}
}

// Every HTTP backend answers its happy path through the whole tree.
func TestEveryBackendThroughTheTree(t *testing.T) {
	var cfg Config
	for _, b := range httpBackends {
		srv := b.start()
		t.Cleanup(srv.Close)
		cfg.Providers = append(cfg.Providers, ProviderConfig{Name: b.kind, Kind: b.kind, Endpoints: []EndpointConfig{
			b.endpointOf("primary", srv, b.key("k", b.secret, 0))}})
	}
	h := newHarness(t, cfg, false)
	for _, b := range httpBackends {
		for i := 0; i < 3; i++ {
			req := b.requests(b.kind, i)
			t.Run(fmt.Sprintf("%s/%s-%d", b.kind, req.Operation(), i), func(t *testing.T) {
				var err error
				if sr, ok := req.(messages.StreamingRequest); ok && sr.Streaming() {
					var st *Stream
					st, err = h.sy.stream(context.Background(), req, nil)
					if err == nil {
						n := 0
						for st.Next() {
							n++
						}
						err = st.Err()
						if err == nil {
							require.NotEqual(t, 0, n, "a stream without chunks")
						}
					}
				} else {
					_, err = h.sy.Do(context.Background(), req)
				}
				require.NoError(t, err)
			})
		}
	}
	for _, p := range h.tree().Providers {
		require.NotEqual(t, uint64(0), p.Counters.Successes, "%s counters %+v", p.Name, p.Counters)
		require.Equal(t, uint64(0), p.Counters.FailureTotal(), "%s counters %+v", p.Name, p.Counters)
	}
}

// The exactly-one-answer test over every HTTP backend at once: random
// faults, cancellations, deadlines and key-actor panics, two endpoints per
// backend.
func TestEveryBackendAnswersExactlyOnce(t *testing.T) {
	const perBackend = 60
	rng := rand.New(rand.NewPCG(7, 8))
	var servers []*sim.Server
	var cfg Config
	for _, b := range httpBackends {
		pc := ProviderConfig{Name: b.kind, Kind: b.kind}
		for _, ep := range []string{"e1", "e2"} {
			srv := b.start()
			t.Cleanup(srv.Close)
			servers = append(servers, srv)
			pc.Endpoints = append(pc.Endpoints, b.endpointOf(ep, srv, b.key("k1", b.secret, 3), b.key("k2", b.secret+"x", 3)))
		}
		cfg.Providers = append(cfg.Providers, pc)
	}
	var panics atomic.Int64
	cfg.hooks = &actors.Hooks{
		KeyPanic:         func(id string) bool { return strings.HasSuffix(id, "-13") && panics.Add(1) > 0 },
		KeyPanicOnResult: func(id string) bool { return strings.HasSuffix(id, "-29") && panics.Add(1) > 0 },
	}
	cfg.Retry = RetryConfig{MaxAttempts: 3, BaseDelay: time.Millisecond, MaxDelay: 5 * time.Millisecond}
	cfg.Breaker = BreakerConfig{ConsecutiveFailures: 4, Cooldown: 20 * time.Millisecond, MaxCooldown: 60 * time.Millisecond}
	cfg.Timeouts = TimeoutsConfig{Header: 300 * time.Millisecond, StreamIdle: 100 * time.Millisecond}
	cfg.Queue = QueueConfig{High: 200, Normal: 200, Low: 200, AgingAfter: 20 * time.Millisecond}
	h := newHarness(t, cfg, false)

	faults := []sim.Fault{{Status: 500}, {Status: 503, Times: 2}, {Status: 429, Header: map[string]string{"Retry-After-Ms": "2"}},
		{Status: 400}, {Malformed: true}, {CutAfter: 2}, {StallAfter: 1}, {HeaderDelay: 400 * time.Millisecond}, {ChunkDelay: 3 * time.Millisecond}}
	stop := make(chan struct{})
	var fw sync.WaitGroup
	fw.Add(1)
	go func() {
		defer fw.Done()
		r := rand.New(rand.NewPCG(9, 10))
		for {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
				servers[r.IntN(len(servers))].Inject(faults[r.IntN(len(faults))])
			}
		}
	}()

	var wg sync.WaitGroup
	answers := make(map[string]int)
	var mu sync.Mutex
	n := 0
	for _, b := range httpBackends {
		for i := 0; i < perBackend; i++ {
			req := b.requests(b.kind, i)
			call := req.CallInfo()
			call.RequestID = fmt.Sprintf("%s-%d", b.kind, i)
			call.Priority = messages.PriorityAt(rng.IntN(3))
			if rng.IntN(8) == 0 {
				call.Deadline = time.Now().Add(time.Duration(rng.IntN(100)) * time.Millisecond)
			}
			var cancelIn time.Duration
			if rng.IntN(6) == 0 {
				cancelIn = time.Duration(1+rng.IntN(20)) * time.Millisecond
			}
			n++
			wg.Add(1)
			go func() {
				defer wg.Done()
				callOnce(h.sy, req, cancelIn)
				mu.Lock()
				answers[call.RequestID]++
				mu.Unlock()
			}()
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		q, _ := h.sy.QueueStatus(context.Background())
		tr, _ := h.sy.Tree(context.Background())
		require.Fail(t, "callers hung", "%d of %d answered\nqueue %+v\ntree %s", len(answers), n, q, describeTree(tr))
	}
	close(stop)
	fw.Wait()
	for id, c := range answers {
		require.Equal(t, 1, c, "%s answered %d times", id, c)
	}
	require.Len(t, answers, n, "%d of %d answered", len(answers), n)
	require.NotContains(t, h.logs.String(), "answer dropped", "the dispatcher tried to answer a request twice")
	q, err := h.sy.QueueStatus(context.Background())
	require.NoError(t, err, "left behind: %+v %v", q, err)
	require.Equal(t, 0, q.InFlight, "left behind: %+v %v", q, err)
	require.Equal(t, 0, q.Backoff, "left behind: %+v %v", q, err)
	require.NotEqual(t, int64(0), panics.Load(), "no panic was injected")
}
