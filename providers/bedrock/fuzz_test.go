package bedrock

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// frame encodes one event-stream message with AWS's encoder.
func frame(t testing.TB, headers map[string]string, payload []byte) []byte {
	t.Helper()
	var m eventstream.Message
	for _, k := range []string{":message-type", ":event-type", ":exception-type", ":error-code", ":error-message", ":content-type"} {
		if v, ok := headers[k]; ok {
			m.Headers.Set(k, eventstream.StringValue(v))
		}
	}
	m.Payload = payload
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// chunk is a chunk event carrying a Messages event.
func chunk(t testing.TB, event string) []byte {
	t.Helper()
	p, _ := json.Marshal(map[string]string{"bytes": base64.StdEncoding.EncodeToString([]byte(event)), "p": "abcdefgh"})
	return frame(t, map[string]string{":message-type": "event", ":event-type": "chunk", ":content-type": "application/json"}, p)
}

// goodStream is a whole answer as Bedrock frames it.
func goodStream(t testing.TB) []byte {
	t.Helper()
	var b bytes.Buffer
	for _, ev := range []string{
		`{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude","content":[],"stop_reason":null,"usage":{"input_tokens":7,"output_tokens":1}}}`,
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"a\":"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"1}"}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":12}}`,
		`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":12,"invocationLatency":512,"firstByteLatency":301}}`,
	} {
		b.Write(chunk(t, ev))
	}
	return b.Bytes()
}

