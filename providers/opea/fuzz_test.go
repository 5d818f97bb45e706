package opea_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/opea"

	"github.com/stretchr/testify/require"
)

// decodeStream runs DecodeChatQnAStream over body, collecting chunks.
func decodeStream(body []byte) (*messages.ChatResponse, []messages.StreamChunk, error) {
	rec := &recorder{}
	call := &providers.Call{RequestID: "rid", Provider: "opea", Emit: rec.Emit}
	out, err := opea.DecodeChatQnAStream(bytes.NewReader(body), call, providers.NewEmitter(call))
	return out, rec.All(), err
}

func TestDecodeChatQnAStream(t *testing.T) {
	sample, err := os.ReadFile("../../testdata/opea/chatqna-xeon-sample.sse")
	require.NoError(t, err)
	tests := []struct {
		name       string
		body       string
		want       string
		wantFinish string
		wantUsage  messages.Usage
		wantErr    error               // io.ErrUnexpectedEOF, or nil
		wantClass  messages.ErrorClass // for an *UpstreamError
	}{
		{name: "recorded ChatQnA answer (OPEA docs, Xeon guide)", body: string(sample),
			want: "\nAnswer: In fiscal 2023, NIKE, Inc. achieved record Revenues of $51.2 billion.</s>"},
		{name: "escapes", body: "data: b'it\\'s'\n\ndata: b\" \\\"q\\\" \\\\ \\t\\n\"\n\ndata: b'\\xc3\\xa9\\r'\n\ndata: [DONE]\n\n", want: "it's \"q\" \\ \t\né\r"},
		{name: "double-quoted repr", body: "data: b\"it's\"\n\ndata: [DONE]\n\n", want: "it's"},
		{name: "UTF-8 split across literals", body: "data: b'caf\\xc3'\n\ndata: b'\\xa9 \\xe6\\x97'\n\ndata: b'\\xa5\\xf0\\x9f\\x98'\n\ndata: b'\\x80'\n\ndata: [DONE]\n\n", want: "café 日😀"},
		{name: "UTF-8 never completed", body: "data: b'ok\\xe6\\x97'\n\ndata: [DONE]\n\n", want: "ok\uFFFD"},
		{name: "UTF-8 cut by a text token", body: "data: b'\\xe6'\n\ndata: \"x\"\n\ndata: [DONE]\n\n", want: "\uFFFDx"},
		{name: "invalid bytes", body: "data: b'a\\xffb'\n\ndata: [DONE]\n\n", want: "a\uFFFDb"},
		{name: "unescaped guardrail literal", body: "data: b'I can't answer that'\n\ndata: [DONE]\n\n", want: "I can't answer that"},
		{name: "no space, CRLF, comments, DONE without space", body: ": ping\r\ndata:b'a'\r\n\r\ndata: b'b'\r\n\r\ndata:[DONE]\r\n\r\n", want: "ab"},
		{name: "OpenAI chunks with usage and finish",
			body: `data: {"id":"chatcmpl-1","model":"llama","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}` + "\n\n" +
				`data: {"id":"chatcmpl-1","model":"llama","choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null},{"index":1,"delta":{"content":"other"}}]}` + "\n\n" +
				`data: {"id":"chatcmpl-1","model":"llama","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"length"}]}` + "\n\n" +
				`data: {"id":"chatcmpl-1","model":"llama","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}` + "\n\n" +
				"data: [DONE]\n\n",
			want: "Hello", wantFinish: "length", wantUsage: messages.Usage{InputTokens: 5, OutputTokens: 2}},
		{name: "completion, TGI, ops and text documents",
			body: `data: {"choices":[{"index":0,"text":"a"}]}` + "\n\n" +
				`data: {"token":{"id":1,"text":"b","special":false}}` + "\n\n" +
				`data: {"token":{"id":2,"text":"</s>","special":true}}` + "\n\n" +
				`data: {"ops":[{"op":"add","path":"/x","value":"c"}]}` + "\n\n" +
				`data: {"text":"d"}` + "\n\n" +
				`data: {"unknown":"shape"}` + "\n\n" +
				`data: {"choices":"not a list"}` + "\n\n" +
				"data: [DONE]\n\n",
			want: "abcd"},
		{name: "plain text and JSON strings", body: "data: Hello\n\ndata:  \n\ndata: \"wor\\u006cd\"\n\ndata: 42\n\ndata: line1\ndata: line2\n\ndata: [DONE]\n\n", want: "Hello world42line1\nline2"},
		{name: "error chunk", body: `data: b'partial'` + "\n\n" + `data: {"error":{"message":"LLM backend failed","type":"server_error"}}` + "\n\n", wantClass: messages.ClassServer},
		{name: "error string", body: `data: {"error":"boom"}` + "\n\n", wantClass: messages.ClassServer},
		{name: "ends before DONE", body: "data: b'a'\n\ndata: b'b'\n\n", wantErr: io.ErrUnexpectedEOF},
		{name: "ends mid event", body: "data: b'a'\n\ndata: [DO", wantErr: io.ErrUnexpectedEOF},
		{name: "empty body", body: "", wantErr: io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, chunks, err := decodeStream([]byte(tt.body))
			if tt.wantErr != nil || tt.wantClass != messages.ClassUnknown {
				var ue *messages.UpstreamError
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
				}
				if tt.wantClass != messages.ClassUnknown {
					require.ErrorAs(t, err, &ue)
					require.Equal(t, tt.wantClass, ue.Class, "error %v", err)
				}
				require.Nil(t, out, "answer returned with an error")
				return
			}
			require.NoError(t, err)
			var text strings.Builder
			for _, ch := range chunks {
				text.WriteString(ch.Text)
			}
			require.Equal(t, tt.want, out.Content, "content %q, chunks %q, want %q", out.Content, text.String(), tt.want)
			require.Equal(t, tt.want, text.String(), "content %q, chunks %q, want %q", out.Content, text.String(), tt.want)
			require.Equal(t, tt.wantFinish, out.RawFinishReason, "finish %q usage %+v", out.RawFinishReason, out.Usage)
			require.True(t, out.Usage == tt.wantUsage, "finish %q usage %+v", out.RawFinishReason, out.Usage)
		})
	}
}

