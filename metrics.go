package switchyard

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/switchyard-ai/switchyard/messages"
)

// collectTimeout bounds the snapshot a scrape takes.
const collectTimeout = 2 * time.Second

// metricsCollector exports a Tree snapshot as Prometheus metrics.
type metricsCollector struct {
	s *Switchyard

	requests, successes, failures, inFlight, tokens, bytes, latency *prometheus.Desc
	retries, retryBudget                                            *prometheus.Desc
	breakerState, breakerTrips, breakerRestarts                     *prometheus.Desc
	keyState, rateLimitRemaining, keyCooldown, breakerReopen        *prometheus.Desc
	queueDepth, queueCapacity, queueAdmitted, queueRejected         *prometheus.Desc
	queueExpired, queueWait, queued                                 *prometheus.Desc
	breakerConsecutive                                              *prometheus.Desc
	batchCalls, batchRequests, batchFlushes, batchWindowInputs      *prometheus.Desc
	cacheEntries, cacheLookups, cacheStores, cacheDropped           *prometheus.Desc
	cacheEmbedErrors                                                *prometheus.Desc
	subscriberPanics                                                *prometheus.Desc
	// fleet exports the member's fleet figures; nil unless fleet mode is on.
	fleet *fleetMetrics
}

// Collector returns a prometheus.Collector for this instance; register it
// with the host's registry (e.g. prometheus.MustRegister(sy.Collector())).
// Every scrape takes one Tree snapshot (bounded to 2 s) and exports:
//
//	switchyard_requests_total{provider,endpoint,key}          attempts started
//	switchyard_successes_total{provider,endpoint,key}
//	switchyard_failures_total{provider,endpoint,key,class}    failed attempts by error class
//	switchyard_retries_total{provider}                        retries scheduled
//	switchyard_retry_budget_available                         retries the retry budget allows now (below 1: exhausted)
//	switchyard_in_flight{provider,endpoint,key}
//	switchyard_tokens_total{provider,endpoint,key,direction}  direction input|output
//	switchyard_bytes_total{provider,endpoint,key,direction}   object transfer bytes, direction in|out
//	switchyard_latency_seconds{provider,endpoint,key,quantile} attempt latency, 0.5 and 0.99
//	switchyard_breaker_state{provider,endpoint}               0 closed, 1 open, 2 half-open
//	switchyard_breaker_trips_total{provider,endpoint}         times the endpoint went OPEN
//	switchyard_breaker_consecutive_trips{provider,endpoint}   trips since the breaker last closed (drives the cooldown)
//	switchyard_breaker_restarts_total{provider,endpoint}      supervised restarts into HALF-OPEN
//	switchyard_breaker_reopen_seconds{provider,endpoint}      until an OPEN breaker turns HALF-OPEN (0 unless OPEN)
//	switchyard_key_state{provider,endpoint,key,state}         1 for the current state, 0 for the others
//	switchyard_key_cooldown_seconds{provider,endpoint,key}    until a cooling key is used again (0 unless cooling)
//	switchyard_ratelimit_remaining{provider,endpoint,key,kind} kind requests|tokens, once an upstream sent them
//	switchyard_queue_depth{priority}, switchyard_queue_capacity{priority}
//	switchyard_queue_admitted_total{priority}, switchyard_queue_rejected_total{priority}, switchyard_queue_expired_total{priority}
//	switchyard_queue_wait_seconds{priority,quantile}          queue wait of dispatched requests, 0.5 and 0.99
//	switchyard_queued{provider,priority}                      queue depth per provider
//	switchyard_batch_calls_total{provider,endpoint,operation,model}     upstream calls made by batching windows
//	switchyard_batch_requests_total{provider,endpoint,operation,model}  requests those calls carried
//	switchyard_batch_flushes_total{provider,endpoint,operation,model,reason} reason full|delay|high|retry|idle|ended
//	switchyard_batch_window_inputs{provider,endpoint,operation,model}   inputs waiting in windows now
//	switchyard_cache_entries                                  stored answers (with the cache on)
//	switchyard_cache_lookups_total{result}                    exact_hit|semantic_hit|coalesced|miss|bypassed
//	switchyard_cache_stores_total
//	switchyard_cache_dropped_total{reason}                    evicted|expired
//	switchyard_cache_embed_errors_total                       semantic lookups whose embedding failed
//	switchyard_event_subscriber_panics_total                  event subscribers that panicked (recovered)
//
// and, recorded from every request's answer as it is given (see
// genAIMetrics for labels, buckets and what is recorded when):
//
//	gen_ai_client_operation_duration_seconds  histogram, OpenTelemetry GenAI operation duration
//	gen_ai_client_token_usage                 histogram, tokens per request by gen_ai_token_type
//	switchyard_request_queue_wait_seconds{provider,priority} histogram, queue wait of served requests
//	switchyard_retry_budget_exhausted_total{provider}        requests failed for want of retry budget
//
// and, in fleet mode, the member's lease and grain figures (see
// fleetMetrics: switchyard_fleet_*).
//
// The endpoint label of batching metrics is the pinned endpoint, "" for
// windows of requests that let the provider choose.
//
// Keys appear by label only; no label ever carries key material. A scrape
// whose snapshot fails reports the error to the registry (Gather returns
// it; promhttp answers 500 by default).
func (s *Switchyard) Collector() prometheus.Collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("switchyard_"+name, help, labels, nil)
	}
	key := []string{"provider", "endpoint", "key"}
	win := []string{"provider", "endpoint", "operation", "model"}
	with := func(extra ...string) []string { return append(append([]string(nil), key...), extra...) }
	c := &metricsCollector{
		s:                  s,
		requests:           d("requests_total", "Upstream attempts started, per key.", key...),
		successes:          d("successes_total", "Upstream attempts that succeeded, per key.", key...),
		failures:           d("failures_total", "Upstream attempts that failed, per key and error class.", with("class")...),
		retries:            d("retries_total", "Retries scheduled by the dispatcher, per provider.", "provider"),
		retryBudget:        d("retry_budget_available", "Retries the dispatcher's retry budget allows now; below 1 a due retry fails the request."),
		inFlight:           d("in_flight", "Upstream attempts in flight, per key.", key...),
		tokens:             d("tokens_total", "Tokens reported by the upstream, per key and direction (input, output).", with("direction")...),
		bytes:              d("bytes_total", "Object transfer body bytes, per key and direction (in, out).", with("direction")...),
		latency:            d("latency_seconds", "Upstream attempt latency quantiles (0.5, 0.99), per key.", with("quantile")...),
		breakerState:       d("breaker_state", "Circuit breaker state per endpoint: 0 closed, 1 open, 2 half-open.", "provider", "endpoint"),
		breakerTrips:       d("breaker_trips_total", "Times the endpoint's circuit breaker went OPEN.", "provider", "endpoint"),
		breakerRestarts:    d("breaker_restarts_total", "Supervised restarts of the endpoint's breaker into HALF-OPEN.", "provider", "endpoint"),
		breakerReopen:      d("breaker_reopen_seconds", "Seconds until an OPEN breaker is restarted into HALF-OPEN; 0 unless OPEN.", "provider", "endpoint"),
		keyCooldown:        d("key_cooldown_seconds", "Seconds until a cooling key is used again; 0 unless cooling.", key...),
		keyState:           d("key_state", "Key routing state: 1 for the current state (active, cooling, disabled), 0 for the others.", with("state")...),
		rateLimitRemaining: d("ratelimit_remaining", "What the upstream's rate-limit headers last said is left for the key (requests, tokens).", with("kind")...),
		queueDepth:         d("queue_depth", "Requests waiting in the dispatcher's queue, per priority.", "priority"),
		queueCapacity:      d("queue_capacity", "Capacity of the dispatcher's queue, per priority.", "priority"),
		queueAdmitted:      d("queue_admitted_total", "Requests admitted to the queue, per priority.", "priority"),
		queueRejected:      d("queue_rejected_total", "Requests rejected at admission (queue full), per priority.", "priority"),
		queueExpired:       d("queue_expired_total", "Requests whose deadline passed while queued, per priority.", "priority"),
		queueWait:          d("queue_wait_seconds", "Queue wait quantiles (0.5, 0.99) of dispatched requests, per priority.", "priority", "quantile"),
		queued:             d("queued", "Requests waiting in the dispatcher's queue, per provider and priority.", "provider", "priority"),
		breakerConsecutive: d("breaker_consecutive_trips", "Trips since the endpoint's breaker last closed; the cooldown doubles with each.", "provider", "endpoint"),
		batchCalls:         d("batch_calls_total", "Upstream calls made by batching windows.", win...),
		batchRequests:      d("batch_requests_total", "Requests carried by batching windows' calls.", win...),
		batchFlushes:       d("batch_flushes_total", "Batching window flushes by reason (full, delay, high, retry, idle, ended).", append(append([]string(nil), win...), "reason")...),
		batchWindowInputs:  d("batch_window_inputs", "Inputs waiting in batching windows now.", win...),
		cacheEntries:       d("cache_entries", "Answers stored in the cache."),
		cacheLookups:       d("cache_lookups_total", "Cacheable requests by outcome (exact_hit, semantic_hit, coalesced, miss, bypassed).", "result"),
		cacheStores:        d("cache_stores_total", "Answers stored in the cache."),
		cacheDropped:       d("cache_dropped_total", "Stored answers dropped, by reason (evicted, expired).", "reason"),
		cacheEmbedErrors:   d("cache_embed_errors_total", "Semantic lookups whose embedding failed (treated as misses)."),
		subscriberPanics:   d("event_subscriber_panics_total", "Event subscribers that panicked; each panic was recovered and logged."),
	}
	if s.fleet != nil {
		c.fleet = newFleetMetrics(s)
	}
	return c
}

