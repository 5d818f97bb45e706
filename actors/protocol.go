package actors

import (
	"context"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Submit is how the Go facade hands a request to the dispatcher: the answer
// goes to Reply (buffered, never blocks the dispatcher) and, for streams, the
// chunks to Emit. Actors send the bare request with ctx.Request instead.
type Submit struct {
	Req messages.Request
	// Ctx is the caller's context; its deadline bounds the request and its
	// cancellation aborts the upstream call. The caller sends a
	// messages.Cancel when it gives up, so the dispatcher answers at once.
	Ctx   context.Context
	Reply chan<- any
	// ReplyPID, when Reply is nil, receives the answer as a message instead
	// (the cache actor forwards requests this way).
	ReplyPID *actor.PID
	// Emit delivers a stream chunk and reports false once the caller is gone.
	Emit func(*messages.StreamChunk) bool
	// Internal marks a request the runtime sends itself and answers its
	// caller for (the cache's leader calls and embeddings): the dispatcher
	// does not audit its answer, the sender audits its callers'.
	Internal bool
	// trace, from the cache, is the request's trace (tracing on): the
	// dispatcher continues it instead of starting one.
	trace *reqTrace
	// Runner, when set, is where the request's first attempt may be left
	// for its caller to run (see CallerRuns).
	Runner *CallerRuns
}

// dispatch hands one attempt of a request to a provider.
type dispatch struct {
	id  string
	req messages.Request
	// ctx is this attempt's own context; cancel ends it (and nothing
	// else): the dispatcher calls it when the request ends or another
	// attempt is sent, the HTTP client on a header timeout.
	ctx      context.Context
	cancel   context.CancelFunc
	emit     func(*messages.StreamChunk) bool
	attempt  int
	avoidKey string
	deadline time.Time
	// affinity, when set, sends the attempt only to the endpoint and key
	// group that can see the stored object the request names.
	affinity *affinityPin
	// tr is the request's (or batch call's) trace; nil with tracing off.
	tr *reqTrace
	// runner, on a request's first dispatch, is its caller's CallerRuns.
	runner *CallerRuns
}

// capacityMode tells the dispatcher how to treat a provider.
type capacityMode uint8

const (
	// capNormal: send up to Free requests.
	capNormal capacityMode = iota
	// capFailFast: send everything; the provider answers each with an error
	// at once (every endpoint OPEN, or every key disabled).
	capFailFast
	// capUnlimited: the provider's keys have no practical in-flight cap;
	// send everything without counting (saves a message per request).
	capUnlimited
)

// unlimitedThreshold is the free-slot count above which a provider reports
// capUnlimited.
const unlimitedThreshold = 1 << 16

// capacity is a provider's standing offer to the dispatcher.
type capacity struct {
	provider string
	// free is how many more requests the provider can place now, counting
	// only the dispatches it had received when it wrote this.
	free int
	// received counts dispatches the provider had received.
	received uint64
	mode     capacityMode
	// retryAt is when a provider with no free slot expects one (cooling
	// keys); zero if unknown.
	retryAt time.Time
	// seq orders capacity messages of one provider.
	seq uint64
	// wake asks the dispatcher to requeue parked (pinned) requests: their
	// key or endpoint may take them now, though the totals did not change.
	wake bool
}

// attemptDone is a provider's report of one attempt.
type attemptDone struct {
	provider string
	id       string
	attempt  int
	resp     messages.Response
	err      error
	// bounced: the provider could not place the request; requeue it at the
	// front without counting an attempt.
	bounced bool
	// notBefore, on a bounce of a request with an affinity pin whose keys
	// all cool down, is when the first of them may be tried again.
	notBefore time.Time
	// rotate: a key-level 429 while another key is usable; retry at once.
	rotate   bool
	keyLabel string
	chunks   int
}

// execute asks a key actor to run one attempt.
type execute struct {
	callID  uint64
	d       *dispatch
	spec    *EndpointSpec
	epIdx   int
	keyIdx  int
	epGen   uint64
	started time.Time
}

// callFinished is what the HTTP goroutine reports to its key actor.
type callFinished struct {
	callID uint64
	x      *execute
	resp   messages.Response
	err    *messages.UpstreamError
	// result is the attempt's (keyAttempt.call.Result), final once sent.
	result  *providers.CallResult
	latency time.Duration
}

// keyOutcome is what a key actor reports to its provider.
type keyOutcome struct {
	callID  uint64
	keyIdx  int
	epIdx   int
	resp    messages.Response
	err     *messages.UpstreamError
	result  *providers.CallResult // the attempt's, as in callFinished
	latency time.Duration
}

// observe tells a breaker how an attempt on its endpoint went.
type observe struct {
	gen        uint64
	failure    bool
	class      messages.ErrorClass
	retryAfter time.Duration
}

// breakerReady tells the provider a breaker incarnation is up and its keys
// are spawned.
type breakerReady struct {
	epIdx int
	gen   uint64
	keys  []*actor.PID
}

// ProviderReady tells the provider's parent that every breaker of the
// provider has started and spawned its keys: the provider can route. It is
// sent once per provider incarnation.
type ProviderReady struct {
	Name string
}

// BreakerTripped is the failure reason a breaker escalates to its provider
// when it opens.
type BreakerTripped struct {
	Endpoint   string
	Reason     string
	RetryAfter time.Duration
}

func (b *BreakerTripped) String() string { return "breaker tripped: " + b.Reason }

// cooldownElapsed is the provider's timer for restarting an OPEN breaker.
type cooldownElapsed struct {
	epIdx int
	gen   uint64
}

// recheck is the provider's timer for cooling keys.
type recheck struct{ gen uint64 }

// getNode asks a provider for its snapshot.
type getNode struct{}

// timerFired is the dispatcher's timer (deadline or backoff).
type timerFired struct {
	id  string
	gen uint64
}

// Shutdown starts a graceful stop of the dispatcher: refuse new requests,
// answer queued and backing-off ones ErrShuttingDown, let in-flight ones
// finish. Drained is closed when nothing is in flight.
type Shutdown struct {
	Drained chan struct{}
}

// Abort answers every in-flight request ErrShuttingDown and cancels its call.
type Abort struct {
	Done chan struct{}
}

// CheckInvariants turns on the dispatcher's self-check: after every message
// it handles, the dispatcher verifies its bookkeeping (queue depth per
// level, capacity, backoff and in-flight counts, parked and batched
// requests, admitted = answered + live) and calls Report, on the
// dispatcher's goroutine, with the first violation it finds; it then stops
// checking. A nil Report turns the check off. Tests send it; until it is
// sent the check costs one nil comparison per message. A request (ctx.Request
// or RequestFuture) is answered with the message once the check is on.
type CheckInvariants struct {
	Report func(error)
}
