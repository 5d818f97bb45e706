package s3

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no test leaves a goroutine behind: every server,
// proxy and idle connection is closed in t.Cleanup.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
