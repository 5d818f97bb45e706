package opea

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
)

// ---- request ----

// qnaMessage is one entry of ChatQnA's "messages" list. ChatQnA's request
// model types every value of a message as a string (or a list of parts), so
// content is always a string here, never null.
type qnaMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// qnaReserved are body fields Extra may not set: the adapter depends on
// them.
var qnaReserved = []string{"messages", "stream"}

// messageText is the text a message carries: Content, or its text parts
// joined by "\n" (as ChatQnA's handle_message joins them).
func messageText(m messages.Message) string {
	if len(m.Parts) == 0 {
		return m.Content
	}
	var texts []string
	for _, p := range m.Parts {
		if p.Type == messages.PartText {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n")
}

// qnaMessages maps the conversation: a lone user message without a system
// prompt becomes the plain string form ({"messages":"What is …?"}, what
// OPEA's own examples send); anything else the list form, system prompt
// first.
func qnaMessages(r *messages.ChatRequest) any {
	if r.System == "" && len(r.Messages) == 1 && r.Messages[0].Role == messages.RoleUser {
		return messageText(r.Messages[0])
	}
	list := make([]qnaMessage, 0, len(r.Messages)+1)
	if r.System != "" {
		list = append(list, qnaMessage{Role: messages.RoleSystem, Content: r.System})
	}
	for _, m := range r.Messages {
		list = append(list, qnaMessage{Role: m.Role, Content: messageText(m)})
	}
	return list
}

// qnaBody builds the /v1/chatqna body: Extra first (retriever and reranker
// fields such as k, top_n, search_type, chat_template), then the adapter's
// own fields, which win. "stream" is always explicit: ChatQnA streams when
// it is missing.
func qnaBody(r *messages.ChatRequest) (map[string]any, error) {
	body := map[string]any{}
	for k, v := range r.Extra {
		if isReserved(k, qnaReserved) {
			continue
		}
		body[k] = v
	}
	body["messages"] = qnaMessages(r)
	body["stream"] = r.Stream
	if r.Model != "" {
		body["model"] = r.Model
	}
	if r.MaxTokens > 0 {
		body["max_tokens"] = r.MaxTokens
	}
	if r.Temperature != nil {
		body["temperature"] = *r.Temperature
	}
	if r.TopP != nil {
		body["top_p"] = *r.TopP
	}
	if len(r.Stop) > 0 {
		body["stop"] = r.Stop
	}
	if _, err := json.Marshal(body); err != nil {
		return nil, err
	}
	return body, nil
}

func isReserved(k string, reserved []string) bool {
	for _, r := range reserved {
		if k == r {
			return true
		}
	}
	return false
}

// promptWords estimates the input tokens of a ChatQnA request: the words
// (runs of characters other than space, tab and newline) of every text it
// sends.
func promptWords(r *messages.ChatRequest) int {
	n := words(r.System)
	for _, m := range r.Messages {
		n += words(messageText(m))
	}
	return n
}

// words counts runs of characters other than ' ', '\n' and '\t': the
// simulators' notion of a token (sim.Words), used to estimate usage ChatQnA
// does not report.
func words(s string) int {
	n, in := 0, false
	for _, c := range s {
		if c == ' ' || c == '\n' || c == '\t' {
			in = false
			continue
		}
		if !in {
			n++
			in = true
		}
	}
	return n
}

// ---- call ----

func (a *Adapter) doChatQnA(ctx context.Context, c *providers.Client, call *providers.Call, r *messages.ChatRequest) (messages.Response, error) {
	body, err := qnaBody(r)
	if err != nil {
		return nil, call.Fail(messages.ClassInvalid, 0, "encoding request body", err)
	}
	ex := exchange(http.MethodPost, a.path, body)
	if r.Stream {
		ex.Accept = "text/event-stream"
	}
	resp, err := c.Send(ctx, call, ex)
	if err != nil {
		return nil, err
	}
	em := providers.NewEmitter(call)
	var out *messages.ChatResponse
	if isEventStream(resp.Header) {
		err = c.Stream(ctx, call, resp, func(rd io.Reader) error {
			var err error
			out, err = DecodeChatQnAStream(rd, call, em)
			return err
		})
		if err != nil {
			return nil, err
		}
	} else {
		out, err = decodeChatQnA(ctx, c, call, resp)
		if err != nil {
			return nil, err
		}
		if out.Content != "" {
			if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: out.Content}); err != nil {
				return nil, call.Fail(messages.ClassCancelled, call.Result.Status, "caller went away", context.Canceled)
			}
		}
	}
	if out.Usage == (messages.Usage{}) {
		out.Usage = messages.Usage{InputTokens: promptWords(r), OutputTokens: words(out.Content)}
	}
	call.Result.Usage = out.Usage
	u := out.Usage
	if err := em.Emit(&messages.StreamChunk{Type: messages.ChunkUsage, Usage: &u}); err != nil {
		return nil, call.Fail(messages.ClassCancelled, call.Result.Status, "caller went away", context.Canceled)
	}
	out.Meta = call.Meta()
	return out, nil
}

// ---- plain answer ----

type wireUsage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
}

