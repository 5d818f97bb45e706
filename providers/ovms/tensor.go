package ovms

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
)

// KServe v2 tensor datatypes and the Go slice type messages.Tensor.Data holds
// for each (see the messages.Tensor doc).
const (
	BOOL   = "BOOL"   // []bool
	UINT8  = "UINT8"  // []int32
	UINT16 = "UINT16" // []int32
	UINT32 = "UINT32" // []int64
	UINT64 = "UINT64" // []int64 (values above math.MaxInt64 are not representable)
	INT8   = "INT8"   // []int32
	INT16  = "INT16"  // []int32
	INT32  = "INT32"  // []int32
	INT64  = "INT64"  // []int64
	FP16   = "FP16"   // []float32
	FP32   = "FP32"   // []float32
	FP64   = "FP64"   // []float64
	BYTES  = "BYTES"  // []string
)

// elem is the Go element type of a datatype's slice.
type elem int

const (
	elemBool elem = iota
	elemInt32
	elemInt64
	elemFloat32
	elemFloat64
	elemString
)

var elemNames = [...]string{"[]bool", "[]int32", "[]int64", "[]float32", "[]float64", "[]string"}

// dtype describes one datatype: its Go slice, the range of its values and
// the width of one element in the binary extension (0 for BYTES).
type dtype struct {
	elem   elem
	lo, hi float64
	width  int
}

var dtypes = map[string]dtype{
	BOOL:   {elemBool, 0, 1, 1},
	UINT8:  {elemInt32, 0, math.MaxUint8, 1},
	UINT16: {elemInt32, 0, math.MaxUint16, 2},
	UINT32: {elemInt64, 0, math.MaxUint32, 4},
	UINT64: {elemInt64, 0, math.MaxInt64, 8},
	INT8:   {elemInt32, math.MinInt8, math.MaxInt8, 1},
	INT16:  {elemInt32, math.MinInt16, math.MaxInt16, 2},
	INT32:  {elemInt32, math.MinInt32, math.MaxInt32, 4},
	INT64:  {elemInt64, math.MinInt64, math.MaxInt64, 8},
	FP16:   {elemFloat32, -65504, 65504, 2},
	FP32:   {elemFloat32, -math.MaxFloat32, math.MaxFloat32, 4},
	FP64:   {elemFloat64, -math.MaxFloat64, math.MaxFloat64, 8},
	BYTES:  {elemString, 0, 0, 0},
}

// maxElements bounds the element count a shape may describe; a larger
// product is refused before anything is allocated.
const maxElements = 1 << 40

// elements returns the product of shape's dimensions; ok is false for a
// negative dimension or an absurd product.
func elements(shape []int64) (int64, bool) {
	n := int64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		if d != 0 && n > maxElements/d {
			return 0, false
		}
		n *= d
	}
	return n, true
}

// dataLen returns the length of data if it is the slice type dt prescribes.
func dataLen(dt dtype, data any) (int, bool) {
	switch dt.elem {
	case elemBool:
		v, ok := data.([]bool)
		return len(v), ok
	case elemInt32:
		v, ok := data.([]int32)
		return len(v), ok
	case elemInt64:
		v, ok := data.([]int64)
		return len(v), ok
	case elemFloat32:
		v, ok := data.([]float32)
		return len(v), ok
	case elemFloat64:
		v, ok := data.([]float64)
		return len(v), ok
	case elemString:
		v, ok := data.([]string)
		return len(v), ok
	}
	return 0, false
}

// checkValues reports the first element out of the datatype's range, not
// finite, or (BYTES) not valid UTF-8, which JSON cannot carry unchanged.
func checkValues(datatype string, dt dtype, data any) error {
	switch v := data.(type) {
	case []int32:
		for i, x := range v {
			if float64(x) < dt.lo || float64(x) > dt.hi {
				return fmt.Errorf("element %d (%d) is outside the %s range [%g, %g]", i, x, datatype, dt.lo, dt.hi)
			}
		}
	case []int64:
		for i, x := range v {
			if x < 0 && dt.lo == 0 || datatype == UINT32 && x > math.MaxUint32 {
				return fmt.Errorf("element %d (%d) is outside the %s range", i, x, datatype)
			}
		}
	case []float32:
		for i, x := range v {
			f := float64(x)
			if math.IsNaN(f) || math.IsInf(f, 0) || f < dt.lo || f > dt.hi {
				return fmt.Errorf("element %d (%v) is not a finite %s value (JSON has no NaN or infinity)", i, x, datatype)
			}
		}
	case []float64:
		for i, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("element %d (%v) is not finite (JSON has no NaN or infinity)", i, x)
			}
		}
	case []string:
		for i, s := range v {
			if !utf8.ValidString(s) {
				return fmt.Errorf("element %d is not UTF-8: binary BYTES need the binary data extension, which the adapter does not send", i)
			}
		}
	}
	return nil
}

