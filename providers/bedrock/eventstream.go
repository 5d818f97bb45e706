package bedrock

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream/eventstreamapi"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Event-stream limits: AWS's own bounds on one message and its headers.
const (
	maxFrame   = 16 << 20
	maxHeaders = 128 << 10
	// preludeLen is total length, headers length and the prelude's CRC.
	preludeLen = 12
	// minFrame is a message with no headers and no payload.
	minFrame = preludeLen + 4
)

// eventReader reads the answer of invoke-with-response-stream: AWS
// event-stream messages (a prelude with the total and headers lengths and
// its CRC32, headers, a payload, the message's CRC32), decoded by
// aws-sdk-go-v2's eventstream package. Each `chunk` event's payload is
// {"bytes": "<base64>"} holding one Messages stream event, which it
// returns as the event's data. An exception message (:message-type
// exception, :exception-type throttlingException, …) or error message
// (:error-code, :error-message) is returned as a typed
// *messages.UpstreamError; a frame that cannot be read (bad lengths or
// CRCs, no message type, a chunk that is not base64 JSON) as ClassMalformed.
// It is not safe for concurrent use.
type eventReader struct {
	r       io.Reader
	dec     *eventstream.Decoder
	frame   []byte
	payload []byte
}

func newEventReader(r io.Reader) *eventReader {
	return &eventReader{r: r, dec: eventstream.NewDecoder()}
}

// NextInStream returns the next Messages event; io.ErrUnexpectedEOF when
// the body ends (at or inside a frame), since the stream's own end is its
// message_stop event.
func (e *eventReader) NextInStream() (providers.SSEEvent, error) {
	for {
		msg, err := e.next()
		if err != nil {
			return providers.SSEEvent{}, err
		}
		switch str(msg.Headers, eventstreamapi.MessageTypeHeader) {
		case eventstreamapi.EventMessageType:
			if str(msg.Headers, eventstreamapi.EventTypeHeader) != "chunk" {
				continue // an event type added later
			}
			data, err := chunkData(msg.Payload)
			if err != nil {
				return providers.SSEEvent{}, err
			}
			return providers.SSEEvent{Data: data}, nil
		case eventstreamapi.ExceptionMessageType:
			return providers.SSEEvent{}, exceptionError(str(msg.Headers, eventstreamapi.ExceptionTypeHeader), msg.Payload)
		case eventstreamapi.ErrorMessageType:
			e := &messages.UpstreamError{Type: errorType(str(msg.Headers, eventstreamapi.ErrorCodeHeader)),
				Message: providers.ClipMessage(str(msg.Headers, eventstreamapi.ErrorMessageHeader), maxMessage)}
			return providers.SSEEvent{}, inStream(e)
		case "":
			return providers.SSEEvent{}, malformed("event-stream message without a :message-type header", nil)
		default:
			continue // a message type added later
		}
	}
}

// next reads one whole frame, bounded by the prelude's lengths, and
// decodes it (CRCs, headers) with the eventstream package.
func (e *eventReader) next() (eventstream.Message, error) {
	var prelude [preludeLen]byte
	if _, err := io.ReadFull(e.r, prelude[:]); err != nil {
		return eventstream.Message{}, endOfBody(err)
	}
	total := binary.BigEndian.Uint32(prelude[0:4])
	headers := binary.BigEndian.Uint32(prelude[4:8])
	if total < minFrame || total > maxFrame || headers > maxHeaders || headers > total-minFrame {
		return eventstream.Message{}, malformed(fmt.Sprintf("event-stream frame of %d bytes with %d bytes of headers", total, headers), nil)
	}
	if cap(e.frame) < int(total) {
		e.frame = make([]byte, total)
	}
	e.frame = e.frame[:total]
	copy(e.frame, prelude[:])
	if _, err := io.ReadFull(e.r, e.frame[preludeLen:]); err != nil {
		return eventstream.Message{}, endOfBody(err)
	}
	msg, err := e.dec.Decode(bytes.NewReader(e.frame), e.payload[:0])
	if err != nil {
		return eventstream.Message{}, malformed("decoding an event-stream frame: "+err.Error(), err)
	}
	e.payload = msg.Payload
	return msg, nil
}

// endOfBody turns the end of the body, anywhere, into io.ErrUnexpectedEOF
// (a cut stream); other read errors (the idle watchdog's, a cancel) are
// returned as they are.
func endOfBody(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// str returns the string value of header name, "" when absent.
func str(hs eventstream.Headers, name string) string {
	if v := hs.Get(name); v != nil {
		return v.String()
	}
	return ""
}

// chunkData decodes a chunk's payload, {"bytes": "<base64>", "p": "…"},
// to the Messages event JSON it carries.
func chunkData(payload []byte) ([]byte, error) {
	var c struct {
		Bytes *string `json:"bytes"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Bytes == nil {
		return nil, malformed("event-stream chunk without a bytes member", err)
	}
	data, err := base64.StdEncoding.DecodeString(*c.Bytes)
	if err != nil {
		return nil, malformed("event-stream chunk whose bytes are not base64", err)
	}
	return data, nil
}

// exceptionError is the error of an exception message: the type from
// :exception-type (else the payload's __type or code), the payload's
// message, the class from the type; a type without a class is ClassServer,
// since the request itself was accepted.
func exceptionError(typ string, payload []byte) *messages.UpstreamError {
	e := &messages.UpstreamError{}
	h := http.Header{}
	if typ != "" {
		h.Set("X-Amzn-ErrorType", typ)
	}
	decodeError(0, h, payload, e)
	if e.Message == "" {
		e.Message = "exception in stream"
	}
	return inStream(e)
}

// inStream completes an error reported inside a stream.
func inStream(e *messages.UpstreamError) *messages.UpstreamError {
	if e.Class == messages.ClassUnknown {
		e.Class = classForType(e.Type)
	}
	if e.Class == messages.ClassUnknown {
		e.Class = messages.ClassServer
	}
	if e.Message == "" {
		e.Message = "error in stream"
	}
	return e
}

func malformed(msg string, cause error) *messages.UpstreamError {
	return &messages.UpstreamError{Class: messages.ClassMalformed, Message: msg, Cause: cause}
}
