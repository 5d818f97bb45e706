package main

import (
	"fmt"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// eventKind sorts event lines, for colouring.
type eventKind int

const (
	evFault eventKind = iota
	evOpen
	evHalfOpen
	evClosed
	evRestart
	evCooldown
	evDisabled
	evExpired
)

// eventLine is one line of the event list.
type eventLine struct {
	At   time.Time
	Kind eventKind
	Text string
}

// eventCounts tallies events, frequent ones included (retries and
// rejections are counted, not listed).
type eventCounts struct {
	Retries, Rejected, Expired, Cooldowns, Disabled, Trips, Restarts int64
}

// eventLog keeps the last events of the tree (from Subscribe) and the fault
// announcements of the demo. Safe for concurrent use; add never blocks for
// long (it runs on an actor's goroutine).
type eventLog struct {
	mu     sync.Mutex
	keep   int
	lines  []eventLine
	counts eventCounts
	// opened counts transitions to OPEN per "provider/endpoint": the
	// snapshot's Trips is consecutive trips and resets on close.
	opened map[string]int
}

func newEventLog(keep int) *eventLog { return &eventLog{keep: keep, opened: map[string]int{}} }

func (l *eventLog) push(line eventLine) {
	l.lines = append(l.lines, line)
	if len(l.lines) > l.keep {
		l.lines = append(l.lines[:0:0], l.lines[len(l.lines)-l.keep:]...)
	}
}

// note records a fault announcement.
func (l *eventLog) note(text string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.push(eventLine{At: time.Now(), Kind: evFault, Text: "fault: " + text})
}

// add records a tree event; it is the Subscribe callback of a single
// instance.
func (l *eventLog) add(e messages.Event) { l.addFrom("", e) }

// from returns the Subscribe callback of the instance named node (with
// --nodes): its event lines start with the node's name. The trips per
// endpoint are counted over all nodes.
func (l *eventLog) from(node string) func(messages.Event) {
	return func(e messages.Event) { l.addFrom(node+": ", e) }
}

// addFrom records a tree event, its line prefixed with prefix.
func (l *eventLog) addFrom(prefix string, e messages.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := e.EventTime()
	push := func(line eventLine) {
		line.Text = prefix + line.Text
		l.push(line)
	}
	switch v := e.(type) {
	case *messages.BreakerStateChanged:
		ep := v.Provider + "/" + v.Endpoint
		text := fmt.Sprintf("breaker %s %s → %s: %s", ep, v.From, v.To, v.Reason)
		kind := evClosed
		switch v.To {
		case messages.Open:
			kind = evOpen
			if v.From != messages.Open {
				l.opened[ep]++
				l.counts.Trips++
			}
			text += fmt.Sprintf(" (reopens in %s, trip streak %d)", fmtDur(v.ReopenAt.Sub(v.Time)), v.Trips)
		case messages.HalfOpen:
			kind = evHalfOpen
		}
		push(eventLine{At: at, Kind: kind, Text: text})
	case *messages.ActorRestarted:
		l.counts.Restarts++
		push(eventLine{At: at, Kind: evRestart, Text: fmt.Sprintf("supervisor restarted %s: %s", v.Actor, v.Reason)})
	case *messages.KeyCooldown:
		l.counts.Cooldowns++
		push(eventLine{At: at, Kind: evCooldown, Text: fmt.Sprintf("key %s/%s/%s cooling for %s: %s", v.Provider, v.Endpoint, v.Key, fmtDur(v.Until.Sub(v.Time)), v.Reason)})
	case *messages.KeyDisabled:
		l.counts.Disabled++
		push(eventLine{At: at, Kind: evDisabled, Text: fmt.Sprintf("key %s/%s/%s disabled after HTTP %d", v.Provider, v.Endpoint, v.Key, v.Status)})
	case *messages.RequestExpired:
		l.counts.Expired++
	case *messages.RequestRejected:
		l.counts.Rejected++
	case *messages.RequestRetried:
		l.counts.Retries++
	}
}

// snapshot copies the last n lines, the counts and the trips per endpoint.
func (l *eventLog) snapshot() ([]eventLine, eventCounts, map[string]int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	opened := make(map[string]int, len(l.opened))
	for k, v := range l.opened {
		opened[k] = v
	}
	return append([]eventLine(nil), l.lines...), l.counts, opened
}
