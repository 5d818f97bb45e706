package switchyard

import (
	"errors"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Fleet mode's configuration errors name their field; fleet mode is off
// unless a provider is named.
func TestClusterConfigErrorsNameTheField(t *testing.T) {
	cases := []struct {
		name  string
		c     ClusterConfig
		field string
	}{
		{"unknown provider", ClusterConfig{Provider: "zookeeper"}, "cluster.provider"},
		{"etcd without endpoints", ClusterConfig{Provider: "etcd"}, "cluster.etcd.endpoints"},
		{"automanaged without hosts", ClusterConfig{Provider: "automanaged"}, "cluster.automanaged.hosts"},
		{"test without an agent", ClusterConfig{Provider: "test"}, "cluster.provider"},
		{"bind without a port", ClusterConfig{Provider: "etcd", Etcd: EtcdConfig{Endpoints: []string{"http://e:2379"}}, Bind: "10.0.0.1"}, "cluster.bind"},
		{"advertised with a bad port", ClusterConfig{Provider: "etcd", Etcd: EtcdConfig{Endpoints: []string{"http://e:2379"}}, Advertised: "h:99999"}, "cluster.advertised"},
		{"negative ttl", ClusterConfig{Provider: "etcd", Etcd: EtcdConfig{Endpoints: []string{"http://e:2379"}}, Lease: LeaseConfig{TTL: -1}}, "cluster.lease.ttl"},
		{"negative call timeout", ClusterConfig{Provider: "etcd", Etcd: EtcdConfig{Endpoints: []string{"http://e:2379"}}, Lease: LeaseConfig{CallTimeout: -1}}, "cluster.lease.call_timeout"},
		{"block over 100 %", ClusterConfig{Provider: "etcd", Etcd: EtcdConfig{Endpoints: []string{"http://e:2379"}}, Lease: LeaseConfig{BlockPercent: 101}}, "cluster.lease.block_percent"},
		{"NaN block", ClusterConfig{Provider: "etcd", Etcd: EtcdConfig{Endpoints: []string{"http://e:2379"}}, Lease: LeaseConfig{BlockPercent: math.NaN()}}, "cluster.lease.block_percent"},
		{"negative join timeout", ClusterConfig{Provider: "etcd", Etcd: EtcdConfig{Endpoints: []string{"http://e:2379"}}, JoinTimeout: -1}, "cluster.join_timeout"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Providers: []ProviderConfig{{Kind: "openai", Endpoints: []EndpointConfig{{BaseURL: "https://api.openai.com/v1", Keys: []KeyConfig{{Secret: secretA}}}}}},
				Cluster: tc.c}
			err := cfg.validate()
			var ce *ConfigError
			require.True(t, errors.As(err, &ce), "want a *ConfigError, got %v", err)
			assert.Equal(t, tc.field, ce.Field)
		})
	}
	off := ClusterConfig{}
	assert.False(t, off.enabled(), "the zero ClusterConfig is fleet mode off")
	assert.NoError(t, off.validate())
}

// A file config turns fleet mode on with its fields in snake case.
func TestClusterConfigFromFile(t *testing.T) {
	cfg, err := Parse([]byte(`
providers:
  - kind: openai
    endpoints: [{base_url: "https://api.openai.com/v1", keys: [{secret: "` + secretA + `"}]}]
cluster:
  provider: etcd
  name: fleet-a
  bind: 0.0.0.0:7010
  advertised: 10.0.0.5:7010
  etcd: {endpoints: ["http://etcd:2379"], prefix: /sy}
  lease: {ttl: 2s, block_percent: 0.5, call_timeout: 50ms, retry_every: 3s}
`))
	require.NoError(t, err)
	c := cfg.Cluster
	assert.Equal(t, "etcd", c.Provider)
	assert.Equal(t, "fleet-a", c.Name)
	assert.Equal(t, "10.0.0.5:7010", c.Advertised)
	assert.Equal(t, []string{"http://etcd:2379"}, c.Etcd.Endpoints)
	assert.Equal(t, LeaseConfig{TTL: 2e9, BlockPercent: 0.5, CallTimeout: 50e6, RetryEvery: 3e9}, c.Lease)
	o, err := c.nodeOptions()
	require.NoError(t, err)
	assert.Equal(t, "0.0.0.0", o.Host)
	assert.Equal(t, 7010, o.Port)
}
