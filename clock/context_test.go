package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// A deadline on a manual clock passes when the clock says so, whatever the
// calendar or the wall clock say, and its children see DeadlineExceeded.
func TestWithDeadlineFollowsTheManualClock(t *testing.T) {
	// The run's epoch (random per run) and decades either side of it.
	for _, start := range []time.Time{clocktest.Epoch().AddDate(-40, 0, 0), clocktest.Epoch(), clocktest.Epoch().AddDate(40, 0, 0)} {
		t.Run(start.Format("2006"), func(t *testing.T) {
			c := clock.NewManual(start)
			ctx, cancel := clock.WithDeadline(c, context.Background(), start.Add(time.Second))
			defer cancel()
			child, childCancel := context.WithCancel(ctx)
			defer childCancel()

			dl, ok := ctx.Deadline()
			require.True(t, ok)
			assert.Equal(t, start.Add(time.Second), dl)
			got, ok := clock.ContextDeadline(c, child)
			require.True(t, ok, "the child inherits the deadline on the manual clock")
			assert.Equal(t, start.Add(time.Second), got)
			require.NoError(t, ctx.Err())
			require.Equal(t, 1, c.Pending(), "the deadline is a timer on the manual clock")

			c.Advance(999 * time.Millisecond)
			require.NoError(t, ctx.Err(), "one millisecond early")
			c.Advance(time.Millisecond)
			<-child.Done()
			assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded)
			assert.ErrorIs(t, child.Err(), context.DeadlineExceeded)
		})
	}
}

func TestWithDeadlineCancelAndParent(t *testing.T) {
	c := clock.NewManual(clocktest.Epoch())
	ctx, cancel := clock.WithDeadline(c, context.Background(), c.Now().Add(time.Minute))
	cancel()
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.Equal(t, 0, c.Pending(), "cancel stops the timer")

	parent, parentCancel := context.WithCancel(context.Background())
	ctx, cancel = clock.WithDeadline(c, parent, c.Now().Add(time.Minute))
	defer cancel()
	parentCancel()
	<-ctx.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)

	past, cancel := clock.WithDeadline(c, context.Background(), c.Now().Add(-time.Second))
	defer cancel()
	assert.ErrorIs(t, past.Err(), context.DeadlineExceeded, "a deadline already passed")

	ended, cancel := clock.WithDeadline(c, parent, c.Now().Add(time.Minute))
	defer cancel()
	assert.ErrorIs(t, ended.Err(), context.Canceled, "a parent already done")
}

// With the wall clock, WithDeadline is the standard library's, and a
// wall-clock context deadline is not read as a manual clock's.
func TestRealClockUsesTheStandardLibrary(t *testing.T) {
	dl := time.Now().Add(time.Hour)
	ctx, cancel := clock.WithDeadline(clock.Real, context.Background(), dl)
	defer cancel()
	got, ok := clock.ContextDeadline(clock.Real, ctx)
	require.True(t, ok)
	assert.Equal(t, dl, got)
	_, ok = clock.ContextDeadline(clock.NewManual(clocktest.Epoch()), ctx)
	assert.False(t, ok, "a wall-clock deadline means nothing on a manual clock")

	tctx, cancel := clock.WithTimeout(clock.Real, context.Background(), -time.Second)
	defer cancel()
	assert.ErrorIs(t, tctx.Err(), context.DeadlineExceeded)
}
