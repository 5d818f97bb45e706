package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hfDo sends a raw request to a simulator and returns status, headers and
// body.
func hfDo(t *testing.T, s *Server, method, path string, header map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, string(b)
}

var hfJSONHeader = map[string]string{"Content-Type": "application/json"}

// TestTEISimulatorIsStrict checks that the simulator rejects what the router
// rejects, with its status and error shape, so the adapter tests mean
// something.
func TestTEISimulatorIsStrict(t *testing.T) {
	jh := hfJSONHeader
	tests := []struct {
		name    string
		backend *TEIBackend
		method  string
		path    string
		header  map[string]string
		body    string
		status  int
		errType string // error_type of a JSON error; "" for none
		text    string // substring of the answer
		invalid bool   // counted as InvalidCalls
	}{
		{"embed ok", nil, "POST", "/embed", jh, `{"inputs":["a","b"]}`, 200, "", "[[", false},
		{"embed one string", nil, "POST", "/embed", jh, `{"inputs":"a"}`, 200, "", "[[", false},
		{"embed token ids", nil, "POST", "/embed", jh, `{"inputs":[[1,2],[3]]}`, 200, "", "[[", false},
		{"unknown path", nil, "POST", "/embedding", jh, `{}`, 404, "", "", true},
		{"wrong method", nil, "GET", "/embed", nil, ``, 405, "", "", true},
		{"no content type", nil, "POST", "/embed", nil, `{"inputs":["a"]}`, 415, "", "Content-Type: application/json", true},
		{"not JSON", nil, "POST", "/embed", jh, `{"inputs":`, 400, "", "Failed to parse the request body as JSON", true},
		{"trailing data", nil, "POST", "/embed", jh, `{"inputs":["a"]} {}`, 400, "", "trailing characters", true},
		{"not an object", nil, "POST", "/embed", jh, `["a"]`, 422, "", "expected struct EmbedRequest", true},
		{"missing inputs", nil, "POST", "/embed", jh, `{"normalize":true}`, 422, "", "missing field `inputs`", true},
		{"normalize not bool", nil, "POST", "/embed", jh, `{"inputs":["a"],"normalize":"yes"}`, 422, "", "normalize: invalid type", true},
		{"inputs of numbers and strings", nil, "POST", "/embed", jh, `{"inputs":[1,"a"]}`, 422, "", "inputs: invalid type", true},
		{"unknown field", nil, "POST", "/embed", jh, `{"inputs":["a"],"model":"x"}`, 422, "", "unknown field `model`", true},
		{"bad truncation direction", nil, "POST", "/embed", jh, `{"inputs":["a"],"truncation_direction":"Up"}`, 422, "", "truncation_direction", true},
		{"empty batch", nil, "POST", "/embed", jh, `{"inputs":[]}`, 400, "Empty", "cannot be empty", true},
		{"empty input", nil, "POST", "/embed", jh, `{"inputs":["a",""]}`, 413, "Validation", "cannot be empty", true},
		{"batch too large", &TEIBackend{MaxClientBatchSize: 2}, "POST", "/embed", jh, `{"inputs":["a","b","c"]}`, 413, "Validation", "batch size 3 > maximum allowed batch size 2", true},
		{"input too long", &TEIBackend{MaxInputLength: 2, DisableAutoTruncate: true}, "POST", "/embed", jh, `{"inputs":["a b c"]}`, 413, "Validation", "must have less than 2 tokens. Given: 3", true},
		{"input truncated", &TEIBackend{MaxInputLength: 2}, "POST", "/embed", jh, `{"inputs":["a b c"]}`, 200, "", "[[", false},
		{"too many dimensions", nil, "POST", "/embed", jh, `{"inputs":["a"],"dimensions":9}`, 413, "Validation", "dimensions", true},
		{"unknown prompt", nil, "POST", "/embed", jh, `{"inputs":["a"],"prompt_name":"title"}`, 413, "Validation", "prompt name", true},
		{"payload limit", &TEIBackend{PayloadLimit: 10}, "POST", "/embed", jh, `{"inputs":["abcdef"]}`, 413, "", "length limit exceeded", true},
		{"embed on a reranker", &TEIBackend{ModelType: "reranker"}, "POST", "/embed", jh, `{"inputs":["a"]}`, 424, "Backend", "not an embedding model", true},
		{"sparse on a dense model", &TEIBackend{ModelType: "embedding"}, "POST", "/embed_sparse", jh, `{"inputs":["a"]}`, 424, "Backend", "SPLADE", true},
		{"sparse normalize unknown", nil, "POST", "/embed_sparse", jh, `{"inputs":["a"],"normalize":true}`, 422, "", "unknown field `normalize`", true},
		{"rerank ok", nil, "POST", "/rerank", jh, `{"query":"q","texts":["q a","b"],"return_text":true}`, 200, "", `"text":"q a"`, false},
		{"rerank without query", nil, "POST", "/rerank", jh, `{"texts":["a"]}`, 422, "", "missing field `query`", true},
		{"rerank empty texts", nil, "POST", "/rerank", jh, `{"query":"q","texts":[]}`, 400, "Empty", "`texts` cannot be empty", true},
		{"rerank on an embedder", &TEIBackend{ModelType: "embedding"}, "POST", "/rerank", jh, `{"query":"q","texts":["a"]}`, 424, "Backend", "not a re-ranker", true},
		{"openai ok", nil, "POST", "/v1/embeddings", jh, `{"input":["a"],"model":"x","encoding_format":"base64"}`, 200, "", `"object":"list"`, false},
		{"openai alias", nil, "POST", "/embeddings", jh, `{"input":"a"}`, 200, "", `"object":"list"`, false},
		{"openai batch too large", &TEIBackend{MaxClientBatchSize: 1}, "POST", "/v1/embeddings", jh, `{"input":["a","b"]}`, 413, "Validation", `"code":413`, true},
		{"openai bad format", nil, "POST", "/v1/embeddings", jh, `{"input":["a"],"encoding_format":"hex"}`, 422, "", "encoding_format", true},
		{"info", nil, "GET", "/info", nil, ``, 200, "", `"max_client_batch_size":32`, false},
		{"health", nil, "GET", "/health", nil, ``, 200, "", "", false},
		{"api key missing", &TEIBackend{APIKey: "k"}, "POST", "/embed", jh, `{"inputs":["a"]}`, 401, "", "", false},
		{"api key wrong", &TEIBackend{APIKey: "k"}, "POST", "/embed", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer x"}, `{"inputs":["a"]}`, 401, "", "", false},
		{"api key right", &TEIBackend{APIKey: "k"}, "POST", "/embed", map[string]string{"Content-Type": "application/json", "Authorization": "Bearer k"}, `{"inputs":["a"]}`, 200, "", "[[", false},
		{"api key not needed for health", &TEIBackend{APIKey: "k"}, "GET", "/health", nil, ``, 200, "", "", false},
		{"api key needed for info", &TEIBackend{APIKey: "k"}, "GET", "/info", nil, ``, 401, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.backend
			if b == nil {
				b = TEI()
			}
			s := Start(b)
			defer s.Close()
			status, h, body := hfDo(t, s, tt.method, tt.path, tt.header, tt.body)
			require.Equal(t, tt.status, status, "got %d %q, want %d containing %q", status, body, tt.status, tt.text)
			require.Contains(t, body, tt.text, "got %d %q, want %d containing %q", status, body, tt.status, tt.text)
			if tt.errType != "" {
				var e map[string]any
				err := json.Unmarshal([]byte(body), &e)
				require.NoError(t, err, "error body %q (%v), want error_type %q", body, err, tt.errType)
				require.True(t, e["error_type"] == tt.errType, "error body %q (%v), want error_type %q", body, err, tt.errType)
				require.Equal(t, "application/json", h.Get("Content-Type"), "error body %q (%v), want error_type %q", body, err, tt.errType)
			}
			if status == 200 && tt.path != "/health" {
				require.Equal(t, "application/json", h.Get("Content-Type"), "content type")
			}
			if status == 200 && tt.method == "POST" {
				require.NotEqual(t, "", h.Get("X-Compute-Tokens"), "no x-compute-tokens")
			}
			got := s.InvalidCalls()
			require.Equal(t, tt.invalid, got == 1, "InvalidCalls %d, want invalid %v", got, tt.invalid)
			require.LessOrEqual(t, got, 1, "InvalidCalls %d, want invalid %v", got, tt.invalid)
		})
	}
}

