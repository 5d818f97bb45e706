package sim

import (
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// VertexGeminiBackend simulates Gemini on Google Vertex AI (the
// aiplatform API, v1 and v1beta1), so the adapter's base URL is
// Server.URL + "/v1/projects/{project}/locations/{location}" (plus Prefix):
//
//   - routes POST {Prefix}/{v1|v1beta1}/projects/{project}/locations/
//     {location}/publishers/google/models/{model}:{method} with the methods
//     generateContent, streamGenerateContent (?alt=sse for "data: …" events,
//     without it the JSON array form), countTokens, predict and
//     embedContent; other paths and methods answer 404 NOT_FOUND, another
//     publisher 404 "Publisher Model … not found", a malformed project or
//     location 400, another project than Project 403 PERMISSION_DENIED;
//   - credentials are OAuth 2 access tokens issued by Auth
//     ("Authorization: Bearer …", checked with GoogleOAuth.Check: 401
//     UNAUTHENTICATED for none, an unknown or an expired one); API keys
//     (x-goog-api-key or ?key=) are refused with 401 "API keys are not
//     supported by this API…";
//   - a JSON content type is required and unknown query parameters are
//     rejected, as on the Developer API;
//   - generateContent and streamGenerateContent bodies are checked and
//     answered by the Gemini simulator (GeminiBackend: the proto3 JSON
//     checks, the request rules and the deterministic answers, usage in
//     usageMetadata of the answer and of every stream chunk, the last one
//     carrying the final count); Vertex's labels field is accepted too.
//     Error texts name Vertex's proto package (google.cloud.aiplatform.v1);
//   - countTokens takes Vertex's CountTokensRequest: contents,
//     systemInstruction, tools and generationConfig at the top level (no
//     generateContentRequest, no toolConfig), and answers totalTokens (the
//     Gemini simulator's prompt count) and totalBillableCharacters;
//   - predict serves the text embedding models (text-embedding-*,
//     text-multilingual-embedding-*, gemini-embedding-001): {"instances":
//     [{"content", "task_type", "title"}], "parameters":
//     {"outputDimensionality", "autoTruncate"}}, at most 250 instances (one
//     for gemini-embedding-001), answered {"predictions": [{"embeddings":
//     {"values", "statistics": {"truncated", "token_count"}}}],
//     "metadata": {"billableCharacterCount"}}; a Gemini chat model answers
//     400 "Gemini cannot be accessed through Vertex Predict/RawPredict
//     API…";
//   - embedContent serves the other Gemini embedding models (as go-genai
//     routes them): {"content": Content, "embedContentConfig": {"taskType",
//     "title", "outputDimensionality", "autoTruncate"}}, answered
//     {"embedding": {"values"}, "usageMetadata": {"promptTokenCount",
//     "totalTokenCount"}, "truncated": false}. Vectors are GeminiEmbedding
//     vectors (Gemini.EmbeddingDimensions long unless asked otherwise) and
//     their token counts (Words) are reported with Server.AddUsage;
//   - errors are google.rpc.Status bodies: 400 INVALID_ARGUMENT, 401
//     UNAUTHENTICATED (ErrorInfo CREDENTIALS_MISSING or
//     ACCESS_TOKEN_EXPIRED), 403 PERMISSION_DENIED (ErrorInfo
//     IAM_PERMISSION_DENIED), 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED
//     ("Resource exhausted. Please try again later. …", no RetryInfo, as
//     Vertex answers), 500 INTERNAL, 503 UNAVAILABLE, 504
//     DEADLINE_EXCEEDED.
//
// Streams honour a fault's ChunkDelay, CutAfter, StallAfter and in-stream
// error Body as GeminiBackend's do. The key a request is recorded and
// faulted under is the token's service account (Server.RejectKey revokes
// one).
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type VertexGeminiBackend struct {
	// Auth issues and checks the access tokens. Required.
	Auth *GoogleOAuth
	// Gemini checks and answers generateContent requests, with its
	// ChunkWords and EmbeddingDimensions; nil is Gemini().
	Gemini *GeminiBackend
	// Project, when set, is the only project served.
	Project string
	// Prefix, when set, is a path every request's path must start with (a
	// corporate gateway in front of Vertex AI, e.g. "/gw/vertex"); it is
	// removed before routing, and a path without it answers 404.
	Prefix string

	once sync.Once
	gem  *GeminiBackend
}

// VertexGemini returns a simulator of Gemini on Vertex AI whose tokens auth
// issues.
func VertexGemini(auth *GoogleOAuth) *VertexGeminiBackend { return &VertexGeminiBackend{Auth: auth} }

var (
	_ Backend  = (*VertexGeminiBackend)(nil)
	_ Verifier = (*VertexGeminiBackend)(nil)
)

// vtxService is the API's service name in error details.
const vtxService = "aiplatform.googleapis.com"

func (b *VertexGeminiBackend) gemini() *GeminiBackend {
	b.once.Do(func() {
		b.gem = b.Gemini
		if b.gem == nil {
			b.gem = Gemini()
		}
	})
	return b.gem
}

// Name returns "gemini_vertex".
func (*VertexGeminiBackend) Name() string { return "gemini_vertex" }

// Key returns the service account of the request's access token, "" when
// it has none valid.
func (b *VertexGeminiBackend) Key(r *http.Request) string {
	k, _, _ := b.Verify(r, nil)
	return k
}

// Verify refuses API keys and checks the access token with Auth.Check.
func (b *VertexGeminiBackend) Verify(r *http.Request, _ []byte) (string, int, string) {
	if r.Header.Get("X-Goog-Api-Key") != "" || r.URL.Query().Has("key") {
		return "", http.StatusUnauthorized, GoogleAPIKeyRefused
	}
	return b.Auth.Check(r)
}

// WriteError writes a google.rpc.Status body for status, with Vertex AI's
// messages for 401, 403 and 429 and the Gemini simulator's for the others.
func (b *VertexGeminiBackend) WriteError(w http.ResponseWriter, status int, message string) {
	generic := message == "" || message == http.StatusText(status)
	var st map[string]any
	switch status {
	case http.StatusUnauthorized:
		st = googleAuthStatus(message, vtxService)
	case http.StatusForbidden:
		if generic || message == "this key has been revoked" {
			message = "Permission 'aiplatform.endpoints.predict' denied on resource (or it may not exist)."
		}
		st = map[string]any{"code": status, "message": message, "status": "PERMISSION_DENIED", "details": []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "IAM_PERMISSION_DENIED", "domain": vtxService,
				"metadata": map[string]any{"permission": "aiplatform.endpoints.predict"}},
		}}
	case http.StatusTooManyRequests:
		st = map[string]any{"code": status, "status": "RESOURCE_EXHAUSTED",
			"message": "Resource exhausted. Please try again later. Please refer to https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."}
	default:
		if generic {
			switch status {
			case http.StatusInternalServerError:
				message = "Internal error encountered."
			case http.StatusServiceUnavailable:
				message = "The service is currently unavailable."
			}
		}
		b.gemini().WriteError(w, status, message)
		return
	}
	gemWriteJSON(w, status, map[string]any{"error": st})
}

