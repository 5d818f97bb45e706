package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// OVMSBackend simulates OpenVINO Model Server's REST API at the server root,
// so the adapter's base URL is Server.URL:
//
//   - KServe v2 (Open Inference Protocol): GET /v2/health/live,
//     /v2/health/ready, /v2 (server metadata), /v2/models/{m}[/versions/{v}]
//     (model metadata) and .../ready; POST .../infer.
//   - OpenAI-compatible /v3: chat completions and embeddings are answered by
//     an embedded OpenAIBackend (the request is handed over with its path
//     rewritten to /v1, so it is checked exactly as the OpenAI simulator
//     checks it, and rejections come back in OVMS's {"error": "…"} format);
//     /v3/completions, the Cohere-style /v3/rerank and /v3/models are served
//     here.
//
// KServe models: "resnet" (versions 1 and 2; input "input" FP32 [-1,4];
// outputs "scores" FP32 [-1,2] = the sum and the maximum of each row, times
// the version, and "label" INT64 [-1] = the index of each row's maximum),
// "tokenizer" (input "texts" BYTES [-1]; outputs "input_ids" and
// "attention_mask" INT64 [-1,-1], one word → one deterministic ID, padded
// with 0) and "identity" (any inputs of any datatype, echoed as outputs of
// the same name). Inference requests are checked as the OIP spec and OVMS
// check them: inputs with name, shape, datatype and data; a datatype from
// the spec's list; data elements of the datatype's JSON type and range;
// exactly the product of the shape of them (nested or flat); input names,
// datatypes and shapes the model declares; requested outputs it has.
// Rejections get OVMS's {"error": "…"} with 400, 404 (unknown model or
// version) or 412 (body not JSON), and count as Server.InvalidCalls.
//
// /v3 models: "llama3" (chat, completions), "bge-small" (embeddings),
// "bge-reranker" (rerank); another model name gets OVMS's 404.
//
// OVMS checks keys only on /v3, and only when started with one: set APIKey
// and a /v3 request without "Authorization: Bearer <APIKey>" gets 401
// "Unauthorized request due to invalid or missing api-key". Server sees a
// request without a bearer token as carrying OVMSAnonymousKey, which it
// accepts unless WithKeys is given.
//
// Set the exported fields before Start; the backend is then safe for
// concurrent use.
type OVMSBackend struct {
	// APIKey, when set, is the key /v3 requests must carry.
	APIKey string
	// Version is the server version /v2 reports (default
	// "2025.4.0.sim").
	Version string
	// MaxRerankDocuments is the most documents /v3/rerank takes (default
	// 100, OVMS's max_allowed_docs).
	MaxRerankDocuments int
	// OpenAI answers /v3/chat/completions and /v3/embeddings; nil means
	// OpenAI() with default settings, made by OVMS().
	OpenAI *OpenAIBackend

	mu          sync.Mutex
	notReady    map[string]bool // model name ("" for the server) → not ready
	defaultOnce sync.Once
}

// OVMS returns a simulator of OpenVINO Model Server with default settings.
func OVMS() *OVMSBackend { return &OVMSBackend{OpenAI: OpenAI()} }

// OVMSAnonymousKey is the key Server sees for an OVMS request that carries
// no bearer token.
const OVMSAnonymousKey = "anonymous"

// OVMSUnauthorized is OVMS's answer to a /v3 request with a wrong key.
const OVMSUnauthorized = "Unauthorized request due to invalid or missing api-key"

// SetReady marks a KServe model (or, with model "", the whole server) ready
// or not: its ready route answers 503 and inference 503 while it is not.
func (b *OVMSBackend) SetReady(model string, ready bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.notReady == nil {
		b.notReady = map[string]bool{}
	}
	b.notReady[model] = !ready
}

func (b *OVMSBackend) ready(model string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.notReady[""] && !b.notReady[model]
}

// Name returns "ovms".
func (*OVMSBackend) Name() string { return "ovms" }

// Key returns the bearer token, or OVMSAnonymousKey when there is none.
func (*OVMSBackend) Key(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return OVMSAnonymousKey
	}
	if !strings.HasPrefix(h, "Bearer ") {
		return ""
	}
	return strings.TrimSpace(h[len("Bearer "):])
}

