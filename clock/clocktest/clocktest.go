// Package clocktest starts tests' manual clocks at an epoch drawn once per
// run, so no test can depend on the calendar.
package clocktest

import (
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// EnvEpoch names the environment variable that replays a run's epoch.
const EnvEpoch = "SWITCHYARD_TEST_EPOCH"

// Epoch is where every manual clock of this run starts: the instant in
// SWITCHYARD_TEST_EPOCH (RFC 3339, or Unix seconds), else a whole second
// drawn at random between 1990 and 2090 once per run. It panics on a value
// it cannot read. Safe for concurrent use.
var Epoch = sync.OnceValue(func() time.Time {
	if v := os.Getenv(EnvEpoch); v != "" {
		if t, err := time.Parse(time.RFC3339, v); err == nil {
			return t.UTC()
		}
		if s, err := strconv.ParseInt(v, 10, 64); err == nil {
			return time.Unix(s, 0).UTC()
		}
		panic(EnvEpoch + ": want RFC 3339 or Unix seconds, got " + strconv.Quote(v))
	}
	from := time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	to := time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC).Unix()
	return time.Unix(from+rand.Int64N(to-from), 0).UTC()
})

// New returns a manual clock set to the run's epoch and logs the epoch, so
// a failing run can be replayed with SWITCHYARD_TEST_EPOCH.
func New(t testing.TB) *clock.Manual {
	t.Helper()
	t.Logf("manual clock epoch %s (%s=%d)", Epoch().Format(time.RFC3339), EnvEpoch, Epoch().Unix())
	return clock.NewManual(Epoch())
}
