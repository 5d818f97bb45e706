package azure_test

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-ai/switchyard/messages"
	"github.com/switchyard-ai/switchyard/providers"
	"github.com/switchyard-ai/switchyard/providers/azure"
	"github.com/switchyard-ai/switchyard/sim"
)

// TestErrorClasses runs every error answer the simulator gives (or a fault
// injects) through the adapter and checks its classification.
func TestErrorClasses(t *testing.T) {
	chat := func(model, text string) messages.Request {
		return &messages.ChatRequest{Model: model, Messages: user(text)}
	}
	tests := []struct {
		name      string
		version   string
		key       string // default testKey
		fault     *sim.Fault
		req       messages.Request
		class     messages.ErrorClass
		status    int
		code      string
		retry     time.Duration
		filtered  bool
		retryable bool
	}{
		{name: "400 body refused", req: &messages.ChatRequest{Model: "gpt-4o", Messages: user("hi"), Extra: map[string]any{"bogus": 1}},
			class: messages.ClassInvalid, status: 400},
		{name: "400 unknown api version", version: "2023-01-01", req: chat("gpt-4o", "hi"), class: messages.ClassInvalid, status: 400, code: "BadRequest"},
		{name: "400 operation not supported", version: dated, req: chat("embed", "hi"), class: messages.ClassInvalid, status: 400, code: "OperationNotSupported"},
		{name: "401 wrong key", key: "wrong-key-0000000000000000", req: chat("gpt-4o", "hi"), class: messages.ClassAuth, status: 401, code: "401"},
		{name: "403", fault: &sim.Fault{Status: 403}, req: chat("gpt-4o", "hi"), class: messages.ClassAuth, status: 403},
		{name: "404 deployment (v1)", req: chat("no-such-deployment", "hi"), class: messages.ClassInvalid, status: 404, code: "DeploymentNotFound"},
		{name: "404 deployment (dated)", version: dated, req: chat("no-such-deployment", "hi"), class: messages.ClassInvalid, status: 404, code: "DeploymentNotFound"},
		{name: "408 with retry-after-ms", fault: &sim.Fault{Status: 408, Header: map[string]string{"retry-after-ms": "1500"}},
			req: chat("gpt-4o", "hi"), class: messages.ClassServer, status: 408, retry: 1500 * time.Millisecond, retryable: true},
		{name: "429 with retry-after-ms", fault: &sim.Fault{Status: 429, Header: map[string]string{"retry-after-ms": "2500", "Retry-After": "3"}},
			req: chat("gpt-4o", "hi"), class: messages.ClassRateLimited, status: 429, code: "429", retry: 2500 * time.Millisecond, retryable: true},
		{name: "429 x-ms-retry-after-ms before Retry-After", fault: &sim.Fault{Status: 429, Header: map[string]string{"x-ms-retry-after-ms": "750", "Retry-After": "10"}},
			req: chat("gpt-4o", "hi"), class: messages.ClassRateLimited, status: 429, code: "429", retry: 750 * time.Millisecond, retryable: true},
		{name: "429 default headers", fault: &sim.Fault{Status: 429}, req: chat("gpt-4o", "hi"),
			class: messages.ClassRateLimited, status: 429, code: "429", retry: time.Second, retryable: true},
		{name: "429 delay only in the message", fault: &sim.Fault{Status: 429, Body: `{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}}`},
			req: chat("gpt-4o", "hi"), class: messages.ClassRateLimited, status: 429, code: "429", retry: 6 * time.Second, retryable: true},
		{name: "500", fault: &sim.Fault{Status: 500}, req: chat("gpt-4o", "hi"), class: messages.ClassServer, status: 500, code: "InternalServerError", retryable: true},
		{name: "503", fault: &sim.Fault{Status: 503}, req: chat("gpt-4o", "hi"), class: messages.ClassServer, status: 503, code: "ServiceUnavailable", retryable: true},
		{name: "content filter prompt (dated)", version: dated, req: chat("gpt-4o", "tell me "+sim.AzurePromptFilterTrigger),
			class: messages.ClassInvalid, status: 400, code: azure.CodeContentFilter, filtered: true},
		{name: "content filter prompt (v1)", req: chat("gpt-4o", "tell me "+sim.AzurePromptFilterTrigger),
			class: messages.ClassInvalid, status: 400, code: azure.CodeContentFilter, filtered: true},
		{name: "content filter prompt in embeddings", version: dated, req: &messages.EmbedRequest{Model: "embed", Inputs: []string{"ok", sim.AzurePromptFilterTrigger}},
			class: messages.ClassInvalid, status: 400, code: azure.CodeContentFilter, filtered: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []sim.Option
			if tt.key != "" {
				opts = append(opts, sim.WithKeys(testKey))
			}
			srv := startSim(t, nil, opts...)
			if tt.fault != nil {
				srv.Inject(*tt.fault)
			}
			call := newCall(srv.URL, tt.req)
			if tt.key != "" {
				call.Key = providers.NewCredential("other", tt.key)
			}
			r := run(t, azure.New(providers.AdapterOptions{APIVersion: tt.version}), call)
			ue := r.Upstream(t)
			assert.Equal(t, tt.class, ue.Class, "%v", ue)
			assert.Equal(t, tt.status, ue.Status)
			if tt.code != "" {
				assert.Equal(t, tt.code, ue.Code)
			}
			assert.Equal(t, tt.retry, ue.RetryAfter)
			assert.Equal(t, tt.retryable, ue.Retryable())
			assert.Equal(t, tt.filtered, errors.Is(ue, azure.ErrContentFiltered))
			assert.NotEmpty(t, ue.Message)
			assert.NotEmpty(t, ue.UpstreamRequestID, "the upstream request ID is kept on errors")
			if tt.filtered {
				assert.Contains(t, ue.Message, "content management policy")
				assert.Contains(t, ue.Message, "(filtered: violence (medium))")
			}
		})
	}
}

