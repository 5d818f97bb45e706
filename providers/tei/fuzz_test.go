package tei_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/tei"

	"github.com/stretchr/testify/require"
)

func FuzzDecodeError(f *testing.F) {
	seeds := []struct {
		status int
		body   string
	}{
		{413, `{"error":"batch size 40 > maximum allowed batch size 32","error_type":"Validation"}`},
		{413, `Failed to buffer the request body: length limit exceeded`},
		{422, `{"error":"Tokenization error","error_type":"tokenizer"}`},
		{424, `{"error":"model is not a re-ranker model","error_type":"Backend"}`},
		{429, `{"error":"Model is overloaded","error_type":"Overloaded"}`},
		{429, `{"message":"Model is overloaded","code":429,"error_type":"Overloaded"}`},
		{413, `{"message":"Batch size error","type":"validation"}`},
		{503, `{"error":"unhealthy","error_type":"Unhealthy"}`},
		{400, `{"error":"` + "`inputs`" + ` cannot be empty","error_type":"Empty"}`},
		{500, `<html>oops</html>`},
		{302, ``},
		{0, `null`},
		{413, `{"error":["x"],"error_type":5}`},
		{413, "\xff\xfe not utf-8"},
	}
	for _, s := range seeds {
		f.Add(s.status, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, start := range []messages.ErrorClass{messages.ClassUnknown, providers.ClassifyStatus(status)} {
			e := &messages.UpstreamError{Status: status, Class: start}
			tei.DecodeError(status, http.Header{}, body, e)
			require.NotEqual(t, messages.ClassUnknown, e.Class, "class not set for status %d body %q", status, body)
			typ := strings.ToLower(e.Type)
			if e.ShouldRetry != nil {
				require.False(t, *e.ShouldRetry || typ != "backend", "ShouldRetry %v for type %q", *e.ShouldRetry, e.Type)
			}
			switch typ {
			case "overloaded":
				require.Equal(t, messages.ClassRateLimited, e.Class, "overloaded →")
				require.True(t, e.Retryable(), "overloaded →")
			case "validation", "tokenizer", "empty":
				require.Equal(t, messages.ClassInvalid, e.Class, "%s → %v", typ, e.Class)
				require.False(t, e.Retryable(), "%s → %v", typ, e.Class)
			case "backend":
				require.Equal(t, messages.ClassServer, e.Class, "backend → %v retryable %v", e.Class, e.Retryable())
				require.False(t, e.Retryable(), "backend → %v retryable %v", e.Class, e.Retryable())
			}
			if !utf8.ValidString(e.Message) {
				require.False(t, utf8.Valid(body), "message %q is not UTF-8", e.Message)
			}
			require.LessOrEqual(t, len(e.Message), 64<<10, "message of %d bytes", len(e.Message))
			_ = e.Error()
		}
	})
}

// FuzzEmbedAnswer drives the adapter against a server that answers anything:
// it never panics, and answers with a result of the right shape or a
// classified *UpstreamError.
func FuzzEmbedAnswer(f *testing.F) {
	f.Add(200, []byte(`[[0.1,0.2],[0.3,0.4]]`), uint8(0))
	f.Add(200, []byte(`[[{"index":1,"value":0.5}],[]]`), uint8(1))
	f.Add(200, []byte(`[{"index":1,"score":0.9},{"index":0,"score":0.1}]`), uint8(2))
	f.Add(200, []byte(`{"data":[{"index":1,"embedding":[1]},{"index":0,"embedding":[2]}],"usage":{"prompt_tokens":2}}`), uint8(3))
	f.Add(413, []byte(`{"error":"batch size 2 > maximum allowed batch size 1","error_type":"Validation"}`), uint8(0))
	f.Add(200, []byte(`{"version":"1.9.3"}`), uint8(4))
	f.Fuzz(func(t *testing.T, status int, body []byte, op uint8) {
		if status < 200 || status > 599 {
			status = 200
		}
		hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_, _ = w.Write(body)
		}))
		defer hs.Close()
		two := []string{"a", "b"}
		var (
			req messages.Request
			a   = tei.New()
		)
		switch op % 5 {
		case 0:
			req = &messages.EmbedRequest{Inputs: two}
		case 1:
			req = &messages.EmbedRequest{Inputs: two, Sparse: true}
		case 2:
			req = &messages.RerankRequest{Query: "q", Documents: two, TopN: 1}
		case 3:
			req, a = &messages.EmbedRequest{Inputs: two}, tei.NewOpenAICompatible()
		default:
			req = &messages.InfoRequest{}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		call := newCallAt(hs.URL, req)
		resp, err := a.Do(ctx, call)
		if err != nil {
			ue := upstreamErr(t, err)
			require.NotEqual(t, messages.ClassUnknown, ue.Class, "unclassified: %v", ue)
			return
		}
		switch r := resp.(type) {
		case *messages.EmbedResponse:
			require.Equal(t, 2, len(r.Vectors)+len(r.Sparse), "%d+%d vectors for 2 inputs", len(r.Vectors), len(r.Sparse))
		case *messages.RerankResponse:
			require.Len(t, r.Results, 1, "results")
			require.GreaterOrEqual(t, r.Results[0].Index, 0, "results")
			require.LessOrEqual(t, r.Results[0].Index, 1, "results")
		case *messages.InfoResponse:
			require.True(t, r.Healthy, "info not healthy")
		}
	})
}
