package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/providertest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordings is the folder of the recorded exchanges (see SOURCE.md there).
const recordings = "../../testdata/anthropic"

// cassette is a go-vcr v1 cassette.
type cassette struct {
	Interactions []struct {
		Request struct {
			Body    string              `yaml:"body"`
			Headers map[string][]string `yaml:"headers"`
			URL     string              `yaml:"url"`
			Method  string              `yaml:"method"`
		} `yaml:"request"`
		Response struct {
			Body    string              `yaml:"body"`
			Headers map[string][]string `yaml:"headers"`
			Code    int                 `yaml:"code"`
		} `yaml:"response"`
	} `yaml:"interactions"`
}

func loadCassettes(t *testing.T) map[string]*cassette {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(recordings, "cassettes", "*.yaml"))
	require.NoError(t, err, "no cassettes in %s (%v)", recordings, err)
	require.NotEqual(t, 0, len(files), "no cassettes in %s (%v)", recordings, err)
	out := map[string]*cassette{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var c cassette
		err = yaml.Unmarshal(b, &c)
		require.NoError(t, err, "%s: %v", f, err)
		require.NotEqual(t, 0, len(c.Interactions), "%s has no interactions", f)
		out[filepath.Base(f)] = &c
	}
	return out
}

// recordedStream is one recorded event stream.
type recordedStream struct {
	name string
	body string
}

func loadStreams(t *testing.T) []recordedStream {
	t.Helper()
	var out []recordedStream
	files, _ := filepath.Glob(filepath.Join(recordings, "sse", "*.sse"))
	require.Len(t, files, 3, "found %d .sse files, want 3", len(files))
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out = append(out, recordedStream{filepath.Base(f), string(b)})
	}
	cs := loadCassettes(t)
	names := make([]string, 0, len(cs))
	for n := range cs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for i, it := range cs[n].Interactions {
			if strings.HasPrefix(it.Response.Headers["Content-Type"][0], "text/event-stream") {
				out = append(out, recordedStream{fmt.Sprintf("%s#%d", n, i), it.Response.Body})
			}
		}
	}
	return out
}

// decoded is what a recorded answer should decode to.
type decoded struct {
	id, model, content, stop string
	finish                   string // checked when set
	tools                    []messages.ToolCall
	usage                    messages.Usage
}

func toolCall(id, name, args string) messages.ToolCall {
	return messages.ToolCall{ID: id, Name: name, Arguments: json.RawMessage(args)}
}

// independentDecode reads a recorded stream line by line with generic JSON,
// as a cross-check of the decoder: text deltas, partial JSON per block, the
// last stop_reason and the last value of each usage counter.
func independentDecode(t *testing.T, body string) decoded {
	t.Helper()
	var d decoded
	type blk struct {
		typ, id, name string
		args          strings.Builder
	}
	var blocks []*blk
	byIndex := map[float64]*blk{}
	usage := map[string]float64{}
	takeUsage := func(u any) {
		m, _ := u.(map[string]any)
		for _, k := range []string{"input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"} {
			if v, ok := m[k].(float64); ok {
				usage[k] = v
			}
		}
	}
	for _, line := range strings.Split(body, "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		var ev map[string]any
		err := json.Unmarshal([]byte(data), &ev)
		require.NoError(t, err, "recorded data line %q: %v", data, err)
		switch ev["type"] {
		case "message_start":
			msg := ev["message"].(map[string]any)
			d.id, d.model = msg["id"].(string), msg["model"].(string)
			takeUsage(msg["usage"])
		case "content_block_start":
			cb := ev["content_block"].(map[string]any)
			b := &blk{typ: cb["type"].(string)}
			if b.typ == "tool_use" {
				b.id, b.name = cb["id"].(string), cb["name"].(string)
			}
			blocks = append(blocks, b)
			byIndex[ev["index"].(float64)] = b
		case "content_block_delta":
			delta := ev["delta"].(map[string]any)
			switch delta["type"] {
			case "text_delta":
				d.content += delta["text"].(string)
			case "input_json_delta":
				byIndex[ev["index"].(float64)].args.WriteString(delta["partial_json"].(string))
			}
		case "message_delta":
			if sr, ok := ev["delta"].(map[string]any)["stop_reason"].(string); ok {
				d.stop = sr
			}
			takeUsage(ev["usage"])
		}
	}
	for _, b := range blocks {
		if b.typ == "tool_use" {
			d.tools = append(d.tools, toolCall(b.id, b.name, b.args.String()))
		}
	}
	cw, cr := int(usage["cache_creation_input_tokens"]), int(usage["cache_read_input_tokens"])
	d.usage = messages.Usage{InputTokens: int(usage["input_tokens"]) + cw + cr, OutputTokens: int(usage["output_tokens"]), CacheReadTokens: cr, CacheWriteTokens: cw}
	return d
}

