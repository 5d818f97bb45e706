package openai_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/openai"
	"github.com/switchyard-ai/switchyard/providers/openai/openaitest"
	"github.com/switchyard-ai/switchyard/providers/providertest"
)

const completionModel = "gpt-3.5-turbo-instruct"

// TestCompletions: the OpenAI adapter serves GenerateRequest through
// POST /v1/completions, plain and streamed, as the README's backend table
// says; every request body it builds is a valid CreateCompletionRequest and
// every simulator answer a valid CreateCompletionResponse (stream chunks
// share that shape).
func TestCompletions(t *testing.T) {
	require.NoError(t, openai.New().Check(&messages.GenerateRequest{Model: completionModel, Prompt: "p"}))
	var zero openai.Adapter
	require.NoError(t, zero.Check(&messages.GenerateRequest{Model: completionModel, Prompt: "p"}), "the zero adapter is plain OpenAI too")

	srv := startSim(t, nil)
	ct := &providertest.CaptureTransport{}
	run := func(req *messages.GenerateRequest, emit func(*messages.StreamChunk) bool) *messages.GenerateResponse {
		t.Helper()
		call := newCall(srv, req)
		call.Client.HTTP = &http.Client{Transport: ct}
		call.Emit = emit
		resp, err := do(t, call)
		require.NoError(t, err)
		require.IsType(t, &messages.GenerateResponse{}, resp)
		return resp.(*messages.GenerateResponse)
	}

	plain := run(&messages.GenerateRequest{Model: completionModel, Prompt: "say this is a test", MaxTokens: 50,
		Temperature: ptr(0.5), TopP: ptr(0.9), Stop: []string{"\n"}, Extra: map[string]any{"user": "u-1", "seed": 7}}, nil)
	assert.Equal(t, "echo: say this is a test", plain.Text)
	assert.Equal(t, messages.FinishStop, plain.FinishReason)
	assert.Equal(t, completionModel, plain.Model)
	assert.Equal(t, messages.Usage{InputTokens: 5, OutputTokens: 6}, plain.Usage)
	assert.Equal(t, "rid-generate", plain.RequestID)
	body := lastBody(t, srv)
	assert.Equal(t, "say this is a test", body["prompt"])
	assert.EqualValues(t, 50, body["max_tokens"])
	assert.Equal(t, []any{"\n"}, body["stop"])
	assert.NotContains(t, body, "stream")
	assert.Equal(t, "/v1/completions", srv.Requests()[0].Path)

	// The API's default max_tokens is 16: without MaxTokens, a long answer
	// is cut and says so.
	long := run(&messages.GenerateRequest{Model: completionModel, Prompt: strings.Repeat("word ", 30)}, nil)
	assert.Equal(t, messages.FinishLength, long.FinishReason)
	assert.Equal(t, "length", long.RawFinishReason)

	rec := &recorder{}
	streamed := run(&messages.GenerateRequest{Model: completionModel, Prompt: "say this is a test", Stream: true}, rec.Emit)
	assert.Equal(t, plain.Text, streamed.Text)
	assert.Equal(t, messages.FinishStop, streamed.FinishReason)
	assert.Equal(t, plain.Usage, streamed.Usage)
	var text strings.Builder
	for _, ch := range rec.All() {
		if ch.Type == messages.ChunkText {
			text.WriteString(ch.Text)
		}
	}
	assert.Equal(t, plain.Text, text.String(), "the chunks add up to the answer")
	body = lastBody(t, srv)
	assert.Equal(t, true, body["stream"])
	assert.Equal(t, map[string]any{"include_usage": true}, body["stream_options"])

	require.Len(t, srv.Requests(), 3)
	assert.Zero(t, srv.InvalidCalls(), "the simulator accepted every request")
	for _, r := range srv.Requests() {
		assert.NoError(t, validate(t, "CreateCompletionRequest", r.Body), "request %s", r.Body)
	}
	chunkSchema := completionChunkSchema(t)
	var badChunk any
	require.NoError(t, json.Unmarshal([]byte(`{"id":"c","object":"text_completion","created":1,"model":"m",
		"choices":[{"text":"x","index":0,"logprobs":null,"finish_reason":"banana"}]}`), &badChunk))
	require.Error(t, chunkSchema.Validate(badChunk), "the chunk schema is not vacuous")
	nAnswers, nChunks := 0, 0
	for _, c := range ct.Responses() {
		require.Equal(t, http.StatusOK, c.Status)
		if !c.HasContentType("text/event-stream") {
			nAnswers++
			assert.NoError(t, validate(t, "CreateCompletionResponse", c.Body.Bytes()), "answer %s", c.Body.Bytes())
			continue
		}
		sse := providers.NewSSEReader(bytes.NewReader(c.Body.Bytes()))
		for {
			ev, err := sse.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err)
			if string(ev.Data) == "[DONE]" {
				continue
			}
			nChunks++
			var doc any
			require.NoError(t, json.Unmarshal(ev.Data, &doc))
			assert.NoError(t, chunkSchema.Validate(doc), "chunk %s", ev.Data)
		}
	}
	assert.Equal(t, 2, nAnswers)
	assert.GreaterOrEqual(t, nChunks, 3)
}

