package tgi

import (
	"bytes"
	"encoding/json"
	"io"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// streamEvent is one /generate_stream event: a StreamResponse, or an
// ErrorResponse sent instead.
type streamEvent struct {
	Token *struct {
		Text    string `json:"text"`
		Special bool   `json:"special"`
	} `json:"token"`
	GeneratedText *string `json:"generated_text"`
	Details       *struct {
		FinishReason    string `json:"finish_reason"`
		GeneratedTokens int    `json:"generated_tokens"`
		InputLength     int    `json:"input_length"`
	} `json:"details"`
	Error     json.RawMessage `json:"error"`
	ErrorType string          `json:"error_type"`
}

// DecodeGenerateStream reads a TGI /generate_stream event stream from r (the
// "data:" lines carry no space, comment lines are keep-alives): it emits a
// ChunkText for the text of each token that is not special (the end-of-
// sequence token "</s>" is), and, from the final event's details, a
// ChunkUsage (input_length, generated_tokens), through em, which may have no
// Emit function. The final event is the one whose generated_text is not null;
// its generated_text is the answer's Text (it holds the prompt too when
// return_full_text was asked for), and the decoder returns as soon as it has
// read it.
//
// It returns io.ErrUnexpectedEOF when r ends before the final event (so
// Client.Stream classifies it as ClassStreamCut), a *messages.UpstreamError
// for an error event ({"error","error_type"}, classified like an error
// answer: validation is ClassInvalid, overloaded ClassRateLimited, generation
// ClassServer not to be retried, …) or for an event that is not a valid
// StreamResponse (ClassMalformed), the Emitter's error when the caller went
// away, or r's read error. It never panics on malformed input. It records
// usage in call.Result.Usage. Not safe for concurrent use with the same call.
func DecodeGenerateStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.GenerateResponse, error) {
	sse := providers.NewSSEReader(r)
	for {
		ev, err := sse.NextInStream()
		if err != nil {
			return nil, err
		}
		data := bytes.TrimSpace(ev.Data)
		if len(data) == 0 {
			continue
		}
		var se streamEvent
		if err := json.Unmarshal(data, &se); err != nil {
			return nil, call.Fail(messages.ClassMalformed, call.Result.Status, "decoding stream event", err)
		}
		if !providers.IsJSONNull(se.Error) {
			return nil, streamError(call, se.Error, se.ErrorType)
		}
		if se.Token == nil {
			return nil, call.Fail(messages.ClassMalformed, call.Result.Status, "stream event without a token", nil)
		}
		if !se.Token.Special && se.Token.Text != "" {
			if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: se.Token.Text}); err != nil {
				return nil, err
			}
		}
		if se.GeneratedText == nil {
			continue
		}
		out := &messages.GenerateResponse{Meta: call.Meta(), Text: *se.GeneratedText}
		if d := se.Details; d != nil {
			out.RawFinishReason = d.FinishReason
			out.FinishReason = normFinish(d.FinishReason)
			out.Usage = messages.Usage{InputTokens: d.InputLength, OutputTokens: d.GeneratedTokens}
			call.Result.Usage = out.Usage
			u := out.Usage
			if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u}); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
}