func (u *wireUsage) usage() messages.Usage {
	if u == nil {
		return messages.Usage{}
	}
	return messages.Usage{InputTokens: max(u.PromptTokens, 0), OutputTokens: max(u.CompletionTokens, 0)}
}

// qnaResponse is ChatQnA's ChatCompletionResponse.
type qnaResponse struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Content *string `json:"content"`
		} `json:"message"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *wireUsage `json:"usage"`
}

func decodeChatQnA(ctx context.Context, c *providers.Client, call *providers.Call, resp *http.Response) (*messages.ChatResponse, error) {
	var w qnaResponse
	if err := c.DecodeJSON(ctx, call, resp, &w); err != nil {
		return nil, err
	}
	return chatQnAAnswer(call, &w)
}

// chatQnAAnswer turns a decoded ChatCompletionResponse into a ChatResponse:
// the choice with index 0 (or the first), its finish reason normalised.
// Usage is what the answer says (ChatQnA sends zeros); the caller estimates
// it when it is zero.
func chatQnAAnswer(call *providers.Call, w *qnaResponse) (*messages.ChatResponse, error) {
	if len(w.Choices) == 0 {
		return nil, malformed(call, "ChatQnA answer without choices", nil)
	}
	ch := w.Choices[0]
	for _, c := range w.Choices {
		if c.Index == 0 {
			ch = c
			break
		}
	}
	out := &messages.ChatResponse{ID: w.ID, Model: w.Model, Usage: w.Usage.usage()}
	if ch.Message.Content != nil {
		out.Content = *ch.Message.Content
	}
	raw := ""
	if ch.FinishReason != nil {
		raw = *ch.FinishReason
	}
	setFinish(out, raw)
	return out, nil
}

// setFinish records a finish reason; an answer that ended normally without
// one (every bytes-literal stream) finished with "stop".
func setFinish(out *messages.ChatResponse, raw string) {
	out.RawFinishReason = raw
	switch raw {
	case "", "stop", "eos_token", "stop_sequence":
		out.FinishReason = messages.FinishStop
	case "length", "max_tokens":
		out.FinishReason = messages.FinishLength
	case "tool_calls", "function_call":
		out.FinishReason = messages.FinishToolCalls
	case "content_filter":
		out.FinishReason = messages.FinishContentFilter
	default:
		out.FinishReason = messages.FinishOther
	}
}

// ---- stream ----

// qnaChunk is the JSON an event of a ChatQnA stream may carry instead of a
// bytes literal: an OpenAI chat.completion.chunk passed through from the
// LLM, a text_completion chunk, a TGI token, a LangServe "ops" patch, or a
// {"text": …} document.
type qnaChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
		Text         *string `json:"text"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Token *struct {
		Text    string `json:"text"`
		Special bool   `json:"special"`
	} `json:"token"`
	Ops []struct {
		Value json.RawMessage `json:"value"`
	} `json:"ops"`
	Text  *string         `json:"text"`
	Usage *wireUsage      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

// DecodeChatQnAStream reads a ChatQnA (megaservice) event stream from r and
// returns the aggregated answer once it reads "data: [DONE]". Each event's
// data is one token in any of the forms OPEA sends:
//
//   - a Python bytes literal, b'…' or b"…" (what ChatQnA's align_generator
//     and the orchestrator's token_generator write: repr(token.encode())),
//     with \n, \', \\, \xNN, octal and the other Python escapes; a literal
//     OPEA wrote without escaping (its guardrail path does) is decoded
//     leniently;
//   - a JSON object: an OpenAI chat.completion.chunk (choices[].delta.
//     content, finish_reason, usage), a completion chunk (choices[].text), a
//     TGI token (token.text, special tokens skipped), a LangServe patch
//     (ops[0].value) or {"text": …}; an "error" member fails the stream
//     (ClassServer); objects of any other shape are skipped;
//   - a JSON string (its value), or anything else as plain text.
//
// Bytes are joined across tokens before they become text, so a multi-byte
// UTF-8 character split over two literals arrives whole; bytes that are not
// valid UTF-8 become U+FFFD. A ChunkText is emitted through em (which may
// have no Emit function) for each piece of text. Usage is the last non-zero
// usage a JSON chunk carried, zero otherwise (bytes-literal streams carry
// none); no usage chunk is emitted. FinishReason is the chunks'
// finish_reason, "stop" when none came. Only the first choice (index 0) of
// JSON chunks is aggregated.
//
// It returns io.ErrUnexpectedEOF when r ends before [DONE] (so Client.Stream
// classifies it as ClassStreamCut), a *messages.UpstreamError for an error
// chunk, the Emitter's error when the caller went away, or r's read error.
// It never panics on malformed input. Not safe for concurrent use with the
// same call.
func DecodeChatQnAStream(r io.Reader, call *providers.Call, em *providers.Emitter) (*messages.ChatResponse, error) {
	sse := providers.NewSSEReader(r)
	var (
		out    = &messages.ChatResponse{}
		text   strings.Builder
		join   utf8Joiner
		finish string
	)
	emit := func(s string) error {
		if s == "" {
			return nil
		}
		text.WriteString(s)
		return em.Emit(&messages.StreamChunk{Type: messages.ChunkText, Text: s})
	}
	for {
		ev, err := sse.NextInStream()
		if err != nil {
			return nil, err
		}
		data := bytes.TrimSpace(ev.Data)
		if string(data) == "[DONE]" {
			break
		}
		if len(data) == 0 {
			// Whitespace alone is a plain-text token (" " between words).
			if err := emit(join.flush() + strings.ToValidUTF8(string(ev.Data), "\uFFFD")); err != nil {
				return nil, err
			}
			continue
		}
		if b, ok := decodeBytesToken(data); ok {
			if err := emit(join.add(b)); err != nil {
				return nil, err
			}
			continue
		}
		// Not bytes: flush bytes held back for a character that never
		// completed, then read the token as JSON or text.
		if err := emit(join.flush()); err != nil {
			return nil, err
		}
		s, done, err := jsonToken(call, data, out, &finish)
		if err != nil {
			return nil, err
		}
		if !done {
			s = string(ev.Data) // plain text, as sent
		}
		if err := emit(strings.ToValidUTF8(s, "\uFFFD")); err != nil {
			return nil, err
		}
	}
	if err := emit(join.flush()); err != nil {
		return nil, err
	}
	out.Content = text.String()
	setFinish(out, finish)
	out.Meta = call.Meta()
	return out, nil
}

