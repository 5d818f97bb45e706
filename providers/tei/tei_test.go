package tei_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/providers/tei"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// testKey is a fake key; tests assert it never shows up in errors.
const testKey = "hf_test0123456789abcdefSECRET"

func startSim(t testing.TB, b *sim.TEIBackend, opts ...sim.Option) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.TEI()
	}
	return providertest.StartSim(t, b, opts...)
}

func newCall(srv *sim.Server, req messages.Request) *providers.Call {
	return newCallAt(srv.URL, req)
}

func newCallAt(baseURL string, req messages.Request) *providers.Call {
	return providertest.NewCall("tei", baseURL, testKey, req)
}

func do(t *testing.T, a *tei.Adapter, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, a, call)
}

func bodies(t *testing.T, srv *sim.Server) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range srv.Requests() {
		var m map[string]any
		if len(rec.Body) > 0 {
			require.NoError(t, json.Unmarshal(rec.Body, &m), "request body is not JSON")
		}
		out = append(out, m)
	}
	return out
}

func upstreamErr(t *testing.T, err error) *messages.UpstreamError {
	t.Helper()
	return providertest.UpstreamError(t, err, testKey)
}

func ptr[T any](v T) *T { return &v }

func words(n int) string { return strings.TrimSpace(strings.Repeat("word ", n)) }

func TestKind(t *testing.T) {
	require.Equal(t, "hf_tei", tei.New().Kind(), "kind")
	require.Equal(t, "hf_tei", tei.NewOpenAICompatible().Kind(), "kind")
}

