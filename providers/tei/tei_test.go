package tei_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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
			if err := json.Unmarshal(rec.Body, &m); err != nil {
				t.Fatalf("request body is not JSON: %v", err)
			}
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
	if tei.New().Kind() != "hf_tei" || tei.NewOpenAICompatible().Kind() != "hf_tei" {
		t.Fatal("kind")
	}
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
				if len(body) != 1 || len(body["inputs"].([]any)) != 1 {
					t.Fatalf("body %v: want inputs only", body)
				}
			},
		},
		{
			name: "several inputs", adapter: tei.New(), path: "/embed",
			req:  messages.EmbedRequest{Model: "bge", Inputs: []string{"alpha", "beta gamma", "delta", "epsilon zeta eta"}},
			want: func(in string) []float32 { return sim.TEIEmbedding(in, 8, true) },
			body: func(t *testing.T, body map[string]any) {
				if _, has := body["model"]; has {
					t.Fatal("model sent to /embed")
				}
			},
		},
		{
			name: "not normalised, truncate off, dimensions", adapter: tei.New(), path: "/embed",
			req:  messages.EmbedRequest{Inputs: []string{"a b", "c"}, Normalize: ptr(false), Truncate: ptr(false), Dimensions: 4},
			want: func(in string) []float32 { return sim.TEIEmbedding(in, 4, false) },
			body: func(t *testing.T, body map[string]any) {
				if body["normalize"] != false || body["truncate"] != false || body["dimensions"] != 4.0 {
					t.Fatalf("body %v", body)
				}
			},
		},
		{
			name: "long input truncated", backend: &sim.TEIBackend{MaxInputLength: 5}, adapter: tei.New(), path: "/embed",
			req: messages.EmbedRequest{Inputs: []string{"short", long}, Truncate: ptr(true)},
			want: func(in string) []float32 {
				return sim.TEIEmbedding(strings.Join(strings.Fields(in)[:min(5, len(strings.Fields(in)))], " "), 8, true)
			},
			body: func(t *testing.T, body map[string]any) {
				if body["truncate"] != true {
					t.Fatalf("body %v", body)
				}
			},
		},
		{
			name: "openai route", adapter: tei.NewOpenAICompatible(), path: "/v1/embeddings",
			req:  messages.EmbedRequest{Model: "bge", Inputs: []string{"one", "two three", "four"}, Dimensions: 6},
			want: func(in string) []float32 { return sim.TEIEmbedding(in, 6, true) },
			body: func(t *testing.T, body map[string]any) {
				if body["model"] != "bge" || body["encoding_format"] != "float" || body["dimensions"] != 6.0 || len(body["input"].([]any)) != 3 {
					t.Fatalf("body %v", body)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, tt.backend)
			req := tt.req
			call := newCall(srv, &req)
			resp, err := do(t, tt.adapter, call)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			er := resp.(*messages.EmbedResponse)
			if len(er.Vectors) != len(req.Inputs) || er.Sparse != nil {
				t.Fatalf("%d vectors for %d inputs", len(er.Vectors), len(req.Inputs))
			}
			for i, in := range req.Inputs {
				if want := tt.want(in); !slices.Equal(er.Vectors[i], want) {
					t.Fatalf("vector %d = %v, want the one for %q: %v", i, er.Vectors[i], in, want)
				}
			}
			in, _ := srv.Usage()
			if er.Usage.InputTokens != in || in == 0 || call.Result.Usage != er.Usage || er.Model != req.Model {
				t.Fatalf("usage %+v result %+v server %d model %q", er.Usage, call.Result.Usage, in, er.Model)
			}
			recs := srv.Requests()
			if len(recs) != 1 || recs[0].Path != tt.path || srv.InvalidCalls() != 0 {
				t.Fatalf("%d requests, path %q, %d invalid", len(recs), recs[0].Path, srv.InvalidCalls())
			}
			if er.RequestID != call.RequestID || er.UpstreamRequestID != "sim-"+call.RequestID || er.Key != "primary" {
				t.Fatalf("meta %+v", er.Meta)
			}
			tt.body(t, bodies(t, srv)[0])
		})
	}
}

