package switchyard

import (
	"testing"

	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/clock/clocktest"
)

// newTestClock returns a manual clock set to the run's epoch (see
// clocktest.Epoch: random per run, SWITCHYARD_TEST_EPOCH replays one).
func newTestClock(t testing.TB) *clock.Manual { return clocktest.New(t) }
