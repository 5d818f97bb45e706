package ovms_test

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/ovms"
	"github.com/switchyard-ai/switchyard/providers/providertest"
	"github.com/switchyard-ai/switchyard/sim"

	"github.com/stretchr/testify/require"
)

// testKey is a fake key; tests assert it never shows up in errors.
const testKey = "ovms-test-0123456789abcdefSECRET"

func startSim(t testing.TB, b *sim.OVMSBackend, opts ...sim.Option) *sim.Server {
	t.Helper()
	if b == nil {
		b = sim.OVMS()
	}
	return providertest.StartSim(t, b, opts...)
}

type recorder = providertest.Recorder

func newCall(baseURL string, req messages.Request) *providers.Call {
	return providertest.NewCall("ovms", baseURL, testKey, req)
}

func do(t *testing.T, call *providers.Call) (messages.Response, error) {
	t.Helper()
	return providertest.Do(t, ovms.New(), call)
}

func lastBody(t *testing.T, srv *sim.Server) map[string]any {
	t.Helper()
	return providertest.LastBody(t, srv)
}

func upstreamErr(t *testing.T, err error) *messages.UpstreamError {
	t.Helper()
	return providertest.UpstreamError(t, err, testKey)
}

func ptr[T any](v T) *T { return &v }

func fp32(name string, shape []int64, data ...float32) messages.Tensor {
	return messages.Tensor{Name: name, Datatype: "FP32", Shape: shape, Data: data}
}

func TestKind(t *testing.T) {
	require.Equal(t, "ovms", ovms.New().Kind(), "Kind()")
}

