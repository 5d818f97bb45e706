package ollama

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
	// WhatHealth and WhatReady probe GET /api/version, the cheapest route
	// the published API defines (the server root's "Ollama is running" is
	// not part of it).
	WhatHealth = "health"
	WhatReady  = "ready"
	// WhatVersion asks GET /api/version.
	WhatVersion = "version"
	// WhatShow and WhatInfo ask POST /api/show about InfoRequest.Model.
	WhatShow = "show"
	WhatInfo = "info"
)

type tagsResponse struct {
	Models []map[string]json.RawMessage `json:"models"`
}

// doModels lists the local models (GET /api/tags). ID is the model's name
// ("llama3.2:latest"); Details holds the other fields (model, size, digest,
// modified_at, remote_model, remote_host) and the members of "details"
// (format, family, families, parameter_size, quantization_level), decoded
// from JSON.
func doModels(ctx context.Context, c *providers.Client, call *providers.Call) (messages.Response, error) {
	resp, err := c.Send(ctx, call, exchange(PathTags, nil, false))
	if err != nil {
		return nil, err
	}
	var w tagsResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	if w.Models == nil {
		return nil, malformed(call, "tags answer without models", nil)
	}
	out := &messages.ModelsResponse{Meta: call.Meta(), Models: make([]messages.ModelInfo, 0, len(w.Models))}
	for _, raw := range w.Models {
		var m messages.ModelInfo
		if json.Unmarshal(raw["name"], &m.ID) != nil || m.ID == "" {
			if json.Unmarshal(raw["model"], &m.ID) != nil || m.ID == "" {
				return nil, malformed(call, "tags answer: model without a name", nil)
			}
		}
		m.Details = map[string]any{}
		for k, v := range raw {
			if k == "name" {
				continue
			}
			if k == "details" {
				var d map[string]any
				if json.Unmarshal(v, &d) == nil {
					for dk, dv := range d {
						m.Details[dk] = dv
					}
				}
				continue
			}
			var val any
			if json.Unmarshal(v, &val) == nil {
				m.Details[k] = val
			}
		}
		out.Models = append(out.Models, m)
	}
	return out, nil
}

func checkInfo(r *messages.InfoRequest) error {
	ci := &r.Call
	switch r.What {
	case WhatHealth, WhatReady, WhatVersion:
		return nil
	case WhatShow, WhatInfo:
		if r.Model == "" {
			return invalid(ci, "%s needs a Model", r.What)
		}
		return nil
	}
	return unsupported(ci, "info %q: Ollama answers health, ready, version, show and info", r.What)
}

// maxInfoBody caps the body kept in InfoResponse.Body (a verbose /api/show
// answer can be large).
const maxInfoBody = 8 << 20

// doInfo answers an InfoRequest: health and ready probe GET /api/version
// (Healthy is true for a 2xx answer carrying a version; any other answer
// from the server is Healthy false, not an error, except 401/403, which are
// ClassAuth, and 404, which says the probe reached no Ollama route, a
// misconfiguration rather than a server that is not ready); version reads
// GET /api/version into Version; show and info return POST /api/show
// {model} as Body.
func doInfo(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.InfoRequest) (messages.Response, error) {
	switch r.What {
	case WhatHealth, WhatReady, WhatVersion:
		resp, err := c.Send(ctx, call, exchange(PathVersion, nil, false))
		if err != nil {
			var ue *messages.UpstreamError
			if r.What != WhatVersion && errors.As(err, &ue) && ue.Status != 0 && ue.Status != http.StatusNotFound && ue.Class != messages.ClassAuth {
				return &messages.InfoResponse{Meta: call.Meta(), Healthy: false, Body: []byte(ue.Message)}, nil
			}
			return nil, err
		}
		b, err := readBody(ctx, call, resp)
		if err != nil {
			return nil, err
		}
		var v struct {
			Version string `json:"version"`
		}
		if err := json.Unmarshal(b, &v); err != nil || v.Version == "" {
			return nil, malformed(call, "version answer without a version", err)
		}
		return &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Version: v.Version, Body: b}, nil
	}
	resp, err := c.Send(ctx, call, exchange(PathShow, map[string]string{"model": r.Model}, false))
	if err != nil {
		return nil, err
	}
	b, err := readBody(ctx, call, resp)
	if err != nil {
		return nil, err
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return nil, malformed(call, "show answer is not a JSON object", err)
	}
	return &messages.InfoResponse{Meta: call.Meta(), Healthy: true, Body: b}, nil
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
