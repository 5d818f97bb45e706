package actors

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
)

// countingClock is a manual clock that counts its readings.
type countingClock struct {
	*clock.Manual
	reads int
}

func (c *countingClock) Now() time.Time { c.reads++; return c.Manual.Now() }

// TestMessageClockReadsOncePerMessage: within a message every reading is
// the first one (one read of the clock); the next message reads again;
// outside a message every reading reads the clock.
func TestMessageClockReadsOncePerMessage(t *testing.T) {
	start := time.Unix(1000, 0)
	clk := &countingClock{Manual: clock.NewManual(start)}
	var c messageClock

	require.Equal(t, start, c.now(clk))
	clk.Advance(time.Second)
	require.Equal(t, start.Add(time.Second), c.now(clk), "outside a message: a fresh reading")
	require.Equal(t, 2, clk.reads)

	c.begin()
	first := c.now(clk)
	clk.Advance(time.Second)
	require.Equal(t, first, c.now(clk), "the same message: the same instant")
	require.Equal(t, first, c.now(clk))
	require.Equal(t, 3, clk.reads, "one read for the message")
	c.end()

	c.begin()
	require.Equal(t, start.Add(2*time.Second), c.now(clk), "the next message reads again")
	c.end()
	require.Equal(t, 4, clk.reads)
	clk.Advance(time.Second)
	require.Equal(t, start.Add(3*time.Second), c.now(clk), "after end: a fresh reading")
}