func (c *metricsCollector) descs() []*prometheus.Desc {
	return []*prometheus.Desc{c.requests, c.successes, c.failures, c.retries, c.retryBudget, c.inFlight, c.tokens, c.bytes, c.latency,
		c.breakerState, c.breakerTrips, c.breakerRestarts, c.breakerConsecutive, c.breakerReopen, c.keyState, c.keyCooldown, c.rateLimitRemaining,
		c.queueDepth, c.queueCapacity, c.queueAdmitted, c.queueRejected, c.queueExpired, c.queueWait, c.queued,
		c.batchCalls, c.batchRequests, c.batchFlushes, c.batchWindowInputs,
		c.cacheEntries, c.cacheLookups, c.cacheStores, c.cacheDropped, c.cacheEmbedErrors, c.subscriberPanics}
}

// Describe sends every descriptor, so registration checks them all.
func (c *metricsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs() {
		ch <- d
	}
	if c.s.genai != nil {
		c.s.genai.Describe(ch)
	}
	if c.fleet != nil {
		c.fleet.Describe(ch)
	}
}

// Collect emits the answer histograms, then takes one snapshot and emits
// it.
func (c *metricsCollector) Collect(ch chan<- prometheus.Metric) {
	if c.s.genai != nil {
		c.s.genai.Collect(ch)
	}
	if c.fleet != nil {
		c.fleet.Collect(ch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), collectTimeout)
	defer cancel()
	t, err := c.s.Tree(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.requests, fmt.Errorf("switchyard: snapshot for metrics: %w", err))
		return
	}
	c.emit(ch, t)
}

