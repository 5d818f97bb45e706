package azure

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// API versions the adapter knows by name. AdapterOptions.APIVersion picks
// the URL form: "" (the default), APIVersionV1 or APIVersionPreview select
// the v1 API; a dated version such as StableAPIVersion selects the
// deployment form.
const (
	// APIVersionV1 selects the v1 API, generally available since August
	// 2025: {base}/openai/v1/chat/completions, …/embeddings and
	// …/responses, the deployment named by the body's "model", and no
	// api-version query parameter (the service's default is v1). It is what
	// an empty APIVersion means: no dated version to keep up with, and the
	// Responses API.
	APIVersionV1 = "v1"
	// APIVersionPreview selects the v1 API with its preview features:
	// v1 URLs with ?api-version=preview.
	APIVersionPreview = "preview"
	// StableAPIVersion is the newest stable dated version of the inference
	// API (testdata/inference.json). A dated version selects the deployment
	// form: {base}/openai/deployments/{deployment}/chat/completions,
	// …/embeddings and …/completions, each with ?api-version=<version>.
	StableAPIVersion = "2024-10-21"
)

// modernSince is the first dated version whose chat requests take
// max_completion_tokens and stream_options ("Changes between
// 2024-09-01-preview and 2024-08-01-preview" in the API version lifecycle
// page); older versions get max_tokens and no stream usage.
const modernSince = "2024-09-01"

var datedVersion = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}(-preview)?$`)

// ValidAPIVersion returns nil when v is an api_version the adapter can
// speak: "", APIVersionV1, APIVersionPreview, or a dated version
// "YYYY-MM-DD" or "YYYY-MM-DD-preview"; otherwise an error naming v. Whether
// the service knows a well-formed dated version is for the service to say.
func ValidAPIVersion(v string) error {
	if isV1(v) || datedVersion.MatchString(v) {
		return nil
	}
	return fmt.Errorf("azure: api_version %q is neither %q, %q nor a dated version like %q", v, APIVersionV1, APIVersionPreview, StableAPIVersion)
}

// isV1 reports whether v selects the v1 API.
func isV1(v string) bool { return v == "" || v == APIVersionV1 || v == APIVersionPreview }

// modern reports whether requests of version v may carry
// max_completion_tokens and stream_options.
func modern(v string) bool { return isV1(v) || len(v) >= 10 && v[:10] >= modernSince }

// opPaths are the operations' paths after the deployment (deployment form)
// or after /openai/v1.
var opPaths = map[string]string{
	openai.OpChat:      openai.PathChat,
	openai.OpEmbed:     openai.PathEmbeddings,
	openai.OpGenerate:  openai.PathCompletions,
	openai.OpResponses: openai.PathResponses,
}

// route is the adapter's openai.Hosting.Route: where a request of op goes,
// relative to the endpoint's base URL. A base URL that already ends in
// /openai (or /openai/v1 for the v1 API) is not given it twice; any other
// path of the base URL (a gateway's prefix) is kept.
func (a *Adapter) route(baseURL, op string, req messages.Request) (string, url.Values) {
	base := strings.TrimRight(baseURL, "/")
	var prefix string
	switch {
	case a.v1 && strings.HasSuffix(base, "/openai/v1"):
	case a.v1 && strings.HasSuffix(base, "/openai"):
		prefix = "/v1"
	case a.v1:
		prefix = "/openai/v1"
	case !strings.HasSuffix(base, "/openai"):
		prefix = "/openai"
	}
	var q url.Values
	if a.version != "" && a.version != APIVersionV1 {
		q = url.Values{"api-version": {a.version}}
	}
	if a.v1 {
		return prefix + opPaths[op], q
	}
	return prefix + "/deployments/" + url.PathEscape(a.Deployment(requestModel(req))) + opPaths[op], q
}

// requestModel is the model a request of an operation the adapter serves
// names, "" for any other request or a nil one.
func requestModel(req messages.Request) string {
	switch r := req.(type) {
	case *messages.ChatRequest:
		if r != nil {
			return r.Model
		}
	case *messages.EmbedRequest:
		if r != nil {
			return r.Model
		}
	case *messages.GenerateRequest:
		if r != nil {
			return r.Model
		}
	case *messages.ResponsesRequest:
		if r != nil {
			return r.Model
		}
	}
	return ""
}