func TestTEIDeterministicAnswers(t *testing.T) {
	s := Start(TEI())
	defer s.Close()
	_, _, body := hfDo(t, s, "POST", "/embed", hfJSONHeader, `{"inputs":["alpha","beta","alpha"],"normalize":false}`)
	var vecs [][]float32
	require.NoError(t, json.Unmarshal([]byte(body), &vecs))
	require.True(t, slices.Equal(vecs[0], vecs[2]), "vectors %v", vecs)
	require.False(t, slices.Equal(vecs[0], vecs[1]), "vectors %v", vecs)
	require.True(t, slices.Equal(vecs[1], TEIEmbedding("beta", 8, false)), "vectors %v", vecs)
	var norm float64
	for _, x := range TEIEmbedding("alpha", 8, true) {
		norm += float64(x) * float64(x)
	}
	require.False(t, math.Abs(norm-1) > 1e-5, "normalised vector has norm² %v", norm)
	in, _ := s.Usage()
	require.Equal(t, 3, in, "usage")
	require.False(t, TEIRerankScore("deep learning", "Deep learning!", false) <= TEIRerankScore("deep learning", "learning", false), "rerank scores do not follow word overlap")
	require.Equal(t, float32(-4), TEIRerankScore("a", "b", true), "rerank scores do not follow word overlap")
	require.Equal(t, float32(4), TEIRerankScore("a", "a", true), "rerank scores do not follow word overlap")
	sp := TEISparse("the cat the", 100)
	require.Len(t, sp, 2, "sparse")
	require.Less(t, sp[0].Index, sp[1].Index, "sparse")
}