// streamDo runs a streamed chat whose answer is body, served in memory.
func streamDo(t testing.TB, body []byte) (messages.Response, error) {
	call := &providers.Call{
		Request:   &messages.ChatRequest{Model: "m", Stream: true, Messages: []messages.Message{user("x")}},
		RequestID: "rid-fuzz", Provider: "p", Endpoint: "e", BaseURL: "http://bedrock.invalid",
		Key: providers.NewCredential("k", testAPIKey),
		Client: &providers.Client{IdleTimeout: time.Minute, HTTP: &http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) {
			h := http.Header{}
			h.Set("Content-Type", ContentTypeEventStream)
			h.Set(HeaderRequestID, "rid-upstream")
			return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(bytes.NewReader(body))}, nil
		})}},
	}
	return New().Do(context.Background(), call)
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestEventReader: whole streams decode, broken frames are ClassMalformed,
// exception and error messages typed errors, a body ending early a cut.
func TestEventReader(t *testing.T) {
	good := goodStream(t)
	corrupt := bytes.Clone(good)
	corrupt[len(chunk(t, `{}`))+20] ^= 0xff // inside the second frame... or its prelude
	badPrelude := bytes.Clone(good)
	badPrelude[9] ^= 0x01 // the first frame's prelude CRC
	huge := make([]byte, 12)
	binary.BigEndian.PutUint32(huge[0:4], 1<<30)
	tests := []struct {
		name    string
		body    []byte
		class   messages.ErrorClass // ClassUnknown: success
		typ     string
		content string
	}{
		{name: "whole answer", body: good, content: "Hello world"},
		{name: "unknown event type skipped", body: append(frame(t, map[string]string{":message-type": "event", ":event-type": "metadata"}, []byte(`{}`)), good...), content: "Hello world"},
		{name: "cut between frames", body: good[:len(good)-len(chunk(t, `{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":12,"invocationLatency":512,"firstByteLatency":301}}`))],
			class: messages.ClassStreamCut},
		{name: "cut inside a frame", body: good[:len(good)-5], class: messages.ClassStreamCut},
		{name: "empty body", body: nil, class: messages.ClassStreamCut},
		{name: "corrupted frame", body: corrupt, class: messages.ClassMalformed},
		{name: "corrupted prelude CRC", body: badPrelude, class: messages.ClassMalformed},
		{name: "frame over 16 MiB", body: huge, class: messages.ClassMalformed},
		{name: "headers longer than the frame", body: []byte{0, 0, 0, 16, 0, 0, 0, 9, 0, 0, 0, 0}, class: messages.ClassMalformed},
		{name: "no message type", body: frame(t, map[string]string{":event-type": "chunk"}, []byte(`{}`)), class: messages.ClassMalformed},
		{name: "chunk without bytes", body: frame(t, map[string]string{":message-type": "event", ":event-type": "chunk"}, []byte(`{"p":"x"}`)), class: messages.ClassMalformed},
		{name: "chunk not base64", body: frame(t, map[string]string{":message-type": "event", ":event-type": "chunk"}, []byte(`{"bytes":"***"}`)), class: messages.ClassMalformed},
		{name: "chunk not an event", body: chunk(t, `not json`), class: messages.ClassMalformed},
		{name: "throttling exception", body: append(chunk(t, `{"type":"message_start","message":{"id":"m","usage":{"input_tokens":1}}}`), frame(t, map[string]string{":message-type": "exception", ":exception-type": "throttlingException"}, []byte(`{"message":"slow down"}`))...),
			class: messages.ClassRateLimited, typ: "ThrottlingException"},
		{name: "internal server exception", body: frame(t, map[string]string{":message-type": "exception", ":exception-type": "internalServerException"}, []byte(`{"message":"oops"}`)),
			class: messages.ClassServer, typ: "InternalServerException"},
		{name: "unknown exception", body: frame(t, map[string]string{":message-type": "exception", ":exception-type": "brandNewException"}, nil),
			class: messages.ClassServer, typ: "BrandNewException"},
		{name: "exception payload not JSON", body: frame(t, map[string]string{":message-type": "exception", ":exception-type": "validationException"}, []byte(`<html>`)),
			class: messages.ClassInvalid, typ: "ValidationException"},
		{name: "error message", body: frame(t, map[string]string{":message-type": "error", ":error-code": "InternalFailure", ":error-message": "boom"}, nil),
			class: messages.ClassServer, typ: "InternalFailure"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := streamDo(t, tt.body)
			if tt.class == messages.ClassUnknown {
				require.NoError(t, err)
				cr := resp.(*messages.ChatResponse)
				assert.Equal(t, tt.content, cr.Content)
				assert.Equal(t, messages.Usage{InputTokens: 7, OutputTokens: 12}, cr.Usage)
				require.Len(t, cr.ToolCalls, 1)
				assert.JSONEq(t, `{"a":1}`, string(cr.ToolCalls[0].Arguments))
				assert.Equal(t, "rid-upstream", cr.UpstreamRequestID)
				return
			}
			var ue *messages.UpstreamError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tt.class, ue.Class, "error %v", ue)
			assert.Equal(t, tt.typ, ue.Type)
			assert.NotEmpty(t, ue.Message)
			assert.Equal(t, "rid-upstream", ue.UpstreamRequestID)
		})
	}
}

// FuzzEventStream feeds arbitrary bytes to a streamed chat as its
// event-stream answer: the result is a response or a classified
// UpstreamError, never a panic or a hang.
func FuzzEventStream(f *testing.F) {
	good := goodStream(f)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(append(good[:300:300], frame(f, map[string]string{":message-type": "exception", ":exception-type": "modelStreamErrorException"}, []byte(`{"message":"x","originalStatusCode":529}`))...))
	f.Add(frame(f, map[string]string{":message-type": "error", ":error-code": "c"}, nil))
	f.Add([]byte{0, 0, 0, 16, 0, 0, 0, 0, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98, 0xc8, 0xff}) // AWS's empty_message vector
	f.Fuzz(func(t *testing.T, body []byte) {
		resp, err := streamDo(t, body)
		if err == nil {
			require.NotNil(t, resp)
			return
		}
		var ue *messages.UpstreamError
		require.ErrorAs(t, err, &ue)
		require.NotEqual(t, messages.ClassUnknown, ue.Class, "unclassified %v", ue)
		require.LessOrEqual(t, len(ue.Message), maxMessage+len("…")+200)
	})
}