func TestInfer(t *testing.T) {
	tests := []struct {
		name      string
		req       messages.InferRequest
		wantPath  string
		wantModel string
		wantVer   string
		want      []messages.Tensor
	}{
		{
			name:     "resnet latest version",
			req:      messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3.5, -1)}},
			wantPath: "/v2/models/resnet/infer", wantModel: "resnet", wantVer: "2",
			want: []messages.Tensor{
				{Name: "scores", Datatype: "FP32", Shape: []int64{1, 2}, Data: []float32{11, 7}},
				{Name: "label", Datatype: "INT64", Shape: []int64{1}, Data: []int64{2}},
			},
		},
		{
			name: "resnet version 1, batch of 2, one output, id and parameters",
			req: messages.InferRequest{Model: "resnet", Version: "1", ID: "req-42", Outputs: []string{"label"},
				Parameters: map[string]any{"priority": 1, "note": "x"},
				Inputs:     []messages.Tensor{{Name: "input", Datatype: "FP32", Shape: []int64{2, 4}, Data: []float32{0, 0, 9, 1, 5, 4, 3, 2}, Parameters: map[string]any{"content_type": "raw"}}}},
			wantPath: "/v2/models/resnet/versions/1/infer", wantModel: "resnet", wantVer: "1",
			want: []messages.Tensor{{Name: "label", Datatype: "INT64", Shape: []int64{2}, Data: []int64{2, 0}}},
		},
		{
			name:     "tokenizer BYTES in, INT64 out",
			req:      messages.InferRequest{Model: "tokenizer", Inputs: []messages.Tensor{{Name: "texts", Datatype: "BYTES", Shape: []int64{2}, Data: []string{"hello world", "hi"}}}},
			wantPath: "/v2/models/tokenizer/infer", wantModel: "tokenizer", wantVer: "1",
			want: []messages.Tensor{
				{Name: "input_ids", Datatype: "INT64", Shape: []int64{2, 2}, Data: []int64{sim.OVMSTokenID("hello"), sim.OVMSTokenID("world"), sim.OVMSTokenID("hi"), 0}},
				{Name: "attention_mask", Datatype: "INT64", Shape: []int64{2, 2}, Data: []int64{1, 1, 1, 0}},
			},
		},
	}
	// Every datatype, a scalar and an empty tensor round-trip through the
	// identity model.
	every := []messages.Tensor{
		{Name: "b", Datatype: "BOOL", Shape: []int64{3}, Data: []bool{true, false, true}},
		{Name: "u8", Datatype: "UINT8", Shape: []int64{2}, Data: []int32{0, 255}},
		{Name: "i8", Datatype: "INT8", Shape: []int64{2}, Data: []int32{-128, 127}},
		{Name: "u16", Datatype: "UINT16", Shape: []int64{1}, Data: []int32{65535}},
		{Name: "i16", Datatype: "INT16", Shape: []int64{1}, Data: []int32{-32768}},
		{Name: "i32", Datatype: "INT32", Shape: []int64{2, 1}, Data: []int32{math.MinInt32, math.MaxInt32}},
		{Name: "u32", Datatype: "UINT32", Shape: []int64{1}, Data: []int64{math.MaxUint32}},
		{Name: "u64", Datatype: "UINT64", Shape: []int64{1}, Data: []int64{math.MaxInt64}},
		{Name: "i64", Datatype: "INT64", Shape: []int64{2}, Data: []int64{math.MinInt64, 1 << 60}},
		{Name: "f16", Datatype: "FP16", Shape: []int64{2}, Data: []float32{0.5, -65504}},
		{Name: "f32", Datatype: "FP32", Shape: []int64{}, Data: []float32{3.4028235e38}},
		{Name: "f64", Datatype: "FP64", Shape: []int64{2}, Data: []float64{math.Pi, -1e300}},
		{Name: "s", Datatype: "BYTES", Shape: []int64{1, 2}, Data: []string{"héllo", ""}},
		{Name: "z", Datatype: "FP32", Shape: []int64{0, 3}, Data: []float32{}},
	}
	tests = append(tests, struct {
		name      string
		req       messages.InferRequest
		wantPath  string
		wantModel string
		wantVer   string
		want      []messages.Tensor
	}{name: "identity, every datatype", req: messages.InferRequest{Model: "identity", Inputs: every}, wantPath: "/v2/models/identity/infer", wantModel: "identity", wantVer: "1"})
	sorted := slices.Clone(every)
	slices.SortFunc(sorted, func(a, b messages.Tensor) int { return strings.Compare(a.Name, b.Name) })
	tests[len(tests)-1].want = sorted

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			req := tt.req
			call := newCall(srv.URL, &req)
			resp, err := do(t, call)
			require.NoError(t, err)
			ir := resp.(*messages.InferResponse)
			require.Equal(t, tt.wantModel, ir.Model, "model %q version %q id %q", ir.Model, ir.Version, ir.ID)
			require.Equal(t, tt.wantVer, ir.Version, "model %q version %q id %q", ir.Model, ir.Version, ir.ID)
			require.Equal(t, req.ID, ir.ID, "model %q version %q id %q", ir.Model, ir.Version, ir.ID)
			require.Len(t, ir.Outputs, len(tt.want), "%d outputs, want %d: %+v", len(ir.Outputs), len(tt.want), ir.Outputs)
			for i, w := range tt.want {
				got := ir.Outputs[i]
				require.Equal(t, w.Name, got.Name, "output %d = %+v (%T), want %+v (%T)", i, got, got.Data, w, w.Data)
				require.Equal(t, w.Datatype, got.Datatype, "output %d = %+v (%T), want %+v (%T)", i, got, got.Data, w, w.Data)
				require.True(t, slices.Equal(got.Shape, w.Shape), "output %d = %+v (%T), want %+v (%T)", i, got, got.Data, w, w.Data)
				require.True(t, reflect.DeepEqual(got.Data, w.Data), "output %d = %+v (%T), want %+v (%T)", i, got, got.Data, w, w.Data)
			}
			require.Equal(t, call.RequestID, ir.RequestID, "meta %+v", ir.Meta)
			require.Equal(t, "sim-"+call.RequestID, ir.UpstreamRequestID, "meta %+v", ir.Meta)
			require.Equal(t, "primary", ir.Key, "meta %+v", ir.Meta)
			rec := srv.Requests()[0]
			require.Equal(t, http.MethodPost, rec.Method, "request %s %s %q", rec.Method, rec.Path, rec.Header.Get("Content-Type"))
			require.Equal(t, tt.wantPath, rec.Path, "request %s %s %q", rec.Method, rec.Path, rec.Header.Get("Content-Type"))
			require.Equal(t, "application/json", rec.Header.Get("Content-Type"), "request %s %s %q", rec.Method, rec.Path, rec.Header.Get("Content-Type"))
			body := lastBody(t, srv)
			inputs := body["inputs"].([]any)
			for i, in := range req.Inputs {
				wi := inputs[i].(map[string]any)
				data, isList := wi["data"].([]any)
				require.True(t, wi["name"] == in.Name, "wire input %v for %+v", wi, in)
				require.True(t, wi["datatype"] == in.Datatype, "wire input %v for %+v", wi, in)
				require.True(t, isList, "wire input %v for %+v", wi, in)
				require.Len(t, data, reflect.ValueOf(in.Data).Len(), "wire input %v for %+v", wi, in)
				_, ok := wi["shape"].([]any)
				require.True(t, ok, "wire shape %v", wi["shape"])
			}
			if req.ID != "" {
				require.True(t, body["id"] == req.ID, "body %v", body)
				require.True(t, body["parameters"].(map[string]any)["note"] == "x", "body %v", body)
			}
			if len(req.Outputs) > 0 {
				require.True(t, body["outputs"].([]any)[0].(map[string]any)["name"] == req.Outputs[0], "outputs %v", body["outputs"])
			}
			if len(req.Outputs) > 0 {
				require.Contains(t, body, "outputs", "outputs not sent")
			}
			require.Equal(t, 0, srv.InvalidCalls(), "the simulator rejected the request")
		})
	}
}