// checkParameters checks KServe $parameters: string, number or boolean
// values.
func checkParameters(params map[string]any) error {
	for k, v := range params {
		switch x := v.(type) {
		case string, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, json.Number:
		case float32:
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return fmt.Errorf("parameter %q is not a finite number", k)
			}
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return fmt.Errorf("parameter %q is not a finite number", k)
			}
		default:
			return fmt.Errorf("parameter %q is a %T; KServe parameters are strings, numbers or booleans", k, v)
		}
	}
	return nil
}

// CheckTensor reports why t cannot be sent as a KServe v2 input: no name, an
// unknown datatype, a negative dimension, Data not the slice type the
// datatype prescribes (see messages.Tensor), a length that is not the
// product of the shape, a value outside the datatype's range or not finite,
// a BYTES element that is not UTF-8, or a parameter that is not a string,
// number or boolean. It returns nil for a valid tensor.
func CheckTensor(t messages.Tensor) error {
	if t.Name == "" {
		return errors.New("tensor without a name")
	}
	dt, ok := dtypes[t.Datatype]
	if !ok {
		return fmt.Errorf("tensor %q: unknown datatype %q", t.Name, t.Datatype)
	}
	n, ok := elements(t.Shape)
	if !ok {
		return fmt.Errorf("tensor %q: shape %v has a negative dimension or too many elements", t.Name, t.Shape)
	}
	got, ok := dataLen(dt, t.Data)
	if !ok {
		return fmt.Errorf("tensor %q: %s data must be a %s, not %T", t.Name, t.Datatype, elemNames[dt.elem], t.Data)
	}
	if int64(got) != n {
		return fmt.Errorf("tensor %q: %d elements for shape %v, which holds %d", t.Name, got, t.Shape, n)
	}
	if err := checkValues(t.Datatype, dt, t.Data); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	if err := checkParameters(t.Parameters); err != nil {
		return fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	return nil
}

// wireData returns t's data for JSON: never nil, so an empty tensor is sent
// as [] rather than null.
func wireData(data any) any {
	switch v := data.(type) {
	case []bool:
		if v == nil {
			return []bool{}
		}
	case []int32:
		if v == nil {
			return []int32{}
		}
	case []int64:
		if v == nil {
			return []int64{}
		}
	case []float32:
		if v == nil {
			return []float32{}
		}
	case []float64:
		if v == nil {
			return []float64{}
		}
	case []string:
		if v == nil {
			return []string{}
		}
	}
	return data
}

// ---- decoding ----

// maxDepth bounds the nesting of a tensor's data array.
const maxDepth = 64

// flatten appends the leaves of a (possibly nested) JSON array to out, in
// row-major order.
func flatten(v any, depth int, out []any) ([]any, error) {
	if depth > maxDepth {
		return nil, errors.New("data nested too deeply")
	}
	list, ok := v.([]any)
	if !ok {
		return append(out, v), nil
	}
	for _, x := range list {
		var err error
		if out, err = flatten(x, depth+1, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// jsonFloat reads a JSON number, or the strings "NaN", "Infinity" and
// "-Infinity" some servers write for values JSON cannot hold.
func jsonFloat(v any, bits int) (float64, bool) {
	switch x := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(x), bits)
		return f, err == nil
	case string:
		switch x {
		case "NaN", "nan":
			return math.NaN(), true
		case "Infinity", "inf", "+Infinity":
			return math.Inf(1), true
		case "-Infinity", "-inf":
			return math.Inf(-1), true
		}
	}
	return 0, false
}

// jsonInt reads an integral JSON number within [lo, hi].
func jsonInt(v any, dt dtype) (int64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(string(n), 64)
		if ferr != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
		i = int64(f)
	}
	if float64(i) < dt.lo || float64(i) > dt.hi {
		return 0, false
	}
	return i, true
}

// convert turns flattened JSON leaves into the Go slice of datatype.
func convert(datatype string, dt dtype, leaves []any) (any, error) {
	bad := func(i int) error {
		return fmt.Errorf("element %d (%v) is not a %s value", i, leaves[i], datatype)
	}
	switch dt.elem {
	case elemBool:
		out := make([]bool, len(leaves))
		for i, v := range leaves {
			switch x := v.(type) {
			case bool:
				out[i] = x
			case json.Number:
				switch x {
				case "0":
				case "1":
					out[i] = true
				default:
					return nil, bad(i)
				}
			default:
				return nil, bad(i)
			}
		}
		return out, nil
	case elemInt32:
		out := make([]int32, len(leaves))
		for i, v := range leaves {
			x, ok := jsonInt(v, dt)
			if !ok {
				return nil, bad(i)
			}
			out[i] = int32(x)
		}
		return out, nil
	case elemInt64:
		out := make([]int64, len(leaves))
		for i, v := range leaves {
			x, ok := jsonInt(v, dt)
			if !ok {
				return nil, bad(i)
			}
			out[i] = x
		}
		return out, nil
	case elemFloat32:
		out := make([]float32, len(leaves))
		for i, v := range leaves {
			f, ok := jsonFloat(v, 32)
			if !ok {
				return nil, bad(i)
			}
			out[i] = float32(f)
		}
		return out, nil
	case elemFloat64:
		out := make([]float64, len(leaves))
		for i, v := range leaves {
			f, ok := jsonFloat(v, 64)
			if !ok {
				return nil, bad(i)
			}
			out[i] = f
		}
		return out, nil
	}
	out := make([]string, len(leaves))
	for i, v := range leaves {
		s, ok := v.(string)
		if !ok {
			return nil, bad(i)
		}
		out[i] = s
	}
	return out, nil
}

// decodeBinary turns the raw little-endian bytes of the binary data
// extension into the Go slice of datatype. BYTES elements are each preceded
// by their length as 4 little-endian bytes.
func decodeBinary(datatype string, dt dtype, raw []byte) (any, error) {
	if dt.elem == elemString {
		var out []string
		for len(raw) > 0 {
			if len(raw) < 4 {
				return nil, errors.New("BYTES element without its 4-byte length")
			}
			n := binary.LittleEndian.Uint32(raw)
			raw = raw[4:]
			if uint64(n) > uint64(len(raw)) {
				return nil, fmt.Errorf("BYTES element of %d bytes with %d left", n, len(raw))
			}
			out = append(out, string(raw[:n]))
			raw = raw[n:]
		}
		if out == nil {
			out = []string{}
		}
		return out, nil
	}
	if len(raw)%dt.width != 0 {
		return nil, fmt.Errorf("%d bytes are not a whole number of %s elements", len(raw), datatype)
	}
	n := len(raw) / dt.width
	le := binary.LittleEndian
	at := func(i int) []byte { return raw[i*dt.width : (i+1)*dt.width] }
	switch datatype {
	case BOOL:
		out := make([]bool, n)
		for i := range out {
			out[i] = raw[i] != 0
		}
		return out, nil
	case UINT8, INT8, UINT16, INT16, INT32:
		out := make([]int32, n)
		for i := range out {
			b := at(i)
			switch datatype {
			case UINT8:
				out[i] = int32(b[0])
			case INT8:
				out[i] = int32(int8(b[0]))
			case UINT16:
				out[i] = int32(le.Uint16(b))
			case INT16:
				out[i] = int32(int16(le.Uint16(b)))
			default:
				out[i] = int32(le.Uint32(b))
			}
		}
		return out, nil
	case UINT32, UINT64, INT64:
		out := make([]int64, n)
		for i := range out {
			b := at(i)
			switch datatype {
			case UINT32:
				out[i] = int64(le.Uint32(b))
			case UINT64:
				u := le.Uint64(b)
				if u > math.MaxInt64 {
					return nil, fmt.Errorf("UINT64 element %d (%d) does not fit an int64", i, u)
				}
				out[i] = int64(u)
			default:
				out[i] = int64(le.Uint64(b))
			}
		}
		return out, nil
	case FP16, FP32:
		out := make([]float32, n)
		for i := range out {
			if datatype == FP16 {
				out[i] = halfToFloat32(le.Uint16(at(i)))
			} else {
				out[i] = math.Float32frombits(le.Uint32(at(i)))
			}
		}
		return out, nil
	}
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Float64frombits(le.Uint64(at(i)))
	}
	return out, nil
}

// halfToFloat32 converts an IEEE 754 half-precision value.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		f := float32(frac) / 1024 / (1 << 14)
		if sign != 0 {
			return -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0xff<<23 | frac<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | frac<<13)
}
