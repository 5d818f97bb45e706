package sim

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func gemPost(t *testing.T, s *Server, path, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("X-Goog-Api-Key", "AIzaSy-sim-test-key-000000000000000")
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

const gemStreamPath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"

// gemLongPrompt gives a five-chunk stream with the default three words a
// chunk.
const gemLongPrompt = `{"contents":[{"role":"user","parts":[{"text":"one two three four five six seven eight nine ten eleven twelve"}]}]}`

func TestGeminiStreamFaults(t *testing.T) {
	tests := []struct {
		name    string
		fault   *Fault
		events  int
		cut     bool
		counted bool
	}{
		{"whole", nil, 5, false, true},
		{"cut after 2", &Fault{CutAfter: 2}, 2, true, false},
		{"cut at the last event", &Fault{CutAfter: 4}, 4, true, false},
		{"cut after the end is no cut", &Fault{CutAfter: 5}, 5, false, true},
		{"stall after 1", &Fault{StallAfter: 1}, 1, true, false},
		{"chunk delay", &Fault{ChunkDelay: time.Millisecond}, 5, false, true},
		{"in-stream error", &Fault{Body: `{"error":{"code":500,"status":"INTERNAL"}}`}, 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(Gemini())
			defer s.Close()
			if tt.fault != nil {
				s.Inject(*tt.fault)
			}
			resp, err := gemPost(t, s, gemStreamPath, gemLongPrompt)
			require.NoError(t, err)
			defer resp.Body.Close()
			var b []byte
			done := make(chan error, 1)
			go func() {
				var rerr error
				b, rerr = io.ReadAll(resp.Body)
				done <- rerr
			}()
			var rerr error
			select {
			case rerr = <-done:
			case <-time.After(300 * time.Millisecond):
				require.NotNil(t, tt.fault, "stream stalled")
				require.NotEqual(t, 0, tt.fault.StallAfter, "stream stalled")
				s.Close() // releases the stalled handler, which aborts the connection
				rerr = <-done
			}
			require.Equal(t, tt.cut, rerr != nil, "read error %v, want cut %v", rerr, tt.cut)
			if tt.cut {
				assert.ErrorIs(t, rerr, io.ErrUnexpectedEOF, "cut read error")
			}
			n := strings.Count(string(b), "data: ")
			assert.Equal(t, tt.events, n, "%d events, want %d: %q", n, tt.events, b)
			in, _ := s.Usage()
			assert.Equal(t, tt.counted, in > 0, "usage counted %d, want counted %v", in, tt.counted)
			if tt.name == "in-stream error" {
				assert.True(t, strings.HasSuffix(string(b), `{"error":{"code":500,"status":"INTERNAL"}}`), "stream %q", b)
			}
		})
	}
}

// TestGeminiConcurrent runs every route at once and checks the usage total
// equals what the answers reported.
func TestGeminiConcurrent(t *testing.T) {
	s := Start(Gemini())
	defer s.Close()
	var mu sync.Mutex
	var in, out int
	var wg sync.WaitGroup
	for i := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, body := "/v1beta/models/gemini-2.5-flash:generateContent", gemLongPrompt
			switch i % 3 {
			case 1:
				path = gemStreamPath
			case 2:
				path, body = "/v1beta/models/gemini-embedding-001:batchEmbedContents",
					`{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}}]}`
			}
			resp, err := gemPost(t, s, path, body)
			if !assert.NoError(t, err) {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if !assert.Equal(t, 200, resp.StatusCode, "%s: %s", path, b) {
				return
			}
			if i%3 == 2 {
				return
			}
			// The last usageMetadata of the answer is the total.
			text := string(b)
			k := strings.LastIndex(text, `"usageMetadata"`)
			var u struct {
				Prompt     int `json:"promptTokenCount"`
				Candidates int `json:"candidatesTokenCount"`
			}
			if err := json.Unmarshal([]byte(firstObject(text[k+len(`"usageMetadata"`):])), &u); !assert.NoError(t, err, "usage in %q", text) {
				return
			}
			mu.Lock()
			in, out = in+u.Prompt, out+u.Candidates
			mu.Unlock()
		}()
	}
	wg.Wait()
	sin, sout := s.Usage()
	assert.Equal(t, in, sin, "server usage %d/%d, answers %d/%d", sin, sout, in, out)
	assert.Equal(t, out, sout, "server usage %d/%d, answers %d/%d", sin, sout, in, out)
	assert.NotEqual(t, 0, in, "server usage %d/%d, answers %d/%d", sin, sout, in, out)
	assert.Equal(t, 0, s.InvalidCalls(), "calls %d, invalid %d", s.Calls(), s.InvalidCalls())
	assert.Equal(t, 24, s.Calls(), "calls %d, invalid %d", s.Calls(), s.InvalidCalls())
}