// TestContentFilteredAnswer: an answer the filter cut short is a response
// finished by the content filter, plain or streamed.
func TestContentFilteredAnswer(t *testing.T) {
	for _, stream := range []bool{false, true} {
		for _, version := range []string{"", dated} {
			t.Run(map[bool]string{false: "whole", true: "stream"}[stream]+" version="+version, func(t *testing.T) {
				srv := startSim(t, nil)
				req := &messages.ChatRequest{Model: "gpt-4o", Stream: stream, Messages: user("write something " + sim.AzureAnswerFilterTrigger)}
				r := run(t, azure.New(providers.AdapterOptions{APIVersion: version}), newCall(srv.URL, req))
				cr := r.Chat(t)
				assert.Equal(t, messages.FinishContentFilter, cr.FinishReason)
				assert.Equal(t, "content_filter", cr.RawFinishReason)
				assert.Equal(t, "echo: write", cr.Content, "the answer stops where the filter cut it")
			})
		}
	}
}

// TestDecodeError reads Azure's error bodies and headers directly.
func TestDecodeError(t *testing.T) {
	sdkFilter, err := os.ReadFile("testdata/content_filter_response_error.json")
	require.NoError(t, err)
	tests := []struct {
		name    string
		status  int
		header  http.Header
		body    string
		class   messages.ErrorClass
		code    string
		msgHas  string
		retry   time.Duration
		preset  time.Duration // e.RetryAfter as Client.Send found it
		wantErr error
	}{
		{name: "SDK recording of a filtered prompt", status: 400, body: string(sdkFilter), class: messages.ClassInvalid, code: "content_filter",
			msgHas:  "content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766 (filtered: violence (medium))",
			wantErr: azure.ErrContentFiltered},
		{name: "spec inner_error shape", status: 400,
			body:  `{"error":{"code":"content_filter","message":"filtered","param":"prompt","type":"error","inner_error":{"code":"ResponsibleAIPolicyViolation","content_filter_results":{"hate":{"filtered":true,"severity":"high"},"jailbreak":{"filtered":true,"detected":true},"sexual":{"filtered":false,"severity":"safe"}}}}}`,
			class: messages.ClassInvalid, code: "content_filter", msgHas: "filtered (filtered: hate (high), jailbreak)", wantErr: azure.ErrContentFiltered},
		{name: "inner code without error code", status: 400,
			body:  `{"error":{"message":"no","innererror":{"code":"ResponsibleAIPolicyViolation"}}}`,
			class: messages.ClassInvalid, code: "content_filter", msgHas: "no", wantErr: azure.ErrContentFiltered},
		{name: "deployment not found", status: 404, body: `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`,
			class: messages.ClassInvalid, code: "DeploymentNotFound", msgHas: "does not exist"},
		{name: "resource not found", status: 404, body: `{"error":{"code":"404","message":"Resource not found"}}`,
			class: messages.ClassInvalid, code: "404", msgHas: "Resource not found"},
		{name: "error code from x-ms-error-code", status: 400, header: http.Header{"X-Ms-Error-Code": {"InvalidPayload"}}, body: `{"error":{"message":"bad"}}`,
			class: messages.ClassInvalid, code: "InvalidPayload", msgHas: "bad"},
		{name: "x-ms-retry-after-ms over Retry-After", status: 429, header: http.Header{"X-Ms-Retry-After-Ms": {"250"}, "Retry-After": {"9"}},
			body: `{"error":{"code":"429","message":"slow down"}}`, preset: 9 * time.Second, class: messages.ClassRateLimited, code: "429", retry: 250 * time.Millisecond},
		{name: "retry-after-ms over x-ms-retry-after-ms", status: 429, header: http.Header{"Retry-After-Ms": {"100"}, "X-Ms-Retry-After-Ms": {"250"}},
			body: `{"error":{"code":"429","message":"slow down"}}`, preset: 100 * time.Millisecond, class: messages.ClassRateLimited, code: "429", retry: 100 * time.Millisecond},
		{name: "retry hint in the message", status: 429, body: `{"error":{"code":"429","message":"Please retry after 2 seconds."}}`,
			class: messages.ClassRateLimited, code: "429", retry: 2 * time.Second},
		{name: "unauthorized", status: 401, body: `{"error":{"code":"401","message":"Access denied due to invalid subscription key."}}`,
			class: messages.ClassAuth, code: "401"},
		{name: "permission denied", status: 401, body: `{"error":{"code":"PermissionDenied","message":"The principal lacks the required data action"}}`,
			class: messages.ClassAuth, code: "PermissionDenied"},
		{name: "server error", status: 500, body: `{"error":{"code":"InternalServerError","message":"oops"}}`, class: messages.ClassServer, code: "InternalServerError"},
		{name: "not JSON", status: 502, body: `<html>Bad Gateway</html>`, class: messages.ClassServer},
		{name: "empty", status: 400, class: messages.ClassInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &messages.UpstreamError{Status: tt.status, RetryAfter: tt.preset}
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			azure.DecodeError(tt.status, h, []byte(tt.body), e)
			assert.Equal(t, tt.class, e.Class)
			assert.Equal(t, tt.code, e.Code)
			assert.Contains(t, e.Message, tt.msgHas)
			assert.Equal(t, tt.retry, e.RetryAfter)
			if tt.wantErr != nil {
				assert.ErrorIs(t, e, tt.wantErr)
				assert.False(t, e.Retryable())
			} else {
				assert.NotErrorIs(t, e, azure.ErrContentFiltered)
			}
		})
	}
}

