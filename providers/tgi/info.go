package tgi

import (
	"context"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// doInfo answers an InfoRequest. "health" is GET /health: a 2xx answer is
// Healthy (TGI sends an empty body); a 503 healthcheck error is a retryable
// ClassServer *UpstreamError, like any other failure. "info", "" and
// "version" are GET /info: Body is the raw JSON (model_id, max_input_tokens,
// max_total_tokens, max_concurrent_requests, max_stop_sequences, …) and
// Version the router's "version"; a body that is not a JSON object is
// ClassMalformed.
func doInfo(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.InfoRequest) (messages.Response, error) {
	if r.What == "health" {
		return providers.GetHealth(ctx, c, call, exchange(PathHealth, nil, false))
	}
	return providers.GetInfoObject(ctx, c, call, exchange(PathInfo, nil, false))
}
