package clock

import (
	"sync"
	"testing"
	"time"
)

func TestManualFiresDueTimersInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManual(start)
	var mu sync.Mutex
	var got []int
	var wg sync.WaitGroup
	wg.Add(2)
	for _, n := range []int{2, 1} {
		c.AfterFunc(time.Duration(n)*time.Second, func() {
			mu.Lock()
			got = append(got, n)
			mu.Unlock()
			wg.Done()
		})
	}
	stopped := c.AfterFunc(time.Second, func() { t.Error("stopped timer fired") })
	if !stopped.Stop() {
		t.Fatal("Stop of a pending timer returned false")
	}
	c.Advance(500 * time.Millisecond)
	if c.Pending() != 2 {
		t.Fatalf("pending = %d after 500ms, want 2", c.Pending())
	}
	c.Advance(2 * time.Second)
	wg.Wait()
	if len(got) != 2 {
		t.Fatalf("fired %v, want both timers", got)
	}
	if !c.Now().Equal(start.Add(2500 * time.Millisecond)) {
		t.Fatalf("Now = %v", c.Now())
	}
	if c.Pending() != 0 {
		t.Fatalf("pending = %d after firing", c.Pending())
	}
	if stopped.Stop() {
		t.Fatal("second Stop returned true")
	}
}

func TestManualNextDeadline(t *testing.T) {
	c := NewManual(time.Unix(0, 0))
	if _, ok := c.NextDeadline(); ok {
		t.Fatal("deadline with no timers")
	}
	c.AfterFunc(3*time.Second, func() {})
	c.AfterFunc(time.Second, func() {})
	d, ok := c.NextDeadline()
	if !ok || !d.Equal(time.Unix(1, 0)) {
		t.Fatalf("NextDeadline = %v %v", d, ok)
	}
}
