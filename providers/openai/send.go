package openai

import (
	"context"
	"io"
	"net/http"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// send performs ex (see Dialect.exchange) and reads the answer the one way
// every operation shares: without a stream, the JSON answer (whole); with one, the
// event stream (streamed) through Client.Stream's idle watchdog. A server
// that ignored stream:true answers JSON; that answer is then replayed to
// the caller as chunks (replay), so a streaming caller always gets chunks.
func send[T any](ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange, stream bool,
	whole func(*http.Response) (T, error), replay func(*providers.Emitter, T) error,
	streamed func(io.Reader, *providers.Emitter) (T, error)) (T, error) {
	var zero T
	resp, err := c.Send(ctx, call, ex)
	if err != nil {
		return zero, err
	}
	if !stream || providers.IsJSONContent(resp.Header) {
		out, err := whole(resp)
		if err != nil || !stream {
			return out, err
		}
		if err := replay(providers.NewEmitter(call), out); err != nil {
			return zero, call.Fail(messages.ClassCancelled, call.Result.Status, "caller went away", context.Canceled)
		}
		return out, nil
	}
	em := providers.NewEmitter(call)
	var out T
	err = c.Stream(ctx, call, resp, func(rd io.Reader) error {
		var err error
		out, err = streamed(rd, em)
		return err
	})
	if err != nil {
		return zero, err
	}
	return out, nil
}
