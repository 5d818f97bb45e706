package sim

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchyard-ai/switchyard/clock"
)

// AzureBackend simulates Azure OpenAI's inference API and the Microsoft
// Entra ID token endpoint that issues its bearer tokens, so the adapter's
// base URL is Server.URL (plus PathPrefix) and the token URL
// Server.URL+AzureBackend.TokenPath(). It checks requests the way the
// service does:
//
//   - routes: the deployment form POST /openai/deployments/{deployment}/
//     chat/completions, /embeddings and /completions with a required
//     api-version query parameter (missing: 404 "Resource not found";
//     not in APIVersions: 400 "API version not supported"), and the v1 API
//     POST /openai/v1/chat/completions, /embeddings and /responses, whose
//     optional api-version must be "v1" or "preview" and whose deployment is
//     the body's "model". Any other path or method is 404 "Resource not
//     found"; with PathPrefix set, every route lives under it.
//   - deployments: an unknown one is 404 DeploymentNotFound; one whose model
//     does not do the operation (chat on an embedding model, completions on
//     a chat model) is 400 OperationNotSupported.
//   - keys: an "api-key" header (any non-empty key, or those of WithKeys),
//     or "Authorization: Bearer <token>" with a token this simulator issued
//     and that has not expired on Clock (401 otherwise). A client refused
//     with DenyClient gets 401 PermissionDenied, as an application without
//     the "Cognitive Services OpenAI User" role does.
//   - bodies: checked by the OpenAI simulator's rules (unknown fields, types,
//     ranges, messages, tools, images, embedding inputs, Responses items),
//     plus Azure's: a dated version before 2024-09-01 refuses
//     max_completion_tokens and stream_options, as those versions do.
//   - content filter: a request any of whose texts contains
//     PromptFilterTrigger gets Azure's 400 content_filter (the body of the
//     azure-sdk-for-go content_filter_response_error.json recording for a
//     dated version, the spec's inner_error shape for the v1 API); a chat
//     request whose last user message contains AnswerFilterTrigger gets a
//     200 answer cut short with finish_reason "content_filter".
//
// The token endpoint, POST /{tenant}/oauth2/v2.0/token, takes the client
// credentials grant (client_id and client_secret in the form, or HTTP
// Basic), checks the tenant, the client and its secret (Clients) and the
// scope (AzureScope), and answers Entra ID's token JSON or its error JSON
// ({"error":"invalid_client","error_description":"AADSTS…",…}). Tokens live
// TokenTTL on Clock. Server sees a token request as carrying the key of its
// client_id ("anonymous" without one), and a request with a bearer token
// the key of the client it was issued to, so WithKeys lists API keys and
// client IDs; a Fault with Path "/token" targets the token endpoint.
//
// Chat answers are Azure's: deterministic text, tool calls and usage as the
// OpenAI simulator computes them, prompt_filter_results and
// content_filter_results, and streams that open with Azure's choices-less
// event carrying the prompt's filter results. Embeddings, completions and
// Responses are answered by an embedded OpenAIBackend, with the request's
// model replaced by the deployment's. Answers carry apim-request-id,
// x-ms-region and x-ratelimit-{limit,remaining}-{requests,tokens}; a
// Fault's 429 gets Retry-After and retry-after-ms (1 s) unless it sets
// them.
//
// Sources: the 2024-10-21 inference spec and the v1 spec fragments, the API
// version lifecycle page, azure-sdk-for-go's recording and azcore (see
// providers/azure/testdata/SOURCES.md). Details marked [k] (error wording,
// Entra ID's AADSTS codes, the stream's opening event) are background
// knowledge of the service's answers rather than read in those sources.
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type AzureBackend struct {
	// Deployments maps each deployment's name to the model it serves; nil
	// means AzureDeployments(). What a deployment does follows from its
	// model's name: "…embedding…" models only embeddings, "…instruct…",
	// davinci-002 and babbage-002 only completions, any other chat and
	// Responses.
	Deployments map[string]string
	// APIVersions are the dated api-versions the deployment form accepts;
	// nil means AzureAPIVersions().
	APIVersions []string
	// PathPrefix is a path the resource is served under, as a corporate
	// gateway does ("/corp/azure"); a request outside it is 404. Empty: the
	// root.
	PathPrefix string
	// TenantID is the tenant of the token endpoint (default AzureTenantID).
	TenantID string
	// Clients maps Entra ID applications' client IDs to their secrets; nil
	// means no token is ever issued.
	Clients map[string]string
	// TokenTTL is how long an issued token is valid (default an hour).
	TokenTTL time.Duration
	// Clock issues and expires tokens; nil is the wall clock.
	Clock clock.Clock
	// PromptFilterTrigger and AnswerFilterTrigger trigger the content
	// filter (defaults AzurePromptFilterTrigger and
	// AzureAnswerFilterTrigger).
	PromptFilterTrigger, AnswerFilterTrigger string

	oai OpenAIBackend // the shared validation and deterministic answers
	seq atomic.Int64

	mu     sync.Mutex
	tokens map[string]azureToken
	denied map[string]bool
	issued int
}