// TestDecodeError: Bedrock's error answers give the type from the header,
// else the body, and the class from the type.
func TestDecodeError(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header string
		body   string
		typ    string
		msg    string
		class  messages.ErrorClass
	}{
		{"header with namespace", 429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", `{"message":"Too many requests, please wait before trying again."}`,
			"ThrottlingException", "Too many requests, please wait before trying again.", messages.ClassRateLimited},
		{"body __type with namespace", 400, "", `{"__type":"com.amazon.coral.validate#ValidationException","message":"bad"}`, "ValidationException", "bad", messages.ClassInvalid},
		{"body code", 503, "", `{"code":"ServiceUnavailableException","Message":"down"}`, "ServiceUnavailableException", "down", messages.ClassServer},
		{"capitalised Message", 403, "AccessDeniedException", `{"Message":"User is not authorized"}`, "AccessDeniedException", "User is not authorized", messages.ClassAuth},
		{"model not ready is not a rate limit", 429, "ModelNotReadyException", `{"message":"not ready"}`, "ModelNotReadyException", "not ready", messages.ClassServer},
		{"model timeout", 408, "ModelTimeoutException", `{}`, "ModelTimeoutException", "ModelTimeoutException", messages.ClassTimeout},
		{"expired token", 403, "ExpiredTokenException", `{"message":"The security token included in the request is expired"}`, "ExpiredTokenException", "The security token included in the request is expired", messages.ClassAuth},
		{"unknown type keeps the status class", 429, "SomethingNewException", `{"message":"x"}`, "SomethingNewException", "x", messages.ClassRateLimited},
		{"plain text", 502, "", "Bad Gateway", "", "Bad Gateway", messages.ClassServer},
		{"HTML", 500, "", "<html>oops</html>", "", "", messages.ClassServer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("X-Amzn-ErrorType", tt.header)
			h.Set("X-Amzn-RequestId", "rid-1")
			e := &messages.UpstreamError{Class: providers.ClassifyStatus(tt.status)}
			decodeError(tt.status, h, []byte(tt.body), e)
			assert.Equal(t, tt.typ, e.Type)
			assert.Equal(t, tt.msg, e.Message)
			assert.Equal(t, tt.class, e.Class)
			assert.Equal(t, "rid-1", e.UpstreamRequestID)
		})
	}
}

// FuzzDecodeError: any error answer gives a classified error with a
// bounded, valid message; the header's type wins.
func FuzzDecodeError(f *testing.F) {
	f.Add(429, "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/", []byte(`{"message":"Too many requests, please wait before trying again."}`))
	f.Add(400, "", []byte(`{"__type":"com.amazon.coral.validate#ValidationException","message":"Malformed input request: #: extraneous key [model] is not permitted, please reformat your input and try again."}`))
	f.Add(403, "UnrecognizedClientException:http://internal.amazon.com/coral/com.amazon.coral.service/", []byte(`{"message":"The security token included in the request is invalid."}`))
	f.Add(424, "ModelErrorException", []byte(`{"message":"x","originalStatusCode":529,"resourceName":"arn"}`))
	f.Add(500, "", []byte(`<html>`))
	f.Add(0, "", []byte(`{"message":`+strings.Repeat(`"é`, 1)+strings.Repeat("é", 700)+`"}`))
	f.Fuzz(func(t *testing.T, status int, typ string, body []byte) {
		h := http.Header{}
		h.Set("X-Amzn-ErrorType", typ)
		e := &messages.UpstreamError{}
		decodeError(status, h, body, e)
		require.Less(t, int(e.Class), len(messages.AllErrorClasses))
		if status >= 400 {
			require.NotEqual(t, messages.ClassUnknown, e.Class, "status %d left the class unknown", status)
		}
		require.LessOrEqual(t, len(e.Message), maxMessage+len("…")+len(e.Type))
		if utf8.Valid(body) && utf8.ValidString(typ) {
			require.True(t, utf8.ValidString(e.Message), "message %q", e.Message)
		}
		if want := errorType(typ); want != "" {
			require.Equal(t, want, e.Type)
		}
		_ = e.Error()
		_ = errors.Unwrap(e)
	})
}