func TestEmbed(t *testing.T) {
	long := words(20)
	tests := []struct {
		name    string
		backend *sim.TEIBackend
		adapter *tei.Adapter
		req     messages.EmbedRequest
		path    string
		want    func(in string) []float32 // dense vector wanted for an input
		body    func(t *testing.T, body map[string]any)
	}{
		{
			name: "one input", adapter: tei.New(), path: "/embed",
			req:  messages.EmbedRequest{Inputs: []string{"hello world"}},
			want: func(in string) []float32 { return sim.TEIEmbedding(in, 8, true) },
			body: func(t *testing.T, body map[string]any) {
				require.Len(t, body, 1, "body %v: want inputs only", body)
				require.Len(t, body["inputs"].([]any), 1, "body %v: want inputs only", body)
			},
		},
		{
			name: "several inputs", adapter: tei.New(), path: "/embed",
			req:  messages.EmbedRequest{Model: "bge", Inputs: []string{"alpha", "beta gamma", "delta", "epsilon zeta eta"}},
			want: func(in string) []float32 { return sim.TEIEmbedding(in, 8, true) },
			body: func(t *testing.T, body map[string]any) {
				_, has := body["model"]
				require.False(t, has, "model sent to /embed")
			},
		},
		{
			name: "not normalised, truncate off, dimensions", adapter: tei.New(), path: "/embed",
			req:  messages.EmbedRequest{Inputs: []string{"a b", "c"}, Normalize: ptr(false), Truncate: ptr(false), Dimensions: 4},
			want: func(in string) []float32 { return sim.TEIEmbedding(in, 4, false) },
			body: func(t *testing.T, body map[string]any) {
				require.True(t, body["normalize"] == false, "body %v", body)
				require.True(t, body["truncate"] == false, "body %v", body)
				require.True(t, body["dimensions"] == 4.0, "body %v", body)
			},
		},
		{
			name: "long input truncated", backend: &sim.TEIBackend{MaxInputLength: 5}, adapter: tei.New(), path: "/embed",
			req: messages.EmbedRequest{Inputs: []string{"short", long}, Truncate: ptr(true)},
			want: func(in string) []float32 {
				return sim.TEIEmbedding(strings.Join(strings.Fields(in)[:min(5, len(strings.Fields(in)))], " "), 8, true)
			},
			body: func(t *testing.T, body map[string]any) {
				require.True(t, body["truncate"] == true, "body %v", body)
			},
		},
		{
			name: "openai route", adapter: tei.NewOpenAICompatible(), path: "/v1/embeddings",
			req:  messages.EmbedRequest{Model: "bge", Inputs: []string{"one", "two three", "four"}, Dimensions: 6},
			want: func(in string) []float32 { return sim.TEIEmbedding(in, 6, true) },
			body: func(t *testing.T, body map[string]any) {
				require.True(t, body["model"] == "bge", "body %v", body)
				require.True(t, body["encoding_format"] == "float", "body %v", body)
				require.True(t, body["dimensions"] == 6.0, "body %v", body)
				require.Len(t, body["input"].([]any), 3, "body %v", body)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, tt.backend)
			req := tt.req
			call := newCall(srv, &req)
			resp, err := do(t, tt.adapter, call)
			require.NoError(t, err, "Do")
			er := resp.(*messages.EmbedResponse)
			require.Len(t, req.Inputs, len(er.Vectors), "%d vectors for %d inputs", len(er.Vectors), len(req.Inputs))
			require.Nil(t, er.Sparse, "%d vectors for %d inputs", len(er.Vectors), len(req.Inputs))
			for i, in := range req.Inputs {
				want := tt.want(in)
				require.True(t, slices.Equal(er.Vectors[i], want), "vector %d = %v, want the one for %q: %v", i, er.Vectors[i], in, want)
			}
			in, _ := srv.Usage()
			require.Equal(t, in, er.Usage.InputTokens, "usage %+v result %+v server %d model %q", er.Usage, call.Result.Usage, in, er.Model)
			require.NotEqual(t, 0, in, "usage %+v result %+v server %d model %q", er.Usage, call.Result.Usage, in, er.Model)
			require.True(t, call.Result.Usage == er.Usage, "usage %+v result %+v server %d model %q", er.Usage, call.Result.Usage, in, er.Model)
			require.Equal(t, req.Model, er.Model, "usage %+v result %+v server %d model %q", er.Usage, call.Result.Usage, in, er.Model)
			recs := srv.Requests()
			require.Len(t, recs, 1, "requests")
			require.Equal(t, tt.path, recs[0].Path, "path")
			require.Equal(t, 0, srv.InvalidCalls(), "invalid calls")
			require.Equal(t, call.RequestID, er.RequestID, "meta %+v", er.Meta)
			require.Equal(t, "sim-"+call.RequestID, er.UpstreamRequestID, "meta %+v", er.Meta)
			require.Equal(t, "primary", er.Key, "meta %+v", er.Meta)
			tt.body(t, bodies(t, srv)[0])
		})
	}
}

func TestEmbedSparse(t *testing.T) {
	srv := startSim(t, &sim.TEIBackend{ModelType: "splade"})
	inputs := []string{"the cat sat", "on the mat", "cat cat cat"}
	call := newCall(srv, &messages.EmbedRequest{Inputs: inputs, Sparse: true, Truncate: ptr(true)})
	resp, err := do(t, tei.New(), call)
	require.NoError(t, err)
	er := resp.(*messages.EmbedResponse)
	require.Nil(t, er.Vectors, "response %+v", er)
	require.Len(t, er.Sparse, 3, "response %+v", er)
	for i, in := range inputs {
		want := sim.TEISparse(in, 30522)
		require.Len(t, er.Sparse[i], len(want), "sparse %d = %v, want %v", i, er.Sparse[i], want)
		require.NotEmpty(t, want, "sparse %d = %v, want %v", i, er.Sparse[i], want)
		for j, v := range want {
			require.True(t, er.Sparse[i][j] == (messages.SparseValue{Index: v.Index, Value: v.Value}), "sparse %d entry %d = %v, want %v", i, j, er.Sparse[i][j], v)
		}
	}
	rec := srv.Requests()[0]
	body := bodies(t, srv)[0]
	require.Equal(t, "/embed_sparse", rec.Path, "path %q body %v", rec.Path, body)
	require.True(t, body["truncate"] == true, "path %q body %v", rec.Path, body)
	require.Len(t, body, 2, "path %q body %v", rec.Path, body)
	in, _ := srv.Usage()
	require.Equal(t, in, er.Usage.InputTokens, "usage %+v server %d", er.Usage, in)
	require.Equal(t, 9, in, "usage %+v server %d", er.Usage, in)
}