var keyStates = []messages.KeyState{messages.KeyStateActive, messages.KeyStateCooling, messages.KeyStateDisabled}

func (c *metricsCollector) emit(ch chan<- prometheus.Metric, t messages.Tree) {
	counter := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
	}
	gauge := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	for _, p := range t.Providers {
		counter(c.retries, float64(p.Counters.Retries), p.Name)
		for i, n := range p.Queued {
			gauge(c.queued, float64(n), p.Name, messages.PriorityAt(i).String())
		}
		for _, ep := range p.Endpoints {
			gauge(c.breakerState, float64(ep.State), p.Name, ep.Name)
			counter(c.breakerTrips, float64(ep.TripsTotal), p.Name, ep.Name)
			gauge(c.breakerConsecutive, float64(ep.Trips), p.Name, ep.Name)
			counter(c.breakerRestarts, float64(ep.Restarts), p.Name, ep.Name)
			reopen := 0.0
			if ep.State == messages.Open && ep.ReopenAt.After(t.Time) {
				reopen = ep.ReopenAt.Sub(t.Time).Seconds()
			}
			gauge(c.breakerReopen, reopen, p.Name, ep.Name)
			for _, k := range ep.Keys {
				lv := []string{p.Name, ep.Name, k.Label}
				kc := k.Counters
				counter(c.requests, float64(kc.Requests), lv...)
				counter(c.successes, float64(kc.Successes), lv...)
				for class, n := range kc.Failures {
					counter(c.failures, float64(n), p.Name, ep.Name, k.Label, class)
				}
				gauge(c.inFlight, float64(kc.InFlight), lv...)
				counter(c.tokens, float64(kc.InputTokens), p.Name, ep.Name, k.Label, "input")
				counter(c.tokens, float64(kc.OutputTokens), p.Name, ep.Name, k.Label, "output")
				counter(c.bytes, float64(kc.BytesIn), p.Name, ep.Name, k.Label, "in")
				counter(c.bytes, float64(kc.BytesOut), p.Name, ep.Name, k.Label, "out")
				if kc.Successes+kc.FailureTotal() > 0 {
					gauge(c.latency, kc.LatencyP50.Seconds(), p.Name, ep.Name, k.Label, "0.5")
					gauge(c.latency, kc.LatencyP99.Seconds(), p.Name, ep.Name, k.Label, "0.99")
				}
				cooldown := 0.0
				if k.State == messages.KeyStateCooling && k.CoolingUntil.After(t.Time) {
					cooldown = k.CoolingUntil.Sub(t.Time).Seconds()
				}
				gauge(c.keyCooldown, cooldown, lv...)
				for _, st := range keyStates {
					v := 0.0
					if k.State == st {
						v = 1
					}
					gauge(c.keyState, v, p.Name, ep.Name, k.Label, string(st))
				}
				if rl := k.RateLimit; rl.Known {
					if rl.RemainingRequests >= 0 {
						gauge(c.rateLimitRemaining, float64(rl.RemainingRequests), p.Name, ep.Name, k.Label, "requests")
					}
					if rl.RemainingTokens >= 0 {
						gauge(c.rateLimitRemaining, float64(rl.RemainingTokens), p.Name, ep.Name, k.Label, "tokens")
					}
				}
			}
		}
	}
	gauge(c.retryBudget, t.Queue.RetryBudget)
	for _, l := range t.Queue.Levels {
		pr := l.Priority.String()
		gauge(c.queueDepth, float64(l.Depth), pr)
		gauge(c.queueCapacity, float64(l.Capacity), pr)
		counter(c.queueAdmitted, float64(l.Admitted), pr)
		counter(c.queueRejected, float64(l.Rejected), pr)
		counter(c.queueExpired, float64(l.Expired), pr)
		gauge(c.queueWait, l.WaitP50.Seconds(), pr, "0.5")
		gauge(c.queueWait, l.WaitP99.Seconds(), pr, "0.99")
	}
	for _, w := range t.Queue.Windows {
		lv := []string{w.Provider, w.Endpoint, w.Operation, w.Model}
		counter(c.batchCalls, float64(w.Batches), lv...)
		counter(c.batchRequests, float64(w.Batched), lv...)
		for _, f := range []struct {
			reason string
			n      uint64
		}{{"full", w.FlushFull}, {"delay", w.FlushDelay}, {"high", w.FlushHigh}, {"retry", w.FlushRetry}, {"idle", w.FlushIdle}, {"ended", w.FlushEnded}} {
			counter(c.batchFlushes, float64(f.n), append(lv, f.reason)...)
		}
		gauge(c.batchWindowInputs, float64(w.Inputs), lv...)
	}
	if cs := t.Cache; cs != nil {
		gauge(c.cacheEntries, float64(cs.Entries))
		counter(c.cacheLookups, float64(cs.Hits), "exact_hit")
		counter(c.cacheLookups, float64(cs.SemanticHits), "semantic_hit")
		counter(c.cacheLookups, float64(cs.Coalesced), "coalesced")
		counter(c.cacheLookups, float64(cs.Misses), "miss")
		counter(c.cacheLookups, float64(cs.Bypassed), "bypassed")
		counter(c.cacheStores, float64(cs.Stores))
		counter(c.cacheDropped, float64(cs.Evictions), "evicted")
		counter(c.cacheDropped, float64(cs.Expired), "expired")
		counter(c.cacheEmbedErrors, float64(cs.EmbedErrors))
	}
	counter(c.subscriberPanics, float64(c.s.env.Events.SubscriberPanics()))
}
