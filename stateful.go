package switchyard

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
)

// OpenAI's stateful APIs: the lifecycle of a stored response and the
// Conversations API. Each method is a request like any other (same queue,
// priority, retries, breakers, keys and counters); none is cached or
// batched. A stored object belongs to the organisation of the key that
// created it, so the runtime sends every request that names one through
// that key or another key of its group (see AffinityConfig). From an actor,
// send the request types themselves (messages.ResponseObjectRequest,
// messages.ResponsesInputTokensRequest, messages.ConversationRequest) to
// FrontDoor(). Each method works on its own copy of the request, and
// sets its Action: the caller's value is never written.

// responseAction runs act on a copy of req.
func (s *Switchyard) responseAction(ctx context.Context, req *messages.ResponseObjectRequest, act messages.ResponseAction, opts []CallOption) (messages.Response, error) {
	if req != nil {
		c := *req
		c.Action = act
		req = &c
	}
	return s.do(ctx, req, opts, streamOff)
}

// RetrieveResponse fetches a stored response by req.ResponseID (GET
// /v1/responses/{id}); poll it to follow a background response.
// req.Stream is ignored; use RetrieveResponseStream for its events.
func (s *Switchyard) RetrieveResponse(ctx context.Context, req *messages.ResponseObjectRequest, opts ...CallOption) (*messages.ResponsesResponse, error) {
	return typed[*messages.ResponsesResponse](s.responseAction(ctx, req, messages.ResponseRetrieve, opts))
}

// RetrieveResponseStream streams a stored response's events again, those
// after sequence number req.StartingAfter (0: from the start): resume a
// stream that was cut where it stopped. Response() is the
// *messages.ResponsesResponse once the stream ends.
func (s *Switchyard) RetrieveResponseStream(ctx context.Context, req *messages.ResponseObjectRequest, opts ...CallOption) (*Stream, error) {
	if req != nil {
		c := *req
		c.Action = messages.ResponseRetrieve
		req = &c
	}
	return s.stream(ctx, req, opts)
}

// CancelResponse cancels a background response (POST
// /v1/responses/{id}/cancel) and returns it.
func (s *Switchyard) CancelResponse(ctx context.Context, req *messages.ResponseObjectRequest, opts ...CallOption) (*messages.ResponsesResponse, error) {
	return typed[*messages.ResponsesResponse](s.responseAction(ctx, req, messages.ResponseCancel, opts))
}

// DeleteResponse deletes a stored response (DELETE /v1/responses/{id}).
func (s *Switchyard) DeleteResponse(ctx context.Context, req *messages.ResponseObjectRequest, opts ...CallOption) (*messages.DeletedResponse, error) {
	return typed[*messages.DeletedResponse](s.responseAction(ctx, req, messages.ResponseDelete, opts))
}

// ListResponseInputItems lists a page (req.Page) of a stored response's
// input items (GET /v1/responses/{id}/input_items).
func (s *Switchyard) ListResponseInputItems(ctx context.Context, req *messages.ResponseObjectRequest, opts ...CallOption) (*messages.ItemList, error) {
	return typed[*messages.ItemList](s.responseAction(ctx, req, messages.ResponseInputItems, opts))
}

// CountResponsesInputTokens counts the input tokens a Responses API request
// would use (POST /v1/responses/input_tokens).
func (s *Switchyard) CountResponsesInputTokens(ctx context.Context, req *messages.ResponsesInputTokensRequest, opts ...CallOption) (*messages.CountTokensResponse, error) {
	return typed[*messages.CountTokensResponse](s.do(ctx, req, opts, keepStream))
}

// conversation runs act on a copy of req.
func (s *Switchyard) conversation(ctx context.Context, req *messages.ConversationRequest, act messages.ConversationAction, opts []CallOption) (messages.Response, error) {
	if req != nil {
		c := *req
		c.Action = act
		req = &c
	}
	return s.do(ctx, req, opts, keepStream)
}

// CreateConversation creates a conversation with req.Metadata and req.Items
// (POST /v1/conversations).
func (s *Switchyard) CreateConversation(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.ConversationResponse, error) {
	return typed[*messages.ConversationResponse](s.conversation(ctx, req, messages.ConversationCreate, opts))
}