// FuzzDecodeError: any error answer decodes to a classified error, without
// panicking, and a content filter verdict always comes with its sentinel.
func FuzzDecodeError(f *testing.F) {
	sdkFilter, err := os.ReadFile("testdata/content_filter_response_error.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(400, string(sdkFilter), "", "")
	f.Add(400, `{"error":{"code":"content_filter","message":"m","param":"prompt","type":"error","inner_error":{"code":"ResponsibleAIPolicyViolation","content_filter_results":{"hate":{"filtered":true,"severity":"high"}}}}}`, "", "")
	f.Add(404, `{"error":{"code":"DeploymentNotFound","message":"The API deployment for this resource does not exist."}}`, "", "")
	f.Add(404, `{"error":{"code":"404","message":"Resource not found"}}`, "", "")
	f.Add(429, `{"error":{"code":"429","message":"Please retry after 6 seconds."}}`, "750", "")
	f.Add(400, `{"error":{"message":"bad","innererror":{"content_filter_result":[1,2]}}}`, "", "InvalidPayload")
	f.Add(500, `{"error":"plain"}`, "-1", "")
	f.Add(503, `not json`, "1e309", "")
	f.Fuzz(func(t *testing.T, status int, body, msRetry, errCode string) {
		if status < 100 || status > 999 {
			status = 400 + (status%200+200)%200
		}
		h := http.Header{}
		if msRetry != "" {
			h.Set("X-Ms-Retry-After-Ms", msRetry)
		}
		if errCode != "" {
			h.Set("X-Ms-Error-Code", errCode)
		}
		e := &messages.UpstreamError{Status: status}
		azure.DecodeError(status, h, []byte(body), e)
		if e.Class == messages.ClassUnknown {
			t.Fatalf("no class for %d %q", status, body)
		}
		if e.RetryAfter < 0 || e.RetryAfter > 24*time.Hour {
			t.Fatalf("retry after %v", e.RetryAfter)
		}
		if e.Code == azure.CodeContentFilter && (e.Class != messages.ClassInvalid || !strings.Contains(e.Error(), "content_filter")) {
			t.Fatalf("content filter verdict %v", e)
		}
		if e.Code == azure.CodeContentFilter && !errors.Is(e, azure.ErrContentFiltered) {
			t.Fatalf("content filter verdict without its sentinel: %v", e)
		}
	})
}
