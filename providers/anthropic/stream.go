package anthropic

import (
	"encoding/json"
	"io"
	"strconv"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// streamEvent is the data of any Messages stream event; which fields are set
// depends on Type.
type streamEvent struct {
	Type         string          `json:"type"`
	Message      *wireResponse   `json:"message"`
	Index        *int            `json:"index"`
	ContentBlock *wireContent    `json:"content_block"`
	Delta        *streamDelta    `json:"delta"`
	Usage        *wireUsage      `json:"usage"`
	Error        json.RawMessage `json:"error"`
}

// streamDelta is the delta of content_block_delta (text_delta,
// input_json_delta, …) and of message_delta (stop_reason).
type streamDelta struct {
	Type        string  `json:"type"`
	Text        string  `json:"text"`
	PartialJSON string  `json:"partial_json"`
	StopReason  *string `json:"stop_reason"`
}

// knownEvents are the event names whose data is decoded; others (ping, and
// any type added later) are skipped unread.
var knownEvents = map[string]bool{
	"message_start": true, "content_block_start": true, "content_block_delta": true,
	"content_block_stop": true, "message_delta": true, "message_stop": true, "error": true,
}

// block is one content block being streamed.
type block struct {
	index    int
	typ      string
	id, name string
	text     strings.Builder
	args     strings.Builder
	initial  json.RawMessage // input given in content_block_start
	sent     bool            // a tool-call chunk went out
	stopped  bool
	finalArg json.RawMessage
}

// streamDecoder turns a Messages event stream into chunks and the final
// response. It is not safe for concurrent use.
type streamDecoder struct {
	emit     func(*messages.StreamChunk) error
	events   func(io.Reader) EventReader // nil: server-sent events
	id       string
	model    string
	stop     string
	usage    usageState
	blocks   map[int]*block
	order    []*block
	open     *block // the block being streamed
	finished bool
}

func newStreamDecoder(emit func(*messages.StreamChunk) error) *streamDecoder {
	if emit == nil {
		emit = func(*messages.StreamChunk) error { return nil }
	}
	return &streamDecoder{emit: emit, blocks: map[int]*block{}}
}

// decodeStream reads a whole Messages event stream from r and returns the
// aggregated answer. emit (may be nil) receives the chunks as they are
// decoded. Errors: io.ErrUnexpectedEOF when the stream ends before
// message_stop, a *messages.UpstreamError for an `event: error` (classified
// by error.type) or a malformed event (ClassMalformed), the error emit
// returned, or the reader's error.
func decodeStream(r io.Reader, emit func(*messages.StreamChunk) error) (*messages.ChatResponse, error) {
	d := newStreamDecoder(emit)
	if err := d.decode(r); err != nil {
		return nil, err
	}
	return d.response(), nil
}

// decode reads events until message_stop; it is the read function handed to
// providers.Client.Stream.
func (d *streamDecoder) decode(r io.Reader) error {
	var sr EventReader
	if d.events != nil {
		sr = d.events(r)
	} else {
		sr = providers.NewSSEReader(r)
	}
	for {
		ev, err := sr.NextInStream()
		if err != nil {
			return err
		}
		if ev.Event != "" && !knownEvents[ev.Event] {
			continue // ping, or an event type added after this was written
		}
		var se streamEvent
		if err := json.Unmarshal(ev.Data, &se); err != nil {
			if ev.Event == "error" {
				return streamError(ev.Data)
			}
			return malformed("decoding "+eventName(ev.Event, "")+" event", err)
		}
		typ := se.Type
		if typ == "" {
			typ = ev.Event
		}
		if err := d.handle(typ, &se, ev.Data); err != nil {
			return err
		}
		if d.finished {
			return nil
		}
	}
}

func eventName(event, typ string) string {
	if event != "" {
		return event
	}
	if typ != "" {
		return typ
	}
	return "stream"
}

func malformed(msg string, cause error) *messages.UpstreamError {
	return &messages.UpstreamError{Class: messages.ClassMalformed, Message: msg, Cause: cause}
}

func (d *streamDecoder) handle(typ string, se *streamEvent, raw []byte) error {
	switch typ {
	case "message_start":
		if se.Message != nil {
			d.id, d.model = se.Message.ID, se.Message.Model
			d.usage.merge(se.Message.Usage)
		}
	case "content_block_start":
		if se.Index == nil || se.ContentBlock == nil {
			return malformed("content_block_start without index or content_block", nil)
		}
		if _, dup := d.blocks[*se.Index]; dup {
			return malformed("content_block_start repeats index "+strconv.Itoa(*se.Index), nil)
		}
		// Blocks are streamed one after the other; a start implicitly closes
		// a block left open.
		if d.open != nil {
			if err := d.finishBlock(d.open); err != nil {
				return err
			}
		}
		b := &block{index: *se.Index, typ: se.ContentBlock.Type, id: se.ContentBlock.ID, name: se.ContentBlock.Name}
		d.open = b
		switch b.typ {
		case "text":
			b.text.WriteString(se.ContentBlock.Text)
			if se.ContentBlock.Text != "" {
				if err := d.emit(&messages.StreamChunk{Type: messages.ChunkText, Text: se.ContentBlock.Text}); err != nil {
					return err
				}
			}
		case "tool_use":
			if b.name == "" || b.id == "" {
				return malformed("tool_use block without an id or a name", nil)
			}
			b.initial = se.ContentBlock.Input
		}
		d.blocks[b.index] = b
		d.order = append(d.order, b)
	case "content_block_delta":
		if se.Index == nil || se.Delta == nil {
			return malformed("content_block_delta without index or delta", nil)
		}
		b := d.blocks[*se.Index]
		if b == nil || b != d.open || b.stopped {
			return malformed("content_block_delta for block "+strconv.Itoa(*se.Index)+" that is not open", nil)
		}
		return d.delta(b, se.Delta)
	case "content_block_stop":
		if se.Index == nil {
			return malformed("content_block_stop without index", nil)
		}
		b := d.blocks[*se.Index]
		if b == nil {
			return malformed("content_block_stop for unknown block "+strconv.Itoa(*se.Index), nil)
		}
		return d.finishBlock(b)
	case "message_delta":
		if se.Delta != nil && se.Delta.StopReason != nil {
			d.stop = *se.Delta.StopReason
		}
		d.usage.merge(se.Usage)
	case "message_stop":
		for _, b := range d.order {
			if err := d.finishBlock(b); err != nil {
				return err
			}
		}
		u := d.usage.usage()
		if err := d.emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u}); err != nil {
			return err
		}
		d.finished = true
	case "error":
		return streamError(raw)
	}
	return nil
}

