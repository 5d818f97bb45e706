// Package sim runs simulated upstream services on loopback HTTP for tests,
// benchmarks and the demo. Each simulator checks requests the way the real
// service does (method, path, auth, required headers, body shape) and answers
// malformed ones with the service's own error format, and each can inject
// faults on demand: error statuses with Retry-After in every form, bursts,
// slow headers, slow, stalled and cut streams, malformed JSON, rejected keys.
//
// A Server is safe for concurrent use.
package sim
