// Package switchyard is an embedded actor runtime that carries requests from
// a Go program to AI inference services with priority queues, retries with
// backoff, per-endpoint circuit breakers that recover through supervision,
// API-key multiplexing, per-endpoint counters and request IDs.
//
// Use it two ways: through this Go facade (New, Chat, ChatStream, Embed, …),
// or from your own protoactor actors by sending the request types of package
// messages to FrontDoor() with ctx.Request; the answer comes back as a
// message.
package switchyard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/clock"
	"github.com/switchyard-ai/switchyard/fleet"
	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/redact"
	"github.com/switchyard-ai/switchyard/supervisor"
)

// Switchyard is one running instance: an actor system with its tree. Its
// methods are safe for concurrent use.
type Switchyard struct {
	sys        *actor.ActorSystem
	root       *actor.PID
	dispatcher *actor.PID
	cache      *actor.PID
	frontDoor  *actor.PID
	providers  map[string]*actor.PID
	order      []string
	counters   map[string]*actors.Counters
	env        *actors.Env
	ownedHTTP  *http.Transport

	mu       sync.RWMutex
	closed   bool
	aborting chan struct{}
	audit    *auditor
	// fleet is this instance's membership in a fleet (Config.Cluster);
	// nil when fleet mode is off.
	fleet *fleet.Node
	genai *genAIMetrics
}

