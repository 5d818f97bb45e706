package ollama

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// Timings are the durations Ollama reports with a finished answer
// (total_duration, load_duration, prompt_eval_duration, eval_duration), sent
// as nanoseconds. Zero means Ollama did not report the value.
type Timings struct {
	// Total is the whole request: loading, prompt evaluation and generation.
	Total time.Duration
	// Load is the time spent loading the model.
	Load time.Duration
	// PromptEval is the time spent evaluating the prompt.
	PromptEval time.Duration
	// Eval is the time spent generating the answer.
	Eval time.Duration
}

// streamLine is one object of a chat or generate answer: a stream line, or
// the whole answer when not streaming.
type streamLine struct {
	Model              string          `json:"model"`
	CreatedAt          string          `json:"created_at"`
	Message            *lineMessage    `json:"message"`
	Response           string          `json:"response"`
	Done               bool            `json:"done"`
	DoneReason         string          `json:"done_reason"`
	TotalDuration      int64           `json:"total_duration"`
	LoadDuration       int64           `json:"load_duration"`
	PromptEvalCount    int             `json:"prompt_eval_count"`
	PromptEvalDuration int64           `json:"prompt_eval_duration"`
	EvalCount          int             `json:"eval_count"`
	EvalDuration       int64           `json:"eval_duration"`
	Error              json.RawMessage `json:"error"`
}

type lineMessage struct {
	Role      string         `json:"role"`
	Content   string         `json:"content"`
	Thinking  string         `json:"thinking"`
	ToolCalls []wireToolCall `json:"tool_calls"`
}

func nonNegative(ns int64) time.Duration {
	if ns < 0 {
		return 0
	}
	return time.Duration(ns)
}

func (l *streamLine) timings() Timings {
	return Timings{Total: nonNegative(l.TotalDuration), Load: nonNegative(l.LoadDuration),
		PromptEval: nonNegative(l.PromptEvalDuration), Eval: nonNegative(l.EvalDuration)}
}

func (l *streamLine) usage() messages.Usage {
	return messages.Usage{InputTokens: max(l.PromptEvalCount, 0), OutputTokens: max(l.EvalCount, 0)}
}

// aggregator folds the objects of one answer into the response, emitting
// chunks as it goes when it has an Emitter.
type aggregator struct {
	call     *providers.Call
	em       *providers.Emitter
	generate bool

	model   string
	text    strings.Builder
	calls   []messages.ToolCall
	done    bool
	reason  string
	usage   messages.Usage
	timings Timings
}

// newAggregator returns an aggregator for a chat (generate false) or
// generate answer; em may be nil (no chunks are emitted).
func newAggregator(call *providers.Call, em *providers.Emitter, chat bool) *aggregator {
	return &aggregator{call: call, em: em, generate: !chat}
}

func (a *aggregator) emit(ch *messages.StreamChunk) error {
	if a.em == nil {
		return nil
	}
	return a.em.Emit(ch)
}

// feed adds one object. It returns the upstream error an {"error": …} object
// carries, or the Emitter's error when the caller went away.
func (a *aggregator) feed(l *streamLine) error {
	if !providers.IsJSONNull(l.Error) {
		return streamError(a.call, l.Error)
	}
	if a.model == "" {
		a.model = l.Model
	}
	piece := l.Response
	var calls []wireToolCall
	if !a.generate {
		piece = ""
		if l.Message != nil {
			piece, calls = l.Message.Content, l.Message.ToolCalls
		}
	}
	if piece != "" {
		a.text.WriteString(piece)
		if err := a.emit(&messages.StreamChunk{Type: messages.ChunkText, Text: piece}); err != nil {
			return err
		}
	}
	for _, tc := range calls {
		idx := len(a.calls)
		id := tc.ID
		if id == "" {
			// Older Ollama versions send no ID; a stable one lets the
			// result be matched to its call in the next request.
			id = fmt.Sprintf("call_%d", idx)
		}
		tcall := messages.ToolCall{ID: id, Name: tc.Function.Name, Arguments: toolArguments(tc.Function.Arguments)}
		a.calls = append(a.calls, tcall)
		d := &messages.ToolCallDelta{Index: idx, ID: id, Name: tcall.Name, Arguments: string(tcall.Arguments)}
		if err := a.emit(&messages.StreamChunk{Type: messages.ChunkToolCall, ToolCall: d}); err != nil {
			return err
		}
	}
	if l.Done {
		a.done = true
		a.reason = l.DoneReason
		a.usage = l.usage()
		a.timings = l.timings()
		a.call.Result.Usage = a.usage
		u := a.usage
		if err := a.emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u}); err != nil {
			return err
		}
	}
	return nil
}

