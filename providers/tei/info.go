package tei

import (
	"context"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// doInfo answers an InfoRequest. "health" is GET /health: a 2xx answer is
// Healthy (TEI sends an empty body); a 503 Unhealthy is a retryable
// ClassServer *UpstreamError, like any other failure. "info", "" and
// "version" are GET /info: Body is the raw JSON (model_id, model_type,
// max_client_batch_size, max_input_length, auto_truncate, …) and Version the
// router's "version"; a body that is not a JSON object is ClassMalformed.
func doInfo(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.InfoRequest) (messages.Response, error) {
	if r.What == "health" {
		return providers.GetHealth(ctx, c, call, exchange(PathHealth, nil))
	}
	return providers.GetInfoObject(ctx, c, call, exchange(PathInfo, nil))
}
