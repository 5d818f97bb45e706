// Package actors holds Switchyard's behaviour: the dispatcher (admission,
// priority queues, retries), the provider actors (routing, durable health
// state, breaker supervision), the breaker actors (one per endpoint) and the
// key actors (one per API key, running HTTP calls off the actor goroutine).
//
// The supervisor package assembles them into one tree under a root actor.
// Actors exchange the unexported messages of protocol.go; callers use the
// public types of the messages package.
package actors
