// Package azure is Switchyard's adapter for Azure OpenAI (kind
// "azure_openai"): chat completions (plain and streamed, tools, images),
// embeddings (merged into batches like OpenAI's), and, by API version, the
// Responses API (v1 API) or the legacy completions API (deployment form).
// Every request is built, decoded and classified by the OpenAI adapter
// (package openai) in the "azure_openai" dialect; this package only says
// where requests go, how keys travel and how Azure's errors read.
//
// # URLs
//
// The endpoint's base URL is the resource, e.g.
// "https://NAME.openai.azure.com"; a path after the host (a gateway's
// prefix, "https://gw.example.com/corp/azure") is kept, which the official
// SDKs do not do. AdapterOptions.APIVersion picks the form:
//
//   - "" or "v1" (the default): the v1 API, {base}/openai/v1/chat/completions,
//     …/embeddings and …/responses, no api-version parameter, the deployment
//     as the body's "model". "preview" is the same with ?api-version=preview.
//   - a dated version, e.g. "2024-10-21":
//     {base}/openai/deployments/{deployment}/chat/completions, …/embeddings
//     and …/completions, each with ?api-version=<version>. Versions before
//     2024-09-01 get max_tokens instead of max_completion_tokens and no
//     stream_options (those versions reject both).
//
// A request's model is looked up in AdapterOptions.Deployments; a model not
// in the map is its own deployment name.
//
// # Keys
//
// An API key goes in the "api-key" header. A key holding an Authenticator
// (a providers.TokenAuth over EntraTokenSource) sends "Authorization: Bearer
// <token>" instead; on a 401 providers.Client refreshes the token and tries
// once more.
//
// # Errors
//
// Errors are {"error":{"code","message","param","type","inner_error"}} (or
// the older "innererror"). A prompt refused by Azure's content filter (400,
// code "content_filter") is ClassInvalid with Code "content_filter" and
// matches ErrContentFiltered; an answer cut by the filter is a normal
// response whose FinishReason is messages.FinishContentFilter. Delays come
// from retry-after-ms, x-ms-retry-after-ms and Retry-After, in that order
// (azcore's), or from the message's "retry after N seconds"; the upstream
// request ID is apim-request-id (providers.UpstreamRequestID).
//
// The adapter keeps no state and is safe for concurrent use.
package azure

import (
	"maps"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// Kind is the adapter's kind.
const Kind = "azure_openai"

// Adapter implements providers.Adapter and providers.Batcher for Azure
// OpenAI through the OpenAI adapter it embeds. Build it with New; it is
// safe for concurrent use.
type Adapter struct {
	*openai.Adapter

	version     string
	v1          bool
	versionErr  error
	deployments map[string]string
}

var (
	_ providers.Adapter = (*Adapter)(nil)
	_ providers.Batcher = (*Adapter)(nil)
)

// New returns an adapter for o.APIVersion ("" means the v1 API, see the
// package doc) and o.Deployments (copied). With the v1 API it serves chat,
// embeddings and the Responses API; with a dated version chat, embeddings
// and completions. An APIVersion that ValidAPIVersion refuses makes Check
// refuse every request as invalid.
func New(o providers.AdapterOptions) *Adapter {
	a := &Adapter{version: o.APIVersion, v1: isV1(o.APIVersion), versionErr: ValidAPIVersion(o.APIVersion),
		deployments: maps.Clone(o.Deployments)}
	d := openai.Dialect{
		Kind:        Kind,
		Operations:  []string{openai.OpChat, openai.OpEmbed, openai.OpResponses},
		Auth:        providers.HeaderAuth("api-key"),
		Check:       a.check,
		DecodeError: refine,
		Hosting:     &openai.Hosting{Route: a.route, Model: a.Deployment},
	}
	if !a.v1 {
		d.Operations = []string{openai.OpChat, openai.OpEmbed, openai.OpGenerate}
	}
	if !modern(a.version) {
		d.MaxTokensField, d.NoStreamOptions = "max_tokens", true
	}
	a.Adapter = openai.NewDialect(d)
	return a
}

// APIVersion returns the api_version the adapter was built with ("" for
// the default v1 API).
func (a *Adapter) APIVersion() string { return a.version }

// Deployment returns the deployment serving model: its entry in
// AdapterOptions.Deployments, else model itself.
func (a *Adapter) Deployment(model string) string {
	if d, ok := a.deployments[model]; ok {
		return d
	}
	return model
}

// check is the dialect's Check hook: it runs after the OpenAI validation
// and refuses every request when the API version is malformed, and a
// request whose deployment name would not be a single URL path segment
// ("." or ".."; any other name is escaped).
func (a *Adapter) check(req messages.Request) error {
	if a.versionErr != nil {
		return openai.Invalid(Kind, req, "%v", a.versionErr)
	}
	if model := requestModel(req); model != "" {
		if d := a.Deployment(model); d == "" || d == "." || d == ".." {
			return openai.Invalid(Kind, req, "model %q maps to deployment %q, which is not a deployment name", model, d)
		}
	}
	return nil
}