func TestInferErrors(t *testing.T) {
	tests := []struct {
		name          string
		req           messages.InferRequest
		fault         sim.Fault
		notReady      string
		wantClass     messages.ErrorClass
		wantStatus    int
		wantRetryable bool
		wantMessage   string
	}{
		{name: "unknown model", req: messages.InferRequest{Model: "vgg", Inputs: []messages.Tensor{fp32("input", []int64{1}, 1)}},
			wantClass: messages.ClassInvalid, wantStatus: 404, wantMessage: "Model with requested name is not found"},
		{name: "unknown version", req: messages.InferRequest{Model: "resnet", Version: "7", Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3, 4)}},
			wantClass: messages.ClassInvalid, wantStatus: 404, wantMessage: "Model with requested version is not found"},
		{name: "wrong precision", req: messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{{Name: "input", Datatype: "INT64", Shape: []int64{1, 4}, Data: []int64{1, 2, 3, 4}}}},
			wantClass: messages.ClassInvalid, wantStatus: 400, wantMessage: "Invalid input precision - Expected: FP32; Actual: INT64"},
		{name: "wrong shape", req: messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("input", []int64{1, 3}, 1, 2, 3)}},
			wantClass: messages.ClassInvalid, wantStatus: 400, wantMessage: "Invalid input shape - Expected: (-1,4); Actual: (1,3)"},
		{name: "wrong input name", req: messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("pixels", []int64{1, 4}, 1, 2, 3, 4)}},
			wantClass: messages.ClassInvalid, wantStatus: 400, wantMessage: "Missing input with specific name - Required input: input"},
		{name: "unknown output", req: messages.InferRequest{Model: "resnet", Outputs: []string{"logits"}, Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3, 4)}},
			wantClass: messages.ClassInvalid, wantStatus: 400},
		{name: "model not loaded yet", notReady: "resnet", req: messages.InferRequest{Model: "resnet", Inputs: []messages.Tensor{fp32("input", []int64{1, 4}, 1, 2, 3, 4)}},
			wantClass: messages.ClassServer, wantStatus: 503, wantRetryable: true, wantMessage: "Model with requested version is not loaded yet"},
		{name: "500", fault: sim.Fault{Status: 500, Body: `{"error":"Internal inference error"}`}, req: messages.InferRequest{Model: "identity", Inputs: []messages.Tensor{fp32("x", nil, 1)}},
			wantClass: messages.ClassServer, wantStatus: 500, wantRetryable: true, wantMessage: "Internal inference error"},
		{name: "412", fault: sim.Fault{Status: 412, Body: `{"error":"The file is not valid json"}`}, req: messages.InferRequest{Model: "identity", Inputs: []messages.Tensor{fp32("x", nil, 1)}},
			wantClass: messages.ClassInvalid, wantStatus: 412, wantMessage: "The file is not valid json"},
		{name: "503 plain text", fault: sim.Fault{Status: 503, Body: "upstream connect error"}, req: messages.InferRequest{Model: "identity", Inputs: []messages.Tensor{fp32("x", nil, 1)}},
			wantClass: messages.ClassServer, wantStatus: 503, wantRetryable: true, wantMessage: "upstream connect error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := sim.OVMS()
			if tt.notReady != "" {
				b.SetReady(tt.notReady, false)
			}
			srv := startSim(t, b)
			if tt.fault.Status != 0 {
				srv.Inject(tt.fault)
			}
			req := tt.req
			call := newCall(srv.URL, &req)
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v status %d retryable %v; want %v %d %v (%v)", ue.Class, ue.Status, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetryable, ue)
			require.Equal(t, tt.wantStatus, ue.Status, "class %v status %d retryable %v; want %v %d %v (%v)", ue.Class, ue.Status, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetryable, ue)
			require.Equal(t, tt.wantRetryable, ue.Retryable(), "class %v status %d retryable %v; want %v %d %v (%v)", ue.Class, ue.Status, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetryable, ue)
			require.NotEqual(t, "", ue.Message, "message %q, want %q", ue.Message, tt.wantMessage)
			if tt.wantMessage != "" {
				require.Equal(t, tt.wantMessage, ue.Message, "message %q, want %q", ue.Message, tt.wantMessage)
			}
		})
	}
}

// TestInferMalformed feeds answers that are JSON but not valid inference
// answers.
func TestInferMalformed(t *testing.T) {
	req := &messages.InferRequest{Model: "m", Inputs: []messages.Tensor{fp32("x", nil, 1)}}
	tests := []struct{ name, body string }{
		{"not json", `{"outputs": [`},
		{"no outputs", `{"model_name":"m"}`},
		{"count mismatch", `{"model_name":"m","outputs":[{"name":"y","shape":[2,2],"datatype":"FP32","data":[1,2,3]}]}`},
		{"element type", `{"model_name":"m","outputs":[{"name":"y","shape":[2],"datatype":"INT64","data":[1,"2"]}]}`},
		{"fraction in an integer", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"INT32","data":[1.5]}]}`},
		{"int8 out of range", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"INT8","data":[300]}]}`},
		{"fp32 overflow", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32","data":[1e39]}]}`},
		{"unknown datatype", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"BF16","data":[1]}]}`},
		{"negative dimension", `{"model_name":"m","outputs":[{"name":"y","shape":[-1],"datatype":"FP32","data":[1]}]}`},
		{"no shape", `{"model_name":"m","outputs":[{"name":"y","datatype":"FP32","data":[1]}]}`},
		{"no data", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32"}]}`},
		{"data not an array", `{"model_name":"m","outputs":[{"name":"y","shape":[],"datatype":"FP32","data":1}]}`},
		{"no name", `{"model_name":"m","outputs":[{"shape":[1],"datatype":"FP32","data":[1]}]}`},
		{"bytes as numbers", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"BYTES","data":[1]}]}`},
		{"binary size with no bytes", `{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.body)
			}))
			defer hs.Close()
			_, err := do(t, newCall(hs.URL, req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v: %v", ue.Class, ue)
			require.Equal(t, 200, ue.Status, "class %v: %v", ue.Class, ue)
		})
	}
	t.Run("sim fault", func(t *testing.T) {
		srv := startSim(t, nil)
		srv.Inject(sim.Fault{Malformed: true})
		_, err := do(t, newCall(srv.URL, req))
		require.Equal(t, messages.ClassMalformed, upstreamErr(t, err).Class, "class")
	})
}