// TestSplitBatches shows the 413 split: the server refuses a batch over its
// limit, the adapter retries it in smaller batches within the same Do, and
// each input still gets its own vector, in input order.
func TestSplitBatches(t *testing.T) {
	inputs := make([]string, 10)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("input number %d", i)
	}
	tests := []struct {
		name      string
		backend   *sim.TEIBackend
		adapter   *tei.Adapter
		req       messages.Request
		wantSizes []int // batch sizes the server saw, in order
		refused   int   // how many of them it refused with 413
	}{
		{"embed: limit named in the message", &sim.TEIBackend{MaxClientBatchSize: 3}, tei.New(),
			&messages.EmbedRequest{Inputs: inputs}, []int{10, 3, 3, 3, 1}, 1},
		{"openai route", &sim.TEIBackend{MaxClientBatchSize: 4}, tei.NewOpenAICompatible(),
			&messages.EmbedRequest{Inputs: inputs}, []int{10, 4, 4, 2}, 1},
		{"sparse", &sim.TEIBackend{MaxClientBatchSize: 5}, tei.New(),
			&messages.EmbedRequest{Inputs: inputs, Sparse: true}, []int{10, 5, 5}, 1},
		{"payload limit: halved until it fits", &sim.TEIBackend{PayloadLimit: 90}, tei.New(),
			&messages.EmbedRequest{Inputs: inputs}, []int{10, 5, 3, 2, 5, 3, 2}, 3},
		{"rerank", &sim.TEIBackend{MaxClientBatchSize: 4}, tei.New(),
			&messages.RerankRequest{Query: "input number 7", Documents: inputs, ReturnDocuments: true}, []int{10, 4, 4, 2}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, tt.backend)
			call := newCall(srv, tt.req)
			resp, err := do(t, tt.adapter, call)
			require.NoError(t, err, "Do")
			var sizes []int
			for _, b := range bodies(t, srv) {
				for _, k := range []string{"inputs", "input", "texts"} {
					if v, ok := b[k]; ok {
						sizes = append(sizes, len(v.([]any)))
					}
				}
			}
			require.True(t, slices.Equal(sizes, tt.wantSizes), "batch sizes %v, want %v", sizes, tt.wantSizes)
			in, _ := srv.Usage()
			switch r := resp.(type) {
			case *messages.EmbedResponse:
				for i, text := range inputs {
					if tt.req.(*messages.EmbedRequest).Sparse {
						want := sim.TEISparse(text, 30522)
						require.Len(t, r.Sparse[i], len(want), "sparse %d = %v, want %v", i, r.Sparse[i], want)
						require.Equal(t, want[0].Index, r.Sparse[i][0].Index, "sparse %d = %v, want %v", i, r.Sparse[i], want)
						continue
					}
					require.True(t, slices.Equal(r.Vectors[i], sim.TEIEmbedding(text, 8, true)), "vector %d is not the one of %q", i, text)
				}
				require.Equal(t, in, r.Usage.InputTokens, "usage %+v, server %d", r.Usage, in)
				require.Equal(t, 30, in, "usage %+v, server %d", r.Usage, in)
				require.True(t, call.Result.Usage == r.Usage, "usage %+v, server %d", r.Usage, in)
			case *messages.RerankResponse:
				require.Len(t, r.Results, 10, "results")
				require.Equal(t, 7, r.Results[0].Index, "results")
				require.Equal(t, inputs[7], r.Results[0].Document, "results")
				for _, res := range r.Results {
					require.Equal(t, sim.TEIRerankScore("input number 7", inputs[res.Index], false), float32(res.Score), "result %+v", res)
					require.Equal(t, inputs[res.Index], res.Document, "result %+v", res)
				}
				require.Equal(t, in, r.Usage.InputTokens, "usage %+v, server %d", r.Usage, in)
				require.Equal(t, 60, in, "usage %+v, server %d", r.Usage, in)
			}
			require.Equal(t, tt.refused, srv.InvalidCalls(), "%d requests refused, want %d", srv.InvalidCalls(), tt.refused)
		})
	}
}

