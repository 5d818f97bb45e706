package messages

import "time"

// Counters is a snapshot of one node's counters (provider, endpoint or key).
type Counters struct {
	Requests  uint64
	Successes uint64
	// Failures counts failed attempts by class name.
	Failures     map[string]uint64
	Retries      uint64
	InFlight     int64
	InputTokens  uint64
	OutputTokens uint64
	// BytesIn and BytesOut count body bytes of object transfers.
	BytesIn, BytesOut uint64
	// LatencyP50 and LatencyP99 are attempt latencies from a log-bucketed
	// histogram (about 10 % resolution).
	LatencyP50, LatencyP99 time.Duration
	LastRequest            time.Time
	LastError              string
}

// FailureTotal sums Failures.
func (c Counters) FailureTotal() uint64 {
	var n uint64
	for _, v := range c.Failures {
		n += v
	}
	return n
}

// RateLimit is what an upstream's rate-limit headers last said for a key.
type RateLimit struct {
	LimitRequests, RemainingRequests int64
	LimitTokens, RemainingTokens     int64
	ResetRequests, ResetTokens       time.Time
	// Known is false until a response carried rate-limit headers.
	Known bool
}

// KeyState is a key's routing state.
type KeyState string

// Key states.
const (
	KeyStateActive   KeyState = "active"
	KeyStateCooling  KeyState = "cooling"
	KeyStateDisabled KeyState = "disabled"
)

// KeyNode is one key in a Tree snapshot.
type KeyNode struct {
	Label string
	// Hint is the last four characters of the secret, "…abcd".
	Hint         string
	State        KeyState
	CoolingUntil time.Time
	Counters     Counters
	RateLimit    RateLimit
}

// EndpointNode is one endpoint (breaker) in a Tree snapshot.
type EndpointNode struct {
	Name     string
	BaseURL  string
	State    BreakerState
	ReopenAt time.Time
	// Trips counts consecutive trips since the breaker last closed (it sets
	// the cooldown); TripsTotal counts every trip since start.
	Trips      int
	TripsTotal int
	// Restarts counts supervised restarts into HALF-OPEN; Incarnations
	// counts breaker actor instances that actually started (1 + restarts).
	Restarts     int
	Incarnations int
	Counters     Counters
	Keys         []KeyNode
}

// ProviderNode is one provider in a Tree snapshot.
type ProviderNode struct {
	Name      string
	Kind      string
	Queued    [3]int
	Counters  Counters
	Endpoints []EndpointNode
}

// LevelStatus describes one priority level of the dispatcher's queue.
type LevelStatus struct {
	Priority   Priority
	Depth      int
	Capacity   int
	Admitted   uint64
	Rejected   uint64
	Expired    uint64
	OldestWait time.Duration
	// WaitP50 and WaitP99 are queue waits of dispatched requests.
	WaitP50, WaitP99 time.Duration
}

// QueueStatus is the dispatcher's queue on demand.
type QueueStatus struct {
	Time time.Time
	// Levels is indexed by Priority.Index(): HIGH, NORMAL, LOW.
	Levels [3]LevelStatus
	// PerProvider gives depth per level for each provider.
	PerProvider map[string][3]int
	// InFlight counts dispatched requests not yet answered; Backoff counts
	// requests waiting for a retry; Parked those waiting for the key or
	// endpoint they are pinned to.
	InFlight, Backoff, Parked int
	// RetryBudget is the number of retries the budget still allows now.
	RetryBudget float64
	// Windows are the batching windows, by provider, model and operation.
	Windows []WindowStatus
}

// WindowStatus describes one batching window: requests of one provider,
// operation, model and options (and pinned endpoint) that wait to share an
// upstream call.
type WindowStatus struct {
	Provider, Endpoint, Model, Operation string
	// Members, Inputs and Tokens (estimated) are what the window holds now;
	// OldestWait is how long its first member has waited.
	Members, Inputs, Tokens int
	OldestWait              time.Duration
	// MaxInputs, MaxTokens and Delay are its flush limits (MaxTokens 0: no
	// token limit). MaxInputs shrinks when the upstream refuses a batch as
	// too large (413).
	MaxInputs, MaxTokens int
	Delay                time.Duration
	// Batches counts the calls the window made and Batched the requests
	// they carried; LargestBatch is the most inputs one call carried.
	Batches, Batched uint64
	LargestBatch     int
	// Why the window flushed: full, delay expired, a HIGH request, a retry;
	// adaptive windows also when no call of their shape was pending (idle)
	// and when one ended (ended).
	FlushFull, FlushDelay, FlushHigh, FlushRetry uint64
	FlushIdle, FlushEnded                        uint64
	// Mode is the window's batching mode: "adaptive" or "fixed".
	Mode string
	// Splits counts batches split in two because the upstream refused
	// them (4xx), so a bad input fails only its own request.
	Splits uint64
}

// Fill is the mean number of requests per call.
func (w WindowStatus) Fill() float64 {
	if w.Batches == 0 {
		return 0
	}
	return float64(w.Batched) / float64(w.Batches)
}

// Tree is a snapshot of the whole supervision tree, for dashboards and the
// demo.
type Tree struct {
	Time      time.Time
	Queue     QueueStatus
	Providers []ProviderNode
	// Cache is the cache's status; nil when the cache is off.
	Cache *CacheStatus
	// Fleet is this member's fleet figures; nil when fleet mode is off.
	Fleet *FleetStats
}

// GetQueueStatus asks the dispatcher for a *QueueStatus.
type GetQueueStatus struct{}

// SetQueueCapacity changes a level's capacity at run time. Requests already
// queued stay; new ones are rejected while the level holds Capacity or more.
type SetQueueCapacity struct {
	Priority Priority
	Capacity int
}

// Stats is a flat view of every counter, keyed for dashboards: Providers by
// provider name, Endpoints by "provider/endpoint", Keys by
// "provider/endpoint/key" (labels, never secrets).
type Stats struct {
	Time      time.Time
	Queue     QueueStatus
	Providers map[string]Counters
	Endpoints map[string]Counters
	Keys      map[string]Counters
	// Audit counts the audit log's records when it is on (zero otherwise).
	Audit AuditStats
	// Fleet holds this member's fleet-mode figures (zero when off).
	Fleet FleetStats
}

// AuditStats counts the audit log's records: Logged = Written + Failed +
// Dropped + those waiting for the sink.
type AuditStats struct {
	Logged, Written, Failed, Dropped uint64
}