// RetrieveConversation fetches conversation req.ConversationID.
func (s *Switchyard) RetrieveConversation(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.ConversationResponse, error) {
	return typed[*messages.ConversationResponse](s.conversation(ctx, req, messages.ConversationRetrieve, opts))
}

// UpdateConversation replaces a conversation's metadata with req.Metadata.
func (s *Switchyard) UpdateConversation(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.ConversationResponse, error) {
	return typed[*messages.ConversationResponse](s.conversation(ctx, req, messages.ConversationUpdate, opts))
}

// DeleteConversation deletes conversation req.ConversationID.
func (s *Switchyard) DeleteConversation(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.DeletedResponse, error) {
	return typed[*messages.DeletedResponse](s.conversation(ctx, req, messages.ConversationDelete, opts))
}

// AddConversationItems adds req.Items to a conversation and returns the
// items created.
func (s *Switchyard) AddConversationItems(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.ItemList, error) {
	return typed[*messages.ItemList](s.conversation(ctx, req, messages.ConversationAddItems, opts))
}

// ListConversationItems lists a page (req.Page) of a conversation's items.
func (s *Switchyard) ListConversationItems(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.ItemList, error) {
	return typed[*messages.ItemList](s.conversation(ctx, req, messages.ConversationListItems, opts))
}

// RetrieveConversationItem fetches item req.ItemID of a conversation.
func (s *Switchyard) RetrieveConversationItem(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.ItemResponse, error) {
	return typed[*messages.ItemResponse](s.conversation(ctx, req, messages.ConversationRetrieveItem, opts))
}

// DeleteConversationItem deletes item req.ItemID of a conversation and
// returns the conversation.
func (s *Switchyard) DeleteConversationItem(ctx context.Context, req *messages.ConversationRequest, opts ...CallOption) (*messages.ConversationResponse, error) {
	return typed[*messages.ConversationResponse](s.conversation(ctx, req, messages.ConversationDeleteItem, opts))
}

// AwaitResponse polls background response id until it is no longer
// pending (messages.ResponsesResponse.Pending: its status is completed,
// failed, cancelled or incomplete) and returns it. Each poll is a retrieve
// (messages.ResponseObjectRequest, Action retrieve) through the queue like
// any other request: key affinity, retries, breakers and counters apply,
// and opts apply to every poll (a WithTimeout bounds each poll; bound the
// whole wait with ctx). poll sets the polls' level (default one below the
// call's priority, never below Low) and their waits (the first poll goes
// at once, then 1 s doubling up to 10 s by default), timed on the
// runtime's clock (Config.Clock).
//
// A poll's failure ends the wait with that error. When ctx ends between
// polls, AwaitResponse returns ErrDeadline (wrapping
// context.DeadlineExceeded) or context.Canceled as a
// *messages.RequestError, like a request whose context ends; nothing is
// cancelled upstream (use CancelResponse). Safe for concurrent use.
func (s *Switchyard) AwaitResponse(ctx context.Context, id string, poll Poll, opts ...CallOption) (*messages.ResponsesResponse, error) {
	var call messages.Call
	for _, o := range opts {
		if o != nil {
			o(&call)
		}
	}
	level, wait, most := poll.resolve(call.Priority)
	pollOpts := append(slices.Clip(opts), WithPriority(level))
	for {
		resp, err := s.RetrieveResponse(ctx, &messages.ResponseObjectRequest{ResponseID: id}, pollOpts...)
		if err != nil || !resp.Pending() {
			return resp, err
		}
		if err := s.sleep(ctx, wait); err != nil {
			return nil, &messages.RequestError{RequestID: resp.RequestID, Provider: call.Provider, Kind: err,
				Cause: context.Cause(ctx), Detail: "waiting to poll background response " + id}
		}
		wait = min(2*wait, most)
	}
}

// sleep waits d on the runtime's clock. It returns nil after d, or, when
// ctx ends first, ErrDeadline for a passed deadline and context.Canceled
// otherwise.
func (s *Switchyard) sleep(ctx context.Context, d time.Duration) error {
	done := make(chan struct{})
	t := s.env.Clock.AfterFunc(d, func() { close(done) })
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		t.Stop()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return messages.ErrDeadline
		}
		return context.Canceled
	}
}
