package tei

import (
	"bytes"
	"context"
	"encoding/json"
	"io"

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
		resp, err := c.Send(ctx, call, exchange(PathHealth, nil))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return &messages.InfoResponse{Meta: meta(call), Healthy: true, Body: body}, nil
	}
	resp, err := c.Send(ctx, call, exchange(PathInfo, nil))
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := c.DecodeJSON(ctx, call, resp, &raw); err != nil {
		return nil, err
	}
	var info struct {
		Version *string `json:"version"`
	}
	if err := json.Unmarshal(raw, &info); err != nil || !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("{")) {
		return nil, call.Fail(messages.ClassMalformed, call.Result.Status, "/info answer is not a JSON object", err)
	}
	out := &messages.InfoResponse{Meta: meta(call), Healthy: true, Body: raw}
	if info.Version != nil {
		out.Version = *info.Version
	}
	return out, nil
}