func TestSplitStops(t *testing.T) {
	t.Run("one input cannot be split", func(t *testing.T) {
		srv := startSim(t, nil)
		srv.Inject(sim.Fault{Status: 413, Body: `{"error":"batch size 1 > maximum allowed batch size 0","error_type":"Validation"}`})
		_, err := do(t, tei.New(), newCall(srv, &messages.EmbedRequest{Inputs: []string{"x"}}))
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassInvalid, ue.Class, "%v after %d calls", ue, srv.Calls())
		require.False(t, ue.Retryable(), "%v after %d calls", ue, srv.Calls())
		require.Equal(t, 1, srv.Calls(), "%v after %d calls", ue, srv.Calls())
	})
	t.Run("other validation errors are not split", func(t *testing.T) {
		srv := startSim(t, &sim.TEIBackend{MaxInputLength: 3})
		_, err := do(t, tei.New(), newCall(srv, &messages.EmbedRequest{Inputs: []string{"a", "b", words(9)}, Truncate: ptr(false)}))
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassInvalid, ue.Class, "%v after %d calls", ue, srv.Calls())
		require.Equal(t, 413, ue.Status, "%v after %d calls", ue, srv.Calls())
		require.Equal(t, "Validation", ue.Type, "%v after %d calls", ue, srv.Calls())
		require.Contains(t, ue.Message, "must have less than 3 tokens", "%v after %d calls", ue, srv.Calls())
		require.Equal(t, 1, srv.Calls(), "%v after %d calls", ue, srv.Calls())
	})
	t.Run("a part failing otherwise fails the call", func(t *testing.T) {
		srv := startSim(t, &sim.TEIBackend{MaxClientBatchSize: 2, MaxInputLength: 3})
		call := newCall(srv, &messages.EmbedRequest{Inputs: []string{"a", "b", "c", words(9)}, Truncate: ptr(false)})
		_, err := do(t, tei.New(), call)
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassInvalid, ue.Class, "%v after %d calls", ue, srv.Calls())
		require.Equal(t, 3, srv.Calls(), "%v after %d calls", ue, srv.Calls())
		require.Equal(t, 2, call.Result.Usage.InputTokens, "the accepted part's usage is lost: %+v", call.Result.Usage)
	})
	t.Run("cancelled between parts", func(t *testing.T) {
		srv := startSim(t, &sim.TEIBackend{MaxClientBatchSize: 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		call := newCall(srv, &messages.EmbedRequest{Inputs: []string{"a", "b", "c"}})
		var once sync.Once
		call.Client.HTTP = &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultTransport.RoundTrip(r)
			if err == nil && resp.StatusCode == 200 {
				once.Do(cancel)
			}
			return resp, err
		})}
		_, err := tei.New().Do(ctx, call)
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassCancelled, ue.Class, "%v", ue)
		require.ErrorIs(t, err, context.Canceled, "%v", ue)
		require.LessOrEqual(t, srv.Calls(), 2, "%d calls after the cancel", srv.Calls())
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRerank(t *testing.T) {
	docs := []string{"Cooking pasta at home", "Deep learning is a subfield of machine learning", "learning to cook", "DEEP learning, deep"}
	query := "What is deep learning?"
	tests := []struct {
		name     string
		req      messages.RerankRequest
		wantIdx  []int
		withDocs bool
	}{
		{"all, by score", messages.RerankRequest{Query: query, Documents: docs}, []int{1, 3, 2, 0}, false},
		{"top 2 with documents", messages.RerankRequest{Model: "bge-reranker", Query: query, Documents: docs, TopN: 2, ReturnDocuments: true}, []int{1, 3}, true},
		{"top n over the count", messages.RerankRequest{Query: query, Documents: docs[:2], TopN: 5}, []int{1, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, &sim.TEIBackend{ModelType: "reranker"})
			req := tt.req
			call := newCall(srv, &req)
			resp, err := do(t, tei.New(), call)
			require.NoError(t, err)
			rr := resp.(*messages.RerankResponse)
			var idx []int
			for i, res := range rr.Results {
				idx = append(idx, res.Index)
				require.Equal(t, sim.TEIRerankScore(query, req.Documents[res.Index], false), float32(res.Score), "score %v for %q", res.Score, req.Documents[res.Index])
				if i > 0 {
					require.False(t, res.Score > rr.Results[i-1].Score, "not sorted")
				}
				require.Equal(t, tt.withDocs, res.Document != "", "document %q", res.Document)
				require.False(t, tt.withDocs && res.Document != req.Documents[res.Index], "document %q", res.Document)
			}
			require.True(t, slices.Equal(idx, tt.wantIdx), "order %v, want %v", idx, tt.wantIdx)
			in, _ := srv.Usage()
			require.Equal(t, in, rr.Usage.InputTokens, "usage %+v server %d", rr.Usage, in)
			require.NotEqual(t, 0, in, "usage %+v server %d", rr.Usage, in)
			require.True(t, call.Result.Usage == rr.Usage, "usage %+v server %d", rr.Usage, in)
			require.Equal(t, req.Model, rr.Model, "usage %+v server %d", rr.Usage, in)
			body := bodies(t, srv)[0]
			require.True(t, body["query"] == query, "body %v", body)
			require.Len(t, req.Documents, len(body["texts"].([]any)), "body %v", body)
			require.True(t, body["return_text"] == tt.withDocs, "body %v", body)
			_, has := body["raw_scores"]
			require.False(t, has, "raw_scores sent")
		})
	}
}

