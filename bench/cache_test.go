package bench

import (
	"context"
	"fmt"
	"runtime"
	"testing"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// BenchmarkCacheMemoryPerEntry fills the cache with 10,000 distinct
// deterministic chat answers in one semantic scope (384-dimensional prompt
// vectors from the OpenAI simulator's embeddings) and reports the heap the
// cache holds per entry: stored answer, key, LRU node, vector and its
// signature.
func BenchmarkCacheMemoryPerEntry(b *testing.B) {
	const entries = 10000
	for range b.N {
		chat := sim.Start(&sim.OpenAIBackend{RequestLimit: 1 << 30, TokenLimit: 1 << 40}, sim.WithoutRecords())
		emb := sim.Start(&sim.OpenAIBackend{RequestLimit: 1 << 30, TokenLimit: 1 << 40}, sim.WithoutRecords())
		provider := func(name string, srv *sim.Server) switchyard.ProviderConfig {
			return switchyard.ProviderConfig{Name: name, Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
				BaseURL: srv.URL + "/v1", Keys: []switchyard.KeyConfig{{Label: "k", Secret: secret}}}}}
		}
		sy, err := switchyard.New(switchyard.Config{
			Providers: []switchyard.ProviderConfig{provider("chat", chat), provider("emb", emb)},
			Cache: switchyard.CacheConfig{Enabled: true, MaxEntries: 2 * entries,
				Embedding: switchyard.EmbeddingRoute{Provider: "emb", Model: "text-embedding-3-small", Dimensions: 384}},
		})
		if err != nil {
			b.Fatal(err)
		}
		zero := 0.0
		ask := func(i int) {
			_, err := sy.Chat(context.Background(), &messages.ChatRequest{Call: messages.Call{Provider: "chat"}, Model: "gpt-bench",
				Temperature: &zero, MaxTokens: 32, System: "You answer questions about the switchyard.",
				Messages: []messages.Message{{Role: messages.RoleUser, Content: fmt.Sprintf("what is the status of track number %d today", i)}}})
			if err != nil {
				b.Fatal(err)
			}
		}
		// Warm up every pool and map first, then measure the growth.
		for i := range 200 {
			ask(-1 - i)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := range entries {
			ask(i)
		}
		st, err := sy.CacheStatus(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		stored := st.Entries - 200
		if stored != entries || st.Scopes != 1 {
			b.Fatalf("cache holds %d new entries in %d scopes, want %d in 1", stored, st.Scopes, entries)
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/float64(stored), "heap-B/entry")
		_ = sy.Close(context.Background())
		chat.Close()
		emb.Close()
	}
}
