//go:build unix

package bench

import "syscall"

// offHeap returns n bytes of zeroed memory outside the Go heap (an
// anonymous mapping) and the func that unmaps it. Memory the benchmark
// only writes to evict the caches must stay out of the heap: 64 MiB on
// the heap would raise the GC's goal to about 128 MiB, and the requests
// measured would then allocate in fresh pages between two collections,
// paying a page fault every few kilobytes (0.77 per request on the no-I/O
// path), which is not what a daemon with a steady heap pays.
func offHeap(n int) ([]byte, func(), error) {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil, err
	}
	return b, func() { _ = syscall.Munmap(b) }, nil
}
