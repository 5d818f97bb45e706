package actors

import (
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// messageClock reads an actor's clock at most once per message: every
// reading while the actor handles one message is the same instant. A
// handler runs for microseconds, and a clock read costs about 57 ns on the
// standard VM; the dispatcher used to read it six times for one request.
// Outside begin and end (a method called directly, as unit tests do) every
// reading reads the clock. The zero value is ready. Not safe for concurrent
// use: it belongs to one actor.
type messageClock struct {
	at              time.Time
	inMessage, read bool
}

// begin starts a message: the next reading reads the clock.
func (c *messageClock) begin() { c.inMessage, c.read = true, false }

// end ends the message.
func (c *messageClock) end() { c.inMessage = false }

// now is the time of the message being handled, read from clk once.
func (c *messageClock) now(clk clock.Clock) time.Time {
	if !c.inMessage {
		return clk.Now()
	}
	if !c.read {
		c.at, c.read = clk.Now(), true
	}
	return c.at
}
