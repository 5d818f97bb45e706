package openai

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/url"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Hosting places a dialect's requests on a service that hosts the OpenAI
// API under URLs of its own, chosen per request: Azure OpenAI serves each
// model deployment under {base}/openai/deployments/{deployment}/… with an
// api-version query parameter, and its v1 API under {base}/openai/v1/…
// with the deployment as the body's model. Set it as Dialect.Hosting; both
// hooks are optional and must be safe for concurrent use.
type Hosting struct {
	// Route returns the path, relative to the call's BaseURL, and the query
	// of a request of op (OpChat, OpEmbed, OpGenerate, OpModels or
	// OpResponses) for req, in place of the dialect's Prefix and Paths.
	// baseURL is the call's BaseURL, req the call's request (already
	// checked by Check). Route is not consulted for the stateful operations,
	// which keep their own paths. Nil keeps Prefix and Paths.
	Route func(baseURL, op string, req messages.Request) (path string, query url.Values)
	// Model returns what a request body's "model" field carries for a
	// request of model model, e.g. the name of the deployment serving it.
	// It applies to every body with a string "model". Nil sends the
	// request's model.
	Model func(model string) string
}

// apply places ex, an exchange for op of call, as h says.
func (h *Hosting) apply(call *providers.Call, op string, ex *providers.Exchange) {
	if _, basic := defaultPaths[op]; basic && h.Route != nil {
		ex.Path, ex.Query = h.Route(call.BaseURL, op, call.Request)
	}
	if h.Model != nil && ex.Body != nil {
		ex.Body = withModel(ex.Body, h.Model)
	}
}

// withModel returns body, as a JSON object, with its string "model"
// replaced by f of it. body is not modified: a map is copied, anything else
// re-encoded (numbers kept as written). A body that does not encode as an
// object is returned as it is.
func withModel(body any, f func(string) string) any {
	m, ok := body.(map[string]any)
	if ok {
		m = maps.Clone(m)
	} else {
		b, err := json.Marshal(body)
		if err != nil {
			return body
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&m) != nil || m == nil {
			return body
		}
	}
	if model, ok := m["model"].(string); ok {
		m["model"] = f(model)
	}
	return m
}