// TestInferNestedAndBinary decodes nested data and the binary data
// extension.
func TestInferNestedAndBinary(t *testing.T) {
	le := binary.LittleEndian
	var bin []byte
	bin = le.AppendUint32(bin, math.Float32bits(1.5))
	bin = le.AppendUint32(bin, math.Float32bits(-2))
	bin = le.AppendUint16(bin, 0x3c00) // FP16 1.0
	bin = le.AppendUint16(bin, 0xc000) // FP16 -2.0
	bin = append(bin, 0xff, 0x01)      // INT8 -1, 1
	bin = le.AppendUint32(bin, 3)
	bin = append(bin, "abc"...)
	bin = le.AppendUint32(bin, 0)
	bin = le.AppendUint64(bin, 1<<40) // UINT64
	bin = append(bin, 1, 0)           // BOOL
	header := `{"model_name":"m","model_version":"3","outputs":[` +
		`{"name":"f32","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},` +
		`{"name":"nested","shape":[2,2],"datatype":"INT32","data":[[1,2],[3,4]]},` +
		`{"name":"f16","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}},` +
		`{"name":"i8","shape":[2],"datatype":"INT8","parameters":{"binary_data_size":2}},` +
		`{"name":"s","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":11}},` +
		`{"name":"u64","shape":[1],"datatype":"UINT64","parameters":{"binary_data_size":8}},` +
		`{"name":"b","shape":[2],"datatype":"BOOL","parameters":{"binary_data_size":2}}]}`
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set(ovms.HeaderInferenceLength, fmt.Sprint(len(header)))
		_, _ = io.WriteString(w, header)
		_, _ = w.Write(bin)
	}))
	defer hs.Close()
	resp, err := do(t, newCall(hs.URL, &messages.InferRequest{Model: "m", Inputs: []messages.Tensor{fp32("x", nil, 1)}}))
	require.NoError(t, err)
	got := map[string]any{}
	for _, o := range resp.(*messages.InferResponse).Outputs {
		got[o.Name] = o.Data
	}
	want := map[string]any{
		"f32": []float32{1.5, -2}, "nested": []int32{1, 2, 3, 4}, "f16": []float32{1, -2}, "i8": []int32{-1, 1},
		"s": []string{"abc", ""}, "u64": []int64{1 << 40}, "b": []bool{true, false},
	}
	require.True(t, reflect.DeepEqual(got, want), "outputs %v, want %v", got, want)
}

// ---- /v3 ----

func TestV3Chat(t *testing.T) {
	for _, base := range []string{"", "/v3"} {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("base %q stream=%v", base, stream), func(t *testing.T) {
				srv := startSim(t, nil)
				call := newCall(srv.URL+base, &messages.ChatRequest{Model: "llama3", Stream: stream, MaxTokens: 50, Stop: []string{"a", "b", "c", "d"},
					Messages: []messages.Message{{Role: "user", Content: "tell me something nice"}}})
				rec := &recorder{}
				call.Emit = rec.Emit
				resp, err := do(t, call)
				require.NoError(t, err)
				cr := resp.(*messages.ChatResponse)
				in, out := srv.Usage()
				require.Equal(t, "echo: tell me something nice", cr.Content, "response %+v, server usage %d/%d", cr, in, out)
				require.Equal(t, messages.FinishStop, cr.FinishReason, "response %+v, server usage %d/%d", cr, in, out)
				require.Equal(t, in, cr.Usage.InputTokens, "response %+v, server usage %d/%d", cr, in, out)
				require.Equal(t, out, cr.Usage.OutputTokens, "response %+v, server usage %d/%d", cr, in, out)
				require.NotEqual(t, 0, out, "response %+v, server usage %d/%d", cr, in, out)
				require.Equal(t, "/v3/chat/completions", srv.Requests()[0].Path, "path")
				chunks := rec.All()
				if !stream {
					require.Len(t, chunks, 0, "chunks")
					return
				}
				var text strings.Builder
				for i, ch := range chunks {
					require.Equal(t, i, ch.Seq, "seq %d at %d", ch.Seq, i)
					text.WriteString(ch.Text)
				}
				require.Equal(t, cr.Content, text.String(), "chunks %+v", chunks)
				require.Equal(t, messages.ChunkUsage, chunks[len(chunks)-1].Type, "chunks %+v", chunks)
				require.GreaterOrEqual(t, len(chunks), 3, "chunks %+v", chunks)
			})
		}
	}
}

