package ovms

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// HeaderInferenceLength is the header of the KServe binary data extension:
// the length of the JSON part of a body, after which raw tensor bytes follow.
const HeaderInferenceLength = "Inference-Header-Content-Length"

type inferBody struct {
	ID         string         `json:"id,omitempty"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Inputs     []wireInput    `json:"inputs"`
	Outputs    []wireOutput   `json:"outputs,omitempty"`
}

type wireInput struct {
	Name       string         `json:"name"`
	Shape      []int64        `json:"shape"`
	Datatype   string         `json:"datatype"`
	Parameters map[string]any `json:"parameters,omitempty"`
	Data       any            `json:"data"`
}

type wireOutput struct {
	Name string `json:"name"`
}

// modelPath returns /v2/models/{model}[/versions/{version}], escaped.
func modelPath(model, version string) string {
	p := "/v2/models/" + url.PathEscape(model)
	if version != "" {
		p += "/versions/" + url.PathEscape(version)
	}
	return p
}

func checkInfer(r *messages.InferRequest) error {
	ci := &r.Call
	if r.Model == "" {
		return invalid(ci, "model is required")
	}
	if len(r.Inputs) == 0 {
		return invalid(ci, "at least one input tensor is required")
	}
	seen := map[string]bool{}
	for i, t := range r.Inputs {
		if err := CheckTensor(t); err != nil {
			if strings.Contains(err.Error(), "binary data extension") {
				return unsupported(ci, "input %d: %v", i, err)
			}
			return invalid(ci, "input %d: %v", i, err)
		}
		if seen[t.Name] {
			return invalid(ci, "input %q appears twice", t.Name)
		}
		seen[t.Name] = true
	}
	seen = map[string]bool{}
	for _, o := range r.Outputs {
		if o == "" {
			return invalid(ci, "an output name is empty")
		}
		if seen[o] {
			return invalid(ci, "output %q is asked for twice", o)
		}
		seen[o] = true
	}
	if err := checkParameters(r.Parameters); err != nil {
		return invalid(ci, "request %v", err)
	}
	return nil
}

func buildInferBody(r *messages.InferRequest) inferBody {
	b := inferBody{ID: r.ID, Parameters: r.Parameters, Inputs: make([]wireInput, len(r.Inputs))}
	for i, t := range r.Inputs {
		shape := t.Shape
		if shape == nil {
			shape = []int64{}
		}
		b.Inputs[i] = wireInput{Name: t.Name, Shape: shape, Datatype: t.Datatype, Parameters: t.Parameters, Data: wireData(t.Data)}
	}
	for _, o := range r.Outputs {
		b.Outputs = append(b.Outputs, wireOutput{Name: o})
	}
	return b
}

func doInfer(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.InferRequest) (messages.Response, error) {
	ex := kserveExchange(modelPath(r.Model, r.Version)+"/infer", buildInferBody(r))
	resp, err := sendKServe(ctx, c, call, ex)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	limit := c.MaxBody
	if limit <= 0 {
		limit = providers.DefaultMaxBody
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, providers.ContextError(ctx, call, err, messages.ClassConnection, "reading response body")
	}
	if int64(len(body)) > limit {
		return nil, malformed(call, fmt.Sprintf("response body over %d bytes", limit), nil)
	}
	headerLen := -1
	if v := resp.Header.Get(HeaderInferenceLength); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 0 {
			return nil, malformed(call, fmt.Sprintf("bad %s %q", HeaderInferenceLength, v), err)
		}
		headerLen = n
	}
	out, err := DecodeInferResponse(body, headerLen)
	if err != nil {
		return nil, malformed(call, "decoding inference answer", err)
	}
	out.Meta = call.Meta()
	return out, nil
}

type inferResponse struct {
	ModelName    string            `json:"model_name"`
	ModelVersion string            `json:"model_version"`
	ID           string            `json:"id"`
	Outputs      *[]responseTensor `json:"outputs"`
}

type responseTensor struct {
	Name       string                     `json:"name"`
	Shape      *[]int64                   `json:"shape"`
	Datatype   string                     `json:"datatype"`
	Parameters map[string]json.RawMessage `json:"parameters"`
	Data       json.RawMessage            `json:"data"`
}

// DecodeInferResponse decodes a KServe v2 inference answer into an
// InferResponse (without Meta), converting each output's data — flat or
// nested, in row-major order — into the Go slice messages.Tensor prescribes
// for its datatype, and checking that it holds exactly the product of its
// shape. headerLength is the Inference-Header-Content-Length of a binary
// data extension answer (the JSON part's length; the raw bytes of the
// outputs whose parameters give binary_data_size follow, in output order),
// or negative for an all-JSON body.
//
// It returns an error for a body that is not such an answer: not JSON, no
// outputs array, an output without name, shape or datatype, an unknown
// datatype, data of the wrong type or range, an element count that does not
// match the shape, binary sizes that do not add up. It never panics and
// allocates no more than the body's size suggests. Safe for concurrent use.
func DecodeInferResponse(body []byte, headerLength int) (*messages.InferResponse, error) {
	jsonPart, binPart := body, []byte(nil)
	if headerLength >= 0 {
		if headerLength > len(body) {
			return nil, fmt.Errorf("%s %d exceeds the body's %d bytes", HeaderInferenceLength, headerLength, len(body))
		}
		jsonPart, binPart = body[:headerLength], body[headerLength:]
	}
	dec := json.NewDecoder(bytes.NewReader(jsonPart))
	var w inferResponse
	if err := dec.Decode(&w); err != nil {
		return nil, err
	}
	if w.Outputs == nil {
		return nil, errors.New("answer without outputs")
	}
	out := &messages.InferResponse{Model: w.ModelName, Version: w.ModelVersion, ID: w.ID, Outputs: make([]messages.Tensor, 0, len(*w.Outputs))}
	for i, o := range *w.Outputs {
		t, rest, err := decodeTensor(o, binPart)
		if err != nil {
			return nil, fmt.Errorf("output %d (%q): %w", i, o.Name, err)
		}
		binPart = rest
		out.Outputs = append(out.Outputs, t)
	}
	if len(binPart) != 0 {
		return nil, fmt.Errorf("%d bytes of binary data belong to no output", len(binPart))
	}
	return out, nil
}

// decodeTensor decodes one output, taking its bytes from the front of bin
// when it is binary; it returns the rest of bin.
func decodeTensor(o responseTensor, bin []byte) (messages.Tensor, []byte, error) {
	if o.Name == "" {
		return messages.Tensor{}, nil, errors.New("output without a name")
	}
	if o.Shape == nil {
		return messages.Tensor{}, nil, errors.New("output without a shape")
	}
	dt, ok := dtypes[o.Datatype]
	if !ok {
		return messages.Tensor{}, nil, fmt.Errorf("unknown datatype %q", o.Datatype)
	}
	n, ok := elements(*o.Shape)
	if !ok {
		return messages.Tensor{}, nil, fmt.Errorf("shape %v has a negative dimension or too many elements", *o.Shape)
	}
	t := messages.Tensor{Name: o.Name, Datatype: o.Datatype, Shape: *o.Shape}
	var params map[string]any
	for k, raw := range o.Parameters {
		if k == "binary_data_size" {
			continue
		}
		var v any
		if json.Unmarshal(raw, &v) == nil {
			if params == nil {
				params = map[string]any{}
			}
			params[k] = v
		}
	}
	t.Parameters = params
	var data any
	if size, ok := o.Parameters["binary_data_size"]; ok && providers.IsJSONNull(o.Data) {
		var sz int64
		if err := json.Unmarshal(size, &sz); err != nil || sz < 0 {
			return messages.Tensor{}, nil, fmt.Errorf("bad binary_data_size %s", size)
		}
		if sz > int64(len(bin)) {
			return messages.Tensor{}, nil, fmt.Errorf("binary_data_size %d with %d bytes left", sz, len(bin))
		}
		var err error
		if data, err = decodeBinary(o.Datatype, dt, bin[:sz]); err != nil {
			return messages.Tensor{}, nil, err
		}
		bin = bin[sz:]
	} else {
		if providers.IsJSONNull(o.Data) {
			return messages.Tensor{}, nil, errors.New("output without data")
		}
		dec := json.NewDecoder(bytes.NewReader(o.Data))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return messages.Tensor{}, nil, err
		}
		if _, isList := v.([]any); !isList {
			return messages.Tensor{}, nil, errors.New("data is not an array")
		}
		leaves, err := flatten(v, 0, nil)
		if err != nil {
			return messages.Tensor{}, nil, err
		}
		if data, err = convert(o.Datatype, dt, leaves); err != nil {
			return messages.Tensor{}, nil, err
		}
	}
	got, _ := dataLen(dt, data)
	if int64(got) != n {
		return messages.Tensor{}, nil, fmt.Errorf("%d elements for shape %v, which holds %d", got, t.Shape, n)
	}
	t.Data = data
	return t, bin, nil
}

// kserveExchange describes a request to a /v2 path: a POST of body, or a
// GET when body is nil, with the optional key and the KServe error decoder.
func kserveExchange(path string, body any) *providers.Exchange {
	return providers.BearerExchange(path, body, "", DecodeError)
}

// sendKServe sends ex, whose path is a KServe route (/v2/…), to the server
// root. The endpoint's base URL may be the root or end in "/v3" (the /v3
// dialect accepts both, see V3); the KServe routes live beside /v3, so that
// suffix is dropped for them. call.Result is filled as c.Send fills it.
func sendKServe(ctx context.Context, c *providers.Client, call *providers.Call, ex *providers.Exchange) (*http.Response, error) {
	root, ok := strings.CutSuffix(strings.TrimRight(call.BaseURL, "/"), "/v3")
	if !ok {
		return c.Send(ctx, call, ex)
	}
	at := *call
	at.BaseURL = root
	resp, err := c.Send(ctx, &at, ex)
	call.Result = at.Result
	return resp, err
}
