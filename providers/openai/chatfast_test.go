package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// realCompletion is a chat completion in the shape the service sends today
// (the fields of a gpt-4o-mini answer).
const realCompletion = `{
  "id": "chatcmpl-BkQ2mYk7fN3pXwq9RzT1cUeVd8sLa",
  "object": "chat.completion",
  "created": 1750000000,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Hello! How can I help you today?\n\n- \"quoted\" \u00e9 \ud83d\ude00",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_34a54ae93c"
}`

// slowChat is the reference: encoding/json into chatCompletion.
func slowChat(b []byte) (chatAnswer, error) {
	var w chatCompletion
	if err := json.Unmarshal(b, &w); err != nil {
		return chatAnswer{}, err
	}
	var a chatAnswer
	a.fromCompletion(&w)
	return a, nil
}

// requireSameAnswer compares what decodeChat uses of two answers.
func requireSameAnswer(t *testing.T, want, got chatAnswer, body []byte) {
	t.Helper()
	require.Equal(t, want.ID, got.ID, "id of %q", body)
	require.Equal(t, want.Model, got.Model, "model of %q", body)
	require.Equal(t, want.Content, got.Content, "content of %q", body)
	require.Equal(t, want.Refusal, got.Refusal, "refusal of %q", body)
	require.Equal(t, want.Finish, got.Finish, "finish of %q", body)
	require.Equal(t, want.Choices, got.Choices, "choices of %q", body)
	require.Equal(t, want.Usage.usage(), got.Usage.usage(), "usage of %q", body)
	require.Equal(t, len(want.ToolCalls), len(got.ToolCalls), "tool calls of %q", body)
	require.True(t, len(want.Error) == 0 || string(want.Error) == "null", "fast decoder accepted an error member: %q", body)
}

func TestFastChatAccepts(t *testing.T) {
	cases := []struct{ name, body string }{
		{"real answer", realCompletion},
		{"compact", `{"id":"c","model":"m","choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"length"}]}`},
		{"second choice is index 0", `{"id":"c","choices":[{"index":1,"message":{"content":"one"}},{"index":0,"message":{"content":"zero"},"finish_reason":"stop"}]}`},
		{"no index 0 takes the first", `{"choices":[{"index":2,"message":{"content":"two"}},{"index":3,"message":{"content":"three"}}]}`},
		{"null content and refusal", `{"choices":[{"index":0,"message":{"content":null,"refusal":"I can't"},"finish_reason":"stop"}]}`},
		{"empty tool calls", `{"choices":[{"index":0,"message":{"content":"x","tool_calls":[]}}]}`},
		{"null tool calls and error", `{"error":null,"choices":[{"index":0,"message":{"content":"x","tool_calls":null}}]}`},
		{"escapes and lone surrogate", `{"choices":[{"index":0,"message":{"content":"a\tb\/c\\d\u0000\ud800x\udc00\ud83d"}}]}`},
		{"invalid UTF-8 in content", "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"a\xffb\xe2\x82\"}}]}"},
		{"skipped values of every kind", `{"x":[1,-2.5e+3,0.1E2,true,false,null,{"a":{"b":[]}},"s\"t"],"choices":[{"index":-0,"message":{}}],"usage":{"prompt_tokens":1,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":0,"cache_write_tokens":4}}}`},
		{"whitespace everywhere", " \t\r\n{ \"choices\" : [ { \"index\" : 0 , \"message\" : { \"content\" : \"x\" } } ] } \n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := slowChat([]byte(tc.body))
			require.NoError(t, err)
			var got chatAnswer
			require.True(t, fastChat([]byte(tc.body), &got), "fast decoder declined")
			requireSameAnswer(t, want, got, []byte(tc.body))
		})
	}
}

