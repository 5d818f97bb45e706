package audit

import (
	"fmt"
	"time"
)

// Fsync says when a FileSink forces what it wrote to stable storage. Until
// then a power failure or kernel crash (not a process crash: the data is in
// the operating system already) can lose the newest records, and Verify then
// sees a shorter log, maybe with a torn last line.
//
// The zero value is FsyncEveryWrite, the default.
type Fsync time.Duration

const (
	// FsyncEveryWrite syncs the file before every FileSink.Write returns, so
	// a record the Logger has handed on is durable. A Logger passes records in
	// batches (up to LoggerOptions.Batch), so under load one sync covers many
	// records. Rotation also syncs the renamed file and the directory.
	FsyncEveryWrite Fsync = 0
	// FsyncNever leaves flushing to the operating system, also at rotation
	// and Close: the fastest policy and the least durable.
	FsyncNever Fsync = -1
)

// FsyncInterval syncs at most d after a Write, in the background, and at
// rotation and Close: a bound on what a power failure can lose. d must be
// positive.
func FsyncInterval(d time.Duration) Fsync {
	if d <= 0 {
		panic(fmt.Sprintf("audit: FsyncInterval(%v): want a positive interval", d))
	}
	return Fsync(d)
}

// String describes the policy, e.g. "every write", "never", "every 1s".
func (f Fsync) String() string {
	switch {
	case f == FsyncEveryWrite:
		return "every write"
	case f < 0:
		return "never"
	default:
		return "every " + time.Duration(f).String()
	}
}
