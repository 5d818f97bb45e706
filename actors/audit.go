package actors

import (
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// Auditor receives the final answer of every request the runtime answers
// a caller, exactly once per request: from the dispatcher (answers and
// refusals at admission), from the cache (hits, and answers it relays to
// the requests it held) and from the front door (requests refused before
// they reach either). Requests the runtime sends itself (a cache leader's
// call, the semantic layer's embeddings) are not audited: their callers'
// answers are.
//
// Answered is called on an actor's goroutine (or a cache replay's) and must
// not block; answer is a messages.Response or a *messages.Failure, and req
// may be nil (a nil request refused). Implementations are safe for
// concurrent use.
type Auditor interface {
	Answered(req messages.Request, answer any, how AuditInfo)
}

// AuditInfo is what the runtime knows of a request's way beyond its answer.
type AuditInfo struct {
	// Admitted is when the runtime took the request in, on its clock.
	Admitted time.Time
	// Attempts counts the upstream attempts made for it (0: none, such as
	// a cache hit or a refusal).
	Attempts int
}

// audit reports answer to env's Auditor, if any.
func (env *Env) audit(req messages.Request, answer any, admitted time.Time, attempts int) {
	if env.Audit != nil {
		env.Audit.Answered(req, answer, AuditInfo{Admitted: admitted, Attempts: attempts})
	}
}

// attemptsOf is the attempts a relayed answer reports (a response's
// Meta.Attempts), 0 for a failure.
func attemptsOf(answer any) int {
	if r, ok := answer.(messages.Response); ok && r != nil {
		if m := r.ResponseMeta(); m != nil {
			return m.Attempts
		}
	}
	return 0
}