func TestInfo(t *testing.T) {
	b := sim.TEI()
	srv := startSim(t, b)
	resp, err := do(t, tei.New(), newCall(srv, &messages.InfoRequest{What: "info"}))
	require.NoError(t, err)
	ir := resp.(*messages.InfoResponse)
	var info map[string]any
	require.NoError(t, json.Unmarshal(ir.Body, &info), "info %+v", ir)
	require.Equal(t, "1.9.3", ir.Version, "info %+v", ir)
	require.True(t, info["max_client_batch_size"] == 32.0, "info %+v", ir)
	require.True(t, ir.Healthy, "info %+v", ir)
	resp, err = do(t, tei.New(), newCall(srv, &messages.InfoRequest{What: "health"}))
	require.NoError(t, err, "health %v %v", resp, err)
	require.True(t, resp.(*messages.InfoResponse).Healthy, "health %v %v", resp, err)
	b.SetHealthy(false)
	_, err = do(t, tei.New(), newCall(srv, &messages.InfoRequest{What: "health"}))
	ue := upstreamErr(t, err)
	require.Equal(t, messages.ClassServer, ue.Class, "unhealthy: %v", ue)
	require.Equal(t, 503, ue.Status, "unhealthy: %v", ue)
	require.Equal(t, "Unhealthy", ue.Type, "unhealthy: %v", ue)
	require.True(t, ue.Retryable(), "unhealthy: %v", ue)
	recs := srv.Requests()
	require.Equal(t, "GET", recs[0].Method, "requests %+v", recs)
	require.Equal(t, "/info", recs[0].Path, "requests %+v", recs)
	require.Equal(t, "/health", recs[1].Path, "requests %+v", recs)
	require.Len(t, recs[0].Body, 0, "requests %+v", recs)
}