func TestEmbedSparse(t *testing.T) {
	srv := startSim(t, &sim.TEIBackend{ModelType: "splade"})
	inputs := []string{"the cat sat", "on the mat", "cat cat cat"}
	call := newCall(srv, &messages.EmbedRequest{Inputs: inputs, Sparse: true, Truncate: ptr(true)})
	resp, err := do(t, tei.New(), call)
	if err != nil {
		t.Fatal(err)
	}
	er := resp.(*messages.EmbedResponse)
	if er.Vectors != nil || len(er.Sparse) != 3 {
		t.Fatalf("response %+v", er)
	}
	for i, in := range inputs {
		want := sim.TEISparse(in, 30522)
		if len(er.Sparse[i]) != len(want) || len(want) == 0 {
			t.Fatalf("sparse %d = %v, want %v", i, er.Sparse[i], want)
		}
		for j, v := range want {
			if er.Sparse[i][j] != (messages.SparseValue{Index: v.Index, Value: v.Value}) {
				t.Fatalf("sparse %d entry %d = %v, want %v", i, j, er.Sparse[i][j], v)
			}
		}
	}
	rec := srv.Requests()[0]
	body := bodies(t, srv)[0]
	if rec.Path != "/embed_sparse" || body["truncate"] != true || len(body) != 2 {
		t.Fatalf("path %q body %v", rec.Path, body)
	}
	if in, _ := srv.Usage(); er.Usage.InputTokens != in || in != 9 {
		t.Fatalf("usage %+v server %d", er.Usage, in)
	}
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
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			var sizes []int
			for _, b := range bodies(t, srv) {
				for _, k := range []string{"inputs", "input", "texts"} {
					if v, ok := b[k]; ok {
						sizes = append(sizes, len(v.([]any)))
					}
				}
			}
			if !slices.Equal(sizes, tt.wantSizes) {
				t.Fatalf("batch sizes %v, want %v", sizes, tt.wantSizes)
			}
			in, _ := srv.Usage()
			switch r := resp.(type) {
			case *messages.EmbedResponse:
				for i, text := range inputs {
					if tt.req.(*messages.EmbedRequest).Sparse {
						if want := sim.TEISparse(text, 30522); len(r.Sparse[i]) != len(want) || r.Sparse[i][0].Index != want[0].Index {
							t.Fatalf("sparse %d = %v, want %v", i, r.Sparse[i], want)
						}
						continue
					}
					if !slices.Equal(r.Vectors[i], sim.TEIEmbedding(text, 8, true)) {
						t.Fatalf("vector %d is not the one of %q", i, text)
					}
				}
				if r.Usage.InputTokens != in || in != 30 || call.Result.Usage != r.Usage {
					t.Fatalf("usage %+v, server %d", r.Usage, in)
				}
			case *messages.RerankResponse:
				if len(r.Results) != 10 || r.Results[0].Index != 7 || r.Results[0].Document != inputs[7] {
					t.Fatalf("results %+v", r.Results)
				}
				for _, res := range r.Results {
					if float32(res.Score) != sim.TEIRerankScore("input number 7", inputs[res.Index], false) || res.Document != inputs[res.Index] {
						t.Fatalf("result %+v", res)
					}
				}
				if r.Usage.InputTokens != in || in != 60 {
					t.Fatalf("usage %+v, server %d", r.Usage, in)
				}
			}
			if srv.InvalidCalls() != tt.refused {
				t.Fatalf("%d requests refused, want %d", srv.InvalidCalls(), tt.refused)
			}
		})
	}
}

