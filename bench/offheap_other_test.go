//go:build !unix

package bench

// offHeap falls back to the Go heap where anonymous mappings are not
// available; see the unix version for what that costs the measurement.
func offHeap(n int) ([]byte, func(), error) { return make([]byte, n), func() {}, nil }
