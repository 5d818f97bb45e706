package anthropic

import (
	"context"
	"encoding/json"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

func (a *Adapter) countTokens(ctx context.Context, call *providers.Call, req *messages.CountTokensRequest) (messages.Response, error) {
	body, err := buildCountTokensBody(req)
	if err != nil {
		return nil, call.Refuse(err)
	}
	path, wire := PathCountTokens, any(body)
	if a.h != nil {
		if wire, err = a.hostedCountBody(call, req, body); err != nil {
			return nil, call.Refuse(err)
		}
		path = a.h.CountTokensPath(req.Chat.Model)
	}
	c := call.HTTPClient()
	resp, err := a.send(ctx, call, c, a.exchange(call, path, wire))
	if err != nil {
		return nil, err
	}
	// The answer of POST /v1/messages/count_tokens is {"input_tokens": n};
	// a hosting may name the member otherwise.
	var w map[string]json.RawMessage
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	var n *int
	if json.Unmarshal(w[a.h.countField()], &n) != nil || n == nil || *n < 0 {
		return nil, call.Fail(messages.ClassMalformed, resp.StatusCode, "count_tokens answer has no "+a.h.countField(), nil)
	}
	return &messages.CountTokensResponse{Meta: call.Meta(), InputTokens: *n}, nil
}

// hostedCountBody is the hosting's count_tokens body for req, whose
// Messages count_tokens body is count.
func (a *Adapter) hostedCountBody(call *providers.Call, req *messages.CountTokensRequest, count map[string]any) (any, error) {
	a.h.hostBody(call, count, true)
	if a.h.CountTokensBody == nil {
		return count, nil
	}
	chat := req.Chat
	chat.Call, chat.Stream = req.Call, false
	invoke, err := buildChatBody(&chat)
	if err != nil {
		return nil, err
	}
	a.h.hostBody(call, invoke, false)
	return a.h.CountTokensBody(invoke, count)
}
