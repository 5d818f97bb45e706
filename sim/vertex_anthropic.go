package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// VertexAnthropicVersion is the anthropic_version Vertex AI's Claude
// bodies carry.
const VertexAnthropicVersion = "vertex-2023-10-16"

// VertexAnthropicBackend simulates Claude on Google Vertex AI (Anthropic's
// publisher models on the aiplatform API), so the adapter's base URL is
// Server.URL + "/v1/projects/{project}/locations/{location}" (plus
// Prefix):
//
//   - routes POST {Prefix}/{v1|v1beta1}/projects/{project}/locations/
//     {location}/publishers/anthropic/models/{model}:rawPredict,
//     :streamRawPredict, and .../models/count-tokens:rawPredict; other
//     paths and methods answer 404 NOT_FOUND, another publisher 404
//     "Publisher Model … not found", a malformed project, location or model
//     400, another project than Project 403 PERMISSION_DENIED;
//   - credentials are OAuth 2 access tokens issued by Auth (checked with
//     GoogleOAuth.Check: 401 UNAUTHENTICATED for none, an unknown or an
//     expired one); API keys are refused with 401 as Vertex AI does;
//   - a JSON content type is required (400 INVALID_ARGUMENT);
//   - the body must carry anthropic_version "vertex-2023-10-16"; a chat
//     body has no model member (the path names it) and its stream member
//     must match the method (true for :streamRawPredict, absent or false
//     for :rawPredict); a count-tokens body names its model. Everything
//     else is checked by the Anthropic simulator (Anthropic). These
//     refusals are the model's, so Vertex passes Anthropic's error body
//     on: 400 {"type":"error","error":{"type":"invalid_request_error",…}};
//   - the platform's errors are google.rpc.Status bodies, as
//     VertexGeminiBackend writes them (401 UNAUTHENTICATED, 403
//     PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED, 500
//     INTERNAL, 503 UNAVAILABLE, …); a fault's Body is sent as it is (an
//     Anthropic overloaded_error, say).
//
// Answers, streams (server-sent events, as Anthropic's), usage and faults
// are the Anthropic simulator's, without Anthropic's own headers. The key a
// request is recorded and faulted under is the token's service account
// (Server.RejectKey revokes one).
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type VertexAnthropicBackend struct {
	// Auth issues and checks the access tokens. Required.
	Auth *GoogleOAuth
	// Project, when set, is the only project served.
	Project string
	// Prefix, when set, is a path every request's path must start with (a
	// corporate gateway in front of Vertex AI, e.g. "/gw/vertex"); it is
	// removed before routing, and a path without it answers 404.
	Prefix string

	anth     anthropicSim
	platform VertexGeminiBackend // writes the platform's error bodies
}

// VertexAnthropic returns a simulator of Claude on Vertex AI whose tokens
// auth issues.
func VertexAnthropic(auth *GoogleOAuth) *VertexAnthropicBackend {
	return &VertexAnthropicBackend{Auth: auth}
}

var (
	_ Backend  = (*VertexAnthropicBackend)(nil)
	_ Verifier = (*VertexAnthropicBackend)(nil)
)

// Name returns "anthropic_vertex".
func (*VertexAnthropicBackend) Name() string { return "anthropic_vertex" }

// Key returns the service account of the request's access token, "" when
// it has none valid.
func (b *VertexAnthropicBackend) Key(r *http.Request) string {
	k, _, _ := b.Verify(r, nil)
	return k
}

// Verify refuses API keys and checks the access token with Auth.Check.
func (b *VertexAnthropicBackend) Verify(r *http.Request, _ []byte) (string, int, string) {
	if r.Header.Get("X-Goog-Api-Key") != "" || r.URL.Query().Has("key") {
		return "", http.StatusUnauthorized, GoogleAPIKeyRefused
	}
	return b.Auth.Check(r)
}

// WriteError writes the platform's google.rpc.Status body for status.
func (b *VertexAnthropicBackend) WriteError(w http.ResponseWriter, status int, message string) {
	b.platform.WriteError(w, status, message)
}

// refuse answers a body the model refuses: Anthropic's 400 error body,
// counted as invalid.
func (b *VertexAnthropicBackend) refuse(s *Server, w http.ResponseWriter, msg string) {
	s.invalid.Add(1)
	b.anth.WriteError(newHostedWriter(w, vertexAnthropicHeaders), http.StatusBadRequest, msg)
}

// vertexAnthropicHeaders leaves the Anthropic simulator's remaining
// headers as they are: Vertex AI adds none of its own.
func vertexAnthropicHeaders(http.Header, bool) {}

// Serve checks and answers a request.
func (b *VertexAnthropicBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	p, ok := strings.CutPrefix(r.URL.Path, b.Prefix)
	m := vtxRoute.FindStringSubmatch(p)
	if !ok || m == nil || r.Method != http.MethodPost {
		s.Invalid(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	project, location, publisher, model, method := m[2], m[3], m[4], m[5], m[6]
	name := "projects/" + project + "/locations/" + location + "/publishers/" + publisher + "/models/" + model
	count := model == "count-tokens"
	switch {
	case !vtxProject.MatchString(project) || !vtxLocation.MatchString(location) || !vtxModel.MatchString(model):
		s.Invalid(w, http.StatusBadRequest, "Invalid resource field value in the request.")
		return
	case b.Project != "" && project != b.Project:
		s.Invalid(w, http.StatusForbidden, "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/"+name+"' (or it may not exist).")
		return
	case publisher != "anthropic":
		s.Invalid(w, http.StatusNotFound, "Publisher Model `"+name+"` not found.")
		return
	case method != "rawPredict" && (method != "streamRawPredict" || count):
		s.Invalid(w, http.StatusNotFound, "Method not found.")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		s.Invalid(w, http.StatusBadRequest, "Invalid JSON payload received. Unexpected Content-Type "+strconv.Quote(r.Header.Get("Content-Type"))+".")
		return
	}
	anthBody, bad := vertexAnthropicBody(body, model, count, method == "streamRawPredict")
	if bad != "" {
		b.refuse(s, w, bad)
		return
	}
	path := "/v1/messages"
	if count {
		path = "/v1/messages/count_tokens"
	}
	hw := newHostedWriter(w, vertexAnthropicHeaders)
	b.anth.Serve(s, hw, anthRequest(r, path, anthBody), anthBody, f)
	hw.finish()
}

// vertexAnthropicBody checks Vertex AI's members of a body and returns the
// Messages API body it stands for (anthropic_version dropped, the model
// from the path), checked by the Anthropic simulator, or the 400 message.
func vertexAnthropicBody(body []byte, model string, count, stream bool) ([]byte, string) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, "There was an error parsing the body of your request: the body must be a JSON object"
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, "There was an error parsing the body of your request: unexpected data after the JSON object"
	}
	switch v, present := m["anthropic_version"]; {
	case !present:
		return nil, "anthropic_version: Field required"
	case v != VertexAnthropicVersion:
		return nil, fmt.Sprintf("anthropic_version: Input should be '%s'", VertexAnthropicVersion)
	}
	delete(m, "anthropic_version")
	if !count {
		if _, present := m["model"]; present {
			return nil, "model: Extra inputs are not permitted"
		}
		m["model"] = model
		streams, _ := m["stream"].(bool)
		switch {
		case stream && !streams:
			return nil, `stream: :streamRawPredict needs "stream": true`
		case !stream && streams:
			return nil, `stream: "stream": true needs :streamRawPredict`
		}
	}
	out, _ := json.Marshal(m)
	if _, bad := anthParse(out, count); bad != "" {
		return nil, string(bad)
	}
	return out, ""
}
