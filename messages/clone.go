package messages

import "reflect"

// Clone returns a shallow copy of req: a new struct of the same type whose
// fields are req's, so the copy's Call (request ID, options) and Stream flag
// can be set without touching the caller's value. Slices, maps, pointers and
// readers are shared, not copied: the caller must not modify what they refer
// to until the request is answered. Clone reports false for a nil request,
// including a typed nil such as (*ChatRequest)(nil), and for a request that
// is not a pointer to a struct.
func Clone(req Request) (Request, bool) {
	switch r := req.(type) {
	case *ChatRequest:
		return cloneOf(r)
	case *EmbedRequest:
		return cloneOf(r)
	case *ResponsesRequest:
		return cloneOf(r)
	case *CountTokensRequest:
		return cloneOf(r)
	case *GenerateRequest:
		return cloneOf(r)
	case *RerankRequest:
		return cloneOf(r)
	case *InferRequest:
		return cloneOf(r)
	case *ModelsRequest:
		return cloneOf(r)
	case *InfoRequest:
		return cloneOf(r)
	case *TokenizeRequest:
		return cloneOf(r)
	case *ResponseObjectRequest:
		return cloneOf(r)
	case *ResponsesInputTokensRequest:
		return cloneOf(r)
	case *ConversationRequest:
		return cloneOf(r)
	case *PutObjectRequest:
		return cloneOf(r)
	case *GetObjectRequest:
		return cloneOf(r)
	case *StatObjectRequest:
		return cloneOf(r)
	case *ListObjectsRequest:
		return cloneOf(r)
	case *DeleteObjectsRequest:
		return cloneOf(r)
	case *CopyObjectRequest:
		return cloneOf(r)
	case *PresignRequest:
		return cloneOf(r)
	case *BucketExistsRequest:
		return cloneOf(r)
	case *MakeBucketRequest:
		return cloneOf(r)
	case nil:
		return nil, false
	}
	// A request type of the host's own (for an adapter of its own): copy
	// the struct it points to.
	v := reflect.ValueOf(req)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, false
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	out, ok := c.Interface().(Request)
	return out, ok
}

func cloneOf[T any, P interface {
	*T
	Request
}](r P) (Request, bool) {
	if r == nil {
		return nil, false
	}
	c := *r
	return P(&c), true
}

// SetStream sets the Stream field of a request that has one (chat,
// Responses, a stored response's retrieve, generate, object put and get)
// and reports whether it had one.
// Use it on a copy from Clone, never on a caller's request.
func SetStream(req Request, on bool) bool {
	switch r := req.(type) {
	case *ChatRequest:
		r.Stream = on
	case *ResponsesRequest:
		r.Stream = on
	case *ResponseObjectRequest:
		r.Stream = on
	case *GenerateRequest:
		r.Stream = on
	case *PutObjectRequest:
		r.Stream = on
	case *GetObjectRequest:
		r.Stream = on
	default:
		return false
	}
	return true
}
