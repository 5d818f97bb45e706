package fleet

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/switchyard-ai/switchyard/internal/leaktest"
)

// TestMain checks that no goroutine outlives the tests, except those that
// protoactor-go leaves behind after a member's Shutdown.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leaktest.ProtoactorLeftovers...)
}
