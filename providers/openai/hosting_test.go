package openai_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers/openai"
)

// hosted is a dialect whose requests go to /hosted/{model}{op path} with
// ?v=1, and whose bodies name the model's deployment.
func hosted() *openai.Adapter {
	paths := map[string]string{openai.OpChat: "/chat/completions", openai.OpEmbed: "/embeddings", openai.OpGenerate: "/completions",
		openai.OpModels: "/models", openai.OpResponses: "/responses"}
	return openai.NewDialect(openai.Dialect{
		Kind:       "hosted",
		Prefix:     "/ignored",
		Operations: append([]string{openai.OpChat, openai.OpEmbed, openai.OpGenerate, openai.OpModels, openai.OpResponses}, openai.StatefulOperations()...),
		Hosting: &openai.Hosting{
			Route: func(baseURL, op string, req messages.Request) (string, url.Values) {
				model := "none"
				switch r := req.(type) {
				case *messages.ChatRequest:
					model = r.Model
				case *messages.EmbedRequest:
					model = r.Model
				}
				return "/hosted/" + model + paths[op], url.Values{"v": {"1"}}
			},
			Model: func(m string) string { return "dep-" + m },
		},
	})
}

// hostedServer records each request's path, query and body and answers
// a chat completion (the answer does not matter here).
type hostedServer struct {
	*httptest.Server
	mu                sync.Mutex
	path, query, body string
}

func startHostedServer(t *testing.T) *hostedServer {
	hs := &hostedServer{}
	hs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		hs.mu.Lock()
		hs.path, hs.query, hs.body = r.URL.Path, r.URL.RawQuery, string(b)
		hs.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, chatJSON)
	}))
	t.Cleanup(hs.Close)
	return hs
}

func (hs *hostedServer) last(t *testing.T) (path, query string, body map[string]any, raw string) {
	t.Helper()
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.body != "" {
		require.NoError(t, json.Unmarshal([]byte(hs.body), &body))
	}
	return hs.path, hs.query, body, hs.body
}

func TestHostingRoutesAndModels(t *testing.T) {
	ds := startHostedServer(t)
	a := hosted()
	temp := 0.1
	tests := []struct {
		name      string
		req       messages.Request
		wantPath  string
		wantQuery string
		wantBody  map[string]any // members the body must have; nil for no body
		rawHas    string
	}{
		{name: "chat (struct body)", req: &messages.ChatRequest{Model: "m1", Temperature: &temp, Messages: []messages.Message{{Role: "user", Content: "hi"}}},
			wantPath: "/hosted/m1/chat/completions", wantQuery: "v=1", wantBody: map[string]any{"model": "dep-m1", "temperature": 0.1}, rawHas: `"temperature":0.1`},
		{name: "chat with extra (map body)", req: &messages.ChatRequest{Model: "m2", Messages: []messages.Message{{Role: "user", Content: "hi"}},
			Extra: map[string]any{"seed": 12345678901234567}},
			wantPath: "/hosted/m2/chat/completions", wantQuery: "v=1", wantBody: map[string]any{"model": "dep-m2"}, rawHas: `"seed":12345678901234567`},
		{name: "embeddings", req: &messages.EmbedRequest{Model: "e", Inputs: []string{"a"}},
			wantPath: "/hosted/e/embeddings", wantQuery: "v=1", wantBody: map[string]any{"model": "dep-e", "input": []any{"a"}}},
		{name: "models", req: &messages.ModelsRequest{}, wantPath: "/hosted/none/models", wantQuery: "v=1"},
		{name: "stateful operations keep their paths", req: &messages.ResponseObjectRequest{Action: messages.ResponseRetrieve, ResponseID: "resp_1"},
			wantPath: "/ignored/responses/resp_1", wantQuery: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, _ = doWith(t, a, ds.URL, tt.req, nil)
			path, query, body, raw := ds.last(t)
			assert.Equal(t, tt.wantPath, path)
			assert.Equal(t, tt.wantQuery, query)
			for k, v := range tt.wantBody {
				assert.Equal(t, v, body[k], "body member %q", k)
			}
			if tt.wantBody == nil {
				assert.Empty(t, raw)
			}
			assert.True(t, strings.Contains(raw, tt.rawHas), "body %s lacks %s", raw, tt.rawHas)
		})
	}
	// The request itself is not changed.
	req := &messages.ChatRequest{Model: "m1", Messages: []messages.Message{{Role: "user", Content: "hi"}}, Extra: map[string]any{"k": "v"}}
	_, _, _ = doWith(t, a, ds.URL, req, nil)
	assert.Equal(t, "m1", req.Model)
	assert.Equal(t, map[string]any{"k": "v"}, req.Extra)
	_, _, body, _ := ds.last(t)
	require.Equal(t, "dep-m1", body["model"])
}
