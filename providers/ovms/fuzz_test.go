package ovms_test

import (
	"net/http"
	"reflect"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/ovms"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeInferResponse(f *testing.F) {
	seeds := []struct {
		body      string
		headerLen int
	}{
		{`{"model_name":"resnet","model_version":"1","id":"7","outputs":[{"name":"scores","shape":[1,2],"datatype":"FP32","data":[1.5,2]}]}`, -1},
		{`{"model_name":"m","outputs":[{"name":"n","shape":[2,2],"datatype":"INT32","data":[[1,2],[3,4]]},{"name":"s","shape":[1],"datatype":"BYTES","data":["x"]}]}`, -1},
		{`{"model_name":"m","outputs":[{"name":"b","shape":[2],"datatype":"BOOL","data":[true,0]},{"name":"f","shape":[1],"datatype":"FP64","data":["NaN"]}]}`, -1},
		{`{"model_name":"m","outputs":[{"name":"y","shape":[2],"datatype":"FP16","parameters":{"binary_data_size":4}}]}` + "\x00\x3c\x00\xc0", 94},
		{`{"model_name":"m","outputs":[{"name":"y","shape":[1],"datatype":"BYTES","parameters":{"binary_data_size":7}}]}` + "\x03\x00\x00\x00abc", 96},
		{`{"outputs":[{"name":"y","shape":[1000000000000],"datatype":"UINT64","data":[18446744073709551615]}]}`, -1},
		{`{"outputs":null}`, -1},
		{`[]`, 0},
	}
	for _, s := range seeds {
		f.Add([]byte(s.body), s.headerLen)
	}
	f.Fuzz(func(t *testing.T, body []byte, headerLen int) {
		out, err := ovms.DecodeInferResponse(body, headerLen)
		if err != nil {
			require.Nil(t, out, "a response and an error")
			return
		}
		for _, o := range out.Outputs {
			// Every output is a valid tensor of the Go type its datatype
			// prescribes, holding the product of its shape.
			n := int64(1)
			for _, d := range o.Shape {
				require.GreaterOrEqual(t, d, int64(0), "negative dimension in %v", o.Shape)
				n *= d
			}
			v := reflect.ValueOf(o.Data)
			require.Equal(t, reflect.Slice, v.Kind(), "output %q: %T of %d for shape %v", o.Name, o.Data, v.Len(), o.Shape)
			require.Equal(t, n, int64(v.Len()), "output %q: %T of %d for shape %v", o.Name, o.Data, v.Len(), o.Shape)
			want := map[string]string{"BOOL": "[]bool", "UINT8": "[]int32", "UINT16": "[]int32", "INT8": "[]int32", "INT16": "[]int32", "INT32": "[]int32",
				"UINT32": "[]int64", "UINT64": "[]int64", "INT64": "[]int64", "FP16": "[]float32", "FP32": "[]float32", "FP64": "[]float64", "BYTES": "[]string"}[o.Datatype]
			got := v.Type().String()
			require.Equal(t, want, got, "output %q (%s) holds %s, want %s", o.Name, o.Datatype, got, want)
		}
	})
}

func FuzzDecodeError(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{404, `{"error":"Model with requested name is not found"}`},
		{400, `{"error":"Invalid input precision - Expected: FP32; Actual: INT64"}`},
		{503, `{"error":"Model with requested version is not loaded yet"}`},
		{412, `{"error":"The file is not valid json"}`},
		{500, `{"error":{"message":"x"}}`},
		{502, `<html>bad gateway</html>`},
		{401, "Unauthorized"},
		{302, ``},
		{0, `null`},
		{400, `{"message":"vllm style"}`},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, start := range []messages.ErrorClass{messages.ClassUnknown, providers.ClassifyStatus(status)} {
			e := &messages.UpstreamError{Status: status, Class: start}
			ovms.DecodeError(status, http.Header{}, body, e)
			require.NotEqual(t, messages.ClassUnknown, e.Class, "class not set for status %d body %q", status, body)
			require.LessOrEqual(t, len(e.Message), 600, "message %q", e.Message)
			if utf8.Valid(body) {
				require.True(t, utf8.ValidString(e.Message), "message %q", e.Message)
			}
			_ = e.Error()
		}
	})
}
