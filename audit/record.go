package audit

import "time"

// Outcomes a Record can have. Outcome is a string so a host may record others.
const (
	OutcomeOK        = "ok"        // an answer was delivered
	OutcomeError     = "error"     // the request failed (see Status, ErrorClass)
	OutcomeCancelled = "cancelled" // the caller cancelled
	OutcomeDeadline  = "deadline"  // the caller's deadline passed
	OutcomeRejected  = "rejected"  // refused before any attempt (queue full, bad request, shutting down)
)

// Cache hits a Record can have; "" means the answer did not come from the cache.
const (
	CacheExact    = "exact"
	CacheSemantic = "semantic"
)

// Record is one request in the audit log. It holds labels and counts, never
// secrets: Key is the key's label, not the key. Prompt and answer text appear
// only in Content, which is nil unless the host opted in.
//
// Seq, Prev and Hash are the chain; a FileSink sets them as it writes the
// record (whatever the caller put there is overwritten). Record is a plain
// value; copying it is safe.
type Record struct {
	Seq       uint64    // position in the log, from 1
	Time      time.Time // when the request arrived; written in UTC, to the nanosecond (outside the years 0–9999, as the zero time)
	RequestID string
	Principal string // who sent the request (a user or service identity)
	Tenant    string // whom it was sent for (a team, a customer)
	Operation string // e.g. "chat", "embeddings"
	Provider  string
	Endpoint  string
	Key       string // the label of the key used, never its value
	Model     string
	Priority  string
	Attempts  int
	Outcome   string // one of the Outcome constants
	Status    int    // HTTP status of the final answer, 0 if none
	// ErrorClass is the error's class (e.g. "rate_limited", "auth") when
	// Outcome is not OutcomeOK; never the error's text.
	ErrorClass   string
	InputTokens  int
	OutputTokens int
	Latency      time.Duration // written as "latency_ms", a decimal of milliseconds, exact to the nanosecond
	CacheHit     string        // "", CacheExact or CacheSemantic
	BatchID      string
	Content      *Content // nil unless content logging is configured; then written as "content"
	Prev         string   // Hash of the previous record; "" for record 1
	Hash         string   // hex SHA-256 of this record's line up to `,"hash":`
}

// Content is a request's prompt and answer text, recorded only when the host
// has opted in to content logging. The runtime decides the form (plain text
// or the JSON it sent and received).
type Content struct {
	Request  string
	Response string
}