func TestAuth(t *testing.T) {
	srv := startSim(t, &sim.TEIBackend{APIKey: testKey})
	// The key goes as a bearer token.
	_, err := do(t, tei.New(), newCall(srv, &messages.EmbedRequest{Inputs: []string{"x"}}))
	require.NoError(t, err)
	require.Equal(t, "Bearer "+testKey, srv.Requests()[0].Header.Get("Authorization"), "Authorization")
	// Without a key: no header, and a bare 401 is ClassAuth.
	call := newCall(srv, &messages.EmbedRequest{Inputs: []string{"x"}})
	call.Key = providers.NewCredential("none", "")
	_, err = do(t, tei.New(), call)
	ue := upstreamErr(t, err)
	require.Equal(t, messages.ClassAuth, ue.Class, "no key: %v", ue)
	require.Equal(t, 401, ue.Status, "no key: %v", ue)
	require.False(t, ue.Retryable(), "no key: %v", ue)
	_, has := srv.Requests()[1].Header["Authorization"]
	require.False(t, has, "an empty key sent an Authorization header")
	// /health needs no key.
	call = newCall(srv, &messages.InfoRequest{What: "health"})
	call.Key = providers.NewCredential("none", "")
	_, err = do(t, tei.New(), call)
	require.NoError(t, err, "health without key")
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name          string
		backend       *sim.TEIBackend
		fault         *sim.Fault
		reject        int
		req           messages.Request
		adapter       *tei.Adapter
		wantClass     messages.ErrorClass
		wantStatus    int
		wantType      string
		wantRetry     time.Duration
		wantRetryable bool
	}{
		{name: "429 overloaded with retry-after", fault: &sim.Fault{Status: 429, Header: map[string]string{"Retry-After": "2"}},
			wantClass: messages.ClassRateLimited, wantStatus: 429, wantType: "Overloaded", wantRetry: 2 * time.Second, wantRetryable: true},
		{name: "429 overloaded on the openai route", adapter: tei.NewOpenAICompatible(),
			fault:     &sim.Fault{Status: 429, Body: `{"message":"Model is overloaded","code":429,"error_type":"Overloaded"}`},
			wantClass: messages.ClassRateLimited, wantStatus: 429, wantType: "Overloaded", wantRetryable: true},
		{name: "413 validation not about the batch", fault: &sim.Fault{Status: 413},
			wantClass: messages.ClassInvalid, wantStatus: 413, wantType: "Validation"},
		{name: "422 tokenizer", fault: &sim.Fault{Status: 422},
			wantClass: messages.ClassInvalid, wantStatus: 422, wantType: "Tokenizer"},
		{name: "422 lower-case type as in the OpenAPI examples", fault: &sim.Fault{Status: 422, Body: `{"error":"Tokenization error","error_type":"tokenizer"}`},
			wantClass: messages.ClassInvalid, wantStatus: 422, wantType: "tokenizer"},
		{name: "400 empty", fault: &sim.Fault{Status: 400},
			wantClass: messages.ClassInvalid, wantStatus: 400, wantType: "Empty"},
		{name: "424 backend is not retried", fault: &sim.Fault{Status: 424},
			wantClass: messages.ClassServer, wantStatus: 424, wantType: "Backend"},
		{name: "424 route the model does not serve", backend: &sim.TEIBackend{ModelType: "embedding"},
			req:       &messages.RerankRequest{Query: "q", Documents: []string{"d"}},
			wantClass: messages.ClassServer, wantStatus: 424, wantType: "Backend"},
		{name: "503 unhealthy", fault: &sim.Fault{Status: 503},
			wantClass: messages.ClassServer, wantStatus: 503, wantType: "Unhealthy", wantRetryable: true},
		{name: "500 plain text", fault: &sim.Fault{Status: 500, Body: "internal error"},
			wantClass: messages.ClassServer, wantStatus: 500, wantRetryable: true},
		{name: "401 bare", fault: &sim.Fault{Status: 401}, wantClass: messages.ClassAuth, wantStatus: 401},
		{name: "403 revoked key", reject: 403, wantClass: messages.ClassAuth, wantStatus: 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, tt.backend)
			switch {
			case tt.reject != 0:
				srv.RejectKey(testKey, tt.reject)
			case tt.fault != nil:
				srv.Inject(*tt.fault)
			}
			req, a := tt.req, tt.adapter
			if req == nil {
				req = &messages.EmbedRequest{Inputs: []string{"x", "y"}}
			}
			if a == nil {
				a = tei.New()
			}
			call := newCall(srv, req)
			_, err := do(t, a, call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
			require.Equal(t, tt.wantStatus, ue.Status, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
			require.Equal(t, tt.wantType, ue.Type, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
			require.Equal(t, tt.wantRetry, ue.RetryAfter, "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
			require.Equal(t, tt.wantRetryable, ue.Retryable(), "got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)", ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
			require.NotEqual(t, "", ue.Message, "message %q, %d calls", ue.Message, srv.Calls())
			require.ErrorIs(t, err, messages.ErrUpstream, "message %q, %d calls", ue.Message, srv.Calls())
			require.Equal(t, 1, srv.Calls(), "message %q, %d calls", ue.Message, srv.Calls())
			require.Equal(t, "sim-"+call.RequestID, ue.UpstreamRequestID, "error fields %+v", ue)
			require.Equal(t, "primary", ue.Key, "error fields %+v", ue)
			require.Equal(t, "tei", ue.Provider, "error fields %+v", ue)
		})
	}
}

func TestMalformed(t *testing.T) {
	reqs := []messages.Request{
		&messages.EmbedRequest{Inputs: []string{"x"}},
		&messages.EmbedRequest{Inputs: []string{"x"}, Sparse: true},
		&messages.RerankRequest{Query: "q", Documents: []string{"x"}},
		&messages.InfoRequest{What: "info"},
	}
	for _, req := range reqs {
		t.Run(fmt.Sprintf("%T", req), func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(sim.Fault{Malformed: true})
			_, err := do(t, tei.New(), newCall(srv, req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v status %d", ue.Class, ue.Status)
			require.Equal(t, 200, ue.Status, "class %v status %d", ue.Class, ue.Status)
		})
	}
}

// TestMalformedAnswers feeds well-formed JSON with the wrong content.
func TestMalformedAnswers(t *testing.T) {
	two := &messages.EmbedRequest{Inputs: []string{"a", "b"}}
	tests := []struct {
		name    string
		adapter *tei.Adapter
		req     messages.Request
		body    string
	}{
		{"too few vectors", tei.New(), two, `[[1,2]]`},
		{"null vector", tei.New(), two, `[[1],null]`},
		{"not a matrix", tei.New(), two, `{"embeddings":[]}`},
		{"sparse without index", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Sparse: true}, `[[{"value":1}]]`},
		{"sparse negative index", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Sparse: true}, `[[{"index":-1,"value":1}]]`},
		{"openai repeated index", tei.NewOpenAICompatible(), two, `{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[2]}]}`},
		{"openai missing vector", tei.NewOpenAICompatible(), two, `{"data":[{"index":0,"embedding":[1]},{"index":1}]}`},
		{"rerank repeated index", tei.New(), &messages.RerankRequest{Query: "q", Documents: []string{"a", "b"}}, `[{"index":0,"score":1},{"index":0,"score":0.5}]`},
		{"rerank index out of range", tei.New(), &messages.RerankRequest{Query: "q", Documents: []string{"a"}}, `[{"index":3,"score":1}]`},
		{"rerank without score", tei.New(), &messages.RerankRequest{Query: "q", Documents: []string{"a"}}, `[{"index":0}]`},
		{"info not an object", tei.New(), &messages.InfoRequest{}, `[1,2]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			_, err := do(t, tt.adapter, newCallAt(hs.URL, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v: %v", ue.Class, ue)
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name    string
		adapter *tei.Adapter
		req     messages.Request
		want    error
	}{
		{"embed ok", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}}, nil},
		{"sparse ok", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Sparse: true, Truncate: ptr(true)}, nil},
		{"rerank ok", tei.New(), &messages.RerankRequest{Query: "q", Documents: []string{"d"}}, nil},
		{"info ok", tei.New(), &messages.InfoRequest{What: "version"}, nil},
		{"chat unsupported", tei.New(), &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}}, messages.ErrUnsupported},
		{"generate unsupported", tei.New(), &messages.GenerateRequest{Prompt: "x"}, messages.ErrUnsupported},
		{"typed nil chat unsupported", tei.New(), (*messages.ChatRequest)(nil), messages.ErrUnsupported},
		{"nil", tei.New(), nil, messages.ErrUnsupported},
		{"info show unsupported", tei.New(), &messages.InfoRequest{What: "show"}, messages.ErrUnsupported},
		{"task type unsupported", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, TaskType: "RETRIEVAL_QUERY"}, messages.ErrUnsupported},
		{"nil embed", tei.New(), (*messages.EmbedRequest)(nil), messages.ErrInvalidRequest},
		{"no inputs", tei.New(), &messages.EmbedRequest{}, messages.ErrInvalidRequest},
		{"empty input", tei.New(), &messages.EmbedRequest{Inputs: []string{"a", ""}}, messages.ErrInvalidRequest},
		{"negative dimensions", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Dimensions: -1}, messages.ErrInvalidRequest},
		{"sparse with dimensions", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Sparse: true, Dimensions: 4}, messages.ErrInvalidRequest},
		{"sparse with normalize", tei.New(), &messages.EmbedRequest{Inputs: []string{"a"}, Sparse: true, Normalize: ptr(true)}, messages.ErrInvalidRequest},
		{"openai route without normalising", tei.NewOpenAICompatible(), &messages.EmbedRequest{Inputs: []string{"a"}, Normalize: ptr(false)}, messages.ErrInvalidRequest},
		{"openai route with truncate", tei.NewOpenAICompatible(), &messages.EmbedRequest{Inputs: []string{"a"}, Truncate: ptr(true)}, messages.ErrInvalidRequest},
		{"rerank no query", tei.New(), &messages.RerankRequest{Documents: []string{"d"}}, messages.ErrInvalidRequest},
		{"rerank no documents", tei.New(), &messages.RerankRequest{Query: "q"}, messages.ErrInvalidRequest},
		{"rerank negative top n", tei.New(), &messages.RerankRequest{Query: "q", Documents: []string{"d"}, TopN: -1}, messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.adapter.Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "Check")
				return
			}
			var re *messages.RequestError
			require.ErrorIs(t, err, tt.want, "Check = %v, want %v as *RequestError", err, tt.want)
			require.ErrorAs(t, err, &re, "Check = %v, want %v as *RequestError", err, tt.want)
			if tt.req == nil {
				return
			}
			srv := startSim(t, nil)
			_, err = do(t, tt.adapter, newCall(srv, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassInvalid, ue.Class, "Do: %v, %d calls", ue, srv.Calls())
			require.False(t, ue.Retryable(), "Do: %v, %d calls", ue, srv.Calls())
			require.Equal(t, 0, srv.Calls(), "Do: %v, %d calls", ue, srv.Calls())
		})
	}
}

func TestRequestIDs(t *testing.T) {
	srv := startSim(t, nil)
	req := &messages.EmbedRequest{Inputs: []string{"hi"}}
	req.RequestID, req.Priority, req.Key = "caller-id-123", messages.High, "primary"
	call := newCall(srv, req)
	call.RequestID = req.RequestID
	call.Headers = map[string]string{"X-Extra": "1"}
	_, err := do(t, tei.New(), call)
	require.NoError(t, err)
	rec := srv.Requests()[0]
	require.Equal(t, "caller-id-123", rec.RequestID, "headers %v", rec.Header)
	require.Equal(t, "1", rec.Header.Get("X-Extra"), "headers %v", rec.Header)
	require.Equal(t, "application/json", rec.Header.Get("Content-Type"), "headers %v", rec.Header)
	for _, leak := range []string{"caller-id-123", "priority", "HIGH", "request_id", testKey} {
		require.False(t, bytes.Contains(rec.Body, []byte(leak)), "body leaks %q: %s", leak, rec.Body)
	}
}