// FuzzDecodeChatQnAStream: any body gives an answer or an error (cut, an
// UpstreamError), never a panic; text is valid UTF-8 and the chunks add up
// to the answer.
func FuzzDecodeChatQnAStream(f *testing.F) {
	sample, _ := os.ReadFile("../../testdata/opea/chatqna-xeon-sample.sse")
	f.Add(sample)
	for _, s := range []string{
		"data: b'caf\\xc3'\n\ndata: b'\\xa9'\n\ndata: [DONE]\n\n",
		"data: b\"it's\"\n\ndata: b'\\777\\q'\n\ndata: [DONE]\n\n",
		`data: {"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1}}` + "\n\ndata: [DONE]\n\n",
		`data: {"error":{"message":"m"}}` + "\n\n",
		"data: plain\n\ndata: \"s\"\n\ndata: [DONE]\n\n",
		"data: b'\n\n",
		"data: b'''x'''\n\ndata:[DONE]\n\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, chunks, err := decodeStream(body)
		if err != nil {
			var ue *messages.UpstreamError
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				require.ErrorAs(t, err, &ue, "unexpected error")
			}
			require.Nil(t, out, "answer with an error")
			return
		}
		require.NotNil(t, out, "no answer and no error")
		var text strings.Builder
		for _, ch := range chunks {
			require.Equal(t, messages.ChunkText, ch.Type, "chunk %+v", ch)
			require.NotEqual(t, "", ch.Text, "chunk %+v", ch)
			text.WriteString(ch.Text)
		}
		require.Equal(t, out.Content, text.String(), "content %q, chunks %q, finish %q", out.Content, text.String(), out.FinishReason)
		require.True(t, utf8.ValidString(out.Content), "content %q, chunks %q, finish %q", out.Content, text.String(), out.FinishReason)
		require.NotEqual(t, "", out.FinishReason, "content %q, chunks %q, finish %q", out.Content, text.String(), out.FinishReason)
	})
}

