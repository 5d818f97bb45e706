package messages

import "strconv"

// OpenAI's stateful APIs: the lifecycle of a stored response and the
// Conversations API. A stored response or conversation belongs to the
// organisation and project of the key that created it; a follow-up sent with
// another organisation's key gets 404. Requests that name stored objects say
// so (StoredObjectRef) and answers that create them say so
// (StoredObjectCreator), so the runtime can send every follow-up through a
// key that can see the object (key affinity).

// StoredObjectRef is a request that names objects an upstream stores per
// organisation (a response ID, a conversation ID).
type StoredObjectRef interface {
	Request
	// StoredObjects returns the IDs of the stored objects the request
	// names; none when it names none.
	StoredObjects() []string
}

// StoredObjectCreator is an answer that reports stored objects the
// upstream created under the key that served it.
type StoredObjectCreator interface {
	Response
	// CreatedObjects returns the IDs of the stored objects the call
	// created (a stored response, a conversation, conversation items).
	CreatedObjects() []string
}

// ResponseAction is what a ResponseObjectRequest does to a stored response.
type ResponseAction string

// Response actions.
const (
	// ResponseRetrieve: GET /v1/responses/{id}; with Stream, the response's
	// events again, after StartingAfter (a sequence number). Answered with
	// a *ResponsesResponse (or a stream of chunks then one).
	ResponseRetrieve ResponseAction = "retrieve"
	// ResponseCancel: POST /v1/responses/{id}/cancel (background responses
	// only). Answered with a *ResponsesResponse.
	ResponseCancel ResponseAction = "cancel"
	// ResponseDelete: DELETE /v1/responses/{id}. Answered with a
	// *DeletedResponse.
	ResponseDelete ResponseAction = "delete"
	// ResponseInputItems: GET /v1/responses/{id}/input_items. Answered with
	// an *ItemList.
	ResponseInputItems ResponseAction = "input_items"
)

// ResponseObjectRequest acts on a stored response.
type ResponseObjectRequest struct {
	Call
	Action     ResponseAction
	ResponseID string
	// Stream (retrieve only) asks for the response's events as a stream:
	// those after sequence number *StartingAfter, or all of them when
	// StartingAfter is nil. Only a background response created with a
	// stream can be streamed again. The stream's chunks are numbered by
	// the events' sequence numbers: the first chunk of a stream resumed
	// after N has Seq N+1.
	Stream        bool
	StartingAfter *int
	// Page (input items only).
	Page Page
}

// Operation returns "responses." plus the action, e.g. "responses.retrieve".
func (r *ResponseObjectRequest) Operation() string { return "responses." + string(r.Action) }

// Streaming reports whether the caller asked for a stream.
func (r *ResponseObjectRequest) Streaming() bool { return r.Stream }

// StoredObjects returns the response ID.
func (r *ResponseObjectRequest) StoredObjects() []string { return nonEmpty(r.ResponseID) }

// ResponsesInputTokensRequest counts the input tokens a Responses API
// request would use (POST /v1/responses/input_tokens). Answered with a
// *CountTokensResponse.
type ResponsesInputTokensRequest struct {
	Call
	Responses ResponsesRequest
}

// Operation returns "responses.input_tokens".
func (*ResponsesInputTokensRequest) Operation() string { return "responses.input_tokens" }

// StoredObjects returns the objects the counted request names.
func (r *ResponsesInputTokensRequest) StoredObjects() []string { return r.Responses.StoredObjects() }

// StoredObjects returns the previous response and the conversation a
// Responses API request continues.
func (r *ResponsesRequest) StoredObjects() []string {
	return nonEmpty(r.PreviousResponseID, r.Conversation)
}

// CreatedObjects returns the stored response's ID (none when the request
// asked not to store it: the upstream still answers with an ID, so the ID
// is reported whenever Stored is true).
func (r *ResponsesResponse) CreatedObjects() []string {
	if !r.Stored {
		return nil
	}
	return nonEmpty(r.ID)
}

// StreamResume says where a cut Responses API stream of a background
// response can be resumed: retrieve ResponseID with Stream and
// StartingAfter = LastSequence. The OpenAI adapter puts it in the chain of
// a stream failure (ClassStreamCut, ClassTimeout) once the stream named
// its response; find it with errors.As. Chunks of Responses API streams
// are numbered by the events' sequence numbers, so LastSequence is the Seq
// of the last chunk the caller received (-1: none). The runtime resumes
// such a stream itself, within the request's attempts, deadline and
// retry budget, so the caller sees every event once; the error reaches the
// caller only when it cannot.
type StreamResume struct {
	ResponseID   string
	LastSequence int
	// Err is the failure of the stream (e.g. io.ErrUnexpectedEOF).
	Err error
}