// jsonToken reads one event's data as JSON: the text it carries, whether it
// was JSON at all (done), and updates out (id, model, usage) and finish.
func jsonToken(call *providers.Call, data []byte, out *messages.ChatResponse, finish *string) (s string, done bool, err error) {
	if !json.Valid(data) {
		return "", false, nil
	}
	switch data[0] {
	case '"':
		var v string
		if json.Unmarshal(data, &v) == nil {
			return v, true, nil
		}
		return "", false, nil
	case '{':
	default:
		return "", false, nil // a number, true, null, an array: plain text
	}
	var ch qnaChunk
	if json.Unmarshal(data, &ch) != nil {
		// Valid JSON whose members have unexpected types: skip it, as
		// ChatQnA's own align_generator skips what it cannot read.
		return "", true, nil
	}
	if !providers.IsJSONNull(ch.Error) {
		return "", true, streamError(call, ch.Error)
	}
	if out.ID == "" {
		out.ID = ch.ID
	}
	if out.Model == "" {
		out.Model = ch.Model
	}
	if u := ch.Usage.usage(); u != (messages.Usage{}) {
		out.Usage = u
	}
	var b strings.Builder
	for _, c := range ch.Choices {
		if c.Index != 0 {
			continue
		}
		if c.Delta.Content != nil {
			b.WriteString(*c.Delta.Content)
		}
		if c.Text != nil {
			b.WriteString(*c.Text)
		}
		if c.FinishReason != nil && *c.FinishReason != "" {
			*finish = *c.FinishReason
		}
	}
	if ch.Token != nil && !ch.Token.Special {
		b.WriteString(ch.Token.Text)
	}
	if len(ch.Ops) > 0 {
		var v string
		if json.Unmarshal(ch.Ops[0].Value, &v) == nil {
			b.WriteString(v)
		}
	}
	if ch.Text != nil && len(ch.Choices) == 0 {
		b.WriteString(*ch.Text)
	}
	return b.String(), true, nil
}

// utf8Joiner turns a sequence of byte tokens into text without splitting a
// multi-byte character: add returns the complete characters so far and holds
// back the bytes of one that is not complete yet (at most three).
type utf8Joiner struct {
	pending []byte
}

func (j *utf8Joiner) add(b []byte) string {
	if len(j.pending) == 0 && len(b) == 0 {
		return ""
	}
	buf := append(j.pending, b...)
	cut := len(buf) - incompleteSuffix(buf)
	j.pending = append([]byte(nil), buf[cut:]...)
	return strings.ToValidUTF8(string(buf[:cut]), "\uFFFD")
}

// flush returns what is held back (as U+FFFD: it never completed).
func (j *utf8Joiner) flush() string {
	if len(j.pending) == 0 {
		return ""
	}
	s := strings.ToValidUTF8(string(j.pending), "\uFFFD")
	j.pending = nil
	return s
}

// incompleteSuffix returns the length of a UTF-8 sequence at the end of b
// whose lead byte promises more bytes than follow it, 0 if there is none.
func incompleteSuffix(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		c := b[i]
		switch {
		case c < 0x80:
			return 0
		case c < 0xC0:
			continue // a continuation byte: look further back
		}
		need := 4
		switch {
		case c < 0xE0:
			need = 2
		case c < 0xF0:
			need = 3
		case c >= 0xF8:
			return 0 // not a lead byte
		}
		if len(b)-i < need {
			return len(b) - i
		}
		return 0
	}
	return 0
}

// isEventStream reports whether an answer is an event stream rather than
// one JSON document.
func isEventStream(h http.Header) bool {
	return strings.HasPrefix(strings.ToLower(strings.TrimSpace(h.Get("Content-Type"))), "text/event-stream")
}
