package ovms

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Info questions (InfoRequest.What) the adapter answers.
const (
	// WhatHealth asks GET /v2/health/live.
	WhatHealth = "health"
	// WhatReady asks GET /v2/health/ready, or GET
	// /v2/models/{Model}/ready when the request names a model.
	WhatReady = "ready"
	// WhatInfo asks GET /v2 (server metadata), or GET /v2/models/{Model}
	// (model metadata) when the request names a model.
	WhatInfo = "info"
	// WhatVersion asks GET /v2 and reports its version.
	WhatVersion = "version"
)

func checkInfo(r *messages.InfoRequest) error {
	switch r.What {
	case WhatHealth, WhatReady, WhatInfo, WhatVersion:
		return nil
	}
	return unsupported(&r.Call, "info %q: OVMS answers health, ready, info and version", r.What)
}

// maxInfoBody caps the body kept in InfoResponse.Body.
const maxInfoBody = 8 << 20

// doInfo answers an InfoRequest. For health and ready, Healthy is true for a
// 2xx answer, and any other answer from the server (503 or another 4xx: not
// ready, not loaded yet) is Healthy false, not an error; except 401/403
// (ClassAuth) and 404, which say the probe did not reach a route or model
// that exists (a wrong base URL, an unknown model), and stay errors
// (ClassInvalid) so a misconfiguration is not mistaken for a server that is
// not ready. For info and version, Body is the metadata JSON and Version
// the server's version.
func doInfo(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.InfoRequest) (messages.Response, error) {
	switch r.What {
	case WhatHealth, WhatReady:
		path := "/v2/health/live"
		if r.What == WhatReady {
			path = "/v2/health/ready"
			if r.Model != "" {
				path = modelPath(r.Model, "") + "/ready"
			}
		}
		resp, err := sendKServe(ctx, c, call, kserveExchange(path, nil))
		if err != nil {
			var ue *messages.UpstreamError
			if errors.As(err, &ue) && ue.Status != 0 && ue.Status != http.StatusNotFound && ue.Class != messages.ClassAuth {
				return &messages.InfoResponse{Meta: call.Meta(), Healthy: false, Body: []byte(ue.Message)}, nil
			}
			return nil, err
		}
		b, err := readBody(ctx, call, resp)
		if err != nil {
			return nil, err
		}
		return &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Body: b}, nil
	}
	path := "/v2"
	if r.What == WhatInfo && r.Model != "" {
		path = modelPath(r.Model, "")
	}
	resp, err := sendKServe(ctx, c, call, kserveExchange(path, nil))
	if err != nil {
		return nil, err
	}
	b, err := readBody(ctx, call, resp)
	if err != nil {
		return nil, err
	}
	var md struct {
		Name    *string `json:"name"`
		Version string  `json:"version"`
	}
	if err := json.Unmarshal(b, &md); err != nil || md.Name == nil {
		return nil, malformed(call, "metadata answer without a name", err)
	}
	out := &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Body: b}
	if path == "/v2" {
		if md.Version == "" {
			return nil, malformed(call, "server metadata without a version", nil)
		}
		out.Version = md.Version
	}
	return out, nil
}

// readBody reads a 2xx body, up to maxInfoBody bytes, and closes it.
func readBody(ctx context.Context, call *providers.Call, resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxInfoBody+1))
	if err != nil {
		return nil, providers.ContextError(ctx, call, err, messages.ClassConnection, "reading response body")
	}
	if len(b) > maxInfoBody {
		return nil, malformed(call, "answer too large", nil)
	}
	return []byte(strings.TrimSpace(string(b))), nil
}
