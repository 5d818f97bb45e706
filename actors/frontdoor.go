package actors

import (
	"strconv"
	"strings"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/switchyard-ai/switchyard/messages"
)

// FrontDoorSpec configures the front door.
type FrontDoorSpec struct {
	// Target is where requests go on: the cache actor when the cache is on,
	// else the dispatcher.
	Target *actor.PID
	// Providers are the configured provider names, in configuration order.
	Providers []string
}

// Flush asks the front door to answer once every message it received
// before this one has been passed on (Close uses it before shutting the
// dispatcher down, so no request is left behind in the front door).
type Flush struct{}

// FrontDoor is where every request enters the tree, from the Go facade
// (Submit) and from the host's actors (a bare request sent with
// ctx.Request). It always exists, whether or not the cache is on, and passes
// requests and Cancel messages on to the cache or the dispatcher, in the
// order it received them. On the way it:
//
//   - refuses a nil request (also a typed nil) with ErrInvalidRequest;
//   - gives a request that names no provider the only configured one, or,
//     when several are configured, answers ErrUnknownProvider listing them;
//   - takes its own shallow copy of a bare request (messages.Clone), so the
//     sender's value is never written to;
//   - drops a request that has no reply address (sent with ctx.Send, or
//     from outside an actor) loudly: a warning in the log and a
//     messages.RequestDropped event, since it can never be answered.
//
// It holds no state besides its spec, so a restart loses nothing.
type FrontDoor struct {
	spec FrontDoorSpec
	env  *Env
}

// NewFrontDoorProducer returns the front door's producer.
func NewFrontDoorProducer(spec FrontDoorSpec, env *Env) actor.Producer {
	spec.Providers = append([]string(nil), spec.Providers...)
	return func() actor.Actor { return &FrontDoor{spec: spec, env: env} }
}

// Receive handles one message.
func (f *FrontDoor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Submit:
		f.onSubmit(ctx, m)
	case messages.Request:
		f.onRequest(ctx, m)
	case *messages.Cancel:
		ctx.Send(f.spec.Target, m)
	case *Flush:
		if ctx.Sender() != nil {
			ctx.Respond(m)
		}
	}
}

// onSubmit passes a facade request on. The facade hands over its own copy
// of the request (never nil), so the front door may complete it.
func (f *FrontDoor) onSubmit(ctx actor.Context, m *Submit) {
	if m.Reply == nil && m.ReplyPID == nil {
		f.drop(m.Req, "Submit without Reply or ReplyPID")
		return
	}
	fail := func(err error, id string) {
		answer := &messages.Failure{RequestID: id, Err: err}
		f.env.audit(m.Req, answer, f.env.Clock.Now(), 0)
		if m.Reply != nil {
			select {
			case m.Reply <- answer:
			default:
				f.env.Log.Error("switchyard: reply channel full; answer dropped", "request_id", id)
			}
			return
		}
		ctx.Send(m.ReplyPID, answer)
	}
	if m.Req == nil {
		fail(nilRequest(), "")
		return
	}
	if err := f.route(m.Req.CallInfo()); err != nil {
		fail(err, m.Req.CallInfo().RequestID)
		return
	}
	f.env.deliver(ctx, f.spec.Target, m)
}

// onRequest passes an actor's request on, with the sender as its reply
// address.
func (f *FrontDoor) onRequest(ctx actor.Context, req messages.Request) {
	sender := ctx.Sender()
	own, ok := messages.Clone(req)
	if !ok {
		if sender == nil {
			f.drop(nil, "nil request without a sender")
			return
		}
		answer := &messages.Failure{Err: nilRequest()}
		f.env.audit(nil, answer, f.env.Clock.Now(), 0)
		ctx.Respond(answer)
		return
	}
	if sender == nil {
		f.drop(own, "no reply address: send requests with ctx.Request (or RequestWithCustomSender), not ctx.Send")
		return
	}
	call := own.CallInfo()
	if err := f.route(call); err != nil {
		answer := &messages.Failure{RequestID: call.RequestID, Err: err}
		f.env.audit(own, answer, f.env.Clock.Now(), 0)
		ctx.Respond(answer)
		return
	}
	// What ctx.RequestWithCustomSender sends, handled here when it can be.
	f.env.deliver(ctx, f.spec.Target, &actor.MessageEnvelope{Message: own, Sender: sender})
}

// DefaultProvider gives a request that names no provider the only one
// configured, and reports whether the request now names one (it may name
// one that does not exist: the dispatcher refuses that).
func DefaultProvider(call *messages.Call, providers []string) bool {
	if call.Provider == "" && len(providers) == 1 {
		call.Provider = providers[0]
	}
	return call.Provider != ""
}

// route fills in the provider of a request that names none: the only
// configured one. With several it is an error that lists them.
func (f *FrontDoor) route(call *messages.Call) error {
	if DefaultProvider(call, f.spec.Providers) {
		return nil
	}
	names := make([]string, len(f.spec.Providers))
	for i, n := range f.spec.Providers {
		names[i] = strconv.Quote(n)
	}
	return &messages.RequestError{RequestID: call.RequestID, Kind: messages.ErrUnknownProvider,
		Detail: "the request names no provider and " + strconv.Itoa(len(names)) + " are configured (" + strings.Join(names, ", ") +
			"): choose one with switchyard.WithProvider(name) or Call.Provider"}
}

// drop reports a request that cannot be answered: logged (as a warning, by
// the event bus) and published.
func (f *FrontDoor) drop(req messages.Request, reason string) { dropUnanswerable(f.env, req, reason) }

// dropUnanswerable reports a request that cannot be answered (the front
// door's and the dispatcher's, for requests sent to it directly).
func dropUnanswerable(env *Env, req messages.Request, reason string) {
	e := &messages.RequestDropped{Time: env.Clock.Now(), Reason: reason}
	if own, ok := messages.Clone(req); ok {
		call := own.CallInfo()
		e.RequestID, e.Provider, e.Operation = call.RequestID, call.Provider, own.Operation()
	}
	env.Events.Publish(e)
	// Audited as refused, though no answer can reach anyone.
	env.audit(req, &messages.Failure{RequestID: e.RequestID, Err: &messages.RequestError{RequestID: e.RequestID, Provider: e.Provider,
		Kind: messages.ErrInvalidRequest, Detail: "dropped: " + reason}}, e.Time, 0)
}

func nilRequest() error {
	return &messages.RequestError{Kind: messages.ErrInvalidRequest, Detail: "nil request"}
}