// firstObject returns the first {...} of s (no strings with braces inside).
func firstObject(s string) string {
	start := strings.IndexByte(s, '{')
	depth := 0
	for i := start; i >= 0 && i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return s[start : i+1]
			}
		}
	}
	return ""
}

func TestGeminiHelpers(t *testing.T) {
	for _, c := range [][2]string{{"inline_data", "inlineData"}, {"function_calling_config", "functionCallingConfig"}, {"text", "text"}} {
		assert.Equal(t, c[1], gemCamel(c[0]), "%s ↔ %s", c[0], c[1])
		assert.Equal(t, c[0], gemSnake(c[1]), "%s ↔ %s", c[0], c[1])
	}
	v := GeminiEmbedding("hello", "RETRIEVAL_QUERY", 16)
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if assert.Len(t, v, 16, "embedding %v (norm² %v)", v, norm) {
		assert.False(t, math.Abs(norm-1) > 1e-5, "embedding %v (norm² %v)", v, norm)
	}
	assert.True(t, GeminiEmbedding("hello", "RETRIEVAL_DOCUMENT", 16)[0] != v[0], "the task type does not change the vector")
	assert.Equal(t, "You said:| one two| three", strings.Join(gemPieces("You said: one two three", 2), "|"), "pieces")
	assert.Equal(t, "2s", gemDuration(2*time.Second))
	assert.Equal(t, "1.5s", gemDuration(1500*time.Millisecond))
	var env map[string]map[string]any
	err := json.Unmarshal([]byte(GeminiRateLimitBody(GeminiQuotaPerDay, 0)), &env)
	if assert.NoError(t, err, "rate-limit body without delay: %v %v", env, err) {
		assert.Len(t, env["error"]["details"].([]any), 2, "rate-limit body without delay: %v %v", env, err)
	}
}

// FuzzGeminiServe feeds arbitrary bodies to every route: the simulator
// answers each with a 200 or a google.rpc error, and never panics.
func FuzzGeminiServe(f *testing.F) {
	f.Add(0, []byte(gemLongPrompt))
	f.Add(0, []byte(`{"contents":[{"role":"user","parts":[{"text":"weather in Oslo and Rome"}]}],"tools":[{"functionDeclarations":[{"name":"w","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city",5]}}]}]}`))
	f.Add(0, []byte(`{"contents":[{"role":"user","parts":[{"text":"x"}]},{"role":"model","parts":[{"functionCall":{"name":"w","args":{}},"thought_signature":"Z2Vtc2ltLXNpZzp4"}]},{"role":"user","parts":[{"functionResponse":{"name":"w","response":{}}}]}],"generation_config":{"stop_sequences":"You","max_output_tokens":"2"}}`))
	f.Add(0, []byte(`{"contents":{"parts":{"text":"#block-prompt"}},"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"a":{"type":"ARRAY","items":{"type":"OBJECT","required":["z"]}}}}}]}],"toolConfig":{"functionCallingConfig":{"mode":2,"allowedFunctionNames":["f"]}}}`))
	f.Add(1, []byte(`{"content":{"parts":[{"text":"a"}]},"taskType":"CLUSTERING","outputDimensionality":"3"}`))
	f.Add(2, []byte(`{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}}]}`))
	f.Add(3, []byte(`{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"parts":[{"text":"a"}]}]}}`))
	s := Start(Gemini())
	defer s.Close()
	paths := []string{
		"/v1beta/models/gemini-3-pro:generateContent",
		"/v1beta/models/gemini-embedding-001:embedContent",
		"/v1beta/models/gemini-embedding-001:batchEmbedContents",
		"/v1beta/models/gemini-2.5-flash:countTokens",
		"/v1beta/models/gemini-2.5-flash:streamGenerateContent",
	}
	b := s.backend
	f.Fuzz(func(t *testing.T, route int, body []byte) {
		path := paths[(route%len(paths)+len(paths))%len(paths)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		b.Serve(s, rec, req, body, nil)
		if rec.Code == 200 {
			return
		}
		var env struct {
			Error struct {
				Code    int
				Status  string
				Message string
			}
		}
		err := json.Unmarshal(rec.Body.Bytes(), &env)
		require.NoError(t, err, "%d answer %q (%v)", rec.Code, rec.Body.String(), err)
		require.Equal(t, rec.Code, env.Error.Code, "%d answer %q (%v)", rec.Code, rec.Body.String(), err)
		require.NotEqual(t, "", env.Error.Status, "%d answer %q (%v)", rec.Code, rec.Body.String(), err)
		require.NotEqual(t, "", env.Error.Message, "%d answer %q (%v)", rec.Code, rec.Body.String(), err)
	})
}