// WriteError writes OVMS's {"error": "…"} for status. It also serves the
// embedded OpenAI simulator's rejections, whose writer it unwraps.
func (*OVMSBackend) WriteError(w http.ResponseWriter, status int, message string) {
	if pw, ok := w.(*oaiParamWriter); ok {
		w = pw.ResponseWriter
	}
	if message == "" {
		message = http.StatusText(status)
	}
	if status == http.StatusUnauthorized && message == "invalid API key" {
		message = OVMSUnauthorized
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": message})
}

// ovmsErr is a request the simulator rejects; invalid ones count as
// Server.InvalidCalls.
type ovmsErr struct {
	status  int
	msg     string
	invalid bool
}

func ovmsBad(format string, args ...any) *ovmsErr {
	return &ovmsErr{status: http.StatusBadRequest, msg: fmt.Sprintf(format, args...), invalid: true}
}

func (e *ovmsErr) send(s *Server, w http.ResponseWriter) {
	if e.invalid {
		s.Invalid(w, e.status, e.msg)
		return
	}
	s.backend.WriteError(w, e.status, e.msg)
}

func ovmsWriteJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve routes the KServe v2 and /v3 APIs.
func (b *OVMSBackend) Serve(s *Server, w http.ResponseWriter, r *http.Request, body []byte, f *Fault) {
	path := r.URL.EscapedPath()
	var e *ovmsErr
	switch {
	case path == "/v2" || path == "/v2/":
		e = b.serveServerMetadata(w, r)
	case path == "/v2/health/live" || path == "/v2/health/ready":
		e = b.serveHealth(w, r, path)
	case strings.HasPrefix(path, "/v2/models/"):
		e = b.serveModel(w, r, strings.TrimPrefix(path, "/v2/models/"), body)
	case strings.HasPrefix(path, "/v3/"):
		if b.APIKey != "" && r.Header.Get("Authorization") != "Bearer "+b.APIKey {
			b.WriteError(w, http.StatusUnauthorized, OVMSUnauthorized)
			return
		}
		e = b.serveV3(s, w, r, f, strings.TrimPrefix(path, "/v3"), body)
	default:
		e = &ovmsErr{status: http.StatusNotFound, msg: "Invalid request URL", invalid: true}
	}
	if e != nil {
		e.send(s, w)
	}
}

func ovmsMethod(r *http.Request, want string) *ovmsErr {
	if r.Method == want || want == http.MethodGet && r.Method == http.MethodHead {
		return nil
	}
	return &ovmsErr{status: http.StatusMethodNotAllowed, msg: fmt.Sprintf("Method %s is not allowed for this URL", r.Method), invalid: true}
}

// ---- KServe models ----

type ovmsTensorMeta struct {
	Name     string  `json:"name"`
	Datatype string  `json:"datatype"`
	Shape    []int64 `json:"shape"`
}

// ovmsTensor is an input as the simulator parsed it: data flattened into
// JSON leaves (json.Number, bool or string).
type ovmsTensor struct {
	name, datatype string
	shape          []int64
	data           []any
}

type ovmsKServeModel struct {
	name     string
	versions []string
	// inputs and outputs are nil for a model that takes anything.
	inputs, outputs []ovmsTensorMeta
	run             func(version int, in map[string]*ovmsTensor) []map[string]any
}

var ovmsModels = []*ovmsKServeModel{
	{
		name: "resnet", versions: []string{"1", "2"},
		inputs:  []ovmsTensorMeta{{"input", "FP32", []int64{-1, 4}}},
		outputs: []ovmsTensorMeta{{"scores", "FP32", []int64{-1, 2}}, {"label", "INT64", []int64{-1}}},
		run:     ovmsRunResnet,
	},
	{
		name: "tokenizer", versions: []string{"1"},
		inputs:  []ovmsTensorMeta{{"texts", "BYTES", []int64{-1}}},
		outputs: []ovmsTensorMeta{{"input_ids", "INT64", []int64{-1, -1}}, {"attention_mask", "INT64", []int64{-1, -1}}},
		run:     ovmsRunTokenizer,
	},
	{name: "identity", versions: []string{"1"}, run: ovmsRunIdentity},
}

func ovmsFindModel(name string) *ovmsKServeModel {
	for _, m := range ovmsModels {
		if m.name == name {
			return m
		}
	}
	return nil
}

func ovmsRunResnet(version int, in map[string]*ovmsTensor) []map[string]any {
	t := in["input"]
	rows := int(t.shape[0])
	scores := make([]float32, 0, rows*2)
	labels := make([]int64, 0, rows)
	for i := 0; i < rows; i++ {
		var sum, best float64
		arg := 0
		for j := 0; j < 4; j++ {
			x, _ := strconv.ParseFloat(string(t.data[i*4+j].(json.Number)), 64)
			sum += x
			if j == 0 || x > best {
				best, arg = x, j
			}
		}
		scores = append(scores, float32(sum*float64(version)), float32(best*float64(version)))
		labels = append(labels, int64(arg))
	}
	return []map[string]any{
		{"name": "scores", "datatype": "FP32", "shape": []int64{int64(rows), 2}, "data": scores},
		{"name": "label", "datatype": "INT64", "shape": []int64{int64(rows)}, "data": labels},
	}
}

// OVMSTokenID is the ID the simulated tokenizer gives a word.
func OVMSTokenID(word string) int64 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(word))
	return 100 + int64(h.Sum32()%30000)
}

