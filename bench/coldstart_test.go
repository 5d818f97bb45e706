package bench

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// coldBackend is one of the eleven providers of the cold-start benchmark:
// an in-process simulator and a request it answers.
type coldBackend struct {
	kind   string
	start  func() *sim.Server
	base   func(*sim.Server) string
	secret string
	req    func(provider string) messages.Request
}

func coldChat(model string) func(string) messages.Request {
	return func(p string) messages.Request {
		return &messages.ChatRequest{Call: messages.Call{Provider: p}, Model: model, MaxTokens: 16,
			Messages: []messages.Message{{Role: messages.RoleUser, Content: "hello there"}}}
	}
}

func coldRootURL(s *sim.Server) string { return s.URL }

var coldBackends = []coldBackend{
	{"openai", func() *sim.Server { return sim.Start(sim.OpenAI(), sim.WithoutRecords()) },
		func(s *sim.Server) string { return s.URL + "/v1" }, secret, coldChat("gpt-test")},
	{"anthropic", func() *sim.Server { return sim.Start(sim.Anthropic(), sim.WithoutRecords()) }, coldRootURL, secret, coldChat("claude-test")},
	{"groq", func() *sim.Server { return sim.Start(sim.Groq(), sim.WithoutRecords()) }, coldRootURL,
		"gsk_bench0123456789abcdefghijk", coldChat("llama-3.3-70b-versatile")},
	{"llvm", func() *sim.Server { return sim.Start(sim.LLVM(), sim.WithoutRecords()) }, coldRootURL, secret,
		func(p string) messages.Request {
			return &messages.GenerateRequest{Call: messages.Call{Provider: p}, Model: "meta-llama/Llama-3.1-8B-Instruct", Prompt: "once upon a time", MaxTokens: 16}
		}},
	{"ollama", func() *sim.Server { return sim.Start(sim.Ollama(), sim.WithoutRecords()) }, coldRootURL, secret, coldChat("llama3.2")},
	{"ovms", func() *sim.Server { return sim.Start(sim.OVMS(), sim.WithoutRecords()) }, coldRootURL, secret,
		func(p string) messages.Request {
			return &messages.InferRequest{Call: messages.Call{Provider: p}, Model: "resnet",
				Inputs: []messages.Tensor{{Name: "input", Datatype: "FP32", Shape: []int64{1, 4}, Data: []float32{1, 2, 3, 4}}}}
		}},
	{"hf_tgi", func() *sim.Server { return sim.Start(sim.TGI(), sim.WithoutRecords()) }, coldRootURL, secret,
		func(p string) messages.Request {
			return &messages.GenerateRequest{Call: messages.Call{Provider: p}, Prompt: "tell me a story", MaxTokens: 12}
		}},
	{"hf_tei", func() *sim.Server { return sim.Start(sim.TEI(), sim.WithoutRecords()) }, coldRootURL, secret,
		func(p string) messages.Request {
			return &messages.EmbedRequest{Call: messages.Call{Provider: p}, Model: "bge", Inputs: []string{"one", "two"}}
		}},
	{"gemini", func() *sim.Server { return sim.Start(sim.Gemini(), sim.WithoutRecords()) }, coldRootURL, secret, coldChat("gemini-2.5-flash")},
	{"opea", func() *sim.Server { return sim.Start(sim.OPEA(), sim.WithoutRecords()) }, coldRootURL, secret, coldChat("")},
	{"azure_openai", func() *sim.Server { return sim.Start(sim.Azure(), sim.WithoutRecords()) }, coldRootURL, secret, coldChat("gpt-4o")},
}

// coldFirst holds the first iteration's numbers in this process, before
// anything was warmed by an earlier New.
var coldFirst struct {
	once                        sync.Once
	newMS, firstMS, allMS, heap float64
}

