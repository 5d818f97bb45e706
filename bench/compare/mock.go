package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
)

// completion is the mock's answer: a chat completion of about 1 KB in the
// shape the real service sends (every field of a current gpt-4o-mini
// answer, null refusal, empty annotations, the usage details).
const completion = `{
  "id": "chatcmpl-BkQ2mYk7fN3pXwq9RzT1cUeVd8sLa",
  "object": "chat.completion",
  "created": 1750000000,
  "model": "gpt-4o-mini-2024-07-18",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "A circuit breaker stops sending requests to a backend that keeps failing, so that the backend gets time to recover and callers fail fast instead of waiting on timeouts. After a cooling period it lets a few probe requests through; if they succeed it closes again and normal traffic resumes, and if they fail it opens for another period. Combined with per-key rate limits, retries with jittered backoff and a bounded queue, it keeps one slow provider from taking the whole service down.",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 24,
    "completion_tokens": 96,
    "total_tokens": 120,
    "prompt_tokens_details": {
      "cached_tokens": 0,
      "audio_tokens": 0
    },
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "audio_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  },
  "service_tier": "default",
  "system_fingerprint": "fp_34a54ae93c"
}
`

// mock is the loopback server every path calls: it drains the request and
// answers the canned completion with the headers the real service sends
// (request ID, processing time, rate limits far from exhausted).
type mock struct {
	srv      *http.Server
	ln       net.Listener
	URL      string
	requests atomic.Int64
}

func startMock() (*mock, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m := &mock{ln: ln, URL: "http://" + ln.Addr().String()}
	body := []byte(completion)
	size := strconv.Itoa(len(body))
	m.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer "+apiKey {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		_, _ = io.Copy(io.Discard, r.Body)
		m.requests.Add(1)
		h := w.Header()
		h["Content-Type"] = []string{"application/json"}
		h["Content-Length"] = []string{size}
		h["X-Request-Id"] = []string{"req_5f0c2f1b8e7d4a6c9b3e1d2f0a4b6c8d"}
		h["Openai-Processing-Ms"] = []string{"412"}
		h["X-Ratelimit-Limit-Requests"] = []string{"30000"}
		h["X-Ratelimit-Limit-Tokens"] = []string{"150000000"}
		h["X-Ratelimit-Remaining-Requests"] = []string{"29999"}
		h["X-Ratelimit-Remaining-Tokens"] = []string{"149999976"}
		h["X-Ratelimit-Reset-Requests"] = []string{"2ms"}
		h["X-Ratelimit-Reset-Tokens"] = []string{"0s"}
		_, _ = w.Write(body)
	})}
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

func (m *mock) Close() { _ = m.srv.Close() }
