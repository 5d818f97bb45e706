package sim

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOPEAPyRepr(t *testing.T) {
	// Values checked against CPython's repr() of the UTF-8 bytes.
	for in, want := range map[string]string{
		"":          `b''`,
		" Deep":     `b' Deep'`,
		"\n":        `b'\n'`,
		"it's":      `b"it's"`,
		`it's "q"`:  `b'it\'s "q"'`,
		`a\b`:       `b'a\\b'`,
		"café":      `b'caf\xc3\xa9'`,
		"日":         `b'\xe6\x97\xa5'`,
		"\t\r\x00~": `b'\t\r\x00~'`,
		"\x7f":      `b'\x7f'`,
	} {
		got := OPEAPyRepr([]byte(in))
		assert.Equal(t, want, got, "OPEAPyRepr(%q) = %s, want %s", in, got, want)
	}
}

func TestOPEATokens(t *testing.T) {
	for _, s := range []string{"", "a", "echo: What is it?", "  lead", "trail  ", "a\nb\tc  d", "日本 語"} {
		toks := opeaTokens(s)
		assert.Equal(t, s, strings.Join(toks, ""), "tokens %q do not add up to %q", toks, s)
		for i, tok := range toks {
			if i > 0 {
				assert.NotEqual(t, "", strings.TrimSpace(tok), "%q: token %d is whitespace only", s, i)
			}
		}
	}
	got := opeaTokens("echo: a  b")
	assert.False(t, len(got) != 3 || got[1] != "a  ", "tokens %q", got)
}

func TestOPEAKey(t *testing.T) {
	tests := []struct {
		auth    string
		require bool
		want    string
	}{
		{"", false, OPEAAnonymous},
		{"", true, ""},
		{"Bearer k1", false, "k1"},
		{"bearer k1", true, "k1"},
		{"Basic dXNlcg==", false, ""},
		{"Bearer ", false, ""},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodPost, "/v1/chatqna", nil)
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		got := (&OPEABackend{RequireKey: tt.require}).Key(r)
		assert.Equal(t, tt.want, got, "Key(%q, require %v) = %q, want %q", tt.auth, tt.require, got, tt.want)
	}
}

