package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func gemPost(t *testing.T, s *Server, path, body string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
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
			if err != nil {
				t.Fatal(err)
			}
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
				if tt.fault == nil || tt.fault.StallAfter == 0 {
					t.Fatal("stream stalled")
				}
				s.Close() // releases the stalled handler, which aborts the connection
				rerr = <-done
			}
			if (rerr != nil) != tt.cut {
				t.Fatalf("read error %v, want cut %v", rerr, tt.cut)
			}
			if tt.cut && !errors.Is(rerr, io.ErrUnexpectedEOF) {
				t.Errorf("cut read error %v", rerr)
			}
			if n := strings.Count(string(b), "data: "); n != tt.events {
				t.Errorf("%d events, want %d: %q", n, tt.events, b)
			}
			if in, _ := s.Usage(); (in > 0) != tt.counted {
				t.Errorf("usage counted %d, want counted %v", in, tt.counted)
			}
			if tt.name == "in-stream error" && !strings.HasSuffix(string(b), `{"error":{"code":500,"status":"INTERNAL"}}`) {
				t.Errorf("stream %q", b)
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
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d %s", path, resp.StatusCode, b)
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
			if err := json.Unmarshal([]byte(firstObject(text[k+len(`"usageMetadata"`):])), &u); err != nil {
				t.Errorf("usage in %q: %v", text, err)
				return
			}
			mu.Lock()
			in, out = in+u.Prompt, out+u.Candidates
			mu.Unlock()
		}()
	}
	wg.Wait()
	if sin, sout := s.Usage(); sin != in || sout != out || in == 0 {
		t.Errorf("server usage %d/%d, answers %d/%d", sin, sout, in, out)
	}
	if s.InvalidCalls() != 0 || s.Calls() != 24 {
		t.Errorf("calls %d, invalid %d", s.Calls(), s.InvalidCalls())
	}
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
		if gemCamel(c[0]) != c[1] || gemSnake(c[1]) != c[0] {
			t.Errorf("%s ↔ %s: %s, %s", c[0], c[1], gemCamel(c[0]), gemSnake(c[1]))
		}
	}
	v := GeminiEmbedding("hello", "RETRIEVAL_QUERY", 16)
	var norm float64
	for _, x := range v {
		norm += float64(x) * float64(x)
	}
	if len(v) != 16 || math.Abs(norm-1) > 1e-5 {
		t.Errorf("embedding %v (norm² %v)", v, norm)
	}
	if w := GeminiEmbedding("hello", "RETRIEVAL_DOCUMENT", 16); w[0] == v[0] {
		t.Error("the task type does not change the vector")
	}
	if got := strings.Join(gemPieces("You said: one two three", 2), "|"); got != "You said:| one two| three" {
		t.Errorf("pieces %q", got)
	}
	if gemDuration(2*time.Second) != "2s" || gemDuration(1500*time.Millisecond) != "1.5s" {
		t.Error(gemDuration(2*time.Second), gemDuration(1500*time.Millisecond))
	}
	var env map[string]map[string]any
	if err := json.Unmarshal([]byte(GeminiRateLimitBody(GeminiQuotaPerDay, 0)), &env); err != nil || len(env["error"]["details"].([]any)) != 2 {
		t.Errorf("rate-limit body without delay: %v %v", env, err)
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
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Error.Code != rec.Code || env.Error.Status == "" || env.Error.Message == "" {
			t.Fatalf("%d answer %q (%v)", rec.Code, rec.Body.String(), err)
		}
	})
}