// Error describes the cut and where to resume it.
func (e *StreamResume) Error() string {
	msg := "stream of response " + e.ResponseID + " cut after sequence number " + strconv.Itoa(e.LastSequence)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the stream's failure.
func (e *StreamResume) Unwrap() error { return e.Err }

// ConversationAction is what a ConversationRequest does.
type ConversationAction string

// Conversation actions.
const (
	// ConversationCreate: POST /v1/conversations with Metadata and Items
	// (at most 20). Answered with a *ConversationResponse.
	ConversationCreate ConversationAction = "create"
	// ConversationRetrieve: GET /v1/conversations/{id}.
	ConversationRetrieve ConversationAction = "retrieve"
	// ConversationUpdate: POST /v1/conversations/{id} with Metadata.
	ConversationUpdate ConversationAction = "update"
	// ConversationDelete: DELETE /v1/conversations/{id}. Answered with a
	// *DeletedResponse.
	ConversationDelete ConversationAction = "delete"
	// ConversationAddItems: POST /v1/conversations/{id}/items with Items
	// (at most 20). Answered with an *ItemList.
	ConversationAddItems ConversationAction = "add_items"
	// ConversationListItems: GET /v1/conversations/{id}/items with Page.
	// Answered with an *ItemList.
	ConversationListItems ConversationAction = "list_items"
	// ConversationRetrieveItem: GET /v1/conversations/{id}/items/{item}.
	// Answered with an *ItemResponse.
	ConversationRetrieveItem ConversationAction = "retrieve_item"
	// ConversationDeleteItem: DELETE /v1/conversations/{id}/items/{item}.
	// Answered with a *ConversationResponse (the conversation).
	ConversationDeleteItem ConversationAction = "delete_item"
)

// ConversationRequest is a call to the Conversations API.
type ConversationRequest struct {
	Call
	Action         ConversationAction
	ConversationID string
	ItemID         string
	// Items to create with (create, add_items): messages in the
	// Responses API's input form.
	Items []Message
	// Metadata: at most 16 pairs, keys up to 64 characters, values up to
	// 512 (create, update).
	Metadata map[string]string
	// Page (list_items).
	Page Page
}

// Operation returns "conversations." plus the action.
func (r *ConversationRequest) Operation() string { return "conversations." + string(r.Action) }

// StoredObjects returns the conversation ID (none for create).
func (r *ConversationRequest) StoredObjects() []string { return nonEmpty(r.ConversationID) }

// Page selects a page of a list: Limit (1 to 100, 0: the service's default
// of 20), After (the item ID to start after), Order ("asc" or "desc", empty:
// the service's default).
type Page struct {
	Limit int
	After string
	Order string
}

// ConversationResponse is a conversation object.
type ConversationResponse struct {
	Meta
	ID        string
	CreatedAt int64
	Metadata  map[string]string
}

// CreatedObjects returns the conversation ID.
func (r *ConversationResponse) CreatedObjects() []string { return nonEmpty(r.ID) }

// Item is one item of a conversation or of a response's input: a message
// (Role, Content), a function call or its output, or another type kept as
// its raw JSON.
type Item struct {
	ID      string
	Type    string
	Role    string
	Content string
	// Raw is the item as the upstream sent it.
	Raw []byte
}

// ItemList is a page of items.
type ItemList struct {
	Meta
	Items   []Item
	FirstID string
	LastID  string
	HasMore bool
}

// CreatedObjects returns the IDs of the items listed (items added to a
// conversation are stored under the conversation's organisation).
func (r *ItemList) CreatedObjects() []string {
	ids := make([]string, 0, len(r.Items))
	for _, it := range r.Items {
		if it.ID != "" {
			ids = append(ids, it.ID)
		}
	}
	return ids
}

// ItemResponse is one item.
type ItemResponse struct {
	Meta
	Item Item
}

// DeletedResponse confirms a deletion.
type DeletedResponse struct {
	Meta
	ID      string
	Object  string
	Deleted bool
}

func nonEmpty(ids ...string) []string {
	var out []string
	for _, id := range ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

// Pending reports whether a background response is still running: its
// Status is "queued" or "in_progress". Every other status (completed,
// failed, cancelled, incomplete) is final.
func (r *ResponsesResponse) Pending() bool {
	return r.Status == "queued" || r.Status == "in_progress"
}
