package supervisor

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestBackoffCooldown(t *testing.T) {
	mid := func() float64 { return 0.5 } // no jitter effect
	cases := []struct {
		name       string
		b          Backoff
		trips      int
		retryAfter time.Duration
		want       time.Duration
	}{
		{"first trip is the base", Backoff{Base: time.Second, Max: time.Minute, Rand: mid}, 1, 0, time.Second},
		{"doubles per trip", Backoff{Base: time.Second, Max: time.Minute, Rand: mid}, 3, 0, 4 * time.Second},
		{"capped", Backoff{Base: time.Second, Max: 10 * time.Second, Rand: mid}, 10, 0, 10 * time.Second},
		{"retry-after wins when longer", Backoff{Base: time.Second, Max: 10 * time.Second, Rand: mid}, 1, 30 * time.Second, 30 * time.Second},
		{"retry-after ignored when shorter", Backoff{Base: 4 * time.Second, Max: 10 * time.Second, Rand: mid}, 1, time.Second, 4 * time.Second},
		{"defaults", Backoff{Rand: mid}, 1, 0, DefaultCooldown},
		{"jitter low end", Backoff{Base: 10 * time.Second, Max: time.Minute, Jitter: 0.2, Rand: func() float64 { return 0 }}, 1, 0, 8 * time.Second},
		{"jitter high end stays under cap", Backoff{Base: 10 * time.Second, Max: 10 * time.Second, Jitter: 0.2, Rand: func() float64 { return 0.999 }}, 1, 0, 10 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.b.Cooldown(c.trips, c.retryAfter)
			require.Equal(t, c.want, got, "Cooldown(%d, %v) = %v, want %v", c.trips, c.retryAfter, got, c.want)
		})
	}
}

func TestBackoffJitterSpreads(t *testing.T) {
	b := Backoff{Base: 10 * time.Second, Max: time.Hour}
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		d := b.Cooldown(1, 0)
		require.GreaterOrEqual(t, d, 8*time.Second, "cooldown %v outside ±20%%", d)
		require.LessOrEqual(t, d, 12*time.Second, "cooldown %v outside ±20%%", d)
		seen[d] = true
	}
	require.GreaterOrEqual(t, len(seen), 10, "only %d distinct cooldowns in 50: jitter missing", len(seen))
}