func TestV3Tools(t *testing.T) {
	srv := startSim(t, nil)
	tool := messages.Tool{Name: "get_weather", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}}}`)}
	call := newCall(srv.URL, &messages.ChatRequest{Model: "llama3", Tools: []messages.Tool{tool}, Messages: []messages.Message{{Role: "user", Content: "weather in Oslo"}}})
	resp, err := do(t, call)
	require.NoError(t, err)
	cr := resp.(*messages.ChatResponse)
	require.Len(t, cr.ToolCalls, 1, "response %+v", cr)
	require.Equal(t, "get_weather", cr.ToolCalls[0].Name, "response %+v", cr)
	require.Equal(t, `{"city":"Oslo"}`, string(cr.ToolCalls[0].Arguments), "response %+v", cr)
	require.Equal(t, messages.FinishToolCalls, cr.FinishReason, "response %+v", cr)
}

func TestV3Generate(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			srv := startSim(t, nil)
			call := newCall(srv.URL, &messages.GenerateRequest{Model: "llama3", Prompt: "one two three four five six", MaxTokens: 4, Temperature: ptr(0.5), Stream: stream})
			rec := &recorder{}
			call.Emit = rec.Emit
			resp, err := do(t, call)
			require.NoError(t, err)
			gr := resp.(*messages.GenerateResponse)
			in, out := srv.Usage()
			require.Equal(t, "echo: one two three", gr.Text, "response %+v usage %d/%d", gr, in, out)
			require.Equal(t, messages.FinishLength, gr.FinishReason, "response %+v usage %d/%d", gr, in, out)
			require.Equal(t, in, gr.Usage.InputTokens, "response %+v usage %d/%d", gr, in, out)
			require.Equal(t, out, gr.Usage.OutputTokens, "response %+v usage %d/%d", gr, in, out)
			require.Equal(t, 6, in, "response %+v usage %d/%d", gr, in, out)
			require.Equal(t, 4, out, "response %+v usage %d/%d", gr, in, out)
			body := lastBody(t, srv)
			require.Equal(t, "/v3/completions", srv.Requests()[0].Path, "body %v", body)
			require.True(t, body["max_tokens"] == 4.0, "body %v", body)
			require.True(t, body["prompt"] == "one two three four five six", "body %v", body)
			if stream {
				chunks := rec.All()
				var text strings.Builder
				for _, ch := range chunks {
					text.WriteString(ch.Text)
				}
				require.Equal(t, gr.Text, text.String(), "chunks %+v", chunks)
				require.Equal(t, messages.ChunkUsage, chunks[len(chunks)-1].Type, "chunks %+v", chunks)
				require.GreaterOrEqual(t, len(chunks), 3, "chunks %+v", chunks)
			}
		})
	}
}

func TestV3Embed(t *testing.T) {
	srv := startSim(t, nil)
	inputs := []string{"alpha", "beta gamma", "delta"}
	call := newCall(srv.URL, &messages.EmbedRequest{Model: "bge-small", Inputs: inputs})
	resp, err := do(t, call)
	require.NoError(t, err)
	er := resp.(*messages.EmbedResponse)
	require.Len(t, er.Vectors, 3, "%d vectors", len(er.Vectors))
	for i, in := range inputs {
		require.True(t, slices.Equal(er.Vectors[i], sim.OpenAIEmbedding(in, 8)), "vector %d is not the embedding of %q", i, in)
	}
	require.Equal(t, "/v3/embeddings", srv.Requests()[0].Path, "path")
}

func TestV3Models(t *testing.T) {
	srv := startSim(t, nil)
	resp, err := do(t, newCall(srv.URL, &messages.ModelsRequest{}))
	require.NoError(t, err)
	var ids []string
	for _, m := range resp.(*messages.ModelsResponse).Models {
		ids = append(ids, m.ID)
	}
	require.True(t, slices.Equal(ids, []string{"bge-reranker", "bge-small", "llama3"}), "models %v", ids)
	require.Equal(t, "/v3/models", srv.Requests()[0].Path, "models %v", ids)
}

func TestRerank(t *testing.T) {
	docs := []string{"The cat sat on the mat.", "Dogs bark at cats.", "Quantum chromodynamics", "A cat and a dog"}
	tests := []struct {
		name    string
		req     messages.RerankRequest
		wantIdx []int
	}{
		{"all", messages.RerankRequest{Model: "bge-reranker", Query: "cat on a mat", Documents: docs}, []int{0, 3, 1, 2}},
		{"top 2 with documents", messages.RerankRequest{Model: "bge-reranker", Query: "cat on a mat", Documents: docs, TopN: 2, ReturnDocuments: true}, []int{0, 3}},
	}
	for _, tt := range tests {
		for _, base := range []string{"", "/v3"} {
			t.Run(tt.name+" base "+base, func(t *testing.T) {
				srv := startSim(t, nil)
				req := tt.req
				resp, err := do(t, newCall(srv.URL+base, &req))
				require.NoError(t, err)
				rr := resp.(*messages.RerankResponse)
				var idx []int
				for i, r := range rr.Results {
					idx = append(idx, r.Index)
					want := sim.OVMSRelevance(req.Query, docs[r.Index])
					require.True(t, r.Score == want, "score %v, want %v", r.Score, want)
					if i > 0 {
						require.False(t, r.Score > rr.Results[i-1].Score, "results not in descending order")
					}
					require.Equal(t, req.ReturnDocuments, r.Document != "", "document %q", r.Document)
					if req.ReturnDocuments {
						require.Equal(t, docs[r.Index], r.Document, "document %q", r.Document)
					}
				}
				require.True(t, slices.Equal(idx, tt.wantIdx), "order %v, want %v", idx, tt.wantIdx)
				require.Equal(t, "bge-reranker", rr.Model, "order %v, want %v", idx, tt.wantIdx)
				body := lastBody(t, srv)
				require.Equal(t, "/v3/rerank", srv.Requests()[0].Path, "request %v", body)
				require.True(t, body["query"] == req.Query, "request %s %v", srv.Requests()[0].Path, body)
				require.Len(t, body["documents"].([]any), len(docs), "request %s %v", srv.Requests()[0].Path, body)
				if req.TopN > 0 {
					require.True(t, body["top_n"] == 2.0, "body %v", body)
					require.True(t, body["return_documents"] == true, "body %v", body)
				}
			})
		}
	}
}

func TestRerankMalformed(t *testing.T) {
	req := &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"a", "b"}}
	for _, body := range []string{`{}`, `{"results":[{"index":5,"relevance_score":0.1}]}`, `{"results":[{"index":0}]}`,
		`{"results":[{"index":0,"relevance_score":0.1},{"index":0,"relevance_score":0.2}]}`, `{"results":[{"index":0,"relevance_score":0.1,"document":5}]}`} {
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, body)
		}))
		_, err := do(t, newCall(hs.URL, req))
		hs.Close()
		ue := upstreamErr(t, err)
		require.Equal(t, messages.ClassMalformed, ue.Class, "%s: class %v", body, ue.Class)
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"results":[{"index":1,"relevance_score":0.2,"document":{"text":"b"}},{"index":0,"relevance_score":0.9}]}`)
	}))
	defer hs.Close()
	resp, err := do(t, newCall(hs.URL, req))
	require.NoError(t, err)
	rr := resp.(*messages.RerankResponse)
	require.Equal(t, 0, rr.Results[0].Index, "results %+v", rr.Results)
	require.Equal(t, "b", rr.Results[1].Document, "results %+v", rr.Results)
}

