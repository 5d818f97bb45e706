package switchyard_test

import (
	"context"
	"log"
	"os"

	"github.com/switchyard-ai/switchyard"
)

// A replica of a fleet shares its keys' budgets, its endpoints' health and
// the exact cache with the other replicas through etcd. (Compiled, not run:
// it needs an etcd; fleet/fleetmode and fleettest run fleets.)
func ExampleClusterConfig() {
	providers := []switchyard.ProviderConfig{{Kind: "openai", Endpoints: []switchyard.EndpointConfig{{
		Keys: []switchyard.KeyConfig{{SecretEnv: "OPENAI_API_KEY", RPM: 500, MaxInFlight: 32}}}}}}
	podIP := os.Getenv("POD_IP")
	sy, err := switchyard.New(switchyard.Config{
		Providers: providers,
		Cluster: switchyard.ClusterConfig{Provider: "etcd", Name: "chat-gateway",
			Bind: "0.0.0.0:7010", Advertised: podIP + ":7010",
			Etcd: switchyard.EtcdConfig{Endpoints: []string{"http://etcd:2379"}}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sy.Close(context.Background())
}
