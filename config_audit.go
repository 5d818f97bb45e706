package switchyard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/audit"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
)

// AuditConfig turns on the audit log: one record per request the runtime
// answers (time, request ID, principal and tenant, operation, provider,
// endpoint, key label, model, priority, attempts, outcome and status,
// tokens, latency, cache hit, batch ID), hash-chained so that audit.Verify
// (and cmd/auditverify) detects any edited, removed or reordered record.
// Prompts and answers are not recorded unless Content is set; secrets never
// are (every string passes the same redaction as errors and logs).
//
// Recording never blocks a request: records wait in a bounded buffer, and
// when the sink falls behind they are dropped, counted (Stats.AuditDropped)
// and announced by an AuditDropped event. Off unless Path or Sink is set.
type AuditConfig struct {
	// Path is the JSON Lines file; rotated files are Path.000001, … .
	Path string `yaml:"path" json:"path"`
	// MaxBytes rotates the file at this size (default 100 MiB; negative:
	// never). MaxFiles keeps this many rotated files (0: all).
	MaxBytes int64 `yaml:"max_bytes" json:"max_bytes"`
	MaxFiles int   `yaml:"max_files" json:"max_files"`
	// Fsync is when records reach stable storage: an interval such as "1s"
	// (the default: a power failure loses at most the last second of
	// records, a crash of the process none, since they are in the operating
	// system already), "write" (after every batch the writer takes: the
	// most durable, and at saturation about 30 % of the throughput on the
	// standard machine, see BENCHMARKS.md) or "never" (the operating system
	// decides).
	Fsync string `yaml:"fsync" json:"fsync"`
	// Buffer is how many records may wait for the sink (default 8192).
	Buffer int `yaml:"buffer" json:"buffer"`
	// Content records each request's prompt and each answer's text: an
	// opt-in, for hosts whose compliance rules ask for it.
	Content bool `yaml:"content" json:"content"`
	// Sink sends the records elsewhere instead of Path (set in code); the
	// runtime closes it at Close.
	Sink audit.Sink `yaml:"-" json:"-"`
	// AnchorEvery is how often, on the runtime's clock, an AuditAnchor
	// event carries the file's head (the last record's sequence number and
	// hash) when it has moved, and once more after Close has flushed the
	// file (default 1 min; negative: only at Close). The chain alone cannot
	// show that the newest records were removed; an anchor kept outside the
	// log (the host's logs, another system) can: audit.Verify's LastSeq and
	// LastHash must reach it. Path only.
	AnchorEvery time.Duration `yaml:"anchor_every" json:"anchor_every"`
}

// DefaultAuditAnchorEvery is the default of AuditConfig.AnchorEvery.
const DefaultAuditAnchorEvery = time.Minute

// DefaultAuditFsync is the audit file's default sync interval.
const DefaultAuditFsync = time.Second

func (a *AuditConfig) enabled() bool { return a.Path != "" || a.Sink != nil }

func (a *AuditConfig) fsync() (audit.Fsync, error) {
	switch strings.ToLower(a.Fsync) {
	case "":
		return audit.FsyncInterval(DefaultAuditFsync), nil
	case "write":
		return audit.FsyncEveryWrite, nil
	case "never":
		return audit.FsyncNever, nil
	}
	d, err := time.ParseDuration(a.Fsync)
	if err != nil || d <= 0 {
		return 0, &ConfigError{Field: "audit.fsync", Reason: fmt.Sprintf("%q is not write, never or a positive duration", a.Fsync)}
	}
	return audit.FsyncInterval(d), nil
}

func (a *AuditConfig) validate() error {
	if a.Path != "" && a.Sink != nil {
		return &ConfigError{Field: "audit.path", Reason: "set either path or Sink"}
	}
	if a.Buffer < 0 {
		return &ConfigError{Field: "audit.buffer", Reason: "must not be negative"}
	}
	if a.MaxFiles < 0 {
		return &ConfigError{Field: "audit.max_files", Reason: "must not be negative"}
	}
	_, err := a.fsync()
	return err
}

// open starts the audit logger, or returns nil when auditing is off.
// anchor receives the file's head (see AnchorEvery).
func (a *AuditConfig) open(clk clock.Clock, red *redact.Redactor, onDrop func(uint64), onError func(error), anchor func(seq uint64, hash string, final bool)) (*auditor, error) {
	if !a.enabled() {
		return nil, nil
	}
	aud := &auditor{clock: clk, red: red, content: a.Content, anchor: anchor}
	sink := a.Sink
	if sink == nil {
		fs, _ := a.fsync()
		f, err := audit.OpenFileSink(audit.FileOptions{Path: a.Path, MaxBytes: a.MaxBytes, MaxFiles: a.MaxFiles, Fsync: fs})
		if err != nil {
			return nil, &ConfigError{Field: "audit.path", Reason: err.Error()}
		}
		sink, aud.file = f, f
	}
	aud.log = audit.NewLogger(sink, audit.LoggerOptions{Buffer: a.Buffer, OnDrop: onDrop, OnError: onError, Clock: clk})
	if aud.file != nil {
		aud.every = a.AnchorEvery
		if aud.every == 0 {
			aud.every = DefaultAuditAnchorEvery
		}
		aud.armAnchor()
	}
	return aud, nil
}

// auditor turns the runtime's answers into audit records (actors.Auditor).
type auditor struct {
	log     *audit.Logger
	clock   clock.Clock
	red     *redact.Redactor
	content bool

	// file, for a file log, gives the head that anchor publishes every
	// every (when it has moved) and at close.
	file   *audit.FileSink
	anchor func(seq uint64, hash string, final bool)
	every  time.Duration

	mu       sync.Mutex
	timer    clock.Timer
	closed   bool
	lastSeq  uint64
	anchored bool
}

