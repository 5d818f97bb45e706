//go:build !race

package fleetmode_test

import (
	"context"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/cluster/clusterproviders/test"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/sim"
)

// startCachingFleet starts n instances with the cache on, in one
// in-memory cluster, on the wall clock.
func startCachingFleet(t *testing.T, n int, srv *sim.Server) []*member {
	t.Helper()
	agent := test.NewInMemAgent()
	members := make([]*member, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := switchyard.Config{
				Providers: []switchyard.ProviderConfig{{Name: "p", Kind: "anthropic", Endpoints: []switchyard.EndpointConfig{{
					Name: "primary", BaseURL: srv.URL, Keys: []switchyard.KeyConfig{{Label: "a", Secret: secretA}}}}}},
				Retry:   switchyard.RetryConfig{MaxAttempts: 1},
				Cache:   switchyard.CacheConfig{Enabled: true},
				Cluster: switchyard.ClusterConfig{Provider: "test", Name: "fleetmode-cache", InMem: agent},
				Clock:   clock.Real,
			}
			sy, err := switchyard.New(cfg)
			errs[i] = err
			if err == nil {
				members[i] = &member{sy: sy}
			}
		}()
	}
	wg.Wait()
	t.Cleanup(func() { closeAll(t, members) })
	for _, err := range errs {
		require.NoError(t, err, "New")
	}
	eventually(t, "every member lists the others", func() bool {
		for _, m := range members {
			if m.stats(t).Fleet.Members != n {
				return false
			}
		}
		return true
	})
	return members
}

// The shared exact cache: the same temperature-0 request on two members
// makes one upstream call; another tenant's identical request is not
// served from it.
func TestFleetSharesTheExactCache(t *testing.T) {
	srv := sim.Start(sim.Anthropic())
	t.Cleanup(srv.Close)
	fleet := startCachingFleet(t, 2, srv)
	ask := func(m *member, tenant string) (*messages.ChatResponse, error) {
		r := chat("what is a circuit breaker?")
		zero := 0.0
		r.Temperature = &zero
		return m.sy.Chat(context.Background(), r, switchyard.WithTenant(tenant))
	}
	answers := make([]*messages.ChatResponse, 2)
	var wg sync.WaitGroup
	for i, m := range fleet {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := ask(m, "acme")
			assert.NoError(t, err)
			answers[i] = r
		}()
	}
	wg.Wait()
	require.NotNil(t, answers[0])
	require.NotNil(t, answers[1])
	assert.Equal(t, 1, srv.Calls(), "upstream calls for one request asked on two members")
	assert.Equal(t, answers[0].Content, answers[1].Content)
	assert.NotEqual(t, answers[0].Cached, answers[1].Cached, "exactly one answer is the call's")

	r, err := ask(fleet[1], "globex")
	require.NoError(t, err)
	assert.False(t, r.Cached, "another tenant was served acme's answer")
	assert.Equal(t, 2, srv.Calls(), "upstream calls")
}
