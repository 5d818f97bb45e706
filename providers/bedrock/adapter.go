// Package bedrock speaks Claude on Amazon Bedrock (kind
// "anthropic_bedrock"): Anthropic's Messages API as Bedrock's runtime
// serves it, POST /model/{modelId}/invoke and
// /model/{modelId}/invoke-with-response-stream, with the body's
// anthropic_version "bedrock-2023-05-31" instead of a model member, answers
// streamed as AWS event-stream frames, Bedrock's error types, and keys that
// are either AWS Signature Version 4 signers (NewSigV4) or Bedrock API keys
// (bearer tokens). Token counting is Bedrock's CountTokens,
// POST /model/{modelId}/count-tokens.
//
// Requests, answers and stream events are otherwise the Messages API's;
// the mapping is package anthropic's (anthropic.NewHosted). The adapter is
// stateless and safe for concurrent use.
package bedrock

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/anthropic"
)

// Wire constants.
const (
	// Kind is the kind's name.
	Kind = "anthropic_bedrock"
	// Version is the anthropic_version of Bedrock's Messages bodies.
	Version = "bedrock-2023-05-31"
	// EnvKey holds a Bedrock API key, as Anthropic's and AWS's SDKs read it.
	EnvKey = "AWS_BEARER_TOKEN_BEDROCK"
	// DefaultBaseURL is the runtime endpoint of a region, filled from the
	// endpoint's region.
	DefaultBaseURL = "https://bedrock-runtime.{region}.amazonaws.com"
	// HeaderRequestID is Bedrock's request ID header (x-amzn-RequestId).
	HeaderRequestID = "X-Amzn-Requestid"
	// ContentTypeEventStream is the media type of a streamed answer.
	ContentTypeEventStream = "application/vnd.amazon.eventstream"
)

// hosting is Claude on Bedrock as package anthropic's adapter sees it.
var hosting = anthropic.Hosting{
	Kind:             Kind,
	Version:          Version,
	ChatPath:         ChatPath,
	BetaInBody:       true,
	CountTokensPath:  func(model string) string { return modelPath(model, "count-tokens") },
	CountTokensBody:  countTokensBody,
	CountTokensField: "inputTokens",
	Auth:             providers.BearerAuth,
	DecodeError:      decodeError,
	RequestIDHeader:  HeaderRequestID,
	Events:           func(r io.Reader) anthropic.EventReader { return newEventReader(r) },
	// An expired STS session is refused with 403 ExpiredTokenException:
	// the signer's credentials are renewed and the call signed again.
	CredentialRefused: credentialRefused,
}

// New returns a Claude on Bedrock adapter.
func New() *anthropic.Adapter { return anthropic.NewHosted(hosting) }

// ChatPath is the path of a chat with model: /model/{modelId}/invoke, or
// /model/{modelId}/invoke-with-response-stream for a streamed one.
func ChatPath(model string, stream bool) string {
	if stream {
		return modelPath(model, "invoke-with-response-stream")
	}
	return modelPath(model, "invoke")
}

// modelPath is /model/{modelId}/{op}, the model ID escaped as Anthropic's
// SDK escapes it (url.QueryEscape: an ARN's ':' and '/' become %3A and
// %2F), so inference profile and provisioned model ARNs stay one segment.
func modelPath(model, op string) string {
	return "/model/" + url.QueryEscape(model) + "/" + op
}

// countTokensBody is a CountTokens body: the invoke body, base64 in
// {"input":{"invokeModel":{"body":…}}}.
func countTokensBody(invoke, _ map[string]any) (any, error) {
	b, err := json.Marshal(invoke)
	if err != nil {
		return nil, err
	}
	return map[string]any{"input": map[string]any{"invokeModel": map[string]any{"body": base64.StdEncoding.EncodeToString(b)}}}, nil
}

// credentialRefused reports whether an answer refuses the key's credential
// in a way a renewal can cure: 401, or a 403 whose error type is
// ExpiredTokenException (an expired session token).
func credentialRefused(status int, h http.Header) bool {
	switch status {
	case http.StatusUnauthorized:
		return true
	case http.StatusForbidden:
		t, _, _ := strings.Cut(h.Get("X-Amzn-Errortype"), ":")
		return t == "ExpiredTokenException"
	}
	return false
}
