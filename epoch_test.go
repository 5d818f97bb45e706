package switchyard

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// testEpoch is where every manual clock of this run starts: the instant in
// SWITCHYARD_TEST_EPOCH (RFC 3339, or Unix seconds), else a whole second drawn
// at random between 1990 and 2090 once per run, so no test can depend on the
// calendar. The run logs it; set the variable to replay a failing run.
var testEpoch = sync.OnceValue(func() time.Time {
	if v := os.Getenv("SWITCHYARD_TEST_EPOCH"); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC()
		}
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(s, 0).UTC()
		}
		panic("SWITCHYARD_TEST_EPOCH: want RFC 3339 or Unix seconds, got " + strconv.Quote(v))
	}
	from := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	to := time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	return time.Unix(from+rand.Int64N(to-from), 0).UTC()
})

// newTestClock returns a manual clock set to the run's epoch.
func newTestClock(t testing.TB) *clock.Manual {
	t.Helper()
	t.Logf("manual clock epoch %s (SWITCHYARD_TEST_EPOCH=%d)", testEpoch().Format(time.RFC3339), testEpoch().Unix())
	return clock.NewManual(testEpoch())
}