func TestFastChatDeclines(t *testing.T) {
	cases := []struct{ name, body string }{
		{"tool calls", `{"choices":[{"index":0,"message":{"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{}"}}]}}]}`},
		{"error member", `{"error":{"message":"boom","type":"server_error"}}`},
		{"no choices", `{"id":"c","choices":[]}`},
		{"choices missing", `{"id":"c"}`},
		{"key in another case", `{"ID":"c","choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"escaped key", `{"\u0069d":"c","choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"non-ASCII key", `{"ſ":"c","choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"repeated key", `{"id":"a","id":"b","choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"null id", `{"id":null,"choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"fractional index", `{"choices":[{"index":0.0,"message":{"content":"x"}}]}`},
		{"exponent tokens", `{"choices":[{"index":0,"message":{"content":"x"}}],"usage":{"prompt_tokens":1e2}}`},
		{"huge tokens", `{"choices":[{"index":0,"message":{"content":"x"}}],"usage":{"prompt_tokens":99999999999999999999}}`},
		{"null usage", `{"choices":[{"index":0,"message":{"content":"x"}}],"usage":null}`},
		{"null choice", `{"choices":[null]}`},
		{"content parts", `{"choices":[{"index":0,"message":{"content":[{"type":"text","text":"x"}]}}]}`},
		{"trailing garbage", `{"choices":[{"index":0,"message":{"content":"x"}}]} x`},
		{"control character in string", "{\"choices\":[{\"index\":0,\"message\":{\"content\":\"a\x01\"}}]}"},
		{"bad escape", `{"choices":[{"index":0,"message":{"content":"\q"}}]}`},
		{"short unicode escape", `{"choices":[{"index":0,"message":{"content":"\u12"}}]}`},
		{"trailing comma", `{"choices":[{"index":0,"message":{"content":"x"}},]}`},
		{"leading zero", `{"x":01,"choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"bare minus", `{"x":-,"choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"too deep to skip", `{"x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `,"choices":[{"index":0,"message":{"content":"x"}}]}`},
		{"not an object", `[1]`},
		{"truncated", `{"choices":[{"index":0,"message":{"content":"x`},
		{"empty", ``},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var got chatAnswer
			require.False(t, fastChat([]byte(tc.body), &got), "fast decoder accepted %q", tc.body)
			// The fallback still decodes it as before, or fails as before.
			want, wantErr := slowChat([]byte(tc.body))
			var a chatAnswer
			err := decodeChatAnswer([]byte(tc.body), &a)
			if wantErr != nil {
				require.EqualError(t, err, wantErr.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, a)
		})
	}
}

// FuzzFastChat holds the fast decoder to encoding/json: whatever it
// accepts, encoding/json decodes to the same answer.
func FuzzFastChat(f *testing.F) {
	for _, s := range []string{
		realCompletion,
		`{"id":"c","model":"m","choices":[{"index":0,"message":{"content":"hi"},"finish_reason":"length"}]}`,
		`{"choices":[{"index":1,"message":{"content":"one"}},{"index":0,"message":{"content":"zero","refusal":null}}],"usage":{"prompt_tokens":3,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":1}}}`,
		`{"choices":[{"index":0,"message":{"content":"a\u00e9\ud83d\ude00\n\"\\"}}]}`,
		`{"x":[1,-2.5e+3,true,null,{"a":"b"}],"choices":[{"index":0,"message":{}}]}`,
		`{"error":{"message":"boom"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got chatAnswer
		if !fastChat(body, &got) {
			return
		}
		want, err := slowChat(body)
		require.NoError(t, err, "fast decoder accepted what encoding/json refuses: %q", body)
		requireSameAnswer(t, want, got, body)
	})
}

// BenchmarkDecodeChatAnswer compares the fast decoder with encoding/json on
// a real answer.
func BenchmarkDecodeChatAnswer(b *testing.B) {
	body := []byte(realCompletion)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var a chatAnswer
			if !fastChat(body, &a) {
				b.Fatal("declined")
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := slowChat(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}