// finish normalises Ollama's done_reason: stop (tool_calls when the answer
// called tools), length; load, unload and anything else are FinishOther.
func finish(raw string, toolCalls bool) string {
	switch raw {
	case "":
		if toolCalls {
			return messages.FinishToolCalls
		}
		return ""
	case "stop":
		if toolCalls {
			return messages.FinishToolCalls
		}
		return messages.FinishStop
	case "length":
		return messages.FinishLength
	}
	return messages.FinishOther
}

func (a *aggregator) chat() (*messages.ChatResponse, Timings) {
	out := &messages.ChatResponse{Meta: a.call.Meta(), Model: a.model, Content: a.text.String(), ToolCalls: a.calls,
		RawFinishReason: a.reason, FinishReason: finish(a.reason, len(a.calls) > 0), Usage: a.usage}
	a.call.Result.Usage = a.usage
	return out, a.timings
}

func (a *aggregator) generated() (*messages.GenerateResponse, Timings) {
	out := &messages.GenerateResponse{Meta: a.call.Meta(), Model: a.model, Text: a.text.String(),
		RawFinishReason: a.reason, FinishReason: finish(a.reason, false), Usage: a.usage}
	a.call.Result.Usage = a.usage
	return out, a.timings
}

// decodeStream feeds each NDJSON object of r to a until one has "done":
// true. It returns io.ErrUnexpectedEOF when r ends first.
func decodeStream(r io.Reader, a *aggregator) error {
	nd := providers.NewNDJSONReader(r)
	for {
		line, err := nd.Next()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return io.ErrUnexpectedEOF
			case errors.Is(err, bufio.ErrTooLong):
				return malformed(a.call, "stream line too long", err)
			}
			return err
		}
		var l streamLine
		if err := json.Unmarshal(line, &l); err != nil {
			return malformed(a.call, "decoding stream line", err)
		}
		if err := a.feed(&l); err != nil {
			return err
		}
		if a.done {
			return nil
		}
	}
}

// DecodeChatStream reads an /api/chat NDJSON stream from r: it emits a
// ChunkText for each piece of content, a ChunkToolCall for each tool call
// (Ollama sends each call whole, so the fragment is the complete call, with
// an ID of "call_<n>" when Ollama gave none) and a ChunkUsage with the final
// object's counts (through em, which may have no Emit function), and returns
// the aggregated response and the reported Timings once it reads the object
// with "done": true. Anything after that object is not read.
//
// It returns io.ErrUnexpectedEOF when r ends first (Client.Stream classifies
// that as ClassStreamCut), a *messages.UpstreamError for an {"error": …}
// line (classified by its message) or for a line that is not a JSON object
// of the expected shape (ClassMalformed), the Emitter's error when the caller
// went away, or r's read error. It never panics on malformed input, and it
// records usage in call.Result.Usage as soon as it arrives. Not safe for
// concurrent use with the same call.
func DecodeChatStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.ChatResponse, Timings, error) {
	a := newAggregator(call, em, true)
	if err := decodeStream(r, a); err != nil {
		return nil, Timings{}, err
	}
	out, t := a.chat()
	return out, t, nil
}

// DecodeGenerateStream is DecodeChatStream for /api/generate, whose objects
// carry the text in "response".
func DecodeGenerateStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.GenerateResponse, Timings, error) {
	a := newAggregator(call, em, false)
	if err := decodeStream(r, a); err != nil {
		return nil, Timings{}, err
	}
	out, t := a.generated()
	return out, t, nil
}

// toolArguments turns the arguments of a tool call Ollama made into a JSON
// object: the object itself; the contents of a string that holds JSON (some
// OpenAI-minded proxies send one); otherwise the string as a JSON string;
// "{}" when missing or null.
func toolArguments(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}")
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return json.RawMessage("{}")
		}
		if json.Valid([]byte(s)) {
			return json.RawMessage(s)
		}
		return raw
	}
	return append(json.RawMessage(nil), raw...)
}