// New validates cfg, builds the tree and starts it. An invalid field fails
// with a *ConfigError that names it.
func New(cfg Config) (*Switchyard, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	// Every configured secret, removed by value from everything the runtime
	// lets out: what upstreams say (key actors), events, logs.
	var secrets []string
	for _, pc := range cfg.Providers {
		for _, ec := range pc.Endpoints {
			for _, kc := range ec.Keys {
				secrets = append(secrets, kc.credentialSecrets()...)
			}
			for name, v := range ec.Headers {
				if redact.CredentialHeader(name) {
					secrets = append(secrets, v)
				}
			}
		}
	}
	red := redact.New(secrets...)
	logger := redact.Logger(cfg.Logger, red)
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real
	}
	s := &Switchyard{counters: map[string]*actors.Counters{}, providers: map[string]*actor.PID{}, aborting: make(chan struct{})}
	hc := cfg.HTTPClient
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns = 1024
		tr.MaxIdleConnsPerHost = 256
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		s.ownedHTTP = tr
		hc = &http.Client{Transport: tr}
	}
	s.sys = actor.NewActorSystem(
		actor.WithLoggerFactory(func(sys *actor.ActorSystem) *slog.Logger {
			return logger.With("component", "protoactor", "system", sys.ID)
		}),
		actor.WithDeadLetterThrottleCount(3),
		actor.WithDeadLetterThrottleInterval(time.Second),
		actor.WithDeadLetterRequestLogging(false),
	)
	events := actors.NewScrubbingEventBus(logger, red)
	aud, err := cfg.Audit.open(clk, red,
		func(total uint64) { events.Publish(&messages.AuditDropped{Time: clk.Now(), Total: total}) },
		func(err error) { events.Publish(&messages.AuditFailed{Time: clk.Now(), Err: err}) },
		func(seq uint64, hash string, final bool) {
			events.Publish(&messages.AuditAnchor{Time: clk.Now(), Seq: seq, Hash: hash, Final: final})
		})
	if err != nil {
		s.sys.Shutdown()
		return nil, cfg.src.locate(err)
	}
	s.audit = aud
	s.env = &actors.Env{
		Clock:     clk,
		Client:    &providers.Client{HTTP: hc, HeaderTimeout: cfg.Timeouts.Header, IdleTimeout: cfg.Timeouts.StreamIdle, Clock: clk},
		Events:    events,
		Log:       logger,
		Redactor:  red,
		Root:      s.sys.Root,
		Calls:     actors.NewCallGroup(),
		Mailboxes: actors.NewMailboxPool(),
		Hooks:     cfg.hooks,
	}
	kindOf := map[string]string{}
	for _, pc := range cfg.Providers {
		kindOf[pc.Name] = pc.Kind
	}
	s.genai = newGenAIMetrics(kindOf, clk)
	// Every answer feeds the GenAI metrics and, when it is on, the audit log.
	s.env.Audit = s.genai
	if aud != nil {
		s.env.Audit = answerObservers{s.genai, aud}
	}
	s.env.Tracer = cfg.Tracing.tracer(cfg.Providers, events, red, clk)
	spec := supervisor.Spec{Env: s.env, Counters: s.counters,
		Dispatcher: actors.DispatcherConfig{
			Queue: actors.QueueConfig{Capacity: [3]int{cfg.Queue.High, cfg.Queue.Normal, cfg.Queue.Low},
				AgingAfter: cfg.Queue.AgingAfter, ShedLow: cfg.Queue.ShedLow},
			Retry: actors.RetryConfig{MaxAttempts: cfg.Retry.MaxAttempts, BaseDelay: cfg.Retry.BaseDelay, MaxDelay: cfg.Retry.MaxDelay,
				BudgetRatio: cfg.Retry.BudgetRatio, BudgetPerSecond: cfg.Retry.BudgetPerSecond, BudgetBurst: cfg.Retry.BudgetBurst},
			Providers: map[string]actors.ProviderHandle{},
		}}
	for i, pc := range cfg.Providers {
		bc := cfg.Breaker.merged(pc.Breaker).withDefaults()
		backoff := supervisor.Backoff{Base: bc.Cooldown, Max: bc.MaxCooldown}
		ps := actors.ProviderSpec{Name: pc.Name, Adapter: adapterOf(pc), Strategy: actors.Strategy(pc.KeyStrategy),
			Breaker: actors.BreakerConfig{ConsecutiveFailures: bc.ConsecutiveFailures, FailureRate: bc.FailureRate,
				MinRequests: bc.MinRequests, Window: bc.Window, HalfOpenProbes: bc.HalfOpenProbes},
			Cooldown: backoff.Cooldown}
		for j, ec := range pc.Endpoints {
			es := actors.EndpointSpec{Name: ec.Name, BaseURL: ec.BaseURL, Headers: ec.Headers}
			for n, kc := range ec.Keys {
				kf := fmt.Sprintf("providers[%d].endpoints[%d].keys[%d]", i, j, n)
				cred, err := kc.credential(context.Background(), kf, &ec, credentialEnv{clock: clk, red: red, http: hc})
				if err != nil {
					if aud != nil {
						_ = aud.close(context.Background())
					}
					s.sys.Shutdown()
					return nil, cfg.src.locate(err)
				}
				es.Keys = append(es.Keys, actors.KeySpec{Cred: cred,
					Weight: kc.Weight, MaxInFlight: kc.MaxInFlight, RPM: kc.RPM, TPM: kc.TPM, Group: kc.Group})
			}
			ps.Endpoints = append(ps.Endpoints, es)
		}
		c := &actors.Counters{}
		s.counters[pc.Name] = c
		s.order = append(s.order, pc.Name)
		spec.Dispatcher.Providers[pc.Name] = actors.ProviderHandle{Adapter: ps.Adapter, Counters: c, Batching: pc.Batching.policy(),
			Affinity: pc.Affinity.runtime()}
		spec.Providers = append(spec.Providers, ps)
	}
	spec.Cache = cfg.Cache.producer(s.env, spec.Dispatcher.Providers)
	order := append([]string(nil), s.order...)
	spec.FrontDoor = func(target *actor.PID) actor.Producer {
		return actors.NewFrontDoorProducer(actors.FrontDoorSpec{Target: target, Providers: order}, s.env)
	}
	if cfg.Cluster.enabled() {
		// The actor system joins the fleet before the tree starts, so the
		// providers' keys lease from the fleet's budgets from the first
		// request.
		node, err := cfg.Cluster.start(clk, logger)
		if err != nil {
			if aud != nil {
				_ = aud.close(context.Background())
			}
			s.sys.Shutdown()
			return nil, cfg.src.locate(err)
		}
		s.fleet = node
		s.env.FleetKeys = fleetKeys{node}
		s.env.FleetHealth = fleetHealth{node.Health()}
		if cfg.Cache.Enabled {
			s.env.FleetCache = node.Cache()
		}
	}
	ready := make(chan supervisor.Ready, 1)
	root, err := s.sys.Root.SpawnNamed(supervisor.NewRoot(spec, ready), "switchyard")
	if err != nil {
		s.shutdownSystem()
		return nil, fmt.Errorf("switchyard: starting the tree: %w", err)
	}
	s.root = root
	select {
	case r := <-ready:
		s.dispatcher, s.providers, s.cache, s.frontDoor = r.Dispatcher, r.Providers, r.Cache, r.FrontDoor
	case <-time.After(10 * time.Second):
		_ = s.sys.Root.StopFuture(root).Wait()
		s.shutdownSystem()
		return nil, errors.New("switchyard: the tree did not start within 10s")
	}
	return s, nil
}

