// Package report holds the JSON lines internal/fleetnode prints on its
// standard output, for the node that writes them and the multi-process
// test (fleettest) that reads them: one definition, so the two cannot
// drift apart.
package report

import (
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// Stats is the line of kind "stats" a node prints every second.
type Stats struct {
	Kind   string    `json:"kind"`
	Time   time.Time `json:"t"`
	Member string    `json:"member"`
	// Addr is the member's cluster address; Members how many it lists.
	Addr    string `json:"addr"`
	Members int    `json:"members"`
	// Traffic is by provider.
	Traffic map[string]Traffic `json:"traffic"`
	// Keys are the keys' states (active, cooling, disabled) and Breakers
	// the endpoints' (CLOSED, OPEN, HALF-OPEN), by provider/endpoint[/key].
	Keys     map[string]string `json:"keys"`
	Breakers map[string]string `json:"breakers"`
	// Fleet is Switchyard.Stats' fleet figures.
	Fleet messages.FleetStats `json:"fleet"`
	Error string              `json:"error,omitempty"`
}

// Traffic is one traffic generator's figures in a Stats line.
type Traffic struct {
	Rate    float64          `json:"rate"`
	Sent    int64            `json:"sent"`
	OK      int64            `json:"ok"`
	Cached  int64            `json:"cached"`
	Skipped int64            `json:"skipped"`
	Failed  map[string]int64 `json:"failed"`
}

// ChatOnce is the line of kind "chat-once" the chat-once command prints.
// Upstream tells whether the answer came from an upstream call made for
// this request (not the cache).
type ChatOnce struct {
	Kind     string `json:"kind"`
	Prompt   string `json:"prompt"`
	OK       bool   `json:"ok"`
	Cached   bool   `json:"cached"`
	Upstream bool   `json:"upstream"`
	Attempts int    `json:"attempts"`
	Answer   string `json:"answer,omitempty"`
	Error    string `json:"error,omitempty"`
}
