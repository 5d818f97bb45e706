package fleet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// TestSlidingWindowShare takes one permit every 100 ms under a share and
// checks that no window holds more than the share, that it refuses with a
// retry time in the future, and that the share is used.
func TestSlidingWindowShare(t *testing.T) {
	tests := []struct {
		name      string
		rpm, tpm  int64
		tokens    int64
		wantTaken int64 // over three windows, at least
	}{
		{"requests", 100, 0, 0, 200},
		{"tokens", 0, 1000, 10, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := clocktest.New(t)
			w := slidingWindow{window: time.Minute}
			var taken []time.Time
			for i := 0; i < 1800; i++ {
				now := clk.Now()
				at, ok := w.take(now, tt.rpm, tt.tpm, 1, tt.tokens)
				if ok {
					taken = append(taken, now)
				} else {
					require.True(t, at.After(now), "retry at %s, now %s", at, now)
				}
				clk.Advance(100 * time.Millisecond)
			}
			share := max(tt.rpm, tt.tpm/max(tt.tokens, 1))
			for i := range taken {
				n := int64(0)
				for _, u := range taken[i:] {
					if u.Sub(taken[i]) < time.Minute {
						n++
					}
				}
				require.LessOrEqual(t, n, share)
			}
			assert.GreaterOrEqual(t, int64(len(taken)), tt.wantTaken)
		})
	}
}