func TestSplitStops(t *testing.T) {
	t.Run("one input cannot be split", func(t *testing.T) {
		srv := startSim(t, nil)
		srv.Inject(sim.Fault{Status: 413, Body: `{"error":"batch size 1 > maximum allowed batch size 0","error_type":"Validation"}`})
		_, err := do(t, tei.New(), newCall(srv, &messages.EmbedRequest{Inputs: []string{"x"}}))
		if ue := upstreamErr(t, err); ue.Class != messages.ClassInvalid || ue.Retryable() || srv.Calls() != 1 {
			t.Fatalf("%v after %d calls", ue, srv.Calls())
		}
	})
	t.Run("other validation errors are not split", func(t *testing.T) {
		srv := startSim(t, &sim.TEIBackend{MaxInputLength: 3})
		_, err := do(t, tei.New(), newCall(srv, &messages.EmbedRequest{Inputs: []string{"a", "b", words(9)}, Truncate: ptr(false)}))
		ue := upstreamErr(t, err)
		if ue.Class != messages.ClassInvalid || ue.Status != 413 || ue.Type != "Validation" || !strings.Contains(ue.Message, "must have less than 3 tokens") || srv.Calls() != 1 {
			t.Fatalf("%v after %d calls", ue, srv.Calls())
		}
	})
	t.Run("a part failing otherwise fails the call", func(t *testing.T) {
		srv := startSim(t, &sim.TEIBackend{MaxClientBatchSize: 2, MaxInputLength: 3})
		call := newCall(srv, &messages.EmbedRequest{Inputs: []string{"a", "b", "c", words(9)}, Truncate: ptr(false)})
		_, err := do(t, tei.New(), call)
		ue := upstreamErr(t, err)
		if ue.Class != messages.ClassInvalid || srv.Calls() != 3 {
			t.Fatalf("%v after %d calls", ue, srv.Calls())
		}
		if call.Result.Usage.InputTokens != 2 {
			t.Fatalf("the accepted part's usage is lost: %+v", call.Result.Usage)
		}
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
		if ue := upstreamErr(t, err); ue.Class != messages.ClassCancelled || !errors.Is(err, context.Canceled) {
			t.Fatalf("%v", ue)
		}
		if srv.Calls() > 2 {
			t.Fatalf("%d calls after the cancel", srv.Calls())
		}
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
			if err != nil {
				t.Fatal(err)
			}
			rr := resp.(*messages.RerankResponse)
			var idx []int
			for i, res := range rr.Results {
				idx = append(idx, res.Index)
				if float32(res.Score) != sim.TEIRerankScore(query, req.Documents[res.Index], false) {
					t.Fatalf("score %v for %q", res.Score, req.Documents[res.Index])
				}
				if i > 0 && res.Score > rr.Results[i-1].Score {
					t.Fatal("not sorted")
				}
				if (res.Document != "") != tt.withDocs || (tt.withDocs && res.Document != req.Documents[res.Index]) {
					t.Fatalf("document %q", res.Document)
				}
			}
			if !slices.Equal(idx, tt.wantIdx) {
				t.Fatalf("order %v, want %v", idx, tt.wantIdx)
			}
			in, _ := srv.Usage()
			if rr.Usage.InputTokens != in || in == 0 || call.Result.Usage != rr.Usage || rr.Model != req.Model {
				t.Fatalf("usage %+v server %d", rr.Usage, in)
			}
			body := bodies(t, srv)[0]
			if body["query"] != query || len(body["texts"].([]any)) != len(req.Documents) || body["return_text"] != tt.withDocs {
				t.Fatalf("body %v", body)
			}
			if _, has := body["raw_scores"]; has {
				t.Fatal("raw_scores sent")
			}
		})
	}
}

func TestInfo(t *testing.T) {
	b := sim.TEI()
	srv := startSim(t, b)
	resp, err := do(t, tei.New(), newCall(srv, &messages.InfoRequest{What: "info"}))
	if err != nil {
		t.Fatal(err)
	}
	ir := resp.(*messages.InfoResponse)
	var info map[string]any
	if err := json.Unmarshal(ir.Body, &info); err != nil || ir.Version != "1.9.3" || info["max_client_batch_size"] != 32.0 || !ir.Healthy {
		t.Fatalf("info %+v %v", ir, err)
	}
	resp, err = do(t, tei.New(), newCall(srv, &messages.InfoRequest{What: "health"}))
	if err != nil || !resp.(*messages.InfoResponse).Healthy {
		t.Fatalf("health %v %v", resp, err)
	}
	b.SetHealthy(false)
	_, err = do(t, tei.New(), newCall(srv, &messages.InfoRequest{What: "health"}))
	if ue := upstreamErr(t, err); ue.Class != messages.ClassServer || ue.Status != 503 || ue.Type != "Unhealthy" || !ue.Retryable() {
		t.Fatalf("unhealthy: %v", ue)
	}
	recs := srv.Requests()
	if recs[0].Method != "GET" || recs[0].Path != "/info" || recs[1].Path != "/health" || len(recs[0].Body) != 0 {
		t.Fatalf("requests %+v", recs)
	}
}

