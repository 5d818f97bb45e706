package openai

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// OpenAI's stateful APIs on the wire: the lifecycle of a stored response
// (retrieve, stream again, cancel, delete, input items), input token
// counting, and the Conversations API (conversations.go). Every call goes
// through send or Client.Send with the dialect's exchange, like the other
// operations; IDs in paths are escaped with url.PathEscape.

// Limits of the stateful APIs, checked before a request is queued.
const (
	// MaxItemsPerCall is the most items one conversation create or
	// add-items call may carry.
	MaxItemsPerCall = 20
	// MaxPageLimit is the largest page of a list (items, input items).
	MaxPageLimit = 100
	// MaxMetadataPairs, MaxMetadataKey and MaxMetadataValue bound an
	// object's metadata: pairs, and characters of a key and of a value.
	MaxMetadataPairs = 16
	MaxMetadataKey   = 64
	MaxMetadataValue = 512
)

// reservedStateFields are the Responses API fields the request's own
// fields set: Extra may not set them, since the runtime routes follow-ups
// by those fields (key affinity) and reads Stored from Store.
var reservedStateFields = []string{"store", "background", "conversation", "previous_response_id"}

// checkResponseState checks the stateful fields of a Responses API request.
func checkResponseState(ci reqCtx, r *messages.ResponsesRequest) error {
	if r.PreviousResponseID != "" && r.Conversation != "" {
		return invalid(ci, "PreviousResponseID and Conversation: a response continues one or the other, not both")
	}
	if r.Background && r.Store != nil && !*r.Store {
		return invalid(ci, "Background: a background response must be stored (Store is false)")
	}
	for _, k := range reservedStateFields {
		if _, ok := r.Extra[k]; ok {
			return invalid(ci, "Extra[%q]: set the request's own field instead", k)
		}
	}
	return nil
}

// checkID refuses an empty ID or one that is not valid UTF-8.
func checkID(ci reqCtx, field, id string) error {
	if id == "" {
		return invalid(ci, "%s is required", field)
	}
	if !utf8.ValidString(id) {
		return invalid(ci, "%s is not valid UTF-8", field)
	}
	return nil
}

// checkPage checks a list's page: Limit 0..MaxPageLimit, Order "", "asc"
// or "desc".
func checkPage(ci reqCtx, p messages.Page) error {
	if p.Limit < 0 || p.Limit > MaxPageLimit {
		return invalid(ci, "Page.Limit %d is outside 0..%d", p.Limit, MaxPageLimit)
	}
	switch p.Order {
	case "", "asc", "desc":
	default:
		return invalid(ci, "Page.Order %q: want \"asc\" or \"desc\"", p.Order)
	}
	if !utf8.ValidString(p.After) {
		return invalid(ci, "Page.After is not valid UTF-8")
	}
	return nil
}

// pageQuery is a page's query: limit, after and order when set.
func pageQuery(p messages.Page) url.Values {
	q := url.Values{}
	if p.Limit > 0 {
		q.Set("limit", strconv.Itoa(p.Limit))
	}
	if p.After != "" {
		q.Set("after", p.After)
	}
	if p.Order != "" {
		q.Set("order", p.Order)
	}
	return q
}

func checkResponseObject(kind string, r *messages.ResponseObjectRequest) error {
	ci := reqCtx{kind, &r.Call} // the action was checked by checkAction
	if err := checkID(ci, "ResponseID", r.ResponseID); err != nil {
		return err
	}
	if r.Action != messages.ResponseRetrieve && (r.Stream || r.StartingAfter != nil) {
		return invalid(ci, "Stream and StartingAfter apply to a retrieve only, not %s", r.Action)
	}
	if r.StartingAfter != nil && !r.Stream {
		return invalid(ci, "StartingAfter needs Stream")
	}
	if r.StartingAfter != nil && *r.StartingAfter < 0 {
		return invalid(ci, "StartingAfter %d is negative", *r.StartingAfter)
	}
	if r.Action != messages.ResponseInputItems && r.Page != (messages.Page{}) {
		return invalid(ci, "Page applies to input_items only, not %s", r.Action)
	}
	return checkPage(ci, r.Page)
}

func checkInputTokens(kind string, r *messages.ResponsesInputTokensRequest) error {
	ci := reqCtx{kind, &r.Call}
	q := &r.Responses
	switch {
	case len(q.Input) == 0 && q.PreviousResponseID == "" && q.Conversation == "":
		return invalid(ci, "Responses.Input: nothing to count (no input, previous response or conversation)")
	case q.Stream:
		return invalid(ci, "Responses.Stream: a token count is not streamed")
	case q.Background:
		return invalid(ci, "Responses.Background: a token count does not run in the background")
	case q.Store != nil:
		return invalid(ci, "Responses.Store: a token count stores nothing")
	case q.Temperature != nil:
		return invalid(ci, "Responses.Temperature: not part of a token count")
	case q.MaxOutputTokens != 0:
		return invalid(ci, "Responses.MaxOutputTokens: not part of a token count")
	}
	if err := checkMessages(ci, q.Input); err != nil {
		return err
	}
	if err := checkTools(ci, q.Tools, q.ToolChoice); err != nil {
		return err
	}
	return checkResponseState(ci, q)
}