// Defaults of AzureBackend.
const (
	AzureTenantID            = "sim-tenant"
	AzureScope               = "https://cognitiveservices.azure.com/.default"
	AzurePromptFilterTrigger = "[filter-prompt]"
	AzureAnswerFilterTrigger = "[filter-answer]"
	AzureDefaultTokenTTL     = time.Hour
)

// AzureAnonymousClient is the key Server sees for a token request that
// names no client.
const AzureAnonymousClient = "anonymous"

type azureToken struct {
	client  string
	expires time.Time
}

// Azure returns an Azure OpenAI simulator with the default deployments and
// API versions and no Entra ID application.
func Azure() *AzureBackend { return &AzureBackend{} }

// AzureDeployments returns the default deployments: "gpt-4o" and "chat"
// (model gpt-4o), "gpt-4o-mini", "text-embedding-3-small" and "embed"
// (model text-embedding-3-small), and "instruct" (gpt-3.5-turbo-instruct,
// for completions).
func AzureDeployments() map[string]string {
	return map[string]string{
		"gpt-4o": "gpt-4o", "chat": "gpt-4o", "gpt-4o-mini": "gpt-4o-mini",
		"text-embedding-3-small": "text-embedding-3-small", "embed": "text-embedding-3-small",
		"instruct": "gpt-3.5-turbo-instruct",
	}
}

// AzureAPIVersions returns the dated api-versions accepted by default: the
// stable 2024-02-01, 2024-06-01 and 2024-10-21 and the previews from
// 2024-08-01-preview to 2025-04-01-preview.
func AzureAPIVersions() []string {
	return []string{"2024-02-01", "2024-06-01", "2024-10-21", "2024-08-01-preview", "2024-09-01-preview", "2024-10-01-preview",
		"2024-12-01-preview", "2025-01-01-preview", "2025-02-01-preview", "2025-03-01-preview", "2025-04-01-preview"}
}

// Name returns "azure_openai".
func (*AzureBackend) Name() string { return "azure_openai" }

// Key returns the "api-key" header. Server uses Verify, which also knows
// bearer tokens.
func (*AzureBackend) Key(r *http.Request) string { return strings.TrimSpace(r.Header.Get("Api-Key")) }

// TokenPath is the token endpoint's path, /{TenantID}/oauth2/v2.0/token.
func (b *AzureBackend) TokenPath() string { return "/" + b.tenant() + "/oauth2/v2.0/token" }

// TokensIssued counts the tokens the token endpoint issued.
func (b *AzureBackend) TokensIssued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.issued
}

// DenyClient makes requests with tokens of clientID fail with 401
// PermissionDenied (deny true), or serves them again (false). Tokens are
// still issued to the client.
func (b *AzureBackend) DenyClient(clientID string, deny bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.denied == nil {
		b.denied = map[string]bool{}
	}
	b.denied[clientID] = deny
}

func (b *AzureBackend) tenant() string {
	if b.TenantID == "" {
		return AzureTenantID
	}
	return b.TenantID
}

