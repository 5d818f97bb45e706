package messages

import "fmt"

// Priority is a request's queue level. The zero value is Normal.
type Priority int8

// The three levels, in the order the dispatcher serves them.
const (
	Normal Priority = 0
	High   Priority = 1
	Low    Priority = -1
)

// Index returns 0 for High, 1 for Normal and 2 for Low: the position of the
// level in per-level arrays such as QueueStatus.Levels.
func (p Priority) Index() int {
	switch p {
	case High:
		return 0
	case Low:
		return 2
	default:
		return 1
	}
}

// PriorityAt is the inverse of Index.
func PriorityAt(i int) Priority {
	switch i {
	case 0:
		return High
	case 2:
		return Low
	default:
		return Normal
	}
}

// String returns HIGH, NORMAL or LOW.
func (p Priority) String() string {
	switch p {
	case High:
		return "HIGH"
	case Low:
		return "LOW"
	case Normal:
		return "NORMAL"
	default:
		return fmt.Sprintf("Priority(%d)", int8(p))
	}
}

// Valid reports whether p is one of the three levels.
func (p Priority) Valid() bool { return p == High || p == Normal || p == Low }
