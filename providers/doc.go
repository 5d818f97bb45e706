// Package providers holds the plain-Go machinery every backend shares (HTTP
// execution with header and idle timeouts, SSE and NDJSON stream readers,
// error classification, Retry-After and rate-limit headers) and the Adapter
// interface each backend implements in its own sub-package.
//
// Nothing here starts an actor. The key actors call Adapter.Do from a
// goroutine of their own; an adapter must therefore be safe for concurrent
// use and must honour ctx.
package providers
