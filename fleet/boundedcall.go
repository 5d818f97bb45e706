package fleet

import (
	"sync"
	"time"
)

// boundedCall runs call on a goroutine and waits at most timeout (wall
// clock, like the cluster's own request timeouts) for its answer, whatever
// the cluster does meanwhile (identity lookups may take longer). A call
// that outlives the wait finishes in the background, and its answer, if it
// succeeded, goes to late (when not nil). The caller has counted the
// goroutine in wg (wg.Add(1), under whatever lock its Close takes before
// wg.Wait); the goroutine marks it done. timedOut reports that the wait
// ran out, res and err are then nil.
func boundedCall(wg *sync.WaitGroup, timeout time.Duration, call func() (any, error), late func(any)) (res any, timedOut bool, err error) {
	type result struct {
		res any
		err error
	}
	done, abandoned := make(chan result), make(chan struct{})
	go func() {
		defer wg.Done()
		res, err := call()
		select {
		case done <- result{res, err}:
		case <-abandoned:
			if err == nil && late != nil {
				late(res)
			}
		}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.res, false, r.err
	case <-timer.C:
		close(abandoned)
		return nil, true, nil
	}
}