func ovmsRunTokenizer(_ int, in map[string]*ovmsTensor) []map[string]any {
	t := in["texts"]
	var words [][]string
	width := 0
	for _, v := range t.data {
		ws := strings.Fields(v.(string))
		words = append(words, ws)
		width = max(width, len(ws))
	}
	ids := make([]int64, 0, len(words)*width)
	mask := make([]int64, 0, len(words)*width)
	for _, ws := range words {
		for j := 0; j < width; j++ {
			if j < len(ws) {
				ids = append(ids, OVMSTokenID(ws[j]))
				mask = append(mask, 1)
			} else {
				ids = append(ids, 0)
				mask = append(mask, 0)
			}
		}
	}
	shape := []int64{int64(len(words)), int64(width)}
	return []map[string]any{
		{"name": "input_ids", "datatype": "INT64", "shape": shape, "data": ids},
		{"name": "attention_mask", "datatype": "INT64", "shape": shape, "data": mask},
	}
}

func ovmsRunIdentity(_ int, in map[string]*ovmsTensor) []map[string]any {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []map[string]any
	for _, n := range names {
		t := in[n]
		out = append(out, map[string]any{"name": t.name, "datatype": t.datatype, "shape": t.shape, "data": t.data})
	}
	return out
}

// ovmsRange is the range of an integer datatype's values.
var ovmsRange = map[string][2]float64{
	"UINT8": {0, math.MaxUint8}, "UINT16": {0, math.MaxUint16}, "UINT32": {0, math.MaxUint32}, "UINT64": {0, math.MaxUint64},
	"INT8": {math.MinInt8, math.MaxInt8}, "INT16": {math.MinInt16, math.MaxInt16}, "INT32": {math.MinInt32, math.MaxInt32}, "INT64": {math.MinInt64, math.MaxInt64},
}

var ovmsDatatypes = []string{"BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"}

// ovmsFlatten appends the leaves of a nested JSON array.
func ovmsFlatten(v any, depth int, out []any) ([]any, bool) {
	if depth > 64 {
		return nil, false
	}
	list, ok := v.([]any)
	if !ok {
		return append(out, v), true
	}
	for _, x := range list {
		if out, ok = ovmsFlatten(x, depth+1, out); !ok {
			return nil, false
		}
	}
	return out, true
}

// ovmsElementOK reports whether a data element has the datatype's JSON type
// and range.
func ovmsElementOK(datatype string, v any) bool {
	switch datatype {
	case "BOOL":
		_, ok := v.(bool)
		return ok
	case "BYTES":
		_, ok := v.(string)
		return ok
	case "FP16", "FP32", "FP64":
		_, ok := v.(json.Number)
		return ok
	}
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	f, err := strconv.ParseFloat(string(n), 64)
	if err != nil || f != math.Trunc(f) {
		return false
	}
	rg := ovmsRange[datatype]
	return f >= rg[0] && f <= rg[1]
}

