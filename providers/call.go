package providers

import (
	"fmt"
	"net/http"

	"github.com/switchyard-ai/switchyard/messages"
)

// Meta returns the part of a response's Meta an adapter knows about call:
// the request ID, the upstream request ID found so far, the provider, the
// endpoint and the key's label. The runtime fills the rest (attempts, queue
// time, latency). It only reads call.
func (call *Call) Meta() messages.Meta {
	return messages.Meta{
		RequestID:         call.RequestID,
		UpstreamRequestID: call.Result.UpstreamRequestID,
		Provider:          call.Provider,
		Endpoint:          call.Endpoint,
		Key:               call.Key.Label(),
	}
}

// HTTPClient returns call.Client, or a zero Client (the defaults: shared
// transport, default timeouts) when the call has none. It does not modify
// call.
func (call *Call) HTTPClient() *Client {
	if call.Client == nil {
		return &Client{}
	}
	return call.Client
}

// CallInfo returns req's routing fields (req.CallInfo()), or nil for a nil
// request or a typed nil one whose CallInfo panics. It is safe for
// concurrent use.
func CallInfo(req messages.Request) (ci *messages.Call) {
	if req == nil {
		return nil
	}
	defer func() {
		if recover() != nil {
			ci = nil
		}
	}()
	return req.CallInfo()
}

// RequestError builds the *messages.RequestError an adapter's Check returns:
// kind (messages.ErrInvalidRequest, messages.ErrUnsupported, …), the
// provider named in ci (or kind when ci is nil or names none), ci's
// request ID, and detail.
func RequestError(kindErr error, ci *messages.Call, kind, detail string) *messages.RequestError {
	e := &messages.RequestError{Kind: kindErr, Provider: kind, Detail: detail}
	if ci != nil {
		if ci.Provider != "" {
			e.Provider = ci.Provider
		}
		e.RequestID = ci.RequestID
	}
	return e
}

// UnsupportedOperation is the RequestError for a request an adapter of the
// given kind does not serve: "<kind> does not support the "<op>" operation",
// or "nil request" for a nil one (with Provider kind). A typed nil request
// is reported by its operation without routing fields.
func UnsupportedOperation(kind string, req messages.Request) *messages.RequestError {
	if req == nil {
		return &messages.RequestError{Kind: messages.ErrUnsupported, Provider: kind, Detail: "nil request"}
	}
	return RequestError(messages.ErrUnsupported, CallInfo(req), kind,
		fmt.Sprintf("%s does not support the %q operation", kind, req.Operation()))
}

// Refuse is the failure of an attempt whose request was refused before
// anything was sent (err is typically the adapter's Check error): a
// ClassInvalid *messages.UpstreamError with no status, err's text as the
// message and err as the cause, so errors.Is(…, messages.ErrInvalidRequest)
// and ErrUnsupported still match.
func (call *Call) Refuse(err error) *messages.UpstreamError {
	return call.Fail(messages.ClassInvalid, 0, err.Error(), err)
}

// BearerExchange describes the usual request of a self-hosted JSON backend:
// a POST of body to path, or a GET when body is nil, with the key as a
// bearer token (none when the key is empty) and decode as the error decoder.
// accept, when not empty, is the Accept header (a stream's media type). The
// result is a new Exchange the caller may change further.
func BearerExchange(path string, body any, accept string, decode func(status int, h http.Header, body []byte, e *messages.UpstreamError)) *Exchange {
	ex := &Exchange{Method: http.MethodPost, Path: path, Body: body, Accept: accept, Auth: BearerAuth, DecodeError: decode}
	if body == nil {
		ex.Method = http.MethodGet
	}
	return ex
}