func checkDecoded(t *testing.T, got *messages.ChatResponse, want decoded) {
	t.Helper()
	assert.Equal(t, want.id, got.ID, "decoded id/model/content/stop = %q/%q/%q/%q, want %q/%q/%q/%q", got.ID, got.Model, got.Content, got.RawFinishReason, want.id, want.model, want.content, want.stop)
	assert.Equal(t, want.model, got.Model, "decoded id/model/content/stop = %q/%q/%q/%q, want %q/%q/%q/%q", got.ID, got.Model, got.Content, got.RawFinishReason, want.id, want.model, want.content, want.stop)
	assert.Equal(t, want.content, got.Content, "decoded id/model/content/stop = %q/%q/%q/%q, want %q/%q/%q/%q", got.ID, got.Model, got.Content, got.RawFinishReason, want.id, want.model, want.content, want.stop)
	assert.Equal(t, want.stop, got.RawFinishReason, "decoded id/model/content/stop = %q/%q/%q/%q, want %q/%q/%q/%q", got.ID, got.Model, got.Content, got.RawFinishReason, want.id, want.model, want.content, want.stop)
	assert.Equal(t, finishReason(want.stop), got.FinishReason, "finish reason %q for %q", got.FinishReason, want.stop)
	if want.finish != "" {
		assert.Equal(t, want.finish, got.FinishReason, "finish reason %q for %q", got.FinishReason, want.stop)
	}
	assert.True(t, got.Usage == want.usage, "usage = %+v, want %+v", got.Usage, want.usage)
	require.Len(t, got.ToolCalls, len(want.tools), "tool calls = %+v, want %+v", got.ToolCalls, want.tools)
	for i := range want.tools {
		g, w := got.ToolCalls[i], want.tools[i]
		assert.False(t, g.ID != w.ID || g.Name != w.Name || !jsonEqual(g.Arguments, w.Arguments), "tool call %d = %s %s %s, want %s %s %s", i, g.ID, g.Name, g.Arguments, w.ID, w.Name, w.Arguments)
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestRecordedStreams decodes every recorded stream with the adapter's stream
// decoder, against hand-checked expectations where we have them and against
// an independent line-by-line decode for all of them, with \n and \r\n line
// endings.
func TestRecordedStreams(t *testing.T) {
	known := map[string]decoded{
		"fallback-end.sse": {id: "msg_end", model: "fallback-model", content: " there! Happy to help with that.", stop: "end_turn", finish: messages.FinishStop,
			usage: messages.Usage{InputTokens: 31, OutputTokens: 547}},
		"fallback-tooluse.sse": {id: "msg_tool", model: "fallback-model", stop: "tool_use", finish: messages.FinishToolCalls,
			tools: []messages.ToolCall{toolCall("toolu_echo_1", "echo", `{"text": "hello"}`)}, usage: messages.Usage{InputTokens: 31, OutputTokens: 40}},
		"refusal.sse": {id: "msg_primary", model: "primary-model", content: "Hi", stop: "refusal", finish: messages.FinishContentFilter,
			usage: messages.Usage{InputTokens: 28, OutputTokens: 106}},
		"tool_runner_next_streaming.yaml#0": {id: "msg_01P7nF1bmxyzFZjF8zwbUDBM", model: "claude-3-7-sonnet-20250219",
			content: "I'd be happy to check the weather in San Francisco for you. Let me get that information for you right away.", stop: "tool_use", finish: messages.FinishToolCalls,
			tools: []messages.ToolCall{toolCall("toolu_017QoD96fYwGzCWvLfaPADWg", "get_weather", `{"city": "San Francisco"}`)},
			usage: messages.Usage{InputTokens: 394, OutputTokens: 79}},
	}
	streams := loadStreams(t)
	require.GreaterOrEqual(t, len(streams), 6, "only %d recorded streams", len(streams))
	seen := 0
	for _, rs := range streams {
		for _, eol := range []string{"\n", "\r\n"} {
			t.Run(fmt.Sprintf("%s/%q", rs.name, eol), func(t *testing.T) {
				var chunks []*messages.StreamChunk
				emit := func(c *messages.StreamChunk) error {
					c.Seq = len(chunks)
					chunks = append(chunks, c)
					return nil
				}
				resp, err := decodeStream(strings.NewReader(strings.ReplaceAll(rs.body, "\n", eol)), emit)
				require.NoError(t, err, "decode")
				checkDecoded(t, resp, independentDecode(t, rs.body))
				if want, ok := known[rs.name]; ok {
					seen++
					checkDecoded(t, resp, want)
				}
				providertest.CheckChatChunks(t, chunks, "", resp)
			})
		}
	}
	assert.Equal(t, 2*len(known), seen, "checked %d known recordings, want %d", seen/2, len(known))
}

// TestRecordedStreamsCut checks that every strict prefix of a recorded stream
// that ends before message_stop's event is complete is reported as cut.
func TestRecordedStreamsCut(t *testing.T) {
	for _, rs := range loadStreams(t) {
		t.Run(rs.name, func(t *testing.T) {
			end := strings.Index(rs.body, "event: message_stop")
			require.GreaterOrEqual(t, end, 0, "no message_stop")
			end += strings.Index(rs.body[end:], "\n\n") + 1 // the last byte before the blank line
			step := 1
			if len(rs.body) > 4000 {
				step = 7 // keep the test fast on the long cassette streams
			}
			for n := 0; n <= end; n += step {
				_, err := decodeStream(strings.NewReader(rs.body[:n]), nil)
				require.ErrorIs(t, err, io.ErrUnexpectedEOF, "prefix of %d bytes: error %v, want io.ErrUnexpectedEOF", n, err)
			}
			_, err := decodeStream(strings.NewReader(rs.body[:end+1]), nil)
			require.NoError(t, err, "complete stream")
		})
	}
}

// TestRecordedResponses decodes every recorded non-stream answer with the
// adapter's response decoding.
func TestRecordedResponses(t *testing.T) {
	n := 0
	for name, c := range loadCassettes(t) {
		for i, it := range c.Interactions {
			if it.Response.Headers["Content-Type"][0] != "application/json" {
				continue
			}
			n++
			t.Run(fmt.Sprintf("%s#%d", name, i), func(t *testing.T) {
				var w wireResponse
				require.NoError(t, json.Unmarshal([]byte(it.Response.Body), &w))
				resp, uerr := w.toChat()
				require.Nil(t, uerr)
				// Independent reading of the same body.
				var raw struct {
					ID, Model  string
					StopReason string `json:"stop_reason"`
					Content    []map[string]any
					Usage      map[string]any
				}
				require.NoError(t, json.Unmarshal([]byte(it.Response.Body), &raw))
				count := func(k string) int { v, _ := raw.Usage[k].(float64); return int(v) }
				want := decoded{id: raw.ID, model: raw.Model, stop: raw.StopReason,
					usage: messages.Usage{InputTokens: count("input_tokens") + count("cache_creation_input_tokens") + count("cache_read_input_tokens"),
						OutputTokens: count("output_tokens"), CacheReadTokens: count("cache_read_input_tokens"), CacheWriteTokens: count("cache_creation_input_tokens")}}
				require.NotEqual(t, 0, want.usage.InputTokens, "recorded usage %v not read", raw.Usage)
				require.NotEqual(t, 0, want.usage.OutputTokens, "recorded usage %v not read", raw.Usage)
				for _, b := range raw.Content {
					switch b["type"] {
					case "text":
						want.content += b["text"].(string)
					case "tool_use":
						in, _ := json.Marshal(b["input"])
						want.tools = append(want.tools, toolCall(b["id"].(string), b["name"].(string), string(in)))
					}
				}
				checkDecoded(t, resp, want)
			})
		}
	}
	assert.GreaterOrEqual(t, n, 10, "only %d recorded JSON answers", n)
}

// chatFromRecorded maps a recorded request body onto a neutral ChatRequest,
// the way a caller would write the same conversation.
func chatFromRecorded(t *testing.T, body map[string]any) *messages.ChatRequest {
	t.Helper()
	req := &messages.ChatRequest{Model: body["model"].(string), MaxTokens: int(body["max_tokens"].(float64))}
	req.Stream, _ = body["stream"].(bool)
	tools, _ := body["tools"].([]any)
	for _, x := range tools {
		tl := x.(map[string]any)
		schema, _ := json.Marshal(tl["input_schema"])
		desc, _ := tl["description"].(string)
		req.Tools = append(req.Tools, messages.Tool{Name: tl["name"].(string), Description: desc, Parameters: schema})
	}
	blockText := func(c any) string {
		switch c := c.(type) {
		case string:
			return c
		case []any:
			var s string
			for _, b := range c {
				s += b.(map[string]any)["text"].(string)
			}
			return s
		}
		return ""
	}
	for _, x := range body["messages"].([]any) {
		m := x.(map[string]any)
		role := m["role"].(string)
		blocks, isBlocks := m["content"].([]any)
		if !isBlocks {
			req.Messages = append(req.Messages, messages.Message{Role: role, Content: m["content"].(string)})
			continue
		}
		var msg messages.Message
		msg.Role = role
		for _, y := range blocks {
			b := y.(map[string]any)
			switch b["type"] {
			case "text":
				msg.Content += b["text"].(string)
			case "tool_use":
				in, _ := json.Marshal(b["input"])
				msg.ToolCalls = append(msg.ToolCalls, messages.ToolCall{ID: b["id"].(string), Name: b["name"].(string), Arguments: in})
			case "tool_result":
				isErr, _ := b["is_error"].(bool)
				req.Messages = append(req.Messages, messages.Message{Role: messages.RoleTool, ToolCallID: b["tool_use_id"].(string), Content: blockText(b["content"]), IsError: isErr})
			default:
				require.Fail(t, "recorded block type not mapped", "block type %v", b["type"])
			}
		}
		if msg.Content != "" || len(msg.ToolCalls) > 0 {
			req.Messages = append(req.Messages, msg)
		}
	}
	return req
}

// normalize rewrites the equivalent spellings the API accepts into one: a
// string content (of a message or a tool_result) is a single text block, and
// an empty tools list is no tools list (a neutral request cannot tell them
// apart).
func normalize(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if l, ok := x.([]any); ok && k == "tools" && len(l) == 0 {
				continue
			}
			if s, ok := x.(string); ok && k == "content" {
				out[k] = []any{map[string]any{"type": "text", "text": s}}
				continue
			}
			out[k] = normalize(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = normalize(x)
		}
		return out
	}
	return v
}

// diffShape lists where a and b differ in key sets, JSON types or values.
func diffShape(path string, a, b any) []string {
	ta, tb := fmt.Sprintf("%T", a), fmt.Sprintf("%T", b)
	if ta != tb {
		return []string{fmt.Sprintf("%s: ours is %s, recorded %s", path, ta, tb)}
	}
	var out []string
	switch a := a.(type) {
	case map[string]any:
		b := b.(map[string]any)
		keys := map[string]bool{}
		for k := range a {
			keys[k] = true
		}
		for k := range b {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			x, inA := a[k]
			y, inB := b[k]
			switch {
			case !inA:
				out = append(out, fmt.Sprintf("%s.%s: only in the recording", path, k))
			case !inB:
				out = append(out, fmt.Sprintf("%s.%s: only in ours", path, k))
			default:
				out = append(out, diffShape(path+"."+k, x, y)...)
			}
		}
	case []any:
		b := b.([]any)
		if len(a) != len(b) {
			return []string{fmt.Sprintf("%s: ours has %d elements, recorded %d", path, len(a), len(b))}
		}
		for i := range a {
			out = append(out, diffShape(fmt.Sprintf("%s[%d]", path, i), a[i], b[i])...)
		}
	default:
		if !reflect.DeepEqual(a, b) {
			out = append(out, fmt.Sprintf("%s: ours %v, recorded %v", path, a, b))
		}
	}
	return out
}

// TestRequestsMatchRecordings rebuilds every recorded request from an
// equivalent ChatRequest and compares the body (key sets, types and values,
// with string content read as one text block) and the headers with what the
// official SDK sent.
func TestRequestsMatchRecordings(t *testing.T) {
	var got struct {
		header http.Header
		path   string
		body   []byte
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.header, got.path = r.Header.Clone(), r.URL.Path
		got.body, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"msg_x","type":"message","role":"assistant","model":"m","content":[],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`)
	}))
	defer srv.Close()
	n := 0
	for name, c := range loadCassettes(t) {
		for i, it := range c.Interactions {
			n++
			t.Run(fmt.Sprintf("%s#%d", name, i), func(t *testing.T) {
				var recorded map[string]any
				require.NoError(t, json.Unmarshal([]byte(it.Request.Body), &recorded))
				req := chatFromRecorded(t, recorded)
				req.Stream = false // the stub answers JSON; the stream flag is compared below
				call := &providers.Call{Request: req, RequestID: "rid", Provider: "claude", BaseURL: srv.URL,
					Key: providers.NewCredential("k", testSecret), Client: &providers.Client{}}
				_, err := New().Do(context.Background(), call)
				require.NoError(t, err, "Do")
				var ours map[string]any
				require.NoError(t, json.Unmarshal(got.body, &ours))
				if s, _ := recorded["stream"].(bool); s {
					ours["stream"] = true
				}
				assert.Empty(t, diffShape("body", normalize(ours), normalize(recorded)), "our body differs from the recorded one")
				u, _ := url.Parse(it.Request.URL)
				assert.Equal(t, u.Path, got.path, "path %s, recorded %s %s", got.path, it.Request.Method, u.Path)
				assert.Equal(t, http.MethodPost, it.Request.Method, "path %s, recorded %s %s", got.path, it.Request.Method, u.Path)
				for _, h := range []string{"Anthropic-Version", "Content-Type", "Accept"} {
					want := it.Request.Headers[h]
					if assert.Len(t, want, 1, "header %s = %q, recorded %q", h, got.header.Get(h), want) {
						assert.Equal(t, want[0], got.header.Get(h), "header %s = %q, recorded %q", h, got.header.Get(h), want)
					}
				}
				if assert.Len(t, it.Request.Headers["X-Api-Key"], 1, "x-api-key not sent the recorded way") {
					assert.Equal(t, testSecret, got.header.Get("X-Api-Key"), "x-api-key not sent the recorded way")
				}
			})
		}
	}
	assert.GreaterOrEqual(t, n, 20, "only %d recorded requests", n)
}

// TestRecordedRequestsAcceptedBySimulator replays every request the official
// SDK sent against the simulator: a strict simulator must accept them all.
func TestRecordedRequestsAcceptedBySimulator(t *testing.T) {
	s := startSim(t)
	for name, c := range loadCassettes(t) {
		for i, it := range c.Interactions {
			t.Run(fmt.Sprintf("%s#%d", name, i), func(t *testing.T) {
				h := map[string]string{}
				for k, v := range it.Request.Headers {
					h[k] = v[0]
				}
				h["X-Api-Key"] = testSecret
				status, rh, body := rawPost(t, s, it.Request.Method, PathMessages, h, it.Request.Body)
				require.Equal(t, 200, status, "status %d: %s", status, body)
				wantCT := it.Response.Headers["Content-Type"][0]
				ct := rh.Get("Content-Type")
				assert.True(t, strings.HasPrefix(ct, strings.Split(wantCT, ";")[0]), "content type %q, recorded %q", ct, wantCT)
				assert.False(t, bytes.Contains(body, []byte(testSecret)), "the answer shows the key")
			})
		}
	}
	assert.Equal(t, 0, s.InvalidCalls(), "%d recorded requests rejected", s.InvalidCalls())
}