// BenchmarkColdStart measures a tree of eleven providers (eleven kinds,
// each on its in-process simulator, one key each): new-ms is New alone,
// first-answer-ms New until the first answer (an OpenAI chat),
// all-answered-ms New until every provider answered one request (sent
// together), medians over the iterations; first-* are the process's first
// iteration (package initialisation done, nothing else warm: run the
// benchmark alone for them). idle-heap-MiB is the growth of the heap in use
// (runtime.MemStats.HeapInuse after two collections) from before New to
// after it, with no request made; warm-heap-MiB the same after every
// provider answered once; goroutines the goroutines the idle tree keeps.
// Targets: ≤ 50 ms to the first answer, ≤ 10 MB idle.
//
//	go test -run '^$' -bench ColdStart -benchtime 20x ./bench/
func BenchmarkColdStart(b *testing.B) {
	cfg := switchyard.Config{}
	for _, cb := range coldBackends {
		srv := cb.start()
		b.Cleanup(srv.Close)
		cfg.Providers = append(cfg.Providers, switchyard.ProviderConfig{Name: cb.kind, Kind: cb.kind,
			Endpoints: []switchyard.EndpointConfig{{BaseURL: cb.base(srv), Keys: []switchyard.KeyConfig{{Label: "k", Secret: cb.secret}}}}})
	}
	ctx := context.Background()
	var newMS, firstMS, allMS, idle, warm, goroutines []float64
	for i := 0; i < b.N; i++ {
		// Timing.
		t0 := time.Now()
		sy, err := switchyard.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		if _, err := sy.Do(ctx, coldBackends[0].req(coldBackends[0].kind)); err != nil {
			b.Fatalf("%s: %v", coldBackends[0].kind, err)
		}
		t2 := time.Now()
		coldAnswerAll(b, sy)
		t3 := time.Now()
		if err := sy.Close(ctx); err != nil {
			b.Fatal(err)
		}
		newMS = append(newMS, coldMS(t1.Sub(t0)))
		firstMS = append(firstMS, coldMS(t2.Sub(t0)))
		allMS = append(allMS, coldMS(t3.Sub(t0)))

		// Memory, on a fresh tree.
		before, g0 := coldHeap()
		sy, err = switchyard.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		afterNew, g1 := coldHeap()
		coldAnswerAll(b, sy)
		afterAll, _ := coldHeap()
		if err := sy.Close(ctx); err != nil {
			b.Fatal(err)
		}
		idle = append(idle, (afterNew-before)/(1<<20))
		warm = append(warm, (afterAll-before)/(1<<20))
		goroutines = append(goroutines, float64(g1-g0))
		coldFirst.once.Do(func() {
			coldFirst.newMS, coldFirst.firstMS, coldFirst.allMS, coldFirst.heap = newMS[0], firstMS[0], allMS[0], idle[0]
		})
	}
	b.ReportMetric(coldMedian(newMS), "new-ms")
	b.ReportMetric(coldMedian(firstMS), "first-answer-ms")
	b.ReportMetric(coldMedian(allMS), "all-answered-ms")
	b.ReportMetric(coldMedian(idle), "idle-heap-MiB")
	b.ReportMetric(coldMedian(warm), "warm-heap-MiB")
	b.ReportMetric(coldMedian(goroutines), "goroutines")
	b.ReportMetric(coldFirst.newMS, "first-new-ms")
	b.ReportMetric(coldFirst.firstMS, "first-first-answer-ms")
	b.ReportMetric(coldFirst.allMS, "first-all-answered-ms")
}

// coldAnswerAll sends one request to every provider at once and waits for the
// answers.
func coldAnswerAll(b *testing.B, sy *switchyard.Switchyard) {
	var wg sync.WaitGroup
	errs := make([]error, len(coldBackends))
	for i, cb := range coldBackends {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = sy.Do(context.Background(), cb.req(cb.kind))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.Fatalf("%s: %v", coldBackends[i].kind, err)
		}
	}
}

// coldHeap collects garbage twice (the second empties sync.Pools' victim
// caches) and returns the heap in use and the number of goroutines.
func coldHeap() (float64, int) {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapInuse), runtime.NumGoroutine()
}

func coldMS(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func coldMedian(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
