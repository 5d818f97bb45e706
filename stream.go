package switchyard

import (
	"context"
	"iter"

	"github.com/switchyard-ai/switchyard/actors"
	"github.com/switchyard-ai/switchyard/messages"
)

// streamBuffer is how many chunks may wait for a slow reader before the
// upstream read pauses.
const streamBuffer = 64

// Stream is a streamed answer being received. Call Next until it returns
// false, then Err and Response; or range over All. Close releases it early
// (cancelling the upstream call). A Stream is for one goroutine.
type Stream struct {
	s      *Switchyard
	id     string
	ctx    context.Context
	cancel context.CancelFunc
	chunks chan *messages.StreamChunk
	final  chan any
	cur    *messages.StreamChunk
	done   bool
	resp   messages.Response
	err    error
}

// ChatStream starts a streamed chat request. Chunks arrive in order; a
// stream cut by the upstream ends in an error, never in a clean finish.
// req.Stream is ignored (and left as it is): the runtime streams its own
// copy of the request, so req may be reused or changed while the stream
// runs (see Do for what the copy shares). A nil request or context is
// refused with ErrInvalidRequest, and a closed instance with
// ErrShuttingDown, before any stream exists.
func (s *Switchyard) ChatStream(ctx context.Context, req *messages.ChatRequest, opts ...CallOption) (*Stream, error) {
	return s.stream(ctx, req, opts)
}

// ResponsesStream starts a streamed Responses API request.
func (s *Switchyard) ResponsesStream(ctx context.Context, req *messages.ResponsesRequest, opts ...CallOption) (*Stream, error) {
	return s.stream(ctx, req, opts)
}

// stream submits the runtime's copy of req with Stream set.
func (s *Switchyard) stream(ctx context.Context, req messages.Request, opts []CallOption) (*Stream, error) {
	req, call, err := own(ctx, req, opts, streamOn)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	st := &Stream{s: s, id: call.RequestID, ctx: sctx, cancel: cancel,
		chunks: make(chan *messages.StreamChunk, streamBuffer), final: make(chan any, 1)}
	aborting := s.aborting
	emit := func(c *messages.StreamChunk) bool {
		select {
		case st.chunks <- c:
			return true
		case <-sctx.Done():
			return false
		case <-aborting:
			return false
		}
	}
	if !s.submit(&actors.Submit{Req: req, Ctx: sctx, Reply: st.final, Emit: emit}) {
		cancel()
		return nil, &messages.RequestError{RequestID: call.RequestID, Provider: call.Provider, Kind: messages.ErrShuttingDown}
	}
	return st, nil
}

// RequestID returns the stream's request ID.
func (st *Stream) RequestID() string { return st.id }

// Next waits for the next chunk; false means the stream ended (see Err).
func (st *Stream) Next() bool {
	if st.done {
		select {
		case c := <-st.chunks:
			st.cur = c
			return true
		default:
			return false
		}
	}
	select {
	case c := <-st.chunks:
		st.cur = c
		return true
	case a := <-st.final:
		st.settle(a)
		return st.Next()
	case <-st.ctx.Done():
		st.s.sys.Root.Send(st.s.front(), messages.CancelFor(st.id, st.ctx.Err()))
		st.settle(<-st.final)
		return false
	}
}

func (st *Stream) settle(a any) {
	st.done = true
	st.resp, st.err = decodeAnswer(a)
	st.cancel()
}

// Chunk returns the chunk Next moved to.
func (st *Stream) Chunk() *messages.StreamChunk { return st.cur }

// Err returns the stream's error once Next returned false.
func (st *Stream) Err() error { return st.err }

// Response returns the aggregated answer (*messages.ChatResponse or
// *messages.ResponsesResponse) once Next returned false without error.
func (st *Stream) Response() messages.Response { return st.resp }

// Close abandons the stream: the upstream call is cancelled and the request
// answered. It waits for that answer, so nothing is left behind.
func (st *Stream) Close() {
	if st.done {
		return
	}
	st.cancel()
	for st.Next() {
	}
}

// All ranges over the chunks; a final non-nil error is yielded with a nil
// chunk.
func (st *Stream) All() iter.Seq2[*messages.StreamChunk, error] {
	return func(yield func(*messages.StreamChunk, error) bool) {
		defer st.Close()
		for st.Next() {
			if !yield(st.cur, nil) {
				return
			}
		}
		if st.err != nil {
			yield(nil, st.err)
		}
	}
}

// GenerateStream starts a streamed plain-prompt completion.
func (s *Switchyard) GenerateStream(ctx context.Context, req *messages.GenerateRequest, opts ...CallOption) (*Stream, error) {
	return s.stream(ctx, req, opts)
}