func ovmsShapeString(shape []int64) string {
	parts := make([]string, len(shape))
	for i, d := range shape {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "(" + strings.Join(parts, ",") + ")"
}

// ovmsParameters checks a KServe $parameters object.
func ovmsParameters(v any, where string) *ovmsErr {
	if v == nil {
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return ovmsBad("%s parameters must be an object", where)
	}
	for k, p := range m {
		switch p.(type) {
		case string, bool, json.Number:
		default:
			return ovmsBad("%s parameter %q must be a string, number or boolean", where, k)
		}
	}
	return nil
}

// ovmsParseInfer checks an inference request body against the OIP spec.
func ovmsParseInfer(body []byte) (req map[string]any, inputs []*ovmsTensor, outputs []string, e *ovmsErr) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, nil, nil, &ovmsErr{status: http.StatusPreconditionFailed, msg: "The file is not valid json", invalid: true}
	}
	req, ok := v.(map[string]any)
	if !ok {
		return nil, nil, nil, ovmsBad("Invalid message structure - request is not a JSON object")
	}
	if id, ok := req["id"]; ok {
		if _, isStr := id.(string); !isStr {
			return nil, nil, nil, ovmsBad("Invalid message structure - id is not a string")
		}
	}
	if e := ovmsParameters(req["parameters"], "request"); e != nil {
		return nil, nil, nil, e
	}
	list, ok := req["inputs"].([]any)
	if !ok {
		return nil, nil, nil, ovmsBad("Invalid message structure - inputs field is missing or is not an array")
	}
	if len(list) == 0 {
		return nil, nil, nil, ovmsBad("Invalid number of inputs - Expected: 1 or more; Actual: 0")
	}
	seen := map[string]bool{}
	for i, iv := range list {
		in, ok := iv.(map[string]any)
		if !ok {
			return nil, nil, nil, ovmsBad("Invalid message structure - input %d is not an object", i)
		}
		t := &ovmsTensor{}
		if t.name, ok = in["name"].(string); !ok || t.name == "" {
			return nil, nil, nil, ovmsBad("Invalid message structure - input %d has no name", i)
		}
		if seen[t.name] {
			return nil, nil, nil, ovmsBad("Duplicated input name: %s", t.name)
		}
		seen[t.name] = true
		if t.datatype, ok = in["datatype"].(string); !ok {
			return nil, nil, nil, ovmsBad("Invalid message structure - datatype of input %s is missing", t.name)
		}
		if !slices.Contains(ovmsDatatypes, t.datatype) {
			return nil, nil, nil, ovmsBad("Invalid datatype %q of input %s", t.datatype, t.name)
		}
		shape, ok := in["shape"].([]any)
		if !ok {
			return nil, nil, nil, ovmsBad("Invalid message structure - shape of input %s is missing", t.name)
		}
		n := int64(1)
		for _, d := range shape {
			num, isNum := d.(json.Number)
			dim, err := strconv.ParseInt(string(num), 10, 64)
			if !isNum || err != nil || dim < 0 || (dim > 0 && n > (1<<40)/dim) {
				return nil, nil, nil, ovmsBad("Invalid shape of input %s: dimensions must be non-negative integers", t.name)
			}
			t.shape = append(t.shape, dim)
			n *= dim
		}
		if t.shape == nil {
			t.shape = []int64{}
		}
		if e := ovmsParameters(in["parameters"], "input "+t.name); e != nil {
			return nil, nil, nil, e
		}
		data, ok := in["data"].([]any)
		if !ok {
			return nil, nil, nil, ovmsBad("Invalid message structure - data of input %s is missing or is not an array", t.name)
		}
		leaves, ok := ovmsFlatten(data, 0, nil)
		if !ok {
			return nil, nil, nil, ovmsBad("Invalid data of input %s: nested too deeply", t.name)
		}
		if int64(len(leaves)) != n {
			return nil, nil, nil, ovmsBad("Invalid number of elements in input %s - Expected: %d; Actual: %d", t.name, n, len(leaves))
		}
		for j, x := range leaves {
			if !ovmsElementOK(t.datatype, x) {
				return nil, nil, nil, ovmsBad("Invalid data of input %s: element %d is not a valid %s value", t.name, j, t.datatype)
			}
		}
		if leaves == nil {
			leaves = []any{}
		}
		t.data = leaves
		inputs = append(inputs, t)
	}
	if ov, ok := req["outputs"]; ok {
		ol, ok := ov.([]any)
		if !ok {
			return nil, nil, nil, ovmsBad("Invalid message structure - outputs is not an array")
		}
		for i, o := range ol {
			om, ok := o.(map[string]any)
			name, _ := om["name"].(string)
			if !ok || name == "" {
				return nil, nil, nil, ovmsBad("Invalid message structure - output %d has no name", i)
			}
			if e := ovmsParameters(om["parameters"], "output "+name); e != nil {
				return nil, nil, nil, e
			}
			op, _ := om["parameters"].(map[string]any)
			if bd, _ := op["binary_data"].(bool); bd {
				return nil, nil, nil, ovmsBad("binary_data outputs are not supported by the simulator")
			}
			outputs = append(outputs, name)
		}
	}
	return req, inputs, outputs, nil
}