func TestV3Errors(t *testing.T) {
	chat := func(model string, stream bool) messages.Request {
		return &messages.ChatRequest{Model: model, Stream: stream, Messages: []messages.Message{{Role: "user", Content: "x"}}}
	}
	tests := []struct {
		name          string
		apiKey        string
		fault         sim.Fault
		req           messages.Request
		wantClass     messages.ErrorClass
		wantStatus    int
		wantRetryable bool
		wantMessage   string
	}{
		{name: "unknown graph", req: chat("gpt-9", false), wantClass: messages.ClassInvalid, wantStatus: 404, wantMessage: "Mediapipe graph definition with requested name is not found"},
		{name: "embeddings model asked to chat", req: chat("bge-small", true), wantClass: messages.ClassInvalid, wantStatus: 400},
		{name: "wrong api key", apiKey: "server-key", req: chat("llama3", false), wantClass: messages.ClassAuth, wantStatus: 401, wantMessage: "Unauthorized request due to invalid or missing api-key"},
		{name: "rerank with wrong api key", apiKey: "server-key", req: &messages.RerankRequest{Model: "bge-reranker", Query: "q", Documents: []string{"d"}}, wantClass: messages.ClassAuth, wantStatus: 401},
		{name: "rerank too many documents", req: &messages.RerankRequest{Model: "bge-reranker", Query: "q", Documents: make([]string, 101)}, wantClass: messages.ClassInvalid, wantStatus: 400, wantMessage: "Number of documents exceeds max_allowed_docs"},
		{name: "503", fault: sim.Fault{Status: 503}, req: chat("llama3", true), wantClass: messages.ClassServer, wantStatus: 503, wantRetryable: true},
		{name: "500 on completions", fault: sim.Fault{Status: 500, Body: `{"error":"Response generation failed"}`}, req: &messages.GenerateRequest{Model: "llama3", Prompt: "x"}, wantClass: messages.ClassServer, wantStatus: 500, wantRetryable: true, wantMessage: "Response generation failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := sim.OVMS()
			b.APIKey = tt.apiKey
			srv := startSim(t, b)
			if tt.fault.Status != 0 {
				srv.Inject(tt.fault)
			}
			_, err := do(t, newCall(srv.URL, tt.req))
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v status %d retryable %v; want %v %d %v (%v)", ue.Class, ue.Status, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetryable, ue)
			require.Equal(t, tt.wantStatus, ue.Status, "class %v status %d retryable %v; want %v %d %v (%v)", ue.Class, ue.Status, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetryable, ue)
			require.Equal(t, tt.wantRetryable, ue.Retryable(), "class %v status %d retryable %v; want %v %d %v (%v)", ue.Class, ue.Status, ue.Retryable(), tt.wantClass, tt.wantStatus, tt.wantRetryable, ue)
			require.NotEqual(t, "", ue.Message, "message %q, want %q", ue.Message, tt.wantMessage)
			if tt.wantMessage != "" {
				require.Equal(t, tt.wantMessage, ue.Message, "message %q, want %q", ue.Message, tt.wantMessage)
			}
		})
	}
	t.Run("right api key", func(t *testing.T) {
		b := sim.OVMS()
		b.APIKey = testKey
		srv := startSim(t, b)
		_, err := do(t, newCall(srv.URL, chat("llama3", false)))
		require.NoError(t, err)
		// /v2 needs no key at all.
		call := newCall(srv.URL, &messages.InferRequest{Model: "identity", Inputs: []messages.Tensor{fp32("x", nil, 1)}})
		call.Key = providers.NewCredential("none", "")
		_, err = do(t, call)
		require.NoError(t, err)
		_, ok := srv.Requests()[1].Header["Authorization"]
		require.False(t, ok, "Authorization sent without a key")
	})
}

