package switchyard_test

import (
	"context"
	"fmt"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// The cache answers a repeated deterministic question without an upstream
// call; a prompt with the default (sampled) temperature is not cached.
func ExampleCacheConfig() {
	srv := sim.Start(sim.OpenAI()) // stands in for api.openai.com
	defer srv.Close()
	sy, err := switchyard.New(switchyard.Config{
		Providers: []switchyard.ProviderConfig{{Name: "openai", Kind: "openai",
			Endpoints: []switchyard.EndpointConfig{{BaseURL: srv.URL + "/v1", Keys: []switchyard.KeyConfig{{Label: "prod", Secret: "sk-example-0000000000000001"}}}}}},
		Cache: switchyard.CacheConfig{
			Enabled: true,
			// The semantic layer: prompts are embedded through Switchyard
			// itself, and a stored answer serves a prompt at cosine ≥ 0.95.
			Embedding: switchyard.EmbeddingRoute{Provider: "openai", Model: "text-embedding-3-small"},
		},
	})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	defer sy.Close(context.Background())

	zero := 0.0
	ask := func(temperature *float64) {
		resp, err := sy.Chat(context.Background(), &messages.ChatRequest{
			Call:        messages.Call{Provider: "openai"},
			Model:       "gpt-4o-mini",
			Temperature: temperature,
			Messages:    []messages.Message{{Role: messages.RoleUser, Content: "What is a circuit breaker?"}},
		})
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("%s | cached=%v similarity=%v\n", resp.Content, resp.Cached, resp.Similarity)
	}
	ask(&zero)
	ask(&zero)
	ask(nil) // the provider's default temperature: sampled, so not cached
	st, _ := sy.CacheStatus(context.Background())
	fmt.Println("hits:", st.Hits, "entries:", st.Entries, "bypassed:", st.Bypassed)
	// Output:
	// echo: What is a circuit breaker? | cached=false similarity=0
	// echo: What is a circuit breaker? | cached=true similarity=1
	// echo: What is a circuit breaker? | cached=false similarity=0
	// hits: 1 entries: 1 bypassed: 1
}