// ovmsCheckModelInputs matches the inputs against what the model declares.
func ovmsCheckModelInputs(m *ovmsKServeModel, inputs []*ovmsTensor) *ovmsErr {
	if m.inputs == nil {
		return nil
	}
	if len(inputs) != len(m.inputs) {
		return ovmsBad("Invalid number of inputs - Expected: %d; Actual: %d", len(m.inputs), len(inputs))
	}
	for _, want := range m.inputs {
		var t *ovmsTensor
		for _, in := range inputs {
			if in.name == want.Name {
				t = in
			}
		}
		if t == nil {
			return ovmsBad("Missing input with specific name - Required input: %s", want.Name)
		}
		if t.datatype != want.Datatype {
			return ovmsBad("Invalid input precision - Expected: %s; Actual: %s", want.Datatype, t.datatype)
		}
		if len(t.shape) != len(want.Shape) {
			return ovmsBad("Invalid number of shape dimensions - Expected: %s; Actual: %s", ovmsShapeString(want.Shape), ovmsShapeString(t.shape))
		}
		for i, d := range want.Shape {
			if d >= 0 && t.shape[i] != d {
				return ovmsBad("Invalid input shape - Expected: %s; Actual: %s", ovmsShapeString(want.Shape), ovmsShapeString(t.shape))
			}
		}
	}
	return nil
}

// serveModel answers /v2/models/{m}[/versions/{v}][/ready|/infer].
func (b *OVMSBackend) serveModel(w http.ResponseWriter, r *http.Request, rest string, body []byte) *ovmsErr {
	parts := strings.Split(rest, "/")
	name, err := url.PathUnescape(parts[0])
	if err != nil || name == "" {
		return &ovmsErr{status: http.StatusNotFound, msg: "Invalid request URL", invalid: true}
	}
	parts = parts[1:]
	version := ""
	if len(parts) >= 2 && parts[0] == "versions" {
		version, _ = url.PathUnescape(parts[1])
		parts = parts[2:]
	}
	action := ""
	switch {
	case len(parts) == 0:
	case len(parts) == 1 && (parts[0] == "ready" || parts[0] == "infer"):
		action = parts[0]
	default:
		return &ovmsErr{status: http.StatusNotFound, msg: "Invalid request URL", invalid: true}
	}
	want := http.MethodGet
	if action == "infer" {
		want = http.MethodPost
	}
	if e := ovmsMethod(r, want); e != nil {
		return e
	}
	m := ovmsFindModel(name)
	if m == nil {
		return &ovmsErr{status: http.StatusNotFound, msg: "Model with requested name is not found"}
	}
	if version == "" {
		version = m.versions[len(m.versions)-1]
	}
	if !slices.Contains(m.versions, version) {
		return &ovmsErr{status: http.StatusNotFound, msg: "Model with requested version is not found"}
	}
	switch action {
	case "":
		inputs, outputs := m.inputs, m.outputs
		if inputs == nil {
			inputs, outputs = []ovmsTensorMeta{}, []ovmsTensorMeta{}
		}
		ovmsWriteJSON(w, map[string]any{"name": m.name, "versions": m.versions, "platform": "OpenVINO", "inputs": inputs, "outputs": outputs})
		return nil
	case "ready":
		if !b.ready(m.name) {
			return &ovmsErr{status: http.StatusServiceUnavailable, msg: "Model with requested version is not loaded yet"}
		}
		ovmsWriteJSON(w, map[string]any{})
		return nil
	}
	if r.Header.Get("Inference-Header-Content-Length") != "" {
		return ovmsBad("the binary data extension is not supported by the simulator")
	}
	req, inputs, outputs, e := ovmsParseInfer(body)
	if e != nil {
		return e
	}
	if e := ovmsCheckModelInputs(m, inputs); e != nil {
		return e
	}
	if !b.ready(m.name) {
		return &ovmsErr{status: http.StatusServiceUnavailable, msg: "Model with requested version is not loaded yet"}
	}
	byName := map[string]*ovmsTensor{}
	for _, t := range inputs {
		byName[t.name] = t
	}
	v, _ := strconv.Atoi(version)
	produced := m.run(v, byName)
	if len(outputs) > 0 {
		var kept []map[string]any
		for _, o := range outputs {
			found := false
			for _, p := range produced {
				if p["name"] == o {
					kept, found = append(kept, p), true
				}
			}
			if !found {
				return ovmsBad("Missing output with specific name - Requested output: %s", o)
			}
		}
		produced = kept
	}
	resp := map[string]any{"model_name": m.name, "model_version": version, "outputs": produced}
	if id, ok := req["id"]; ok {
		resp["id"] = id
	}
	ovmsWriteJSON(w, resp)
	return nil
}