// FrontDoor returns the PID actors send requests to: always valid, with or
// without the cache. Send a request (any type of package messages) with
// ctx.Request (or RequestWithCustomSender); the answer — a response or a
// *messages.Failure, exactly once, after a stream's *messages.StreamChunk
// messages — goes to the sender. Send &messages.Cancel{RequestID: id} to
// abort one. The front door passes requests to the cache when it is on, else
// to the dispatcher; it works on its own copy of each request, gives a
// request without a provider the only configured one, and refuses a nil
// one. A request sent without a sender (ctx.Send) cannot be answered: it is
// dropped with a logged warning and a messages.RequestDropped event.
func (s *Switchyard) FrontDoor() *actor.PID { return s.frontDoor }

// Dispatcher returns the dispatcher's PID. Requests sent here skip the
// cache and the front door's checks; send them to FrontDoor() instead.
func (s *Switchyard) Dispatcher() *actor.PID { return s.dispatcher }

// ActorSystem returns the actor system the tree runs in; spawn your own
// actors there to talk to the dispatcher.
func (s *Switchyard) ActorSystem() *actor.ActorSystem { return s.sys }

// Subscribe registers fn for every event (a nil fn is refused with a logged
// warning; a subscriber that panics is recovered, logged and counted in
// switchyard_event_subscriber_panics_total); it runs on an actor's goroutine and
// must not block. The returned function unsubscribes.
func (s *Switchyard) Subscribe(fn func(messages.Event)) (unsubscribe func()) {
	return s.env.Events.Subscribe(fn)
}

// Close stops admitting requests, answers queued ones ErrShuttingDown, waits
// for in-flight calls until ctx ends (then cancels them and answers
// ErrShuttingDown), stops the tree and waits for every goroutine it started.
// It is safe to call more than once.
func (s *Switchyard) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// Every request submitted before closed was set is in the front door's
	// mailbox: let it pass them on before the dispatcher and the cache stop
	// admitting, so each is answered (ErrShuttingDown at worst).
	_, _ = s.sys.Root.RequestFuture(s.frontDoor, &actors.Flush{}, 10*time.Second).Result()
	drained := make(chan struct{})
	cacheDrained := s.shutdownCache()
	s.sys.Root.Send(s.dispatcher, &actors.Shutdown{Drained: drained})
	var err error
	if !drainedBoth(ctx, drained, cacheDrained) {
		err = ctx.Err()
		close(s.aborting)
		done := make(chan struct{})
		s.sys.Root.Send(s.dispatcher, &actors.Abort{Done: done})
		<-done
		s.abortCache()
	}
	_ = s.sys.Root.PoisonFuture(s.root).Wait()
	select {
	case <-s.aborting:
	default:
		close(s.aborting)
	}
	s.env.Calls.Wait()
	if s.audit != nil {
		// Every answer has been recorded by now; flush the log, within
		// ctx (what Close cannot write is counted as dropped).
		if aerr := s.audit.close(ctx); err == nil {
			err = aerr
		}
	}
	s.shutdownSystem()
	if s.ownedHTTP != nil {
		s.ownedHTTP.CloseIdleConnections()
	}
	return err
}

// shutdownSystem stops the actor system; in fleet mode it first hands the
// leased permits back and leaves the cluster.
func (s *Switchyard) shutdownSystem() {
	if s.fleet != nil {
		s.fleet.Close()
	}
	s.sys.Shutdown()
	if s.env != nil {
		s.env.Mailboxes.Wait() // the tree has stopped: its idle mailbox goroutines go
	}
}

// adapterOf returns the provider's own adapter or its kind's.
func adapterOf(pc ProviderConfig) providers.Adapter {
	if pc.Adapter != nil {
		return pc.Adapter
	}
	return kinds[pc.Kind].New(providers.AdapterOptions{APIVersion: pc.APIVersion, Deployments: pc.Deployments})
}
