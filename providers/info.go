package providers

import (
	"bytes"
	"context"
	"encoding/json"
	"io"

	"github.com/switchyard-ai/switchyard/messages"
)

// maxHealthBody caps the body GetHealth keeps.
const maxHealthBody = 64 << 10

// GetHealth sends ex (a health probe such as GET /health) and answers an
// InfoResponse with Healthy true and up to 64 KiB of the body for any 2xx
// answer. Any other answer is the *messages.UpstreamError c.Send returns
// (classified by ex.DecodeError), so a 503 stays a retryable failure. It is
// safe for concurrent use as c is.
func GetHealth(ctx context.Context, c *Client, call *Call, ex *Exchange) (messages.Response, error) {
	resp, err := c.Send(ctx, call, ex)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxHealthBody))
	return &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Body: body}, nil
}

// GetInfoObject sends ex (a metadata request such as GET /info) and answers
// an InfoResponse whose Body is the raw JSON object and whose Version is the
// object's "version" member when it has one. A body that is not a JSON
// object is ClassMalformed ("<ex.Path> answer is not a JSON object"). It is
// safe for concurrent use as c is.
func GetInfoObject(ctx context.Context, c *Client, call *Call, ex *Exchange) (messages.Response, error) {
	resp, err := c.Send(ctx, call, ex)
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
		return nil, call.Fail(messages.ClassMalformed, call.Result.Status, ex.Path+" answer is not a JSON object", err)
	}
	out := &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Body: raw}
	if info.Version != nil {
		out.Version = *info.Version
	}
	return out, nil
}