// TestCompletionsRefusals: a chat model is refused by /v1/completions as the
// API does (404, not retryable), and the simulator is strict about the
// completion body: unknown fields, more than four stop sequences,
// stream_options without stream.
func TestCompletionsRefusals(t *testing.T) {
	srv := startSim(t, nil)
	_, err := do(t, newCall(srv, &messages.GenerateRequest{Model: "gpt-4o", Prompt: "p"}))
	ue := upstreamErr(t, err)
	assert.Equal(t, http.StatusNotFound, ue.Status)
	assert.Equal(t, messages.ClassInvalid, ue.Class)
	assert.False(t, ue.Retryable())
	assert.Contains(t, ue.Message, "chat model")

	for name, body := range map[string]string{
		"unknown field":             `{"model":"gpt-3.5-turbo-instruct","prompt":"p","priority":1}`,
		"five stop sequences":       `{"model":"gpt-3.5-turbo-instruct","prompt":"p","stop":["a","b","c","d","e"]}`,
		"stream_options, no stream": `{"model":"gpt-3.5-turbo-instruct","prompt":"p","stream_options":{"include_usage":true}}`,
		"temperature above 2":       `{"model":"gpt-3.5-turbo-instruct","prompt":"p","temperature":2.5}`,
		"prompt of mixed types":     `{"model":"gpt-3.5-turbo-instruct","prompt":["a",1]}`,
		"no model":                  `{"prompt":"p"}`,
	} {
		t.Run(name, func(t *testing.T) {
			status, answer := rawPost(t, srv, "/v1/completions", "application/json", "Bearer "+testKey, body)
			assert.Equal(t, http.StatusBadRequest, status, "answer %v", answer)
			assert.NoError(t, validate(t, "CreateCompletionRequest", []byte(`{"model":"m","prompt":"p"}`)))
		})
	}
	assert.Error(t, validate(t, "CreateCompletionRequest", []byte(`{"model":"m","prompt":"p","stop":["a","b","c","d","e"]}`)),
		"the spec agrees that five stop sequences are too many")
}

// completionChunkSchema is the spec's CreateCompletionResponse as a stream
// chunk: the spec says chunks share the completion's shape, but a choice's
// finish_reason is null until the choice ends, and usage is null except in
// the usage chunk (with stream_options.include_usage), as in chat chunks.
func completionChunkSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(openaitest.SpecFile())
	require.NoError(t, err)
	var doc struct {
		Components struct {
			Schemas map[string]map[string]any `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	s := doc.Components.Schemas["CreateCompletionResponse"]
	require.NotNil(t, s)
	props := s["properties"].(map[string]any)
	choice := props["choices"].(map[string]any)["items"].(map[string]any)
	fr := choice["properties"].(map[string]any)["finish_reason"].(map[string]any)
	fr["type"] = []any{"string", "null"}
	fr["enum"] = append(fr["enum"].([]any), nil)
	props["usage"] = map[string]any{"anyOf": []any{map[string]any{"$ref": openaitest.SpecRef("CompletionUsage")}, map[string]any{"type": "null"}}}
	var refs func(v any)
	refs = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				if name, ok := strings.CutPrefix(r, "#/components/schemas/"); ok {
					x["$ref"] = openaitest.SpecRef(name)
				}
			}
			for _, e := range x {
				refs(e)
			}
		case []any:
			for _, e := range x {
				refs(e)
			}
		}
	}
	refs(s)
	return openaitest.Compile(t, "file:///openai/completion-chunk.json", s)
}