func (b *OVMSBackend) serveServerMetadata(w http.ResponseWriter, r *http.Request) *ovmsErr {
	if e := ovmsMethod(r, http.MethodGet); e != nil {
		return e
	}
	v := b.Version
	if v == "" {
		v = "2025.4.0.sim"
	}
	ovmsWriteJSON(w, map[string]any{"name": "OpenVINO Model Server", "version": v, "extensions": []string{}})
	return nil
}

func (b *OVMSBackend) serveHealth(w http.ResponseWriter, r *http.Request, path string) *ovmsErr {
	if e := ovmsMethod(r, http.MethodGet); e != nil {
		return e
	}
	if path == "/v2/health/ready" && !b.ready("") {
		return &ovmsErr{status: http.StatusServiceUnavailable, msg: "Server is not ready"}
	}
	ovmsWriteJSON(w, map[string]any{})
	return nil
}

// ---- /v3 ----

// ovmsV3Models maps each /v3 model to the routes its graph serves.
var ovmsV3Models = map[string][]string{
	"llama3":       {"/chat/completions", "/completions"},
	"bge-small":    {"/embeddings"},
	"bge-reranker": {"/rerank"},
}

func (b *OVMSBackend) openAI() *OpenAIBackend {
	b.defaultOnce.Do(func() {
		if b.OpenAI == nil {
			b.OpenAI = OpenAI()
		}
	})
	return b.OpenAI
}

func (b *OVMSBackend) serveV3(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, route string, body []byte) *ovmsErr {
	if route == "/models" || strings.HasPrefix(route, "/models/") {
		if e := ovmsMethod(r, http.MethodGet); e != nil {
			return e
		}
		return b.serveV3Models(w, strings.TrimPrefix(strings.TrimPrefix(route, "/models"), "/"))
	}
	switch route {
	case "/chat/completions", "/embeddings", "/completions", "/rerank":
	default:
		return &ovmsErr{status: http.StatusNotFound, msg: "Invalid request URL", invalid: true}
	}
	if e := ovmsMethod(r, http.MethodPost); e != nil {
		return e
	}
	// The graph is picked by the body's model, before the body is parsed
	// further.
	var head struct {
		Model any `json:"model"`
	}
	if json.Unmarshal(body, &head) == nil {
		if name, ok := head.Model.(string); ok {
			routes, known := ovmsV3Models[name]
			if !known {
				return &ovmsErr{status: http.StatusNotFound, msg: "Mediapipe graph definition with requested name is not found"}
			}
			if !slices.Contains(routes, route) {
				return ovmsBad("model %s does not serve /v3%s", name, route)
			}
		}
	}
	switch route {
	case "/completions":
		return b.serveCompletions(s, w, r, f, body)
	case "/rerank":
		return b.serveRerank(w, body)
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path = "/v1" + route
	r2.URL.RawPath = ""
	b.openAI().Serve(s, w, r2, body, f)
	return nil
}

func (b *OVMSBackend) serveV3Models(w http.ResponseWriter, id string) *ovmsErr {
	names := make([]string, 0, len(ovmsV3Models))
	for n := range ovmsV3Models {
		names = append(names, n)
	}
	sort.Strings(names)
	entry := func(n string) map[string]any {
		return map[string]any{"id": n, "object": "model", "created": 1735689600, "owned_by": "OVMS"}
	}
	if id != "" {
		if _, ok := ovmsV3Models[id]; !ok {
			return &ovmsErr{status: http.StatusNotFound, msg: "Model not found"}
		}
		ovmsWriteJSON(w, entry(id))
		return nil
	}
	data := make([]any, 0, len(names))
	for _, n := range names {
		data = append(data, entry(n))
	}
	ovmsWriteJSON(w, map[string]any{"object": "list", "data": data})
	return nil
}

// ovmsParseObject decodes a /v3 body into an object.
func ovmsParseObject(body []byte) (map[string]any, *ovmsErr) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, ovmsBad("Cannot parse JSON body")
	}
	req, ok := v.(map[string]any)
	if !ok {
		return nil, ovmsBad("Request is not a JSON object")
	}
	return req, nil
}