var (
	vtxRoute    = regexp.MustCompile(`^/(v1|v1beta1)/projects/([^/:]+)/locations/([^/:]+)/publishers/([^/:]+)/models/([^/:]+):([A-Za-z]+)$`)
	vtxProject  = regexp.MustCompile(`^(?:[a-z][a-z0-9-]{4,28}[a-z0-9]|[0-9]{1,20})$`)
	vtxLocation = regexp.MustCompile(`^[a-z]+(?:-[a-z]+[0-9]+)?$`)
	vtxModel    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]*$`)
)

// vtxEmbedContentModel reports the models go-genai embeds with
// :embedContent on Vertex AI: Gemini embedding models other than
// gemini-embedding-001, and MaaS models.
func vtxEmbedContentModel(model string) bool {
	return strings.Contains(model, "gemini") && model != "gemini-embedding-001" || strings.Contains(model, "maas")
}

// vtxPackage renames the Developer API's proto package in a Gemini
// simulator message to Vertex AI's of version.
func vtxPackage(msg, version string) string {
	return strings.ReplaceAll(msg, gemPkg, "google.cloud.aiplatform."+version+".")
}

// Serve checks and answers a request.
func (b *VertexGeminiBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	p, ok := strings.CutPrefix(r.URL.Path, b.Prefix)
	m := vtxRoute.FindStringSubmatch(p)
	if !ok || m == nil || r.Method != http.MethodPost {
		s.Invalid(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	version, project, location, publisher, model, method := m[1], m[2], m[3], m[4], m[5], m[6]
	name := "projects/" + project + "/locations/" + location + "/publishers/" + publisher + "/models/" + model
	switch {
	case !vtxProject.MatchString(project) || !vtxLocation.MatchString(location) || !vtxModel.MatchString(model):
		s.Invalid(w, http.StatusBadRequest, "Invalid resource field value in the request.")
		return
	case b.Project != "" && project != b.Project:
		s.Invalid(w, http.StatusForbidden, "Permission 'aiplatform.endpoints.predict' denied on resource '//aiplatform.googleapis.com/"+name+"' (or it may not exist).")
		return
	case publisher != "google":
		s.Invalid(w, http.StatusNotFound, "Publisher Model `"+name+"` not found.")
		return
	}
	switch method {
	case "generateContent", "streamGenerateContent", "countTokens", "predict", "embedContent":
	default:
		s.Invalid(w, http.StatusNotFound, "Method not found.")
		return
	}
	alt, ok := gemCheckQueryAndType(s, w, r)
	if !ok {
		return
	}
	raw, bad := gemDecode(body)
	if bad == nil {
		bad = vtxModelFits(name, model, method)
	}
	if bad == nil {
		gem, resource := b.gemini(), "models/"+model
		switch method {
		case "generateContent", "streamGenerateContent":
			if bad = vtxLabels(raw); bad == nil {
				bad = gem.serveGenerate(s, w, r, f, resource, raw, method == "streamGenerateContent", alt == "sse")
			}
		case "countTokens":
			bad = vtxCountTokens(w, resource, raw)
		case "predict":
			bad = b.predict(s, w, model, raw)
		case "embedContent":
			bad = b.embedContent(s, w, raw)
		}
	}
	if bad != nil {
		s.Invalid(w, bad.status, vtxPackage(bad.msg, version))
	}
}

// vtxModelFits refuses a method the model does not serve.
func vtxModelFits(name, model, method string) *gemInvalid {
	embedding := strings.Contains(model, "embedding")
	switch method {
	case "predict":
		switch {
		case !embedding && strings.HasPrefix(model, "gemini"):
			return gemBad("Gemini cannot be accessed through Vertex Predict/RawPredict API. Please follow https://cloud.google.com/vertex-ai/docs/generative-ai/start/quickstarts/quickstart-multimodal for Gemini usage.")
		case !embedding:
			return gemBad("Model %s does not support the predict method.", name)
		case vtxEmbedContentModel(model):
			return gemBad("Model %s does not support the predict method; use embedContent.", name)
		}
	case "embedContent":
		if !embedding || !vtxEmbedContentModel(model) {
			return gemBad("Model %s does not support the embedContent method.", name)
		}
	default:
		if embedding {
			return gemBad("Model %s does not support the %s method.", name, method)
		}
	}
	return nil
}

// vtxLabels checks and removes Vertex's labels field (map<string, string>)
// of a GenerateContentRequest, which the Developer API does not have.
func vtxLabels(raw map[string]any) *gemInvalid {
	v, ok := raw["labels"]
	if !ok {
		return nil
	}
	delete(raw, "labels")
	m, isObj := v.(map[string]any)
	if !isObj {
		return gemBad("Invalid value at 'labels' (type.googleapis.com/google.cloud.aiplatform.v1.GenerateContentRequest.LabelsEntry), %s", gemShow(v))
	}
	for k, x := range m {
		if _, isStr := x.(string); !isStr {
			return gemBad("Invalid value at 'labels[%s].value' (TYPE_STRING), %s", k, gemShow(x))
		}
	}
	return nil
}

// vtxCountFields are the fields of Vertex's CountTokensRequest that are
// GenerateContentRequest fields too.
var vtxCountFields = map[string]bool{"model": true, "contents": true, "systemInstruction": true, "tools": true, "generationConfig": true}

// vtxCountTokens answers Vertex's countTokens.
func vtxCountTokens(w http.ResponseWriter, resource string, raw map[string]any) *gemInvalid {
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !vtxCountFields[gemCamel(k)] {
			return gemBad("Invalid JSON payload received. Unknown name %q: Cannot find field.", k)
		}
	}
	m, bad := gemCheck(raw, "GenerateContentRequest", "")
	if bad != nil {
		return bad
	}
	g, bad := gemParseGen(m, resource, "CountTokensRequest")
	if bad != nil {
		return bad
	}
	n := gemPromptWords(g)
	chars := 0
	for _, t := range g.system {
		chars += vtxBillableChars(t)
	}
	for _, c := range g.contents {
		for _, p := range c.parts {
			chars += vtxBillableChars(p.text)
		}
	}
	gemWriteJSON(w, http.StatusOK, map[string]any{"totalTokens": n, "totalBillableCharacters": chars,
		"promptTokensDetails": []any{map[string]any{"modality": "TEXT", "tokenCount": n}}})
	return nil
}

// vtxBillableChars counts the characters Vertex bills: all but white
// space.
func vtxBillableChars(s string) int {
	n := 0
	for _, c := range s {
		if !unicode.IsSpace(c) {
			n++
		}
	}
	return n
}

// vtxTaskTypes are the task types of Vertex's text embedding models.
var vtxTaskTypes = map[string]bool{"RETRIEVAL_QUERY": true, "RETRIEVAL_DOCUMENT": true, "SEMANTIC_SIMILARITY": true, "CLASSIFICATION": true,
	"CLUSTERING": true, "QUESTION_ANSWERING": true, "FACT_VERIFICATION": true, "CODE_RETRIEVAL_QUERY": true}

// vtxMaxInstances is the most instances a text embedding model's predict
// takes.
const vtxMaxInstances = 250

// vtxDims reads an outputDimensionality value.
func vtxDims(v any, at string) (int, *gemInvalid) {
	f, ok := gemNumber(v)
	if !ok || f != float64(int(f)) {
		return 0, gemBad("Invalid value at '%s' (TYPE_INT32), %s", at, gemShow(v))
	}
	if f < 1 || f > 3072 {
		return 0, gemBad("* %s: output_dimensionality must be between 1 and 3072\n", at)
	}
	return int(f), nil
}

func (b *VertexGeminiBackend) predict(s *Server, w http.ResponseWriter, model string, raw map[string]any) *gemInvalid {
	for k := range raw {
		if k != "instances" && k != "parameters" {
			return gemBad("Invalid JSON payload received. Unknown name %q: Cannot find field.", k)
		}
	}
	instances, _ := raw["instances"].([]any)
	limit := vtxMaxInstances
	if model == "gemini-embedding-001" {
		limit = 1
	}
	switch {
	case len(instances) == 0:
		return gemBad("* PredictRequest.instances: instances must not be empty\n")
	case len(instances) > limit:
		return gemBad("Unable to submit request because the model %s supports at most %d instance(s) per request, got %d.", model, limit, len(instances))
	}
	dims := 0
	if p, has := raw["parameters"]; has {
		params, isObj := p.(map[string]any)
		if !isObj {
			return gemBad("Invalid value at 'parameters' (type.googleapis.com/google.protobuf.Value), %s", gemShow(p))
		}
		for k, v := range params {
			switch k {
			case "outputDimensionality":
				d, bad := vtxDims(v, "parameters.outputDimensionality")
				if bad != nil {
					return bad
				}
				dims = d
			case "autoTruncate":
				if _, isBool := v.(bool); !isBool {
					return gemBad("Invalid value at 'parameters.autoTruncate' (TYPE_BOOL), %s", gemShow(v))
				}
			default:
				return gemBad("Invalid parameter %q for model %s.", k, model)
			}
		}
	}
	preds := make([]any, len(instances))
	total, chars := 0, 0
	for i, x := range instances {
		inst, isObj := x.(map[string]any)
		if !isObj {
			return gemBad("Invalid value at 'instances[%d]', %s: each instance must be an object", i, gemShow(x))
		}
		var text, task string
		for k, v := range inst {
			str, isStr := v.(string)
			switch {
			case k != "content" && k != "task_type" && k != "title":
				return gemBad("Invalid instance field %q at 'instances[%d]' for model %s.", k, i, model)
			case !isStr:
				return gemBad("Invalid value at 'instances[%d].%s' (TYPE_STRING), %s", i, k, gemShow(v))
			case k == "content":
				text = str
			case k == "task_type":
				task = str
			}
		}
		switch {
		case strings.TrimSpace(text) == "":
			return gemBad("* instances[%d].content: content must not be empty\n", i)
		case task != "" && !vtxTaskTypes[task]:
			return gemBad("* instances[%d].task_type: unknown task type %q\n", i, task)
		case inst["title"] != nil && task != "RETRIEVAL_DOCUMENT":
			return gemBad("* instances[%d].title: title is only supported for the RETRIEVAL_DOCUMENT task type\n", i)
		}
		n := Words(text)
		total += n
		chars += vtxBillableChars(text)
		emb := b.gemini().embedding(text, task, dims)
		emb["statistics"] = map[string]any{"truncated": false, "token_count": n}
		preds[i] = map[string]any{"embeddings": emb}
	}
	s.AddUsage(total, 0)
	gemWriteJSON(w, http.StatusOK, map[string]any{"predictions": preds, "metadata": map[string]any{"billableCharacterCount": chars}})
	return nil
}

// vtxEmbedConfigFields are the fields of embedContentConfig.
var vtxEmbedConfigFields = map[string]bool{"taskType": true, "title": true, "outputDimensionality": true, "autoTruncate": true,
	"documentOcr": true, "audioTrackExtraction": true}

func (b *VertexGeminiBackend) embedContent(s *Server, w http.ResponseWriter, raw map[string]any) *gemInvalid {
	for k := range raw {
		if k != "content" && k != "embedContentConfig" {
			return gemBad("Invalid JSON payload received. Unknown name %q: Cannot find field.", k)
		}
	}
	c, isObj := raw["content"].(map[string]any)
	if !isObj {
		return gemBad("* EmbedContentRequest.content: content is not specified\n")
	}
	cm, bad := gemCheck(c, "Content", "content")
	if bad != nil {
		return bad
	}
	content, bad := gemParseContent(cm, "EmbedContentRequest.content", "content")
	if bad != nil {
		return bad
	}
	var texts []string
	for j, p := range content.parts {
		if p.kind != "text" {
			return gemBad("* EmbedContentRequest.content.parts[%d]: only text parts can be embedded\n", j)
		}
		texts = append(texts, p.text)
	}
	var task string
	dims := 0
	if x, has := raw["embedContentConfig"]; has {
		cfg, isObj := x.(map[string]any)
		if !isObj {
			return gemBad("Invalid value at 'embed_content_config' (type.googleapis.com/google.cloud.aiplatform.v1beta1.EmbedContentRequest.EmbedContentConfig), %s", gemShow(x))
		}
		for k := range cfg {
			if !vtxEmbedConfigFields[k] {
				return gemBad("Invalid JSON payload received. Unknown name %q at 'embed_content_config': Cannot find field.", k)
			}
		}
		if v, has := cfg["taskType"]; has {
			task, _ = v.(string)
			if !vtxTaskTypes[task] {
				return gemBad("Invalid value at 'embed_content_config.task_type' (type.googleapis.com/google.cloud.aiplatform.v1beta1.TaskType), %s", gemShow(v))
			}
		}
		if _, has := cfg["title"]; has && task != "RETRIEVAL_DOCUMENT" {
			return gemBad("* embed_content_config.title: title is only supported for the RETRIEVAL_DOCUMENT task type\n")
		}
		if v, has := cfg["outputDimensionality"]; has {
			if dims, bad = vtxDims(v, "embed_content_config.output_dimensionality"); bad != nil {
				return bad
			}
		}
	}
	text := strings.Join(texts, " ")
	n := Words(text)
	s.AddUsage(n, 0)
	gemWriteJSON(w, http.StatusOK, map[string]any{"embedding": b.gemini().embedding(text, task, dims),
		"usageMetadata": map[string]any{"promptTokenCount": n, "totalTokenCount": n}, "truncated": false})
	return nil
}