func TestTEIOverloadedAndUnhealthy(t *testing.T) {
	b := &TEIBackend{MaxConcurrentRequests: 1}
	s := Start(b)
	defer s.Close()
	// Occupy the one slot from inside, then call.
	b.inflight.Add(1)
	status, _, body := hfDo(t, s, "POST", "/embed", hfJSONHeader, `{"inputs":["a"]}`)
	require.Equal(t, 429, status)
	require.Contains(t, body, `"error_type":"Overloaded"`)
	status, _, body = hfDo(t, s, "POST", "/v1/embeddings", hfJSONHeader, `{"input":["a"]}`)
	require.Equal(t, 429, status)
	require.Contains(t, body, `"code":429`)
	b.inflight.Add(-1)
	status, _, _ = hfDo(t, s, "POST", "/embed", hfJSONHeader, `{"inputs":["a"]}`)
	require.Equal(t, 200, status, "after release")
	b.SetHealthy(false)
	status, _, body = hfDo(t, s, "GET", "/health", nil, "")
	require.Equal(t, 503, status)
	require.Contains(t, body, `"error_type":"Unhealthy"`)
	require.Equal(t, 0, s.InvalidCalls(), "overload and health counted as invalid")
}

func TestTEIConcurrentUse(t *testing.T) {
	s := Start(&TEIBackend{MaxClientBatchSize: 4})
	defer s.Close()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := `{"inputs":["x y","z"]}`
			if i%2 == 0 {
				body = `{"inputs":["a","b","c","d","e"]}`
			}
			status, _, _ := hfDo(t, s, "POST", "/embed", hfJSONHeader, body)
			assert.Equal(t, i%2 == 1, status == 200, "request %d: %d", i, status)
		}()
	}
	wg.Wait()
	require.Equal(t, 8, s.InvalidCalls(), "invalid")
	in, _ := s.Usage()
	require.Equal(t, 8*3, in, "usage")
}