func (b *AzureBackend) now() time.Time {
	if b.Clock == nil {
		return time.Now()
	}
	return b.Clock.Now()
}

func (b *AzureBackend) deployments() map[string]string {
	if b.Deployments == nil {
		return AzureDeployments()
	}
	return b.Deployments
}

func (b *AzureBackend) trigger(set, def string) string {
	if set == "" {
		return def
	}
	return set
}

// Azure's wording for refused credentials [k].
const (
	azureMissingKey = "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API."
	azureInvalidKey = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."
	azureBadToken   = "Access token is missing, invalid, audience is incorrect (https://cognitiveservices.azure.com), or have expired."
)

var azureTokenRoute = regexp.MustCompile(`^/([^/]+)/oauth2/v2\.0/token$`)

// Verify returns the key a request authenticates as: for the token
// endpoint its client_id (AzureAnonymousClient without one: the endpoint
// answers it), else the api-key header, else the client of a valid bearer
// token; "" and 401 with Azure's message otherwise.
func (b *AzureBackend) Verify(r *http.Request, body []byte) (string, int, string) {
	if azureTokenRoute.MatchString(r.URL.Path) {
		if id, _ := azureClientCredentials(r, body); id != "" {
			return id, 0, ""
		}
		return AzureAnonymousClient, 0, ""
	}
	if k := b.Key(r); k != "" {
		return k, 0, ""
	}
	h := r.Header.Get("Authorization")
	if strings.TrimSpace(h) == "" {
		return "", http.StatusUnauthorized, azureMissingKey
	}
	if len(h) < 7 || !strings.EqualFold(h[:7], "Bearer ") {
		return "", http.StatusUnauthorized, azureBadToken
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tokens[strings.TrimSpace(h[7:])]
	if !ok || !b.now().Before(t.expires) {
		return "", http.StatusUnauthorized, azureBadToken
	}
	return t.client, 0, ""
}

// azureClientCredentials reads a token request's client_id and
// client_secret from its form body, or from HTTP Basic authentication.
func azureClientCredentials(r *http.Request, body []byte) (id, secret string) {
	form, _ := url.ParseQuery(string(body))
	id, secret = form.Get("client_id"), form.Get("client_secret")
	if u, p, ok := r.BasicAuth(); ok && id == "" {
		id, _ = url.QueryUnescape(u)
		secret, _ = url.QueryUnescape(p)
	}
	return id, secret
}

// ---- errors ----

// azureWriter is the answer to an inference request: it knows the URL form
// (v1 errors have type "error") and drops the headers the embedded OpenAI
// simulator sets that Azure does not send.
type azureWriter struct {
	http.ResponseWriter
	v1      bool
	written bool
}

func (w *azureWriter) WriteHeader(status int) {
	if !w.written {
		w.written = true
		h := w.Header()
		for _, k := range []string{"Openai-Version", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens"} {
			h.Del(k)
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *azureWriter) Write(p []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(p)
}

// Flush lets the stream writer flush through.
func (w *azureWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// azureErrWriter carries an Azure error's code and extra members (param,
// type, inner error) through Server.Invalid to WriteError.
type azureErrWriter struct {
	http.ResponseWriter
	code  string
	extra map[string]any
}

// aadErrWriter carries an Entra ID token endpoint error through
// Server.Invalid to WriteError.
type aadErrWriter struct {
	http.ResponseWriter
	err  string
	code int
}

// WriteError writes Azure's error body for status: {"error":{"code",
// "message"}} as its gateway answers (401 with code "401", 404 "Resource
// not found", 429 "429" with Retry-After and retry-after-ms of a second
// unless set, 500 InternalServerError, 503 ServiceUnavailable), with
// "param" and "type" for a request body the model service refused (type
// "error" on the v1 API), and Entra ID's token error JSON for the token
// endpoint.
func (b *AzureBackend) WriteError(w http.ResponseWriter, status int, message string) {
	code, detailed := "", false
	var param any
	var extra map[string]any
	switch ew := w.(type) {
	case *aadErrWriter:
		b.writeAAD(ew.ResponseWriter, status, ew.err, ew.code, message)
		return
	case *oaiParamWriter:
		code, detailed, w = ew.code, true, ew.ResponseWriter
		if ew.param != "" {
			param = ew.param
		}
	case *azureErrWriter:
		code, extra, w = ew.code, ew.extra, ew.ResponseWriter
	}
	aw, _ := w.(*azureWriter)
	if w.Header().Get("Apim-Request-Id") == "" { // refused before Serve
		w.Header().Set("Apim-Request-Id", b.requestID())
	}
	generic := message == "" || message == http.StatusText(status)
	set := func(c, m string) {
		if code == "" {
			code = c
		}
		if generic {
			message = m
		}
	}
	switch {
	case status == http.StatusUnauthorized:
		if message == "invalid API key" || message == "this key has been revoked" { // Server's wording
			generic = true
		}
		set("401", azureInvalidKey)
	case status == http.StatusNotFound:
		set("404", "Resource not found")
	case status == http.StatusRequestTimeout:
		set("Timeout", "The operation was timeout.")
	case status == http.StatusTooManyRequests:
		if w.Header().Get("Retry-After") == "" && w.Header().Get("Retry-After-Ms") == "" {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Retry-After-Ms", "1000")
		}
		set("429", "Requests to the Azure OpenAI API have exceeded the rate limit of your current pricing tier. Please retry after 1 second.")
	case status == http.StatusServiceUnavailable:
		set("ServiceUnavailable", "The service is temporarily unable to process your request. Please try again later.")
	case status >= 500:
		set("InternalServerError", "The server had an error while processing your request. Sorry about that!")
	case detailed && code == "":
	case code == "":
		code = "BadRequest"
	}
	e := map[string]any{"message": message}
	if code != "" || !detailed {
		e["code"] = code
	} else {
		e["code"] = nil
	}
	if detailed {
		e["param"], e["type"] = param, "invalid_request_error"
		if aw != nil && aw.v1 {
			e["type"] = "error"
		}
	}
	maps.Copy(e, extra)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": e})
}

// writeAAD writes Entra ID's token error answer.
func (b *AzureBackend) writeAAD(w http.ResponseWriter, status int, errCode string, code int, desc string) {
	trace := b.requestID()
	ts := b.now().UTC().Format("2006-01-02 15:04:05Z")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error":             errCode,
		"error_description": desc + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + trace + "\r\nTimestamp: " + ts,
		"error_codes":       []int{code}, "timestamp": ts, "trace_id": trace, "correlation_id": trace,
		"error_uri": "https://login.microsoftonline.com/error?code=" + strconv.Itoa(code),
	})
}

// fail rejects a request with an Azure error code.
func (b *AzureBackend) fail(s *Server, w http.ResponseWriter, status int, code, format string, args ...any) {
	s.Invalid(&azureErrWriter{ResponseWriter: w, code: code}, status, fmt.Sprintf(format, args...))
}

// reject answers a violation found by the OpenAI simulator's checks.
func (b *AzureBackend) reject(s *Server, w http.ResponseWriter, e *oaiErr) {
	s.Invalid(&oaiParamWriter{ResponseWriter: w, param: e.param, code: e.code}, e.status, e.msg)
}

// ---- token endpoint ----

// serveToken answers the client credentials grant [k: AADSTS codes and
// wording as Entra ID answers them].
func (b *AzureBackend) serveToken(s *Server, w http.ResponseWriter, r *http.Request, body []byte, tenant string) {
	bad := func(status int, errCode string, code int, format string, args ...any) {
		s.Invalid(&aadErrWriter{ResponseWriter: w, err: errCode, code: code}, status, fmt.Sprintf(format, args...))
	}
	missing := func(p string) {
		bad(http.StatusBadRequest, "invalid_request", 900144, "AADSTS900144: The request body must contain the following parameter: '%s'.", p)
	}
	if r.Method != http.MethodPost {
		bad(http.StatusBadRequest, "invalid_request", 900561, "AADSTS900561: The endpoint only accepts POST, OPTIONS requests. Received a %s request.", r.Method)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		missing("grant_type")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		missing("grant_type")
		return
	}
	if tenant != b.tenant() {
		bad(http.StatusBadRequest, "invalid_request", 90002, "AADSTS90002: Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", tenant)
		return
	}
	switch gt := form.Get("grant_type"); gt {
	case "client_credentials":
	case "":
		missing("grant_type")
		return
	default:
		bad(http.StatusBadRequest, "unsupported_grant_type", 70003, "AADSTS70003: The app requested an unsupported grant type '%s'.", gt)
		return
	}
	id, secret := azureClientCredentials(r, body)
	if id == "" {
		missing("client_id")
		return
	}
	scope := form.Get("scope")
	switch {
	case scope == "":
		missing("scope")
		return
	case scope == AzureScope:
	case strings.HasSuffix(scope, "/.default"):
		bad(http.StatusBadRequest, "invalid_resource", 500011, "AADSTS500011: The resource principal named %s was not found in the tenant named %s.",
			strings.TrimSuffix(scope, "/.default"), tenant)
		return
	default:
		bad(http.StatusBadRequest, "invalid_scope", 1002012, "AADSTS1002012: The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
		return
	}
	want, known := b.Clients[id]
	switch {
	case !known:
		b.writeAAD(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("AADSTS700016: Application with identifier '%s' was not found in the directory '%s'.", id, tenant))
		return
	case secret == "":
		b.writeAAD(w, http.StatusUnauthorized, "invalid_client", 7000216,
			"AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
		return
	case secret != want:
		b.writeAAD(w, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", id))
		return
	}
	ttl := b.TokenTTL
	if ttl <= 0 {
		ttl = AzureDefaultTokenTTL
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	tok := "sim-entra-" + hex.EncodeToString(raw)
	now := b.now()
	b.mu.Lock()
	if b.tokens == nil {
		b.tokens = map[string]azureToken{}
	}
	for k, t := range b.tokens {
		if !now.Before(t.expires.Add(time.Hour)) {
			delete(b.tokens, k) // long expired: forget
		}
	}
	b.tokens[tok] = azureToken{client: id, expires: now.Add(ttl)}
	b.issued++
	b.mu.Unlock()
	secs := int(ttl / time.Second)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(map[string]any{"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": tok})
}

// ---- inference ----

// azureRoute is an inference request's place.
type azureRoute struct {
	v1         bool
	deployment string // deployment form only
	op         string // "chat/completions", "embeddings", "completions", "responses"
	version    string
}

// route parses an inference path (after PathPrefix) and its api-version.
// It returns the status, code and message of a refusal when the path is
// not a route or the version is refused.
func (b *AzureBackend) route(path string, q url.Values) (azureRoute, int, string, string) {
	notFound := func() (azureRoute, int, string, string) {
		return azureRoute{}, http.StatusNotFound, "404", "Resource not found"
	}
	rt := azureRoute{version: q.Get("api-version")}
	if rest, ok := strings.CutPrefix(path, "/openai/v1/"); ok {
		rt.v1, rt.op = true, rest
		switch rt.op {
		case "chat/completions", "embeddings", "responses":
		default:
			return notFound()
		}
		if q.Has("api-version") && rt.version != "v1" && rt.version != "preview" {
			return azureRoute{}, http.StatusBadRequest, "BadRequest", "API version not supported"
		}
		return rt, 0, "", ""
	}
	rest, ok := strings.CutPrefix(path, "/openai/deployments/")
	if !ok {
		return notFound()
	}
	dep, op, ok := strings.Cut(rest, "/")
	if !ok || dep == "" {
		return notFound()
	}
	rt.deployment, rt.op = dep, op
	switch rt.op {
	case "chat/completions", "embeddings", "completions":
	default:
		return notFound()
	}
	versions := b.APIVersions
	if versions == nil {
		versions = AzureAPIVersions()
	}
	switch {
	case rt.version == "":
		return notFound()
	case !slices.Contains(versions, rt.version):
		return azureRoute{}, http.StatusBadRequest, "BadRequest", "API version not supported"
	}
	return rt, 0, "", ""
}

// azureOperationName is the operation's name in OperationNotSupported.
var azureOperationName = map[string]string{"chat/completions": "chatCompletion", "embeddings": "embeddings", "completions": "completion", "responses": "responses"}

// azureModelServes reports whether model does op: embedding models only
// embeddings, instruct and base completion models only completions, the
// others chat and Responses.
func azureModelServes(model, op string) bool {
	switch {
	case strings.Contains(model, "embedding"):
		return op == "embeddings"
	case strings.Contains(model, "instruct") || model == "davinci-002" || model == "babbage-002":
		return op == "completions"
	}
	return op == "chat/completions" || op == "responses"
}

// Serve answers the token endpoint and the inference routes (see the type's
// documentation).
func (b *AzureBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	if m := azureTokenRoute.FindStringSubmatch(r.URL.Path); m != nil {
		w.Header().Set("X-Ms-Request-Id", b.requestID())
		b.serveToken(s, w, r, body, m[1])
		return
	}
	w.Header().Set("Apim-Request-Id", b.requestID())
	w.Header().Set("X-Ms-Region", "Sim Central")
	path := r.URL.Path
	if p := strings.TrimRight(b.PathPrefix, "/"); p != "" {
		rest, ok := strings.CutPrefix(path, p)
		if !ok || !strings.HasPrefix(rest, "/") {
			b.fail(s, w, http.StatusNotFound, "404", "Resource not found")
			return
		}
		path = rest
	}
	rt, status, code, msg := b.route(path, r.URL.Query())
	if status != 0 {
		b.fail(s, w, status, code, "%s", msg)
		return
	}
	aw := &azureWriter{ResponseWriter: w, v1: rt.v1}
	if r.Method != http.MethodPost {
		b.fail(s, aw, http.StatusNotFound, "404", "Resource not found")
		return
	}
	key, client := b.identity(r)
	if client {
		b.mu.Lock()
		denied := b.denied[key]
		b.mu.Unlock()
		if denied {
			b.fail(s, aw, http.StatusUnauthorized, "PermissionDenied",
				"The principal `%s` lacks the required data action `Microsoft.CognitiveServices/accounts/OpenAI/deployments/%s/action` to perform `POST /openai/deployments/{deployment-id}/%s` operation.",
				key, rt.op, rt.op)
			return
		}
	}
	req, e := oaiJSONBody(r, body)
	if e != nil {
		b.reject(s, aw, e)
		return
	}
	dep := rt.deployment
	if rt.v1 {
		m, ok := req["model"].(string)
		switch {
		case req["model"] == nil:
			b.reject(s, aw, oaiBad("model", "Missing required parameter: 'model'."))
			return
		case !ok:
			b.reject(s, aw, oaiWrongType("model", "a string", req["model"]))
			return
		}
		dep = m
	}
	model, known := b.deployments()[dep]
	if !known {
		b.fail(s, aw, http.StatusNotFound, "DeploymentNotFound",
			"The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.")
		return
	}
	if !azureModelServes(model, rt.op) {
		b.fail(s, aw, http.StatusBadRequest, "OperationNotSupported",
			"The %s operation does not work with the specified model, %s. Please choose different model and try again. You can learn more about which models can be used with each operation here: https://go.microsoft.com/fwlink/?linkid=2197993.",
			azureOperationName[rt.op], model)
		return
	}
	if !rt.v1 && len(rt.version) >= 10 && rt.version[:10] < "2024-09-01" {
		for _, k := range []string{"max_completion_tokens", "stream_options"} {
			if _, ok := req[k]; ok {
				b.reject(s, aw, oaiBad(k, "Unrecognized request argument supplied: %s", k))
				return
			}
		}
	}
	req["model"] = model
	if rt.op == "chat/completions" {
		b.serveChat(s, aw, r, f, key, rt.v1, req)
		return
	}
	if b.promptFiltered(s, aw, rt.v1, req) {
		return
	}
	body2, _ := json.Marshal(req)
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath, r2.URL.RawQuery = "/v1/"+rt.op, "", ""
	r2.Header.Del("Api-Key")
	r2.Header.Set("Authorization", "Bearer "+key)
	b.oai.Serve(s, aw, r2, body2, f)
}

// requestID returns a new request ID in Azure's GUID form.
func (b *AzureBackend) requestID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", b.seq.Add(1))
}

// identity returns the key a request authenticated as (Verify accepted it)
// and whether it is an Entra ID client (a bearer token).
func (b *AzureBackend) identity(r *http.Request) (string, bool) {
	if k := b.Key(r); k != "" {
		return k, false
	}
	h := r.Header.Get("Authorization")
	if len(h) < 7 {
		return "", false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.tokens[strings.TrimSpace(h[7:])]
	return t.client, ok
}

// azureMentions reports whether any string in v (a decoded JSON value)
// contains word, ignoring case.
func azureMentions(v any, word string) bool {
	switch x := v.(type) {
	case string:
		return strings.Contains(strings.ToLower(x), strings.ToLower(word))
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return azureMentions(e, word) })
	case map[string]any:
		for _, e := range x {
			if azureMentions(e, word) {
				return true
			}
		}
	}
	return false
}

// azureFilterResults are a text's content filter results: every category
// safe, or violence filtered at high severity.
func azureFilterResults(cut bool) map[string]any {
	safe := func() map[string]any { return map[string]any{"filtered": false, "severity": "safe"} }
	m := map[string]any{"hate": safe(), "self_harm": safe(), "sexual": safe(), "violence": safe()}
	if cut {
		m["violence"] = map[string]any{"filtered": true, "severity": "high"}
	}
	return m
}

// azurePromptFilterResults are the prompt's results: safe, no jailbreak.
func azurePromptFilterResults() []any {
	res := azureFilterResults(false)
	res["jailbreak"] = map[string]any{"filtered": false, "detected": false}
	return []any{map[string]any{"prompt_index": 0, "content_filter_results": res}}
}

// promptFiltered answers Azure's 400 content_filter and reports true when
// a text of req (any string but the model) contains PromptFilterTrigger:
// for a dated version in the shape of azure-sdk-for-go's
// content_filter_response_error.json ("innererror",
// "content_filter_result", "status"), for the v1 API in the spec's
// ("inner_error", "content_filter_results").
func (b *AzureBackend) promptFiltered(s *Server, w http.ResponseWriter, v1 bool, req map[string]any) bool {
	texts := maps.Clone(req)
	delete(texts, "model")
	if !azureMentions(texts, b.trigger(b.PromptFilterTrigger, AzurePromptFilterTrigger)) {
		return false
	}
	results := azureFilterResults(true)
	results["violence"] = map[string]any{"filtered": true, "severity": "medium"}
	extra := map[string]any{"type": nil, "param": "prompt", "status": http.StatusBadRequest,
		"innererror": map[string]any{"code": "ResponsibleAIPolicyViolation", "content_filter_result": results}}
	if v1 {
		results["jailbreak"] = map[string]any{"filtered": false, "detected": false}
		extra = map[string]any{"type": "error", "param": "prompt",
			"inner_error": map[string]any{"code": "ResponsibleAIPolicyViolation", "content_filter_results": results}}
	}
	s.Invalid(&azureErrWriter{ResponseWriter: w, code: "content_filter", extra: extra}, http.StatusBadRequest,
		"The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766")
	return true
}

// serveChat answers a chat completion in Azure's shape, after the OpenAI
// simulator's checks and the content filter's.
func (b *AzureBackend) serveChat(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, key string, v1 bool, req map[string]any) {
	cr, e := oaiParseChat(req)
	if e != nil {
		b.reject(s, w, e)
		return
	}
	if b.promptFiltered(s, w, v1, req) {
		return
	}
	a := b.oai.answer("", cr.msgs, cr.tools, cr.choice, cr.maxTokens)
	cut := false
	for i := len(cr.msgs) - 1; i >= 0; i-- {
		if cr.msgs[i].role == "user" {
			cut = len(a.calls) == 0 && oaiMentions(cr.msgs[i].text, strings.ToLower(b.trigger(b.AnswerFilterTrigger, AzureAnswerFilterTrigger)))
			break
		}
	}
	if cut {
		words := strings.Fields(a.text)
		a.text, a.finish = strings.Join(words[:min(2, len(words))], " "), "content_filter"
		a.out = Words(a.text)
	}
	out := a.out * cr.n
	b.oai.admit(w, key, a.in+out)
	id := fmt.Sprintf("chatcmpl-azsim%08d", b.seq.Add(1))
	created := b.now().Unix()
	model := cr.model
	if !cr.stream {
		var calls []oaiWireToolCall
		for _, c := range a.calls {
			calls = append(calls, oaiWireToolCall{ID: c.id, Type: "function", Function: oaiWireFunction{Name: c.name, Arguments: c.args}})
		}
		var content any
		if len(a.calls) == 0 {
			content = a.text
		}
		choices := make([]any, cr.n)
		for i := range choices {
			msg := map[string]any{"role": "assistant", "content": content, "refusal": nil}
			if len(calls) > 0 {
				msg["tool_calls"] = calls
			}
			choices[i] = map[string]any{"content_filter_results": azureFilterResults(cut), "finish_reason": a.finish, "index": i, "logprobs": nil, "message": msg}
		}
		s.AddUsage(a.in, out)
		oaiWriteJSON(w, map[string]any{
			"choices": choices, "created": created, "id": id, "model": model, "object": "chat.completion",
			"prompt_filter_results": azurePromptFilterResults(), "system_fingerprint": "fp_azsim", "usage": oaiChatUsage(a.in, out),
		})
		return
	}
	sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	send := func(c map[string]any) {
		data, _ := json.Marshal(c)
		sse.Send("", string(data))
	}
	// Azure's first event carries the prompt's filter results and nothing
	// else [k].
	send(map[string]any{"choices": []any{}, "created": 0, "id": "", "model": "", "object": "", "prompt_filter_results": azurePromptFilterResults()})
	chunk := func(choices []any, usage any) {
		c := map[string]any{"choices": choices, "created": created, "id": id, "model": model, "object": "chat.completion.chunk", "system_fingerprint": "fp_azsim"}
		if cr.includeUsage {
			c["usage"] = usage
		}
		send(c)
	}
	choice := func(i int, delta map[string]any, finish any, filter map[string]any) []any {
		return []any{map[string]any{"content_filter_results": filter, "delta": delta, "finish_reason": finish, "index": i, "logprobs": nil}}
	}
	none := map[string]any{}
	for i := 0; i < cr.n; i++ {
		if len(a.calls) > 0 {
			chunk(choice(i, map[string]any{"role": "assistant", "content": nil, "refusal": nil}, nil, none), nil)
			for j, c := range a.calls {
				idx := j
				chunk(choice(i, map[string]any{"tool_calls": []oaiWireToolCall{{Index: &idx, ID: c.id, Type: "function", Function: oaiWireFunction{Name: c.name}}}}, nil, none), nil)
				for _, p := range oaiRunePieces(c.args, 8) {
					chunk(choice(i, map[string]any{"tool_calls": []oaiWireToolCall{{Index: &idx, Function: oaiWireFunction{Arguments: p}}}}, nil, none), nil)
				}
			}
		} else {
			chunk(choice(i, map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil, none), nil)
			for _, p := range oaiPieces(a.text, 3) {
				chunk(choice(i, map[string]any{"content": p}, nil, azureFilterResults(false)), nil)
			}
		}
		chunk(choice(i, map[string]any{}, a.finish, azureFilterResults(cut)), nil)
	}
	if cr.includeUsage {
		chunk([]any{}, oaiChatUsage(a.in, out))
	}
	if sse.delivers() {
		s.AddUsage(a.in, out)
	}
	sse.Send("", "[DONE]")
}