// ovmsField checks an optional field's JSON type: "string", "number",
// "integer", "bool", "object" or "array".
func ovmsField(req map[string]any, name, kind string) *ovmsErr {
	v, ok := req[name]
	if !ok || v == nil {
		return nil
	}
	good := false
	switch kind {
	case "string":
		_, good = v.(string)
	case "bool":
		_, good = v.(bool)
	case "object":
		_, good = v.(map[string]any)
	case "array":
		_, good = v.([]any)
	case "number", "integer":
		n, isNum := v.(json.Number)
		if isNum && kind == "integer" {
			_, err := n.Int64()
			isNum = err == nil
		}
		good = isNum
	}
	if !good {
		return ovmsBad("%s is not a %s", name, kind)
	}
	return nil
}

func ovmsNumber(req map[string]any, name string) (float64, bool) {
	n, ok := req[name].(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

var ovmsCompletionFields = map[string]string{
	"model": "string", "prompt": "string", "stream": "bool", "stream_options": "object", "max_tokens": "integer",
	"ignore_eos": "bool", "include_stop_str_in_output": "bool", "logprobs": "integer", "echo": "bool", "skip_special_tokens": "bool",
	"n": "integer", "best_of": "integer", "length_penalty": "number", "temperature": "number", "top_p": "number", "min_p": "number",
	"top_k": "integer", "repetition_penalty": "number", "frequency_penalty": "number", "presence_penalty": "number", "seed": "integer",
}

func (b *OVMSBackend) serveCompletions(s *Server, w http.ResponseWriter, r *http.Request, f *Fault, body []byte) *ovmsErr {
	req, e := ovmsParseObject(body)
	if e != nil {
		return e
	}
	keys := make([]string, 0, len(ovmsCompletionFields))
	for k := range ovmsCompletionFields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if e := ovmsField(req, k, ovmsCompletionFields[k]); e != nil {
			return e
		}
	}
	for _, k := range []string{"logit_bias", "suffix"} {
		if _, ok := req[k]; ok {
			return ovmsBad("%s is not supported", k)
		}
	}
	model, _ := req["model"].(string)
	if model == "" {
		return ovmsBad("model field is missing in JSON body")
	}
	prompt, ok := req["prompt"].(string)
	if !ok {
		return ovmsBad("prompt is not a string")
	}
	if t, ok := ovmsNumber(req, "temperature"); ok && t < 0 {
		return ovmsBad("temperature out of range(0.0, 2.0)")
	}
	if p, ok := ovmsNumber(req, "top_p"); ok && (p <= 0 || p > 1) {
		return ovmsBad("top_p out of range(0.0, 1.0)")
	}
	maxTokens := 0
	if m, ok := ovmsNumber(req, "max_tokens"); ok {
		if m < 1 {
			return ovmsBad("max_tokens value should be greater than 0")
		}
		maxTokens = int(m)
	}
	switch st := req["stop"].(type) {
	case nil, string:
	case []any:
		if len(st) > 4 {
			return ovmsBad("stop array must have no more than 4 strings")
		}
		for _, x := range st {
			if _, ok := x.(string); !ok {
				return ovmsBad("stop array contains non string element")
			}
		}
	default:
		return ovmsBad("stop is not a string or array of strings")
	}
	stream, _ := req["stream"].(bool)
	includeUsage := false
	if so, ok := req["stream_options"].(map[string]any); ok {
		if !stream {
			return ovmsBad("stream_options provided, but stream not set to true")
		}
		for k, v := range so {
			if k != "include_usage" {
				return ovmsBad("Found unexpected stream options. Properties accepted in stream_options: include_usage")
			}
			if includeUsage, ok = v.(bool); !ok {
				return ovmsBad("stream_options.include_usage is not a boolean")
			}
		}
	}
	a := ollamaAnswer{in: Words(prompt), reason: "stop", text: "echo: " + prompt}
	a.truncate(maxTokens)
	created := time.Now().Unix()
	usage := map[string]any{"prompt_tokens": a.in, "completion_tokens": a.out, "total_tokens": a.in + a.out}
	if !stream {
		s.AddUsage(a.in, a.out)
		ovmsWriteJSON(w, map[string]any{"choices": []any{map[string]any{"finish_reason": a.reason, "index": 0, "logprobs": nil, "text": a.text}},
			"created": created, "model": model, "object": "text_completion", "usage": usage})
		return nil
	}
	sse := &oaiCountingSSE{SSE: NewSSE(s, w, r, f), f: f}
	chunk := func(text string, finish any, u any) {
		c := map[string]any{"choices": []any{map[string]any{"finish_reason": finish, "index": 0, "logprobs": nil, "text": text}},
			"created": created, "model": model, "object": "text_completion"}
		if finish == "usage" {
			c["choices"] = []any{}
		}
		if includeUsage {
			c["usage"] = u
		}
		data, _ := json.Marshal(c)
		sse.Send("", string(data))
	}
	for _, p := range oaiPieces(a.text, 3) {
		chunk(p, nil, nil)
	}
	chunk("", a.reason, nil)
	if includeUsage {
		chunk("", "usage", usage)
	}
	if sse.delivers() {
		s.AddUsage(a.in, a.out)
	}
	sse.Send("", "[DONE]")
	return nil
}

// ---- rerank ----

func (b *OVMSBackend) serveRerank(w http.ResponseWriter, body []byte) *ovmsErr {
	req, e := ovmsParseObject(body)
	if e != nil {
		return e
	}
	for _, f := range [][2]string{{"model", "string"}, {"query", "string"}, {"documents", "array"}, {"top_n", "integer"}, {"return_documents", "bool"}} {
		if e := ovmsField(req, f[0], f[1]); e != nil {
			return e
		}
	}
	for _, k := range []string{"rank_fields", "max_chunks_per_doc"} {
		if _, ok := req[k]; ok {
			return ovmsBad("%s is not supported", k)
		}
	}
	model, _ := req["model"].(string)
	query, _ := req["query"].(string)
	if model == "" {
		return ovmsBad("model field is missing in JSON body")
	}
	if query == "" {
		return ovmsBad("query field is missing in JSON body")
	}
	raw, ok := req["documents"].([]any)
	if !ok {
		return ovmsBad("documents field is missing in JSON body")
	}
	if len(raw) == 0 {
		return ovmsBad("documents list is empty")
	}
	limit := b.MaxRerankDocuments
	if limit <= 0 {
		limit = 100
	}
	if len(raw) > limit {
		return ovmsBad("Number of documents exceeds max_allowed_docs")
	}
	docs := make([]string, len(raw))
	for i, d := range raw {
		if docs[i], ok = d.(string); !ok {
			return ovmsBad("documents must be a list of strings")
		}
	}
	topN := len(docs)
	if n, ok := ovmsNumber(req, "top_n"); ok {
		if n < 1 {
			return ovmsBad("top_n must be greater than 0")
		}
		topN = min(topN, int(n))
	}
	returnDocs, _ := req["return_documents"].(bool)
	type scored struct {
		i     int
		score float64
	}
	results := make([]scored, len(docs))
	for i, d := range docs {
		results[i] = scored{i, OVMSRelevance(query, d)}
	}
	sort.SliceStable(results, func(a, b int) bool { return results[a].score > results[b].score })
	out := make([]any, 0, topN)
	for _, r := range results[:topN] {
		m := map[string]any{"index": r.i, "relevance_score": r.score}
		if returnDocs {
			m["document"] = docs[r.i]
		}
		out = append(out, m)
	}
	ovmsWriteJSON(w, map[string]any{"results": out})
	return nil
}

// OVMSRelevance is the simulated reranker's score of doc for query: the
// share of the query's words (case-folded) found in doc, squeezed into
// (0, 1).
func OVMSRelevance(query, doc string) float64 {
	words := map[string]bool{}
	for _, w := range strings.Fields(strings.ToLower(doc)) {
		words[strings.Trim(w, ".,;:!?\"'")] = true
	}
	q := strings.Fields(strings.ToLower(query))
	hits := 0
	for _, w := range q {
		if words[strings.Trim(w, ".,;:!?\"'")] {
			hits++
		}
	}
	return (float64(hits) + 0.01) / (float64(len(q)) + 0.02)
}