// teiPost posts body to path and returns the status, or an error; safe to
// call from any goroutine.
func teiPost(ctx context.Context, s *Server, path, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// teiWaitFor polls cond until it holds, failing the test after 10 s.
func teiWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		require.False(t, time.Now().After(deadline), "timed out waiting for %s", what)
		time.Sleep(time.Millisecond)
	}
}

// TestTEIComputeCostSerializes shows the cost model: with one worker, N
// concurrent single-input calls compute one at a time, so together they
// take at least N×CallCost, and their compute time is N×CallCost, while the
// same inputs in one call cost CallCost plus N×InputCost.
func TestTEIComputeCostSerializes(t *testing.T) {
	const n = 6
	callCost, inputCost := 20*time.Millisecond, time.Millisecond
	b := &TEIBackend{CallCost: callCost, InputCost: inputCost}
	s := Start(b)
	defer s.Close()
	start := time.Now()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			status, err := teiPost(context.Background(), s, "/embed", fmt.Sprintf(`{"inputs":["input %d"]}`, i))
			if err == nil && status != http.StatusOK {
				err = fmt.Errorf("status %d", status)
			}
			errs <- err
		}()
	}
	for range n {
		require.NoError(t, <-errs)
	}
	// A lower bound only: the calls held the one slot in turn.
	elapsed := time.Since(start)
	require.GreaterOrEqual(t, elapsed, n*callCost, "%d calls took %v, less than %d×%v: they computed at once", n, elapsed, n, callCost)
	got := b.MaxComputing()
	require.Equal(t, 1, got, "MaxComputing %d, want 1 (Workers default)", got)
	singles := n * (callCost + inputCost)
	require.Equal(t, singles, b.ComputeTime(), "ComputeTime")
	require.Equal(t, 0, b.Computing(), "computing %d, waiting %d after the calls", b.Computing(), b.Waiting())
	require.Equal(t, 0, b.Waiting(), "computing %d, waiting %d after the calls", b.Computing(), b.Waiting())

	inputs := make([]string, n)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("%q", fmt.Sprint("input ", i))
	}
	status, _, _ := hfDo(t, s, "POST", "/embed", hfJSONHeader, `{"inputs":[`+strings.Join(inputs, ",")+`]}`)
	require.Equal(t, int(http.StatusOK), status, "batched call")
	batched := b.ComputeTime() - singles
	require.Equal(t, callCost+n*inputCost, batched, "one call of %d inputs cost %v, want %v", n, batched, callCost+n*inputCost)
	require.Less(t, batched, singles, "one call of %d inputs cost %v, want %v", n, batched, callCost+n*inputCost)
}

// TestTEIComputeWorkersAndCancel checks that at most Workers requests
// compute at once, the others wait, and a request whose client goes away
// stops waiting or computing and frees its slot.
func TestTEIComputeWorkersAndCancel(t *testing.T) {
	b := &TEIBackend{CallCost: time.Hour, Workers: 2}
	s := Start(b)
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 4)
	for i := range 4 {
		path, body := "/embed", `{"inputs":["a"]}`
		if i%2 == 1 {
			path, body = "/rerank", `{"query":"q","texts":["a","b"]}`
		}
		go func() {
			_, err := teiPost(ctx, s, path, body)
			done <- err
		}()
	}
	teiWaitFor(t, "two computing and two waiting", func() bool { return b.Computing() == 2 && b.Waiting() == 2 })
	got := b.MaxComputing()
	require.Equal(t, 2, got, "MaxComputing %d, want Workers (2)", got)
	cancel()
	for range 4 {
		require.Error(t, <-done, "a request of an hour answered")
	}
	teiWaitFor(t, "the slots to be freed", func() bool { return b.Computing() == 0 && b.Waiting() == 0 && len(b.slots) == 0 })
	require.Equal(t, 2, b.MaxComputing(), "MaxComputing %d, ComputeTime %v after cancelled passes", b.MaxComputing(), b.ComputeTime())
	require.Equal(t, time.Duration(0), b.ComputeTime(), "MaxComputing %d, ComputeTime %v after cancelled passes", b.MaxComputing(), b.ComputeTime())
}

