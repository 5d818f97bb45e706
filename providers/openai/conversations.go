package openai

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// PathConversations is the path of the Conversations API, appended like
// PathChat.
const PathConversations = "/conversations"

// checkMetadata checks an object's metadata: at most MaxMetadataPairs
// pairs, keys up to MaxMetadataKey characters, values up to
// MaxMetadataValue, all valid UTF-8.
func checkMetadata(ci reqCtx, md map[string]string) error {
	if len(md) > MaxMetadataPairs {
		return invalid(ci, "Metadata has %d pairs, over the limit of %d", len(md), MaxMetadataPairs)
	}
	for _, k := range slices.Sorted(maps.Keys(md)) {
		v := md[k]
		switch {
		case !utf8.ValidString(k) || !utf8.ValidString(v):
			return invalid(ci, "Metadata[%q] is not valid UTF-8", k)
		case utf8.RuneCountInString(k) > MaxMetadataKey:
			return invalid(ci, "Metadata key %q is over %d characters", k, MaxMetadataKey)
		case utf8.RuneCountInString(v) > MaxMetadataValue:
			return invalid(ci, "Metadata[%q] is over %d characters", k, MaxMetadataValue)
		}
	}
	return nil
}

func checkConversation(kind string, r *messages.ConversationRequest) error {
	ci := reqCtx{kind, &r.Call}
	a := r.Action // checked by checkAction
	if a == messages.ConversationCreate {
		if r.ConversationID != "" {
			return invalid(ci, "ConversationID must be empty for create: the service assigns it")
		}
	} else if err := checkID(ci, "ConversationID", r.ConversationID); err != nil {
		return err
	}
	itemAction := a == messages.ConversationRetrieveItem || a == messages.ConversationDeleteItem
	if itemAction {
		if err := checkID(ci, "ItemID", r.ItemID); err != nil {
			return err
		}
	} else if r.ItemID != "" {
		return invalid(ci, "ItemID applies to retrieve_item and delete_item only, not %s", a)
	}
	switch {
	case a == messages.ConversationAddItems && len(r.Items) == 0:
		return invalid(ci, "Items: add_items needs at least one item")
	case len(r.Items) > 0 && a != messages.ConversationCreate && a != messages.ConversationAddItems:
		return invalid(ci, "Items apply to create and add_items only, not %s", a)
	case len(r.Items) > MaxItemsPerCall:
		return invalid(ci, "Items: %d items exceed the limit of %d per call", len(r.Items), MaxItemsPerCall)
	}
	if err := checkMessages(ci, r.Items); err != nil {
		return err
	}
	if len(r.Metadata) > 0 && a != messages.ConversationCreate && a != messages.ConversationUpdate {
		return invalid(ci, "Metadata applies to create and update only, not %s", a)
	}
	if err := checkMetadata(ci, r.Metadata); err != nil {
		return err
	}
	if r.Page != (messages.Page{}) && a != messages.ConversationListItems {
		return invalid(ci, "Page applies to list_items only, not %s", a)
	}
	if err := checkPage(ci, r.Page); err != nil {
		return err
	}
	return nil // Check runs providers.CheckRequest next: IDs, items, metadata
}

// conversationBody is CreateConversationBody, UpdateConversationBody (metadata
// only) and the body of add_items (items only).
type conversationBody struct {
	Metadata map[string]string `json:"metadata,omitempty"`
	Items    []any             `json:"items,omitempty"`
}

func (d *Dialect) doConversation(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ConversationRequest) (messages.Response, error) {
	id := r.ConversationID
	switch r.Action {
	case messages.ConversationCreate:
		body := conversationBody{Metadata: r.Metadata}
		if len(r.Items) > 0 {
			body.Items = responsesInput(r.Items)
		}
		ex := d.objectExchange(call, OpConversationCreate, http.MethodPost, d.objectPath(call, PathConversations), nil, body, false)
		return sendConversation(ctx, c, call, ex)
	case messages.ConversationRetrieve:
		ex := d.objectExchange(call, OpConversationRetrieve, http.MethodGet, d.objectPath(call, PathConversations, id), nil, nil, false)
		return sendConversation(ctx, c, call, ex)
	case messages.ConversationUpdate:
		// metadata is required: an empty map clears it.
		body := map[string]any{"metadata": r.Metadata}
		if r.Metadata == nil {
			body["metadata"] = map[string]string{}
		}
		ex := d.objectExchange(call, OpConversationUpdate, http.MethodPost, d.objectPath(call, PathConversations, id), nil, body, false)
		return sendConversation(ctx, c, call, ex)
	case messages.ConversationDelete:
		ex := d.objectExchange(call, OpConversationDelete, http.MethodDelete, d.objectPath(call, PathConversations, id), nil, nil, false)
		return sendDeleted(ctx, c, call, ex, id, "conversation.deleted")
	case messages.ConversationAddItems:
		body := conversationBody{Items: responsesInput(r.Items)}
		ex := d.objectExchange(call, OpConversationAddItems, http.MethodPost, d.objectPath(call, PathConversations, id, "items"), nil, body, false)
		return sendItemList(ctx, c, call, ex)
	case messages.ConversationListItems:
		ex := d.objectExchange(call, OpConversationListItems, http.MethodGet, d.objectPath(call, PathConversations, id, "items"), pageQuery(r.Page), nil, false)
		return sendItemList(ctx, c, call, ex)
	case messages.ConversationRetrieveItem:
		ex := d.objectExchange(call, OpConversationRetrieveItem, http.MethodGet, d.objectPath(call, PathConversations, id, "items", r.ItemID), nil, nil, false)
		raw, err := sendJSON[json.RawMessage](ctx, c, call, ex)
		if err != nil {
			return nil, err
		}
		it, err := decodeItem(*raw)
		if err != nil {
			return nil, malformed(call, "decoding item", err)
		}
		return &messages.ItemResponse{Meta: call.Meta(), Item: it}, nil
	case messages.ConversationDeleteItem:
		ex := d.objectExchange(call, OpConversationDeleteItem, http.MethodDelete, d.objectPath(call, PathConversations, id, "items", r.ItemID), nil, nil, false)
		return sendConversation(ctx, c, call, ex)
	}
	return nil, call.Fail(messages.ClassInvalid, 0, "unknown conversation action", messages.ErrInvalidRequest)
}

// wireConversation is a ConversationResource. Metadata may be null.
type wireConversation struct {
	ID        string            `json:"id"`
	CreatedAt int64             `json:"created_at"`
	Metadata  map[string]string `json:"metadata"`
}

func sendConversation(ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange) (messages.Response, error) {
	w, err := sendJSON[wireConversation](ctx, c, call, ex)
	if err != nil {
		return nil, err
	}
	if w.ID == "" {
		return nil, malformed(call, "conversation without an id", nil)
	}
	return &messages.ConversationResponse{Meta: call.Meta(), ID: w.ID, CreatedAt: w.CreatedAt, Metadata: w.Metadata}, nil
}
