package etcdmember

import (
	"testing"

	"go.uber.org/goleak"
)

// leakOptions excuse goroutines from the leak checks. Empty unless the
// tests that start proto.actor cluster members are built (cluster_test.go,
// without the race detector); the provider's own goroutines and its etcd
// client's are never excused.
var leakOptions []goleak.Option

// TestMain checks that no goroutine outlives the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, leakOptions...)
}
