package gemini

import (
	"context"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// countTokensResponse is the answer of :countTokens.
type countTokensResponse struct {
	TotalTokens             *int `json:"totalTokens"`
	CachedContentTokenCount int  `json:"cachedContentTokenCount"`
}

func (ad *Adapter) countTokens(ctx context.Context, call *providers.Call, r *messages.CountTokensRequest) (messages.Response, error) {
	resource, body, err := buildCountTokensOn(ad.host, r)
	if err != nil {
		return nil, call.Refuse(err)
	}
	c := call.HTTPClient()
	resp, err := c.Send(ctx, call, exchange(ad.host, call, resource, MethodCountTokens, body, false))
	if err != nil {
		return nil, err
	}
	var w countTokensResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if w.TotalTokens == nil || *w.TotalTokens < 0 {
		return nil, call.Fail(messages.ClassMalformed, resp.StatusCode, "countTokens answer has no totalTokens", nil)
	}
	return &messages.CountTokensResponse{Meta: call.Meta(), InputTokens: *w.TotalTokens}, nil
}