func TestDecodeErrorShapes(t *testing.T) {
	long := strings.Repeat("é", 800)
	tests := []struct {
		name        string
		status      int
		body        string
		msg, typ    string
		code        string
		class       messages.ErrorClass
		msgMaxBytes int
	}{
		{"validation list", 422, `{"detail":[{"type":"missing","loc":["body","input"],"msg":"Field required"},{"type":"string_type","loc":["body","retrieved_docs",0,"text"],"msg":"Input should be a valid string"}]}`,
			"body.input: Field required; body.retrieved_docs.0.text: Input should be a valid string", "missing", "", messages.ClassInvalid, 0},
		{"pydantic v1 list", 422, `{"detail":[{"loc":["body","messages"],"msg":"field required","type":"value_error.missing"}]}`,
			"body.messages: field required", "value_error.missing", "", messages.ClassInvalid, 0},
		{"odd list entries", 422, `{"detail":[1,{"msg":"no loc"}]}`, "1; no loc", "", "", messages.ClassInvalid, 0},
		{"detail string", 401, `{"detail":"Token has expired."}`, "Token has expired.", "", "", messages.ClassAuth, 0},
		{"detail object", 400, `{"detail":{"reason":"x"}}`, `{"reason":"x"}`, "", "", messages.ClassInvalid, 0},
		{"GenAIComps ErrorResponse", 400, `{"object":"error","message":"bad top_k","code":40302}`, "bad top_k", "", "40302", messages.ClassInvalid, 0},
		{"OpenAI error passed through", 429, `{"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limit_exceeded"}}`, "slow down", "rate_limit_error", "rate_limit_exceeded", messages.ClassRateLimited, 0},
		{"error string", 500, `{"error":"boom"}`, "boom", "", "", messages.ClassServer, 0},
		{"plain text", 500, "Internal Server Error", "Internal Server Error", "", "", messages.ClassServer, 0},
		{"plain text, first line", 500, "Traceback (most recent call last):\n  File ...", "Traceback (most recent call last):", "", "", messages.ClassServer, 0},
		{"nginx page", 502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body></body></html>", "502 Bad Gateway", "", "", messages.ClassServer, 0},
		{"h1 only", 503, "<html><body><h1>Service &amp; Unavailable</h1></body></html>", "Service & Unavailable", "", "", messages.ClassServer, 0},
		{"JSON string", 500, `"oops"`, "oops", "", "", messages.ClassServer, 0},
		{"JSON number", 500, `42`, "", "", "", messages.ClassServer, 0},
		{"empty", 503, "", "", "", "", messages.ClassServer, 0},
		{"long message clipped", 400, `{"detail":"` + long + `"}`, "", "", "", messages.ClassInvalid, 1024 + len("…")},
		{"invalid UTF-8", 500, "bad \xff byte", "bad \uFFFD byte", "", "", messages.ClassServer, 0},
		{"3xx", 302, "", "", "", "", messages.ClassServer, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &messages.UpstreamError{Class: providers.ClassifyStatus(tt.status)}
			opea.DecodeError(tt.status, http.Header{}, []byte(tt.body), e)
			require.Equal(t, tt.class, e.Class, "class %v type %q code %q", e.Class, e.Type, e.Code)
			require.Equal(t, tt.typ, e.Type, "class %v type %q code %q", e.Class, e.Type, e.Code)
			require.Equal(t, tt.code, e.Code, "class %v type %q code %q", e.Class, e.Type, e.Code)
			if tt.msgMaxBytes > 0 {
				require.LessOrEqual(t, len(e.Message), tt.msgMaxBytes, "message of %d bytes", len(e.Message))
				require.True(t, utf8.ValidString(e.Message), "message of %d bytes", len(e.Message))
				require.True(t, strings.HasSuffix(e.Message, "…"), "message of %d bytes", len(e.Message))
			} else {
				require.Equal(t, tt.msg, e.Message, "message")
			}
		})
	}
}

// FuzzDecodeError: any status and body leave a class set, and a bounded,
// valid UTF-8 message.
func FuzzDecodeError(f *testing.F) {
	for _, s := range []string{
		`{"detail":[{"type":"missing","loc":["body","messages"],"msg":"Field required"}]}`,
		`{"detail":"x"}`, `{"detail":null,"error":{"message":"m","code":5}}`, `{"object":"error","message":"m","code":40302}`,
		"Internal Server Error", "<html><title>502</title></html>", `{"detail":[null,{"loc":[1,{"a":2}]}]}`, "",
	} {
		f.Add(500, []byte(s))
		f.Add(422, []byte(s))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		e := &messages.UpstreamError{Class: providers.ClassifyStatus(status)}
		opea.DecodeError(status, http.Header{}, body, e)
		require.NotEqual(t, messages.ClassUnknown, e.Class, "status %d left no class", status)
		require.True(t, utf8.ValidString(e.Message), "message %q", e.Message)
		require.LessOrEqual(t, len(e.Message), int(1024+len("…")), "message %q", e.Message)
	})
}