// ---- requests ----

// objectPath is "/responses/{id}" (or "/conversations/{id}") plus the
// further segments, each escaped, after the dialect's prefix.
func (d *Dialect) objectPath(call *providers.Call, collection string, segs ...string) string {
	var b strings.Builder
	b.WriteString(collection)
	for _, s := range segs {
		b.WriteString("/")
		b.WriteString(url.PathEscape(s))
	}
	return d.prefixed(call.BaseURL, b.String())
}

// objectExchange is the dialect's exchange for op with method and path.
func (d *Dialect) objectExchange(call *providers.Call, op, method, path string, query url.Values, body any, stream bool) *providers.Exchange {
	ex := d.exchange(call, op, body, stream)
	ex.Method, ex.Path, ex.Query = method, path, query
	return ex
}

// sendJSON performs ex and decodes its JSON answer into a new T.
func sendJSON[T any](ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange) (*T, error) {
	return send(ctx, c, call, ex, false,
		func(resp *http.Response) (*T, error) {
			out := new(T)
			if err := c.DecodeJSON(ctx, call, resp, out); err != nil {
				return nil, err
			}
			return out, nil
		}, nil, nil)
}

// inputTokensBody is TokenCountsBody: the fields of a Responses API
// request that change its input.
type inputTokensBody struct {
	Model              string          `json:"model,omitempty"`
	Instructions       string          `json:"instructions,omitempty"`
	Input              []any           `json:"input,omitempty"`
	Tools              []responsesTool `json:"tools,omitempty"`
	ToolChoice         any             `json:"tool_choice,omitempty"`
	PreviousResponseID string          `json:"previous_response_id,omitempty"`
	Conversation       string          `json:"conversation,omitempty"`
}

func (d *Dialect) doResponseObject(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ResponseObjectRequest) (messages.Response, error) {
	switch r.Action {
	case messages.ResponseRetrieve:
		return d.retrieveResponse(ctx, c, call, r)
	case messages.ResponseCancel:
		ex := d.objectExchange(call, OpResponseCancel, http.MethodPost, d.objectPath(call, PathResponses, r.ResponseID, "cancel"), nil, nil, false)
		return sendResponse(ctx, c, call, ex)
	case messages.ResponseDelete:
		ex := d.objectExchange(call, OpResponseDelete, http.MethodDelete, d.objectPath(call, PathResponses, r.ResponseID), nil, nil, false)
		return sendDeleted(ctx, c, call, ex, r.ResponseID, "response.deleted")
	case messages.ResponseInputItems:
		ex := d.objectExchange(call, OpResponseInputItems, http.MethodGet, d.objectPath(call, PathResponses, r.ResponseID, "input_items"), pageQuery(r.Page), nil, false)
		return sendItemList(ctx, c, call, ex)
	}
	return nil, call.Fail(messages.ClassInvalid, 0, "unknown response action", messages.ErrInvalidRequest)
}

// sendResponse performs ex and decodes a Response object.
func sendResponse(ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange) (messages.Response, error) {
	w, err := sendJSON[wireResponse](ctx, c, call, ex)
	if err != nil {
		return nil, err
	}
	return responsesResult(call, w)
}

