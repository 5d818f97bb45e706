package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// errIdle is the read error after the idle watchdog closed the body.
var errIdle = errors.New("stream idle")

// idleReader closes its body when no read returns data for the idle timeout.
type idleReader struct {
	body    io.ReadCloser
	timeout time.Duration
	timer   *time.Timer
	fired   atomic.Bool
	once    sync.Once
}

func newIdleReader(body io.ReadCloser, timeout time.Duration) *idleReader {
	r := &idleReader{body: body, timeout: timeout}
	r.timer = time.AfterFunc(timeout, func() {
		r.fired.Store(true)
		_ = body.Close()
	})
	return r
}

func (r *idleReader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if r.fired.Load() {
		return n, errIdle
	}
	if n > 0 {
		r.timer.Reset(r.timeout)
	}
	return n, err
}

func (r *idleReader) Close() error {
	r.timer.Stop()
	var err error
	r.once.Do(func() { err = r.body.Close() })
	return err
}

// Stream drives one streamed response: it reads the body through an idle
// watchdog and hands it to read, which returns nil once it has seen the
// stream's terminator, io.EOF (or io.ErrUnexpectedEOF) if the body ended
// first, or any other error. The result is classified: a body that ends early
// is ClassStreamCut, a watchdog timeout ClassTimeout, a caller that went away
// ClassCancelled. The body is always closed.
func (c *Client) Stream(ctx context.Context, call *Call, resp *http.Response, read func(r io.Reader) error) error {
	ir := newIdleReader(resp.Body, c.IdleTimeoutOrDefault())
	defer ir.Close()
	err := read(ir)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		// The caller's cancel or deadline, even when the idle watchdog fired
		// in the same instant: not the upstream's failure.
		return ContextError(ctx, call, err, messages.ClassCancelled, "")
	case ir.fired.Load() || errors.Is(err, errIdle):
		return call.Fail(messages.ClassTimeout, resp.StatusCode, fmt.Sprintf("stream idle for %s", c.IdleTimeoutOrDefault()), errIdle)
	case errors.Is(err, errCallerGone):
		return call.Fail(messages.ClassCancelled, resp.StatusCode, "caller went away", context.Canceled)
	}
	var ue *messages.UpstreamError
	if errors.As(err, &ue) {
		return ue
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		if ctx.Err() != nil {
			return ContextError(ctx, call, err, messages.ClassStreamCut, "")
		}
		return call.Fail(messages.ClassStreamCut, resp.StatusCode, "stream ended before its terminator", io.ErrUnexpectedEOF)
	}
	return ContextError(ctx, call, err, messages.ClassStreamCut, "reading stream")
}

// errCallerGone is returned by Emit helpers when the caller stopped listening.
var errCallerGone = errors.New("caller went away")

// ErrCallerGone reports that the caller stopped consuming a stream; return it
// (or wrap it) from a Stream read function.
func ErrCallerGone() error { return errCallerGone }

// Emitter numbers and delivers stream chunks for one call.
type Emitter struct {
	call *Call
	seq  int
}

// NewEmitter returns an Emitter for call.
func NewEmitter(call *Call) *Emitter { return &Emitter{call: call} }

// Emit delivers ch (filling RequestID and Seq). It returns ErrCallerGone when
// the caller went away, nil otherwise.
func (e *Emitter) Emit(ch *messages.StreamChunk) error {
	if e.call.Emit == nil {
		return nil
	}
	ch.RequestID = e.call.RequestID
	ch.Seq = e.seq
	e.seq++
	if !e.call.Emit(ch) {
		return errCallerGone
	}
	e.call.Result.ChunksSent++
	return nil
}
