// Package messages holds the pure data that flows through Switchyard: requests,
// responses, stream chunks, control messages, typed errors, events and
// snapshots. It has no behaviour beyond small helpers and starts no actors.
//
// An actor talks to Switchyard by sending these structs to the dispatcher PID
// with ctx.Request, and receives the answer (a *ChatResponse, *EmbedResponse,
// …, or a *Failure) and, for streams, *StreamChunk messages before it.
//
// Values are not safe for concurrent mutation; treat a request as owned by
// Switchyard once sent, and a response as owned by its receiver.
package messages