func (d *streamDecoder) delta(b *block, dl *streamDelta) error {
	switch dl.Type {
	case "text_delta":
		if b.typ != "text" {
			return malformed("text_delta for a "+b.typ+" block", nil)
		}
		if dl.Text == "" {
			return nil
		}
		b.text.WriteString(dl.Text)
		return d.emit(&messages.StreamChunk{Type: messages.ChunkText, Text: dl.Text})
	case "input_json_delta":
		if b.typ != "tool_use" {
			return malformed("input_json_delta for a "+b.typ+" block", nil)
		}
		if dl.PartialJSON == "" {
			return nil
		}
		b.args.WriteString(dl.PartialJSON)
		tc := &messages.ToolCallDelta{Index: b.index, Arguments: dl.PartialJSON}
		if !b.sent {
			tc.ID, tc.Name = b.id, b.name
			b.sent = true
		}
		return d.emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: tc})
	}
	return nil // thinking_delta, signature_delta, citations_delta, …
}

// finishBlock closes b: a tool call's arguments must form a JSON object. A
// tool call that streamed no argument fragment is emitted whole here, so the
// fragments of every call concatenate to its final arguments.
func (d *streamDecoder) finishBlock(b *block) error {
	if b.stopped {
		return nil
	}
	b.stopped = true
	if b.typ != "tool_use" {
		return nil
	}
	var args json.RawMessage
	if b.args.Len() > 0 {
		args = json.RawMessage(b.args.String())
		if !providers.IsJSONObject(args) {
			return malformed("tool_use "+b.name+": streamed input is not a JSON object", nil)
		}
	} else {
		a, ok := toolArgs(b.initial)
		if !ok {
			return malformed("tool_use "+b.name+": input is not a JSON object", nil)
		}
		args = a
	}
	b.finalArg = args
	if !b.sent {
		b.sent = true
		tc := &messages.ToolCallDelta{Index: b.index, ID: b.id, Name: b.name, Arguments: string(args)}
		return d.emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: tc})
	}
	return nil
}

// response aggregates what was decoded.
func (d *streamDecoder) response() *messages.ChatResponse {
	out := &messages.ChatResponse{ID: d.id, Model: d.model, RawFinishReason: d.stop, FinishReason: finishReason(d.stop), Usage: d.usage.usage()}
	var text strings.Builder
	for _, b := range d.order {
		switch b.typ {
		case "text":
			text.WriteString(b.text.String())
		case "tool_use":
			if b.finalArg != nil {
				out.ToolCalls = append(out.ToolCalls, messages.ToolCall{ID: b.id, Name: b.name, Arguments: b.finalArg})
			}
		}
	}
	out.Content = text.String()
	return out
}
