package anthropic

import (
	"context"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// countTokensResponse is the answer of POST /v1/messages/count_tokens.
type countTokensResponse struct {
	InputTokens *int `json:"input_tokens"`
}

func (a *Adapter) countTokens(ctx context.Context, call *providers.Call, req *messages.CountTokensRequest) (messages.Response, error) {
	body, err := buildCountTokensBody(req)
	if err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	resp, err := c.Send(ctx, call, exchange(call, PathCountTokens, body))
	if err != nil {
		return nil, err
	}
	var w countTokensResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if w.InputTokens == nil || *w.InputTokens < 0 {
		return nil, call.Fail(messages.ClassMalformed, resp.StatusCode, "count_tokens answer has no input_tokens", nil)
	}
	return &messages.CountTokensResponse{Meta: call.Meta(), InputTokens: *w.InputTokens}, nil
}