func TestOPEAWriteError(t *testing.T) {
	tests := []struct {
		status int
		msg    string
		ct     string
		body   string
	}{
		{500, "Internal Server Error", "text/plain; charset=utf-8", "Internal Server Error"},
		{500, "", "text/plain; charset=utf-8", "Internal Server Error"},
		{502, "Bad Gateway", "text/html", "<title>502 Bad Gateway</title>"},
		{422, "bad", "application/json", `{"detail":[{"type":"value_error","loc":["body"],"msg":"bad"}]}`},
		{401, "invalid API key", "application/json", `{"detail":"Invalid authentication scheme or Missing Token"}`},
		{404, "Not Found", "application/json", `{"detail":"Not Found"}`},
		{503, "LLM not ready", "application/json", `{"detail":"LLM not ready"}`},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		OPEA().WriteError(w, tt.status, tt.msg)
		assert.False(t, w.Code != tt.status || w.Header().Get("Content-Type") != tt.ct || !strings.Contains(w.Body.String(), tt.body), "WriteError(%d, %q) = %d %s %q", tt.status, tt.msg, w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	// A rejection through Server.Invalid on the megaservice is plain text.
	w := httptest.NewRecorder()
	OPEA().WriteError(&opeaErrWriter{ResponseWriter: w, plain: true}, 500, "")
	assert.Equal(t, "Internal Server Error", w.Body.String(), "plain rejection")
}

func opeaPost(t *testing.T, s *Server, path, body string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Post(s.URL+path, "application/json", strings.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// TestOPEAChatQnAWire checks the exact bytes of ChatQnA's stream: one bytes
// literal per word, [DONE], usage recorded once the answer completed.
func TestOPEAChatQnAWire(t *testing.T) {
	tests := []struct {
		name    string
		backend *OPEABackend
		body    string
		want    string
		in, out int
	}{
		{"stream by default", OPEA(), `{"messages":"it's café"}`,
			"data: b'echo: '\n\ndata: b\"it's \"\n\ndata: b'caf\\xc3\\xa9'\n\ndata: [DONE]\n\n", 2, 3},
		{"bytes split", &OPEABackend{ByteTokens: 2}, `{"messages":"é","stream":true}`,
			"data: b'ec'\n\ndata: b'ho'\n\ndata: b': '\n\ndata: b'\\xc3\\xa9'\n\ndata: [DONE]\n\n", 1, 2},
		{"newline and quote escapes", OPEA(), `{"messages":[{"role":"system","content":"be terse"},{"role":"user","content":"a\nb 'c' \"d\""}]}`,
			"data: b'echo: '\n\ndata: b'a\\n'\n\ndata: b'b '\n\ndata: b\"'c' \"\n\ndata: b'\"d\"'\n\ndata: [DONE]\n\n", 6, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(tt.backend)
			defer s.Close()
			resp, body := opeaPost(t, s, "/v1/chatqna", tt.body)
			require.Equal(t, 200, resp.StatusCode, "%d %s\n%q\nwant\n%q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.want)
			require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"), "%d %s\n%q\nwant\n%q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.want)
			require.Equal(t, tt.want, body, "%d %s\n%q\nwant\n%q", resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.want)
			in, out := s.Usage()
			require.Equal(t, tt.in, in, "usage %d/%d, want %d/%d", in, out, tt.in, tt.out)
			require.Equal(t, tt.out, out, "usage %d/%d, want %d/%d", in, out, tt.in, tt.out)
		})
	}
}

func TestOPEAChatQnAPlain(t *testing.T) {
	s := Start(OPEA())
	defer s.Close()
	resp, body := opeaPost(t, s, "/v1/chatqna", `{"messages":"What is OPEA?","stream":false}`)
	var a struct {
		Model   string `json:"model"`
		Choices []struct {
			Message struct {
				Content string `json:"content"`
			} `json:"message"`
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
		Usage map[string]int `json:"usage"`
	}
	require.NoError(t, json.Unmarshal([]byte(body), &a), "%d %s", resp.StatusCode, body)
	require.Equal(t, 200, resp.StatusCode, "%d %s", resp.StatusCode, body)
	require.Equal(t, "chatqna", a.Model, "answer %+v", a)
	require.Len(t, a.Choices, 1, "answer %+v", a)
	require.Equal(t, "echo: What is OPEA?", a.Choices[0].Message.Content, "answer %+v", a)
	require.Equal(t, "stop", a.Choices[0].FinishReason, "answer %+v", a)
	require.Equal(t, 0, a.Usage["prompt_tokens"], "answer %+v", a)
	require.Equal(t, 0, a.Usage["completion_tokens"], "answer %+v", a)
	// ChatQnA reports zeros; the simulator records the estimate.
	in, out := s.Usage()
	require.Equal(t, 3, in, "usage %d/%d", in, out)
	require.Equal(t, 4, out, "usage %d/%d", in, out)
}

func TestOPEAStreamFaultsCountNoUsage(t *testing.T) {
	for _, f := range []Fault{{CutAfter: 1}, {CutAfter: 3}} {
		s := Start(OPEA())
		s.Inject(f)
		_, body := opeaPost(t, s, "/v1/chatqna", `{"messages":"a b"}`)
		require.NotContains(t, body, "[DONE]", "cut after %d: stream finished: %q", f.CutAfter, body)
		in, out := s.Usage()
		require.Equal(t, 0, in, "cut after %d: usage %d/%d recorded", f.CutAfter, in, out)
		require.Equal(t, 0, out, "cut after %d: usage %d/%d recorded", f.CutAfter, in, out)
		s.Close()
	}
}

func TestOPEARerankScore(t *testing.T) {
	full := OPEARerankScore("what is deep learning", "Deep learning is what it is")
	half := OPEARerankScore("what is deep learning", "deep thoughts, learning nothing")
	none := OPEARerankScore("what is deep learning", "cooking pasta")
	require.True(t, full > half && half > none && full < 1 && none > 0, "scores %v %v %v", full, half, none)
	require.Equal(t, 0.5, half, "scores %v %v %v", full, half, none)
}
