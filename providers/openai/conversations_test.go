package openai_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestConversationsAgainstSpec(t *testing.T) {
	h := newStateHarness(t, nil)
	conv := h.do(t, &messages.ConversationRequest{Action: messages.ConversationCreate, Metadata: map[string]string{"topic": "demo"},
		Items: []messages.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hello there"}}}, stKeyA).(*messages.ConversationResponse)
	require.NotEmpty(t, conv.ID)
	assert.Equal(t, map[string]string{"topic": "demo"}, conv.Metadata)
	assert.Positive(t, conv.CreatedAt)
	assert.Equal(t, []string{conv.ID}, conv.CreatedObjects())

	empty := h.do(t, &messages.ConversationRequest{Action: messages.ConversationCreate}, stKeyA).(*messages.ConversationResponse)
	assert.Empty(t, empty.Metadata)
	none := h.do(t, &messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: empty.ID}, stKeyA).(*messages.ItemList)
	assert.Empty(t, none.Items)
	assert.Empty(t, none.FirstID, "an empty page has no first ID")

	got := h.do(t, &messages.ConversationRequest{Action: messages.ConversationRetrieve, ConversationID: conv.ID}, stKeyA2).(*messages.ConversationResponse)
	assert.Equal(t, conv.ID, got.ID)
	upd := h.do(t, &messages.ConversationRequest{Action: messages.ConversationUpdate, ConversationID: conv.ID,
		Metadata: map[string]string{"topic": "changed", "owner": "me"}}, stKeyA).(*messages.ConversationResponse)
	assert.Equal(t, map[string]string{"topic": "changed", "owner": "me"}, upd.Metadata)

	added := h.do(t, &messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: conv.ID,
		Items: []messages.Message{{Role: "assistant", Content: "Hi!"}, {Role: "user", Content: "what is new"}}}, stKeyA).(*messages.ItemList)
	require.Len(t, added.Items, 2)
	assert.Equal(t, "assistant", added.Items[0].Role)
	assert.Equal(t, "Hi!", added.Items[0].Content)
	assert.Len(t, added.CreatedObjects(), 2)
	var raw map[string]any
	require.NoError(t, json.Unmarshal(added.Items[1].Raw, &raw))
	assert.Equal(t, added.Items[1].ID, raw["id"])

	// A response in the conversation: it sees the items and adds its own.
	resp := h.do(t, &messages.ResponsesRequest{Model: "gpt-4o", Conversation: conv.ID, Input: user("tell me")}, stKeyA2).(*messages.ResponsesResponse)
	assert.Equal(t, conv.ID, resp.Conversation)
	assert.Equal(t, []string{resp.ID}, resp.CreatedObjects())
	count := h.do(t, &messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Conversation: conv.ID, Input: user("and this")}}, stKeyA).(*messages.CountTokensResponse)
	assert.Greater(t, count.InputTokens, 2, "the conversation's items count")

	first := h.do(t, &messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: conv.ID,
		Page: messages.Page{Limit: 2, Order: "asc"}}, stKeyA).(*messages.ItemList)
	require.Len(t, first.Items, 2)
	assert.True(t, first.HasMore)
	assert.Equal(t, "be brief", first.Items[0].Content)
	rest := h.do(t, &messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: conv.ID,
		Page: messages.Page{Limit: 100, Order: "asc", After: first.LastID}}, stKeyA).(*messages.ItemList)
	require.Len(t, rest.Items, 4)
	assert.False(t, rest.HasMore)
	assert.Equal(t, "tell me", rest.Items[2].Content)
	assert.Equal(t, "echo: tell me", rest.Items[3].Content)
	desc := h.do(t, &messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: conv.ID}, stKeyA).(*messages.ItemList)
	assert.Equal(t, rest.Items[3].ID, desc.FirstID, "newest first by default")

	item := h.do(t, &messages.ConversationRequest{Action: messages.ConversationRetrieveItem, ConversationID: conv.ID, ItemID: first.Items[1].ID}, stKeyA).(*messages.ItemResponse)
	assert.Equal(t, "hello there", item.Item.Content)
	after := h.do(t, &messages.ConversationRequest{Action: messages.ConversationDeleteItem, ConversationID: conv.ID, ItemID: first.Items[1].ID}, stKeyA).(*messages.ConversationResponse)
	assert.Equal(t, conv.ID, after.ID)
	e := h.fail(t, &messages.ConversationRequest{Action: messages.ConversationRetrieveItem, ConversationID: conv.ID, ItemID: first.Items[1].ID}, stKeyA)
	assert.Equal(t, http.StatusNotFound, e.Status)

	// Another organisation sees none of it.
	for _, req := range []messages.Request{
		&messages.ConversationRequest{Action: messages.ConversationRetrieve, ConversationID: conv.ID},
		&messages.ConversationRequest{Action: messages.ConversationUpdate, ConversationID: conv.ID, Metadata: map[string]string{"x": "y"}},
		&messages.ConversationRequest{Action: messages.ConversationAddItems, ConversationID: conv.ID, Items: user("intruder")},
		&messages.ConversationRequest{Action: messages.ConversationListItems, ConversationID: conv.ID},
		&messages.ConversationRequest{Action: messages.ConversationRetrieveItem, ConversationID: conv.ID, ItemID: first.Items[0].ID},
		&messages.ConversationRequest{Action: messages.ConversationDeleteItem, ConversationID: conv.ID, ItemID: first.Items[0].ID},
		&messages.ConversationRequest{Action: messages.ConversationDelete, ConversationID: conv.ID},
		&messages.ResponsesRequest{Model: "gpt-4o", Conversation: conv.ID, Input: user("x")},
		&messages.ResponsesInputTokensRequest{Responses: messages.ResponsesRequest{Conversation: conv.ID}},
	} {
		e := h.fail(t, req, stKeyB)
		assert.Equal(t, http.StatusNotFound, e.Status, "%s", req.Operation())
		assert.Equal(t, messages.ClassInvalid, e.Class)
		assert.False(t, e.Retryable())
	}

	del := h.do(t, &messages.ConversationRequest{Action: messages.ConversationDelete, ConversationID: conv.ID}, stKeyA).(*messages.DeletedResponse)
	assert.Equal(t, conv.ID, del.ID)
	assert.Equal(t, "conversation.deleted", del.Object)
	assert.True(t, del.Deleted)
	e = h.fail(t, &messages.ConversationRequest{Action: messages.ConversationRetrieve, ConversationID: conv.ID}, stKeyA)
	assert.Equal(t, http.StatusNotFound, e.Status)

	seen := checkRequests(t, h.srv)
	for _, op := range []string{"POST /conversations", "GET /conversations/{conversation_id}", "POST /conversations/{conversation_id}",
		"DELETE /conversations/{conversation_id}", "POST /conversations/{conversation_id}/items", "GET /conversations/{conversation_id}/items",
		"GET /conversations/{conversation_id}/items/{item_id}", "DELETE /conversations/{conversation_id}/items/{item_id}"} {
		assert.Positive(t, seen[op], "no request to %s was validated: %v", op, seen)
	}
	assert.GreaterOrEqual(t, checkAnswers(t, h.ct), 25)
}