func TestStreamFaults(t *testing.T) {
	tests := []struct {
		name      string
		fault     sim.Fault
		req       messages.Request
		wantClass messages.ErrorClass
	}{
		{"chat cut", sim.Fault{CutAfter: 2}, &messages.ChatRequest{Model: "llama3", Stream: true, Messages: []messages.Message{{Role: "user", Content: "a b c d e f g h"}}}, messages.ClassStreamCut},
		{"chat stall", sim.Fault{StallAfter: 2}, &messages.ChatRequest{Model: "llama3", Stream: true, Messages: []messages.Message{{Role: "user", Content: "a b c"}}}, messages.ClassTimeout},
		{"completions cut", sim.Fault{CutAfter: 1}, &messages.GenerateRequest{Model: "llama3", Stream: true, Prompt: "a b c d e f g"}, messages.ClassStreamCut},
		{"completions stall", sim.Fault{StallAfter: 2}, &messages.GenerateRequest{Model: "llama3", Stream: true, Prompt: "a b c d e f g"}, messages.ClassTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(tt.fault)
			call := newCall(srv.URL, tt.req)
			call.Client.IdleTimeout = 200 * time.Millisecond
			rec := &recorder{}
			call.Emit = rec.Emit
			_, err := do(t, call)
			ue := upstreamErr(t, err)
			require.Equal(t, tt.wantClass, ue.Class, "class %v status %d, want %v: %v", ue.Class, ue.Status, tt.wantClass, ue)
			require.True(t, ue.Retryable(), "class %v status %d, want %v: %v", ue.Class, ue.Status, tt.wantClass, ue)
			require.Equal(t, 200, ue.Status, "class %v status %d, want %v: %v", ue.Class, ue.Status, tt.wantClass, ue)
			require.NotEqual(t, 0, call.Result.ChunksSent, "no chunk before the fault")
			in, out := srv.Usage()
			require.Equal(t, 0, in, "an unfinished stream counted usage %d/%d", in, out)
			require.Equal(t, 0, out, "an unfinished stream counted usage %d/%d", in, out)
		})
	}
}

func TestMalformedV3(t *testing.T) {
	reqs := []messages.Request{
		&messages.ChatRequest{Model: "llama3", Messages: []messages.Message{{Role: "user", Content: "x"}}},
		&messages.GenerateRequest{Model: "llama3", Prompt: "x"},
		&messages.EmbedRequest{Model: "bge-small", Inputs: []string{"x"}},
		&messages.RerankRequest{Model: "bge-reranker", Query: "q", Documents: []string{"d"}},
		&messages.InfoRequest{What: "version"},
	}
	for _, req := range reqs {
		t.Run(req.Operation(), func(t *testing.T) {
			srv := startSim(t, nil)
			srv.Inject(sim.Fault{Malformed: true})
			_, err := do(t, newCall(srv.URL, req))
			ue := upstreamErr(t, err)
			require.Equal(t, messages.ClassMalformed, ue.Class, "class %v: %v", ue.Class, ue)
		})
	}
}