// armAnchor schedules the next periodic anchor.
func (a *auditor) armAnchor() {
	if a.every <= 0 || a.anchor == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	a.timer = a.clock.AfterFunc(a.every, func() {
		a.publishHead(false)
		a.armAnchor()
	})
}

// publishHead sends the file's head to anchor: when it moved since the
// last anchor, or always (final).
func (a *auditor) publishHead(final bool) {
	if a.file == nil || a.anchor == nil {
		return
	}
	seq, hash := a.file.Head()
	a.mu.Lock()
	if (a.closed && !final) || (!final && a.anchored && seq == a.lastSeq) {
		a.mu.Unlock()
		return
	}
	a.lastSeq, a.anchored = seq, true
	a.mu.Unlock()
	a.anchor(seq, hash, final)
}

// close flushes the log within ctx, stops the periodic anchors and
// publishes the final head.
func (a *auditor) close(ctx context.Context) error {
	a.mu.Lock()
	a.closed = true
	if a.timer != nil {
		a.timer.Stop()
	}
	a.mu.Unlock()
	err := a.log.Close(ctx)
	a.publishHead(true)
	return err
}

// Answered records one answered request.
func (a *auditor) Answered(req messages.Request, answer any, how actors.AuditInfo) {
	a.log.Log(a.record(req, answer, how))
}

// record builds the audit record of req answered with answer.
func (a *auditor) record(req messages.Request, answer any, how actors.AuditInfo) audit.Record {
	now := a.clock.Now()
	r := audit.Record{Time: how.Admitted, Attempts: how.Attempts, Outcome: audit.OutcomeOK}
	if r.Time.IsZero() {
		r.Time = now
	}
	if ci := providers.CallInfo(req); ci != nil {
		r.RequestID, r.Provider, r.Principal, r.Tenant = ci.RequestID, ci.Provider, ci.Principal, ci.Tenant
		r.Priority = ci.Priority.String()
		r.Operation, r.Model = req.Operation(), messages.ModelOf(req)
	}
	r.Latency = now.Sub(r.Time)
	switch v := answer.(type) {
	case *messages.Failure:
		if v.RequestID != "" {
			r.RequestID = v.RequestID
		}
		a.failure(&r, v.Err)
	case messages.Response:
		if m := v.ResponseMeta(); m != nil {
			r.RequestID, r.Endpoint, r.Key, r.BatchID = m.RequestID, m.Endpoint, m.Key, m.BatchID
			if m.Provider != "" {
				r.Provider = m.Provider
			}
			r.Attempts = max(r.Attempts, m.Attempts)
			u := messages.UsageOf(v)
			r.InputTokens, r.OutputTokens = u.InputTokens, u.OutputTokens
			if m.Latency > 0 {
				r.Latency = m.Latency
			}
			if m.Cached {
				r.CacheHit = audit.CacheExact
				if m.Similarity > 0 && m.Similarity < 1 {
					r.CacheHit = audit.CacheSemantic
				}
			}
		}
		r.Status = 200
	}
	if a.content {
		r.Content = contentOf(req, answer)
	}
	a.scrub(&r)
	return r
}

// failure fills the outcome of a failed request.
func (a *auditor) failure(r *audit.Record, err error) {
	r.Outcome = audit.OutcomeError
	var ue *messages.UpstreamError
	var re *messages.RequestError
	switch {
	case errors.As(err, &re) && re.Last != nil:
		ue = re.Last
	case errors.As(err, &ue):
	}
	if ue != nil {
		r.Endpoint, r.Key, r.Status, r.ErrorClass = ue.Endpoint, ue.Key, ue.Status, ue.Class.String()
	}
	switch {
	case errors.Is(err, messages.ErrDeadline):
		r.Outcome = audit.OutcomeDeadline
	case errors.Is(err, context.Canceled) || (ue != nil && ue.Class == messages.ClassCancelled):
		r.Outcome = audit.OutcomeCancelled
	case ue == nil && r.Attempts == 0:
		r.Outcome = audit.OutcomeRejected
	}
	if r.ErrorClass == "" {
		if r.ErrorClass = messages.ErrorKind(err); r.ErrorClass == "" {
			r.ErrorClass = "internal"
		}
	}
}

// scrub removes secrets from every string of r.
func (a *auditor) scrub(r *audit.Record) {
	for _, s := range []*string{&r.RequestID, &r.Principal, &r.Tenant, &r.Operation, &r.Provider, &r.Endpoint, &r.Key, &r.Model,
		&r.Priority, &r.ErrorClass, &r.BatchID} {
		*s = a.red.String(*s)
	}
	if c := r.Content; c != nil {
		c.Request, c.Response = a.red.String(c.Request), a.red.String(c.Response)
	}
}

// contentOf is the request and answer as JSON, for content logging.
func contentOf(req messages.Request, answer any) *audit.Content {
	c := &audit.Content{}
	if b, err := json.Marshal(req); err == nil {
		c.Request = string(b)
	}
	if r, ok := answer.(messages.Response); ok {
		if b, err := json.Marshal(r); err == nil {
			c.Response = string(b)
		}
	}
	return c
}

// answerObservers passes every answer to each of its observers in turn.
type answerObservers []actors.Auditor

// Answered calls each observer.
func (o answerObservers) Answered(req messages.Request, answer any, how actors.AuditInfo) {
	for _, a := range o {
		a.Answered(req, answer, how)
	}
}
