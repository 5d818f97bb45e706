package etcdmember

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewOptions(t *testing.T) {
	eps := []string{"http://127.0.0.1:2379"}
	tests := []struct {
		name    string
		in      Options
		want    Options // Logger is not compared
		ttl     int64
		wantErr string
	}{
		{"defaults", Options{Endpoints: eps},
			Options{Endpoints: eps, Prefix: "/switchyard", DialTimeout: 5 * time.Second, TTL: 5 * time.Second}, 5, ""},
		{"explicit values, trailing slash dropped", Options{Endpoints: eps, Prefix: "/sy/", DialTimeout: time.Second, TTL: 2 * time.Second},
			Options{Endpoints: eps, Prefix: "/sy", DialTimeout: time.Second, TTL: 2 * time.Second}, 2, ""},
		{"TTL rounded up to whole seconds", Options{Endpoints: eps, TTL: 2500 * time.Millisecond},
			Options{Endpoints: eps, Prefix: "/switchyard", DialTimeout: 5 * time.Second, TTL: 2500 * time.Millisecond}, 3, ""},
		{"no endpoints", Options{}, Options{}, 0, "no etcd endpoints"},
		{"negative dial timeout", Options{Endpoints: eps, DialTimeout: -1}, Options{}, 0, "negative dial timeout"},
		{"negative TTL", Options{Endpoints: eps, TTL: -time.Second}, Options{}, 0, "negative TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.in)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, p)
				return
			}
			require.NoError(t, err)
			require.NotNil(t, p.opts.Logger)
			got := p.opts
			got.Logger = nil
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.ttl, p.opts.ttlSeconds())
			assert.NoError(t, p.Shutdown(true), "Shutdown before a start is a no-op")
		})
	}
}