func TestCheck(t *testing.T) {
	a := ovms.New()
	in := func(t ...messages.Tensor) *messages.InferRequest {
		return &messages.InferRequest{Model: "m", Inputs: t}
	}
	tests := []struct {
		name string
		req  messages.Request
		want error
	}{
		{"infer ok", in(fp32("x", []int64{2}, 1, 2)), nil},
		{"infer no model", &messages.InferRequest{Inputs: []messages.Tensor{fp32("x", nil, 1)}}, messages.ErrInvalidRequest},
		{"infer no inputs", &messages.InferRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"length mismatch", in(fp32("x", []int64{2, 2}, 1, 2, 3)), messages.ErrInvalidRequest},
		{"scalar needs one element", in(fp32("x", nil)), messages.ErrInvalidRequest},
		{"negative dimension", in(fp32("x", []int64{-1}, 1)), messages.ErrInvalidRequest},
		{"huge shape", in(fp32("x", []int64{1 << 30, 1 << 30, 1 << 30}, 1)), messages.ErrInvalidRequest},
		{"wrong Go type", in(messages.Tensor{Name: "x", Datatype: "FP32", Shape: []int64{1}, Data: []float64{1}}), messages.ErrInvalidRequest},
		{"INT64 as int", in(messages.Tensor{Name: "x", Datatype: "INT64", Shape: []int64{1}, Data: []int{1}}), messages.ErrInvalidRequest},
		{"unknown datatype", in(messages.Tensor{Name: "x", Datatype: "BF16", Shape: []int64{1}, Data: []float32{1}}), messages.ErrInvalidRequest},
		{"no name", in(fp32("", []int64{1}, 1)), messages.ErrInvalidRequest},
		{"duplicate input", in(fp32("x", nil, 1), fp32("x", nil, 2)), messages.ErrInvalidRequest},
		{"UINT8 out of range", in(messages.Tensor{Name: "x", Datatype: "UINT8", Shape: []int64{1}, Data: []int32{256}}), messages.ErrInvalidRequest},
		{"INT8 out of range", in(messages.Tensor{Name: "x", Datatype: "INT8", Shape: []int64{1}, Data: []int32{-129}}), messages.ErrInvalidRequest},
		{"UINT64 negative", in(messages.Tensor{Name: "x", Datatype: "UINT64", Shape: []int64{1}, Data: []int64{-1}}), messages.ErrInvalidRequest},
		{"UINT32 too big", in(messages.Tensor{Name: "x", Datatype: "UINT32", Shape: []int64{1}, Data: []int64{1 << 32}}), messages.ErrInvalidRequest},
		{"FP32 NaN", in(fp32("x", nil, float32(math.NaN()))), messages.ErrInvalidRequest},
		{"FP16 too big", in(messages.Tensor{Name: "x", Datatype: "FP16", Shape: []int64{1}, Data: []float32{70000}}), messages.ErrInvalidRequest},
		{"FP64 infinite", in(messages.Tensor{Name: "x", Datatype: "FP64", Shape: []int64{1}, Data: []float64{math.Inf(1)}}), messages.ErrInvalidRequest},
		{"BYTES not UTF-8", in(messages.Tensor{Name: "x", Datatype: "BYTES", Shape: []int64{1}, Data: []string{"\xff\xfe"}}), messages.ErrUnsupported},
		{"tensor parameter object", in(messages.Tensor{Name: "x", Datatype: "FP32", Shape: []int64{1}, Data: []float32{1}, Parameters: map[string]any{"a": map[string]any{}}}), messages.ErrInvalidRequest},
		{"request parameter list", &messages.InferRequest{Model: "m", Inputs: []messages.Tensor{fp32("x", nil, 1)}, Parameters: map[string]any{"a": []int{1}}}, messages.ErrInvalidRequest},
		{"empty output name", &messages.InferRequest{Model: "m", Inputs: []messages.Tensor{fp32("x", nil, 1)}, Outputs: []string{""}}, messages.ErrInvalidRequest},
		{"duplicate output", &messages.InferRequest{Model: "m", Inputs: []messages.Tensor{fp32("x", nil, 1)}, Outputs: []string{"y", "y"}}, messages.ErrInvalidRequest},
		{"rerank ok", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"d"}}, nil},
		{"rerank no query", &messages.RerankRequest{Model: "m", Documents: []string{"d"}}, messages.ErrInvalidRequest},
		{"rerank no documents", &messages.RerankRequest{Model: "m", Query: "q"}, messages.ErrInvalidRequest},
		{"rerank negative top", &messages.RerankRequest{Model: "m", Query: "q", Documents: []string{"d"}, TopN: -1}, messages.ErrInvalidRequest},
		{"chat ok", &messages.ChatRequest{Model: "m", Messages: []messages.Message{{Role: "user", Content: "x"}}}, nil},
		{"chat five stops", &messages.ChatRequest{Model: "m", Stop: []string{"a", "b", "c", "d", "e"}, Messages: []messages.Message{{Role: "user", Content: "x"}}}, messages.ErrInvalidRequest},
		{"chat no messages", &messages.ChatRequest{Model: "m"}, messages.ErrInvalidRequest},
		{"generate five stops", &messages.GenerateRequest{Model: "m", Prompt: "p", Stop: []string{"a", "b", "c", "d", "e"}}, messages.ErrInvalidRequest},
		{"embed dimensions", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}, Dimensions: 8}, messages.ErrUnsupported},
		{"embed normalize", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}, Normalize: ptr(true)}, messages.ErrUnsupported},
		{"embed sparse", &messages.EmbedRequest{Model: "m", Inputs: []string{"x"}, Sparse: true}, messages.ErrUnsupported},
		{"embed 600 inputs", &messages.EmbedRequest{Model: "m", Inputs: slices.Repeat([]string{"x"}, 600)}, nil},
		{"models", &messages.ModelsRequest{}, nil},
		{"info show", &messages.InfoRequest{What: "show", Model: "m"}, messages.ErrUnsupported},
		{"info ready", &messages.InfoRequest{What: "ready"}, nil},
		{"responses", &messages.ResponsesRequest{Model: "m", Input: []messages.Message{{Role: "user", Content: "x"}}}, messages.ErrUnsupported},
		{"tokenize", &messages.TokenizeRequest{Model: "m", Text: "x"}, messages.ErrUnsupported},
		{"count tokens", &messages.CountTokensRequest{}, messages.ErrUnsupported},
		{"nil", nil, messages.ErrUnsupported},
		{"typed nil", (*messages.InferRequest)(nil), messages.ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := a.Check(tt.req)
			if tt.want == nil {
				require.NoError(t, err, "Check")
				return
			}
			var re *messages.RequestError
			require.ErrorIs(t, err, tt.want, "Check = %v, want %v", err, tt.want)
			require.ErrorAs(t, err, &re, "Check = %v, want %v", err, tt.want)
			if tt.req == nil {
				return
			}
			srv := startSim(t, nil)
			_, derr := do(t, newCall(srv.URL, tt.req))
			ue := upstreamErr(t, derr)
			require.Equal(t, messages.ClassInvalid, ue.Class, "Do: class %v after %d calls", ue.Class, srv.Calls())
			require.Equal(t, 0, srv.Calls(), "Do: class %v after %d calls", ue.Class, srv.Calls())
		})
	}
}
