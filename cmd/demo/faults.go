package main

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/sim"
)

// The fault schedule runs in cycles; each provider's starts a little after
// the previous one's, so the providers do not all fail at once.
const (
	faultCycle   = 20 * time.Second
	faultStagger = 1500 * time.Millisecond
)

// faultStep is one misbehaviour at an offset into the cycle. run may block
// for the fault's window; it returns early, undoing the fault, when ctx
// ends.
type faultStep struct {
	at   time.Duration
	once bool // first cycle only
	what string
	run  func(ctx context.Context)
}

// faults injects faults into the simulators on a schedule and announces each
// one through note.
type faults struct {
	provs []*simProvider
	note  func(string)
	wg    sync.WaitGroup
	// rejected remembers dead keys per simulator, to re-apply after a
	// window's Clear (which drops key rejections too).
	mu       sync.Mutex
	rejected map[*sim.Server]map[string]int
}

func newFaults(provs []*simProvider, note func(string)) *faults {
	return &faults{provs: provs, note: note, rejected: map[*sim.Server]map[string]int{}}
}

// start runs each provider's schedule until ctx ends.
func (f *faults) start(ctx context.Context) {
	for i, p := range f.provs {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			f.loop(ctx, time.Duration(i)*faultStagger, f.script(p))
		}()
	}
}

// stopped waits for the schedules to end (after ctx ended); every windowed
// fault is undone by then.
func (f *faults) stopped() { f.wg.Wait() }

func (f *faults) loop(ctx context.Context, offset time.Duration, steps []faultStep) {
	if !sleepCtx(ctx, offset) {
		return
	}
	for cycle := 0; ; cycle++ {
		start := time.Now()
		for _, s := range steps {
			if s.once && cycle > 0 {
				continue
			}
			if !sleepCtx(ctx, s.at-time.Since(start)) {
				return
			}
			f.note(s.what)
			s.run(ctx)
		}
		if !sleepCtx(ctx, faultCycle-time.Since(start)) {
			return
		}
	}
}

// script is one provider's schedule: two 429s (Retry-After in seconds and in
// milliseconds) that cool a key each, a 5xx burst on the primary long enough
// to trip its breaker and to fail its first HALF-OPEN probe (so the viewer
// sees OPEN → HALF-OPEN → OPEN with a longer cooldown → HALF-OPEN → CLOSED),
// a dead key on the secondary, a slow upstream that makes the queues fill,
// slow streams and cut streams.
func (f *faults) script(p *simProvider) []faultStep {
	pri, sec := p.eps[0], p.eps[1]
	at := func(ep *simEndpoint, k int) string { return p.b.name + "/" + ep.name + "/" + ep.keys[k].label }
	on := func(ep *simEndpoint) string { return p.b.name + "/" + ep.name }
	return []faultStep{
		{at: 500 * time.Millisecond, what: "429 with retry-after: 2 on " + at(pri, 0), run: func(context.Context) {
			pri.srv.Inject(sim.Fault{Status: http.StatusTooManyRequests, Key: pri.keys[0].secret, Header: map[string]string{"retry-after": "2"}})
		}},
		{at: 1500 * time.Millisecond, what: "429 with retry-after-ms: 1500 on " + at(pri, 1), run: func(context.Context) {
			pri.srv.Inject(sim.Fault{Status: http.StatusTooManyRequests, Key: pri.keys[1].secret, Header: map[string]string{"retry-after-ms": "1500"}})
		}},
		{at: 2500 * time.Millisecond, what: fmt.Sprintf("%d burst on %s for 4.5s", p.b.burstStatus, on(pri)), run: func(ctx context.Context) {
			f.window(ctx, pri, sim.Fault{Status: p.b.burstStatus, Times: -1}, 4500*time.Millisecond)
		}},
		{at: 7500 * time.Millisecond, once: true, what: "dead key: " + at(sec, 1) + " now answers 401", run: func(context.Context) {
			f.reject(sec, sec.keys[1].secret, http.StatusUnauthorized)
		}},
		{at: 8 * time.Second, what: "slow upstream: " + p.b.name + " answers after 1.5s for 3s", run: func(ctx context.Context) {
			for _, ep := range p.eps {
				ep.srv.SetLatency(1500 * time.Millisecond)
			}
			sleepCtx(ctx, 3*time.Second)
			for _, ep := range p.eps {
				ep.srv.SetLatency(simLatency)
			}
		}},
		{at: 11500 * time.Millisecond, what: "slow streams (300ms between events) on " + on(sec) + " for 3s", run: func(ctx context.Context) {
			f.window(ctx, sec, sim.Fault{ChunkDelay: 300 * time.Millisecond, Times: -1}, 3*time.Second)
		}},
		{at: 15500 * time.Millisecond, what: "cut streams (after 3 events) on " + on(pri) + " for 1.5s", run: func(ctx context.Context) {
			f.window(ctx, pri, sim.Fault{CutAfter: 3, Times: -1}, 1500*time.Millisecond)
		}},
	}
}

// window applies fault to every matching request on ep for d, then clears it.
func (f *faults) window(ctx context.Context, ep *simEndpoint, fault sim.Fault, d time.Duration) {
	ep.srv.Inject(fault)
	sleepCtx(ctx, d)
	ep.srv.Clear()
	f.mu.Lock()
	defer f.mu.Unlock()
	for secret, status := range f.rejected[ep.srv] {
		ep.srv.RejectKey(secret, status)
	}
}

// reject makes ep answer every request with secret with status, for good.
func (f *faults) reject(ep *simEndpoint, secret string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rejected[ep.srv] == nil {
		f.rejected[ep.srv] = map[string]int{}
	}
	f.rejected[ep.srv][secret] = status
	ep.srv.RejectKey(secret, status)
}