func TestAuth(t *testing.T) {
	srv := startSim(t, &sim.TEIBackend{APIKey: testKey})
	// The key goes as a bearer token.
	if _, err := do(t, tei.New(), newCall(srv, &messages.EmbedRequest{Inputs: []string{"x"}})); err != nil {
		t.Fatal(err)
	}
	if h := srv.Requests()[0].Header.Get("Authorization"); h != "Bearer "+testKey {
		t.Fatalf("Authorization %q", h)
	}
	// Without a key: no header, and a bare 401 is ClassAuth.
	call := newCall(srv, &messages.EmbedRequest{Inputs: []string{"x"}})
	call.Key = providers.NewCredential("none", "")
	_, err := do(t, tei.New(), call)
	if ue := upstreamErr(t, err); ue.Class != messages.ClassAuth || ue.Status != 401 || ue.Retryable() {
		t.Fatalf("no key: %v", ue)
	}
	if _, has := srv.Requests()[1].Header["Authorization"]; has {
		t.Fatal("an empty key sent an Authorization header")
	}
	// /health needs no key.
	call = newCall(srv, &messages.InfoRequest{What: "health"})
	call.Key = providers.NewCredential("none", "")
	if _, err := do(t, tei.New(), call); err != nil {
		t.Fatalf("health without key: %v", err)
	}
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
			if ue.Class != tt.wantClass || ue.Status != tt.wantStatus || ue.Type != tt.wantType || ue.RetryAfter != tt.wantRetry || ue.Retryable() != tt.wantRetryable {
				t.Fatalf("got %v status %d type %q retry-after %v retryable %v; want %v %d %q %v %v (%v)",
					ue.Class, ue.Status, ue.Type, ue.RetryAfter, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantType, tt.wantRetry, tt.wantRetryable, ue)
			}
			if ue.Message == "" || !errors.Is(err, messages.ErrUpstream) || srv.Calls() != 1 {
				t.Fatalf("message %q, %d calls", ue.Message, srv.Calls())
			}
			if ue.UpstreamRequestID != "sim-"+call.RequestID || ue.Key != "primary" || ue.Provider != "tei" {
				t.Fatalf("error fields %+v", ue)
			}
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
			if ue := upstreamErr(t, err); ue.Class != messages.ClassMalformed || ue.Status != 200 {
				t.Fatalf("class %v status %d", ue.Class, ue.Status)
			}
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
			if ue := upstreamErr(t, err); ue.Class != messages.ClassMalformed {
				t.Fatalf("class %v: %v", ue.Class, ue)
			}
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
				if err != nil {
					t.Fatalf("Check: %v", err)
				}
				return
			}
			var re *messages.RequestError
			if !errors.Is(err, tt.want) || !errors.As(err, &re) {
				t.Fatalf("Check = %v, want %v as *RequestError", err, tt.want)
			}
			if tt.req == nil {
				return
			}
			srv := startSim(t, nil)
			_, err = do(t, tt.adapter, newCall(srv, tt.req))
			if ue := upstreamErr(t, err); ue.Class != messages.ClassInvalid || ue.Retryable() || srv.Calls() != 0 {
				t.Fatalf("Do: %v, %d calls", ue, srv.Calls())
			}
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
	if _, err := do(t, tei.New(), call); err != nil {
		t.Fatal(err)
	}
	rec := srv.Requests()[0]
	if rec.RequestID != "caller-id-123" || rec.Header.Get("X-Extra") != "1" || rec.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", rec.Header)
	}
	for _, leak := range []string{"caller-id-123", "priority", "HIGH", "request_id", testKey} {
		if bytes.Contains(rec.Body, []byte(leak)) {
			t.Fatalf("body leaks %q: %s", leak, rec.Body)
		}
	}
}
