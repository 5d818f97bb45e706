// Package vertexanthropic speaks Claude on Google Vertex AI (kind
// "anthropic_vertex"): Anthropic's Messages API as Vertex AI serves
// Anthropic's publisher models, POST
// {base}/publishers/anthropic/models/{model}:rawPredict, :streamRawPredict
// for a streamed chat, and .../models/count-tokens:rawPredict, with the
// body's anthropic_version "vertex-2023-10-16" instead of a model member
// (token counting keeps it), as Anthropic's Vertex SDK sends them.
//
// The endpoint's base URL names the API version, project and region, as
// Descriptor.BaseURL does:
// "https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}"
// (a path prefix in front, such as a corporate gateway's, is kept). The
// global location and the multi-regions are served from other hosts: give
// their base URL in full, e.g.
// "https://aiplatform.googleapis.com/v1/projects/{project}/locations/global"
// or "https://aiplatform.us.rep.googleapis.com/v1/projects/{project}/locations/us"
// (anthropic-sdk-go vertex.go).
//
// Bodies, answers and event streams are the Messages API's (server-sent
// events, read by package anthropic's adapter through anthropic.NewHosted).
// Errors are Vertex AI's google.rpc.Status bodies, or Anthropic's own
// error bodies, which Vertex passes on for the model's refusals; both are
// decoded. Credentials are Google OAuth 2 bearer tokens: keys hold a
// providers.TokenAuth over a token source (vertex.GoogleTokenSource for
// service account keys and Application Default Credentials); a key with a
// fixed secret is refused without being sent.
//
// The adapter is stateless and safe for concurrent use.
package vertexanthropic

import (
	"net/url"

	"github.com/switchyard-ai/switchyard/providers/anthropic"
)

// Wire constants.
const (
	// Kind is the kind's name.
	Kind = "anthropic_vertex"
	// Version is the anthropic_version of Vertex AI's Messages bodies.
	Version = "vertex-2023-10-16"
	// DefaultBaseURL is the regional endpoint, with the placeholders the
	// runtime fills from the endpoint's region and project.
	DefaultBaseURL = "https://{region}-aiplatform.googleapis.com/v1/projects/{project}/locations/{region}"
	// EnvCredentials names the environment variable Google's libraries
	// read a credentials file's path from.
	EnvCredentials = "GOOGLE_APPLICATION_CREDENTIALS"
	// PublisherModels is the collection of Anthropic's models, under the
	// base URL.
	PublisherModels = "/publishers/anthropic/models/"
	// PathCountTokens is the path of token counting, under the base URL.
	PathCountTokens = PublisherModels + "count-tokens:rawPredict"
)

// hosting is Claude on Vertex AI as package anthropic's adapter sees it.
var hosting = anthropic.Hosting{
	Kind:            Kind,
	Version:         Version,
	ChatPath:        ChatPath,
	KeepStream:      true,
	CountTokensPath: func(string) string { return PathCountTokens },
	DecodeError:     decodeError,
}

// New returns a Claude on Vertex AI adapter.
func New() *anthropic.Adapter { return anthropic.NewHosted(hosting) }

// ChatPath is the path of a chat with model, under the base URL:
// /publishers/anthropic/models/{model}:rawPredict, or :streamRawPredict
// for a streamed one.
func ChatPath(model string, stream bool) string {
	method := ":rawPredict"
	if stream {
		method = ":streamRawPredict"
	}
	return PublisherModels + url.PathEscape(model) + method
}
