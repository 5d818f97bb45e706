package switchyard

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/switchyard-ai/switchyard/messages"

	"github.com/stretchr/testify/require"
)

// lastUserText pulls the last user text out of a recorded Anthropic or OpenAI
// request body.
func lastUserText(t *testing.T, body []byte) string {
	t.Helper()
	var b struct {
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	require.NoError(t, json.Unmarshal(body, &b), "recorded body")
	for i := len(b.Messages) - 1; i >= 0; i-- {
		m := b.Messages[i]
		if m.Role != "user" {
			continue
		}
		var s string
		if json.Unmarshal(m.Content, &s) == nil {
			return s
		}
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		_ = json.Unmarshal(m.Content, &parts)
		for _, p := range parts {
			if p.Type == "text" {
				return p.Text
			}
		}
	}
	return ""
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// callOnce sends req through the facade (a stream is drained) and returns
// once it is answered; cancelIn > 0 gives up after that long.
func callOnce(sy *Switchyard, req messages.Request, cancelIn time.Duration) {
	ctx := context.Background()
	if cancelIn > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cancelIn)
		defer cancel()
	}
	if sr, ok := req.(messages.StreamingRequest); ok && sr.Streaming() {
		if st, err := sy.stream(ctx, req, nil); err == nil {
			for st.Next() {
			}
		}
		return
	}
	_, _ = sy.Do(ctx, req)
}