// TestTEIComputeCostRoutes checks that every embedding and rerank route
// spends the cost per input after validation, so refused requests cost
// nothing, and that no cost means no slot is ever taken.
func TestTEIComputeCostRoutes(t *testing.T) {
	const callCost, inputCost = time.Millisecond, 100 * time.Microsecond
	tests := []struct {
		path, body string
		cost       time.Duration
	}{
		{"/embed", `{"inputs":["a","b"]}`, callCost + 2*inputCost},
		{"/embed_sparse", `{"inputs":"a b"}`, callCost + inputCost},
		{"/v1/embeddings", `{"input":["a","b","c"]}`, callCost + 3*inputCost},
		{"/embeddings", `{"input":"a"}`, callCost + inputCost},
		{"/rerank", `{"query":"q","texts":["a","b","c","d"]}`, callCost + 4*inputCost},
		{"/embed", `{"inputs":["a","b","c"]}`, 0},                            // over MaxClientBatchSize
		{"/embed", `{"inputs":["a",""]}`, 0},                                 // empty input
		{"/rerank", `{"query":"q","texts":["a","b","c"]}`, 0},                // over MaxClientBatchSize
		{"/v1/embeddings", `{"input":["a"],"encoding_format":"hex"}`, 0},     // bad field
		{"/embed", `{"inputs":["a"],"dimensions":99}`, 0},                    // too many dimensions
		{"/rerank", `{"query":"q w","texts":["a b c"],"truncate":false}`, 0}, // too long
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			b := &TEIBackend{CallCost: callCost, InputCost: inputCost, MaxClientBatchSize: 4, MaxInputLength: 4}
			if tt.cost == 0 {
				b.MaxClientBatchSize = 2
			}
			s := Start(b)
			defer s.Close()
			status, _, body := hfDo(t, s, "POST", tt.path, hfJSONHeader, tt.body)
			require.Equal(t, (tt.cost > 0), status == http.StatusOK, "%d %s", status, body)
			require.Equal(t, tt.cost, b.ComputeTime(), "ComputeTime")
			require.Equal(t, min(1, int(tt.cost)), b.MaxComputing(), "MaxComputing")
		})
	}
	b := TEI()
	s := Start(b)
	defer s.Close()
	status, _, _ := hfDo(t, s, "POST", "/embed", hfJSONHeader, `{"inputs":["a"]}`)
	require.Equal(t, int(http.StatusOK), status)
	require.Equal(t, 0, b.MaxComputing(), "a backend without cost computed")
	require.Equal(t, time.Duration(0), b.ComputeTime(), "a backend without cost computed")
	require.Nil(t, b.slots, "a backend without cost computed")
}

func TestTEIWordEmbeddingSimilarityFollowsSharedWords(t *testing.T) {
	cos := func(a, b []float32) float64 {
		var s float64
		for i := range a {
			s += float64(a[i]) * float64(b[i])
		}
		return s
	}
	base := "how do i reset the circuit breaker on the payment service after an outage"
	cases := []struct {
		other  string
		lo, hi float64
	}{
		{"How do I reset the circuit breaker on the payment service, after an outage?", 0.9999, 1.0001},
		{base + " please", 0.93, 0.99},
		{"what colours does a sunset have in the evening", -0.4, 0.4},
	}
	for _, c := range cases {
		got := cos(TEIWordEmbedding(base, 384), TEIWordEmbedding(c.other, 384))
		assert.False(t, got < c.lo, "cos(%q, %q) = %.3f, want in [%v, %v]", base, c.other, got, c.lo, c.hi)
		assert.False(t, got > c.hi, "cos(%q, %q) = %.3f, want in [%v, %v]", base, c.other, got, c.lo, c.hi)
	}
}
