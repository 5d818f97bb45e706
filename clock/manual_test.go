package clock_test

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

func TestManualFiresDueTimersInOrder(t *testing.T) {
	start := clocktest.Epoch()
	c := clock.NewManual(start)
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	wg.Add(2)
	for _, n := range []int{2, 1} {
		c.AfterFunc(time.Duration(n)*time.Second, func() {
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
			wg.Done()
		})
	}
	stopped := c.AfterFunc(time.Second, func() { assert.Fail(t, "stopped timer fired") })
	require.True(t, stopped.Stop(), "Stop of a pending timer returned false")
	c.Advance(500 * time.Millisecond)
	require.Equal(t, 2, c.Pending(), "pending = %d after 500ms, want 2", c.Pending())
	c.Advance(2 * time.Second)
	wg.Wait()
	require.Len(t, got, 2, "fired %v, want both timers", got)
	require.True(t, c.Now().Equal(start.Add(2500*time.Millisecond)), "Now = %v", c.Now())
	require.Equal(t, 0, c.Pending(), "pending = %d after firing", c.Pending())
	require.False(t, stopped.Stop(), "second Stop returned true")
}

func TestManualNextDeadline(t *testing.T) {
	start := clocktest.Epoch()
	c := clock.NewManual(start)
	_, ok := c.NextDeadline()
	require.False(t, ok, "deadline with no timers")
	c.AfterFunc(3*time.Second, func() {})
	c.AfterFunc(time.Second, func() {})
	d, ok := c.NextDeadline()
	require.True(t, ok, "NextDeadline = %v %v", d, ok)
	require.True(t, d.Equal(start.Add(time.Second)), "NextDeadline = %v %v", d, ok)
}