// retrieveResponse gets a stored response, or streams its events again:
// after *StartingAfter, with chunks numbered by the events' sequence
// numbers (the Emitter counts from 0, so a resumed stream's chunks are
// shifted to start at StartingAfter+1).
func (d *Dialect) retrieveResponse(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ResponseObjectRequest) (messages.Response, error) {
	var q url.Values
	first := 0
	if r.Stream {
		q = url.Values{"stream": {"true"}}
		if r.StartingAfter != nil {
			q.Set("starting_after", strconv.Itoa(*r.StartingAfter))
			first = *r.StartingAfter + 1
		}
	}
	ex := d.objectExchange(call, OpResponseRetrieve, http.MethodGet, d.objectPath(call, PathResponses, r.ResponseID), q, nil, r.Stream)
	if !r.Stream {
		return sendResponse(ctx, c, call, ex)
	}
	defer numberFrom(call, first)()
	pos := &streamPosition{responseID: r.ResponseID, background: true, last: first - 1}
	out, err := sendResponses(ctx, c, call, ex, true, pos)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// numberFrom shifts the Seq of the chunks emitted for call by first (the
// sequence number a resumed stream starts at) until the returned func
// restores call.Emit. Only the call's own goroutine emits, so the swap is
// safe.
func numberFrom(call *providers.Call, first int) (restore func()) {
	emit := call.Emit
	if emit == nil || first == 0 {
		return func() {}
	}
	call.Emit = func(ch *messages.StreamChunk) bool {
		ch.Seq += first
		return emit(ch)
	}
	return func() { call.Emit = emit }
}

func (d *Dialect) doInputTokens(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ResponsesInputTokensRequest) (messages.Response, error) {
	q := &r.Responses
	b := inputTokensBody{
		Model:              q.Model,
		Instructions:       q.Instructions,
		PreviousResponseID: q.PreviousResponseID,
		Conversation:       q.Conversation,
	}
	if len(q.Input) > 0 {
		b.Input = responsesInput(q.Input)
	}
	b.Tools, b.ToolChoice = responsesTools(q.Tools, q.ToolChoice)
	body, err := d.finalBody(r, b, q.Extra, append([]string{"model", "input", "stream", "stream_options"}, reservedStateFields...)...)
	if err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
	}
	ex := d.objectExchange(call, OpInputTokens, http.MethodPost, d.objectPath(call, PathResponses, "input_tokens"), nil, body, false)
	w, err := sendJSON[struct {
		InputTokens *int `json:"input_tokens"`
	}](ctx, c, call, ex)
	if err != nil {
		return nil, err
	}
	if w.InputTokens == nil {
		return nil, malformed(call, "input token count without input_tokens", nil)
	}
	call.Result.Usage = messages.Usage{InputTokens: *w.InputTokens}
	return &messages.CountTokensResponse{Meta: call.Meta(), InputTokens: *w.InputTokens}, nil
}

// ---- answers ----

// wireDeleted is a deletion's answer.
type wireDeleted struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Deleted bool   `json:"deleted"`
}

// sendDeleted performs a DELETE of id. The spec gives the response
// deletion's 200 no body; an empty one confirms the deletion of id.
func sendDeleted(ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange, id, object string) (messages.Response, error) {
	w, err := send(ctx, c, call, ex, false,
		func(resp *http.Response) (*wireDeleted, error) {
			if resp.ContentLength == 0 {
				_ = resp.Body.Close()
				return &wireDeleted{ID: id, Object: object, Deleted: true}, nil
			}
			out := &wireDeleted{}
			if err := c.DecodeJSON(ctx, call, resp, out); err != nil {
				return nil, err
			}
			return out, nil
		}, nil, nil)
	if err != nil {
		return nil, err
	}
	if w.ID == "" {
		w.ID = id
	}
	return &messages.DeletedResponse{Meta: call.Meta(), ID: w.ID, Object: w.Object, Deleted: w.Deleted}, nil
}

// wireItemList is a page of items (ResponseItemList, ConversationItemList).
// first_id and last_id are null in an empty page.
type wireItemList struct {
	Data    []json.RawMessage `json:"data"`
	FirstID *string           `json:"first_id"`
	LastID  *string           `json:"last_id"`
	HasMore bool              `json:"has_more"`
}

func sendItemList(ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange) (messages.Response, error) {
	w, err := sendJSON[wireItemList](ctx, c, call, ex)
	if err != nil {
		return nil, err
	}
	out := &messages.ItemList{Meta: call.Meta(), HasMore: w.HasMore}
	if w.FirstID != nil {
		out.FirstID = *w.FirstID
	}
	if w.LastID != nil {
		out.LastID = *w.LastID
	}
	for i, raw := range w.Data {
		it, err := decodeItem(raw)
		if err != nil {
			return nil, malformed(call, fmt.Sprintf("decoding item %d", i), err)
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}

// decodeItem reads one item: its ID, type and role, a message's text (its
// string content, or its text parts joined) as Content; every item keeps
// its JSON as Raw.
func decodeItem(raw json.RawMessage) (messages.Item, error) {
	var w struct {
		ID      string          `json:"id"`
		Type    string          `json:"type"`
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return messages.Item{}, err
	}
	it := messages.Item{ID: w.ID, Type: w.Type, Role: w.Role, Raw: append([]byte(nil), raw...)}
	if w.Type != "message" || providers.IsJSONNull(w.Content) {
		return it, nil
	}
	var s string
	if json.Unmarshal(w.Content, &s) == nil {
		it.Content = s
		return it, nil
	}
	var parts []struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(w.Content, &parts); err != nil {
		return messages.Item{}, err
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Text != nil {
			b.WriteString(*p.Text)
		}
	}
	it.Content = b.String()
	return it, nil
}
